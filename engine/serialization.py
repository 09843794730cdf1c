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
import datetime
import decimal
import fractions
import functools
import io
import itertools
import operator
import pickle
import sys
import re
import types
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

import cloudpickle

from ufora.engine import (array_digests, array_views, as_written, buffered_pickles, class_skeletons, client_objects,
                          closed_files, exception_state, gc_pause, generator_values, lru_caches, namespaces,
                          nan_identity, packed_scalars, regex_match, single_dispatch)

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


def _iso_calendar_date(year: int, week: int, weekday: int):
    return datetime.date.fromisocalendar(year, week, weekday).isocalendar()


def _reduce_iso_calendar_date(value) -> tuple:
    """``date.isocalendar()``'s named tuple, which pickles itself as a plain tuple (CPython's
    choice: ``iso.week`` then failed on the other side)."""
    return _iso_calendar_date, (value.year, value.week, value.weekday)


_OURS = {types.CodeType: _code_reduce_keeping_filename, re.Match: regex_match.reduce,
         type(datetime.date(2000, 1, 1).isocalendar()): _reduce_iso_calendar_date}


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
    def __init__(self, file, references: Set[str], buffer_callback=None, arrays: Optional[Any] = None,
                 block_globals: Optional[Dict[str, Any]] = None, block_file: str = "", naming: bool = True,
                 written: bool = False, compared: bool = False, views: Optional[Dict[int, tuple]] = None):
        # One plain dict per pickler, made now (copyreg's registrations so far, then cloudpickle's,
        # then ours): the C pickler reads a dict subclass or a ChainMap through Python, once for
        # every object that is not a builtin, which made pickling 300k Decimals or dataclasses
        # a third slower (about 1 µs each); merging three small dicts costs about 1 µs per dump.
        self.dispatch_table = {**copyreg.dispatch_table, **cloudpickle.Pickler._dispatch_table, **_OURS}
        super().__init__(file, protocol=cloudpickle.DEFAULT_PROTOCOL, buffer_callback=buffer_callback)
        self.references = references
        self.arrays = arrays  # engine.task_arrays.ByName: large arrays by a shared segment's name
        self.namespaces = namespaces.Namespaces(self.globals_ref, block_globals, block_file, naming)
        self.as_written = written  # functions as the user wrote them (``engine.as_written``): for the client
        self.compared = compared  # only compared, never loaded as the value: large arrays as digests
        self.views = views  # {id: reduction} of arrays that go as views into another (engine.array_views)
        self.went_as_written = False  # and one did
        self._cells: Dict[int, Tuple[types.CellType, types.CellType]] = {}  # ``_shared_cell``

    def reducer_override(self, obj):
        kind = type(obj)
        if self.views and id(obj) in self.views:
            return self.views[id(obj)]
        if self.compared:
            digest = array_digests.reduction(obj)
            if digest is not None:
                return digest
            if isinstance(obj, type) and _by_name(obj):  # (the engine rewrites its methods: not a change)
                return _class_named, (obj.__module__, obj.__qualname__)
        if self.arrays is not None and kind is self.arrays.kind:
            reduced = self.arrays.reduce(obj)
            if reduced is not NotImplemented:
                return reduced
        if kind in closed_files.TYPES:
            closed = closed_files.reduction(obj)
            if closed is not None:
                return closed
        if kind is types.GeneratorType:
            generator = generator_values.reduction(obj)
            if generator is not None:
                return generator
        if isinstance(obj, BaseException):  # (its type may be pickled as usual: one without a traceback)
            exception = exception_state.reduction(obj, cloudpickle.DEFAULT_PROTOCOL)
            if exception is not None:
                return exception
        if kind in _PICKLED_AS_USUAL:
            return NotImplemented
        if isinstance(obj, RemoteRef):
            self.references.add(obj.object_id)
            return _resolve, (obj.object_id,)
        if isinstance(obj, client_objects.ClientObject):  # the executor: a reference to it
            return client_objects.reference(obj)
        if kind is lru_caches.CacheWrapper:  # by value, or by name (never asked about again otherwise)
            return lru_caches.reduce(obj)
        if kind is types.ModuleType:
            reduced = self.namespaces.module_reduction(obj)
            return NotImplemented if reduced is None else reduced
        if kind is types.FunctionType:
            dispatching = single_dispatch.reduction(obj)
            if dispatching is not None:
                return dispatching
        if kind is types.FunctionType and self.as_written:
            copy = as_written.written(obj)  # the code the user wrote, not the engine's rewrite
            if copy is not None:
                obj, self.went_as_written = copy, True
        reduced = super().reducer_override(obj)
        if kind is types.FunctionType:
            return self.namespaces.function_reduction(obj, reduced)
        if isinstance(obj, type):
            reduced = class_skeletons.quiet(obj, reduced)
        if reduced is NotImplemented and not issubclass(kind, type) and kind is not types.FunctionType:
            _pickled_as_usual(kind)  # (classes and functions go by value or by name: each its own way)
        return reduced

    def _function_getnewargs(self, func):
        self.namespaces.before_function(func)  # a module's functions share its namespace, not copies
        code, base_globals, name, defaults, closure = super()._function_getnewargs(func)
        if func.__closure__ is not None:  # cloudpickle's empty cells are one per function: shared here
            closure = tuple(self._shared_cell(cell) for cell in func.__closure__)
        return code, base_globals, name, defaults, closure

    def _shared_cell(self, cell: types.CellType) -> types.CellType:
        """The empty cell standing for ``cell`` in this pickle, the same for every function that
        holds ``cell``: two closures over one variable (``tick()`` and ``peek()`` of a counter)
        share it where they arrive, as here (cloudpickle made each its own cell, and the block's
        ``tick()`` was not seen by its ``peek()``). Each function's state fills it afterwards."""
        kept = self._cells.get(id(cell))
        if kept is None:
            kept = self._cells[id(cell)] = (cell, types.CellType())  # the original kept: its id stays its own
        return kept[1]

    def dump(self, obj):
        packed_scalars.write_prelude(self, super().dump, obj)  # lists of numpy scalars as arrays
        return super().dump(obj)


