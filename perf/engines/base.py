"""The one shape every engine has, so that the runner treats them all alike.

An engine is created cheaply, started once (the runner times ``start`` as its start-up), asked
for jobs any number of times, and closed; ``close`` must leave no process behind. A job an engine
does not list in ``jobs`` is never asked of it.
"""
from __future__ import annotations

import abc
from typing import ClassVar, FrozenSet


class Engine(abc.ABC):
    #: The job keys (``perf.plan.Job.key``) this engine runs.
    jobs: ClassVar[FrozenSet[str]] = frozenset({"prime"})
    #: Report the first run of each job apart ("cold"), because it pays one-time costs that the
    #: later runs do not (pyfora compiles its kernels on the cluster then).
    cold_first_run: ClassVar[bool] = False

    @abc.abstractmethod
    def start(self) -> None:
        """Bring the engine up, ready for a first job; timed as the engine's start-up."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop everything ``start`` started; safe to call when ``start`` failed half-way."""

    def prime_count(self, n: int) -> int:
        """``sum(isPrime(x) for x in range(n))``."""
        raise NotImplementedError

    def trivial(self) -> int:
        """The cheapest possible task, one round trip; returns 1."""
        raise NotImplementedError
