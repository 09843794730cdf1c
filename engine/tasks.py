"""Tasks: a parallel shape packed as bytes, and the computation of one partition of it.

A task is what every partition of one parallel expression shares: the reducer's name, its
functions, its source and the names of its shared output buffers. It is pickled once by the
driver and decoded once per process (cached by digest). A partition is just [lo, hi) in
element-index space, so whoever schedules partitions never looks inside a task.

An outcome is ``(status, value, compiled, stop)``: status "ok" with the partial, or "error"
with a ``RemoteError``, or PIECES with the outcomes of the partition's pieces (its kernel was
compiling as it began: ``_compute``; one piece, in CPython, where it still was at the end);
``compiled`` says whether numba computed it; ``stop`` says that no later partition can change
the result (an error, or ``any``/``all`` decided), so the scheduler need not hand out the rest.
A partition that issued warnings has a fifth item: their records, in order (``engine.warned``;
``warnings_of``), which the driver passes on for the partitions whose results it uses. A
partition whose kernel ran but was recomputed in CPython (the kernel raised, or raised a flag
numpy warns for) has a sixth: why (``recomputed_because``), for the shape's report.
"""
from __future__ import annotations

import contextlib
import decimal
import functools
import hashlib
import itertools
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ufora.engine import (errors, fp_flags, kernels, lifted, lru_caches, parcels, process_settings, reducers,
                          serialization, shm, task_arrays, warned)
from ufora.engine.sources import array_sources, identity, spread, values_of

Outcome = Tuple[str, Any, bool, bool]  # and a fifth, the warnings it recorded, and a sixth, why it was recomputed
# an outcome's status when its value is [(lo, hi, outcome)]: a partition computed in pieces
PIECES = "pieces"
# the kind of a compiled collection partial computed on a peer: ("carried", count, dtypes, numpy
# columns, [the bytes of each output column's ``count`` values]), placed in the driver's shared
# outputs by ``place_carried`` (a driver's own partition's is "shared": its values are there)
CARRIED = "carried"


@dataclass
class Task:
    """What a task's payload holds after its functions (element, condition, key, inner loops of a
    grouped reduction), which are pickled first: their pickle names their kernel."""
    reducer: str
    source: Any             # engine.sources.*Source
    outputs: Tuple[str, ...]  # shared output segments, for collections
    length: int
    pattern: Optional[str]  # element and condition take an item's parts, unpacked so (sources.Star)
    flat: bool              # the element gives an iterable of elements (inner loops): CPython
    decimal_context: decimal.Context  # the driver's: Decimal arithmetic rounds as it would there
    settings: process_settings.Settings  # the driver's (the caller's): numpy's errors, warnings, ...
    # the process that compiles its kernel waits for it (the others go on in CPython): a shape
    # expected to take longer in CPython than compiles do (engine.cost.COMPILE_FIRST_FROM)
    compile_first: bool = False
    # its kernel compiles only once a process is idle (the others go on in CPython): a shape whose
    # partitions end before a compile would (engine.cost.COMPILE_SECONDS); the next run has it
    compile_after: bool = False
    # bytes of the arrays its functions capture that travel by name (engine.task_arrays): then it
    # stays on its worker and is not compiled
    by_name_bytes: int = 0
    # the elements of some items as the generator or comprehension as written gives them, in order
    # (engine.sources.written_elements): what CPython partitions run, at the loop's own speed
    as_written: Optional[Callable[[Iterable[Any]], Iterable[Any]]] = None
    # the floats the element reads that its kernel takes as arguments (engine.lifted): their
    # names, and their values, which the pickled element holds only as a placeholder
    lifted_names: Tuple[str, ...] = ()
    lifted_values: Tuple[float, ...] = ()

    def not_compiled_because(self) -> Optional[str]:
        """Why the task's partitions run in CPython whatever numba could do, if they must."""
        return (task_arrays.not_compiled_because(self.by_name_bytes)
                or process_settings.not_compiled_because(self.settings))


