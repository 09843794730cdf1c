"""Compiling behind the partitions (issue 16, tiered execution): a new kernel compiles in a child
process at the lowest priority, forked by a thread of the first process that wants it, while
partitions run in CPython; another process of the host
does not compile it again nor wait for it, and loads it once it is on disk; a service answers
exactly before and after its kernels are ready, and then computes with them."""
import os
import signal
import sys
import threading
import time

import pytest

import pyfora
from ufora.engine import compile_apart, cost, kernel_cache, kernels, reducers, runtime, tasks
from ufora.engine.runtime import InlineRunner, parallel_collect, parallel_reduce, using_runner
from ufora.engine.sources import RangeSource
from tests.conftest import manager_status, one_host, wait_for


@pytest.fixture
def behind(tmp_path):
    """This process compiles behind, with a kernel folder of its own; the events it reports."""
    events: list = []
    kernel_cache.use(str(tmp_path))
    kernels.compile_behind(True)
    kernels.report_to(events.append)
    yield events
    assert kernels.join_background_compiles(60)
    kernels.compile_behind(False)
    kernels.report_to(lambda kind: None)
    kernel_cache.use(None)


def in_child(work) -> int:
    """The exit status of a forked process (a sibling compute process) that runs ``work``:
    0 when it returns True."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if work() else 1)
        finally:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


KEY = ("the key of a kernel", 1)


class Builds:
    """Builds recorded in a file, by process: a compile behind runs in a child process of its own
    (``engine.compile_apart``), whose memory is not the test's. ``hold``: each build waits until
    ``release``."""

    def __init__(self, folder, hold: bool = False):
        self.path, self.released, self.hold = folder / "builds", folder / "released", hold

    def build(self) -> None:
        with open(self.path, "a") as file:
            file.write(f"{os.getpid()} {os.getpriority(os.PRIO_PROCESS, 0)}\n")
        deadline = time.monotonic() + 30
        while self.hold and not self.released.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return None  # numba's refusal: kept on disk like a kernel, without compiling anything

    def release(self) -> None:
        self.released.touch()

    def by(self) -> list:
        """(process, its nice value) of each build so far."""
        return [tuple(map(int, line.split())) for line in self.path.read_text().splitlines()] \
            if self.path.exists() else []


def test_a_compile_runs_behind_and_no_other_process_compiles_or_waits(behind, tmp_path):
    builds = Builds(tmp_path, hold=True)
    assert kernels._compiled_once(KEY, builds.build) is kernels.COMPILING   # started, not waited for
    assert kernels._compiled_once(KEY, builds.build) is kernels.COMPILING   # still running: not started again
    # a sibling process neither compiles it nor waits for it while it compiles here
    assert in_child(lambda: kernels._compiled_once(KEY, lambda: 1 / 0) is kernels.COMPILING) == 0
    builds.release()
    assert kernels.join_background_compiles(30)
    assert kernels._compiled_once(KEY, builds.build) is None  # its result, taken here
    [(pid, _)] = builds.by()  # a shape wants it now: in a thread of this process, as the shape's partitions go on
    assert pid == os.getpid() and behind == ["compiled"]
    # and now the sibling loads it from the disk cache
    assert in_child(lambda: kernels._compiled_once(KEY, lambda: 1 / 0) is None and behind[-1] == "loaded") == 0


def test_the_interpreter_switches_threads_often_while_a_compile_runs_behind(behind, tmp_path):
    """A compile thread beside a partition computing in CPython waited a whole switch interval
    (5 ms) each time it gave the interpreter lock up: 5x as long as alone."""
    from ufora.engine import background_compiles

    usual = sys.getswitchinterval()
    builds = Builds(tmp_path, hold=True)
    assert kernels._compiled_once(KEY, builds.build) is kernels.COMPILING
    assert sys.getswitchinterval() == min(usual, background_compiles.COMPILING_SWITCH_INTERVAL) < 0.005
    builds.release()
    assert kernels.join_background_compiles(30)
    assert sys.getswitchinterval() == usual


def test_a_compile_process_that_dies_costs_its_kernel_not_the_process(behind, caplog):
    def dying_build():
        os.kill(os.getpid(), signal.SIGKILL)

    assert kernels._compiled_once(KEY, dying_build, deferring=True) is kernels.COMPILING
    kernels.start_deferred_compiles()  # idle: in a child process at the lowest priority
    assert kernels.join_background_compiles(30)
    assert kernels._compiled_once(KEY, dying_build) is None  # CPython partitions
    assert "ended with signal 9" in caplog.text


def test_a_kernel_the_child_cannot_keep_is_compiled_in_the_process(behind, monkeypatch):
    """numba cannot always reduce a kernel to bytes (``kernel_cache.freeze`` gives None): the
    child cannot hand it over, so the compiling process builds it itself, as before."""
    monkeypatch.setattr(kernel_cache, "freeze", lambda *args: None)
    source = RangeSource(range(1000))

    def kernel(deferring: bool = False):
        return kernels.kernel_or_compiling("times 5 unkept", reducers.Sum, source, lambda x: x * 5, None, None,
                                           deferring=deferring)

    assert kernel(deferring=True) is kernels.COMPILING
    kernels.start_deferred_compiles()
    assert kernels.join_background_compiles(60)
    compiled = kernel()
    assert compiled is not None and compiled.function(*source.kernel_arguments(), 0, 1000)[2] == 5 * 499500


def test_a_real_kernel_is_used_once_compiled_behind(behind):
    source = RangeSource(range(1000))

    def kernel():
        return kernels.compiled("times 3 behind", reducers.Sum, source, lambda x: x * 3, None, None)

    assert kernel() is None  # this partition runs in CPython
    assert kernels.join_background_compiles(60)
    compiled = kernel()
    assert compiled is not None and compiled.function(*source.kernel_arguments(), 0, 1000)[2] == 3 * 499500
    assert behind == ["compiled"]

    def in_a_sibling():
        kernels._cache.clear()  # what it compiled itself, forked from here: a sibling has its own
        return kernel() is not None and behind[-1] == "loaded"

    assert in_child(in_a_sibling) == 0


def scaled(x):
    return x * 3 + 1


N = 200_000
EXPECTED = sum(scaled(x) for x in range(N))


def test_a_service_answers_exactly_while_compiling_and_then_uses_its_kernel(start_service):
    """Blocks run again until their partitions are compiled: every answer is CPython's, and the
    kernel is compiled once (whichever process wanted it first) however many partitions asked."""
    service = start_service({**one_host(2), "UFORA_SPLIT": "always"})
    compiled_partitions = []

    def run_once() -> bool:
        with pyfora.connect(service.url, progress=False) as ufora:
            with ufora.remotely.downloadAll():
                total = sum(scaled(x) for x in range(N))
                from ufora.engine import runtime
                report = runtime.reports[-1]
                shape = (report.parallel, report.compiled)
        assert (total, type(total)) == (EXPECTED, int)
        assert shape[0], shape
        compiled_partitions.append(shape[1])
        return shape[1] > 0

    wait_for(run_once, "partitions computed by the kernel compiled behind them", timeout=90)
    wait_for(lambda: compiles(service) == 1, "the one compile in the worker's stats (sent with its heartbeats)")


def compiles(service) -> int:
    [member] = manager_status(service.url)["members"]
    return member.get("kernels_compiled", 0)


@pytest.mark.parametrize("shape", ["sum", "list", "max", "any"])
def test_a_partition_begun_while_its_kernel_compiles_goes_on_compiled_once_it_is_ready(kernels_compiling_at_first,
                                                                                        shape):
    """The first partition's items before the kernel is ready are computed in CPython, the rest
    by the kernel (two pieces, combined in order like partitions); the answer is CPython's."""
    items = range(100_000)
    with using_runner(InlineRunner(processes=2)):
        if shape == "sum":
            got, expected = parallel_reduce(sum, items, triple, None), sum(triple(x) for x in items)
        elif shape == "max":
            got, expected = parallel_reduce(max, items, triple, None), max(triple(x) for x in items)
        elif shape == "any":
            got, expected = (parallel_reduce(any, items, over_limit, None), any(over_limit(x) for x in items))
        else:
            got, expected = parallel_collect("list", items, triple, None), [triple(x) for x in items]
    assert (got, type(got)) == (expected, type(expected))
    report = runtime.reports[-1]
    assert report.parallel and 0 < report.compiled < report.partitions and report.compiling, report


