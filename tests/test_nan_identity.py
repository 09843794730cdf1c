"""NaN floats keep their identity between the client and the cluster (engine/nan_identity.py):
a marker such as ``MISSING = float("nan")`` is found by identity alone (``count``, ``in``,
``is``, sets), and pickle made every occurrence of it a new NaN."""
import math
import pickle
import struct

import numpy as np
import pytest

import pyfora
from ufora.engine import nan_identity, serialization

MISSING = float("nan")
RAW = ["1.5", "", "2.5", "nan", ""] * 4_000
MARKS = [MISSING] * 3 + [np.nan, math.nan]
TABLE = {"a": MISSING, "b": 1.0}
SEEN = {MISSING, 2.0}


def parse(s):
    return MISSING if s == "" else float(s)


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_a_nan_held_twice_is_one_object_again_with_its_bits():
    odd = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\xff")[0]  # a negative NaN with a payload
    value = [MISSING, 1.0, MISSING, odd, odd, {"k": MISSING}, (MISSING,)]
    back = serialization.loads(serialization.dumps(value))
    assert back[0] is back[2] is back[5]["k"] is back[6][0] and back[0] is not MISSING
    assert back[3] is back[4] and bits(back[3]) == bits(odd) and back[1] == 1.0


def test_numpy_s_and_math_s_nan_arrive_as_the_reader_s_own():
    back = serialization.loads(serialization.dumps([np.nan, math.nan, np.nan]))
    assert back[0] is np.nan and back[2] is np.nan and back[1] is math.nan


@pytest.mark.parametrize("length", [3, 1_000])  # item by item, and whole
def test_a_list_of_floats_keeps_its_nans_and_its_other_values(length):
    values = [float(i) - 0.5 for i in range(length)]
    values[1] = values[2] = MISSING
    values[0] = -0.0
    shared = [values, {"again": values}]
    back = serialization.loads(serialization.dumps(shared))
    assert back[0] is back[1]["again"]
    assert back[0][1] is back[0][2] and math.isnan(back[0][1])
    assert bits(back[0][0]) == bits(-0.0) and back[0][3:] == values[3:]


def test_a_pickle_without_nans_is_not_marked():
    assert b"nan_identity" not in serialization.dumps([1.0, math.inf, -math.inf, 2.5, "G\x7f\xf0"])
    assert nan_identity.may_hold(pickle.dumps([1.0, MISSING], protocol=5))
    assert b"nan_identity" in serialization.dumps([1.0, MISSING])


def test_the_writer_gets_its_own_nans_back_through_the_reader():
    """As a block does: the client's free variables read on the cluster, a value made there
    from them pickled back, and read by the client referring to its own objects."""
    client = {"missing": MISSING, "marks": [MISSING, MISSING]}
    data, _, written = serialization.dumps_written(client)
    cluster, read = serialization.loads_read(data)
    theirs = cluster["missing"]
    made = [theirs] * 40 + [1.0, cluster["marks"][0], float("nan")]
    pickled, buffers, _ = serialization.dumps_out_of_band(made, 1 << 20, theirs=read.nan_key)
    back = serialization.loads_referring(pickled, written, buffers)
    assert back.count(MISSING) == 41 and back[0] is MISSING and back[-1] is not MISSING


def local_run(data):
    vals = [parse(s) for s in RAW]
    inside = (MISSING in MARKS, MARKS.count(MISSING), MARKS.count(np.nan), TABLE["a"] is MISSING, MISSING in SEEN)
    data.append(MISSING)
    return vals, inside


def facts(vals, inside, data):
    return (vals.count(MISSING), sum(1 for v in vals if v is MISSING), len(set(vals)), np.nan in vals,
            data.count(MISSING), inside)


def test_a_block_on_the_cluster_counts_and_finds_a_nan_marker_as_cpython(ufora):
    """A user's trial: ``vals.count(MISSING)`` gave 0 for 8,000, a set of the values 8,002 items
    for 3, the client's list the block appended the marker to lost it."""
    here_data = [1.0, MISSING]
    expected = facts(*local_run(here_data), here_data)
    data = [1.0, MISSING]
    with ufora.remotely.onCluster().downloadAll():
        vals = [parse(s) for s in RAW]
        inside = (MISSING in MARKS, MARKS.count(MISSING), MARKS.count(np.nan), TABLE["a"] is MISSING, MISSING in SEEN)
        data.append(MISSING)
    assert facts(vals, inside, data) == expected == (8_000, 8_000, 4_003, False, 2, (True, 3, 1, True, True))


@pytest.mark.parametrize("code, expected", [
    ("result = len({r for r in readings})", 41),
    ("result = sum(1 for r in readings if r is MISSING)", 10_000),
    ("result = len({r: 0 for r in mixed})", 42),
])
def test_a_shape_over_items_holding_one_nan_object_twice_runs_where_it_is(code, expected):
    """Split, each partition's items would be other objects (a set of the readings kept 10,040
    values where CPython keeps 41): such a shape runs serially, and its report says why."""
    from tests.test_shapes import engine

    prelude = ("MISSING = float('nan')\n"
               "readings = [MISSING if i % 5 == 0 else float(i % 50) for i in range(50_000)]\n"
               "mixed = readings + ['x']\n")
    got, reports = engine(prelude + code)
    assert got == ("ok", expected)
    assert "one NaN object at several places" in reports[-1].reason or "its functions one" in reports[-1].reason, \
        reports[-1]


def test_a_zipped_or_enumerated_list_holding_one_nan_object_twice_runs_where_it_is():
    from tests.test_shapes import engine

    prelude = ("MISSING = float('nan')\n"
               "readings = [MISSING if i % 5 == 0 else float(i % 50) for i in range(50_000)]\n")
    for code, expected in [("result = sum(1 for i, r in enumerate(readings) if r is MISSING)", 10_000),
                           ("result = len({r for r, j in zip(readings, range(50_000))})", 41)]:
        got, reports = engine(prelude + code)
        assert got == ("ok", expected), code
        assert "NaN" in reports[-1].reason, reports[-1]
