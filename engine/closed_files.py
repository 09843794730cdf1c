"""A closed file travels as a closed file of the same type, name and mode.

``with open(path) as f: rows = [int(line) for line in f]`` leaves ``f`` bound to a closed file,
and a block sends back every name it binds: pickle refuses files, open or closed, so the whole
block failed ("the value of 'f' (TextIOWrapper) cannot be sent back to the client: Cannot
pickle closed files"). A closed file holds nothing but its name, mode and encoding, so it is
rebuilt on the other side as a file of ``os.devnull`` opened the same way, named as the
original, and closed: its type, ``name``, ``mode``, ``encoding`` and ``closed`` are the
original's, and reading it raises CPython's "I/O operation on closed file.". An open file
still cannot travel (it would not be the caller's file: ``pyfora.unpicklable`` names it).
"""
from __future__ import annotations

import io
import os
from typing import Any, Optional, Tuple

# the types ``open()`` makes, and the in-memory ones, which a closed copy is made as
_FILE_TYPES = (io.TextIOWrapper, io.BufferedReader, io.BufferedWriter, io.BufferedRandom, io.FileIO)
_MEMORY_TYPES = (io.StringIO, io.BytesIO)
TYPES = frozenset(_FILE_TYPES + _MEMORY_TYPES)  # what a pickler asks ``reduction`` about


def reduction(file: Any) -> Optional[Tuple[Any, tuple]]:
    """How to pickle ``file`` if it is a closed file of a type ``open()`` makes (or a closed
    ``StringIO``/``BytesIO``), else None."""
    kind = type(file)
    if kind in _MEMORY_TYPES and file.closed:
        return _closed_memory, (kind,)
    if kind not in _FILE_TYPES or not file.closed:
        return None
    mode = getattr(file, "mode", "rb")
    return _closed_file, (kind, getattr(file, "name", os.devnull), mode if isinstance(mode, str) else "rb",
                          getattr(file, "encoding", None), getattr(file, "errors", None))


def _closed_file(kind: type, name: Any, mode: str, encoding: Optional[str], errors: Optional[str]) -> Any:
    opened_mode = mode.replace("x", "w")  # os.devnull exists: exclusive creation would fail
    unbuffered = kind is io.FileIO
    if unbuffered and "b" not in opened_mode:
        opened_mode += "b"
    text = {} if "b" in opened_mode else {"encoding": encoding, "errors": errors}
    file = open(os.devnull, opened_mode, buffering=0 if unbuffered else -1, **text)
    raw = file if unbuffered else getattr(file, "buffer", file).raw
    raw.name = name
    file.close()
    return file


def _closed_memory(kind: type) -> Any:
    file = kind()
    file.close()
    return file
