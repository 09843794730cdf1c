"""Remote objects past half the worker's memory budget spill to disk (``net.objects``,
``engine.spill_files``) and are read back, exactly, where they are used."""
import asyncio
import gc
import os

import numpy as np
import pytest

import pyfora
from tests.conftest import manager_status, our_shm_entries, wait_for
from ufora.engine import spill_files
from ufora.net.objects import sweep_spill_folder

MIB = 1 << 20


def test_buffers_are_written_at_aligned_offsets_and_mapped_back_read_only(tmp_path):
    path = str(tmp_path / "object")
    buffers = [b"pickle", b"", np.arange(1000, dtype=np.float64).data, bytearray(b"x" * 5000)]
    regions = spill_files.write(path, buffers)
    assert [size for _, size in regions] == [6, 0, 8000, 5000]
    assert all(offset % os.sysconf("SC_PAGE_SIZE") == 0 for offset, _ in regions)
    views = [spill_files.map_region(path, offset, size) for offset, size in regions]
    assert bytes(views[0]) == b"pickle" and bytes(views[1]) == b""
    assert np.array_equal(np.frombuffer(views[2], np.float64), np.arange(1000.0))
    assert bytes(views[3]) == b"x" * 5000 and views[3].readonly
    os.unlink(path)  # a block may still read what it mapped after a release removes the file
    assert np.frombuffer(views[2], np.float64)[-1] == 999.0


def test_a_spill_file_is_new_and_for_its_owner_alone(tmp_path):
    path = str(tmp_path / "object")
    spill_files.write(path, [b"a"])
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        spill_files.write(path, [b"b"])


def test_a_folder_in_memory_is_told_from_one_elsewhere():
    assert spill_files.in_memory("/dev/shm") and spill_files.in_memory("/dev/shm/")
    assert not spill_files.in_memory("/proc/self")  # procfs: neither tmpfs nor ramfs


