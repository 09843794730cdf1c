"""engine.cow_pages and shm.same_as_arrived: an array read in a copy-on-write mapping of the
segment it arrived in is told unchanged by the pages the process wrote, not by a digest of it."""
import gc

import numpy as np
import pytest

from ufora.engine import array_digests, cow_pages, serialization, shm


@pytest.fixture
def arrived():
    """A segment holding 3 MB of float64 (as a block's free variables arrive in one), mapped
    copy-on-write; unlinked after."""
    values = np.arange(3 * 131072, dtype=np.float64)
    segment = shm.create(values.nbytes)
    np.ndarray(values.shape, values.dtype, buffer=segment.buf)[:] = values
    held = [values, np.frombuffer(shm.map_private(segment.name, values.nbytes), np.float64)]
    try:
        yield held
    finally:
        held.clear()
        gc.collect()
        shm.release(segment, unlink=True)


def test_this_kernels_pagemap_tells_written_pages():
    assert cow_pages.works()


def test_an_array_as_it_arrived_or_written_back_the_same_is_told_so(arrived):
    values, mapped = arrived
    assert shm.same_as_arrived(mapped) and shm.same_as_arrived(mapped[1000:5000])
    assert cow_pages.written_runs(mapped.ctypes.data, mapped.nbytes) == []
    mapped[70_000] = mapped[70_000]  # a page copied, its bytes the same
    assert cow_pages.written_runs(mapped.ctypes.data, mapped.nbytes) != []
    assert shm.same_as_arrived(mapped)
    mapped[70_000] = -1.0
    assert not shm.same_as_arrived(mapped) and shm.same_as_arrived(mapped[:1000])
    assert np.array_equal(values[:70_000], mapped[:70_000])  # the segment itself is unchanged
    mapped[70_000] = 70_000.0
    assert shm.same_as_arrived(mapped)


def test_a_changed_array_is_told_changed_by_the_comparison_pickles(arrived):
    """Before and after a block: the same pickle while unchanged, another once changed (by its
    digest), the same again once its bytes are back."""
    _, mapped = arrived
    table = mapped.reshape(-1, 4, order="F")  # Fortran order, in the mapping too
    before = serialization.dumps_compared({"t": table, "m": mapped})
    assert serialization.dumps_compared({"t": table, "m": mapped}) == before
    assert array_digests.ARRIVED.encode() in before
    table[5, 2] += 1.0
    after = serialization.dumps_compared({"t": table, "m": mapped})
    assert after != before
    table[5, 2] -= 1.0
    assert serialization.dumps_compared({"t": table, "m": mapped}) == before


def test_arrays_elsewhere_are_not_taken_for_arrived():
    assert not shm.same_as_arrived(np.arange(1_000_000.0))
    assert not shm.same_as_arrived(np.arange(1_000_000.0)[::2])
