"""L2-regularized logistic regression, as the original pyfora's ``BinaryLogisticRegressionFitter``.

Both of the original's methods minimize the same objective over the weights ``w`` (the
intercept's too, as the weight of a column of ``interceptScale``, regularized like the others):

    sum_i log(1 + exp(x_i . w)) - sum_{i of class zero} x_i . w + n * regularizer / 2 * |w|^2

so that ``x . w`` is the log-odds of class zero (the first label met in the responses). Each
iteration needs sums over the rows of ``x_i * g_i`` and ``x_i x_i' * h_i`` for per-row weights
``g`` and ``h``: they are summed over chunks of rows, each chunk an item of a list comprehension
the engine splits over every core (``engine.showcase``), then added in order, so the model is
the same to the bit on the cluster and off it. ``'newton-cg'`` takes Newton steps (``h`` the
logistic's own curvature; a step that would not lower the objective is halved), stopping where
the gradient has shrunk by ``tol`` (scaled by the smaller class's share, as liblinear, which the
original followed); ``'majorization'`` takes the steps of Jebara and Choromanska's quadratic
bound (``h = tanh(z / 2) / (2 z)``, every step lowers the objective), stopping where the
weights move less than ``tol``.
"""
from __future__ import annotations

import math
from typing import Any, List, Tuple

import numpy as np

from pyfora.algorithms.data import (logistic, ROWS_PER_CHUNK, chunk_starts, label_vector, predictor_matrix,
                                    training_matrix, two_labels)

METHODS = ("newton-cg", "majorization")


class BinaryLogisticRegressionFitter:
    """The fitting parameters, as the original's: ``regularizer`` is the weight of the squared
    norm of the weights (the objective above; scikit-learn's ``C`` is ``1 / (n * regularizer)``
    with the intercept regularized, as liblinear's ``intercept_scaling``); ``hasIntercept`` adds
    a column of ``interceptScale``; ``tol``, ``maxIter``: when to stop. ``splitLimit`` is
    accepted for the original's signature; chunks of 100,000 rows are what the cluster splits."""

    def __init__(self, regularizer: float, hasIntercept: bool = True, method: str = "majorization",
                 interceptScale: float = 1.0, tol: float = 1e-4, maxIter: float = 1e5,
                 splitLimit: int = 1000000) -> None:
        if not tol > 0 or not maxIter > 0:
            raise ValueError(f"tol and maxIter must be positive, not {tol!r} and {maxIter!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}")
        if not regularizer > 0:
            raise ValueError(f"the regularizer must be positive, not {regularizer!r}")
        self.regularizer = float(regularizer)
        self.hasIntercept = hasIntercept
        self.method = method
        self.interceptScale = float(interceptScale)
        self.tol = tol
        self.maxIter = maxIter
        self.splitLimit = splitLimit

    def fit(self, X: Any, y: Any) -> "BinaryLogisticRegressionModel":
        """The model of ``y`` (two labels: a one-column DataFrame, a Series or a 1-D array) given
        the rows of ``X`` (a DataFrame or a 2-D array). Class zero is the first label in ``y``."""
        matrix = training_matrix(X)
        labels = label_vector(y, len(matrix))
        zero_label, one_label = two_labels(labels)
        if self.hasIntercept:
            matrix = np.column_stack([matrix, np.full(len(matrix), self.interceptScale)])
        in_class_zero = (labels == zero_label).astype(np.float64)
        penalty = len(matrix) * self.regularizer
        if self.method == "newton-cg":
            weights, iterations = _newton(matrix, in_class_zero, penalty, self.tol, self.maxIter)
        else:
            weights, iterations = _majorization(matrix, in_class_zero, penalty, self.tol, self.maxIter)
        intercept = weights[-1] if self.hasIntercept else None
        coefficients = weights[:-1] if self.hasIntercept else weights
        return BinaryLogisticRegressionModel(coefficients, zero_label, one_label, intercept, self.interceptScale,
                                             iterations)


class BinaryLogisticRegressionModel:
    """A fitted model, as the original's: ``coefficients`` (one per predictor column),
    ``intercept`` (None without one), the two labels, and ``iters``, the iterations taken."""

    def __init__(self, coefficients: np.ndarray, classZeroLabel: Any, classOneLabel: Any, intercept: Any,
                 interceptScale: float, iters: int) -> None:
        self.coefficients = coefficients
        self.classZeroLabel = classZeroLabel
        self.classOneLabel = classOneLabel
        self.intercept = intercept
        self.interceptScale = interceptScale
        self.iters = iters

    def predict_probability(self, X: Any) -> np.ndarray:
        """The probability of class one for each row of ``X`` (the original's docstring said
        class zero; its numbers, which these are, were class one's)."""
        log_odds_of_zero = predictor_matrix(X) @ self.coefficients
        if self.intercept is not None:
            log_odds_of_zero = log_odds_of_zero + self.intercept * self.interceptScale
        return logistic(-log_odds_of_zero)

    def predict(self, X: Any) -> np.ndarray:
        """The label of each row: class one where its probability is above 0.5."""
        return np.where(self.predict_probability(X) > 0.5, self.classOneLabel, self.classZeroLabel)

    def score(self, X: Any, y: Any) -> float:
        """The share of the rows whose predicted label is ``y``'s."""
        labels = label_vector(y, len(predictor_matrix(X)))
        return float(np.mean(self.predict(X) == labels))



