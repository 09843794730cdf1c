"""``executor.remotely``: the context manager whose body runs on the cluster, not here.

    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in xrange(10 * 1000 * 1000))

``__enter__`` captures the block (``pyfora.capture``) and arranges for the body to be skipped;
``__exit__`` submits it, waits, and writes the variables it assigned into the caller's scope.
If the body raised remotely, the variables it assigned before that are written back first, then
``ComputationError`` is raised here.

Until remote objects exist (``remoteAll``), every assigned value is downloaded, so
``remotely`` and ``remotely.downloadAll()`` behave the same.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, Optional

from engine import serialization
from pyfora import capture
from pyfora.Exceptions import ComputationError, ForaToPythonConversionError, InternalError

if TYPE_CHECKING:
    from pyfora.executor import Executor


def _ignore_events(frame, event, arg):
    return None


class WithBlockExecutor:
    def __init__(self, executor: "Executor"):
        self._executor = executor
        self._frame = None
        self._previous_trace = None
        self._captured: Optional[capture.CapturedBlock] = None

    def downloadAll(self) -> "WithBlockExecutor":
        """Every variable the block assigns comes back as a local value."""
        return self

    def __enter__(self) -> "WithBlockExecutor":
        frame = sys._getframe(1)
        self._captured = capture.capture(frame)
        self._frame = frame
        self._previous_trace = sys.gettrace()
        sys.settrace(_ignore_events)  # local trace functions fire only while one is set
        frame.f_trace = self._skip_body
        return self

    def _skip_body(self, frame, event, arg):
        raise capture.SkipBody()

    def __exit__(self, exc_type, exc, tb) -> bool:
        frame, self._frame = self._frame, None
        frame.f_trace = None
        sys.settrace(self._previous_trace)
        if exc_type is not capture.SkipBody:
            return False
        message = self._executor._run_block(self._captured)
        values = _download(message)
        capture.write_back(frame, values)
        error = message.get("error")
        if error is not None:
            raise _remote_error(error)
        return True


def _download(message: dict) -> Dict[str, Any]:
    values = {}
    for name, data in zip(message["names"], message["variables"]):
        try:
            values[name] = serialization.loads(data)
        except Exception as exc:
            raise ForaToPythonConversionError(
                f"the value of {name!r} cannot be rebuilt here: {exc!r}") from None
    return values


def _remote_error(error: dict) -> Exception:
    if error["type_name"] == "InternalError" and not error.get("trace"):
        return InternalError(error["message"])
    remote: Any = f"{error['type_name']}: {error['message']}"
    if error.get("pickled"):
        try:
            remote = serialization.loads(error["pickled"])
        except Exception:
            pass
    return ComputationError(remote, error.get("trace", ""))
