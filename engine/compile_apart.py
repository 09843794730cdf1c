"""A compile deferred until its process was idle (``engine.kernels``: a short shape's kernel, for
its next run), run in a child process at the lowest priority.

Why not in a thread of the compute process, as before: numba's compile is mostly Python (typing,
lowering) and holds the GIL. On two cores a compile of 0.3-1.5 s behind a shape slowed the
shape's own CPython partitions, and the next blocks: a 200,000-item palindrome count took
0.05-0.07 s for each of its shapes for the second after its first run (0.03 s as written, 0.02 s
split once the kernel was there). A child forked from the compiling thread holds everything the
compile needs (the functions, their types, numba's state warmed up before the pool forked) and
shares no GIL with the partitions, and at nice 19 (``NICE``) it gets about 1/70 of a core that
computes partitions, and all of whatever the cores leave idle. A deferred compile that a shape
wants after all (it ran again before its process was ever idle: blocks back to back) runs in such
a child at the process's own priority (``WANTED_NICE``): at the lowest one starved while
partitions filled two cores (a `min` over 1M tuples ran as CPython partitions on each of 5 runs
in a row, 0.15-0.25 s, where its kernel takes 0.02 s), and in a thread it shared the interpreter
lock with them. A compile a running shape wants now from its start stays in a thread of its
process, at its priority. The child writes
the kernel to the disk cache (``engine.kernel_cache``), from which the parent, and every other
process of the host, loads it.

A child that dies (numba can abort a process that runs out of memory, or crash) costs its kernel,
not the compute process; one still running after ``PATIENCE`` seconds is killed.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
from typing import Callable, Iterator, Optional

from ufora.engine import proc

log = logging.getLogger(__name__)

NICE = 19
COMPILE_NAME = "ufora-compile"  # as ps shows the child: not one of the pool's compute processes
WANTED_NICE = 0  # added to the process's own: a deferred compile wanted after all competes as its process does
PATIENCE = 600.0  # seconds a compile may take, at the lowest priority on a busy host
KEPT, NOT_KEPT = 0, 3  # the child's exit codes: the kernel is in the disk cache; it could not be kept
_PR_SET_PDEATHSIG = 1


def run(work: Callable[[], bool], nice: int = NICE) -> Optional[int]:
    """Run ``work`` in a child forked from this thread, at ``nice`` (by default the lowest: ``NICE``):
    ``KEPT`` when it returned True, ``NOT_KEPT`` when
    False, None when the child raised, died or was killed (logged). Call from a thread of the
    compiling process, never its main thread: this waits for the child."""
    parent = os.getpid()
    with _compilers_idle():
        with proc.named(COMPILE_NAME):  # (this thread's name, which the child's is from its first instant)
            pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(work, parent, nice)
    return _waited(pid)


@contextlib.contextmanager
def _compilers_idle() -> Iterator[None]:
    """Hold numba's compiler lock and LLVM's across the fork: a child forked while another thread
    held one (the main thread loading a kernel) would wait for it for ever."""
    from llvmlite.binding import ffi
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock, ffi.lib._lock:  # the child's copies are held by its one thread: its own
        yield


def _child(work: Callable[[], bool], parent: int, nice: int) -> None:
    code = 2
    try:
        _die_with(parent)
        os.nice(nice)
        code = KEPT if work() else NOT_KEPT
    except BaseException:
        log.exception("compile process %d failed; its shape runs in CPython", os.getpid())
    finally:
        os._exit(code)  # no atexit, no finalizers, no buffers of the parent's flushed twice


def _die_with(parent: int) -> None:
    """The child is killed when the thread that forked it ends (its process killed, retired); it
    ends at once if that happened before it asked."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(2)


def _waited(pid: int) -> Optional[int]:
    """The child's outcome once it ended, or None once killed after ``PATIENCE`` seconds."""
    try:
        ending = os.pidfd_open(pid)
    except OSError:  # a kernel without pidfds: wait without a limit
        return _outcome(pid, os.waitpid(pid, 0)[1])
    try:
        poller = select.poll()
        poller.register(ending, select.POLLIN)
        ended = poller.poll(PATIENCE * 1000)
    finally:
        os.close(ending)
    if not ended:
        log.warning("compile process %d still ran after %.0f s: killed; its shape runs in CPython", pid, PATIENCE)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return None
    return _outcome(pid, os.waitpid(pid, 0)[1])


def _outcome(pid: int, status: int) -> Optional[int]:
    code = os.waitstatus_to_exitcode(status)
    if code in (KEPT, NOT_KEPT):
        return code
    log.warning("compile process %d ended with %s; its shape runs in CPython", pid,
                f"signal {-code}" if code < 0 else f"code {code}")
    return None
