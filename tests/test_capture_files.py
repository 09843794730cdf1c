"""Which files a captured block ships: those of the user functions it reaches, including the
methods of user classes reached as classes, instances or bound methods, directly or through
the globals and closures of shipped functions."""
import os

import pytest

import pyfora
from ufora.engine import runtime
from pyfora import capture
from tests import prime_counter
from tests.prime_counter import PrimeCounter
from tests.test_capture import InProcessExecutor

COUNTER_FILE = prime_counter.__file__


def counts_through_a_global(n):
    return PrimeCounter().count(n)


def shipped_files(value):
    block = capture.ship("with b:\n    v = x\n", "<test>", 1, {"x": value})
    return set(block.other_sources)


@pytest.mark.parametrize("value", [
    PrimeCounter, PrimeCounter(), PrimeCounter().count, counts_through_a_global,
    (lambda counter=None: lambda: counter)(PrimeCounter(2)),  # an instance in a closure cell
], ids=["class", "instance", "bound method", "function global", "closure"])
def test_methods_of_user_classes_ship_their_file(value):
    assert COUNTER_FILE in shipped_files(value)


def test_installed_classes_and_plain_values_ship_nothing():
    import collections
    import fractions

    for value in (collections.OrderedDict(), fractions.Fraction(1, 3), 3, "text", None, [PrimeCounter]):
        assert shipped_files(value) == set()  # containers are not walked: only the values named


def test_method_shapes_split_in_process():
    ufora = InProcessExecutor()
    counter = PrimeCounter()
    runtime.reports.clear()
    with ufora.remotely.downloadAll():
        total = counter.count(100_000)
        largest = PrimeCounter.largest_below(50_000)
    assert (total, largest) == (9594, 49999)
    assert COUNTER_FILE in ufora.submitted[-1].other_sources
    assert [r.shape for r in runtime.reports if r.parallel] == ["sum", "max"]


@pytest.fixture(scope="module")
def ufora(cluster_url):
    executor = pyfora.connect(cluster_url)
    yield executor
    executor.close()


def test_method_of_a_class_from_another_file_on_the_cluster(ufora, monkeypatch):
    shipped = []
    real_ship = capture.ship
    monkeypatch.setattr(capture, "ship", lambda *args, **kwargs: shipped.append(real_ship(*args, **kwargs)) or shipped[-1])
    counter = PrimeCounter()
    with ufora.remotely.downloadAll():
        result = counter.count(1_000_000)
    assert result == 78500  # isPrime counts 0 and 1, as in the tutorial
    [block] = shipped
    assert os.path.realpath(COUNTER_FILE) in {os.path.realpath(f) for f in block.other_sources}
