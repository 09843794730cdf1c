"""CPython partitions run the shape's loop as written (``engine.sources.written_elements``), not
its element function once per item: the loop's own speed (a function call per item cost 1.2-2.8x
the loop's time), and the elements the loop gives. Exactness over many shapes is
``tests/test_shapes.py``'s table."""
import time

from ufora.engine import cost, runtime
from ufora.engine.runtime import InlineRunner, parallel_collect, parallel_reduce, using_runner
from ufora.engine.sources import ObjectSource, written_elements

WORDS = [f"w{i}" for i in range(20_000)]


def never_called(_):
    raise AssertionError("the element function was called per item")


def test_partitions_run_the_loop_as_written():
    written = lambda items: (len(w) for w in items if w[-1] != "7")  # noqa: E731
    with using_runner(InlineRunner(processes=2)):
        got = parallel_reduce(sum, WORDS, never_called, None, __ufora_serial__=written)
    assert got == sum(len(w) for w in WORDS if w[-1] != "7")
    report = runtime.reports[-1]
    assert report.parallel and report.partitions > 1, report


def test_a_dict_comprehension_splits_into_its_partitions_pairs():
    written = lambda items: {w[-1]: w for w in items}  # noqa: E731
    with using_runner(InlineRunner(processes=2)):
        got = parallel_collect("dict", WORDS, never_called, None, __ufora_serial__=written)
    assert list(got.items()) == list({w[-1]: w for w in WORDS}.items())


def test_a_set_comprehension_is_not_computed_as_written():
    """A set has lost the order its elements came in, on which the order of the whole set depends."""
    assert written_elements("set", lambda items: set(items)) is None
    assert written_elements("reduce", None) is None


def test_the_loop_as_written_is_timed_as_partitions_run_it():
    def slow(_):
        time.sleep(0.001)
        return 1

    source = ObjectSource(WORDS)
    quick = cost.estimate(source, slow, None, None, False, False, 2, lambda items: (1 for _ in items))
    called = cost.estimate(source, slow, None, None, False, False, 2)
    assert quick.serial < called.serial / 5
