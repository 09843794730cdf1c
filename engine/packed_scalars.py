"""Lists, tuples and dicts of numpy scalars, pickled as typed arrays.

``[np.float64(i) * 0.5 for i in range(N)]`` pickles scalar by scalar: each one is a reduce call
with eight bytes of its own (cloudpickle's ``reducer_override`` runs in Python for every one),
and each one unpickles as a function call: a million of them took 6 s to send and 0.5 s to
rebuild, against 0.05 s for a million Python floats. Here such a container travels as one numpy
array per scalar type and comes back as the same container (``list``, ``tuple``, ``dict``) of the
same scalar types with the same bits (NaN payloads, -0.0, the unit of each ``datetime64``).

How: before the pickler pickles a value, ``write_prelude`` looks for such containers in it and
pickles a stand-in for each (``_Packed``) first, as a pickle of its own on the same pickler.
Then it points the pickler's memo at them: every later reference to the original container,
however deep in the value (an attribute of an object, an item of another list), is written as a
reference to the rebuilt one. So sharing stays as it was (two names for one list are still one
list) and no container around them is copied. ``load`` reads the prelude, if there is one, then
the value, with one unpickler (one memo). With nothing to pack the pickle is the ordinary one.

Where it looks (cheap for values with nothing to pack: a list of a million floats or of 100,000
dicts costs a few look-ups): the builtin lists, tuples and dicts of the value and the attributes
of objects pickled as their ``__dict__``, down to ``_MAX_DEPTH`` levels, and through at most
``_BUDGET`` containers that are not packed themselves; a container of up to ``_SMALL`` items
is looked through whole, a larger one only if its first, middle or last item leads to something
to pack.

What is packed: an exact ``list`` or ``tuple`` (an exact ``dict``: its keys and values) with at
least ``_MIN_SCALARS`` numpy scalars of the numeric types (bool, integers, floats, complex,
datetime64, timedelta64) or Python complex numbers (each pickles through ``copyreg``, a Python
call: 10,000 points of a Mandelbrot grid took 15 ms to send and as long to rebuild; they travel
as a complex128 array and come back as Python complex numbers, the same bits; not where one is
held twice or has a NaN part: ``_complex_packable``), where every other item is an atom (a
Python int, float, complex, str, bytes, bool or None). Items of several types keep their order
and their types: a code per item says which part it comes from, a typed array per numpy type
(per unit for datetime64 and timedelta64), a plain list for the atoms. Anything else is pickled as before: subclasses of
list, tuple and dict (their class and attributes matter), sets, numpy's str_, bytes_ and void
(their lengths), user subclasses of numpy types, a list that also holds other objects (which
could lead back to the list itself).

Identity: the scalars are rebuilt one by one, so a scalar object held twice in a list, or also
outside it, comes back as equal but separate objects (ordinary pickling would keep it one).
numpy scalars are immutable: only ``is`` can tell.
"""
from __future__ import annotations

import io
import pickle
import types
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ufora.engine import nan_identity

_MIN_SCALARS = 32   # fewer pickle as fast one by one as a packed array's own overhead
_SMALL = 64         # containers up to this size are looked through whole
_MAX_DEPTH = 8
_BUDGET = 10_000    # containers and objects looked through in vain per value, at most (a few ms)
_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_TIMES = frozenset({np.datetime64, np.timedelta64})  # the dtype (its unit) is per scalar


def _packable(kind: type) -> bool:
    """A numpy scalar type an array of whose dtype gives back the same type and bits."""
    dtype = np.dtype(kind)
    return dtype.type is kind and dtype.kind in "biufcmM"


NUMPY_SCALARS = frozenset(np.sctypeDict.values())
_SCALARS = frozenset(kind for kind in NUMPY_SCALARS if _packable(kind))
_PYTHON_PACKED = {complex: np.dtype(np.complex128)}  # atoms packed too, into arrays of these dtypes
_PACKS = _SCALARS | frozenset(_PYTHON_PACKED)


def _dtype(kind: Any) -> np.dtype:
    """The dtype of the array a part of ``kind`` travels as."""
    return _PYTHON_PACKED.get(kind) or np.dtype(kind)


def _listed(kind: Any) -> bool:
    """Whether items of ``kind`` travel as a plain list (atoms but Python complex numbers)."""
    return kind in _ATOMS and kind not in _PYTHON_PACKED

