"""The fork-based compute pool: one process per core, forked when a worker starts.

Processes are forked by a zygote that is itself forked before any event loop, thread or
listening socket exists in the worker (tornado's ``fork_processes`` habit), after numba has been
warmed up so that no child pays numba's one-time initialisation; the zygote also forks the
replacement of a process that died. Each child talks to its parent over one duplex pipe (a Unix
socket pair carrying ``engine.frames``) with the pickled messages of ``engine.pool_messages``:

    parent -> child                       child -> parent
    RunBlock                              BlockDone
    RunPartition                          PartitionDone  (its outcome pickled, opaque to the service)
    TaskDone  (to a driver)               RunTask  (from a driver)
    Forget                                Output  (what a block prints)
                                          KernelEvent  (a kernel compiled, loaded from disk, fetched)
                                          KernelWanted  (a kernel to ask a peer for)

A child that runs a block is its *driver*. When the block reaches a parallel shape the driver
sends ``RunTask`` and, while it waits for ``TaskDone``, computes partitions like any other
pool process: it gives its core back instead of sleeping on it. A child exits when its pipe
closes, so a killed worker leaves no orphans.

The parent's end of each pipe is non-blocking (``PoolProcess.put``/``flush``/``messages``), for
an event loop (the worker reads and writes it as a comm, ``net.pool_comm``); a child's end is
blocking.
"""
from __future__ import annotations

import gc
import importlib
import itertools
import logging
import os
import random
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ufora.engine import block as blocks
from ufora.engine import (errors, frames, kernel_cache, kernels, log_records, memory_limits, output, proc,
                          process_settings, serialization, shm, tasks, warned)
from ufora.engine.pool_messages import (BlockDone, ForeignTask, Forget, FromProcess, KernelEvent, KernelWanted, Output,
                                        PartitionDone, RunBlock, RunPartition, RunTask, TaskDone, TaskId, ToProcess)
from ufora.engine.parcels import Parcel

log = logging.getLogger(__name__)


READ_BUDGET = 4 << 20  # bytes read from one pipe per event-loop step (others wait meanwhile)
ZYGOTE_NAME, COMPUTE_NAME = "ufora-zygote", "ufora-compute"  # as ps shows them (proc.set_name)


@dataclass
class PoolProcess:
    """A compute process as its parent sees it: the parent's non-blocking end of its pipe."""
    index: int
    pid: int
    sock: socket.socket
    forked_by: int = 0  # the zygote's pid: only it can say how the process ended
    inbox: frames.Inbox = field(default_factory=frames.Inbox)
    outbox: frames.Outbox = field(default_factory=frames.Outbox)

    def fileno(self) -> int:
        return self.sock.fileno()

    def put(self, message: ToProcess) -> bool:
        """Queue a message and write what the pipe takes now: True when all of it went (else
        ``flush`` again when the pipe is writable). OSError if the process is gone."""
        self.outbox.put(serialization.dumps(message))
        return self.outbox.flush(self.sock)

    def flush(self) -> bool:
        return self.outbox.flush(self.sock)

    def messages(self) -> List[FromProcess]:
        """The messages whole in the pipe now (none if it holds only part of one); EOFError or
        OSError when the process is gone."""
        messages = [serialization.loads(frame) for frame in self.inbox.read(self.sock, READ_BUDGET)]
        for message in messages:
            if isinstance(message, BlockDone):
                message.result.take_over()
        return messages

    def close(self) -> None:
        self.sock.close()


def send(sock: socket.socket, message: FromProcess) -> None:
    """Messages on the pipes carry user values (partials, collected elements, results), whose
    classes may be defined in the block or the client's own modules: the project's cloudpickle
    takes them, plain pickle would not."""
    _write(sock, serialization.dumps(message))


_writing = threading.Lock()  # a child writes from its main thread and its output flusher


def _write(sock: socket.socket, payload: bytes) -> None:
    with _writing:
        frames.write(sock, payload)


def receive(sock: socket.socket) -> ToProcess:
    return serialization.loads(frames.read(sock))


