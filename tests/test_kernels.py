"""The kernel builder: compiled when numba can, refused (None) when it cannot, cached."""
import ast
import functools
import itertools

import numpy as np
import pytest

from ufora.engine import kernels, reducers
from ufora.engine.rewriter import loop_source
from ufora.engine.sources import source_for
from tests.primes import isPrime as is_prime


def builds_a_dict(x):
    d = dict(value=x, name="n")  # numba cannot type dict(**kwargs): CPython fallback
    return d["value"] % 3


def keys_by_text(x):
    d = {}
    d[str(x)] = [x]
    return len(d)


class Box:
    def __init__(self, v):
        self.v = v


def uses_a_class(x):
    return Box(x).v


_digests = itertools.count()


def build(reducer, iterable, element, condition=None, key=None):
    """Compile as the engine would; each call its own digest (ids of dead lambdas are reused)."""
    return kernels.compiled(f"test-{next(_digests)}", reducer, source_for(iterable),
                            element, condition, key)


def test_the_tutorial_compiles_for_every_reducer_and_source():
    for reducer in (reducers.Sum, reducers.Min, reducers.Max, reducers.Any, reducers.All):
        for iterable in (range(10), np.arange(10), [1, 2, 3]):
            assert build(reducer, iterable, lambda x: is_prime(x)) is not None, (reducer, iterable)


@pytest.mark.parametrize("element", [builds_a_dict, keys_by_text, uses_a_class, lambda x: str(x)])
def test_functions_numba_rejects_are_refused_not_raised(element):
    assert build(reducers.Sum, range(10), element) is None


def test_closures_and_nested_globals_compile():
    k = 7

    def element(x):
        return is_prime(x) * k

    kernel = build(reducers.Sum, range(10), element)
    # 0, 1 and 8 primes below 20; an int sum's kernel gives (kept, high 32 bits, low 32 bits, beyond)
    assert kernel.function(0, 1, 0, 20) == (True, 0, 7 * 10, False)


def test_int_sums_past_int64_stay_compiled_and_exact():
    kernel = build(reducers.Sum, range(10), lambda x: x * 3)
    lo, hi = 2**62 - 5, 2**62 + 40_000_000  # every element is past int64: the checked * refuses
    expected = (hi - lo) * (lo + hi - 1) // 2  # past 2**87
    kept, high, low, beyond = build(reducers.Sum, range(10), lambda x: x).function(lo, 1, 0, hi - lo)
    assert kept and not beyond and (high << 32) + low == expected
    assert reducers.Sum.from_kernel((True, high, low, False), int) == (True, expected, 0.0)  # 0.0: exact
    with pytest.raises(OverflowError):
        kernel.function(lo, 1, 0, 10)


def test_collections_get_typed_output_buffers():
    assert build(reducers.COLLECTIONS["list"], range(5), lambda x: x * 0.5).output_dtypes == ("float64",)
    assert build(reducers.COLLECTIONS["list"], range(5), lambda x: x > 2).output_dtypes == ("bool",)
    pairs = build(reducers.COLLECTIONS["dict"], range(5), lambda x: (x, x * 0.5))
    assert pairs.output_dtypes == ("int64", "float64")
    assert build(reducers.COLLECTIONS["list"], range(5), lambda x: (x, x)) is None  # not a number


def test_kernels_are_cached_per_digest_and_types():
    source = source_for(range(10))
    element = lambda x: x + 1  # noqa: E731
    first = kernels.compiled("cache-test", reducers.Sum, source, element, None, None)
    assert kernels.compiled("cache-test", reducers.Sum, source, element, None, None) is first
    assert kernels.compiled("cache-test", reducers.Sum, source_for(np.arange(10.0)), element,
                            None, None) is not first


def with_twin(text: str, namespace: dict):
    """The lambda ``text`` as the rewriter makes it: with its numba-ready twin attached."""
    function = eval(text, namespace)
    return kernels.attach_loops(loop_source(ast.parse(text, mode="eval").body))(function)


def test_nested_generators_compile_through_the_twin():
    element = with_twin("lambda x: sum(is_prime(y) for y in range(x))", {"is_prime": is_prime})
    kernel = build(reducers.Sum, range(10), element)
    total = sum(element(x) for x in range(10))
    assert kernel.function(0, 1, 0, 10) == (True, 0, total, False)


def test_the_twin_is_used_only_for_its_own_function_and_builtin_reductions():
    element = with_twin("lambda x: sum(y for y in range(x))", {})
    assert kernels._twin(element) is not element

    @functools.wraps(element)  # copies the attached twin, which is not the wrapper's
    def wrapper(x):
        return element(x) * 2

    assert kernels._twin(wrapper) is wrapper
    shadowed = with_twin("lambda x: sum(y for y in range(x))", {"sum": lambda values: 0})
    assert kernels._twin(shadowed) is shadowed
