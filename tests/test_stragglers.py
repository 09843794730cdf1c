"""A peer's compute process that stops answering (kill -STOP; a machine swapping) does not hold a
block forever: its partition is computed again by the block's worker (engine.scheduler's
backups), and the answer is CPython's. A user's trial saw the block wait 42 s, until the process
was continued."""
import contextlib
import os
import signal
import threading
import time

import numpy as np

import pyfora
from tests.conftest import compute_processes, manager_status, once_computing, service_running, wait_for
from tests.primes import countPrimes
from tests.test_cluster import two_workers, warm_up, wobble  # noqa: F401 (a fixture)

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


def test_a_sum_s_partitions_may_be_computed_twice_a_collection_s_never():
    """A collection's partition computed on the block's worker writes into the driver's shared
    output (another worker's comes back in its outcome): a late twin would write it again."""
    from ufora.engine import runtime

    told = []

    class Recording(runtime.InlineRunner):
        def run_partitions(self, task, length, shareable=False, windows=(), duplicable=False):
            told.append((shareable, duplicable))
            return super().run_partitions(task, length, shareable, windows, duplicable)

    values = np.arange(400_000, dtype=np.int64)
    # weighed, as on a worker: a collection worth another worker's core is shareable
    with runtime.using_runner(Recording(processes=4, always_split=False)):
        total = runtime.parallel_reduce(sum, values, wobble, None)
        collected = runtime.parallel_collect("list", values, wobble, None)
    assert total == sum(wobble(x) for x in values[:1000]) + sum(wobble(x) for x in values[1000:])
    assert collected[:3] == [wobble(x) for x in values[:3]]
    assert told[0] == (True, True)
    assert told[1] == (True, False), told  # shareable: its values come back from peers; not duplicable
