"""UFORA_WORKER_MEMORY: a block that needs more memory than a compute process may allocate gets
MemoryError where the allocation fails, as CPython does, instead of the kernel killing the process
(engine.memory_limits)."""
import contextlib
import glob
import os
import subprocess
import sys
import uuid
from typing import Iterator

import pytest

import pyfora
from tests.conftest import ROOT, Service, wait_for
from ufora.engine import host_memory
from ufora.net import config

GIB = 1 << 30


@pytest.mark.parametrize("raw,expected", [
    ("12G", 12 * GIB), ("800M", 800 << 20), ("1.5GiB", int(1.5 * GIB)), ("2147483648", 2 * GIB),
    ("50%", 4 * GIB), ("100%", 8 * GIB),
])
def test_the_budget_is_an_amount_or_a_share_of_the_hosts_memory(monkeypatch, raw, expected):
    monkeypatch.setattr(host_memory, "limit", lambda: 8 * GIB)
    parsed = config.parse({"UFORA_WORKER_OWN_ADDRESS": "127.0.0.1", "UFORA_WORKER_MEMORY": raw})
    assert parsed.worker_memory == expected


def test_the_default_is_80_percent_and_a_manager_alone_has_none(monkeypatch):
    monkeypatch.setattr(host_memory, "limit", lambda: 10 * GIB)
    assert config.parse({"UFORA_WORKER_OWN_ADDRESS": "127.0.0.1"}).worker_memory == 8 * GIB
    assert config.parse({"UFORA_NO_WORKER": "1"}).worker_memory is None


@pytest.mark.parametrize("raw,message", [
    ("lots", "is not an amount of memory"), ("0%", "out of range"), ("150%", "out of range"),
    ("10M", "below 256 MiB"), ("inf", "is not an amount"), ("nan", "is not an amount"), ("1e30", "out of range"),
])
def test_a_wrong_budget_is_refused_naming_the_variable(raw, message):
    with pytest.raises(config.ConfigError, match=f"UFORA_WORKER_MEMORY={raw!r}.*{message}"):
        config.parse({"UFORA_WORKER_OWN_ADDRESS": "127.0.0.1", "UFORA_WORKER_MEMORY": raw})


def _memory_cgroup_folder() -> str:
    return "/sys/fs/cgroup/memory"


@contextlib.contextmanager
def _memory_cgroup(limit: int) -> Iterator[str]:
    """A new cgroup v1 memory cgroup of ``limit`` bytes (its folder), removed afterwards: the
    processes put in it must be gone by then."""
    folder = os.path.join(_memory_cgroup_folder(), f"ufora-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(folder)
    try:
        with open(os.path.join(folder, "memory.limit_in_bytes"), "w") as limit_file:
            limit_file.write(str(limit))
        yield folder
    finally:
        wait_for(lambda: not _members(folder), "the cgroup's processes to end", timeout=20)  # children end last
        os.rmdir(folder)


def _members(folder: str) -> str:
    with open(os.path.join(folder, "cgroup.procs")) as procs:
        return procs.read().strip()


def _too_much_then_more(ufora) -> None:
    """A block past the memory there is raises MemoryError (its list is read on the cluster, so
    it is built there, whether its kernel is compiled by now or not), and the next block runs."""
    with pytest.raises(MemoryError) as raised:
        with ufora.remotely.downloadAll().onCluster():
            values = [float(i) * 1.5 for i in range(60_000_000)]  # about 2.4 GB
            total = sum(values)
    assert str(raised.value) == "" and isinstance(raised.value, pyfora.ComputationError)
    assert any("UFORA_WORKER_MEMORY" in note for note in raised.value.__notes__)
    with ufora.remotely.downloadAll().onCluster():
        total = sum(i for i in range(1_000))
    assert total == 499_500


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir(_memory_cgroup_folder()),
                    reason="needs root and cgroup v1's memory controller")
def test_the_memory_available_is_its_cgroups_limit_less_its_use_where_one_is_set():
    """A container's (or a memory-limited service's) limit is the memory there is: 80% of the
    host's would let the kernel kill the process before any MemoryError."""
    with _memory_cgroup(GIB) as folder:
        cached = os.path.join(ROOT, f".cached-{uuid.uuid4().hex[:8]}")  # on disk: its pages are file cache
        script = (f"import os; open({os.path.join(folder, 'cgroup.procs')!r}, 'w').write(str(os.getpid())); "
                  "from ufora.engine import host_memory; print(host_memory.available()); "
                  f"open({cached!r}, 'wb').write(bytes(400 << 20)); open({cached!r}, 'rb').read(); "
                  "print(host_memory.available())")
        try:
            shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "PYTHONPATH": ROOT}, check=True).stdout.split()
        finally:
            if os.path.exists(cached):
                os.unlink(cached)
    before, after = map(int, shown)
    assert GIB - (200 << 20) < before < GIB  # the limit, less what the process itself took
    assert after > before - (100 << 20)  # a file read is cached, which the kernel takes back