def _by_name(cls: type) -> bool:
    """Whether ``cls`` is found by its module and qualified name in this process."""
    try:
        return _class_named(cls.__module__, cls.__qualname__) is cls
    except Exception:  # noqa: BLE001 - a class made in a function, or a module that is not loaded
        return False


def _class_named(module: str, qualname: str) -> type:
    """A class by its module and qualified name: in a pickle only compared (``dumps_compared``),
    a class of the user's is that name, so that the engine rewriting its methods for a block
    (``engine.functions``) does not make every list of its instances look changed by it (a list
    of 200,000 came back whole after a block that only read it: 5 s, not 0.06). What a block
    does to a class itself is told apart by ``engine.class_state``."""
    found: Any = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def dumps_with_references(value: Any) -> Tuple[bytes, Set[str]]:
    """The pickle of ``value`` and the ids of the remote objects it refers to."""
    data, references, _ = dumps_written(value)
    return data, references


def dumps_written(value: Any, block_globals: Optional[Dict[str, Any]] = None, block_file: str = "",
                  sharing: bool = False, nans: bool = False, out_of_band: bool = False
                  ) -> Tuple[Union[bytes, buffered_pickles.Buffered], Set[str], "WrittenObjects"]:
    """``dumps_with_references``, and the objects it wrote: what a reader's numbers for them
    stand for here (``ReadObjects``, ``loads_referring``). The functions whose globals are
    ``block_globals``, of a block of ``block_file``, get, where ``loads_read`` reads them for
    that block, the block's namespace (``engine.namespaces``). ``sharing``: the arrays among the
    values of ``value`` (a dict: a block's free variables) that share memory arrive sharing it
    (``engine.array_views``). ``nans``: the NaN floats that must stay one object are one where
    it is read (``engine.nan_identity``; for what crosses between the client and the cluster:
    the engine's own messages between its processes do without, at a cost of 2-30x).
    ``out_of_band``: buffers of ``buffered_pickles.OUT_OF_BAND_FROM`` bytes or more (large arrays)
    go after the pickle, uncopied (a ``buffered_pickles.Buffered``, for ``loads_read``)."""
    references: Set[str] = set()
    views = array_views.plan(value.values()) if sharing and isinstance(value, dict) else None
    taken: List[memoryview] = []
    taking = functools.partial(_taken_out_of_band, taken) if out_of_band else None
    [data], memo = _dumps_keeping_memo([value], references, block_globals=block_globals, block_file=block_file,
                                       views=views, buffer_callback=taking)
    ids = None
    if nans and nan_identity.may_hold(data):  # again, each NaN one object where it arrives (engine.nan_identity)
        ids = nan_identity.Ids(known=value.values() if isinstance(value, dict) else ())
        taken.clear()
        [data], memo = _dumps_keeping_memo([value], references, block_globals=block_globals, block_file=block_file,
                                           views=views, nans=ids, buffer_callback=taking)
    written = WrittenObjects(memo) if ids is None else WrittenObjects(memo, ids.theirs)
    return (buffered_pickles.Buffered(data, taken) if taken else data), references, written


