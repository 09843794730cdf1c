"""Services that never hang: the reproductions of issue 13, end to end against real services."""
import contextlib
import io
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

import pyfora
from ufora.engine import proc, shm
from tests.conftest import (MANAGER_ONLY, client_script, compute_processes, descendants, joining, manager_status,
                            one_host, wait_for, zygotes)
from tests.primes import countPrimes


@pytest.fixture
def ufora(start_service):
    service = start_service(one_host(2))
    with pyfora.connect(service.url) as executor:
        yield executor


# Each is a comprehension whose list and result are each about a megabyte pickled or more: the
# worker's event loop used to block writing a task down a pipe while the compute processes
# blocked writing their results up theirs. Each runs locally (ufora=None) and in a block.
def strings(ufora):
    lines = [("line %05d " % i) * 10 for i in range(30_000)]
    with _block(ufora):
        upper = [s.upper() for s in lines]
    return upper


def dicts(ufora):
    rows = [{"id": i, "name": "n%d" % i, "score": i * 0.5} for i in range(80_000)]
    with _block(ufora):
        scores = [row["score"] * 2 for row in rows]
        names = [row["name"].title() for row in rows]
    return scores, names


def sorted_floats(ufora):
    generator = random.Random(7)
    values = sorted(generator.random() for _ in range(1_000_000))
    with _block(ufora):
        scaled = [v * 3.0 + 1.0 for v in values]
    return scaled


def _block(ufora):
    return ufora.remotely.downloadAll() if ufora is not None else contextlib.nullcontext()


@pytest.mark.parametrize("program", [strings, dicts, sorted_floats], ids=lambda p: p.__name__)
def test_a_comprehension_over_megabytes_of_objects_does_not_hang(ufora, program):
    expected = program(None)
    assert program(ufora) == expected
    with ufora.remotely.downloadAll():  # and the service still answers
        after = sum(range(10))
    assert after == 45


# ---- capacity: crashed compute processes ------------------------------------------------------

def crash(how):
    """A block whose process dies ``how``: exit code 3, or SIGKILL."""
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_crash_loop_backs_off_and_never_uses_the_pool_up(start_service):
    """One compute process (the old cap was 4 replacements a core); three blocks whose process
    dies, each run again once (6 crashes): each fails saying how its process died, and the pool
    is whole after."""
    service = start_service(one_host(1))
    with pyfora.connect(service.url) as ufora:
        for how, said in [("exit", "exited with code 3"), ("kill", "was killed by signal 9 (SIGKILL)"),
                          ("exit", "exited with code 3")]:
            with pytest.raises(pyfora.InternalError) as raised:
                with ufora.remotely.downloadAll():
                    crash(how)
            message = str(raised.value)
            assert said in message and "run again once, and its process died again" in message, message
        with ufora.remotely.downloadAll():
            after = sum(x * x for x in range(1000))
    assert after == 332_833_500
    assert service.log.count("running it again once") == 3
    assert "replaced by" in service.log and "too many" not in service.log


def absolute_values_in_a_pool(values):
    with multiprocessing.get_context("fork").Pool(2) as processes:
        return processes.map(abs, values)


def test_a_block_that_forks_leaves_the_service_s_pipes_alone(start_service):
    service = start_service(one_host(2))
    with pyfora.connect(service.url) as ufora:
        with ufora.remotely.downloadAll():
            child = os.fork()
            if child == 0:  # a child that writes and then runs on to the end of the block
                print("from the child " * 5000)
            else:
                os.waitpid(child, 0)
            squares = absolute_values_in_a_pool(range(-50, 50))
            total = sum(x * x for x in range(100_000))
        with ufora.remotely.downloadAll():
            again = sum(x for x in range(1000))
    assert child > 0, "the answer came from the block's forked child"
    assert squares == [abs(x) for x in range(-50, 50)]
    assert total == sum(x * x for x in range(100_000)) and again == 499_500


# ---- abandoned blocks ---------------------------------------------------------------------------

