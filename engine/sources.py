"""Sources: the iterable of a parallel shape, as an index space [0, length) that any process can
read any slice of.

* ``RangeSource``: a ``range`` (any start, stop, step); item i is ``start + i * step``.
* ``ArraySource``: a numpy array (item i is ``a[i]``: an element, or a row of a 2-D array), or a
  list/tuple whose items are all ``int`` (within int64), all ``float`` or all ``bool``, held as
  an array. Arrays over ``SHARED_BYTES`` are copied once into shared memory by the driver
  (``export``) and attached by name in the pool; smaller ones travel inside the task.
* ``ObjectSource``: any other list or tuple: CPython only, items pickled with the task.
* A pandas ``Series`` of a numpy integer, float or bool dtype (a DataFrame's column: ``df["x"]``)
  is an ``ArraySource`` of its values as int64, float64 or bool: iterating a Series yields Python
  ints, floats and bools, as a list of them does (a uint64 past int64 is an ``ObjectSource``).
  Other Series (nullable, datetime, categorical, text) are not split: they run serially.

* ``ZipSource``: ``zip(a, b, ...)`` of sources (as long as the shortest), and
  ``enumerate(a, start)`` as ``zip(range(start, start + len(a)), a)``; items are tuples. Its
  parts can be zips too (``enumerate(zip(a, b))``): items are then nested tuples.

Compiled kernels receive ``kernel_arguments()`` and bind item i to ``x`` with the code from
``kernel_code()`` (of numba type ``item_type()``); CPython partitions use ``items(lo, hi)``, which
yields exactly what iterating
the original object yields: numpy scalars (or row views) for arrays, Python numbers for lists
held as arrays, tuples for zips.

Another worker cannot attach this host's shared memory. For a partition it computes, its
worker fetches only the bytes of items [lo, hi) of each shared array (``windows()`` says where
they lie) from the data channel of the worker that has them, and ``window(lo, buffers)`` makes
the source read those: an ``ArraySource`` then holds the rows from ``start`` on, and its
kernels index ``a[i - start]``.
"""
from __future__ import annotations

import ast
import collections
import functools
import itertools
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from ufora.engine import shm, spill_files

SHARED_BYTES = 1 << 20
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


Window = Tuple[str, int, int]  # shared segment (or spill file), byte offset of item 0, bytes per item
# Whose the shared memory of an array source is: the driver's own copy, a remote object's
# segment, or a spilled remote object's file.
OWN, KEPT, SPILLED = "own", "kept", "spilled"


class _Source:
    """What every source shares: its kernel code is its item expression bound to ``x``."""
    compilable = False
    numpy_items = False  # whether CPython iterates numpy scalars (engine.checked's origins)

    def windows(self) -> List[Window]:
        """Where the shared arrays this source reads lie (after ``export``), in order."""
        return []

    def window(self, lo: int, buffers: Iterator[Any]) -> None:
        """Read items from ``lo`` on from ``buffers`` (one per ``windows()`` entry) instead of
        shared memory, until ``close``."""

    def kernel_code(self) -> Tuple[str, str]:
        """(kernel parameters, the line binding item i to ``x``)."""
        params, expression = self.item_code("a")
        return ", ".join(params), f"        x = {expression}\n"

    def export(self) -> list:
        return []

    def close(self) -> None:
        pass


class RangeSource(_Source):
    kind = "range"

    def __init__(self, values: range):
        self.start, self.step, self.length = values.start, values.step, len(values)

    @property
    def compilable(self) -> bool:
        last = self.start + (self.length - 1) * self.step if self.length else self.start
        return INT64_MIN <= min(self.start, last) and max(self.start, last) <= INT64_MAX

    def kernel_arguments(self) -> Tuple[Any, ...]:
        return self.start, self.step

    def item_code(self, prefix: str) -> Tuple[List[str], str]:
        """``start + i * step``; ``start + i`` for a step of 1 (its own kernel: no multiply
        per item, which AVX2 has no vector instruction for)."""
        if self.step == 1:
            return [f"{prefix}0", f"{prefix}1"], f"{prefix}0 + i"
        return [f"{prefix}0", f"{prefix}1"], f"{prefix}0 + i * {prefix}1"

    def item_type(self):
        import numba

        return numba.int64

    def items(self, lo: int, hi: int) -> Iterable:
        return range(self.start + lo * self.step, self.start + hi * self.step, self.step)

    def describe(self) -> str:
        return f"range({self.start}, step {self.step}, {self.length} items)"


