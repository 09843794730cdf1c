"""Delays for retrying something that keeps failing: none at first, then doubling, capped."""
from __future__ import annotations

import time
from typing import Callable, Optional


class Backoff:
    """The delay before the next try: 0 for a first failure, then ``first``, doubling with each
    failure in a row up to ``cap``; a spell of ``quiet`` seconds without failure starts over.
    A crash loop thus costs a few tries a second at most, forever, and never a lifetime cap."""

    def __init__(self, first: float = 0.05, cap: float = 5.0, quiet: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.first, self.cap, self.quiet, self.clock = first, cap, quiet, clock
        self.streak = 0
        self._last: Optional[float] = None

    def next_delay(self) -> float:
        now = self.clock()
        if self._last is not None and now - self._last > self.quiet:
            self.streak = 0
        self._last = now
        self.streak += 1
        return 0.0 if self.streak == 1 else min(self.cap, self.first * 2 ** (self.streak - 2))
