"""Where a block's first run goes, before any time of it is known (``pyfora.run_here``).

On a cluster the size of a machine or two, a parallel shape is faster there than here only as a
compiled kernel: as CPython partitions it gains at most the cores' count, and first pays to move
its items and results between processes (a 400,000-item set comprehension of objects: 3.2 s
there against 0.25 s here). So a block's first run goes here when no parallel shape it holds, nor
one in the functions it reaches, could gain there. The verdict is ``CPYTHON`` when each will
certainly run as CPython there:

* it iterates over the client's own Python objects (``_over_own_objects``), its items no array a
  kernel could take: a free variable holding a list, tuple, set or dict of strings, records or
  objects (or a slice, constant key or index, or instance attribute of one, read without running
  the user's code), as any part of a ``zip``; a dict's view, or any other free value
  ``engine.sources`` never splits (a dict iterated for its keys, a set, a deque, a list's subclass:
  ``_never_split``); text; or a name the block assigns when the block reads such a container (and
  names neither ``range`` nor numpy, which make numbers);
* its code is plainly not compilable (``engine.compilable``): it formats or builds text or
  objects, calls an object's method or a module numba does not know, reads a free list, string or
  object or a list the code made, or collects items that are not numbers;
* or it does a few operations per item over lists the code made without numpy: making them costs
  as much as a kernel could save.

It is ``NOT_WORTH_IT``, a guess, when some shape is only a few operations per item collected into a
list, set or dict (its items are made here as Python objects anyway, whatever computed them).

Any other shape (numeric code over a range, an array or numbers) may be compiled: the block goes
to the cluster first. If a first run here took ``run_here.EXPLORE_FROM`` seconds or more, the next
goes to the cluster once to be timed (for ``CPYTHON`` only where the cluster has cores enough to
split CPython: ``run_here.SPLIT_CPYTHON_FROM_CORES``), and from then on the faster side wins.
"""
from __future__ import annotations

import ast
import collections
import functools
import types
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

import numpy

from ufora.engine import compilable, functions, rewriter, sources
from ufora.engine.block import assigned_names
from ufora.engine.code import copied, find_with, is_a, parsed
from pyfora import capture

# a name a shape iterates over, the attributes and constant keys or indexes read from it on the
# way (``self.rows``, ``data["rows"]``; a slice keeps the container), and how the shape iterates it:
_NEVER_SPLIT = "never split"  # a dict's view, a set or reversed() of it: no source engine.sources splits
_ITSELF = "itself"  # as it is (or as a part of a zip): split only if engine.sources splits its type
_COPIED = "copied"  # as a list or tuple a call made of it (``sorted(names)``): its items decide
Root = Tuple[str, Tuple[Any, ...], str]
_SLICE = object()  # a step that keeps the container: ``lines[1:]``
_VIEWS = {"items", "values", "keys"}  # a dict's views: not a source the cluster splits (engine.sources)
_OVER_ARGUMENTS = {"sorted", "reversed", "list", "tuple", "set", "enumerate", "zip"}
_COPYING = {"sorted": _COPIED, "list": _COPIED, "tuple": _COPIED, "set": _NEVER_SPLIT, "reversed": _NEVER_SPLIT}
_NUMERIC_NAMES = {"range", "np", "numpy", "array", "arange"}  # a block that makes numbers: the cluster's work
_NUMERIC = (bool, int, float, complex, numpy.number)  # what the cluster packs into arrays and compiles
_CONTAINER: List[Any] = []  # what a name the code assigns only lists, sets or dicts to holds, for the check
_TEXT = 64  # characters from which a free string is the client's data (``text.split()``), not a separator


@dataclass(frozen=True)
class Shape:
    """One parallel shape of the rewritten code (``engine.rewriter``'s hook call)."""
    roots: Optional[Tuple[Root, ...]]  # what it iterates (``_roots``); None: a range, a call, ...
    functions: Tuple[ast.expr, ...]  # its element, filter and key, as written (lambdas, or a mapped name)
    collected: Optional[ast.expr]  # the item a list or set collects (a dict's value): None for reductions
    over_arrays: bool  # it names numpy: its items may be an array's rows
    text: bool  # it iterates over text it makes (``str(n)``, ``line.split()``): never numbers
    cheap: bool  # its code calls nothing but builtins and math's and runs no loop of its own


