"""Split or serial from measurement (``engine.cost``): cheap work over Python objects runs
serially and says why; few heavy items are split; the answer is CPython's either way; and the
setting that splits every shape (UFORA_SPLIT=always) reaches the engine through a real service."""
import dataclasses

import pytest

import pyfora
from ufora.engine import cost, runtime
from ufora.engine.sources import source_for
from ufora.engine.runtime import InlineRunner, parallel_collect, parallel_reduce, using_runner
from tests.conftest import one_host


class Reading:
    """A user's record: a small object with a method."""

    def __init__(self, station, value):
        self.station, self.value = station, value

    def scaled(self):
        return self.value * 1.5


def reading_of(i):
    return Reading(f"s{i % 5}", float(i % 977))


def heavy(k):
    """Pure, and some milliseconds of CPython per call."""
    total = 0
    for i in range(200_000 + k):
        total += i % 7
    return total


def measured():
    return using_runner(InlineRunner(processes=2, always_split=False))


def test_cheap_work_over_objects_runs_serially_and_says_why():
    readings = [Reading(f"s{i % 13}", float(i)) for i in range(50_000)]
    with measured():
        total = parallel_reduce(sum, readings, lambda r: r.scaled(), None)
    assert total == sum(r.scaled() for r in readings)
    report = runtime.reports[-1]
    assert not report.parallel
    assert report.reason.startswith("not worth splitting: measured on its first items: 50000 items take about")
    assert "MB moved between processes" in report.reason


def test_few_heavy_items_are_split():
    with measured():
        got = parallel_collect("list", range(40), lambda k: heavy(k), None)
    assert got == [heavy(k) for k in range(40)]
    assert runtime.reports[-1].parallel, runtime.reports[-1]


def test_cheap_work_over_a_range_is_not_worth_compiling():
    with measured():
        total = parallel_reduce(sum, range(50_000), lambda x: x % 7, None)
    assert total == sum(x % 7 for x in range(50_000))
    report = runtime.reports[-1]
    assert not report.parallel and "less than compiling them would cost" in report.reason


def test_objects_built_over_a_range_are_not_taken_for_compiled_work():
    """A range compiles, but a set of objects does not: the objects must come back pickled, so the
    estimate counts their moves like any object shape's (whether that tips the shape to serial is a
    matter of this machine's timings, near the threshold for this one: the benchmark measures that)."""
    source = source_for(range(100_000))
    estimate = cost.estimate(source, reading_of, None, None, False, True, cores=2)
    assert not estimate.compilable and estimate.moved > 100_000 * 20
    assert "MB moved between processes" in estimate.describe()
    with measured():
        got = parallel_collect("set", range(100_000), reading_of, None)
    assert len(got) == 100_000 and all(type(r) is Reading for r in got)  # hashed by identity
    report = runtime.reports[-1]
    assert report.compiled == 0 and (report.parallel or "MB moved between processes" in report.reason), report


