"""The Executor: one client's session with a cluster."""
from __future__ import annotations

from typing import Optional

from pyfora.connection import Connection
from pyfora.embedded import EmbeddedCluster
from pyfora.Exceptions import PyforaError
from pyfora.with_block import WithBlockExecutor


class Executor:
    def __init__(self, connection: Connection, cluster: Optional[EmbeddedCluster] = None):
        self._connection = connection
        self._cluster = cluster
        self._closed = False
        self.stayOpenOnExit = False

    @property
    def remotely(self) -> WithBlockExecutor:
        """A fresh block executor: ``with executor.remotely.downloadAll(): ...``"""
        self._check_open()
        return WithBlockExecutor(self)

    def getWorkerCount(self) -> int:
        return self._connection.workers

    def _run_block(self, captured) -> dict:
        self._check_open()
        future = self._connection.submit({
            "filename": captured.filename, "with_line": captured.with_line,
            "source": captured.source, "free_variables": captured.free_variables,
            "sources": captured.other_sources})
        try:
            return self._connection.download(future.result())
        except KeyboardInterrupt:  # Ctrl-C: stop the remote work too, then let it propagate
            self._connection.cancel(future)
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise PyforaError("this executor is closed")

    def isClosed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Disconnect, and stop the embedded cluster if this executor started one."""
        if self._closed:
            return
        self._closed = True
        self._connection.close()
        if self._cluster is not None:
            self._cluster.stop()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.stayOpenOnExit:
            self.close()
