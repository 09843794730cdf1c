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


def sent(value) -> bytes:
    """``value`` pickled as the client sends a block's free variables."""
    return serialization.dumps_written(value, nans=True)[0]


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_a_free_variable_s_nan_held_again_is_one_object_with_its_sign():
    negative = -MISSING  # inf - inf's NaN: the sign bit set
    odd = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\xff")[0]  # a payload Python never makes
    parsed = float("nan")  # a free variable of none: as before
    value = [MISSING, 1.0, MISSING, negative, negative, {"k": MISSING}, (MISSING,), odd, odd, parsed, parsed]
    back = serialization.loads(sent({"MISSING": MISSING, "negative": negative, "odd": odd, "value": value}))
    got = back["value"]
    assert got[0] is got[2] is got[5]["k"] is got[6][0] is back["MISSING"] and got[0] is not MISSING
    assert got[3] is got[4] is back["negative"] and bits(got[3]) == bits(negative) and got[1] == 1.0
    assert bits(got[7]) == bits(odd) == bits(got[8])  # its bits kept; not looked for (two objects, as before)
    assert math.isnan(got[9]) and math.isnan(got[10]) and got[9] is not got[10]


def test_ints_bytes_and_text_are_not_taken_for_nans():
    """A search for any NaN's bits matched in 1M negative ints and in random bytes, which were
    then pickled again, 3-10x slower: only the bits of the NaNs Python makes are looked for."""
    import os

    for value in [list(range(-1, -1_000_000, -1)), [2 ** 62 + i for i in range(0, 10 ** 6, 7)], os.urandom(1 << 22),
                  "G" * 100_000 + "\x7f\xff", np.random.default_rng(5).random(100_000)]:
        assert not nan_identity.may_hold(pickle.dumps(value, protocol=5))


def test_numpy_s_and_math_s_nan_arrive_as_the_reader_s_own():
    back = serialization.loads(sent([np.nan, math.nan, np.nan]))
    assert back[0] is np.nan and back[2] is np.nan and back[1] is math.nan


def test_a_list_of_floats_sent_back_keeps_a_nan_it_holds_twice_and_its_other_values():
    """As the cluster sends a value back: a list of floats goes whole; a NaN it holds twice is
    one object again, one it holds once a NaN of its own, -0.0 stays -0.0."""
    once = float("nan")
    values = [float(i) - 0.5 for i in range(1_000)]
    values[1] = values[2] = MISSING
    values[0], values[5] = -0.0, once
    shared = [values, {"again": values}]
    pickled, buffers, _, _ = serialization.dumps_out_of_band(shared, 1 << 20)
    back = serialization.loads(pickled, buffers=buffers)
    assert back[0] is back[1]["again"]
    assert back[0][1] is back[0][2] and math.isnan(back[0][1]) and math.isnan(back[0][5])
    assert bits(back[0][0]) == bits(-0.0) and back[0][6:] == values[6:] and back[0][3:5] == values[3:5]


def test_a_pickle_without_nans_is_not_marked():
    assert b"nan_identity" not in sent([1.0, math.inf, -math.inf, 2.5, "G\x7f\xf0"])
    assert nan_identity.may_hold(pickle.dumps([1.0, MISSING], protocol=5))
    assert b"nan_identity" in sent([1.0, MISSING])
    assert b"nan_identity" not in serialization.dumps([1.0, MISSING])  # the engine's own messages: as before


def test_the_writer_gets_its_own_nans_back_through_the_reader():
    """As a block does: the client's free variables read on the cluster, a value made there
    from them pickled back, and read by the client referring to its own objects."""
    client = {"missing": MISSING, "marks": [MISSING, MISSING]}
    data, _, written = serialization.dumps_written(client, nans=True)
    cluster, read = serialization.loads_read(data)
    theirs = cluster["missing"]
    made = [theirs] * 40 + [1.0, cluster["marks"][0], float("nan")]
    pickled, buffers, _, _ = serialization.dumps_out_of_band(made, 1 << 20, theirs=read.nan_keys())
    back = serialization.loads_referring(pickled, written, buffers)
    assert back.count(MISSING) == 41 and back[0] is MISSING and back[-1] is not MISSING


def test_a_list_of_floats_with_a_nan_that_the_block_names_again_is_the_client_s_list(ufora):
    """A review: a list of 16 floats or more went whole, as no object of the reader's memo, and
    the block's `ys = xs` came back a copy."""
    xs = [float(i) for i in range(600)]
    xs[3] = MISSING
    holder = {"a": xs}
    with ufora.remotely.onCluster().downloadAll():
        ys = xs
        zs = [xs, 1]
        t = holder["a"]
        n = xs.count(MISSING)
    assert ys is xs and zs[0] is xs and t is xs and n == 1 and ys[3] is MISSING


def test_a_list_read_whole_and_dropped_does_not_lend_its_id_to_a_new_list():
    """A review: the lists read whole were not kept alive with their ids; one the block dropped
    lent its id to a list made as the result was pickled, which came back as the client's list."""
    import gc

    xs = [float(i) for i in range(600)]
    xs[3] = MISSING
    data, _, _ = serialization.dumps_written({"xs": xs, "MISSING": MISSING}, nans=True)
    namespace, read = serialization.loads_read(data)
    del namespace["xs"]
    gc.collect()
    read.ids()
    made = [[float(i), 1.0] for i in range(1_000)]
    assert all(read.number(values) is None for values in made)


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
    assert "NaN object" in reports[-1].reason and not reports[-1].parallel, reports[-1]


def test_a_zipped_or_enumerated_list_holding_one_nan_object_twice_runs_where_it_is():
    from tests.test_shapes import engine

    prelude = ("MISSING = float('nan')\n"
               "readings = [MISSING if i % 5 == 0 else float(i % 50) for i in range(50_000)]\n")
    for code, expected in [("result = sum(1 for i, r in enumerate(readings) if r is MISSING)", 10_000),
                           ("result = len({r for r, j in zip(readings, range(50_000))})", 41)]:
        got, reports = engine(prelude + code)
        assert got == ("ok", expected), code
        assert "NaN" in reports[-1].reason, reports[-1]


def test_a_shape_whose_functions_hold_a_nan_marker_runs_where_its_data_is():
    """A user's trial: rows of a list of lists compared with `is MISSING` in partitions of the
    outer shape (other processes, where the rows' NaNs are other objects) counted 0, 1 run in 5."""
    from tests.test_shapes import engine

    prelude = ("MISSING = float('nan')\n"
               "xs = [MISSING if i % 7 == 0 else i * 0.5 for i in range(5_000)]\n"
               "ys = [MISSING if i % 11 == 0 else i * 0.25 for i in range(5_000)]\n")
    for code, expected in [("result = sum(sum(1 for v in row if v is MISSING) for row in [xs, ys])", 715 + 455),
                           ("result = sum(1 for i in range(5_000) if xs[i] is MISSING)", 715)]:
        got, reports = engine(prelude + code)
        assert got == ("ok", expected), code
        assert all(not report.parallel for report in reports), reports


def test_two_nans_of_the_client_come_back_as_its_own(ufora):
    other = -float("nan")
    with ufora.remotely.onCluster().downloadAll():
        pair = [MISSING, other, MISSING]
        kept = [v for v in [MISSING, 1.0, other] if v != v]
    assert pair[0] is MISSING and pair[1] is other and pair[2] is MISSING
    assert kept[0] is MISSING and kept[1] is other
