"""Visible side effects: a shape whose element functions have them runs serially on the driver.

Splitting a shape runs its element function in other processes, in another order, on copies of
the objects it reads. That is invisible for pure code and wrong for code that changes the world,
so the functions of a shape, every plain function they reach through globals and closures, and
the methods of the user classes they reach (classes named in that code, classes of objects in
its globals and closures, and classes of the source's items) are read (their bytecode, no
execution) for:

* assignment to a global (``global g; g = ...``) or to a variable of an enclosing function
  (``nonlocal``);
* attribute assignment or deletion (``obj.attr = ...``, ``W.made += 1``), except on ``self``
  in ``__init__``, ``__post_init__`` and ``__setstate__`` (a new object), there also by
  ``object.__setattr__(self, ...)`` (as frozen dataclasses do);
* item assignment or deletion on anything but the function's own local variable (an argument
  is not its own: ``row[0] = 1`` changes the caller's row);
* a mutating method (``append``, ``add``, ``update``, ``extend``, ``insert``, ``pop``,
  ``remove``, ``clear``, ``setdefault``, ``write``...) called on a global, a closure value, an
  argument, or an attribute of one (``self.items.append(x)``);
* calls to ``print``, ``open``, ``input``, ``exec``, ``eval``, ``breakpoint``, ``setattr``,
  ``delattr``, ``globals``, ``next`` (an outside iterator advances), and to ``id`` and ``hash``
  outside ``__hash__`` and ``__eq__`` (not effects, but their answers are the process's own:
  the copy of an object in another process has another id, and a string another hash there);
* use of the ``random`` module, ``numpy.random`` (``np.random.rand()``, a ``Generator`` or
  ``RandomState`` object) or ``time`` (random state and clocks: a split would replay or reorder
  them), or of ``logging`` or ``warnings`` (output, whose order a split would change; a warning
  a ``catch_warnings(record=True)`` records once in CPython was recorded twice, its first item
  being timed before the shape ran, or never, issued in another process).

Methods of a class are read when their name is used in code already read, or when they are
special methods (called by operators). A method bound to an object (``add = tally.add``, called
by the element) is read as its function, and its object's class is reached. The standard
library's recursion guards around ``__repr__`` (``reprlib.recursive_repr``, dataclasses' own)
add to a set of their own and take it out again around the call: the function they guard is
read instead.

* calls to the standard library's C functions that change their arguments (``heapq.heappush``,
  ``bisect.insort``, ``operator.setitem``), and to a builtin container's changing method bound
  to it (``record = log.append``);
* use of an object held outside the function whose use changes it: an iterator or a stream (read
  by ``islice``, ``zip``, ``__next__``, ``readline``), a C object of ``_STATEFUL`` (zlib streams,
  sqlite connections, queues...), ``ufunc.at`` (``np.add.at(counts, i, 1)``), a changing method
  called by its name (``getattr(d, "update")``); found also among the first items of the
  containers and the attributes of the user's objects the code reaches, two levels down
  (``counters[0]()``, ``holder.model.step(i)``), and in a ``functools.partial``'s function and
  arguments;
* calls to an lru_cache function (``engine.lru_caches``): its cache and counters are one object,
  which a split would make one per process (``cache_info()`` read later, the objects cached
  results are, the calls made again where they would have been hits).

A local variable bound to an object the function does not own counts as that object
(``_borrowed``): ``c = COUNTS`` then ``c[k] = 1``, ``items = self.items`` then
``items.append(x)``, ``g = groups.get(k)``, ``v = big[i:j]`` (a view) then ``v += 1``, a loop's
variable over an outside or argument's container, an unpacked argument, ``with buf as w``. An
in-place operator (``a += 1``) on such a name is a change; on an argument too when the shape's
items can change in place (lists, arrays, objects: not numbers, strings or tuples), so
``n //= 2`` on an int stays free of effects.

It is deliberately conservative: it can send a pure function down the serial path (slower,
still right: ``n = row[0]; n += 1`` over lists of ints), and it cannot see effects hidden behind
other C functions, ``getattr`` of a name made at run time, or an object a method of the user's hands out
(``self.bucket(k).append(x)``). A changing method on what a plain function of the user's returns
is one when that function returns a global's or closure's object, or an argument's and was
given one (``_hands_out``); the methods of objects inside a global list or dict are read too.
"""
from __future__ import annotations

import builtins
import collections
import decimal
import dis
import fractions
import functools
import inspect
import io
import itertools
import math
import operator
import sys
import types
from typing import Any, Callable, Iterable, List, Optional, Set, Tuple

import numpy as np

from ufora.engine import lru_caches
from ufora.engine.code import EMPTY, cell_contents, installed_file, nested_codes, users_class, written_by_user

# builtins whose answer is the process's own: another process would give another answer for the
# same object (an id; the hash of a string, seeded per process)
_PER_PROCESS = {"id": ", whose answer is an address in this process",
                "hash": ", whose answer for a string is seeded per process"}
# where an id or a hash is only the hash of an object in a set or dict, which the driver makes
# again where the partitions' sets and dicts are unpickled
_HASHING = {"__hash__", "__eq__"}
_EFFECT_BUILTINS = {"print", "open", "input", "exec", "eval", "breakpoint", "setattr", "delattr", "globals",
                    "next", *_PER_PROCESS}
# those of them that change no value a function is given (``may_change_arguments``)
_CHANGING_NOTHING_GIVEN = {"print", "open", "input", "breakpoint", *_PER_PROCESS}
MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "add", "update",
                    "discard", "setdefault", "popitem", "write", "writelines", "send", "put",
                    "sort", "reverse", "__setitem__", "__delitem__", "__setattr__", "__delattr__",
                    "fill", "resize", "itemset", "difference_update",
                    "intersection_update", "symmetric_difference_update", "appendleft",
                    "extendleft", "popleft", "rotate", "__iadd__", "__isub__", "__imul__", "__itruediv__",
                    "__ifloordiv__", "__imod__", "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__",
                    "__irshift__", "__imatmul__"}
EFFECT_MODULES = ("random", "numpy.random", "time", "logging", "warnings")


def effect_module(name: object) -> bool:
    """Whether a module's name is of ``EFFECT_MODULES`` (or of a module inside one): a shape
    using it is never split, so it runs serially, in CPython (``engine.compilable`` tells so
    before a block runs)."""
    return isinstance(name, str) and any(name == m or name.startswith(m + ".") for m in EFFECT_MODULES)