class PipeRunner:
    """The runner of a driver child: partitions are scheduled by the parent over the pipe."""

    def __init__(self, sock: socket.socket, cores: int = 1, always_split: bool = False):
        self.sock = sock
        self.cores, self.always_split = cores, always_split  # engine.runtime.PartitionRunner

    def run_partitions(self, task: bytes, length: int, shareable: bool = False,
                       windows: Sequence[Any] = (), duplicable: bool = False) -> List[Tuple[int, int, Any]]:
        send(self.sock, RunTask(task, length, shareable, list(windows), duplicable))
        while True:
            message = receive(self.sock)
            if isinstance(message, TaskDone):
                return [(lo, hi, tasks.load_outcome(task, outcome)) for lo, hi, outcome in message.outcomes]
            _serve(self.sock, message)


def _serve(sock: socket.socket, message: ToProcess) -> bool:
    """Do what ``message`` asks; False when this process is to exit now (``memory_limits.spent``)."""
    if isinstance(message, (RunPartition, RunBlock)):
        memory_limits.refresh()
    if isinstance(message, RunPartition):
        payload = _held_payload(message.task_id, message.payload)
        foreign = isinstance(message.task_id, ForeignTask)
        with kernels.asking(_asker(sock, message.task_id)):
            outcome = tasks.run_partition(payload, message.lo, message.hi, message.windows, foreign=foreign)
        _write(sock, serialization.dumps(PartitionDone(message.task_id, message.lo, message.hi,
                                                       *_opaque(payload, outcome, foreign))))
    elif isinstance(message, Forget):
        if shm.forget(message.segments):  # held by cyclic garbage (a DataFrame's caches) till the next collection:
            gc.collect()                   # the segment's memory, the file's disk space, are given back now
    elif isinstance(message, RunBlock):
        job_id = message.job_id
        with output.forwarded(lambda pieces: _output(sock, job_id, pieces)):
            result = blocks.run_block(message.block, PipeRunner(sock, message.block.cores,
                                                                      message.block.always_split))
        if _forked:  # a child the block forked, which came back here: it has no one to answer
            os._exit(0)
        result.hand_over()
        _reply(sock, BlockDone(job_id, result))
        del result
        if memory_limits.spent():  # what the block left holds the memory the next blocks need
            log.warning("compute process %d holds most of its memory budget after a block: retired, and replaced",
                        os.getpid())
            return False
    else:
        log.error("compute process got an unknown message %r; ignored", type(message).__name__)
    return True


_held: Tuple[Any, bytes] = (None, b"")  # the last task payload received: (task id, payload)


def _held_payload(task_id: Any, payload: Optional[bytes]) -> bytes:
    """A partition's task payload: the one sent with it, else (None) the one this process was
    sent last for that task, which the scheduler knows it holds."""
    global _held
    if payload is not None:
        _held = (task_id, payload)
    elif _held[0] != task_id:
        raise RuntimeError(f"partition of task {task_id!r} sent without its payload")
    return _held[1]


_forked = False  # set in a child forked by a block (os.fork, multiprocessing)


def _detach_at_fork(sock: socket.socket) -> None:
    """A block may fork (``os.fork``, ``multiprocessing``). The child must never read or write
    this process's pipe: its frames would interleave with ours, or it would take messages meant
    for us. So its copy of the pipe is closed, what it prints goes to the service's log, and
    if it runs to the end of the block it exits there."""
    def before() -> None:  # in the output flusher's order: its batcher's lock, then the pipe's
        output.before_fork()
        _writing.acquire()

    def after_in_parent() -> None:
        _writing.release()
        output.after_fork_in_parent()

    def detach() -> None:
        global _forked, _writing
        _forked = True
        _writing = threading.Lock()  # held across the fork: the child's is new
        output.after_fork_in_child()
        sock.close()
    # No frame is half-written at the fork: the output flusher may be writing one.
    os.register_at_fork(before=before, after_in_parent=after_in_parent, after_in_child=detach)


