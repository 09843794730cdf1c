"""pyfora: run ordinary Python on a ufora cluster.

    import pyfora
    ufora = pyfora.connect('http://192.168.1.15:30000')   # or connect() for a local cluster
    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in xrange(10 * 1000 * 1000))
"""
from __future__ import annotations

import urllib.parse
from typing import Optional

from ufora.net import config
from ufora.net.version import __version__
from pyfora.Exceptions import (BadWithBlockError, CancelledError, CantGetSourceTextError,
                               ComputationError, ConnectionError, ForaToPythonConversionError,
                               InternalError, InvalidPyforaOperation, NotCallableError, PyforaError,
                               PyforaNotImplementedError, PythonToForaConversionError,
                               ResultExceededBytecountThreshold, UnconvertibleValueError)
from pyfora import algorithms, pandas_util  # noqa: F401 - as in the original: pyfora.algorithms.linearRegression ...
from pyfora.datasets import read_csv, read_npy, read_parquet
from pyfora.executor import Executor
from pyfora.remote import RemotePythonObject

__all__ = ["connect", "Executor", "PyforaError", "ConnectionError", "ComputationError",
           "PythonToForaConversionError", "ForaToPythonConversionError", "BadWithBlockError",
           "CantGetSourceTextError", "InternalError", "CancelledError",
           "ResultExceededBytecountThreshold", "RemotePythonObject", "NotCallableError",
           "PyforaNotImplementedError", "InvalidPyforaOperation", "UnconvertibleValueError",
           "read_csv", "read_parquet", "read_npy", "__version__"]


def manager_url(given: str) -> str:
    """The manager's URL as socket.io wants it: ``host:port`` means http (and ``host`` alone,
    http on the manager's default port, 30000); a URL that is not http(s) with a host, or whose
    port is not a number, is a ``ConnectionError`` naming it."""
    text = given.strip()
    if "://" not in text:
        host_and_port = text.split("/", 1)[0]
        text = "http://" + text if ":" in host_and_port.rsplit("]", 1)[-1] else f"http://{host_and_port}:30000"
    try:
        parsed = urllib.parse.urlsplit(text)
        parsed.port  # noqa: B018 - reading it raises ValueError when it is not a number in range
    except ValueError as exc:
        raise ConnectionError(f"{given!r} is not a manager's URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConnectionError(f"{given!r} is not a manager's URL: use http://host:port "
                              f"(the manager's UFORA_WEB_HTTP_PORT, 30000 by default)")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


def connect(url: Optional[str] = None, timeout: float = 30.0, progress: bool = True,
            tls_ca: Optional[str] = None, secret: Optional[str] = None,
            serial_here: Optional[bool] = None) -> Executor:
    """An Executor connected to the manager at ``url``; with no URL, to ``$UFORA_URL`` if set,
    else to an embedded local cluster (manager + one worker on every core) that this executor
    owns and stops when it is closed. ``timeout``: seconds to reach the manager and hear its
    handshake, else ``ConnectionError`` (and, after a dropped connection, to reconnect).
    ``progress``: draw a progress bar for blocks (on a terminal, or in Jupyter). ``tls_ca``: for
    an ``https://`` manager, the PEM file of the certificates to trust (its own certificate, or
    the authority that signed it); default ``$UFORA_TLS_CA``, else the system's authorities.
    ``secret``: the cluster's secret (its services' ``UFORA_CLUSTER_SECRET``); default
    ``$UFORA_SECRET``; ``""`` for none. Given one, the client and the manager prove to each other
    that they hold it, and the client refuses a manager that cannot. The embedded cluster has a
    random secret of its own, which its executor uses. ``serial_here``: a ``downloadAll()`` block
    that holds no parallel shape (nor do the functions it calls) runs in this process, as written,
    rather than serially on the cluster after its values moved there (``pyfora.run_here``); False
    sends every block to the cluster; default ``$UFORA_SERIAL_HERE`` ("0" for False), else True."""
    from pyfora.connection import Connection
    from pyfora.embedded import EmbeddedCluster

    url = url or config.read("UFORA_URL")
    if url is not None:
        url = manager_url(url)
    if secret is None:
        secret = config.read("UFORA_SECRET")
    if serial_here is None:
        serial_here = config.read("UFORA_SERIAL_HERE")
    cluster = EmbeddedCluster() if url is None else None
    try:
        connection = Connection(cluster.url if cluster is not None else str(url), timeout,
                                tls_ca or config.read("UFORA_TLS_CA"),
                                (cluster.secret if cluster is not None else secret.strip()).encode() or None)
    except BaseException:
        if cluster is not None:
            cluster.stop()
        raise
    return Executor(connection, cluster, progress, serial_here)
