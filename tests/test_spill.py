"""Remote objects past half the worker's memory budget spill to disk (``net.objects``,
``engine.spill_files``) and are read back, exactly, where they are used."""
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


def test_a_folder_in_memory_is_told_from_one_on_disk(tmp_path):
    assert spill_files.in_memory("/dev/shm")
    assert spill_files.in_memory("/var/tmp") == spill_files.in_memory(os.path.realpath("/var/tmp"))


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
            from ufora.engine import runtime

            total = sum(x * x for x in first)  # a shape over the spilled array
            split = runtime.reports[-1].partitions
            head = [float(x) for x in first[:5]]
            rows = len(label["rows"]) + label["rows"][-1]
            both = float(first[-1] + second[-1])
        assert total == 12_000 * sum(k * k for k in range(1000)) and split > 1
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
        wait_for(lambda: _member(service).get("spilled_objects") == 2, "both objects to spill")
        assert _member(service)["object_bytes"] == 0
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
    assert folders and folders[0].startswith("/var/tmp/ufora-spill-")
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
            total = sum(x * x for x in big)  # compiled; the peer fetches windows of the file
        assert where.startswith("/") and "ufora-spill-" in where
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
