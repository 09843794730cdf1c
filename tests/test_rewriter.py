import ast

import pytest

from engine.rewriter import SUM_HOOK, rewrite


def rewritten(source: str) -> str:
    return ast.unparse(rewrite(ast.parse(source)))


def test_sum_of_generator_over_any_iterable_expression_is_rewritten():
    out = rewritten("r = sum(isPrime(x) for x in xrange(n))")
    assert out == f"r = {SUM_HOOK}(sum, xrange(n), lambda x: isPrime(x), None)"


def test_filters_become_one_condition_in_order():
    out = rewritten("r = sum(x for x in range(9) if x % 2 if x > 3)")
    assert out == f"r = {SUM_HOOK}(sum, range(9), lambda x: x, lambda x: x % 2 and x > 3)"


@pytest.mark.parametrize("source", [
    "sum([x for x in range(3)])",                 # not a generator
    "sum(x for x in range(3) for y in range(2))",  # two for clauses
    "sum((a for a, b in pairs))",                 # tuple target
    "sum((x for x in range(3)), 10)",             # a start value
    "total(x for x in range(3))",                 # not sum
])
def test_other_shapes_are_left_alone(source):
    assert SUM_HOOK not in rewritten(source)


def test_nested_sum_is_rewritten_once_outermost():
    out = rewritten("sum(sum(y for y in range(x)) for x in range(10))")
    assert out.count(SUM_HOOK) == 1 and out.startswith(SUM_HOOK)


def test_line_numbers_are_kept_for_tracebacks():
    tree = rewrite(ast.parse("\n\nr = sum(f(x) for x in range(9))"))
    call = tree.body[0].value
    assert call.lineno == 3 and call.args[2].lineno == 3
