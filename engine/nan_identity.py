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
holds a NaN (its bytes are searched at C speed, ``may_hold``), again with every NaN object a
persistent id (``Ids``), so that it is one object again where it is read (``Loads``), with its
sign: the NaNs that must stay one (``Ids``). A NaN that the reader sent (a free variable coming
back) is the reader's key for it ("theirs"), so the client gets its own object back; ``math.nan``
and ``np.nan`` are the reader's own (``np.nan in values``). Such a pickle begins with a
``Marker``, which tells a reader to read its NaNs. Other floats are not kept one: only ``is``
tells two equal ones apart.

Only the NaNs Python makes are looked for (``float("nan")``, ``math.nan``, ``np.nan``, and the
negative one ``inf - inf`` gives): their bits alone, after pickle's float opcode, are nine bytes
that ints, strings and arrays practically never hold, where a search for any NaN's bits matched
in 1M negative ints or random bytes, and pickling those again cost 3-10x. A NaN with another
payload (made with ``struct``) goes as before. A persistent id costs a Python call per object
pickled, so a list of floats alone goes whole, as its bits and the ids of its NaNs.
Not kept one: a NaN held twice by records (tuples, dicts, objects) that is no free variable of
the block (counting those would cost a Python call per object twice).
"""
from __future__ import annotations

import collections
import math
import operator
import re
import struct
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np

_DOUBLE = struct.Struct("<d")
_POSITIVE, _NEGATIVE = _DOUBLE.pack(math.nan), _DOUBLE.pack(-math.nan)
# pickle's BINFLOAT opcode and the big-endian bits of each
_PICKLED = (b"G" + _POSITIVE[::-1], b"G" + _NEGATIVE[::-1])
THEIRS = "nan-theirs"  # ("nan-theirs", the reader's key): a NaN the reader sent
THEIRS_LIST = "floats-theirs"  # ("floats-theirs", the reader's key): a list of floats the reader sent whole
NAMED = "nan-named"  # ("nan-named", its name): a module's own NaN
FLOATS = "floats"  # ("floats", key, bits, ((a NaN's id, its places), ...)) the first time, ("floats", key) after
_WHOLE_FROM = 512  # a list of this many floats or more goes whole (a shorter one item by item costs less)
_MODULES_NANS = {"math.nan": math.nan, "numpy.nan": np.nan}
_NAMED_IDS = {id(nan): (NAMED, name) for name, nan in _MODULES_NANS.items()}


# both in one pass over the pickle: 10 ms for a 32 MB array's, where a search for each took 24
_PICKLED_SEARCH = re.compile(b"|".join(re.escape(pattern) for pattern in _PICKLED))


def may_hold(data: Any) -> bool:
    """Whether a pickle (protocol 2 or later) may hold one of the NaN floats Python makes."""
    return _PICKLED_SEARCH.search(data) is not None


class Marker:
    """The first object of a pickle whose NaNs are persistent ids."""

    def __reduce__(self):
        return Marker, ()


MARK = Marker()


class Ids:
    """A pickler's ``persistent_id``: each NaN float that must stay one object as a negative int,
    its key and sign (``written`` keeps them alive, so no other object takes an id meanwhile);
    one ``theirs`` numbers as the reader's key; any other object as ``refer`` numbers it (None:
    pickled as usual). A NaN must stay one where it is ``known`` (a block's free variable: a
    marker), ``math.nan`` or ``np.nan``, the reader's, or held twice in one list of floats: a
    list of 512 floats or more goes as one id, its NaNs counted at C speed (the reader numbers
    such lists as the writer's: ``Loads.lists_read``).
    Any other NaN (one parsed from "nan", one per record) goes as before: giving each its own id
    cost 1-2 us, and 500k such records took 6-13x as long to pickle."""

    def __init__(self, refer: Optional[Callable[[Any], Any]] = None,
                 theirs: Optional[Dict[int, int]] = None,
                 known: Iterable[Any] = ()):
        self._refer = refer
        self.written: List[float] = []  # by key // 2
        self._lists: Dict[int, int] = {}
        self._lists_written: List[list] = []  # kept alive too
        # the id of each NaN kept one, by id(): the reader's (one tuple per key: pickled once, then
        # from the memo), the modules', then those given a key here
        self._pids: Dict[int, Any] = {**{at: (THEIRS, key) for at, key in (theirs or {}).items()}, **_NAMED_IDS}
        for value in known:
            if type(value) is float and value != value:
                self._register(value)
        self.persistent_id = self._persistent_id()

    def _persistent_id(self) -> Callable[[Any], Any]:
        """The function the pickler calls for every object: a closure over what it reads, as
        a method costs more per call (1.5M calls for 500k records of a NaN and an int)."""
        refer, kept, whole = self._refer, self._pids.get, self._whole

        def persistent_id(obj: Any) -> Any:
            kind = type(obj)
            if kind is float:
                return None if obj == obj else kept(id(obj))
            if kind is list and len(obj) >= _WHOLE_FROM:
                referred = refer(obj) if refer is not None else None
                return whole(obj) if referred is None else referred
            return refer(obj) if refer is not None else None

        return persistent_id

    def _register(self, nan: float) -> Any:
        """``nan``'s id, a key given it if it had none (None for a NaN Python does not make)."""
        kept = self._pids.get(id(nan))
        if kept is not None:
            return kept
        bits = _DOUBLE.pack(nan)
        if bits != _POSITIVE and bits != _NEGATIVE:
            return None
        key = 2 * len(self.written) + (bits == _NEGATIVE)
        self.written.append(nan)
        pid = self._pids[id(nan)] = -1 - key
        return pid

    def _whole(self, values: list) -> Any:
        """A list of floats alone as one id (None for another list: pickled item by item)."""
        key = self._lists.get(id(values))
        if key is not None:
            return FLOATS, key
        if set(map(type, values)) != {float}:
            return None
        bits = np.array(values, dtype=np.float64)
        places = np.flatnonzero(np.isnan(bits)).tolist()
        nans = operator.itemgetter(*places)(values) if len(places) > 1 else [values[at] for at in places]
        ids = list(map(id, nans))
        distinct = set(ids)  # (distinct NaNs, most often: parsed, computed)
        kept = distinct & self._pids.keys()
        if len(distinct) < len(ids):
            kept.update(at for at, count in collections.Counter(ids).items() if count > 1)
        groups = []  # (a NaN's id, the places it is at, as int64 bytes): a marker's 200k places in C
        if kept:
            by_id = dict(zip(ids, nans))
            ids_of = np.array(ids, dtype=np.uint64)  # (addresses)
            chosen = np.isin(ids_of, np.fromiter(kept, dtype=np.uint64, count=len(kept)))
            chosen_ids, chosen_at = ids_of[chosen], np.array(places, dtype=np.int64)[chosen]
            order = np.argsort(chosen_ids, kind="stable")
            each, starts = np.unique(chosen_ids[order], return_index=True)
            ends = [*starts.tolist()[1:], len(order)]
            for object_id, start, end in zip(each.tolist(), starts.tolist(), ends):
                pid = self._register(by_id[object_id])
                if pid is not None:
                    groups.append((pid, chosen_at[order[start:end]].tobytes()))
        key = self._lists[id(values)] = len(self._lists_written)
        self._lists_written.append(values)
        return FLOATS, key, bits.tobytes(), tuple(groups)

    def theirs(self, pid: tuple) -> Any:
        """What the reader's id of it stands for: a NaN or a list of floats written here."""
        if pid[0] == THEIRS:
            return self.written[pid[1] // 2]
        if pid[0] == THEIRS_LIST:
            return self._lists_written[pid[1]]
        raise ValueError(f"an id no object written here has: {pid!r}")


class Loads:
    """An unpickler's ``persistent_load`` for a pickle of ``Ids``: one NaN object per key, of the
    sign written; any other id is ``fallback``'s (the referring reader's own objects)."""

    def __init__(self, fallback: Optional[Callable[[Any], Any]] = None):
        self._fallback = fallback
        self.read: Dict[int, float] = {}  # key: the NaN object read for it
        self._lists: Dict[int, list] = {}

    def __call__(self, pid: Any) -> Any:
        if type(pid) is int and pid < 0:
            key = -1 - pid
            nan = self.read.get(key)
            if nan is None:
                nan = self.read[key] = _DOUBLE.unpack(_NEGATIVE if key % 2 else _POSITIVE)[0]  # a new object
            return nan
        if type(pid) is tuple and pid:
            if pid[0] == FLOATS:
                if len(pid) == 4:
                    values = np.frombuffer(pid[2], np.float64).tolist()
                    for nan_id, places in pid[3]:
                        nan = self(nan_id)
                        for at in np.frombuffer(places, np.int64).tolist():
                            values[at] = nan
                    self._lists[pid[1]] = values
                return self._lists[pid[1]]
            if pid[0] == NAMED:
                return _MODULES_NANS[pid[1]]
        if self._fallback is None:
            raise ValueError(f"a persistent id this pickle cannot be read with: {pid!r}")
        return self._fallback(pid)

    def lists(self) -> List[list]:
        """The lists of floats read whole."""
        return list(self._lists.values())

    def lists_read(self) -> Dict[int, tuple]:
        """{id: the writer's id} of the lists of floats read whole: a reader's ``ReadObjects``
        numbers them so (a list sent and sent back is the writer's own)."""
        return {id(values): (THEIRS_LIST, key) for key, values in self._lists.items()}

