"""Block capture in the caller's frame, with the cluster replaced by the engine in this process
(the real path minus the sockets: capture -> engine.block -> worker/manager message shapes ->
write-back). End-to-end tests run the same through real services."""
import functools

import pytest

import pyfora
from ufora.engine.block import Block, run_block
from ufora.engine.runtime import InlineRunner
from ufora.net.manager import job_done_message
from pyfora.connection import HeldReleases
from pyfora.with_block import WithBlockExecutor
from ufora.engine import runtime
from tests.primes import countPrimes, primes_below
from tests.primes import isPrime as is_prime


class InProcessExecutor:
    _serial_here = False  # every block goes through the engine, even one it runs serially
    blocksRunHere = 0

    def __init__(self):
        self.submitted = []
        self._warning_registries = {}  # (engine.warned's, as a connection keeps them)

    def _check_open(self):
        pass

    def _hold_releases(self):
        return HeldReleases(None)  # (nothing to hold: no connection)

    def _release_all(self, message):
        pass

    @property
    def remotely(self):
        return WithBlockExecutor(self)

    def _run_block(self, captured, download_below, status_callback=None, held=None):
        assert download_below is None  # these tests download everything
        if held is not None:
            held.end()
        self.submitted.append(captured)
        free = captured.free_variables  # as the manager hands it on: in one piece
        block = Block(captured.source, captured.filename, captured.with_line,
                      free if isinstance(free, bytes) else free.joined(), captured.other_sources)
        result = run_block(block, InlineRunner())
        result.take_over()  # as the worker service does: large buffers mapped, their segments unlinked
        fields, buffers = result.pack()
        return job_done_message("job", fields, buffers)


ufora = InProcessExecutor()
ran_where = []  # True for each run with a runner (on the cluster), False for a local run


with ufora.remotely.downloadAll():
    module_result = sum(is_prime(x) for x in xrange(100_000))
    ran_where.append(runtime._runner is not None)  # remotely, and the caller's list sees it


def test_module_level_block_assigns_module_globals():
    assert module_result == 9594
    assert ran_where == [True]  # ran once, on the cluster; the effect is the caller's list's


def test_function_locals_are_read_and_written_back():
    n, offset = 30_000, 5
    with ufora.remotely.downloadAll():
        total = sum(x + offset for x in range(n))
        label = f"n={n}"
    assert total == sum(x + 5 for x in range(30_000))
    assert label == "n=30000"


def test_nested_function_with_closure_variables():
    factor = 3

    def outer():
        base = 2

        def inner():
            with ufora.remotely.downloadAll():
                value = (base + factor) * 10
            return value

        return inner()

    assert outer() == 50


def test_free_variables_of_several_kinds():
    import math

    data = {"a": [1, 2, 3], "b": (4.5, None)}

    class Point:
        def __init__(self, x):
            self.x = x

    point = Point(7)
    square = lambda v: v * v  # noqa: E731
    with ufora.remotely.downloadAll():
        out = (math.sqrt(16), sum(data["a"]), data["b"][0], square(point.x), type(point).__name__)
    assert out == (4.0, 6, 4.5, 49, "Point")


def test_only_the_names_read_are_shipped():
    unused = object()  # noqa: F841  (would not pickle cleanly if it had a lock)
    import threading
    lock = threading.Lock()  # noqa: F841
    with ufora.remotely.downloadAll():
        y = 41 + 1
    assert y == 42


def test_a_name_the_block_binds_before_reading_it_is_not_shipped():
    """Found by a user's trial: the old value of a name the block assigns first was sent, so a
    generator or a lock left in it made the block fail, where CPython ignores it."""
    import threading
    rows = (i for i in range(3))
    lock = threading.Lock()
    with ufora.remotely.downloadAll():
        rows = [x * 2 for x in range(4)]
        with open(__file__) as lock:
            first = lock.readline()
        total = sum(rows)
    assert (rows, total, first.startswith('"""Block capture')) == ([0, 2, 4, 6], 12, True)
    assert lock.closed


@pytest.mark.parametrize("text,names", [
    ("x = 1\ny = x", []),
    ("x = x + 1", ["x"]),
    ("a, (b, *c) = t\nd = a + b", ["t"]),
    ("if f:\n    x = 1\ny = x", ["f", "x"]),  # may not be bound
    ("try:\n    x = g()\nexcept E:\n    pass\ny = x", ["g", "E", "x"]),
    ("with s():\n    x = 1\ny = x", ["s", "x"]),  # a context manager may swallow the error before it
    ("with open(p) as x:\n    y = x.read()", ["open", "p"]),
    ("def f():\n    return x\nx = 1\nr = f()", ["x"]),  # called before x is bound, it would read the old one
    ("x: int\ny = x", ["int", "x"]),
    ("import numpy as np\nr = np.sum(v)", ["v"]),
    ("(x := 5)\ny = x", ["x"]),
    ("x = 0\nx += 1\ndel x", []),
    ("for i in range(3):\n    x = i\ny = x", ["range", "i", "x"]),
    ("xs[0] = 1", ["xs"]),
    ("s = [x * x for x in range(5)]", ["range"]),  # its own x: the caller's may be a generator
    ("s = [x for x in x]", ["x"]),  # (the first iterable is the caller's)
    ("s = {k: v for k, v in d.items() if v > k}", ["d"]),
    ("s = [y for x in xs for y in x]", ["xs"]),
    ("def f(a, *b, c=d, **e):\n    return a + b[0] + c + e['k'] + g\nr = f(1)", ["d", "g"]),
    ("f = lambda a: a + b\nr = f(1)", ["b"]),
])
def test_the_names_whose_old_value_a_block_may_read(text, names):
    import ast

    from ufora.engine.code import free_names
    assert sorted(free_names(ast.parse(text).body)) == sorted(names)


