"""``python -m perf [--quick] [--url URL] [--jobs KEYS] [--variants KEYS]``: run every
benchmark, print the Markdown result, write the CSV and PNG under perf/results/, print the
targets; then the data channel, the cluster secret and the realistic programs
(``perf.realistic``), each with its own targets. Exits 0 whatever the figures say.

``--jobs`` and ``--variants`` make a partial run: only the jobs and variants named (pyfora, the
reference of every ratio, always runs), and none of the sections after the table; the targets
whose cells were not measured say N/A.

The run is guarded by ``__name__ == "__main__"`` because Dask and the Pool spawn processes that
import this module again.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import List, Optional, Set

from perf import (channel, engines, install, kernel_cache, machine, realistic, report, responses, runner, secret,
                  targets)
from perf.measure import Results
from perf.plan import plan as make_plan

RESULTS = Path(__file__).resolve().parent / "results"


def _log(message: str) -> None:
    print(f"[perf] {message}", file=sys.stderr, flush=True)


def _chart(path: Path, *args) -> str:
    problem = install.ensure([install.MATPLOTLIB], _log)[install.MATPLOTLIB]
    if problem:
        return f"no chart: matplotlib is not available ({problem})"
    from perf import chart
    chart.draw(path, *args)
    return f"chart: {path}"


def _chosen(keys: Optional[str], known: List[str]) -> Set[str]:
    """The keys named (comma-separated), or every known one when none are; a key that is not
    known is an error naming those that are."""
    if not keys:
        return set(known)
    named = {key.strip() for key in keys.split(",") if key.strip()}
    unknown = sorted(named - set(known))
    if unknown:
        raise ValueError(f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return named


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf", description="Run every benchmark: Markdown on stdout, CSV and PNG in perf/results/.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, fewer repeats: a few minutes")
    parser.add_argument("--url", help="also run pyfora on the cluster at this URL")
    parser.add_argument("--jobs", help="only these jobs, comma-separated (e.g. prime,array_sum_squares)")
    parser.add_argument("--variants", help="only these variants besides pyfora, comma-separated "
                                           "(e.g. numba-parallel,bodo)")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    load_at_start = machine.load_average()
    plan = make_plan(args.quick)
    specs = engines.specs(args.url)
    try:
        jobs = _chosen(args.jobs, [job.key for job in plan.jobs])
        kept = _chosen(args.variants, [spec.key for spec in specs]) | {engines.REFERENCE}
    except ValueError as exc:
        parser.error(str(exc))
    partial = bool(args.jobs or args.variants)
    with runner.started([spec for spec in specs if spec.key in kept], _log) as variants:
        cells = [cell for job in plan.jobs if job.key in jobs
                 for cell in runner.run_job(job, variants, plan.repeats, _log)]
    results = Results(cells, engines.REFERENCE)
    facts = {"run": ("quick" if plan.quick else "full") + (f", with {args.url}" if args.url else "")
             + (f", only jobs {sorted(jobs)} and variants {sorted(kept)}" if partial else ""),
             **machine.facts(load_at_start)}
    target_lines = targets.check(plan, variants, results)
    print(report.markdown(plan, facts, variants, results, target_lines))

    RESULTS.mkdir(exist_ok=True)
    stem = f"bench-{'quick-' if plan.quick else ''}{datetime.datetime.now():%Y%m%d-%H%M%S}"
    report.write_csv(RESULTS / f"{stem}.csv", plan, facts, variants, results)
    print(f"csv: {RESULTS / f'{stem}.csv'}")
    title = f"{'quick' if plan.quick else 'full'} run, {facts['date']}, {facts['cores']} cores, " \
            f"{facts['memory']}, Python {facts['python']}, commit {facts['commit']}"
    print(_chart(RESULTS / f"{stem}.png", plan, title, variants, results))
    if partial:
        print(f"wall time: {time.perf_counter() - began:.0f} s")
        return 0
    _log("data channel ...")
    print("\n## Data channel\n\n" + channel.report(plan.quick))
    _log("cluster secret ...")
    print("\n## Cluster secret\n\n" + secret.report(plan.quick))
    _log("kernel cache ...")
    print("\n## Kernel cache\n\n" + kernel_cache.report(plan.quick))
    _log("responses ...")
    print("\n## Responses\n\n" + responses.report(plan.quick))
    _log("realistic programs ...")
    print("\n## Realistic programs\n\n" + realistic.report(plan.quick, _log, RESULTS))
    print(f"wall time: {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