def test_a_block_past_the_budget_gets_memory_error_and_the_worker_carries_on(start_service):
    service = start_service({"UFORA_WORKER_MEMORY": "900M", "UFORA_WORKER_CORES": "2"})
    ufora = pyfora.connect(service.url)
    try:
        with ufora.remotely.downloadAll().onCluster():
            try:
                values = [float(i) * 1.5 for i in range(60_000_000)]  # about 2.4 GB
                caught = None
            except MemoryError as exc:
                caught = type(exc).__name__
            values = None
        assert caught == "MemoryError"
        _too_much_then_more(ufora)
    finally:
        ufora.close()
    assert "killed by signal" not in service.log  # MemoryError in the block, not the kernel's killer


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir(_memory_cgroup_folder()),
                    reason="needs root and cgroup v1's memory controller")
def test_a_worker_in_a_small_cgroup_gives_memory_error_not_an_oom_kill():
    """The issue's setting: a worker in a memory cgroup of 1.5 GiB, with the default budget. Before,
    the kernel killed the block's process at 0.9-1.1 GiB resident, twice, and the block failed as an
    InternalError; a budget alone (80% per process, the others' memory beside it) did the same."""
    with _memory_cgroup(3 * GIB // 2) as folder:
        joining = ["sh", "-c", f'echo $$ > {os.path.join(folder, "cgroup.procs")} && exec "$@"', "sh"]
        with Service({"UFORA_WORKER_CORES": "2"}, prefix=joining) as service:
            ufora = pyfora.connect(service.url)
            try:
                _too_much_then_more(ufora)
                with pytest.raises(MemoryError):  # its partitions' outputs alone would be 1.6 GB: in order, here
                    with ufora.remotely.downloadAll().onCluster():
                        values = [i * 1.5 for i in range(200_000_000)]
            finally:
                ufora.close()
            assert "killed by signal" not in service.log
            assert not glob.glob(f"/dev/shm/ufora_{service.process.pid}_*")
        with open(os.path.join(folder, "memory.oom_control")) as control:
            assert "oom_kill 0" in control.read()


def test_a_shared_memory_segment_larger_than_the_memory_available_is_refused_before_it_is_made():
    from ufora.engine import shm
    room = host_memory.shared_available()
    with pytest.raises(shm.NoRoom):
        shm.create(room + GIB)
    with pytest.raises(MemoryError) as raised:  # a value's: CPython's MemoryError, with a note
        shm.create_for_service(room + GIB)
    assert type(raised.value) is MemoryError and "GiB of shared memory were needed" in raised.value.__notes__[0]
    segment = shm.create(2 << 20)  # a small one is made as ever
    shm.release(segment, unlink=True)


def test_a_shape_whose_outputs_would_not_fit_runs_in_order_as_cpython_does(monkeypatch):
    """A review found a filter keeping 6 of 600M items refused with MemoryError: its outputs are
    sized for every item (4.8 GB), where CPython keeps 6."""
    from tests.test_shapes import engine
    monkeypatch.setattr(host_memory, "shared_available", lambda: 4 << 20)
    (outcome, kept), reports = engine("result = [i for i in range(2_000_000) if i % 500_000 == 0]")
    assert (outcome, kept) == ("ok", [0, 500_000, 1_000_000, 1_500_000])
    assert any("more than the memory available" in (report.reason or "") for report in reports)


def test_memory_error_comes_as_itself():
    """MemoryError's own __new__ refuses a class made of it and ComputationError: it came as a plain
    ComputationError, which ``except MemoryError`` did not catch."""
    from pyfora.Exceptions import computation_error
    error = computation_error(MemoryError(), "trace")
    assert isinstance(error, MemoryError) and isinstance(error, pyfora.ComputationError) and str(error) == ""


def test_a_process_a_block_left_holding_its_budget_is_replaced(start_service):
    """A user's trial: after a block left memory held in its process (a failed allocation's leak,
    threads still running), every later block sent to that process failed with MemoryError."""
    service = start_service({"UFORA_WORKER_MEMORY": "900M", "UFORA_WORKER_CORES": "1"})
    ufora = pyfora.connect(service.url)
    try:
        with ufora.remotely.downloadAll().onCluster():
            import json
            json.kept_by_a_block = bytearray(800_000_000)  # a module of the process's, kept after the block
        with ufora.remotely.downloadAll().onCluster():
            import json
            left = hasattr(json, "kept_by_a_block")
            fresh = len(bytearray(700_000_000))
        assert (left, fresh) == (False, 700_000_000)
    finally:
        ufora.close()
    assert "retired, and replaced" in service.log