def _chunk_terms(matrix: np.ndarray, in_class_zero: np.ndarray, weights: np.ndarray, start: int,
                 majorizing: bool) -> Tuple[float, np.ndarray, np.ndarray]:
    """One chunk's part of the objective (without the penalty), of its gradient and of the
    curvature matrix (the Hessian's, or the majorizing bound's)."""
    rows = matrix[start:start + ROWS_PER_CHUNK]
    zeros = in_class_zero[start:start + ROWS_PER_CHUNK]
    log_odds = rows @ weights
    softplus = np.logaddexp(0.0, log_odds)  # log(1 + exp(z))
    loss = float(softplus.sum() - zeros @ log_odds)
    probability = np.exp(log_odds - softplus)  # exp(z) / (1 + exp(z)), its exponent never positive
    gradient = rows.T @ (probability - zeros)
    if majorizing:  # tanh(z / 2) / (2 z), 1/4 at 0
        small = np.abs(log_odds) < 1e-5
        safe = np.where(small, 1.0, log_odds)
        curvature = np.where(small, 0.25 - log_odds * log_odds / 48.0, np.tanh(safe / 2.0) / (2.0 * safe))
    else:
        curvature = probability * (1.0 - probability)
    # sum_i x_i x_i' h_i as W'W, W the rows scaled by sqrt(h) (h >= 0): BLAS computes a product of
    # a matrix with its own transpose as one triangle (syrk), half the work of rows' D rows
    scaled = rows * np.sqrt(curvature)[:, None]
    return loss, gradient, scaled.T @ scaled


def _terms(matrix: np.ndarray, in_class_zero: np.ndarray, weights: np.ndarray, penalty: float,
           majorizing: bool) -> Tuple[float, np.ndarray, np.ndarray]:
    """The objective, its gradient and the curvature matrix at ``weights``, penalty included."""
    pieces: List[Tuple[float, np.ndarray, np.ndarray]] = [
        _chunk_terms(matrix, in_class_zero, weights, start, majorizing) for start in chunk_starts(len(matrix))]
    loss, gradient, curvature = 0.0, np.zeros(len(weights)), np.zeros((len(weights), len(weights)))
    for chunk_loss, chunk_gradient, chunk_curvature in pieces:
        loss += chunk_loss
        gradient += chunk_gradient
        curvature += chunk_curvature
    loss += penalty / 2.0 * float(weights @ weights)
    return loss, gradient + penalty * weights, curvature + penalty * np.eye(len(weights))


def _newton(matrix: np.ndarray, in_class_zero: np.ndarray, penalty: float, tol: float,
            max_iterations: float) -> Tuple[np.ndarray, int]:
    weights = np.zeros(matrix.shape[1])
    zeros = float(in_class_zero.sum())
    smaller_share = max(min(zeros, len(in_class_zero) - zeros), 1.0) / len(in_class_zero)
    loss, gradient, hessian = _terms(matrix, in_class_zero, weights, penalty, False)
    stop_at = tol * smaller_share * math.sqrt(float(gradient @ gradient))
    iterations = 0
    while iterations < max_iterations and math.sqrt(float(gradient @ gradient)) > stop_at:
        step = np.linalg.solve(hessian, gradient)
        while True:
            candidate = weights - step
            new_loss, new_gradient, new_hessian = _terms(matrix, in_class_zero, candidate, penalty, False)
            if new_loss <= loss or float(step @ step) < 1e-30:
                break
            step = step / 2.0
        weights, loss, gradient, hessian = candidate, new_loss, new_gradient, new_hessian
        iterations += 1
    return weights, iterations


def _majorization(matrix: np.ndarray, in_class_zero: np.ndarray, penalty: float, tol: float,
                  max_iterations: float) -> Tuple[np.ndarray, int]:
    weights = np.zeros(matrix.shape[1])
    iterations = 0
    while iterations < max_iterations:
        _, gradient, bound = _terms(matrix, in_class_zero, weights, penalty, True)
        step = np.linalg.solve(bound, gradient)
        weights = weights - step
        iterations += 1
        if float(step @ step) <= tol * tol:
            break
    return weights, iterations
