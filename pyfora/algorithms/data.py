"""The inputs the models take, as the original took them: a pandas DataFrame (or a 2-D array) of
predictors, and responses as a one-column DataFrame, a Series or a 1-D array. Each becomes a
float64 numpy array, read as it is where it already is one (a remote array is not copied)."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

# rows per piece of work: each is a comprehension's item (a few milliseconds of numpy), so a
# 10M-row matrix is 100 items, split over every core, and a piece's products stay in cache
ROWS_PER_CHUNK = 100_000


def predictor_matrix(predictors: Any) -> np.ndarray:
    """The predictors as a 2-D float64 array in C order (a DataFrame's columns in order): a
    frame's columns and an array's rows give the same products, to the bit (BLAS adds in an
    order that depends on the layout)."""
    values = predictors.to_numpy(dtype=np.float64) if hasattr(predictors, "to_numpy") else predictors
    matrix = np.ascontiguousarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"predictors must be 2-D (rows by columns), not of shape {matrix.shape}")
    return matrix


def training_matrix(predictors: Any, checked: bool = True) -> np.ndarray:
    """``predictor_matrix`` of the predictors a model is fitted on: ValueError where it has no
    rows, or (``checked``) holds a value that is not a finite number (``refuse_non_finite``).
    What a fitted model predicts from is taken as it is, as before."""
    matrix = predictor_matrix(predictors)
    if len(matrix) == 0:
        raise ValueError(f"there is nothing to fit: the predictors have no rows (shape {matrix.shape})")
    if checked:
        refuse_non_finite(matrix, "the predictors")
    return matrix


def refuse_non_finite(values: np.ndarray, name: str) -> None:
    """ValueError naming the first NaN or infinity in ``values`` (its row, and its column): a fit
    over one gave NaN coefficients after running to its iteration limit (a logistic regression,
    100 s), an SVD that did not converge, or NaN predictions, with no word of the cause (a user's
    trial). A NaN or an infinity makes its column's sum one, so a sum that is finite clears the
    column in one pass; a column whose sum is not (or overflows) is looked at value by value."""
    with np.errstate(all="ignore"):
        if np.isfinite(np.add.reduce(values, axis=0)).all():
            return
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        at = tuple(int(i) for i in bad[0])
        where = f"row {at[0]}" + (f", column {at[1]}" if len(at) > 1 else "")
        raise ValueError(f"{name} hold {float(values[at])!r} at {where}: every value must be a finite number "
                         "(drop or fill the missing ones first)")


def response_vector(responses: Any, rows: int, checked: bool = False) -> np.ndarray:
    """The responses as a 1-D float64 array: a DataFrame's first column, a Series, a 1-D array
    (or an array of one column); ``rows`` long, as the predictors. ``checked`` (those a model is
    fitted on): ValueError where one is not a finite number."""
    vector = _column(responses, rows, np.float64)
    if checked:
        refuse_non_finite(vector, "the responses")
    return vector


def label_vector(labels: Any, rows: int) -> np.ndarray:
    """Class labels (numbers, strings...) as a 1-D array of their own type, taken as
    ``response_vector`` takes responses."""
    return _column(labels, rows, None)


def logistic(values: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-values)), without overflow for large negative values."""
    return np.exp(-np.logaddexp(0.0, -values))


def two_labels(labels: np.ndarray) -> Tuple[Any, Any]:
    """The two labels of a binary model, in the order they first appear (numpy's scalars as
    Python's); ValueError where there are not exactly two."""
    found, first = np.unique(labels, return_index=True)
    if len(found) != 2:
        raise ValueError(f"a binary model needs exactly two labels in y, not {len(found)}")
    return tuple(label.item() if isinstance(label, np.generic) else label for label in found[np.argsort(first)])


def _column(responses: Any, rows: int, dtype: Any) -> np.ndarray:
    if hasattr(responses, "iloc") and getattr(responses, "ndim", 1) == 2:
        responses = responses.iloc[:, 0]
    values = responses.to_numpy(dtype=dtype) if hasattr(responses, "to_numpy") else responses
    vector = np.asarray(values, dtype=dtype)
    if vector.ndim == 2 and vector.shape[1] == 1:
        vector = vector[:, 0]
    if vector.ndim != 1:
        raise ValueError(f"responses must be one column, not of shape {vector.shape}")
    if len(vector) != rows:
        raise ValueError(f"{rows} rows of predictors but {len(vector)} responses")
    return vector


def chunk_starts(rows: int) -> range:
    """Where each chunk of ``ROWS_PER_CHUNK`` rows begins."""
    return range(0, rows, ROWS_PER_CHUNK)
