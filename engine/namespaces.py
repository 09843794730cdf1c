"""Functions that share a namespace here share it where they are unpickled, with the block and
with their module.

cloudpickle gives every function it sends by value a globals dict of its own, holding only the
globals its code names (one dict per pickle for the functions of one module). A block's own
assignments then never reached the functions it called: a script's ``LIMIT = 4`` then
``limited(2)`` gave 2 where CPython gives 8, and ``settings.THRESHOLD = 3`` then
``settings.scaled(5)`` gave 50, not 15, without a word. Two namespaces are kept whole instead:

* **the block's globals**: a function whose globals are those of the frame holding the block
  (``block_globals``, given to the pickler with the block's file) gets, on the worker, the
  namespace the block runs in (``loading_into``); and a function the block defines (or a
  class's methods) gets, when it comes back, the globals of the caller's module, which it then
  reads as CPython's would. A pickle read where no block of that file is being loaded (a kept
  function used by a block of another module) gives the function a dict of its own, as before;
* **a module sent by value** (a module of the user's, not installed on the cluster): the module
  and its functions get one new module on the worker, whose ``__dict__`` is their globals. A
  function sent without its module brings only the globals it names, as before; the module,
  when the block names it, brings all of its data. Read back by the client
  (``loading_into(..., adopting=True)``), such a module is the client's own.

A function the worker sends (a result, a value kept on the cluster) joining a namespace only
adds the globals missing from it (``_joining_setstate``): cloudpickle's own setter writes all of
them, which let a function kept from an earlier block overwrite what the client had just sent,
and made a function coming back replace the caller's globals with copies (``__builtins__``
too). The client's pickle of a block writes its globals (``_writing_setstate``): they are the
current values, whatever was loaded before them.

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
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

from cloudpickle import cloudpickle as _cloudpickle

# {id(module.__dict__): module} of the modules ``_new_module`` made, while they live
_MADE: "weakref.WeakValueDictionary[int, types.ModuleType]" = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class _Loading:
    namespace: Dict[str, Any]  # what the functions of the block's module get as their globals
    block_file: str  # the file of the block being loaded
    adopting: bool  # a module of the user's that comes back is the one loaded here (the client)


_loading: contextvars.ContextVar[Optional[_Loading]] = contextvars.ContextVar("ufora_loading", default=None)


@contextlib.contextmanager
def loading_into(namespace: Dict[str, Any], block_file: str, adopting: bool = False) -> Iterator[None]:
    """While unpickling the values of a block of ``block_file``: functions sent with that block's
    globals get ``namespace``; ``adopting``: a module of the user's loaded here is taken as itself."""
    token = _loading.set(_Loading(namespace, block_file, adopting))
    try:
        yield
    finally:
        _loading.reset(token)


def _block_globals(block_file: str) -> Dict[str, Any]:
    """Called by unpickling: the namespace of the block of ``block_file`` being loaded, or a new
    dict (no block, or one of another file)."""
    loading = _loading.get()
    return loading.namespace if loading is not None and loading.block_file == block_file else {}


def _new_module(name: str) -> types.ModuleType:
    """Called by unpickling: a new module of ``name``; the client's own when it reads a block's
    results and has it (``loading_into(..., adopting=True)``)."""
    loading = _loading.get()
    existing = sys.modules.get(name)
    if loading is not None and loading.adopting and existing is not None \
            and _cloudpickle._is_registered_pickle_by_value(existing):
        return existing
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins.__dict__
    _MADE[id(module.__dict__)] = module
    return module


def _merge(namespace: Dict[str, Any], values: Dict[str, Any], fill_only: bool) -> None:
    """Put ``values`` in ``namespace``: all of them, or (``fill_only``) those missing there."""
    if not fill_only:
        namespace.update(values)
        return
    for name, value in values.items():
        namespace.setdefault(name, value)


def _filled_module(module: types.ModuleType, data: Dict[str, Any]) -> types.ModuleType:
    # a module made here takes all its data; the client's own (adopted) keeps its values
    _merge(module.__dict__, data, fill_only=_MADE.get(id(module.__dict__)) is not module)
    return module


_MISSING = object()


def _joining_function(code: types.CodeType, namespace: Dict[str, Any], name: str, defaults: Any,
                      closure: Any) -> types.FunctionType:
    """cloudpickle's function maker, for a shared namespace: its ``__builtins__`` is kept (the
    caller's module has the builtins module there; cloudpickle's sets a dict)."""
    namespace.setdefault("__builtins__", builtins.__dict__)
    return types.FunctionType(code, namespace, name, defaults, closure)


def _joining_setstate(function: types.FunctionType, state: tuple) -> None:
    """cloudpickle's function setter, for a function whose globals are a shared namespace: of the
    globals it brings, only those missing there are added, and the namespace's ``__builtins__``
    is left as it is."""
    _set_state(function, state, fill_only=True)


