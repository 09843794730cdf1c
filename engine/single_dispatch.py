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


def generic(value: Any) -> bool:
    """Whether ``value`` is a ``functools.singledispatch`` function (told by what functools gives
    it: see ``reduction``)."""
    return (type(value) is types.FunctionType and value.__code__.co_name == _WRAPPER_NAME
            and _OWN_ATTRIBUTES <= vars(value).keys() and isinstance(value.registry, types.MappingProxyType))


def update(target: Callable[..., Any], new: Callable[..., Any]) -> None:
    """Make the generic function ``target`` dispatch as ``new``, its copy that a block changed:
    the types registered there and not here get their implementations (``new``'s copies), and
    the attributes set there are set here; the types registered here keep theirs."""
    for kind, implementation in new.registry.items():  # type: ignore[attr-defined]
        if kind not in target.registry:  # type: ignore[attr-defined]
            target.register(kind, implementation)  # type: ignore[attr-defined]
    for name, value in vars(new).items():
        if name not in _OWN_ATTRIBUTES:
            setattr(target, name, value)


def reduction(function: types.FunctionType) -> Optional[Tuple[Callable[..., Any], tuple]]:
    """How to pickle ``function`` if it is a singledispatch function that goes by value; None
    for any other function. Told by what functools gives it, not by its code object: a wrapper
    the block made after a shipped one was remade there had code of its own (its qualified
    names were those of the engine's rewritten copies, ``__ufora_outer__.<locals>...``)."""
    if not generic(function):
        return None
    if cloudpickle.cloudpickle._should_pickle_by_reference(function):
        return None
    registered = tuple((kind, implementation) for kind, implementation in function.registry.items()
                       if kind is not object or implementation is not function.__wrapped__)
    extra = {name: value for name, value in vars(function).items() if name not in _OWN_ATTRIBUTES}
    named = {name: getattr(function, name) for name in _NAMING}
    return _remade, (function.__wrapped__, registered, extra, named)


_NAMING = ("__name__", "__qualname__", "__doc__", "__module__")  # which the user may set after decorating


def _remade(wrapped: Callable[..., Any], registered: Tuple[Tuple[type, Callable[..., Any]], ...],
            extra: Dict[str, Any], named: Dict[str, Any]) -> Callable[..., Any]:
    remade = functools.singledispatch(wrapped)
    for kind, implementation in registered:  # (object: an implementation registered over the function's own)
        remade.register(kind, implementation)
    vars(remade).update(extra)
    for name, value in named.items():
        setattr(remade, name, value)
    return remade
