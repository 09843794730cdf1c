"""``engine.purity``: what makes a shape's element change state outside it, read from its code and
the values it reaches, without running it (the end-to-end programs: tests/user_programs/state_hunt.py)."""
import functools
import io
import itertools
import sqlite3
import types
import zlib

import numpy as np
import pytest

from ufora.engine import purity
from tests.user_programs.state_hunt import Holder, Model, make_counter


class Pure:
    def score(self, i):
        return i * 2


class Touchy:
    """A ``__getattr__`` that raises KeyError for any name it lacks (``__self__``, ``__dict__``)."""
    __slots__ = ("data",)

    def __init__(self):
        self.data = {"k": 1}

    def __getattr__(self, name):
        return self.data[name]

    def get(self, i):
        return i + self.data["k"]


def holding(model):
    holder = Holder()
    holder.model = model
    return holder


def _element(expression: str, **names):
    """The element function ``lambda i: <expression>`` over ``names`` as its globals."""
    return eval(f"lambda i: {expression}", {"itertools": itertools, "np": np, **names})


@pytest.mark.parametrize("expression, names, said", [
    ("list(itertools.islice(it, 2))", {"it": iter(range(10))}, "reads a range_iterator held outside it"),
    ("it.__next__()", {"it": iter(range(10))}, "reads a range_iterator"),
    ("stream.readline()", {"stream": io.StringIO("a\nb\n")}, "reads a StringIO"),
    ("nx()", {"nx": iter(range(10)).__next__}, "reads a range_iterator"),
    ("counters[0]()", {"counters": [make_counter()]}, "assigns nonlocal 'n'"),
    ("named['c']()", {"named": {"c": make_counter()}}, "assigns nonlocal 'n'"),
    ("holder.model.step(i)", {"holder": holding(Model())}, "calls .append() on an object it does not own"),
    ("space.model.step(i)", {"space": types.SimpleNamespace(model=Model())}, "calls .append()"),
    ("gens[0].random()", {"gens": [np.random.default_rng(1)]}, "uses numpy.random"),
    ("getattr(d, 'update')({i: i})", {"d": {}}, "calls a changing method by its name"),
    ("record(i)", {"record": functools.partial(list.append, [])}, "calls list.append"),
    ("np.add.at(counts, i % 3, 1)", {"counts": np.zeros(3)}, "calls numpy.add.at"),
    ("co.compress(b'x')", {"co": zlib.compressobj()}, "zlib.Compress held outside it"),
    ("db.execute('select 1')", {"db": sqlite3.connect(":memory:")}, "sqlite3.Connection held outside it"),
    ("take(i)", {"take": (lambda x, it=iter(range(9)): next(it))}, "calls next()"),
])
def test_an_element_that_changes_outside_state_is_told(expression, names, said):
    assert said in (purity.side_effect(_element(expression, **names)) or "")


@pytest.mark.parametrize("expression, names", [
    ("scores[0].score(i)", {"scores": [Pure()]}),
    ("holder.model.score(i)", {"holder": holding(Pure())}),
    ("rows[i % 2][0] + len(words)", {"rows": [[1, 2], [3, 4]], "words": ["a", "b"]}),
    ("touchy[0].get(i)", {"touchy": [Touchy()]}),  # looking at it raises: not read, and no error
    ("math_like.sqrt(i)", {"math_like": np}),
])
def test_a_pure_element_is_not_told(expression, names):
    assert purity.side_effect(_element(expression, **names)) is None


def test_a_method_reads_a_class_attribute_that_a_call_changes():
    class Compressing:
        stream = zlib.compressobj()

        def feed(self, chunk):
            return self.stream.compress(chunk)
    assert "zlib.Compress" in purity.side_effect(_element("feeder.feed(b'x')", feeder=Compressing()))


def test_a_global_function_named_like_an_attribute_is_not_read_as_the_call():
    """``reader.read_csv(p)`` loads the attribute ``read_csv``, not a global of that name."""
    def read_csv(path):
        print(path)
    element = _element("reader.read_csv(i)", reader=types.SimpleNamespace(read_csv=len), read_csv=read_csv)
    assert purity.side_effect(element) is None


# ---------------------------------------------------------------- a second trial (tests/user_programs/module_hunt.py)

OUTSIDE = np.zeros(4)


def writes_outside_by_out(i):
    return np.add(OUTSIDE, i, out=OUTSIDE)


def writes_own_by_out(i):
    buffer = np.empty(4)
    np.multiply(np.arange(4.0), i, out=buffer)
    return float(np.add(buffer, 1.0, out=buffer).sum())


