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
    return sum(python_root(i) for i in range(200_000))


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
        else:
            value = sum(python_root(i) for i in range(200_000))
        from ufora.engine import runtime
        report = runtime.reports[-1]
    return value, report


SHAPES = ["inf - inf", "numpy on Python floats", "overflow", "sqrt of negatives"]


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("action", ["default", "always"])
def test_a_compiled_shape_warns_as_cpython(compiling_ufora, name, action):
    expected, expected_warnings = caught(lambda: here(name), action)
    assert expected_warnings and all(w[0] is RuntimeWarning for w in expected_warnings)
    (got, report), got_warnings = caught(lambda: remotely(compiling_ufora, name), action)
    assert same(got, expected)
    assert got_warnings == expected_warnings
    assert report.compiled < report.partitions, report  # those that warn: computed again in CPython


@pytest.mark.parametrize("name", SHAPES)
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
            from ufora.engine import runtime
            report = runtime.reports[-1]
    assert math.isnan(expected) and same(got, expected) and seen == []
    assert report.compiled == report.partitions > 0, report


def test_a_kernel_watches_flags_where_it_computes_as_numpy_and_keeps_that_on_disk(tmp_path):
    def plain(i):
        return i * 1e300 - 1.0

    def of_numpy(i):
        return np.sqrt(i - 1.0)

    array = np.arange(10.0)
    cases = [("range, plain floats", RangeSource(range(10)), plain, False),
             ("range, numpy's sqrt", RangeSource(range(10)), of_numpy, True),
             ("a list's floats, plain", ArraySource(array, python_items=True), plain, False),
             ("an array's items", ArraySource(array, python_items=False), lambda x: x, True)]
    kernel_cache.use(str(tmp_path))
    events: list = []
    kernels.report_to(events.append)
    try:
        for name, source, element, expected in cases:
            kernel = kernels.compiled(f"flags {name}", reducers.Sum, source, element, None, None)
            assert kernel is not None and kernel.watches_flags is expected, name
            kernels._cache.clear()  # found again on disk, as another process finds it
            loaded = kernels.compiled(f"flags {name}", reducers.Sum, source, element, None, None)
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


def test_may_warn_is_read_from_the_typed_function_not_its_name():
    assert checked._numpys_function(np.sqrt) and checked._numpys_function(np.clip)
    assert not checked._numpys_function(np.float64) and not checked._numpys_function(math.sqrt)
