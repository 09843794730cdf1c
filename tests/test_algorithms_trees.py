"""``pyfora.algorithms``' trees and boosting: ``RegressionTreeBuilder`` against scikit-learn's
DecisionTreeRegressor (the same predictions on data without ties, whose values are float32's, as
scikit-learn reads them), the boosted builders against GradientBoostingRegressor/Classifier
(scores within 1%), the original's ``iterativeFitter``, and the column searches split on the
cluster's runner with the model the same to the bit."""
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.tree import DecisionTreeRegressor

import pyfora
from pyfora.algorithms import GradientBoostedClassifierBuilder, GradientBoostedRegressorBuilder, RegressionTreeBuilder
from tests.inline_block import value_and_reports


def _data(rows: int, columns: int, seed: int):
    """Values a float32 holds exactly (scikit-learn's trees read float32), without ties."""
    rng = np.random.default_rng(seed)
    predictors = rng.normal(size=(rows, columns)).astype(np.float32).astype(np.float64)
    responses = np.sin(2 * predictors[:, 0]) + predictors[:, 1] ** 2 + rng.normal(scale=0.3, size=rows)
    return predictors, responses


@pytest.mark.parametrize("rows,columns,depth,smallest", [(500, 2, 1, 2), (3_000, 4, 4, 20), (2_000, 3, 25, 20),
                                                         (2_000, 3, 25, 2)])
def test_a_tree_predicts_what_scikit_learns_predicts(rows, columns, depth, smallest):
    """Where a node of a few rows is split as well by several columns (two rows: by every one),
    scikit-learn takes one at random and this tree the first: the same on the rows it was fit
    on, and elsewhere only where nodes are not that small (``minSamplesSplit``)."""
    predictors, responses = _data(rows, columns, seed=depth)
    unseen, _ = _data(1_000, columns, seed=depth + 100)
    tree = RegressionTreeBuilder(depth, minSamplesSplit=smallest).fit(predictors, responses)
    reference = DecisionTreeRegressor(max_depth=depth, min_samples_split=smallest,
                                      random_state=0).fit(predictors, responses)
    assert len(tree.value) == reference.tree_.node_count
    for rows_to_predict in (predictors, unseen) if smallest > 2 else (predictors,):
        np.testing.assert_allclose(tree.predict(rows_to_predict), reference.predict(rows_to_predict), rtol=1e-12)
    assert tree.score(predictors, responses) == pytest.approx(reference.score(predictors, responses), rel=1e-12)


def test_a_tree_takes_frames_and_rows_as_the_original_did():
    predictors, responses = _data(400, 2, seed=3)
    frame = pd.DataFrame(predictors, columns=["x0", "x1"], index=np.arange(400) * 2)
    tree = RegressionTreeBuilder(3, minSamplesSplit=50).fit(frame, pd.DataFrame({"y": responses}))
    predicted = tree.predict(frame)
    assert isinstance(predicted, pd.Series) and predicted.index.equals(frame.index)
    assert tree.predict(predictors[7]) == predicted.iloc[7]
    assert RegressionTreeBuilder(0).fit(frame, responses).predict(predictors).tolist() == [responses.mean()] * 400


@pytest.mark.parametrize("loss,scikit_loss", [("l2", "squared_error"), ("lad", "absolute_error")])
def test_a_boosted_regressor_scores_as_scikit_learns(loss, scikit_loss):
    predictors, responses = _data(4_000, 4, seed=1)
    unseen, unseen_responses = _data(2_000, 4, seed=2)
    model = GradientBoostedRegressorBuilder(3, 20, 0.5, loss=loss).fit(predictors, responses)
    reference = GradientBoostingRegressor(loss=scikit_loss, n_estimators=20, learning_rate=0.5, max_depth=3,
                                          random_state=0).fit(predictors, responses)
    assert model.score(unseen, unseen_responses) == pytest.approx(reference.score(unseen, unseen_responses), rel=0.01)


def test_a_boosted_classifier_scores_as_scikit_learns():
    predictors, responses = _data(4_000, 4, seed=4)
    unseen, unseen_responses = _data(2_000, 4, seed=5)
    labels, unseen_labels = np.where(responses > 1, "high", "low"), np.where(unseen_responses > 1, "high", "low")
    model = GradientBoostedClassifierBuilder(3, 20, 0.5).fit(predictors, labels)
    reference = GradientBoostingClassifier(n_estimators=20, learning_rate=0.5, max_depth=3,
                                           random_state=0).fit(predictors, labels)
    assert model.score(unseen, unseen_labels) == pytest.approx(reference.score(unseen, unseen_labels), rel=0.01)
    assert set(model.predict(unseen)) <= {"high", "low"}
    assert ((model.predict_probability(unseen) > 0.5) == (model.predict(unseen) == model.classOneLabel)).all()


def test_the_iterative_fitter_goes_a_stage_at_a_time_to_fits_model():
    predictors, responses = _data(1_000, 3, seed=6)
    builder = GradientBoostedRegressorBuilder(2, 5, 0.3)
    fitter = builder.iterativeFitter(predictors, responses)
    scores = []
    for _ in range(5):
        fitter = fitter.next()
        scores.append(fitter.model.score(predictors, responses))
    assert scores == sorted(scores) and len(fitter.model.trees) == 5
    assert np.array_equal(fitter.model.predict(predictors), builder.fit(predictors, responses).predict(predictors))
    np.testing.assert_allclose(fitter.predictions, fitter.model.predict(predictors), rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: RegressionTreeBuilder(-1),
                                  lambda: GradientBoostedRegressorBuilder(loss="l1")])
def test_wrong_parameters_are_a_clear_error(make):
    with pytest.raises(ValueError):
        make()


def test_on_the_cluster_the_column_searches_are_split_and_the_model_is_the_same_to_the_bit():
    predictors, responses = _data(60_000, 4, seed=8)
    source = ("with cluster:\n    model = pyfora.algorithms.GradientBoostedRegressorBuilder(3, 3).fit(X, y)\n"
              "    predicted = model.predict(X)\n")
    got, reports = value_and_reports(source, {"pyfora": pyfora, "X": predictors, "y": responses}, "predicted")
    assert np.array_equal(got, GradientBoostedRegressorBuilder(3, 3).fit(predictors, responses).predict(predictors))
    assert any(r.parallel and r.shape == "list" for r in reports), reports
