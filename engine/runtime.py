"""The engine's entry points that rewritten code calls, and the runner they hand work to.

``parallel_reduce`` stands for ``sum``/``min``/``max``/``any``/``all`` of a generator,
``parallel_collect`` for list, set and dict comprehensions and ``parallel_len`` for ``len`` of
them (``engine.rewriter`` says exactly which shapes). Each checks at run time that the shape
really can be split: the builtin was not shadowed, the iterable is a source the engine knows
(``engine.sources``), it is large enough, the element functions have no visible side effects
(``engine.purity``) and a runner is available. Otherwise it runs the original expression
serially, as plain CPython.

A *runner* computes the partitions of a task somewhere (this process, or the worker's compute
pool and the other workers' through the scheduler) and returns their outcomes in partition
order. Code running inside a partition has no runner: nested parallel shapes run inline there
(compiled, when the partition is: ``engine.kernels``).
"""
from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import itertools
import inspect
import sys
import time
import types
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Deque, Dict, Iterator, List, Optional, Protocol, Sequence, Set, Tuple

import numpy as np

from ufora.engine import (compiled_at_once, cost, errors, kernels, local_estimate, process_settings, purity, reducers,
                          rewriter, shm, sources, task_arrays, tasks, warned)
from ufora.engine.errors import RemoteError
from ufora.engine.sources import (ArraySource, Flat, FrameRowPairs, FrameRows, FrameTuples, IteratorCall, Star, Window,
                                  countable, source_for, unpacker, written_elements)
from ufora.engine.unread import UNREAD_COLLECT_HOOK, NumericList

# Fewer items than this are never split; above it, splitting is decided by measurement
# (``engine.cost``), unless the runner says always.
INLINE_LIMIT = 2


class PartitionRunner(Protocol):
    cores: int  # processes that can compute partitions at once (this worker's and its peers')
    always_split: bool  # split whatever the cost model says (UFORA_SPLIT=always)

    def run_partitions(self, task: bytes, length: int, shareable: bool = False, windows: Sequence[Window] = (),
                       duplicable: bool = False) -> List[Tuple[int, int, tasks.Outcome]]:
        """Compute the partitions of ``task`` over [0, length) in order, stopping after an
        outcome that says ``stop``; outcomes sorted by position. ``shareable``: other workers
        may compute partitions of it too (it sends no array by name); they read the shared
        arrays it reads through ``windows`` (``engine.sources``), and a collection's values they
        compute come back in their outcomes (``tasks.place_carried``). ``duplicable``: its
        partitions write nothing the driver shares (no collection's output), so one may be
        computed twice, the first outcome kept (``engine.scheduler``'s backups)."""


@dataclass
class Report:
    """What the engine did with one parallel shape: for users' logs and for tests."""
    shape: str
    source: str
    parallel: bool
    reason: str = ""
    partitions: int = 0
    compiled: int = 0
    compiling: bool = False  # partitions ran in CPython as its kernel compiled (tiered execution)
    recomputed: str = ""  # partitions whose kernel ran but which CPython computed again, and why


reports: Deque[Report] = collections.deque(maxlen=256)
_runner: Optional[PartitionRunner] = None


@contextlib.contextmanager
def using_runner(runner: Optional[PartitionRunner]) -> Iterator[None]:
    """Within: ``runner`` computes the parallel shapes (of one block)."""
    global _runner, _shapes_run
    previous, _runner = (_runner, _shapes_run), runner
    _shapes_run = set()
    try:
        yield
    finally:
        _runner, _shapes_run = previous


# Nested shapes over fewer items than this run as written at once while ``_inline_few`` is set
NESTED_INLINE_BELOW = 1000
# per thread and task, as a block's threads may time shapes at once (a module global set by one
# thread and put back by another stayed set for every later block of the process)
_inline_few: contextvars.ContextVar[bool] = contextvars.ContextVar("ufora_inline_few", default=False)


@contextlib.contextmanager
def _few_nested_inline() -> Iterator[None]:
    """Within: a shape over fewer than ``NESTED_INLINE_BELOW`` items (``_few_items``) runs as
    written at once, as in a partition, not weighed (its functions checked for side effects, its
    first items timed, a report written): while a shape's first items are timed
    (``engine.cost``), and while a shape found too cheap to split runs here. A line's fields,
    parsed by a comprehension in the function a CSV reader calls per line, took 150 µs per line
    to weigh: the reader's 150,000 lines were estimated at 23 s of CPython instead of 0.3 s (which
    the client believed: ``engine.local_estimate``), and took 11 s when run here. A larger shape
    inside is weighed as it comes: it may split and compile (a sum over 10M items per parameter)."""
    token = _inline_few.set(True)
    try:
        yield
    finally:
        _inline_few.reset(token)


_SIZED = (list, tuple, str, bytes, range, dict, set, frozenset)


