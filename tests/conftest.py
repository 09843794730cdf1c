"""Shared fixtures: real ``ufora-service`` processes on free loopback ports, and a leak check
after every test (no process started by the test left running, nothing new in /dev/shm)."""
from __future__ import annotations

import collections
import contextlib
import gc
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Callable, Dict, Iterator, List, Optional, Set

import pytest

from ufora.engine import proc, runtime, shm
from ufora.net import client_auth
from pyfora.embedded import EmbeddedCluster, launch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE_VARIABLES = [name for name in os.environ if name.startswith("UFORA_")]
# The console script `pip install` made beside this interpreter: the command users run.
SERVICE_COMMAND = os.path.join(os.path.dirname(sys.executable), "ufora-service")
# The cluster secret of the services this run starts (a test that needs another gives its own;
# "" runs a service open). Clients, in this process and in the scripts tests run, find it where a
# user's would: in UFORA_SECRET.
RUN_SECRET = secrets.token_hex(16)
os.environ["UFORA_SECRET"] = RUN_SECRET
# Embedded clusters keep their kernels for their own life only: a test run never fills, nor
# reads, the user's kernel folder (pyfora.embedded.user_kernel_folder)
os.environ["UFORA_KERNEL_CACHE_DIR"] = ""
# The tests' blocks test the cluster: a block with no parallel shape goes there too, not run in
# the test's process (pyfora.run_here); the tests of that pass serial_here=True.
os.environ["UFORA_SERIAL_HERE"] = "0"
# Where blocks ran faster is not kept for the next process (pyfora.block_times): a test run
# neither reads what the user's scripts learned nor leaves what its own blocks did; the tests of
# that keep it in their own folder.
os.environ["UFORA_BLOCK_TIMES"] = ""


def _start_pyarrows_threads() -> None:
    """pyarrow's thread pool opens a pipe at its first use (a CSV read, a pandas string column's
    compute): here, once, not inside a test, whose check would take it for a descriptor left open."""
    import pyarrow
    import pyarrow.csv

    pyarrow.csv.read_csv(pyarrow.BufferReader(b"a\n1\n"))


_start_pyarrows_threads()


# proc.alive as it is, whatever a test patches: the leak check runs while a test's monkeypatch is
# still in force (an autouse fixture that takes monkeypatch is set up before ``no_leaks``), and a
# test making every pid alive had its zombies (and the run's) counted as processes left running
_alive = proc.alive


def children(pid: int) -> List[int]:
    """The live processes ``pid`` (any of its threads) started, from /proc/<pid>/task/*/children."""
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:  # gone
        return []
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as listing:
                found += [int(child) for child in listing.read().split()]
        except OSError:  # that thread ended meanwhile
            continue
    return [child for child in found if _alive(child)]


def descendants(pid: int) -> List[int]:
    """Every live process below ``pid``."""
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def zygotes(service_pid: int) -> List[int]:
    """A worker service's zygotes (``engine.pool``: a zygote and its standby), the one that has
    forked compute processes first."""
    from ufora.engine.pool import ZYGOTE_NAME

    found = [pid for pid in descendants(service_pid) if proc.name(pid) == ZYGOTE_NAME]
    return sorted(found, key=lambda pid: (not any(proc.name(child) != ZYGOTE_NAME for child in children(pid)), pid))


def compute_processes(pid: int) -> List[int]:
    """The compute processes below ``pid`` (a service, or a zygote): not the zygotes, nor a
    compute process's child compiling a kernel (``engine.compile_apart``: a CI run found one
    there, and counted three compute processes in a pool of two)."""
    from ufora.engine.pool import COMPUTE_NAME

    return [child for child in descendants(pid) if proc.name(child) == COMPUTE_NAME]