def _taken_out_of_band(taken: List[memoryview], buffer: pickle.PickleBuffer) -> bool:
    """A pickler's ``buffer_callback``: a buffer of ``OUT_OF_BAND_FROM`` bytes or more goes in
    ``taken`` (False: out of band); a smaller one, or one that is not contiguous, in the pickle."""
    try:
        raw = buffer.raw()
    except BufferError:
        return True
    if raw.nbytes < buffered_pickles.OUT_OF_BAND_FROM:
        return True
    taken.append(raw)
    return False


def _dumps_keeping_memo(values: Iterable[Any], references: Set[str], arrays: Optional[Any] = None,
                        block_globals: Optional[Dict[str, Any]] = None, block_file: str = "",
                        compared: bool = False, views: Optional[Dict[int, tuple]] = None,
                        nans: Optional[nan_identity.Ids] = None,
                        buffer_callback: Optional[Callable[[pickle.PickleBuffer], bool]] = None
                        ) -> Tuple[List[bytes], Any]:
    """The pickles of ``values``, written in order by one pickler, and its memo (a proxy).
    ``nans``: NaN floats go as its ids, after the marker that says so (in the first pickle)."""
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, references, buffer_callback=buffer_callback, arrays=arrays,
                       block_globals=block_globals, block_file=block_file, compared=compared, views=views)
    if nans is not None:
        pickler.persistent_id = nans.persistent_id
        pickler.dump(nan_identity.MARK)
    parts = []
    for value in values:
        pickler.dump(value)
        parts.append(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()  # the pickler (kept for its memo) keeps its file: not a second copy of the pickle
    return parts, pickler.memo


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


def dumps_compared(value: Any) -> bytes:
    """A pickle of ``value`` to compare with another, to tell whether it changed, never loaded as
    the value: its large arrays are digests (``engine.array_digests``)."""
    [data], _ = _dumps_keeping_memo([value], set(), compared=True)
    return data


def dumps_keeping_memo(value: Any) -> Tuple[bytes, Any]:
    """``dumps_compared`` of ``value`` and its pickler's memo, as a proxy (copied, only when
    needed: {id: (memo index, object)} of every object but numbers and strings). With the memo
    of a copy (``loads_keeping_memo``: an ``ArrayDigest`` where an array was), it tells which
    object of the copy stands for which of ``value``'s (``engine.mutations``: where each object
    was)."""
    [data], memo = _dumps_keeping_memo([value], set(), compared=True)
    return data, memo


def dumps_in_parts(values: Iterable[Any], arrays: Optional[Any] = None) -> Tuple[List[bytes], Any]:
    """The pickles of ``values``, written in order by one pickler, and its memo (as
    ``dumps_keeping_memo``). A later pickle refers to the objects an earlier one wrote, so an
    object reachable from two of them is one object again when ``loads_parts`` reads them (a
    shape's sentinel, in its function's closure and among its items); the first is the pickle
    ``dumps`` would write for it alone. ``arrays``: an ``engine.task_arrays.ByName`` that
    sends large arrays by name."""
    return _dumps_keeping_memo(values, set(), arrays)


def loads_parts(data: bytes, count: int) -> Tuple[List[Any], pickle.Unpickler]:
    """The ``count`` values of ``dumps_in_parts``'s pickles (concatenated in ``data``), and the
    unpickler that read them: its ``memo`` numbers their objects as the pickler's did."""
    unpickler = pickle.Unpickler(io.BytesIO(data))
    with gc_pause.paused():
        return [packed_scalars.load_both(unpickler) for _ in range(count)], unpickler


class WrittenObjects:
    """The objects a pickler wrote, by memo number: what a reader's ``ReadObjects`` numbers
    stand for on the writer's side (``loads_referring``'s ``referred``). Numbered on first use.
    ``nans``: the NaN float or list of floats it wrote under an id (``engine.nan_identity``)."""

    def __init__(self, memo: Any, nans: Optional[Callable[[tuple], Any]] = None):
        self._memo: Any = memo  # the pickler's memo proxy: {id: (number, object)}
        self._numbered: Optional[Dict[int, Any]] = None
        self._nans = nans

    def __call__(self, number: Any) -> Any:
        if type(number) is tuple and self._nans is not None:
            return self._nans(number)
        if self._numbered is None:  # (a shared namespace written as a stand-in is the namespace)
            self._numbered = {index: namespaces.stands_for(value) for index, value in self._memo.copy().values()}
            self._memo = None
        return self._numbered[number]


class ReadObjects:
    """The objects an unpickler read, by memo number: the numbers ``dumps_referring`` writes
    for them (``number``), so that the writer of that pickle gets its own objects back."""

    def __init__(self, unpickler: pickle.Unpickler):
        self._unpickler: Optional[pickle.Unpickler] = unpickler
        self._numbers: Optional[Dict[int, int]] = None
        self._objects: Dict[int, Any] = {}
        self.not_theirs: Set[int] = set()  # ids of objects read that the writer did not write (remote values)
        # the NaN floats and the lists of floats read as persistent ids (engine.nan_identity),
        # kept alive with their ids, as the objects of the memo are (``ids``)
        self._read_as_ids = getattr(unpickler, "persistent_load", None)
        read_as_ids = self._read_as_ids if isinstance(self._read_as_ids, nan_identity.Loads) else None
        self._nans = {id(nan): (key, nan) for key, nan in read_as_ids.read.items()} if read_as_ids else {}
        self._whole_lists = read_as_ids.lists() if read_as_ids else []

    def nan_keys(self) -> Dict[int, int]:
        """{id: the writer's key} of the NaN floats read (``engine.nan_identity``)."""
        return {at: key for at, (key, _) in self._nans.items()}

    def ids(self) -> Any:
        """The ids (a set-like view) of those whose identity a program can tell (not numbers and
        strings), taken on first use, at C speed (a million strings read: 0.1-0.3 s)."""
        if self._numbers is None:
            assert self._unpickler is not None
            # the objects are kept with their numbers: while they live, no object made since has their ids
            self._objects = self._unpickler.memo.copy()
            kept = list(map(operator.not_, map(_ATOMS.__contains__, map(type, self._objects.values()))))
            self._numbers = dict(zip(map(id, itertools.compress(self._objects.values(), kept)),
                                     itertools.compress(self._objects.keys(), kept)))
            if isinstance(self._read_as_ids, nan_identity.Loads):  # numbered as the writer's ids
                self._numbers.update(self._read_as_ids.lists_read())
            self._unpickler = self._read_as_ids = None
        return self._numbers.keys()

    def number(self, value: Any) -> Optional[int]:
        """``value``'s memo number, if it is one of the objects read; None for a class, which
        goes as cloudpickle sends it (a class sent by value brings its attributes with it:
        ``Widget.created`` counted in the block is the caller's afterwards)."""
        self.ids()
        assert self._numbers is not None
        number = self._numbers.get(id(value))
        if number is None and type(value) is types.FunctionType:  # the engine's rewritten copy of one read
            number = self._numbers.get(id(as_written.copied_from(value)))
        if number is None or id(value) in self.not_theirs or isinstance(value, type):
            return None
        return number


# values whose identity no program can tell apart from their value's
_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None), decimal.Decimal, fractions.Fraction,
                    *packed_scalars.NUMPY_SCALARS})
