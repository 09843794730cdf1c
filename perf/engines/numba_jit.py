"""Hand-written numba: the tutorial's ``isPrime`` under ``@njit``, summed in a compiled loop,
serial or with ``prange`` over every core. This is the bound pyfora aims at: its kernels are
numba too, so the difference is what the cluster costs.

Each engine compiles its own copy of ``isPrime``, so that either one's start-up (its first call,
which compiles) is the whole compile time whichever starts first.
"""
from __future__ import annotations

from typing import Callable

import numba

from perf import jobs
from perf.engines.base import Engine


def _build(parallel: bool) -> Callable[[int], int]:
    is_prime = numba.njit(jobs.isPrime)

    @numba.njit(parallel=parallel)
    def count(n):
        total = 0
        for x in numba.prange(n):
            total += is_prime(x)
        return total

    return count


class NumbaEngine(Engine):
    def __init__(self, parallel: bool):
        self._count = _build(parallel)

    def start(self) -> None:
        self._count(10)  # the first call compiles

    def close(self) -> None:
        """Nothing to stop: numba's threads belong to this process."""

    def prime_count(self, n: int) -> int:
        return self._count(n)
