"""pyfora's client API end to end against a real manager and worker: remote objects (proxies),
futures, download policies, errors as proxies, freeing, cancel, and the executor's own calls."""
import gc
import os
import threading
import time

import numpy as np
import pytest

import pyfora
from ufora.net import schema
from tests.conftest import client_script, manager_status, one_host, wait_computing, wait_for, wait_idle
from tests.primes import countPrimes, isPrime


def square(x):
    return x * x


def fails(x):
    raise ValueError(f"no good: {x}")


def add(a, b):
    return a + b


def objects_held(ufora) -> int:
    """The remote objects the manager holds, once every proxy dropped so far is released (the
    release and this question travel in order on the client's socket)."""
    gc.collect()
    ufora._connection._flush_releases()
    return ufora._connection._sio.call("status", {}, timeout=10)["objects"]


def sent_sizes(ufora, monkeypatch) -> list:
    """The pickled free variables of every block or call the executor sends from now on."""
    sizes = []
    original = ufora._connection._request
    monkeypatch.setattr(ufora._connection, "_request", lambda event, data, transform: (
        sizes.append(len(schema.bytes_from_wire(data.get("free_variables", b"")))), original(event, data, transform))[1])
    return sizes


def test_remotely_leaves_values_on_the_cluster_as_proxies(ufora):
    with ufora.remotely:
        numbers = np.arange(1000.0)
        label = "squares"
    assert isinstance(numbers, pyfora.RemotePythonObject) and isinstance(label, pyfora.RemotePythonObject)
    assert numbers.typeName == "numpy.ndarray" and numbers.size > 8000
    local = numbers.toLocal().result(timeout=30)
    assert isinstance(local, np.ndarray) and local[-1] == 999.0
    assert label.toLocal().result(timeout=30) == "squares"


def test_proxies_resolve_on_the_cluster_and_are_not_uploaded_again(ufora, monkeypatch):
    with ufora.remotely.remoteAll():
        big = np.ones(2_000_000)  # 16 MB, made on the cluster
    sizes = sent_sizes(ufora, monkeypatch)
    with ufora.remotely.downloadAll():
        total = sum(x * x for x in big)
        kind = type(big).__name__
    assert total == 2_000_000.0 and kind == "ndarray"
    assert sizes and max(sizes) < 64_000  # the id went (with the client's settings, ~2 KB), not the 16 MB


def test_download_small_brings_small_values_and_leaves_large_ones(ufora):
    with ufora.remotely.downloadSmall(bytecount=1000):
        small = sum(isPrime(x) for x in range(10_000))
        large = list(range(10_000))
    assert small == 1231
    assert isinstance(large, pyfora.RemotePythonObject)
    assert large.toLocal().result(timeout=30) == list(range(10_000))


def test_modifiers_chain_and_the_last_one_counts(ufora):
    with ufora.remotely.remoteAll().downloadAll():
        value = 7
    assert value == 7


def test_define_submit_and_calling_a_proxy(ufora):
    values = ufora.define([1, 2, 3]).result(timeout=30)
    assert values.toLocal().result(timeout=30) == [1, 2, 3]
    squared = ufora.submit(square, 12).result(timeout=30)
    assert squared.toLocal().result(timeout=30) == 144
    remote_add = ufora.define(add).result(timeout=30)
    total = remote_add(squared, 6).result(timeout=30)  # a proxy and a local value as arguments
    assert total.toLocal().result(timeout=30) == 150
    counted = ufora.submit(countPrimes, 1_000_000).result(timeout=60)  # split on the cluster
    assert counted.toLocal().result(timeout=30) == 78500


def test_proxies_inside_closures_and_containers_resolve_too(ufora):
    offset = ufora.define(100).result(timeout=30)

    def shifted(x):
        return x + offset

    result = ufora.submit(shifted, 1).result(timeout=30)
    assert result.toLocal().result(timeout=30) == 101
    with ufora.remotely.downloadAll():
        pair = [offset, offset]
    assert pair == [100, 100]


