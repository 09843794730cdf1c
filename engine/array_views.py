"""Arrays among a block's free variables that share memory arrive sharing it.

In the caller, ``view = base[10:]`` is a window on ``base``'s memory. Pickled one by one, the two
arrived on the cluster as two arrays: a block that wrote ``base[15] = 1.0`` then read the old
value through ``view`` (a user's trial: a wrong sum, and no warning). Here the arrays among the
free variables whose memory overlaps are grouped (``plan``), and each group's memory travels
once: as the group's array that covers all of it, when one does (``base``, pickled as usual),
else as the bytes the group spans; every other array of the group travels as a view into it,
with its offset, shape, strides and dtype, so writes through either are seen through both.

Only arrays that are free variables themselves are grouped, not arrays inside lists, tuples or
objects: a block's free variables are a few names, and looking into every value would cost a
pass over every list on every block.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

import numpy as np
from numpy.lib.array_utils import byte_bounds

_MAX_WORK = 10_000  # np.shares_memory's bound on its search; past it, arrays are taken to share


def plan(values: Iterable[Any]) -> Dict[int, tuple]:
    """{id(array): its reduction as a view} for the arrays among ``values`` that share memory with
    another of them, but for the one their group travels as (pickled as usual). The reductions
    hold the objects they refer to, so their ids stay theirs while the plan lives."""
    arrays = list({id(v): v for v in values if type(v) is np.ndarray and v.size and not v.dtype.hasobject}.values())
    if len(arrays) < 2:
        return {}
    by_memory: Dict[int, List[np.ndarray]] = {}
    for array in arrays:
        by_memory.setdefault(id(_memory_of(_root(array))), []).append(array)
    found: Dict[int, tuple] = {}
    for group in by_memory.values():
        for overlapping in _overlapping(group):
            found.update(_as_views(overlapping))
    return found


def _root(array: np.ndarray) -> np.ndarray:
    """The last array in the chain of ``array``'s bases (the one whose memory it is a view of)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _memory_of(root: np.ndarray) -> Any:
    """What holds ``root``'s memory: itself, or the buffer it was made on (bytes, an mmap)."""
    return root if root.base is None else root.base


def _shares(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.shares_memory(a, b, max_work=_MAX_WORK))
    except np.exceptions.TooHardError:
        return True


def _overlapping(group: List[np.ndarray]) -> List[List[np.ndarray]]:
    """The sets of two or more arrays of ``group`` linked by shared memory (``a[:10]`` and
    ``a[5:]`` share; ``a[::2]`` and ``a[1::2]`` do not, and travel apart as before)."""
    parent = list(range(len(group)))

    def top(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(group)):
        for j in range(i + 1, len(group)):
            if top(i) != top(j) and _shares(group[i], group[j]):
                parent[top(j)] = top(i)
    linked: Dict[int, List[np.ndarray]] = {}
    for i, array in enumerate(group):
        linked.setdefault(top(i), []).append(array)
    return [arrays for arrays in linked.values() if len(arrays) > 1]


def _as_views(arrays: List[np.ndarray]) -> Dict[int, tuple]:
    """The reductions of ``arrays`` (sharing memory) as views into one host: the array among them
    that is all of their memory, laid out in order, else the bytes they span (of their root, if it
    is laid out in order; else nothing: they travel apart, as before)."""
    bounds = [byte_bounds(array) for array in arrays]
    low, high = min(b[0] for b in bounds), max(b[1] for b in bounds)
    host = next((array for array, b in zip(arrays, bounds) if b == (low, high) and _laid_out(array)), None)
    if host is None:
        root = _root(arrays[0])
        start = byte_bounds(root)[0]
        if not _laid_out(root):
            return {}
        host = (root if root.flags.c_contiguous else root.T).reshape(-1).view(np.uint8)[low - start:high - start]
    return {id(array): (_view_into, (host, *_placement(array, host))) for array in arrays if array is not host}


def _laid_out(array: np.ndarray) -> bool:
    """Whether ``array``'s items fill its memory in C or Fortran order (it can be a buffer)."""
    return bool(array.flags.c_contiguous or array.flags.f_contiguous)


def _placement(array: np.ndarray, host: np.ndarray) -> Tuple[int, Tuple[int, ...], np.dtype, Tuple[int, ...], bool]:
    offset = array.__array_interface__["data"][0] - host.__array_interface__["data"][0]
    return offset, array.shape, array.dtype, array.strides, bool(array.flags.writeable)


def _view_into(host: np.ndarray, offset: int, shape: Tuple[int, ...], dtype: np.dtype, strides: Tuple[int, ...],
               writeable: bool) -> np.ndarray:
    """The array ``_as_views`` reduced: a view into ``host``'s memory where it was."""
    view = np.ndarray(shape, dtype, buffer=host if host.flags.c_contiguous else host.T, offset=offset, strides=strides)
    if not writeable:
        view.flags.writeable = False
    return view
