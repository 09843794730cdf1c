"""Hidden module state a block shares with its caller: ``random``'s and ``numpy.random``'s
global generators, the ``decimal`` context and the process-wide settings
(``engine.process_settings``: numpy's error handling and print options, the warnings filters, the
recursion limit, the int digit limit, the environment).

Run locally, ``random.seed(7)`` before a block decides what the block draws, and the draws in
the block move the caller's generator; ``decimal.getcontext().prec = 6`` in the block is the
caller's precision afterwards. On the cluster those modules are the worker's. So when what the
block reads reaches one of these modules (the module itself, one of its functions, or a
function whose globals or closure do, however deep: ``wanted``), and the decimal context and the
settings always (``always``), the client sends that state with the block; the worker installs
it before the body runs (``install``), compared with what was installed, sends back what the body
changed (``changed``), and puts its own back; the client installs what came back in turn.
"""
from __future__ import annotations

import decimal
import dis
import itertools
import random
import types
from typing import Any, Dict, Iterable, Optional, Set

import numpy as np

from ufora.engine import process_settings
from ufora.engine.code import (cell_contents, installed_file, nested_codes, reachable, referenced_names, users_class,
                               written_by_user)

STATE = "__ufora_module_state__"  # the free variable, and the block result's variable, holding it

_DECIMAL_FIELDS = ("prec", "rounding", "Emin", "Emax", "capitals", "clamp")
# The context's signals travel by name: every block carries them, and pickling nine exception
# classes by reference was most of the cost of capturing a trivial block.
_SIGNALS = {signal.__name__: signal for signal in decimal.getcontext().traps}
_WALK_LIMIT = 10_000  # values looked at, at most: a block's reach is small; a cycle-rich one stops


def _kind(value: Any) -> Optional[str]:
    """Which state a value stands for: the module, a function of it, or a method of its hidden
    generator (``from random import random``, ``np.random.rand``)."""
    owner = getattr(value, "__self__", None)
    if owner is random._inst or value is random:
        return "random"
    if owner is np.random.mtrand._rand or value is np.random or value is np:
        return "numpy.random"
    if any(value is known for known in (decimal, decimal.getcontext, decimal.setcontext,
                                        decimal.localcontext, decimal.Decimal)):
        return "decimal"
    module = getattr(value, "__module__", None) if isinstance(value, (types.FunctionType, type)) else None
    if module == "random":
        return "random"
    return None


def imported(modules: Iterable[str]) -> Set[str]:
    """The states that code importing these modules (by name) reaches."""
    kinds = set()
    for module in modules:
        top = module.split(".")[0]
        if top == "random":
            kinds.add("random")
        elif top == "numpy":
            kinds.add("numpy.random")
    return kinds


def wanted(values: Iterable[Any]) -> Set[str]:
    """The states the block can reach through ``values`` (its free variables)."""
    kinds: Set[str] = set()
    for value in itertools.islice(reachable(values, _leads_to), _WALK_LIMIT):
        kind = _kind(value)
        if kind is not None:
            kinds.add(kind)
        elif isinstance(value, types.FunctionType) and written_by_user(value):
            kinds |= imported(ins.argval for code in nested_codes(value.__code__)
                              for ins in dis.get_instructions(code) if ins.opname == "IMPORT_NAME")
    return kinds


def _leads_to(value: Any) -> Iterable[Any]:
    """What a value the block reaches leads to, for ``wanted``: a method's function and owner,
    the globals and closure of the user's own functions (a library's keep their own state),
    the members of the user's classes, the class of an instance of one."""
    if _kind(value) is not None:
        return ()
    if isinstance(value, types.MethodType):
        return value.__func__, value.__self__
    if isinstance(value, types.FunctionType):
        if not written_by_user(value):
            return ()
        return [*(value.__globals__.get(name) for name in referenced_names(value.__code__)),
                *(cell_contents(cell) for cell in value.__closure__ or ())]
    if users_class(value):
        return [getattr(member, "__func__", member) for member in vars(value).values()]
    if isinstance(value, types.ModuleType) and _users_module(value):  # mymod.draw(), which calls random.random()
        return [member for member in vars(value).values()
                if isinstance(member, (types.FunctionType, type, types.ModuleType)) or _kind(member)]
    if not isinstance(value, (types.ModuleType, type)) and users_class(type(value)):
        return (type(value),)
    return ()


def _users_module(module: types.ModuleType) -> bool:
    """A module of the user's own files (not the standard library's, an installed package's or ufora's)."""
    file = getattr(module, "__file__", None)
    return (isinstance(file, str) and not installed_file(file)
            and module.__name__.split(".")[0] not in ("ufora", "pyfora"))


def always() -> Set[str]:
    """The states every block carries: the decimal context (a hundred bytes; Decimal values
    reach it through their arithmetic, not through any name the block reads) and the settings
    (numpy's arithmetic, ``str()``, warnings reach them, not any name the block reads)."""
    return {"decimal", "settings"}


def taken(kinds: Iterable[str]) -> Dict[str, Any]:
    """The current state of each kind, picklable."""
    states: Dict[str, Any] = {}
    for kind in kinds:
        if kind == "random":
            states[kind] = random.getstate()
        elif kind == "numpy.random":
            states[kind] = np.random.get_state()
        elif kind == "decimal":
            context = decimal.getcontext()
            states[kind] = ({name: getattr(context, name) for name in _DECIMAL_FIELDS},
                            {signal.__name__: bool(on) for signal, on in context.traps.items()},
                            {signal.__name__: bool(on) for signal, on in context.flags.items()})
        elif kind == "settings":
            states[kind] = process_settings.take()
    return states


def install(states: Dict[str, Any], current: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Make these the current states (the current decimal context is changed in place, as
    ``getcontext().prec = 6`` would); ``current``: the states now, when just taken (the settings
    are changed only where they differ: ``process_settings.apply``). The states now in force,
    which the code run after changes are told from: a setting this process cannot take may not
    be what was asked."""
    installed = dict(states)
    for kind, state in states.items():
        if kind == "random":
            random.setstate(state)
        elif kind == "numpy.random":
            np.random.set_state(state)
        elif kind == "decimal":
            fields, traps, flags = state
            context = decimal.getcontext()
            for name, value in fields.items():
                setattr(context, name, value)
            context.traps.update({_SIGNALS[name]: on for name, on in traps.items()})
            context.flags.update({_SIGNALS[name]: on for name, on in flags.items()})
        elif kind == "settings":
            installed[kind] = process_settings.apply(state, (current or {}).get(kind))
    return installed


def changed(before: Dict[str, Any], now: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The states among ``before``'s kinds that differ now (``now``: when just taken)."""
    now = taken(before) if now is None else now
    return {kind: state for kind, state in now.items() if not _same(state, before[kind])}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b
