"""Large partition outcomes through shared memory (``engine.parcels``): the value the driver
reads is the one the element made (values, dtypes, writable or not), each segment is unlinked by
whoever holds it last (the service dropping an outcome, the driver's arrays dying), and a block
whose elements make large arrays, frames or tables gives CPython's value end to end."""
import os
import pickle
import sys

import numpy as np
import pandas as pd
import pyarrow
import pytest

from pyfora import datasets
from ufora.engine import parcels, serialization, shm


def packed(value):
    return parcels.pack(lambda callback: serialization.dumps_referring(value, None, callback))


def through_the_service(parcel):
    """The parcel as the driver gets it: pickled by the compute process, read by the service
    (its copy owns the segments), pickled by it to the driver, read there."""
    held_by_service = pickle.loads(serialization.dumps(parcel))
    return pickle.loads(serialization.dumps(held_by_service))


def unpacked(parcel):
    return parcels.unpack(parcel, lambda data, buffers: serialization.loads(data, buffers=buffers))


def segment_files(parcel):
    return [name for name, _, _ in parcel.segments if os.path.exists(f"/dev/shm/{name}")]


def test_arrays_of_every_size_arrive_equal_and_writable():
    value = [np.arange(10, dtype=np.int32),                    # in the pickle
             np.linspace(0, 1, 20_000),                        # with the others in one segment
             np.full(300_000, 7, dtype=np.int64),              # a segment of its own
             np.arange(1_000_000, dtype=np.float32)[::2],      # not contiguous: in the pickle
             np.frombuffer(bytes(200_000), dtype=np.uint8)]    # read-only, as the element made it
    parcel = packed(value)
    assert isinstance(parcel, parcels.Parcel)
    assert sorted(alone for _, _, alone in parcel.segments) == [False, True]
    got = unpacked(through_the_service(parcel))
    for ours, theirs in zip(got, value):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
        assert ours.flags.writeable == theirs.flags.writeable
    got[2][0] = -1  # the element's own array: changing it is allowed, as in CPython
    assert got[2][0] == -1


def test_a_large_buffer_can_be_left_on_the_cluster_as_it_is():
    got = unpacked(through_the_service(packed([np.ones(200_000)])))
    name = shm.take(memoryview(got[0]).cast("B"))  # what a block leaving it as a remote object does
    assert name is not None and os.path.exists(f"/dev/shm/{name}")
    shm.unlink(name)


def test_the_driver_unlinks_the_shared_segment_at_once_and_its_own_with_the_arrays():
    parcel = through_the_service(packed([np.ones(20_000), np.ones(200_000)]))
    got = unpacked(parcel)
    assert segment_files(parcel) == []  # renamed or unlinked: nothing under the writer's names
    own = [name for name in os.listdir("/dev/shm") if name.startswith(f"{shm.PREFIX}{shm.service_pid}_")
           and os.stat(f"/dev/shm/{name}").st_size == 1_600_000]
    assert len(own) == 1
    del got
    assert not os.path.exists(f"/dev/shm/{own[0]}")


def test_an_outcome_the_service_drops_gives_its_memory_back():
    sent = packed([np.ones(20_000), np.ones(200_000)])
    held_by_service = pickle.loads(serialization.dumps(sent))
    assert len(segment_files(held_by_service)) == 2
    del held_by_service  # a backup's twin came first, its task was cancelled, its driver died
    assert segment_files(sent) == []


def test_without_room_in_shared_memory_the_outcome_goes_in_the_pickle(monkeypatch):
    def no_room(nbytes):
        raise shm.NoRoom("full")

    monkeypatch.setattr(shm, "ensure_room", no_room)
    value = [np.ones(300_000)]
    data = packed(value)
    assert isinstance(data, bytes) and np.array_equal(pickle.loads(data)[0], value[0])


def test_small_outcomes_stay_bytes():
    assert isinstance(packed([1.5, "x", np.ones(100)]), bytes)


def test_tables_and_frames_arrive_exactly():
    table = pyarrow.table({"a": np.arange(100_000), "s": [f"v{i}" for i in range(100_000)]})
    frame = pd.DataFrame({"x": np.random.default_rng(1).random(100_000), "k": np.arange(100_000) % 7})
    got_table, got_frame = unpacked(through_the_service(packed([table, frame])))
    assert got_table.equals(table) and got_table.schema == table.schema
    pd.testing.assert_frame_equal(got_frame, frame, check_exact=True)


def make_array(i):
    return np.full(150_000, i * 0.5) + np.arange(150_000)


def make_frame(i):
    return pd.DataFrame({"a": np.arange(100_000) + i, "b": np.full(100_000, 0.25 * i), "c": [f"r{i}"] * 100_000})


def failing_at(i):
    if i == 23:
        raise ValueError(f"bad item {i}")
    return np.full(100_000, float(i))


def test_blocks_of_large_elements_give_cpythons_values(ufora):
    arrays = [make_array(i) for i in range(40)]
    frames = [make_frame(i) for i in range(12)]
    with ufora.remotely.onCluster().downloadAll():
        got_arrays = [make_array(i) for i in range(40)]
        got_frames = [make_frame(i) for i in range(12)]
    assert all(a.dtype == b.dtype and np.array_equal(a, b) and a.flags.writeable for a, b in zip(got_arrays, arrays))
    for ours, theirs in zip(got_frames, frames):
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)


