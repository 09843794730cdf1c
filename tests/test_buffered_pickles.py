"""engine.buffered_pickles: a block's free variables pickled with their large buffers after the
pickle, read back equal, with the same flags, writable where the client's were."""
import math
import mmap

import numpy as np
import pandas as pd
import pytest

from ufora.engine import buffered_pickles, serialization


def _round_trip(values, writable_memory=True):
    data, _, _ = serialization.dumps_written(values, sharing=True, nans=True, out_of_band=True)
    assert isinstance(data, buffered_pickles.Buffered)
    joined = data.joined()
    assert len(joined) == len(data) and b"".join(bytes(p) for p in buffered_pickles.Parts(data)) == joined
    laid_out = joined  # as the pipe's bytes, else as a segment's page-aligned private mapping
    if writable_memory:
        laid_out = mmap.mmap(-1, len(joined))
        laid_out[:] = joined
    read, _ = serialization.loads_read(memoryview(laid_out) if writable_memory else laid_out)
    return read, laid_out


def test_large_arrays_go_after_the_pickle_and_come_back_equal_and_writable():
    frozen = np.arange(300_000.0)
    frozen.flags.writeable = False
    values = {"c": np.arange(1_000_000.0), "f": np.asfortranarray(np.ones((600, 400))), "frozen": frozen,
              "strided": np.arange(2_000_000.0)[::2], "small": np.arange(10), "raw": bytearray(b"x" * (2 << 20)),
              "frame": pd.DataFrame({"a": np.arange(200_000.0), "b": np.arange(200_000)}),
              "nan": math.nan, "nans": [math.nan, 1.0]}
    for writable_memory in (True, False):
        read, laid_out = _round_trip(values, writable_memory)
        for name in ("c", "f", "frozen", "strided", "small"):
            assert read[name].dtype == values[name].dtype and np.array_equal(read[name], values[name])
            assert read[name].flags.writeable == values[name].flags.writeable
        assert read["f"].flags.f_contiguous and not read["f"].flags.c_contiguous
        assert read["raw"] == values["raw"] and type(read["raw"]) is bytearray
        assert read["frame"].equals(values["frame"])
        assert math.isnan(read["nan"]) and read["nans"][0] is read["nan"]  # one NaN object, as sent
        read["c"][0] = -1.0  # the block's own copy: what it arrived in is left as it was
        assert values["c"][0] == 0.0
    # read from memory it may write, the arrays lie in it, uncopied
    assert np.shares_memory(read["c"], np.frombuffer(laid_out, np.uint8)) is False  # bytes: copied
    read, laid_out = _round_trip(values, writable_memory=True)
    assert np.shares_memory(read["c"], np.frombuffer(laid_out, np.uint8))
    assert read["c"].ctypes.data % buffered_pickles.ALIGN == 0


def test_small_values_stay_one_pickle():
    data, _, _ = serialization.dumps_written({"x": np.arange(1000), "s": "text"}, out_of_band=True)
    assert isinstance(data, bytes) and not buffered_pickles.is_buffered(data)


def test_a_layout_cut_short_is_refused():
    data, _, _ = serialization.dumps_written({"c": np.arange(1_000_000.0)}, out_of_band=True)
    with pytest.raises(ValueError, match="cut short"):
        serialization.loads_read(data.joined()[:-8])
