"""Regression trees, as the original pyfora's ``RegressionTreeBuilder`` and ``RegressionTree``.

A node is split where the sum of squared errors of its two sides is least: for each column, its
rows sorted by that column, every boundary between two distinct values is a candidate (the
threshold halfway between them, as scikit-learn's); where a node holds more distinct values
than ``numBuckets``, only the boundaries between ``numBuckets`` runs of about equal rows are.
The columns are searched in a comprehension the engine splits over every core
(``engine.showcase``): a large node's columns are sorted in parallel. A node becomes a leaf (the
mean of its responses) at ``maxDepth``, below ``minSamplesSplit`` rows, or where its responses
are all equal or no column has two distinct values.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from pyfora.algorithms.data import predictor_matrix, response_vector, training_matrix

# two values closer than this are one (scikit-learn's FEATURE_THRESHOLD): no threshold between them
_SAME_VALUE = 1e-7
_NO_SPLIT = (-np.inf, -1, np.nan)


class RegressionTree:
    """A fitted tree: node ``i`` sends a row whose column ``feature[i]`` is at most
    ``threshold[i]`` to node ``left[i]``, else to ``right[i]``; a leaf (``feature[i]`` -1)
    predicts ``value[i]``. Node 0 is the root."""

    def __init__(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                 value: np.ndarray, numDimensions: int) -> None:
        self.feature, self.threshold, self.left, self.right, self.value = feature, threshold, left, right, value
        self.numDimensions = numDimensions

    def predict(self, x: Any) -> Any:
        """The predictions for the rows of ``x``: a Series (with ``x``'s index) for a DataFrame,
        an array for a 2-D array, a float for one row."""
        if np.ndim(x) == 1 and not hasattr(x, "columns"):
            return float(self._predict(predictor_matrix(np.asarray(x, dtype=np.float64)[None, :]))[0])
        predictions = self._predict(predictor_matrix(x))
        if hasattr(x, "columns"):
            import pandas
            return pandas.Series(predictions, index=x.index)
        return predictions

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        node = np.zeros(len(matrix), dtype=np.int64)
        rows = np.arange(len(matrix))
        while True:
            inner = self.feature[node] >= 0
            if not inner.any():
                return self.value[node]
            at, where = node[inner], rows[inner]
            goes_left = matrix[where, self.feature[at]] <= self.threshold[at]
            node[inner] = np.where(goes_left, self.left[at], self.right[at])

    def score(self, x: Any, yTrue: Any) -> float:
        """The coefficient of determination R^2 of the predictions for ``x``."""
        truth = response_vector(yTrue, len(predictor_matrix(x)))
        residual = float(((truth - self._predict(predictor_matrix(x))) ** 2).sum())
        return 1.0 - residual / float(((truth - truth.mean()) ** 2).sum())


class RegressionTreeBuilder:
    """The tree's parameters, as the original's (``minSplitThresh`` is accepted for its
    signature: how the original cut its histograms, which this search does not need)."""

    def __init__(self, maxDepth: int, minSamplesSplit: int = 2, numBuckets: int = 10000,
                 minSplitThresh: int = 1000000) -> None:
        if maxDepth < 0 or minSamplesSplit < 2 or numBuckets < 1:
            raise ValueError(f"maxDepth must be at least 0, minSamplesSplit 2 and numBuckets 1, not "
                             f"{maxDepth!r}, {minSamplesSplit!r} and {numBuckets!r}")
        self.maxDepth = maxDepth
        self.minSamplesSplit = minSamplesSplit
        self.numBuckets = numBuckets
        self.minSplitThresh = minSplitThresh

    def fit(self, x: Any, y: Any) -> RegressionTree:
        """The tree of ``y`` (a one-column DataFrame, a Series or a 1-D array) on the rows of
        ``x`` (a DataFrame or a 2-D array)."""
        matrix = training_matrix(x)
        return self.fit_arrays(matrix, response_vector(y, len(matrix), checked=True))

    def fit_arrays(self, matrix: np.ndarray, responses: np.ndarray,
                   leaf_value: Optional[Callable[[np.ndarray], float]] = None) -> RegressionTree:
        """``fit`` of arrays already read; ``leaf_value(rows)`` gives a leaf's value (the mean of
        its responses by default: boosting's losses give their own). Grown a depth at a time:
        the best split of every column of every node of a depth is one comprehension, so that
        the nodes of a deep tree are not a shape each."""
        nodes: List[list] = []  # [feature, threshold, left, right, value]
        level = [self._node(nodes, np.arange(len(matrix)), responses, leaf_value)]
        columns, buckets = matrix.shape[1], self.numBuckets
        for _ in range(self.maxDepth):
            open_nodes = [(index, rows) for index, rows in level if self._may_split(rows, responses)]
            if not open_nodes:
                break
            found = [_best_split(matrix, responses, open_nodes[at // columns][1], at % columns, buckets)
                     for at in range(len(open_nodes) * columns)]
            level = []
            for number, (index, rows) in enumerate(open_nodes):
                _, column, threshold = max(found[number * columns:(number + 1) * columns],
                                           key=lambda split: (split[0], -split[1]))
                if column < 0:
                    continue
                goes_left = matrix[rows, column] <= threshold
                left = self._node(nodes, rows[goes_left], responses, leaf_value)
                right = self._node(nodes, rows[~goes_left], responses, leaf_value)
                nodes[index][:4] = [column, threshold, left[0], right[0]]
                level += [left, right]
        features, thresholds, lefts, rights, values = (np.array(part) for part in zip(*nodes))
        return RegressionTree(features.astype(np.int64), thresholds.astype(np.float64), lefts.astype(np.int64),
                              rights.astype(np.int64), values.astype(np.float64), matrix.shape[1])

    @staticmethod
    def _node(nodes: List[list], rows: np.ndarray, responses: np.ndarray,
              leaf_value: Optional[Callable[[np.ndarray], float]]) -> Tuple[int, np.ndarray]:
        """A new leaf of ``rows``: (its index, its rows)."""
        value = float(responses[rows].mean()) if leaf_value is None else float(leaf_value(rows))
        nodes.append([-1, np.nan, -1, -1, value])
        return len(nodes) - 1, rows

    def _may_split(self, rows: np.ndarray, responses: np.ndarray) -> bool:
        """Whether a node of ``rows`` is split if it can be: enough rows, not all responses equal."""
        if len(rows) < self.minSamplesSplit:
            return False
        values = responses[rows]
        return bool(values.min() != values.max())


def _best_split(matrix: np.ndarray, responses: np.ndarray, rows: np.ndarray, column: int,
                buckets: int) -> Tuple[float, int, float]:
    """(the split's score, ``column``, its threshold) of the best split of the node's rows by one
    column: the score is ``S_l^2 / n_l + S_r^2 / n_r`` of the sides' response sums and counts
    (the larger, the smaller the squared errors); ``_NO_SPLIT`` where the column is constant."""
    keys = matrix[rows, column]
    order = np.argsort(keys, kind="stable")
    keys, sorted_values = keys[order], responses[rows][order]
    count = len(keys)
    left_sums = np.cumsum(sorted_values)[:-1]
    total = left_sums[-1] + sorted_values[-1] if count > 1 else 0.0
    left_counts = np.arange(1, count)
    scores = left_sums * left_sums / left_counts + (total - left_sums) ** 2 / (count - left_counts)
    allowed = keys[1:] > keys[:-1] + _SAME_VALUE
    if allowed.sum() > buckets:  # only the boundaries between ``buckets`` runs of about equal rows
        boundary = np.zeros(count - 1, dtype=bool)
        boundary[np.linspace(0, count - 1, buckets + 1)[1:-1].astype(np.int64)] = True
        allowed &= boundary
    if not allowed.any():
        return _NO_SPLIT
    best = int(np.argmax(np.where(allowed, scores, -np.inf)))
    threshold = (keys[best] + keys[best + 1]) / 2.0
    if threshold == keys[best + 1]:  # halfway rounds up to the upper value: the lower one instead
        threshold = keys[best]
    return float(scores[best]), column, float(threshold)