def _few_items(iterable: Any) -> bool:
    """Whether ``iterable`` surely has fewer than ``NESTED_INLINE_BELOW`` items: a builtin
    container or range (exactly: its length is not the user's code), or a ``zip`` or
    ``enumerate`` of one."""
    kind = type(iterable)
    if kind in _SIZED:
        return (kind is not range or countable(iterable)) and len(iterable) < NESTED_INLINE_BELOW
    if kind is IteratorCall and iterable.args and not iterable.kwargs:
        if iterable.function is zip:
            return any(_few_items(part) for part in iterable.args if type(part) in _SIZED)
        if iterable.function is enumerate and len(iterable.args) <= 2:
            return _few_items(iterable.args[0])
    return False


def _inside_a_cheap_shape(estimate: Optional[cost.Estimate]) -> ContextManager[None]:
    """For a shape run here in order: ``_few_nested_inline`` when its estimate found the whole of
    it too cheap to split; else the shapes inside it are weighed as they come."""
    return _few_nested_inline() if estimate is not None and not estimate.split_wins else contextlib.nullcontext()


# the code of the shapes split so far in the block (element, condition): a shape that comes again
# (in a loop) compiles its kernel behind its partitions, never after them (engine.cost.compile_after)
_shapes_run: Set[tuple] = set()
# the same for the shapes of this process's earlier blocks (code objects compare by their code, so
# a block sent again has the same), the latest SHAPES_REMEMBERED: a block run again at once, with
# no idle moment between (a loop of blocks), never started the compile it deferred to one, and
# ran in CPython every time
_shapes_before: "collections.OrderedDict[tuple, None]" = collections.OrderedDict()
SHAPES_REMEMBERED = 256


def _compiles_after(estimate: Optional[cost.Estimate], element: Callable, condition: Optional[Callable]) -> bool:
    """Whether the shape's kernel should compile only after it: its estimate says so, and it is
    the shape's first run in the block and in this process's latest blocks."""
    shape = (getattr(element, "__code__", element), getattr(condition, "__code__", condition))
    first = shape not in _shapes_run and shape not in _shapes_before
    _shapes_run.add(shape)
    _shapes_before[shape] = None
    _shapes_before.move_to_end(shape)
    while len(_shapes_before) > SHAPES_REMEMBERED:
        _shapes_before.popitem(last=False)
    return estimate is not None and estimate.compile_after and first


def _elements(iterable, element, condition, pattern: Optional[str] = None, flat: bool = False) -> Iterator:
    """The original generator, serially: what CPython would have iterated."""
    if flat:
        outer = _elements(iterable, element, condition, pattern)
        return (value for inner in outer for value in inner)
    if pattern is not None:
        unpack = unpacker(pattern)
        return (element(*parts) for parts in map(unpack, iterable) if condition is None or condition(*parts))
    return (element(x) for x in iterable if condition is None or condition(x))


def _collected(iterable, element, condition, pattern: Optional[str] = None, flat: bool = False) -> list:
    """The original comprehension's elements, serially, built by a comprehension as CPython's
    was: a StopIteration an element raises propagates as such (a generator would turn it into
    RuntimeError)."""
    if flat:
        return [value for inner in _collected(iterable, element, condition, pattern) for value in inner]
    if pattern is not None:
        unpack = unpacker(pattern)
        return [element(*parts) for parts in map(unpack, iterable) if condition is None or condition(*parts)]
    return [element(x) for x in iterable if condition is None or condition(x)]


def _called(iterable: Any) -> Any:
    """What the original expression would have passed on: the real ``map``/``zip`` object."""
    return iter(iterable) if isinstance(iterable, IteratorCall) else iterable


def _unwrap(iterable, element, condition):
    """(iterable, element, condition, pattern, flat) of a shape, with ``map``/``filter`` calls
    and starred functions unwrapped (``pattern``: how to unpack an item into their arguments,
    ``engine.sources.Star``; None when they take the item); None when ``iterable`` is a ``map``/``filter`` the engine
    cannot take apart (then the original call runs as written)."""
    if element is None:  # reduce(map(...)) or reduce(filter(...))
        parts = iterable.as_shape() if isinstance(iterable, IteratorCall) else None
        if parts is None:
            return None
        iterable, element, condition = parts
    flat = isinstance(element, Flat)
    if flat:
        element = element.function
    if isinstance(element, Star):
        return iterable, element.function, condition.function if condition is not None else None, element.pattern, flat
    return iterable, element, condition, None, flat


def _item_classes(iterable: Any) -> set:
    """The classes of the items of a list or tuple (of each zipped one), whose methods the
    element may call and which it may change (``engine.purity``); an array of more than one
    dimension's items are arrays (views of its rows)."""
    given = iterable.args if isinstance(iterable, IteratorCall) else (iterable,)
    parts = [part for part in given if isinstance(part, (list, tuple))]
    classes: set = {np.ndarray for part in given if isinstance(part, np.ndarray) and part.ndim > 1}
    for part in given:
        if isinstance(part, FrameRows):  # a DataFrame's rows: Series, tuples of values, (label, Series) pairs
            classes |= part.item_classes()
    for part in parts:  # in C where it can be: a list of 100,000 pairs is looked at by every shape over it
        kinds = set(map(type, part))
        classes |= kinds
        if tuple in kinds:  # records: (name, obj) pairs
            records = part if kinds == {tuple} else [r for r in part if type(r) is tuple]
            classes.update(map(type, itertools.chain.from_iterable(records)))
    return classes


