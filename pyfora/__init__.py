"""pyfora: run ordinary Python on a ufora cluster.

    import pyfora
    ufora = pyfora.connect('http://192.168.1.15:30000')   # or connect() for a local cluster
    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in xrange(10 * 1000 * 1000))
"""
from __future__ import annotations

import os
from typing import Optional

from pyfora.Exceptions import (BadWithBlockError, CancelledError, CantGetSourceTextError,
                               ComputationError, ConnectionError, ForaToPythonConversionError,
                               InternalError, PyforaError, PythonToForaConversionError,
                               ResultExceededBytecountThreshold)
from pyfora.executor import Executor
from pyfora.remote import RemotePythonObject

__all__ = ["connect", "Executor", "PyforaError", "ConnectionError", "ComputationError",
           "PythonToForaConversionError", "ForaToPythonConversionError", "BadWithBlockError",
           "CantGetSourceTextError", "InternalError", "CancelledError",
           "ResultExceededBytecountThreshold", "RemotePythonObject"]


def connect(url: Optional[str] = None, timeout: float = 30.0, progress: bool = True) -> Executor:
    """An Executor connected to the manager at ``url``; with no URL, to ``$UFORA_URL`` if set,
    else to an embedded local cluster (manager + one worker on every core) that this executor
    owns and stops when it is closed. ``timeout``: seconds to reach the manager and hear its
    handshake, else ``ConnectionError``. ``progress``: draw a progress bar for blocks (on a
    terminal, or in Jupyter)."""
    from pyfora.connection import Connection
    from pyfora.embedded import EmbeddedCluster

    url = url or os.environ.get("UFORA_URL") or None
    cluster = EmbeddedCluster() if url is None else None
    try:
        connection = Connection(url or cluster.url, timeout)
    except BaseException:
        if cluster is not None:
            cluster.stop()
        raise
    return Executor(connection, cluster, progress)
