"""A user's trial of where a block's first run goes (``pyfora.first_run``): programs written as a
data scientist would, each run in plain local CPython, through ``pyfora.connect(url,
serial_here=True)`` and through an executor that sends every block to the cluster, compared by
value, type, exception, printed output and side effects; which process ran each block (its pid
and ``block.ranHere``); and that deciding ran none of the user's code (counters on
``__getattribute__``, ``__getattr__``, ``__iter__``, properties). The last sections are what the
trial found wrong, each with the fix's test."""
from __future__ import annotations

import dataclasses
import decimal
import functools
import logging
import math
import os
import random
import types
from decimal import Decimal
from typing import Callable, Dict, List

import numba
import numpy as np
import pytest

import pyfora
from ufora.engine import functions
from pyfora import capture, first_run, run_here
from tests.compare_runs import LocalUfora, describe, differences, fresh_global_state, run_printing

# where each block of the program running now ran ("here" or "cluster"), in order; the CPython run
# has no block executor and notes nothing
WHERE: List[str] = []


def _ran(block, pid: int) -> None:
    """Notes where the block just finished ran: its pid and its ``ranHere`` must agree."""
    if block is None:
        return
    here = pid == os.getpid()
    assert here == (block.ranHere is not None), f"pid here: {here}, ranHere: {block.ranHere!r}"
    WHERE.append("here" if here else "cluster")


@pytest.fixture(scope="module")
def here(cluster_url):
    executor = pyfora.connect(cluster_url, progress=False, serial_here=True)
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def there(cluster_url):
    executor = pyfora.connect(cluster_url, progress=False, serial_here=False)
    yield executor
    executor.close()


def _run(program: Callable, ufora) -> tuple:
    """What ``program(ufora)`` returned (or raised) and printed, from the same global state, and
    where its blocks ran."""
    fresh_global_state()
    WHERE.clear()
    return (*run_printing(program, ufora), list(WHERE))


def _trial(program: Callable, here, there=None) -> List[str]:
    """Runs ``program`` in CPython, with blocks here where pyfora decides, and (unless ``there``
    is None) with every block on the cluster; fails with every difference; where each block of
    the second run ran."""
    expected, expected_out, _ = _run(program, LocalUfora())
    found = []
    placed: List[str] = []
    for name, ufora in (("serial_here", here), ("cluster", there)):
        if ufora is None:
            continue
        actual, out, where = _run(program, ufora)
        found += [f"{name}: {difference}" for difference in differences(expected, actual)]
        if out != expected_out:
            found.append(f"{name}: stdout {describe(expected_out)} != {describe(out)}")
        if name == "serial_here":
            placed = where
        else:
            assert set(where) <= {"cluster"}, where
    assert not found, "\n".join(found)
    return placed


# ---------------- text and objects: the first run here


CITIES = ["Lyon", "Porto", "Turin", "Ghent"]
ORDERS = ["order_id,city,amount,currency"] + [f"{i},{CITIES[i % 4]},{(i * 37) % 500 / 4},EUR" for i in range(1500)]


def prog_parse_records(ufora):
    lines = ORDERS
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        header = lines[0].split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
        by_city: Dict[str, List[float]] = {}
        for row in rows:
            by_city.setdefault(row["city"], []).append(float(row["amount"]))
        totals = {city: round(sum(amounts), 2) for city, amounts in by_city.items()}
        biggest = max(rows, key=lambda r: float(r["amount"]))
    _ran(block, pid)
    return {"totals": totals, "biggest": biggest, "rows": len(rows)}


def prog_fstring_report(ufora):
    scores = {"ada": 91.5, "grace": 88.25, "alan": 79.0, "edsger": 95.125}
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        width = max(len(name) for name in scores)
        lines = [f"{name:<{width}} | {score:6.2f} | {'#' * int(score // 10)}"
                 for name, score in sorted(scores.items(), key=lambda kv: -kv[1])]
        report = "\n".join(lines)
        print(report)
    _ran(block, pid)
    return {"report": report}


