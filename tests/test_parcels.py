"""Large partition outcomes through shared memory (``engine.parcels``): the value the driver
reads is the one the element made (values, dtypes, writable or not), each segment is unlinked by
whoever holds it last (the service dropping an outcome, the driver's arrays dying), and a block
whose elements make large arrays, frames or tables gives CPython's value end to end."""
import os
import pickle

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