class Unshippable(Exception):
    """The shape's functions or items cannot be pickled (a lock, an open file...): it runs
    serially where it is instead."""


_FUNCTIONS_SIZE = struct.Struct("<Q")  # a payload's first bytes: the size of its functions' pickle
# {id(payload): (the pickler's memo, the arrays it sent by name)} of each task this process made
# and is running: an outcome refers to these objects by their memo numbers (``outcome_bytes``)
_made: Dict[int, Tuple[serialization.WrittenObjects, task_arrays.ByName]] = {}


@contextlib.contextmanager
def made_task(reducer, element: Callable, condition: Optional[Callable], key: Optional[Callable],
              source, outputs: Tuple[str, ...], pattern: Optional[str], flat: bool,
              inner: Optional[Callable] = None, compile_first: bool = False,
              compile_after: bool = False, as_written: Optional[Callable] = None) -> Iterator[bytes]:
    """The task's payload, for the time its partitions run. Its functions and its source are
    pickled by one pickler, so an object both reach (an outside sentinel compared with ``is``)
    is one object in a partition too; and the pickler's memo is kept, so that what partitions
    give back may be the driver's own objects (``load_outcome``). Large arrays the functions
    capture go by name (``engine.task_arrays``), and the Task, pickled after them, says so."""
    arrays = task_arrays.ByName()
    lifted_names = lifted.liftable(element) if source.compilable and not flat else ()
    lifted_values = lifted.values(element, lifted_names)

    def parts() -> Iterator[Any]:
        yield lifted.blanked(element, lifted_names) if lifted_names else element, condition, key, inner
        yield Task(reducer.name, source, outputs, source.length, pattern, flat, decimal.getcontext(),
                   process_settings.take(process_settings.PARTITION_SETTINGS), compile_first, compile_after,
                   arrays.bytes, as_written, lifted_names, lifted_values)

    try:
        with lru_caches.refusing_used():  # a partition's copy would start with an empty cache
            (functions, task), memo = serialization.dumps_in_parts(parts(), arrays)
    except Exception as exc:
        arrays.release()
        raise Unshippable(f"cannot be sent to other processes: {exc}") from None
    payload = _FUNCTIONS_SIZE.pack(len(functions)) + functions + task
    _made[id(payload)] = serialization.WrittenObjects(memo), arrays
    try:
        yield payload
    finally:
        del _made[id(payload)]
        arrays.release()


def by_name_bytes(payload: bytes) -> int:
    """The bytes of the arrays a task this process made sends by name: when not 0, it names
    segments only this host can map, and its partitions are not offered to peers."""
    return _made[id(payload)][1].bytes


def load_outcome(payload: bytes, data: Union[bytes, parcels.Parcel]) -> Outcome:
    """An outcome a partition of this process's task ``payload`` sent (``outcome_bytes``): the
    objects it holds that are the task's are this process's own, as they are in CPython (the
    records a filter keeps are the list's records, not copies)."""
    referred = functools.partial(_driver_object, _made[id(payload)][0])
    if isinstance(data, parcels.Parcel):
        return parcels.unpack(data, lambda pickled, buffers: serialization.loads_referring(pickled, referred, buffers))
    return serialization.loads_referring(data, referred)


def _driver_object(written: serialization.WrittenObjects, reference: Any) -> Any:
    """The object a partition's ``task_reference`` stands for, in the driver."""
    if isinstance(reference, tuple):  # a row of the caller's array
        number, row = reference
        return written(number).given[row]
    return written(reference)


