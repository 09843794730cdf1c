"""Partition plans: how a range of element indices is cut into partitions.

Guided self-scheduling: each partition handed out takes a share of what remains
(``remaining / (factor * processes)``), never less than ``minimum``. Early partitions are large
(little overhead), late ones small, so one expensive tail (the last numbers of the prime count
cost the most) does not leave cores idle. The plan is pulled one partition at a time by whoever
is idle, so it balances slow and fast processes alike.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

Partition = Tuple[int, int]  # [lo, hi) in element-index space


class GuidedPlan:
    """Hands out contiguous index ranges [lo, hi) covering [0, length) in order."""

    def __init__(self, length: int, processes: int, factor: int = 2, minimum: Optional[int] = None):
        if length < 0:
            raise ValueError("length must be >= 0")
        self.length = length
        self.processes = max(1, processes)
        self.factor = factor
        # Partitions much smaller than this cost more to hand out than to compute.
        self.minimum = minimum if minimum is not None else max(1, length // (self.processes * 64))
        self._next = 0

    @property
    def remaining(self) -> int:
        return self.length - self._next

    @property
    def tapering(self) -> bool:
        """Whether the next partition is larger than the minimum: the plan is not in its tail
        of smallest partitions yet."""
        return math.ceil(self.remaining / (self.factor * self.processes)) > self.minimum

    def next_partition(self) -> Optional[Partition]:
        """The next range to compute, or None when all of [0, length) has been handed out."""
        if self._next >= self.length:
            return None
        size = max(self.minimum, math.ceil(self.remaining / (self.factor * self.processes)))
        lo = self._next
        hi = min(self.length, lo + size)
        self._next = hi
        return lo, hi
