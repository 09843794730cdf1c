"""``pyfora.algorithms.linearRegression``: the original's signature and result (a row of
coefficients, the intercept last), against numpy's least squares; its chunks' comprehension split
on the cluster's runner as a user's is (``engine.showcase``), to the same bits as here."""
import numpy as np
import pandas as pd
import pytest

import pyfora
from pyfora.algorithms import linearRegression
from pyfora.algorithms.data import ROWS_PER_CHUNK
from tests.inline_block import value_and_reports


def _data(rows: int, columns: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    predictors = rng.normal(size=(rows, columns)) * rng.uniform(0.5, 20, size=columns) + rng.normal(size=columns)
    truth = rng.normal(size=columns + 1) * 3
    responses = predictors @ truth[:-1] + truth[-1] + rng.normal(scale=0.5, size=rows)
    return predictors, responses


def _least_squares(predictors, responses):
    with_ones = np.column_stack([predictors, np.ones(len(predictors))])
    return np.linalg.lstsq(with_ones, responses, rcond=None)[0]


@pytest.mark.parametrize("rows,columns", [(50, 1), (1_000, 3), (2 * ROWS_PER_CHUNK + 17, 6)])
def test_the_coefficients_are_least_squares_with_the_intercept_last(rows, columns):
    predictors, responses = _data(rows, columns)
    got = linearRegression(predictors, responses)
    assert got.shape == (1, columns + 1)
    np.testing.assert_allclose(got[0], _least_squares(predictors, responses), rtol=1e-6)


def test_dataframes_series_and_columns_are_taken_as_the_original_took_them():
    predictors, responses = _data(3_000, 4)
    frame = pd.DataFrame(predictors, columns=list("abcd"))
    expected = linearRegression(predictors, responses)
    for given in (pd.DataFrame({"y": responses, "ignored": 0.0}), pd.Series(responses), responses[:, None],
                  responses.tolist()):
        assert np.array_equal(linearRegression(frame, given), expected)


@pytest.mark.parametrize("predictors,responses,message", [
    (np.ones((10, 2)), np.ones(9), "10 rows of predictors but 9 responses"),
    (np.ones(10), np.ones(10), "predictors must be 2-D (rows by columns), not of shape (10,)"),
    (np.ones((10, 2)), np.ones((10, 2)), "responses must be one column, not of shape (10, 2)"),
])
def test_inputs_of_the_wrong_shape_are_a_clear_error(predictors, responses, message):
    with pytest.raises(ValueError) as raised:
        linearRegression(predictors, responses)
    assert str(raised.value) == message


def test_on_the_cluster_the_chunks_are_split_and_the_answer_is_the_same_to_the_bit():
    predictors, responses = _data(6 * ROWS_PER_CHUNK + 5, 5)
    got, reports = value_and_reports("with cluster:\n    coefficients = pyfora.algorithms.linearRegression(X, y)\n",
                                     {"pyfora": pyfora, "X": predictors, "y": responses}, "coefficients")
    assert np.array_equal(got, linearRegression(predictors, responses))
    assert any(r.parallel and r.shape == "list" for r in reports), reports


def test_through_a_real_cluster_on_a_remote_frame(ufora):
    predictors, responses = _data(3 * ROWS_PER_CHUNK, 3, seed=11)
    frame = pd.DataFrame(predictors, columns=["x0", "x1", "x2"])
    target = pd.DataFrame({"y": responses})
    with ufora.remotely:
        remote_frame, remote_target = frame, target
    with ufora.remotely.downloadAll():
        coefficients = pyfora.algorithms.linearRegression(remote_frame, remote_target)
    assert np.array_equal(coefficients, linearRegression(frame, target))


def _fits():
    from pyfora.algorithms import (BinaryLogisticRegressionFitter, GradientBoostedClassifierBuilder,
                                   GradientBoostedRegressorBuilder, RegressionTreeBuilder)
    return {"linear": linearRegression,
            "logistic": lambda x, y: BinaryLogisticRegressionFitter(0.001).fit(x, y > 0),
            "tree": lambda x, y: RegressionTreeBuilder(3).fit(x, y),
            "boosted": lambda x, y: GradientBoostedRegressorBuilder(2, 3).fit(x, y),
            "classifier": lambda x, y: GradientBoostedClassifierBuilder(2, 3).fit(x, y > 0)}


@pytest.mark.parametrize("fit", ["linear", "logistic", "tree", "boosted", "classifier"])
@pytest.mark.parametrize("broken,message", [
    ("nan predictor", r"the predictors hold nan at row 5, column 1: every value must be a finite number"),
    ("inf predictor", r"the predictors hold inf at row 5, column 1"),
    ("nan response", r"the responses hold nan at row 7"),
    ("no rows", r"nothing to fit: the predictors have no rows"),
])
def test_a_missing_or_infinite_value_or_no_rows_is_a_clear_error(fit, broken, message):
    """Before (a user's trial): a logistic regression over one NaN ran to its iteration limit
    (100 s) and gave NaN coefficients, a linear one failed in the SVD, a tree predicted NaN,
    and no rows gave coefficients of zeros."""
    predictors, responses = _data(200, 3)
    if broken == "nan predictor":
        predictors[5, 1] = np.nan
    elif broken == "inf predictor":
        predictors[5, 1] = np.inf
    elif broken == "nan response":
        if fit in ("logistic", "classifier"):
            pytest.skip("labels: y > 0 of a NaN is False, a label like any other")
        responses[7] = np.nan
    else:
        predictors, responses = predictors[:0], responses[:0]
    with pytest.raises(ValueError, match=message):
        _fits()[fit](predictors, responses)


def test_the_same_error_comes_from_a_block(ufora):
    predictors, responses = _data(200, 3)
    predictors[5, 1] = np.nan
    with pytest.raises(ValueError, match="the predictors hold nan at row 5, column 1"):
        with ufora.remotely.downloadAll().onCluster():
            linearRegression(predictors, responses)


def test_fitted_models_predict_from_no_rows_as_before():
    """The checks are the fit's (a review: predict and score of no rows raised the fit's error)."""
    from pyfora.algorithms import BinaryLogisticRegressionFitter, GradientBoostedRegressorBuilder, RegressionTreeBuilder
    predictors, responses = _data(200, 3)
    for model in (RegressionTreeBuilder(2).fit(predictors, responses),
                  GradientBoostedRegressorBuilder(2, 3).fit(predictors, responses),
                  BinaryLogisticRegressionFitter(0.001).fit(predictors, responses > 0)):
        assert len(model.predict(predictors[:0])) == 0