_OUTSIDE_LOADS = {"LOAD_GLOBAL", "LOAD_DEREF", "LOAD_NAME", "LOAD_CLASSDEREF"}
_CONSTRUCTORS = {"__init__", "__post_init__", "__setstate__"}  # (not __new__: its first argument is the class)


def _changing_functions() -> dict:
    """C functions of the standard library that change what they are given (their bytecode
    cannot be read): ``heapq.heappush(heap, x)``, ``bisect.insort(xs, x)``, ``operator.setitem``."""
    import bisect
    import heapq
    import operator

    names = {heapq: ("heappush", "heappop", "heapify", "heappushpop", "heapreplace"),
             bisect: ("insort", "insort_left", "insort_right"),
             operator: ("setitem", "delitem", "iadd", "iand", "iconcat", "ifloordiv", "ilshift", "imod", "imul",
                        "imatmul", "ior", "ipow", "irshift", "isub", "itruediv", "ixor")}
    return {getattr(module, name): f"{module.__name__}.{name}" for module, functions in names.items()
            for name in functions if hasattr(module, name)}


_CHANGING = _changing_functions()


def _module_effect(value) -> Optional[str]:
    """The effect of a value from a module of EFFECT_MODULES: the module itself, one of its
    functions or classes, an instance of one of its classes (a numpy ``Generator``), or a
    method bound to such an instance (``np.random.rand`` is ``RandomState().rand``); a C
    function that changes its arguments (``heapq.heappush``); a builtin container's changing
    method bound to it (``record = log.append``)."""
    try:
        changing = _CHANGING.get(value)
    except TypeError:  # unhashable
        changing = None
    if changing is not None:
        return f"calls {changing}, which changes its argument"
    owner = getattr(value, "__self__", None)
    if isinstance(owner, np.ufunc) and getattr(value, "__name__", "") == "at":
        return f"calls numpy.{owner.__name__}.at, which changes its argument in place"
    if (isinstance(value, types.BuiltinMethodType) and owner is not None and not isinstance(owner, types.ModuleType)
            and getattr(value, "__name__", "") in MUTATING_METHODS):
        return f"calls {type(owner).__name__}.{value.__name__} of an outside {type(owner).__name__}"
    if isinstance(value, types.BuiltinMethodType) and owner is not None and not isinstance(owner, types.ModuleType):
        value = owner
    if isinstance(value, types.ModuleType):
        module = value.__name__
    elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        module = getattr(value, "__module__", None)
    else:
        module = type(value).__module__
    if effect_module(module):
        return f"uses {module}"
    return None


def _receiver(instructions, index: int):
    """The instruction that loaded the root of the object an attribute is read from: for
    ``self.items.append`` at ``append``, the load of ``self``."""
    while index > 0 and instructions[index - 1].opname in ("LOAD_ATTR", "LOAD_METHOD"):
        index -= 1
    return instructions[index - 1] if index > 0 else None


def _shared(load, parameters: Set[str]) -> bool:
    """Whether a load pushes an object the function does not own: a global, a closure value or
    one of its arguments."""
    return load is None or load.opname in _OUTSIDE_LOADS or (
        load.opname == "LOAD_FAST" and load.argval in parameters)


@functools.lru_cache(maxsize=4096)
def _instructions(code: types.CodeType) -> tuple:
    """The code's instructions, decoded once: a shape in a loop (a tree's node after node) is
    checked at every call, and decoding was 80% of that (1.6 ms of 2)."""
    return tuple(dis.get_instructions(code))


def _code_effect(code: types.CodeType, fn_globals: dict, constructor: bool, closure: dict,
                 mutable_items: bool, changes_only: bool = False) -> Optional[str]:
    """``mutable_items``: the shape's items may be changed in place (lists, arrays, objects), so an
    in-place operator on an argument (``row += 1``) may change one; on numbers it rebinds a name.
    ``changes_only``: output, ids and imports are no effect (``may_change_arguments``)."""
    instructions = _instructions(code)
    count = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS) + bool(
        code.co_flags & inspect.CO_VARKEYWORDS)
    parameters = set(code.co_varnames[:count])
    # (found only where a change is made: most code makes none, and this is the check's dearest part)
    borrowed = functools.cache(lambda: _borrowed(instructions, parameters, fn_globals, closure))

    def not_own() -> Set[str]:
        return parameters.union(*borrowed())
    own = code.co_varnames[0] if constructor and code.co_argcount else None
    for index, ins in enumerate(instructions):
        op, name = ins.opname, ins.argval
        where = f"{code.co_name} (line {ins.positions.lineno if ins.positions else '?'})"
        if op in ("STORE_GLOBAL", "DELETE_GLOBAL"):
            return f"assigns global {name!r} in {where}"
        if op in ("STORE_DEREF", "DELETE_DEREF") and name in code.co_freevars:
            return f"assigns nonlocal {name!r} in {where}"
        if op in ("STORE_ATTR", "DELETE_ATTR"):
            previous = instructions[index - 1] if index else None
            if own is None or previous is None or previous.opname != "LOAD_FAST" or previous.argval != own:
                return f"assigns attribute {name!r} in {where}"
        if op in ("STORE_SUBSCR", "DELETE_SUBSCR"):
            container = _container_load(instructions, index)
            if container is None or container.opname != "LOAD_FAST" or _shared(container, not_own()):
                return f"assigns an item of an object it does not own in {where}"
        if op == "STORE_FAST" and index and _in_place(instructions[index - 1]) and (
                name in borrowed()[0] or (mutable_items and (name in parameters or name in borrowed()[1]))):
            operator = instructions[index - 1].argrepr
            return f"changes {name!r}, an object it does not own, in place ({operator}) in {where}"
        if op in ("LOAD_METHOD", "LOAD_ATTR") and name in MUTATING_METHODS and index:
            receiver = _receiver(instructions, index)
            if receiver is not None and receiver.opname == "CALL" and _hands_out(
                    instructions, instructions.index(receiver), not_own(), fn_globals, closure):
                return f"calls .{name}() on an object a call hands out, which it does not own, in {where}"
            if ((_shared(receiver, not_own()) or _roots_of_stored(  # D["a"].append(x), ROWS[i].append(x)
                    instructions, index, parameters | borrowed()[1], borrowed()[0], fn_globals, closure))
                    and not _sets_up_own(instructions, index, receiver, own, fn_globals, closure)
                    and not _module_function(instructions, index, receiver, fn_globals, closure)):
                return f"calls .{name}() on an object it does not own in {where}"
        if op in _CALLS:
            written = _written_argument(code, instructions, index, fn_globals, closure, not_own())
            if written:
                return f"{written} in {where}"
        if op == "CALL_FUNCTION_EX" and "out" in code.co_consts:
            return f"calls a function with **keywords that may hold out= in {where}"
        if op in ("LOAD_GLOBAL", "LOAD_NAME") and name == "getattr" and name not in fn_globals:
            method = _changing_const(code)
            if method is not None:
                return f"calls a changing method by its name (getattr(..., {method!r})) in {where}"
        if (op in ("LOAD_GLOBAL", "LOAD_NAME") and name in _EFFECT_BUILTINS and name not in fn_globals
                and not (name in _PER_PROCESS and code.co_name in _HASHING)
                and not (changes_only and name in _CHANGING_NOTHING_GIVEN)):
            return f"calls {name}() in {where}" + _PER_PROCESS.get(name, "")
        if op == "IMPORT_NAME" and effect_module(name) and not changes_only:
            return f"imports {name} in {where}"
    return None


