"""``pyfora.datasets`` (issue 17's parallel import): ``read_csv`` cut into pieces gives the table
pyarrow reads from the whole file (types, nulls, quotes, line ends, errors), ``read_npy`` and
``read_parquet`` the library's own; split on the cluster's runner as a user's comprehension is,
and ``executor.importDataset`` end to end on a real service."""
import gzip
import os

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv
import pyarrow.parquet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyfora
from pyfora import datasets
from tests.inline_block import value_and_reports


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 64 bytes: a file of a few lines is cut into many."""
    monkeypatch.setattr(datasets, "PIECE_BYTES", 64)


def pyarrows(*paths) -> pd.DataFrame:
    tables = [pyarrow.csv.read_csv(str(path)) for path in paths]
    return (tables[0] if len(tables) == 1 else pyarrow.concat_tables(tables, promote_options="permissive")).to_pandas()


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def same_as_pyarrow(path) -> pd.DataFrame:
    ours = datasets.read_csv(str(path))
    pd.testing.assert_frame_equal(ours, pyarrows(path), check_exact=True)
    return ours


@pytest.mark.parametrize("late, kind", [
    ("2.5", "float64"),     # ints, then a float: the whole column is double
    ("true", "bool"),       # ints 1 and 0, then a bool: the ints were bools (pyarrow's order)
    ("x7", "str"),          # then a word: strings, and the numbers their text
    ("", "float64"),        # a piece of empty values infers null: ints with a null (float64 in pandas)
])
def test_a_column_is_of_the_type_pyarrow_infers_from_the_whole_file(tmp_path, small_pieces, late, kind):
    lines = [f"{i % 2},{i}" for i in range(60)] + [f"{late},60"] + [f"{i % 2},{i}" for i in range(61, 120)]
    path = write(tmp_path / "data.csv", "a,b\n" + "\n".join(lines) + "\n")
    assert len(datasets._csv_pieces(str(path), ["a", "b"])) >= 8
    assert str(same_as_pyarrow(path)["a"].dtype) == kind


@pytest.mark.parametrize("text", [
    "a,b\r\n" + "".join(f"{i},x{i}\r\n" for i in range(100)),                  # CRLF
    "a,b\r" + "".join(f"{i},x{i}\r" for i in range(100)),                      # CR alone: one piece
    "\ufeffa,b\n" + "".join(f"{i},{i / 3!r}\n" for i in range(100)),           # a byte-order mark
    "a,b\n" + "".join(f"{i},\"x, {i}\"\n" for i in range(100)),                 # quoted commas
    "a,b\n" + "".join(f"{i},\"say \"\"{i}\"\"\"\n" for i in range(100)),        # doubled quotes
    "a,b\n" + "".join(f"{i},\"x\n{i}\"\n" for i in range(100)),                 # a quoted line break: read whole
    "a,b\n" + "".join(f"{i},{i}\n\n\n" for i in range(100)),                   # blank lines
    "a,b\n" + "".join(f"{i},{i}\n" for i in range(100)) + "100,100",           # no last line feed
    "a,\"b\nc\"\n" + "".join(f"{i},{i}\n" for i in range(100)),                # a header over two lines
    "d,t\n" + "".join(f"2020-01-{1 + i % 28:02d},2020-01-01T00:00:{i % 60:02d}\n" for i in range(100)),
    "t\n" + "".join(f"2020-01-01T00:00:{i % 60:02d}\n" for i in range(50)) + "2020-01-01T00:00:00.5\n"
    + "".join(f"2020-01-01T00:00:{i % 60:02d}\n" for i in range(50)),         # s, then ns
    "t\n" + "".join(f"2020-01-01T00:00:{i % 60:02d}Z\n" for i in range(50)) + "2020-01-01\n",  # with a zone: whole
    "a,b\n" + "".join(f"{i},{'null' if i % 7 else i}\n" for i in range(100)),   # nulls by name
    "a\n" + "".join(f"{2 ** 62 + i}\n" for i in range(50)) + "1.5\n",          # int64 past 2**53, then double
    "a,a\n" + "".join(f"{i},{i}\n" for i in range(50)) + "1.5,x\n",           # two columns of one name
    "a,b\n" + "".join(f"{i},{i}\n" for i in range(40)) + "99,\"x\ny,z\"\n"
    + "".join(f"{i},{i}\n" for i in range(40)),                              # a quoted break whose tail parses
    "\na,b\n" + "".join(f"{i},{i}\n" for i in range(20)) + "a,b\n"
    + "".join(f"{i},{i}\n" for i in range(20)),                              # a blank first line, a header again
    "a,b\n" + "".join(f"{i},5\" screen\n" for i in range(60)),               # a stray quote: read whole
])
def test_lines_cut_into_pieces_give_the_whole_file_s_table(tmp_path, small_pieces, text):
    same_as_pyarrow(write(tmp_path / "data.csv", text))


@pytest.mark.parametrize("text", [
    "a,b\n" + "".join(f"{i},{i}\n" for i in range(100)) + "17\n" + "1,2\n" * 20,   # a short line
    "a,b\n" + "".join(f"{i},{i}\n" for i in range(100)) + "1,2,3\n",               # a long one
    "",                                                                             # nothing at all
])
def test_a_malformed_file_raises_what_pyarrow_raises(tmp_path, small_pieces, text):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(pyarrow.ArrowInvalid) as theirs:
        pyarrow.csv.read_csv(str(path))
    with pytest.raises(pyarrow.ArrowInvalid) as ours:
        datasets.read_csv(str(path))
    assert str(ours.value) == str(theirs.value)


_FIELDS = st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1).map(str), st.floats(allow_nan=False).map(repr),
                    st.sampled_from(["", "true", "False", "1", "0", "null", "NA", "nan", "-inf", "2021-03-04",
                                     "12:30:00", "2021-03-04 05:06:07", "x", "\"q, r\"", "\"\"", " 7 "]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_FIELDS, _FIELDS), min_size=1, max_size=60), ends=st.sampled_from(["\n", "\r\n"]))
def test_any_file_of_such_fields_reads_as_pyarrow_reads_it_whole(tmp_path, small_pieces, rows, ends):
    path = write(tmp_path / "data.csv", "a,b" + ends + "".join(f"{a},{b}{ends}" for a, b in rows))
    try:
        expected = pyarrows(path)
    except pyarrow.ArrowInvalid as theirs:
        with pytest.raises(pyarrow.ArrowInvalid) as ours:
            datasets.read_csv(str(path))
        assert str(ours.value) == str(theirs.value)
        return
    pd.testing.assert_frame_equal(datasets.read_csv(str(path)), expected, check_exact=True)


def test_files_are_concatenated_in_order_as_pyarrow_concatenates_them(tmp_path, small_pieces):
    first = write(tmp_path / "part-1.csv", "a,b\n" + "".join(f"{i},x{i}\n" for i in range(50)))
    second = write(tmp_path / "part-2.csv", "a,b\n" + "".join(f"{i / 4},y{i}\n" for i in range(50)))
    frame = datasets.read_csv(str(tmp_path / "part-*.csv"))
    pd.testing.assert_frame_equal(frame, pyarrows(first, second), check_exact=True)
    assert str(frame["a"].dtype) == "float64" and frame["b"].iloc[50] == "y0"
    pd.testing.assert_frame_equal(datasets.read_csv([str(second), first]), pyarrows(second, first))


@pytest.mark.parametrize("piece_bytes", [9, 64, 4 << 20])
def test_a_quoted_line_break_on_a_cut_reads_as_pyarrow_reads_it(tmp_path, monkeypatch, piece_bytes):
    """A review's case: pyarrow takes a quote left open at a piece's end, and the rest of the
    value parsed as a row of its own (``thanks, bye"``), so both pieces passed a row count."""
    monkeypatch.setattr(datasets, "PIECE_BYTES", piece_bytes)
    rows = "".join(f"{i},plain comment {i}\n" for i in range(300_000 if piece_bytes > 64 else 30))
    same_as_pyarrow(write(tmp_path / "c.csv", "id,comment\n" + rows + '999999,"Hello,\nthanks, bye"\n' + rows))


def test_a_file_named_twice_is_read_twice_and_a_name_with_brackets_is_a_name(tmp_path, small_pieces):
    path = write(tmp_path / "a[1].csv", "a,b\n" + "".join(f"{i},{i}\n" for i in range(50)))
    write(tmp_path / "a1.csv", "a,b\n9,9\n")
    pd.testing.assert_frame_equal(datasets.read_csv([str(path), str(path)]), pyarrows(path, path))
    pd.testing.assert_frame_equal(datasets.read(str(path)), pyarrows(path))
    pd.testing.assert_frame_equal(datasets.read(str(tmp_path / "*.csv")), pyarrows(tmp_path / "a1.csv", path))


def test_a_utf16_file_fails_as_pyarrow_fails(tmp_path):
    path = write(tmp_path / "w.csv", "a,b\n1,2\n", encoding="utf-16")
    with pytest.raises(pyarrow.ArrowInvalid) as theirs:
        pyarrow.csv.read_csv(str(path))
    with pytest.raises(pyarrow.ArrowInvalid) as ours:
        datasets.read_csv(str(path))
    assert str(ours.value) == str(theirs.value)


def test_a_compressed_file_is_read_whole_by_pyarrow(tmp_path, small_pieces):
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(200))).encode()))
    assert datasets._csv_pieces(str(path), []) == [(str(path), 0, path.stat().st_size, [])]
    pd.testing.assert_frame_equal(datasets.read_csv(str(path)), pyarrows(path))
    pd.testing.assert_frame_equal(datasets.read(str(path)), pyarrows(path))


