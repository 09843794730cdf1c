"""Blocks the cluster could only run serially run in the client's process (``pyfora.run_here``),
through ``pyfora.connect()`` to a real service: which blocks do, which do not, and that what the
user sees (values, identities, side effects, exceptions) is the same either way."""
import cmath
import dataclasses
import functools
import json
import math
import os
import statistics
import traceback

import numpy as np
import pandas as pd
import pytest

import pyfora


def total_of_squares(n):
    return sum(i * i for i in range(n))  # a shape: the cluster splits it


def total_by_loop(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


class Ledger:
    def __init__(self, amounts):
        self.amounts = amounts

    def total(self):
        return sum(a for a in self.amounts)  # a shape, in a method


class Plain:
    def __init__(self, amounts):
        self.amounts = amounts

    def total(self):
        result = 0
        for amount in self.amounts:
            result += amount
        return result


@pytest.fixture(scope="module")
def here(cluster_url):
    executor = pyfora.connect(cluster_url, progress=False, serial_here=True)
    yield executor
    executor.close()


def test_a_block_without_shapes_runs_here_on_the_callers_own_objects(here):
    records = [{"id": i, "amount": i % 13} for i in range(5000)]
    before = here.blocksRunHere
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        kept = []
        for record in records:
            if record["amount"] > 10:
                record["big"] = True
                kept.append(record)
        count = total_by_loop(100)
    assert block.ranHere and "no parallel shape" in block.ranHere
    assert here.blocksRunHere == before + 1
    assert pid == os.getpid()
    assert kept[0] is records[11] and records[11]["big"] is True and len(kept) == sum(1 for i in range(5000) if i % 13 > 10)
    assert count == 328350


@pytest.mark.parametrize("what", ["own shape", "function with a shape", "method with a shape"])
def test_a_block_that_reaches_a_shape_goes_to_the_cluster(here, what):
    ledger = Ledger(list(range(1000)))
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        if what == "own shape":
            value = sum(i * i for i in range(1000))
        elif what == "function with a shape":
            value = total_of_squares(1000)
        else:
            value = ledger.total()
    assert block.ranHere is None and pid != os.getpid()
    assert value == (332833500 if what != "method with a shape" else 499500)


def test_a_block_whose_class_has_no_shape_runs_here(here):
    plain = Plain(list(range(1000)))
    with here.remotely.downloadAll() as block:
        value = plain.total()
    assert block.ranHere is not None and value == 499500


def test_blocks_that_must_use_the_cluster_go_there(here, cluster_url):
    with here.remotely.downloadAll().onCluster() as block:
        pid = os.getpid()
    assert block.ranHere is None and pid != os.getpid()
    with here.remotely.remoteAll() as block:  # its values stay there: proxies come back
        kept = [1, 2, 3]
    assert block.ranHere is None and isinstance(kept, pyfora.RemotePythonObject)
    with here.remotely.downloadAll() as block:  # a proxy exists: a value read could be one
        pid = os.getpid()
    assert block.ranHere is None and pid != os.getpid()
    del kept
    with here.remotely.downloadSmall(10) as block:
        pid = os.getpid()
    assert block.ranHere is None and pid != os.getpid()
    with pyfora.connect(cluster_url, progress=False, serial_here=False) as everywhere:
        with everywhere.remotely.downloadAll() as block:
            pid = os.getpid()
        assert block.ranHere is None and pid != os.getpid() and everywhere.blocksRunHere == 0


def test_the_environment_variable_sets_the_default(cluster_url, monkeypatch):
    monkeypatch.setenv("UFORA_SERIAL_HERE", "1")
    with pyfora.connect(cluster_url, progress=False) as executor:
        with executor.remotely.downloadAll() as block:
            pid = os.getpid()
        assert block.ranHere is not None and pid == os.getpid()


def test_an_exception_comes_as_from_the_cluster_with_the_trace_of_here(here):
    def parse(text):
        return int(text)

    with pytest.raises(ValueError) as raised:
        with here.remotely.downloadAll() as block:
            done = "before"
            parse("12x")
    assert block.ranHere is not None
    assert isinstance(raised.value, pyfora.ComputationError)
    assert str(raised.value) == "invalid literal for int() with base 10: '12x'"
    assert done == "before"
    assert "return int(text)" in "".join(traceback.format_exception(raised.value))


def test_keyboard_interrupt_and_exit_pass_as_themselves(here):
    with pytest.raises(SystemExit) as raised:
        with here.remotely.downloadAll():
            raise SystemExit(3)
    assert type(raised.value) is SystemExit and raised.value.code == 3


def test_a_closed_executor_runs_no_block(cluster_url):
    executor = pyfora.connect(cluster_url, progress=False, serial_here=True)
    block = executor.remotely.downloadAll()
    executor.close()
    ran = []
    with pytest.raises(pyfora.PyforaError, match="closed"):
        with block:
            ran.append(True)
    assert ran == []


def _group(ufora, prices):
    """A block whose one shape the cluster never splits (a dict's items are not a source)."""
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        cheap = {name: price for name, price in prices.items() if price < 50}
    return block.ranHere, pid, cheap


def test_a_block_the_cluster_ran_serially_runs_here_next_time_while_its_values_are_no_larger(here):
    prices = {f"item{i}": i % 100 for i in range(1000)}
    expected = {name: price for name, price in prices.items() if price < 50}
    why, pid, cheap = _group(here, prices)  # a dict's items: never split, so here first
    assert why is not None and "runs here first" in why and pid == os.getpid() and cheap == expected
    why, pid, cheap = _group(here, prices)
    assert why is not None and pid == os.getpid() and cheap == expected
    prices.update({f"more{i}": i % 100 for i in range(1500)})  # 2.5x: the cluster decides anew
    why, pid, cheap = _group(here, prices)
    assert why is None and pid != os.getpid() and len(cheap) == 1250


def _total(ufora, xs):
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        total = sum(x * 2 for x in xs)
    return block.ranHere, pid, total


def test_a_block_whose_shape_the_cluster_split_goes_there_again(start_service):
    from tests.conftest import one_host

    service = start_service({**one_host(2), "UFORA_SPLIT": "always"})
    with pyfora.connect(service.url, progress=False, serial_here=True) as ufora:
        xs = list(range(10000))
        for _ in range(2):
            why, pid, total = _total(ufora, xs)
            assert why is None and pid != os.getpid() and total == 99990000


def test_a_changed_number_sends_the_block_to_the_cluster_again(here):
    def run(limit):
        with here.remotely.downloadAll() as block:
            pid = os.getpid()
            small = sum(1 for k, v in iter(table.items()) if v < limit)  # an iterator: the cluster first
        return block.ranHere, pid, small

    table = {i: i for i in range(100)}
    assert run(10)[0] is None  # the cluster, which runs it serially
    assert run(10)[0] is not None  # here
    why, pid, count = run(20)
    assert why is None and pid != os.getpid() and count == 20


def test_a_block_whose_split_shape_the_cluster_makes_faster_stays_there(here):
    def run():
        with here.remotely.downloadAll() as block:
            pid = os.getpid()
            total = sum(i * i % 7 for i in range(20_000_000))  # compiled and split: seconds in CPython
        return block.ranHere, pid, total

    for _ in range(3):  # compiling, then compiled: the driver's estimate of CPython is far longer
        why, pid, total = run()
        assert why is None and pid != os.getpid() and total == 40000001


def _located(line):
    from pyfora.capture import Located

    return Located("with block:\n    total = sum(v for v in range(3))\n", "file.py", line, (), (), (), True)


def _two_cores():
    return 2


def test_where_a_block_runs_follows_its_times_and_a_time_measured_here_wins_over_an_estimate():
    from pyfora import run_here

    located, taken = _located(1), run_here.sizes({"xs": [1, 2, 3]})
    assert run_here.why_here(located, {}, taken, _two_cores) is None  # nothing known: the cluster
    run_here.ran_on_cluster(located, taken, 0.30, 0.10)
    assert "0.100 s here (estimated by the cluster)" in run_here.why_here(located, {}, taken, _two_cores)
    run_here.ran_here(located, taken, 0.50)  # the estimate was wrong: measured here, slower
    assert run_here.why_here(located, {}, taken, _two_cores) is None
    run_here.ran_on_cluster(located, taken, 0.30, 0.10)  # an estimate does not replace a measure
    assert run_here.why_here(located, {}, taken, _two_cores) is None
    run_here.ran_on_cluster(located, taken, 0.60, 0.10)  # the cluster got slower than here
    assert "0.500 s here (measured)" in run_here.why_here(located, {}, taken, _two_cores)
    grown = run_here.sizes({"xs": list(range(100))})
    assert run_here.why_here(located, {}, grown, _two_cores) is None  # larger values: the cluster decides anew
    run_here.ran_on_cluster(located, grown, 0.30, None)  # unknown (UFORA_SPLIT=always): the cluster
    assert run_here.why_here(located, {}, grown, _two_cores) is None


def test_a_blocks_time_while_its_kernels_compiled_does_not_count_against_the_cluster():
    """Shapes that ran in CPython while their kernels compiled may take next to nothing once
    compiled: the block runs here only if the rest of the cluster's time is already longer."""
    from pyfora import run_here

    located, taken = _located(2), run_here.sizes({"xs": [1, 2, 3]})
    run_here.ran_on_cluster(located, taken, 0.30, 0.20, warming_seconds=0.25)  # 0.05 s a kernel cannot remove
    assert run_here.why_here(located, {}, taken, _two_cores) is None
    run_here.ran_on_cluster(located, taken, 0.30, 0.04, warming_seconds=0.25)  # here beats even that
    assert run_here.why_here(located, {}, taken, _two_cores).startswith(
        "it is measured here once: it took 0.300 s through the cluster (0.250 s of it while kernels compiled)")
    run_here.ran_here(located, taken, 0.045)
    assert run_here.why_here(located, {}, taken, _two_cores) is None  # the cluster again, timed with its kernels
    run_here.ran_on_cluster(located, taken, 0.03, 0.04)  # compiled since: faster there
    assert run_here.why_here(located, {}, taken, _two_cores) is None


@pytest.mark.parametrize("call, first_here", [
    ("amounts.map(lambda v: v * 2)", False), ("names.map(lambda v: v.upper())", True),
    ("pool.map(abs)", True), ("frame['a'].apply(lambda v: v + 1)", False),
])
def test_where_the_first_run_of_a_series_map_goes(here, call, first_here):
    """``s.map(f)`` over a Series of numbers may split and compile: the cluster first; over text,
    or another object's ``map``, here."""
    from concurrent.futures import ThreadPoolExecutor

    from pyfora import first_run

    located = capture_located(f"with ufora.remotely.downloadAll():\n    result = {call}\n")
    values = {"amounts": pd.Series([1.5, 2.5]), "names": pd.Series(np.array(["a", "b"])),
              "pool": ThreadPoolExecutor(1), "frame": pd.DataFrame({"a": [1, 2]})}
    assert (first_run.runs_here_first(located, values, []) is not None) is first_here
    values["pool"].shutdown()


def test_sizes_tell_numbers_short_strings_lengths_and_attributes():
    from pyfora import run_here

    class Box:
        def __init__(self, items, label):
            self.items, self.label = items, label

    def no_larger(now, then):
        return run_here._no_larger_all(run_here.sizes(now), run_here.sizes(then))

    assert no_larger({"n": 5, "s": "abc"}, {"n": 5, "s": "abc"})
    assert not no_larger({"n": 6}, {"n": 5})
    assert not no_larger({"s": "abd"}, {"s": "abc"})
    assert no_larger({"xs": list(range(200))}, {"xs": list(range(100))})  # at most twice (and a little)
    assert not no_larger({"xs": list(range(300))}, {"xs": list(range(100))})
    assert no_larger({"a": np.zeros(100)}, {"a": np.zeros(100)}) and not no_larger({"a": np.zeros(1000)},
                                                                                      {"a": np.zeros(10)})
    assert no_larger({"b": Box([1] * 10, "x")}, {"b": Box([1] * 10, "x")})
    assert not no_larger({"b": Box([1] * 100, "x")}, {"b": Box([1] * 10, "x")})
    assert not no_larger({"n": float("nan")}, {"n": float("nan")})  # a NaN equals nothing: the cluster
    frame = pd.DataFrame({"a": range(100), "b": range(100)})
    assert no_larger({"s": frame["a"]}, {"s": frame["b"]}) and not no_larger({"f": frame}, {"f": frame.head(10)})


def _tally_by_city(ufora, orders):
    with ufora.remotely.downloadAll() as block:
        pid = os.getpid()
        rows = [order.split(",") for order in orders[1:]]
        total = sum(float(row[2]) for row in rows)
        cities = {row[1] for row in rows}
    return block.ranHere, pid, total, cities


def test_a_first_run_over_the_callers_own_objects_runs_here(here, monkeypatch):
    from pyfora import run_here

    orders = ["id,city,price"] + [f"{i},city{i % 5},{i % 7}.5" for i in range(3000)]
    expected = (sum(float(f"{i % 7}.5") for i in range(3000)), {f"city{i}" for i in range(5)})
    why, pid, total, cities = _tally_by_city(here, orders)
    assert why is not None and "runs here first" in why and pid == os.getpid() and (total, cities) == expected
    why, pid, total, cities = _tally_by_city(here, orders)  # quick here: stays
    assert why is not None and pid == os.getpid() and (total, cities) == expected
    monkeypatch.setattr(run_here, "EXPLORE_FROM", 0.0)  # as if it had been slow here
    monkeypatch.setattr(run_here, "SPLIT_CPYTHON_FROM_CORES", here._cluster_cores() + 1)  # too few to split
    why, pid, total, cities = _tally_by_city(here, orders)  # its shapes would run as CPython partitions
    assert why is not None and pid == os.getpid() and (total, cities) == expected
    monkeypatch.setattr(run_here, "SPLIT_CPYTHON_FROM_CORES", 1)  # as if the cluster had cores enough
    why, pid, total, cities = _tally_by_city(here, orders)  # the cluster, once
    assert why is None and pid != os.getpid() and (total, cities) == expected


def test_a_first_run_over_numbers_or_a_range_goes_to_the_cluster(here):
    numbers = list(range(5000))
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        total = sum(n * 2 for n in numbers)  # numeric code over numbers: the cluster may compile it
    assert block.ranHere is None and pid != os.getpid() and total == 24995000
    words = ["a", "b"]
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        pairs = [(w, w * 2) for w in words]
        squares = sum(len(p) for p in pairs)  # over a name the block made from the caller's objects
    assert block.ranHere is not None and pid == os.getpid() and squares == 4
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        made = list(range(100))
        pairs = [(w, m) for w in words for m in made]  # tuples: never a compiled collection
    assert block.ranHere is not None and pid == os.getpid() and len(pairs) == 200
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        total = sum(m * m for m in range(100_000))  # numbers the block makes: the cluster's to compile
    assert block.ranHere is None and pid != os.getpid() and total == 333328333350000


def _numeric_step(x):
    y = x * 3 + 1
    return y % 7


def _labelled(x):
    return f"{x:05d}"


def _mean_of(values):
    return statistics.mean(values)


class _Account:
    def __init__(self, balance):
        self.balance = balance

    def interest(self):
        return self.balance * 0.01


@pytest.mark.parametrize("line, verdict", [
    ("total = sum(_numeric_step(i) for i in range(n))", None),  # a user's numeric function: may compile
    ("total = sum(math.sqrt(i) for i in range(n))", None),
    ("labels = [_labelled(i) for i in range(n)]", "cpython"),  # text: never compiled
    ("labels = [f'{i:05d}' for i in range(n)]", "cpython"),
    ("sizes = sum(len(_labelled(i)) for i in range(n))", "cpython"),  # a function that formats
    ("means = sum(_mean_of([i, i]) for i in range(n))", "cpython"),  # a list display, and statistics' Python
    ("total = sum(a.interest() for a in accounts)", "cpython"),  # an object's method (and objects)
    ("total = sum(rate * i for i in range(n))", None),  # a free number: compiled as a constant
    ("total = sum(config.rate * i for i in range(n))", "cpython"),  # an object's attribute
    ("total = sum(len(words) * i for i in range(n))", "cpython"),  # a free list read by the code
    ("squares = [i * i for i in range(n)]", "not worth it"),  # a few operations per item, collected as objects here
    ("steps = [_numeric_step(i) for i in range(n)]", None),  # a function per item: may compile
    ("roots = [cmath.exp(1j * i) for i in range(n)]", "cpython"),  # complex numbers: not a compiled collection
    ("digits = sum(int(d) for d in str(n))", "cpython"),  # over text
    ("mine = [a for a, label in zip(accounts, labels) if label == 1]", "cpython"),  # objects zipped: no array
    ("total = sum(x * 2 for x in made)", None),  # numbers the block did not make: may compile
    ("s = [0.5] * n\n    avg = [sum(s[i:i + 3]) / 3 for i in range(n - 2)]", "cpython"),  # reads a list it made
    ("big = max(x for x in range(n) if str(x) == str(x)[::-1])", None),  # str of an int compiles
])
def test_a_first_run_goes_here_when_no_shape_could_compile(line, verdict):
    """``cpython``: every shape would run as CPython on the cluster; ``not worth it``: a guess that
    it gains little there (tried there once if slow here, whatever the cluster's cores); None:
    the cluster first."""
    from pyfora import first_run

    class Config:
        rate = 0.5

    text = f"with ufora.remotely.downloadAll():\n    {line}\n"
    values = {"n": 1000, "rate": 0.5, "config": Config(), "words": ["a"], "accounts": [_Account(1.0)],
              "_numeric_step": _numeric_step, "_labelled": _labelled, "_mean_of": _mean_of,
              "math": math, "cmath": cmath}
    assert first_run.runs_here_first(capture_located(text), values, []) == verdict


def _count_steps(n):
    return sum(_numeric_step(i) for i in range(n))


def _label_all(n):
    return [_labelled(i) for i in range(n)]


def test_a_first_run_looks_into_the_shapes_of_the_functions_the_block_calls(here):
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        labels = _label_all(2000)  # its shape formats text: here
    assert block.ranHere is not None and pid == os.getpid() and labels[7] == "00007"
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
        steps = _count_steps(2000)  # its shape may compile: the cluster
    assert block.ranHere is None and pid != os.getpid() and steps == sum((i * 3 + 1) % 7 for i in range(2000))


@pytest.mark.parametrize("iterable, first_here", [
    ("prices.items()", True), ("sorted(words)", True), ("zip(words, words[1:])", True),
    ("enumerate(words)", True), ("self_like.words", True), ("map(str.upper, words)", False),  # a call of its own
    ("range(1000)", False), ("zip(range(1000), words)", False), ("numbers", False), ("numbers_view()", False),
    ("self_like.weights", False), ("self_like.lazy", False), ("table['rows']", True), ("table['weights']", False),
    ("nested[0]", True), ("nested[i]", False), ("self_like.words[1:]", True),
    ("amounts", False), ("names", True),  # pandas Series: of numbers, split and compiled; of text, never split
])
def test_what_a_first_run_here_iterates_over(here, iterable, first_here):
    from pyfora import first_run

    class Holder:
        def method(self):
            return 1

        @property
        def lazy(self):  # read by the block, never by the decision
            raise AssertionError("a property was run")

    self_like = Holder()
    self_like.words, self_like.weights = ["a", "b"], np.ones(10)  # the array: numbers the cluster compiles
    words, prices, numbers = ["x", "y", "z"], {"a": 1.5, "b": 2.5}, [1, 2, 3]
    table, nested = {"name": "t", "rows": [{"a": 1}], "weights": np.ones(3)}, [["p", "q"], [1.0]]
    text = f"with ufora.remotely.downloadAll():\n    result = sum(1 for x in {iterable} if x)\n"
    located = capture_located(text)
    values = {"words": words, "prices": prices, "numbers": numbers, "self_like": self_like,
              "numbers_view": lambda: numbers, "table": table, "nested": nested, "i": 1,
              "amounts": pd.Series([1.5, 2.5]), "names": pd.Series(np.array(["a", "b"]))}
    assert (first_run.runs_here_first(located, values, []) is not None) is first_here


def capture_located(text):
    from pyfora.capture import Located

    return Located(text, "<test>", 1, (), (), (), True)


# ---------------------------------------------------------------- kept for the next process


@pytest.fixture
def kept_times(tmp_path, monkeypatch):
    """A file of block times of this test's own, and a process that has read none yet."""
    from pyfora import run_here

    file = tmp_path / "cache" / "block-times.json"
    monkeypatch.setenv("UFORA_BLOCK_TIMES", str(file))
    saved = (dict(run_here._timed), set(run_here._changed), run_here._kept_in)

    def new_process():
        run_here._timed.clear()
        run_here._changed.clear()
        run_here._kept_in = None

    new_process()
    yield file, new_process
    new_process()
    run_here._timed.update(saved[0])
    run_here._changed.update(saved[1])
    run_here._kept_in = saved[2]


def test_what_a_process_learned_is_where_the_next_one_starts(kept_times):
    from pyfora import run_here

    file, new_process = kept_times
    located = _located(1)
    values = {"xs": [1, 2, 3], "f": _numeric_step, "d": np.float32(1.5), "z": 1 + 2j}
    taken = run_here.sizes(values)
    run_here.ran_on_cluster(located, taken, 0.30, 0.10)  # faster here, by the driver's estimate
    run_here.save()
    assert oct(file.parent.stat().st_mode & 0o777) == "0o700" and json.loads(file.read_text())["version"] == 1
    new_process()
    why = run_here.why_here(located, values, run_here.sizes(values), _two_cores)
    assert why is not None and "0.100 s here (estimated by the cluster)" in why
    changed = dataclasses.replace(located, source=located.source + "\n# edited\n")
    assert run_here.why_here(changed, values, taken, _two_cores) is None  # an edited file starts over
    new_process()
    run_here.save()  # nothing learned by this process: the file stays as it was
    assert len(json.loads(file.read_text())["blocks"]) == 1


def test_an_unreadable_file_of_block_times_is_reported_and_replaced(kept_times, caplog):
    from pyfora import block_times, run_here

    file, new_process = kept_times
    file.parent.mkdir()
    file.write_text("{ not json")
    block_times._warned.clear()
    located, taken = _located(1), run_here.sizes({})
    with caplog.at_level("WARNING", logger="pyfora.block_times"):
        assert run_here.why_here(located, {}, taken, _two_cores) is None
    assert "cannot be read" in caplog.text
    run_here.ran_on_cluster(located, taken, 0.30, 0.10)
    run_here.save()
    assert len(json.loads(file.read_text())["blocks"]) == 1


_SCRIPT = """
import os, pyfora
ufora = pyfora.connect(os.environ["UFORA_URL"], progress=False, serial_here=True)
with ufora.remotely.downloadAll() as block:
    total = sum(i * i % 7 for i in range(20_000))  # numeric: the cluster first, by the guess
print("here" if block.ranHere else "cluster", total)
ufora.close()
"""


def test_a_script_run_again_starts_where_its_last_run_ended(cluster_url, tmp_path):
    """A small numeric block goes to the cluster first, which is slower than this process for it;
    the script's next run starts here (its first process kept that in UFORA_BLOCK_TIMES)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, UFORA_URL=cluster_url, PYTHONPATH=ROOT, UFORA_BLOCK_TIMES=str(tmp_path / "times.json"))
    runs = [subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    expected = str(sum(i * i % 7 for i in range(20_000)))
    assert [run.stdout.split() for run in runs] == [["cluster", expected], ["here", expected]]


def test_a_core_count_the_manager_cannot_give_counts_as_none(here, monkeypatch):
    """Asked only to decide whether a block that ran here should try the cluster: a connection
    that fails then keeps the block here (none), it does not fail the block."""
    def unreachable():
        raise pyfora.ConnectionError("the manager at ... did not answer")

    monkeypatch.setattr(here, "_cores", None)
    monkeypatch.setattr(here._connection, "cluster_cores", unreachable)
    assert here._cluster_cores() == 0


def test_a_block_whose_estimate_here_is_close_to_the_clusters_time_is_measured_here_once():
    """The driver's estimate (its shapes' first items timed) can be twice the time measured
    here: within that of the cluster's time, a quick block runs here once to be measured, and
    then goes where it was faster."""
    from pyfora import run_here

    located, taken = _located(3), run_here.sizes({"xs": [1, 2, 3]})
    run_here.ran_on_cluster(located, taken, 0.30, 0.08, warming_seconds=0.25)  # 0.05 s, against 0.08 s
    assert run_here.why_here(located, {}, taken, _two_cores).startswith("it is measured here once")
    run_here.ran_here(located, taken, 0.07)  # slower here, measured: the cluster from now on
    assert run_here.why_here(located, {}, taken, _two_cores) is None
    run_here.ran_on_cluster(located, taken, 0.30, 0.08, warming_seconds=0.25)
    assert run_here.why_here(located, {}, taken, _two_cores) is None  # measured once is enough

    located = _located(4)
    run_here.ran_on_cluster(located, taken, 0.30, 0.08, warming_seconds=0.25)
    run_here.ran_here(located, taken, 0.03)  # faster here, measured; the cluster's time was a compiling one
    assert run_here.why_here(located, {}, taken, _two_cores) is None
    run_here.ran_on_cluster(located, taken, 0.25, 0.08)  # its kernels ready, and still slower: here from now on
    assert "0.030 s here (measured)" in run_here.why_here(located, {}, taken, _two_cores)
    located = _located(5)
    run_here.ran_on_cluster(located, taken, 0.60, 0.12, warming_seconds=0.55)  # not quick there: no trial
    assert run_here.why_here(located, {}, taken, _two_cores) is None


@pytest.mark.parametrize("kept, cluster, read", [
    (0.05, 0.3, 0.05), (0.5, 0.3, 0.3), (-5, 0.3, 0.0), (float("-inf"), 0.3, 0.0), (float("nan"), 0.3, 0.0),
    ("0.1", 0.3, 0.0), (True, 0.3, 0.0), (None, 0.3, 0.0), (0.1, None, 0.0),
])
def test_a_kept_time_while_kernels_compiled_is_read_only_as_a_number_within_the_clusters(kept, cluster, read):
    """The block-times file may be old (no such time) or edited: what is not a number from 0 to
    the cluster's time counts as none, and cannot send a block here."""
    from pyfora import run_here

    assert run_here._warming(kept, cluster) == read