def _output(sock: socket.socket, job_id: str, pieces: output.Pieces) -> None:
    if _forked:
        shown = {warned.STREAM: warned.shown, log_records.STREAM: log_records.shown}
        os.write(2, "".join(shown[stream](text) if stream in shown else text
                            for stream, text in pieces).encode(errors="replace"))
    else:
        send(sock, Output(job_id, pieces))


def _opaque(payload: bytes, outcome: tasks.Outcome, foreign: bool) -> Tuple[bool, Union[bytes, Parcel], bool]:
    """(whether it stops its task, the outcome pickled for the driver of ``payload``, whether
    numba computed all of it: not a partition begun in CPython while its kernel compiled): the
    worker service schedules on the first, hands the second to the driver as it is, never
    unpickling a user's values (nor running their ``__reduce__``), and reports the third. An
    outcome that cannot be pickled is that error. Its large buffers go through shared memory
    (``engine.parcels``) unless it is a ``foreign`` task's: a peer's, across the network."""
    compiled = (all(piece[2] for *_, piece in outcome[1]) if outcome[0] == tasks.PIECES else outcome[2])
    try:
        return bool(outcome[3]), tasks.outcome_bytes(payload, outcome, as_parcel=not foreign), bool(compiled)
    except Exception as exc:
        failure = errors.capture(TypeError(f"a result could not be sent back: {exc}"))
        return True, serialization.dumps(("error", failure, False, True)), False


def _reply(sock: socket.socket, message: BlockDone) -> None:
    """Send a block's result; one that cannot be pickled goes back as that error, not as a dead
    process."""
    try:
        payload = serialization.dumps(message)
    except Exception as exc:
        failure = errors.capture(TypeError(f"a result could not be sent back: {exc}"))
        payload = serialization.dumps(BlockDone(message.job_id, blocks.BlockResult(error=failure)))
    _write(sock, payload)


def _tell(sock: socket.socket, message: FromProcess) -> None:
    """A message from a thread of this process (its compiles): none from a child a block forked."""
    if not _forked:
        send(sock, message)


def _asker(sock: socket.socket, task_id: TaskId) -> Optional[Callable[[str], None]]:
    """For a partition of a peer's task: how to ask that peer (through the service) for a
    kernel this process lacks (``kernels.asking``)."""
    if not isinstance(task_id, ForeignTask):
        return None
    return lambda name: _tell(sock, KernelWanted(task_id, name))


