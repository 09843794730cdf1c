"""Gradient-boosted trees, as the original pyfora's ``GradientBoostedRegressorBuilder`` and
``GradientBoostedClassifierBuilder``: each stage fits a regression tree
(``pyfora.algorithms.regression_tree``, whose column searches the engine splits) to the loss's
negative gradient at the current predictions, and adds it times ``learningRate``.

* ``'l2'``: starts from the mean; the tree's leaves are the mean residual.
* ``'lad'``: starts from the median; the tree is grown on the residuals' signs, its leaves are
  the median residual of their rows.
* the classifier (two labels, class one the second met): starts from the log-odds of class one;
  the tree is grown on ``y - p``, its leaves take one Newton step of the log loss,
  ``sum(y - p) / sum(p (1 - p))``.

These are scikit-learn's ``GradientBoostingRegressor`` (``squared_error``, ``absolute_error``)
and ``GradientBoostingClassifier`` stages, without subsampling.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional

import numpy as np

from pyfora.algorithms.data import (logistic, label_vector, predictor_matrix, response_vector, training_matrix,
                                    two_labels)
from pyfora.algorithms.regression_tree import RegressionTree, RegressionTreeBuilder

LOSSES = ("l2", "lad")


class _Loss:
    """How a loss starts, which gradient its trees are grown on, and what their leaves hold."""

    def __init__(self, start: Callable[[np.ndarray], float],
                 gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 leaf: Optional[Callable[[np.ndarray, np.ndarray, np.ndarray], float]]) -> None:
        self.start, self.gradient, self.leaf = start, gradient, leaf


def _median_residual(responses: np.ndarray, predictions: np.ndarray, rows: np.ndarray) -> float:
    return float(np.median(responses[rows] - predictions[rows]))


def _newton_step(responses: np.ndarray, predictions: np.ndarray, rows: np.ndarray) -> float:
    probability = logistic(predictions[rows])
    curvature = float((probability * (1.0 - probability)).sum())
    residual = float((responses[rows] - probability).sum())
    return 0.0 if abs(curvature) < 1e-150 else residual / curvature



def _log_odds(responses: np.ndarray) -> float:
    share = float(responses.mean())
    return float(np.log(share / (1.0 - share)))


_REGRESSION_LOSSES = {
    "l2": _Loss(lambda y: float(y.mean()), lambda y, f: y - f, None),
    "lad": _Loss(lambda y: float(np.median(y)), lambda y, f: np.sign(y - f), _median_residual),
}
_CLASSIFICATION_LOSS = _Loss(_log_odds, lambda y, f: y - logistic(f), _newton_step)


class RegressionModel:
    """A boosted model: ``initial`` plus ``learningRate`` times the sum of its trees."""

    def __init__(self, initial: float, trees: List[RegressionTree], learningRate: float) -> None:
        self.initial, self.trees, self.learningRate = initial, trees, learningRate

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        total = np.full(len(matrix), self.initial)
        for tree in self.trees:
            total = total + self.learningRate * tree._predict(matrix)
        return total

    def predict(self, x: Any) -> Any:
        """The predictions for the rows of ``x``: a Series (``x``'s index) for a DataFrame, else an array."""
        predictions = self.raw(predictor_matrix(x))
        if hasattr(x, "columns"):
            import pandas
            return pandas.Series(predictions, index=x.index)
        return predictions

    def score(self, x: Any, y: Any) -> float:
        """The coefficient of determination R^2 of the predictions for ``x``."""
        matrix = predictor_matrix(x)
        truth = response_vector(y, len(matrix))
        return 1.0 - float(((truth - self.raw(matrix)) ** 2).sum()) / float(((truth - truth.mean()) ** 2).sum())


class BinaryClassificationModel(RegressionModel):
    """A boosted classifier: its raw predictions are class one's log-odds."""

    def __init__(self, initial: float, trees: List[RegressionTree], learningRate: float, classZeroLabel: Any,
                 classOneLabel: Any) -> None:
        super().__init__(initial, trees, learningRate)
        self.classZeroLabel, self.classOneLabel = classZeroLabel, classOneLabel

    def predict_probability(self, x: Any) -> np.ndarray:
        """The probability of class one for each row of ``x``."""
        return logistic(self.raw(predictor_matrix(x)))

    def predict(self, x: Any) -> np.ndarray:
        return np.where(self.raw(predictor_matrix(x)) > 0.0, self.classOneLabel, self.classZeroLabel)

    def score(self, x: Any, y: Any) -> float:
        """The share of the rows whose predicted label is ``y``'s."""
        labels = label_vector(y, len(predictor_matrix(x)))
        return float(np.mean(self.predict(x) == labels))


class IterativeFitter:
    """The original's step-by-step fitting: ``model`` and its ``predictions`` on the training
    rows; ``next()`` gives the fitter one stage further."""

    def __init__(self, model: RegressionModel, predictions: Optional[np.ndarray], fitting: "_Fitting") -> None:
        self.model, self.predictions, self._fitting = model, predictions, fitting

    def next(self) -> "IterativeFitter":
        fitting = self._fitting
        predictions = self.predictions if self.predictions is not None else fitting.initial_predictions(self.model)
        tree = fitting.stage(predictions)
        model = fitting.grown(self.model, tree)
        return IterativeFitter(model, predictions + model.learningRate * tree._predict(fitting.matrix), fitting)


class _Fitting:
    """What every stage of one fit shares: the data, the loss, the tree builder."""

    def __init__(self, matrix: np.ndarray, responses: np.ndarray, loss: _Loss, builder: RegressionTreeBuilder,
                 grown: Callable[[RegressionModel, RegressionTree], RegressionModel]) -> None:
        self.matrix, self.responses, self.loss, self.builder, self.grown = matrix, responses, loss, builder, grown

    def initial_predictions(self, model: RegressionModel) -> np.ndarray:
        return np.full(len(self.matrix), model.initial)

    def stage(self, predictions: np.ndarray) -> RegressionTree:
        responses, leaf_of = self.responses, self.loss.leaf
        leaf = None if leaf_of is None else (lambda rows: leaf_of(responses, predictions, rows))
        return self.builder.fit_arrays(self.matrix, self.loss.gradient(responses, predictions), leaf)


class GradientBoostedRegressorBuilder:
    """The original's parameters: each tree at most ``maxDepth`` deep, ``nBoosts`` of them,
    added times ``learningRate``; ``loss`` ``'l2'`` or ``'lad'``."""

    def __init__(self, maxDepth: int = 3, nBoosts: int = 100, learningRate: float = 1.0, minSamplesSplit: int = 2,
                 numBuckets: int = 10000, loss: str = "l2") -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, not {loss!r}")
        self.loss, self.nBoosts, self.learningRate = loss, nBoosts, learningRate
        self.treeBuilder = RegressionTreeBuilder(maxDepth, minSamplesSplit, numBuckets)

    def iterativeFitter(self, X: Any, y: Any) -> IterativeFitter:
        matrix = training_matrix(X)
        responses = response_vector(y, len(matrix), checked=True)
        loss = _REGRESSION_LOSSES[self.loss]
        model = RegressionModel(loss.start(responses), [], self.learningRate)
        fitting = _Fitting(matrix, responses, loss, self.treeBuilder,
                           lambda old, tree: RegressionModel(old.initial, old.trees + [tree], old.learningRate))
        return IterativeFitter(model, None, fitting)

    def fit(self, X: Any, y: Any) -> RegressionModel:
        return _boosted(self.iterativeFitter(X, y), self.nBoosts)


class GradientBoostedClassifierBuilder:
    """As ``GradientBoostedRegressorBuilder``, for two labels (class zero the first met in ``y``)."""

    def __init__(self, maxDepth: int = 3, nBoosts: int = 100, learningRate: float = 1.0, minSamplesSplit: int = 2,
                 numBuckets: int = 10000) -> None:
        self.nBoosts, self.learningRate = nBoosts, learningRate
        self.treeBuilder = RegressionTreeBuilder(maxDepth, minSamplesSplit, numBuckets)

    def iterativeFitter(self, X: Any, y: Any) -> IterativeFitter:
        matrix = training_matrix(X)
        labels = label_vector(y, len(matrix))
        zero, one = two_labels(labels)
        responses = (labels == one).astype(np.float64)
        model = BinaryClassificationModel(_log_odds(responses), [], self.learningRate, zero, one)
        fitting = _Fitting(matrix, responses, _CLASSIFICATION_LOSS, self.treeBuilder,
                           lambda old, tree: BinaryClassificationModel(old.initial, old.trees + [tree],
                                                                       old.learningRate, zero, one))
        return IterativeFitter(model, None, fitting)

    def fit(self, X: Any, y: Any) -> BinaryClassificationModel:
        model = _boosted(self.iterativeFitter(X, y), self.nBoosts)
        assert isinstance(model, BinaryClassificationModel)
        return model


def _boosted(fitter: IterativeFitter, stages: int) -> Any:
    for _ in range(stages):
        fitter = fitter.next()
    return fitter.model