def test_a_shape_whose_kernel_was_compiling_tells_its_time_apart_from_the_blocks(kernels_compiling_at_first):
    """Its time says little of the next runs, compiled (``engine.local_estimate``): the block's
    estimate in CPython is its time less the shape's, plus its serial estimate, whether or not
    the kernel was ready, and the shape's time while its kernel compiled is counted apart."""
    from ufora.engine import local_estimate

    for compiling in (True, False):  # the shape measured, as a service does (a big one: it splits)
        with using_runner(InlineRunner(processes=2, always_split=False)), local_estimate.tallied() as tally:
            parallel_reduce(sum, range(5_000_000), triple, None)
        assert runtime.reports[-1].parallel and runtime.reports[-1].compiling is compiling, runtime.reports[-1]
        assert tally.cpython_seconds(1.0) == pytest.approx(1.0 - tally.split_seconds + tally.serial_seconds), tally
        assert tally.warming_seconds == (tally.split_seconds if compiling else 0.0), tally
        assert tally.serial_seconds > 0.1, tally  # 5M items in CPython: about 0.3 s here, compiled far less


def triple(x):
    return x * 3


def over_limit(x):
    return x * 3 > 299_990


def test_pieces_are_combined_in_order_as_partitions():
    ok = ("ok", 1, False, False)
    outcomes = [(0, 10, (tasks.PIECES, [(0, 4, ok), (4, 10, ok)], False, False)), (10, 20, ok)]
    assert tasks.pieces_apart(outcomes) == [(0, 4, ok), (4, 10, ok), (10, 20, ok)]


