"""Large numpy arrays a task's functions capture travel by the name of a shared segment.

A shape's source array already travels by name (``engine.sources.ArraySource.export``). But an
element that reads another array (``[X[lo:lo + n].T @ X[lo:lo + n] for lo in range(0, N, n)]``,
a lookup table, a model's weights) carried it inside the task's pickle: an 800 MB matrix was
800 MB sent from the block's process to the worker service and on to every compute process, on
the service's event loop (held 7.7 s: the manager took the worker for lost, and the block failed
after three tries). From ``BY_NAME_BYTES`` such an array is pickled as the name of the segment
it lies in (a remote object's, read where it lies, or the file of one spilled to disk), or of a
copy made for the task, and mapped read-only where the task is decoded.

Such a task stays on its worker (another host cannot map the segment) and is not compiled
(numba copies a global array into the kernel's code: seconds and as many bytes on disk for
every run, since the copy's name, and so the kernel's key, is new each time).
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from ufora.engine import shm, spill_files

BY_NAME_BYTES = 64 << 20


class ByName:
    """The arrays one task's pickler sent by name (``reduce``, its ``reducer_override`` for
    arrays), and the copies it made for them, released by ``release`` once the task is done."""

    kind = np.ndarray  # the pickler asks ``reduce`` about objects of exactly this type

    def __init__(self, copying: bool = True) -> None:
        """``copying`` False: only count, as the cost model does (``copied``: the bytes a task
        would copy into segments of its own)."""
        self.bytes = 0
        self.copied = 0
        self._copying = copying
        self._copies: List[Any] = []

    def reduce(self, array: Any) -> Any:
        """The reduction of ``array`` by name, or NotImplemented (pickled as usual): arrays of
        numbers of at least ``BY_NAME_BYTES`` laid out in C or Fortran order, exactly ``np.ndarray``."""
        if type(array) is not np.ndarray or array.nbytes < BY_NAME_BYTES or array.dtype.hasobject:
            return NotImplemented
        transposed = not array.flags.c_contiguous
        laid = array.T if transposed else array
        if not laid.flags.c_contiguous:
            return NotImplemented
        self.bytes += array.nbytes
        return _mapped, (*self._segment_of(laid), laid.dtype.str, laid.shape, transposed)

    def _segment_of(self, laid: np.ndarray) -> Tuple[str, int]:
        """(segment name, offset) of a C-ordered array: the remote object's segment it lies in, or
        a copy's."""
        found = shm.find(laid.ctypes.data, laid.nbytes)
        if found is not None and spill_files.still_there(found[0]):
            return found
        self.copied += laid.nbytes
        if not self._copying:
            return "", 0
        segment = shm.create(laid.nbytes)
        np.ndarray(laid.shape, laid.dtype, buffer=segment.buf)[...] = laid
        self._copies.append(segment)
        return segment.name, 0

    def release(self) -> None:
        """Unlink the copies (processes that mapped them keep their mappings while they need them)."""
        for segment in self._copies:
            shm.release(segment, unlink=True)
        self._copies.clear()


def not_compiled_because(by_name_bytes: int) -> Optional[str]:
    """Why a task that sends ``by_name_bytes`` of arrays by name is not compiled, if it sends any."""
    if not by_name_bytes:
        return None
    return (f"not compiled: its functions read {by_name_bytes / 2**20:.0f} MiB of arrays, which numba would copy "
            f"into the kernel")


def _mapped(name: str, offset: int, dtype: str, shape: Tuple[int, ...], transposed: bool) -> np.ndarray:
    """The array a ``ByName`` reduction names, mapped read-only in this process."""
    kind = np.dtype(dtype)
    if spill_files.is_file(name):
        array = spill_files.map_array(name, offset, shape, kind)
    else:
        nbytes = offset + kind.itemsize * int(np.prod(shape, dtype=np.int64))
        array = np.ndarray(shape, kind, buffer=shm.map_readonly(name, nbytes), offset=offset)
    return array.T if transposed else array
