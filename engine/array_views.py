"""Arrays among a block's free variables that share memory arrive sharing it.

In the caller, ``view = base[10:]`` is a window on ``base``'s memory. Pickled one by one, the two
arrived on the cluster as two arrays: a block that wrote ``base[15] = 1.0`` then read the old
value through ``view`` (a user's trial: a wrong sum, and no warning). Here the arrays among the
free variables whose memory overlaps are grouped (``plan``), and each group's memory travels
once: as the group's array that covers all of it, when one does (``base``, pickled as usual),
else as the bytes the group spans; every other array of the group travels as a view into it,
with its offset, shape, strides and dtype, so writes through either are seen through both.

The arrays looked at are the free variables that are arrays, and those a little way inside them
(``_arrays_in``: items of tuples, lists and dicts of at most 64 items, attributes of objects, two
levels deep): ``pair = (base[2:], log)`` changed through ``base`` came back stale in ``pair``, and
its write-back undid the block's ``base[3] = 7`` (a user's trial). Larger containers are not
walked: that would cost a pass over every list on every block.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

import numpy as np
from numpy.lib.array_utils import byte_bounds

_MAX_WORK = 10_000  # np.shares_memory's bound on its search; past it, arrays are taken to share
_SPAN_AT_MOST = 2  # times the bytes of the arrays themselves: more memory than that, and they travel apart


def plan(values: Iterable[Any]) -> Dict[int, tuple]:
    """{id(array): its reduction as a view} for the arrays among ``values`` that share memory with
    another of them, but for the one their group travels as (pickled as usual). The reductions
    hold the objects they refer to, so their ids stay theirs while the plan lives."""
    arrays = [v for v in _arrays_in(values) if v.size and not v.dtype.hasobject]
    if len(arrays) < 2:
        return {}
    by_root: Dict[int, List[np.ndarray]] = {}  # (two arrays made on one buffer have two roots: apart)
    for array in arrays:
        by_root.setdefault(id(_root(array)), []).append(array)
    found: Dict[int, tuple] = {}
    for group in by_root.values():
        for overlapping in _overlapping(group):
            found.update(_as_views(overlapping))
    return found


def _root(array: np.ndarray) -> np.ndarray:
    """The last array in the chain of ``array``'s bases (the one whose memory it is a view of)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


_WALKED_ITEMS = 64
_WALKED_DEPTH = 2


def _arrays_in(values: Iterable[Any]) -> List[np.ndarray]:
    """The arrays (exactly ``np.ndarray``) among ``values`` and inside them: items of tuples, lists
    and dicts of at most ``_WALKED_ITEMS`` items, attributes of objects, ``_WALKED_DEPTH`` levels
    down; each once."""
    found: Dict[int, np.ndarray] = {}
    seen = set()
    todo = [(value, 0) for value in values]
    while todo:
        value, depth = todo.pop()
        if type(value) is np.ndarray:
            found.setdefault(id(value), value)
            continue
        if depth >= _WALKED_DEPTH or id(value) in seen:
            continue
        seen.add(id(value))
        inside: Any = ()
        if isinstance(value, (tuple, list)):
            inside = value
        elif isinstance(value, dict):
            inside = value.values()
        elif not isinstance(value, type) and isinstance(_attributes(value), dict):
            inside = vars(value).values()
        if len(inside) <= _WALKED_ITEMS:
            todo.extend((item, depth + 1) for item in inside)
    return list(found.values())


def _attributes(value: Any) -> Any:
    """``value.__dict__``, or None; None too where a ``__getattr__`` of the user's raises for it
    (``self.data[name]``: a KeyError, which ``getattr``'s default does not catch)."""
    try:
        return getattr(value, "__dict__", None)
    except Exception:  # noqa: BLE001 - the user's code: the object has no attributes to walk then
        return None


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
    if high - low > _SPAN_AT_MOST * sum(array.nbytes for array in arrays) + (1 << 20):
        return {}  # ``big[::100]`` and ``big[:500]``: 80 MB of ``big`` to send 0.8 MB (a review)
    host = next((array for array, b in zip(arrays, bounds) if b == (low, high) and _laid_out(array)), None)
    if host is None:
        root = _root(arrays[0])  # (one root for them all: ``plan`` groups them so)
        start = byte_bounds(root)[0]
        if not _laid_out(root):
            return {}
        host = (root if root.flags.c_contiguous else root.T).reshape(-1).view(np.uint8)[low - start:high - start]
    if not host.flags.writeable and any(array.flags.writeable for array in arrays):
        return {}  # a view written through, of a base made read-only since: it would arrive read-only
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
