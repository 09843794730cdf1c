"""A user's trial of blocks that run here (``pyfora.run_here``): programs written as a user would,
each run in plain local CPython and through ``pyfora.connect(url, serial_here=True)`` to a real
service, compared by value, type, exception (type, message, chain), printed output and side
effects on the caller's objects; and which of them run here, which go to the cluster. The last sections
are what the trial found wrong, each with the fix's test."""
from __future__ import annotations

import dataclasses
import decimal
import fractions
import gc
import logging
import os
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import pyfora
from pyfora import capture, run_here
from tests.compare_runs import LocalUfora, describe, differences, run_printing

log = logging.getLogger("trial.user")


@pytest.fixture(scope="module")
def here(cluster_url):
    executor = pyfora.connect(cluster_url, progress=False, serial_here=True)
    yield executor
    executor.close()


def _same_as_cpython(program, here):
    """Runs ``program`` in CPython and through ``here``; fails with every difference; what the
    ufora run gave, and how many of its blocks ran here."""
    expected, expected_out = run_printing(program, LocalUfora())
    before = here.blocksRunHere
    actual, actual_out = run_printing(program, here)
    found = differences(expected, actual)
    if expected_out != actual_out:
        found.append(f"stdout: {describe(expected_out)} != {describe(actual_out)}")
    assert not found, "\n".join(found)
    return actual, here.blocksRunHere - before


# ---------------- scopes


TALLY = 0


SEEN = []


def prog_function_locals_and_globals(ufora):
    base = 10
    with ufora.remotely.downloadAll():
        global TALLY
        TALLY = TALLY + base
        SEEN.append(base)
        doubled = [base * 2]
        label = f"tally {TALLY}"
        del base
    return {"doubled": doubled, "label": label, "TALLY": TALLY, "SEEN": list(SEEN), "base": "base" in locals()}


def test_a_block_in_a_function_assigns_locals_and_globals(here):
    global TALLY
    TALLY, SEEN[:] = 0, []
    expected = prog_function_locals_and_globals(LocalUfora())
    TALLY, SEEN[:] = 0, []
    before = here.blocksRunHere
    assert not differences(expected, prog_function_locals_and_globals(here))
    assert here.blocksRunHere == before + 1


class Account:
    def __init__(self, owner):
        self.owner = owner
        self.entries = []
        self.balance = 0

    def post(self, ufora, amounts):
        with ufora.remotely.downloadAll():
            for amount in amounts:
                self.entries.append(amount)
                self.balance += amount
            largest = self._largest()
            self.checked = True
        return largest

    def _largest(self):
        best = None
        for amount in self.entries:
            if best is None or amount > best:
                best = amount
        return best


def prog_method_with_self(ufora):
    account = Account("ada")
    entries = account.entries
    largest = account.post(ufora, [5, -3, 12, 7])
    return {"largest": largest, "entries": account.entries, "same list": account.entries is entries,
            "balance": account.balance, "checked": account.checked}


def prog_closure_and_nonlocal(ufora):
    count = 0
    history = []

    def bump(by):
        nonlocal count
        with ufora.remotely.downloadAll():
            count += by
            history.append(count)
            scale = lambda x: x * count  # noqa: E731 - a closure made in the block
        return scale

    scales = [bump(1), bump(2), bump(3)]
    return {"count": count, "history": history, "scaled": [s(10) for s in scales]}


def prog_mutates_the_callers_objects(ufora):
    class Box:
        pass

    box = Box()
    box.items = []
    rows = [[1, 2], [3, 4]]
    first_row = rows[0]
    index = {"a": 1}
    with ufora.remotely.downloadAll():
        rows[0].append(99)
        rows.append([5])
        index["b"] = index.pop("a") + 1
        box.items.extend(r[0] for r in rows)  # a generator, but not fed to sum/min/max/...
        box.size = len(box.items)
    return {"rows": rows, "first row kept": rows[0] is first_row, "first": first_row, "index": index,
            "box": (box.items, box.size)}


def prog_prints_and_logs(ufora):
    with ufora.remotely.downloadAll():
        print("starting", 3, sep="|")
        for i in range(3):
            print(f"step {i}", end=";")
        print()
        log.warning("warned %d", 7)
        done = True
    return {"done": done}


@pytest.mark.parametrize("program", [prog_method_with_self, prog_closure_and_nonlocal,
                                     prog_mutates_the_callers_objects, prog_prints_and_logs])
def test_programs_without_shapes_run_here_as_in_cpython(program, here):
    _, ran_here = _same_as_cpython(program, here)
    assert ran_here >= 1


