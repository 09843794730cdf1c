"""Whether a client's connection to the manager is up, down, or being opened again: the one
place that decides, under one lock, for the threads that ask (the user's, socket.io's reader,
the reconnecting thread, a future's callbacks).

Two orderings matter. A drop is recorded (and a reconnect declared under way) before pending
futures are failed, so that a callback of a failed future that calls again waits for the
reconnect instead of being told the executor is disconnected. And a reconnect counts only if no
drop came after the attempt began: a connection that dropped again at once is not "up".
"""
from __future__ import annotations

import threading
import time
from typing import Optional, Tuple


class LinkState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down: Optional[Tuple[float, str]] = None  # (since when, why) while not connected
        self.closed = False
        self.drops = 0
        self._reconnecting = False
        self._settled = threading.Event()  # set whenever no reconnect is under way
        self._settled.set()

    def dropped(self, cause: str, retry: bool) -> bool:
        """The connection ended, because of ``cause``; True if the caller is to start
        reconnecting (``retry``, not closed, and no reconnect under way already)."""
        with self._lock:
            self.drops += 1
            if self.down is None:
                self.down = (time.time(), cause)
            start = retry and not self.closed and not self._reconnecting
            if start:
                self._reconnecting = True
                self._settled.clear()
            return start

    def up_again(self, drops_before: int) -> bool:
        """A reconnect attempt that began at ``drops_before`` drops succeeded: True if the
        connection counts as up (no drop since, not closed); else the caller tries again."""
        with self._lock:
            if self.closed or self.drops != drops_before:
                return False
            self.down = None
            self._reconnecting = False
            self._settled.set()
            return True

    def gave_up(self, failure: str, seconds: float) -> None:
        with self._lock:
            if self.down is not None and not self.closed:
                since, cause = self.down
                self.down = (since, f"{cause}; reconnecting for {seconds:.0f} s failed: {failure}")
            self._reconnecting = False
            self._settled.set()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self.down is None:
                self.down = (time.time(), "closed by this client")

    def settled_down(self, timeout: float) -> Optional[Tuple[float, str]]:
        """Wait (up to ``timeout``) for a reconnect under way to end: None if connected now,
        else since when and why not."""
        if self.down is not None:
            self._settled.wait(timeout)
        return self.down

    def register_if_up(self, register) -> bool:
        """Call ``register()`` only while connected, atomically with respect to a drop: a
        future registered so is failed by the drop's sweep, or not registered at all."""
        with self._lock:
            if self.down is not None:
                return False
            register()
            return True