_RECORDS = _ATOMS | {tuple, dict, list}


def plain(value: Any, read_ids: Callable[[], Any], parts_may_be_read: bool = True, depth: int = 0) -> bool:
    """Whether ``value`` (itself new: its own identity is the caller's to look at) surely holds
    none of the objects whose ids ``read_ids()`` gives: a number or string, a builtin container
    of them or of new tuples, lists and dicts of them, or a (small) tuple of those. Decided at C speed
    per item, so that most values skip ``dumps_referring`` (a Python call per object pickled).
    ``parts_may_be_read``: whether a list, dict or set directly in a tuple may be one read (not
    in a partial, whose containers its reducer made; asking forces ``read_ids``)."""
    kind = type(value)
    if kind in _ATOMS:
        return True
    if kind is tuple:
        return depth < 4 and all(
            plain(part, read_ids, parts_may_be_read, depth + 1)
            and not (parts_may_be_read and type(part) in (list, dict, set) and id(part) in read_ids())
            for part in value)
    if not isinstance(value, (list, set, frozenset, dict)):  # (defaultdict, Counter, OrderedDict too)
        return False
    items = [*value, *value.values()] if isinstance(value, dict) else value
    kinds = set(map(type, items))
    if kinds <= _ATOMS:
        return True
    # a tuple's identity tells nothing a program acts on (it cannot be changed): only dicts and
    # lists (a parsed line's fields) are looked up among the objects read (which forces read_ids)
    if not kinds <= _RECORDS or (not kinds.isdisjoint((dict, list)) and not read_ids().isdisjoint(map(id, items))):
        return False
    records = [item for item in items if type(item) is tuple or type(item) is dict or type(item) is list]
    members = itertools.chain.from_iterable(
        [*record, *record.values()] if type(record) is dict else record for record in records)
    return set(map(type, members)) <= _ATOMS


