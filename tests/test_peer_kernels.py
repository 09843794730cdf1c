"""A worker takes a kernel from the peer that has it instead of compiling it (issue 16, a
cluster-wide kernel cache): the process computing a peer's partition asks that peer, through its
service, for the kernel-cache entry it lacks; the bytes are checked exactly as a file of its own,
kept, and used; damaged, foreign or missing ones are refused with a clear error and the kernel
is compiled here. First piece by piece (the process's side, the frames, the scheduler), then
two real workers over real sockets."""
import asyncio
import hashlib
import logging
import os
import pickle

import pytest

import pyfora
from ufora.engine import kernel_cache, kernels, reducers, scheduler
from ufora.engine.pool_messages import ForeignTask, KernelWanted
from ufora.engine.scheduler import (DeliverKernel, FetchKernel, KernelFetched, KernelNotFetched, PeerKernelWanted,
                                    ProcessSaid, SendKernel)
from ufora.engine.sources import RangeSource
from ufora.net.peers import Peers, event, kernel_answer
from tests.conftest import MANAGER_ONLY, joining, manager_status, wait_for
from tests.primes import isPrime

SOURCE = RangeSource(range(1000))


def triple_kernel():
    """The kernel of ``sum(x * 3 for x in range(1000))``: COMPILING, or the kernel."""
    return kernels.kernel_or_compiling("times 3 from a peer", reducers.Sum, SOURCE, triple, None, None)


def triple(x):
    return x * 3


@pytest.fixture
def peer_folder(tmp_path):
    """A peer's kernel folder holding the kernel of ``triple_kernel``, compiled by a forked
    process (as a compute process of the peer would: this one must not have it in memory)."""
    folder = str(tmp_path / "peer")
    os.mkdir(folder)
    pid = os.fork()
    if pid == 0:
        try:
            kernel_cache.use(folder)
            kernel_cache.distinct_symbols()
            triple_kernel()
        finally:
            os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    [entry] = kernel_entries(folder)
    return folder, entry[:-len(kernel_cache.SUFFIX)]


@pytest.fixture
def behind(tmp_path):
    """This process compiles behind with an empty kernel folder of its own; what it reports."""
    folder = tmp_path / "here"
    folder.mkdir()
    events: list = []
    kernel_cache.use(str(folder))
    kernels.compile_behind(True)
    kernels.report_to(events.append)
    kernels._cache.clear()
    yield events
    assert kernels.join_background_compiles(60)
    kernels.compile_behind(False)
    kernels.report_to(lambda kind: None)
    kernel_cache.use(None)
    kernels._cache.clear()


def answered_with(bytes_for):
    """What the service does when a process asks (``kernels.asking``): deliver ``bytes_for(name)``
    to the kernel folder. The names asked for."""
    asked = []

    def ask(name):
        asked.append(name)
        kernel_cache.deliver(name, bytes_for(name))
    return ask, asked


def peer_bytes(folder):
    def read(name):
        with open(os.path.join(folder, name + kernel_cache.SUFFIX), "rb") as file:
            return file.read()
    return read


def computed(kernel) -> int:
    return kernel.function(*SOURCE.kernel_arguments(), 0, 1000)[2]


def wait_compiled():
    """The kernel once this process's background work (fetch or compile) has finished."""
    assert kernels.join_background_compiles(60)
    kernel = triple_kernel()
    assert kernel is not kernels.COMPILING and kernel is not None
    return kernel


def test_a_kernel_the_peer_has_is_taken_not_compiled(peer_folder, behind):
    folder, name = peer_folder
    ask, asked = answered_with(peer_bytes(folder))
    with kernels.asking(ask):
        assert triple_kernel() is kernels.COMPILING  # the partition runs in CPython meanwhile
    assert computed(wait_compiled()) == 3 * 499500
    assert asked == [name] and behind == ["fetched"]  # never compiled here
    assert kernel_entries(kernel_cache.folder()) == [name + kernel_cache.SUFFIX]  # kept: the next process loads it


def tampered(data: bytes) -> bytes:
    """One byte of the object code flipped: its checksum no longer matches."""
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    return bytes(changed)


def foreign(data: bytes) -> bytes:
    """A well-formed entry, checksum and all, made by another numba (another fingerprint)."""
    _, key, frozen = pickle.loads(data[len(kernel_cache.MAGIC) + 32:])
    body = pickle.dumps(("numba 0.1 on another CPU", key, frozen))
    return kernel_cache.MAGIC + hashlib.sha256(body).digest() + body