def _why_serial(iterable: Any, functions: Tuple[Optional[Callable], ...], returns_an_item: bool = False):
    """(source, None) when the shape can be split, else (None, the reason it runs serially).
    ``returns_an_item``: its result holds its values themselves (a list, a set, a dict), so a NaN
    object among them must be the very one (``engine.purity.nan_held``)."""
    if _runner is None:
        return None, "no runner (inside a partition, or no cluster)"
    source = source_for(iterable)
    if source is None:
        return None, f"{type(iterable).__name__} is not a source the engine splits"
    if source.length < INLINE_LIMIT:
        return None, f"{source.length} items: nothing to split"
    classes = _item_classes(iterable)
    effect = purity.side_effect(*functions, items=classes) or process_settings.numpy_calls_back()
    if effect:
        return None, f"side effect: {effect}"
    held = purity.nan_held(*functions)
    if held and (returns_an_item or held == purity.NAN_MARKER_HELD):
        # a marker is compared by identity with what the functions read, at any depth (a row of
        # a list of rows, an item of a global list): in other processes those are other objects
        return None, held
    if float in classes:  # (a list's, or a zipped or enumerated one's)
        for part in (iterable.args if isinstance(iterable, IteratorCall) else (iterable,)):
            if type(part) in (list, tuple):
                array = source.array if part is iterable and isinstance(source, ArraySource) else None
                shared = purity.nan_shared(part, array, bool(held))
                if shared:
                    return None, shared
    return source, None


def _why_not_worth_it(source, element: Callable, condition: Optional[Callable], pattern: Optional[str],
                      flat: bool, collects: bool, key: Optional[Callable] = None,
                      as_written: Optional[Callable] = None) -> Tuple[Optional[str], Optional[cost.Estimate]]:
    """(None when splitting the shape is expected to win (``engine.cost``), else why it runs
    serially; the estimate, None where there is none: every shape splits). Only for a shape that
    can be split: its functions are free of side effects. ``as_written``: what its CPython
    partitions run (``sources.written_elements``), timed instead of its functions."""
    if _runner.always_split:
        return None, None
    if key is not None:  # the key's calls are timed with the elements'
        element, as_written = _keyed(element, key), None
    try:
        with _few_nested_inline():
            with warned.discarded():  # its items warn again where they are computed for their results
                estimate = cost.estimate(source, element, condition, pattern, flat, collects, _runner.cores,
                                         as_written)
    except Exception as exc:  # serially, CPython raises it where it arises
        return f"its first items raise {type(exc).__name__} (or cannot be pickled)", None
    return (None if estimate.split_wins else f"not worth splitting: {estimate.describe()}"), estimate


def _tally_split(started: float, estimate: Optional[cost.Estimate], given_up: bool = False) -> None:
    """Count a split shape that began at ``started`` in the block's CPython estimate
    (``engine.local_estimate``); ``given_up``: its partials were not combined, and it runs
    serially next (in the block's own time)."""
    seconds = time.perf_counter() - started
    if given_up:
        local_estimate.split_shape(seconds, 0.0)
        return
    local_estimate.split_shape(seconds, None if estimate is None else estimate.cpython,
                               warming=reports[-1].compiling)  # the shape's report, which _run appended


def _keyed(element: Callable, key: Callable) -> Callable:
    """``element`` followed by ``key``, as min/max call them: for timing both."""
    def both(*parts):
        value = element(*parts)
        key(value)
        return value
    return both


def _serially(function: Callable, iterable: Any, shape: tuple, serial: Optional[Callable], args: tuple,
              kwargs: dict) -> Any:
    """``function`` of the shape's elements, computed here in order as CPython computes them:
    by the generator as written (``serial``, from the rewriter) when there is one."""
    with warned.issued_at(serial if serial is not None else shape[1]):
        if serial is not None:
            return function(serial(_called(iterable)), *args, **kwargs)
        if isinstance(iterable, IteratorCall):  # the real map()/filter(): where it ends, as written
            return function(_called(iterable), *args, **kwargs)
        return function(_elements(*shape), *args, **kwargs)


AS_WRITTEN = "a function raised StopIteration in a partition: made again as written, where CPython says what it means"
AT_ONCE = ("its kernel compiles after it, and CPython partitions would not win: computed in order at once "
           "as they compute")
FRACTIONS_IN_ORDER = ("its elements are floats, not all integers, which regrouped may round otherwise: "
                      "added in order, as written")