def test_a_block_whose_manager_is_gone_stops_computing(start_service):
    manager = start_service(MANAGER_ONLY)
    worker = start_service(joining(manager, 2))
    wait_for(lambda: _status(manager)["workers"] == 1, "the worker to join")
    computing = set(compute_processes(worker.process.pid))
    ufora = pyfora.connect(manager.url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # where the block's output is written here
        submitted = threading.Thread(target=_long_block, args=(ufora,), daemon=True)
        submitted.start()
        wait_for(lambda: "started" in printed.getvalue(), "the block to start on the worker")
    manager.process.kill()
    # the block's compute processes are killed by the cancel and replaced: none of them is left
    wait_for(lambda: not computing & set(descendants(worker.process.pid)),
              "the abandoned block's processes to stop", timeout=10)
    assert worker.process.poll() is None
    assert "abandoned: the channel of the manager that sent it closed" in worker.log
    submitted.join(60)
    ufora.close()


def test_a_killed_zygote_is_replaced_by_its_standby_and_the_worker_keeps_its_cores(start_service):
    """A worker whose zygote was killed could not replace a compute process that died after: it
    stayed registered with no process, failing every block, until restarted."""
    service = start_service(one_host(2))
    settled = lambda: len(zygotes(service.process.pid)) == len(compute_processes(service.process.pid)) == 2  # noqa: E731
    wait_for(settled, "two zygotes and two compute processes")  # a process just forked takes its name after
    zygote, first_standby = zygotes(service.process.pid)
    os.kill(first_standby, signal.SIGKILL)  # noticed at the worker's next progress tick, and replaced
    wait_for(lambda: settled() and first_standby not in zygotes(service.process.pid), "a new standby")
    zygote, standby = zygotes(service.process.pid)
    computing = compute_processes(service.process.pid)
    os.kill(zygote, signal.SIGKILL)
    for pid in computing:  # reparented to init now: replacing them needs a zygote
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: settled() and zygote not in zygotes(service.process.pid), "the compute processes to be replaced")
    assert standby in zygotes(service.process.pid)  # with a new standby beside it
    assert f"the compute pool's zygote {zygote} is gone: its standby {standby} forks from now on" in service.log
    with pyfora.connect(service.url, progress=False) as ufora:
        with ufora.remotely.downloadAll().onCluster():
            total = sum(x * x for x in range(3_000_000))
    assert total == sum(x * x for x in range(3_000_000))
    assert not set(computing) & set(compute_processes(service.process.pid))


def test_a_worker_whose_zygotes_were_killed_fails_its_blocks_clearly_instead_of_waiting_forever(start_service):
    """Its compute process could not be replaced (the fork's pipe was broken): it was tried again
    every 5 s for ever, and the next block waited with it."""
    service = start_service(one_host(1))
    gone = zygotes(service.process.pid)
    computing = compute_processes(service.process.pid)
    for pid in [*gone, *computing]:  # the compute processes are reparented to init: replacing them needs a zygote
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: "not replaced: the compute pool's zygote is gone" in service.log, "the replacement to fail")
    ufora = pyfora.connect(service.url, progress=False)
    outcome = []

    def block() -> None:
        try:
            with ufora.remotely.downloadAll().onCluster():
                total = sum(x for x in range(10))
            outcome.append(total)
        except pyfora.PyforaError as exc:
            outcome.append(exc)
    waiting = threading.Thread(target=block, daemon=True)
    waiting.start()
    waiting.join(30)
    ufora.close()
    assert outcome and "no compute process" in str(outcome[0]), outcome
    assert "trying again" not in service.log


def test_a_worker_only_service_whose_zygotes_were_killed_stops_and_the_others_compute(start_service):
    """Such a worker stayed registered with no compute process, and every block the manager
    sent it failed ("no compute process is left"); it now stops (status 3, for a supervisor to
    restart it) and the cluster's blocks run on the other worker."""
    from ufora.net.service import UNUSABLE

    manager = start_service(MANAGER_ONLY)
    victim, other = (start_service(joining(manager, 1)) for _ in range(2))
    wait_for(lambda: manager_status(manager.url)["workers"] == 2, "both workers to join")
    for pid in [*zygotes(victim.process.pid), *compute_processes(victim.process.pid)]:
        os.kill(pid, signal.SIGKILL)
    assert victim.process.wait(timeout=30) == UNUSABLE
    assert "this worker can compute no more: no compute process is left" in victim.log
    wait_for(lambda: manager_status(manager.url)["workers"] == 1, "the manager to see it gone")
    with pyfora.connect(manager.url, progress=False) as ufora:
        for _ in range(3):
            with ufora.remotely.downloadAll():
                total = sum(x * x for x in range(100_000))
            assert total == sum(x * x for x in range(100_000))
    assert other.process.poll() is None


def _long_block(ufora):
    with contextlib.suppress(pyfora.PyforaError):
        with ufora.remotely.downloadAll():
            print("started")
            countPrimes(200_000_000)  # minutes


def _status(service) -> dict:
    return manager_status(service.url)


# ---- leaks ---------------------------------------------------------------------------------------

def sum_of_squares(values):
    return sum(v * v for v in values)


def test_a_service_killed_with_arrays_in_flight_leaves_nothing_once_another_starts(start_service):
    first = start_service(one_host(2))
    ufora = pyfora.connect(first.url)
    values = np.arange(8_000_000, dtype=np.float64)  # 64 MB: in shared memory while summed
    submitted = threading.Thread(target=_sum_remotely, args=(ufora, values), daemon=True)
    submitted.start()
    wait_for(lambda: _segments_of(first.process.pid), "the block's arrays to be in shared memory")
    for pid in [first.process.pid, *descendants(first.process.pid)]:  # all at once: nobody cleans up
        os.kill(pid, signal.SIGKILL)
    first.process.wait()
    submitted.join(60)
    ufora.close()
    start_service(one_host(1))
    assert not _segments_of(first.process.pid)


