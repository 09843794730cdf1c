import ast

import pytest

from engine.rewriter import COLLECT_HOOK, FLAT_HOOK, REDUCE_HOOK, STAR_HOOK, ZIPPED_HOOK, rewrite


def rewritten(source: str) -> str:
    return ast.unparse(rewrite(ast.parse(source)))


def test_reductions_of_a_generator_over_any_iterable_expression():
    assert rewritten("r = sum(isPrime(x) for x in xrange(n))") == \
        f"r = {REDUCE_HOOK}(sum, xrange(n), lambda x: isPrime(x), None)"
    assert rewritten("r = max((v for v in a), key=f, default=0)") == \
        f"r = {REDUCE_HOOK}(max, a, lambda v: v, None, key=f, default=0)"
    assert rewritten("r = sum((v for v in a), 10)") == f"r = {REDUCE_HOOK}(sum, a, lambda v: v, None, 10)"


def test_filters_become_one_condition_in_order():
    assert rewritten("r = any(x for x in range(9) if x % 2 if x > 3)") == \
        f"r = {REDUCE_HOOK}(any, range(9), lambda x: x, lambda x: x % 2 and x > 3)"


def test_comprehensions():
    assert rewritten("[x * 2 for x in a if x]") == f"{COLLECT_HOOK}('list', a, lambda x: x * 2, lambda x: x)"
    assert rewritten("{x % 3 for x in a}") == f"{COLLECT_HOOK}('set', a, lambda x: x % 3, None)"
    assert rewritten("{str(x): x for x in a}") == f"{COLLECT_HOOK}('dict', a, lambda x: (str(x), x), None)"


def test_tuple_targets_zip_and_enumerate():
    assert rewritten("sum(i * v for i, v in enumerate(a, 1))") == (
        f"{REDUCE_HOOK}(sum, {ZIPPED_HOOK}(enumerate, a, 1), {STAR_HOOK}(lambda i, v: i * v), None)")
    assert rewritten("[a + b for a, b in zip(x, y) if a]") == (
        f"{COLLECT_HOOK}('list', {ZIPPED_HOOK}(zip, x, y), {STAR_HOOK}(lambda a, b: a + b), "
        f"{STAR_HOOK}(lambda a, b: a))")


def test_several_for_clauses_split_the_outer_one():
    assert rewritten("sum(x * y for x in a if x for y in b(x) if y)") == (
        f"{REDUCE_HOOK}(sum, a, {FLAT_HOOK}(lambda x: (x * y for y in b(x) if y)), lambda x: x)")


def test_map_and_filter_are_passed_whole_to_the_engine():
    assert rewritten("sum(map(f, a))") == f"{REDUCE_HOOK}(sum, {ZIPPED_HOOK}(map, f, a), None, None)"
    assert rewritten("list(filter(None, a))") == f"{COLLECT_HOOK}(list, {ZIPPED_HOOK}(filter, None, a), None, None)"
    assert rewritten("list(map(f, a), 3)") == "list(map(f, a), 3)"


@pytest.mark.parametrize("source", [
    "sum([x for x in range(3)][1:])",             # the list is rewritten, not the sum
    "sum((a for (a, (b, c)) in pairs))",          # nested tuple target
    "total(x for x in range(3))",                 # not a known reduction
    "[x async for x in aiter()]",
])
def test_other_shapes_are_not_reduced(source):
    assert REDUCE_HOOK not in rewritten(source)


def test_nested_shapes_are_rewritten_once_outermost():
    out = rewritten("sum(sum(y for y in range(x)) for x in range(10))")
    assert out.count(REDUCE_HOOK) == 1 and out.startswith(REDUCE_HOOK)
    assert rewritten("[[y for y in row] for row in m]").count(COLLECT_HOOK) == 1


def test_line_numbers_are_kept_for_tracebacks():
    tree = rewrite(ast.parse("\n\nr = sum(f(x) for x in range(9))"))
    call = tree.body[0].value
    assert call.lineno == 3 and call.args[2].lineno == 3