class ArraySource(_Source):
    kind = "array"
    compilable = True

    def __init__(self, array: np.ndarray, python_items: bool, given: Optional[np.ndarray] = None):
        self.array: Optional[np.ndarray] = array
        self.python_items = python_items  # built from a list: CPython items are Python numbers
        self.numpy_items = not python_items
        self.length = len(array)
        self.start = 0  # the index of array[0]: not 0 only in a window
        # the caller's array, in the driver only (not pickled): a row a partition gives back is its row
        self.given = array if given is None else given
        # where the rows a partition last read lie: (address, bytes, index of the first, a row as
        # ``array[0]``: its shape, strides and dtype)
        self._extent: Optional[Tuple[int, int, int, np.ndarray]] = None
        # (segment name, dtype, shape, offset, whose it is: OWN, KEPT or SPILLED)
        self._shared: Optional[Tuple[str, str, tuple, int, str]] = None
        self._segment = None

    def export(self) -> list:
        """Move a large array into shared memory; the segments the driver must release. An
        array that is a remote object's already lies in a segment: it travels by that name."""
        if self.array is None or self.array.nbytes <= SHARED_BYTES:
            return []
        if self.array.flags.c_contiguous:
            found = shm.find(self.array.ctypes.data, self.array.nbytes)
            if found is not None and spill_files.still_there(found[0]):
                name, offset = found
                whose = SPILLED if spill_files.is_file(name) else KEPT
                self._shared = (name, self.array.dtype.str, self.array.shape, offset, whose)
                return []
        segment = shm.create(self.array.nbytes)
        view = np.ndarray(self.array.shape, self.array.dtype, buffer=segment.buf)
        view[...] = self.array
        del view
        self._shared = (segment.name, self.array.dtype.str, self.array.shape, 0, OWN)
        return [segment]

    def windows(self) -> List[Window]:
        if self._shared is None:
            return []
        name, dtype, shape, offset, _ = self._shared
        return [(name, offset, np.dtype(dtype).itemsize * int(np.prod(shape[1:], dtype=np.int64)))]

    def window(self, lo: int, buffers: Iterator[Any]) -> None:
        if self._shared is not None:
            _, dtype, shape, _, _ = self._shared
            self.array = np.frombuffer(next(buffers), np.dtype(dtype)).reshape((-1, *shape[1:]))
            self.start = lo

    def __getstate__(self) -> dict:
        state = dict(self.__dict__, _segment=None, given=None, _extent=None)
        if self._shared is not None:
            state["array"] = None
        return state

    def _attached(self) -> np.ndarray:
        if self.array is None:
            name, dtype, shape, offset, whose = self._shared
            if whose == SPILLED:  # its pages are the file's: mapped where a partition reads them
                self.array = spill_files.map_array(name, offset, shape, np.dtype(dtype))
                return self.array
            if whose == KEPT:  # a remote object's: mapped read-only, as in its block
                buffer = shm.attach_kept(name)
            else:
                self._segment = shm.attach(name)
                buffer = self._segment.buf
            self.array = np.ndarray(shape, np.dtype(dtype), buffer=buffer, offset=offset)
        return self.array

    def close(self) -> None:
        """Drop an attached shared array or a window (pool side); a remote object's segment
        stays mapped."""
        if self._shared is not None:
            self.array, self.start = None, 0
        if self._segment is not None:
            shm.release(self._segment)
            self._segment = None

    def kernel_arguments(self) -> Tuple[Any, ...]:
        return self._attached(), self.start

    def item_code(self, prefix: str) -> Tuple[List[str], str]:
        return [f"{prefix}0", f"{prefix}1"], f"{prefix}0[i - {prefix}1]"

    def item_type(self):
        import numba

        array = self._attached()
        return numba.typeof(array).dtype if array.ndim == 1 else numba.typeof(array[0])

    def items(self, lo: int, hi: int) -> Iterable:
        array = self._attached()
        if array.ndim > 1 and len(array):
            self._extent = (array.ctypes.data, array.nbytes, self.start, array[0])
        part = array[lo - self.start:hi - self.start]
        return part.tolist() if self.python_items else part

    def row_of(self, value: np.ndarray) -> Optional[int]:
        """The index of the row ``value`` is, if it is one of the rows a partition read here
        (an item of a 2-D array: a view of it, as in CPython)."""
        if self._extent is None or value.ndim == 0 or value.base is None:
            return None
        address, size, start, row = self._extent
        offset = value.__array_interface__["data"][0] - address
        if (0 <= offset < size and offset % row.nbytes == 0 and value.shape == row.shape
                and value.strides == row.strides and value.dtype == row.dtype):
            return start + offset // row.nbytes
        return None

    def describe(self) -> str:
        where = "shared" if self._shared else "inline"
        return f"array({self.length} items, {np.dtype(self._dtype()).name}, {where})"

    def _dtype(self) -> str:
        return self._shared[1] if self._shared else self.array.dtype.str