def parallel_reduce(function: Callable, iterable: Any, element: Callable,
                    condition: Optional[Callable], *args: Any, **kwargs: Any) -> Any:
    """``function(<element(x) for x in iterable if condition(x)>, *args, **kwargs)`` with
    CPython's answer, computed over partitions when it can be. ``kwargs`` may hold the
    generator as written (``rewriter.SERIAL_KEYWORD``), run when the shape is not split."""
    serial = kwargs.pop(rewriter.SERIAL_KEYWORD, None)
    if serial is not None and (_runner is None or _inline_few.get() and _few_items(iterable)):
        # in a partition (a shape in a function called per item), or few items: as written, at once
        with warned.issued_at(serial):
            return function(serial(_called(iterable)), *args, **kwargs)
    given = iterable
    reducer = reducers.REDUCTIONS.get(function)
    grouped = element.grouped if isinstance(element, Flat) and reducer is not None else None
    shape = _unwrap(iterable, element, condition)
    if shape is None:
        return function(_called(iterable), *args, **kwargs)
    iterable, element, condition, pattern, flat = shape
    if reducer is None or not reducer.accepts(args, kwargs):
        return _serially(function, given, shape, serial, args, kwargs)
    # What partitions run: as written, or, when the rewriter gave it, the builtin reduction of
    # each outer item's inner loops (compiled kernels; CPython partitions still read the loops)
    split_element, split_condition, split_pattern, split_flat, inner = element, condition, pattern, flat, None
    if grouped is not None:
        _, split_element, split_condition, split_pattern, split_flat = _unwrap(iterable, grouped, condition)
        inner = element
    key = kwargs.get("key")
    as_written = written_elements("reduce", serial)
    source, reason = _why_serial(iterable, (split_element, split_condition, key))
    estimate = None
    if source is not None:
        reason, estimate = _why_not_worth_it(source, split_element, split_condition, split_pattern, split_flat,
                                             False, key, as_written)
        source = None if reason is not None else source
    # a sum whose partials would not combine into the serial answer is made again in order, in
    # one partition over everything (compiled when it can be): not when its start must come
    # first (it is not 0), when it adds each outer item's inner loops at once (grouped), nor for
    # Decimals or objects (reducers.in_order_exact): those run serially below
    # (from Python 3.12 CPython's sum() of floats compensates its rounding: only its own sum over
    # every element in order gives its answer)
    in_order = (reducer is reducers.Sum and inner is None and reducers.zero_start(args, kwargs)
                and sys.version_info < (3, 12))
    if (source is not None and reducer is reducers.Sum and estimate is not None and estimate.fractional_floats
            and not (in_order and estimate.compilable)):
        source, reason = None, FRACTIONS_IN_ORDER  # its partials would not be combined: not split first
    if source is not None:
        check = getattr(reducer, "serial_because", None)
        started = time.perf_counter()
        try:
            partials = _run(reducer, source, split_element, split_condition, key, split_pattern,
                            split_flat, inner=inner, as_written=as_written,
                            check=(lambda p: check(p, args, kwargs, inner is not None)) if check else None,
                            in_order=in_order, estimate=estimate)
        except (tasks.Unshippable, shm.NoRoom) as exc:
            source, reason = None, str(exc)
        else:
            if partials is not None:
                with warned.issued_at(serial if serial is not None else element):  # (its sum's additions)
                    value = reducer.combine(partials, function, args, kwargs)
                _tally_split(started, estimate)
                return value
            # serially below (_run's report says why): the element functions are pure
            # (engine.purity), so computing them again is invisible
            _tally_split(started, estimate, given_up=True)
            return _serially(function, given, shape, serial, args, kwargs)
    reports.append(Report(reducer.name, type(iterable).__name__, False, reason))
    with _inside_a_cheap_shape(estimate):
        return _serially(function, given, shape, serial, args, kwargs)


def parallel_len(function: Callable, kind: Any, iterable: Any, element: Optional[Callable],
                 condition: Optional[Callable], **serial: Callable) -> Any:
    """``function(<collection>)``, the collection as ``parallel_collect`` takes it. For the
    builtin ``len`` of a list, a count over partitions: every element is computed, none is sent
    back. A set or dict is collected first (its length counts distinct keys)."""
    if function is len and kind in ("list", list):
        return parallel_reduce(reducers.count, iterable, element, condition, **serial)
    return function(parallel_collect(kind, iterable, element, condition, **serial))


