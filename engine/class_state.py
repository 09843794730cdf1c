"""Your classes' own attributes across the trip to the cluster and back.

A class of yours travels by value (cloudpickle): the worker makes it again from its pickle, with
its functions and data attributes. When a block's values bring it back (an instance of it among
the results, or the class itself), cloudpickle finds the class you already have and sets every
attribute of it again from the pickle (its ``_class_setstate``). For data attributes that is the
point: ``Widget.made += 1`` in a constructor the block ran is yours afterwards. For functions it
was wrong: your methods became copies whose globals were a dict of their own, so after any block
that returned an instance, ``item.note()`` appended to a copy of your ``LOG``, not to it, without
a word. ``keeping_own_functions`` (around the client's reading of a block's results) makes the
setter keep a function (a method, a static or class method's, a property's) of your class whose
code is the one that came back, and update a list, dict or set attribute in place (your
references to it stay good).

A block that sets a class attribute without returning anything of the class
(``Config.threshold = 5``) used to lose it: the worker's copy changed, and nothing brought it
back. ``taken`` and ``changed`` (worker side) compare the data attributes of the classes a block
reaches; the changed classes go back among the block's effects (``engine.mutations.MUTATED``),
and unpickling them sets their attributes here.
"""
from __future__ import annotations

import contextlib
import types
from typing import Any, Dict, Iterable, Iterator, List, Tuple

import cloudpickle

from ufora.engine import serialization

_DESCRIPTORS = (types.FunctionType, staticmethod, classmethod, property, type)


def _functions(member: Any) -> Tuple[Any, ...]:
    """The functions a class attribute stands for (a property's three), or () for data."""
    if isinstance(member, property):
        return member.fget, member.fset, member.fdel
    member = getattr(member, "__func__", member)
    return (member,) if isinstance(member, types.FunctionType) else ()


def _same_functions(mine: Any, theirs: Any) -> bool:
    """Whether two class attributes are the same functions: the same kind, the same code."""
    if type(mine) is not type(theirs):
        return False
    ours, others = _functions(mine), _functions(theirs)
    return bool(ours) and len(ours) == len(others) and all(
        (a is None and b is None) or (a is not None and b is not None and a.__code__ == b.__code__)
        for a, b in zip(ours, others))


def _kept(cls: type, name: str, value: Any) -> bool:
    """Whether ``cls`` keeps its own attribute ``name`` (or updates it in place) instead of
    taking ``value`` from the pickle."""
    if name not in vars(cls):
        return False
    mine = vars(cls)[name]
    if mine is value or _same_functions(mine, value):
        return True
    if type(mine) is type(value) and isinstance(mine, (list, dict, set)):
        from ufora.engine import mutations

        return not mutations.apply({name: mine}, {name: value})
    return False


_original_setstate = cloudpickle.cloudpickle._class_setstate


def _class_setstate(obj: type, state: Tuple[Dict[str, Any], Dict[str, Any]]) -> Any:
    attributes, slots = state
    return _original_setstate(obj, ({name: value for name, value in attributes.items()
                                     if not _kept(obj, name, value)}, slots))


# pickled as cloudpickle's own (a class pickled here is read as one anywhere)
_class_setstate.__module__, _class_setstate.__qualname__ = "cloudpickle.cloudpickle", "_class_setstate"


@contextlib.contextmanager
def keeping_own_functions() -> Iterator[None]:
    """Make cloudpickle's class setter keep the functions a class already has (``_kept``), and
    put back the setter it had after: while the client reads a block's results, and while a
    worker runs a block (what its shapes bring back, or time, must not give the block's classes
    copies of their methods). Not between blocks: a process must take each new block's
    functions, whose globals are that block's values."""
    previous = cloudpickle.cloudpickle._class_setstate
    cloudpickle.cloudpickle._class_setstate = _class_setstate
    try:
        yield
    finally:
        cloudpickle.cloudpickle._class_setstate = previous


def _by_value(cls: type) -> bool:
    try:
        return not cloudpickle.cloudpickle._should_pickle_by_reference(cls)
    except Exception:
        return cls.__module__ == "__main__"


def _data(cls: type) -> Dict[str, Any]:
    return {name: value for name, value in vars(cls).items()
            if not name.startswith("__") and not isinstance(value, _DESCRIPTORS)}


def taken(values: Iterable[Any]) -> List[Tuple[type, bytes]]:
    """(class, the pickle of its data attributes) of the classes among ``values`` and the
    classes of the instances among them that travel by value (the user's: only those are set
    again where they come back); a class whose data cannot be pickled is skipped."""
    classes = {}
    for value in values:
        for cls in (value, type(value)):
            if isinstance(cls, type) and id(cls) not in classes and _by_value(cls):
                classes[id(cls)] = cls
    found = []
    for cls in classes.values():
        try:
            found.append((cls, serialization.dumps_compared(_data(cls))))
        except Exception:
            continue
    return found


def changed(taken_classes: List[Tuple[type, bytes]]) -> List[type]:
    """The classes of ``taken`` whose data attributes the block changed, added or removed."""
    found = []
    for cls, before in taken_classes:
        try:
            if serialization.dumps_compared(_data(cls)) != before:
                found.append(cls)
        except Exception:
            found.append(cls)
    return found
