"""A large array a shape's functions read travels by a shared segment's name, not inside the task
(engine.task_arrays): the task stays small, stays on its worker, is not compiled, and its
answer is CPython's; the segment made for it is gone once the shape is done."""
import os

import numpy as np
import pytest

from ufora.engine import runtime, task_arrays, tasks
from ufora.engine.runtime import InlineRunner


class Recording(InlineRunner):
    """Keeps what each task looked like when its partitions were handed out."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def run_partitions(self, task, length, shareable=False, windows=(), duplicable=False):
        self.seen.append((len(task), shareable, tasks.by_name_bytes(task), _own_segments()))
        self.sizes = {name: os.stat(f"/dev/shm/{name}").st_size for name in self.seen[-1][3]}
        return super().run_partitions(task, length, shareable, windows, duplicable)


def _own_segments() -> set:
    return {name for name in os.listdir("/dev/shm") if name.startswith(f"ufora_{os.getpid()}_")}


@pytest.fixture(scope="module")
def matrix():
    rows = task_arrays.BY_NAME_BYTES // (8 * 10) + 1000  # just over the threshold, 10 columns
    return np.random.default_rng(3).random((rows, 10))


def chunk_grams(matrix, chunk):
    return [matrix[lo:lo + chunk].T @ matrix[lo:lo + chunk] for lo in range(0, len(matrix), chunk)]


def test_a_large_array_the_element_reads_travels_by_name_and_its_answer_is_cpythons(matrix):
    chunk = 50_000
    runner = Recording()
    before = _own_segments()
    with runtime.using_runner(runner):
        got = runtime.parallel_collect("list", range(0, len(matrix), chunk),
                                       lambda lo: matrix[lo:lo + chunk].T @ matrix[lo:lo + chunk], None)
        report = runtime.reports[-1]
    expected = chunk_grams(matrix, chunk)
    assert len(got) == len(expected) and all(np.array_equal(g, e) for g, e in zip(got, expected))
    [(task_bytes, shareable, by_name, during)] = runner.seen
    assert task_bytes < 64 * 1024 and by_name == matrix.nbytes
    assert not shareable  # another host could not map the segment
    copies = [name for name in during - before if runner.sizes[name] == matrix.nbytes]
    assert len(copies) == 1  # the copy made for the task (the other: the list's output)...
    assert _own_segments() == before  # ...is gone with it
    assert report.parallel and report.compiled == 0 and "MiB of arrays" in report.reason


def test_a_transposed_array_travels_by_name_as_the_same_array(matrix):
    flipped = matrix.T  # Fortran-ordered
    runner = Recording()
    with runtime.using_runner(runner):
        got = runtime.parallel_reduce(sum, range(10), lambda i: float(flipped[i].sum()), None)
    assert got == sum(float(flipped[i].sum()) for i in range(10))
    assert runner.seen[0][2] == flipped.nbytes


def test_arrays_below_the_threshold_and_of_objects_are_pickled_as_they_were():
    small = np.arange(1000.0)
    objects = np.array([object()] * (task_arrays.BY_NAME_BYTES // 8 + 1), dtype=object)
    arrays = task_arrays.ByName(copying=False)
    assert arrays.reduce(small) is NotImplemented and arrays.reduce(objects) is NotImplemented
    assert arrays.bytes == 0


def test_the_cost_model_counts_a_copy_not_a_move_per_process(matrix):
    """Splitting is weighed with the copy into shared memory, not with the array pickled to
    every process (an 800 MB matrix was measured as 880 MB moved, and the shape ran serially)."""
    from ufora.engine import cost
    seconds, size = cost._functions_cost((lambda lo: matrix[lo:lo + 10].sum(), None), budget=10.0)
    assert size < 64 * 1024
    assert seconds >= matrix.nbytes / cost.COPY_BYTES_PER_SECOND


def test_a_remote_objects_array_travels_by_the_name_of_its_own_segment(matrix):
    """A block's remote array lies in a segment mapped read-only (engine.shm.map_readonly): the
    task names that segment and where in it the array begins; nothing is copied."""
    from ufora.engine import shm
    segment = shm.create(matrix.nbytes + 4096)
    try:
        np.ndarray(matrix.shape, matrix.dtype, buffer=segment.buf, offset=4096)[...] = matrix
        remote = np.ndarray(matrix.shape, matrix.dtype, buffer=shm.map_readonly(segment.name, segment.size),
                            offset=4096)
        arrays = task_arrays.ByName()
        function, arguments = arrays.reduce(remote)
        assert arguments[:2] == (segment.name, 4096) and arrays.copied == 0
        again = function(*arguments)
        assert np.array_equal(again, matrix) and not again.flags.writeable
        del remote, again
    finally:
        shm.release(segment, unlink=True)
