"""Free variables a block changes in place: found on the worker, applied to the caller's objects.

Run locally, ``with ...: results.append(x)`` changes the caller's own list. On the cluster the
block works on a copy (its free variables arrive pickled), so the worker compares each mutable
free variable's pickle before and after the block, and sends back the ones that changed, under
one name (``MUTATED``: a dict, pickled together so objects shared between them stay shared).
The client then updates the caller's objects *in place* (``apply``): a list's items, a dict's
or a set's contents, a bytearray, a writable numpy array of the same shape, an object's
attributes. What cannot be updated in place is named, and the caller is warned once.

Comparing costs two pickles of each value (0.2 s each for a list of 10M floats), so a value
over ``CHEAP_ITEMS`` items or ``CHEAP_BYTES`` bytes, or an object other than a container or an
array (whose size cannot be told cheaply), is compared only when the block's text could change
it (``touched``): a method called on it, a store or ``del`` into it, passing it to a
function (other than builtins that only read), or iterating it in a loop or comprehension that
calls something (which may change its items).

The closure cells of the functions the block reads (a counter's ``nonlocal count``) are
compared and set again the same way (``closures``, ``apply_cells``). The module globals that
the user's own functions reached from the block read (``LOG`` of a
helper doing ``LOG.append(x)``, ``CALLS`` of one doing ``global CALLS; CALLS += 1``) travel
inside those functions, by value, so they are compared the same way (``helpers_globals``) and
come back under the function's module name; the client updates or rebinds them in that module
(``apply_globals``).

The object a free variable that is a bound method is bound to (``record = log.append``: the
list; ``add = tally.add``: the tally) is compared and updated the same way, under the name
``record.__self__`` (``owners``, ``targets``): calling the method changes it, though the block
never names it.

The calls a block makes to an lru_cache function fill the cluster's copy of its cache, which
cannot be sent back (``engine.lru_caches``): the functions whose counts moved are named
(``caches``, ``used_caches``), and the client warns that its cache is as before the block.

Where an object inside a changed value moved or was replaced (a sort, a pop: ``moved``), the
update cannot follow it by position: the caller's value then holds new objects, and is told.
Sets and dicts whose elements or keys are objects (not numbers, strings, tuples of them) are
not updated (copies would not be the caller's objects): named in a warning.

A tuple (or namedtuple) holding what can change (``pair[0][0] = 1.0``) is compared too, and
updated item by item: whole, or not at all and named (``_refused``), never half.

Values that are never compared: immutable ones (numbers, strings, tuples of them, frozensets...),
functions, classes, modules, read-only numpy arrays (a remote object's, or the caller's own
read-only ones), and values the block assigns (those come back as its variables).
"""
from __future__ import annotations

import ast
import collections
import copyreg
import datetime
import decimal
import fractions
import functools
import itertools
import operator
import pickle
import random
import sys
import types
from typing import AbstractSet, Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

import numpy as np

from ufora.engine import gc_pause, lru_caches, serialization, single_dispatch
from ufora.engine.purity import MUTATING_METHODS, may_change_arguments
from ufora.engine.code import cell_contents, reachable, referenced_names, users_class, written_by_user

# the block result's variable holding {"free": {name: changed value}, "moved": [names], "globals":
# {module: {name: value}}, "cells": {function's name: {variable: value}}, "caches": [names], "classes":
# [the classes whose data attributes changed, unpickled here over the client's own: engine.class_state],
# "deleted": [names the block unbound: del x]}
MUTATED = "__ufora_mutated__"

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, range, np.generic,
              types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, type,
              lru_caches.CacheWrapper)  # (what its calls change cannot be sent: ``caches``)


