"""The memory a compute process may allocate (``UFORA_WORKER_MEMORY``), and what a block that
needs more is told.

Without a limit, a block that builds a list larger than the worker's memory (or its container's
limit) grew until the kernel's out-of-memory killer ended its process with SIGKILL: the block
failed as an ``InternalError`` ("the process running this block died"), after being run again
once and killing a second process. CPython on a machine (or under a limit) that cannot hold the
list raises ``MemoryError`` where the allocation fails, which the program can catch.

So each compute process runs under ``RLIMIT_DATA``: past it, ``malloc`` and anonymous ``mmap``
fail, and Python, numpy and numba raise ``MemoryError`` at that allocation, in the block, as
CPython does; the process stays alive and serves the next block. What escapes the block carries a
note naming the limit (``explain``): the exception's type and text stay CPython's.

The limit is the worker's budget (``UFORA_WORKER_MEMORY``, set in the pool's zygote: ``limit``),
lowered as each block or partition starts (``refresh``) to what the process holds plus 90% of the
memory available then (the host's, or its cgroup's limit less what the cgroup uses: the service,
the other compute processes, a client beside them). A budget alone let one process take 80% of a
1.5 GiB cgroup while the others held 0.5 GiB: the kernel killed it all the same.

The limit counts each process's private writable memory, whether touched or not (an
``np.empty`` of 10 GB counts as 10 GB), and not shared memory (``/dev/shm`` segments: a shape's
gathered results, remote objects). Two processes that start allocating together both see the
same memory available: together they may still exceed it.
"""
from __future__ import annotations

import resource
import time
from typing import Optional

from ufora.engine import host_memory

_budget: Optional[int] = None  # the worker's UFORA_WORKER_MEMORY, in this process (None: no limit)
_refreshed = 0.0  # when ``refresh`` last read the memory available (monotonic seconds)
_REFRESH_EVERY = 0.05  # seconds: a trivial block pays no file reads when blocks follow each other
_AT_LEAST = 64 << 20  # above what a process holds, whatever is available: its own bookkeeping must run
_OF_AVAILABLE = 0.9


def limit(nbytes: int) -> None:
    """Let this process (and those it forks from now on) allocate at most ``nbytes``."""
    global _budget
    _budget = nbytes
    _set(nbytes)


def refresh() -> None:
    """As a block or partition starts: the limit is the budget, or less where the memory
    available now is less (what this process holds, plus 90% of the rest available)."""
    global _refreshed
    now = time.monotonic()
    if _budget is None or now - _refreshed < _REFRESH_EVERY:
        return
    _refreshed = now
    held = host_memory.data_held()
    if held is None:
        return
    try:
        room = host_memory.available()
    except (OSError, KeyError):
        return
    _set(min(_budget, held + max(_AT_LEAST, int(room * _OF_AVAILABLE))))


def _set(nbytes: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        nbytes = min(nbytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (nbytes, hard))


def current() -> Optional[int]:
    """This process's limit, if it has one."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else soft


def explain(exc: BaseException) -> None:
    """Add a note to a ``MemoryError`` that leaves a block under a limit: which limit it met, and
    how to raise it (the exception's type and message stay as CPython's)."""
    cap = current()
    if not isinstance(exc, MemoryError) or cap is None:
        return
    exc.add_note(f"(ufora) this compute process was limited to {cap / 2**30:.2f} GiB of memory: the worker's "
                 f"UFORA_WORKER_MEMORY ({(_budget or cap) / 2**30:.2f} GiB), or less where less was available as "
                 "the block started; the block needed more")
