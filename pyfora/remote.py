"""Remote objects: values that stay on the cluster, and what the client does with them.

A ``RemotePythonObject`` (a *proxy*) stands for a value held by one worker. ``toLocal()``
downloads it; calling it runs the call on the cluster; using it as a free variable of a block,
as an argument, or inside a closure ships only its id (``engine.serialization.RemoteRef``) and
the worker puts the value in its place. When the client drops its last reference, the cluster
frees the value (and all of a client's values when it disconnects).

A computation that raised gives a proxy too: its ``toLocal()`` raises the error (a
``ComputationError`` that is also the exception's own type, ``pyfora.Exceptions.computation_error``),
and shipping it to another computation is a ``PythonToForaConversionError`` that quotes it.

A proxy remembers the source files of the code that made it, so that the parallel shapes of a
remote function (``define(f)``, then calling the proxy) are found and split on the cluster as
in ``f`` itself.
"""
from __future__ import annotations

import gc
import json
import sys
import threading
import warnings
import weakref
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from ufora.engine import errors, serialization
from ufora.engine.block import ASSIGNED_GROUPS, REMOTE_CHANGED, REMOTE_CHANGED_GLOBAL
from pyfora.Exceptions import (ForaToPythonConversionError, InternalError, NotCallableError,
                               PythonToForaConversionError, ResultExceededBytecountThreshold, computation_error)

if TYPE_CHECKING:
    from pyfora.executor import Executor


# Every proxy alive in this process: while there is none, no value a block reads can be one
# (``pyfora.run_here`` asks, rather than looking through the values).
_alive: "weakref.WeakSet[RemotePythonObject]" = weakref.WeakSet()


# The ids of the proxies that outlived the last full collection ``proxies_alive`` made: while the
# same ones are all that exist, another full collection would find them alive again.
_survived_collection: frozenset = frozenset()


def proxies_alive(collect: bool = False) -> bool:
    """Whether any ``RemotePythonObject`` exists in this process: collected first where one
    seems to (one held only by garbage in a reference cycle, a frame of an earlier block's
    traceback, sent every later block to the cluster until the collector ran). The full
    collection runs only when other proxies exist than outlived the last one: it took 14 ms a
    block on a small heap while a user's two proxies were alive (more on a large heap), and
    a proxy found alive when it is garbage only sends a block to the cluster, which gives the
    same answer where its values can be sent. ``collect``: collected first whatever the proxies:
    a block whose values cannot be sent runs here only where none is alive."""
    global _survived_collection
    if not _alive:
        return False
    if collect or frozenset(map(id, _alive)) != _survived_collection:
        gc.collect()
        _survived_collection = frozenset(map(id, _alive))
    return len(_alive) > 0