def _child_main(sock: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    _detach_at_fork(sock)
    random.seed()
    kernel_cache.distinct_symbols()
    kernels.report_to(lambda kind: _tell(sock, KernelEvent(kind)))
    output.pin_own_log_levels()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    while True:
        deferred_for = kernels.deferred_for()
        overdue = deferred_for is not None and deferred_for >= DEFERRED_AT_MOST
        if deferred_for is not None and (overdue or not _message_within(sock, IDLE_BEFORE_COMPILING)):
            kernels.start_deferred_compiles(idle=not overdue)
        try:
            message = receive(sock)
        except (EOFError, OSError):
            return
        if not _serve(sock, message):
            os._exit(memory_limits.RETIRED)


# seconds without a message after which a compute process counts as idle and starts the compiles
# it deferred (engine.kernels): far longer than the gap between two partitions it is handed
IDLE_BEFORE_COMPILING = 0.05
# seconds after which a deferred compile starts even if the process was never idle: its shape
# ended by then (it was deferred for ending sooner: engine.cost.COMPILE_SECONDS), and more work
# keeps coming (blocks one after the other, a shape in a loop), which the kernel will speed up
DEFERRED_AT_MOST = 1.0


def _message_within(sock: socket.socket, seconds: float) -> bool:
    """Whether a message (or the pipe's end) arrives within ``seconds``."""
    return bool(select.select([sock], [], [], seconds)[0])


class ComputePool:
    """The compute processes of one worker, and the *zygote* that forks them.

    The zygote is forked first, before any event loop or thread exists, with numba warmed up
    and the kernel cache's folder (``engine.kernel_cache``) chosen;
    it stays single-threaded and forks a compute process whenever asked, so a process that died
    can be replaced later without forking the worker (which by then has an event loop and
    threads). Each new process's end of its pipe is passed to the worker over a Unix socket
    (SCM_RIGHTS). The zygote reaps its children itself; it exits when the worker closes its
    socket, and the compute processes exit when their pipes close.

    A second zygote, the *standby*, is forked beside it and only waits: if the zygote is killed
    (the kernel's OOM killer may pick it), the standby forks from then on and itself forks a new
    standby, so the worker keeps its cores (before, it stayed registered with no process left,
    failing every block). The zygotes are named ``ufora-zygote`` and the compute processes
    ``ufora-compute`` (``ps``, /proc/<pid>/comm).
    """

    def __init__(self, processes: int, kernel_folder: Optional[str] = None, compile_behind: bool = False,
                 memory: Optional[int] = None, preload: Sequence[str] = (), reaper: bool = False):
        """``memory``: the bytes each compute process may allocate (``memory_limits``), else no limit;
        ``preload``: modules to import before the processes fork (``UFORA_PRELOAD``); ``reaper``:
        this process (a service's, which starts no other child) takes in the processes a zygote
        that died leaves (``check_zygotes`` reaps them), so that they stay below it (``ps``)."""
        if reaper:
            proc.become_subreaper()
        self._reaper = reaper
        self._orphans: Dict[int, int] = {}  # pid -> wait status, of processes taken in and reaped
        kernel_cache.use(kernel_folder)  # None: kernels are compiled in each process (tests)
        kernels.compile_behind(compile_behind)  # only with a folder: where the others find what one compiled
        kernels.warm_up()
        warned.install()
        _preload(process_settings.CLIENT_WARNING_MODULES, missing=log.debug)  # not installed: no filter names them
        _preload(preload)
        shm.become_service()  # inherited: a remote object's segments are ours
        self._primary: Optional[_Zygote] = _forked_zygote(memory)
        self._standby: Optional[_Zygote] = _forked_zygote(memory, self._primary.control)
        self._unreaped: List[int] = []  # zygotes gone, not reaped yet
        self._indices = itertools.count()
        self.processes: Dict[int, PoolProcess] = {}
        for _ in range(processes):
            self.spawn()
        log.info("compute pool: %d processes %s", processes, [p.pid for p in self.processes.values()])

    @property
    def zygote(self) -> int:
        """The pid of the zygote that forks compute processes now (0: none is left)."""
        return self._primary.pid if self._primary is not None else 0

    def spawn(self) -> PoolProcess:
        """A new compute process, forked by the zygote; ``RuntimeError`` if it is gone (killed:
        its socket is closed, or broken as the fork is asked) and so is its standby, which no
        retry mends. A zygote that is gone is replaced by its standby, which forks a new standby
        (a fork of a process with no thread and no event loop, as the first zygote was), so one
        killed zygote does not cost the worker its capacity."""
        self.check_zygotes()
        while self._primary is not None:
            process = self._fork_from(self._primary)
            if process is not None:
                return process
            self._promote()
        raise RuntimeError("the compute pool's zygote is gone")

    def check_zygotes(self) -> None:
        """Replace a zygote found gone (its socket readable: closed) now, not at the next fork:
        a standby that died unnoticed would leave the worker with none when the zygote dies.
        Cheap enough for every progress tick of the worker (two polls of a socket)."""
        self._reap_zygotes()
        if self._standby is not None and not _answers(self._standby.control):
            log.error("the compute pool's standby zygote %d is gone; another is forked", self._standby.pid)
            self._bury(self._standby)
            self._standby = self._sibling()
        if self._primary is not None and not _answers(self._primary.control):
            self._promote()

    def _promote(self) -> None:
        gone, self._primary, self._standby = self._primary, self._standby, None
        if gone is not None:
            self._bury(gone)
        if self._primary is not None:
            log.error("the compute pool's zygote %d is gone: its standby %d forks from now on",
                      gone.pid if gone is not None else 0, self._primary.pid)
            self._standby = self._sibling()

    def _fork_from(self, zygote: "_Zygote") -> Optional[PoolProcess]:
        try:
            zygote.control.sendall(b"fork")
            message, fds, _, _ = socket.recv_fds(zygote.control, 32, 1)
        except (BrokenPipeError, ConnectionResetError):
            fds = []
        if not fds:
            return None
        sock = socket.socket(fileno=fds[0])
        sock.setblocking(False)
        process = PoolProcess(next(self._indices), int(message), sock, zygote.pid)
        self.processes[process.index] = process
        return process

    def _sibling(self) -> Optional["_Zygote"]:
        """A standby zygote forked by the zygote now forking (the first standby is forked at
        start-up, by the worker, as the first zygote): None if that fails (logged)."""
        if self._primary is None:
            return None
        try:
            self._primary.control.sendall(b"zygote")
            message, fds, _, _ = socket.recv_fds(self._primary.control, 32, 1)
        except (BrokenPipeError, ConnectionResetError):
            fds = []
        if not fds:
            log.error("the compute pool's zygote %d could not fork a standby", self._primary.pid)
            return None
        return _Zygote(int(message), socket.socket(fileno=fds[0]))

    def _bury(self, zygote: "_Zygote") -> None:
        """Close a zygote that is gone; the first is our child: reaped (now, or at a later spawn
        or stop once it has exited), so that no zombie is left behind."""
        zygote.control.close()
        self._unreaped.append(zygote.pid)
        self._reap_zygotes()

    def _reap_zygotes(self, block: bool = False, also: Sequence[int] = ()) -> None:
        """Reap the zygotes gone; as a reaper, every child that ended (a service's are its first
        zygotes and what it takes in), keeping the status of those it tracks (``also``: a
        compute process being forgotten) until asked."""
        if self._reaper:
            ended: Dict[int, int] = {}
            _reap_exited(ended)
            tracked = {*self._unreaped, *also, *(process.pid for process in self.processes.values())}
            self._orphans.update((pid, status) for pid, status in ended.items() if pid in tracked)
        for pid in list(self._unreaped):
            if self._orphans.pop(pid, None) is not None:
                self._unreaped.remove(pid)
                continue
            try:
                if os.waitpid(pid, 0 if block else os.WNOHANG)[0] == 0:
                    continue
            except ChildProcessError:  # a standby: its zygote's child, not ours
                pass
            self._unreaped.remove(pid)

    def forget(self, index: int) -> Tuple[PoolProcess, int]:
        """Drop a process that died (its pipe closed): it and its wait status (-1 if unknown),
        reaped by the zygote that forked it (one gone since cannot say)."""
        process = self.processes.pop(index)
        process.close()
        if self._primary is None or process.forked_by != self._primary.pid:
            self._reap_zygotes(also=(process.pid,))
            return process, self._orphans.pop(process.pid, -1)
        try:
            self._primary.control.sendall(f"wait {process.pid}".encode())
            status = int(self._primary.control.recv(32) or -1)
        except (OSError, ValueError):
            status = -1
        return process, status

    def stop(self, timeout: float = 0.2) -> None:
        """Close every pipe and the zygotes' sockets, then make sure every process is gone: an
        idle one exits as its pipe closes; one still computing (a block its service will never
        report) is killed after ``timeout``, so that a service stops at once."""
        for process in self.processes.values():
            process.close()
        zygotes = [z for z in (self._primary, self._standby) if z is not None]
        for zygote in zygotes:
            zygote.control.close()
        deadline = time.monotonic() + timeout
        for pid in [p.pid for p in self.processes.values()]:
            while proc.alive(pid):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.01)
            shm.sweep(pid)  # what a driver killed mid-shape could not release
        for zygote in zygotes:
            try:
                os.waitpid(zygote.pid, 0)
            except ChildProcessError:  # a standby is its zygote's child: it exits as its socket closes
                while proc.alive(zygote.pid) and time.monotonic() < deadline + 5:
                    time.sleep(0.01)
        self._reap_zygotes(block=True)