def dumps_referring(value: Any, refer: Optional[Callable[[Any], Optional[int]]],
                    buffer_callback: Optional[Callable[[pickle.PickleBuffer], bool]] = None) -> bytes:
    """The pickle of ``value`` in which every object ``refer`` numbers is that number only: the
    reader (``loads_referring``) puts its own object of that number in its place. Without
    ``refer``, ``dumps(value)``; ``buffer_callback``: the pickler's (protocol 5's out-of-band
    buffers: ``engine.parcels``)."""
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, set(), buffer_callback=buffer_callback)
    if refer is not None:
        pickler.persistent_id = refer
    pickler.dump(value)
    return buffer.getvalue()


def loads_referring(data: bytes, referred: Optional[Callable[[int], Any]], buffers: Sequence[Any] = (),
                    together: Optional[TogetherRead] = None) -> Any:
    """What ``dumps_referring`` pickled (or ``dumps_out_of_band`` with ``refer``: with its
    out-of-band ``buffers``), each numbered object given by ``referred``. ``together``: the
    values read before this one (``Together``), which it may refer to, and which it joins."""
    unpickler = pickle.Unpickler(io.BytesIO(data), buffers=buffers)
    if together is not None:
        referred = together.referred(referred)
    if referred is not None:
        unpickler.persistent_load = referred
    with gc_pause.paused():
        value = packed_scalars.load_both(unpickler)
    if together is not None:
        together.add(unpickler.memo)
    return value


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


def timed_pickle(value: Any, budget: float, clock: Callable[[], float], arrays: Optional[Any] = None
                 ) -> Tuple[Optional[float], int]:
    """(seconds ``dumps(value)`` takes by ``clock``, or None once it has taken more than
    ``budget`` and was given up; the bytes it wrote so far). Raises what pickling raises.
    ``arrays``: as ``dumps_in_parts``'."""
    start = clock()
    counter = _TimedCounter(clock, start + budget)
    try:
        _Pickler(counter, set(), arrays=arrays).dump(value)
    except _OverBudget:
        return None, counter.count
    return clock() - start, counter.count


def dumps_out_of_band(value: Any, min_bytes: int, refer: Optional[Callable[[Any], Optional[int]]] = None,
                      block_globals: Optional[Dict[str, Any]] = None, block_file: str = "", written: bool = True,
                      theirs: Optional[Dict[int, int]] = None
                      ) -> Tuple[bytes, List[pickle.PickleBuffer], bool, Any]:
    """The pickle of ``value`` without the buffers (numpy arrays' data) of at least
    ``min_bytes``, and those buffers, in the order ``loads(..., buffers=)`` wants them. With
    ``refer``, each object it numbers is that number only (as ``dumps_referring``). The
    functions whose globals are ``block_globals`` (a block's, of ``block_file``) get, where the
    pickle is read, the namespace given to ``namespaces.loading_into`` for that file (the
    caller's module's globals). ``written``: functions go as the user wrote them
    (``engine.as_written``), for the client; the third value says whether one did. Where it may
    hold NaN floats, each is one object where it is read, and one ``theirs`` numbers (the
    reader sent it: ``ReadObjects.nan_keys``) is the reader's own (``engine.nan_identity``).
    Last, the pickler's memo (a proxy: ``Together.add``)."""
    data, buffers, went, memo = _dumps_out_of_band(value, min_bytes, refer, block_globals, block_file, written)
    if not nan_identity.may_hold(data):
        return data, buffers, went, memo
    return _dumps_out_of_band(value, min_bytes, nan_identity.Ids(refer, theirs).persistent_id, block_globals,
                              block_file, written, marked=True)


