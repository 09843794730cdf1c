"""What runs, at which sizes, how often: the full run and the ``--quick`` one.

Serial CPython takes about a minute for the prime count at N = 10M and the chunked Python
variants (Pool, Dask, Ray) half a minute, so those cells are skipped or run once: the table says
so. Everything else runs ``repeats`` times, alternating with the other variants.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Tuple

from perf.engines.base import Engine
from perf.jobs import PRIME_COUNTS

MILLION = 1_000_000


@dataclass(frozen=True)
class Limit:
    max_size: Optional[int] = None    # larger sizes are not run (too slow)
    once_above: Optional[int] = None  # larger sizes run once, not `repeats` times


@dataclass(frozen=True)
class Job:
    key: str            # an engine runs it when the key is in its ``jobs``
    title: str
    size_name: str      # what the size counts
    sizes: Tuple[int, ...]
    unit: str           # times are shown in this unit ...
    per_second: float   # ... this many to the second
    invoke: Callable[[Engine, int], Any]
    expected: Callable[[int], Any]
    # None: a round is one call and there are `repeats` rounds. Otherwise the size is a number
    # of calls, made in rounds of this many (each call is one sample).
    batch: Optional[int] = None
    limits: Mapping[str, Limit] = field(default_factory=dict)

    def skip_reason(self, engine_key: str, size: int) -> Optional[str]:
        limit = self.limits.get(engine_key)
        if limit and limit.max_size is not None and size > limit.max_size:
            return "not run (too slow)"
        return None

    def rounds(self, engine_key: str, size: int, repeats: int) -> int:
        if self.batch is not None:
            return max(1, size // self.batch)
        limit = self.limits.get(engine_key)
        if limit and limit.once_above is not None and size > limit.once_above:
            return 1
        return repeats

    def calls_per_round(self, size: int) -> int:
        return 1 if self.batch is None else min(size, self.batch)


@dataclass(frozen=True)
class Plan:
    quick: bool
    repeats: int
    jobs: Tuple[Job, ...]

    @property
    def prime(self) -> Job:
        return next(job for job in self.jobs if job.key == "prime")


def _prime(sizes: Tuple[int, ...]) -> Job:
    python_over_two_cores = Limit(once_above=2 * MILLION)
    return Job(
        key="prime", title="prime count", size_name="N", sizes=sizes, unit="s", per_second=1.0,
        invoke=lambda engine, n: engine.prime_count(n), expected=PRIME_COUNTS.__getitem__,
        limits={"cpython": Limit(max_size=MILLION), "pool": python_over_two_cores,
                "dask": python_over_two_cores, "ray": python_over_two_cores})


def _trivial(calls: int) -> Job:
    return Job(key="trivial", title="trivial block", size_name="calls", sizes=(calls,),
               unit="ms", per_second=1000.0, invoke=lambda engine, calls: engine.trivial(),
               expected=lambda calls: 1, batch=100)


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(True, 2, (_prime((MILLION, 2 * MILLION)), _trivial(200)))
    return Plan(False, 3, (_prime((MILLION, 2 * MILLION, 10 * MILLION)), _trivial(1000)))