_TEXT_METHODS = {"split", "rsplit", "splitlines", "strip", "lstrip", "rstrip", "lower", "upper", "title",
                 "replace", "join", "format", "casefold", "capitalize", "partition", "rpartition"}
_CHEAP_CALLS = {"abs", "len", "min", "max", "int", "float", "bool", "round", "ord", "chr", "divmod", "pow"}


def _makes_text(node: ast.expr) -> bool:
    """Whether an expression plainly makes text, or a list of text (``line.split(",")``)."""
    if isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _makes_text(node.left) or _makes_text(node.right)
    if isinstance(node, ast.Call):
        function = node.func
        return (isinstance(function, ast.Attribute) and function.attr in _TEXT_METHODS
                or isinstance(function, ast.Name) and function.id in ("str", "repr", "format"))
    return False


def _cheap(functions: Tuple[ast.expr, ...]) -> bool:
    """Whether a shape's code is a few operations per item: no call but of a builtin in
    ``_CHEAP_CALLS`` or a ``math``/``cmath`` function, no loop of its own (a nested ``for``)."""
    for function in functions:
        if not isinstance(function, ast.Lambda):
            return False
        for node in ast.walk(function.body):
            if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp, ast.Lambda)):
                return False
            if isinstance(node, ast.Call):
                called = node.func
                if not (isinstance(called, ast.Name) and called.id in _CHEAP_CALLS
                        or isinstance(called, ast.Attribute) and isinstance(called.value, ast.Name)
                        and called.value.id in ("math", "cmath")):
                    return False
    return True


def _roots(iterable: ast.expr) -> Optional[List[Root]]:
    """The names ``iterable`` iterates over, through slices, indexes and attributes (``lines[1:]``,
    ``self.rows``), a dict's views (``counts.items()``), and ``sorted``, ``zip``, ``enumerate``
    and the like of those; None for anything else (a range, another call)."""
    path: List[Any] = []
    while isinstance(iterable, (ast.Subscript, ast.Attribute)):
        if isinstance(iterable, ast.Attribute):
            path.insert(0, ("attribute", iterable.attr))
        elif isinstance(iterable.slice, ast.Slice):
            path.insert(0, _SLICE)
        elif isinstance(iterable.slice, ast.Constant):
            path.insert(0, ("item", iterable.slice.value))
        else:
            return None  # an item the block picks: what it holds cannot be told
        iterable = iterable.value
    if isinstance(iterable, ast.Name):
        return [(iterable.id, tuple(path), _ITSELF)]
    if not isinstance(iterable, ast.Call) or iterable.keywords:
        return None
    function, arguments = iterable.func, list(iterable.args)
    if isinstance(function, ast.Attribute) and function.attr in _VIEWS and not arguments:
        found = _roots(function.value)
        return None if found is None else [(name, path, _NEVER_SPLIT) for name, path, _ in found]
    if isinstance(function, ast.Name) and function.id == rewriter.ZIPPED_HOOK and arguments:
        called, arguments = arguments[0], arguments[1:]
        if isinstance(called, ast.Name) and called.id == "map":
            arguments = arguments[1:]  # the function mapped
        elif not (isinstance(called, ast.Name) and called.id in _OVER_ARGUMENTS):
            return None
    elif not (isinstance(function, ast.Name) and function.id in _OVER_ARGUMENTS):
        return None
    made = _COPYING.get(function.id) if isinstance(function, ast.Name) else None  # zip's parts: as they are
    roots: List[Root] = []
    for argument in arguments:
        found = _roots(argument)
        if found is None:
            return None
        roots += [(name, path, how if made is None or how == _NEVER_SPLIT else made) for name, path, how in found]
    return roots or None