def outcome_bytes(payload: bytes, outcome: Outcome, as_parcel: bool = False) -> Union[bytes, parcels.Parcel]:
    """``outcome`` of a partition of ``payload``, pickled for its driver: each object in it that
    came with the task is its memo number. An outcome that surely holds none (numbers, strings,
    new tuples and dicts of them: most) pickles as usual, as referring costs a Python call per
    object pickled. ``as_parcel``: its large buffers in shared memory (``engine.parcels``: for a
    driver on this host)."""
    refer = None
    if outcome[0] != "error":
        job = _decode(payload)
        partials = [outcome[1]] if outcome[0] != PIECES else [piece[1] for *_, piece in outcome[1]]
        if not all(serialization.plain(partial, job.task_objects.ids, parts_may_be_read=False)
                   for partial in partials):
            refer = job.task_reference
    if as_parcel and outcome[0] != "error":
        return parcels.pack(functools.partial(serialization.dumps_referring, outcome, refer))
    return serialization.dumps_referring(outcome, refer)


_NO_SAMPLE = object()


def _sample(items, element: Callable, condition: Optional[Callable]) -> Any:
    """CPython's value for the first item kept, to learn the types CPython produces (numba
    returns Python numbers; CPython returns what the element returns, numpy scalars when it
    reads numpy arrays). The functions are free of side effects (engine.purity), so one extra
    call is invisible; if it raises, compiled partitions raise too and are recomputed."""
    try:
        for x in items:
            if condition is None or condition(x):
                return element(x)
    except Exception:
        pass
    return _NO_SAMPLE


def _typed_like(sample: Any) -> Callable[[Any], Any]:
    """What makes a compiled value (numba gives Python numbers) of the types of ``sample``, a
    CPython element: its numpy scalars' types, in a tuple too (``max((x, i) for i, x in
    enumerate(a))`` gives ``(np.float64, int)``)."""
    if isinstance(sample, np.generic):
        return type(sample)
    if type(sample) is tuple and any(isinstance(part, (np.generic, tuple)) for part in sample):
        parts = [_typed_like(part) for part in sample]
        return lambda value: tuple(make(part) for make, part in zip(parts, value))
    return identity


def _numpy_columns(sample: Any, columns: int) -> Tuple[bool, ...]:
    """For each column of a collected element, whether CPython gives numpy scalars there."""
    parts = sample if isinstance(sample, tuple) else (sample,)
    if len(parts) != columns:
        return (False,) * columns
    return tuple(isinstance(part, np.generic) for part in parts)