def test_logging_reaches_the_callers_handlers(here, caplog):
    with caplog.at_level(logging.WARNING, logger="trial.user"):
        prog_prints_and_logs(here)
    assert [r.getMessage() for r in caplog.records if r.name == "trial.user"] == ["warned 7"]


# ---------------- exceptions


class ParseError(Exception):
    def __init__(self, line, text):
        super().__init__(f"line {line}: {text}")
        self.line = line


def prog_raises_with_cause(ufora):
    parsed = []
    try:
        with ufora.remotely.downloadAll():
            for n, text in enumerate(["1", "2", "x3"]):
                try:
                    parsed.append(int(text))
                except ValueError as exc:
                    raise ParseError(n, text) from exc
    except ParseError as error:
        caught = error
    return {"parsed": parsed, "error": caught, "line": caught.line, "cause": caught.__cause__}


def test_an_exception_with_a_cause_is_caught_both_ways(here):
    actual, ran_here = _same_as_cpython(prog_raises_with_cause, here)
    assert ran_here == 1
    error = actual["error"]
    assert isinstance(error, ParseError) and isinstance(error, pyfora.ComputationError)
    assert type(error.__cause__) is ValueError and error.line == 2
    with pytest.raises(pyfora.ComputationError):
        with here.remotely.downloadAll():
            raise ParseError(1, "x") from KeyError("k")


def prog_raises_while_handling(ufora):
    try:
        {}["missing"]
    except KeyError:
        try:
            with ufora.remotely.downloadAll():
                raise ValueError("while handling")
        except ValueError as error:
            caught = error
    return {"error": caught, "context": caught.__context__}


def test_an_exception_raised_while_the_caller_handles_one_has_it_as_context(here):
    _same_as_cpython(prog_raises_while_handling, here)


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_pass_as_themselves(here, kind):
    ran = []
    with pytest.raises(kind) as raised:
        with here.remotely.downloadAll():
            ran.append(1)
            raise kind(3)
    assert type(raised.value) is kind and ran == [1]


# ---------------- which blocks go to the cluster


def kept(value):
    """A number as it is: numeric code the cluster may compile, so a first run goes there
    (``pyfora.first_run``; a few operations per item collected would run here first)."""
    return value


def prog_grows_three_times(ufora):
    stock = {f"sku{i}": i % 50 for i in range(400)}
    counts = []
    for run in range(3):
        with ufora.remotely.downloadAll():
            low = {name: kept(n) for name, n in iter(stock.items()) if n < 5}  # an iterator: the cluster first
        counts.append(len(low))
        size = len(stock)
        stock.update({f"new{run}-{i}": i % 50 for i in range(2 * size)})  # 3x
    return {"counts": counts}


def test_a_block_whose_data_grows_goes_back_to_the_cluster(here):
    actual, ran_here = _same_as_cpython(prog_grows_three_times, here)
    assert ran_here == 0  # each run its values are 3x those the cluster ran serially


def doubled_total(xs):
    return sum(x * 2 for x in xs)  # a shape, in a module-level helper


def prog_calls_a_helper_with_a_shape(ufora):
    xs = list(range(3000))
    with ufora.remotely.downloadAll():
        total = doubled_total(xs)
        count = len(xs)
    return {"total": total, "count": count}


def test_a_block_calling_a_helper_with_a_shape_goes_to_the_cluster(here):
    _, ran_here = _same_as_cpython(prog_calls_a_helper_with_a_shape, here)
    assert ran_here == 0


def test_a_proxy_inside_a_list_keeps_blocks_on_the_cluster_until_it_is_gone(here):
    with here.remotely.remoteAll():
        readings = list(range(10))
    assert isinstance(readings, pyfora.RemotePythonObject)
    holder = [readings]
    with here.remotely.downloadAll() as block:
        count = len(holder[0])
        pid = os.getpid()
    assert block.ranHere is None and pid != os.getpid() and count == 10
    del readings, holder
    gc.collect()
    with here.remotely.downloadAll() as block:
        pid = os.getpid()
    assert block.ranHere is not None and pid == os.getpid()


# ---------------- how the program runs


