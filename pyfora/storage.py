"""Where pyfora.datasets finds files: paths of this machine's file system, or URLs of object stores
(``s3://bucket/key``) through fsspec (``s3fs`` installed: ``pip install ufora[s3]``), with the
store's usual settings (for S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``... in the caller's environment, which a block carries to the workers:
``engine.process_settings``). One function per question the readers ask,
so that they read the same way wherever the file is."""
from __future__ import annotations

import glob
import os
from typing import IO, TYPE_CHECKING, Any, List, Tuple

if TYPE_CHECKING:
    import pyarrow


def is_url(path: str) -> bool:
    return "://" in path


def _store(url: str) -> Tuple[Any, str]:
    """(the fsspec file system of ``url``, the path in it)."""
    import fsspec

    return fsspec.core.url_to_fs(url)


def expand(name: str) -> List[str]:
    """The files ``name`` names: itself where that exists (``a[1].csv`` is a name too), else a
    glob's matches in sorted order (none: empty); this machine's as absolute paths."""
    if not is_url(name):  # absolute: a piece read in another process reads this file, wherever that process is
        matches = sorted(glob.glob(name)) if glob.has_magic(name) and not os.path.exists(name) else [name]
        return [os.path.join(os.getcwd(), match) for match in matches]  # (not normalised: link/.. is the OS's)
    store, path = _store(name)
    protocol = name.split("://", 1)[0]
    matches = sorted(store.glob(path)) if glob.has_magic(path) and not store.exists(path) else [path]
    return [f"{protocol}://{match}" for match in matches]


def is_folder(path: str) -> bool:
    return not is_url(path) and os.path.isdir(path)


def is_file(path: str) -> bool:
    if not is_url(path):
        return os.path.isfile(path)
    store, inner = _store(path)
    return bool(store.isfile(inner))


def size(path: str) -> int:
    if not is_url(path):
        return os.path.getsize(path)
    store, inner = _store(path)
    return int(store.size(inner))


def open_binary(path: str) -> IO[bytes]:
    """The file for reading bytes, seekable."""
    if not is_url(path):
        return open(path, "rb")
    store, inner = _store(path)
    return store.open(inner, "rb")


def read_range(path: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of the file (no ``open()``: the engine splits no shape calling it)."""
    if is_url(path):
        store, inner = _store(path)
        return bytes(store.cat_file(inner, start=start, end=end))
    import pyarrow

    with pyarrow.OSFile(path) as file:
        return file.read_at(end - start, start)


def csv_table(path: str) -> "pyarrow.Table":
    """``pyarrow.csv.read_csv`` of the whole file (decompressed by its name's end: ``.csv.gz``)."""
    import pyarrow.csv

    if not is_url(path):
        return pyarrow.csv.read_csv(path)
    import fsspec

    with fsspec.open(path, "rb", compression="infer") as file:
        return pyarrow.csv.read_csv(file)


def parquet_table(path: str) -> "pyarrow.Table":
    import pyarrow.parquet

    if not is_url(path):
        return pyarrow.parquet.read_table(path)
    store, inner = _store(path)
    return pyarrow.parquet.read_table(inner, filesystem=store)


def npy_array(path: str) -> Any:
    """``numpy.load`` of the file (an array of objects refused, as ``numpy.load`` refuses it)."""
    import numpy

    if not is_url(path):
        return numpy.load(path)
    with open_binary(path) as file:
        return numpy.load(file)


def s3_text(bucket: str, key: str) -> str:
    """The text of an S3 object (the original pyfora's ``importS3Dataset``)."""
    with open_binary(f"s3://{bucket}/{key}") as file:
        return file.read().decode()


def write_s3_text(text: str, bucket: str, key: str) -> None:
    """Write ``text`` as an S3 object (the original pyfora's ``exportS3Dataset``)."""
    if not isinstance(text, str):
        raise TypeError(f"exportS3Dataset writes a str, not {type(text).__name__}")
    store, inner = _store(f"s3://{bucket}/{key}")
    store.pipe_file(inner, text.encode())