def test_large_elements_kept_on_the_cluster_serve_a_later_block(ufora):
    with ufora.remotely.onCluster():
        kept = [make_array(i) for i in range(40)]
    with ufora.remotely.onCluster().downloadAll():
        total = sum(float(a.sum()) for a in kept)
        third = [a[3] for a in kept]
    assert total == sum(float(make_array(i).sum()) for i in range(40))
    assert third == [make_array(i)[3] for i in range(40)]


def test_an_element_error_among_large_outcomes_is_cpythons_and_leaves_no_segment(ufora):
    with pytest.raises(ValueError, match="bad item 23"):
        [failing_at(i) for i in range(60)]
    with pytest.raises(ValueError, match="bad item 23"):
        with ufora.remotely.onCluster().downloadAll():
            [failing_at(i) for i in range(60)]
    with ufora.remotely.onCluster().downloadAll():  # the executor goes on
        n = len([failing_at(i) for i in range(20)])
    assert n == 20


def test_an_import_gives_pyarrows_frame_through_parcels(ufora, tmp_path, monkeypatch):
    path = tmp_path / "data.csv"
    rows = 300_000
    rng = np.random.default_rng(5)
    pd.DataFrame({"id": np.arange(rows), "x": rng.random(rows), "name": rng.choice(["a", "bb"], rows)}
                 ).to_csv(path, index=False)
    expected = pyarrow.csv.read_csv(str(path)).to_pandas()
    assert os.path.getsize(path) > datasets.PIECE_BYTES  # cut into pieces on the cluster
    got = ufora.importDataset(str(path)).result().toLocal().result()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


# ---------------------------------------------------------------- what a review found

def slow_array(i):
    order = np.sort((np.arange(400_000) * 7919 % 1_000_003).astype(float))
    return np.full(200_000, float(i)) + (order[0] - order[0])  # 1.6 MB: a segment of its own


def test_a_killed_compute_process_loses_none_of_the_outcomes_the_service_holds(start_service, tmp_path):
    """Its segments were swept with it while the service still held the outcomes of its finished
    partitions (named with its pid): the block failed with FileNotFoundError. The service adopts
    them as it reads them."""
    import signal

    import pyfora
    from tests.conftest import compute_processes, once_computing, one_host, wait_for

    service = start_service({**one_host(2), "UFORA_SPLIT": "always"})
    driver_file = tmp_path / "driver"

    def kill_the_other():
        wait_for(driver_file.exists, "the block to start")
        driver = int(driver_file.read_text())
        [other] = [pid for pid in compute_processes(service.process.pid) if pid != driver]
        os.kill(other, signal.SIGKILL)
        return other

    with pyfora.connect(service.url, progress=False) as executor:
        with once_computing(service.process.pid, kill_the_other, seconds=1.5):
            with executor.remotely.downloadAll():
                driver_file.write_text(str(os.getpid()))
                arrays = [slow_array(i) for i in range(300)]
    assert len(arrays) == 300 and all(np.array_equal(a, np.full(200_000, float(i))) for i, a in enumerate(arrays))


def test_outcomes_in_shared_memory_count_against_the_workers_memory_budget(start_service):
    """Mapped, they were beyond ``RLIMIT_DATA``: a block holding 1.2 GB under a 700 MB budget
    succeeded, where it raised ``MemoryError`` when outcomes arrived pickled."""
    import pyfora
    from tests.conftest import one_host

    service = start_service({**one_host(2), "UFORA_SPLIT": "always", "UFORA_WORKER_MEMORY": "700MB"})
    with pyfora.connect(service.url, progress=False) as executor:
        with pytest.raises(MemoryError):
            with executor.remotely.downloadAll():
                parts = [make_array(i) for i in range(1000)]  # 1.2 MB each
        with executor.remotely.downloadAll():  # the process goes on
            n = len([make_array(i) for i in range(50)])
    assert n == 50


def test_a_child_the_block_forks_leaves_the_parents_outcomes_alone(ufora):
    """Exiting, the child ran the end of the block and took the parent's segments for itself."""
    with ufora.remotely.onCluster():
        arrays = [make_array(i) for i in range(20)]
        child = os.fork()
        if child == 0:
            sys.exit(0)
        os.waitpid(child, 0)
    with ufora.remotely.onCluster().downloadAll():
        total = float(sum(a.sum() for a in arrays))
    assert total == sum(float(make_array(i).sum()) for i in range(20))


def test_small_buffers_share_segments_of_a_few_mib_only():
    """One array kept alive keeps its segment: 2 of 500 arrays of 800 KB held 400 MB."""
    parcel = packed([np.ones(100_000) for _ in range(20)])  # 800 KB each: 5 to a segment of 4 MiB
    parcels._unlink_all(parcel.segments)  # (never received: its writer's, swept with it)
    sizes = [nbytes for _, nbytes, _ in parcel.segments]
    assert len(sizes) == 4 and max(sizes) <= parcels.GROUP