def test_a_failed_call_gives_a_proxy_whose_to_local_raises(ufora):
    failed = ufora.submit(fails, 3).result(timeout=30)
    assert isinstance(failed, pyfora.RemotePythonObject)
    with pytest.raises(pyfora.ComputationError) as raised:
        failed.toLocal().result(timeout=30)
    assert isinstance(raised.value.remoteException, ValueError)
    assert str(raised.value.remoteException) == "no good: 3"
    assert os.path.basename(__file__) in raised.value.trace and "raise ValueError" in raised.value.trace
    with pytest.raises(pyfora.PyforaError):  # and it cannot be used by a later computation
        ufora.submit(square, failed)


def test_block_variables_assigned_before_an_error_are_written_back(ufora):
    with pytest.raises(pyfora.ComputationError):
        with ufora.remotely:
            before = [1, 2]
            1 / 0
    assert before.toLocal().result(timeout=30) == [1, 2]


def test_to_local_with_a_byte_limit(ufora):
    values = ufora.define(list(range(10_000))).result(timeout=30)
    with pytest.raises(pyfora.ResultExceededBytecountThreshold):
        values.toLocal(maxBytecount=100).result(timeout=30)


def test_a_dropped_proxy_is_freed_on_the_cluster(ufora, cluster_url):
    before = objects_held(ufora)
    with ufora.remotely:
        dropped = list(range(1000))
    assert objects_held(ufora) == before + 1
    del dropped
    assert objects_held(ufora) == before
    gc.collect()  # and without asking, within the release delay
    with ufora.remotely:
        dropped_too = 1
    assert manager_status(cluster_url)["objects"] == before + 1  # made: the wait below has something to see
    del dropped_too
    wait_for(lambda: manager_status(cluster_url)["objects"] == before, "the proxy's release")


def test_a_disconnected_client_s_objects_are_freed(cluster_url):
    other = pyfora.connect(cluster_url)
    before = objects_held(other)
    kept = [other.define(n).result(timeout=30) for n in range(3)]
    assert objects_held(other) == before + 3
    other.close()
    wait_for(lambda: manager_status(cluster_url)["objects"] == before, "the client's objects to be freed")
    del kept


def test_a_proxy_is_not_pickled_by_accident(ufora):
    import pickle

    proxy = ufora.define(1).result(timeout=30)
    with pytest.raises(TypeError, match="toLocal"):
        pickle.dumps(proxy)


def test_futures_are_concurrent_futures(ufora):
    import concurrent.futures

    future = ufora.submit(square, 3)
    done = threading.Event()
    future.add_done_callback(lambda f: done.set())
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=30).toLocal().result(timeout=30) == 9
    assert done.wait(5) and future.done() and not future.cancelled() and future.exception() is None
    assert pyfora.CancelledError is concurrent.futures.CancelledError
    assert issubclass(pyfora.PyforaError, concurrent.futures._base.Error)


def test_executor_calls(ufora, cluster_url, tmp_path):
    assert ufora.getWorkerCount() == 1
    text_file = tmp_path / "data.txt"
    text_file.write_text("one\ntwo\n")
    remote_text = ufora.importRemoteFile(str(text_file)).result(timeout=30)
    assert remote_text.toLocal().result(timeout=30) == "one\ntwo\n"
    with pyfora.connect(cluster_url) as other:
        other.stayOpenOnExit = True
    assert not other.isClosed()
    other.close()
    assert other.isClosed()
    with pyfora.connect(cluster_url) as closing:
        pass
    assert closing.isClosed()
    with pytest.raises(pyfora.PyforaError, match="closed"):
        closing.define(1)


def test_cancel_stops_the_computation_and_frees_the_cores(start_service):
    service = start_service(one_host(2))
    with pyfora.connect(service.url) as ufora:
        future = ufora.submit(countPrimes, 10**9)  # hours of work
        wait_computing(service.process.pid)
        assert future.cancel() and future.cancelled()
        with pytest.raises(pyfora.CancelledError):
            future.result()
        wait_idle(service.process.pid)
        again = ufora.submit(countPrimes, 1_000_000).result(timeout=60)  # the pool is whole
        assert again.toLocal().result(timeout=30) == 78500
    assert "was stopped by a cancel" in service.log