def test_npy_files_load_and_concatenate_as_numpy_does(tmp_path):
    arrays = [np.arange(i * 10, i * 10 + 10, dtype=np.int32).reshape(5, 2) for i in range(3)]
    for i, array in enumerate(arrays):
        np.save(tmp_path / f"part-{i}.npy", array)
    one = datasets.read_npy(str(tmp_path / "part-0.npy"))
    assert one.dtype == np.int32 and np.array_equal(one, arrays[0])
    every = datasets.read_npy(str(tmp_path / "part-*.npy"))
    assert every.dtype == np.int32 and np.array_equal(every, np.concatenate(arrays))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        datasets.read_npy(str(tmp_path / "objects.npy"))


def test_parquet_files_read_as_pyarrow_reads_them(tmp_path):
    for i in range(2):
        pyarrow.parquet.write_table(pyarrow.table({"a": [i, i + 1], "s": ["x", None]}), tmp_path / f"p{i}.parquet")
    expected = pyarrow.concat_tables([pyarrow.parquet.read_table(tmp_path / f"p{i}.parquet")
                                      for i in range(2)]).to_pandas()
    pd.testing.assert_frame_equal(datasets.read_parquet(str(tmp_path / "*.parquet")), expected)
    pd.testing.assert_frame_equal(datasets.read(str(tmp_path / "*.parquet")), expected)