# numpy's functions that write into their first argument (``np.copyto(dst, src)``)
_CHANGES_FIRST_ARGUMENT = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"})


_CALLS = frozenset({"CALL", "CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_METHOD", "CALL_KW"})


def _call_parts(code: types.CodeType, instructions, index: int
                ) -> Optional[Tuple[List[Tuple[int, int]], Tuple[str, ...], int]]:
    """For the call at ``index``: each argument's instructions [start, end), the names of its
    keyword arguments (the last ones), and where the callee's expression starts; None where the
    stack cannot be followed. (3.11 and 3.12: ``KW_NAMES`` before the call; 3.10 and 3.13: the
    names' tuple pushed last.)"""
    ins, end, names = instructions[index], index, ()
    if index and instructions[index - 1].opname == "PRECALL":
        end = index - 1
    if end and instructions[end - 1].opname == "KW_NAMES":
        end -= 1
        names = code.co_consts[instructions[end].arg]
    elif ins.opname in ("CALL_FUNCTION_KW", "CALL_KW") and end and instructions[end - 1].opname == "LOAD_CONST":
        end -= 1
        names = instructions[end].argval
    count = ins.arg or 0
    arguments: List[Tuple[int, int]] = []
    for _ in range(count):
        start = _expression_start(instructions, end)
        if start is None:
            return None
        arguments.insert(0, (start, end))
        end = start
    while end and instructions[end - 1].opname in ("LOAD_ATTR", "LOAD_METHOD"):  # np.add, df.fillna
        end -= 1
    if not end or not instructions[end - 1].opname.startswith("LOAD_"):
        return None
    return arguments, tuple(names), end - 1


def _resolved(instructions, start: int, end: int, fn_globals: dict, closure: dict) -> Any:
    """What a callee's expression names, where it is a global (or closure value) and module
    attributes of it (``np.add``, ``numpy.copyto``, ``operator.methodcaller``); else None."""
    loads = [ins for ins in instructions[start:end] if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") or
             ins.opname in _OUTSIDE_LOADS]
    if not loads or loads[0].opname not in _OUTSIDE_LOADS or instructions[start].opname not in _OUTSIDE_LOADS:
        return None
    value = closure.get(loads[0].argval, fn_globals.get(loads[0].argval, getattr(builtins, loads[0].argval, None)))
    for ins in loads[1:]:
        if ins.opname not in ("LOAD_ATTR", "LOAD_METHOD") or not isinstance(value, types.ModuleType):
            return None
        value = getattr(value, ins.argval, None)
    return value


def _outside_expression(instructions, start: int, end: int, not_own: Set[str]) -> bool:
    """Whether the value an argument's instructions [start, end) push may be an object the
    function does not own: it loads a global, a closure value or an argument, and is not a call's
    new result (``np.empty(3)``) nor a constant."""
    part = instructions[start:end]
    if part[-1].opname in _CALLS or all(ins.opname == "LOAD_CONST" for ins in part):
        return False
    return any(ins.opname in _OUTSIDE_LOADS or (ins.opname == "LOAD_FAST" and ins.argval in not_own) for ins in part)


def _written_argument(code: types.CodeType, instructions, index: int, fn_globals: dict, closure: dict,
                      not_own: Set[str]) -> Optional[str]:
    """What a call at ``index`` writes into that the function does not own, told by its arguments:
    a numpy function's ``out=`` (or a ufunc's outputs given by position: ``np.add(a, 1, a)``),
    the first argument of one that writes into it (``np.copyto(dst, src)``);
    ``inplace=`` of a method (pandas'); an ``operator.methodcaller`` of a changing method made
    and called at once. None if nothing."""
    parts = _call_parts(code, instructions, index)
    if parts is None:
        return None
    arguments, names, callee_start = parts
    keywords = dict(zip(names, arguments[len(arguments) - len(names):]))
    positional = arguments[:len(arguments) - len(names)]
    callee_end = callee_start + 1
    while instructions[callee_end].opname in ("LOAD_ATTR", "LOAD_METHOD"):
        callee_end += 1
    callee = _resolved(instructions, callee_start, callee_end, fn_globals, closure)
    numpys = isinstance(callee, np.ufunc) or str(getattr(callee, "__module__", "") or "").split(".")[0] == "numpy"
    written = [keywords["out"]] if numpys and "out" in keywords else []
    if isinstance(callee, np.ufunc):
        written += positional[callee.nin:]
    if any(_outside_expression(instructions, start, end, not_own) for start, end in written):
        return f"calls numpy.{getattr(callee, '__name__', '?')} writing into an out= argument it does not own"
    if numpys and getattr(callee, "__name__", "") in _CHANGES_FIRST_ARGUMENT and positional and \
            _outside_expression(instructions, *positional[0], not_own):
        return f"calls numpy.{callee.__name__}, which changes its first argument, on an object it does not own"
    if "inplace" in keywords and not all(ins.opname == "LOAD_CONST" and not ins.argval
                                         for ins in instructions[slice(*keywords["inplace"])]):
        receiver = instructions[callee_start]
        if receiver.opname in _OUTSIDE_LOADS or (receiver.opname == "LOAD_FAST" and receiver.argval in not_own):
            return "calls a method with inplace= on an object it does not own"
    if callee is operator.methodcaller and positional:
        name = instructions[positional[0][0]]
        if name.opname == "LOAD_CONST" and name.argval in MUTATING_METHODS:
            return f"calls .{name.argval}() through an operator.methodcaller"
    return None