def array_sources(source: Any) -> List["ArraySource"]:
    """The array sources ``source`` reads: itself, or the parts of a zip."""
    if isinstance(source, ArraySource):
        return [source]
    return [found for part in getattr(source, "parts", ()) for found in array_sources(part)]


class ObjectSource(_Source):
    kind = "objects"

    def __init__(self, values: List[Any]):
        self.values = values
        self.length = len(values)

    def items(self, lo: int, hi: int) -> Iterable:
        return self.values[lo:hi]

    def describe(self) -> str:
        return f"objects({self.length} items)"


class FrameRows:
    """A pandas DataFrame's rows as ``df.apply(f, axis=1)`` hands them to ``f``: each a Series
    of the row's values (of the frame's common dtype) indexed by the columns and named by the
    row's label as iterating the index gives it (a Python int, not numpy's). pandas reuses one
    Series for every row; these are one each, which only a function that keeps or changes its
    row could tell, and such a function is never split (``engine.purity``: a row is an item)."""
    kind = "rows"

    def __init__(self, frame: Any):
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows(0, len(self.frame)))

    def item_classes(self) -> set:
        """The classes of the rows and of what they hold: what ``engine.purity`` checks a
        function's use of."""
        return {type(item) for row in self.rows(0, min(1, len(self))) for item in (row, *_parts(row))}

    def rows(self, lo: int, hi: int) -> List[Any]:
        frame = self.frame
        made = []
        for i, label in zip(range(lo, hi), frame.index[lo:hi]):
            row = frame._ixs(i, axis=0)
            object.__setattr__(row, "_name", label)
            made.append(row)
        return made


def rows_as_pandas_makes_them(frame: Any) -> bool:
    """Whether ``FrameRows`` makes the frame's rows as ``apply`` does: columns of numpy numbers
    whose common dtype is a number's (pandas takes its rows from ``frame.values``; a mix that
    needs an object array there holds Python objects in it, and numpy scalars in a row made
    otherwise: ``row['v'] ** 7`` wrapped in int64)."""
    dtypes = set(frame.dtypes)
    if not dtypes or not all(isinstance(dtype, np.dtype) for dtype in dtypes):
        return False
    kinds = {dtype.kind for dtype in dtypes}
    return kinds <= set("iuf") or (len(dtypes) == 1 and kinds <= set("biuf"))


class FrameTuples(FrameRows):
    """``df.itertuples(index, name)`` in a shape: iterated, pandas' own; split, each partition
    makes its rows as pandas does (the index's and each column's values as iterating them gives,
    as the namedtuple class made once for the whole frame, or plain tuples for ``name=None``)."""
    kind = "itertuples"

    def __init__(self, frame: Any, index: bool = True, name: Optional[str] = "Pandas"):
        super().__init__(frame)
        self.index, self.name = index, name
        fields = (["Index"] if index else []) + list(frame.columns)
        # the class's module is the one pandas' own call gives it (namedtuple takes its caller's:
        # pandas.core.frame), not this one: its repr and pickling name it (a user's trial)
        self.make = None if name is None else collections.namedtuple(
            name, fields, rename=True, module=type(frame).itertuples.__module__)._make

    def __iter__(self) -> Iterator[Any]:
        return iter(self.frame.itertuples(index=self.index, name=self.name))

    def rows(self, lo: int, hi: int) -> List[Any]:
        part = self.frame.iloc[lo:hi]
        arrays = ([part.index] if self.index else []) + [part.iloc[:, k] for k in range(len(part.columns))]
        rows = zip(*arrays, strict=True) if arrays else itertools.repeat((), len(part))
        return list(rows) if self.make is None else list(map(self.make, rows))