class _Decoded:
    def __init__(self, payload: bytes):
        [functions_size] = _FUNCTIONS_SIZE.unpack_from(payload)
        functions = memoryview(payload)[_FUNCTIONS_SIZE.size:_FUNCTIONS_SIZE.size + functions_size]
        [(element, condition, self.key, inner), self.task], unpickler = serialization.loads_parts(
            memoryview(payload)[_FUNCTIONS_SIZE.size:], 2)
        self.task_objects = serialization.ReadObjects(unpickler)
        task = self.task
        lifted.restore(element, task.lifted_names, task.lifted_values)
        self.reducer = reducers.by_name(task.reducer)
        self._compile = (hashlib.sha1(functions).hexdigest(), element, condition)
        self.given_element = element  # as written for one item (never spread): its line issues the warnings
        # CPython partitions call these with whole items
        self.element, self.condition, self.inner = element, condition, inner
        # the elements of some items that pass the condition, as CPython partitions compute them:
        # by the loop as written where the rewriter gave it (a function call per item costs
        # 1.2-2.8x the loop's own time), else by calling the shape's functions
        self.values: Callable[[Iterable[Any]], Iterable[Any]] = task.as_written or functools.partial(
            values_of, element=element, condition=condition, pattern=task.pattern)
        if task.pattern is not None:
            self.element, self.condition, self.inner = (spread(f, task.pattern) for f in (element, condition, inner))
        if task.flat:
            self.inner = self.element
        self._sample = _NO_SAMPLE
        self._segments: list = []
        self.cpython_seconds = 0.0  # of its partitions here that ran in CPython while its kernel compiled
        self.not_compiled_because = task.not_compiled_because()

    def task_reference(self, value: Any) -> Any:
        """What stands for ``value`` in an outcome if it came with the task (``outcome_bytes``):
        its memo number, or (the number of its array source, its index) for a row of a 2-D
        array; else None."""
        if type(value) is np.ndarray:
            for source in array_sources(self.task.source):
                row = source.row_of(value)
                if row is not None:
                    return self.task_objects.number(source), row
        return self.task_objects.number(value)

    def kernel_state(self, wait_own: bool = False, deferring: Optional[bool] = None) -> Any:
        """The compiled kernel (from the cache after the first partition; None: CPython), or
        ``kernels.COMPILING`` while it compiles behind the partitions; ``wait_own``: the kernel
        once compiled if this process is the one compiling it; ``deferring``: whether its compile
        waits for this process to be idle (by default, ``defers_compile``). Asked for with the
        partition's data in place: a window's arrays may be typed otherwise."""
        if self.task.flat or self.not_compiled_because:
            return None
        digest, element, condition = self._compile
        return kernels.kernel_or_compiling(digest, self.reducer, self.task.source, element, condition,
                                           self.key, self.task.pattern, wait_own,
                                           self.defers_compile if deferring is None else deferring,
                                           self.task.lifted_names)

    @property
    def defers_compile(self) -> bool:
        """Whether its kernel compiles only once this process is idle: the task says so
        (``Task.compile_after``), and its partitions have not run ``MISJUDGED_AFTER`` seconds
        in CPython here yet."""
        return self.task.compile_after and self.cpython_seconds < MISJUDGED_AFTER

    def learn_types(self, lo: int, hi: int) -> None:
        """Take the sample from this partition's first kept item, until one is found (a
        partition that keeps nothing has an empty partial: its type does not matter)."""
        if self._sample is _NO_SAMPLE:
            with warned.discarded():  # the item warns again where the partition computes it
                self._sample = _sample(self.task.source.items(lo, hi), self.element, self.condition)

    @property
    def scalar(self) -> Callable[[Any], Any]:
        """The type a compiled partial takes: a numpy scalar's where CPython's elements are
        numpy scalars (for a sum, the type of ``0 + element``: numpy bools add up to int64)."""
        if isinstance(self._sample, np.generic):
            return getattr(self.reducer, "scalar_of", type)(self._sample)
        return _typed_like(self._sample)

    @property
    def numpy_columns(self) -> Tuple[bool, ...]:
        return _numpy_columns(self._sample, self.reducer.outputs)

    def outputs(self, kernel: kernels.Kernel, lo: int, hi: int, foreign: bool) -> list:
        """The output buffers of ``kernel``'s dtypes for items [lo, hi): the driver's shared
        ones from position ``lo`` on, attached for this partition; for a peer's partition
        (``foreign``), whose driver's segments are on another host, arrays of its own, whose
        values go back in its outcome (``carried``)."""
        if foreign:
            return [np.empty(hi - lo, np.dtype(dtype)) for dtype in kernel.output_dtypes]
        self._segments = [shm.attach(name) for name in self.task.outputs]
        return [np.ndarray((self.task.length,), np.dtype(dtype), buffer=segment.buf)[lo:]
                for dtype, segment in zip(kernel.output_dtypes, self._segments)]

    def detach(self) -> None:
        """Unmap every shared segment after each partition: the driver unlinks them when the
        shape ends, and a mapping kept here would keep their memory allocated (a decoded task
        outlives its job in the cache)."""
        for segment in self._segments:
            shm.release(segment)
        self._segments = []
        self.task.source.close()


_decoded: "OrderedDict[bytes, _Decoded]" = OrderedDict()
_DECODED_LIMIT = 4  # tasks whose attachments a process keeps open at once


_last_digest: Tuple[Any, bytes] = (None, b"")  # (payload, its digest): a process is sent a task once


