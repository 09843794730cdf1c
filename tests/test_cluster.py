"""Several workers share one block's partitions (pull across workers), and survive one dying."""
import os
import re
import signal
import threading
import time

import pytest

import pyfora
from tests.conftest import (MANAGER_ONLY, client_script, joining, manager_status, one_host, service_running,
                            wait_computing, wait_idle)
from tests.primes import countPrimes


def warm_up(ufora) -> int:
    """Compile on every pool, and return the pid of the compute process that drove the block."""
    with ufora.remotely.downloadAll():
        warm = countPrimes(300_000)
        driver = os.getpid()
    assert warm == 25999
    return driver


def status(manager) -> dict:
    return manager_status(manager.url)


@pytest.fixture
def two_workers(start_service):
    manager = start_service(MANAGER_ONLY)
    workers = [start_service(joining(manager, 1)) for _ in range(2)]
    deadline = time.monotonic() + 10
    while status(manager)["workers"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return manager, workers


def test_both_workers_compute_partitions_of_one_block(two_workers):
    manager, _ = two_workers
    with pyfora.connect(manager.url) as ufora:
        with ufora.remotely.downloadAll():
            result = countPrimes(2_000_000)
    assert result == 148935
    deadline = time.monotonic() + 5  # counters travel with the next heartbeat
    while time.monotonic() < deadline:
        members = status(manager)["members"]
        done = [m.get("partitions", 0) + m.get("foreign_partitions", 0) for m in members]
        if all(done) and sum(m.get("foreign_partitions", 0) for m in members):
            break
        time.sleep(0.2)
    assert all(done), members
    assert sum(m.get("foreign_partitions", 0) for m in members) > 0, members


def test_a_worker_killed_mid_job_does_not_change_the_answer(two_workers):
    manager, workers = two_workers
    with pyfora.connect(manager.url) as ufora:
        driver_process = warm_up(ufora)
        [victim] = [w for w in workers if w is not service_running(driver_process, workers)]
        killer = threading.Timer(0.25, os.kill, (victim.process.pid, signal.SIGKILL))
        killer.start()
        with ufora.remotely.downloadAll():
            result = countPrimes(6_000_000)  # about 0.7 s on two cores
        killer.join()
    assert victim.process.wait(5) == -signal.SIGKILL
    assert result == 412851
    [driver] = [w for w in workers if w is not victim]
    handed_back = re.findall(r"is gone .*; (\d+) of its partitions handed out again", driver.log)
    assert handed_back and int(handed_back[0]) >= 1, driver.log[-2000:]


def test_a_killed_driver_s_block_runs_again_on_another_worker(two_workers):
    manager, workers = two_workers
    with pyfora.connect(manager.url) as ufora:
        driver_process = warm_up(ufora)
        driver = service_running(driver_process, workers)
        killer = threading.Timer(0.25, os.kill, (driver.process.pid, signal.SIGKILL))
        killer.start()
        with ufora.remotely.downloadAll():
            result = countPrimes(6_000_000)
        killer.join()
    assert driver.process.wait(5) == -signal.SIGKILL
    assert result == 412851
    assert "running block" in manager.log and "again (1 of 2)" in manager.log


def test_a_block_with_no_worker_left_to_run_it_again_fails_clearly(start_service):
    manager = start_service(MANAGER_ONLY)
    worker = start_service(joining(manager, 1))
    with pyfora.connect(manager.url) as ufora:
        killer = threading.Timer(0.5, os.kill, (worker.process.pid, signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        with pytest.raises(pyfora.InternalError, match="no worker was left to run it again"):
            with ufora.remotely.downloadAll():
                result = countPrimes(20_000_000)  # noqa: F841  (never assigned: it fails)
        killer.join()
    assert time.monotonic() - started < 20


def test_a_crashed_pool_process_is_replaced_and_its_partition_retried(start_service):
    from tests.conftest import descendants

    service = start_service(one_host(2))
    [zygote] = [p for p in descendants(service.process.pid)
                if open(f"/proc/{p}/stat").read().split()[3] == str(service.process.pid)]
    with pyfora.connect(service.url) as ufora:
        driver = warm_up(ufora)
        [other] = [p for p in descendants(zygote) if p != driver]
        killer = threading.Timer(0.25, os.kill, (other, signal.SIGSEGV))  # as if it crashed
        killer.start()
        with ufora.remotely.downloadAll():
            result = countPrimes(6_000_000)
        killer.join()
        assert result == 412851
        deadline = time.monotonic() + 5
        while len(descendants(zygote)) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(descendants(zygote)) == 2 and other not in descendants(zygote)
        with ufora.remotely.downloadAll():  # the replacement takes work like the others
            again = countPrimes(1_000_000)
        assert again == 78500
    assert f"compute process {other} was killed by signal 11 (SIGSEGV)" in service.log
    assert "replaced by" in service.log


def test_ctrl_c_in_the_client_cancels_the_remote_work(start_service, tmp_path):
    service = start_service(one_host(2))
    client = client_script(tmp_path / "long.py",
                           "import pyfora\nfrom tests.primes import countPrimes\n"
                           "ufora = pyfora.connect()\nprint('connected', flush=True)\n"
                           "with ufora.remotely.downloadAll():\n"
                           "    result = countPrimes(10**9)  # hours of work\n", service.url)
    assert client.stdout.readline().strip() == "connected"
    wait_computing(service.process.pid)  # the block is computing now
    client.send_signal(signal.SIGINT)
    _, stderr = client.communicate(timeout=10)
    assert "KeyboardInterrupt" in stderr
    wait_idle(service.process.pid)  # the work stopped with the client
    with pyfora.connect(service.url) as ufora:  # and the pool is whole and reusable
        with ufora.remotely.downloadAll():
            result = countPrimes(1_000_000)
    assert result == 78500
    assert "cancelled" in service.log and "was stopped by a cancel" in service.log


def test_a_peer_s_pool_process_dying_mid_partition_does_not_hang_the_block(two_workers):
    from tests.conftest import descendants

    manager, workers = two_workers
    with pyfora.connect(manager.url) as ufora:
        driver_process = warm_up(ufora)
        [other] = [w for w in workers if w is not service_running(driver_process, workers)]
        zygote = min(descendants(other.process.pid))
        [computing] = [p for p in descendants(zygote)]  # its one compute process
        killer = threading.Timer(0.25, os.kill, (computing, signal.SIGKILL))
        killer.start()
        with ufora.remotely.downloadAll():
            result = countPrimes(6_000_000)
        killer.join()
    assert result == 412851
    assert "replaced by" in other.log
    driver = service_running(driver_process, workers)
    assert "lost partition" in driver.log and "handing it out again" in driver.log


def filled(value, seconds):
    import numpy as np

    time.sleep(seconds)  # long enough for the other call to go to the other worker
    return np.full(500_000, float(value))  # 4 MB: its data in the worker's shared memory


def test_a_block_uses_remote_objects_held_by_two_workers(two_workers):
    manager, _ = two_workers
    with pyfora.connect(manager.url) as ufora:
        ones, twos = ufora.submit(filled, 1, 1.0), ufora.submit(filled, 2, 1.0)
        ones, twos = ones.result(timeout=30), twos.result(timeout=30)
        deadline = time.monotonic() + 5  # counters travel with the next heartbeat
        while time.monotonic() < deadline:
            held = sorted(m.get("objects", 0) for m in status(manager)["members"])
            if held == [1, 1]:
                break
            time.sleep(0.2)
        assert held == [1, 1]  # one on each worker
        with ufora.remotely.downloadAll():
            total = sum(a + b for a, b in zip(ones, twos))  # one of them comes from the peer
        assert total == 3.0 * 500_000


def test_both_workers_compute_partitions_of_a_shared_memory_array(two_workers):
    import numpy as np

    manager, _ = two_workers
    with pyfora.connect(manager.url) as ufora:
        with ufora.remotely:
            big = np.arange(20_000_000, dtype=np.float64) % 1000  # 160 MB in one worker's memory
        before = {m["id"]: m.get("foreign_partitions", 0) for m in status(manager)["members"]}
        with ufora.remotely.downloadAll():
            total = sum(x * x for x in big)  # compiled; the other worker reads windows of it
        assert total == 20_000 * sum(k * k for k in range(1000))
        deadline = time.monotonic() + 5  # counters travel with the next heartbeat
        while time.monotonic() < deadline:
            after = {m["id"]: m.get("foreign_partitions", 0) for m in status(manager)["members"]}
            if any(after[w] > before.get(w, 0) for w in after):
                break
            time.sleep(0.2)
        assert any(after[w] > before.get(w, 0) for w in after), (before, after)


def test_a_block_using_an_object_of_a_killed_worker_fails_clearly(two_workers):
    manager, workers = two_workers
    with pyfora.connect(manager.url, progress=False) as ufora:
        ones, twos = ufora.submit(filled, 1, 1.0), ufora.submit(filled, 2, 1.0)
        ones, twos = ones.result(timeout=30), twos.result(timeout=30)
        os.kill(workers[0].process.pid, signal.SIGKILL)  # it held one of the two
        started = time.monotonic()
        with pytest.raises(pyfora.PyforaError) as raised:
            with ufora.remotely.downloadAll():
                total = sum(a + b for a, b in zip(ones, twos))
        assert time.monotonic() - started < 30
        assert "lost" in str(raised.value) or "could not" in str(raised.value), str(raised.value)
