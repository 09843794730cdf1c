"""Compiles running behind the partitions, each from a thread of a compute process.

Why a thread of the process that wants the kernel: numba's compile (0.2 s to 6 s) must not hold
up the partitions of a block (they run in CPython meanwhile, ``engine.kernels``), and a compile
holds nothing a partition needs. A compile deferred until the process is idle runs, from its
thread, in a child process at the lowest priority (``engine.compile_apart``): it is for a later
run, and must take no core, nor the interpreter lock, from the next blocks. The result is picked
up by the same process's next partition that asks (``poll``); the kernel cache on disk
(``engine.kernel_cache``) hands it to every other process of the host.

A compile can also be *deferred* (``defer``): kept until the process has nothing else to do
(``start_deferred``) or another shape wants the kernel. A shape that ends, split over the cores,
before its kernel could be compiled gains nothing from compiling meanwhile: on two cores the
compile only takes one of them from its partitions (a 0.5 s Monte Carlo loop took 1.4 s so).
Compiled after it, the kernel is there for the next run.
"""
from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

log = logging.getLogger(__name__)

# The interpreter's switch interval while a compile thread runs (CPython's default: 5 ms). numba's
# compile gives the interpreter lock up often (to wait on a lock, to read a file) and then waits
# a whole interval to have it back from a partition computing in CPython: three small kernels
# took 1.5-2.2 s to compile beside such a partition at 5 ms, 0.6-0.8 s at 1 ms, 0.25 s alone.
COMPILING_SWITCH_INTERVAL = 0.001

ABSENT = object()   # ``poll``: no compile of that name was started here, or its result was taken
RUNNING = object()  # ``poll``: it is still compiling
DEFERRED = object()  # ``poll``: its compile waits here for the process to be idle (``defer``)


class _SwitchInterval:
    """The process's switch interval set to COMPILING_SWITCH_INTERVAL while any compile thread
    runs (counted for the whole process, whichever ``BackgroundCompiles`` started it), and put
    back when none does, unless something else changed it meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._usual = sys.getswitchinterval()
        self._set = self._usual

    def more(self, count: int) -> None:
        with self._lock:
            if count > 0 and self._running == 0:
                self._usual = sys.getswitchinterval()
                self._set = min(self._usual, COMPILING_SWITCH_INTERVAL)
                sys.setswitchinterval(self._set)
            self._running += count
            if self._running == 0 and sys.getswitchinterval() == self._set:
                sys.setswitchinterval(self._usual)


_switch_interval = _SwitchInterval()


class BackgroundCompiles:
    """The compiles this process started, by entry name, and their results until taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: Dict[str, threading.Thread] = {}  # the compiles running, by name
        self._finished: Dict[str, Any] = {}
        self._deferred: Dict[str, Callable[[bool], Any]] = {}  # the compiles deferred, by name
        self._deferred_at: Dict[str, float] = {}  # when each was deferred (monotonic)

    def start(self, name: str, work: Callable[[], Any]) -> None:
        """Run ``work`` in a thread; its result (None if it raised: logged) is ``poll``'s."""
        with self._lock:
            thread = self._registered(name, work)
        self._started(name, thread)

    def _registered(self, name: str, work: Callable[[], Any]) -> threading.Thread:
        """The thread that will run ``work``, counted as running (with the lock held)."""
        thread = threading.Thread(target=self._run, args=(name, work), name=f"ufora compile {name[:12]}",
                                  daemon=True)  # a process that exits does not wait for its compiles
        self._threads[name] = thread
        _switch_interval.more(1)
        return thread

    def _started(self, name: str, thread: threading.Thread) -> None:
        """Start a registered thread; one that cannot start is no longer counted as running."""
        try:
            thread.start()
        except BaseException:
            with self._lock:
                del self._threads[name]
            _switch_interval.more(-1)
            raise

    def defer(self, name: str, work: Callable[[bool], Any]) -> None:
        """Keep ``work`` to be started when the process is idle (``start_deferred``: its argument
        False), or (True) when a shape asks for it that does not defer it (``poll``)."""
        with self._lock:
            self._deferred[name] = work
            self._deferred_at.setdefault(name, time.monotonic())

    def _undeferred(self, name: str) -> Optional[Callable[[bool], Any]]:
        """The deferred compile ``name``, no longer deferred (with the lock held)."""
        self._deferred_at.pop(name, None)
        return self._deferred.pop(name, None)

    def deferred_for(self) -> Optional[float]:
        """Seconds since the oldest compile deferred and not started was deferred; None: none is."""
        with self._lock:
            return time.monotonic() - min(self._deferred_at.values()) if self._deferred_at else None

    def start_deferred(self, idle: bool = True) -> None:
        """Start every deferred compile; ``idle``: because the process has nothing else to do
        (its argument is then False: nothing wants it now)."""
        with self._lock:
            threads = [(name, self._registered(name, functools.partial(work, not idle)))
                       for name, work in self._deferred.items()]
            self._deferred, self._deferred_at = {}, {}
        for name, thread in threads:
            self._started(name, thread)

    def _run(self, name: str, work: Callable[[], Any]) -> None:
        try:
            result = work()
        except BaseException:
            log.exception("a kernel compiled in the background failed; its shape runs in CPython")
            result = None
        with self._lock:
            if result is not ABSENT:  # ABSENT: nothing made here (another process makes it)
                self._finished[name] = result
            del self._threads[name]
        _switch_interval.more(-1)

    def poll(self, name: str, deferring: bool = False) -> Any:
        """The result of compile ``name`` once finished (taken: given once), else RUNNING or
        ABSENT; DEFERRED while it is deferred and the asker defers it too (``deferring``); a
        deferred compile is started now for an asker that does not defer it (a shape that wants
        its kernel while it runs), and counts as running."""
        with self._lock:
            deferred = self._deferred.get(name)
            if deferred is not None and deferring:
                return DEFERRED
            if deferred is None:
                return RUNNING if name in self._threads else self._finished.pop(name, ABSENT)
            self._undeferred(name)
            thread = self._registered(name, functools.partial(deferred, True))
        self._started(name, thread)
        return RUNNING

    def forget(self, name: str) -> None:
        """Drop the deferred compile ``name``: its kernel came from elsewhere (another process
        of the host compiled it)."""
        with self._lock:
            self._undeferred(name)

    def running(self, name: str) -> bool:
        with self._lock:
            return name in self._threads or name in self._deferred

    def wait(self, name: str) -> None:
        """Until compile ``name`` (if running) has finished."""
        with self._lock:
            thread = self._threads.get(name)
        if thread is not None:
            thread.join()

    def join(self, timeout: float) -> bool:
        """Wait until every compile started or deferred so far has finished (True), or
        ``timeout`` seconds."""
        self.start_deferred()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)