def _decode(payload: bytes) -> _Decoded:
    global _last_digest
    if _last_digest[0] is not payload:
        _last_digest = (payload, hashlib.sha1(payload).digest())
    digest = _last_digest[1]
    if digest in _decoded:
        _decoded.move_to_end(digest)
        return _decoded[digest]
    decoded = _Decoded(payload)
    if decoded.task.by_name_bytes:  # not kept: its arrays' mappings would keep their memory allocated
        return decoded              # once the driver unlinked them (decoded again per partition)
    while len(_decoded) >= _DECODED_LIMIT:
        _decoded.popitem(last=False)
    _decoded[digest] = decoded
    return decoded


Piece = Tuple[int, int, Any, bool, str]  # (lo, hi, partial, whether compiled, why recomputed in CPython or "")


def _compute(job: _Decoded, lo: int, hi: int, whole: bool, foreign: bool) -> Tuple[List[Piece], bool]:
    """The partition's partials: one, or two when its kernel was compiling behind it as it began
    (the items before the kernel was ready in CPython, the rest compiled), so that a large first
    partition does not run in CPython to its end; never two when ``whole``. And whether its
    kernel was compiling as it began. Detached only after both: a window's arrays are this
    partition's. ``foreign``: a peer's partition (``run_partition``)."""
    try:
        kernel = job.kernel_state(wait_own=job.task.compile_first)
        if kernel is kernels.COMPILING and not whole:
            mid, partial, kernel = _cpython_until_compiled(job, lo, hi)
            if mid < hi:
                rest = (mid, hi, *_compute_attached(job, mid, hi, kernel, foreign))
                return [(lo, mid, partial, False, ""), rest], True
            return [(lo, hi, partial, False, "")], True
        compiling = kernel is kernels.COMPILING
        return [(lo, hi, *_compute_attached(job, lo, hi, None if compiling else kernel, foreign))], compiling
    finally:
        job.detach()


LOOK_EVERY = 0.02  # seconds between two looks at a compiling kernel
# seconds of CPython in one process after which the partitions of a shape whose kernel was to
# compile only after it (its first items said it ends before a compile would: ``Task.compile_after``)
# have that compile started: its later items cost more than its first (a test for primes from 0:
# its first items took 0.3 us, its last 5 us, and 2M items ran 4 s in CPython where compiled they
# take 0.2 s)
MISJUDGED_AFTER = 0.5
_LOOK_ITEMS = 128  # items in a run between two readings of the clock (and looks)


def _cpython_until_compiled(job: _Decoded, lo: int, hi: int) -> Tuple[int, Any, Optional[kernels.Kernel]]:
    """(mid, the CPython partial of items [lo, mid), the kernel found ready): every item up to
    ``hi`` (and no kernel), or up to the first look (every ``LOOK_EVERY`` seconds) that finds the
    kernel ready. The items go to the partial in runs of ``_LOOK_ITEMS`` chained in C: a look
    between two items of every item cost as much as the items of a cheap shape. A kernel whose
    compile waits for the process to be idle is first looked at once the task's partitions have
    run ``MISJUDGED_AFTER`` seconds here, and its compile started then."""
    mid, ready = hi, None
    began = time.monotonic()

    def runs() -> Iterator[Iterable[Any]]:
        nonlocal mid, ready
        look_at = began + (MISJUDGED_AFTER - job.cpython_seconds if job.defers_compile else LOOK_EVERY)
        for start in range(lo, hi, _LOOK_ITEMS):
            # asked for the next run: every item before ``start`` is done
            if start > lo and time.monotonic() >= look_at:
                kernel = job.kernel_state(deferring=False)
                if kernel is not kernels.COMPILING and kernel is not None:
                    mid, ready = start, kernel
                    return
                look_at = time.monotonic() + (LOOK_EVERY if kernel is kernels.COMPILING else float("inf"))
            yield job.task.source.items(start, min(hi, start + _LOOK_ITEMS))

    try:
        partial, _ = _python_partial(job, itertools.chain.from_iterable(runs()))
    finally:
        job.cpython_seconds += time.monotonic() - began
    return mid, partial, ready


