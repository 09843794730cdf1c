"""Split or serial, from measurement: whether computing a shape over partitions can beat computing
it here, in order, as CPython would.

Counting items is not enough: 400,000 small objects summed by a property take 40 ms here, and
3 s split, since every process must first unpickle all of them (a task carries an object list
whole) and the driver must pickle them; 1,000 simulations of 10 ms each are few items and
10 s of work. So before splitting, the driver times the shape on its first items (until
``SAMPLE_SECONDS`` have passed, or ``1/SAMPLE_SHARE`` of the items), pickles and unpickles those
items if they are Python objects that would travel, and the values a collection would send back,
and estimates both ways:

    serial = n * compute
    split  = overhead + n * (pickle_items + unpickle_items) * S      driver, then every process
                      + n * (compute + pickle_results * S) / cores   the partitions, in parallel
                      + n * unpickle_results * S                     the driver gathers
                      + 2 * pickle_functions                         driver, then every process

where S (``MOVES_AT_SCALE``) is what a move costs at scale against its sample's timing.

A shape over Python objects is split only where ``split <= SPLIT_GAIN * serial``. A shape
over a range or numeric arrays (``source.compilable``) whose sampled elements are numbers (or
tuples of numbers) moves nothing but numbers and its partitions are compiled, many times faster
than sampled, at the price of compiling once (0.2-6 s the first time, then loaded from the kernel
cache): it is split when its serial estimate is at least ``COMPILED_FLOOR``, and also, where
kernels compile behind the partitions (``engine.kernels.compile_behind``: nothing waits for the
compile), wherever splitting wins as CPython partitions do, as for objects. Otherwise the shape
runs serially and the report gives the estimates.

The element functions are free of side effects (``engine.purity`` ran first), so computing the
sampled items again, serially or in a partition, is invisible; an item that raises while sampled
sends the shape serial, where CPython raises it in order.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

import numpy as np

from ufora.engine import gc_pause, kernels, local_estimate, process_settings, serialization, task_arrays
from ufora.engine.sources import ObjectSource, ZipSource, values_of

SAMPLE_SECONDS = 0.002  # time the shape on its first items for about this long...
SAMPLE_SHARE = 50       # ...but never on more than this share of them
CLOCK_EVERY = 16
# the sample's chunks grow to at most this: elements cheap at first and dear later (a filter that
# drops the first items) would otherwise sample thousands of dear ones past SAMPLE_SECONDS; at this
# size, a count over numpy floats is estimated at 109 ns an item for 93 (no cap: 98; 16: 237)
CHUNK_AT_MOST = 256
PICKLED_SAMPLE = 200    # items (and results) pickled to time their moves: pickling costs more than most elements
# What a split costs whatever its size: the task's pickling and hand-out, the first partitions'
# round trips through the worker service, the gathering (measured with perf/realistic).
SPLIT_OVERHEAD = 0.004
# The task (its functions with what their closures hold) goes down the driver's pipe to the worker
# service and down another to each other process: about 0.5 GB/s each way (a block's 128 MB took
# 0.22 s less once it no longer crossed a pipe). Five numpy means over a 7 MB closure split: 20 ms,
# against 10 ms serially.
PIPE_BYTES_PER_SECOND = 0.5e9
COPY_BYTES_PER_SECOND = 2e9  # a large array a shape's functions read, copied into shared memory (engine.task_arrays)
SPLIT_GAIN = 0.8        # split only where it is expected to take at most this share of serial
# what moving a value costs at scale, against the sample's timing of 200 values (hot in the cache, in
# memory the process had just freed): 150,000 parsed rows pickled at 3x, unpickled at 2x their
# sample's cost per value, and the task's 150,000 lines unpickled at 2x
MOVES_AT_SCALE = 2.5
COMPILED_FLOOR = 0.1    # seconds of CPython below which a compilable shape is not worth compiling
# seconds of CPython an item (as measured on a shape's first items) from which a collection's
# partitions are offered to other workers, whose values then travel back over the network: about
# where a compiled item takes as long as carrying its 8 bytes back. Measured on 2 workers x 1 core:
# 10M floats of a cheap element (0.15 us an item in CPython) took 0.79-0.90 s shared, against
# 0.68-0.73 s on the driver's worker alone
PEERS_COLLECT_FROM = 1e-6
# seconds of CPython from which the process that compiles a shape's kernel waits for it instead
# of computing its partition in CPython meanwhile (where the compile thread would share its
# GIL): longer than most compiles take (0.2-6 s), and the kernel is then many times faster
COMPILE_FIRST_FROM = 3.0
# seconds a new kernel's compile takes here, about (0.3-1.5 s for the realistic programs' kernels
# on this machine): a shape whose CPython partitions end sooner, split over the cores, compiles its
# kernel only after them (engine.background_compiles: on two cores a compile meanwhile took one
# core from a 0.5 s Monte Carlo loop's partitions and made it take 1.4 s)
COMPILE_SECONDS = 1.0
# CPU time of this thread: what the work costs, not how long a loaded machine kept it waiting (a
# 2 ms sample preempted for 50 ms would otherwise make the work look 25 times heavier)
_clock = time.thread_time


@dataclass(frozen=True)
class Estimate:
    items: int
    serial: float  # seconds
    split: float   # seconds
    moved: int     # bytes of items and results pickled between processes
    compilable: bool = False  # over a range or numeric arrays: its partitions compile
    compiles_behind: bool = False  # its partitions run in CPython until their kernel is compiled
    cores: int = 1  # that its partitions run on
    # its sampled elements are floats, not all integers: a sum of them is made in order
    # (engine.reducers.Sum.serial_because), never from partials
    fractional_floats: bool = False
    # made in order in one process (a sum of fractional floats: ``in_one_process``), on one core
    in_order: bool = False
    # what the shape would take as CPython serially, where that differs from ``serial``: its
    # items' own shapes split or compiled while sampled (a sum over 3M items per parameter);
    # None: not known
    cpython: Optional[float] = None

    def in_one_process(self) -> "Estimate":
        """This estimate for the shape made in order in one process, from its first item to its
        last: one core's work, which cannot switch to its kernel midway (a float sum must be one
        pass), so its kernel compiles first once that work would take longer than the compile."""
        return dataclasses.replace(self, cores=1, in_order=True)

    @property
    def cpython_split_wins(self) -> bool:
        """Whether its CPython partitions, moves included, beat the generator as written."""
        return self.split <= SPLIT_GAIN * self.serial

    @property
    def split_wins(self) -> bool:
        if self.compilable:
            return self.serial >= COMPILED_FLOOR or (self.compiles_behind and self.cpython_split_wins)
        return self.cpython_split_wins

    @property
    def peers_collect(self) -> bool:
        """Whether another worker computing some of a collection's items gains more than carrying
        their values back costs (``PEERS_COLLECT_FROM``)."""
        return self.serial >= PEERS_COLLECT_FROM * max(1, self.items)

    @property
    def compile_first(self) -> bool:
        """Whether the process compiling the kernel should wait for it (``COMPILE_FIRST_FROM``;
        made in order, ``COMPILE_SECONDS``: its CPython run would end after the compile)."""
        return self.compilable and self.serial >= (COMPILE_SECONDS if self.in_order else COMPILE_FIRST_FROM)

    @property
    def compile_after(self) -> bool:
        """Whether its kernel, compiling behind the partitions, should compile only after them
        (``COMPILE_SECONDS``)."""
        return (self.compilable and self.compiles_behind and not self.compile_first
                and self.serial / max(1, self.cores) < COMPILE_SECONDS)

    def describe(self) -> str:
        if self.compilable:
            return (f"measured on its first items: {self.items} items take about {_ms(self.serial)} serially, "
                    f"{_ms(self.split)} split in CPython, and less than compiling them would cost (split from "
                    f"{_ms(COMPILED_FLOOR)})")
        return (f"measured on its first items: {self.items} items take about {_ms(self.serial)} serially, "
                f"{_ms(self.split)} split ({self.moved / 1e6:.1f} MB moved between processes)")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


@dataclass(frozen=True)
class _Sample:
    count: int        # items computed
    seconds: float    # how long they took
    results: List[Any]  # the elements they gave (after the filter)


def _sample(source, element: Callable, condition: Optional[Callable], pattern: Optional[str], flat: bool,
            limit: int, as_written: Optional[Callable] = None) -> _Sample:
    """The shape computed on its first items, in order, as CPython partitions compute it (by
    ``as_written``, else ``engine.sources.values_of``; raises what they raise). The clock is read
    after ``CLOCK_EVERY`` items, then after twice as many each time, up to ``CHUNK_AT_MOST``: for
    cheap elements, reading it, and starting a loop over each chunk, cost more than they do. The values are kept in C
    (``list.extend``) as the partitions' loops consume them: kept one by one in Python, a
    count over numpy floats was sampled at 230 ns an item, and took 80 ns."""
    results: List[Any] = []
    if as_written is None:
        elements = functools.partial(values_of, element=element, condition=condition, pattern=pattern)
    else:  # the loop as written gives the inner loops' values themselves
        elements = as_written
    flattened = flat and as_written is None  # each value is an item's inner values
    count, size = 0, CLOCK_EVERY
    items = iter(source.items(0, limit))
    with gc_pause.paused():
        start = _clock()
        while chunk := list(itertools.islice(items, size)):
            if flattened:
                for value in elements(chunk):
                    results.extend(value)
            else:
                results.extend(elements(chunk))
            count += len(chunk)
            if _clock() - start >= SAMPLE_SECONDS:
                break
            size = min(2 * size, CHUNK_AT_MOST)
        return _Sample(count, _clock() - start, results)


def _round_trip(values: List[Any], per_value: float) -> tuple:
    """(bytes, seconds to pickle, seconds to unpickle) per item, each of ``values`` standing for
    ``per_value`` items, with the tasks' pickler. What every value costs, apart from what their
    pickle costs once (a class shipped by value is rebuilt once per task, not per item): the
    first value timed alone, then all of them."""
    if not values:
        return 0.0, 0.0, 0.0
    first, everything = _timed_pickle(values[:1]), _timed_pickle(values)
    extra = max(1, len(values) - 1)
    return tuple(max(0.0, whole - one) / extra * per_value for whole, one in zip(everything, first))


def _timed_pickle(values: List[Any]) -> tuple:
    with gc_pause.paused():
        start = _clock()
        data = serialization.dumps(values)
        pickled = _clock()
        serialization.loads(data)
        return len(data), pickled - start, _clock() - pickled


def _travelling_items(source, count: int) -> List[Any]:
    """Up to ``count`` first items of the source's parts that travel pickled inside the task, as
    tuples."""
    parts = [part.values[:count] for part in (source.parts if isinstance(source, ZipSource) else [source])
             if isinstance(part, ObjectSource)]
    return list(zip(*parts)) if parts else []


def estimate(source, element: Callable, condition: Optional[Callable], pattern: Optional[str], flat: bool,
             collects: bool, cores: int, as_written: Optional[Callable] = None) -> Estimate:
    """Both ways' expected time for the whole shape; ``as_written``: what its CPython partitions
    run (``engine.sources.written_elements``). Raises what its first items raise, or what
    pickling them raises."""
    n = source.length
    with local_estimate.tallied() as nested:  # the shapes inside the items: not the block's own
        sample = _sample(source, element, condition, pattern, flat, max(1, n // SAMPLE_SHARE), as_written)
    items = _travelling_items(source, min(sample.count, PICKLED_SAMPLE))
    items_bytes, pickle_items, unpickle_items = _round_trip(items, 1.0)
    results = sample.results[:PICKLED_SAMPLE]
    results_bytes, pickle_results, unpickle_results = (
        _round_trip(results, len(sample.results) / sample.count) if collects and results
        else (0.0, 0.0, 0.0))
    serial = sample.seconds / sample.count * n
    correction = nested.nested_correction()
    cpython = None if correction is None else (sample.seconds + correction) / sample.count * n
    compiles = (bool(source.compilable) and not flat and all(map(_numbers, sample.results))
                and not process_settings.not_compiled_here())
    # CPython partitions run the shapes inside their items as written: as CPython, not as sampled
    compute = sample.seconds / sample.count if compiles or cpython is None else cpython / n
    split = (SPLIT_OVERHEAD + (pickle_items + unpickle_items + unpickle_results) * MOVES_AT_SCALE * n
             + (compute + pickle_results * MOVES_AT_SCALE) * n / max(1, cores))
    functions_seconds, functions_bytes = _functions_cost((element, condition, as_written),
                                                         (SPLIT_GAIN * serial - split) / 2)
    split += 2 * functions_seconds + functions_bytes * max(1, cores) / PIPE_BYTES_PER_SECOND
    moved = int((items_bytes + results_bytes) * n) + functions_bytes
    return Estimate(n, serial, split, moved, compiles, kernels.compiles_behind(), cores,
                    _fractional_floats(sample.results), cpython=cpython)


def _fractional_floats(values: List[Any]) -> bool:
    """Whether ``values`` are all floats (Python's or numpy's float64), some of them not integers."""
    return (bool(values) and all(type(value) in (float, np.float64) for value in values)
            and not all(map(float.is_integer, values)))


def _functions_cost(functions: tuple, budget: float) -> tuple:
    """(seconds, bytes) of pickling the shape's functions with all their closures and globals
    hold (a list of 150,000 records that each element reads): the driver pickles them once, and
    every process unpickles them, in parallel, in about as long. Pickling is given up after
    ``budget`` seconds, which already makes splitting lose (then the seconds are ``budget``
    and a little more); nothing is pickled where splitting loses without them."""
    if budget <= 0:
        return 0.0, 0
    arrays = task_arrays.ByName(copying=False)  # large arrays go by name: only copies of them cost
    try:
        with gc_pause.paused():
            seconds, size = serialization.timed_pickle(functions, budget, _clock, arrays)
    except Exception:  # a lock in a closure: the task cannot be made, and says so (tasks.Unshippable)
        return 0.0, 0
    return (budget * 1.01 if seconds is None else seconds + arrays.copied / COPY_BYTES_PER_SECOND), size


_NUMBERS = (int, float, bool, np.number, np.bool_)


def _numbers(value: Any) -> bool:
    """Whether a kernel can give this element: a number, or a tuple of numbers (a dict's pair, a
    collected row); anything else (an object, a string) is computed in CPython partitions."""
    if isinstance(value, tuple):
        return all(isinstance(part, _NUMBERS) for part in value)
    return isinstance(value, _NUMBERS)
