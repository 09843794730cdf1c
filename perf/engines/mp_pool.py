"""``multiprocessing.Pool`` with one process per core, the standard library's answer: the same
chunks as Dask and Ray, through ``imap_unordered``.

The pool is spawned, not forked: by the time it starts, the other engines have threads in this
process, and forking a process with threads can deadlock the child.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.pool
from typing import Optional

from perf import jobs
from perf.engines.base import Engine

PROCESSES = 2


class PoolEngine(Engine):
    jobs = frozenset({"prime", "trivial", "string_building"})

    def __init__(self):
        self._pool: Optional[multiprocessing.pool.Pool] = None

    def start(self) -> None:
        self._pool = multiprocessing.get_context("spawn").Pool(PROCESSES)
        self._pool.apply(abs, (0,))  # ready once a process answers, not when it is spawned

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()

    def _sum_over_chunks(self, per_chunk, n: int) -> int:
        return sum(self._pool.imap_unordered(per_chunk, jobs.chunks(n)))

    def prime_count(self, n: int) -> int:
        return self._sum_over_chunks(jobs.count_primes_in, n)

    def string_building(self, n: int) -> int:
        """What a user would write for a job numba refuses."""
        return self._sum_over_chunks(jobs.label_lengths_in, n)

    def trivial(self) -> int:
        return self._pool.apply(jobs.one)
