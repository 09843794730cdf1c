"""Property-based: on random ranges and arrays, every shape split by the engine gives exactly
what CPython gives (floats to rounding). The inline limit is lowered so that small examples
are split too, in many partitions."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ufora.engine import runtime
from ufora.engine.runtime import InlineRunner, parallel_collect, parallel_reduce, using_runner

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ranges = st.builds(range, st.integers(-10**6, 10**6), st.integers(-10**6, 10**6),
                   st.integers(-50, 50).filter(lambda s: s != 0))
int_arrays = hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-10**6, 10**6))
float_arrays = hnp.arrays(np.float64, st.integers(0, 300),
                          elements=st.floats(-1e6, 1e6, allow_nan=False))


@pytest.fixture(autouse=True)
def split_everything(monkeypatch):
    monkeypatch.setattr(runtime, "INLINE_LIMIT", 1)
    with using_runner(InlineRunner(processes=3)):
        yield


def square_mod(x):
    return (x * x) % 1009


def odd(x):
    return x % 2 == 1


def both(engine_call, cpython_call):
    try:
        expected = ("ok", cpython_call())
    except Exception as exc:
        expected = ("error", type(exc), str(exc))
    try:
        got = ("ok", engine_call())
    except Exception as exc:
        got = ("error", type(exc), str(exc))
    return got, expected


def assert_same(got, expected):
    assert got[0] == expected[0], (got, expected)
    if got[0] == "error":
        assert got[1:] == expected[1:]
        return
    a, b = got[1], expected[1]
    assert type(a) is type(b)
    if isinstance(a, (float, np.floating)):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    else:
        assert a == b


@SETTINGS
@given(values=st.one_of(ranges, int_arrays))
def test_integer_reductions(values):
    for function, kwargs in ((sum, {}), (min, {"default": None}), (max, {}), (any, {}), (all, {})):
        for condition in (None, odd):
            got, expected = both(
                lambda: parallel_reduce(function, values, square_mod, condition, **kwargs),
                lambda: function((square_mod(x) for x in values if condition is None or condition(x)), **kwargs))
            assert_same(got, expected)


@SETTINGS
@given(values=float_arrays)
def test_float_reductions(values):
    got, expected = both(lambda: parallel_reduce(sum, values, lambda x: x * x, None),
                         lambda: sum(x * x for x in values))
    assert_same(got, expected)
    got, expected = both(lambda: parallel_reduce(max, values, lambda x: x, None, key=lambda v: -abs(v), default=0.0),
                         lambda: max((x for x in values), key=lambda v: -abs(v), default=0.0))
    assert_same(got, expected)


@SETTINGS
@given(values=st.one_of(ranges, int_arrays, float_arrays))
def test_comprehensions_keep_order_and_types(values):
    element = lambda x: x * 3  # noqa: E731
    got = parallel_collect("list", values, element, None)
    expected = [x * 3 for x in values]
    assert got == expected and [type(v) for v in got] == [type(v) for v in expected]
    assert parallel_collect("set", values, lambda x: x % 17, None) == {x % 17 for x in values}
    got_dict = parallel_collect("dict", values, lambda x: (x % 50, x), None)
    expected_dict = {x % 50: x for x in values}
    assert list(got_dict.items()) == list(expected_dict.items())


narrow_arrays = st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.float16]), st.integers(0, 200),
               elements=st.floats(-1e3, 1e3, allow_nan=False, width=16)),
    hnp.arrays(st.sampled_from([np.int32, np.int16, np.int8, np.uint8, np.uint32]), st.integers(0, 200)))
edge_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                        st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e308, -1e308, 5e-324, 2.0**53, 0.5]))


def assert_exactly(got, expected):
    """The same outcome to the last bit: value, type (numpy scalars too) and the sign of zero."""
    assert got[0] == expected[0], (got, expected)
    assert repr(got[1:]) == repr(expected[1:]), (got, expected)


@SETTINGS
@given(values=narrow_arrays)
def test_narrow_numpy_items_compute_as_numpys_scalars(values):
    """float32, float16 and the small ints keep their width item by item (numba would widen)."""
    with np.errstate(all="ignore"):
        for element in (lambda x: x * 3, lambda x: x + 100, lambda x: x * 0.5):
            got, expected = both(lambda: parallel_collect("list", values, element, None),
                                 lambda: [element(x) for x in values])
            assert_exactly(got, expected)
            got, expected = both(lambda: parallel_reduce(sum, values, element, None),
                                 lambda: sum(element(x) for x in values))
            assert_exactly(got, expected)


@SETTINGS
@given(values=st.one_of(ranges, int_arrays))
def test_elements_that_are_ints_or_floats_keep_each_type(values):
    for element in (lambda x: x / 2 if x % 2 else x // 2, lambda x: x > 3 if x % 3 else 0,
                    lambda x: 0 if x % 5 == 0 else x * 0.25):
        got, expected = both(lambda: parallel_collect("list", values, element, None),
                             lambda: [element(x) for x in values])
        assert_exactly(got, expected)


@SETTINGS
@given(values=st.lists(edge_floats, min_size=0, max_size=60))
def test_math_at_the_edges_of_its_domain_is_cpythons(values):
    """Domain and range errors are CPython's (numba alone gives nan or inf); values to the bit."""
    for element in (math.sqrt, math.log, math.exp, math.floor, lambda x: x ** 3, lambda x: x ** 0.5,
                    lambda x: round(x), lambda x: int(x), lambda x: 10.0 ** x, math.atanh, math.sin):
        got, expected = both(lambda: parallel_collect("list", values, element, None),
                             lambda: [element(x) for x in values])
        assert_exactly(got, expected)
