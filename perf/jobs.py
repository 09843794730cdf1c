"""The work every engine runs: plain module-level functions, so that each engine ships the very
same Python code (cloudpickle sends this module by value, see ``perf.engines.ship_by_value``).

``isPrime`` is the Ufora tutorial's, verbatim: it counts 0 and 1 as prime, so the counts below
are the number of primes below N plus two.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, List, Tuple

import numpy as np

# sum(isPrime(x) for x in range(N)), checked by serial CPython once.
PRIME_COUNTS = {1_000_000: 78_500, 2_000_000: 148_935, 10_000_000: 664_581}
# sum(label_length(x) for x in range(N)), checked by serial CPython once.
LABEL_LENGTHS = {500_000: 6_818_986, 2_000_000: 29_770_410}

# More chunks than cores: the last numbers cost the most, so equal chunks would leave a core idle.
CHUNKS = 64

# array_of(n) repeats 0.0 .. 999.0, whose squares sum to this per repetition.
_SQUARES_PER_PERIOD = sum(k * k for k in range(1000))


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


# --- a float reduction over a numpy array -------------------------------------------------------

def array_of(n: int) -> np.ndarray:
    """The float64 array of the array job: 0.0 .. 999.0 repeated (``n`` a multiple of 1000).

    Whole numbers whose squares sum below 2**53 make every partial sum exact, so every variant,
    whatever order it adds in, must give exactly ``sum_of_squares_expected(n)``: a wrong answer
    cannot hide behind rounding. ``np.tile`` builds it at memory speed (a float ``%`` would take
    3.5 s at 100M), so that the creation is a small part of pyfora's block."""
    return np.tile(np.arange(1000.0), n // 1000)


def sum_of_squares(a: np.ndarray) -> float:
    """The job as CPython runs it, numpy scalar by numpy scalar."""
    return sum(x * x for x in a)


def sum_of_squares_expected(n: int) -> int:
    return n // 1000 * _SQUARES_PER_PERIOD


# --- a list comprehension of floats, brought back whole ----------------------------------------

def halves(n: int) -> List[float]:
    return [x * 0.5 for x in range(n)]


def _digest(values: np.ndarray) -> str:
    return hashlib.blake2b(values.tobytes(), digest_size=8).hexdigest()


def float_list_digest(values: Any) -> Tuple[str, int, str, str]:
    """What is checked of a returned list of floats: its type, length, the types of a sample of
    its items and a hash of their values. Keeping the expected 10M-item list instead would hold
    320 MB for the whole job. A list kept on the cluster (a pyfora proxy) is brought here first
    (after the clock stopped)."""
    if hasattr(values, "toLocal"):
        values = values.toLocal().result()
    sample = values[:: max(1, len(values) // 1000)]
    kinds = ",".join(sorted({type(v).__name__ for v in sample}))
    return type(values).__name__, len(values), kinds, _digest(np.asarray(values, dtype=np.float64))


@lru_cache(maxsize=2)  # asked once per variant and size
def halves_expected(n: int) -> Tuple[str, int, str, str]:
    return "list", n, "float", _digest(np.arange(n) * 0.5)  # i * 0.5 is exact, as in CPython


# --- a list of numpy scalars sent to the cluster, against the same list of Python floats --------

def scalar_halves(n: int) -> list:
    """What a comprehension over numpy values makes: a list of ``np.float64``, not of floats."""
    return [np.float64(x) * 0.5 for x in range(n)]


@lru_cache(maxsize=2)
def scalar_halves_expected(n: int) -> Tuple[str, int, str, str]:
    return "list", n, "float64", halves_expected(n)[3]


# --- string building: numba refuses it, so pyfora runs it as CPython on every core --------------

def label_length(x):
    """numba compiles neither ``str.format`` nor ``hex`` (it does compile ``str(int)``, ``+`` of
    strings, f-strings and ``len``): pyfora's kernel falls back to CPython."""
    return len("{}:{}".format(x, hex(x)))


def label_lengths_in(bounds: Tuple[int, int]) -> int:
    """The string job over one chunk ``[lo, hi)``: serial CPython runs it over ``(0, N)``."""
    lo, hi = bounds
    return sum(label_length(x) for x in range(lo, hi))
