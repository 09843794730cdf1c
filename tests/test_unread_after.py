"""Variables a block assigns that its function never reads again are not sent back
(``pyfora.unread_after``): the rules on source text, then end to end, where the only trace of a
value's coming back is its unpickling here."""
import ast
import sys
import textwrap

import pytest

from ufora.engine.code import find_with
from pyfora.unread_after import unread_after


def unread(source: str) -> tuple:
    tree = ast.parse(textwrap.dedent(source))
    return unread_after(tree, find_with(tree, next(n.lineno for n in ast.walk(tree) if isinstance(n, ast.With))))


def test_a_function_returning_the_small_answer_leaves_the_large_value():
    assert unread("""
        def total(ufora, n):
            with ufora.remotely.downloadAll():
                items = [Item(i) for i in range(n)]
                total = sum(item.value for item in items)
            return total
    """) == ("items",)


@pytest.mark.parametrize("source", [
    # at module level anything may read a global later
    """
    with ufora.remotely.downloadAll():
        items = [i for i in range(n)]
    """,
    # read after the block, or deleted
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            items = [i for i in range(9)]
        return items
    """,
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            items = [i for i in range(9)]
        del items
    """,
    # read by the block before it assigns it (a loop's next turn needs the caller's value)
    """
    def f(ufora):
        for k in range(3):
            with ufora.remotely.downloadAll():
                first = items[0] if k else None
                items = [i for i in range(9)]
    """,
    # read by a function the function holds
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            items = [i for i in range(9)]
        return lambda: items
    """,
    # a way to read locals by name
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            items = [i for i in range(9)]
        return locals()
    """,
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            items = [i for i in range(9)]
        return sys._getframe().f_locals
    """,
    # declared global
    """
    def f(ufora):
        global items
        with ufora.remotely.downloadAll():
            items = [i for i in range(9)]
    """,
    # bound by a statement that is not a plain assignment at the block's top level
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            for items in range(9):
                pass
    """,
    """
    def f(ufora):
        with ufora.remotely.downloadAll():
            items += [1]
    """,
])
def test_what_anything_may_read_comes_back(source):
    assert "items" not in unread(source)


def test_in_a_loop_a_value_the_block_assigns_first_stays():
    assert unread("""
        def f(ufora):
            for k in range(3):
                with ufora.remotely.downloadAll():
                    items = [i * k for i in range(9)]
                    best = max(items)
                print(best)
    """) == ("items",)


class Marker:
    """Counts its unpicklings here: the trace of a value coming back."""
    unpickled = 0

    def __init__(self):
        self.made = True

    def __setstate__(self, state):
        type(self).unpickled += 1
        self.__dict__.update(state)


def built_and_counted(ufora):
    with ufora.remotely.downloadAll():
        markers = [Marker() for _ in range(3)]
        count = len(markers)
    return count


def built_and_returned(ufora):
    with ufora.remotely.downloadAll():
        markers = [Marker() for _ in range(3)]
        count = len(markers)
    return count, markers


def test_end_to_end_only_what_the_function_reads_comes_back(ufora):
    Marker.unpickled = 0
    assert built_and_counted(ufora) == 3
    assert Marker.unpickled == 0
    count, markers = built_and_returned(ufora)
    assert count == 3 and len(markers) == 3 and all(type(m) is Marker for m in markers)
    assert Marker.unpickled == 3


def test_under_a_tracer_everything_comes_back(ufora):
    """A debugger stepping through the function would look at its locals."""
    Marker.unpickled = 0
    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: None)
    try:
        assert built_and_counted(ufora) == 3
    finally:
        sys.settrace(previous)
    assert Marker.unpickled == 3
