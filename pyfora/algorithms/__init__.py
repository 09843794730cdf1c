"""pyfora.algorithms: the original pyfora's models, written as a user writes a loop the cluster
speeds up (plain Python and numpy over chunks of rows, in comprehensions the engine splits over
every core: ``engine.showcase``). Outside a block they run as written, in order, here.

The names and signatures are the original's; what each returns is described where it is made.
"""
from pyfora.algorithms.boosting import GradientBoostedClassifierBuilder, GradientBoostedRegressorBuilder
from pyfora.algorithms.linear_regression import linearRegression
from pyfora.algorithms.logistic_regression import BinaryLogisticRegressionFitter, BinaryLogisticRegressionModel
from pyfora.algorithms.regression_tree import RegressionTree, RegressionTreeBuilder

__all__ = ["linearRegression", "BinaryLogisticRegressionFitter", "BinaryLogisticRegressionModel",
           "RegressionTreeBuilder", "RegressionTree", "GradientBoostedRegressorBuilder",
           "GradientBoostedClassifierBuilder"]
