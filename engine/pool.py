"""The fork-based compute pool: one process per core, forked when a worker starts.

Fork happens before any event loop, thread or listening socket exists in the parent (tornado's
``fork_processes`` habit), after numba has been warmed up so that no child pays numba's one-time
initialisation. Each child talks to its parent over one duplex pipe with pickled tuples:

    parent -> child                       child -> parent
    ("block", job_id, Block)              ("block_done", job_id, BlockResult)
    ("partition", task_id, task, lo, hi)  ("partition_done", task_id, lo, hi, outcome)
    ("task_done", outcomes)               ("run_task", task, length, shareable)  (while driving)

A child that runs a block is its *driver*. When the block reaches a parallel shape the driver
sends ``run_task`` and, while it waits for ``task_done``, computes partitions like any other
pool process: it gives its core back instead of sleeping on it. A child exits when its pipe
closes, so a killed worker leaves no orphans.
"""
from __future__ import annotations

import logging
import os
import random
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from typing import Any, List, Tuple

from engine import block as blocks
from engine import kernels, tasks

log = logging.getLogger(__name__)


@dataclass
class PoolProcess:
    index: int
    pid: int
    conn: Connection


class PipeRunner:
    """The runner of a driver child: partitions are scheduled by the parent over the pipe."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def run_partitions(self, task: bytes, length: int, shareable: bool = False) -> List[Tuple[int, int, Any]]:
        self.conn.send(("run_task", task, length, shareable))
        while True:
            message = self.conn.recv()
            if message[0] == "task_done":
                return message[1]
            _serve(self.conn, message)


def _serve(conn: Connection, message: tuple) -> None:
    kind = message[0]
    if kind == "partition":
        _, task_id, task, lo, hi = message
        conn.send(("partition_done", task_id, lo, hi, tasks.run_partition(task, lo, hi)))
    elif kind == "block":
        _, job_id, block = message
        conn.send(("block_done", job_id, blocks.run_block(block, PipeRunner(conn))))
    else:
        log.error("compute process got an unknown message %r; ignored", kind)


def _child_main(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        _serve(conn, message)


def fork_pool(processes: int) -> List[PoolProcess]:
    """Fork ``processes`` compute processes; call before any event loop or thread exists."""
    kernels.warm_up()
    pool = []
    for index in range(processes):
        parent_end, child_end = Pipe(duplex=True)
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            for other in pool:
                other.conn.close()
            code = 0
            try:
                _child_main(child_end)
            except BaseException:
                log.exception("compute process %d failed", index)
                code = 1
            finally:
                os._exit(code)
        child_end.close()
        pool.append(PoolProcess(index, pid, parent_end))
    log.info("compute pool: %d processes %s", processes, [p.pid for p in pool])
    return pool


def stop_pool(pool: List[PoolProcess], timeout: float = 2.0) -> None:
    """Close every pipe (children exit on EOF), then make sure each child is gone."""
    import time

    for process in pool:
        process.conn.close()
    deadline = time.monotonic() + timeout
    for process in pool:
        while True:
            try:
                done, _ = os.waitpid(process.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(process.pid, signal.SIGKILL)
                os.waitpid(process.pid, 0)
                break
            time.sleep(0.01)