# calls whose answer may be an object their receiver or argument holds (``groups.get(k)``,
# ``getattr(obj, name)``, ``max(rows)``), not a new one
_HANDING_OUT = {"get", "setdefault", "getattr", "next", "min", "max", "pop", "popitem", "popleft", "__getitem__",
                "__enter__", "peek", "vars"}
# what an assignment can bind without the name sharing an object: values that cannot change
_UNCHANGEABLE = (int, float, complex, str, bytes, bool, type(None), frozenset, range, decimal.Decimal,
                 fractions.Fraction, np.generic)


def _changing_const(code: types.CodeType) -> Optional[str]:
    """The name of a changing method among the code's constants (``getattr(d, "update")``), if any."""
    return next((c for c in code.co_consts if isinstance(c, str) and (c in MUTATING_METHODS
                                                                      or c in _CHANGES_FIRST_ARGUMENT)), None)


def _in_place(ins) -> bool:
    """Whether an instruction is an in-place operator (``+=``, ``*=``...)."""
    return ins.opname == "BINARY_OP" and ins.argrepr.endswith("=")


def _borrowed(instructions, parameters: Set[str], fn_globals: dict, closure: dict) -> Tuple[Set[str], Set[str]]:
    """The local variables that may be bound to an object the function does not own (that a
    change through them reaches the caller's or the world's object): ``counts = COUNTS``,
    ``items = self.items``, ``g = groups.get(k)``, ``v = big[i:j]`` (a view), ``for r in rows``,
    ``a, b = pair``, ``with buf as w``, and names bound to those. Two sets: those reached from a
    global or closure value, and those reached only from the function's arguments. A value made
    by the code (``[]``, ``x + 1``, ``line.split()``) is the function's own; an assignment the
    stack cannot be followed through is taken to share (the safe side)."""
    outside: Set[str] = set()
    from_arguments: Set[str] = set()
    while True:
        grown = False
        for index, ins in enumerate(instructions):
            if ins.opname != "STORE_FAST" or ins.argval in parameters:
                continue
            roots = _roots_of_stored(instructions, index, parameters | from_arguments, outside, fn_globals, closure)
            for kind, names in (("outside", outside), ("arguments", from_arguments)):
                if kind in roots and ins.argval not in names:
                    names.add(ins.argval)
                    grown = True
        if not grown:
            return outside, from_arguments


# what makes a new object (or a value that cannot change): a name bound to it is the code's own
_MAKING = frozenset({"BUILD_LIST", "BUILD_MAP", "BUILD_SET", "BUILD_TUPLE", "BUILD_STRING", "BUILD_CONST_KEY_MAP",
                     "BUILD_SLICE", "LIST_TO_TUPLE", "FORMAT_VALUE", "BINARY_OP", "COMPARE_OP", "CONTAINS_OP",
                     "IS_OP", "UNARY_NEGATIVE", "UNARY_NOT", "UNARY_INVERT", "UNARY_POSITIVE", "LOAD_CONST"})
# methods whose answer holds only new strings (``a, b = line.split(",")``, ``for w in text.split()``)
_MAKING_STRINGS = frozenset({"split", "rsplit", "splitlines", "partition", "rpartition"})


def _roots_of_stored(instructions, index: int, from_arguments: Set[str], outside: Set[str], fn_globals: dict,
                     closure: dict) -> Set[str]:
    """Where the object a store at ``index`` binds may come from: {"outside", "arguments"}, or
    neither when the code made it (or it cannot change)."""
    either = {"outside", "arguments"}
    end, whole, values = index, False, 1
    while end > 0 and instructions[end - 1].opname.startswith("STORE_"):
        end -= 1  # a, b = ... or a = b = ...: the stores after the value
    previous = instructions[end - 1].opname if end > 0 else ""
    if previous in ("UNPACK_SEQUENCE", "UNPACK_EX"):
        end, whole = end - 1, True  # any part of the unpacked value
    elif previous == "COPY" and instructions[end - 1].arg == 1:
        end -= 1
    elif previous == "SWAP" or end < index:  # a, b = x, y (the values swapped, or stored last first): any
        stores = sum(1 for _ in itertools.takewhile(lambda i: i.opname.startswith("STORE_"), instructions[end:]))
        while end > 0 and instructions[end - 1].opname == "SWAP":
            end -= 1
        values, whole = stores, True
    elif instructions[end - 1].opname in _MAKING:  # x = [], x = a + b, x += y (x's own object stays its own)
        return set()
    previous = instructions[end - 1].opname if end > 0 else ""
    if previous == "FOR_ITER":  # a loop's variable: an item of the iterable
        end, whole = end - 1, True
        if instructions[end - 1].opname == "GET_ITER":
            end -= 1
        elif instructions[end - 1].opname != "LOAD_FAST":  # (a comprehension's own loop: LOAD_FAST .0)
            return either
    elif previous == "BEFORE_WITH":  # with x as w: what x.__enter__() gives
        end, whole = end - 1, True
    start = end
    for _ in range(values):
        start = _expression_start(instructions, start) if start is not None else None
    if start is None:
        return either
    part = instructions[start:end]
    last = part[-1]
    if whole and values == 1 and last.opname == "CALL" and any(
            i.opname in ("LOAD_METHOD", "LOAD_ATTR") and i.argval in _MAKING_STRINGS for i in part[-4:]):
        return set()  # the new strings of line.split(",")
    scanned = len(part)
    if not whole and last.opname == "BINARY_SUBSCR":  # an item of the container: what the key is does not matter
        key_start = _expression_start(instructions, end - 1)
        if key_start is not None and key_start > start:
            scanned = key_start - start
    roots = set()
    for at, ins in enumerate(part[:scanned]):
        if ins.opname in _OUTSIDE_LOADS and _shares_outside(part, at, fn_globals, closure):
            roots.add("outside")
        elif ins.opname == "LOAD_FAST" and ins.argval in outside:
            roots.add("outside")
        elif ins.opname == "LOAD_FAST" and (ins.argval in from_arguments or ins.argval.startswith(".")):
            roots.add("arguments")
    if whole or not roots:
        return roots
    if last.opname in ("LOAD_FAST", "LOAD_ATTR", "BINARY_SUBSCR", "BINARY_SLICE") or last.opname in _OUTSIDE_LOADS:
        return roots
    if last.opname == "CALL" and any(
            i.opname in ("LOAD_METHOD", "LOAD_ATTR", "LOAD_GLOBAL") and i.argval in _HANDING_OUT for i in part):
        return roots
    return set()