def test_the_process_compiling_a_long_shapes_kernel_waits_for_it(behind):
    """``compile_first`` (a shape expected to take seconds in CPython): the process that starts
    the compile waits for it instead of sharing its GIL with a CPython partition."""
    source = RangeSource(range(1000))
    kernel = kernels.kernel_or_compiling("times 5 first", reducers.Sum, source, lambda x: x * 5, None, None,
                                         wait_own=True)
    assert kernel is not kernels.COMPILING and kernel.function(*source.kernel_arguments(), 0, 1000)[2] == 5 * 499500
    assert behind == ["compiled"]


def test_a_long_compilable_shape_is_marked_to_compile_first():
    from ufora.engine import cost

    long_one = cost.Estimate(10_000_000, serial=cost.COMPILE_FIRST_FROM, split=1.0, moved=0, compilable=True)
    assert long_one.compile_first
    assert not cost.Estimate(10_000_000, serial=cost.COMPILE_FIRST_FROM / 2, split=1.0, moved=0,
                             compilable=True).compile_first
    assert not cost.Estimate(10_000_000, serial=60.0, split=1.0, moved=0, compilable=False).compile_first


def test_a_float_sum_made_again_in_order_is_one_pass_even_while_its_kernel_compiles(monkeypatch):
    """A float sum whose partials would round otherwise regrouped is made again in order, in one
    partition: that pass must not switch to the kernel midway (two pieces added would be a
    regrouping: the last bits differed from CPython's, as perf.realistic found). Here every
    partition begins while the kernel compiles and finds it ready a few looks later."""
    import numpy as np

    real = kernels.kernel_or_compiling
    looks = []

    def flickering(*args, **kwargs):
        looks.append(1)
        return real(*args, **kwargs) if len(looks) % 5 == 0 else kernels.COMPILING

    monkeypatch.setattr(kernels, "kernel_or_compiling", flickering)
    monkeypatch.setattr(tasks, "LOOK_EVERY", 0.0)
    values = np.random.default_rng(7).random(200_000) * 1e3
    with using_runner(InlineRunner(processes=2)):
        got = parallel_reduce(sum, values, scaled_float, None)
    expected = sum(scaled_float(x) for x in values)
    assert (repr(got), type(got)) == (repr(expected), type(expected))
    assert runtime.reports[-1].reason.endswith("added in order"), runtime.reports[-1]


