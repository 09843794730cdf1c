"""cloudpickle, keeping the file names of code objects, with references to remote objects.

cloudpickle 3 writes ``<dynamic-code>`` as every shipped function's file name (for
deterministic payloads). Our users must see their own file and line in a remote traceback, so
code objects travel with their real ``co_filename``. This is the one pickler the client and the
engine use for user values; the contract is cloudpickle's own: same Python on both ends.

A value held on the cluster (a ``RemoteRef``: pyfora's ``RemotePythonObject``) pickles as its
id only; ``loads`` is given a loader for each object id and puts each object back in its place,
loaded once however often it is referenced. A client object (the executor: ``engine.client_objects``)
pickles as a reference to it. An lru_cache function the user defined goes by value, its cache
empty (``engine.lru_caches``). The hook is ``reducer_override``, which C pickle calls only for
objects that are not ints, floats, strings or builtin containers: a list of ten million floats
pickles at full speed. So lists, tuples and dicts of numpy scalars never reach it: ``dump`` finds
them first and sends them as typed arrays (``engine.packed_scalars``).
"""
from __future__ import annotations

import contextvars
import copyreg
import io
import pickle
import re
import types
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import cloudpickle

from engine import client_objects, gc_pause, lru_caches, packed_scalars, regex_match

_DYNAMIC = "<dynamic-code>"
_code_reduce = cloudpickle.Pickler.dispatch_table[types.CodeType]


class RemoteRef:
    """Base of values that stand for an object held on the cluster, known by ``object_id``."""

    object_id: str


class MissingObjectError(LookupError):
    """A value refers to a remote object that is not (any longer) on the cluster."""


def _code_reduce_keeping_filename(code: types.CodeType):
    constructor, args = _code_reduce(code)
    return constructor, tuple(code.co_filename if arg == _DYNAMIC else arg for arg in args)


Loader = Callable[[], Any]
# The objects a running ``loads`` may resolve: {id: its loader, or (_LOADED, value) once loaded}.
_objects: contextvars.ContextVar[Dict[str, Any]] = contextvars.ContextVar("ufora_objects")
_LOADED = object()


def _resolve(object_id: str) -> Any:
    """Called by unpickling in place of a remote object: its value, loaded once per ``loads``."""
    table = _objects.get(None)
    if table is None or object_id not in table:
        raise MissingObjectError(f"remote object {object_id} is not on the cluster (freed, or lost "
                                 "with the worker that held it)")
    entry = table[object_id]
    if isinstance(entry, tuple):
        return entry[1]
    value = entry()
    table[object_id] = (_LOADED, value)
    return value


_OURS = {types.CodeType: _code_reduce_keeping_filename, re.Match: regex_match.reduce}


# The types whose instances every hook above leaves to pickle's usual ways. Whether an object
# is a remote or a client object depends on its type alone, and so does cloudpickle's answer
# for any object other than a class or a function, so such a type seen once is not asked about
# again: 150,000 records pickled in 0.27 s with the questions, 0.19 s without. Cleared when it
# grows large, as classes made anew for every block would fill it.
_PICKLED_AS_USUAL: Set[type] = set()
_AS_USUAL_AT_MOST = 4096


def _pickled_as_usual(kind: type) -> None:
    if len(_PICKLED_AS_USUAL) >= _AS_USUAL_AT_MOST:
        _PICKLED_AS_USUAL.clear()
    _PICKLED_AS_USUAL.add(kind)


class _Pickler(cloudpickle.Pickler):
    def __init__(self, file, references: Set[str], buffer_callback=None):
        # One plain dict per pickler, made now (copyreg's registrations so far, then cloudpickle's,
        # then ours): the C pickler reads a dict subclass or a ChainMap through Python, once for
        # every object that is not a builtin, which made pickling 300k Decimals or dataclasses
        # a third slower (about 1 µs each); merging three small dicts costs about 1 µs per dump.
        self.dispatch_table = {**copyreg.dispatch_table, **cloudpickle.Pickler._dispatch_table, **_OURS}
        super().__init__(file, protocol=cloudpickle.DEFAULT_PROTOCOL, buffer_callback=buffer_callback)
        self.references = references

    def reducer_override(self, obj):
        kind = type(obj)
        if kind in _PICKLED_AS_USUAL:
            return NotImplemented
        if isinstance(obj, RemoteRef):
            self.references.add(obj.object_id)
            return _resolve, (obj.object_id,)
        if isinstance(obj, client_objects.ClientObject):  # the executor: a reference to it
            return client_objects.reference(obj)
        if kind is lru_caches.CacheWrapper:  # by value, or by name (never asked about again otherwise)
            return lru_caches.reduce(obj)
        reduced = super().reducer_override(obj)
        if reduced is NotImplemented and not issubclass(kind, type) and kind is not types.FunctionType:
            _pickled_as_usual(kind)  # (classes and functions go by value or by name: each its own way)
        return reduced

    def dump(self, obj):
        packed_scalars.write_prelude(self, super().dump, obj)  # lists of numpy scalars as arrays
        return super().dump(obj)