def _hook(node: Optional[ast.expr]) -> Optional[str]:
    """The name of the engine's hook a node calls (``__ufora_flat__(...)``, and the twin's
    ``__ufora_loops__(text)(...)``), if any."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Call):
        node = node.func
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("__ufora"):
        return node.func.id
    return None


def _element(node: Optional[ast.expr]) -> Optional[ast.expr]:
    """The lambda inside an element's wrapping (nested ``for`` clauses, starred items, a twin
    with loops)."""
    while isinstance(node, ast.Call) and node.args \
            and _hook(node) in (rewriter.FLAT_HOOK, rewriter.STAR_HOOK, rewriter.LOOPS_HOOK):
        node = node.args[0]
    return node


def _collected_item(element: Optional[ast.expr], kind: ast.expr) -> Optional[ast.expr]:
    """The item a collection's element makes (a dict's value), when it is written out."""
    element = _element(element)
    if not isinstance(element, ast.Lambda):
        return None
    item = element.body
    if isinstance(item, ast.GeneratorExp):  # nested ``for`` clauses: the innermost item
        item = item.elt
    if isinstance(kind, ast.Constant) and kind.value == "dict":
        return item.elts[1] if isinstance(item, ast.Tuple) and len(item.elts) == 2 else None
    return item


def shapes_of(statements: List[ast.stmt]) -> Tuple[Shape, ...]:
    """The parallel shapes of these statements (rewritten as copies)."""
    rewritten = rewriter.rewrite(ast.Module(body=copied(statements), type_ignores=[]), twins=False)
    over_arrays = any(isinstance(node, ast.Name) and node.id in ("np", "numpy")
                      for statement in statements for node in ast.walk(statement))
    found: List[Shape] = []
    for node in ast.walk(rewritten):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id == rewriter.METHOD_HOOK:  # ``s.map(f)``: over ``s``, calling ``f`` (a thunk's body)
            method, thunk = node.args
            roots = _roots(method.value) if isinstance(method, ast.Attribute) else None
            function = thunk.body if isinstance(thunk, ast.Lambda) else None
            called: Tuple[ast.expr, ...] = (function,) if isinstance(function, (ast.Lambda, ast.Name)) else ()
            found.append(Shape(tuple(roots) if roots is not None else None, called, None, over_arrays, False,
                               _cheap(called)))
            continue
        position = {rewriter.REDUCE_HOOK: 1, rewriter.COLLECT_HOOK: 1, rewriter.LEN_HOOK: 2}.get(node.func.id)
        if position is None:
            continue
        iterable = node.args[position]
        parts = [_element(part) for part in node.args[position + 1:position + 3]]
        parts += [k.value for k in node.keywords if k.arg == "key"]
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) \
                and iterable.func.id == rewriter.ZIPPED_HOOK and len(iterable.args) > 1 \
                and isinstance(iterable.args[0], ast.Name) and iterable.args[0].id == "map":
            parts.append(iterable.args[1])  # the function mapped
        collects = node.func.id == rewriter.COLLECT_HOOK
        roots = _roots(iterable)
        code = tuple(part for part in parts if part is not None
                     and not (isinstance(part, ast.Constant) and part.value is None))
        found.append(Shape(tuple(roots) if roots is not None else None, code,
                           _collected_item(node.args[position + 1], node.args[0]) if collects else None,
                           over_arrays, _makes_text(iterable), _cheap(code)))
    return tuple(found)


def _makes_container(node: ast.expr) -> bool:
    """Whether an expression plainly makes a list, set or dict (``[x] * n``, a comprehension,
    ``sorted(...)``): what a kernel cannot read."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _makes_container(node.left) or _makes_container(node.right)
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in ("list", "dict", "set", "sorted")
    return isinstance(node, (ast.List, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp))


def _names_made(statements: List[ast.stmt], makes: Callable[[ast.expr], bool]) -> Set[str]:
    """The names these statements assign only what ``makes`` says of (``_makes_text``: only
    text, as ``report = "\\n".join(lines)``)."""
    made: Set[str] = set()
    other: Set[str] = set()
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    plain = isinstance(target, ast.Name) and makes(node.value)
                    (made if plain else other).update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.For, ast.comprehension, ast.NamedExpr)):
                other.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.With):
                other.update(n.id for item in node.items if item.optional_vars is not None
                             for n in ast.walk(item.optional_vars) if isinstance(n, ast.Name))
    return made - other


@dataclass(frozen=True)
class _Code:
    """What the guess needs of a block's or a function's statements."""
    shapes: Tuple[Shape, ...]
    assigned: FrozenSet[str]  # the names it assigns
    numeric: bool  # it names ``range`` or numpy: the names it assigns may hold numbers it made
    text: FrozenSet[str]  # the names it assigns only text to
    containers: FrozenSet[str]  # the names it assigns only lists, sets or dicts to


