"""Functions that share a namespace here share it where they are unpickled, with the block and
with their module.

cloudpickle gives every function it sends by value a globals dict of its own, holding only the
globals its code names (one dict per pickle for the functions of one module). A block's own
assignments then never reached the functions it called: a script's ``LIMIT = 4`` then
``limited(2)`` gave 2 where CPython gives 8, and ``settings.THRESHOLD = 3`` then
``settings.scaled(5)`` gave 50, not 15, without a word. Two namespaces are kept whole instead:

* **the block's globals**: a function whose globals are those of the frame holding the block
  (``block_globals``, given to the pickler) gets, on the worker, the namespace the block runs
  in (``loading_into``); and a function the block defines (or a class's methods) gets, when it
  comes back, the globals of the caller's module, which it then reads as CPython's would;
* **a module sent by value** (a module of the user's, not installed on the cluster): the module
  and its functions get one new module on the worker, whose ``__dict__`` is their globals. A
  function sent without its module brings only the globals it names, as before; the module,
  when the block names it, brings all of its data.

A module made here is remembered (weakly) by its namespace, so that its functions are sent the
same way again from the worker to its compute processes.
"""
from __future__ import annotations

import builtins
import contextlib
import contextvars
import sys
import types
import weakref
from typing import Any, Dict, Iterator, Optional

from cloudpickle import cloudpickle as _cloudpickle

# {id(module.__dict__): module} of the modules ``_new_module`` made, while they live
_MADE: "weakref.WeakValueDictionary[int, types.ModuleType]" = weakref.WeakValueDictionary()
_loading_into: contextvars.ContextVar[Optional[Dict[str, Any]]] = contextvars.ContextVar("ufora_block_globals",
                                                                                         default=None)


@contextlib.contextmanager
def loading_into(namespace: Dict[str, Any]) -> Iterator[None]:
    """While unpickling a block's values: functions sent with the block's globals get ``namespace``."""
    token = _loading_into.set(namespace)
    try:
        yield
    finally:
        _loading_into.reset(token)


def _block_globals() -> Dict[str, Any]:
    """Called by unpickling: the namespace the block runs in (a new dict outside a block)."""
    namespace = _loading_into.get()
    return {} if namespace is None else namespace


def _new_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins.__dict__
    _MADE[id(module.__dict__)] = module
    return module


def _filled_module(module: types.ModuleType, data: Dict[str, Any]) -> types.ModuleType:
    module.__dict__.update(data)
    return module


class _Shared(dict):
    """Stands for a shared namespace in a pickle (cloudpickle's ``globals_ref`` holds one per
    namespace: every function of it refers to the one object). It pickles as ``made``, a
    reduction; the keys cloudpickle writes into it (``__name__``, ``__package__``, ``__file__``)
    are set in what ``made`` gives, unless ``naming`` is false (a block's functions coming back:
    the caller's module keeps its own ``__name__``)."""

    def __init__(self, made: tuple, naming: bool = True) -> None:
        super().__init__()
        self.made, self.naming = made, naming

    def __reduce_ex__(self, protocol: int) -> tuple:
        return (*self.made, None, None, iter(self.items()) if self.naming else None)


class _Shell:
    """Stands for a module sent by value: pickles as a new, empty module of its name (pickle
    makes it once per pickle: the object is the one per module in ``Namespaces``)."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module

    def __reduce__(self) -> tuple:
        return _new_module, (self.module.__name__,)


def _module_by_value(namespace: Dict[str, Any]) -> Optional[types.ModuleType]:
    """The module whose ``__dict__`` is ``namespace``, if it goes by value (a user's module, or
    one made here), else None."""
    module = sys.modules.get(namespace.get("__name__"))  # type: ignore[arg-type]
    if module is None or vars(module) is not namespace:
        module = _MADE.get(id(namespace))
        if module is None or vars(module) is not namespace:
            return None
    return None if _cloudpickle._should_pickle_by_reference(module) else module


class Namespaces:
    """One pickler's shared namespaces: it keeps cloudpickle's ``globals_ref`` (``globals_ref``)
    and a shell per module sent by value."""

    def __init__(self, globals_ref: Dict[int, Any], block_globals: Optional[Dict[str, Any]],
                 naming: bool = True) -> None:
        self.globals_ref = globals_ref
        self.shells: Dict[int, _Shell] = {}
        if block_globals is not None:
            globals_ref[id(block_globals)] = _Shared((_block_globals, ()), naming)

    def _shell(self, module: types.ModuleType) -> _Shell:
        return self.shells.setdefault(id(module), _Shell(module))

    def before_function(self, function: types.FunctionType) -> None:
        """Before cloudpickle reads ``globals_ref`` for ``function``: a function of a module sent
        by value shares that module's namespace."""
        namespace = function.__globals__
        if id(namespace) not in self.globals_ref:
            module = _module_by_value(namespace)
            if module is not None:
                self.globals_ref[id(namespace)] = _Shared((vars, (self._shell(module),)))

    def module_reduction(self, module: types.ModuleType) -> Optional[tuple]:
        """The reduction of a module sent by value (its shell filled with its data), or None."""
        if _cloudpickle._should_pickle_by_reference(module):
            return None
        data = {name: value for name, value in vars(module).items() if name != "__builtins__"}
        return _filled_module, (self._shell(module), data)