def _hands_out(instructions, call: int, not_own: Set[str], fn_globals: dict, closure: dict) -> bool:
    """Whether the call at ``call`` may answer an object the function does not own: a method
    that hands out what its receiver holds (``groups.get(k)``) on an object it does not own, or
    a plain function of the user's whose answer is a global's or closure's object (``bucket(k)``
    returning ``BUCKETS[k]``), or one of its arguments' when those are not the caller's own."""
    start = _expression_start(instructions, call + 1)
    if start is None:
        return True
    part = instructions[start:call + 1]
    shared_operands = any((i.opname in _OUTSIDE_LOADS and _shares_outside(part, at, fn_globals, closure))
                          or (i.opname == "LOAD_FAST" and i.argval in not_own) for at, i in enumerate(part))
    if shared_operands and any(i.opname in ("LOAD_METHOD", "LOAD_ATTR", "LOAD_GLOBAL") and i.argval in _HANDING_OUT
                               for i in part):
        return True
    head = part[1] if part[0].opname == "PUSH_NULL" and len(part) > 1 else part[0]  # (a closure's function)
    callee = (closure.get(head.argval) if head.opname == "LOAD_DEREF" else fn_globals.get(head.argval)
              if head.opname in ("LOAD_GLOBAL", "LOAD_NAME") else None)
    if not isinstance(callee, types.FunctionType):
        return False
    roots = _answers(callee)
    return "outside" in roots or ("arguments" in roots and shared_operands)


def _answers(function: types.FunctionType) -> Set[str]:
    """Where the objects ``function`` returns may come from (``_roots_of_stored`` of each
    ``return``): {"outside", "arguments"}, or neither."""
    code = function.__code__
    instructions = _instructions(code)
    closure = dict(zip(code.co_freevars, (cell_contents(c) for c in function.__closure__ or ())))
    count = code.co_argcount + code.co_kwonlyargcount
    parameters = set(code.co_varnames[:count])
    outside, from_arguments = _borrowed(instructions, parameters, function.__globals__, closure)
    roots: Set[str] = set()
    for index, ins in enumerate(instructions):
        if ins.opname == "RETURN_VALUE" and index:
            roots |= _roots_of_stored(instructions, index, parameters | from_arguments, outside, function.__globals__,
                                      closure)
    return roots


def _shares_outside(part, at: int, fn_globals: dict, closure: dict) -> bool:
    """Whether the global or closure value loaded at ``part[at]`` (followed through module
    attributes: ``mod.LOG``) is an object the expression ``part`` may hand on: not a module,
    function, class or value that cannot change, nor an item of a list, tuple, dict or 1-d array
    of such values (``PRICES[k]``, ``weights[i]``)."""
    name = part[at].argval
    value = closure.get(name, fn_globals.get(name, getattr(builtins, name, None)))
    following = at + 1
    while isinstance(value, types.ModuleType) and following < len(part) and part[following].opname == "LOAD_ATTR":
        value = getattr(value, part[following].argval, None)
        following += 1
    if isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type, *_UNCHANGEABLE)):
        return False
    if at == 0 and part[-1].opname == "BINARY_SUBSCR" and not any(i.opname == "BUILD_SLICE" for i in part):
        return not _holds_unchangeable(value)
    return True


def _holds_unchangeable(value) -> bool:
    """Whether an item of ``value`` taken by a key (not a slice) cannot change: a 1-d numeric
    array's, or a list's, tuple's or dict's whose first 256 items (values) are numbers or strings."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.dtype != object
    if isinstance(value, dict):
        value = list(itertools.islice(value.values(), 256))
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, _UNCHANGEABLE) for item in value[:256])
    return False


def _module_function(instructions, index: int, receiver, fn_globals: dict, closure: dict) -> bool:
    """Whether the attribute loaded at ``index`` is a module's own function read straight off
    the module (``np.append``, ``np.insert``: each makes a new array), not a method of an
    object it holds (``mod.log.append``, or ``record = LOG.append`` in that module)."""
    if receiver is not instructions[index - 1]:
        return False
    if receiver.opname == "LOAD_DEREF":
        module = closure.get(receiver.argval)
    elif receiver.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
        module = fn_globals.get(receiver.argval)
    else:
        return False
    if not isinstance(module, types.ModuleType):
        return False
    function = getattr(module, instructions[index].argval, None)
    owner = getattr(function, "__self__", None)  # a builtin module's function: that module
    return callable(function) and (owner is None or isinstance(owner, types.ModuleType))


def _sets_up_own(instructions, index: int, receiver, own: Optional[str], fn_globals: dict, closure: dict) -> bool:
    """``object.__setattr__(self, ...)`` in a constructor, at ``index`` (the load of
    ``__setattr__``): a new object set up, as frozen dataclasses and classes with a
    ``__setattr__`` of their own do."""
    if own is None or instructions[index].argval != "__setattr__" or receiver is None or index + 1 >= len(instructions):
        return False
    if receiver.opname == "LOAD_DEREF":
        value = closure.get(receiver.argval)
    elif receiver.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
        value = fn_globals.get(receiver.argval, getattr(builtins, receiver.argval, None))
    else:
        return False
    following = instructions[index + 1]
    return value is object and following.opname == "LOAD_FAST" and following.argval == own


@functools.lru_cache(maxsize=None)
def _repr_guards() -> frozenset:
    """The code of the standard library's recursion guards around ``__repr__``."""
    import dataclasses
    import reprlib

    def guarded(self):
        return ""
    guards = [reprlib.recursive_repr()(guarded)]
    if hasattr(dataclasses, "_recursive_repr"):  # Python 3.11; 3.12 uses reprlib's
        guards.append(dataclasses._recursive_repr(guarded))
    return frozenset(guard.__code__ for guard in guards)


