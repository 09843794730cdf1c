"""The figures the project holds itself to (DESIGN.md, issue 5 for the array, list and string
jobs, issue 16 for Bodo), checked against one run. Each line says PASS or FAIL with the
measured value and the limit, or N/A and why it could not be measured. The command never fails
on them: a benchmark reports, it does not judge.

The full run checks each job at its target size (the prime count at N = 10M, the array sum at
100M, ...); a quick run checks the same ratios at its largest N and says so.
"""
from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

from perf.engines import HOSTS, REFERENCE
from perf.measure import Cell, Results
from perf.plan import Plan
from perf.runner import Variant

WITHIN_NUMBA_PARALLEL = 1.25       # prime count: pyfora time / numba parallel time, at most
FASTER_THAN_PYTHON_ENGINES = 15.0  # Dask or Ray time / pyfora time, at least
COMPILED_WITHIN_NUMBA_PARALLEL = 1.3  # issue 5, compiled shapes: pyfora / numba parallel, at most
FALLBACK_OVER_SERIAL = 1.7         # issue 5, CPython fallback: serial CPython / pyfora, at least
TWO_HOSTS_WITHIN_ONE = 1.15       # two one-core workers / one two-core worker, at most
TRIVIAL_P50_SECONDS = 0.001
TRIVIAL_OVER_RAY = 0.5             # issue 16: pyfora's trivial block / Ray's trivial task, medians, at most
STARTUP_SECONDS = 1.5
RANGE_SUM_WITHIN_NUMBA_PARALLEL = 1.5  # issue 12: an exact int sum past int64
SCALARS_WITHIN_FLOATS = 2.0        # issue 14: a list of np.float64 / the same list of floats
WITHIN_BODO = 0.8                  # issue 16: pyfora time / Bodo time (2 MPI ranks), at most
TARGET_N = {"prime": 10_000_000, "array_sum_squares": 100_000_000, "list_floats": 10_000_000,
            "string_building": 2_000_000, "range_sum": 10**10, "scalars_sent": 1_000_000,
            "scalars_round_trip": 1_000_000}
NUMBA = "numba @njit(parallel=True)"


def _line(passed: bool, what: str, detail: str) -> str:
    return f"{'PASS' if passed else 'FAIL'}  {what}: {detail}"


def _not_measured(what: str, missing: str) -> str:
    return f"N/A   {what}: {missing} not measured"


def _at(plan: Plan, key: str) -> tuple:
    """The job's largest size in this run, and how the target lines name it."""
    job = plan.job(key)
    n = max(job.sizes)
    at = f"{job.title} N={n:,}"
    if n != TARGET_N[key]:
        at += f" (quick run; the target is set for N={TARGET_N[key]:,})"
    return n, at


def _missing(**cells: Optional[Cell]) -> Optional[str]:
    names = [name.replace("_", " ") for name, cell in cells.items() if cell is None]
    return ", ".join(names) or None


def _ratio_line(what: str, top: Tuple[str, Optional[Cell]], bottom: Tuple[str, Optional[Cell]],
                passes: Callable[[float], bool], digits: int = 2) -> str:
    """A target on the ratio of two medians, ``top / bottom``, each given as (name, cell); N/A
    naming the cells that were not measured."""
    missing = _missing(**dict([top, bottom]))
    if missing:
        return _not_measured(what, missing)
    (_, upper), (_, lower) = top, bottom
    ratio = upper.median / lower.median
    return _line(passes(ratio), what,
                 f"{upper.median:.3f} s vs {lower.median:.3f} s = {ratio:.{digits}f}x")


