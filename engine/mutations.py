"""Free variables a block changes in place: found on the worker, applied to the caller's objects.

Run locally, ``with ...: results.append(x)`` changes the caller's own list. On the cluster the
block works on a copy (its free variables arrive pickled), so the worker compares each mutable
free variable's pickle before and after the block, and sends back the ones that changed, under
one name (``MUTATED``: a dict, pickled together so objects shared between them stay shared).
The client then updates the caller's objects *in place* (``apply``): a list's items, a dict's
or a set's contents, a bytearray, a writable numpy array of the same shape, an object's
attributes. What cannot be updated in place is named, and the caller is warned once.

Comparing costs two pickles of each value (0.2 s each for a list of 10M floats), so a value
over ``CHEAP_ITEMS`` items or ``CHEAP_BYTES`` bytes is compared only when the block's text could
change it (``touched``): a method called on it, a store or ``del`` into it, passing it to a
function (other than builtins that only read), or iterating it in a loop or comprehension that
calls something (which may change its items).

Values that are never compared: immutable ones (numbers, strings, tuples, frozensets...),
functions, classes, modules, read-only numpy arrays (a remote object's, or the caller's own
read-only ones), and values the block assigns (those come back as its variables).
"""
from __future__ import annotations

import ast
import builtins
import collections
import types
from typing import Any, Dict, List, Set

import numpy as np

from engine import serialization

MUTATED = "__ufora_mutated__"  # the block result's variable holding {name: changed value}

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, range, np.generic,
              types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, type)


CHEAP_ITEMS = 100_000
CHEAP_BYTES = 8 << 20
_READING_BUILTINS = {"len", "sum", "min", "max", "sorted", "list", "tuple", "set", "frozenset", "dict",
                     "enumerate", "zip", "range", "print", "repr", "str", "isinstance", "id", "any",
                     "all", "iter", "reversed", "abs", "round", "hash", "type", "bool", "int", "float"}


def _root(node: ast.AST) -> str:
    """The name an attribute or subscript chain starts from (``a`` of ``a.b[0].c``), or ""."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def touched(body: List[ast.stmt]) -> Set[str]:
    """The names whose values the block's text could change in place (see the module's
    docstring); a superset, read from the syntax only."""
    names: Set[str] = set()
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(_root(node))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                names.add(_root(node.func))  # xs.append(...), self.items.clear()
            if not (isinstance(node.func, ast.Name) and node.func.id in _READING_BUILTINS):
                arguments = [*node.args, *(k.value for k in node.keywords)]
                names.update(_root(a.value if isinstance(a, ast.Starred) else a) for a in arguments)
        elif isinstance(node, ast.For) and _calls(node.body):
            names.add(_root(node.iter))  # the loop may change the items
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            parts = [getattr(node, n) for n in ("elt", "key", "value") if hasattr(node, n)]
            if _calls([*parts, *(i for g in node.generators for i in g.ifs)]):
                names.update(_root(g.iter) for g in node.generators)
    return names - {""}


def _calls(nodes) -> bool:
    return any(isinstance(n, ast.Call) for part in nodes for n in ast.walk(part))


def _cheap(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.nbytes <= CHEAP_BYTES
    try:
        return len(value) <= CHEAP_ITEMS
    except TypeError:
        return True


def _compared(value: Any) -> bool:
    if isinstance(value, _IMMUTABLE):
        return False
    if isinstance(value, np.ndarray):
        return bool(value.flags.writeable)
    return True


def snapshot(namespace: Dict[str, Any], names, touched_names: Set[str]) -> Dict[str, tuple]:
    """{name: (the value, its pickle)} of the mutable values among ``names`` that are cheap to
    compare or that the block's text touches, before the block runs; a value that cannot be
    pickled cannot have come from the client, and is skipped."""
    taken = {}
    for name in names:
        value = namespace.get(name)
        if name in namespace and _compared(value) and (name in touched_names or _cheap(value)):
            try:
                taken[name] = (value, serialization.dumps(value))
            except Exception:
                continue
    return taken


def changed(namespace: Dict[str, Any], taken: Dict[str, tuple], assigned) -> Dict[str, Any]:
    """{name: value} of the snapshot's values the block changed in place (still bound to the
    same object, not assigned by the block, and pickled otherwise now)."""
    found = {}
    for name, (value, before) in taken.items():
        if name in assigned or namespace.get(name) is not value:
            continue
        try:
            if serialization.dumps(value) != before:
                found[name] = value
        except Exception:
            continue
    return found


def _update(target: Any, new: Any) -> bool:
    """Make ``target`` hold what ``new`` holds, in place; False when it cannot."""
    if type(target) is not type(new):
        return False
    if isinstance(target, (list, bytearray)):
        target[:] = new
    elif isinstance(target, (dict, set)):
        target.clear()
        target.update(new)
    elif isinstance(target, collections.deque):
        target.clear()
        target.extend(new)
    elif isinstance(target, np.ndarray):
        if target.shape != new.shape or target.dtype != new.dtype or not target.flags.writeable:
            return False
        target[...] = new
    elif isinstance(target, (np.random.Generator, np.random.BitGenerator)):
        bits = (target, new) if isinstance(target, np.random.BitGenerator) else (target.bit_generator, new.bit_generator)
        bits[0].state = bits[1].state
    elif isinstance(target, np.random.RandomState):
        target.set_state(new.get_state())
    elif _state_of(new) is not None and hasattr(target, "__setstate__"):
        target.__setstate__(_state_of(new))  # random.Random, list and range iterators...
        if hasattr(target, "__dict__") and hasattr(new, "__dict__"):
            vars(target).update(vars(new))
    elif hasattr(target, "__dict__") and not hasattr(type(target), "__slots__"):
        vars(target).clear()
        vars(target).update(vars(new))
    else:
        return False
    return True


def _state_of(value: Any) -> Any:
    """The state ``__reduce__`` gives for ``value`` when its type restores it with its own
    ``__setstate__`` (not object's default); else None."""
    if getattr(type(value), "__setstate__", None) is getattr(object, "__setstate__", None):
        return None
    try:
        reduced = value.__reduce__()
    except Exception:
        return None
    return reduced[2] if isinstance(reduced, tuple) and len(reduced) >= 3 and reduced[2] is not None else None


def apply(targets: Dict[str, Any], values: Dict[str, Any]) -> List[str]:
    """Update each of ``targets`` (the caller's objects, by name) in place with the value the
    block left in it; the names that could not be updated so."""
    return [name for name, value in values.items() if name not in targets or not _update(targets[name], value)]