def copies_outside(i):
    np.copyto(OUTSIDE, i)


def copies_own(i):
    buffer = np.zeros(4)
    np.copyto(buffer, i)
    np.put(buffer, 0, i)
    return buffer


def puts_outside(i):
    np.put(OUTSIDE, i % 4, i)


def test_numpy_writes_into_an_outside_argument_are_effects_and_into_its_own_are_not():
    assert "out=" in purity.side_effect(writes_outside_by_out)
    assert "numpy.copyto" in purity.side_effect(copies_outside)
    assert "numpy.put" in purity.side_effect(puts_outside)
    assert purity.side_effect(writes_own_by_out) is None
    assert purity.side_effect(copies_own) is None
    assert purity.side_effect(lambda i: np.full(3, i) + np.zeros_like(OUTSIDE)) is None  # numpy's own copyto calls


def test_a_changing_methodcaller_is_an_effect_and_a_reading_one_is_not():
    import operator

    appends, counts = operator.methodcaller("append", 1), operator.methodcaller("count", 1)
    log = []
    assert "methodcaller" in purity.side_effect(lambda i: appends(log))
    assert purity.side_effect(lambda i: counts(log)) is None


def test_functions_of_another_module_of_the_users_are_read_and_the_frozen_standard_library_is_not():
    import os

    from tests.user_programs import user_helpers

    assert "COUNT" in purity.side_effect(lambda i: user_helpers.bump(i))
    assert "append" in purity.side_effect(lambda i: user_helpers.add_to([], i))
    assert "print" in purity.side_effect(lambda i: user_helpers.shout(i))
    assert "random" in purity.side_effect(lambda i: user_helpers.draw(i))
    assert purity.side_effect(lambda i: os.environ.get("HOME", "") + os.path.join("a", str(i))) is None


def test_what_a_review_found_writing_into_outside_arrays_and_what_is_not():
    import operator

    import pandas as pd

    log, frame = [], pd.DataFrame({"a": [1.0, float("nan")]})

    def own_buffers(i):
        buffer = np.empty(4)
        np.add(OUTSIDE, i, out=(buffer,))
        np.add(OUTSIDE, i, out=buffer[:])
        return np.add(OUTSIDE, i, out=np.empty(4))

    def render(x, out="text"):
        return x

    writes = {"positional out": lambda i: np.add(OUTSIDE, 1.0, OUTSIDE),
              "one input, positional out": lambda i: np.negative(OUTSIDE, OUTSIDE),
              "a slice as out": lambda i: np.multiply(OUTSIDE, 2, out=OUTSIDE[0:2]),
              "in-place dunder": lambda i: OUTSIDE.__iadd__(1.0),
              "getattr of copyto": lambda i: getattr(np, "copyto")(OUTSIDE, i),
              "out in **keywords": lambda i: np.add(OUTSIDE, 1, **{"out": OUTSIDE}),
              "methodcaller made and called": lambda i: operator.methodcaller("append", i)(log),
              "inplace=True": lambda i: frame.fillna(i, inplace=True)}
    for what, function in writes.items():
        assert purity.side_effect(function) is not None, what
    pure = {"dict(out=...)": lambda i: dict(out=i), "a user's out=": lambda i: render(i, out="html"),
            "out=None": lambda i: np.round(OUTSIDE, 2, out=None), "own buffers": own_buffers,
            "no out": lambda i: np.add(OUTSIDE, 1.0), "inplace=False": lambda i: frame.fillna(i, inplace=False)}
    for what, function in pure.items():
        assert purity.side_effect(function) is None, what


def _report(rows):
    print(len(rows), id(rows))


def _clean(rows):
    for row in rows:
        row["v"] = 0


def _sort_later(rows):
    import random  # (an import counts as no change)
    rows.sort()
    return random.random()


def test_may_change_arguments_tells_functions_that_change_values_from_those_that_only_print():
    """A large remote object passed to a function is compared before and after the block only
    where the function may change it (``engine.mutations.passed_to_changers``): a function that
    only prints is not one."""
    import heapq
    import random
    import statistics

    assert not purity.may_change_arguments(_report)
    assert purity.may_change_arguments(_clean) and purity.may_change_arguments(_sort_later)
    assert purity.may_change_arguments(heapq.heapify) and purity.may_change_arguments(random.shuffle)
    assert not purity.may_change_arguments(len) and not purity.may_change_arguments(statistics.mean)
    assert not purity.may_change_arguments(None)
    assert purity.side_effect(_report) is not None  # a shape calling it still runs in order