def _code(statements: List[ast.stmt]) -> _Code:
    numeric = any(isinstance(node, ast.Name) and node.id in _NUMERIC_NAMES
                  for statement in statements for node in ast.walk(statement))
    return _Code(shapes_of(statements), frozenset(assigned_names(statements)), numeric,
                 frozenset(_names_made(statements, _makes_text)), frozenset(_names_made(statements, _makes_container)))


@functools.lru_cache(maxsize=64)
def _block(source: str, filename: str, with_line: int) -> _Code:
    return _code(find_with(parsed(source, filename), with_line).body)


_CONTAINERS = (list, tuple, set, frozenset, collections.deque)


def _own_objects(value: Any) -> bool:
    """A container of the client's Python objects (not of numbers, which the cluster packs and
    compiles): a list, tuple, set, deque or dict whose first item (a dict's first value) is
    not a number. Read through the built-in's own methods: a subclass's ``__iter__``,
    ``__len__`` or ``values`` is the user's code."""
    kind = type(value)
    if issubclass(kind, dict):
        return not is_a(next(iter(dict.values(value)), None), _NUMERIC)
    for base in _CONTAINERS:
        if issubclass(kind, base):
            return not is_a(next(base.__iter__(value), None), _NUMERIC)  # type: ignore[attr-defined]
    return False


def _length(value: Any) -> int:
    """The length of a container or string as the built-in tells it (not a subclass's
    ``__len__``); 0 for anything else."""
    for base in (dict, str, *_CONTAINERS):
        if issubclass(type(value), base):
            return base.__len__(value)  # type: ignore[attr-defined]
    return 0


_UNREADABLE = object()


def _followed(value: Any, path: Tuple[Any, ...]) -> Any:
    """What ``path`` leads to from ``value``, read without running the user's code: an instance's
    own attribute (not a property or another descriptor), a constant key of a dict or index of a
    list or tuple (exactly those types); ``_UNREADABLE`` where it cannot be read so."""
    for step in path:
        if step is _SLICE:
            continue
        kind, key = step
        if kind == "attribute":
            try:  # not through the class's __getattribute__ or __getattr__ (a slotted object's)
                attributes = object.__getattribute__(value, "__dict__")
            except AttributeError:
                return _UNREADABLE
            if type(attributes) is not dict or key not in attributes \
                    or any(key in vars(klass) for klass in type(value).__mro__):
                return _UNREADABLE
            value = attributes[key]
        elif type(value) is dict and key in value or (type(value) is list or type(value) is tuple) \
                and isinstance(key, int):  # the key is the code's constant
            try:
                value = value[key]
            except (IndexError, KeyError):
                return _UNREADABLE
        else:
            return _UNREADABLE
    return value


def _holds_data(values: Dict[str, Any]) -> bool:
    """Whether the block reads a container of the client's objects, or a text, that the names it
    assigns may be made from."""
    return any(_length(value) > _TEXT if is_a(value, str) else _length(value) > 0 and _own_objects(value)
               for value in values.values())


def _never_split(value: Any) -> bool:
    """Whether ``engine.sources`` splits no shape over this value, so that it runs as CPython on
    the cluster: anything but a range, an array or pandas Series of numbers, or exactly a list or
    tuple (a dict iterated for its keys, a set, a deque, a list's subclass, an object of the
    user's)."""
    kind = type(value)
    if value is _UNREADABLE or kind is range or kind is list or kind is tuple:
        return False
    if issubclass(kind, numpy.ndarray):  # of engine.sources' numeric kinds
        return numpy.ndarray.ndim.__get__(value) < 1 or numpy.ndarray.dtype.__get__(value).kind not in "biuf"
    if sources.is_series(value):  # pandas' own code, not the user's
        return not sources.splits_series(value)
    return True


