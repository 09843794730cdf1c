"""What runs, at which sizes, how often: the full run and the ``--quick`` one.

Serial CPython takes about a minute for the prime count at N = 10M and the chunked Python
variants (Pool, Dask, Ray) half a minute, so those cells are skipped or run once: the table says
so. Everything else runs ``repeats`` times, alternating with the other variants.

The jobs of issue 5 (a float sum over an array, a list comprehension, string building) are
cheap for every variant but serial CPython over 100M numpy scalars (about 8 s), which runs once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Tuple

from perf import jobs
from perf.engines.base import Engine

MILLION = 1_000_000


def _same(value: Any) -> Any:
    return value


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
    invoke: Callable[[Engine, Any], Any]  # given the engine and ``make_input(size)``
    expected: Callable[[int], Any]
    # None: a round is one call and there are `repeats` rounds. Otherwise the size is a number
    # of calls, made in rounds of this many (each call is one sample).
    batch: Optional[int] = None
    limits: Mapping[str, Limit] = field(default_factory=dict)
    # What every variant is given: built once per size, before and outside the timings (an
    # array the comparison variants read), and dropped after that size.
    make_input: Callable[[int], Any] = _same
    # What of a result is compared with ``expected``, computed after the clock stops: a digest
    # for results too large to keep (the result itself is dropped right after).
    answer: Callable[[Any], Any] = _same

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

    def job(self, key: str) -> Job:
        return next(job for job in self.jobs if job.key == key)

    @property
    def prime(self) -> Job:
        return self.job("prime")


def _seconds_job(key: str, title: str, sizes: Tuple[int, ...], invoke, expected, **more) -> Job:
    """A job over N items whose every run is one sample, in seconds."""
    return Job(key=key, title=title, size_name="N", sizes=sizes, unit="s", per_second=1.0,
               invoke=invoke, expected=expected, **more)


def _prime(sizes: Tuple[int, ...]) -> Job:
    python_over_two_cores = Limit(once_above=2 * MILLION)
    return _seconds_job(
        "prime", "prime count", sizes, lambda engine, n: engine.prime_count(n),
        jobs.PRIME_COUNTS.__getitem__,
        limits={"cpython": Limit(max_size=MILLION), "pool": python_over_two_cores,
                "dask": python_over_two_cores, "ray": python_over_two_cores})


def _trivial(calls: int) -> Job:
    return Job(key="trivial", title="trivial block", size_name="calls", sizes=(calls,),
               unit="ms", per_second=1000.0, invoke=lambda engine, calls: engine.trivial(),
               expected=lambda calls: 1, batch=100)


def _issue5(quick: bool) -> Tuple[Job, ...]:
    """The array sum (its comparison variants read an array built here; pyfora reads the same
    array built once on the cluster as a remote object, whose building is timed apart), the
    list comprehension (the list comes back to the client) and string building."""
    array_sizes = (10 * MILLION,) if quick else (10 * MILLION, 100 * MILLION)
    list_sizes = (2 * MILLION,) if quick else (10 * MILLION,)
    return (
        _seconds_job("array_sum_squares", "array sum of squares", array_sizes,
                     lambda engine, a: engine.array_sum_squares(a), jobs.sum_of_squares_expected,
                     make_input=jobs.array_of,
                     limits={"cpython": Limit(once_above=10 * MILLION)}),
        _seconds_job("array_creation", "array creation only", array_sizes,
                     lambda engine, n: engine.array_creation(n), _same),
        _seconds_job("list_floats", "list of floats", list_sizes,
                     lambda engine, n: engine.list_floats(n), jobs.halves_expected,
                     answer=jobs.float_list_digest),
        _seconds_job("list_floats_kept", "list of floats, kept on the cluster", list_sizes,
                     lambda engine, n: engine.list_floats_kept(n), jobs.halves_expected,
                     answer=jobs.float_list_digest),
        _seconds_job("string_building", "string building",
                     (500_000,) if quick else (2 * MILLION,),
                     lambda engine, n: engine.string_building(n), jobs.LABEL_LENGTHS.__getitem__),
    )


def _scalar_lists() -> Tuple[Job, ...]:
    """Issue 14: a list of numpy scalars travels as an array. Each is given its list built
    beforehand (a million ``np.float64``, or the same values as Python floats, the baseline):
    sent as a free variable of a block, and sent there and back (``list(values)`` downloaded)."""
    sizes = (MILLION,)
    sent, round_trip = (lambda engine, values: engine.list_sent(values),
                        lambda engine, values: engine.list_round_trip(values))
    return (
        _seconds_job("scalars_sent", "np.float64 list as a free variable", sizes, sent, _same,
                     make_input=jobs.scalar_halves),
        _seconds_job("floats_sent", "float list as a free variable", sizes, sent, _same,
                     make_input=jobs.halves),
        _seconds_job("scalars_round_trip", "np.float64 list there and back", sizes, round_trip,
                     jobs.scalar_halves_expected, make_input=jobs.scalar_halves, answer=jobs.float_list_digest),
        _seconds_job("floats_round_trip", "float list there and back", sizes, round_trip,
                     jobs.halves_expected, make_input=jobs.halves, answer=jobs.float_list_digest),
    )


def _range_sum(quick: bool) -> Job:
    """Issue 12: an int sum whose total leaves int64 stays compiled and exact."""
    return _seconds_job("range_sum", "range sum past int64", (10**9,) if quick else (10**10,),
                        lambda engine, n: engine.range_sum(n), lambda n: n * (n - 1) // 2)


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(True, 2, (_prime((MILLION, 2 * MILLION)), _trivial(200), *_issue5(True), _range_sum(True),
                              *_scalar_lists()))
    return Plan(False, 3, (_prime((MILLION, 2 * MILLION, 10 * MILLION)), _trivial(1000),
                           *_issue5(False), _range_sum(False), *_scalar_lists()))