def _dumps_out_of_band(value: Any, min_bytes: int, refer: Optional[Callable[[Any], Any]],
                       block_globals: Optional[Dict[str, Any]], block_file: str, written: bool, marked: bool = False
                       ) -> Tuple[bytes, List[pickle.PickleBuffer], bool, Any]:
    """``dumps_out_of_band``'s pickle, by one pickler; ``marked``: after ``nan_identity``'s
    marker (``refer`` is then its ``Ids``)."""
    buffers: List[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        if buffer.raw().nbytes < min_bytes:
            return True  # in band
        buffers.append(buffer)
        return False

    stream = io.BytesIO()
    pickler = _Pickler(stream, set(), buffer_callback=out_of_band, block_globals=block_globals, block_file=block_file,
                       naming=False, written=written)
    if refer is not None:
        pickler.persistent_id = refer
    if marked:
        pickler.dump(nan_identity.MARK)
    pickler.dump(value)
    return stream.getvalue(), buffers, pickler.went_as_written, pickler.memo


class Together:
    """The objects of the values a block sends back one after the other, each pickled apart, so
    that a later one holding an object an earlier one holds refers to it (``refer``) and the
    reader puts the earlier one's object there (``Read``): ``a = [0]; b = a`` in a block leaves
    ``a is b`` where it arrives, as ``cache["r"] = row`` leaves ``cache["r"] is row``. Numbers
    and strings are not shared (what they are cannot change). The objects are numbered
    ``"value:memo index"`` by the pickles' memos, which their readers' memos number alike; the
    memos are read only when a later value may hold one of them (``TogetherRead``: the reader's side)."""

    def __init__(self) -> None:
        self._memos: List[Any] = []  # the pickler memo proxies of the values so far, in order
        self._values: List[Any] = []  # and the values
        self._near: Optional[Set[int]] = None  # the ids of the objects near their tops (``_near_ids``)
        self._ids: Dict[int, str] = {}  # of the objects of the first ``_read`` of them
        self._read = 0

    def add(self, memo: Any, value: Any, several: bool = False) -> None:
        """The memo of the next value's pickler, and the value (``several``: a dict of values,
        each looked at apart): its objects may be referred to from now on."""
        self._memos.append(memo)
        self._values.extend(value.values() if several else [value])
        self._near = None

    def ids(self) -> Dict[int, str]:
        """{id: number} of the objects of the values so far (copying a memo costs 0.6 us an
        object: done once for each value, and only when a later one may hold some)."""
        for value in range(self._read, len(self._memos)):
            # the copy keeps alive what the pickler made and memoized (a reducer's tuples): no
            # object of a later value can take the id of one of those
            self._memos[value] = self._memos[value].copy()
            for at, (index, held) in self._memos[value].items():
                if type(held) not in _ATOMS:
                    self._ids.setdefault(at, f"{value}:{index}")
        self._read = len(self._memos)
        return self._ids

    def may_hold(self, value: Any) -> bool:
        """Whether ``value`` holds an object of the values so far, near the tops of both (a few
        levels: ``cache["r"] = row`` in a changed free variable, ``row`` a variable), told from
        their ids without reading the memos (copying one of a million strings took 0.6 s, which a
        block that changed anything outside paid); in a value too large to look at whole, among
        the objects nearest its top."""
        if not self._memos or type(value) in _ATOMS:
            return False
        if self._near is None:
            self._near = set().union(*(_near_ids([held], _NEAR_DEPTH) for held in self._values))
        return not self._near.isdisjoint(_near_ids([value], _NEAR_DEPTH + 2))

    def refer(self, first: Optional[Callable[[Any], Any]]) -> Callable[[Any], Any]:
        """A ``persistent_id``: what ``first`` numbers (the reader's own objects), else the
        number of an object of the values so far."""
        found = self.ids().get

        def refer(held: Any) -> Any:
            number = first(held) if first is not None else None
            return found(id(held)) if number is None else number
        return refer


_NEAR_DEPTH = 3  # levels below a value's top where ``Together`` looks for the objects values share
_NEAR_AT_MOST = 200_000  # objects: a value holding more near its top is not looked at


def _near_ids(values: Iterable[Any], depth: int) -> Set[int]:
    """The ids of the objects (not numbers or strings) in ``values`` and ``depth`` levels below
    them (items of lists, tuples, sets, keys and values of dicts, attributes of objects), level
    by level, ``_NEAR_AT_MOST`` of them at most. A container of numbers and strings only is
    passed over at C speed."""
    found: Set[int] = set()
    level = [value for value in values if type(value) not in _ATOMS]
    for _ in range(depth + 1):
        below: List[Any] = []
        for held in level:
            if id(held) in found:
                continue
            found.add(id(held))
            if len(found) > _NEAR_AT_MOST:
                return found
            if isinstance(held, dict):
                parts: Any = [*held.keys(), *held.values()]
            elif isinstance(held, (list, tuple, set, frozenset)):
                parts = held
            else:
                parts = _attribute_values(held)
            if len(parts) and not set(map(type, parts)) <= _ATOMS:
                below.extend(part for part in parts if type(part) not in _ATOMS)
        level = below
    return found


def _attribute_values(held: Any) -> List[Any]:
    """The attributes of an object of the user's (a plain ``__dict__``); none of a module, a
    class, a function (their names reach whole libraries) or an object that will not say."""
    if isinstance(held, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return []
    try:
        attributes = object.__getattribute__(held, "__dict__")
    except Exception:  # noqa: BLE001 - no __dict__, or a __getattribute__ of its own
        return []
    return list(attributes.values()) if type(attributes) is dict else []


class TogetherRead:
    """The reader's side of ``Together``: the memos of the values read so far, in order (each
    copied the first time one of its objects is wanted)."""

    def __init__(self) -> None:
        self._memos: List[Any] = []

    def add(self, memo: Any) -> None:
        self._memos.append(memo)

    def referred(self, first: Optional[Callable[[Any], Any]]) -> Callable[[Any], Any]:
        """A ``persistent_load``: an object of a value read before, else what ``first`` gives."""
        def load(number: Any) -> Any:
            if type(number) is not str:
                if first is None:
                    raise pickle.UnpicklingError(f"a reference to an object that was not sent: {number!r}")
                return first(number)
            value, index = map(int, number.split(":"))
            if not isinstance(self._memos[value], dict):
                self._memos[value] = self._memos[value].copy()
            return self._memos[value][index]
        return load


def loads_keeping_memo(data: bytes) -> Tuple[Any, Dict[int, Any]]:
    """A copy of what ``dumps_keeping_memo`` pickled, and {memo index: object of the copy}."""
    with gc_pause.paused():
        return packed_scalars.load_keeping_memo(data)


class _ViewReader:
    """A file over a buffer (a mapped shared segment), for an unpickler: read without copying
    the whole buffer first, as ``io.BytesIO`` would."""

    def __init__(self, data: Any):
        self._view = memoryview(data).cast("B")
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._at + size)
        piece = self._view[self._at:end].tobytes()
        self._at = end
        return piece

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._view) - self._at)
        target[:count] = self._view[self._at:self._at + count]
        self._at += count
        return count

    def readline(self) -> bytes:
        end = bytes(self._view[self._at:self._at + 4096]).find(b"\n")
        return self.read(end + 1 if end >= 0 else -1)


def loads_read(data: Any, objects: Optional[Mapping[str, Loader]] = None) -> Tuple[Any, ReadObjects]:
    """``loads``, and the objects it read (``ReadObjects``): a value pickled for the writer of
    ``data`` by ``dumps_referring`` gives it back its own objects. The functions written with a
    block's globals get the namespace of ``namespaces.loading_into`` (``dumps_written``)."""
    buffers: List[Any] = []
    if buffered_pickles.is_buffered(data):
        data, buffers = buffered_pickles.split(data)
    unpickler = pickle.Unpickler(io.BytesIO(data) if isinstance(data, bytes) else _ViewReader(data), buffers=buffers)
    with gc_pause.paused():
        token = _objects.set(dict(objects or {}))
        try:
            return packed_scalars.load_both(unpickler), ReadObjects(unpickler)
        finally:
            _objects.reset(token)


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
