"""Compiled shapes warn where numpy would (engine/fp_flags.py): numpy issues a RuntimeWarning for
a division by zero, an invalid value or an overflow on its scalars, compiled code raises only the
processor's flag. A compiled partition that raised one numpy warns for is computed again in
CPython, so the warnings are CPython's, in number and text; a shape of Python floats alone
(which never warn) is not watched, and stays compiled where it makes inf and nan; numpy's
mode "ignore" watches nothing."""
import math
import warnings

import numpy as np
import pytest

import pyfora
from ufora.engine import checked, fp_flags, kernel_cache, kernels, reducers
from ufora.engine.sources import ArraySource, RangeSource
from tests.conftest import Service, one_host

VALUES = np.linspace(-2.0, 2.0, 200_001)  # negatives, an exact 0.0 and values whose square overflows


def root(x):
    return np.sqrt(x)


def huge(x):
    return x * 1e308


def cancelled(x):
    return x * 1e308 - x * 1e308  # inf - inf: an invalid value


def python_root(i):
    return np.sqrt(i - 5.0)  # a Python float given to numpy: numpy's scalar, and its warning


def apply(function, value):
    return function(value)


WITH_INFS = np.linspace(0.0, 1.0, 200_000)
WITH_INFS[5], WITH_INFS[7_000] = np.inf, -np.inf  # their sum: inf - inf, numpy's invalid value
WITH_NANS = np.linspace(-1.0, 1.0, 200_000)
WITH_NANS[::5] = np.nan
BIG = np.float64(1e308)  # BIG * 10.0: computed by the compiler, where numpy warns at each item


@pytest.fixture(scope="module")
def compiling_ufora():
    """A cluster that splits every shape and compiles it before its first partition, and a
    client of it."""
    with Service({**one_host(2), "UFORA_SPLIT": "always", "UFORA_COMPILE": "first"}) as service:
        executor = pyfora.connect(service.url, progress=False)
        yield executor
        executor.close()