def test_blocks_in_threads_run_here_each_on_its_own_values(here):
    results, errors = {}, []

    def work(n):
        try:
            values = list(range(n))
            for _ in range(20):
                with here.remotely.downloadAll() as block:
                    total = 0
                    for value in values:
                        total += value
                assert block.ranHere is not None
            results[n] = total
        except BaseException as error:  # noqa: BLE001 - the test's thread reports it
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1000, 2000, 3000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == {n: n * (n - 1) // 2 for n in (1000, 2000, 3000)}


def _traced_blocks(ufora):
    with ufora.remotely.downloadAll() as block:
        marked = "here"
    after_here = sys.gettrace()
    with ufora.remotely.downloadAll().onCluster():
        marked_there = "there"
    return block.ranHere, (marked, marked_there), after_here, sys.gettrace()


def test_a_trace_function_sees_a_block_that_runs_here_and_stays_set(here):
    """A debugger or coverage tool (sys.settrace) traces the body that runs here, as it would
    any code; and is the one set after blocks here and on the cluster."""
    lines = []

    def tracer(frame, event, arg):
        if frame.f_code is _traced_blocks.__code__:
            lines.append(frame.f_lineno)
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        why, marked, after_here, after_there = _traced_blocks(here)
    finally:
        sys.settrace(previous)
    assert why is not None and marked == ("here", "there")
    assert after_here is tracer and after_there is tracer
    assert _traced_blocks.__code__.co_firstlineno + 2 in lines


def prog_in_a_generator(ufora):
    def batches(rows):
        for start in range(0, len(rows), 2):
            with ufora.remotely.downloadAll():
                batch = [row.upper() for row in rows[start:start + 2]]  # a shape: a comprehension
                joined = "+".join(batch)
            yield joined

    return {"batches": list(batches(["a", "b", "c", "d", "e"]))}


def test_a_block_in_a_generator_function(here):
    _same_as_cpython(prog_in_a_generator, here)


SCRIPT = '''
import os, pyfora
ufora = pyfora.connect(progress=False, serial_here=True)
counts = {"a": 1}
with ufora.remotely.downloadAll() as block:
    counts["b"] = 2
    print("in the block", os.getpid() == {pid})
with ufora.remotely.downloadAll().onCluster() as there:
    pid_there = os.getpid()
print("ran here:", block.ranHere is not None, there.ranHere is None, pid_there != os.getpid(), counts)
'''


def test_a_script_that_exits_without_closing(cluster_url, tmp_path):
    from tests.conftest import client_script

    script = client_script(tmp_path / "user.py", SCRIPT.replace("{pid}", "os.getpid()"), cluster_url)
    out, err = script.communicate(timeout=60)
    assert script.returncode == 0, err
    assert out == "in the block True\nran here: True True True {'a': 1, 'b': 2}\n"


# ---------------- found by this trial: an exception that is a ComputationError already


def test_nested_blocks_keep_the_exceptions_own_type(here):
    """An exception out of an inner block (here, or from the cluster) passes through an outer block
    that runs here as itself: it is ComputationError and ValueError already (it came as a plain
    ComputationError, which ``except ValueError`` missed)."""
    for inner_on_cluster in (False, True):
        with pytest.raises(ValueError) as raised:
            with here.remotely.downloadAll() as outer:
                inner = here.remotely.downloadAll()
                with inner.onCluster() if inner_on_cluster else inner:
                    int("x")
        assert outer.ranHere is not None and (inner.ranHere is None) == inner_on_cluster
        assert isinstance(raised.value, pyfora.ComputationError)
        assert type(raised.value.remoteException) is ValueError


def test_an_error_caught_from_one_block_and_raised_in_another_keeps_its_type(here):
    try:
        with here.remotely.downloadAll().onCluster():
            int("x")
    except ValueError as error:
        saved = error
    for on_cluster in (False, True):
        with pytest.raises(ValueError) as raised:
            block = here.remotely.downloadAll()
            with block.onCluster() if on_cluster else block:
                raise saved
        assert (block.ranHere is None) == on_cluster and str(raised.value) == str(saved)


# ---------------- found by this trial: measuring the free variables


class LoadsOnLen(list):
    def __len__(self):
        raise RuntimeError("not loaded yet")


class Settings:
    __slots__ = ("values",)

    def __init__(self):
        self.values = {"rate": 3}

    def __getattr__(self, name):
        return self.values[name]  # KeyError, not AttributeError, for a name it lacks


def test_free_variables_that_are_odd_to_measure_still_run_here(here):
    """Measuring the free variables ran the user's code or failed: a range longer than sys.maxsize
    (OverflowError), a list subclass whose __len__ raises, a __slots__ object whose __getattr__
    raises KeyError for '__dict__'. The block failed before its body began; it runs here now."""
    huge, lazy, settings = range(10 ** 30), LoadsOnLen([1, 2, 3]), Settings()
    with here.remotely.downloadAll() as block:
        first = huge[1]
        total = 0
        for item in lazy:
            total += item
        rate = settings.rate
    assert block.ranHere is not None and (first, total, rate) == (1, 6, 3)


def _below(ufora, table, limit):
    with ufora.remotely.downloadAll() as block:
        small = {key: kept(value) for key, value in iter(table.items()) if value < limit}  # the cluster first
    return block.ranHere, len(small)


@pytest.mark.parametrize("number", [np.int64, fractions.Fraction, decimal.Decimal])
def test_a_changed_number_of_any_type_sends_the_block_to_the_cluster_again(here, number):
    """numpy's integers, Fraction and Decimal are numbers too: one that changed is not 'no larger'
    (it was told only by its type, or as an array of one item)."""
    table = {i: i for i in range(100)}
    assert _below(here, table, number(10))[0] is None
    why, count = _below(here, table, number(10))
    assert "through the cluster last time" in why and count == 10
    assert _below(here, table, number(50)) == (None, 50)


def abs_of(value):
    return value if value >= 0 else -value


def doubled_total_below(n):
    return sum(i * 2 for i in range(n))


def _apply(ufora, function, table):
    with ufora.remotely.downloadAll() as block:
        applied = {key: function(value) for key, value in iter(table.items())}  # the cluster first
    return block.ranHere, applied


def test_another_function_as_a_free_variable_sends_the_block_to_the_cluster_again(here):
    table = {i: i for i in range(50)}
    assert _apply(here, abs_of, table)[0] is None
    assert "through the cluster last time" in _apply(here, abs_of, table)[0]
    why, applied = _apply(here, doubled_total_below, table)
    assert why is None and applied[10] == 90


def test_a_library_module_is_measured_by_its_name_and_a_users_by_its_attributes():
    """``np`` as a free variable cost 0.6 ms a block (its 500 attributes measured and compared),
    where a block that runs here takes microseconds; a library's attributes are not the block's data."""
    from tests import compare_runs

    assert run_here.sizes({"np": np, "os": os}) == (("np", ("module", "numpy")), ("os", ("module", "os")))
    [(_, (kind, _, attributes))] = run_here.sizes({"mine": compare_runs})
    assert kind == "obj" and ("LocalUfora", ("type", "builtins.type")) in attributes


# ---------------- found by this trial: what the cluster did, remembered


def prog_groups_twice(ufora):
    """An iterator is not split: the cluster runs the block serially, then it runs here (a
    dict's own items would run here first: ``run_here.FIRST``)."""
    prices = {f"item{i}": (i * 37) % 100 for i in range(2000)}
    seen = []
    results = []
    for _ in range(2):
        with ufora.remotely.downloadAll():
            cheap = {name: kept(price) for name, price in iter(prices.items()) if price < 10}  # the cluster first
            seen.append(len(cheap))
            prices["extra"] = 1
        results.append(sorted(cheap)[:3])
    return {"results": results, "seen": seen, "extra": prices["extra"], "size": len(prices)}


def test_a_block_the_cluster_ran_serially_runs_here_the_second_time(here):
    _, ran_here = _same_as_cpython(prog_groups_twice, here)
    assert ran_here == 1


def test_a_reused_block_executor_learns_only_about_its_own_block(start_service):
    """A block executor used again with onCluster() taught what the cluster did with its second
    block to its first: a block the cluster split ran here next time."""
    from tests.conftest import one_host

    service = start_service({**one_host(2), "UFORA_SPLIT": "always"})
    with pyfora.connect(service.url, progress=False, serial_here=True) as ufora:
        xs = list(range(5000))

        def total(block):
            with block:
                value = sum(x * 2 for x in xs)  # split: always
            return value

        block = ufora.remotely.downloadAll()
        assert total(block) == 24995000 and block.ranHere is None
        with block.onCluster():
            pid = os.getpid()  # no shape: serial
        assert pid != os.getpid()
        fresh = ufora.remotely.downloadAll()
        assert total(fresh) == 24995000 and fresh.ranHere is None


def test_what_is_remembered_of_blocks_does_not_keep_a_copy_of_their_file_each():
    lines = ["x = 1\n"] * 170000 + ["with ufora.remotely.downloadAll():\n", "    y = x\n"]
    size = len("".join(lines))
    tracemalloc.start()
    try:
        started = tracemalloc.get_traced_memory()[0]
        located = []
        for line in range(20):  # the text as each block reads it: a new string every time
            located.append(capture.Located("".join(lines), f"<trial {line}>", line, ("x",), (), (), True))
            run_here.ran_on_cluster(located[-1], run_here.sizes({"x": 1}), 0.1, 0.01)
            located[-1] = dataclasses.replace(located[-1], source="")
        kept = tracemalloc.get_traced_memory()[0] - started
    finally:
        tracemalloc.stop()
        for block in located:
            run_here._timed.pop((block.filename, block.with_line, hash("".join(lines))), None)
    assert kept < 2 * size, f"{kept} bytes kept for 20 blocks of a {size}-byte file"