class RemotePythonObject(serialization.RemoteRef):
    def __init__(self, executor: "Executor", described: Optional[dict] = None,
                 error: Optional[BaseException] = None, sources: Optional[Dict[str, str]] = None):
        _alive.add(self)
        described = described or {}
        self._executor = executor
        self._id: Optional[str] = described.get("id")
        self.size: int = int(described.get("size", 0))  # bytes on the cluster: pickle and buffers
        self.typeName: str = str(described.get("type", ""))
        self.isCallable: bool = bool(described.get("callable", True))  # as the worker saw it
        self._error = error
        self.sources: Dict[str, str] = sources or {}  # files of the code that made it

    @property
    def object_id(self) -> str:  # type: ignore[override]
        if self._error is not None:  # never the error itself: a SystemExit would end this program
            raise PythonToForaConversionError(f"it is the result of a computation that raised "
                                              f"{type(self._error).__name__}: {self._error}")
        return self._id  # type: ignore[return-value]

    def toLocal(self, maxBytecount: Optional[int] = None) -> Future:
        """A Future of the value, brought here. With ``maxBytecount``, a value whose pickle is
        larger fails the future with ``ResultExceededBytecountThreshold`` instead."""
        if self._error is not None:
            return _failed(self._error)
        if maxBytecount is not None and self.size > maxBytecount:
            return _failed(ResultExceededBytecountThreshold(
                f"the value is {self.size} bytes, more than maxBytecount={maxBytecount}"))
        return self._executor._fetch(self.object_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Future:
        """Call the remote value with ``args`` and ``kwargs`` (proxies or local values), on the
        cluster: a Future of a proxy of the result. A value that is not callable is a
        ``NotCallableError`` here, at once."""
        return self._executor.submit(self, *args, **kwargs)

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<RemotePythonObject: failed computation ({type(self._error).__name__})>"
        return f"<RemotePythonObject {self.typeName or '?'}, {self.size} bytes, id {str(self._id)[:8]}>"

    def __reduce__(self):
        raise TypeError("a RemotePythonObject can be sent to its own cluster only (in a block, "
                        "or as an argument of submit or of a call); use toLocal() for its value")

    def __del__(self) -> None:
        if self._id is not None:
            self._executor._release(self._id)


def check_callable(value: Any) -> None:
    """``NotCallableError`` (a ``TypeError``, worded as CPython's) unless ``value`` can be called:
    a local value, or a proxy whose remote value was callable when the cluster described it."""
    if isinstance(value, RemotePythonObject):
        if value._error is None and not value.isCallable:
            raise NotCallableError(f"{value.typeName.rsplit('.', 1)[-1]!r} object is not callable "
                                   f"(the remote value {value!r})")
    elif not callable(value):
        raise NotCallableError(f"{type(value).__name__!r} object is not callable")


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def values_of(message: Dict[str, Any], executor: "Executor", sources: Dict[str, str],
              written: Optional[serialization.WrittenObjects] = None,
              together: Optional[serialization.TogetherRead] = None) -> Dict[str, Any]:
    """The variables of a JOB_DONE: the proxies of those kept on the cluster (made first, so
    that they are freed even if a downloaded value cannot be rebuilt), then the downloaded
    ones rebuilt here, in the order they were sent. ``sources``: the files of the code that made
    them. ``written``: the objects the block's free variables' pickle wrote, which a downloaded
    value may hold; ``together``: the reader of the objects each holds of those before it
    (``serialization.Together``: ``b = a`` arrives as ``a``'s object)."""
    values = {name: RemotePythonObject(executor, described, sources=sources)
              for name, described in (message.get("objects") or {}).items()}
    for name, (data, parts) in zip(message["names"], pickles_of(message)):
        if name in ASSIGNED_GROUPS:  # the block's variables, in one pickle or two
            values.update(rebuilt("the values of the block's variables", data, parts, written, together))
        else:
            values[name] = rebuilt(f"the value of {name!r}", data, parts, written, together)
    return values


def changed_names(values: Dict[str, Any]) -> List[str]:
    """The names of the block's free variables whose remote objects it changed in place
    (``engine.block.REMOTE_CHANGED``)."""
    return [key[len(REMOTE_CHANGED):].partition(":")[2] for key in values if key.startswith(REMOTE_CHANGED)]


CHANGED_AT_ONCE = ("the remote object {name} (id {was:.8}) was changed in place by two blocks or calls that "
                   "ran at the same time: the change of the one that ended last was made to the value from "
                   "before the other's, and replaces it, so the other's change is lost; wait for a call that "
                   "changes a remote object before the next block or call that changes it")
NOT_LOADED = ("the block changed in place the remote object that global {name!r} of module {module!r} holds, "
              "which is not loaded here: the change is lost")
_swapping = threading.Lock()  # a call's result comes in the connection's thread, a block's in the caller's


def changed_in_place(values: Dict[str, Any], proxies: Dict[str, Any],
                     labels: Optional[Dict[str, str]] = None) -> List[str]:
    """Point each proxy of ``proxies`` (by the block's free variable naming it) at the remote
    object the block left where it changed that proxy's value in place, taken out of
    ``values``: every name holding the proxy sees the change, as every name holding a list sees
    its ``append`` in CPython. The proxy's former object is freed with the new proxy, which
    takes it over. Also a proxy held by a module's global that a function of the block changed
    (``REMOTE_CHANGED_GLOBAL``). The warnings to give, once every proxy is pointed (a warning
    made an error must not leave the others, nor the block's values, behind): a proxy that
    another block or call pointed elsewhere meanwhile (they ran at the same time) is pointed at
    this change all the same (``CHANGED_AT_ONCE``, naming it by ``labels`` where they have its
    name: a user's trial found one of the two changes lost in silence), and a global of a module
    not loaded here (``NOT_LOADED``)."""
    told: List[str] = []
    with _swapping:
        for key in [key for key in values if key.startswith(REMOTE_CHANGED)]:
            was, _, name = key[len(REMOTE_CHANGED):].partition(":")
            told += _swapped(proxies.get(name), values.pop(key), was, (labels or {}).get(name, repr(name)))
        for key in [key for key in values if key.startswith(REMOTE_CHANGED_GLOBAL)]:
            was, module, name = json.loads(key[len(REMOTE_CHANGED_GLOBAL):])
            changed = values.pop(key)
            if module not in sys.modules:
                told.append(NOT_LOADED.format(name=name, module=module))
                continue
            told += _swapped(vars(sys.modules[module]).get(name), changed, was, f"{module}.{name}")
    return told


def _swapped(proxy: Any, changed: Any, was: str, name: str) -> List[str]:
    """``proxy`` pointed at ``changed``'s remote object, and ``changed`` at the proxy's former
    one (freed with it); ``was``: the object the block or call changed. The warning to give."""
    if not (isinstance(proxy, RemotePythonObject) and isinstance(changed, RemotePythonObject)):
        return []
    told = [CHANGED_AT_ONCE.format(name=name, was=was)] if proxy._id != was else []
    for attribute in ("_id", "size", "typeName", "isCallable"):
        held = getattr(proxy, attribute)
        setattr(proxy, attribute, getattr(changed, attribute))
        setattr(changed, attribute, held)
    return told


def warn_all(told: List[str]) -> None:
    """Give each warning of ``changed_in_place``."""
    for message in told:
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def pickles_of(message: Dict[str, Any]) -> List[Tuple[Any, List[Any]]]:
    """Each variable of a JOB_DONE as (its pickle, its parts: the out-of-band buffers that
    follow the pickle in ``variables``, as many as ``parts`` says), in the order of ``names``."""
    variables, counts = message["variables"], message.get("parts") or [0] * len(message["names"])
    pickles, at = [], 0
    for count in counts:
        pickles.append((variables[at], list(variables[at + 1:at + 1 + count])))
        at += 1 + count
    return pickles


def rebuilt(what: str, data: Any, parts: Sequence[Any] = (),
            written: Optional[serialization.WrittenObjects] = None,
            together: Optional[serialization.TogetherRead] = None) -> Any:
    """A value downloaded from the cluster: its pickle and out-of-band buffers, made writable
    (numpy arrays come back writable, as they were); the objects of ``written`` it refers to,
    the caller's own; those of the values ``together`` read before it, theirs."""
    parts = [part if not memoryview(part).readonly else bytearray(part) for part in parts]
    try:
        if written is not None or together is not None:
            return serialization.loads_referring(data, written, parts, together)
        return serialization.loads(data, buffers=parts)
    except Exception as exc:
        raise ForaToPythonConversionError(f"{what} cannot be rebuilt here: {exc!r}") from None


def remote_error(error: Dict[str, Any], handled: Optional[BaseException] = None) -> BaseException:
    """The exception to raise here for the ``error`` of a JOB_DONE; ``handled``: the exception
    the caller was handling where the code ran (the context CPython gives the first exception
    of the chain raised there: ``engine.errors.in_context``)."""
    if error["type_name"] == "InternalError" and not error.get("trace"):
        return InternalError(error["message"])
    remote: Any = f"{error['type_name']}: {error['message']}"
    if error.get("pickled"):
        try:
            remote = serialization.loads(error["pickled"])
        except Exception:
            pass
    if isinstance(remote, BaseException):
        errors.in_context(remote, handled)
    return computation_error(remote, error.get("trace", ""))
