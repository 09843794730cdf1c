"""Classes sent by value are remade without running their bases' ``__init_subclass__`` again.

cloudpickle remakes a class sent by value as a skeleton (``types.new_class``), then fills in its
attributes. Making the skeleton runs ``__init_subclass__`` of its bases, as a class statement
does: a registry that a base's ``__init_subclass__`` fills (``Shape.registry.append(cls)``)
arrived already holding every subclass, and each subclass remade added itself again. A user's
trial found ``['Sq', 'Circ']`` in CPython and ``['Sq', 'Circ', 'Sq', 'Circ']`` from a block. The
class was made once, where it was defined; whatever its ``__init_subclass__`` did then (to the
class itself, or to a registry) travels in the pickle with the objects it changed, so it is not
run again. The skeleton is made with the ``__init_subclass__`` of each of its bases' classes that
defines one set aside for that moment.

A metaclass of the user's whose ``__new__`` or ``__init__`` does such work still runs it again.
The skeleton also takes the class's ``__slots__`` (``_slots_kept``) and its qualified name,
which cloudpickle left as its plain name (``Box`` for ``f.<locals>.Box``).

An ``Enum`` sent by value is remade with its aliases (``RED = 1; CRIMSON = 1``): cloudpickle
remade it from its iteration, which leaves aliases out, so ``__members__`` lost them and the
alias, left among the class's other attributes, failed the whole block ("cannot reassign member
'CRIMSON'").
"""
from __future__ import annotations

import threading
import types
import typing
from typing import Any, Dict, Optional, Tuple

from cloudpickle import cloudpickle as _cloudpickle

_setting_aside = threading.Lock()  # one skeleton at a time: a base's hook is set aside meanwhile


def _ignored(cls: type, **kwargs: Any) -> None:
    return None


_IGNORED = classmethod(_ignored)


def quiet(cls: type, reduced: Any) -> Any:
    """cloudpickle's reduction ``reduced`` of the class ``cls`` by value, its skeleton made by
    ``made_quietly`` (with its ``__slots__``: ``_slots_kept``), or, an ``Enum``, with every
    member of ``__members__``; any other reduction as it is."""
    if type(reduced) is not tuple or not reduced:
        return reduced
    if reduced[0] is _cloudpickle._make_skeleton_class:
        return (made_quietly, (*_slots_kept(cls, reduced[1]), cls.__qualname__), *reduced[2:])
    if reduced[0] is _cloudpickle._make_skeleton_enum:
        return _with_aliases(cls, reduced)
    return reduced


def _slots_kept(cls: type, arguments: tuple) -> tuple:
    """``_make_skeleton_class``'s arguments for ``cls``, its skeleton made with its ``__slots__``:
    cloudpickle 3.1 sets them only after the class is made, so its instances had a ``__dict__``
    and came back as ``'Point' object has no attribute '__dict__'`` to the real class. Not a
    ``typing.NamedTuple``'s, whose skeleton has them, and refuses them ("Cannot overwrite
    NamedTuple attribute __slots__")."""
    if "__slots__" not in vars(cls) or typing.NamedTuple in getattr(cls, "__orig_bases__", ()):
        return arguments
    kind, name, bases, type_kwargs, *tracking = arguments
    return (kind, name, bases, {**type_kwargs, "__slots__": cls.__slots__}, *tracking)


def _with_aliases(cls: Any, reduced: tuple) -> tuple:
    constructor, (bases, name, qualname, _, module, tracker, extra), (attributes, slots), *rest = reduced
    members = {member_name: member.value for member_name, member in cls.__members__.items()}
    attributes = {key: value for key, value in attributes.items() if key not in members}
    return (constructor, (bases, name, qualname, members, module, tracker, extra), (attributes, slots), *rest)


def made_quietly(type_constructor: type, name: str, bases: Tuple[type, ...], type_kwargs: Dict[str, Any],
                 class_tracker_id: Any, extra: Any, qualname: Optional[str] = None) -> type:
    """cloudpickle's skeleton class, made without its bases' ``__init_subclass__``, with its
    qualified name (``f.<locals>.Box``: cloudpickle's was its name alone)."""
    with _setting_aside:
        hooked = {base: vars(base)["__init_subclass__"] for cls in types.resolve_bases(bases) for base in cls.__mro__
                  if "__init_subclass__" in vars(base) and _is_heap(base)}
        try:
            for base in hooked:
                type.__setattr__(base, "__init_subclass__", _IGNORED)
            made = _cloudpickle._make_skeleton_class(type_constructor, name, bases, type_kwargs, class_tracker_id,
                                                     extra)
        finally:
            for base, hook in hooked.items():
                type.__setattr__(base, "__init_subclass__", hook)
    if qualname is not None:
        made.__qualname__ = qualname
    return made


def _is_heap(cls: type) -> bool:
    """Whether ``cls`` was made by a class statement (its attributes can be set)."""
    return bool(cls.__flags__ & (1 << 9))  # Py_TPFLAGS_HEAPTYPE