@functools.lru_cache(maxsize=None)
def _cost(n):
    return n % 7


def test_a_block_whose_values_cannot_go_to_the_cluster_runs_here_and_says_why(here):
    """Its first run here filled an ``lru_cache`` the block calls; the next, on other values,
    would go to the cluster, which cannot take a cache in use: it runs here, as CPython would,
    rather than fail. ``onCluster()`` still refuses, saying how to clear the cache."""
    _cost.cache_clear()

    def crunch(limit):
        with here.remotely.downloadAll() as block:
            total = sum([_cost(i) for i in range(limit)])
        return total, block.ranHere

    assert crunch(300)[0] == sum(i % 7 for i in range(300))
    total, why = crunch(350)
    assert total == sum(i % 7 for i in range(350)) and why.startswith("its values cannot be sent to the cluster")
    assert "_cost.cache_clear()" in why and _cost.cache_info().currsize == 350
    with pytest.raises(pyfora.PythonToForaConversionError, match=r"_cost.cache_clear\(\)"):
        with here.remotely.onCluster().downloadAll():
            total = sum([_cost(i) for i in range(400)])
    _cost.cache_clear()


@pytest.mark.parametrize("reported, passed_on", [
    (0.25, 0.25), (0, 0.0), (-1.0, 0.0), (float("inf"), 0.0), (float("nan"), 0.0), ("0.2", 0.0), (True, 0.0),
    (None, 0.0),
])
def test_a_workers_warming_seconds_reach_the_client_only_as_a_finite_number_from_0(reported, passed_on):
    """The manager passes on what a worker's header says only once checked (``schema.seconds``)."""
    from ufora.net.manager import job_done_message

    message = job_done_message("job", {"names": [], "parts": [], "warming_seconds": reported}, [])
    assert message["warming_seconds"] == passed_on


