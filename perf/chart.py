"""The PNG beside the CSV: start-up, prime count (log scale, one group of bars per N, whiskers
from min to max) and the trivial block (median bar, p99 tick) on the first row; the array sum,
the list of floats and string building, drawn like the prime count, on the second. One colour
per variant.

matplotlib is optional: ``perf.install`` tries to fetch it, and without it there is no chart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from perf.measure import Results
from perf.plan import Job, Plan
from perf.runner import Variant

# The jobs of issue 5; "array creation only" (pyfora alone) is in the table, not drawn.
SECOND_ROW = ("array_sum_squares", "list_floats", "string_building")


def _labels(axes: Any, labels: List[str]) -> None:
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)


def _not_measured(axes: Any, job: Job) -> None:
    """An empty panel that says so (a partial run, or every variant failed): a log scale over
    no values would stop the drawing."""
    axes.set_title(f"{job.title}: not measured")
    axes.axis("off")


def _startup_panel(axes: Any, variants: List[Variant], colours: Dict[str, str]) -> None:
    started = [v for v in variants if v.startup is not None]
    axes.bar(range(len(started)), [v.startup for v in started],
             color=[colours[v.spec.key] for v in started])
    _labels(axes, [v.spec.label for v in started])
    axes.set_ylabel("seconds")
    axes.set_title("start-up")


def _sizes_panel(axes: Any, job: Job, variants: List[Variant], results: Results,
                 colours: Dict[str, str]) -> None:
    # Only the variants with a time for this job get a slot, so that the bars of a job few
    # engines run (string building) are not spread over empty gaps.
    variants = [v for v in variants
                if any(results.get(job.key, size, v.spec.key) for size in job.sizes)]
    if not variants:
        _not_measured(axes, job)
        return
    width = 0.8 / max(1, len(variants))
    for i, variant in enumerate(variants):
        measured = [(x, results.get(job.key, size, variant.spec.key))
                    for x, size in enumerate(job.sizes)]
        measured = [(x + (i + 0.5) * width - 0.4, cell) for x, cell in measured if cell is not None]
        if not measured:
            continue
        medians = [cell.median for _, cell in measured]
        whiskers = [[m - min(cell.times) for m, (_, cell) in zip(medians, measured)],
                    [max(cell.times) - m for m, (_, cell) in zip(medians, measured)]]
        axes.bar([x for x, _ in measured], medians, width, yerr=whiskers,
                 color=colours[variant.spec.key], label=variant.spec.label)
    axes.set_yscale("log")
    axes.set_xticks(range(len(job.sizes)), [f"{job.size_name}={size:,}" for size in job.sizes])
    axes.set_ylabel("seconds (log), warm median, min to max")
    axes.set_title(job.title)
    axes.legend(fontsize=7)


def _latency_panel(axes: Any, job: Job, variants: List[Variant], results: Results,
                   colours: Dict[str, str]) -> None:
    measured = [(v, results.get(job.key, job.sizes[0], v.spec.key)) for v in variants]
    measured = [(v, cell) for v, cell in measured if cell is not None]
    if not measured:
        _not_measured(axes, job)
        return
    positions = range(len(measured))
    axes.bar(positions, [cell.median * 1e3 for _, cell in measured],
             color=[colours[v.spec.key] for v, _ in measured])
    axes.scatter(positions, [cell.p99 * 1e3 for _, cell in measured], marker="_", s=300,
                 color="black", label="p99")
    _labels(axes, [v.spec.label for v, _ in measured])
    axes.set_yscale("log")
    axes.set_ylabel("milliseconds (log)")
    axes.set_title(f"{job.title}: median of {job.sizes[0]:,} calls")
    axes.legend(fontsize=7)


def draw(path: Path, plan: Plan, title: str, variants: List[Variant], results: Results) -> None:
    import matplotlib
    matplotlib.use("Agg")  # no display here, and none needed
    from matplotlib import pyplot

    colours = {v.spec.key: f"C{i}" for i, v in enumerate(variants)}
    figure, ((startup, sizes, latency), second_row) = pyplot.subplots(
        2, 3, figsize=(18, 12), gridspec_kw={"width_ratios": [1, 2, 1]})
    figure.suptitle(title, fontsize=9)
    _startup_panel(startup, variants, colours)
    _sizes_panel(sizes, plan.prime, variants, results, colours)
    _latency_panel(latency, plan.job("trivial"), variants, results, colours)
    for axes, key in zip(second_row, SECOND_ROW):
        _sizes_panel(axes, plan.job(key), variants, results, colours)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