class FrameRowPairs(FrameRows):
    """``df.iterrows()`` in a shape: (label, row) pairs, each row a new Series as pandas makes it
    (the row's values, the columns as its index, the label as its name)."""
    kind = "iterrows"

    def __iter__(self) -> Iterator[Any]:
        return self.frame.iterrows()

    def rows(self, lo: int, hi: int) -> List[Any]:
        frame, part = self.frame, self.frame.iloc[lo:hi]
        columns, klass = frame.columns, frame._constructor_sliced
        made = []
        for label, values in zip(part.index, part.values, strict=True):
            row = klass(values, index=columns, name=label).__finalize__(frame)
            made.append((label, row))
        return made


def _parts(row: Any) -> tuple:
    return tuple(row) if isinstance(row, tuple) else ()


class FrameRowsSource(_Source):
    def __init__(self, rows: FrameRows):
        self.rows = rows
        self.kind = rows.kind
        self.length = len(rows)

    def items(self, lo: int, hi: int) -> Iterable:
        return self.rows.rows(lo, hi)

    def describe(self) -> str:
        return f"{self.kind}({self.length} rows of a DataFrame)"


class ZipSource(_Source):
    kind = "zip"
    # numpy_items: whether any part's are (each part's own: ``numpy_parts``)

    def __init__(self, parts: List[Any]):
        self.parts = parts
        self.length = min(part.length for part in parts)
        self.compilable = all(part.compilable for part in parts)
        self.numpy_items = any(part.numpy_items for part in parts)

    def kernel_arguments(self) -> Tuple[Any, ...]:
        return tuple(argument for part in self.parts for argument in part.kernel_arguments())

    def item_code(self, prefix: str) -> Tuple[List[str], str]:
        """The tuple of the parts' items; each part's parameters named after its position."""
        params, expressions = [], []
        for index, part in enumerate(self.parts):
            part_params, expression = part.item_code(prefix + chr(ord("a") + index))
            params += part_params
            expressions.append(expression)
        return params, f"({', '.join(expressions)},)"

    def item_type(self):
        import numba

        return numba.types.Tuple(tuple(part.item_type() for part in self.parts))

    def items(self, lo: int, hi: int) -> Iterable:
        return zip(*(part.items(lo, hi) for part in self.parts))

    def export(self) -> list:
        return [segment for part in self.parts for segment in part.export()]

    def windows(self) -> List[Window]:
        return [window for part in self.parts for window in part.windows()]

    def window(self, lo: int, buffers: Iterator[Any]) -> None:
        for part in self.parts:
            part.window(lo, buffers)

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def describe(self) -> str:
        return f"zip({', '.join(part.describe() for part in self.parts)})"


class Star:
    """An element function (or filter) that takes an item's parts as its arguments:
    ``for i, (a, b) in enumerate(zip(xs, ys))`` (``structure`` "(_, (_, _))": the target with
    its names blanked), ``map(f, a, b)`` ("_, _")."""

    def __init__(self, function, structure: str):
        self.function = function
        self.pattern = unpacking_pattern(structure)


@functools.lru_cache(maxsize=256)
def unpacking_pattern(structure: str) -> str:
    """The structure with the names kernels and unpackers use: "(part0, (part1, part2))" (kept:
    a shape in a function called per item asks it for every call)."""
    counter = iter(range(structure.count("_")))
    return re.sub("_", lambda _: f"part{next(counter)}", structure)


def pattern_names(pattern: str) -> List[str]:
    return re.findall(r"part\d+", pattern)


def numpy_parts(source: Any, pattern: Optional[str]) -> Union[bool, Tuple[Optional[bool], ...]]:
    """Whether CPython's items of ``source`` are numpy scalars (``engine.checked``'s origins);
    for functions that take an item's parts (``pattern``), for each part, in the order of
    ``pattern_names``: a zip's parts each their own (``enumerate(a)``: a Python int, then a's
    scalar), None where the pattern does not follow the zip's parts. Before, every part took
    the whole zip's answer, and a range's ints were read as numpy's."""
    if pattern is None:
        return source.numpy_items
    return tuple(_numpy_parts(_target(pattern), source))


@functools.lru_cache(maxsize=256)
def _target(pattern: str) -> ast.expr:
    return ast.parse(pattern, mode="eval").body


def _numpy_parts(target: ast.expr, source: Any) -> List[Optional[bool]]:
    names = len(pattern_names(ast.unparse(target)))
    if not isinstance(source, ZipSource):
        return [source.numpy_items] * names  # one item unpacked (a row of an array): all alike
    if isinstance(target, ast.Tuple) and len(target.elts) == len(source.parts) \
            and not any(isinstance(part, ast.Starred) for part in target.elts):
        return [flag for part, inner in zip(target.elts, source.parts) for flag in _numpy_parts(part, inner)]
    return [None] * names


