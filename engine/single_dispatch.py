"""``functools.singledispatch`` functions sent by value: remade from what they dispatch to.

A generic function a block defines (``@singledispatch def size(x)``, then ``@size.register``)
is a wrapper whose closure holds its dispatch cache, a ``weakref.WeakKeyDictionary``, which
cannot be pickled: a user's trial found such a block failing at its end ("the value of 'size'
(function) cannot be sent back to the client: cannot pickle 'weakref.ReferenceType' object")
where CPython ran it, and one defined in the client's script could not be sent to the cluster.
It goes instead as the function it wraps, the implementations registered for each type, and the
attributes the user set on it: ``functools.singledispatch`` remakes it where it arrives, with a
cache of its own. One importable by name still goes by name (cloudpickle's rule), and stays the
module's own.
"""
from __future__ import annotations

import functools
import types
from typing import Any, Callable, Dict, Optional, Tuple

import cloudpickle

# the attributes functools gives every singledispatch wrapper
_OWN_ATTRIBUTES = frozenset({"register", "dispatch", "registry", "_clear_cache", "__wrapped__"})
_WRAPPER_NAME = functools.singledispatch(lambda value: value).__code__.co_name


def reduction(function: types.FunctionType) -> Optional[Tuple[Callable[..., Any], tuple]]:
    """How to pickle ``function`` if it is a singledispatch function that goes by value; None
    for any other function. Told by what functools gives it, not by its code object: a wrapper
    the block made after a shipped one was remade there had code of its own (its qualified
    names were those of the engine's rewritten copies, ``__ufora_outer__.<locals>...``)."""
    if (function.__code__.co_name != _WRAPPER_NAME or not _OWN_ATTRIBUTES <= vars(function).keys()
            or not isinstance(function.registry, types.MappingProxyType)):
        return None
    if cloudpickle.cloudpickle._should_pickle_by_reference(function):
        return None
    registered = tuple((kind, implementation) for kind, implementation in function.registry.items()
                       if kind is not object)
    extra = {name: value for name, value in vars(function).items() if name not in _OWN_ATTRIBUTES}
    return _remade, (function.__wrapped__, registered, extra)


def _remade(wrapped: Callable[..., Any], registered: Tuple[Tuple[type, Callable[..., Any]], ...],
            extra: Dict[str, Any]) -> Callable[..., Any]:
    remade = functools.singledispatch(wrapped)
    for kind, implementation in registered:
        remade.register(kind, implementation)
    vars(remade).update(extra)
    return remade