def _compute_attached(job: _Decoded, lo: int, hi: int, kernel: Optional[kernels.Kernel],
                      foreign: bool) -> Tuple[Any, bool, str]:
    """The partial of items [lo, hi), whether compiled, and why it was recomputed in CPython
    where ``kernel`` ran but its partial was not used: by ``kernel`` (looked up once per
    partition), or in CPython when there is none, when it raised, or when it raised a
    floating-point flag numpy warns for (``engine.fp_flags``). A peer's partition (``foreign``)
    of a collection carries the values its kernel wrote (``carried``)."""
    why = ""
    if kernel is not None:
        job.learn_types(lo, hi)
        try:
            outputs = job.outputs(kernel, lo, hi, foreign) if job.reducer.outputs else []
            flags = fp_flags.watched() if kernel.watches_flags else 0
            if flags:
                fp_flags.clear(flags)
            result = kernel.function(*job.task.source.kernel_arguments(), *job.task.lifted_values, lo, hi, *outputs)
            up = fp_flags.raised(flags) if flags else []
            if up:  # CPython computes it, and warns
                raise FloatingPointError(f"numpy would warn: a floating-point flag was raised ({', '.join(up)})")
            columns = [column[:result].tobytes() for column in outputs] if foreign else []
            del outputs
        except Exception as exc:  # recompute so that the exception raised is CPython's own
            why = _why_recomputed(exc)
        else:
            partial = job.reducer.from_kernel(result, job.scalar)
            if partial is not None:
                if job.reducer.outputs:
                    partial = (*partial, kernel.output_dtypes, job.numpy_columns)
                    partial = (CARRIED, *partial[1:], columns) if foreign else partial
                return partial, True, ""
            why = "its compiled partial cannot stand for CPython's"
    return (*_python_partial(job, job.task.source.items(lo, hi)), why)


def _why_recomputed(exc: Exception) -> str:
    """Why a partition whose kernel raised ``exc`` is recomputed in CPython, for its report: a
    flag numpy warns for, an int beyond int64 (``engine.checked``), or the element's own error,
    which CPython raises again."""
    if isinstance(exc, FloatingPointError):
        return str(exc)
    message = str(exc)
    message = message if len(message) <= 100 else message[:99] + "…"
    return f"the kernel raised {type(exc).__name__}" + (f" ({message})" if message else "")


def _python_partial(job: _Decoded, items: Iterable[Any]) -> Tuple[Any, bool]:
    with warned.issued_at(job.task.as_written or job.given_element):
        if job.inner is not None and job.task.as_written is None:  # every value of the inner loops is an element
            outer = (job.inner(x) for x in items if job.condition is None or job.condition(x))
            return job.reducer.python_partition(itertools.chain.from_iterable(outer), None, None, job.key), False
        return job.reducer.python_partition(job.values(items), None, None, job.key), False


def run_partition(payload: bytes, lo: int, hi: int, windows: Sequence[Any] = (), whole: bool = False,
                  foreign: bool = False) -> Outcome:
    """The outcome of elements [lo, hi) of the task. Nested parallel shapes inside the element
    function run inline here (no runner is set in a partition): the outer shape is the one that
    is split. ``windows``: the bytes of items [lo, hi) of each shared array the task reads, for
    a partition computed on another worker than the task's (``engine.sources``). ``whole``: one
    partial of every item in order, never pieces (a float sum made again in order must be one
    pass: pieces would regroup it). The driver computes partitions too (its own, and others' as it
    waits), inside its block's runner: it is set aside here, or a shape in a function the element
    calls would be split again from inside a partition (a task per item, its answers misplaced).
    ``foreign``: a partition of another worker's task, computed here for it (``engine.scheduler``)."""
    from ufora.engine import runtime  # here: runtime imports this module

    with warned.recorded() as records:
        try:
            job = _decode(payload)
            if windows:
                job.task.source.window(lo, iter(windows))
            with decimal.localcontext(job.task.decimal_context), process_settings.applied(job.task.settings), \
                    runtime.using_runner(None):
                pieces, compiling = _compute(job, lo, hi, whole, foreign)
        except BaseException as exc:  # sys.exit() in an element ends the shape, not the process
            return _with_notes(("error", errors.capture(exc), False, True), records)
    if len(pieces) == 1 and not compiling:
        _, _, partial, compiled, why = pieces[0]
        return _with_notes(("ok", partial, compiled, job.reducer.stops(partial)), records, why)
    # the records go with the first piece: a stop in it is not told from one in the second
    outcomes = [(p_lo, p_hi, _with_notes(("ok", partial, compiled, job.reducer.stops(partial)),
                                         records if at == 0 else [], why))
                for at, (p_lo, p_hi, partial, compiled, why) in enumerate(pieces)]
    return PIECES, outcomes, any(piece[3] for piece in pieces), any(o[3] for *_, o in outcomes)