class _Holder:
    pass


def test_a_block_whose_values_cannot_be_sent_runs_here_once_a_garbage_proxy_is_collected(here):
    """A review: the collector before a block is skipped while the same proxies are alive, so a
    proxy held only by cyclic garbage still counted, and a block holding a lock failed where it
    had run here. Its values unsendable, the block collects first."""
    import gc
    import threading
    with here.remotely.remoteAll():
        data = [1, 2, 3]
    holder = _Holder()
    holder.me, holder.data = holder, data
    del data
    with here.remotely.downloadAll():  # the proxies seen alive, after a collection
        z = 1
    del holder  # the proxy is now held by cyclic garbage only
    lock = threading.Lock()
    gc.disable()  # (no collection of the test's own between the two blocks)
    try:
        with here.remotely.downloadAll() as block:
            with lock:
                y = 2
    finally:
        gc.enable()
    assert (y, z) == (2, 1) and block.ranHere


def test_a_block_reading_a_proxy_by_name_goes_to_the_cluster_without_a_full_collection(here, monkeypatch):
    """The collection ``proxies_alive`` makes when the proxies changed took 14-40 ms before every
    block of a program that makes remote values in one block and reads them in the next: a block
    that names a proxy goes to the cluster whatever a collection would find."""
    import gc
    from pyfora import remote
    collections = []
    monkeypatch.setattr(remote.gc, "collect", lambda *args: collections.append(args) or 0)
    for step in range(3):
        with here.remotely:
            data = [step, step + 1]
        with here.remotely.downloadAll() as block:
            total = sum(data)
        assert total == 2 * step + 1 and not block.ranHere
    assert not collections
    monkeypatch.undo()
    gc.collect()