def _over_own_objects(shape: Shape, values: Dict[str, Any], made: Set[str]) -> bool:
    """Whether the shape iterates over the client's own Python objects, so that its items are no
    array a kernel could take: text; a free variable's objects, a free value no source splits,
    or a dict's view whatever it holds (never split), as any part of a ``zip``; or only names in
    ``made`` (the code's own)."""
    if shape.text:
        return True
    if shape.roots is None:
        return False
    for name, path, how in shape.roots:
        if how == _NEVER_SPLIT:
            return True
        if name in values:
            value = _followed(values[name], path)
            if _own_objects(value) or how == _ITSELF and _SLICE not in path and _never_split(value):
                return True  # (a slice of a list's subclass is a list)
    return all(name in made for name, _, _ in shape.roots)


CPYTHON = "cpython"  # every shape will certainly run as CPython on the cluster
NOT_WORTH_IT = "not worth it"  # some shape only looks too cheap to gain there (a guess: it may compile)


def _cpython_only(shape: Shape, namespace: Dict[str, Any], unknown: Set[str], made: Set[str],
                  made_from_data: Set[str], containers: FrozenSet[str]) -> Optional[str]:
    """``CPYTHON`` when the shape will certainly run as CPython (partitions or serial) on the
    cluster, or gains nothing there: a few operations per item over lists the code ``made``
    itself (making them costs as much as compiled code could save); ``NOT_WORTH_IT`` when it
    could gain little there: a few operations per item collected into a list, set or dict (made
    of Python objects here, item by item, whatever computed them); else None. ``unknown``: the
    names whose values are not known yet (the block's own, a function's locals), of which the
    code made ``containers`` lists, sets or dicts (which a kernel cannot read)."""
    if _over_own_objects(shape, namespace, made_from_data):
        return CPYTHON
    if shape.collected is not None and compilable.not_a_number(shape.collected, namespace):
        return CPYTHON
    mapped = [part for part in shape.functions if not isinstance(part, ast.Lambda)]
    lambdas = [part for part in shape.functions if isinstance(part, ast.Lambda)]
    read = {**namespace, **{name: _CONTAINER for name in containers}}
    over_arrays = shape.over_arrays or any(  # an array's rows, whose methods compile
        name in namespace and is_a(_followed(namespace[name], path), numpy.ndarray)
        for name, path, _ in shape.roots or ())
    if not compilable.may_compile(lambdas, read, unknown - containers, over_arrays) or any(
            isinstance(part, ast.Name) and type(namespace.get(part.id)) is types.FunctionType
            and not compilable.may_compile_function(namespace[part.id]) for part in mapped):
        return CPYTHON
    if shape.cheap and not shape.over_arrays and _over_own_objects(shape, namespace, made):
        return CPYTHON  # a few operations per item over lists the code made (numpy's would be quick to make)
    return NOT_WORTH_IT if shape.cheap and shape.collected is not None else None


def _in_function(fn: types.FunctionType, definition: ast.FunctionDef) -> List[Optional[str]]:
    """``_cpython_only`` for the shapes of a function the block calls: its parameters come from
    outside, its other locals it makes; a global or closure value of a local's name is not it."""
    code, found = fn.__code__, _code(definition.body)
    parameters = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
    local = {*code.co_varnames, *code.co_cellvars}
    made = set(code.co_varnames[parameters:])
    namespace = {name: value for name, value in compilable.namespace_of(fn).items() if name not in local}
    return [_cpython_only(shape, namespace, local, made, set(), found.containers) for shape in found.shapes]


def runs_here_first(located: capture.Located, values: Dict[str, Any],
                    reached: Iterable[types.FunctionType]) -> Optional[str]:
    """Whether the block ``located`` (free variables ``values``), which reaches the functions
    ``reached`` holding shapes, goes here on its first run, since no shape of its own or of
    theirs could run faster on the cluster: ``CPYTHON`` when each will certainly run as CPython
    there, ``NOT_WORTH_IT`` when some only looks too cheap to gain; None: the cluster first."""
    block = _block(located.source, located.filename, located.with_line)
    assigned = set(block.assigned)
    made_from_data = set(block.text) if block.numeric or not _holds_data(values) else assigned
    verdicts = [_cpython_only(shape, values, assigned, assigned, made_from_data, block.containers)
                for shape in block.shapes]
    for fn in reached:
        definition = functions.definition(fn)
        if definition is None:
            return None
        verdicts += _in_function(fn, definition)
    if None in verdicts:
        return None
    return NOT_WORTH_IT if NOT_WORTH_IT in verdicts else CPYTHON