@functools.lru_cache(maxsize=64)
def unpacker(pattern: str) -> Callable[[Any], tuple]:
    """``item -> (part0, part1, ...)``, unpacked by an assignment to ``pattern``: a wrong
    shape raises CPython's own ValueError or TypeError, as the ``for`` target would."""
    namespace: dict = {}
    exec(f"def unpack(item):\n    {pattern} = item\n    return ({', '.join(pattern_names(pattern))},)", namespace)
    return namespace["unpack"]


def spread(function: Optional[Callable], pattern: str) -> Optional[Callable]:
    """``function`` (an element function or filter of a starred shape) called with a whole
    item, unpacked into its parts: what CPython partitions and the cost model's sample call."""
    unpack = unpacker(pattern)
    return None if function is None else (lambda item: function(*unpack(item)))


def values_of(items: Iterable, element: Optional[Callable], condition: Optional[Callable],
              pattern: Optional[str]) -> Iterator:
    """The elements of the items that pass ``condition``, in order (the items themselves where
    ``element`` is None), as CPython partitions compute them. A starred shape's items are
    unpacked by the loop's own target, once per item, and ``element`` and ``condition`` called
    with the parts: half the time of calling ``spread`` functions (a 2M-item ``zip`` Monte Carlo
    loop: 0.68 s against 1.37 s; the generator as written takes 0.51 s). A StopIteration that
    ``element`` or ``condition`` raises comes out as RuntimeError (PEP 479), never as an early end."""
    if pattern is None:
        return _looped(items, element, condition)
    return _unpacking(pattern, element is not None, condition is not None)(items, element, condition)


def written_elements(kind: str, written: Optional[Callable]) -> Optional[Callable[[Iterable], Iterable]]:
    """What CPython partitions run instead of ``values_of``, where the rewriter gave the shape's
    generator or comprehension as written (``written``, taking the iterable): the elements of
    some items in order, computed by the loop itself, at its own speed. ``kind``: "reduce" (a
    generator), or the comprehension's "list", "set" or "dict". A generator and a list give the
    elements; a dict, its pairs: the dict of a partition's pairs, merged in order with the
    others', is the dict of all of them (each key where it first came, the first of equal keys,
    with its last value). None for a set: it has lost the order in which its elements came, on
    which the order of the set built from all of them depends."""
    if written is None or kind == "set":
        return None
    return _PairsOf(written) if kind == "dict" else written


@dataclass(frozen=True)
class _PairsOf:
    """A dict comprehension as written, giving the (key, value) pairs of the dict it makes."""
    comprehension: Callable[[Iterable], dict]

    def __call__(self, items: Iterable) -> Iterable:
        return self.comprehension(items).items()


def _looped(items: Iterable, element: Optional[Callable], condition: Optional[Callable]) -> Iterator:
    """``values_of``'s loop for a plain shape: a generator, never ``map``/``filter``, whose loops
    end quietly where a function raises StopIteration (a partition would end short, and the
    answer be wrong); in a generator it is RuntimeError, and the shape is made again as written
    (``engine.runtime``)."""
    if condition is None:
        return iter(items) if element is None else (element(item) for item in items)
    if element is None:
        return (item for item in items if condition(item))
    return (element(item) for item in items if condition(item))


@functools.lru_cache(maxsize=64)
def _unpacking(pattern: str, mapped: bool, filtered: bool) -> Callable[..., Iterator]:
    """``values_of``'s loop for a starred shape."""
    args = ", ".join(pattern_names(pattern))
    lines = ["def values(items, element, condition):", "    for item in items:", f"        {pattern} = item"]
    if filtered:
        lines += [f"        if not condition({args}):", "            continue"]
    lines.append(f"        yield element({args})" if mapped else "        yield item")
    namespace: dict = {}
    exec("\n".join(lines), namespace)
    return namespace["values"]


class Flat:
    """An element function that gives, for one item, an iterable of elements (the inner loops
    of ``sum(f(x, y) for x in a for y in b)``), and for ``sum``/``any``/``all`` the function
    giving their reduction for one item (``grouped``: ``sum(f(x, y) for y in b)``), or None."""

    def __init__(self, function, grouped=None):
        self.function, self.grouped = function, grouped


def identity(item):
    return item