def test_files_of_services_no_longer_alive_are_swept_and_no_others(tmp_path):
    dead = 2 ** 22 + 12345  # above the default pid_max: never a live process
    for name in (f"{dead}_{'a' * 32}", f"{os.getpid()}_{'b' * 32}", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert sweep_spill_folder(str(tmp_path)) == 1
    assert sorted(os.listdir(tmp_path)) == [f"{os.getpid()}_{'b' * 32}", "notes.txt"]


def _member(service) -> dict:
    [member] = manager_status(service.url)["members"]
    return member


def test_objects_past_half_the_budget_spill_and_are_read_back_exactly(start_service, tmp_path):
    spill = tmp_path / "spill"
    service = start_service({"UFORA_WORKER_MEMORY": "256M", "UFORA_WORKER_CORES": "2",
                             "UFORA_SPILL_DIR": str(spill)})
    ufora = pyfora.connect(service.url, progress=False)
    try:
        with ufora.remotely:
            first = np.arange(12_000_000, dtype=np.float64) % 1000  # 96 MB: under the 128 MB for objects
            label = {"name": "first", "rows": list(range(1000))}
        segments_of_first = our_shm_entries()
        with ufora.remotely:
            second = np.arange(12_000_000, dtype=np.float64) * 2.0  # 96 MB more: the first one spills
        wait_for(lambda: _member(service).get("spilled_objects") == 1, "the first array to spill")
        member = _member(service)
        assert member["object_bytes"] <= 128 * MIB < member["object_bytes"] + member["spilled_bytes"]
        assert len(os.listdir(spill)) == 1
        assert not segments_of_first & our_shm_entries()  # its memory is given back
        with ufora.remotely.downloadAll():
            from ufora.engine import runtime, shm

            made, create = [], shm.create
            shm.create = lambda nbytes: made.append(nbytes) or create(nbytes)
            try:
                total = sum(x * x for x in first)  # a shape over the spilled array
            finally:
                shm.create = create
            split = runtime.reports[-1].partitions
            head = [float(x) for x in first[:5]]
            rows = len(label["rows"]) + label["rows"][-1]
            both = float(first[-1] + second[-1])
        assert total == 12_000 * sum(k * k for k in range(1000)) and split > 1
        assert sum(made) < 1 * MIB  # its partitions read the file: no copy of it in a segment
        assert head == [0.0, 1.0, 2.0, 3.0, 4.0] and rows == 1999
        assert both == 999.0 + 2.0 * 11_999_999
        local = first.toLocal().result(timeout=60)
        assert local.dtype == np.float64 and local.flags.writeable
        assert np.array_equal(local, np.arange(12_000_000, dtype=np.float64) % 1000)
        assert label.toLocal().result(timeout=30) == {"name": "first", "rows": list(range(1000))}
        del first, label, local
        gc.collect()
        ufora._connection._flush_releases()
        wait_for(lambda: not os.listdir(spill), "the released objects' files to be removed")
    finally:
        ufora.close()
    service.stop()
    assert not os.listdir(spill)


def test_an_object_larger_than_the_share_goes_to_disk_and_the_service_removes_it(start_service):
    service = start_service({"UFORA_WORKER_MEMORY": "256M", "UFORA_WORKER_CORES": "1"})
    ufora = pyfora.connect(service.url, progress=False)
    try:
        with ufora.remotely:
            words = [f"w{i}" for i in range(100_000)]  # a pickle alone, no buffers
        with ufora.remotely:
            big = np.ones(20_000_000, dtype=np.float64)  # 160 MB, past the 128 MB share on its own
        wait_for(lambda: _member(service).get("spilled_objects") == 1, "the large object to spill")
        assert 0 < _member(service)["object_bytes"] < 2 * MIB  # the list, used before it, stays
        with ufora.remotely.downloadAll():
            count = int(big.sum())
            letters = sum(len(word) for word in words)
        assert count == 20_000_000
        assert letters == sum(len(f"w{i}") for i in range(100_000))
        assert words.toLocal().result(timeout=30) == [f"w{i}" for i in range(100_000)]
    finally:
        ufora.close()
    folders = [line.split("spilled to ")[1].rsplit("/", 1)[0] for line in service.log.splitlines()
               if "spilled to " in line]
    assert folders and folders[0].startswith(f"/var/tmp/ufora-spill-{service.process.pid}-")
    service.stop()
    assert not os.path.exists(folders[0])  # the temporary folder goes with the service


def test_a_shape_over_a_spilled_array_reads_the_file_here_and_on_a_peer(start_service):
    from tests.conftest import joining

    manager = start_service({"UFORA_NO_WORKER": "1", "UFORA_WEB_HTTP_PORT": "0", "UFORA_MANAGER_PORT": "0"})
    workers = [start_service({**joining(manager, 1), "UFORA_WORKER_MEMORY": "256M"}) for _ in range(2)]
    wait_for(lambda: manager_status(manager.url)["workers"] == 2, "both workers to join")
    ufora = pyfora.connect(manager.url, progress=False)
    try:
        with ufora.remotely:
            big = np.arange(20_000_000, dtype=np.float64)  # 160 MB: spilled at once
            big %= 1000
        wait_for(lambda: sum(m.get("spilled_objects", 0) for m in manager_status(manager.url)["members"]) == 1,
                 "the array to spill")
        before = {m["id"]: m.get("foreign_partitions", 0) for m in manager_status(manager.url)["members"]}
        with ufora.remotely.downloadAll():
            from ufora.engine import shm

            where = shm.find(big.ctypes.data, big.nbytes)[0]  # the array is the file's pages
            made, create = [], shm.create
            shm.create = lambda nbytes: made.append(nbytes) or create(nbytes)
            try:
                total = sum(x * x for x in big)  # compiled; the peer fetches windows of the file
            finally:
                shm.create = create
        assert where.startswith("/") and "ufora-spill-" in where and sum(made) < 1 * MIB
        assert total == 20_000 * sum(k * k for k in range(1000))

        def foreign_partitions_grew() -> bool:  # counters travel with the next heartbeat
            after = {m["id"]: m.get("foreign_partitions", 0) for m in manager_status(manager.url)["members"]}
            return any(after[w] > before.get(w, 0) for w in after)
        wait_for(foreign_partitions_grew, "the other worker to compute partitions of the spilled array")
    finally:
        ufora.close()
    assert not any("could not be fetched" in worker.log for worker in workers)  # read from the file, not redone


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup/memory"),
                    reason="needs root and cgroup v1's memory controller")