def test_a_first_item_that_raises_runs_serially_with_cpythons_error():
    with measured():
        with pytest.raises(ZeroDivisionError, match="integer division or modulo by zero"):
            parallel_reduce(sum, range(50_000), lambda x: 1 // x, None)
    report = runtime.reports[-1]
    assert not report.parallel and report.reason.startswith("its first items raise ZeroDivisionError")


def test_the_serial_run_is_the_comprehension_as_written():
    """What the rewriter passes as ``__ufora_serial__`` is what runs when the shape is not split:
    a set comprehension's own set, not a set built from elements computed one call at a time."""
    readings = [Reading(f"s{i % 13}", float(i)) for i in range(50_000)]
    calls = []

    def written(items):
        calls.append(items)
        return {r.station for r in items}

    with measured():
        got = parallel_collect("set", readings, lambda r: r.station, None, __ufora_serial__=written)
    assert got == {f"s{i}" for i in range(13)} and calls == [readings]
    assert not runtime.reports[-1].parallel


def test_the_estimate_counts_moving_objects_against_splitting():
    """Objects travel pickled: for a cheap element the split estimate is dominated by moving
    them, and never below the serial one's share of the cores."""
    source = source_for([Reading("a", float(i)) for i in range(50_000)])
    estimate = cost.estimate(source, lambda r: r.value, None, None, False, False, cores=2)
    assert estimate.moved > 50_000 * 20  # bytes: every item is pickled once
    assert estimate.split > estimate.serial / 2 + cost.SPLIT_OVERHEAD
    assert not estimate.split_wins


@pytest.mark.parametrize("setting,split", [("", False), ("always", True)])
def test_the_setting_reaches_the_blocks_of_a_real_service(start_service, setting, split):
    service = start_service({**one_host(2), "UFORA_SPLIT": setting})
    readings = [Reading(f"s{i % 13}", float(i)) for i in range(30_000)]
    with pyfora.connect(service.url, progress=False) as ufora:
        with ufora.remotely.downloadAll():
            total = sum(len(r.station) for r in readings)
            from ufora.engine import runtime as engine_runtime
            report = engine_runtime.reports[-1]
            shape = (report.shape, report.parallel, report.reason)
    assert total == sum(len(r.station) for r in readings)
    assert shape[:2] == ("sum", split), shape


def test_compiling_behind_splits_a_compilable_shape_wherever_cpython_partitions_win():
    """Below COMPILED_FLOOR a compilable shape's first partitions would wait for a compile that
    costs more than the shape; where nothing waits for it (``kernels.compile_behind``), it is split
    as CPython partitions are, and later runs find the kernel compiled."""
    quick = cost.Estimate(50_000, serial=0.05, split=0.03, moved=0, compilable=True)
    assert not quick.split_wins
    assert dataclasses.replace(quick, compiles_behind=True).split_wins
    assert not dataclasses.replace(quick, serial=0.02, compiles_behind=True).split_wins
    assert dataclasses.replace(quick, serial=cost.COMPILED_FLOOR, split=1.0).split_wins


def test_a_sample_is_timed_without_garbage_collection_and_leaves_it_as_it_was():
    """A full collection falling into a 2 ms sample would make cheap work look heavy; the
    program's own choice (gc disabled by the user) stands after it."""
    import gc

    seen = []

    def element(x):
        seen.append(gc.isenabled())
        return x

    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            cost.estimate(source_for(list(range(5_000))), element, None, None, False, False, cores=2)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
    assert seen and not any(seen)


def test_a_large_free_list_read_by_every_element_counts_against_splitting():
    """Twenty stations, each summed over 100,000 records the element reads from its closure:
    every process would unpickle the records before computing anything, so the shape runs
    serially (pickling them is given up once it has cost what makes splitting lose)."""
    readings = [Reading(f"s{i % 20}", float(i)) for i in range(100_000)]
    stations = [f"s{k}" for k in range(20)]

    def payroll(station):
        return sum(r.value for r in readings if r.station == station)

    estimate = cost.estimate(source_for(stations), payroll, None, None, False, False, cores=2)
    assert estimate.moved > 0 and not estimate.split_wins, estimate
    with measured():
        total = parallel_reduce(sum, stations, payroll, None)
    assert total == sum(payroll(s) for s in stations)
    report = runtime.reports[-1]
    assert not report.parallel and "MB moved between processes" in report.reason, report


def test_functions_that_cannot_be_pickled_run_serially_and_say_so():
    """The functions are pickled to count their cost: one that cannot be (a lock in its closure)
    does not pass for an error of its items, but gives the task's own reason."""
    import threading

    guard = threading.Lock()

    def heavy_guarded(k):
        with guard:
            return heavy(k)

    with measured():
        got = parallel_collect("list", range(40), heavy_guarded, None)
    assert got == [heavy(k) for k in range(40)]
    report = runtime.reports[-1]
    assert not report.parallel and report.reason.startswith("cannot be sent to other processes"), report


def test_the_sample_takes_each_item_once_up_to_its_share():
    from ufora.engine.cost import _sample
    from ufora.engine.sources import RangeSource

    sample = _sample(RangeSource(range(100_000)), lambda x: x * 2, None, None, False, 300)
    assert sample.count == 300 and sample.results == [x * 2 for x in range(300)]


def test_a_long_shape_that_waits_for_its_compile_never_defers_it():
    from ufora.engine import cost

    many_cores = cost.Estimate(10_000_000, serial=cost.COMPILE_FIRST_FROM, split=0.1, moved=0, compilable=True,
                               compiles_behind=True, cores=64)
    assert many_cores.compile_first and not many_cores.compile_after


def test_a_sample_whose_later_items_are_dear_stops_within_a_chunk_of_them():
    """The sample's chunks grow (cheap elements would spend its time on the clock and on
    starting loops), but only to ``CHUNK_AT_MOST``: a filter that drops its first items cheaply
    and then meets dear ones samples at most one chunk of those past ``SAMPLE_SECONDS``."""
    import time as clock

    from ufora.engine.sources import RangeSource

    def dear_from_6000(x):
        if x >= 6000:
            until = clock.perf_counter() + 0.0005
            while clock.perf_counter() < until:
                pass
        return x

    began = clock.perf_counter()
    sample = cost._sample(RangeSource(range(1_000_000)), lambda x: x, dear_from_6000, None, False, 20_000)
    spent = clock.perf_counter() - began
    assert sample.count <= 6000 + 2 * 256, sample.count  # chunks of 4,096 sampled 2,176 dear items (1.1 s)
    assert spent < 0.4, spent
