"""Which pages of a copy-on-write mapping this process has written: ``/proc/self/pagemap``.

A block's large free arrays are read in the segment they arrived in, mapped copy-on-write
(``engine.buffered_pickles``, ``engine.shm.map_private``). Whether the block changed one was
told by a SHA-256 of its bytes before and after it (``engine.array_digests``): 35 ms of a 100 ms
block for a 32 MB table it only read. A page of such a mapping that the process never wrote is
still the segment's own page, the file's bytes; the kernel says which are private copies (the
pagemap's "file page" bit clear on a present page, or a page swapped out). So an array whose
pages are all the file's is as it arrived, told in a read of 8 bytes a page; where some were
written, only those are compared with the file's bytes (``engine.shm.same_as_arrived``).

The bits are checked once per process on a mapping of its own (``works``): where the kernel does
not tell them so (no pagemap, other semantics), nothing is taken from it.
"""
from __future__ import annotations

import mmap
import os
import tempfile
from typing import List, Optional, Tuple

import numpy as np

PAGE = mmap.PAGESIZE
_PRESENT, _SWAPPED, _FILE = np.uint64(1 << 63), np.uint64(1 << 62), np.uint64(1 << 61)
_works: Optional[bool] = None


def written_runs(address: int, nbytes: int) -> Optional[List[Tuple[int, int]]]:
    """The runs of pages of ``[address, address + nbytes)`` that this process's copy-on-write
    mapping holds its own copies of, as (first byte, end byte) relative to ``address``, clipped
    to the range; None where the pagemap cannot be read or cannot be trusted (``works``)."""
    if not works():
        return None
    if nbytes <= 0:
        return []
    first, last = address // PAGE, (address + nbytes - 1) // PAGE
    entries = _entries(first, last - first + 1)
    if entries is None:
        return None
    private = ((entries & _PRESENT) != 0) & ((entries & _FILE) == 0) | ((entries & _SWAPPED) != 0)
    runs = []
    for start, end in _runs(np.flatnonzero(private)):
        lo = max(0, (first + start) * PAGE - address)
        hi = min(nbytes, (first + end) * PAGE - address)
        runs.append((lo, hi))
    return runs


def _runs(indexes: np.ndarray) -> List[Tuple[int, int]]:
    """Consecutive indexes as (first, end) pairs."""
    if len(indexes) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indexes) != 1)
    starts = np.concatenate([[indexes[0]], indexes[breaks + 1]])
    ends = np.concatenate([indexes[breaks], [indexes[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _entries(first_page: int, count: int) -> Optional[np.ndarray]:
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.pread(fd, 8 * count, 8 * first_page)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != 8 * count:
        return None
    return np.frombuffer(data, np.uint64)


def works() -> bool:
    """Whether this kernel's pagemap tells written pages of a private file mapping from the
    file's own, checked once on a file of two pages: one read, one written, one never touched."""
    global _works
    if _works is None:
        _works = _self_test()
    return _works


def _self_test() -> bool:
    try:
        with tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as file:
            file.write(b"\1" * (3 * PAGE))
            file.flush()
            mapping = mmap.mmap(file.fileno(), 3 * PAGE, flags=mmap.MAP_PRIVATE,
                                prot=mmap.PROT_READ | mmap.PROT_WRITE)
            try:
                view = np.frombuffer(mapping, np.uint8)
                address = view.ctypes.data
                int(view[0])  # read: the file's page
                view[PAGE] = 2  # written: a private copy
                global _works
                _works = True  # for the look below
                runs = written_runs(address, 3 * PAGE)
                del view
            finally:
                mapping.close()
        return runs == [(PAGE, 2 * PAGE)]
    except Exception:  # noqa: BLE001 - any failure: the pagemap is not used
        return False
