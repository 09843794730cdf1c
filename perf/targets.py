"""The figures DESIGN.md holds the project to, checked against one run. Each line says PASS or
FAIL with the measured value and the limit, or N/A and why it could not be measured. The
command never fails on them: a benchmark reports, it does not judge.

The full run checks the prime count at N = 10M; a quick run checks the same ratios at its
largest N and says so.
"""
from __future__ import annotations

from typing import List

from perf.engines import REFERENCE
from perf.measure import Results
from perf.plan import Plan
from perf.runner import Variant

WITHIN_NUMBA_PARALLEL = 1.25       # pyfora time / numba parallel time, at most
FASTER_THAN_PYTHON_ENGINES = 15.0  # Dask or Ray time / pyfora time, at least
TRIVIAL_P50_SECONDS = 0.001
STARTUP_SECONDS = 1.5
TARGET_N = 10_000_000


def _line(passed: bool, what: str, detail: str) -> str:
    return f"{'PASS' if passed else 'FAIL'}  {what}: {detail}"


def _not_measured(what: str, missing: str) -> str:
    return f"N/A   {what}: {missing} not measured"


def _prime_lines(plan: Plan, results: Results) -> List[str]:
    n = max(plan.prime.sizes)
    at = f"prime count N={n:,}"
    if n != TARGET_N:
        at += f" (quick run; the target is set for N={TARGET_N:,})"
    pyfora = results.get("prime", n, REFERENCE)
    lines = []
    what = f"{at}, warm: pyfora within {WITHIN_NUMBA_PARALLEL}x of numba @njit(parallel=True)"
    numba = results.get("prime", n, "numba-parallel")
    if pyfora is None or numba is None:
        lines.append(_not_measured(what, "pyfora" if pyfora is None else "numba parallel"))
    else:
        ratio = pyfora.median / numba.median
        lines.append(_line(ratio <= WITHIN_NUMBA_PARALLEL, what,
                           f"{pyfora.median:.3f} s vs {numba.median:.3f} s = {ratio:.2f}x"))
    for key, name in (("dask", "Dask"), ("ray", "Ray")):
        what = f"{at}, warm: pyfora at least {FASTER_THAN_PYTHON_ENGINES:.0f}x faster than {name}"
        other = results.get("prime", n, key)
        if pyfora is None or other is None:
            lines.append(_not_measured(what, "pyfora" if pyfora is None else name))
            continue
        speedup = other.median / pyfora.median
        lines.append(_line(speedup >= FASTER_THAN_PYTHON_ENGINES, what,
                           f"{other.median:.3f} s vs {pyfora.median:.3f} s = {speedup:.1f}x"))
    return lines


def _trivial_line(plan: Plan, results: Results) -> str:
    calls = next(job for job in plan.jobs if job.key == "trivial").sizes[0]
    what = (f"trivial block round trip, median of {calls:,} calls, at most "
            f"{TRIVIAL_P50_SECONDS * 1e3:.0f} ms")
    cell = results.get("trivial", calls, REFERENCE)
    if cell is None:
        return _not_measured(what, "pyfora")
    return _line(cell.median <= TRIVIAL_P50_SECONDS, what,
                 f"{cell.median * 1e3:.3f} ms (p99 {cell.p99 * 1e3:.3f} ms)")


def _startup_line(variants: List[Variant]) -> str:
    what = f"embedded cluster start-up, pyfora.connect(), at most {STARTUP_SECONDS} s"
    pyfora = next(v for v in variants if v.spec.key == REFERENCE)
    if pyfora.startup is None:
        return _not_measured(what, f"pyfora ({pyfora.unavailable})")
    return _line(pyfora.startup <= STARTUP_SECONDS, what, f"{pyfora.startup:.3f} s")


def check(plan: Plan, variants: List[Variant], results: Results) -> List[str]:
    """One line per target."""
    return [*_prime_lines(plan, results), _trivial_line(plan, results), _startup_line(variants)]
