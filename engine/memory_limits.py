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

The budget counts what blocks allocate, beyond the memory every compute process starts with
(numba and numpy, about 230 MB, held since the zygote). A process that still holds most of its
budget after a block (``spent``: threads the block left running, memory a failed allocation
leaked) is retired and replaced. A block's ``MemoryError`` is described, and kernels compile,
with 256 MiB lent above the limit (``reserve``): without it, describing the error failed for lack
of memory and killed the process, and numba's compiler aborted it.

The limit counts each process's private writable memory, whether touched or not (an
``np.empty`` of 10 GB counts as 10 GB), and not shared memory (``/dev/shm`` segments: a shape's
gathered results, remote objects); but partitions' outcomes that arrive in shared memory
(``engine.parcels``) count with it (``has_room``): a block that would hold more fails with
``MemoryError``, as when they arrived pickled. Two processes that start allocating together both see the
same memory available: together they may still exceed it.
"""
from __future__ import annotations

import contextlib
import gc
import os
import resource
import threading
import time
from typing import Iterator, Optional

from ufora.engine import host_memory

_cap: Optional[int] = None  # what this process may hold: what it held at the zygote, plus the budget (None: no limit)
_budget = 0  # the worker's UFORA_WORKER_MEMORY
_refreshed = 0.0  # when ``refresh`` last read the memory available (monotonic seconds)
_REFRESH_EVERY = 0.05  # seconds: a trivial block pays no file reads when blocks follow each other
_AT_LEAST = 64 << 20  # above what a process holds, whatever is available: its own bookkeeping must run
_OF_AVAILABLE = 0.9
_RESERVE = 256 << 20  # lent while a failed block's exception is described, and while a kernel compiles
_SPENT = 0.75  # a process holding this share of its budget after a block is retired (``spent``)
RETIRED = 75  # the exit code of a process retired so (EX_TEMPFAIL): its service replaces it as a matter of course
_limit = 0  # the limit ``limit`` or ``refresh`` set last, before what ``reserve`` lends
_lent = 0  # reserves lent now (a block's error described, kernels compiling in threads)
_lending = threading.Lock()


def _new_lock_in_child() -> None:
    """A child forked while another thread held ``_lending`` (a kernel's compile child,
    ``engine.compile_apart``, forked as the main thread refreshed the limit) would wait for it
    for ever: the child's is new."""
    global _lending
    _lending = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def limit(nbytes: int) -> None:
    """Let this process (and those it forks from now on) allocate ``nbytes`` more than it holds
    now: the compute pool's zygote, whose memory (numba, numpy: about 230 MB) every compute
    process starts with, is not the blocks' (a user's trial: 48 MB failed under 256M)."""
    global _cap, _budget
    with _lending:
        _budget = nbytes
        _cap = (host_memory.data_held() or 0) + nbytes
        _set(_cap)


def refresh() -> None:
    """As a block or partition starts: the limit is the budget, or less where the memory
    available now is less (what this process holds, plus 90% of the rest available)."""
    global _refreshed
    now = time.monotonic()
    if _cap is None or now - _refreshed < _REFRESH_EVERY:
        return
    _refreshed = now
    held = host_memory.data_held()
    if held is None:
        return
    try:
        room = host_memory.available()
    except (OSError, KeyError):
        return
    with _lending:  # (a kernel compiling in a thread may be lending a reserve now)
        _set(min(_cap, held + max(_AT_LEAST, int(room * _OF_AVAILABLE))))


def has_room(nbytes: int) -> bool:
    """Whether this process may hold ``nbytes`` more than its private memory now: shared memory
    a block maps as its own values (``engine.parcels``) counts against its budget too."""
    if _cap is None:
        return True
    held = host_memory.data_held()
    return held is None or held + nbytes <= _limit


def spent() -> bool:
    """Whether this process still holds most of its budget after a block, even once its cycles
    are collected (what a block left behind: threads still running, memory a failed allocation
    leaked, a fragmented heap): then it is retired and a fresh one takes its place, or every later
    block sent to it would fail."""
    return _holds_most() and gc.collect() >= 0 and _holds_most()


def _holds_most() -> bool:
    held = host_memory.data_held()
    return _cap is not None and held is not None and held - (_cap - _budget) > _SPENT * _budget


@contextlib.contextmanager
def reserve() -> Iterator[None]:
    """Lend ``_RESERVE`` more above the limit while the body runs: describing a block's
    MemoryError (its traceback, its source lines) with the block's values still held failed for
    lack of memory, and the process died; numba's compiler aborts the process when it cannot
    allocate (``LLVM ERROR: Unable to allocate section memory``)."""
    global _lent
    if _cap is None:
        yield
        return
    with _lending:
        _lent += 1
        _set(_limit)
    try:
        yield
    finally:
        with _lending:
            _lent -= 1
            _set(_limit)


def explain(exc: BaseException) -> None:
    """Add a note to a ``MemoryError`` that leaves a block under a limit, as an allocation raises
    it (no message, or numpy's "Unable to allocate"): which limit there was (the exception's type
    and message stay as CPython's); not to one the block raised with words of its own."""
    if not isinstance(exc, MemoryError) or _cap is None or (exc.args and "Unable to allocate" not in str(exc)) \
            or any(note.startswith("(ufora)") for note in getattr(exc, "__notes__", ())):
        return
    exc.add_note(f"(ufora) this compute process could allocate {(_limit - _cap + _budget) / 2**30:.2f} GiB for "
                 f"blocks: the worker's UFORA_WORKER_MEMORY ({_budget / 2**30:.2f} GiB), or less where less was "
                 "available as the block started")


def _set(nbytes: int) -> None:
    """Make ``nbytes`` the limit, plus what ``reserve`` lends now (called holding ``_lending``)."""
    global _limit
    _limit = nbytes
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = nbytes + _lent * _RESERVE
    resource.setrlimit(resource.RLIMIT_DATA, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