def test_a_large_remote_array_is_shared_memory_read_by_later_blocks_without_copies(ufora):
    from tests.conftest import our_shm_entries

    before = our_shm_entries()
    with ufora.remotely:
        big = np.arange(4_000_000, dtype=np.float64)  # 32 MB: its data goes to shared memory once
    [segment] = our_shm_entries() - before
    with ufora.remotely.downloadAll():
        from ufora.engine import shm

        in_segment = shm.find(big.ctypes.data, big.nbytes)
        total = sum(x * 2.0 for x in big)  # partitions read the same segment by name
        try:
            big[0] = 1.0
            refused = ""
        except ValueError as exc:
            refused = str(exc)
    assert in_segment is not None and in_segment[0] == segment.split("/")[-1]
    assert total == 2.0 * sum(range(4_000_000))
    assert "read-only" in refused  # remote objects do not change: copy to modify
    local = big.toLocal().result(timeout=60)
    assert local.flags.writeable and local[-1] == 3_999_999.0
    del big
    objects_held(ufora)
    wait_for(lambda: segment not in our_shm_entries(), "the segment to be unlinked")
    wait_for(lambda: not processes_mapping(segment), "no process to map it")  # its memory is really freed


def processes_mapping(segment: str) -> list:
    """Pids of the processes that still map a shared-memory segment (unlinked or not)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as maps:
                if f"/dev/shm/{segment}" in maps.read():
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


def test_status_callback_follows_the_block_s_shapes(ufora, cluster_url):
    statuses = []
    with ufora.remotely.downloadAll().withStatusCallback(statuses.append):
        counted = countPrimes(8_000_000)  # about a second on two cores: several reports
    assert counted == 539779
    assert statuses, "no progress reported"
    assert {s["items_total"] for s in statuses} == {8_000_000}
    partitions, items = [s["partitions_done"] for s in statuses], [s["items_done"] for s in statuses]
    assert partitions == sorted(partitions) and items == sorted(items) and items[-1] <= 8_000_000, statuses
    assert all((p == 0) == (i == 0) for p, i in zip(partitions, items)), statuses  # no partition is empty
    assert all(a != b for a, b in zip(statuses, statuses[1:])), statuses  # sent when it changed
    cores = [s["active_cores"] for s in statuses]
    assert 1 <= max(cores) <= manager_status(cluster_url)["cores"], cores


def run_in_a_terminal(script, cluster_url: str, timeout: float = 60, interrupt_at: str = "") -> str:
    """Run the ``script`` file with its stdout and stderr on a pseudo-terminal; all it wrote. With
    ``interrupt_at`` (a regular expression), Ctrl-C (SIGINT) once what it wrote matches it."""
    import fcntl
    import pty
    import re
    import signal
    import struct
    import subprocess
    import sys
    import termios

    from tests.conftest import ROOT

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal's size
    try:
        process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdin=subprocess.DEVNULL,
                                   stdout=secondary, stderr=secondary,
                                   env=dict(os.environ, UFORA_URL=cluster_url, PYTHONPATH=ROOT))
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
            if interrupt_at and re.search(interrupt_at, b"".join(chunks).decode(errors="replace")):
                process.send_signal(signal.SIGINT)
                interrupt_at = ""
        process.wait(timeout=timeout)
    finally:
        os.close(primary)
    return b"".join(chunks).decode(errors="replace")


PROGRESS_SCRIPT = """
import pyfora
from tests.primes import countPrimes
ufora = pyfora.connect(progress={progress})
with ufora.remotely.downloadAll():
    counted = countPrimes(8_000_000)
