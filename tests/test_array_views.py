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
