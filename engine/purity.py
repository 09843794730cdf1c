"""Visible side effects: a shape whose element functions have them runs serially on the driver.

Splitting a shape runs its element function in other processes, in another order. That is
invisible for pure code and wrong for code that changes the world, so the functions of a shape,
and every plain function they reach through globals and closures, are read (their bytecode, no
execution) for:

* assignment to a global (``global g; g = ...``) or to a variable of an enclosing function
  (``nonlocal``);
* attribute assignment or deletion on anything (``obj.attr = ...``);
* item assignment or deletion on an object that is not the function's own local variable
  (``outer_list[i] = ...``, ``outer_dict[k] = ...``);
* a mutating method called on a global or closure object (``outer_list.append(...)``, ``add``,
  ``update``, ``extend``, ``insert``, ``pop``, ``remove``, ``clear``, ``setdefault``, ``write``...);
* calls to ``print``, ``open``, ``input``, ``exec``, ``eval``, ``breakpoint``, ``setattr``,
  ``delattr``, ``globals``;
* use of the ``random`` module, ``numpy.random`` or ``time`` (unseeded randomness, clocks), or
  of ``logging`` (output, whose order a split would change).

It is deliberately conservative: it can send a pure function down the serial path (slower, still
right), and it cannot see effects hidden behind C functions or ``getattr`` strings.
"""
from __future__ import annotations

import builtins
import dis
import types
from typing import Callable, Optional, Set

from engine.code import EMPTY, cell_contents, nested_codes

_EFFECT_BUILTINS = {"print", "open", "input", "exec", "eval", "breakpoint", "setattr", "delattr", "globals"}
_MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "add", "update",
                     "discard", "setdefault", "popitem", "write", "writelines", "send", "put",
                     "sort", "reverse", "__setitem__", "__delitem__"}
_EFFECT_MODULES = ("random", "numpy.random", "time", "logging")
_OUTSIDE_LOADS = {"LOAD_GLOBAL", "LOAD_DEREF", "LOAD_NAME", "LOAD_CLASSDEREF"}


def _module_effect(value) -> Optional[str]:
    module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    if isinstance(module, str) and any(module == m or module.startswith(m + ".") for m in _EFFECT_MODULES):
        return f"uses {module}"
    return None


def _code_effect(code: types.CodeType, fn_globals: dict) -> Optional[str]:
    instructions = list(dis.get_instructions(code))
    for index, ins in enumerate(instructions):
        op, name = ins.opname, ins.argval
        where = f"{code.co_name} (line {ins.positions.lineno if ins.positions else '?'})"
        if op in ("STORE_GLOBAL", "DELETE_GLOBAL"):
            return f"assigns global {name!r} in {where}"
        if op in ("STORE_DEREF", "DELETE_DEREF") and name in code.co_freevars:
            return f"assigns nonlocal {name!r} in {where}"
        if op in ("STORE_ATTR", "DELETE_ATTR"):
            return f"assigns attribute {name!r} in {where}"
        if op in ("STORE_SUBSCR", "DELETE_SUBSCR"):
            container = _container_load(instructions, index)
            if container is None or container.opname in _OUTSIDE_LOADS:
                return f"assigns an item of an outside object in {where}"
        if op in ("LOAD_METHOD", "LOAD_ATTR") and name in _MUTATING_METHODS and index:
            if instructions[index - 1].opname in _OUTSIDE_LOADS:
                return f"calls .{name}() on an outside object in {where}"
        if op in ("LOAD_GLOBAL", "LOAD_NAME") and name in _EFFECT_BUILTINS and name not in fn_globals:
            return f"calls {name}() in {where}"
    return None


def _container_load(instructions, index: int):
    """The instruction that pushed the container of a subscript store or delete, when container
    and key were pushed by single loads (``d[k] = v``, ``del d[k]``); None when it cannot tell."""
    operands = instructions[max(0, index - 2):index]
    if len(operands) < 2 or any(not i.opname.startswith("LOAD_") for i in operands):
        return None
    return operands[0]


def _function_effect(fn: Callable, seen: Set[int]) -> Optional[str]:
    if id(fn) in seen or str(getattr(fn, "__module__", "")).startswith("engine."):
        return None  # the engine's own entry points (nested shapes) are not the user's effects
    seen.add(id(fn))
    effect = _module_effect(fn)
    if effect or not isinstance(fn, types.FunctionType):
        return effect
    for code in nested_codes(fn.__code__):
        effect = _code_effect(code, fn.__globals__)
        if effect:
            return effect
        for name in code.co_names:
            value = fn.__globals__.get(name, getattr(builtins, name, None))
            effect = _module_effect(value) if value is not None else None
            if effect:
                return effect
            if isinstance(value, types.FunctionType):
                effect = _function_effect(value, seen)
                if effect:
                    return effect
    for cell in fn.__closure__ or ():
        value = cell_contents(cell)
        if value is EMPTY:
            continue
        effect = _module_effect(value) or (
            _function_effect(value, seen) if isinstance(value, types.FunctionType) else None)
        if effect:
            return effect
    return None


def side_effect(*functions: Optional[Callable]) -> Optional[str]:
    """Why these functions must not run out of order, or None if nothing visible was found."""
    seen: Set[int] = set()
    for fn in functions:
        if fn is not None:
            effect = _function_effect(fn, seen)
            if effect:
                return effect
    return None