def _container_load(instructions, index: int):
    """The instruction that pushed the container of a subscript store or delete, when the
    container was pushed by a single load (``d[k] = v``, ``del d[k]``, ``counts[np.argmax(x)] = 1``);
    None when it cannot tell."""
    key_end = index
    if [(i.opname, i.arg) for i in instructions[max(0, index - 2):index]] == [("SWAP", 3), ("SWAP", 2)]:
        key_end = _augmented_read(instructions, index)  # counts[k] += 1: the key's code ends at the read
        if key_end is None:
            return None
    key_start = _expression_start(instructions, key_end)
    if key_start is None or key_start == 0:
        return None
    container = instructions[key_start - 1]
    if not container.opname.startswith("LOAD_") or container.opname in ("LOAD_ATTR", "LOAD_METHOD"):
        return None
    return container


def _augmented_read(instructions, index: int) -> Optional[int]:
    """Where ``COPY 2, COPY 2, BINARY_SUBSCR`` (the read of ``d[k] += v``, from Python 3.11) is,
    last before ``index``; None if it is not there."""
    for at in range(index - 3, -1, -1):
        if [(i.opname, i.arg) for i in instructions[at:at + 2]] == [("COPY", 2), ("COPY", 2)] and \
                instructions[at + 2].opname == "BINARY_SUBSCR":
            return at
    return None


def _expression_start(instructions, end: int) -> Optional[int]:
    """Where the code of the one value pushed last before ``end`` begins: going back from
    ``end``, the first instruction from which the stack has grown by exactly one (every proper
    part of an expression's code, taken from its end, pushes less); None where a jump lies in
    between (the stack cannot be followed through it) or there is no such instruction."""
    depth = 0
    for at in range(end - 1, -1, -1):
        ins = instructions[at]
        if ins.opcode in _JUMPS:
            return None
        try:
            depth += dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None, jump=False)
        except ValueError:
            return None
        if depth == 1:
            return at
    return None


_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)


def _attribute_values(code: types.CodeType, fn_globals: dict, closure: dict) -> Iterable:
    """What chains of attributes of modules resolve to (``np.random.rand``: numpy.random and
    its ``rand``), read without running anything but module attribute lookups."""
    instructions = _instructions(code)
    for index, ins in enumerate(instructions):
        if ins.opname not in _OUTSIDE_LOADS:
            continue
        value = closure.get(ins.argval, fn_globals.get(ins.argval, getattr(builtins, ins.argval, None)))
        following = index + 1
        while isinstance(value, (types.ModuleType, np.ufunc)) and following < len(instructions) and \
                instructions[following].opname in ("LOAD_ATTR", "LOAD_METHOD"):  # (np.add.at: a ufunc's)
            value = getattr(value, instructions[following].argval, None)
            following += 1
            yield value


class _Reader:
    """The functions and classes read so far, and the attribute names their code uses (which
    methods of a class can be reached)."""

    def __init__(self, mutable_items: bool, changes_only: bool = False) -> None:
        self.mutable_items = mutable_items
        self.changes_only = changes_only  # (``_code_effect``'s)
        self.seen: Set[int] = set()
        self.values_read: Set[int] = set()  # (a value reached again, or in a cycle, is read once)
        self.names: Set[str] = set()
        self.classes: List[type] = []

    def function(self, fn: Callable, constructor: bool = False) -> Optional[str]:
        if isinstance(fn, types.FunctionType) and fn.__code__ in _repr_guards() and hasattr(fn, "__wrapped__"):
            self.seen.add(id(fn))  # read as what it guards
            fn = fn.__wrapped__
        if id(fn) in self.seen or str(getattr(fn, "__module__", "")).startswith("ufora.engine."):
            return None  # the engine's own entry points (nested shapes) are not the user's effects
        self.seen.add(id(fn))
        effect = _module_effect(fn)
        if effect is None and not isinstance(fn, types.FunctionType):
            # a bound method (map(counter.bump, r)) or a callable object: its class's methods
            effect = self.value(getattr(fn, "__self__", None)) or self.value(fn)
            if effect is None and isinstance(fn, types.MethodType):
                effect = self.function(fn.__func__)
            return effect
        if effect or not isinstance(fn, types.FunctionType):
            return effect
        closure = dict(zip(fn.__code__.co_freevars, (cell_contents(c) for c in fn.__closure__ or ())))
        for code in nested_codes(fn.__code__):
            effect = _code_effect(code, fn.__globals__, constructor and code is fn.__code__, closure,
                                  self.mutable_items, self.changes_only)
            if effect:
                return effect
            self.names.update(code.co_names)
            for value in _attribute_values(code, fn.__globals__, closure):  # helpers.IT, sys.stdin, mymod.bump
                effect = (_module_effect(value) or _state_effect(value) or (
                    self.value(value) if _users(value) else None)) if value is not None else None
                if effect:
                    return effect
            for name in _globals_loaded(code):
                effect = self.value(fn.__globals__.get(name, getattr(builtins, name, None)))
                if effect:
                    return effect
        for value in [*closure.values(), *(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()]:
            effect = self.value(value)  # (a default: def take(x, it=IT))
            if effect:
                return effect
        return None

    def value(self, value, depth: int = 0) -> Optional[str]:
        try:
            return self._value(value, depth)
        except Exception:  # noqa: BLE001 - a user's __getattr__ that raises for "__self__": not read
            return None

    def _value(self, value, depth: int) -> Optional[str]:
        """Effects of a value the code reaches: a module, a function, a class or an instance
        of a user class; an iterator or stream, or a C object whose calls change its state; and
        those held by the first items of a container or the attributes of a user's object
        (``COUNTERS[0]()``, ``holder.model.step(i)``), ``depth`` levels down at most."""
        if value is None or value is EMPTY or type(value) in _PLAIN or id(value) in self.values_read:
            return None
        self.values_read.add(id(value))
        owner = getattr(value, "__self__", None) if isinstance(value, _BUILTIN_BOUND) else None
        effect = _module_effect(value) or _state_effect(value) or (  # nx = it.__next__, ex = db.execute
            _state_effect(owner) if owner is not None else None)
        if effect:
            return effect
        if isinstance(value, operator.methodcaller) and value.__reduce__()[1][0] in MUTATING_METHODS:
            return f"calls .{value.__reduce__()[1][0]}() through an operator.methodcaller"
        if isinstance(value, lru_caches.CacheWrapper) and not str(value.__module__).startswith("ufora.engine."):
            return f"calls lru_cache function {value.__name__!r}, whose cache each process would fill apart"
        if isinstance(value, (types.FunctionType, types.MethodType)):  # add = tally.add: its function, its object
            return self.function(value)
        if isinstance(value, functools.partial):  # partial(add_to, log): the function, given its arguments
            name = getattr(value.func, "__name__", "")
            if not isinstance(value.func, types.FunctionType) and name in MUTATING_METHODS:
                return f"calls {getattr(value.func, '__qualname__', name)} through a functools.partial"
            return self.function(value.func) or next(
                filter(None, (self.value(part, depth + 1) for part in (*value.args, *value.keywords.values()))), None)
        cls = value if isinstance(value, type) else type(value)
        if users_class(cls) and cls not in self.classes:
            self.classes.append(cls)
        if depth >= _DEPTH:
            return None
        for item in _held(value):
            effect = self.value(item, depth + 1)
            if effect:
                return effect
        return None

    def methods(self) -> Optional[str]:
        """Effects of the methods of the classes reached that can be called: special methods,
        and those whose name the code read uses; until no new method is reached."""
        while True:
            pending = [(function, name in _CONSTRUCTORS)
                       for klass in {k for cls in self.classes for k in cls.__mro__ if users_class(k)}
                       for name, member in vars(klass).items()
                       if name.startswith("__") or name in self.names
                       for function in _functions_of(member) if id(function) not in self.seen]
            if not pending:
                return None
            for function, constructor in pending:
                effect = self.function(function, constructor)
                if effect:
                    return effect


def _globals_loaded(code: types.CodeType) -> Set[str]:
    """The global names the code reads: not every name it uses, which holds attribute names too
    (``pyarrow.csv.read_csv(...)`` in a module that defines a ``read_csv`` of its own read that
    function's effects as the caller's)."""
    return {ins.argval for ins in _instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}


_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None)})  # nothing to read in them
_DEPTH = 2  # levels of containers and attributes read below a value the code reaches


