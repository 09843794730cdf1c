import ast

import pytest

from ufora.engine.rewriter import (COLLECT_HOOK, FLAT_HOOK, LEN_HOOK, LOOPS_HOOK, REDUCE_HOOK, SERIAL_KEYWORD, STAR_HOOK,
                                   SUM_CHECK, ZIPPED_HOOK, _called_name, loop_source, rewrite)


def rewritten(source: str, serial: bool = False) -> str:
    """The rewritten source; without the hooks' serial keyword (tested on its own) unless asked."""
    tree = rewrite(ast.parse(source))
    if not serial:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                node.keywords = [k for k in node.keywords if k.arg != SERIAL_KEYWORD]
    return ast.unparse(tree)


def test_each_shape_carries_itself_as_written_for_a_serial_run():
    """What the engine runs when it does not split: the generator or comprehension as written,
    over the iterable already evaluated, so a serial run is CPython's own loop."""
    assert rewritten("r = sum(f(x) for x in xs if x)", serial=True) == (
        f"r = {REDUCE_HOOK}(sum, xs, lambda x: f(x), lambda x: x, "
        f"{SERIAL_KEYWORD}=lambda __ufora_it: (f(x) for x in __ufora_it if x))")
    assert rewritten("d = {k: v for k, v in zip(a, b)}", serial=True) == (
        f"d = {COLLECT_HOOK}('dict', {ZIPPED_HOOK}(zip, a, b), {STAR_HOOK}(lambda k, v: (k, v), '(_, _)'), None, "
        f"{SERIAL_KEYWORD}=lambda __ufora_it: {{k: v for k, v in __ufora_it}})")
    assert rewritten("n = len([y for x in xs for y in x])", serial=True).endswith(
        f"{SERIAL_KEYWORD}=lambda __ufora_it: [y for x in __ufora_it for y in x])")


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
        f"{REDUCE_HOOK}(sum, {ZIPPED_HOOK}(enumerate, a, 1), {STAR_HOOK}(lambda i, v: i * v, '(_, _)'), None)")
    assert rewritten("[a + b for a, b in zip(x, y) if a]") == (
        f"{COLLECT_HOOK}('list', {ZIPPED_HOOK}(zip, x, y), {STAR_HOOK}(lambda a, b: a + b, '(_, _)'), "
        f"{STAR_HOOK}(lambda a, b: a, '(_, _)'))")


def test_nested_tuple_targets_and_nested_zips():
    assert rewritten("sum(i * a - b for i, (a, b) in enumerate(zip(x, y)))") == (
        f"{REDUCE_HOOK}(sum, {ZIPPED_HOOK}(enumerate, {ZIPPED_HOOK}(zip, x, y)), "
        f"{STAR_HOOK}(lambda i, a, b: i * a - b, '(_, (_, _))'), None)")
    assert rewritten("sum(a for a, a in x)") == "sum((a for a, a in x))"  # a name bound twice


def test_len_of_a_collected_shape_is_one_call():
    assert rewritten("len([f(x) for x in r if x])") == f"{LEN_HOOK}(len, 'list', r, lambda x: f(x), lambda x: x)"
    assert rewritten("len({x for x in r})") == f"{LEN_HOOK}(len, 'set', r, lambda x: x, None)"
    assert rewritten("len(list(filter(p, a)))") == f"{LEN_HOOK}(len, list, {ZIPPED_HOOK}(filter, p, a), None, None)"
    assert rewritten("len([x for x in r], 2)") == f"len({COLLECT_HOOK}('list', r, lambda x: x, None), 2)"
    assert rewritten("len(a)") == "len(a)"


def test_several_for_clauses_split_the_outer_one():
    assert rewritten("[x * y for x in a if x for y in b(x) if y]") == (
        f"{COLLECT_HOOK}('list', a, {FLAT_HOOK}(lambda x: (x * y for y in b(x) if y)), lambda x: x)")
    assert rewritten("max((x * y for x in a for y in b), default=0)") == (
        f"{REDUCE_HOOK}(max, a, {FLAT_HOOK}(lambda x: (x * y for y in b)), None, default=0)")


def test_sum_any_all_min_and_max_of_several_for_clauses_also_reduce_each_outer_item():
    flat, grouped = ast.parse(rewritten("sum(x * y for x in a if x for y in b(x) if y)")).body[0].value.args[2].args
    assert ast.unparse(flat) == "lambda x: (x * y for y in b(x) if y)"
    assert ast.unparse(grouped.args[0]) == "lambda x: sum((x * y for y in b(x) if y))"
    assert _called_name(grouped.func, {LOOPS_HOOK})  # with its compilable twin
    assert len(ast.parse(rewritten("any(x < y for x in a for y in b)")).body[0].value.args[2].args) == 2
    grouped = ast.parse(rewritten("max(x * y for x in a if x for y in b(x) if y)")).body[0].value.args[2].args[1]
    assert ast.unparse(grouped.args[0]) == "lambda x: max((x * y for y in b(x) if y))"
    assert "raise ValueError" in grouped.func.args[0].value  # at a NaN: that partition in CPython
    assert len(ast.parse(rewritten("sum((y for x in a for y in b), 1)")).body[0].value.args[2].args) == 1


def test_map_and_filter_are_passed_whole_to_the_engine():
    assert rewritten("sum(map(f, a))") == f"{REDUCE_HOOK}(sum, {ZIPPED_HOOK}(map, f, a), None, None)"
    assert rewritten("list(filter(None, a))") == f"{COLLECT_HOOK}(list, {ZIPPED_HOOK}(filter, None, a), None, None)"
    assert rewritten("list(map(f, a), 3)") == "list(map(f, a), 3)"


@pytest.mark.parametrize("source", [
    "sum([x for x in range(3)][1:])",             # the list is rewritten, not the sum
    "sum((a for (a, *b) in pairs))",              # starred target
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


def test_twins_unroll_reductions_of_generators_into_loops():
    twin = loop_source(ast.parse("def f(n, k):\n    return sum(x * k for x in range(n) if x % 2)").body[0])
    namespace = {SUM_CHECK: lambda total, start, count, magnitude: total}
    exec(twin, namespace)
    assert "for x in __ufora_items" in twin and namespace["f"](10, 3) == sum(x * 3 for x in range(10) if x % 2)
    nested = loop_source(ast.parse("lambda x: any(y > x for y in range(x) for z in range(y))").body[0].value)
    exec(nested, namespace)
    assert [namespace["__ufora_lambda__"](x) for x in range(4)] == [False] * 4


@pytest.mark.parametrize("source", [
    "def f(n):\n    return [x for x in range(n)]",         # nothing to unroll
    "def f(n, sum):\n    return sum(x for x in range(n))",  # sum is not the builtin
    "def f(n):\n    return sum((y := x) for x in range(n))",  # binds in the function
    "def f(n):\n    return max((x for x in range(n)), key=abs)",
])
def test_twins_leave_other_code_alone(source):
    assert loop_source(ast.parse(source).body[0]) is None
