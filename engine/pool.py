"""The fork-based compute pool: one process per core, forked when a worker starts.

Processes are forked by a zygote that is itself forked before any event loop, thread or
listening socket exists in the worker (tornado's ``fork_processes`` habit), after numba has been
warmed up so that no child pays numba's one-time initialisation; the zygote also forks the
replacement of a process that died. Each child talks to its parent over one duplex pipe with pickled tuples:

    parent -> child                       child -> parent
    ("block", job_id, Block)              ("block_done", job_id, BlockResult)
    ("partition", task_id, task, lo, hi, windows)   ("partition_done", task_id, lo, hi, outcome)
                                          (windows: bytes of the task's shared arrays, for a
                                          partition of another worker's task; else empty)
    ("task_done", outcomes)               ("run_task", task, length, shareable, windows)
                                          (while driving; windows: engine.sources.Window)
    ("forget", [segment names])           (none: a remote object's segments to unmap)
                                          ("output", job_id, stream, text)  (what the block prints)

A child that runs a block is its *driver*. When the block reaches a parallel shape the driver
sends ``run_task`` and, while it waits for ``task_done``, computes partitions like any other
pool process: it gives its core back instead of sleeping on it. A child exits when its pipe
closes, so a killed worker leaves no orphans.
"""
from __future__ import annotations

import itertools
import logging
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Dict, List, Sequence, Tuple

from engine import block as blocks
from engine import errors, kernels, output, serialization, shm, tasks

log = logging.getLogger(__name__)


@dataclass
class PoolProcess:
    index: int
    pid: int
    conn: Connection

    def send(self, message: tuple) -> None:
        send(self.conn, message)

    def receive(self) -> tuple:
        message = receive(self.conn)
        if message[0] == "block_done":
            message[2].take_over()
        return message


def send(conn: Connection, message: tuple) -> None:
    """Messages on the pipes carry user values (partials, collected elements, results), whose
    classes may be defined in the block or the client's own modules: the project's cloudpickle
    takes them, plain pickle would not."""
    conn.send_bytes(serialization.dumps(message))


def receive(conn: Connection) -> tuple:
    return serialization.loads(conn.recv_bytes())


class PipeRunner:
    """The runner of a driver child: partitions are scheduled by the parent over the pipe."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def run_partitions(self, task: bytes, length: int, shareable: bool = False,
                       windows: Sequence[Any] = ()) -> List[Tuple[int, int, Any]]:
        send(self.conn, ("run_task", task, length, shareable, list(windows)))
        while True:
            message = receive(self.conn)
            if message[0] == "task_done":
                return message[1]
            _serve(self.conn, message)


def _serve(conn: Connection, message: tuple) -> None:
    kind = message[0]
    if kind == "partition":
        _, task_id, task, lo, hi, windows = message
        _reply(conn, ("partition_done", task_id, lo, hi, tasks.run_partition(task, lo, hi, windows)))
    elif kind == "forget":
        shm.forget(message[1])
    elif kind == "block":
        _, job_id, block = message
        with output.forwarded(lambda stream, text: send(conn, ("output", job_id, stream, text))):
            result = blocks.run_block(block, PipeRunner(conn))
        result.hand_over()
        _reply(conn, ("block_done", job_id, result))
    else:
        log.error("compute process got an unknown message %r; ignored", kind)


def _reply(conn: Connection, message: tuple) -> None:
    """Send a result; one that cannot be pickled goes back as that error, not as a dead process."""
    try:
        payload = serialization.dumps(message)
    except Exception as exc:
        kind, key = message[0], message[1]
        failure = errors.capture(TypeError(f"a result could not be sent back: {exc}"))
        if kind == "partition_done":
            payload = serialization.dumps((*message[:4], ("error", failure, False, True)))
        else:
            payload = serialization.dumps((kind, key, blocks.BlockResult(error=failure)))
    conn.send_bytes(payload)


def _child_main(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    while True:
        try:
            message = receive(conn)
        except (EOFError, OSError):
            return
        _serve(conn, message)


class ComputePool:
    """The compute processes of one worker, and the *zygote* that forks them.

    The zygote is forked first, before any event loop or thread exists, with numba warmed up;
    it stays single-threaded and forks a compute process whenever asked, so a process that died
    can be replaced later without forking the worker (which by then has an event loop and
    threads). Each new process's end of its pipe is passed to the worker over a Unix socket
    (SCM_RIGHTS). The zygote reaps its children itself; it exits when the worker closes its
    socket, and the compute processes exit when their pipes close.
    """

    def __init__(self, processes: int):
        kernels.warm_up()
        shm.service_pid = os.getpid()  # inherited: a remote object's segments are ours
        self._control, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.zygote = os.fork()
        if self.zygote == 0:
            self._control.close()
            _run_zygote(zygote_end)
        zygote_end.close()
        self._indices = itertools.count()
        self.processes: Dict[int, PoolProcess] = {}
        for _ in range(processes):
            self.spawn()
        log.info("compute pool: %d processes %s", processes, [p.pid for p in self.processes.values()])

    def spawn(self) -> PoolProcess:
        """A new compute process, forked by the zygote."""
        self._control.sendall(b"fork")
        message, fds, _, _ = socket.recv_fds(self._control, 32, 1)
        if not fds:
            raise RuntimeError("the compute pool's zygote is gone")
        process = PoolProcess(next(self._indices), int(message), Connection(fds[0]))
        self.processes[process.index] = process
        return process

    def forget(self, index: int) -> PoolProcess:
        """Drop a process that died (its pipe closed); the zygote has reaped it."""
        process = self.processes.pop(index)
        process.conn.close()
        return process

    def stop(self, timeout: float = 2.0) -> None:
        """Close every pipe and the zygote's socket, then make sure every process is gone."""
        for process in self.processes.values():
            process.conn.close()
        self._control.close()
        deadline = time.monotonic() + timeout
        for pid in [p.pid for p in self.processes.values()]:
            while os.path.exists(f"/proc/{pid}") and _alive(pid):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.01)
            shm.sweep(pid)  # what a driver killed mid-shape could not release
        try:
            os.waitpid(self.zygote, 0)
        except ChildProcessError:
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run_zygote(control: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    code = 0
    try:
        while control.recv(16):
            parent_end, child_end = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                control.close()
                parent_end.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _run_child(Connection(child_end.detach()))
            child_end.close()
            socket.send_fds(control, [str(pid).encode()], [parent_end.fileno()])
            parent_end.close()
    except BaseException:
        log.exception("the compute pool's zygote failed")
        code = 1
    finally:
        # The worker is gone (stopped, or killed: then nobody else would): so are its remote
        # objects, whose segments would otherwise hold their memory until the host reboots.
        shm.sweep(shm.service_pid)
        os._exit(code)


def _run_child(conn: Connection) -> None:
    code = 0
    try:
        _child_main(conn)
    except BaseException:
        log.exception("compute process %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)
