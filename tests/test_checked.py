"""Checked integer arithmetic (engine.checked): a compiled operator gives CPython's int exactly
or raises; it never returns a wrapped number. Other types keep the plain operator."""
import operator

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ufora.engine import checked

INT64 = st.integers(-2**63, 2**63 - 1)
SMALL = st.integers(-70, 70)


def _compiled(text: str):
    namespace = {}
    exec(f"def f(a, b):\n    {text}", namespace)
    return numba.njit(namespace["f"], pipeline_class=checked.compiler())


OPERATIONS = {
    "a + b": operator.add, "a - b": operator.sub, "a * b": operator.mul,
    "a ** b": operator.pow, "a << b": operator.lshift, "-a + 0 * b": lambda a, b: -a,
    "abs(a) + 0 * b": lambda a, b: abs(a), "a // b": operator.floordiv,
}
COMPILED = {text: _compiled(f"return {text}") for text in OPERATIONS}
AUGMENTED = {symbol: _compiled(f"a {symbol}= b\n    return a") for symbol in ("+", "-", "*", "<<")}


def _exact_or_refused(compiled, a: int, b: int, expected) -> None:
    try:
        got = compiled(a, b)
    except (OverflowError, ValueError):
        return  # refused: the partition is recomputed in CPython
    assert type(got) is int and got == expected


@settings(max_examples=300, deadline=None)
@given(INT64, INT64)
def test_add_sub_mul_are_exact_or_refused(a, b):
    for text in ("a + b", "a - b", "a * b"):
        expected = OPERATIONS[text](a, b)
        if -2**63 <= expected < 2**63:
            assert COMPILED[text](a, b) == expected
        else:
            with pytest.raises(OverflowError):
                COMPILED[text](a, b)


@settings(max_examples=300, deadline=None)
@given(st.one_of(INT64, SMALL), SMALL, INT64)
def test_the_other_operators_are_exact_or_refused(a, small, b):
    for text, b in (("a ** b", small), ("a << b", small), ("-a + 0 * b", b), ("abs(a) + 0 * b", b),
                    ("a // b", b), ("a // b", small)):
        try:
            expected = OPERATIONS[text](a, b)
        except (ValueError, ZeroDivisionError):  # negative shift count, 0 ** -1: compiled raises too
            with pytest.raises((ValueError, OverflowError, ZeroDivisionError)):
                COMPILED[text](a, b)
            continue
        _exact_or_refused(COMPILED[text], a, b, expected)


@pytest.mark.parametrize("symbol,b", [("+", 2**62), ("-", -2**62), ("*", 2), ("<<", 1)])
def test_augmented_assignments_are_checked(symbol, b):
    with pytest.raises(OverflowError):
        AUGMENTED[symbol](2**62, b)


def test_what_fits_is_computed_and_what_cannot_be_exact_is_refused():
    assert COMPILED["a ** b"](10, 18) == 10**18 and COMPILED["a ** b"](-2, 63) == -2**63
    with pytest.raises(OverflowError):
        COMPILED["a ** b"](3, 40)
    with pytest.raises(OverflowError):  # CPython gives 0.5; numba alone gives 0
        COMPILED["a ** b"](2, -1)
    for text in ("-a + 0 * b", "abs(a) + 0 * b", "a // b"):
        with pytest.raises(OverflowError):
            COMPILED[text](-2**63, -1)
    assert COMPILED["a // b"](-7, 2) == -4 and COMPILED["abs(a) + 0 * b"](-5, 0) == 5


def test_other_types_keep_the_plain_operator():
    assert COMPILED["a * b"](1.5, 2.0) == 3.0
    assert COMPILED["a + b"]("ab", "cd") == "abcd"
    assert COMPILED["a ** b"](2.0, 0.5) == 2.0 ** 0.5
    array = np.arange(3.0)
    assert AUGMENTED["+"](array, 1.0) is not None and array.tolist() == [1.0, 2.0, 3.0]  # in place
    assert COMPILED["a + b"](True, True) == 2


def test_numpys_int64_of_a_float_beyond_it_raises_as_numpy_does():
    """numba converts 1e300 (or nan) to INT64_MIN; numpy raises OverflowError (ValueError): a
    user's list of np.int64(i * 1e300) came back as INT64_MIN values."""
    import numpy

    convert = _compiled("return numpy.int64(a * b)")
    convert.py_func.__globals__["numpy"] = numpy
    assert convert(3, 1.5) == 4 and convert(-7, 0.5) == -3  # truncated toward zero, as numpy does
    for a, b in ((1, 1e300), (1, float("inf")), (1, float("nan")), (-1, 9.3e18)):
        with pytest.raises(OverflowError):
            convert(a, b)
