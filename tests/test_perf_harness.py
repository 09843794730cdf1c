"""The benchmark harness's own logic, without any engine library: a time an engine measured
where its job ran replaces the runner's clock, the Bodo targets read the right cells, and a
partial run names only known jobs. No timings are asserted, only which number is used."""
from __future__ import annotations

import pytest

from perf import engines, runner, targets
from perf.__main__ import _chosen
from perf.engines.base import Engine, Measured
from perf.measure import Cell, Results
from perf.plan import plan


class _TimedElsewhere(Engine):
    jobs = frozenset({"prime"})

    def start(self) -> None:
        """Nothing to start."""

    def close(self) -> None:
        """Nothing to stop."""

    def prime_count(self, n: int) -> Measured:
        return Measured(78_500, 0.25)


def test_a_time_measured_where_the_job_ran_is_the_cells_time():
    full = plan(quick=True)
    variant = runner.Variant(engines.specs()[0], engine=_TimedElsewhere(), startup=0.0)
    job = full.job("prime")
    [one, two] = runner.run_job(job, [variant], repeats=1, log=lambda _: None)
    assert (one.times, one.status) == ([0.25], "ok")
    assert (two.times, two.status) == ([0.25], "wrong")  # 78,500 is the count below 1M, not 2M


def _cell(job: str, size: int, variant: str, seconds: float) -> Cell:
    cell = Cell(job, size, variant, variant, expected=None)
    cell.times.append(seconds)
    return cell


def test_the_bodo_targets_compare_pyfora_with_bodo_at_each_jobs_largest_size():
    quick = plan(quick=True)
    results = Results([_cell("prime", 2_000_000, "pyfora", 0.6), _cell("prime", 2_000_000, "bodo", 1.0),
                       _cell("prime", 1_000_000, "bodo", 10.0),
                       _cell("array_sum_squares", 10_000_000, "pyfora", 0.09),
                       _cell("array_sum_squares", 10_000_000, "bodo", 0.1)], "pyfora")
    prime, array = targets._bodo_lines(quick, results)
    assert prime.startswith("PASS") and prime.endswith("0.600 s vs 1.000 s = 0.60x")
    assert array.startswith("FAIL") and array.endswith("= 0.90x")
    without_bodo = Results([_cell("prime", 2_000_000, "pyfora", 0.6)], "pyfora")
    assert all(line.startswith("N/A") and "Bodo not measured" in line
               for line in targets._bodo_lines(quick, without_bodo))


def test_a_partial_run_names_known_keys_only():
    known = ["prime", "trivial", "array_sum_squares"]
    assert _chosen(None, known) == set(known)
    assert _chosen("prime, array_sum_squares", known) == {"prime", "array_sum_squares"}
    with pytest.raises(ValueError, match="unknown primes; known: prime, trivial"):
        _chosen("primes,prime", known)