# One sequence, packed: its parts and the part of each item (None: a single part). A part is a
# list (of atoms) or (kind, array): the scalar type, or the dtype for datetime64 and timedelta64
# (with its unit), since an array's own pickle names int64 for numpy's longlong.
Described = Tuple[List[Any], Optional[np.ndarray]]


def _describe(items: Sequence[Any]) -> Optional[Tuple[Described, int]]:
    """``items`` as parts and codes, and how many numpy scalars they hold; None when an item is
    neither a packable numpy scalar nor an atom."""
    count = len(items)
    keys: List[Any] = list(map(type, items))
    kinds = dict.fromkeys(keys[:1]) if keys.count(keys[0]) == count else dict.fromkeys(keys)
    if not all(kind in _SCALARS or kind in _ATOMS for kind in kinds):
        return None
    # Python complex numbers that may not be rebuilt one by one stay atoms, as they were
    listed = _listed if complex not in kinds or _complex_packable([item for item in items if type(item) is complex]) \
        else _ATOMS.__contains__
    if not _TIMES.isdisjoint(kinds):
        keys = [item.dtype if kind in _TIMES else kind for item, kind in zip(items, keys)]
        kinds = dict.fromkeys(keys)
    if len(kinds) == 1:
        [kind] = kinds
        if listed(kind):
            return ([list(items)], None), 0
        return ([(kind, np.fromiter(items, _dtype(kind), count))], None), count
    if len(kinds) > 255:
        return None
    code_of = {kind: code for code, kind in enumerate(kinds)}
    codes = np.fromiter(map(code_of.__getitem__, keys), np.uint8, count)
    objects = np.fromiter(items, object, count)
    parts: List[Any] = []
    for code, kind in enumerate(kinds):
        chosen = objects[codes == code]
        parts.append(chosen.tolist() if listed(kind) else (kind, np.fromiter(chosen, _dtype(kind), len(chosen))))
    atoms = sum(len(part) for part in parts if type(part) is list)
    return (parts, codes), count - atoms


def _complex_packable(values: List[complex]) -> bool:
    """Whether Python complex numbers may travel packed, rebuilt one by one, and nothing CPython can
    tell differs: distinct objects (a list holding one twice finds it by identity: ``count``,
    ``index``, ``in``), none with a NaN part (which equals only itself, by identity)."""
    return len(set(map(id, values))) == len(values) and not any(value != value for value in values)


def _items(parts: List[Any], codes: Optional[np.ndarray]):
    # an array yields scalars of its dtype; one of Python complex numbers, Python's own
    sources = [iter(part if type(part) is list else part[1].tolist() if part[0] in _PYTHON_PACKED
                    else part[1].view(np.dtype(part[0]))) for part in parts]
    if codes is None:
        return sources[0]
    return map(next, map(sources.__getitem__, codes.tolist()))


def _rebuilt(kind: type, items: Described, values: Optional[Described] = None) -> Any:
    if kind is dict:
        return dict(zip(_items(*items), _items(*values)))
    return kind(_items(*items))


class _Packed:
    """Stands for a list, tuple or dict in the prelude; unpickles as a new one."""

    def __init__(self, kind: type, *described: Described):
        self.arguments = (kind, *described)

    def __reduce__(self):
        return _rebuilt, self.arguments


def _packed(value: Any) -> Optional[_Packed]:
    kind = type(value)
    if kind is dict:
        keys, values = _describe(list(value)), _describe(list(value.values()))
        if keys is None or values is None or keys[1] + values[1] < _MIN_SCALARS:
            return None
        return _Packed(dict, keys[0], values[0])
    described = _describe(value)
    if described is None or described[1] < _MIN_SCALARS:
        return None
    return _Packed(kind, described[0])


