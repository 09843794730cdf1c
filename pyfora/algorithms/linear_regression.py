"""Least squares by the normal equations, as the original pyfora's ``linearRegression``:
``(X'X) b = X'y`` with a column of ones for the intercept, solved with the pseudo-inverse of
``X'X``. The products are summed over chunks of rows: each chunk's are one item of a list
comprehension the engine splits over every core; they are added in order here, so the answer is
the same to the bit on the cluster and off it."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from pyfora.algorithms.data import ROWS_PER_CHUNK, chunk_starts, refuse_non_finite, response_vector, training_matrix


def linearRegression(predictors: Any, responses: Any) -> np.ndarray:
    """The coefficients of the least-squares fit of ``responses`` on ``predictors`` and an
    intercept, as the original returned them: an array of one row, a coefficient per predictor
    column in order, then the intercept. ``predictors``: a DataFrame or a 2-D array;
    ``responses``: a DataFrame (its first column is used), a Series or a 1-D array."""
    matrix = training_matrix(predictors, checked=False)  # checked below, by its products: no pass of its own
    vector = response_vector(responses, len(matrix), checked=True)
    pieces = [_chunk_products(matrix, vector, start) for start in chunk_starts(len(matrix))]
    columns = matrix.shape[1] + 1
    gram, moment = np.zeros((columns, columns)), np.zeros(columns)
    for chunk_gram, chunk_moment in pieces:
        gram += chunk_gram
        moment += chunk_moment
    if not np.isfinite(gram).all():  # a NaN or an infinity among the predictors (or squares past 1e308)
        refuse_non_finite(matrix, "the predictors")
        raise ValueError("the predictors' squares are past the largest float (about 1e308): scale them first")
    return (moment @ np.linalg.pinv(gram)).reshape(1, columns)


def _chunk_products(matrix: np.ndarray, vector: np.ndarray, start: int) -> Tuple[np.ndarray, np.ndarray]:
    """``X'X`` and ``X'y`` of one chunk of rows, ``X`` with the column of ones last (made from
    the column sums, not by copying the chunk with a column added)."""
    rows, values = matrix[start:start + ROWS_PER_CHUNK], vector[start:start + ROWS_PER_CHUNK]
    sums = rows.sum(axis=0)
    gram = np.vstack([np.hstack([rows.T @ rows, sums[:, None]]), np.append(sums, float(len(rows)))])
    return gram, np.append(rows.T @ values, values.sum())