print("counted", counted)
"""


def test_a_progress_bar_on_a_terminal_and_none_when_turned_off(cluster_url, tmp_path):
    for progress in (True, False):
        (tmp_path / f"progress_{progress}.py").write_text(PROGRESS_SCRIPT.format(progress=progress))
    shown = run_in_a_terminal(tmp_path / "progress_True.py", cluster_url)
    assert "counted 539779" in shown
    assert "ufora:" in shown and "item" in shown and "cores=" in shown, shown
    hidden = run_in_a_terminal(tmp_path / "progress_False.py", cluster_url)
    assert "counted 539779" in hidden and "ufora:" not in hidden, hidden


def test_a_manager_that_never_answers_is_a_connection_error_within_the_timeout():
    """The timeout given is the one used: the client gives up long before the default timeout
    would have ended (how close to the given timeout is a figure of perf/responses.py)."""
    import inspect
    import socket

    default = inspect.signature(pyfora.connect).parameters["timeout"].default
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        with pytest.raises(pyfora.ConnectionError, match="timed out"):
            pyfora.connect(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
        assert time.monotonic() - started < default / 2, "the default timeout was used"


def _sockets() -> set:
    """This process's open sockets, each as its fd and inode (a reused fd has a new inode)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            what = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed meanwhile
            continue
        if what.startswith("socket:"):
            found.add((int(name), what))
    return found


def test_a_reset_connection_s_socket_is_closed_at_the_drop_not_by_the_garbage_collector(start_service):
    """engineio leaves the websocket of a connection that ended in an error (a reset: the
    manager died with the client's last message unread) open: its socket lingered until the
    client happened to be collected, and CI's leak check met one."""
    import signal

    service = start_service(one_host(1))
    before = _sockets()
    ufora = pyfora.connect(service.url, timeout=600, progress=False)
    gc.disable()  # garbage may not be what closes it
    try:
        opened = _sockets() - before
        assert opened, "the connection opened no socket"
        service.process.send_signal(signal.SIGSTOP)
        ufora._connection._emit_quietly("status", {})  # unread when the manager dies: a reset
        time.sleep(0.2)
        service.process.kill()
        wait_for(lambda: not ufora._connection._sio.connected, "the client to see the drop")
        wait_for(lambda: not (opened & _sockets()), timeout=5, what="the dropped connection's socket closed")
    finally:
        gc.enable()
        ufora.close()


def test_a_lost_connection_fails_every_pending_future_at_once(start_service):
    """At the drop, not once reconnecting gives up (which takes the executor's timeout, here
    far longer than the futures are waited for; how soon is a figure of perf/responses.py)."""
    service = start_service(one_host(1))
    ufora = pyfora.connect(service.url, timeout=600)
    try:
        pending = [ufora.submit(countPrimes, 10**9) for _ in range(2)]  # hours of work
        wait_computing(service.process.pid)  # the first computes, the second waits for the core
        assert not any(future.done() for future in pending)
        service.stop()
        for future in pending:
            failure = future.exception(timeout=60)
            assert isinstance(failure, pyfora.ConnectionError) and "was lost" in str(failure), failure
    finally:
        ufora.close()


CTRL_C_SCRIPT = """
import pyfora
from tests.primes import countPrimes
ufora = pyfora.connect(progress=False)
future = ufora.submit(countPrimes, 10**9)  # hours of work
print("submitted", flush=True)
future.result()
"""


def test_ctrl_c_in_result_cancels_the_remote_work(start_service, tmp_path):
    import signal

    service = start_service(one_host(2))
    client = client_script(tmp_path / "wait.py", CTRL_C_SCRIPT, service.url)
    assert client.stdout.readline().strip() == "submitted"
    wait_computing(service.process.pid)
    client.send_signal(signal.SIGINT)
    _, stderr = client.communicate(timeout=10)
    assert "KeyboardInterrupt" in stderr
    wait_idle(service.process.pid)
    assert "was stopped by a cancel" in service.log


def test_an_argument_that_cannot_be_sent_is_named(ufora):
    with pytest.raises(pyfora.PythonToForaConversionError, match="^argument 2 of the call: a lock "):
        ufora.submit(add, 1, threading.Lock())


def waits_for_file(path: str) -> str:
    """Holds its compute process until ``path`` exists."""
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)
    return path


def test_a_proxy_dropped_right_after_submit_is_kept_until_its_call_ran(start_service, tmp_path):
    service = start_service(one_host(1))
    go = tmp_path / "go"
    with pyfora.connect(service.url, progress=False) as ufora:
        twelve = ufora.define(12).result(timeout=60)
        busy = ufora.submit(waits_for_file, str(go))  # the only core is busy: the next call waits
        squared = ufora.submit(square, twelve)
        del twelve  # dropped at once
        objects_held(ufora)  # its release reached the manager (it travels before this question) ...
        assert not squared.done()  # ... while the call waited
        go.touch()
        assert squared.result(timeout=60).toLocal().result(timeout=30) == 144
        assert busy.result(timeout=60).toLocal().result(timeout=30) == str(go)


