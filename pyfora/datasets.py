"""pyfora.datasets: files read in parallel where the block runs (issue 17's parallel import).

``read_csv``, ``read_parquet`` and ``read_npy`` take a path, a glob or a list of paths that the
workers can read, or URLs of an object store (``s3://bucket/data-*.csv``: ``pyfora.storage``).
They are written as a user writes a loop the cluster speeds up: a list comprehension over the
pieces of the files. In a block on the cluster the engine splits it over the cores and workers
(``engine.showcase``); anywhere else it runs as written, in order. So the value is the same
wherever it is made, and it is the one the plain library call gives:

- ``read_csv``: ``pyarrow.csv.read_csv`` of each file, concatenated (``pyarrow.concat_tables``,
  permissive: an int64 column of one file and a double one of another make a double one), as
  pandas (``.to_pandas()``). A file over ``PIECE_BYTES`` is cut into pieces at line ends and each piece
  parsed on its own; a column's type is then the one pyarrow infers reading the whole file (it
  tries null, int64, bool, double, date, time, timestamp, string, binary in turn and keeps the
  first that every value converts to), so pieces that inferred different types are parsed again
  with that type. Where the pieces cannot give the whole file's table (a quoted value holding a
  line break, a malformed line, a type outside that list, a compressed file), the file is read
  whole, as pyarrow reads it: the same table, or the same error.
- ``read_parquet``: ``pyarrow.parquet.read_table`` of each file, concatenated as ``read_csv``'s
  are, as pandas.
- ``read_npy``: ``numpy.load`` of each file; several are concatenated along the first axis.
"""
from __future__ import annotations

import errno
import itertools
import os
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # imported where a file is read: importing pyfora must not import them
    import numpy
    import pandas
    import pyarrow

from pyfora import storage

Paths = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]

PIECE_BYTES = 4 << 20  # smaller pieces cost more to hand out than their parse takes
MAX_PIECES_PER_FILE = 64

# pyarrow's inference order (arrow/cpp/src/arrow/csv/inference_internal.h): a column's type is
# the first of these that all its values convert to
_INFERENCE_ORDER = ("null", "int64", "bool", "double", "date32[day]", "time32[s]", "timestamp[s]",
                    "timestamp[ns]", "string", "binary")


class _ReadWhole(Exception):
    """A file's pieces cannot give its whole table: read it whole, as pyarrow does."""


def files_of(paths: Paths) -> List[str]:
    """The files named: a path, a glob (its matches in sorted order) or a list of either. Nothing
    matched is a ``FileNotFoundError`` naming what was asked for."""
    if isinstance(paths, (bytes, bytearray)):
        raise TypeError(f"a path is a str or an os.PathLike, not {type(paths).__name__}")
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not given:
        raise ValueError("no files given")
    found: List[str] = []
    for one in given:
        name = os.fspath(one)
        if not isinstance(name, str):
            raise TypeError(f"a path is a str, not {type(name).__name__}")
        matches = storage.expand(name)
        missing = name if not matches else next((path for path in matches if not storage.is_file(path)), None)
        if missing is not None and storage.is_folder(missing):
            raise IsADirectoryError(errno.EISDIR, f"a folder, not a file: name its files (a glob such as "
                                                  f"{os.path.join(missing, '*')!r})", missing)
        if missing is not None:
            raise FileNotFoundError(errno.ENOENT, "no such file where this runs (a path the workers can read)",
                                    missing if matches else name)
        found.extend(matches)
    return found


def read_csv(paths: Paths) -> "pandas.DataFrame":
    """The CSV files as one DataFrame: ``pyarrow.csv.read_csv`` of each, concatenated as
    ``pyarrow.concat_tables(..., promote_options="permissive")`` does, as pandas."""
    return _csv_files(files_of(paths))


def read_parquet(paths: Paths) -> "pandas.DataFrame":
    """The Parquet files as one DataFrame: ``pyarrow.parquet.read_table`` of each, concatenated as
    ``pyarrow.concat_tables(..., promote_options="permissive")`` does, as pandas."""
    return _parquet_files(files_of(paths))


