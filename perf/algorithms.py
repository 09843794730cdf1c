"""``pyfora.algorithms`` on the cluster against what a user would run instead, in one run.

Linear regression of 10M rows by 10 columns (the issue's size; ``--rows`` for another): the
data is made on the cluster once (a remote array, as the original's users read their CSV there),
then each round times a block calling ``pyfora.algorithms.linearRegression`` on it, against
numpy's least squares (``np.linalg.lstsq`` with a column of ones) and against the same
``linearRegression`` in this process, on a local copy of the same data. Rounds alternate, so the
machine's load falls on all alike; the medians are reported, with the ratio to ``lstsq`` (target:
at most 1.2) and whether the coefficients agree (within 1e-6 relative; the block's must be the
local function's to the bit).

``python -m perf.algorithms [--rows N] [--rounds K]``; a CSV row per variant goes to
perf/results/algorithms.csv.
"""
from __future__ import annotations

import argparse
import csv
import pathlib
import statistics
import time
from typing import Callable, Dict, List

import numpy as np

import pyfora
from pyfora.algorithms import linearRegression

RESULTS = pathlib.Path(__file__).parent / "results" / "algorithms.csv"
TARGET_RATIO = 1.2  # of numpy's lstsq on the same machine


def _made_on_the_cluster(ufora: pyfora.Executor, rows: int, columns: int):
    with ufora.remotely:
        rng = np.random.default_rng(2026)
        predictors = rng.normal(size=(rows, columns))
        responses = predictors @ np.arange(1.0, columns + 1) + 0.5 + rng.normal(scale=0.1, size=rows)
    return predictors, responses


def _least_squares(predictors: np.ndarray, responses: np.ndarray) -> np.ndarray:
    with_ones = np.column_stack([predictors, np.ones(len(predictors))])
    return np.linalg.lstsq(with_ones, responses, rcond=None)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ufora = pyfora.connect(progress=False)
    try:
        remote_x, remote_y = _made_on_the_cluster(ufora, args.rows, args.columns)
        local_x, local_y = remote_x.toLocal().result(), remote_y.toLocal().result()

        def on_the_cluster() -> np.ndarray:
            with ufora.remotely.downloadAll():
                coefficients = linearRegression(remote_x, remote_y)
            return coefficients[0]

        variants: Dict[str, Callable[[], np.ndarray]] = {
            "pyfora block": on_the_cluster,
            "numpy lstsq": lambda: _least_squares(local_x, local_y),
            "linearRegression here": lambda: linearRegression(local_x, local_y)[0],
        }
        on_the_cluster()  # the first run: its shapes measured, the block's path chosen
        times: Dict[str, List[float]] = {name: [] for name in variants}
        answers: Dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, variant in variants.items():
                start = time.perf_counter()
                answers[name] = variant()
                times[name].append(time.perf_counter() - start)
    finally:
        ufora.close()
    reference = answers["numpy lstsq"]
    baseline = statistics.median(times["numpy lstsq"])
    rows = []
    for name, taken in times.items():
        median = statistics.median(taken)
        error = float(np.max(np.abs(answers[name] - reference) / np.abs(reference)))
        rows.append({"job": f"linearRegression {args.rows}x{args.columns}", "variant": name,
                     "median_s": f"{median:.3f}", "ratio_to_lstsq": f"{median / baseline:.2f}",
                     "max_relative_difference": f"{error:.1e}"})
        print(f"{name:24s} {median:7.3f} s  {median / baseline:5.2f}x lstsq  (coefficients within {error:.1e})")
    bitwise = np.array_equal(answers["pyfora block"], answers["linearRegression here"])
    ratio = statistics.median(times["pyfora block"]) / baseline
    print(f"block's coefficients the local function's to the bit: {bitwise}; "
          f"target <= {TARGET_RATIO}x lstsq: {'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)")
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