def _sum_remotely(ufora, values):
    with contextlib.suppress(pyfora.PyforaError):
        with ufora.remotely.downloadAll():
            for _ in range(100):
                sum_of_squares(values)


def _segments_of(service_pid: int) -> list:
    return [name for name in os.listdir("/dev/shm") if shm.owner(name) == service_pid]


# ---- one user must not hurt another: output --------------------------------------------------

PRINTER = """
import os, sys
import pyfora
ufora = pyfora.connect(os.environ["UFORA_URL"], progress=False)
with ufora.remotely.downloadAll():
    for i in range(LINES):
        print(f"{i:09d}" + "x" * 90)
    print("y" * LONG_LINE)
    done = True
ufora.close()
"""


def printing_100_mb(url: str, script, printed) -> subprocess.Popen:
    """A client whose block prints 1,000,000 lines of 100 characters and one line of 3 MB
    (longer than a frame's header may be), to the file ``printed``."""
    printer_text = PRINTER.replace("LINES", "1_000_000").replace("LONG_LINE", "3_000_000")
    with open(printed, "w") as sink:
        return client_script(script, printer_text, url, stdout=sink)


def test_a_block_printing_100_mb_reaches_its_client_whole_and_holds_up_no_one(start_service, tmp_path):
    """All of it, in order, at its client; another client's blocks complete all along meanwhile
    (in every tenth of the output: how long each took is a figure of perf/responses.py); the
    service's memory grows by less than the output's size."""
    service = start_service(one_host(2))
    printed = tmp_path / "printed.txt"
    with pyfora.connect(service.url) as other:
        with other.remotely.downloadAll():
            warm = 1
        before = proc.resident_bytes(service.process.pid)
        printer = printing_100_mb(service.url, tmp_path / "printer.py", printed)
        printed_at, peak = [], before  # how much the printer's client had written when each block ended
        while printer.poll() is None:
            with other.remotely.downloadAll():
                warm = warm + 1
            printed_at.append(os.path.getsize(printed))
            peak = max(peak, proc.resident_bytes(service.process.pid))
        assert printer.wait() == 0
    lines = printed.read_text().splitlines()
    assert len(lines) == 1_000_001 and lines[-1] == "y" * 3_000_000
    assert all(line == f"{i:09d}" + "x" * 90 for i, line in enumerate(lines[:-1]))
    whole = os.path.getsize(printed)
    assert {size * 10 // whole for size in printed_at if 0 < size < whole} == set(range(10)), printed_at
    assert peak - before < 50 << 20, (before, peak)


STOPPED_CLIENT = """
import os
import pyfora
from tests.primes import countPrimes
ufora = pyfora.connect(os.environ["UFORA_URL"], progress=False)
with ufora.remotely.downloadAll():
    print("started")  # reaches this script's stdout once the block runs on the worker
    total = countPrimes(200_000_000)  # minutes
"""


def test_a_block_whose_client_was_stopped_stops_once_the_client_is_declared_gone(start_service, tmp_path):
    service = start_service({**one_host(2), "UFORA_CLIENT_TIMEOUT": "4"})
    computing = set(compute_processes(service.process.pid))
    client = client_script(tmp_path / "stopped.py", STOPPED_CLIENT, service.url)
    try:
        assert client.stdout.readline().strip() == "started"
        client.send_signal(signal.SIGSTOP)
        wait_for(lambda: "disconnected" in service.log, "the client to be declared gone", timeout=30)
        wait_for(lambda: not computing & set(descendants(service.process.pid)), "the block to stop", timeout=10)
    finally:
        client.kill()
        client.send_signal(signal.SIGCONT)
        client.communicate()


def test_a_worker_that_cannot_reach_its_manager_says_where_it_dials_every_10_s(start_service):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    worker = start_service({"UFORA_MANAGER_ADDRESS": "127.0.0.1", "UFORA_MANAGER_PORT": str(port),
                            "UFORA_WORKER_BASE_PORT": "0", "UFORA_WORKER_OWN_ADDRESS": "127.0.0.1",
                            "UFORA_WORKER_CORES": "1"}, wait_ready=False)
    started = time.monotonic()
    wait_for(lambda: "cannot reach the manager" in worker.log, "a warning", timeout=30)
    warnings = [line for line in worker.log.splitlines() if "cannot reach the manager" in line]
    assert f"127.0.0.1:{port}" in warnings[0] and "Connection refused" in warnings[0], warnings[0]
    assert len(warnings) <= 1 + (time.monotonic() - started) // 10  # not a tight loop
    assert worker.process.poll() is None