def test_the_issues_spill_case_a_1_gib_budget_reduces_2_gib_no_process_killed():
    """Issue 17's test of spilling: one worker with a 1 GiB budget reduces a 2 GiB value (here
    eight 256 MB arrays left by eight blocks), all in a 2 GiB memory cgroup (the service and its
    two compute processes hold 0.7 GiB of it as they start)."""
    from tests.conftest import Service, one_host
    from tests.test_worker_memory import GIB, _memory_cgroup

    pieces = 8
    with _memory_cgroup(2 * GIB) as folder:
        joining = ["sh", "-c", f'echo $$ > {os.path.join(folder, "cgroup.procs")} && exec "$@"', "sh"]
        with Service({**one_host(2), "UFORA_WORKER_MEMORY": "1G"}, prefix=joining) as service:
            ufora = pyfora.connect(service.url, progress=False)
            try:
                held = []
                for k in range(pieces):
                    with ufora.remotely:
                        piece = np.arange(32 << 20, dtype=np.float64) + k * (32 << 20)  # 256 MB
                    held.append(piece)
                wait_for(lambda: _member(service).get("spilled_objects", 0) >= pieces - 2
                         and _member(service)["object_bytes"] <= GIB // 2, "the pieces to spill")
                a, b, c, d, e, f, g, h = held
                with ufora.remotely.downloadAll():
                    total = sum(float(p.sum()) for p in (a, b, c, d, e, f, g, h))
                    largest = max(float(p[-1]) for p in (a, b, c, d, e, f, g, h))
                n = pieces * (32 << 20)
                assert total == float(np.arange(n, dtype=np.float64).reshape(pieces, -1).sum(axis=1).sum())
                assert largest == n - 1
                del a, b, c, d, e, f, g, h, held, piece
            finally:
                ufora.close()
            assert "killed by signal" not in service.log
        with open(os.path.join(folder, "memory.oom_control")) as control:
            assert "oom_kill 0" in control.read()


# The holder alone, on an event loop of the test's own: what races with a spill being written.

def _holder(folder, limit: int, available: int = 1 << 40):
    from ufora.net.blobs import BlobStore
    from ufora.net.objects import ObjectHolder, Spill

    unmapped: list = []
    return ObjectHolder(BlobStore(), unmapped.extend, Spill(str(folder), limit), available=lambda: available), unmapped


def _keep(holder, nbytes: int, fill: int) -> str:
    from ufora.engine import shm

    name = shm.write_for_service(bytes([fill]) * nbytes)
    return holder.keep(b"pickle", [(name, nbytes)])


async def _spilled(holder) -> None:
    while holder._spilling is not None:
        await asyncio.sleep(0.01)


def _on_a_loop(test):
    asyncio.run(test())


def test_an_object_released_while_its_spill_is_written_leaves_no_file(tmp_path):
    async def test():
        holder, _ = _holder(tmp_path, limit=MIB)
        key = _keep(holder, 4 * MIB, 1)  # past the limit: its spill starts
        [(segment, _)] = holder.segments[key]
        holder.release(key)
        await _spilled(holder)
        assert not holder.holds(key) and not os.listdir(tmp_path)
        assert not os.path.exists(f"/dev/shm/{segment}")
    _on_a_loop(test)


def test_an_object_a_block_starts_to_use_while_it_is_written_stays_in_memory_until_the_block_ends(tmp_path):
    async def test():
        holder, unmapped = _holder(tmp_path, limit=MIB)
        key = _keep(holder, 4 * MIB, 2)
        holder.use("job", {key})  # the block's segments must not go under it
        await _spilled(holder)
        assert key in holder.segments and not os.listdir(tmp_path) and not unmapped
        data, parts = holder.local_parts(key)
        holder.done("job")  # now it may go
        await _spilled(holder)
        assert key in holder.spilled and len(os.listdir(tmp_path)) == 1 and unmapped == [parts[0][0]]
        data, [(path, offset, size)] = holder.local_parts(key)
        assert bytes(data) == b"pickle" and bytes(spill_files.map_region(path, offset, size)) == bytes([2]) * size
        holder.stop()
        assert not os.listdir(tmp_path)
    _on_a_loop(test)


def test_a_spill_that_cannot_be_written_loses_nothing(tmp_path, caplog):
    async def test():
        holder, _ = _holder(tmp_path / "missing", limit=MIB)
        key = _keep(holder, 4 * MIB, 3)
        await _spilled(holder)
        assert key in holder.segments and key in holder.unspillable
        _, [(name, size)] = holder.local_parts(key)
        with open(f"/dev/shm/{name}", "rb") as segment:
            assert segment.read() == bytes([3]) * size
        holder.stop()
    _on_a_loop(test)
    assert "stays in memory for now" in caplog.text


def test_memory_short_on_the_host_spills_what_is_under_the_limit_and_the_largest_first(tmp_path):
    async def test():
        holder, _ = _holder(tmp_path, limit=1 << 40, available=6 * MIB)
        small, large = _keep(holder, 1 * MIB, 4), _keep(holder, 4 * MIB, 5)
        await _spilled(holder)  # 5 MB held, 6 MB available: at most 5.5 MB... held; so nothing yet
        assert not holder.spilled
        holder.available = lambda: 2 * MIB  # a block took the rest: 3.5 MB at most
        holder.relieve()
        await _spilled(holder)
        assert set(holder.spilled) == {large} and small in holder.segments  # one spill was enough
        holder.stop()
        assert not os.listdir(tmp_path)
    _on_a_loop(test)


def test_a_service_stopped_while_it_spills_leaves_no_file(tmp_path):
    async def test():
        holder, _ = _holder(tmp_path, limit=MIB)
        _keep(holder, 64 * MIB, 6)
        await asyncio.sleep(0)  # the write has begun
        holder.stop()
    _on_a_loop(test)
    assert not os.listdir(tmp_path)


def test_temporary_spill_folders_of_dead_services_are_removed(tmp_path, monkeypatch):
    from ufora.net import service

    monkeypatch.setattr(service, "SPILL_PARENT", str(tmp_path))
    dead = 2 ** 22 + 12345
    for pid in (dead, os.getpid()):
        folder = tmp_path / f"ufora-spill-{pid}-abc"
        folder.mkdir()
        (folder / f"{pid}_{'c' * 32}").write_bytes(b"x")
    (tmp_path / "ufora-spill-notes").mkdir()
    assert service._sweep_dead_service_folders(service.SPILL_PARENT, service.SPILL_PREFIX) == 1
    assert sorted(os.listdir(tmp_path)) == [f"ufora-spill-{os.getpid()}-abc", "ufora-spill-notes"]


def _mapping(path: str) -> list:
    """Pids of the processes that still map ``path`` (removed or not)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as maps:
                if path in maps.read():
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


def test_a_released_object_that_cyclic_garbage_of_a_block_held_is_unmapped_at_once(start_service, tmp_path):
    """The disk space (or shared memory) of a released object is given back when the last
    process maps it no more; a block's cycle (a DataFrame's caches, an object pointing at
    itself) held its arrays until the next full collection, which an idle process may not make."""
    spill = tmp_path / "spill"
    service = start_service({"UFORA_WORKER_MEMORY": "256M", "UFORA_WORKER_CORES": "1", "UFORA_SPILL_DIR": str(spill)})
    ufora = pyfora.connect(service.url, progress=False)
    try:
        with ufora.remotely:
            big = np.ones(20_000_000, dtype=np.float64)  # 160 MB: spilled at once
        wait_for(lambda: _member(service).get("spilled_objects") == 1, "the object to spill")
        [name] = os.listdir(spill)
        with ufora.remotely.downloadAll():
            import gc as collector

            collector.disable()  # no collection of its own may free the cycle

            class Node:
                pass
            node = Node()
            node.me, node.values = node, big
            node = None
            total = float(big.sum())
        assert total == 20_000_000.0
        assert _mapping(str(spill / name))  # the cycle holds it
        del big
        gc.collect()
        ufora._connection._flush_releases()
        wait_for(lambda: not os.listdir(spill), "the released object's file to be removed")
        wait_for(lambda: not _mapping(str(spill / name)), "no process to map it any more")
    finally:
        ufora.close()


def test_a_spill_file_that_cannot_be_removed_is_logged_and_the_release_goes_on(tmp_path, monkeypatch, caplog):
    """A spill folder turned read-only under the service: its release raised in the control
    channel's reader before, and the worker was lost."""
    import errno

    from ufora.net import objects

    async def test():
        holder, _ = _holder(tmp_path, limit=MIB)
        key = _keep(holder, 4 * MIB, 7)
        await _spilled(holder)
        assert key in holder.spilled

        def read_only(path):
            raise OSError(errno.EROFS, "Read-only file system", path)
        monkeypatch.setattr(objects.os, "unlink", read_only)
        holder.release(key)
        assert not holder.holds(key)
        monkeypatch.undo()
        holder.stop()
    _on_a_loop(test)
    assert "could not remove the spill file" in caplog.text
    for name in os.listdir(tmp_path):
        os.unlink(tmp_path / name)


def test_a_spill_given_up_removes_its_file(tmp_path):
    import threading

    abandoned = threading.Event()
    abandoned.set()
    with pytest.raises(spill_files.Abandoned):
        spill_files.write(str(tmp_path / "object"), [b"pickle", bytes(1 << 20)], abandoned)
    assert not os.listdir(tmp_path)


def test_a_range_or_an_array_at_any_offset_of_a_spill_file_reads_its_own_bytes(tmp_path):
    path = str(tmp_path / "object")
    values = np.arange(3000, dtype=np.float64)
    [(offset, _)] = spill_files.write(path, [values.data])
    assert bytes(spill_files.map_range(path, offset + 5, offset + 8005)) == values.tobytes()[5:8005]
    rows = spill_files.map_array(path, offset + 8 * 1001, (2, 500), np.dtype(np.float64))  # not page-aligned
    assert np.array_equal(rows, values[1001:2001].reshape(2, 500)) and not rows.flags.writeable
