"""Hand-written numba, serial or with ``prange`` over every core: the bound pyfora aims at, since
its kernels are numba too, so the difference is what the cluster costs.

* prime count: the tutorial's ``isPrime`` under ``@njit``, summed in a compiled loop;
* array sum: ``a[i] * a[i]`` summed over the array, which numba reduces per thread;
* list of floats: a preallocated array filled in the loop, then ``.tolist()``, because the job's
  result is a Python list;
* range sum beyond int64: 16-bit halves of each item summed apart (exact for the job's range),
  as the kernel pyfora compiles does with 32-bit halves;
* string building: not applicable, numba compiles neither ``str.format`` nor ``hex``.

Each engine compiles its own functions, so that either one's start-up (the first calls, which
compile) is the whole compile time whichever starts first.
"""
from __future__ import annotations

from types import SimpleNamespace

import numba
import numpy as np

from perf import jobs
from perf.engines.base import Engine


def _build(parallel: bool) -> SimpleNamespace:
    is_prime = numba.njit(jobs.isPrime)

    @numba.njit(parallel=parallel)
    def count(n):
        total = 0
        for x in numba.prange(n):
            total += is_prime(x)
        return total

    @numba.njit(parallel=parallel)
    def sum_squares(a):
        total = 0.0
        for i in numba.prange(a.shape[0]):
            total += a[i] * a[i]
        return total

    @numba.njit(parallel=parallel)
    def halves(n):
        out = np.empty(n)
        for i in numba.prange(n):
            out[i] = i * 0.5
        return out

    @numba.njit(parallel=parallel)
    def range_sum(n):
        """Exact for this job's range (0 <= x < 2**40): 16-bit halves summed apart cannot wrap,
        where ``total += x`` would (and LLVM folds it into n*(n-1)/2, wrapped, without a loop)."""
        high = 0
        low = 0
        for x in numba.prange(n):
            high += x >> 16
            low += x & 0xFFFF
        return high, low

    return SimpleNamespace(count=count, sum_squares=sum_squares, halves=halves, range_sum=range_sum)


class NumbaEngine(Engine):
    jobs = frozenset({"prime", "array_sum_squares", "list_floats", "range_sum"})
    not_applicable = {"string_building": "n/a: numba compiles neither str.format nor hex"}

    def __init__(self, parallel: bool):
        self._compiled = _build(parallel)

    def start(self) -> None:
        # The first calls compile, for the very argument types the jobs pass.
        self._compiled.count(10)
        self._compiled.sum_squares(jobs.array_of(1000))
        self._compiled.halves(10)
        self._compiled.range_sum(10)

    def close(self) -> None:
        """Nothing to stop: numba's threads belong to this process."""

    def prime_count(self, n: int) -> int:
        return self._compiled.count(n)

    def array_sum_squares(self, a) -> float:
        return self._compiled.sum_squares(a)

    def list_floats(self, n: int):
        return self._compiled.halves(n).tolist()

    def range_sum(self, n: int) -> int:
        high, low = self._compiled.range_sum(n)
        return (int(high) << 16) + int(low)
