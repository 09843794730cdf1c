"""``pyfora.algorithms.BinaryLogisticRegressionFitter``: the original's parameters and model,
against scikit-learn's LogisticRegression minimizing the same objective (the intercept a
regularized column, scikit-learn's C = 1 / (n * regularizer)); its chunks split on the cluster's
runner, to the same bits as here."""
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import pyfora
from pyfora.algorithms import BinaryLogisticRegressionFitter
from pyfora.algorithms.data import ROWS_PER_CHUNK
from tests.inline_block import value_and_reports


def _data(rows: int, columns: int, labels=("no", "yes"), seed: int = 5):
    rng = np.random.default_rng(seed)
    predictors = rng.normal(size=(rows, columns))
    odds = predictors @ rng.normal(size=columns) + 0.4
    picked = np.where(rng.random(rows) < 1 / (1 + np.exp(-odds)), labels[1], labels[0])
    if picked[0] != labels[0]:  # class zero is the first label met: make it labels[0]
        picked[0] = labels[0]
    return predictors, picked


def _scikit(predictors, labels, regularizer, intercept_scale):
    columns = predictors if intercept_scale is None else np.column_stack(
        [predictors, np.full(len(predictors), intercept_scale)])
    model = LogisticRegression(C=1 / (len(predictors) * regularizer), fit_intercept=False, tol=1e-12,
                               max_iter=10_000).fit(columns, labels)
    return model, columns


@pytest.mark.parametrize("method", ["newton-cg", "majorization"])
@pytest.mark.parametrize("intercept_scale", [1.0, 3.0, None])
def test_the_model_is_scikit_learns_minimizer_of_the_same_objective(method, intercept_scale):
    predictors, labels = _data(20_000, 4)
    fitter = BinaryLogisticRegressionFitter(1e-3, hasIntercept=intercept_scale is not None, method=method,
                                            interceptScale=intercept_scale or 1.0, tol=1e-9)
    model = fitter.fit(predictors, labels)
    reference, columns = _scikit(predictors, labels, 1e-3, intercept_scale)
    weights = model.coefficients if model.intercept is None else np.append(model.coefficients, model.intercept)
    # class zero ("no") is scikit-learn's classes_[0]: its weights are the log-odds of the other class
    np.testing.assert_allclose(weights, -reference.coef_[0], rtol=1e-6, atol=1e-9)
    assert (model.classZeroLabel, model.classOneLabel) == ("no", "yes")
    np.testing.assert_allclose(model.predict_probability(predictors), reference.predict_proba(columns)[:, 1],
                               atol=1e-8)
    assert np.array_equal(model.predict(predictors), reference.predict(columns))
    assert model.score(predictors, labels) == reference.score(columns, labels)


def test_frames_series_and_number_labels_are_taken_as_the_original_took_them():
    predictors, labels = _data(5_000, 3, labels=(7, 2))
    frame = pd.DataFrame(predictors, columns=["a", "b", "c"])
    fitter = BinaryLogisticRegressionFitter(1e-2, method="newton-cg")
    model = fitter.fit(frame, pd.DataFrame({"label": labels}))
    assert (model.classZeroLabel, model.classOneLabel) == (7, 2) and type(model.classZeroLabel) is int
    assert np.array_equal(fitter.fit(predictors, pd.Series(labels)).coefficients, model.coefficients)
    assert set(model.predict(frame)) <= {7, 2}


@pytest.mark.parametrize("arguments,fit_labels,message", [
    ((1.0,), [0, 1, 2, 1], "a binary model needs exactly two labels in y, not 3"),
    ((1.0, True, "lbfgs"), [0, 1, 0, 1], "method must be one of 'newton-cg', 'majorization', not 'lbfgs'"),
    ((0.0,), [0, 1, 0, 1], "the regularizer must be positive, not 0.0"),
])
def test_wrong_parameters_and_labels_are_a_clear_error(arguments, fit_labels, message):
    with pytest.raises(ValueError) as raised:
        BinaryLogisticRegressionFitter(*arguments).fit(np.ones((4, 2)), np.array(fit_labels))
    assert str(raised.value) == message


def test_on_the_cluster_each_iterations_chunks_are_split_and_the_model_is_the_same_to_the_bit():
    predictors, labels = _data(3 * ROWS_PER_CHUNK + 11, 3)
    source = ("with cluster:\n    model = pyfora.algorithms.BinaryLogisticRegressionFitter(1e-3, method='newton-cg')"
              ".fit(X, y)\n    weights = list(model.coefficients) + [model.intercept]\n")
    got, reports = value_and_reports(source, {"pyfora": pyfora, "X": predictors, "y": labels}, "weights")
    here = BinaryLogisticRegressionFitter(1e-3, method="newton-cg").fit(predictors, labels)
    assert got == list(here.coefficients) + [here.intercept]
    assert sum(r.parallel and r.shape == "list" for r in reports) >= here.iters, reports


def test_through_a_real_cluster(ufora):
    predictors, labels = _data(2 * ROWS_PER_CHUNK, 3, seed=9)
    with ufora.remotely.downloadAll():
        model = pyfora.algorithms.BinaryLogisticRegressionFitter(1e-3).fit(predictors, labels)
    here = BinaryLogisticRegressionFitter(1e-3).fit(predictors, labels)
    assert np.array_equal(model.coefficients, here.coefficients) and model.intercept == here.intercept