class _Zygote(NamedTuple):
    pid: int
    control: socket.socket  # the worker's end of its socket


def _forked_zygote(memory: Optional[int], *others: socket.socket) -> _Zygote:
    """A zygote forked from this process (the worker, before any thread or event loop exists):
    ``memory`` is its limit (``memory_limits``), and so every compute process's. ``others``: the
    worker's ends of the zygotes forked before, which it must not hold (a zygote sees its
    worker stop when its socket closes)."""
    control, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with proc.named(ZYGOTE_NAME):
        pid = os.fork()
    if pid == 0:
        for sock in (control, *others):
            sock.close()
        if memory is not None:
            memory_limits.limit(memory)
        _run_zygote(zygote_end)
    zygote_end.close()
    return _Zygote(pid, control)


def _answers(control: socket.socket) -> bool:
    """Whether the zygote at the other end of ``control`` still holds it (nothing waits there
    between requests: readable means closed)."""
    readable, _, _ = select.select([control], [], [], 0)
    return not readable


def _run_zygote(control: socket.socket) -> None:
    """Serve the worker's requests: ``fork`` (a new compute process: its pid, and the parent's
    end of its pipe as SCM_RIGHTS), ``zygote`` (a standby zygote: its pid and the worker's end of
    its socket) and ``wait <pid>`` (the wait status of a process whose pipe closed, or -1 if it
    has not exited within 0.2 s)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = 0
    try:
        reaped: Dict[int, int] = {}  # pid -> wait status, of children no one asked about yet
        while request := control.recv(64):
            _reap_exited(reaped)
            if request.startswith(b"wait "):
                control.sendall(str(_reap(int(request[5:]), reaped)).encode())
                continue
            kind = socket.SOCK_SEQPACKET if request == b"zygote" else socket.SOCK_STREAM
            parent_end, child_end = socket.socketpair(socket.AF_UNIX, kind)
            with proc.named(ZYGOTE_NAME if request == b"zygote" else COMPUTE_NAME):
                pid = os.fork()
            if pid == 0:
                control.close()
                parent_end.close()
                if request == b"zygote":  # a standby: a copy of this zygote, serving its own socket
                    _run_zygote(child_end)
                _run_child(child_end)
            child_end.close()
            socket.send_fds(control, [str(pid).encode()], [parent_end.fileno()])
            parent_end.close()
    except BaseException:
        log.exception("the compute pool's zygote failed")
        code = 1
    finally:
        # The worker is gone (killed: then nobody else would): so are its remote objects, whose
        # segments would otherwise hold their memory until the host reboots. Not while it lives: a
        # zygote also ends as a standby whose zygote died before handing it over, or on an error.
        if not proc.alive(shm.service_pid):
            shm.sweep_service(shm.service_pid)
        os._exit(code)


def _preload(modules: Sequence[str], missing: Callable[..., None] = log.warning) -> None:
    """Import ``modules`` once, before the fork, for every compute process; one that fails is
    logged (with ``missing``) and left out (its blocks import it, or fail to, as they would have)."""
    for name in modules:
        began = time.monotonic()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure: a block that imports it says why
            missing("UFORA_PRELOAD: cannot import %s (%s); left out", name, exc)
        else:
            log.info("UFORA_PRELOAD: imported %s in %.2f s", name, time.monotonic() - began)


def _reap_exited(reaped: Dict[int, int]) -> None:
    """Reap every child that has exited (none stays a zombie), keeping its status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        reaped[pid] = status


def _reap(pid: int, reaped: Dict[int, int], patience: float = 0.2) -> int:
    """The wait status of a child that is exiting (its pipe closed), or -1 if it has not
    exited within ``patience`` seconds (it is reaped later, by ``_reap_exited``)."""
    deadline = time.monotonic() + patience
    while pid not in reaped and time.monotonic() < deadline:
        time.sleep(0.001)
        _reap_exited(reaped)
    return reaped.pop(pid, -1)


def _run_child(sock: socket.socket) -> None:
    code = 0
    try:
        _child_main(sock)
    except BaseException:
        log.exception("compute process %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)
