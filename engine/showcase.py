"""ufora's own modules that are written as users write: plain Python whose comprehensions and
generators the engine splits, in a block on the cluster, as it splits the user's own functions
(``engine.functions``); anywhere else they run as written. They are the engine's showcase: what
they gain, a user's loop of the same shape gains too.

A block reaches them as it reaches a user's function: a free variable holding one of their
functions, the module, or a package above it (``import pyfora`` ... ``pyfora.pandas_util``).
They are installed on the cluster, so they travel by name; their text is read from the
installed file where they run.
"""
from __future__ import annotations

import sys
import types
from typing import Container, List

# (a package is listed too where it holds its modules' functions: ``pyfora.algorithms.linearRegression``
# is read from the package, so the rewritten function must replace the one there as well)
MODULES = ("pyfora.pandas_util", "pyfora.datasets", "pyfora.algorithms", "pyfora.algorithms.linear_regression",
           "pyfora.algorithms.logistic_regression", "pyfora.algorithms.regression_tree", "pyfora.algorithms.boosting")


def _loaded() -> List[types.ModuleType]:
    return [sys.modules[name] for name in MODULES if name in sys.modules]


def modules_under(module: types.ModuleType) -> List[types.ModuleType]:
    """The loaded showcase modules that are ``module`` or inside it (a package above them)."""
    name = getattr(module, "__name__", None)
    if not isinstance(name, str):
        return []
    return [found for found in _loaded() if found.__name__ == name or found.__name__.startswith(name + ".")]


class WithShowcase:
    """The files whose functions are rewritten: ``shipped`` (the user's), and the loaded showcase
    modules' own."""

    def __init__(self, shipped: Container[str]):
        self._shipped = shipped
        self._showcase = {getattr(module, "__file__", None) for module in _loaded()}

    def __contains__(self, filename: object) -> bool:
        return filename in self._showcase or filename in self._shipped