def test_small_arrays_come_back_writable_too(ufora):
    remote = ufora.define(np.arange(250_000, dtype=np.float64)).result(timeout=30)  # 2 MB
    local = remote.toLocal().result(timeout=30)
    assert local.flags.writeable and local[-1] == 249_999.0


def test_a_remote_function_s_shapes_are_split_on_the_cluster(start_service):
    service = start_service(one_host(2))  # of its own: no other test's partitions counted

    def partitions() -> int:
        return sum(m.get("partitions", 0) for m in manager_status(service.url)["members"])

    with pyfora.connect(service.url, progress=False) as ufora:
        counter = ufora.define(countPrimes).result(timeout=30)  # its file travels with the proxy
        counted = counter(2_000_000).result(timeout=60)
        assert counted.toLocal().result(timeout=30) == 148935
    # counters travel with the worker's heartbeat
    wait_for(lambda: partitions() >= 4, "the call's partitions to be counted")


def test_a_malformed_result_from_the_manager_fails_its_future_clearly(ufora):
    connection = ufora._connection
    future = pyfora.connection.RemoteFuture(connection, "made-up", lambda message: message)
    connection._futures[future.job_id] = future
    connection._on_job_done({"job_id": "made-up", "names": ["x"], "variables": ["not base64!"], "error": None})
    with pytest.raises(pyfora.ConnectionError, match="malformed result"):
        future.result(timeout=5)


def test_a_block_s_result_that_came_as_ctrl_c_did_frees_its_remote_objects(monkeypatch):
    """A user's trial: Ctrl-C landing as a block ended left its remote objects on the cluster,
    no proxy holding them, until ``close()``."""
    import concurrent.futures

    released = []

    class Connection:
        def release_all(self, message):
            released.append(message)

    future = pyfora.connection.RemoteFuture(Connection(), "j1", lambda message: message)
    message = {"objects": {"x": {"id": "o1"}}}
    future.resolve(message)
    waits = []

    def interrupted(self, timeout=None):  # Ctrl-C in the wait, though the result was there
        waits.append(timeout)
        if len(waits) == 1:
            raise KeyboardInterrupt
        return real(self, timeout)

    real = concurrent.futures.Future.result
    monkeypatch.setattr(concurrent.futures.Future, "result", interrupted)
    with pytest.raises(KeyboardInterrupt):
        future.result()
    assert released == [message]
    proxied = pyfora.connection.RemoteFuture(Connection(), "j2", lambda message: ["a proxy"])
    proxied.resolve(message)
    waits.clear()
    with pytest.raises(KeyboardInterrupt):
        proxied.result()
    assert released == [message]  # a proxy made of it frees its own


def test_a_connection_idle_for_longer_than_a_ping_interval_stays_open(cluster_url):
    """The client sends from the calling thread; engineio's writer thread, whose queue then
    stays empty, must not take that for a dead connection (it would after 30 s)."""
    import engineio

    executor = pyfora.connect(cluster_url)
    try:
        eio = executor._connection._sio.eio
        eio.ping_interval = eio.ping_timeout = 0.5  # engineio's own writer gives up after 5.5 s idle
        eio.queue.put(engineio.packet.Packet(engineio.packet.NOOP))  # ... from its next wait on
        time.sleep(6.5)
        assert eio.write_loop_task is not None
        for expected in (1, 2):
            with executor.remotely.downloadAll():
                x = expected
            assert x == expected
    finally:
        executor.close()


class Tally:
    def __init__(self):
        self.n, self.total = 0, 0

    def add(self, value):
        self.n += 1
        self.total += value