def parallel_collect(kind: Any, iterable: Any, element: Optional[Callable],
                     condition: Optional[Callable], unread: bool = False, **serial: Callable) -> Any:
    """A list, set or dict comprehension (``kind`` is "list", "set" or "dict"; ``element``
    gives (key, value) pairs for dicts), or ``list(map(...))``/``set(filter(...))`` (``kind``
    is the function called, ``element`` None). ``unread``: a list the block never reads, left
    as the array the partitions wrote when they all compiled (``engine.unread``). ``serial``:
    the comprehension as written (``rewriter.SERIAL_KEYWORD``), run when it is not split."""
    written = serial.pop(rewriter.SERIAL_KEYWORD, None)
    if serial:
        raise TypeError(f"unexpected keywords {sorted(serial)}")
    if written is not None and (_runner is None or _inline_few.get() and _few_items(iterable)):
        return written(_called(iterable))  # in a partition, or few items: as written, at once
    given = iterable
    shape = _unwrap(iterable, element, condition)
    reducer = reducers.COLLECTIONS.get(kind if isinstance(kind, str) else getattr(kind, "__name__", ""))
    if shape is None or (not isinstance(kind, str) and kind not in (list, set)):
        return kind(_called(iterable))
    iterable, element, condition, pattern, flat = shape
    source, reason = _why_serial(iterable, (element, condition), returns_an_item=True)
    as_written = written_elements(kind, written) if isinstance(kind, str) and written is not _left_to_pandas else None
    estimate = None
    if source is not None:
        reason, estimate = _why_not_worth_it(source, element, condition, pattern, flat, True, as_written=as_written)
        source = None if reason is not None else source
    if source is not None:
        outputs = []
        started = time.perf_counter()
        try:
            outputs += [] if flat else [shm.create(8 * source.length) for _ in range(reducer.outputs)]
            partials = _run(reducer, source, element, condition, None, pattern, flat, tuple(o.name for o in outputs),
                            estimate=estimate, as_written=as_written)
            if partials is None:  # made as written below (_run's report says why)
                _tally_split(started, estimate, given_up=True)
                return _collected_as_written(kind, given, shape, written)
            partials = tasks.place_carried(partials, outputs)
            array = _gather_array(partials, outputs) if unread else None
            if array is None:
                built = reducer.build(_gather(partials, outputs))
                _tally_split(started, estimate)
                return built
            kept = NumericList(array, outputs[0])  # on the segment written: the list's from now on
            outputs.clear()
            _tally_split(started, estimate)
            return kept
        except (tasks.Unshippable, shm.NoRoom) as exc:
            reason = str(exc)
        finally:
            for segment in outputs:
                shm.release(segment, unlink=True)
    reports.append(Report(reducer.name, type(iterable).__name__, False, reason))
    with _inside_a_cheap_shape(estimate):
        return _collected_as_written(kind, given, shape, written)


def _collected_as_written(kind: Any, given: Any, shape: tuple, written: Optional[Callable]) -> Any:
    """``parallel_collect``'s collection made here in order as CPython makes it: by the
    comprehension as written (``written``, from the rewriter), by ``list``/``set`` of the real
    ``map``/``filter`` call, else by a comprehension of the shape's functions."""
    if written is not None:
        return written(_called(given))
    if not isinstance(kind, str):
        return kind(_called(given))
    iterable, element, condition, pattern, flat = shape
    return reducers.COLLECTIONS[kind].build(_collected(iterable, element, condition, pattern, flat))