def _described(pid: int) -> str:
    """A process left running, as its id, name and command line: a CI run's report of one that
    no test of its module starts named only its id."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as listing:
            command = listing.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = "(gone)"
    return f"{pid} {proc.name(pid)!r}: {command[:200]}"


def started_by_the_test(before: Set[int]) -> Set[int]:
    """The live processes below this one that are new since ``before`` and that the test
    started: not those a process already running before it started meanwhile (a service shared
    by a module's tests replaces a compute process that died, as a running cluster does)."""
    found: Set[int] = set()
    todo = [(os.getpid(), True)]  # (a process, whether what is new below it is the test's)
    while todo:
        pid, tests = todo.pop()
        for child in children(pid):
            new = child not in before
            if new and tests:
                found.add(child)
            todo.append((child, tests and new))
    return found


alive = _alive  # (tests import it)


def service_running(pid: int, services: list):
    """The service among ``services`` whose process tree holds ``pid`` (a compute process)."""
    [owner] = [s for s in services if pid in descendants(s.process.pid)]
    return owner


def shm_entries() -> set:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


# Worker services this test started (ours, and the embedded clusters pyfora.connect() made):
# their segments, and this process's own, are the only ones its leak check may count.
_started_services: set = set()


@pytest.fixture(autouse=True)
def _shapes_new_to_the_process(monkeypatch):
    """A test's shapes run as a new process's would: whether a short shape's kernel compiles only
    after it depends on whether an earlier block of the process ran it (``engine.runtime``), and
    the tests before this one, in this process, are not its earlier blocks."""
    monkeypatch.setattr(runtime, "_shapes_before", collections.OrderedDict())


@pytest.fixture(autouse=True)
def _record_embedded_clusters(monkeypatch):
    original = EmbeddedCluster.__init__

    def recording(self, *args, **kwargs):
        try:
            original(self, *args, **kwargs)
        finally:
            if self.process is not None:
                _started_services.add(self.process.pid)
    monkeypatch.setattr(EmbeddedCluster, "__init__", recording)


def _ours(name: str) -> bool:
    return shm.owner(name) in _started_services | {os.getpid()}


def our_shm_entries() -> set:
    """The segments in /dev/shm of the services running under this test process (a module's
    shared service too), and of this process: other programs' (another test run's too) are not
    a test's business."""
    ours = {os.getpid(), *descendants(os.getpid())}
    return {name for name in shm_entries() if shm.owner(name) in ours}


def _open_descriptors() -> Dict[int, str]:
    """This process's open file descriptors, and what each is (a file, a socket, a pipe)."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed meanwhile (the listing's own descriptor, among others)
            pass
    return found


@pytest.fixture(autouse=True)
def no_leaks():
    """Each test leaves what it found: no process, thread, file descriptor, or shared memory of
    the services it started (other programs' segments are not its business)."""
    _started_services.clear()
    before_shm = shm_entries()
    before = set(descendants(os.getpid()))
    before_threads = set(threading.enumerate())
    before_fds = _open_descriptors()
    yield
    deadline = time.monotonic() + 5
    collected = False
    while time.monotonic() < deadline:
        left = started_by_the_test(before)
        threads = [thread for thread in threading.enumerate() if thread not in before_threads]
        fds = {fd: what for fd, what in _open_descriptors().items() if before_fds.get(fd) != what}
        # A killed service's compute processes are no longer below this one: one finishing its
        # work makes a segment in the dead service's name and unlinks it at once (shm.ServiceGone);
        # a CI run saw one in that instant
        left_shm = {name for name in shm_entries() - before_shm if _ours(name)}
        if not left and not threads and not fds and not left_shm:
            break
        if fds and not collected:  # a descriptor held only by garbage (a reference cycle) is not a
            gc.collect()           # leak; collecting costs 0.3 s, so only when one is seen
            collected = True
            continue
        time.sleep(0.05)
    assert not left, f"processes left running: {[_described(pid) for pid in sorted(left)]}"
    assert not threads, f"threads left running: {[thread.name for thread in threads]}"
    assert not fds, f"file descriptors left open: {fds}"
    assert not left_shm, f"shared memory left in /dev/shm: {sorted(left_shm)}"


class Service:
    """One ``ufora-service`` process, started with the given UFORA_* variables."""

    def __init__(self, env: Dict[str, str], wait_ready: bool = True, timeout: float = 60.0,
                 prefix: List[str] = ()):
        full_env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
        full_env["UFORA_CLUSTER_SECRET"] = RUN_SECRET
        full_env.update(env)
        self.secret = full_env["UFORA_CLUSTER_SECRET"]
        full_env["PYTHONPATH"] = ROOT
        self.tls = bool(env.get("UFORA_TLS_CERT"))
        self._log = tempfile.TemporaryFile(mode="w+")
        self.process, ready = launch([*prefix, SERVICE_COMMAND, "--log-level", "INFO"], full_env, timeout,
                                     stderr=self._log)
        _started_services.add(self.process.pid)
        self.ports: Dict[str, int] = {}
        line = ready(wait_ready)
        if wait_ready and not line:
            self.stop()
            log = self.log
            self.close_log()
            raise RuntimeError(f"ufora-service did not start: {log}")
        if line:
            self.ports = json.loads(line)

    host = "127.0.0.1"  # where the test reaches it (a test host's address inside a namespace)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.ports['http_port']}"

    @property
    def log(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def close_log(self) -> None:
        self._log.close()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self.close_log()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 10 s; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode


def free_port_pair() -> int:
    """A port p with p and p + 1 both free (for a worker's control and data channels)."""
    import socket

    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free ports")


SERVICE_LOG_LINES_SHOWN = 60


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that fails shows the end of each service log it started (``start_service``): a
    failure met once in CI is otherwise seen without what the services said."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for index, service in enumerate(getattr(item, "ufora_services", ())):
        with contextlib.suppress(ValueError, OSError):  # its log was closed already
            tail = service.log.splitlines()[-SERVICE_LOG_LINES_SHOWN:]
            report.sections.append((f"service {index} log (its last {len(tail)} lines)", "\n".join(tail)))


@pytest.fixture
def start_service(request):
    """``start_service(env) -> Service``; every service started is stopped after the test."""
    started: List[Service] = []
    request.node.ufora_services = started

    def start(env: Dict[str, str], wait_ready: bool = True, prefix: List[str] = ()) -> Service:
        service = Service(env, wait_ready, prefix=list(prefix))
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()
        service.close_log()


def joining(manager: "Service", cores: int) -> Dict[str, str]:
    """The environment of a worker-only service on loopback that joins ``manager``."""
    return {"UFORA_MANAGER_ADDRESS": "127.0.0.1", "UFORA_MANAGER_PORT": str(manager.ports["registry_port"]),
            "UFORA_CLUSTER_SECRET": manager.secret,
            "UFORA_WORKER_BASE_PORT": str(free_port_pair()), "UFORA_WORKER_OWN_ADDRESS": "127.0.0.1",
            "UFORA_WORKER_CORES": str(cores)}


def client_claim(url: str, secret: str = RUN_SECRET, session: str = "s" * 32) -> dict:
    """A socket.io connect ``auth`` proving ``secret`` over a fresh challenge from the manager at
    ``url``, as pyfora's would (for tests that speak raw socket.io)."""
    with urllib.request.urlopen(url + client_auth.CHALLENGE_PATH, timeout=10) as page:
        challenge = json.load(page)["nonce"]
    mine = client_auth.new_nonce()
    return {"session": session, "challenge": challenge, "nonce": mine,
            "proof": client_auth.client_proof(secret.encode(), challenge, mine, session)}


def socketio_connect(url: str, auth: Optional[dict]) -> str:
    """Connect to the manager at ``url`` with python-socketio's plain client and ``auth`` (then
    disconnect): "" if it accepted, else the reason it refused."""
    import socketio

    refusal = []
    client = socketio.Client(reconnection=False)
    client.on("connect_error", lambda data=None: refusal.append(str((data or {}).get("message"))))
    try:
        client.connect(url, transports=["websocket"], auth=auth, wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        assert refusal, "refused without a reason"
        return refusal[0]
    finally:
        client.disconnect()
    return ""


def dashboard_claim(url: str, secret: str) -> dict:
    """What a dashboard page sends to connect, proving ``secret`` (as dashboard.js does)."""
    with urllib.request.urlopen(url + client_auth.CHALLENGE_PATH, timeout=10) as page:
        challenge = json.load(page)["nonce"]
    mine = client_auth.new_nonce()
    return {"challenge": challenge, "nonce": mine,
            "proof": client_auth.dashboard_proof(secret.encode(), challenge, mine)}


def dashboard_view(url: str, secret: str) -> dict:
    """One view the manager's dashboard namespace pushes to a page (``net.dashboard.snapshot``)."""
    import socketio

    from ufora.net import dashboard

    views: list = []
    page = socketio.Client(reconnection=False)
    page.on(dashboard.EVENT, views.append, namespace=dashboard.NAMESPACE)
    page.connect(url, transports=["websocket"], namespaces=[dashboard.NAMESPACE], wait_timeout=10,
                 auth=dashboard_claim(url, secret))
    try:
        wait_for(lambda: views, "a view of the cluster", timeout=10)
    finally:
        page.disconnect()
    return views[0]


def manager_status(url: str) -> dict:
    """What the manager at ``url`` answers ``GET /api/status``: its JSON status."""
    with urllib.request.urlopen(url + "/api/status", timeout=10) as page:
        return json.load(page)


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition()`` until it is true; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


MANAGER_ONLY = {"UFORA_NO_WORKER": "1", "UFORA_WEB_HTTP_PORT": "0", "UFORA_MANAGER_PORT": "0"}


def client_script(path, text: str, url: Optional[str], **popen) -> subprocess.Popen:
    """Run ``text`` as a user's script (written to ``path``: pyfora reads a block's source from
    its file) against the manager at ``url`` (None: an embedded cluster), from the repository's
    root; its stdout and stderr are text pipes unless ``popen`` says otherwise."""
    path.write_text(text)
    env = {name: value for name, value in os.environ.items() if name != "UFORA_URL"}
    env.update({"PYTHONPATH": ROOT, **({"UFORA_URL": url} if url else {})})
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, str(path)], cwd=ROOT, env=env, **options)


def one_host(cores: int) -> Dict[str, str]:
    """The environment of a manager + worker on loopback, every port free, ``cores`` processes."""
    return {"UFORA_WEB_HTTP_PORT": "0", "UFORA_MANAGER_PORT": "0", "UFORA_WORKER_BASE_PORT": "0",
            "UFORA_WORKER_OWN_ADDRESS": "127.0.0.1", "UFORA_WORKER_CORES": str(cores)}


def cpu_used(pid: int, seconds: float) -> float:
    """CPU seconds that ``pid``'s descendants (a service's compute processes) use in the next
    ``seconds``."""
    start = cpu_seconds(descendants(pid))
    time.sleep(seconds)
    return cpu_seconds(descendants(pid)) - start


def wait_computing(pid: int, seconds: float = 0.5, processes: Callable[[int], List[int]] = descendants) -> None:
    """Until the processes ``processes(pid)`` names (``pid``'s descendants: a service's compute
    processes) have computed for ``seconds`` of CPU from now (however loaded the machine is,
    which only makes it take longer)."""
    start = cpu_seconds(processes(pid))
    wait_for(lambda: cpu_seconds(processes(pid)) - start > seconds, f"{seconds} s of computing", timeout=60)


@contextlib.contextmanager
def once_computing(pid: int, action: Callable[[], object], seconds: float = 0.2,
                   processes: Callable[[int], List[int]] = descendants) -> Iterator[None]:
    """Within the with-statement, ``action()`` runs in the background once the processes
    ``processes(pid)`` names have computed ``seconds`` of CPU: a point inside the job the
    statement runs, however loaded the machine is (CPU time says how far a job got; the clock
    does not). Leaving the statement waits for it, and fails if the job ended first."""
    start, ended, outcome = cpu_seconds(processes(pid)), threading.Event(), []

    def act() -> None:
        try:
            while not ended.is_set():
                if cpu_seconds(processes(pid)) - start > seconds:
                    outcome.append(action())
                    return
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread instead
            outcome.append(exc)

    thread = threading.Thread(target=act, name="once-computing")
    thread.start()
    try:
        yield
    finally:
        ended.set()
        thread.join()
    if not outcome:
        raise AssertionError(f"the job ended before {pid}'s processes computed {seconds} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]


def wait_idle(pid: int) -> None:
    """Until ``pid``'s descendants use (almost) no CPU for half a second."""
    wait_for(lambda: cpu_used(pid, 0.5) < 0.05, "the compute processes to be idle")


def cpu_seconds(pids) -> float:
    return sum(proc.cpu_seconds(pid) for pid in pids)


@pytest.fixture(scope="module")
def cluster_url():
    """A manager + worker ``ufora-service`` on free ports, shared by one test module."""
    with Service(one_host(2)) as service:
        yield service.url


@pytest.fixture(scope="module")
def ufora(cluster_url):
    """An executor connected to the module's cluster, shared by its tests."""
    import pyfora

    executor = pyfora.connect(cluster_url, progress=False)
    yield executor
    executor.close()


@pytest.fixture
def kernels_compiling_at_first(monkeypatch):
    """Every kernel compiles behind its task's first partition for three looks (one every 64
    items: ``engine.tasks``), then is ready: the CPython-then-compiled path of tiered execution,
    deterministic whatever numba's speed here. The looks made, by task."""
    from ufora.engine import kernels, tasks

    real = kernels.kernel_or_compiling
    looks: Dict[str, int] = {}

    def compiling_at_first(digest, *args, **kwargs):
        looks[digest] = looks.get(digest, 0) + 1
        return kernels.COMPILING if looks[digest] <= 3 else real(digest, *args, **kwargs)

    monkeypatch.setattr(kernels, "kernel_or_compiling", compiling_at_first)
    monkeypatch.setattr(tasks, "LOOK_EVERY", 0.0)
    return looks
