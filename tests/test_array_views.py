"""engine.array_views: arrays among a block's free variables that share memory arrive sharing it."""
import numpy as np
import pytest

from ufora.engine import array_views, serialization


def _round_trip(values: dict) -> dict:
    data, _, _ = serialization.dumps_written(values, sharing=True)
    return serialization.loads(data)


def test_views_arrive_as_views_of_what_they_view():
    base, grid, fortran = np.arange(100.0), np.arange(12.0).reshape(3, 4), np.asfortranarray(np.ones((3, 4)))
    sent = {"base": base, "view": base[10:], "back": base[::-3], "grid": grid, "column": grid[:, 1],
            "fortran": fortran, "row": fortran[1], "other": np.arange(5)}
    got = _round_trip(sent)
    for name, array in sent.items():
        assert np.array_equal(got[name], array) and got[name].strides == array.strides, name
        assert got[name].dtype == array.dtype and got[name].flags.writeable, name
    got["base"][15] = -1.0
    got["grid"][2, 1] = -2.0
    got["fortran"][1, 3] = -3.0
    assert (got["view"][5], got["back"][28], got["column"][2], got["row"][3]) == (-1.0, -1.0, -2.0, -3.0)
    assert got["fortran"].flags.f_contiguous and not np.shares_memory(got["other"], got["base"])


def test_overlapping_views_without_their_base_share_the_bytes_they_span():
    whole = np.arange(1_000_000.0)
    first, second = whole[:100], whole[50:150]
    data, _, _ = serialization.dumps_written({"first": first, "second": second}, sharing=True)
    assert len(data) < 2_000  # the 150 items they span, not the 8 MB they are views of
    got = serialization.loads(data)
    got["first"][60] = -1.0
    assert got["second"][10] == -1.0 and np.array_equal(got["second"][11:], second[11:])


def test_read_only_arrays_and_byte_orders_keep_their_flags():
    frozen = np.frombuffer(np.arange(10.0).astype(">f8").tobytes(), dtype=">f8")
    got = _round_trip({"frozen": frozen, "part": frozen[2:5]})
    assert not got["frozen"].flags.writeable and not got["part"].flags.writeable
    assert got["part"].dtype == np.dtype(">f8") and got["part"].tolist() == [2.0, 3.0, 4.0]


@pytest.mark.parametrize("values", [
    {"evens": np.arange(10.0)[::2]},  # one array: nothing to share
    {"a": np.arange(10.0), "b": np.arange(10.0)},  # two arrays, no memory shared
    {"objects": np.array([1, "a"], dtype=object), "again": np.array([1, "a"], dtype=object)[:1]},
])
def test_arrays_that_share_nothing_travel_as_before(values):
    assert array_views.plan(values.values()) == {}


def test_interleaved_views_that_share_no_item_travel_apart():
    whole = np.arange(10.0)
    assert array_views.plan([whole[::2], whole[1::2]]) == {}
    assert len(array_views.plan([whole[::2], whole[::4]])) == 2  # these do share


def test_views_inside_tuples_lists_and_objects_share_memory_with_free_arrays():
    """A user's trial: ``pair = (base[2:], log)`` arrived apart from ``base``, and the write-back
    of ``pair`` undid the block's ``base[3] = 7``."""
    class Model:
        def __init__(self, weights):
            self.weights = weights

    base = np.zeros(8)
    got = _round_trip({"base": base, "pair": (base[2:], []), "rows": [base[:4]], "model": Model(base[1:3])})
    got["base"][3] = 7.0
    assert got["pair"][0][1] == 7.0 and got["rows"][0][3] == 7.0 and got["model"].weights[1] == 0.0
    got["model"].weights[1] = 5.0
    assert got["base"][2] == 5.0


def test_a_view_written_through_of_a_base_made_read_only_since_travels_apart():
    base = np.zeros(8)
    view = base[2:]
    base.flags.writeable = False
    assert array_views.plan([base, view]) == {}
    got = _round_trip({"base": base, "view": view})
    got["view"][0] = -1.0  # as in CPython: the view is writeable still
    assert not got["base"].flags.writeable


def test_arrays_made_apart_on_one_buffer_travel_apart():
    """Two ``np.frombuffer`` arrays on one ``bytes``, overlapping, neither covering the other:
    the host was cut from the wrong root, and the block failed (a user's trial)."""
    raw = np.arange(10.0).tobytes()
    low, high = np.frombuffer(raw, np.float64, count=6), np.frombuffer(raw, np.float64, offset=32)
    got = _round_trip({"low": low, "high": high})
    assert got["low"].tolist() == low.tolist() and got["high"].tolist() == high.tolist()


def test_slices_spanning_far_more_memory_than_they_hold_travel_apart():
    """A review: ``big[::100]`` and ``big[:500]`` share memory, and sending the span of ``big``
    they cover made an 80 MB pickle of 0.8 MB of arrays."""
    big = np.arange(10_000_000.0)
    assert array_views.plan([big[::100], big[:500]]) == {}
    data, _, _ = serialization.dumps_written({"sample": big[::100], "head": big[:500]}, sharing=True)
    assert len(data) < 1_000_000