def scaled_float(x):
    return x * 1.1 + 0.3


DEFERRED_KEY = ("the key of a deferred kernel", 1)


def test_a_deferred_compile_waits_for_an_idle_process(behind):
    """A shape that ends before a compile would defers its kernel's compile: asked for again by
    such a shape, it still waits."""
    builds = []

    def build():
        builds.append("built")
        return None

    assert kernels.deferred_for() is None
    assert kernels._compiled_once(DEFERRED_KEY, build, deferring=True) is kernels.COMPILING
    assert kernels._compiled_once(DEFERRED_KEY, build, deferring=True) is kernels.COMPILING
    assert builds == [] and kernels.deferred_for() is not None
    # unclaimed while it waits: a sibling that wants it now compiles it (and waits for no one)
    assert in_child(lambda: kernels._compiled_once(DEFERRED_KEY, lambda: None) is kernels.COMPILING
                    and kernels.join_background_compiles(30)) == 0
    # then this process, idle, finds it compiled (the sibling's answer: None, numba refused it)
    kernels.start_deferred_compiles()
    assert kernels.join_background_compiles(30)
    assert kernels._compiled_once(DEFERRED_KEY, build) is None and builds == []


def test_a_deferred_compile_takes_the_kernel_a_sibling_compiled_without_waiting_to_be_idle(behind):
    """A process kept busy block after block never became idle: it ran its shape in CPython on
    every run while its sibling, which had wanted the kernel now, used the one it wrote."""
    builds = []

    def build():
        builds.append("built")
        return None

    assert kernels._compiled_once(DEFERRED_KEY, build, deferring=True) is kernels.COMPILING
    assert in_child(lambda: kernels._compiled_once(DEFERRED_KEY, lambda: None) is kernels.COMPILING
                    and kernels.join_background_compiles(30)) == 0
    # asked again, deferring still, busy still: the sibling's answer (None: numba refused it)
    assert kernels._compiled_once(DEFERRED_KEY, build, deferring=True) is None
    assert builds == [] and kernels.deferred_for() is None  # nothing left to compile when idle


def test_a_deferred_compile_starts_when_a_shape_wants_it_now(behind, tmp_path):
    builds = Builds(tmp_path)
    assert kernels._compiled_once(DEFERRED_KEY, builds.build, deferring=True) is kernels.COMPILING
    assert kernels._compiled_once(DEFERRED_KEY, builds.build) is kernels.COMPILING  # wanted now: started
    assert kernels.deferred_for() is None
    assert kernels.join_background_compiles(30)
    assert kernels._compiled_once(DEFERRED_KEY, builds.build) is None
    [(pid, nice)] = builds.by()  # wanted after all: in a child, at this process's priority
    assert pid != os.getpid() and nice == os.getpriority(os.PRIO_PROCESS, 0)


def test_a_compile_deferred_while_work_kept_coming_starts_after_a_second_in_the_process(behind, tmp_path):
    """A process never idle (blocks one after the other, a shape in a loop) starts its deferred
    compiles after ``engine.pool.DEFERRED_AT_MOST``: its shapes want them now (at the process's
    priority: at the lowest, three workers' partitions on two cores left one no time at all; in a
    child: in a thread it shared the interpreter lock with the partitions)."""
    builds = Builds(tmp_path)
    assert kernels._compiled_once(DEFERRED_KEY, builds.build, deferring=True) is kernels.COMPILING
    kernels.start_deferred_compiles(idle=False)
    assert kernels.join_background_compiles(30)
    [(pid, nice)] = builds.by()
    assert pid != os.getpid() and nice == os.getpriority(os.PRIO_PROCESS, 0)


