"""Serial CPython: the job as plain Python on one core, the reference every other variant
parallelises."""
from __future__ import annotations

from perf import jobs
from perf.engines.base import Engine


class SerialEngine(Engine):
    def start(self) -> None:
        """Nothing to start: the interpreter is already running."""

    def close(self) -> None:
        """Nothing to stop."""

    def prime_count(self, n: int) -> int:
        return jobs.count_primes_in((0, n))