def _run(reducer, source, element, condition, key, pattern: Optional[str], flat: bool,
         outputs: Tuple[str, ...] = (), inner: Optional[Callable] = None,
         check: Optional[Callable[[list], Optional[str]]] = None, in_order: bool = False,
         estimate: Optional[cost.Estimate] = None, as_written: Optional[Callable] = None) -> Optional[list]:
    """[(lo, partial)] in order, up to the first stopping outcome; raises the first error.
    ``inner``: for a grouped reduction (``element`` reduces one item's inner loops, compiled),
    the function giving those loops' values, which CPython partitions reduce as CPython would.
    ``check``: why the partials must not be combined, if they must not: then, with
    ``in_order``, the one partial of every item computed in order in this process; else None
    (the caller runs the shape serially; the report says why). ``estimate``: the shape's, which
    says when its kernel should compile, and whether its floats have fractions (``engine.cost``):
    then, ``in_order``, the sum is made in order at once, never split first (its partials would
    not be combined), compiled or in CPython as one process's work (``Estimate.in_one_process``).
    ``as_written``: what CPython partitions run (``sources.written_elements``)."""
    # where an earlier shape's partition raised is no longer asked for: an entry of an exception
    # gone could be taken for a new one's of its type at the same id (a partition computed here
    # told it in its own traceback)
    errors.forget_partition_traces()
    segments = source.export()  # first: a large array travels by name, not inside the task
    if in_order and estimate is not None and estimate.fractional_floats:
        estimate = estimate.in_one_process()
    compile_after = _compiles_after(estimate, element, condition)
    try:
        with tasks.made_task(reducer, element, condition, key, source, outputs, pattern, flat, inner,
                             estimate is not None and estimate.compile_first, compile_after, as_written) as task:
            # made in order at once, not split first: a sum whose partials would not combine (split
            # partials were made and thrown away), compiled, or waiting for its compile where its
            # CPython would take longer (``Estimate.in_one_process``); and a shape whose kernel
            # compiles after it, no faster now, whose CPython partitions would lose to the loop as
            # written (2M values mapped: their moves cost more than two cores gain)
            in_one_pass = estimate is not None and estimate.in_order
            shape = compiled_at_once.shape_of(element, condition)
            kernel_at_once = (compiled_at_once.why_at_once(shape, source.length, estimate.serial)
                              if estimate is not None and estimate.compilable and not in_one_pass else None)
            at_once = in_one_pass or kernel_at_once is not None or (
                estimate is not None and compile_after and not estimate.cpython_split_wins)
            # its time at once is this thread's CPU time, which a busy host does not stretch: one
            # wall-clock timing made slow by another program split the shape from then on (CI)
            started = time.thread_time()
            if at_once:
                computed = [(0, source.length, tasks.run_partition_here(task, 0, source.length, whole=True))]
            else:
                # a collection's values travel back from other workers: only for items worth it
                shareable = not tasks.by_name_bytes(task) and (
                    not reducer.outputs or estimate is not None and estimate.peers_collect)
                computed = _runner.run_partitions(task, source.length, shareable=shareable,
                                                  windows=source.windows(),
                                                  duplicable=shareable and not reducer.outputs)
            compiling = any(outcome[0] == tasks.PIECES for _, _, outcome in computed)
            by_name = tasks.by_name_bytes(task)
            outcomes = tasks.pieces_apart(computed)
            partials = _partials(outcomes)
            why = check([value for _, value in partials]) if check is not None else None
            if why is not None:
                if not (in_order and reducers.in_order_exact([value for _, value in partials])):
                    reports.append(Report(reducer.name, source.describe(), False, why))
                    return None
                if not at_once:
                    outcomes = tasks.pieces_apart([(0, source.length,
                                                    tasks.run_partition_here(task, 0, source.length, whole=True))])
                    partials = _partials(outcomes)
    except _AsWritten:
        reports.append(Report(reducer.name, source.describe(), False, AS_WRITTEN))
        return None
    finally:
        for segment in segments:
            shm.release(segment, unlink=True)
    _pass_on_warnings(outcomes[:len(partials)])
    compiled = sum(1 for *_, (_, _, was_compiled, *_) in outcomes if was_compiled)
    compiled_at_once.ran(shape, source.length, time.thread_time() - started if at_once else None,
                         bool(outcomes) and compiled == len(outcomes))
    # split: in CPython partitions only where the settings keep it from compiled code
    reason = (why or process_settings.not_compiled_here() or task_arrays.not_compiled_because(by_name)
              or kernel_at_once or (AT_ONCE if at_once and not in_one_pass else ""))
    reports.append(Report(reducer.name, source.describe(), why is None, reason, len(outcomes), compiled,
                          compiling, _recomputed(outcomes)))
    return [value for _, value in partials] if not reducer.outputs else partials


def _recomputed(outcomes) -> str:
    """How many partitions ran compiled but were computed again in CPython, and why: "2
    partitions recomputed in CPython: numpy would warn: ... (invalid)", "" where none was."""
    reasons = collections.Counter(tasks.recomputed_because(outcome) for *_, outcome in outcomes)
    reasons.pop("", None)
    return "; ".join(f"{count} partition{'s' if count > 1 else ''} recomputed in CPython: {why}"
                     for why, count in reasons.most_common())


class _AsWritten(Exception):
    """A partition's function raised StopIteration: the shape is made again as written, where
    CPython decides what it means (``engine.sources.values_of``)."""


def _stopped(error: RemoteError) -> bool:
    """Whether a partition's error is a StopIteration its functions raised: as such (compiled
    code), or turned into RuntimeError by the partition's generator (PEP 479). A generator as
    written raises that RuntimeError, ``map()`` and ``filter()`` end there, a comprehension lets
    the StopIteration through: only the shape as written says which."""
    return error.type_name == "StopIteration" or (
        error.type_name == "RuntimeError" and error.message == "generator raised StopIteration")


def _partials(outcomes) -> List[Tuple[int, Any]]:
    """[(lo, partial)] of the outcomes in order, up to the first stopping one; raises the first
    error (``_AsWritten`` if it is a StopIteration, ``_stopped``)."""
    partials = []
    for at, (lo, hi, (status, value, _, stop, *_)) in enumerate(outcomes):
        if status == "error":
            if _stopped(value):
                raise _AsWritten()
            _pass_on_warnings(outcomes[:at + 1])
            _raise(lo, hi, value)
        partials.append((lo, value))
        if stop:
            break
    return partials


def _pass_on_warnings(outcomes) -> None:
    """The warnings of the partitions whose results are used, in their order (``engine.warned``)."""
    for *_, outcome in outcomes:
        warned.pass_on(tasks.warnings_of(outcome))


