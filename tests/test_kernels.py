"""The numba-or-CPython kernel: always CPython's answer, compiled when numba can."""
import pytest

from engine import kernels, tasks
from engine.runtime import InlineRunner, parallel_sum, using_runner
from tests.primes import isPrime as is_prime


def builds_a_dict(x):
    d = dict(value=x, name="n")  # numba cannot type dict(**kwargs): CPython fallback
    return d["value"] % 3


class Box:
    def __init__(self, v):
        self.v = v


def uses_a_class(x):
    return Box(x).v


def run(element, condition, iterable):
    with using_runner(InlineRunner(processes=2)):
        return parallel_sum(sum, iterable, element, condition)


def serial(element, condition, iterable):
    return sum(element(x) for x in iterable if condition is None or condition(x))


def test_tutorial_shape_is_compiled_and_exact():
    assert kernels.compiled_sum_kernel("is_prime", lambda x: is_prime(x), None) is not None
    assert run(lambda x: is_prime(x), None, range(100_000)) == 9594


def keys_by_text(x):
    d = {}
    d[str(x)] = [x]
    return len(d)


@pytest.mark.parametrize("element", [builds_a_dict, keys_by_text, uses_a_class])
def test_functions_numba_rejects_fall_back_to_cpython(element):
    assert kernels.compiled_sum_kernel(f"reject-{id(element)}", element, None) is None
    assert run(element, None, range(30_000)) == serial(element, None, range(30_000))


def test_filter_negative_step_and_floats():
    r = range(50_000, -50_000, -7)
    assert run(lambda x: x * 0.25, lambda x: x % 3 == 1, r) == serial(lambda x: x * 0.25, lambda x: x % 3 == 1, r)


def test_closures_and_nested_globals_are_compiled():
    k = 7

    def element(x):
        return is_prime(x) * k

    assert kernels.compiled_sum_kernel(f"closure-{id(element)}", element, None) is not None
    assert run(element, None, range(40_000)) == 7 * serial(is_prime, None, range(40_000))


def test_int64_overflow_is_recomputed_exactly():
    r = range(1, 300_000)
    cube = lambda x: x * x * x * 1000  # partial sums exceed int64
    assert run(cube, None, r) == serial(cube, None, r)


def test_first_exception_by_position_is_cpythons():
    element = lambda x: 1 // (x - 25_000) + 1 // (x - 35_000)
    with pytest.raises(ZeroDivisionError) as raised:
        run(element, None, range(50_000))
    assert "Raised in partition" in raised.value.__notes__[0]
    lo_hi = raised.value.__notes__[0].split("[")[1].split(")")[0]
    lo, hi = (int(v) for v in lo_hi.split(", "))
    assert lo <= 25_000 < hi


def test_small_and_non_range_inputs_run_inline_in_cpython():
    assert run(lambda x: x, None, range(10)) == 45
    assert run(lambda x: x, None, [1, 2, 3]) == 6


def test_shadowed_sum_is_respected():
    calls = []

    def my_sum(values):
        calls.append(1)
        return sum(values) + 1

    with using_runner(InlineRunner()):
        assert parallel_sum(my_sum, range(100_000), lambda x: x, None) == sum(range(100_000)) + 1
    assert calls


def test_partition_outcomes_travel_as_data():
    task = tasks.sum_task(lambda x: 10 // (x - 3), None, range(10))
    status, error = tasks.run_partition(task, 0, 10)
    assert status == "error" and error.type_name == "ZeroDivisionError"
    assert "test_kernels.py" in error.trace
