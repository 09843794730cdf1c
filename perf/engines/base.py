"""The one shape every engine has, so that the runner treats them all alike.

An engine is created cheaply, started once (the runner times ``start`` as its start-up), asked
for jobs any number of times, and closed; ``close`` must leave no process behind. A job an engine
does not list in ``jobs`` is never asked of it; one it lists in ``not_applicable`` gets a row
saying why, so that a reader sees the gap instead of a missing line.
"""
from __future__ import annotations

import abc
from typing import Any, ClassVar, FrozenSet, List, Mapping, NamedTuple


class Measured(NamedTuple):
    """What a job method returns instead of its bare result when the job ran in processes the
    engine launched and timed it there (Bodo's MPI ranks): the runner takes ``seconds`` as the
    call's time, not its own clock around the request, whose hop to those processes is no part
    of what a user of that engine pays."""
    value: Any
    seconds: float


class Engine(abc.ABC):
    #: The job keys (``perf.plan.Job.key``) this engine runs.
    jobs: ClassVar[FrozenSet[str]] = frozenset({"prime"})
    #: Job keys this engine cannot express at all, with the reason shown in their row.
    not_applicable: ClassVar[Mapping[str, str]] = {}
    #: Report the first run of each job apart ("cold"), because it pays one-time costs that the
    #: later runs do not (pyfora compiles its kernels on the cluster then).
    cold_first_run: ClassVar[bool] = False

    @abc.abstractmethod
    def start(self) -> None:
        """Bring the engine up, ready for a first job; timed as the engine's start-up."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop everything ``start`` started; safe to call when ``start`` failed half-way."""

    def prime_count(self, n: int) -> int | Measured:
        """``sum(isPrime(x) for x in range(n))``."""
        raise NotImplementedError

    def trivial(self) -> int:
        """The cheapest possible task, one round trip; returns 1."""
        raise NotImplementedError

    def prepare(self, job_key: str, argument: Any) -> None:
        """Make what a job reads where the engine reads it, before the job's timings (pyfora:
        the array of the array job, as a remote object); the input itself is already built."""

    def array_sum_squares(self, a: Any) -> float | Measured:
        """``sum(x * x for x in a)`` over ``a = perf.jobs.array_of(N)``, already built here."""
        raise NotImplementedError

    def array_creation(self, n: int) -> int:
        """Only build ``perf.jobs.array_of(n)`` where ``array_sum_squares`` reads it (pyfora: as
        a remote object, once per size, not timed in the sum) and return its length."""
        raise NotImplementedError

    def list_floats_kept(self, n: int) -> Any:
        """``[x * 0.5 for x in range(n)]`` made where the engine computes and left there (pyfora:
        a remote object); the others have no such place and do not run it."""
        raise NotImplementedError

    def list_floats(self, n: int) -> List[float]:
        """``[x * 0.5 for x in range(n)]``, as a Python list in this process."""
        raise NotImplementedError

    def list_sent(self, values: List[Any]) -> int:
        """``len(values)`` where the engine computes: the list is sent there (pyfora: a free
        variable of a block); returns its length."""
        raise NotImplementedError

    def list_round_trip(self, values: List[Any]) -> List[Any]:
        """``list(values)`` made where the engine computes and brought back here."""
        raise NotImplementedError

    def range_sum(self, n: int) -> int:
        """``sum(x for x in range(n))``, exactly: past 2**63 for n over about 4.3e9."""
        raise NotImplementedError

    def string_building(self, n: int) -> int:
        """``sum(label_length(x) for x in range(n))``: strings per element, which numba refuses."""
        raise NotImplementedError
