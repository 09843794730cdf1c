"""A block's CPython estimate (``engine.local_estimate``, which the client weighs against the
cluster's time: ``pyfora.run_here``) when the items of a split shape hold shapes of their own:
a list of sums, one per parameter. The outer shape's first items are timed with their inner
sums split or compiled, many times faster than CPython would compute them; the estimate counts
the inner sums as CPython would (before, it was 0.36 of the block's CPython time, so the client
ran the block here once, at 1.5 s, where the cluster took 0.45 s)."""
import linecache
import math
import time

import pytest

from ufora.engine import cost, local_estimate, runtime, serialization
from ufora.engine.block import Block, run_block
from ufora.engine.runtime import InlineRunner
from ufora.engine.sources import RangeSource
from tests.inline_block import variables_of

SOURCE = '''import math
N = 1_000_000
def decayed(alpha):
    return sum(math.exp(-alpha * (x % 100)) for x in range(N))
with remotely:
    sums = [decayed(0.1 * k) for k in range(1, 5)]
'''


def test_a_shape_whose_items_hold_shapes_is_estimated_as_cpython_runs_them(tmp_path):
    path = tmp_path / "sweep.py"
    path.write_text(SOURCE)
    linecache.cache[str(path)] = (len(SOURCE), None, SOURCE.splitlines(True), str(path))
    namespace = {"__name__": "__main__"}
    exec(compile("".join(SOURCE.splitlines(True)[:4]), str(path), "exec"), namespace)
    started = time.perf_counter()
    expected = [namespace["decayed"](0.1 * k) for k in range(1, 5)]
    here = time.perf_counter() - started
    block = Block(SOURCE, str(path), 5, serialization.dumps({"__name__": "__main__", "math": math,
                                                             "N": 1_000_000, "decayed": namespace["decayed"]}))
    for _ in range(2):  # the first compiles; the second runs compiled: the inner sums in microseconds
        result = run_block(block, InlineRunner(processes=2, always_split=False))
        result.take_over()  # as the worker service does
        assert result.error is None
        assert variables_of(result)["sums"] == expected
        shapes = list(runtime.reports)[-5:]  # the outer list split or not, as it was measured
        assert result.cpython_seconds is not None and result.cpython_seconds >= 0.5 * here, (result.cpython_seconds,
                                                                                             here, shapes)


def test_the_shapes_inside_a_sample_count_in_its_estimate_not_in_the_blocks():
    """Unit: an element whose own shape took 1 ms split and would take 101 ms as CPython."""
    def element(x):
        local_estimate.split_shape(0.001, 0.101)
        return str(x)  # text: not compiled, so its partitions run CPython

    with local_estimate.tallied() as block:
        estimate = cost.estimate(RangeSource(range(1_000)), element, None, None, False, True, cores=2)
    assert block.split_seconds == block.serial_seconds == 0.0  # the sample's are its own
    assert estimate.cpython == pytest.approx(estimate.serial + 0.1 * 1_000, rel=0.01)
    assert estimate.split > 0.1 * 1_000 / 2  # CPython partitions compute the inner shape as written

    def unknown(x):
        local_estimate.split_shape(0.001, None)
        return x

    assert cost.estimate(RangeSource(range(1_000)), unknown, None, None, False, True, cores=2).cpython is None
