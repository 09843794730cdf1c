"""A peer's compute process that stops answering (kill -STOP; a machine swapping) does not hold a
block forever: its partition is computed again by the block's worker (engine.scheduler's
backups), and the answer is CPython's. A user's trial saw the block wait 42 s, until the process
was continued."""
import contextlib
import os
import signal
import threading
import time

import pyfora
from tests.conftest import compute_processes, manager_status, once_computing, service_running, wait_for
from tests.primes import countPrimes
from tests.test_cluster import two_workers, warm_up  # noqa: F401 (a fixture)

GIVE_UP_AFTER = 120.0  # seconds: past this the stopped processes are continued, so a failing test ends


def test_a_block_whose_peer_process_is_stopped_mid_job_finishes_with_cpython_s_answer(two_workers):
    manager, workers = two_workers
    with pyfora.connect(manager.url) as ufora:
        driver_process = warm_up(ufora)
        [peer] = [w for w in workers if w is not service_running(driver_process, workers)]
        stopped = compute_processes(peer.process.pid)
        continued = threading.Event()

        def stop() -> None:
            for pid in stopped:
                peer_signal(pid, signal.SIGSTOP)

        def continue_them() -> None:
            if not continued.is_set():
                continued.set()
                for pid in stopped:
                    peer_signal(pid, signal.SIGCONT)

        safety = threading.Timer(GIVE_UP_AFTER, continue_them)
        safety.start()
        try:
            started = time.monotonic()
            with once_computing(peer.process.pid, stop, seconds=0.1,
                                processes=lambda _: stopped):
                with ufora.remotely.downloadAll():
                    result = countPrimes(6_000_000)
            took = time.monotonic() - started
            ended_stopped = not continued.is_set()
        finally:
            safety.cancel()
            continue_them()
    assert result == 412851
    assert ended_stopped, f"the block waited for the stopped process ({took:.0f} s)"

    def backed_up() -> bool:  # counters travel with the next heartbeat
        return sum(m.get("backups", 0) for m in manager_status(manager.url)["members"]) > 0
    wait_for(backed_up, "the block's worker to report a backup")


def peer_signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