_BUILTIN_BOUND = (types.BuiltinMethodType, types.MethodWrapperType)


def _held(value) -> List[Any]:
    """What a value holds that the code may reach through it: the first items of a container
    (``ACCOUNTS[i].deposit(x)``), the attributes of a user's object, the data attributes of a
    user's class (not its functions: a method is read when its name is used). Nothing where
    looking raises (a ``__getattr__`` of the user's that raises for any name): not read."""
    try:
        if isinstance(value, type):
            if not users_class(value):
                return []
            return [member for member in itertools.islice(vars(value).values(), 256)
                    if not isinstance(member, (types.FunctionType, classmethod, staticmethod, property))]
        held = list(_first_items(value))
        if _users_object(value):  # its attributes, and its class's (class Comp: z = zlib.compressobj())
            held += [*itertools.islice(vars(value).values(), 64), type(value)]
        return held
    except Exception:  # noqa: BLE001 - the user's code, which CPython would not have run here
        return []


def _users(value) -> bool:
    """Whether a module's attribute is the user's code or object (``mymod.bump``, ``mymod.Model``,
    ``mymod.CONFIG``): read as a global of the code would be. The libraries' are not."""
    function = getattr(value, "__func__", value)
    if isinstance(function, lru_caches.CacheWrapper):
        function = getattr(function, "__wrapped__", None)
    if isinstance(function, types.FunctionType):
        return written_by_user(function)
    return users_class(value) or _users_object(value)


def _users_object(value) -> bool:
    """An object of the user's whose attributes are read: a ``types.SimpleNamespace``, or of a
    class of the user's (with or without methods: ``class Holder: pass``, told by its module:
    ``__main__``, a module not loaded here, or one outside the installed packages)."""
    cls = type(value)
    if isinstance(value, types.SimpleNamespace):
        return True
    if isinstance(value, (type, types.ModuleType, types.FunctionType)) or not hasattr(value, "__dict__"):
        return False
    if users_class(cls):
        return True
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    return cls.__module__ != "builtins" and (module is None or cls.__module__ == "__main__" or (
        isinstance(filename, str) and not installed_file(filename)))


def _stateful_types() -> tuple:
    """C classes of the standard library whose methods change the object's state, with no
    method name telling so (``co.compress(b)``, ``db.execute(sql)``, ``q.get()``)."""
    import bz2
    import csv
    import lzma
    import queue
    import socket
    import sqlite3
    import zlib

    return (type(zlib.compressobj()), type(zlib.decompressobj()), bz2.BZ2Compressor, bz2.BZ2Decompressor,
            lzma.LZMACompressor, lzma.LZMADecompressor, sqlite3.Connection, sqlite3.Cursor, socket.socket,
            queue.Queue, queue.SimpleQueue, type(csv.writer(io.StringIO())), csv.DictWriter)


_STATEFUL = _stateful_types()


def _state_effect(value) -> Optional[str]:
    """The effect of using an object held outside the function whose use changes it: an iterator
    or a stream (reading one uses it up), or one of ``_STATEFUL``."""
    if isinstance(value, type):
        return None
    if _read_once(type(value)):
        return (f"reads a {type(value).__name__} held outside it, which reading uses up (iterators, streams): "
                f"a split would read its first items twice, timing them, and in other processes")
    if isinstance(value, _STATEFUL):
        return f"uses a {type(value).__module__}.{type(value).__name__} held outside it, whose calls change it"
    return None


def _first_items(value) -> Iterable:
    """The first 64 items of a list, tuple, set or deque, or values of a dict (nothing of other
    values): whose classes' methods code reaching the container may call."""
    if isinstance(value, dict):
        return itertools.islice(value.values(), 64)
    if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
        return itertools.islice(value, 64)
    return ()


