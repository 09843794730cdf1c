"""engine.lru_caches: an lru_cache function the user defined travels by value with an empty cache
(to a fresh interpreter, as to the cluster), one of an installed module by name; one whose
cache is in use is refused where a copy would be taken for it."""
import fnmatch
import functools
import os
import pickle
import subprocess
import sys

import pytest

from ufora.engine import lru_caches, serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in a fresh interpreter: unpickles (function, argument) on stdin, calls it twice, prints
# the value, the cache's counts and parameters, and the wrapper's own attribute.
_ECHO = """
import sys
from ufora.engine import serialization
function, argument = serialization.loads(sys.stdin.buffer.read())
value = function(argument)
function(argument)
print(value, tuple(function.cache_info()), function.cache_parameters(), getattr(function, "unit", None))
"""


def in_child(value) -> str:
    done = subprocess.run([sys.executable, "-c", _ECHO], input=serialization.dumps(value), capture_output=True,
                          cwd=ROOT, timeout=60, check=True)
    return done.stdout.decode().strip()


def make_fib():
    @functools.lru_cache(maxsize=16, typed=True)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)  # itself, through its closure

    fib.unit = "rabbits"
    return fib


def test_one_defined_in_a_function_travels_by_value_with_an_empty_cache():
    fresh, used = make_fib(), make_fib()
    fresh(30), fresh(30)
    used(30)
    # its copy, called twice there, counts what a fresh one counts here
    assert in_child((used, 30)) == f"832040 {tuple(fresh.cache_info())} {{'maxsize': 16, 'typed': True}} rabbits"
    assert used.cache_info() != fresh.cache_info()  # the caller's own is left as it was


def test_one_defined_at_module_level_of_a_module_sent_by_value_travels_too():
    import cloudpickle

    from tests.user_programs import closures_state as module

    module.cached_square = functools.cache(lambda x: x * x)
    module.cached_square.__qualname__ = "cached_square"
    cloudpickle.register_pickle_by_value(module)
    try:
        assert in_child((module.cached_square, 12)) == "144 (1, 1, None, 1) {'maxsize': None, 'typed': False} None"
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del module.cached_square
    assert pickle.loads(serialization.dumps(fnmatch._compile_pattern)) is fnmatch._compile_pattern  # by name


def test_one_whose_cache_is_in_use_is_refused_only_where_a_copy_must_be_exact():
    @functools.lru_cache(maxsize=None)
    def square(x):
        return x * x

    with lru_caches.refusing_used():
        serialization.dumps(square)  # unused: its copy is exact
    square(3)
    with lru_caches.refusing_used(), pytest.raises(pickle.PicklingError, match="square.cache_clear()"):
        serialization.dumps(square)
    assert serialization.loads(serialization.dumps(square)).cache_info().currsize == 0  # elsewhere: empty