def _gather(partials: List[Tuple[int, Any]], outputs: list) -> List[Any]:
    """The collected values in order, from shared buffers or from CPython partials. The list is
    made at its full length first and filled by slices: ``list.extend`` into an empty list that
    fails for lack of memory keeps a reference to its argument (CPython 3.11), and a partition's
    15M floats then stayed in the process for good (a user's trial under UFORA_WORKER_MEMORY)."""
    values: List[Any] = [None] * sum(len(p[1]) if p[0] == "values" else p[1] for _, p in partials)
    at = 0
    for lo, partial in partials:
        if partial[0] == "values":
            part = partial[1]
        else:
            _, count, dtypes, numpy_columns = partial
            columns = []
            for segment, dtype, numpy_items in zip(outputs, dtypes, numpy_columns):
                column = np.ndarray((lo + count,), np.dtype(dtype), buffer=segment.buf)[lo:]
                columns.append(list(column) if numpy_items else column.tolist())
                del column
            part = columns[0] if len(columns) == 1 else list(zip(*columns))
        values[at:at + len(part)] = part
        at += len(part)
    return values


def _gather_array(partials: List[Tuple[int, Any]], outputs: list) -> Optional[np.ndarray]:
    """The collected values as one array at the start of the shared buffer the partitions wrote
    (each partition's values moved down in place over the gaps a filter left: no copy of the
    whole), if they are one column of Python numbers that every partition computed; else None."""
    if len(outputs) != 1 or not partials or any(
            partial[0] == "values" or tuple(partial[3]) != (False,) for _, partial in partials):
        return None
    dtype = np.dtype(partials[0][1][2][0])
    column = np.ndarray((outputs[0].size // dtype.itemsize,), dtype, buffer=outputs[0].buf)
    end = 0
    for lo, partial in partials:
        count = partial[1]
        if lo != end:  # lo > end: numpy copes with the overlap of a move down
            column[end:end + count] = column[lo:lo + count]
        end += count
    return column[:end]


def _raise(lo: int, hi: int, error: RemoteError) -> None:
    """The first error by position, raised as the original exception, and its chain as raised
    there: the exception handled here, if any, is the context of its first one, as serially
    (``errors.in_context``). The partition's traceback is not a note on it, which a block that
    catches it would see: the block's error shows it (``errors.raised_in_partition``)."""
    exc = error.exception()
    errors.in_context(exc, sys.exc_info()[1])
    errors.raised_in_partition(exc, lo, hi, error.trace)
    errors.reraise(exc)


def zipped(function: Callable, *args: Any, **kwargs: Any) -> Any:
    """``zip``/``enumerate``/``map``/``filter`` called in a shape: kept unevaluated for the
    engine when it is the builtin; a DataFrame's ``itertuples``/``iterrows`` (``function`` is the
    bound method) as rows the engine splits (``engine.sources.FrameTuples``, ``FrameRowPairs``;
    iterated, pandas' own); anything else called as written (and in a partition, where no shape
    is split)."""
    if _runner is not None and function in (zip, enumerate, map, filter):
        return IteratorCall(function, args, kwargs)
    rows = _frame_rows(function, args, kwargs) if _runner is not None else None
    return rows if rows is not None else function(*args, **kwargs)


def _frame_rows(method: Any, args: tuple, kwargs: dict) -> Optional[FrameRows]:
    """``df.itertuples(...)``/``df.iterrows()`` of exactly a DataFrame, as rows; else None (the
    call runs as written, and raises what pandas raises for arguments it refuses)."""
    pandas = sys.modules.get("pandas")
    if pandas is None or type(method) is not types.MethodType or type(method.__self__) is not pandas.DataFrame:
        return None
    frame = method.__self__
    try:
        if method.__func__ is pandas.DataFrame.itertuples:
            bound = inspect.signature(pandas.DataFrame.itertuples).bind(frame, *args, **kwargs).arguments
            index, name = bound.get("index", True), bound.get("name", "Pandas")
            if isinstance(index, bool) and (name is None or isinstance(name, str)):
                return FrameTuples(frame, index, name)
        elif method.__func__ is pandas.DataFrame.iterrows and not args and not kwargs:
            return FrameRowPairs(frame)
    except (TypeError, ValueError):  # not pandas' arguments, or a name namedtuple refuses
        return None
    return None


def mapping_method(bound: Any, argument: Callable[[], Any], **keywords: Any) -> Any:
    """``<obj>.map(f)`` or ``<obj>.apply(f)`` (``axis=`` a constant, for a DataFrame's):
    ``bound`` is ``<obj>.map``, ``argument()`` gives ``f``. For pandas' ``Series.map``/
    ``Series.apply`` of a Series the engine splits, with ``f`` a plain Python function, ``f`` of
    every value is computed as ``[f(v) for v in series]`` (split like any comprehension; pandas
    passes ``f`` the same Python numbers), then pandas itself is called with a function that
    gives those values back in order: its result (dtype, index, name, a DataFrame for values
    that are Series) is what it makes of them, exactly. Values that compiled partitions wrote as
    one array of numbers become the result as pandas makes it of such values, without calling it
    per value again. ``df.apply(f, axis=1)`` likewise, over the frame's rows (``_apply_to_rows``).
    Anything else is the call as written."""
    function = argument()
    pandas = sys.modules.get("pandas")
    if keywords:
        return _apply_to_rows(bound, function, keywords, pandas)
    if (_runner is None or pandas is None or type(bound) is not types.MethodType
            or bound.__func__ not in (pandas.Series.map, pandas.Series.apply)
            or type(bound.__self__) is not pandas.Series or type(function) is not types.FunctionType
            or len(bound.__self__) < INLINE_LIMIT or source_for(bound.__self__) is None):
        return bound(function)
    series = bound.__self__
    values = parallel_collect("list", series, function, None, unread=True)
    if isinstance(values, NumericList):
        # every value a number a compiled partition wrote, of one type: the array pandas would
        # infer from them (int64, float64, bool, complex128)
        array = np.array(values.array) if values.array.dtype.kind in "bifc" else None
        if array is None:
            values = values.array.tolist()
    else:
        array = _inferred_as_pandas_would(values)
    if array is not None:  # made as pandas makes its result
        method = "map" if bound.__func__ is pandas.Series.map else "apply"
        return series._constructor(array, index=series.index, copy=False).__finalize__(series, method=method)
    given_back = iter(values).__next__
    return bound(lambda _value: given_back())


def _inferred_as_pandas_would(values: List[Any]) -> Optional[np.ndarray]:
    """The array pandas infers from a list of Python values that are all exactly ``float`` (a
    float64 array), ``bool`` or ``int`` (within int64); None for any other list, which pandas
    itself is given (2M floats given back through a function: 1.3 s; this: 0.03 s)."""
    kinds = set(map(type, values))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind not in (float, bool, int):
        return None
    try:
        return np.array(values, {float: np.float64, bool: np.bool_, int: np.int64}[kind])
    except OverflowError:  # an int past int64: pandas' own inference (uint64, or objects)
        return None


_AS_WRITTEN = object()  # what a shape not split gives back: the call then runs as written


def _left_to_pandas(_rows: Any) -> Any:
    """The serial form ``_apply_to_rows`` gives its shape: not split, the call is pandas' own
    (and its partitions call the function per row: there is no loop as written)."""
    return _AS_WRITTEN


def _apply_to_rows(bound: Any, function: Any, keywords: Dict[str, Any], pandas: Any) -> Any:
    """``df.apply(f, axis=1)`` (or ``axis="columns"``) of a DataFrame, ``f`` a plain Python
    function: ``[f(row) for row in rows]`` split over the rows as pandas makes them
    (``engine.sources.FrameRows``), then pandas called with a function that gives those values
    back in order, so that its result (a Series of the frame's index, its dtype; a DataFrame
    for rows that are Series) is its own. Where the shape is not split (a side effect, too
    little work), and for anything else, the call as written: pandas calls ``f`` as usual."""
    if (_runner is None or pandas is None or type(bound) is not types.MethodType
            or bound.__func__ is not pandas.DataFrame.apply or type(bound.__self__) is not pandas.DataFrame
            or keywords.get("axis") not in (1, "columns") or set(keywords) != {"axis"}
            or type(function) is not types.FunctionType or len(bound.__self__) < INLINE_LIMIT
            or not sources.rows_as_pandas_makes_them(bound.__self__)):
        return bound(function, **keywords)
    values = parallel_collect("list", FrameRows(bound.__self__), function, None,
                              **{rewriter.SERIAL_KEYWORD: _left_to_pandas})
    if values is _AS_WRITTEN:
        return bound(function, **keywords)
    given_back = iter(values).__next__
    return bound(lambda _row: given_back(), **keywords)


def hooks() -> Dict[str, Callable]:
    """The names rewritten code calls, and what they are."""
    return {rewriter.REDUCE_HOOK: parallel_reduce, rewriter.COLLECT_HOOK: parallel_collect,
            rewriter.METHOD_HOOK: mapping_method,
            rewriter.ZIPPED_HOOK: zipped, rewriter.STAR_HOOK: Star, rewriter.FLAT_HOOK: Flat,
            rewriter.LEN_HOOK: parallel_len, rewriter.LOOPS_HOOK: kernels.attach_loops,
            UNREAD_COLLECT_HOOK: functools.partial(parallel_collect, unread=True)}


class InlineRunner:
    """Runs the partitions one after another in this process: the runner for tests and for
    engine use without a cluster. Same plan and same partition code as the pool."""

    def __init__(self, processes: int = 2, always_split: bool = True):
        self.processes = self.cores = processes
        self.always_split = always_split  # by default it is there to run partitions

    def run_partitions(self, task: bytes, length: int, shareable: bool = False, windows: Sequence[Window] = (),
                       duplicable: bool = False) -> List[Tuple[int, int, tasks.Outcome]]:
        from ufora.engine.partition import GuidedPlan

        plan = GuidedPlan(length, self.processes)
        results = []
        while (partition := plan.next_partition()) is not None:
            with using_runner(None):  # as in a compute process: nested shapes run inline
                outcome = tasks.run_partition_here(task, *partition)
            results.append((*partition, outcome))
            if outcome[3]:
                break
        return results
