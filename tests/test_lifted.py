"""A shape's free floats are its kernel's arguments (engine/lifted.py): a parameter sweep compiles
one kernel, not one per value, and every answer, type and exception stays CPython's, whatever
else reads the same name."""
import math
import textwrap

import numpy as np
import pytest

from ufora.engine import kernel_cache, kernels, lifted, rewriter, runtime, serialization
from ufora.engine.block import Block, run_block
from ufora.engine.runtime import InlineRunner
from tests.inline_block import variables_of

PRELUDE = textwrap.dedent('''
    import math
    import numpy as np

    xs = np.linspace(-3.0, 3.0, 20_001)
    pairs_a = np.arange(5_000) * 0.5
    pairs_b = np.arange(5_000) % 7

    def scaled(x):
        return x * rate  # a helper reading the same global: its value stays frozen, and named

    rate = 2.0
''')


@pytest.fixture
def compiles():
    """The kernels this process compiles, counted (no kernel folder: each is compiled here)."""
    events = []
    kernel_cache.use(None)
    kernels.report_to(events.append)
    yield events
    kernels.report_to(lambda kind: None)


def run(code: str) -> dict:
    """``code`` as a block on the in-process runner (every shape split and compiled where it
    can be), and as plain CPython: both namespaces' values of the names it assigns."""
    namespace = {"__name__": "__lifted__"}
    exec(compile(PRELUDE, "<lifted>", "exec"), namespace)
    free = {k: v for k, v in namespace.items() if not k.startswith("__")}
    here = dict(free)
    exec(compile(code, "<here>", "exec"), here)
    source = PRELUDE + "with cluster:\n" + textwrap.indent(code, "    ") + "\n"
    pickled, _, written = serialization.dumps_written(free)
    result = run_block(Block(source, "<lifted>", PRELUDE.count("\n") + 1, pickled), InlineRunner(processes=2))
    result.take_over()
    if result.error is not None:
        raise result.error.exception()
    there = {name: value for name, value in variables_of(result, written).items() if name not in result.callables}
    return {"here": {k: here[k] for k in there}, "there": there}


def same(a, b) -> bool:
    """Equal value for value and type for type (NaNs equal)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    return a == b


def test_a_sweep_over_a_float_compiles_one_kernel(compiles):
    got = run(textwrap.dedent('''
        sums = []
        for alpha in [0.1, 0.25, 0.5, 1.0, 2.0, -0.0, 1e-300, float("inf")]:
            sums.append(sum(math.exp(-alpha * (x % 10)) for x in range(200_000)))
    '''))
    assert same(got["here"]["sums"], got["there"]["sums"]), got
    assert compiles.count("compiled") <= 2, compiles  # the sum's kernel (and no other per value)
    assert runtime.reports[-1].compiled > 0, runtime.reports[-1]


def test_collections_zips_and_closures_take_their_floats_as_arguments(compiles):
    got = run(textwrap.dedent('''
        def mapped(shift):
            return [x * shift + 1.0 for x in xs]     # a closure's float

        lists = [mapped(s) for s in (0.5, 1.5)]
        dots = [sum(a * w + b for a, b in zip(pairs_a, pairs_b)) for w in (0.25, 4.0)]
        counts = []
        for limit in (0.5, 1.5, 2.5):
            counts.append(sum(1 for x in xs if x < limit))   # read by the condition: frozen there
    '''))
    for name in ("lists", "dots", "counts"):
        assert same(got["here"][name], got["there"][name]), name


def test_a_float_a_helper_also_reads_is_never_a_stale_constant():
    got = run(textwrap.dedent('''
        totals = []
        for rate in (2.0, 3.0, 0.5):
            totals.append(sum(scaled(x) + rate for x in range(100_000)))
    '''))
    assert same(got["here"]["totals"], got["there"]["totals"]), got


def test_a_function_with_defaults_keeps_its_floats_frozen():
    """Its twin's parameters would be its own, then the lifted ones: a default would take a
    lifted argument's place (a review found 237500.0 where CPython gives 325000.0)."""
    got = run(textwrap.dedent("""
        bias = 0.25

        def score(n, weight=2.0):
            return weight * sum(k * k for k in range(n % 4)) + bias

        total = sum(map(score, range(100_000)))
        firsts = list(map(score, range(5)))
    """))
    for name in ("total", "firsts"):
        assert same(got["here"][name], got["there"][name]), name


def test_a_name_that_is_a_float_then_an_int_then_a_numpy_float_keeps_cpythons_types():
    got = run(textwrap.dedent('''
        results = []
        for k in (2.5, 3, np.float64(1.5), True, 2.5):
            results.append(sum(x * k for x in range(50_000)))
            results.append([x / k for x in range(0, 30_000, 7)][-1])
    '''))
    assert same(got["here"]["results"], got["there"]["results"]), got


def test_errors_from_a_lifted_value_are_cpythons():
    for code, error in [("r = sum(math.exp(big * x) for x in range(100_000))", OverflowError),
                        ("r = sum(x / zero for x in range(100_000))", ZeroDivisionError),
                        ("r = sum(math.sqrt(neg + x) for x in range(100_000))", ValueError)]:
        prefix = "big, zero, neg = 800.0, 0.0, -5.0\n"
        with pytest.raises(error) as here:
            exec(compile(prefix + code, "<here>", "exec"), {"math": math})
        with pytest.raises(error) as there:
            run(prefix + code)
        assert str(there.value) == str(here.value)


def test_what_is_lifted():
    def element_of(code, **values):
        tree = rewriter.rewrite(__import__("ast").parse(code))
        namespace = {**values, rewriter.LOOPS_HOOK: kernels.attach_loops, "__builtins__": __builtins__}
        hooks = {name: (lambda *a, **k: a) for name in (rewriter.REDUCE_HOOK,)}
        namespace.update(hooks)
        exec(compile(__import__("ast").fix_missing_locations(tree), "<t>", "exec"), namespace)
        return namespace["r"][2]

    element = element_of("r = sum(a * x + n + z for x in xs)", a=0.5, n=3, z=np.float64(1.0), xs=[1.0])
    assert lifted.liftable(element) == ("a",)  # an exact float only
    assert lifted.liftable(element_of("r = sum(f(x) for x in xs)", f=abs, xs=[1.0])) == ()
    assert lifted.liftable(abs) == lifted.values(abs, ()) == ()  # map(abs, a): a builtin element
    lifted.restore(str, (), ())
    copy = lifted.blanked(element, ("a",))
    assert copy.__globals__["a"] == lifted.PLACEHOLDER and element.__globals__["a"] == 0.5
    restored = serialization.loads(serialization.dumps(copy))
    lifted.restore(restored, ("a",), (0.75,))
    assert restored(2.0) == 0.75 * 2.0 + 3 + np.float64(1.0)


def test_a_parameter_sweep_through_the_cluster(ufora):
    """As a user writes it: one block per value of a plain loop, then a loop inside one block."""
    def decayed(alpha, n):
        return sum(math.exp(-alpha * (x % 100)) for x in range(n))

    values = [0.05 * k for k in range(1, 9)]
    expected = [decayed(alpha, 300_000) for alpha in values]
    got = []
    for alpha in values:
        with ufora.remotely.downloadAll():
            one = sum(math.exp(-alpha * (x % 100)) for x in range(300_000))
        got.append(one)
    with ufora.remotely.downloadAll():
        inside = []
        for alpha in values:
            inside.append(sum(math.exp(-alpha * (x % 100)) for x in range(300_000)))
    assert got == expected and inside == expected