class IteratorCall:
    """``zip(...)``, ``enumerate(...)``, ``map(...)`` or ``filter(...)`` as written in a shape,
    not yet called: the engine can read its arguments; iterating it iterates the real thing."""

    def __init__(self, function, args: tuple, kwargs: dict):
        self.function, self.args, self.kwargs = function, args, kwargs

    def __iter__(self):
        return iter(self.function(*self.args, **self.kwargs))

    def as_shape(self):
        """(iterable, element, condition) of a ``map`` or ``filter``, or None."""
        if self.kwargs or len(self.args) < 2:
            return None
        if self.function is map:
            function, *iterables = self.args
            if len(iterables) == 1:
                return iterables[0], function, None
            return IteratorCall(zip, tuple(iterables), {}), Star(function, ", ".join("_" * len(iterables))), None
        if self.function is filter and len(self.args) == 2:
            test, iterable = self.args
            return iterable, identity, identity if test is None else test
        return None

    def source(self):
        if self.kwargs and not (self.function is enumerate and set(self.kwargs) == {"start"}):
            return None  # zip(strict=True) and the like: leave them to CPython
        if self.function is enumerate:
            values, *rest = self.args
            start = rest[0] if rest else self.kwargs.get("start", 0)
            inner = source_for(values)
            if inner is None or not isinstance(start, int):
                return None
            return ZipSource([RangeSource(range(start, start + inner.length)), inner])
        parts = [source_for(values) for values in self.args]
        if self.function is not zip:
            return None
        return ZipSource(parts) if parts and None not in parts else None


_NUMERIC_KINDS = "biuf"


def _homogeneous_array(values) -> Optional[np.ndarray]:
    """The list as an int64, float64 or bool array when every item is exactly that type (and
    every int fits int64). Looked at in C: a shape over a list of 100,000 items is asked this
    each time it runs."""
    if not values:
        return None
    first = type(values[0])
    if first not in (int, float, bool) or set(map(type, values)) != {first}:
        return None
    try:
        return np.array(values, dtype={int: np.int64, float: np.float64, bool: np.bool_}[first])
    except OverflowError:  # an int past int64
        return None


def is_series(value: Any) -> bool:
    """Whether ``value`` is exactly a pandas Series (a subclass may iterate otherwise); pandas is
    looked for only if the caller's code imported it."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and type(value) is pandas.Series


def splits_series(series: Any) -> bool:
    """Whether the engine splits this Series (``is_series``): its dtype is numpy's, of numbers."""
    return isinstance(series.dtype, np.dtype) and series.dtype.kind in _NUMERIC_KINDS


def _series_source(series: Any):
    """The source for a Series the engine splits (``splits_series``), or None. Its iterator
    yields each value's ``.item()``: a Python int, float or bool, so its items are held as a
    list of them is."""
    if not splits_series(series):
        return None
    dtype, values = series.dtype, series.to_numpy()
    if dtype.kind in "iu":
        if dtype == np.uint64 and len(values) and values.max() > INT64_MAX:
            return ObjectSource(list(series))
        return ArraySource(values.astype(np.int64, copy=False), python_items=True)
    if dtype.kind == "f":  # float32's .item() is the same value as a Python float
        return ArraySource(values.astype(np.float64, copy=False), python_items=True)
    return ArraySource(values, python_items=True)


def countable(values: range) -> bool:
    """Whether ``len()`` can tell the range's length (``any(y > 5 for y in range(10**20))`` is
    True in CPython, and was an ``OverflowError`` here)."""
    try:
        len(values)
    except OverflowError:
        return False
    return True


def source_for(iterable: Any):
    """The source for ``iterable``, or None when it is not one the engine splits."""
    if isinstance(iterable, range):
        if not countable(iterable):
            return None  # longer than sys.maxsize: iterated as written (a shape that stops early ends)
        return RangeSource(iterable)
    if isinstance(iterable, IteratorCall):
        return iterable.source() if iterable.function in (zip, enumerate) else None
    if isinstance(iterable, np.ndarray):
        if iterable.ndim >= 1 and iterable.dtype.kind in _NUMERIC_KINDS:
            return ArraySource(np.ascontiguousarray(iterable), python_items=False, given=iterable)
        return None
    if type(iterable) in (list, tuple):
        array = _homogeneous_array(iterable)
        return ArraySource(array, python_items=True) if array is not None else ObjectSource(list(iterable))
    if is_series(iterable):
        return _series_source(iterable)
    if type(iterable) in (FrameRows, FrameTuples, FrameRowPairs):
        return FrameRowsSource(iterable)
    return None