def read_npy(paths: Paths) -> "numpy.ndarray":
    """The .npy files as one array: ``numpy.load`` of each (arrays of objects refused, as it
    refuses them), concatenated along the first axis when there are several."""
    return _npy_files(files_of(paths))


def read(paths: Paths) -> Union["pandas.DataFrame", "numpy.ndarray"]:
    """The files read by their kind, told by the name's end: ``.csv`` (compressed too:
    ``.csv.gz``...), ``.parquet`` (or ``.pq``), ``.npy``; all of one kind."""
    files = files_of(paths)
    kinds = {_kind(path) for path in files}
    if len(kinds) > 1:
        raise ValueError(f"the files are of several kinds ({', '.join(sorted(kinds))}): import each kind apart")
    reader = {"csv": _csv_files, "parquet": _parquet_files, "npy": _npy_files}[kinds.pop()]
    return reader(files)


def _csv_files(files: List[str]) -> "pandas.DataFrame":
    headers = [_csv_header(path) for path in files]
    cuts = [_csv_pieces(path, names) for path, names in zip(files, headers)]
    pieces = [piece for cut in cuts for piece in cut]
    tables = [_parse_piece(piece) for piece in pieces]  # the parallel part
    ends = list(itertools.accumulate(len(cut) for cut in cuts))
    whole = [_file_table(tables[end - len(cut):end], cut) for cut, end in zip(cuts, ends)]
    return _concatenated(whole).to_pandas()


def _parquet_files(files: List[str]) -> "pandas.DataFrame":
    return _concatenated([storage.parquet_table(path) for path in files]).to_pandas()


def _npy_files(files: List[str]) -> "numpy.ndarray":
    import numpy

    arrays = [storage.npy_array(path) for path in files]
    return arrays[0] if len(arrays) == 1 else numpy.concatenate(arrays)


def _kind(path: str) -> str:
    lowered = path.lower()
    stem, _, last = lowered.rpartition(".")
    if last in _COMPRESSED and stem.endswith(".csv"):
        return "csv"
    for ending, kind in ((".csv", "csv"), (".parquet", "parquet"), (".pq", "parquet"), (".npy", "npy")):
        if lowered.endswith(ending):
            return kind
    raise ValueError(f"{path!r}: the kind of a file is told by its name's end: .csv (or .csv.gz ...), .parquet, "
                     ".pq or .npy")


_COMPRESSED = ("gz", "bz2", "lz4", "zst")  # the endings pyarrow decompresses a CSV by


# -- CSV in pieces ---------------------------------------------------------------------------

Piece = Tuple[str, int, int, List[str]]  # a file, a byte range of it ending at a line's end, the column names


def _csv_header(path: str) -> List[str]:
    """The column names pyarrow reads from the file's first line (a byte-order mark skipped, quotes
    understood)."""
    import pyarrow
    import pyarrow.csv

    if not _cut_into_pieces(path):
        return []  # read whole: pyarrow reads its names
    with storage.open_binary(path) as file:
        first = file.readline()
    try:
        return list(pyarrow.csv.read_csv(pyarrow.BufferReader(first.rstrip(b"\r\n") + b"\n")).column_names)
    except (pyarrow.ArrowInvalid, UnicodeDecodeError):
        return []  # an empty file, UTF-16: read whole, pyarrow's table or error is the file's


def _cut_into_pieces(path: str) -> bool:
    """A file named otherwise than ``.csv`` may be compressed (pyarrow tells by the name's end:
    ``.csv.gz``, ``.csv.bz2`` ...): it is read whole."""
    return path.lower().endswith(".csv")


