"""Remote objects spilled to disk: one file per object in the worker's spill folder
(``UFORA_SPILL_DIR``), written by the worker service (``net.objects``) when the objects it holds
in memory pass their share of the worker's memory.

An object's buffers (its pickle, then its large buffers) lie in the file at page-aligned
offsets, so a compute process maps each one read-only straight from the file (``map_region``)
and the data channel serves views of it: the pages are the file's cache, which the kernel
reclaims when memory is short, where a /dev/shm segment's pages stay in RAM until unlinked.
"""
from __future__ import annotations

import contextlib
import mmap
import os
import re
import threading
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ufora.engine import shm

Region = Tuple[str, int, int]  # (file, offset, size): one buffer of a spilled object
_NAME = re.compile(r"(\d+)_[0-9a-f]{32}")  # <worker service pid>_<object key>


def _aligned(offset: int) -> int:
    return -(-offset // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY


class Abandoned(Exception):
    """The spill was given up (the service stops) while it was written: its file is gone."""


_PIECE = 64 << 20  # bytes written between two looks at whether the spill was given up


def write(path: str, buffers: Sequence[Any], abandoned: Optional[threading.Event] = None) -> List[Tuple[int, int]]:
    """Write ``buffers`` (bytes-like) into a new file ``path`` (never an existing one; readable
    by its owner alone), each at a page-aligned offset; their (offset, size). Runs in a thread:
    a spill of gigabytes must not hold the service's event loop. Once ``abandoned`` is set, the
    file is removed and ``Abandoned`` raised, at the latest when the write ends."""
    regions = []
    offset = 0
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            for buffer in buffers:
                view = memoryview(buffer).cast("B")
                file.seek(offset)  # the gap before an aligned offset is a hole: never written, never read
                for start in range(0, view.nbytes, _PIECE):
                    if abandoned is not None and abandoned.is_set():
                        raise Abandoned(path)
                    file.write(view[start:start + _PIECE])
                regions.append((offset, view.nbytes))
                offset = _aligned(offset + view.nbytes)
        if abandoned is not None and abandoned.is_set():
            raise Abandoned(path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return regions


def map_region(path: str, offset: int, size: int) -> memoryview:
    """A read-only view of ``size`` bytes of ``path`` from ``offset`` (page-aligned, as
    ``write`` placed them); the mapping lasts as long as views of it do, and outlives the
    file's name (a release unlinks it while a block may still read it)."""
    if size == 0:
        return memoryview(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        mapping = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=offset)
    finally:
        os.close(fd)
    shm.remember(mapping, size, path, offset)  # a shape over its array hands the pool the file's name
    return memoryview(mapping)


def map_range(path: str, first: int, last: int) -> memoryview:
    """A read-only view of bytes [first, last) of spill file ``path``, at any offsets (the
    mapping starts at the page below ``first``)."""
    base = first - first % mmap.ALLOCATIONGRANULARITY
    return map_region(path, base, last - base)[first - base:]


def map_array(path: str, offset: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The read-only array of ``shape`` and ``dtype`` at ``offset`` (any) of spill file ``path``:
    what a partition over a spilled remote object's array reads."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return np.ndarray(shape, dtype, buffer=map_range(path, offset, offset + nbytes))


def is_file(name: str) -> bool:
    """Whether a name ``shm.find`` answers is a spill file's (its path), not a segment's."""
    return name.startswith("/")


def still_there(name: str) -> bool:
    """Whether the segment or spill file ``name`` has not been freed since it was mapped."""
    return os.path.exists(name if is_file(name) else f"/dev/shm/{name}")


def owned_here(path: str) -> bool:
    """A spill file of this worker service (what its data channel may serve ranges of)."""
    match = _NAME.fullmatch(os.path.basename(path))
    return bool(match) and os.path.isabs(path) and int(match.group(1)) == os.getpid()


def file_name(folder: str, key: str) -> str:
    """The file of remote object ``key`` of this worker service in ``folder``."""
    return os.path.join(folder, f"{os.getpid()}_{key}")


def owner(name: str) -> Optional[int]:
    """The worker service a spill file's name says wrote it, or None if it is not one."""
    match = _NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def in_memory(folder: str) -> bool:
    """Whether ``folder`` lies on a file system held in RAM (tmpfs, ramfs): spilling there
    frees nothing."""
    real = os.path.realpath(folder)
    best, kind = "", ""
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return False
    return kind in ("tmpfs", "ramfs")