# exactly these types (not subclasses, whose instances may carry state): values that never
# stand for a caller's object, taken as they came back without a look
_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})

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
    docstring); a superset, read from the syntax only. A name bound to part of another value
    (``first = items[0]``, ``head = arr[:10]``, ``for it in items``, ``for i, r in
    enumerate(rows)``) passes a change on to it: ``first.qty += 10`` touches ``items``.
    (Before, only a loop whose body called something counted: 150,000 objects updated by
    ``for it in items: it.qty += 1`` came back unchanged, silently.)"""
    names = _changed_directly(body)
    aliases = _aliases(body)
    while True:
        reached = set().union(*(aliases.get(name, set()) for name in names)) - names
        if not reached:
            return names - {""}
        names |= reached


# builtins whose result holds nothing of their arguments: a name bound to it is no alias
_NEW_VALUE_BUILTINS = {"len", "sum", "abs", "round", "hash", "id", "bool", "int", "float", "str", "repr",
                       "isinstance", "any", "all", "print", "type", "range"}


def _aliases(body: List[ast.stmt]) -> Dict[str, Set[str]]:
    """{name: the names whose values a value bound to it may be part of}: assignments, loop and
    comprehension variables, ``with ... as`` names."""
    found: Dict[str, Set[str]] = collections.defaultdict(set)

    def bind(target: ast.AST, value: ast.AST) -> None:
        sources = _names_in(value)
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                found[node.id] |= sources

    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target, node.value)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            bind(node.target, node.value)
        elif isinstance(node, (ast.For, ast.comprehension)):
            bind(node.target, node.iter)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, node.context_expr)
    return found


def _names_in(value: ast.AST) -> Set[str]:
    """The names a value may hold part of: every name in the expression but those only passed
    to builtins that make a new value of them (``len(xs)``)."""
    skipped = {id(n) for call in ast.walk(value)
               if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in _NEW_VALUE_BUILTINS
               for argument in [*call.args, *(k.value for k in call.keywords)] for n in ast.walk(argument)}
    return {n.id for n in ast.walk(value) if isinstance(n, ast.Name) and id(n) not in skipped}


def _changed_directly(body: List[ast.stmt]) -> Set[str]:
    """The names the text changes through themselves: a store, ``del`` or ``+=`` into them, a
    method called on them, passed to a function, or looped over by a loop that calls something."""
    names: Set[str] = set()
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(_root(node))
        elif isinstance(node, ast.AugAssign):
            names.add(_root(node.target))  # data += 1.5 changes an array (a list) in place
        elif isinstance(node, ast.Call):
            if isinstance(node.func, (ast.Attribute, ast.Subscript, ast.Name)):
                names.add(_root(node.func))  # xs.append(...), self.items.clear(), counter(x), hooks[0](x)
            if not (isinstance(node.func, ast.Name) and node.func.id in _READING_BUILTINS):
                names.update(_passed(node))
            else:  # sorted(xs, key=counted): the key is called; print(x, file=buf) writes; iter(counter, 3) calls
                names.update(_root(k.value) for k in node.keywords if k.arg in ("key", "file"))
                if node.func.id == "iter" and len(node.args) == 2:
                    names.add(_root(node.args[0]))
        elif isinstance(node, ast.For) and _calls(node.body):
            names.add(_root(node.iter))  # the loop may change the items
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            parts = [getattr(node, n) for n in ("elt", "key", "value") if hasattr(node, n)]
            if _calls([*parts, *(i for g in node.generators for i in g.ifs)]):
                names.update(_root(g.iter) for g in node.generators)
    return names


def written(body: List[ast.stmt]) -> Set[str]:
    """The names whose values the block's text writes into: a store, ``del`` or ``+=`` into
    them or into an item or attribute of them, a method called on them, and those a loop (or
    comprehension) goes over whose variable is written into (``for e in staff: e.pay = 1``).
    A guess at which values will have changed, for ``snapshot``: never needed to be right."""
    names: Set[str] = set()
    loops = []
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(_root(node))
        elif isinstance(node, ast.AugAssign):
            names.add(_root(node.target))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names.add(_root(node.func))
        elif isinstance(node, (ast.For, ast.comprehension)):
            loops.append(node)
    for loop in loops:
        if {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)} & names:
            names.add(_root(loop.iter))
    return names - {""}


def written_into(body: List[ast.stmt]) -> Set[str]:
    """The names the block's text writes into itself: a store, ``del`` or ``+=`` into them or
    into an item or attribute of them, or a method that changes its object
    (``purity.MUTATING_METHODS``) called on them; narrower than ``written`` (any method)."""
    names: Set[str] = set()
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(_root(node))
        elif isinstance(node, ast.AugAssign):
            names.add(_root(node.target))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in MUTATING_METHODS):
            names.add(_root(node.func))
    return names - {""}


# (the callee's dotted name, the names the call passes it) of a call in a block's text
Call = Tuple[Tuple[str, ...], FrozenSet[str]]


def calls_passing(body: List[ast.stmt]) -> Tuple[Call, ...]:
    """The calls of the block's text that pass names to a callee named by a dotted name
    (``clean(rows)``, ``helpers.clean(rows=rows)``, ``random.shuffle(xs)``, ``model.fit(xs)``):
    which of them may change what they are given is known only from the values, as the block
    runs (``passed_to_changers``)."""
    found: List[Call] = []
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if not isinstance(node, ast.Call):
            continue
        path, passed = _dotted(node.func), _passed(node) - {""}
        if path is not None and passed:
            found.append((path, frozenset(passed)))
    return tuple(found)


def _passed(call: ast.Call) -> Set[str]:
    """The names whose values ``call`` passes (``""`` for an expression that is none): its
    arguments, starred or keyword, and the values of a dict written after ``**``
    (``f(**{'lst': xs})`` passes ``xs``)."""
    arguments = [*call.args, *(k.value for k in call.keywords)]
    return ({_root(a.value if isinstance(a, ast.Starred) else a) for a in arguments}
            | {_root(value) for k in call.keywords if k.arg is None and isinstance(k.value, ast.Dict)
               for value in k.value.values})


def _dotted(node: ast.expr) -> Optional[Tuple[str, ...]]:
    """``("a", "b", "c")`` for ``a.b.c``; None for any other expression."""
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return (node.id, *reversed(parts)) if isinstance(node, ast.Name) else None


def passed_to_changers(calls: Tuple[Call, ...], namespace: Dict[str, Any], candidates: Set[str]) -> Set[str]:
    """Which of the names ``candidates`` the block's ``calls`` pass to a callee that may change
    what it is given (``purity.may_change_arguments``), the callees read from ``namespace``:
    attributes of modules and classes, and of objects through their classes (no property runs)."""
    found: Set[str] = set()
    for path, passed in calls:
        wanted = (passed & candidates) - found
        if wanted and may_change_arguments(_callee(path, namespace)):
            found |= wanted
    return found


def _callee(path: Tuple[str, ...], namespace: Dict[str, Any]) -> Any:
    value = namespace.get(path[0])
    for attribute in path[1:]:
        holder = value if isinstance(value, (types.ModuleType, type)) else type(value)
        value = getattr(holder, attribute, None)
    return value


def remote_compared(values: Dict[str, Any], touched_names: Set[str], written_names: Set[str],
                    written_into_names: Set[str], passed_to_changers_names: Set[str] = frozenset()) -> List[str]:
    """Which of the remote objects ``values`` (by their free variables' names) to compare
    before and after the block: each one the text writes into (``written_into``), a cheap one it
    touches (a small object of the user's class too, ``_light_object``: one passed to a function
    that changed it lost the change, a user's trial found), and an object of the user's class it calls a method
    of. Not a large one it only reads or passes on (a review: comparing 400k records a block
    summed cost it 3x its time), unless the block passes it to a function that may change it
    (``passed_to_changers_names``: a helper that changed a large value in place changed the
    cluster's copy only)."""
    return [name for name, value in values.items()
            if name in written_into_names or name in passed_to_changers_names
            or name in touched_names and (_cheap(value) or _light_object(value))
            or name in written_names and users_class(type(value))]


def _light_object(value: Any) -> bool:
    """A ``_small_object`` whose attributes' items and bytes together are those of one cheap
    value (``CHEAP_ITEMS``, ``CHEAP_BYTES``): compared on every block that passes it to a
    function, where a model holding a few 8 MB arrays cost 0.1 s a block (a review)."""
    if not _small_object(value):
        return False
    if isinstance(value, _GENERATORS):
        return True
    attributes = vars(value).values()
    return (sum(len(a) for a in attributes if isinstance(a, (list, dict, set, bytearray, collections.deque)))
            <= CHEAP_ITEMS and sum(a.nbytes for a in attributes if isinstance(a, np.ndarray)) <= CHEAP_BYTES)


def unbinding(body: List[ast.stmt]) -> Set[str]:
    """The names the block's own code may unbind: ``del x``, and ``except E as e`` (CPython
    deletes ``e`` when the handler ends); not inside the functions, lambdas or classes it
    defines, which have scopes of their own."""
    names: Set[str] = set()
    todo: List[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Delete):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _calls(nodes) -> bool:
    return any(isinstance(n, ast.Call) for part in nodes for n in ast.walk(part))


def _holds_changeable(value: tuple) -> bool:
    """Whether a tuple holds what can change in place (an array, a list, an object, or a tuple
    holding one): none of its items can be rebound, but such an item can change. Atoms and other
    values that cannot change (dates, Decimals), and records of them, are told by their types'
    set, at C speed (a tuple of 1M records of a string and a numpy float: no pass in Python on
    every block); nested tuples are walked without recursion (a chain 500 deep is a tuple too)."""
    todo, seen = [value], set()
    while todo:
        held = todo.pop()
        kinds = set(map(type, held))
        if _unchanging(kinds):
            continue
        if all(issubclass(kind, tuple) and kind.__dictoffset__ == 0 for kind in kinds) and \
                _unchanging(set(map(type, itertools.chain.from_iterable(held)))):
            continue  # records of atoms
        for item in held:
            if isinstance(item, tuple):
                if id(item) not in seen:
                    seen.add(id(item))
                    todo.append(item)
            elif not isinstance(item, _UNCHANGING) and _inside(item):
                return True
    return False


def _cheap(value: Any, depth: int = 0) -> bool:
    """Small enough to pickle twice on every block: an array up to CHEAP_BYTES, a container up
    to CHEAP_ITEMS items, a tuple holding what can change whose items (those of the tuples in it
    too) number up to CHEAP_ITEMS and are each cheap, a small object or a value that cannot
    change (a date, a Decimal); not another object, whose size cannot be told (a model
    holding arrays), unless it is immutable. (``depth``: objects holding tuples holding them.)"""
    if isinstance(value, tuple) and _holds_changeable(value):
        items = _flattened(value, CHEAP_ITEMS)
        return depth < 4 and items is not None and all(
            not _inside(item) or isinstance(item, _UNCHANGING) or _cheap(item, depth + 1)
            or _small_object(item, depth + 1) for item in items)
    if isinstance(value, _IMMUTABLE):
        return True
    if isinstance(value, np.ndarray):
        return value.nbytes <= CHEAP_BYTES
    if isinstance(value, (list, dict, set, bytearray, collections.deque)):
        return len(value) <= CHEAP_ITEMS
    return False


def _flattened(value: tuple, at_most: int) -> Optional[list]:
    """The items of ``value`` and of the tuples in it, but those tuples; None past ``at_most``."""
    items: list = []
    todo = [value]
    while todo:
        for item in todo.pop():
            if isinstance(item, tuple):
                todo.append(item)
            else:
                items.append(item)
        if len(items) > at_most:
            return None
    return items


def _compared(value: Any) -> bool:
    if single_dispatch.generic(value):  # gen.register(float, f) in a block registers it here too
        return True
    if isinstance(value, tuple):  # a namedtuple too: ``pair[0][0] = 1.0`` changes what it holds
        return _holds_changeable(value)
    if isinstance(value, _IMMUTABLE):
        return False
    if isinstance(value, np.ndarray):
        return bool(value.flags.writeable)
    return True


def snapshot(namespace: Dict[str, Any], names, touched_names: Set[str],
             written_names: AbstractSet[str] = frozenset()) -> Dict[str, tuple]:
    """{name: (the value, what it was: a ``_Flat`` or a ``_Pickled``)} of the mutable values
    among ``names`` that are cheap to compare or that the block's text touches, before the
    block runs; a value that cannot be pickled cannot have come from the client, and is
    skipped. The layout of a value the text writes into is taken now (``_Pickled``)."""
    taken = {}
    for name in names:
        value = namespace.get(name)
        if name in namespace and _compared(value) and (name in touched_names or _cheap(value)):
            try:
                taken[name] = (value, _Flat.of(value) or _Pickled(value, lay_out_now=name in written_names))
            except Exception:
                continue
    return taken


# Values that cannot change inside: nothing in them can be changed in place.
_ATOMS = (int, float, complex, str, bytes, bool, type(None), np.generic)
# values that never change in place (beside the atoms): a tuple of them holds nothing to update
_UNCHANGING = (*_ATOMS, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, fractions.Fraction,
               frozenset, range)


def _unchanging(kinds: Set[type]) -> bool:
    return kinds <= _SCALARS or all(issubclass(kind, _UNCHANGING) for kind in kinds)


def _items_of(value: Any) -> Optional[list]:
    """The items of a list, deque or set, the keys then values of a dict; else None."""
    if isinstance(value, (list, collections.deque, set)):
        return list(value)
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    return None


class _Flat:
    """A list, deque, dict or set of atoms only (a list of strings, a dict of counts), or of
    records made of atoms (tuples, namedtuples: nothing in them can change): its snapshot is a
    shallow copy, compared by identity after the block, instead of a pickle made before and
    after (30,000 strings: 1 ms, not 30; 200,000 namedtuples: 25 ms, not 0.3 s)."""

    def __init__(self, items: list):
        self.items = items  # keeps the atoms alive, so their ids stay theirs

    @classmethod
    def of(cls, value: Any) -> Optional["_Flat"]:
        items = _items_of(value)
        if items is None:
            return None
        # the exact types first, at C speed (600,000 strings: 5 ms, 70 through isinstance)
        kinds = set(map(type, items))
        if kinds <= _SCALARS or all(isinstance(item, _ATOMS) for item in items):
            return cls(items)
        if all(issubclass(kind, tuple) and kind.__dictoffset__ == 0 for kind in kinds) and \
                _SCALARS.issuperset(map(type, itertools.chain.from_iterable(items))):
            return cls(items)  # records: tuples (namedtuples too, which have no __dict__) of atoms
        return None

    def same_as(self, value: Any) -> bool:
        """Whether ``value`` holds the same objects as before (so only atoms, in their order
        but for a set)."""
        now = _items_of(value)
        if now is None or len(now) != len(self.items):
            return False
        if isinstance(value, set):  # no order: the same objects
            return set(map(id, now)) == set(map(id, self.items))
        return all(map(operator.is_, now, self.items))

    def layout(self, value: Any) -> Dict[tuple, Optional[int]]:
        return {(): id(value)}


class _Pickled:
    """A value's pickle before the block, and its pickler's memo (every object in it, by memo
    index): enough to tell after the block whether the value changed (pickled again and
    compared) and, only for one that did, where each of its objects was (``layout``).

    That layout is taken before the block for a value its text writes into (``written``: it
    will likely have changed); for any other, only if it did change, from a copy made from the
    pickle and mapped back to the value's own objects by memo index, which costs three times
    as much but is seldom needed: walking every value before the block cost more than many
    blocks (0.7 s for a graph of 90,000 nodes that the block only reads)."""

    def __init__(self, value: Any, lay_out_now: bool):
        self.data, self.memo = serialization.dumps_keeping_memo(value)  # the memo keeps the ids theirs
        self.laid_out: Optional[Dict[tuple, int]] = None
        if lay_out_now:
            with gc_pause.paused():
                self.laid_out = _layout(value)

    def same_as(self, value: Any) -> bool:
        return serialization.dumps_compared(value) == self.data

    def layout(self, value: Any) -> Dict[tuple, Optional[int]]:
        """``_layout`` of the value as it was (an object that cannot be mapped back: None)."""
        if self.laid_out is not None:
            return self.laid_out
        with gc_pause.paused():
            copy, copy_memo = serialization.loads_keeping_memo(self.data)
            theirs = dict(self.memo.copy().values())
            original = {id(of_copy): id(theirs[index]) for index, of_copy in copy_memo.items() if index in theirs}
            return {path: original.get(held) for path, held in _layout(copy).items()}


def _layout(root: Any) -> Dict[tuple, int]:
    """{path: id} of the mutable objects inside ``root`` (list and tuple items, dict values,
    deque items, attributes), ``()`` for the root: where each object is, to tell after the
    block whether any moved (a sort, a pop) or was replaced. Atoms, and tuples of atoms only,
    are never looked into nor kept; a container of atoms only is skipped at C speed."""
    found: Dict[tuple, int] = {}
    seen: Set[int] = set()
    todo: List[Tuple[tuple, Any]] = [((), root)]
    pop, push = todo.pop, todo.append
    while todo:
        path, value = pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        kind = type(value)
        if kind is not tuple:
            found[path] = id(value)
        if kind is list or kind is tuple or isinstance(value, (list, tuple, collections.deque)):
            if not _SCALARS.issuperset(map(type, value)):
                for index, item in enumerate(value):
                    kind = type(item)
                    if kind is tuple:  # the common kinds first: records...
                        if not _SCALARS.issuperset(map(type, item)):
                            push(((*path, index), item))
                    elif _object_kind(kind) and (kind.__dictoffset__ == 0 or
                                                 _SCALARS.issuperset(map(type, vars(item).values()))):
                        if id(item) not in seen:  # ...and objects of atoms, kept here, not pushed
                            seen.add(id(item))
                            found[(*path, index)] = id(item)
                    elif _inside(item):
                        push(((*path, index), item))
        elif isinstance(value, dict):
            if not _SCALARS.issuperset(map(type, value.values())):
                for key, item in value.items():
                    if _inside(item):
                        push(((*path, repr(key)), item))
        elif hasattr(value, "__dict__") and not isinstance(value, (np.ndarray, types.FunctionType)):
            attributes = vars(value)
            if not _SCALARS.issuperset(map(type, attributes.values())):
                for name, item in attributes.items():
                    if _inside(item):
                        push(((*path, "." + name), item))
    return found


@functools.lru_cache(maxsize=4096)
def _object_kind(kind: type) -> bool:
    """An object that ``_layout`` looks into only through its attributes (not a container, an
    array, an atom or another immutable value)."""
    return not issubclass(kind, (list, tuple, collections.deque, dict, np.ndarray, *_ATOMS, *_IMMUTABLE))


def _inside(item: Any) -> bool:
    """Whether ``_layout`` keeps ``item`` (or looks into it): a mutable object, or a tuple
    holding something other than atoms."""
    kind = type(item)
    if kind in _SCALARS:
        return False
    if kind is tuple:
        return not _SCALARS.issuperset(map(type, item))
    return not isinstance(item, _ATOMS) and (not isinstance(item, _IMMUTABLE) or isinstance(item, tuple))


def moved(taken: Dict[str, tuple], names) -> List[str]:
    """The names among ``names`` (changed) in whose value an object the caller holds moved or
    was replaced: the client cannot update those deeply by position."""
    unstable = []
    for name in names:
        value, before = taken[name]
        try:
            was = before.layout(value)
        except Exception:  # the copy could not be made: nothing can be said to have stayed
            unstable.append(name)
            continue
        with gc_pause.paused():
            now = _layout(value)  # (the object the name was bound to: it may be bound to another now)
        if any(now.get(path) != oid for path, oid in was.items()):
            unstable.append(name)
    return unstable


OWNER = ".__self__"  # the name of what a bound method is bound to: ``record.__self__``
_BOUND = (types.MethodType, types.BuiltinMethodType, types.MethodWrapperType)


def _owned_parts(value: Any) -> List[Tuple[str, Any]]:
    """(suffix, object) of what calling ``value`` may change though the block names only
    ``value``: a bound method's object (``.__self__``); a ``functools.partial``'s arguments
    (``.args[0]``: the list of ``partial(add_to, log)``); a function's attributes (``.__dict__``)
    and mutable defaults (``.__defaults__[0]``: the cache of ``def memo(x, cache={})``); and those of the bound methods
    held by a list or tuple (``[0].__self__``: ``[log.append]``). The same suffixes name the same
    parts of the caller's value (``targets``)."""
    if isinstance(value, _BOUND):
        owner = getattr(value, "__self__", None)
        return [] if owner is None or isinstance(owner, (types.ModuleType, type)) else [(OWNER, owner)]
    if isinstance(value, functools.partial):
        return [*((f".args[{index}]", part) for index, part in enumerate(value.args)),
                *((f".keywords[{key!r}]", part) for key, part in value.keywords.items())]
    if isinstance(value, types.FunctionType) and written_by_user(value):
        return [(".__dict__", value.__dict__),  # (counted.calls += 1 in counted: a function that names itself)
                *((f".__defaults__[{index}]", part) for index, part in enumerate(value.__defaults__ or ())),
                *((f".__kwdefaults__[{key!r}]", part) for key, part in (value.__kwdefaults__ or {}).items())]
    if isinstance(value, (list, tuple)) and len(value) <= 64:
        return [(f"[{index}]{OWNER}", item.__self__) for index, item in enumerate(value)
                if isinstance(item, _BOUND) and not isinstance(getattr(item, "__self__", None),
                                                               (types.ModuleType, type, type(None)))]
    return []


def owners(values: Dict[str, Any], touched_names: AbstractSet[str] = frozenset()) -> Dict[str, Any]:
    """{``name`` + suffix: object} of the parts of ``values`` their calls may change
    (``_owned_parts``), each object once, and none that is itself one of ``values`` (it is
    compared under its own name). A bound method's object always; the other parts where the
    block's text touches the value (calls it) or the part is cheap to compare (``snapshot``'s
    rule: a model held as a default is not pickled twice for every block naming the function)."""
    seen = {id(value) for value in values.values()}
    found = {}
    for name, value in values.items():
        try:
            parts = _owned_parts(value)
        except Exception:  # noqa: BLE001 - a value whose look raises: its parts are not compared
            continue
        for suffix, part in parts:
            if id(part) in seen or not _compared(part) or (
                    suffix != OWNER and name not in touched_names and not _cheap(part)):
                continue
            seen.add(id(part))
            found[name + suffix] = part
    return found


def variable(name: str) -> str:
    """The free variable behind a name ``changed`` gives: ``record`` for ``record.__self__``,
    ``memo`` for ``memo.__defaults__[0]``."""
    return name.split(".", 1)[0].split("[", 1)[0]


def changing(owned: Dict[str, Any], values: Dict[str, Any]) -> Set[str]:
    """The names among ``owned`` (``owners``) whose method has the name of one that changes its
    object (``log.append``, ``seen.add``): their layout is taken before the block (``snapshot``)."""
    return {name for name in owned
            if name.endswith(OWNER) and getattr(values[variable(name)], "__name__", "") in MUTATING_METHODS}


def targets(values: Dict[str, Any], names: Iterable[str]) -> Dict[str, Any]:
    """{name: the caller's object} for ``names`` (those ``changed`` found), from the caller's
    free variables ``values`` (``variable`` of each name): ``record.__self__`` is what the
    caller's ``record`` is bound to, ``memo.__defaults__[0]`` its ``memo``'s first default."""
    found = {}
    for name in names:
        if variable(name) not in values:
            continue
        value = values[variable(name)]
        if name != variable(name):
            value = dict(_owned_parts(value)).get(name[len(variable(name)):])
            if value is None:
                continue
        found[name] = value
    return found


def changed(taken: Dict[str, tuple]) -> Dict[str, Any]:
    """{name: value} of the snapshot's values the block changed in place (``data += 1.5`` on an
    array, ``items += [x]`` on a list too): pickled otherwise now. Also where the name was bound
    to another value since, or unbound (``model.hist.append(i)`` then ``model =
    model._replace(b=2)``): the caller's old object, which other names may hold, changed all the
    same (a user's trial found those changes lost); the client updates it before it binds the
    name to the block's new value."""
    found = {}
    for name, (value, before) in taken.items():
        try:
            if not before.same_as(value):
                found[name] = value
        except Exception:
            continue
    return found


_CODE_LIKE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, type,
              lru_caches.CacheWrapper)


def reached(values: Iterable[Any]) -> List[Any]:
    """``values`` and what the code among them reaches (``_leads_to``), once each: the one walk
    whose values ``helpers_globals`` and ``caches`` look at."""
    return list(reachable(values, _leads_to))


def helpers_globals(reached_values: Iterable[Any], remote: AbstractSet[int] = frozenset()
                    ) -> Dict[Tuple[str, str], tuple]:
    """{(module, name): (the globals dict, the value, its pickle)} of the globals that the
    shipped functions among ``reached_values`` (``reached``) read, and of the data of the
    shipped modules among them, cheap to compare (or immutable: a counter the function
    rebinds), or a remote object (``remote``: their ids) read by a function that may change it
    (``purity.may_change_arguments``: a large one's change was lost). Shipped functions are those
    whose globals are not a loaded module's, shipped modules those that are not the loaded module
    of their name: cloudpickle gave them a copy."""
    taken: Dict[Tuple[str, str], tuple] = {}
    for function in reached_values:
        if isinstance(function, types.ModuleType) and sys.modules.get(function.__name__) is not function:
            _take_module_data(function, taken)  # a module of the user's the block names: sent by value
        if not (isinstance(function, types.FunctionType) and _shipped(function)):
            continue
        changer = functools.cache(functools.partial(may_change_arguments, function))
        for name in referenced_names(function.__code__):
            held = function.__globals__.get(name)
            _take_global(function.__globals__, function.__module__, name, taken,
                         heavy=id(held) in remote and changer())
            _take_owned_parts(function.__globals__, function.__module__, name, taken)
    return taken


def _take_owned_parts(namespace: Dict[str, Any], module: str, name: str, taken: Dict[Tuple[str, str], tuple]) -> None:
    """Add what calling the global ``name`` may change though no code names it (``add = s.add``:
    the set, as ``add.__self__``; a ``functools.partial``'s arguments: ``_owned_parts``), as
    ``_take_global`` takes a global; ``apply_globals`` finds it again through the global."""
    held = namespace.get(name)
    if not isinstance(held, (*_BOUND, functools.partial)):
        return
    for suffix, part in _owned_parts(held):
        key = (module, name + suffix)
        if key in taken or isinstance(part, _CODE_LIKE) or not (_cheap(part) or _small_object(part)):
            continue
        try:
            taken[key] = (namespace, part, serialization.dumps_compared(part))
        except Exception:
            continue


_GENERATORS = (random.Random, np.random.Generator, np.random.BitGenerator, np.random.RandomState)


def _small_object(value: Any, depth: int = 0) -> bool:
    """A random generator (its state is a few KB), or an object whose attributes are all cheap
    (``_cheap``: numbers, strings, small containers and arrays): a global a helper may change
    (``ACC.bal += 1``, ``R.random()``), worth two pickles on every block. A trial found such
    changes lost: only containers and arrays were compared."""
    if isinstance(value, _GENERATORS):
        return True
    attributes = getattr(value, "__dict__", None)
    return (isinstance(attributes, dict) and users_class(type(value)) and len(attributes) <= 256
            and all(_cheap(attribute, depth) for attribute in attributes.values()))


def _take_module_data(module: types.ModuleType, taken: Dict[Tuple[str, str], tuple]) -> None:
    """Add the data globals (not code, not modules or classes) of a module the block names
    (``settings.THRESHOLD = 5`` in the block) to ``taken``, as ``helpers_globals`` takes them;
    and its functions, compared by identity only (``config.hook = my_hook`` in the block)."""
    namespace = vars(module)
    taken.setdefault((module.__name__, _NEW_NAMES), (namespace, frozenset(namespace), None))
    for name in [name for name in namespace if not name.startswith("__")]:
        if isinstance(namespace[name], types.FunctionType):
            taken.setdefault((module.__name__, name), (namespace, namespace[name], None))
        else:
            _take_global(namespace, module.__name__, name, taken)


def _take_global(namespace: Dict[str, Any], module: str, name: str, taken: Dict[Tuple[str, str], tuple],
                 heavy: bool = False) -> None:
    """Add ``namespace[name]`` (of ``module``) to ``taken`` with its pickle, unless it is absent,
    code, already taken, too dear to compare (``heavy``: compared whatever its size), or cannot
    be pickled."""
    held = namespace.get(name, _CODE_LIKE)  # (a sentinel: absent)
    key = (module, name)
    if held is _CODE_LIKE or isinstance(held, _CODE_LIKE) or key in taken or not (
            heavy or _cheap(held) or _small_object(held)):
        return
    try:
        taken[key] = (namespace, held, serialization.dumps_compared(held))
    except Exception:
        return


def _leads_to(value: Any) -> Iterable[Any]:
    """For ``helpers_globals``: a method's function, the functions of the user's classes, and
    the closure values and the functions, classes and methods among a shipped function's
    globals."""
    if isinstance(value, types.MethodType):
        return (value.__func__,)
    if isinstance(value, lru_caches.CacheWrapper):
        return (value.__wrapped__,)
    if users_class(value):
        return [getattr(m, "__func__", m) for m in vars(value).values()
                if isinstance(m, (types.FunctionType, classmethod, staticmethod))]
    if isinstance(value, types.FunctionType) and _shipped(value):
        globals_ = value.__globals__
        return [*(cell_contents(cell) for cell in value.__closure__ or ()),
                *(globals_[name] for name in referenced_names(value.__code__)
                  if isinstance(globals_.get(name), _CODE_LIKE))]
    return ()


def caches(reached_values: Iterable[Any]) -> Dict[int, tuple]:
    """{id: (lru_cache function, its ``cache_info()``)} of those among ``reached_values``
    (``reached``): what their calls put in their cache stays in the cluster's copy
    (``engine.lru_caches``), so the client says so (``used_caches``)."""
    return {id(value): (value, value.cache_info()) for value in reached_values
            if isinstance(value, lru_caches.CacheWrapper)}


def used_caches(taken: Dict[int, tuple]) -> List[str]:
    """The names of the lru_cache functions of ``caches`` the block called (their counts moved)."""
    return sorted({function.__name__ for function, info in taken.values() if function.cache_info() != info})


def _shipped(function: types.FunctionType) -> bool:
    module = sys.modules.get(function.__module__ or "")
    return not str(function.__module__).startswith("ufora.engine.") and (
        module is None or vars(module) is not function.__globals__)


_NEW_NAMES = "<names>"  # (not a name) the entry of a module's names before the block, in ``helpers_globals``


def changed_globals(taken: Dict[Tuple[str, str], tuple]) -> Dict[str, Dict[str, Any]]:
    """{module: {name: value}} of the globals in ``taken`` that the block changed, in place or
    by binding another value, and those it added to the modules it names (``config.NEW = 5``)."""
    found = _changed_entries({key: entry for key, entry in taken.items() if key[1] != _NEW_NAMES},
                             lambda held_in, name, value: held_in.get(name, value))
    for (module, inner), (namespace, names, _) in taken.items():
        if inner == _NEW_NAMES:
            for name in namespace.keys() - names:
                if not name.startswith("__"):
                    found.setdefault(module, {})[name] = namespace[name]
    return found


def _changed_entries(taken: Dict[Tuple[str, str], tuple], now_of: Callable) -> Dict[str, Dict[str, Any]]:
    """{outer: {inner: value now}} of the entries ``(outer, inner): (holder, value, pickle)``
    whose value is another object now, or pickles otherwise (a pickle None: compared by identity
    only); ``now_of(holder, inner, value)`` reads the value now."""
    found: Dict[str, Dict[str, Any]] = {}
    for (outer, inner), (holder, value, before) in taken.items():
        now = now_of(holder, inner, value)
        try:
            changed_in_place = before is not None and serialization.dumps_compared(value) != before
            if now is not value:
                found.setdefault(outer, {})[inner] = Rebound(now, value if changed_in_place else None)
            elif changed_in_place:
                found.setdefault(outer, {})[inner] = now
        except Exception:
            continue
    return found


class Rebound:
    """A global or closure variable the block bound to another value (``global RUNS; RUNS =
    ([2], "x")``): the client binds it too, and never updates the old value in place with it
    (a review found the caller's old list changed to ``[2]``, which CPython leaves as it was).
    ``before``: what the old value became before that, if the block changed it in place (a
    helper's ``RUNS[0].append(1)`` then ``RUNS = ...``): the caller's old objects take that."""
    __slots__ = ("value", "before")

    def __init__(self, value: Any, before: Any = None) -> None:
        self.value, self.before = value, before

    def __reduce__(self):
        return Rebound, (self.value, self.before)


def _rebind(namespace: Dict[str, Any], name: str, rebound: "Rebound") -> None:
    """Bind ``name`` in ``namespace`` (a module's, or a cell's one name) to the block's new value,
    after updating the old one in place with what the block made of it first (``Rebound.before``);
    the new value holds the caller's objects where it held the old value's (``RUNS = RUNS + [[5]]``:
    its first item is the caller's list, as in CPython, not a copy)."""
    mine: Dict[int, Any] = {}
    if rebound.before is not None and name in namespace:
        _updated(namespace[name], rebound.before, mine, True)
    namespace[name] = _holding_mine(rebound.value, mine)


def _holding_mine(value: Any, mine: Dict[int, Any]) -> Any:
    """``value`` (or the caller's object it stands for), its items, values or attributes that
    stand for the caller's objects replaced by them, one level down."""
    if id(value) in mine or not mine:
        return mine.get(id(value), value)
    if type(value) is list:
        value[:] = [mine.get(id(item), item) for item in value]
    elif type(value) is dict:
        value.update({key: mine[id(item)] for key, item in value.items() if id(item) in mine})
    elif isinstance(value, tuple) and any(id(item) in mine for item in value):
        return _remade(value, [mine.get(id(item), item) for item in value])
    elif _way_of(type(value)) == "attributes":
        held = vars(value)
        held.update({key: mine[id(item)] for key, item in held.items() if id(item) in mine})
    return value


def apply_globals(changed: Dict[str, Dict[str, Any]]) -> List[str]:
    """Update (or bind again) each changed global in its module here; the modules not loaded, and
    ``module:name.__self__`` for the objects reached through a global that could not be updated."""
    missing = []
    for module, values in changed.items():
        namespace = vars(sys.modules[module]) if module in sys.modules else None
        if namespace is None:
            missing.append(module)
            continue
        # deeply, so the caller's aliases of objects inside stay good (``r = grid[1]``: a trial found
        # them stale); no layout was taken to tell moved objects (a sort) apart, which then take
        # the state of the object now in their place. A function is bound again (``config.hook =
        # f``), never updated in place: its attributes would change, not the function.
        bound = [name for name, value in values.items()
                 if type(value) is Rebound or isinstance(value, types.FunctionType)]
        parts = [name for name in values if name != variable(name)]  # add.__self__ (``_take_owned_parts``)
        for name in parts:
            part = dict(_owned_parts(namespace.get(variable(name)))).get(name[len(variable(name)):])
            if part is not None and type(values[name]) is not Rebound and not _updated(part, values[name], {}, True):
                missing.append(f"{module}:{name}")
        data = {name: value for name, value in values.items() if name not in bound and name not in parts}
        for name in bound:
            _rebind(namespace, name, values[name] if type(values[name]) is Rebound else Rebound(values[name]))
        for name in apply(namespace, data):  # a value of another type, a tuple that cannot be updated whole
            namespace[name] = _own(values[name], namespace.get(name), {}, True)
    return missing


def closures(free: Dict[str, Any]) -> Dict[Tuple[str, str], tuple]:
    """{(name, variable): (the cell, the value, its pickle)} of the closure cells of the free
    variables that are functions (``nonlocal count`` of a counter the block calls), cheap to
    compare or immutable."""
    taken: Dict[Tuple[str, str], tuple] = {}
    for name, function in free.items():
        if not isinstance(function, types.FunctionType) or not function.__closure__:
            continue
        for variable, cell in zip(function.__code__.co_freevars, function.__closure__):
            value = cell_contents(cell)
            if isinstance(value, _CODE_LIKE) or not (isinstance(value, _IMMUTABLE) or _cheap(value)):
                continue
            try:
                taken[(name, variable)] = (cell, value, serialization.dumps_compared(value))
            except Exception:
                continue
    return taken


def changed_cells(taken: Dict[Tuple[str, str], tuple]) -> Dict[str, Dict[str, Any]]:
    """{name: {variable: value}} of the cells in ``taken`` the block changed."""
    return _changed_entries(taken, lambda cell, variable, value: cell_contents(cell))


def apply_cells(functions: Dict[str, Any], changed: Dict[str, Dict[str, Any]]) -> List[str]:
    """Set (or update in place) the changed closure cells of the caller's functions; the names
    of those that are not the same functions here."""
    missing = []
    for name, variables in changed.items():
        function = functions.get(name)
        free = getattr(getattr(function, "__code__", None), "co_freevars", ())
        if not set(variables) <= set(free):
            missing.append(name)
            continue
        cells = dict(zip(free, function.__closure__))
        for variable, value in variables.items():
            if type(value) is Rebound:
                held = {variable: cell_contents(cells[variable])}
                _rebind(held, variable, value)
                cells[variable].cell_contents = held[variable]
            elif apply({variable: cell_contents(cells[variable])}, {variable: value}, shallow=[variable]):
                cells[variable].cell_contents = value
    return missing


def rebound(namespace: Dict[str, Any], taken: Dict[str, tuple], assigned) -> tuple:
    """The names among ``assigned`` the client must bind to a new value: not those the block
    left bound to the caller's own object (``+=`` in place), which ``changed`` covers."""
    return tuple(name for name in assigned if not (name in taken and namespace.get(name) is taken[name][0]))


def _update(target: Any, new: Any, mine: Dict[int, Any], deep: bool = True) -> bool:
    """Make ``target`` hold what ``new`` holds, in place, deeply: an item, value or attribute
    that was a mutable object is updated in place too, so the caller's references to it (and
    aliases: ``grid = [row, row]``) see the change; False when it cannot. ``mine``: the
    caller's object for each value already matched (by id)."""
    if target is new:  # a client object that came back as itself (engine.client_objects)
        return True
    if type(target) is not type(new):
        return False
    if single_dispatch.generic(target) and single_dispatch.generic(new):
        single_dispatch.update(target, new)
        return True
    if isinstance(target, functools.partial):  # the caller's function kept; its arguments updated in place
        args = (tuple(_own(arg, held, mine, deep) for arg, held in zip(new.args, target.args))
                if len(new.args) == len(target.args) else new.args)
        keywords = {key: _own(value, target.keywords.get(key), mine, deep) for key, value in new.keywords.items()}
        mine[id(new)] = target
        target.__setstate__((target.func, args, keywords, vars(target) or None))
        return True
    way = _way_of(type(target))
    if way == "attributes" or (way == "state" and _state_of(new) is None and _plain_attributes(type(target))):
        mine[id(new)] = target  # the common case, first: a user's object (150,000 of them in a list...)
        held, attributes = vars(target), vars(new)
        if not _SCALARS.issuperset(map(type, attributes.values())):
            attributes = {name: value if type(value) in _SCALARS else _own(value, held.get(name), mine, deep)
                          for name, value in attributes.items()}
        held.clear()
        held.update(attributes)
        return True
    if _refused(target, new, way):
        return False
    mine[id(new)] = target
    if way == "list":
        target[:] = [item if type(item) in _SCALARS else _own(item, target[index] if index < len(target) else None,
                                                               mine, deep)
                     for index, item in enumerate(new)]
    elif way == "bytearray":
        target[:] = new
    elif way == "dict":
        items = [(key, _own(value, target.get(key), mine, deep)) for key, value in new.items()]
        target.clear()
        for key, value in items:  # not update(): Counter's adds counts (it came back as Counter({('the', 3): 1}))
            target[key] = value
    elif way == "set":
        target.clear()
        target.update(new)
    elif way == "deque":
        target.clear()
        target.extend(_own(item, None, mine, deep) for item in new)
    elif way == "ndarray":
        target[...] = new
    elif way == "tuple":  # each item that can change, in place (a tuple's items cannot be rebound)
        for old_item, new_item in zip(target, new):
            if _inside(new_item) and id(new_item) not in mine:
                _update(old_item, new_item, mine, deep)  # (``_refused`` checked that each one can be)
            elif type(new_item) is type(old_item) is types.MethodType and \
                    not isinstance(new_item.__self__, (type, types.ModuleType)):
                _own(new_item.__self__, old_item.__self__, mine, deep)  # what ``t[0](x)`` changed: its object
        if hasattr(target, "__dict__") and hasattr(new, "__dict__"):  # a namedtuple's subclass
            held = vars(target)
            held.update({name: _own(value, held.get(name), mine, deep) for name, value in vars(new).items()})
    elif way == "slots":  # a class with __slots__: each slot set again (or emptied) as pickle sets it
        for name in copyreg._slotnames(type(target)):
            if hasattr(new, name):
                setattr(target, name, _own(getattr(new, name), getattr(target, name, None), mine, deep))
            elif hasattr(target, name):
                delattr(target, name)
        if hasattr(target, "__dict__") and hasattr(new, "__dict__"):
            held = vars(target)
            held.update({name: _own(value, held.get(name), mine, deep) for name, value in vars(new).items()})
    elif way == "bit_generator":
        bits = ((target, new) if isinstance(target, np.random.BitGenerator)
                else (target.bit_generator, new.bit_generator))
        bits[0].state = bits[1].state
    elif way == "random_state":
        target.set_state(new.get_state())
    else:  # "state": random.Random, list and range iterators...
        target.__setstate__(_state_of(new))
        if hasattr(target, "__dict__") and hasattr(new, "__dict__"):
            held = vars(target)
            held.update({name: _own(value, held.get(name), mine, deep) for name, value in vars(new).items()})
    return True


def _own(value: Any, old: Any, mine: Dict[int, Any], deep: bool) -> Any:
    """The object to hold where ``old`` was and ``value`` is now: the caller's own when
    ``value`` stands for one (updated in place, deeply), else ``value``."""
    if type(value) in _SCALARS:  # never the caller's object: nothing to find or update
        return value
    if id(value) in mine:
        return mine[id(value)]
    if not deep or old is None or type(old) is not type(value):
        return value
    if isinstance(value, _BOUND) and getattr(old, "__name__", None) == getattr(value, "__name__", None):
        held = getattr(old, "__self__", None)  # [log.append]: the caller's method, its list updated
        if held is not None and not isinstance(held, (type, types.ModuleType)):
            _own(value.__self__, held, mine, deep)
            return old
    if isinstance(old, tuple):
        if _SCALARS.issuperset(map(type, value)) or len(old) != len(value) or not _holds_changeable(value):
            return value  # (a record of atoms, the common tuple, told at C speed first)
        if _update(old, value, mine):
            return old
        # not whole (``rows[0] = (rows[0][0], "b")``): a new tuple, of the caller's objects where it can be
        return _remade(value, [_own(item, held, mine, deep) for item, held in zip(value, old)])
    if not isinstance(old, _IMMUTABLE) and _update(old, value, mine):
        return old
    return value


def _remade(value: tuple, items: List[Any]) -> tuple:
    """A tuple of ``value``'s type holding ``items`` (a namedtuple's too); else ``value``."""
    if type(value) is tuple:
        return tuple(items)
    make = getattr(type(value), "_make", None)
    return make(items) if make is not None else value


@functools.lru_cache(maxsize=4096)
def _way_of(kind: type) -> str:
    """How ``_update`` brings an object of this type up to date (decided once per type)."""
    for way, base in _CONTAINERS:
        if issubclass(kind, base):
            return way
    if getattr(kind, "__setstate__", None) is not getattr(object, "__setstate__", None):
        return "state"  # its own __setstate__: used when an instance's __reduce__ gives a state
    if _plain_attributes(kind):
        return "attributes"
    if copyreg._slotnames(kind):
        return "slots"
    return "other"


_CONTAINERS = (("list", list), ("tuple", tuple), ("bytearray", bytearray), ("dict", dict), ("set", set),
               ("deque", collections.deque),
               ("ndarray", np.ndarray), ("bit_generator", (np.random.Generator, np.random.BitGenerator)),
               ("random_state", np.random.RandomState))


def _refused(target: Any, new: Any, way: str) -> bool:
    """Whether ``_update`` cannot make ``target`` (of the same type as ``new``, updated in
    ``way``, not by its attributes) what ``new`` is. A tuple is refused unless every item that
    can change can be updated so, and every other item is the same (checked before any item
    changes: a tuple is updated whole or not at all)."""
    if way in ("set", "dict"):
        return not all(_plain_key(key) for key in new)  # objects as elements or keys would come back as copies
    if way == "ndarray":
        return target.shape != new.shape or target.dtype != new.dtype or not target.flags.writeable
    if way == "state":
        return _state_of(new) is None and not _plain_attributes(type(target))
    if way == "tuple":
        return len(target) != len(new) or not all(map(_item_updatable, target, new))
    return way == "other"


def _item_updatable(old: Any, new: Any) -> bool:
    """Whether ``_update`` can make a tuple's item ``old`` what ``new`` is, or there is nothing
    to update: code (a function, a lambda, a bound method, a class: it came back a copy, but it
    is the caller's still), or a value with no state to update (an atom, a date, a Decimal, a
    tuple of them) equal to it, NaN to NaN (a global rebound to another tuple, ``T = (2,)``, is
    no update). A value that can change but cannot be updated (a set of objects, an array of
    another shape) is refused, though it may compare equal."""
    if old is new or isinstance(new, _CODE_LIKE):
        return True
    if type(old) is not type(new):
        return False
    if isinstance(new, tuple):
        return not _refused(old, new, "tuple")
    way = _way_of(type(new)) if _inside(new) else "atom"
    if way not in ("atom", "other"):
        return way == "attributes" or not _refused(old, new, way)
    try:
        return bool(old == new) or bool(old != old) and bool(new != new)  # (NaN: numpy's, Decimal's too)
    except Exception:  # an array's ==, a signalling NaN: not the same
        return False


def _plain_attributes(kind: type) -> bool:
    """Whether the instances of ``kind`` keep their attributes in a ``__dict__``, and only there."""
    return kind.__dictoffset__ != 0 and not hasattr(kind, "__slots__")


def _plain_key(key: Any) -> bool:
    """A set element or dict key that compares by value (a copy of it is as good)."""
    if isinstance(key, tuple):
        return all(_plain_key(part) for part in key)
    return isinstance(key, (int, float, complex, str, bytes, bool, type(None), frozenset, range, np.generic))


def _state_of(value: Any) -> Any:
    """The state ``__reduce__`` gives for ``value`` when its type restores it with its own
    ``__setstate__`` (not object's default); else None."""
    if getattr(type(value), "__setstate__", None) is getattr(object, "__setstate__", None):
        return None
    try:
        reduced = value.__reduce_ex__(pickle.HIGHEST_PROTOCOL)  # (io.StringIO's __reduce__() refuses: protocol 0)
    except Exception:
        return None
    return reduced[2] if isinstance(reduced, tuple) and len(reduced) >= 3 and reduced[2] is not None else None


def apply(targets: Dict[str, Any], values: Dict[str, Any], shallow: Iterable[str] = ()) -> List[str]:
    """Update each of ``targets`` (the caller's objects, by name) in place with the value the
    block left in it: deeply (the objects inside keep their identity), or for the names in
    ``shallow`` (whose objects moved: ``moved``) with new objects inside. The names that could
    not be updated so."""
    mine = {id(value): targets[name] for name, value in values.items()
            if name in targets and type(targets[name]) is type(value)}
    shallow = set(shallow)
    return [name for name, value in values.items()
            if name not in targets or not _updated(targets[name], value, mine, deep=name not in shallow)]


def _updated(target: Any, new: Any, mine: Dict[int, Any], deep: bool) -> bool:
    """``_update``, False where a value nests too deep to update (a tuple is checked before any of
    it changes; a list so deep may be left half updated, and is named as not updated)."""
    try:
        return _update(target, new, mine, deep)
    except RecursionError:
        return False