@pytest.mark.parametrize("given, error, message", [
    ("/nonexistent/ufora-data.csv", FileNotFoundError,
     "[Errno 2] no such file where this runs (a path the workers can read): '/nonexistent/ufora-data.csv'"),
    ("/nonexistent/*.csv", FileNotFoundError,
     "[Errno 2] no such file where this runs (a path the workers can read): '/nonexistent/*.csv'"),
    (b"/x.csv", TypeError, "a path is a str or an os.PathLike, not bytes"),
    ([], ValueError, "no files given"),
])
def test_what_names_no_file_says_so(given, error, message):
    with pytest.raises(error) as raised:
        datasets.read(given)
    assert str(raised.value) == message
    if error is FileNotFoundError:
        assert raised.value.errno == 2 and raised.value.filename == given


def test_the_kind_is_told_by_the_name_s_end(tmp_path):
    write(tmp_path / "a.csv", "a\n1\n")
    write(tmp_path / "b.txt", "a\n1\n")
    np.save(tmp_path / "c.npy", np.zeros(2))
    with pytest.raises(ValueError, match="several kinds"):
        datasets.read([str(tmp_path / "a.csv"), str(tmp_path / "c.npy")])
    with pytest.raises(ValueError, match="told by its name's end"):
        datasets.read(str(tmp_path / "b.txt"))
    with pytest.raises(IsADirectoryError, match="a folder, not a file: name its files"):
        datasets.read(str(tmp_path))