def test_a_compile_deferred_until_the_process_is_idle_runs_at_the_lowest_priority(behind, tmp_path):
    """It is for the shape's next run: it takes only what the cores leave idle, never a core from
    the next blocks' partitions (``palindromic_numbers`` run again 0.1 s after its first run took
    0.25 s while its kernels compiled at the process's priority, 0.07 s so)."""
    builds = Builds(tmp_path)
    assert kernels._compiled_once(DEFERRED_KEY, builds.build, deferring=True) is kernels.COMPILING
    kernels.start_deferred_compiles()  # what an idle compute process does (engine.pool)
    assert kernels.join_background_compiles(30)
    [(pid, nice)] = builds.by()
    assert pid != os.getpid() and nice == compile_apart.NICE


def test_deferred_compiles_start_when_the_process_is_idle(behind):
    source = RangeSource(range(1000))
    assert kernels.kernel_or_compiling("times 7 after", reducers.Sum, source, lambda x: x * 7, None, None,
                                       deferring=True) is kernels.COMPILING
    assert behind == []
    kernels.start_deferred_compiles()  # what an idle compute process does (engine.pool)
    assert kernels.join_background_compiles(60) and behind == ["compiled"]
    kernel = kernels.kernel_or_compiling("times 7 after", reducers.Sum, source, lambda x: x * 7, None, None)
    assert kernel.function(*source.kernel_arguments(), 0, 1000)[2] == 7 * 499500


def test_a_short_shape_compiles_after_its_partitions_unless_it_came_before(monkeypatch):
    """Before: in the block (a loop), or in an earlier block of the process (a block sent again
    at once, never leaving the process idle to start the compile it deferred)."""
    from ufora.engine import cost

    monkeypatch.setattr(runtime, "SHAPES_REMEMBERED", 2)

    def estimate(serial: float, cores: int, behind: bool = True) -> cost.Estimate:
        return cost.Estimate(1_000_000, serial=serial, split=serial / cores, moved=0, compilable=True,
                             compiles_behind=behind, cores=cores)

    # split over the cores, it ends before a compile would: the compile would only take a core
    assert estimate(cost.COMPILE_SECONDS, cores=2).compile_after
    assert not estimate(2 * cost.COMPILE_SECONDS, cores=2).compile_after
    assert not estimate(cost.COMPILE_SECONDS, cores=2, behind=False).compile_after  # compiled first, waited for
    short = estimate(0.3, cores=2)
    with using_runner(InlineRunner(processes=2)):
        assert runtime._compiles_after(short, triple, None)
        assert not runtime._compiles_after(short, triple, None)  # again in the block: a loop, compile now
        assert runtime._compiles_after(short, scaled, None)
    with using_runner(InlineRunner(processes=2)):
        assert not runtime._compiles_after(short, triple, None)  # another block, the same shape
        assert runtime._compiles_after(short, lambda x: x + 1, None)
        assert runtime._compiles_after(short, lambda x: x + 2, None)  # two newer shapes remembered
    with using_runner(InlineRunner(processes=2)):
        assert runtime._compiles_after(short, triple, None)  # forgotten

def test_a_service_compiles_a_short_shapes_kernel_after_it_and_the_next_run_uses_it(start_service):
    """On two cores a compile meanwhile would take one core from the shape's partitions: the
    first run is CPython's partitions alone, the kernel compiles once the processes are idle, and
    the next run computes with it."""
    service = start_service(one_host(2))

    def run() -> tuple:
        with pyfora.connect(service.url, progress=False) as ufora:
            with ufora.remotely.downloadAll():
                total = sum(scaled(x) for x in range(2_000_000))
                from ufora.engine import runtime
                report = runtime.reports[-1]
                shape = (report.parallel, report.partitions, report.compiled)
        assert (total, type(total)) == (sum(scaled(x) for x in range(2_000_000)), int)
        return shape

    split, partitions, compiled = run()
    assert split and compiled < partitions
    wait_for(lambda: compiles(service) == 1, "the kernel compiled once the processes were idle", timeout=90)
    split, partitions, compiled = run()
    assert split and compiled == partitions