def test_a_remote_object_a_block_changes_in_place_is_changed_for_every_name_holding_it(ufora):
    """A user's trial: ``xs.append(99)`` on a proxy's list in a later block was lost (the block
    changed the cluster's copy), and ``xs.toLocal()`` gave the list as before, with no error."""
    with ufora.remotely:
        xs = list(range(10))
        tally = Tally()
        config = {"a": 1}
    also = xs
    before = objects_held(ufora)
    with ufora.remotely.downloadAll():
        xs.append(99)
        xs[0] = -1
        tally.add(5)
        config["b"] = 2
        count = len(xs)
    assert count == 11 and also is xs
    assert xs.toLocal().result(timeout=30) == [-1, *range(1, 10), 99]
    assert vars(tally.toLocal().result(timeout=30)) == {"n": 1, "total": 5}
    assert config.toLocal().result(timeout=30) == {"a": 1, "b": 2}
    assert objects_held(ufora) == before  # each changed object replaced its former one, which is freed
    with ufora.remotely:
        xs.pop()
        read = sum(xs)  # (a block that only reads it keeps no copy)
    assert xs.toLocal().result(timeout=30) == [-1, *range(1, 10)] and read.toLocal().result(timeout=30) == 44
    assert objects_held(ufora) == before + 1  # read


def test_a_remote_object_changed_before_the_block_raised_keeps_the_change(ufora):
    with ufora.remotely:
        log = []
    with pytest.raises(ZeroDivisionError):
        with ufora.remotely.downloadAll():
            log.append("started")
            1 / 0
    assert log.toLocal().result(timeout=30) == ["started"]


def _add_one(items):
    items.append(1)
    return len(items)


def test_a_call_that_changes_a_remote_argument_in_place_changes_it_and_keeps_nothing_else(ufora):
    """A review: a call through ``submit`` (or a proxy) whose function changed a remote argument
    left the changed copy on the cluster, never freed, and the argument unchanged."""
    with ufora.remotely:
        xs = [0]
        add_one = _add_one
    before = objects_held(ufora)
    for count in (2, 3):
        assert add_one(xs).result(timeout=30).toLocal().result(timeout=30) == count
    assert ufora.submit(_add_one, xs).result(timeout=30).toLocal().result(timeout=30) == 4
    assert xs.toLocal().result(timeout=30) == [0, 1, 1, 1]
    assert objects_held(ufora) == before


def _bump(tally, by):
    tally.add(by)
    return tally.total


def test_a_function_that_changes_a_remote_object_of_your_class_or_a_keyword_argument_keeps_the_change(ufora):
    """A user's trial: a small object of the script's class changed by a function it was passed
    to (a call, or a block calling the function) lost the change silently; so did a remote
    keyword argument of a call, of any type."""
    with ufora.remotely:
        tally = Tally()
        xs = [0]
    before = objects_held(ufora)
    assert ufora.submit(_bump, tally, 10).result(timeout=30).toLocal().result(timeout=30) == 10
    assert ufora.submit(_bump, by=5, tally=tally).result(timeout=30).toLocal().result(timeout=30) == 15
    with ufora.remotely.downloadAll():
        total = _bump(tally, 1)
    assert total == 16 and vars(tally.toLocal().result(timeout=30)) == {"n": 3, "total": 16}
    assert ufora.submit(_add_one, items=xs).result(timeout=30).toLocal().result(timeout=30) == 2
    with ufora.remotely.downloadAll():
        count = _add_one(**{"items": xs})
    assert count == 3 and xs.toLocal().result(timeout=30) == [0, 1, 1]
    assert objects_held(ufora) == before  # each changed object replaced its former one, which is freed


def _add_once_told(items, item, told):
    deadline = time.monotonic() + 60
    while not os.path.exists(told) and time.monotonic() < deadline:
        time.sleep(0.01)
    items.append(item)


def test_two_changes_of_a_remote_object_made_at_the_same_time_warn_that_one_is_lost(ufora, tmp_path):
    """A user's trial: a call still running when a block changed the same proxy; whichever
    ended last replaced the other's change, in silence. Changes of one object through two of
    its names in one block, or passed twice to one call, are no such thing: no warning."""
    import warnings

    with ufora.remotely:
        ys = [1]
    told = str(tmp_path / "told")
    called = ufora.submit(_add_once_told, ys, 2, told)  # it appends once the block below has ended
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ufora.remotely:
            ys.append(3)
    open(told, "w").close()
    with pytest.warns(RuntimeWarning, match="changed in place by two blocks or calls that ran at the same time"):
        called.result(timeout=60)
    assert ys.toLocal().result(timeout=30) == [1, 2]  # the last to end: the call's
    also = ys
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ufora.remotely:
            ys.append(4)
            also.append(5)
        ufora.submit(_add_twice, ys, ys).result(timeout=60)
    assert ys.toLocal().result(timeout=30) == [1, 2, 4, 5, 6, 6]


