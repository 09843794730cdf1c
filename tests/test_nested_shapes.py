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