class Account:
    def __init__(self, owner: str, balance: float) -> None:
        self.owner, self.balance, self.history = owner, balance, []

    def monthly_interest(self, rate: float) -> float:
        return round(self.balance * rate / 12, 2)

    def apply(self, amount: float) -> None:
        self.balance += amount
        self.history.append(amount)


def prog_objects_with_methods(ufora):
    accounts = [Account(f"client{i}", (i * 131) % 900 - 300.0) for i in range(200)]
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        interest = sum(a.monthly_interest(0.03) for a in accounts if a.balance > 0)
        overdrawn = [a.owner for a in accounts if a.balance < 0]
        for a in accounts:
            a.apply(a.monthly_interest(0.03))
    _ran(block, pid)
    return {"interest": interest, "overdrawn": overdrawn, "balances": [a.balance for a in accounts],
            "history": [a.history for a in accounts[:5]]}


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float

    def norm(self) -> float:
        return math.hypot(self.x, self.y)


def prog_dataclass_points(ufora):
    xs = [i / 10 for i in range(400)]
    ys = [math.sin(x) * x for x in xs]
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        points = [Point(x, y) for x, y in zip(xs, ys)]
        far = [p for p in points if p.norm() > 30]
        cells = {Point(round(p.x), round(p.y)) for p in points}
    _ran(block, pid)
    return {"far": far, "cells": sorted(cells, key=lambda p: (p.x, p.y))}


def prog_decimal_invoice(ufora):
    prices = ["19.99", "5.01", "0.10", "1234.56", "7.77"] * 40
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        subtotal = sum((Decimal(p) for p in prices), Decimal("0"))
        vat = (subtotal * Decimal("0.2")).quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
        per_line = [Decimal(p) * 3 for p in prices[:5]]
    _ran(block, pid)
    return {"subtotal": subtotal, "vat": vat, "per_line": per_line}


@functools.lru_cache(maxsize=None)
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def prog_lru_cache(ufora):
    fib.cache_clear()
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        fibs = [fib(i) for i in range(90)]
        evens = sum(f for f in fibs if f % 2 == 0)
    _ran(block, pid)
    info = fib.cache_info()
    return {"fibs": fibs, "evens": evens, "cache": (info.hits, info.misses, info.currsize)}


def prog_lambdas_in_a_dict(ufora):
    transforms = {"square": lambda v: v * v, "negate": lambda v: -v, "halve": lambda v: v / 2}
    readings = [3, 1, 4, 1, 5, 9, 2, 6]
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        applied = {name: [f(v) for v in readings] for name, f in transforms.items()}
        chosen = [transforms[name](7) for name in ("square", "halve")]
    _ran(block, pid)
    return {"applied": applied, "chosen": chosen}


def prog_walrus(ufora):
    raw = ["  alpha ", "", "beta", "   ", "gamma  ", "epsilon"]
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        cleaned = [word for line in raw if (word := line.strip())]
        long_ones = [n for w in cleaned if (n := len(w)) > 4]
    _ran(block, pid)
    return {"cleaned": cleaned, "long": long_ones, "word": word, "n": n}


class Scorer:
    """Scores a word by its letters; compared by its weights, so unhashable."""

    def __init__(self, weights: Dict[str, int]) -> None:
        self.weights = weights

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scorer) and self.weights == other.weights

    def __call__(self, word: str) -> int:
        return sum(self.weights.get(c, 0) for c in word)


def prog_unhashable_callable(ufora):
    scorer = Scorer({"a": 1, "e": 2, "q": 10})
    words = ["queue", "area", "banana", "squeeze"]
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        scores = {w: scorer(w) for w in words}
        best = max(words, key=scorer)
    _ran(block, pid)
    return {"scores": scores, "best": best}


def prog_monte_carlo_generator(ufora):
    rng = np.random.default_rng(2024)
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        hits = sum(1 for _ in range(4000) if rng.random() ** 2 + rng.random() ** 2 < 1.0)
        estimate = 4 * hits / 4000
    _ran(block, pid)
    return {"estimate": estimate, "next": rng.random()}


def prog_monte_carlo_random_module(ufora):
    random.seed(7)
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        hits = sum(1 for _ in range(4000) if random.random() ** 2 + random.random() ** 2 < 1.0)
    _ran(block, pid)
    return {"hits": hits, "next": random.random()}