def caught(run, action: str = "default"):
    """(what ``run`` gave, what it warned under ``action``: (category, message, line) each)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter(action)
        value = run()
    return value, [(w.category, str(w.message), w.lineno) for w in seen]


def same(a, b) -> bool:
    """Equal in value and type, item by item (NaNs equal)."""
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))


def here(name: str):
    """Shape ``name`` in this process."""
    if name == "sqrt of negatives":
        return sum(root(x) for x in VALUES)
    if name == "overflow":
        return [huge(x) for x in VALUES]
    if name == "inf - inf":
        return max(cancelled(x) for x in VALUES)
    if name == "numpy on Python floats":
        return sum(python_root(i) for i in range(200_000))
    if name == "numpy's sum over a range":
        return sum(WITH_INFS[i] for i in range(200_000))
    if name == "numpy given to a helper":
        return [apply(np.sqrt, i - 5.0) for i in range(200_000)]
    if name == "an array's method":
        return [WITH_NANS[i:i + 1].astype(np.int64)[0] for i in range(200_000)]
    return [BIG * 10.0 + i for i in range(200_000)]


def remotely(ufora, name: str):
    """Shape ``name`` as a block (written out: a shape inside a function the block calls runs in
    the block's process); (its value, the report of the shape)."""
    with ufora.remotely.downloadAll():
        if name == "sqrt of negatives":
            value = sum(root(x) for x in VALUES)
        elif name == "overflow":
            value = [huge(x) for x in VALUES]
        elif name == "inf - inf":
            value = max(cancelled(x) for x in VALUES)
        elif name == "numpy on Python floats":
            value = sum(python_root(i) for i in range(200_000))
        elif name == "numpy's sum over a range":
            value = sum(WITH_INFS[i] for i in range(200_000))
        elif name == "numpy given to a helper":
            value = [apply(np.sqrt, i - 5.0) for i in range(200_000)]
        elif name == "an array's method":
            value = [WITH_NANS[i:i + 1].astype(np.int64)[0] for i in range(200_000)]
        else:
            value = [BIG * 10.0 + i for i in range(200_000)]
        report = last_report()
    return value, report


def last_report():
    """The report of the last shape this process ran (called in a block: no module is one of
    the block's values, which would come back as a proxy and send later blocks to the cluster)."""
    from ufora.engine import runtime

    return runtime.reports[-1]


# shapes whose warnings are issued by their own line, not a helper's: here()'s or remotely()'s
ON_THE_SHAPES_LINE = ("numpy's sum over a range", "an array's method", "numpy constants")
SHAPES = ["inf - inf", "numpy on Python floats", "overflow", "sqrt of negatives", "numpy's sum over a range",
          "numpy given to a helper", "an array's method", "numpy constants"]


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("action", ["default", "always"])
def test_a_compiled_shape_warns_as_cpython(compiling_ufora, name, action):
    expected, expected_warnings = caught(lambda: here(name), action)
    assert expected_warnings and all(w[0] is RuntimeWarning for w in expected_warnings)
    (got, report), got_warnings = caught(lambda: remotely(compiling_ufora, name), action)
    assert same(got, expected)
    if name in ON_THE_SHAPES_LINE:  # (two places in this file: told apart by text)
        expected_warnings, got_warnings = [w[:2] for w in expected_warnings], [w[:2] for w in got_warnings]
    assert got_warnings == expected_warnings
    assert report.compiled < report.partitions, report  # those that warn: computed again in CPython
    if name != "numpy constants":  # (never compiled: nothing recomputed)
        assert "recomputed in CPython: numpy would warn: a floating-point flag was raised (" in report.recomputed, \
            report


@pytest.mark.parametrize("name", [name for name in SHAPES if name != "numpy constants"])  # (never compiled)
def test_under_numpys_mode_ignore_the_same_shapes_stay_compiled(compiling_ufora, name):
    """Nothing to warn for: each of these shapes is computed by its kernel, whatever it raises."""
    with np.errstate(all="ignore"):
        expected = here(name)
    old = np.seterr(all="ignore")  # the block runs under the caller's modes: nothing to warn for
    try:
        (got, report), got_warnings = caught(lambda: remotely(compiling_ufora, name))
    finally:
        np.seterr(**old)
    assert same(got, expected) and got_warnings == []
    assert report.compiled == report.partitions > 0, report


def test_python_floats_that_overflow_stay_compiled_and_warn_nowhere(compiling_ufora):
    """CPython's floats give inf and nan without a word: such a kernel is not watched."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        expected = sum((i * 1e300) * (i * 1e300) - (i * 1e300) * (i * 1e300) for i in range(200_000))
        with compiling_ufora.remotely.downloadAll():
            got = sum((i * 1e300) * (i * 1e300) - (i * 1e300) * (i * 1e300) for i in range(200_000))
            report = last_report()
    assert math.isnan(expected) and same(got, expected) and seen == []
    assert report.compiled == report.partitions > 0, report


def test_a_kernel_watches_flags_where_it_computes_as_numpy_and_keeps_that_on_disk(tmp_path):
    def plain(i):
        return i * 1e300 - 1.0

    def of_numpy(i):
        return np.sqrt(i - 1.0)

    def helper(v):
        return v * 1e308

    array = np.arange(10.0)
    numpys, pythons = ArraySource(array, python_items=False), ArraySource(array, python_items=True)
    cases = [("range, plain floats", RangeSource(range(10)), plain, None, False),
             ("range, numpy's sqrt", RangeSource(range(10)), of_numpy, None, True),
             ("a list's floats, plain", pythons, plain, None, False),
             ("an array's items, summed", numpys, lambda x: x, None, True),  # numpy's additions
             ("an array's items, compared", numpys, lambda x: 1, lambda x: x > 0, False),
             ("Python floats of an array's items", numpys, lambda x: float(x) * 1e308, None, False),
             ("a helper given Python floats", RangeSource(range(10)), lambda i: helper(i * 1.0), None, False),
             ("a helper given an array's items", numpys, lambda x: helper(x) > 0, None, True)]
    kernel_cache.use(str(tmp_path))
    events: list = []
    kernels.report_to(events.append)
    try:
        for name, source, element, condition, expected in cases:
            kernel = kernels.compiled(f"flags {name}", reducers.Sum, source, element, condition, None)
            assert kernel is not None and kernel.watches_flags is expected, name
            kernels._cache.clear()  # found again on disk, as another process finds it
            loaded = kernels.compiled(f"flags {name}", reducers.Sum, source, element, condition, None)
            assert loaded is not None and loaded.watches_flags is expected, name
    finally:
        kernel_cache.use(None)
        kernels.report_to(lambda kind: None)
    assert events.count("loaded") == len(cases), events


def test_the_flags_watched_follow_numpys_modes():
    flags = fp_flags.watched()
    assert flags  # numpy's default modes warn for three of them
    with np.errstate(all="ignore"):
        assert fp_flags.watched() == 0
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        fp_flags.clear(flags)
        with np.errstate(all="ignore"):
            np.float64(-1.0) ** 0.5  # numpy's nan from a negative base: the invalid flag
        assert fp_flags.raised(fp_flags.watched())
        fp_flags.clear(flags)
        assert not fp_flags.raised(fp_flags.watched())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's warnings shown nowhere: nothing to watch
        assert fp_flags.watched() == 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        assert fp_flags.watched() == 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="overflow", category=RuntimeWarning)  # others still shown
        assert fp_flags.watched() == flags
        warnings.filterwarnings("error", category=DeprecationWarning)  # another category's
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        assert fp_flags.watched() == 0


def test_may_warn_is_read_from_the_typed_function_not_its_name():
    assert checked._numpys_function(np.sqrt) and checked._numpys_function(np.clip)
    assert not checked._numpys_function(np.float64) and not checked._numpys_function(math.sqrt)