def _writing_setstate(function: types.FunctionType, state: tuple) -> None:
    """As ``_joining_setstate``, but the globals it brings are written (the client's pickle of a
    block: its values are the current ones, over those of a function kept from an earlier block)."""
    _set_state(function, state, fill_only=False)


def _set_state(function: types.FunctionType, state: tuple, fill_only: bool) -> None:
    own, slots = state
    namespace = function.__globals__
    _merge(namespace, slots["__globals__"], fill_only)
    kept = namespace.get("__builtins__", _MISSING)
    _cloudpickle._function_setstate(function, (own, {**slots, "__globals__": {}}))
    if kept is not _MISSING:
        namespace["__builtins__"] = kept


class _Shared(dict):
    """Stands for a shared namespace in a pickle (cloudpickle's ``globals_ref`` holds one per
    namespace: every function of it refers to the one object). It pickles as ``made``, a
    reduction; the keys cloudpickle writes into it (``__name__``, ``__package__``, ``__file__``)
    are set in what ``made`` gives, unless ``naming`` is false (a block's functions coming back:
    the caller's module keeps its own ``__name__``). ``stands_for``: the namespace itself, which
    a reader's reference to this object means here (``serialization.WrittenObjects``)."""

    def __init__(self, made: tuple, naming: bool, stands_for: Dict[str, Any]) -> None:
        super().__init__()
        self.made, self.naming, self.stands_for = made, naming, stands_for

    def __reduce_ex__(self, protocol: int) -> tuple:
        return (*self.made, None, None, iter(self.items()) if self.naming else None)


def stands_for(value: Any) -> Any:
    """The namespace a ``_Shared`` written by a pickler stands for; any other value itself."""
    return value.stands_for if type(value) is _Shared else value


class _Shell:
    """Stands for a module sent by value: pickles as a new, empty module of its name (pickle
    makes it once per pickle: the object is the one per module in ``Namespaces``)."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module

    def __reduce__(self) -> tuple:
        return _new_module, (self.module.__name__,)


def _module_by_value(namespace: Dict[str, Any]) -> Optional[types.ModuleType]:
    """The module whose ``__dict__`` is ``namespace``, if it goes by value (one made here first,
    whatever ``sys.modules`` holds under its name; else a user's module registered by value),
    else None."""
    module = _MADE.get(id(namespace))
    if module is not None and vars(module) is namespace:
        return module
    module = sys.modules.get(namespace.get("__name__"))  # type: ignore[arg-type]
    if module is None or vars(module) is not namespace or _cloudpickle._should_pickle_by_reference(module):
        return None
    return module


class Namespaces:
    """One pickler's shared namespaces: it keeps cloudpickle's ``globals_ref`` (``globals_ref``)
    and a shell per module sent by value. ``block_globals``, of a block of ``block_file``: the
    namespace whose functions get, where the pickle is read, that block's namespace."""

    def __init__(self, globals_ref: Dict[int, Any], block_globals: Optional[Dict[str, Any]], block_file: str = "",
                 naming: bool = True) -> None:
        self.globals_ref = globals_ref
        self.shells: Dict[int, _Shell] = {}
        # the client's pickle (naming) writes its functions' globals; the worker's only adds
        self.setter = _writing_setstate if naming else _joining_setstate
        if block_globals is not None:
            globals_ref[id(block_globals)] = _Shared((_block_globals, (block_file,)), naming, block_globals)

    def _shell(self, module: types.ModuleType) -> _Shell:
        return self.shells.setdefault(id(module), _Shell(module))

    def before_function(self, function: types.FunctionType) -> None:
        """Before cloudpickle reads ``globals_ref`` for ``function``: a function of a module sent
        by value shares that module's namespace."""
        namespace = function.__globals__
        if id(namespace) not in self.globals_ref:
            module = _module_by_value(namespace)
            if module is not None:
                self.globals_ref[id(namespace)] = _Shared((vars, (self._shell(module),)), True, namespace)

    def function_reduction(self, function: types.FunctionType, reduced: Any) -> Any:
        """cloudpickle's reduction of ``function``, made by ``_joining_function`` and set by
        ``self.setter`` when its globals are a shared namespace."""
        if type(self.globals_ref.get(id(function.__globals__))) is _Shared and type(reduced) is tuple \
                and len(reduced) == 6:
            return (_joining_function, *reduced[1:5], self.setter)
        return reduced

    def module_reduction(self, module: types.ModuleType) -> Optional[tuple]:
        """The reduction of a module sent by value (its shell filled with its data), or None."""
        if _module_by_value(vars(module)) is None:
            return None
        data = {name: value for name, value in vars(module).items() if name != "__builtins__"}
        return _filled_module, (self._shell(module), data)
