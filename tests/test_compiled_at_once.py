"""Small shapes whose kernel ran before are computed at once in the driver (issue 16: a split's
hand-out cost more than the kernel's work): exactly as split, and split again where the kernel
is not there or would run long."""
import numpy as np
import pytest

from ufora.engine import compiled_at_once, cost, kernel_cache, kernels, runtime
from ufora.engine.runtime import InlineRunner, parallel_collect, parallel_reduce, using_runner


@pytest.fixture
def compiling(tmp_path):
    """Kernels compile in this process, into a folder of the test's; nothing remembered before."""
    kernel_cache.use(str(tmp_path))
    kernels.compile_behind(False)
    remembered = dict(compiled_at_once._per_item)
    compiled_at_once._per_item.clear()
    yield
    compiled_at_once._per_item.clear()
    compiled_at_once._per_item.update(remembered)
    kernel_cache.use(None)


def over_threshold(w):
    return w > 0.9


def one(w):
    return 1


def doubled_plus(v):
    return v * 2.0 + 1.0


def split_estimate(monkeypatch, serial: float) -> None:
    """The shape's first items say it takes ``serial`` seconds as CPython and that splitting wins."""
    real = cost.estimate

    def estimated(*args, **kwargs):
        import dataclasses
        return dataclasses.replace(real(*args, **kwargs), serial=serial, cpython=serial, split=serial / 4,
                                   compiles_behind=True)
    monkeypatch.setattr(cost, "estimate", estimated)


def counted(values):
    with using_runner(InlineRunner(processes=2, always_split=False)):
        got = parallel_reduce(sum, values, one, over_threshold)
    return got, runtime.reports[-1]


def test_a_small_shape_splits_until_its_kernel_ran_then_runs_at_once_with_the_same_answer(compiling, monkeypatch):
    values = np.random.default_rng(3).random(200_000)
    expected = sum(1 for w in values if w > 0.9)
    split_estimate(monkeypatch, 0.015)
    first, report = counted(values)
    assert first == expected and type(first) is int
    assert report.partitions > 1 and report.compiled == report.partitions, report
    second, report = counted(values)
    assert second == expected and type(second) is int
    assert report.partitions == 1 and report.compiled == 1 and "computed at once here" in report.reason, report
    third, report = counted(values)  # timed now: by its kernel's own time an item
    assert third == expected and report.partitions == 1 and "takes about" in report.reason, report


def test_a_shape_whose_kernel_would_run_long_still_splits(compiling, monkeypatch):
    values = np.random.default_rng(4).random(200_000)
    split_estimate(monkeypatch, 0.015)
    counted(values)
    shape = compiled_at_once.shape_of(one, over_threshold)
    compiled_at_once._per_item[shape] = 1e-6  # 0.2 s of kernel for these items: the split wins
    got, report = counted(values)
    assert got == sum(1 for w in values if w > 0.9) and report.partitions > 1, report


def test_a_shape_whose_cpython_estimate_is_not_small_splits_until_its_kernel_is_timed(compiling, monkeypatch):
    values = np.random.default_rng(5).random(200_000)
    split_estimate(monkeypatch, 0.2)
    counted(values)
    got, report = counted(values)
    assert report.partitions > 1 and report.compiled == report.partitions, report


def test_a_collection_at_once_is_the_list_cpython_makes(compiling, monkeypatch):
    values = np.random.default_rng(6).random(50_000)
    expected = [v * 2.0 + 1.0 for v in values]
    split_estimate(monkeypatch, 0.01)
    for _ in range(3):
        with using_runner(InlineRunner(processes=2, always_split=False)):
            got = parallel_collect("list", values, doubled_plus, None)
        assert got == expected and all(type(v) is type(e) for v, e in zip(got[:5], expected[:5]))
    assert runtime.reports[-1].partitions == 1 and "at once" in runtime.reports[-1].reason


def test_a_shape_at_once_that_found_no_kernel_ran_in_cpython_and_splits_next_time(compiling, monkeypatch):
    values = np.random.default_rng(7).random(200_000)
    split_estimate(monkeypatch, 0.015)
    counted(values)
    ints = (values * 100).astype(np.int64)  # other argument types: another kernel, not compiled yet
    monkeypatch.setattr(kernels, "kernel_or_compiling", lambda *args, **kwargs: kernels.COMPILING)
    got, report = counted(ints)
    assert got == sum(1 for w in ints if w > 0.9) and report.partitions == 1 and report.compiled == 0, report
    monkeypatch.undo()
    split_estimate(monkeypatch, 0.015)
    got, report = counted(ints)
    assert report.partitions > 1, report