def _csv_pieces(path: str, names: List[str]) -> List[Piece]:
    """Byte ranges that together are the file, each ending just after a line feed (or at the
    file's end); the first holds the header line."""
    size = storage.size(path)
    if not _cut_into_pieces(path) or size <= PIECE_BYTES or not names:  # (no names: a blank first line...)
        return [(path, 0, size, names)]
    count = min(MAX_PIECES_PER_FILE, -(-size // PIECE_BYTES))
    bounds = [0]
    with storage.open_binary(path) as file:
        for index in range(1, count):
            file.seek(max(size * index // count, bounds[-1]))
            file.readline()  # to the end of the line the cut fell in
            bounds.append(min(file.tell(), size))
    bounds.append(size)
    return [(path, start, end, names) for start, end in zip(bounds, bounds[1:]) if end > start]


def _parse_piece(piece: Piece, types: Optional[dict] = None) -> Optional["pyarrow.Table"]:
    """The table of one piece, or None where the piece cannot stand for its lines (its file is then
    read whole): a file read whole anyway, a parse error (whose row number would be the piece's),
    a quoted value holding a line break (pyarrow's own blocks decide where such a row ends)."""
    import pyarrow
    import pyarrow.csv

    path, start, end, names = piece
    if not _cut_into_pieces(path):
        return None
    data = storage.read_range(path, start, end)
    if b'"' in data and _odd_quotes(data):
        return None
    read_options = pyarrow.csv.ReadOptions(column_names=names) if start else pyarrow.csv.ReadOptions()
    try:
        return pyarrow.csv.read_csv(pyarrow.BufferReader(data), read_options=read_options,
                                    convert_options=pyarrow.csv.ConvertOptions(column_types=types or {}))
    except pyarrow.ArrowInvalid:
        return None


def _odd_quotes(data: bytes) -> bool:
    """Whether a line holds an odd number of quotes: the first line of a quoted value holding a
    line break does (a quote inside one is doubled), and so may a stray quote (``5" screen``),
    for which the file is read whole though its pieces would do."""
    return any(line.count(b'"') % 2 for line in data.splitlines())


def _file_table(tables: List[Optional["pyarrow.Table"]], pieces: List[Piece]) -> "pyarrow.Table":
    """One file's table from its pieces' (``_with_whole_file_types``), else read whole."""
    import pyarrow

    parsed = [table for table in tables if table is not None]
    try:
        if len(parsed) < len(tables) or any(table.column_names != parsed[0].column_names for table in parsed):
            raise _ReadWhole  # (other names: a header whose quoted name holds a line break)
        fixed = _with_whole_file_types(parsed, pieces)
        return fixed[0] if len(fixed) == 1 else pyarrow.concat_tables(fixed)  # one schema now
    except _ReadWhole:
        return storage.csv_table(pieces[0][0])


def _with_whole_file_types(tables: List["pyarrow.Table"], pieces: List[Piece]) -> List["pyarrow.Table"]:
    """The pieces' tables with each column of the type pyarrow infers from all its values: the
    latest in its inference order of the types the pieces inferred. Pieces of another type are
    parsed again with it (as pyarrow converts its earlier blocks again when a later one needs a
    wider type)."""
    names = tables[0].column_names
    wanted = {}
    for column, name in enumerate(names):
        kinds = {str(table.schema.field(column).type) for table in tables}
        if len(kinds) > 1:
            if not kinds <= set(_INFERENCE_ORDER) or names.count(name) > 1:
                raise _ReadWhole  # (a type is given by name: not to one of two columns of one name)
            wanted[name] = max(kinds, key=_INFERENCE_ORDER.index)
    fixed = list(tables)
    for index, table in enumerate(tables):
        if any(str(table.schema.field(name).type) != kind for name, kind in wanted.items()):
            again = _parse_piece(pieces[index], _types(wanted))
            if again is None:
                raise _ReadWhole  # a value does not convert to that type: the whole file's type is a later one
            fixed[index] = again
    return fixed


def _types(wanted: dict) -> dict:
    import pyarrow

    return {name: pyarrow.date32() if kind == "date32[day]" else pyarrow.type_for_alias(kind)
            for name, kind in wanted.items()}


def _concatenated(tables: List["pyarrow.Table"]) -> "pyarrow.Table":
    """The files' tables one after another (a file alone as it is), as ``read_csv`` and
    ``read_parquet`` promise."""
    import pyarrow

    return tables[0] if len(tables) == 1 else pyarrow.concat_tables(tables, promote_options="permissive")