def _with_notes(outcome: Outcome, records: List[warned.Record], recomputed: str = "") -> Outcome:
    """An outcome with the warnings its partition recorded as its fifth item, if it has any or
    was recomputed, and why it was recomputed in CPython as its sixth, if it was."""
    if recomputed:
        return (*outcome, list(records), recomputed)  # type: ignore[return-value]
    return (*outcome, list(records)) if records else outcome  # type: ignore[return-value]


def warnings_of(outcome: Outcome) -> List[warned.Record]:
    """The warnings a partition's outcome recorded, in order (``engine.warned``)."""
    return outcome[4] if len(outcome) > 4 else []  # type: ignore[misc]


def recomputed_because(outcome: Outcome) -> str:
    """Why a partition whose kernel ran was recomputed in CPython; "" if it was not."""
    return outcome[5] if len(outcome) > 5 else ""  # type: ignore[misc]


def run_partition_here(payload: bytes, lo: int, hi: int, whole: bool = False) -> Outcome:
    """``run_partition`` in the process that made the task, its outcome as a partition of
    another process would give it back (``outcome_bytes``): holding the driver's own objects."""
    return load_outcome(payload, outcome_bytes(payload, run_partition(payload, lo, hi, whole=whole)))


def pieces_apart(outcomes: Sequence[Tuple[int, int, Outcome]]) -> List[Tuple[int, int, Outcome]]:
    """[(lo, hi, outcome)] in order, each partition computed in pieces replaced by its pieces:
    the driver combines them as it combines partitions."""
    flat: List[Tuple[int, int, Outcome]] = []
    for lo, hi, outcome in outcomes:
        flat.extend(outcome[1] if outcome[0] == PIECES else [(lo, hi, outcome)])
    return flat


def place_carried(partials: List[Tuple[int, Any]], outputs: Sequence[Any]) -> List[Tuple[int, Any]]:
    """``partials`` [(lo, partial)] of a collection, each one a peer computed (``CARRIED``)
    written into the driver's shared ``outputs`` at its own offset, as a partition here writes
    its values, and then one of them ("shared"): the list is gathered from one place whichever
    worker computed what."""
    placed = []
    for lo, partial in partials:
        if partial[0] == CARRIED:
            _, count, dtypes, numpy_columns, columns = partial
            if not len(columns) == len(dtypes) == len(outputs):
                raise RuntimeError(f"a peer's partition at {lo} carried {len(columns)} columns for {len(outputs)}")
            for segment, dtype, data in zip(outputs, dtypes, columns):
                values = np.frombuffer(data, np.dtype(dtype))
                if len(values) != count or (lo + count) * values.itemsize > segment.size:
                    raise RuntimeError(f"a peer's partition at {lo} carried {len(values)} values for {count}")
                np.ndarray((lo + count,), values.dtype, buffer=segment.buf)[lo:] = values
                del values
            partial = ("shared", count, dtypes, numpy_columns)
        placed.append((lo, partial))
    return placed