def test_on_the_cluster_s_runner_the_pieces_are_split_and_the_frame_is_the_same(tmp_path):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"i": np.arange(400_000), "x": rng.random(400_000), "s": [f"n{j % 97}" for j in range(400_000)]})
    frame.to_csv(tmp_path / "big.csv", index=False)
    assert os.path.getsize(tmp_path / "big.csv") > 2 * datasets.PIECE_BYTES
    got, reports = value_and_reports("with cluster:\n    frame = pyfora.read_csv(path)\n",
                                     {"pyfora": pyfora, "path": str(tmp_path / "big.csv")}, "frame")
    pd.testing.assert_frame_equal(got, pyarrows(tmp_path / "big.csv"), check_exact=True)
    assert any(r.parallel and r.source.startswith("objects(") and r.partitions >= 2 for r in reports), reports


def test_import_dataset_keeps_the_frame_on_the_cluster_and_a_block_reads_it_there(ufora, tmp_path):
    path = write(tmp_path / "data.csv", "a,b\n" + "".join(f"{i},{i / 8}\n" for i in range(10_000)))
    proxy = ufora.importDataset(str(path)).result()
    assert isinstance(proxy, pyfora.RemotePythonObject)
    with ufora.remotely.downloadAll():
        total = float(proxy["b"].sum())
    assert total == float(pyarrows(path)["b"].sum())
    pd.testing.assert_frame_equal(proxy.toLocal().result(), pyarrows(path))
    with ufora.remotely.onCluster().downloadAll():
        again = pyfora.read_csv(str(path))
    pd.testing.assert_frame_equal(again, pyarrows(path))


def test_import_dataset_of_no_file_fails_naming_it_as_here(ufora):
    proxy = ufora.importDataset("/nonexistent/ufora-*.npy").result()
    with pytest.raises(FileNotFoundError, match=r"no such file where this runs .*'/nonexistent/ufora-\*.npy'"):
        proxy.toLocal().result()


def test_on_an_embedded_cluster_relative_paths_start_from_the_client_s_folder(tmp_path, monkeypatch):
    """A user's trial: the workers started in the folder of ``connect()``, so after an
    ``os.chdir`` a block there read another file than the same block run here."""
    for folder, value in (("one", 1), ("two", 2)):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder / "data.csv", f"a\n{value}\n")
    monkeypatch.chdir(tmp_path / "one")
    with pyfora.connect(progress=False) as ufora:
        for folder, value in (("two", 2), ("one", 1)):
            monkeypatch.chdir(tmp_path / folder)
            with ufora.remotely.onCluster().downloadAll():
                where = os.getcwd()
                with open("data.csv") as file:
                    text = file.read()
                frame = pyfora.read_csv("data.csv")
            assert (where, text, frame["a"].tolist()) == (str(tmp_path / folder), f"a\n{value}\n", [value])
            assert ufora.importDataset("data.csv").result().toLocal().result()["a"].tolist() == [value]
        for index in range(40):  # read by partitions, in other processes: the folder is the task's too
            np.save(tmp_path / "one" / f"p{index}.npy", np.full(50_000, float(index)))
        with ufora.remotely.onCluster().downloadAll():
            sums = [float(np.load(f"p{index}.npy").sum()) for index in range(40)]
            os.chdir("..")  # the block's own change of folder is the caller's afterwards, as here
        assert sums == [index * 50_000.0 for index in range(40)] and os.getcwd() == str(tmp_path)