def _add_twice(first, second):
    first.append(6)
    second.append(6)


def test_a_release_made_while_a_block_is_captured_is_told_after_the_block_is_sent(ufora, monkeypatch):
    """A user's trial: a call that changed a remote object ended while a block using it was
    captured; its former object, which the block was sent with, was released first, and the
    block failed with "remote object ... was freed". Here the release comes in that instant."""
    connection = ufora._connection
    sending = connection.submit

    def released_first(submission, *args, **kwargs):
        for object_id in submission["objects"]:
            connection.release(object_id)
        connection._flush_releases()  # as a request made meanwhile would
        return sending(submission, *args, **kwargs)

    for kind in ("block", "call"):
        with ufora.remotely:
            xs = [1, 2]
        monkeypatch.setattr(connection, "submit", released_first)
        if kind == "block":
            with ufora.remotely.downloadAll():
                count = len(xs)
        else:
            count = ufora.submit(len, xs).result(timeout=30).toLocal().result(timeout=30)
        monkeypatch.setattr(connection, "submit", sending)
        assert count == 2, kind
        with pytest.raises(pyfora.PyforaError, match="freed"):  # released after the block, as it was told
            xs.toLocal().result(timeout=30)


def _negate_in_place(rows):
    for row in rows:
        row["v"] = -row["v"]


_large_shared = None  # a proxy while the next test runs


def _end_shared():
    _large_shared.append("end")


def test_a_large_remote_object_that_a_function_of_yours_changes_keeps_the_change(ufora):
    """A large remote object is compared only where the block may change it: passed to, or read
    as a global by, a function of yours that may change it (a user's trial: lost in silence)."""
    global _large_shared
    with ufora.remotely:
        rows = [{"v": i} for i in range(150_000)]  # larger than a value compared wherever it is passed
        tail = list(range(150_000))
    with ufora.remotely.downloadAll():
        _negate_in_place(rows)
        first = len(rows)
    assert first == 150_000 and rows.toLocal().result(timeout=60)[:3] == [{"v": 0}, {"v": -1}, {"v": -2}]
    _large_shared = tail
    try:
        with ufora.remotely:
            _end_shared()
        assert _large_shared is tail and tail.toLocal().result(timeout=60)[-2:] == [149_999, "end"]
    finally:
        _large_shared = None


_shared = None  # a proxy while the next test runs


def _append_to_shared(item):
    _shared.append(item)


def test_a_function_that_changes_a_remote_object_its_global_holds_changes_the_proxy_for_every_name(ufora):
    """A user's trial: the global was rebound to a local copy of the changed value, which the
    proxy's other names did not see."""
    global _shared
    with ufora.remotely:
        made = [1, 2]
    _shared = made
    try:
        with ufora.remotely:
            _append_to_shared(9)
        assert _shared is made
        assert made.toLocal().result(timeout=30) == [1, 2, 9]
    finally:
        _shared = None


def test_a_remote_object_only_read_is_not_compared_and_one_that_cannot_be_kept_changed_keeps_its_value(ufora):
    import threading
    with ufora.remotely:
        records = [{"v": i} for i in range(50_000)]
        box = {"n": 1}
    before = objects_held(ufora)
    with ufora.remotely.downloadAll():
        total = sum(r["v"] for r in records)
        first = records.copy()[0]  # a method that changes nothing: not compared
        box["lock"] = threading.Lock()  # changed, and cannot be pickled: the block still ends
        n = box["n"]
    assert (total, first, n) == (sum(range(50_000)), {"v": 0}, 1)
    assert box.toLocal().result(timeout=30) == {"n": 1} and objects_held(ufora) == before
