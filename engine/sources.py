"""Sources: the iterable of a parallel shape, as an index space [0, length) that any process can
read any slice of.

* ``RangeSource``: a ``range`` (any start, stop, step); item i is ``start + i * step``.
* ``ArraySource``: a numpy array (item i is ``a[i]``: an element, or a row of a 2-D array), or a
  list/tuple whose items are all ``int`` (within int64), all ``float`` or all ``bool``, held as
  an array. Arrays over ``SHARED_BYTES`` are copied once into shared memory by the driver
  (``export``) and attached by name in the pool; smaller ones travel inside the task.
* ``ObjectSource``: any other list or tuple: CPython only, items pickled with the task.

Compiled kernels read items with ``item_expression`` from their two source arguments; CPython
partitions use ``items(lo, hi)``, which yields exactly what iterating the original object
yields: numpy scalars (or row views) for arrays, Python numbers for lists held as arrays.
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

import numpy as np

from engine import shm

SHARED_BYTES = 1 << 20
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


class RangeSource:
    kind = "range"
    item_expression = "a0 + i * a1"

    def __init__(self, values: range):
        self.start, self.step, self.length = values.start, values.step, len(values)

    @property
    def compilable(self) -> bool:
        last = self.start + (self.length - 1) * self.step if self.length else self.start
        return INT64_MIN <= min(self.start, last) and max(self.start, last) <= INT64_MAX

    def kernel_arguments(self) -> Tuple[Any, Any]:
        return self.start, self.step

    def items(self, lo: int, hi: int) -> Iterable:
        return range(self.start + lo * self.step, self.start + hi * self.step, self.step)

    def export(self) -> list:
        return []

    def describe(self) -> str:
        return f"range({self.start}, step {self.step}, {self.length} items)"


class ArraySource:
    kind = "array"
    item_expression = "a0[i]"
    compilable = True

    def __init__(self, array: np.ndarray, python_items: bool):
        self.array: Optional[np.ndarray] = array
        self.python_items = python_items  # built from a list: CPython items are Python numbers
        self.length = len(array)
        self._shared: Optional[Tuple[str, str, tuple]] = None
        self._segment = None

    def export(self) -> list:
        """Move a large array into shared memory; the segments the driver must release."""
        if self.array is None or self.array.nbytes <= SHARED_BYTES:
            return []
        segment = shm.create(self.array.nbytes)
        view = np.ndarray(self.array.shape, self.array.dtype, buffer=segment.buf)
        view[...] = self.array
        del view
        self._shared = (segment.name, self.array.dtype.str, self.array.shape)
        return [segment]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__, _segment=None)
        if self._shared is not None:
            state["array"] = None
        return state

    def _attached(self) -> np.ndarray:
        if self.array is None:
            name, dtype, shape = self._shared
            self._segment = shm.attach(name)
            self.array = np.ndarray(shape, np.dtype(dtype), buffer=self._segment.buf)
        return self.array

    def close(self) -> None:
        """Drop an attached shared array (pool side)."""
        if self._segment is not None:
            self.array = None
            shm.release(self._segment)
            self._segment = None

    def kernel_arguments(self) -> Tuple[Any, Any]:
        return self._attached(), 0

    def items(self, lo: int, hi: int) -> Iterable:
        part = self._attached()[lo:hi]
        return part.tolist() if self.python_items else part

    def describe(self) -> str:
        where = "shared" if self._shared else "inline"
        return f"array({self.length} items, {np.dtype(self._dtype()).name}, {where})"

    def _dtype(self) -> str:
        return self._shared[1] if self._shared else self.array.dtype.str


class ObjectSource:
    kind = "objects"
    item_expression = ""
    compilable = False

    def __init__(self, values: List[Any]):
        self.values = values
        self.length = len(values)

    def items(self, lo: int, hi: int) -> Iterable:
        return self.values[lo:hi]

    def export(self) -> list:
        return []

    def describe(self) -> str:
        return f"objects({self.length} items)"


_NUMERIC_KINDS = "biuf"


def _homogeneous_array(values) -> Optional[np.ndarray]:
    """The list as an int64, float64 or bool array when every item is exactly that type."""
    if not values:
        return None
    first = type(values[0])
    if first not in (int, float, bool) or any(type(v) is not first for v in values):
        return None
    if first is int and not all(INT64_MIN <= v <= INT64_MAX for v in values):
        return None
    return np.array(values, dtype={int: np.int64, float: np.float64, bool: np.bool_}[first])


def source_for(iterable: Any):
    """The source for ``iterable``, or None when it is not one the engine splits."""
    if isinstance(iterable, range):
        return RangeSource(iterable)
    if isinstance(iterable, np.ndarray):
        if iterable.ndim >= 1 and iterable.dtype.kind in _NUMERIC_KINDS:
            return ArraySource(np.ascontiguousarray(iterable), python_items=False)
        return None
    if type(iterable) in (list, tuple):
        array = _homogeneous_array(iterable)
        return ArraySource(array, python_items=True) if array is not None else ObjectSource(list(iterable))
    return None