@pytest.mark.parametrize("spoil, reason", [
    (tampered, "its checksum does not match its contents"),
    (foreign, "it was made by another Python, numba, llvmlite, numpy, CPU or engine"),
    (lambda data: data[:len(data) // 3], "its checksum does not match its contents"),
    (lambda data: b"\x80\x04hostile", "not a kernel cache file of this release"),
])
def test_a_damaged_foreign_or_truncated_kernel_is_refused_and_compiled_here(peer_folder, behind, caplog,
                                                                             spoil, reason):
    folder, name = peer_folder
    ask, _ = answered_with(lambda name: spoil(peer_bytes(folder)(name)))
    with caplog.at_level(logging.ERROR, logger="ufora.engine.kernel_cache"), kernels.asking(ask):
        assert triple_kernel() is kernels.COMPILING
        assert computed(wait_compiled()) == 3 * 499500
    assert behind == ["compiled"]
    assert f"from the peer cannot be used ({reason}); compiling it here" in caplog.text
    with open(os.path.join(kernel_cache.folder(), name + kernel_cache.SUFFIX), "rb") as file:
        assert file.read() != spoil(peer_bytes(folder)(name))  # ours, not the peer's, is kept


def test_a_kernel_the_peer_lacks_is_compiled_here(behind):
    ask, asked = answered_with(lambda name: None)
    with kernels.asking(ask):
        assert triple_kernel() is kernels.COMPILING
    assert computed(wait_compiled()) == 3 * 499500
    assert len(asked) == 1 and behind == ["compiled"]


def test_a_peer_is_served_entries_and_nothing_else_of_the_folder(peer_folder, tmp_path):
    folder, name = peer_folder
    (tmp_path / "secret").write_text("not a kernel")
    kernel_cache.use(folder)
    try:
        assert kernel_cache.entry_bytes(name) == peer_bytes(folder)(name)
        for hostile in ["../secret", name.upper(), name + ".lock", "", "0" * 64, name[:-1] + "/"]:
            assert kernel_cache.entry_bytes(hostile) is None, hostile
    finally:
        kernel_cache.use(None)


# ---- the frames and the scheduler ------------------------------------------------------------
def test_kernel_frames_are_read_or_refused():
    name = "ab" * 32
    assert event("B", {"type": "kernel_wanted", "task_id": 3, "name": name}, []) == PeerKernelWanted("B", 3, name)
    assert kernel_answer({"name": name, "found": True}, [b"entry"]) == (name, b"entry")
    assert kernel_answer({"name": name, "found": False}, []) == (name, None)
    for header, buffers in [({"name": name, "found": True}, []),          # truncated: the bytes are missing
                            ({"name": name, "found": False}, [b"x"]),
                            ({"name": name, "found": "yes"}, [b"x"]),
                            ({"name": ["not", "a", "name"], "found": False}, []),
                            ({"found": True}, [b"x"])]:
        with pytest.raises((KeyError, TypeError, ValueError)):
            kernel_answer(header, buffers)
    with pytest.raises(TypeError):
        event("B", {"type": "kernel_wanted", "task_id": 3, "name": 7}, [])


def test_the_scheduler_asks_the_peer_and_hands_its_answer_to_the_process():
    pool = scheduler.PoolScheduler(1)
    name = "cd" * 32
    assert pool.handle(ProcessSaid(0, KernelWanted(ForeignTask("A", 5), name))) == [FetchKernel("A", 5, name)]
    assert pool.handle(KernelFetched(name, b"entry")) == [DeliverKernel(name, b"entry")]
    assert pool.handle(KernelNotFetched(name)) == [DeliverKernel(name, None)]
    assert pool.handle(PeerKernelWanted("B", 5, name)) == [SendKernel("B", 5, name)]
    pool.validate_state()


class FakeChannel:
    """A channel to peer A that keeps what is written to it."""
    def __init__(self):
        self.written = []

    async def write(self, header, buffers=()):
        self.written.append((header, list(buffers)))


def fetching(answer_header, answer_buffers):
    """Peers asking A for a kernel, A answering with this frame: the instructions the answer led
    to, what was written to A."""
    async def scenario():
        tasks, dispatched = [], []
        peers = Peers("B", "key", scheduler.PoolScheduler(1), dict, None, dispatched.extend,
                      lambda coroutine: tasks.append(asyncio.ensure_future(coroutine)), None, None)
        channel = peers.channels["A"] = FakeChannel()
        peers.carry_out(FetchKernel("A", 4, NAME))
        while not channel.written:
            await asyncio.sleep(0)
        peers.handle(channel, "A", {"type": "kernel", "worker": "A", "task_id": 4, **answer_header}, answer_buffers)
        await asyncio.gather(*tasks)
        return dispatched, channel.written

    return asyncio.run(scenario())


NAME = "ef" * 32


def test_a_peer_s_answer_goes_to_the_process_and_a_malformed_one_counts_as_none(caplog):
    dispatched, written = fetching({"name": NAME, "found": True}, [b"the entry"])
    assert written == [({"type": "kernel_wanted", "worker": "B", "task_id": 4, "name": NAME}, [])]
    assert dispatched == [DeliverKernel(NAME, b"the entry")]
    assert fetching({"name": NAME, "found": False}, [])[0] == [DeliverKernel(NAME, None)]
    with caplog.at_level(logging.WARNING, logger="ufora.net.peers"):
        assert fetching({"name": NAME, "found": True}, [])[0] == [DeliverKernel(NAME, None)]  # truncated
    assert "could not be fetched from worker A (a malformed kernel message" in caplog.text


def test_an_answer_no_fetch_waits_for_is_dropped(caplog):
    async def scenario():
        dispatched = []
        peers = Peers("B", "key", scheduler.PoolScheduler(1), dict, None, dispatched.extend, None, None, None)
        peers.handle(FakeChannel(), "A", {"type": "kernel", "worker": "A", "task_id": 4, "name": NAME, "found": True},
                     [b"pushed"])
        return dispatched

    with caplog.at_level(logging.WARNING, logger="ufora.net.peers"):
        assert asyncio.run(scenario()) == []
    assert f"worker A sent kernel {NAME[:12]}, which no fetch waits for; dropped" in caplog.text


# ---- two workers over real sockets ------------------------------------------------------------
N = 2_000_000
PRIMES = 148_935  # CPython's sum(isPrime(x) for x in range(N)) (0 and 1 count, as in the tutorial)


def members(manager) -> dict:
    return {member["id"]: member for member in manager_status(manager.url)["members"]}


def kernel_entries(folder) -> list:
    return [name for name in os.listdir(folder) if name.endswith(kernel_cache.SUFFIX)]


def worker(start_service, manager, folder):
    """A one-core worker-only service keeping its kernels in ``folder``, splitting every shape."""
    os.makedirs(folder, exist_ok=True)
    return start_service({**joining(manager, 1), "UFORA_KERNEL_CACHE_DIR": str(folder), "UFORA_SPLIT": "always"})


def tutorial(ufora, n) -> int:
    """The tutorial's shape, the same block each time (a block's element function is made from
    its source at its line: another line would be another kernel)."""
    with ufora.remotely.downloadAll():
        primes = sum(isPrime(x) for x in range(n))
    return primes


@pytest.mark.parametrize("spoil", [None, tampered, foreign])
def test_a_fresh_worker_helping_a_peer_takes_its_kernel_instead_of_compiling(start_service, tmp_path, spoil):
    manager = start_service(MANAGER_ONLY)
    worker(start_service, manager, tmp_path / "a")
    wait_for(lambda: manager_status(manager.url)["workers"] == 1, "worker A to join")
    with pyfora.connect(manager.url, progress=False) as ufora:
        with ufora.remotely:
            n = N  # held by A: the blocks that read it are driven by A
        assert tutorial(ufora, n) == PRIMES
        wait_for(lambda: kernel_entries(tmp_path / "a"), "A's kernel on its disk", timeout=60)
        [entry] = kernel_entries(tmp_path / "a")
        if spoil is not None:  # what A serves; A itself keeps its kernel in memory
            path = tmp_path / "a" / entry
            path.write_bytes(spoil(path.read_bytes()))

        a_id = set(members(manager))
        b = worker(start_service, manager, tmp_path / "b")
        wait_for(lambda: manager_status(manager.url)["workers"] == 2, "worker B to join")
        [b_id] = set(members(manager)) - a_id
        assert tutorial(ufora, n) == PRIMES

    def b_has_its_kernel() -> bool:  # counters travel with the next heartbeat
        stats = members(manager)[b_id]
        return stats.get("foreign_partitions", 0) > 0 and stats["kernels_compiled"] + stats["kernels_fetched"] > 0
    wait_for(b_has_its_kernel, "B to compute A's partitions with a kernel of its own", timeout=60)
    stats = members(manager)[b_id]
    assert kernel_entries(tmp_path / "b") == [entry]
    if spoil is None:
        assert (stats["kernels_fetched"], stats["kernels_compiled"]) == (1, 0), stats
        assert (tmp_path / "b" / entry).read_bytes() == (tmp_path / "a" / entry).read_bytes()
    else:
        assert (stats["kernels_fetched"], stats["kernels_compiled"]) == (0, 1), stats
        assert "cannot be used" in b.log and "compiling it here" in b.log
        assert (tmp_path / "b" / entry).read_bytes() != (tmp_path / "a" / entry).read_bytes()