def prog_property_counts_its_reads(ufora):
    class Book:
        def __init__(self, positions):
            self._positions, self.reads = positions, 0

        @property
        def positions(self):
            self.reads += 1
            return self._positions

    book = Book([("ACME", 3, 10.5), ("INIT", 10, 2.25), ("ZETA", 1, 99.0)])
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        value = sum(qty * price for _, qty, price in book.positions)
        names = [name.lower() for name, _, _ in book.positions]
    _ran(block, pid)
    return {"value": value, "names": names, "reads": book.reads}


class Units:
    names = ["mm", "cm", "m", "km"]
    factors = {"mm": 1, "cm": 10, "m": 1000, "km": 1000000}


def prog_class_body(ufora):
    class Table:
        names = list(Units.names)
        with ufora.remotely.downloadAll() as block:
            pid = os.getpid()
            labels = [n.upper() for n in names]
            widths = {n: len(n) for n in names}
        _ran(block, pid)

    return {"labels": Table.labels, "widths": Table.widths}


def timed(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        wrapper.calls += 1
        return fn(*args)

    wrapper.calls = 0
    return wrapper


@timed
def longest_word(words):
    return max(len(w) for w in words)


def prog_decorated_helper(ufora):
    words = "the quick brown fox jumps over the lazy dog".split()
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        longest = longest_word(words)
        shout = [w.upper() for w in words if len(w) == longest]
    _ran(block, pid)
    return {"longest": longest, "shout": shout}


@pytest.mark.parametrize("program", [
    prog_parse_records, prog_fstring_report, prog_objects_with_methods, prog_dataclass_points,
    prog_decimal_invoice, prog_lambdas_in_a_dict, prog_walrus, prog_unhashable_callable,
    prog_monte_carlo_generator, prog_monte_carlo_random_module, prog_class_body,
])
def test_text_and_object_blocks_run_here_first_as_in_cpython(program, here, there):
    assert _trial(program, here, there) == ["here"]


def test_a_block_calling_an_lru_cache_runs_here_and_fills_the_callers_cache(here):
    """(On the cluster the cache's counters stay the client's: README, "Known today".)"""
    assert _trial(prog_lru_cache, here) == ["here"]


# ---------------- numbers: the first run on the cluster


@numba.njit(cache=False)
def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def prog_numba_helper(ufora):
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        longest = max(collatz_steps(i) for i in range(1, 3000))
    _ran(block, pid)
    return {"longest": longest}


def prog_closure_polynomial(ufora):
    def make_poly(a, b, c):
        def poly(x):
            return (a * x + b) * x + c
        return poly

    poly = make_poly(3, -2, 7)
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        total = sum(poly(i) for i in range(20000))
    _ran(block, pid)
    return {"total": total}


def sum_of_squares(n):
    return sum(i * i for i in range(n))


def prog_module_function_with_a_shape(ufora):
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        totals = [sum_of_squares(n) for n in (10, 1000, 5000)]
    _ran(block, pid)
    return {"totals": totals}


def prog_numpy_rows_named(ufora):
    readings = np.random.default_rng(11).normal(size=(500, 24))
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        peak = max(np.max(row) for row in readings)
    _ran(block, pid)
    return {"peak": peak}


def residue_sum(x):
    s = 0
    for i in range(2000):
        s += (x * i) % 7
    return s


def weighted(xs, ws):
    total = 0.0
    for i, (x, w) in enumerate(zip(xs, ws)):
        total += i * x * w
    return total


def prog_helper_looping_over_range(ufora):
    """Found by a user's trial of the dashboard: a helper's ``for i in range(...)`` (and
    enumerate, zip: classes, not functions) was taken for code that cannot compile, and the block
    ran here."""
    xs, ws = np.arange(50.0), np.ones(50)
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        total = sum(residue_sum(x) for x in range(3000))
        scores = sum(weighted(xs, ws) * k for k in range(3000))
    _ran(block, pid)
    return {"total": total, "scores": scores}


@pytest.mark.parametrize("program", [prog_numba_helper, prog_closure_polynomial, prog_module_function_with_a_shape,
                                     prog_numpy_rows_named, prog_helper_looping_over_range])
def test_numeric_blocks_go_to_the_cluster_first_as_in_cpython(program, here, there):
    assert _trial(program, here, there) == ["cluster"]


# ---------------- verdicts this trial doubts: the same answer either way, where they went is reported


def prog_numpy_row_methods(ufora):
    readings = np.random.default_rng(11).normal(size=(500, 24))
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        spread = max(row.max() - row.min() for row in readings)  # an array's rows' methods: numba's
    _ran(block, pid)
    return {"spread": spread}


def prog_generator_of_records(ufora):
    def records(lines):
        for line in lines:
            name, qty = line.split(":")
            yield name.strip(), int(qty)

    lines = ["apple: 3", "pear: 5", "fig: 2"] * 100
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        heavy = [name for name, qty in records(lines) if qty > 2]
        count = sum(1 for _ in records(lines))  # over a generator of tuples of text
    _ran(block, pid)
    return {"heavy": len(heavy), "count": count}


def prog_helper_over_words(ufora):
    words = ["alpha", "beta", "gamma", "delta"] * 50
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        longest = longest_word(words)  # max(len(w) for w in words) inside, over the caller's strings
    _ran(block, pid)
    return {"longest": longest}


def prog_rebinds_a_free_name(ufora):
    raw = [f"{i % 97 * 0.25}" for i in range(3000)]  # numbers read as text
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        raw = np.array([float(v) for v in raw])
        energy = sum(v * v for v in raw)  # over the array now, judged by the free list of strings
    _ran(block, pid)
    return {"energy": energy}


@pytest.mark.parametrize("program", [prog_numpy_row_methods, prog_generator_of_records, prog_helper_over_words,
                                     prog_decorated_helper, prog_property_counts_its_reads,
                                     prog_rebinds_a_free_name])
def test_doubtful_verdicts_still_give_cpythons_answer(program, here, there):
    where = _trial(program, here, there)
    logging.getLogger("trial.first_run").info("%s ran: %s", program.__name__, where)
    assert len(where) == 1


# ---------------- found by this trial: deciding ran the user's code


class Audited:
    """A record that logs each attribute read of it (an ORM's audit trail)."""
    reads: List[str] = []

    def __init__(self, **fields) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __getattribute__(self, name: str):
        type(self).reads.append(name)
        return object.__getattribute__(self, name)


def prog_audited_records(ufora):
    Audited.reads.clear()
    rows = [Audited(sku=f"s{i}", qty=i % 7) for i in range(50)]
    settings = Audited(rate=0.07, currency="EUR")
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        total = sum(r.qty for r in rows)
        skus = [r.sku for r in rows if r.qty > 3]
        taxed = [f"{q * (1 + settings.rate):.2f} {settings.currency}" for q in (100.0, 250.5)]
    _ran(block, pid)
    return {"total": total, "skus": skus, "taxed": taxed, "reads": list(Audited.reads)}


class Columns:
    """Options kept in slots, with defaults looked up on a miss (and the misses counted)."""
    __slots__ = ("columns",)
    misses: List[str] = []
    defaults = {"separator": ","}

    def __init__(self, columns: List[str]) -> None:
        self.columns = columns

    def __getattr__(self, name: str):
        Columns.misses.append(name)
        return Columns.defaults[name]  # KeyError, not AttributeError, for a name it lacks


def prog_slots_with_getattr(ufora):
    Columns.misses.clear()
    options = Columns(["date", "city", "amount"])
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        titles = [name.title() for name in options.columns]
        line = options.separator.join(titles)
    _ran(block, pid)
    return {"line": line, "misses": list(Columns.misses)}


class Batch(list):
    """A batch of rows that reports each pass over it (a progress log)."""

    def __iter__(self):
        print(f"pass over a batch of {list.__len__(self)}")
        return super().__iter__()


class Catalog(dict):
    """A dict that reports each read of its values."""

    def values(self):
        print("catalog values read")
        return super().values()


class Pending(list):
    """A list whose length is not known until it is loaded."""

    def __len__(self):
        raise RuntimeError("not loaded yet")


def prog_containers_of_my_own(ufora):
    batch = Batch(["north", "south", "east"])
    catalog = Catalog(a={"name": "lamp"}, b={"name": "desk"})
    pending = Pending(["x", "y"])
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        upper = [w.upper() for w in batch]
        names = [item["name"] for item in catalog.values()]
        marked = [p + "!" for p in pending]
    _ran(block, pid)
    return {"upper": upper, "names": names, "marked": marked}


@pytest.mark.parametrize("program", [prog_audited_records, prog_slots_with_getattr, prog_containers_of_my_own])
def test_deciding_runs_none_of_the_users_code(program, here, caplog):
    """isinstance asks an object its ``__class__`` (a user's ``__getattribute__``); ``getattr(obj,
    '__dict__')`` of a slotted object runs its ``__getattr__``; ``iter``, ``len`` and ``.values()``
    of a user's list or dict subclass run theirs: the counts and printed lines differed from
    CPython's, and a raising ``__len__`` sent the block to the cluster with a warning. (Sending
    objects to the cluster reads them, by pickling: not compared there.)"""
    with caplog.at_level(logging.WARNING, logger="pyfora.run_here"):
        assert _trial(program, here) == ["here"]
    assert not [r for r in caplog.records if r.name == "pyfora.run_here"]


def _located(text: str) -> capture.Located:
    return capture.Located(text, "<first run trial>", 1, (), (), (), True)


@pytest.fixture
def fresh_times():
    """``run_here``'s memory of blocks, as it was before the test."""
    kept = (dict(run_here._timed), set(run_here._changed))
    yield
    run_here._timed.clear()
    run_here._timed.update(kept[0])
    run_here._changed.clear()
    run_here._changed.update(kept[1])


def _lazy_module() -> types.ModuleType:
    """A module that imports its parts on first use (PEP 562's ``__getattr__``), as scipy does."""
    module = types.ModuleType("lazy_stats")

    def __getattr__(name: str):
        Columns.misses.append(f"lazy_stats.{name}")
        raise AttributeError(name)

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("line", [
    "total = sum(r.qty for r in rows)",
    "scores = [stats.zscore(q) for q in range(10)]",
    "taxed = [q * settings.rate for q in range(10)]",
    "titles = [name.title() for name in options.columns]",
    "total = sum(len(w) for w in batch)",
    "names = [item['name'] for item in catalog.values()]",
    "marked = [p + '!' for p in pending]",
    "scaled = [scale(q) for q in range(10)]",
    "total = sum(t for t in span)",
])
def test_the_decision_alone_reads_values_without_running_code(line, fresh_times, capsys):
    """``why_here`` on its own (no cluster): no counter moves, nothing prints, nothing raises."""
    Audited.reads.clear()
    Columns.misses.clear()
    values = {"rows": [Audited(qty=1), Audited(qty=2)], "settings": Audited(rate=0.5),
              "options": Columns(["a"]), "batch": Batch(["a"]), "catalog": Catalog(a={"name": "x"}),
              "pending": Pending(["p"]), "scale": Audited(), "span": (Audited(), 1), "stats": _lazy_module()}
    text = f"with ufora.remotely.downloadAll():\n    {line}\n"
    located = _located(text)
    run_here.why_here(located, values, run_here.sizes(values), lambda: 2)
    first_run.runs_here_first(located, values, [])
    assert (Audited.reads, Columns.misses, capsys.readouterr().out) == ([], [], "")


def test_a_dry_run_of_the_function_rewriter_reads_no_objects_class(fresh_times):
    Audited.reads.clear()
    reached: List = []
    functions.rewrite_reachable({"row": Audited(qty=1), "helper": sum_of_squares}, run_here._ShippedFiles(),
                                dry_run=True, found=reached)
    assert Audited.reads == [] and reached == [sum_of_squares]


# ---------------- found by this trial: shapes over values the engine never splits


class Readings(list):
    """A list of numbers with a unit."""
    unit = "mm"


@pytest.mark.parametrize("line, verdict", [
    ("width = max(len(name) for name in scores)", "cpython"),  # a dict: its keys, never split (its values are numbers)
    ("total = sum(i * 2 for i in ids)", "cpython"),  # a set
    ("total = sum(x * 2 for x in window)", "cpython"),  # a deque
    ("total = sum(x * 2 for x in readings)", "cpython"),  # a list's subclass
    ("total = sum(x * 2 for x, i in zip(values, ids))", "cpython"),  # a set zipped
    ("total = sum(x * 2 for x in set(values))", "cpython"),  # a set made of a list
    ("total = sum(x * 2 for x in readings[1:])", None),  # a slice of a list's subclass is a list
    ("total = sum(i * 2 for i in sorted(ids))", None),  # a list of numbers made of the set
    ("total = sum(x * 2 for x in values)", None),  # a list of numbers: an array
    ("total = sum(x * 2 for x in zip(values, values))", None),
])
def test_a_shape_over_a_value_no_source_splits_runs_here_first(line, verdict):
    """engine.sources splits a range, an array of numbers and exactly a list or tuple; a shape
    over anything else runs serially in CPython on the cluster. A dict iterated for its keys was
    judged by its values (numbers: the cluster first), and a set, a deque or a list's subclass of
    numbers went to the cluster too."""
    import collections

    values = {"scores": {"ada": 91.5, "alan": 79.0}, "ids": {3, 1, 2}, "window": collections.deque([1.5, 2.5]),
              "readings": Readings([1.0, 2.0, 3.0]), "values": [1.0, 2.0, 3.0]}
    text = f"with ufora.remotely.downloadAll():\n    {line}\n"
    assert first_run.runs_here_first(_located(text), values, []) == verdict


# ---------------- found by this trial: random state is never split


@pytest.mark.parametrize("line, verdict", [
    ("hits = sum(1 for _ in range(n) if random.random() ** 2 + random.random() ** 2 < 1.0)", "cpython"),
    ("draws = sum(randint(1, 6) for _ in range(n))", "cpython"),  # from random import randint
    ("noise = sum(np.random.rand() for _ in range(n))", "cpython"),
    ("noise = sum(np.random.normal(0.0, 1.0) * i for i in range(n))", "cpython"),
    ("hits = sum(1 for _ in range(n) if uniform() < 0.5)", "cpython"),  # from random import random as uniform
    ("late = sum(1 for _ in range(n) if time.time() > 0)", "cpython"),
    ("total = sum(np.sqrt(i) * math.sin(i) for i in range(n))", None),  # numpy's and math's: compiled
    ("total = sum(np.float64(i) ** 2 for i in range(n))", None),
])
def test_a_shape_using_random_state_runs_here_first(line, verdict):
    """engine.purity never splits a shape that uses ``random``, ``numpy.random``, ``time`` or
    ``logging`` (a split would replay or reorder its draws): it runs serially, in CPython, on the
    cluster. The guess counted random and numpy.random as modules numba compiles, so a Monte
    Carlo loop over ``random.random()`` went to the cluster first."""
    import time

    values = {"n": 1000, "random": random, "randint": random.randint, "uniform": random.random, "np": np,
              "math": math, "time": time}
    text = f"with ufora.remotely.downloadAll():\n    {line}\n"
    assert first_run.runs_here_first(_located(text), values, []) == verdict


# ---------------- found by this trial: a function's parameter named as a global


records = [{"city": "Lyon", "amount": 3.5}, {"city": "Porto", "amount": 1.25}]  # the module's own records


def scaled_total(records, factor):
    return sum(r * factor for r in records)  # its parameter, not the module's records


def test_a_functions_parameter_is_not_the_global_of_its_name():
    """The shapes of a function the block calls were judged with its module's globals: a parameter
    named as a global list of records (``records``) was taken for it, so a numeric shape over the
    array the block passes ran here first."""
    text = "with ufora.remotely.downloadAll():\n    total = scaled_total(weights, 2.0)\n"
    values = {"scaled_total": scaled_total, "weights": np.ones(1000)}
    assert first_run.runs_here_first(_located(text), values, [scaled_total]) is None