def _functions_of(member) -> List[types.FunctionType]:
    """The Python functions a class attribute runs: a method, a static or class method's
    function, a property's getter, setter and deleter."""
    if isinstance(member, property):
        parts = [member.fget, member.fset, member.fdel]
    else:
        parts = [getattr(member, "__func__", member)]
    return [part for part in parts if isinstance(part, types.FunctionType)]


def _read_once(cls: type) -> bool:
    """Whether reading an object of ``cls`` changes it: an iterator (a generator, ``iter(xs)``,
    ``itertools.tee``'s, a csv reader) or a stream (``io.StringIO``, a file)."""
    return hasattr(cls, "__next__") or issubclass(cls, io.IOBase)


def side_effect(*functions: Optional[Callable], items: Iterable[type] = (), changes_only: bool = False
                ) -> Optional[str]:
    """Why these functions must not run out of order, or None if nothing visible was found.
    ``items``: the classes of the shape's items, whose methods the functions may call (and which
    an in-place operator on an argument may change: not numbers or strings). ``changes_only``:
    only changes of values count, not output, ids or imports."""
    items = list(items)
    consumed = next((cls for cls in items if _read_once(cls)), None)
    if consumed is not None:  # reading one changes it: items computed twice (timed first, then run) differ
        return f"its items are {consumed.__name__} objects, which reading uses up (iterators, streams)"
    reader = _Reader(mutable_items=not all(issubclass(cls, (*_UNCHANGEABLE, tuple)) for cls in items),
                     changes_only=changes_only)
    for fn in functions:
        if fn is not None:
            effect = reader.function(fn)
            if effect:
                return effect
    for cls in items:
        effect = reader.value(cls)
        if effect:
            return effect
    return reader.methods()


def may_change_arguments(callee: Any) -> bool:
    """Whether calling ``callee`` may change what it is given: a function of the user's (or a
    method of it) that changes a value (``side_effect``'s ``changes_only``: not one that only
    prints; a guess that errs towards yes: it may change another value), or a C function that
    changes its arguments, or of ``EFFECT_MODULES`` (``heapq.heapify``, ``random.shuffle``:
    ``_module_effect``); not another library's."""
    function = getattr(callee, "__func__", callee)
    if not isinstance(function, types.FunctionType):
        return _module_effect(callee) is not None
    if not written_by_user(function):
        return effect_module(function.__module__)  # random.shuffle: a method of random's own Random
    try:
        return side_effect(function, changes_only=True) is not None
    except Exception:  # a function the reading cannot follow may change anything
        return True


_NAN_NAMES = frozenset({"nan", "NaN", "NAN"})  # math.nan, numpy.nan, numpy.NaN, numpy.NAN


# nan_held's answer for a NaN object the functions hold (a global, a closure's, a default: a
# marker such as MISSING = float("nan")), not one they name (math.nan, np.nan)
NAN_MARKER_HELD = "it holds a NaN object held outside it (a marker): a list counts and finds it by identity"


def nan_held(*functions: Optional[Callable]) -> Optional[str]:
    """Why the values of a shape these functions compute may be a NaN object that exists
    outside them (a global or closure value, ``math.nan``, ``np.nan``, in them or in the user's
    functions they call): a list finds and counts a NaN by identity (``vals.count(MISSING)``,
    ``MISSING in vals``), a set keeps one of it, and values computed in other processes come
    back as other objects (a sum's or a min's result is its value: not asked). None when none can be."""
    seen: Set[int] = set()
    todo = [fn for fn in functions if isinstance(fn, types.FunctionType)]
    named = False  # math.nan or np.nan, by name or bound to another (each process has its own one)
    while todo:
        fn = todo.pop()
        if id(fn) in seen or len(seen) > 256:
            continue
        seen.add(id(fn))
        codes = list(nested_codes(fn.__code__))
        names = {name for code in codes for name in code.co_names}
        named = named or bool(names & _NAN_NAMES)
        # the globals it reads (not an attribute of the same name: math.nan is no global nan)
        loaded = {ins.argval for code in codes for ins in dis.get_instructions(code)
                  if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
        held = [fn.__globals__.get(name) for name in loaded]
        held += [cell_contents(cell) for cell in fn.__closure__ or ()]
        held += list(fn.__defaults__ or ())
        for value in held:
            if type(value) is float and value != value:
                if value is not math.nan and value is not np.nan:
                    return NAN_MARKER_HELD
                named = True
            if isinstance(value, types.FunctionType) and not installed_file(value.__code__.co_filename):
                todo.append(value)
    if named:
        return "it may give a NaN object held outside it (math.nan, np.nan): a list counts and finds it by identity"
    return None


def nan_shared(items: list, as_array: Optional[np.ndarray], functions_hold_nan: bool) -> Optional[str]:
    """Why the items of a shape over the list ``items`` (``as_array``: the same floats as an
    array, when they are all floats) are NaN objects whose identity tells: one NaN object held
    at two places or more (a ``MISSING`` marker: a set keeps it once, ``r is MISSING`` finds
    it), or any NaN where the shape's functions hold one (``functions_hold_nan``); items computed
    in other processes are other objects there. None when none is. At C speed, but for the
    NaNs found; a list of other objects than numbers, strings and None is not looked at (not
    yet: nor are the NaNs inside its items, a record's fields)."""
    if as_array is None and items:
        kinds = set(map(type, items))
        if kinds == {float}:
            as_array = np.array(items, dtype=np.float64)
        elif float in kinds and kinds <= _PLAIN_ITEMS:  # x != x is True only for a NaN among these
            nans = list(itertools.compress(items, map(operator.ne, items, items)))
            return _nans_shared(nans, functions_hold_nan)
    if as_array is None or as_array.dtype.kind != "f":
        return None
    return _nans_shared([items[at] for at in np.flatnonzero(np.isnan(as_array)).tolist()], functions_hold_nan)


_PLAIN_ITEMS = frozenset({float, int, bool, str, bytes, type(None)})


def _nans_shared(nans: list, functions_hold_nan: bool) -> Optional[str]:
    """``nan_shared``'s answer for the NaN objects a list holds, in order."""
    if not nans:
        return None
    if functions_hold_nan:
        return "its items hold NaN objects and its functions one: `is` tells them apart"
    if len(set(map(id, nans))) < len(nans):
        return "its items hold one NaN object at several places: a set keeps it once and `is` finds it"
    return None

