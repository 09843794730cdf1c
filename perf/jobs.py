"""The work every engine runs: plain module-level functions, so that each engine ships the very
same Python code (cloudpickle sends this module by value, see ``perf.engines.base``).

``isPrime`` is the Ufora tutorial's, verbatim: it counts 0 and 1 as prime, so the counts below
are the number of primes below N plus two.
"""
from __future__ import annotations

from typing import List, Tuple

# sum(isPrime(x) for x in range(N)), checked by serial CPython once.
PRIME_COUNTS = {1_000_000: 78_500, 2_000_000: 148_935, 10_000_000: 664_581}

# More chunks than cores: the last numbers cost the most, so equal chunks would leave a core idle.
CHUNKS = 64


def isPrime(p):
    x = 2
    while x*x <= p:
        if p%x == 0:
            return 0
        x = x + 1
    return 1


def count_primes_in(bounds: Tuple[int, int]) -> int:
    """The prime count of one chunk ``[lo, hi)``: the unit of work for Pool, Dask and Ray."""
    lo, hi = bounds
    return sum(isPrime(x) for x in range(lo, hi))


def chunks(n: int, parts: int = CHUNKS) -> List[Tuple[int, int]]:
    """``range(n)`` cut into ``parts`` contiguous ``(lo, hi)`` bounds, in order."""
    edges = [n * i // parts for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]


def one() -> int:
    """The trivial task."""
    return 1
