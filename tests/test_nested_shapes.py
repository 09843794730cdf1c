"""Shapes inside a shape's elements (engine.runtime): a comprehension in a function called per
item runs as written at once while the outer shape's first items are timed and while a shape too
cheap to split runs in order, instead of being weighed once per item (found by perf/realistic's
CSV reader: 150 µs per line to weigh, 23 s of CPython estimated for 0.3 s of work)."""
import pytest

from tests.test_shapes import assert_cpythons, cpython, engine
from ufora.engine import runtime
from ufora.engine.runtime import InlineRunner
from ufora.engine.sources import IteratorCall

PARSED = ("names = ['a', 'b', 'c']\n"
          "def parse(line):\n"
          "    fields = line.split(',')\n"
          "    return [float(f) for f, name in zip(fields, names)]\n"
          "lines = ['%d,%d.5,%d' % (i, i, i * 3) for i in range(20000)]\n"
          "rows = [parse(line) for line in lines]\n"
          "result = (len(rows), rows[-1], sum(sum(1 for f in row if f > 10) for row in rows))")


def test_shapes_over_a_lines_fields_are_not_weighed_line_by_line():
    expected = cpython(PARSED)
    got, reports = engine(PARSED, InlineRunner(2, always_split=False))  # weighed, as on a cluster
    assert_cpythons(got, expected, reports, exact=True)
    weighed = [report.source for report in reports]
    assert not [source for source in weighed if source in ("IteratorCall", "list")][2:], weighed  # the outer ones only
    assert len(reports) <= 4, weighed


@pytest.mark.parametrize("iterable,few", [
    ([1, 2, 3], True), (range(999), True), (range(1000), False), ("abc", True), ({1: 2}, True),
    (IteratorCall(zip, ([1, 2], range(10**9)), {}), True), (IteratorCall(zip, (range(10**9), iter([])), {}), False),
    (IteratorCall(enumerate, ([1, 2], 5), {}), True), (IteratorCall(enumerate, ([1],), {"start": 2}), False),
    (iter([1]), False), (type("L", (list,), {})([1]), False),  # a subclass's length is its own code
])
def test_few_items_are_told_without_the_users_code(iterable, few):
    assert runtime._few_items(iterable) is few


def test_a_large_shape_inside_a_few_items_is_still_weighed():
    """While the outer shape's first item is timed, the sum over 3M items inside it is weighed
    (and split and compiled) as usual."""
    code = ("def count(k):\n    return sum(1 for x in range(k, 3_000_000) if x % 7 == 3)\n"
            "result = [count(k) for k in range(3)]")
    expected = cpython(code)
    got, reports = engine(code, InlineRunner(2, always_split=False))
    assert_cpythons(got, expected, reports, exact=True)
    assert any(report.shape == "sum" and "3000000 items" in report.source for report in reports), reports


@pytest.mark.parametrize("code", [
    "result = any(y > 5 for y in range(10**20))",
    "result = [(i, c) for i, c in zip(range(2**64), 'abc')]",
    "def f(x):\n    return any(y > x for y in range(10**20))\nresult = [f(x) for x in range(3000)][-3:]",
    "def f(x):\n    return [(i, c) for i, c in zip(range(2**64), 'abc')]\nresult = [f(x) for x in range(3000)][-1]",
])
def test_a_range_longer_than_sys_maxsize_is_iterated_as_cpython_does(code):
    """``len()`` of such a range raises OverflowError: it was this block's answer (a review found it)."""
    expected = cpython(code)
    for runner in (InlineRunner(2, always_split=False), None):
        got, reports = engine(code, runner)
        assert_cpythons(got, expected, reports, exact=True)
    assert runtime._few_items(range(10**20)) is False


def test_the_flag_is_each_threads_own():
    """Two threads' samples that overlap without nesting leave it unset (a module global stayed set)."""
    import threading

    first, second = runtime._few_nested_inline(), runtime._few_nested_inline()
    entered, done = threading.Event(), threading.Event()

    def other():
        second.__enter__()
        entered.set()
        done.wait(5)
        second.__exit__(None, None, None)

    thread = threading.Thread(target=other)
    first.__enter__()
    thread.start()
    entered.wait(5)
    first.__exit__(None, None, None)
    done.set()
    thread.join(5)
    assert runtime._inline_few.get() is False
