"""NaN floats keep their identity between the client and the cluster.

A NaN equals nothing, itself included, so a list finds one only by identity: with
``MISSING = float("nan")`` marking missing values, ``values.count(MISSING)``, ``MISSING in
values``, ``v is MISSING`` and a set of the values all depend on every marker being that one
object. pickle writes a float's value, never a reference to it, so a list holding ``MISSING``
100,000 times arrived as 100,000 NaNs, none of them the caller's: a block run on the cluster gave
``vals.count(MISSING) == 0`` where CPython gives 100,000, and a set of the values 100,002 items
where CPython has 3.

So the values that cross between the client and the cluster (a block's free variables, the
values it sends back: ``engine.serialization``) are pickled once as usual and, where the pickle
may hold a NaN (its bytes are searched at C speed, ``may_hold``), again with every NaN object a
persistent id (``Ids``): its key and its bits the first time, its key alone after, so that it is
one object again where it is read (``Loads``), with its sign and payload. A NaN that the reader
sent (a free variable coming back) is the reader's key for it ("theirs"), so the client gets its
own object back; ``math.nan`` and ``np.nan`` are the reader's own (``np.nan in values``). Such a
pickle begins with a ``Marker``, which tells a reader to read its NaNs. Other floats are not kept
one: only ``is`` tells two equal ones apart. A persistent id costs a Python call per object
pickled, so a list of floats alone goes whole, as its bits and the ids of its NaNs (a list of
1M floats with a NaN took 105 ms to pickle one by one, 26 ms without a NaN).
"""
from __future__ import annotations

import math
import re
import struct
from typing import Any, Callable, Dict, List, Optional

import numpy as np

# BINFLOAT ("G") and a big-endian double whose exponent is all ones and whose fraction is not 0
_NAN_BITS = re.compile(rb"G[\x7f\xff](?:[\xf1-\xff]|\xf0(?!\x00\x00\x00\x00\x00\x00))")
_DOUBLE = struct.Struct("<d")
NAN = "nan"        # ("nan", key, bits) the first time, ("nan", key) after
THEIRS = "nan-theirs"  # ("nan-theirs", the reader's key): a NaN the reader sent
NAMED = "nan-named"  # ("nan-named", its name): a module's own NaN
FLOATS = "floats"  # ("floats", key, bits, ((position, a NaN's id), ...)) the first time, ("floats", key) after
_WHOLE_FROM = 16  # a list of this many floats or more goes whole
_MODULES_NANS = {"math.nan": math.nan, "numpy.nan": np.nan}
_NAMES = {id(nan): name for name, nan in _MODULES_NANS.items()}


def may_hold(data: Any) -> bool:
    """Whether a pickle (protocol 2 or later) may hold a NaN float: False for sure if not. Other
    data may look like one (a small array's bytes): that only costs the second pickle."""
    return _NAN_BITS.search(data) is not None


class Marker:
    """The first object of a pickle whose NaNs are persistent ids."""

    def __reduce__(self):
        return Marker, ()


MARK = Marker()


class Ids:
    """A pickler's ``persistent_id``: each NaN float object as its key (``written`` keeps them
    alive, so no other object takes an id meanwhile); one ``theirs`` numbers as the reader's
    key; any other object as ``refer`` numbers it (None: pickled as usual)."""

    def __init__(self, refer: Optional[Callable[[Any], Any]] = None,
                 theirs: Optional[Callable[[float], Optional[int]]] = None):
        self._refer = refer
        self._theirs = theirs
        self._keys: Dict[int, int] = {}
        self.written: List[float] = []  # by key
        self._lists: Dict[int, int] = {}
        self._lists_written: List[list] = []  # kept alive too

    def __call__(self, obj: Any) -> Any:
        if type(obj) is not float:
            referred = self._refer(obj) if self._refer is not None else None
            if referred is None and type(obj) is list and len(obj) >= _WHOLE_FROM:
                return self._whole(obj)
            return referred
        if obj == obj:
            return None
        name = _NAMES.get(id(obj))
        if name is not None:
            return NAMED, name
        if self._theirs is not None:
            key = self._theirs(obj)
            if key is not None:
                return THEIRS, key
        key = self._keys.get(id(obj))
        if key is not None:
            return NAN, key
        key = self._keys[id(obj)] = len(self.written)
        self.written.append(obj)
        return NAN, key, _DOUBLE.pack(obj)

    def _whole(self, values: list) -> Any:
        """A list of floats alone as one id (None for another list: pickled item by item)."""
        key = self._lists.get(id(values))
        if key is not None:
            return FLOATS, key
        if set(map(type, values)) != {float}:
            return None
        bits = np.array(values, dtype=np.float64)
        nans = tuple((int(at), self(values[at])) for at in np.flatnonzero(np.isnan(bits)))
        key = self._lists[id(values)] = len(self._lists_written)
        self._lists_written.append(values)
        return FLOATS, key, bits.tobytes(), nans


class Loads:
    """An unpickler's ``persistent_load`` for a pickle of ``Ids``: one NaN object per key, with
    the bits written; any other id is ``fallback``'s (the referring reader's own objects)."""

    def __init__(self, fallback: Optional[Callable[[Any], Any]] = None):
        self._fallback = fallback
        self.read: Dict[int, float] = {}  # key: the NaN object read for it
        self._lists: Dict[int, list] = {}

    def __call__(self, pid: Any) -> Any:
        if type(pid) is tuple and pid and pid[0] == FLOATS:
            if len(pid) == 4:
                values = np.frombuffer(pid[2], np.float64).tolist()
                for at, nan in pid[3]:
                    values[at] = self(nan)
                self._lists[pid[1]] = values
            return self._lists[pid[1]]
        if type(pid) is tuple and pid and pid[0] == NAN:
            if len(pid) == 3:
                self.read[pid[1]] = _DOUBLE.unpack(pid[2])[0]
            return self.read[pid[1]]
        if type(pid) is tuple and pid and pid[0] == NAMED:
            return _MODULES_NANS[pid[1]]
        if self._fallback is None:
            raise ValueError(f"a persistent id this pickle cannot be read with: {pid!r}")
        return self._fallback(pid)
