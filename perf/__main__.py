"""``python -m perf [--quick] [--url URL]``: run every benchmark, print the Markdown result,
write the CSV and PNG under perf/results/, print the targets; then the data channel, the cluster
secret and the realistic programs (``perf.realistic``), each with its own targets. Exits 0
whatever the figures say.

The run is guarded by ``__name__ == "__main__"`` because Dask and the Pool spawn processes that
import this module again.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import List, Optional

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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf", description="Run every benchmark: Markdown on stdout, CSV and PNG in perf/results/.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, fewer repeats: a few minutes")
    parser.add_argument("--url", help="also run pyfora on the cluster at this URL")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    load_at_start = machine.load_average()
    plan = make_plan(args.quick)
    with runner.started(engines.specs(args.url), _log) as variants:
        cells = [cell for job in plan.jobs for cell in runner.run_job(job, variants, plan.repeats, _log)]
    results = Results(cells, engines.REFERENCE)
    facts = {"run": ("quick" if plan.quick else "full") + (f", with {args.url}" if args.url else ""),
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