def whole_passes_counted(monkeypatch) -> list:
    """One entry per pass over every item in order made in this process from now on."""
    passes: list = []
    real = tasks.run_partition_here
    monkeypatch.setattr(tasks, "run_partition_here", lambda *args, **kwargs: passes.append(1) or real(*args, **kwargs))
    return passes


def summed_over_two_processes(values, element):
    with using_runner(InlineRunner(processes=2, always_split=False)):
        return parallel_reduce(sum, values, element, None)


def test_a_short_sum_of_fractional_floats_is_made_in_order_at_once_while_its_kernel_compiles_after(behind,
                                                                                                    monkeypatch):
    """Its partials would not be combined (they may round otherwise regrouped): split first, it
    would be computed twice; made in order in one pass now (in CPython: the kernel compiles after
    it), and by the kernel in one pass the next time."""
    import numpy as np

    values = np.random.default_rng(4).random(300_000)
    expected = sum(v * 0.5 for v in values)
    passes = whole_passes_counted(monkeypatch)
    for run in ("first", "next"):
        passes.clear()
        got = summed_over_two_processes(values, halved)
        assert len(passes) == 1  # one pass over every item, no partitions before it
        assert (got, type(got)) == (expected, type(expected))
        report = runtime.reports[-1]
        assert not report.parallel and report.partitions == 1 and "added in order" in report.reason, report
        assert report.compiled == (run == "next"), report
        if run == "first":
            assert behind == []  # deferred: this process is busy with the block
            kernels.start_deferred_compiles()
            assert kernels.join_background_compiles(60) and behind == ["compiled"]


def test_a_long_sum_of_fractional_floats_waits_for_its_kernel_and_is_made_in_order_at_once(behind, monkeypatch):
    """Made in order in one process, it cannot switch to its kernel midway: where its CPython
    run would take longer than the compile (here: any, ``COMPILE_SECONDS`` made tiny), the
    process waits for the kernel, then runs it over every item in one pass, on the first run
    as on the next (it was split first, its partials thrown away, and then made whole in CPython:
    1M items of a small loop took 1.4 s on a first run, now 0.4 s)."""
    import numpy as np

    values = np.random.default_rng(5).random(300_000)
    expected = sum(v * 0.25 for v in values)
    passes = whole_passes_counted(monkeypatch)
    monkeypatch.setattr(cost, "COMPILE_SECONDS", 1e-6)
    for _ in ("first", "next"):
        passes.clear()
        got = summed_over_two_processes(values, quartered)
        assert len(passes) == 1  # one pass over every item, no partitions before it
        assert (got, type(got)) == (expected, type(expected))
        report = runtime.reports[-1]
        assert report.partitions == 1 and report.compiled == 1 and "added in order" in report.reason, report
    assert behind == ["compiled"]


def halved(v):
    return v * 0.5


def quartered(v):
    return v * 0.25


def test_a_short_shape_whose_cpython_partitions_would_lose_runs_in_order_at_once_and_compiles_after(
        behind, monkeypatch):
    """Its kernel compiles after it, so this run is CPython's; where CPython partitions would lose
    to the loop as written (moving its values costs more than the cores gain: measured, here
    made so), it is computed in order in one pass, and its kernel computes the next run."""
    import numpy as np

    from ufora.engine import cost

    monkeypatch.setattr(cost.Estimate, "cpython_split_wins", property(lambda self: False))
    values = np.random.default_rng(5).random(2_000_000)  # at least COMPILED_FLOOR serially: split
    expected = [v * 0.5 for v in values]
    passes = whole_passes_counted(monkeypatch)
    with using_runner(InlineRunner(processes=2, always_split=False)):
        got = parallel_collect("list", values, halved, None)
    assert got == expected and len(passes) == 1
    report = runtime.reports[-1]
    assert report.partitions == 1 and report.compiled == 0 and report.reason == runtime.AT_ONCE, report
    assert behind == []  # deferred: this process is busy with the block
    kernels.start_deferred_compiles()
    assert kernels.join_background_compiles(60) and behind == ["compiled"]
    with using_runner(InlineRunner(processes=2, always_split=False)):
        assert parallel_collect("list", values, halved, None) == expected
    assert runtime.reports[-1].compiled == runtime.reports[-1].partitions > 0, runtime.reports[-1]