def _prime_lines(plan: Plan, results: Results) -> List[str]:
    n, at = _at(plan, "prime")
    pyfora = ("pyfora", results.get("prime", n, REFERENCE))
    lines = [_ratio_line(f"{at}, warm: pyfora within {WITHIN_NUMBA_PARALLEL}x of {NUMBA}", pyfora,
                         ("numba_parallel", results.get("prime", n, "numba-parallel")),
                         lambda ratio: ratio <= WITHIN_NUMBA_PARALLEL)]
    for key, name in (("dask", "Dask"), ("ray", "Ray")):
        lines.append(_ratio_line(
            f"{at}, warm: pyfora at least {FASTER_THAN_PYTHON_ENGINES:.0f}x faster than {name}",
            (name, results.get("prime", n, key)), pyfora,
            lambda speedup: speedup >= FASTER_THAN_PYTHON_ENGINES, digits=1))
    return lines


def _hosts_line(plan: Plan, results: Results) -> str:
    n, at = _at(plan, "prime")
    what = (f"{at}, warm: two workers x 1 core in separate network namespaces within "
            f"{TWO_HOSTS_WITHIN_ONE}x of one worker x 2 cores")
    return _ratio_line(what, ("two_hosts", results.get("prime", n, HOSTS)),
                       ("one_worker", results.get("prime", n, REFERENCE)),
                       lambda ratio: ratio <= TWO_HOSTS_WITHIN_ONE)


def _compiled_line(plan: Plan, results: Results, job: str, detail: str, pyfora_job: str = "") -> str:
    """pyfora's ``pyfora_job`` (else ``job``) within COMPILED_WITHIN_NUMBA_PARALLEL of numba
    parallel's ``job``."""
    n, at = _at(plan, job)
    what = f"{at}, warm: pyfora within {COMPILED_WITHIN_NUMBA_PARALLEL}x of {NUMBA}{detail}"
    return _ratio_line(what, ("pyfora", results.get(pyfora_job or job, n, REFERENCE)),
                       ("numba_parallel", results.get(job, n, "numba-parallel")),
                       lambda ratio: ratio <= COMPILED_WITHIN_NUMBA_PARALLEL)


def _compiled_lines(plan: Plan, results: Results) -> List[str]:
    """The array job: both are given the array ready, numba in this process, pyfora as a remote
    object built on the cluster beforehand (its building is the "array creation only" row). The
    list: brought to the client, and made where it is computed, as numba's is."""
    return [
        _compiled_line(plan, results, "array_sum_squares", ", both given the array (pyfora's is "
                       "a remote object in the worker's shared memory)"),
        _compiled_line(plan, results, "list_floats", " (filling an array, then .tolist()); "
                       "pyfora's time includes bringing the list to the client"),
        _compiled_line(plan, results, "list_floats", ", the list made where it is computed "
                       "(pyfora's kept on the cluster, as a remote object)", "list_floats_kept"),
    ]


def _string_line(plan: Plan, results: Results) -> str:
    n, at = _at(plan, "string_building")
    what = (f"{at}, warm: pyfora (numba refuses it: the CPython fallback) at least "
            f"{FALLBACK_OVER_SERIAL}x faster than serial CPython, on {os.cpu_count()} cores")
    return _ratio_line(what, ("serial_CPython", results.get("string_building", n, "cpython")),
                       ("pyfora", results.get("string_building", n, REFERENCE)),
                       lambda speedup: speedup >= FALLBACK_OVER_SERIAL)


def _trivial_line(plan: Plan, results: Results) -> str:
    calls = plan.job("trivial").sizes[0]
    what = (f"trivial block round trip, median of {calls:,} calls, at most "
            f"{TRIVIAL_P50_SECONDS * 1e3:.0f} ms")
    cell = results.get("trivial", calls, REFERENCE)
    if cell is None:
        return _not_measured(what, "pyfora")
    return _line(cell.median <= TRIVIAL_P50_SECONDS, what,
                 f"{cell.median * 1e3:.3f} ms (p99 {cell.p99 * 1e3:.3f} ms)")


