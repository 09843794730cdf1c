"""``pyfora.pandas_util.read_csv_from_string``: the original's reader (a header line, every column
float), its errors, and its comprehension split on the cluster's runner as a user's is
(``engine.showcase``), with the frame plain Python makes."""
import math
import random

import numpy as np
import pandas as pd
import pytest

import pyfora
from ufora.engine import runtime, serialization
from ufora.engine.block import Block, run_block
from tests.inline_block import variables_of
from ufora.engine.runtime import InlineRunner
from pyfora.pandas_util import read_csv_from_string


def test_the_header_names_float_columns_read_as_pythons_float():
    random.seed(3)
    texts = [repr(random.uniform(-1e6, 1e6)) for _ in range(500)] + ["1e-320", "9007199254740993", "1_000", " 2.5 ",
                                                                     "nan", "-inf", "-0.0", "0.1000000000000000055511"]
    frame = read_csv_from_string("x, y\n" + "\n".join(f"{t},{i}" for i, t in enumerate(texts)) + "\n")
    assert list(frame.columns) == ["x", "y"] and list(frame.dtypes) == [np.float64, np.float64]
    assert [repr(v) for v in frame["x"].tolist()] == [repr(float(t)) for t in texts]
    assert frame["y"].tolist() == [float(i) for i in range(len(texts))]
    assert frame.index.equals(pd.RangeIndex(len(texts)))


def test_empty_fields_are_nan_and_blank_lines_are_skipped():
    frame = read_csv_from_string("a,b\n1,\n\n  \n,2\r\n3,4")
    assert frame.shape == (3, 2) and math.isnan(frame["b"][0]) and math.isnan(frame["a"][1])
    assert frame["b"][2] == 4.0


def test_a_header_alone_is_an_empty_frame_of_float_columns():
    frame = read_csv_from_string("a,b\n")
    assert frame.shape == (0, 2) and list(frame.dtypes) == [np.float64, np.float64]


@pytest.mark.parametrize("text, error, message", [
    ("a,b\n1,2\n3\n", ValueError, "read_csv_from_string: line 3 has 1 fields; the first line names 2 columns"),
    ("a,b\n1,2\n\n3,x7\n", ValueError, "read_csv_from_string: line 4, column 'b': 'x7' is not a number"),
    ("a,b,a\n1,2,3\n", ValueError, "read_csv_from_string: the first line names 'a' twice"),
    ("", ValueError, "read_csv_from_string: the first line must name the columns, and it is empty"),
    (b"a\n1\n", TypeError, "read_csv_from_string reads a str, not bytes"),
])
def test_a_wrong_text_is_an_error_naming_its_line_and_column(text, error, message):
    with pytest.raises(error) as raised:
        read_csv_from_string(text)
    assert str(raised.value) == message


def _run_on_runner(source: str, free: dict):
    pickled, _, _ = serialization.dumps_written(free)
    runtime.reports.clear()
    result = run_block(Block(source, "<csv>", 1, pickled), InlineRunner(processes=2))
    result.take_over()
    return result, list(runtime.reports)


@pytest.mark.parametrize("call", ["pyfora.pandas_util.read_csv_from_string(text)", "read_csv_from_string(text)"])
def test_on_the_cluster_its_lines_are_split_and_the_frame_is_the_same(call):
    rng = np.random.default_rng(4)
    text = "a,b\n" + "\n".join(f"{x!r},{i}" for i, x in enumerate(rng.normal(size=20_000).tolist())) + "\n"
    source = f"with cluster:\n    frame = {call}\n"
    result, reports = _run_on_runner(source, {"text": text, "pyfora": pyfora,
                                              "read_csv_from_string": read_csv_from_string})
    assert result.error is None, result.error.exception()
    frame = variables_of(result)["frame"]
    assert frame.equals(read_csv_from_string(text))
    assert any(r.parallel and r.source.startswith("zip(range(2,") for r in reports), reports


def test_on_the_cluster_a_bad_line_raises_what_it_raises_here():
    text = "a,b\n" + "\n".join(f"{i},{i}" for i in range(20_000)) + "\n17,oops\n" + "1,2\n" * 100
    result, _ = _run_on_runner("with cluster:\n    frame = read_csv_from_string(text)\n",
                               {"text": text, "read_csv_from_string": read_csv_from_string})
    error = result.error.exception()
    assert type(error) is ValueError and str(error) == "read_csv_from_string: line 20002, column 'b': 'oops' is not a number"


def test_a_block_reading_pyfora_reaches_the_readers_shapes():
    """What the client asks before it sends a block (``pyfora.run_here``): ``pyfora`` in the block
    reaches the reader, whose comprehension is a shape, so the block is not one without shapes."""
    from ufora.engine import functions

    found = []
    functions.rewrite_reachable({"pyfora": pyfora}, set(), dry_run=True, found=found)
    # by name: the blocks above ran in this process, which rewrote the module's function in place
    assert "read_csv_from_string" in [fn.__name__ for fn in found]