def _sample(value: Any) -> List[Any]:
    """The items looked at first in a large container: first, middle, last."""
    if type(value) is dict:
        values = value.values()
        return [next(iter(value)), next(reversed(value)), next(iter(values)), next(reversed(values))]
    return [value[0], value[len(value) // 2], value[-1]]


def _pickled_as_dict(kind: type) -> bool:
    """Whether instances of ``kind`` pickle as their ``__dict__`` (no reduce or state of their
    own): only there is an attribute sure to be pickled as it is."""
    return (kind.__reduce_ex__ is object.__reduce_ex__ and kind.__reduce__ is object.__reduce__
            and getattr(kind, "__getstate__", object.__getstate__) is object.__getstate__
            and getattr(kind, "__setstate__", None) is None)


class _Finder:
    """The containers to pack in a value: {id: (container, stand-in)}."""

    def __init__(self) -> None:
        self.found: Dict[int, Tuple[Any, _Packed]] = {}
        self.seen: set = set()
        self.budget = _BUDGET

    def visit(self, value: Any, depth: int = 0) -> bool:
        """Look through ``value``; whether anything in it is packed."""
        kind = type(value)
        if kind in _ATOMS or depth > _MAX_DEPTH or id(value) in self.seen or self.budget <= 0:
            return id(value) in self.found
        self.budget -= 1
        if kind is list or kind is tuple or kind is dict:
            self.seen.add(id(value))
            if not value:
                return False
            if len(value) >= _MIN_SCALARS and any(type(item) in _PACKS for item in _sample(value)):
                packed = _packed(value)
                if packed is not None:
                    self.found[id(value)] = (value, packed)
                    self.budget += 1  # packing costs as much as pickling: rows are not counted
                    return True
            items = value.values() if kind is dict else value
            if len(value) > _SMALL and not any([self.visit(item, depth + 1) for item in _sample(value)]):
                return False
            return any([self.visit(item, depth + 1) for item in items])
        if isinstance(value, (type, types.ModuleType)) or not _pickled_as_dict(kind):
            return False
        self.seen.add(id(value))
        try:
            attributes = object.__getattribute__(value, "__dict__")
        except AttributeError:
            return False
        return type(attributes) is dict and self.visit(attributes, depth + 1)


def write_prelude(pickler: pickle.Pickler, dump: Callable[[Any], None], value: Any) -> None:
    """Before ``pickler`` pickles ``value``: pickle (with ``dump``, the pickler's own) the
    stand-ins of the containers to pack in it, and make the pickler refer to them wherever
    ``value`` holds those containers."""
    finder = _Finder()
    finder.visit(value)
    if not finder.found:
        return
    dump(_Prelude(tuple(packed for _, packed in finder.found.values())))
    memo = pickler.memo.copy()
    for container, packed in finder.found.values():
        # The container takes its stand-in's entry: the memo's size, from which the pickler
        # numbers the entries it adds (as the unpickler does), stays the unpickler's.
        memo[id(container)] = (memo.pop(id(packed))[0], container)
    pickler.memo = memo


class _Prelude:
    """The first of the two pickles: the rebuilt containers, kept in the unpickler's memo."""

    def __init__(self, stand_ins: tuple):
        self.stand_ins = stand_ins

    def __reduce__(self):
        return _Prelude, (self.stand_ins,)


def load(data: bytes, buffers: Sequence[Any] = ()) -> Any:
    """Unpickle what a pickler with ``write_prelude`` wrote (an ordinary pickle too). A prelude
    (or ``nan_identity``'s marker) names its class in its first bytes, whatever the protocol: a
    pickle without is read in place by ``pickle.loads``, one with through an unpickler on a copy
    (``io.BytesIO``), which reads every pickle."""
    head = bytes(data[:64])
    if b"_Prelude" not in head and b"nan_identity" not in head:
        return pickle.loads(data, buffers=buffers)
    return load_both(pickle.Unpickler(io.BytesIO(data), buffers=buffers))


def load_both(unpickler: pickle.Unpickler) -> Any:
    """The next value ``unpickler`` reads: the pickle after a prelude, when there is one. After
    ``nan_identity``'s marker, its NaNs are read as one object per key (``nan_identity.Loads``,
    then the unpickler's ``persistent_load``), the ids it does not know read as before."""
    value = unpickler.load()
    if type(value) is nan_identity.Marker:
        unpickler.persistent_load = nan_identity.Loads(getattr(unpickler, "persistent_load", None))
        value = unpickler.load()
    return unpickler.load() if type(value) is _Prelude else value


def load_keeping_memo(data: bytes) -> Tuple[Any, Dict[int, Any]]:
    """``load``, and the unpickler's memo: {memo index: object}."""
    unpickler = pickle.Unpickler(io.BytesIO(data))
    value = load_both(unpickler)
    return value, unpickler.memo.copy()
