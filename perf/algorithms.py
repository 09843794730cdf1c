"""``pyfora.algorithms`` on the cluster against what a user would run instead, in one run.

Each job's data is made on the cluster once (a remote array, as the original's users read their
CSV there); each round then times a block calling the model on it, against the reference library
on a local copy of the same data, and against the same pyfora function run in this process.
Rounds alternate, so the machine's load falls on all alike; medians are reported with their
ratio to the reference and how far the answers are from it (the block's must be the local
function's to the bit).

* linear regression, 10M rows by 10 columns, against numpy's ``lstsq`` (target: at most 1.2x);
* logistic regression (``'newton-cg'``), 1M rows by 20 columns, against scikit-learn's
  ``LogisticRegression`` minimizing the same objective (target: at most 1x);
* gradient boosting, 100 trees of depth 3 on 1M rows by 10 columns, against scikit-learn's
  ``GradientBoostingRegressor`` (target: at most 1x); the answer compared is the training R^2.

``python -m perf.algorithms [--scale F] [--rounds K] [--jobs Boosted]`` (``--scale 0.1``: a tenth
of the rows; ``--jobs``: the jobs whose names hold one of these words);
a CSV row per variant goes to perf/results/algorithms.csv.
"""
from __future__ import annotations

import argparse
import csv
import pathlib
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import pyfora
from pyfora.algorithms import BinaryLogisticRegressionFitter, GradientBoostedRegressorBuilder, linearRegression

RESULTS = pathlib.Path(__file__).parent / "results" / "algorithms.csv"
REGULARIZER = 1e-4


@dataclass(frozen=True)
class Job:
    name: str
    rows: int
    columns: int
    target: float  # the block's time over the reference's, at most
    make: Callable[[int, int], Tuple[np.ndarray, np.ndarray]]  # run on the cluster: (predictors, responses)
    fit: Callable[[Any, Any], np.ndarray]  # the pyfora model's answer, as one vector
    reference: Callable[[np.ndarray, np.ndarray], np.ndarray]  # the same vector, by the reference library


def _regression_data(rows: int, columns: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    predictors = rng.normal(size=(rows, columns))
    return predictors, predictors @ np.arange(1.0, columns + 1) + 0.5 + rng.normal(scale=0.1, size=rows)


def _classification_data(rows: int, columns: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2027)
    predictors = rng.normal(size=(rows, columns))
    odds = predictors @ np.linspace(-1.0, 1.0, columns) + 0.2
    labels = (rng.random(rows) < 1 / (1 + np.exp(-odds))).astype(np.int64)
    labels[0] = 0  # class zero (the first label met) is 0, scikit-learn's classes_[0]
    return predictors, labels


def _least_squares(predictors: np.ndarray, responses: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(np.column_stack([predictors, np.ones(len(predictors))]), responses, rcond=None)[0]


def _logistic_weights(predictors: Any, labels: Any) -> np.ndarray:
    model = BinaryLogisticRegressionFitter(REGULARIZER, method="newton-cg").fit(predictors, labels)
    return np.append(model.coefficients, model.intercept)


def _scikit_logistic(predictors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression  # a test dependency: installed with .[test]
    columns = np.column_stack([predictors, np.ones(len(predictors))])  # the intercept regularized, as ours
    model = LogisticRegression(C=1 / (len(predictors) * REGULARIZER), fit_intercept=False).fit(columns, labels)
    return -model.coef_[0]  # ours are class zero's log-odds


def _boosted_score(predictors: Any, responses: Any) -> np.ndarray:
    model = GradientBoostedRegressorBuilder(3, 100, 0.1).fit(predictors, responses)
    return np.array([model.score(predictors, responses)])


def _scikit_boosted_score(predictors: np.ndarray, responses: np.ndarray) -> np.ndarray:
    from sklearn.ensemble import GradientBoostingRegressor  # a test dependency: installed with .[test]
    model = GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, max_depth=3).fit(predictors, responses)
    return np.array([model.score(predictors, responses)])


JOBS = (
    Job("linearRegression", 10_000_000, 10, 1.2, _regression_data, lambda x, y: linearRegression(x, y)[0],
        _least_squares),
    Job("BinaryLogisticRegressionFitter newton-cg", 1_000_000, 20, 1.0, _classification_data, _logistic_weights,
        _scikit_logistic),
    Job("GradientBoostedRegressorBuilder 100 x depth 3", 1_000_000, 10, 1.0, _regression_data, _boosted_score,
        _scikit_boosted_score),
)


def _run_job(ufora: pyfora.Executor, job: Job, rows: int, rounds: int) -> List[Dict[str, str]]:
    make = job.make
    with ufora.remotely:
        predictors, responses = make(rows, job.columns)
    local_x, local_y = predictors.toLocal().result(), responses.toLocal().result()
    fit = job.fit

    def on_the_cluster() -> np.ndarray:
        with ufora.remotely.downloadAll():
            answer = fit(predictors, responses)
        return answer

    variants: Dict[str, Callable[[], np.ndarray]] = {
        "pyfora block": on_the_cluster,
        "reference": lambda: job.reference(local_x, local_y),
        "pyfora function here": lambda: fit(local_x, local_y),
    }
    on_the_cluster()  # the first run: its shapes measured, the block's path chosen
    times: Dict[str, List[float]] = {name: [] for name in variants}
    answers: Dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, variant in variants.items():
            start = time.perf_counter()
            answers[name] = variant()
            times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["reference"])
    title = f"{job.name} {rows}x{job.columns}"
    print(title)
    rows_out = []
    for name, taken in times.items():
        median = statistics.median(taken)
        error = float(np.max(np.abs(answers[name] - answers["reference"]) / np.abs(answers["reference"])))
        rows_out.append({"job": title, "variant": name, "median_s": f"{median:.3f}",
                         "ratio_to_reference": f"{median / baseline:.2f}", "max_relative_difference": f"{error:.1e}"})
        print(f"  {name:22s} {median:7.3f} s  {median / baseline:5.2f}x reference  (answer within {error:.1e})")
    ratio = statistics.median(times["pyfora block"]) / baseline
    bitwise = np.array_equal(answers["pyfora block"], answers["pyfora function here"])
    print(f"  block's answer the local function's to the bit: {bitwise}; target <= {job.target}x: "
          f"{'met' if ratio <= job.target else 'NOT met'} ({ratio:.2f}x)")
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="the share of each job's rows to use")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", default="", help="comma-separated words a job's name must contain (default: all)")
    args = parser.parse_args()
    wanted = [job for job in JOBS if not args.jobs or any(word in job.name for word in args.jobs.split(","))]
    ufora = pyfora.connect(progress=False)
    try:
        rows = [row for job in wanted
                for row in _run_job(ufora, job, max(1000, int(job.rows * args.scale)), args.rounds)]
    finally:
        ufora.close()
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
