"""Compiles running behind the partitions, in threads of a compute process.

Why threads of the process that wants the kernel: numba's compile (0.2 s to 6 s) must not hold
up the partitions of a block (they run in CPython meanwhile, ``engine.kernels``), and a compile
holds nothing a partition needs; numba releases the GIL through much of it (LLVM works in C++,
called through ctypes), and the host's other compute processes go on at full speed. The result
is picked up by the same process's next partition that asks (``poll``); the kernel cache on disk
(``engine.kernel_cache``) hands it to every other process of the host.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict

log = logging.getLogger(__name__)

ABSENT = object()   # ``poll``: no compile of that name was started here, or its result was taken
RUNNING = object()  # ``poll``: it is still compiling


class BackgroundCompiles:
    """The compiles this process started, by entry name, and their results until taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: Dict[str, threading.Thread] = {}  # the compiles running, by name
        self._finished: Dict[str, Any] = {}

    def start(self, name: str, work: Callable[[], Any]) -> None:
        """Run ``work`` in a thread; its result (None if it raised: logged) is ``poll``'s."""
        thread = threading.Thread(target=self._run, args=(name, work), name=f"ufora compile {name[:12]}",
                                  daemon=True)  # a process that exits does not wait for its compiles
        with self._lock:
            self._threads[name] = thread
        thread.start()

    def _run(self, name: str, work: Callable[[], Any]) -> None:
        try:
            result = work()
        except BaseException:
            log.exception("a kernel compiled in the background failed; its shape runs in CPython")
            result = None
        with self._lock:
            self._finished[name] = result
            del self._threads[name]

    def poll(self, name: str) -> Any:
        """The result of compile ``name`` once finished (taken: given once), else RUNNING or
        ABSENT."""
        with self._lock:
            if name in self._threads:
                return RUNNING
            return self._finished.pop(name, ABSENT)

    def running(self, name: str) -> bool:
        with self._lock:
            return name in self._threads

    def wait(self, name: str) -> None:
        """Until compile ``name`` (if running) has finished."""
        with self._lock:
            thread = self._threads.get(name)
        if thread is not None:
            thread.join()

    def join(self, timeout: float) -> bool:
        """Wait until every compile started so far has finished (True), or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)
