"""Serial CPython: the job as plain Python on one core, the reference every other variant
parallelises."""
from __future__ import annotations

from perf import jobs
from perf.engines.base import Engine


class SerialEngine(Engine):
    jobs = frozenset({"prime", "array_sum_squares", "list_floats", "string_building"})

    def start(self) -> None:
        """Nothing to start: the interpreter is already running."""

    def close(self) -> None:
        """Nothing to stop."""

    def prime_count(self, n: int) -> int:
        return jobs.count_primes_in((0, n))

    def array_sum_squares(self, a):
        return jobs.sum_of_squares(a)

    def list_floats(self, n: int):
        return jobs.halves(n)

    def string_building(self, n: int) -> int:
        return jobs.label_lengths_in((0, n))
