"""Remote objects: values that stay on the cluster, and what the client does with them.

A ``RemotePythonObject`` (a *proxy*) stands for a value held by one worker. ``toLocal()``
downloads it; calling it runs the call on the cluster; using it as a free variable of a block,
as an argument, or inside a closure ships only its id (``engine.serialization.RemoteRef``) and
the worker puts the value in its place. When the client drops its last reference, the cluster
frees the value (and all of a client's values when it disconnects).

A computation that raised gives a proxy too: its ``toLocal()`` raises the ``ComputationError``,
and so does shipping it to another computation.
"""
from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Dict, Optional

from engine import serialization
from pyfora.Exceptions import (ComputationError, ForaToPythonConversionError, InternalError,
                               ResultExceededBytecountThreshold)

if TYPE_CHECKING:
    from pyfora.executor import Executor


class RemotePythonObject(serialization.RemoteRef):
    def __init__(self, executor: "Executor", described: Optional[dict] = None,
                 error: Optional[Exception] = None):
        self._executor = executor
        self._id: Optional[str] = described["id"] if described else None
        self.size: int = int(described["size"]) if described else 0  # bytes of its pickle
        self.typeName: str = str(described.get("type", "")) if described else ""
        self._error = error

    @property
    def object_id(self) -> str:  # type: ignore[override]
        if self._error is not None:
            raise self._error
        return self._id  # type: ignore[return-value]

    def toLocal(self, maxBytecount: Optional[int] = None) -> Future:
        """A Future of the value, brought here. With ``maxBytecount``, a value whose pickle is
        larger fails the future with ``ResultExceededBytecountThreshold`` instead."""
        if self._error is None and maxBytecount is not None and self.size > maxBytecount:
            future: Future = Future()
            future.set_exception(ResultExceededBytecountThreshold(
                f"the value is {self.size} bytes, more than maxBytecount={maxBytecount}"))
            return future
        return self._executor._fetch(self)

    def __call__(self, *args: Any) -> Future:
        """Call the remote value with ``args`` (proxies or local values), on the cluster: a
        Future of a proxy of the result."""
        return self._executor.submit(self, *args)

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<RemotePythonObject: failed computation ({type(self._error).__name__})>"
        return f"<RemotePythonObject {self.typeName or '?'}, {self.size} bytes, id {self._id[:8]}>"

    def __reduce__(self):
        raise TypeError("a RemotePythonObject can be sent to its own cluster only (in a block, "
                        "or as an argument of submit or of a call); use toLocal() for its value")

    def __del__(self) -> None:
        if self._id is not None:
            self._executor._release(self._id)


def values_of(message: Dict[str, Any], executor: "Executor") -> Dict[str, Any]:
    """The variables of a JOB_DONE: downloaded ones rebuilt here, the others as proxies."""
    values = {}
    for name, data in zip(message["names"], message["variables"]):
        try:
            values[name] = serialization.loads(data)
        except Exception as exc:
            raise ForaToPythonConversionError(
                f"the value of {name!r} cannot be rebuilt here: {exc!r}") from None
    for name, described in (message.get("objects") or {}).items():
        values[name] = RemotePythonObject(executor, described)
    return values


def remote_error(error: Dict[str, Any]) -> Exception:
    """The exception to raise here for the ``error`` of a JOB_DONE."""
    if error["type_name"] == "InternalError" and not error.get("trace"):
        return InternalError(error["message"])
    remote: Any = f"{error['type_name']}: {error['message']}"
    if error.get("pickled"):
        try:
            remote = serialization.loads(error["pickled"])
        except Exception:
            pass
    return ComputationError(remote, error.get("trace", ""))