def test_a_body_that_raises_gives_computation_error_with_the_users_line():
    with pytest.raises(pyfora.ComputationError) as raised:
        with ufora.remotely.downloadAll():
            before = 1
            boom = {}["missing"]  # the line the trace must show
    error = raised.value
    assert isinstance(error, KeyError) and str(error) == "'missing'"  # CPython's str of it
    assert isinstance(error.remoteException, KeyError)
    assert "test_capture.py" in error.trace and 'boom = {}["missing"]' in error.trace
    assert before == 1  # assigned before the error: still written back


def test_an_unpicklable_free_variable_is_named():
    import threading

    lock = threading.Lock()
    with pytest.raises(pyfora.PythonToForaConversionError, match="'lock'"):
        with ufora.remotely.downloadAll():
            held = lock.locked()


def count_odd_primes(n, step=2):
    return sum(is_prime(x) for x in range(1, n, step))


def test_shapes_inside_user_functions_are_split_too():
    def nested_total(n):
        offset = 1
        return max(is_prime(x) + offset for x in range(n))

    runtime.reports.clear()
    with ufora.remotely.downloadAll():
        a = countPrimes(100_000)            # defined in another file
        b = count_odd_primes(100_000)       # defined in this file
        c = nested_total(50_000)            # a closure
        d = len(primes_below(60_000))       # a comprehension
    assert (a, b, c, d) == (9594, 9592, 2, 6057)
    split = [r for r in runtime.reports if r.parallel]
    assert [r.shape for r in split] == ["sum", "sum", "max", "list"]
    assert all(r.compiled for r in split)


def test_return_yield_break_or_continue_out_of_a_block_is_refused_before_anything_is_sent():
    def returns():
        with ufora.remotely.downloadAll():
            return 1

    def yields():
        with ufora.remotely.downloadAll():
            yield 1

    def defines_its_own():  # a return inside a function the block defines is fine
        with ufora.remotely.downloadAll():
            def helper():
                return 7
            value = helper()
        return value

    def breaks():
        for i in range(3):
            with ufora.remotely.downloadAll():
                if i == 1:
                    break

    def continues():
        while True:
            with ufora.remotely.downloadAll():
                continue

    def loops_of_its_own():  # a break or continue of a loop the block holds is fine
        with ufora.remotely.downloadAll():
            found = None
            for i in range(10):
                if i % 2:
                    continue
                while True:
                    break
                if i == 4:
                    found = i
                    break
            else:
                found = -1
        return found

    sent = len(ufora.submitted)
    with pytest.raises(pyfora.BadWithBlockError, match="cannot return"):
        returns()
    with pytest.raises(pyfora.BadWithBlockError, match="cannot yield"):
        next(yields())
    with pytest.raises(pyfora.BadWithBlockError, match="cannot break a loop around it"):
        breaks()
    with pytest.raises(pyfora.BadWithBlockError, match="cannot continue a loop around it"):
        continues()
    assert len(ufora.submitted) == sent
    assert defines_its_own() == 7
    assert loops_of_its_own() == 4


shadowed_name = "the module's"
hits = 0


def test_a_functions_unbound_local_is_not_the_global_of_that_name():
    flag = False
    with pytest.raises(UnboundLocalError) as caught:
        with ufora.remotely.downloadAll():
            if flag:
                shadowed_name = "the function's"
            seen = shadowed_name  # noqa: F841
    assert str(caught.value) == "cannot access local variable 'shadowed_name' where it is not associated with a value"


def test_a_global_the_function_declares_is_written_by_its_block():
    global hits
    with ufora.remotely.downloadAll():
        for _ in range(3):
            hits = hits + 5
        closure = (lambda: hits)()
    assert hits == 15 and closure == 15


def test_a_bound_method_of_an_outside_object_changes_that_object():
    log = []
    record = log.append
    with ufora.remotely.downloadAll():
        found = any(record(x) or x * x > 90_000 for x in range(1000))
    assert found and log == list(range(302))  # up to 301, the first past 300 ** 2


@functools.lru_cache(maxsize=None)
def cached_square(x):
    return x * x


def sum_of_cached_squares(n):
    return sum(cached_square(x % 10) for x in range(n))


def test_an_lru_cache_function_goes_unused_and_its_calls_there_are_said_to_stay_there():
    cached_square.cache_clear()
    with pytest.warns(RuntimeWarning, match="lru_cache function 'cached_square' on the cluster"):
        with ufora.remotely.downloadAll():
            total = sum_of_cached_squares(30_000)  # serially: one cache, as CPython's
            info = cached_square.cache_info()
    assert total == 855_000 and (info.hits, info.misses, info.currsize) == (29_990, 10, 10)
    assert cached_square.cache_info().currsize == 0  # the caller's: as before the block
    cached_square(2)  # in use here: a copy there would not be it
    with pytest.raises(pyfora.PythonToForaConversionError, match="cached_square.cache_clear()"):
        with ufora.remotely.downloadAll():
            total = sum_of_cached_squares(10)


def one_line_block(xs):
    with ufora.remotely.downloadAll(): total = sum(x * 3 for x in xs); count = len(xs)  # noqa: E701,E702
    return total, count


def test_a_block_written_on_its_with_line_runs_there():
    """``with ...: body`` on one line is a block like any other (it was "no with statement found
    at line N"); so is a one-line ``with`` inside a block, which stays a statement of it."""
    assert one_line_block(list(range(435))) == (283185, 435)
    with ufora.remotely.downloadAll():
        with open(__file__) as source: first = source.readline()  # noqa: E701
    assert first == open(__file__).readline()