def _trivial_ray_line(plan: Plan, results: Results) -> str:
    """Issue 16: the trivial block at most half of Ray's trivial task in the same run."""
    calls = plan.job("trivial").sizes[0]
    what = f"trivial block round trip at most {TRIVIAL_OVER_RAY}x Ray's trivial task, medians of {calls:,} calls"
    ours, ray = results.get("trivial", calls, REFERENCE), results.get("trivial", calls, "ray")
    missing = _missing(pyfora=ours, Ray=ray)
    if missing or ours is None or ray is None:
        return _not_measured(what, missing or "")
    ratio = ours.median / ray.median
    return _line(ratio <= TRIVIAL_OVER_RAY, what,
                 f"{ours.median * 1e3:.3f} ms vs {ray.median * 1e3:.3f} ms = {ratio:.2f}x")


def _startup_line(variants: List[Variant]) -> str:
    what = f"embedded cluster start-up, pyfora.connect(), at most {STARTUP_SECONDS} s"
    pyfora = next(v for v in variants if v.spec.key == REFERENCE)
    if pyfora.startup is None:
        return _not_measured(what, f"pyfora ({pyfora.unavailable})")
    return _line(pyfora.startup <= STARTUP_SECONDS, what, f"{pyfora.startup:.3f} s")


def _range_sum_line(plan: Plan, results: Results) -> str:
    n, at = _at(plan, "range_sum")
    what = (f"{at}, warm: pyfora's exact int sum within {RANGE_SUM_WITHIN_NUMBA_PARALLEL}x of {NUMBA} "
            "summing the same items exactly")
    return _ratio_line(what, ("pyfora", results.get("range_sum", n, REFERENCE)),
                       ("numba_parallel", results.get("range_sum", n, "numba-parallel")),
                       lambda ratio: ratio <= RANGE_SUM_WITHIN_NUMBA_PARALLEL)


def _scalar_lines(plan: Plan, results: Results) -> List[str]:
    """Issue 14: numpy scalars travel as arrays, within SCALARS_WITHIN_FLOATS of Python floats."""
    lines = []
    for scalars, floats, how in (("scalars_sent", "floats_sent", "as a free variable"),
                                 ("scalars_round_trip", "floats_round_trip", "there and back")):
        n, at = _at(plan, scalars)
        what = (f"a list of {n:,} np.float64 {how}: pyfora within {SCALARS_WITHIN_FLOATS}x of the "
                "same list of Python floats")
        lines.append(_ratio_line(what, ("np_float64", results.get(scalars, n, REFERENCE)),
                                 ("floats", results.get(floats, n, REFERENCE)),
                                 lambda ratio: ratio <= SCALARS_WITHIN_FLOATS))
    return lines


def _bodo_lines(plan: Plan, results: Results) -> List[str]:
    """Issue 16: pyfora at most WITHIN_BODO of Bodo's time on the prime count and the array sum,
    Bodo's measured inside its ranks (compiled at start-up), pyfora's end to end."""
    lines = []
    for job, detail in (("prime", ""), ("array_sum_squares", ", both given the array spread over "
                                                           "their processes beforehand")):
        n, at = _at(plan, job)
        what = f"{at}, warm: pyfora at most {WITHIN_BODO}x Bodo's time (bodo.jit + prange, 2 MPI ranks){detail}"
        lines.append(_ratio_line(what, ("pyfora", results.get(job, n, REFERENCE)),
                                 ("Bodo", results.get(job, n, "bodo")),
                                 lambda ratio: ratio <= WITHIN_BODO))
    return lines


def check(plan: Plan, variants: List[Variant], results: Results) -> List[str]:
    """One line per target."""
    return [*_prime_lines(plan, results), _hosts_line(plan, results),
            *_compiled_lines(plan, results), _range_sum_line(plan, results),
            _string_line(plan, results), _trivial_line(plan, results), _trivial_ray_line(plan, results),
            _startup_line(variants),
            *_scalar_lines(plan, results), *_bodo_lines(plan, results)]
