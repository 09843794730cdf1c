"""engine.errors: an exception's chain (``__cause__``, ``__context__``, ``__suppress_context__``)
travels with it, through a real child process as between the cluster and the client, and its
traceback text is CPython's; raised again, it keeps that chain."""
import os
import subprocess
import sys
import threading
import traceback

import pytest

from ufora.engine import errors, serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in a fresh interpreter: unpickles the exception on stdin and prints its chain.
_ECHO = """
import sys
from ufora.engine import serialization
exc = serialization.loads(sys.stdin.buffer.read())
seen, todo = [], [exc]
while todo:
    e = todo.pop(0)
    if any(e is s for s in seen) or len(seen) > 20:
        continue
    seen.append(e)
    todo += [x for x in (e.__cause__, e.__context__) if x is not None]
def at(x):
    return next((i for i, s in enumerate(seen) if s is x), None)
for e in seen:
    print(type(e).__name__, repr(e.args), at(e.__cause__), at(e.__context__), e.__suppress_context__)
"""


def in_child(pickled: bytes) -> list:
    """The chain of the exception ``pickled`` as a fresh interpreter rebuilds it: one line per
    exception (type, args, positions of its cause and context, suppress flag)."""
    done = subprocess.run([sys.executable, "-c", _ECHO], input=pickled, capture_output=True, cwd=ROOT,
                          timeout=60, check=True)
    return done.stdout.decode().splitlines()


def raised(function):
    try:
        function()
    except BaseException as exc:  # noqa: B902
        return exc
    raise AssertionError("raised nothing")


def lookup_from(table, key):
    try:
        return table[key]
    except KeyError as missing:
        raise ValueError(f"no entry for {key!r}") from missing


def lookup_during(table, key):
    try:
        return table[key]
    except KeyError:
        raise ValueError(f"no entry for {key!r}")


def lookup_from_none(table, key):
    try:
        return table[key]
    except KeyError:
        raise ValueError(f"no entry for {key!r}") from None


def test_cause_context_and_suppression_travel_to_another_process():
    assert in_child(errors.capture(raised(lambda: lookup_from({}, "a"))).pickled) == [
        "ValueError (\"no entry for 'a'\",) 1 1 True", "KeyError ('a',) None None False"]
    assert in_child(errors.capture(raised(lambda: lookup_during({}, "a"))).pickled) == [
        "ValueError (\"no entry for 'a'\",) None 1 False", "KeyError ('a',) None None False"]
    assert in_child(errors.capture(raised(lambda: lookup_from_none({}, "a"))).pickled) == [
        "ValueError (\"no entry for 'a'\",) None 1 True", "KeyError ('a',) None None False"]
    alone = ValueError("x")
    alone.__suppress_context__ = True  # raise ... from None with nothing handled
    assert in_child(errors.capture(alone).pickled) == ["ValueError ('x',) None None True"]


def test_a_cycle_stays_a_cycle_and_a_long_chain_is_cut():
    first, second = KeyError(1), ValueError(2)
    first.__context__, second.__context__ = second, first
    assert in_child(errors.capture(first).pickled) == ["KeyError (1,) None 1 False", "ValueError (2,) None 0 False"]
    exc = OSError(0)
    for number in range(1, errors.CHAIN_LIMIT + 50):
        outer = OSError(number)
        outer.__context__, exc = exc, outer
    again = serialization.loads(errors.capture(exc).pickled)
    length = 0
    while again is not None:
        length, again = length + 1, again.__context__
    assert length == errors.CHAIN_LIMIT


def test_a_chained_exception_that_cannot_travel_arrives_as_its_text():
    exc = ValueError("outer")
    exc.__cause__ = KeyError(threading.Lock())  # its args cannot be pickled
    again = serialization.loads(errors.capture(exc).pickled)
    assert type(again) is ValueError and again.args == ("outer",) and again.__suppress_context__
    assert type(again.__cause__) is RuntimeError and str(again.__cause__).startswith("KeyError: <unlocked _thread.lock")


@pytest.mark.parametrize("function", [lookup_from, lookup_during, lookup_from_none])
def test_the_trace_is_cpythons_text_of_the_chain(function):
    exc = raised(lambda: function({}, "a"))
    assert errors.capture(exc).trace == "".join(traceback.format_exception(exc))


def test_reraise_keeps_the_chain_and_in_context_adds_what_is_handled_here():
    exc = serialization.loads(errors.capture(raised(lambda: lookup_from({}, "a"))).pickled)
    cause = exc.__cause__
    handled = OSError("handled here")
    errors.in_context(exc, handled)
    try:
        try:
            raise RuntimeError("being handled where it is raised again")
        except RuntimeError:
            errors.reraise(exc)
    except ValueError as again:
        assert again is exc and exc.__context__ is cause and exc.__cause__ is cause and exc.__suppress_context__
        assert cause.__context__ is handled  # the first exception raised: CPython's context for it
        assert [frame.name for frame in traceback.extract_tb(exc.__traceback__)] == [
            "test_reraise_keeps_the_chain_and_in_context_adds_what_is_handled_here"]  # not reraise's own line
    errors.in_context(exc, exc)  # never a cycle
    assert cause.__context__ is handled


def _tenth_of_distance(value):
    return 10 // (value - 299_999)


def test_a_partition_s_exception_holds_no_note_is_not_kept_and_its_trace_is_told():
    """A review: the partition traces the engine keeps for the block's error held each exception
    (and what its frames held) until the block's end, in-process for ever."""
    from ufora.engine import errors
    from ufora.engine.runtime import InlineRunner, parallel_reduce, using_runner

    caught = None
    with using_runner(InlineRunner(processes=2)):
        for _ in range(errors.PARTITION_TRACES_KEPT + 3):
            try:
                parallel_reduce(sum, range(300_000), _tenth_of_distance, None)
            except ZeroDivisionError as error:
                caught = error
    assert len(errors._partition_traces) <= errors.PARTITION_TRACES_KEPT
    assert caught is not None and not getattr(caught, "__notes__", None)
    try:
        try:
            raise caught
        except ZeroDivisionError:
            raise ExceptionGroup("both", [ValueError("v"), caught])
    except ExceptionGroup as group:
        text = errors.trace(group)
    assert text.count("Raised in partition") == 1, text
    errors.forget_partition_traces()