def dumps_with_references(value: Any) -> Tuple[bytes, Set[str]]:
    """The pickle of ``value`` and the ids of the remote objects it refers to."""
    buffer, references = io.BytesIO(), set()
    _Pickler(buffer, references).dump(value)
    return buffer.getvalue(), references


def reduction(value: Any) -> Any:
    """What ``dumps`` writes for ``value`` (an object other than a builtin container, number or
    string): the reduction of its ``reducer_override``, its dispatch table or its own
    ``__reduce_ex__``; raises where pickling ``value`` itself fails."""
    pickler = _Pickler(io.BytesIO(), set())
    reduced = pickler.reducer_override(value)
    if reduced is NotImplemented:
        reducer = pickler.dispatch_table.get(type(value))
        reduced = reducer(value) if reducer is not None else value.__reduce_ex__(cloudpickle.DEFAULT_PROTOCOL)
    return reduced


def dumps(value: Any) -> bytes:
    return dumps_with_references(value)[0]


def dumps_keeping_memo(value: Any) -> Tuple[bytes, Any]:
    """The pickle of ``value`` and its pickler's memo, as a proxy (copied, only when needed:
    {id: (memo index, object)} of every object but numbers and strings). With the memo of a
    copy (``loads_keeping_memo``), it tells which object of the copy stands for which of
    ``value``'s (``engine.mutations``: where each object was)."""
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, set())
    pickler.dump(value)
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()  # the pickler (kept for its memo) keeps its file: not a second copy of the pickle
    return data, pickler.memo


class _Counter:
    """A file that keeps nothing: the pickler's output, counted."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data) -> int:
        self.count += memoryview(data).nbytes
        return self.count


def pickled_size(value: Any) -> int:
    """How many bytes ``dumps(value)`` is, without holding them (large buffers are written to
    the file as they are, not copied)."""
    counter = _Counter()
    _Pickler(counter, set()).dump(value)
    return counter.count


class _OverBudget(Exception):
    pass


class _TimedCounter(_Counter):
    """A counting file that gives up once ``clock`` passes ``deadline`` (checked at each write:
    the pickler writes at least every 64 KiB frame)."""

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        super().__init__()
        self.clock, self.deadline = clock, deadline

    def write(self, data) -> int:
        if self.clock() > self.deadline:
            raise _OverBudget
        return super().write(data)


def timed_pickle(value: Any, budget: float, clock: Callable[[], float]) -> Tuple[Optional[float], int]:
    """(seconds ``dumps(value)`` takes by ``clock``, or None once it has taken more than
    ``budget`` and was given up; the bytes it wrote so far). Raises what pickling raises."""
    start = clock()
    counter = _TimedCounter(clock, start + budget)
    try:
        _Pickler(counter, set()).dump(value)
    except _OverBudget:
        return None, counter.count
    return clock() - start, counter.count


def dumps_out_of_band(value: Any, min_bytes: int) -> Tuple[bytes, List[pickle.PickleBuffer]]:
    """The pickle of ``value`` without the buffers (numpy arrays' data) of at least
    ``min_bytes``, and those buffers, in the order ``loads(..., buffers=)`` wants them."""
    buffers: List[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        if buffer.raw().nbytes < min_bytes:
            return True  # in band
        buffers.append(buffer)
        return False

    stream = io.BytesIO()
    _Pickler(stream, set(), buffer_callback=out_of_band).dump(value)
    return stream.getvalue(), buffers


def loads_keeping_memo(data: bytes) -> Tuple[Any, Dict[int, Any]]:
    """A copy of what ``dumps_keeping_memo`` pickled, and {memo index: object of the copy}."""
    with gc_pause.paused():
        return packed_scalars.load_keeping_memo(data)


def loads(data: bytes, objects: Optional[Mapping[str, Loader]] = None,
          buffers: Sequence[Any] = ()) -> Any:
    """Unpickle ``data`` (with its out-of-band ``buffers``); the remote objects it refers to are
    loaded by ``objects`` ({id: loader})."""
    with gc_pause.paused():  # every object it makes survives: no collection can find garbage
        if objects is None:
            return packed_scalars.load(data, buffers)
        token = _objects.set(dict(objects))
        try:
            return packed_scalars.load(data, buffers)
        finally:
            _objects.reset(token)
