"""The result as Markdown (stdout) and CSV (perf/results/): start-up per engine, one row per
variant, job and size (also for variants a job does not apply to, saying so), the growth of the
prime count with N, and the targets.

``perf/results/README.md`` explains every column; keep it in step with ``COLUMNS``.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from perf.measure import NOT_APPLICABLE, NOT_RUN, OK, WRONG, Cell, Results
from perf.plan import Job, Plan
from perf.runner import Variant

COLUMNS = ("job", "size", "variant", "runs", "cold", "median", "min", "max", "p99",
           "time / pyfora", "answer")
CSV_COLUMNS = ("job", "size", "variant", "label", "status", "runs", "cold_s", "median_s", "min_s",
               "max_s", "p99_s", "time_over_pyfora", "note")


def markdown_table(header: Sequence[str], rows: List[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _time(seconds: Optional[float], job: Job) -> str:
    return "–" if seconds is None else f"{seconds * job.per_second:.3g} {job.unit}"


def _answer(cell: Cell) -> str:
    if cell.status == OK:
        return "ok"
    if cell.status == WRONG:
        return f"WRONG: {cell.note}"
    return cell.note if cell.status in (NOT_RUN, NOT_APPLICABLE) else f"{cell.status}: {cell.note}"


def _stats(cell: Cell, job: Job) -> Tuple[Optional[float], ...]:
    """Median, min, max and p99 (only where each call is a sample) of the warm runs."""
    if not cell.times:
        return None, None, None, None
    return cell.median, min(cell.times), max(cell.times), cell.p99 if job.batch else None


def _row(cell: Cell, job: Job, results: Results) -> List[str]:
    ratio = results.ratio(cell)
    return [job.title, f"{job.size_name}={cell.size:,}", cell.label, str(len(cell.times)),
            _time(cell.cold, job), *(_time(value, job) for value in _stats(cell, job)),
            "–" if ratio is None else f"{ratio:.2f}", _answer(cell)]


def _startup_rows(variants: List[Variant]) -> List[List[str]]:
    return [[v.spec.label, "–" if v.startup is None else f"{v.startup:.3f} s",
             v.spec.startup if v.unavailable is None else f"unavailable: {v.unavailable}"]
            for v in variants]


def _growth(plan: Plan, results: Results, variants: List[Variant]) -> List[str]:
    """Each variant's prime-count time over its time at the smallest N, beside the growth of
    the work: N^1.5 for the bound, N^1.5 / ln N for the tutorial's ``isPrime`` in practice."""
    job = plan.prime
    smallest, larger = job.sizes[0], job.sizes[1:]
    rows = [["N^1.5", *(f"{(size / smallest) ** 1.5:.2f}" for size in larger)],
            # the primes dominate: about sqrt(p) steps for each of the N / ln N primes below N
            ["N^1.5 / ln N", *(f"{(size / smallest) ** 1.5 * math.log(smallest) / math.log(size):.2f}"
                               for size in larger)]]
    for variant in variants:
        base = results.get(job.key, smallest, variant.spec.key)
        if base is None:
            continue
        cells = [results.get(job.key, size, variant.spec.key) for size in larger]
        rows.append([variant.spec.label, *("–" if c is None else f"{c.median / base.median:.2f}"
                                           for c in cells)])
    header = ["time ratio", *(f"{size:,} / {smallest:,}" for size in larger)]
    return markdown_table(header, rows)


def markdown(plan: Plan, facts: Dict[str, str], variants: List[Variant], results: Results,
             target_lines: List[str]) -> str:
    mode = "quick" if plan.quick else "full"
    lines = [f"# Benchmark ({mode} run)", ""]
    lines += [f"- {name}: {value}" for name, value in facts.items()]
    lines += ["", "## Start-up (apart from job times)", ""]
    lines += markdown_table(("variant", "start-up", "what is timed"), _startup_rows(variants))
    lines += ["", f"## Jobs (warm runs: {plan.repeats} per cell, variants alternating; trivial "
                  "block: every call is a sample)", ""]
    by_key = {job.key: job for job in plan.jobs}
    lines += markdown_table(COLUMNS, [_row(cell, by_key[cell.job], results) for cell in results.cells])
    if len(plan.prime.sizes) > 1:
        lines += ["", "## Prime count: growth with N (the work grows like N^1.5 / ln N)", ""]
        lines += _growth(plan, results, variants)
    lines += ["", "## Targets (DESIGN.md and the issues)", ""] + [f"- {line}" for line in target_lines]
    return "\n".join(lines) + "\n"


def _seconds(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.6f}"


def write_csv(path: Path, plan: Plan, facts: Dict[str, str], variants: List[Variant],
              results: Results) -> None:
    """One row per cell and one per engine start-up (job "start-up"); the machine facts come
    first as ``# name: value`` comment lines."""
    jobs = {job.key: job for job in plan.jobs}
    with open(path, "w", newline="") as out:
        out.writelines(f"# {name}: {value}\n" for name, value in facts.items())
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for v in variants:
            writer.writerow(["start-up", "", v.spec.key, v.spec.label,
                             "unavailable" if v.unavailable else OK, int(v.startup is not None), "",
                             _seconds(v.startup), "", "", "", "", v.unavailable or v.spec.startup])
        for cell in results.cells:
            ratio = results.ratio(cell)
            writer.writerow([cell.job, cell.size, cell.variant, cell.label, cell.status,
                             len(cell.times), _seconds(cell.cold),
                             *(_seconds(value) for value in _stats(cell, jobs[cell.job])),
                             "" if ratio is None else f"{ratio:.4f}", cell.note])