def test_waiting_for_a_compile_another_process_makes_gives_compiling_not_a_marker(behind):
    """A process that waits for its own compile but finds it made elsewhere (or only now
    started) is told COMPILING: nothing else is kept as its kernel."""
    assert kernels._compiled_once(("waited for", 1), lambda: None, deferring=True) is kernels.COMPILING
    # wanted now by a waiting shape: the deferred compile starts; its result is not waited here
    found = kernels._compiled_once(("waited for", 1), lambda: None, wait_own=True)
    assert found is kernels.COMPILING or found is None, found
    assert kernels.join_background_compiles(30)


def test_a_compile_child_forked_while_another_thread_holds_the_memory_lock_does_not_wait_for_it(monkeypatch):
    """The main thread takes ``memory_limits._lending`` as every block and partition starts; a
    compile child forked at that moment has its own (``memory_limits._new_lock_in_child``)."""
    from ufora.engine import memory_limits

    monkeypatch.setattr(compile_apart, "PATIENCE", 10.0)  # a child waiting for the lock is killed then
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with memory_limits._lending:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        def take_it() -> bool:
            with memory_limits._lending:
                return True

        assert compile_apart.run(take_it) == compile_apart.KEPT
    finally:
        release.set()
        holder.join()


def costlier_later(x):
    """Next to nothing for the first items, 200 loops for the last: a shape its first items
    misjudge."""
    total = 0
    for k in range(x // 5000):
        total += k % 7
    return total


def test_a_shape_its_first_items_misjudged_starts_its_compile_while_it_runs(behind):
    """Its first items said it ends before a compile would, so its kernel was to compile only
    once the process is idle; its partitions, having run ``MISJUDGED_AFTER`` seconds in CPython
    here, start the compile as they run and look for the kernel (before, 2M tests for a prime from
    0 ran 4 s in CPython where compiled they take 0.2 s: the compile waited for the shape's end)."""
    items = range(1_000_000)
    assert cost.estimate(RangeSource(items), costlier_later, None, None, False, False, 2).compile_after
    with using_runner(InlineRunner(processes=2, always_split=False)):  # never idle: nothing starts it
        got = parallel_reduce(sum, items, costlier_later, None)
    report = runtime.reports[-1]
    assert (got, type(got)) == (sum(costlier_later(x) for x in items), int)
    assert report.parallel and report.compiling, report
    assert kernels._behind.deferred_for() is None  # started, not left for when the process is idle
    assert kernels.join_background_compiles(60) and behind.count("compiled") == 1, behind


def test_a_compile_child_is_named_apart_from_the_pools_compute_processes():
    """A CI run counted a compile child among a pool's compute processes (both were named
    ufora-compute): it is ufora-compile from its first instant, and the thread that forked it
    keeps its own name."""
    import threading

    from ufora.engine import proc

    names = {}

    def work() -> bool:
        return proc.name(os.getpid()) == compile_apart.COMPILE_NAME

    def forking() -> None:
        names["before"] = proc.name(threading.get_native_id())
        names["code"] = compile_apart.run(work, nice=0)
        names["after"] = proc.name(threading.get_native_id())

    thread = threading.Thread(target=forking, name="ufora compile test")
    thread.start()
    thread.join(60)
    assert names["code"] == compile_apart.KEPT and names["after"] == names["before"]
