"""Blocks that run in the caller's own process: those the cluster cannot make faster.

The cluster makes a block faster only through its parallel shapes (``engine.rewriter``: the
generators and comprehensions it splits and compiles). A block whose text holds none, and whose
functions (those it reaches, as the driver would rewrite them: ``engine.functions``) hold none
either, would run on the cluster as the very code it is, on one core, after its free variables
were pickled, sent and rebuilt there, and before its results and in-place changes came back: it
can only be slower there (a 40 ms loop over 200,000 dicts took 0.5 s as a block). Such a block
runs here instead, as written: every value, type, exception, identity and side effect is
CPython's because it is CPython, and nothing moves.

Any other block runs here the next times where that was faster: its driver says how long it would
take as plain CPython in one process (``engine.local_estimate``: its time less its split shapes',
plus their serial estimates; every shape serial, it is the driver's own time), which is weighed
against the time the block took through the cluster, sent and brought back; once it ran here,
its time measured here counts instead (so a wrong estimate costs one run). Only while its values
are no larger than then (``Sizes``): each number (numpy's, ``Decimal``, ``Fraction`` too) and each
short string as it was; each container, array and long string at most twice as long; each function
the same code (one level into objects' attributes); a name that was unbound then (the block
assigned it before reading it) is not one of its values. A block whose values grew goes to the
cluster again, which decides anew.

The first run of a block whose every parallel shape iterates over the client's own Python objects
(a free variable holding a list, tuple, set or dict of strings, records or objects, or a slice or
attribute of one, or a name the block assigns from them: ``_shape_roots``) runs here too: the
cluster rarely splits such a shape (every process would unpickle every item: ``engine.cost``), and
it would first have to move them all. If that run took ``EXPLORE_FROM`` seconds or more, the next
goes to the cluster, once, to measure it; then the faster side wins, as above. A shape over a
range, an array or anything computed goes to the cluster first.

Only when nothing could tell the difference: the block brings every value back
(``downloadAll()``; with ``remoteAll()`` or ``downloadSmall()`` its values must stay on the
cluster), and no proxy (``RemotePythonObject``) exists in this process, so none of its values
can be one. An exception it raises comes as it would from the cluster (``ComputationError`` and
its own type, with the traceback of here). ``onCluster()`` on a block, or
``pyfora.connect(..., serial_here=False)``, sends such blocks to the cluster all the same.
"""
from __future__ import annotations

import ast
import collections
import copy
import decimal
import fractions
import functools
import logging
import os
import sysconfig
import types
from dataclasses import dataclass
from typing import Any, Dict, Hashable, List, Optional, Tuple

import numpy

import engine
import net
import pyfora
from engine import functions, rewriter
from engine.block import assigned_names
from engine.code import find_with
from pyfora import capture, remote

log = logging.getLogger(__name__)

REASON = ("it holds no parallel shape, nor do the functions it calls: the cluster would run it as this "
          "same code on one core, after its values moved there")
FIRST = ("its parallel shapes iterate over your own Python objects, which the cluster would first "
         "have to move there and rarely splits: it runs here first, and goes to the cluster once if it "
         "takes {explore:g} s or more here")
EXPLORE_FROM = 0.5  # seconds a block's first run here takes from which the cluster is tried once
LEARNED = ("it takes {here:.3f} s here ({how}) and took {cluster:.3f} s through the cluster last time, on "
           "values no smaller than these")

# Files whose functions the cluster would not rewrite: the standard library's, installed
# packages' and ufora's own (the client does not ship them: ``pyfora.capture``).
_NOT_SHIPPED = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
                     | {os.path.dirname(package.__file__ or "") + os.sep for package in (engine, net, pyfora)})


class _ShippedFiles:
    """The files of the user's functions, as the set of files the cluster would be sent."""

    def __contains__(self, filename: object) -> bool:
        return isinstance(filename, str) and not filename.startswith(_NOT_SHIPPED)


# a name a shape iterates over, the attributes and constant keys or indexes read from it on the
# way (``self.rows``, ``data["rows"]``; a slice keeps the container), and whether the cluster never
# splits it (a dict's view)
Root = Tuple[str, Tuple[Any, ...], bool]
_SLICE = object()  # a step that keeps the container: ``lines[1:]``
_VIEWS = {"items", "values", "keys"}  # a dict's views: not a source the cluster splits (engine.sources)
_OVER_ARGUMENTS = {"sorted", "reversed", "list", "tuple", "set", "enumerate", "zip"}


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
        return [(iterable.id, tuple(path), False)]
    if not isinstance(iterable, ast.Call) or iterable.keywords:
        return None
    function, arguments = iterable.func, list(iterable.args)
    if isinstance(function, ast.Attribute) and function.attr in _VIEWS and not arguments:
        found = _roots(function.value)
        return None if found is None else [(name, path, True) for name, path, _ in found]
    if isinstance(function, ast.Name) and function.id == rewriter.ZIPPED_HOOK and arguments:
        called, arguments = arguments[0], arguments[1:]
        if isinstance(called, ast.Name) and called.id == "map":
            arguments = arguments[1:]  # the function mapped
        elif not (isinstance(called, ast.Name) and called.id in _OVER_ARGUMENTS):
            return None
    elif not (isinstance(function, ast.Name) and function.id in _OVER_ARGUMENTS):
        return None
    roots: List[Root] = []
    for argument in arguments:
        found = _roots(argument)
        if found is None:
            return None
        roots += found
    return roots or None


_NUMERIC_NAMES = {"range", "np", "numpy", "array", "arange"}  # a block that makes numbers: the cluster's work


@functools.lru_cache(maxsize=256)
def _shape_roots(source: str, filename: str, with_line: int) -> Optional[Tuple[Tuple[Root, ...], Tuple[str, ...]]]:
    """(what the block's parallel shapes iterate over: ``_roots``; the names the block assigns);
    None when a shape iterates over anything else, or the block names ``range`` or numpy (a name
    it assigns may then hold numbers it made, which the cluster compiles). A shape inside a
    function the block defines iterates over its parameters, neither free nor assigned:
    ``_over_own_objects`` says no."""
    body = find_with(ast.parse(source, filename), with_line).body
    if any(isinstance(node, ast.Name) and node.id in _NUMERIC_NAMES
           for statement in body for node in ast.walk(statement)):
        return None
    rewritten = rewriter.rewrite(ast.Module(body=copy.deepcopy(body), type_ignores=[]))
    roots: List[Root] = []
    for node in ast.walk(rewritten):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        position = {rewriter.REDUCE_HOOK: 1, rewriter.COLLECT_HOOK: 1, rewriter.LEN_HOOK: 2}.get(node.func.id)
        if position is None:
            continue
        found = _roots(node.args[position])
        if found is None:
            return None
        roots += found
    return tuple(roots), tuple(assigned_names(body))


_NUMERIC = (bool, int, float, complex, numpy.number)  # what the cluster packs into arrays and compiles


def _own_objects(value: Any) -> bool:
    """A container of the client's Python objects (not of numbers, which the cluster packs and
    compiles): a list, tuple, set, deque or dict whose first item (a dict's first value) is
    not a number."""
    if isinstance(value, dict):
        return not isinstance(next(iter(value.values()), None), _NUMERIC)
    if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
        return not value or not isinstance(next(iter(value)), _NUMERIC)
    return False


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
            attributes = getattr(value, "__dict__", None)
            if not isinstance(attributes, dict) or key not in attributes or hasattr(type(value), key):
                return _UNREADABLE
            value = attributes[key]
        elif type(value) is dict and key in value or type(value) in (list, tuple) and isinstance(key, int):
            try:
                value = value[key]
            except (IndexError, KeyError):
                return _UNREADABLE
        else:
            return _UNREADABLE
    return value


def _over_own_objects(located: capture.Located, values: Dict[str, Any]) -> bool:
    """Whether every parallel shape of the block iterates over the client's own Python objects:
    a free variable's, or a name the block assigns (made from them: the block reads a container
    of them); a view of a free dict (``prices.items()``) whatever it holds: never split."""
    found = _shape_roots(located.source, located.filename, located.with_line)
    if found is None:
        return False
    roots, assigned = found
    free = [(_followed(values[name], path), view) for name, path, view in roots if name in values]
    data = any(view for _, view in free) or any(_own_objects(value) and len(value) for value in values.values())
    return data and all(name in values or name in assigned for name, _, _ in roots) and all(
        view and isinstance(value, dict) or _own_objects(value) for value, view in free)


Sizes = Tuple[Tuple[str, Hashable], ...]  # per free variable, what its size is told by (``sizes``)
_NUMBERS = (type(None), bool, int, float, complex)  # exactly these: a subclass's == may be the user's own
_SIZED = (list, tuple, dict, set, frozenset, collections.deque, str, bytes, bytearray, range)
_SHORT = 64  # characters of a string compared as it is
_UNKNOWN = ("?",)  # a size that cannot be told (a range longer than sys.maxsize): never no larger


def _size(value: Any, depth: int = 1) -> Hashable:
    """What a value's size is told by, read without running any code of the user's (no ``__len__``,
    ``__getattr__``, ``__eq__`` or property of theirs, which may raise or load something): a number
    or a short string itself (numpy's scalars by their bytes, ``Decimal`` and ``Fraction`` by their
    text); the length of a container, long string or array (of a subclass: the built-in's length);
    a function by its code (a parameter may be another function each call); a module of the
    standard library or an installed package by its name (``np``: 500 attributes measured in 0.6 ms
    a block, which would run in microseconds here); an object's attributes' sizes, ``__slots__`` too
    (``depth`` levels down); else only its type (a class: the same block calls the same code)."""
    kind = type(value)
    if kind in _NUMBERS or kind is str and len(value) <= _SHORT:
        return ("=", kind, value)
    if issubclass(kind, numpy.generic):
        return ("=", kind, value.dtype.str, value.tobytes())
    if kind in (decimal.Decimal, fractions.Fraction):
        return ("=", kind, str(value))  # a signalling NaN raises on ==
    if issubclass(kind, numpy.ndarray):
        return ("len", numpy.ndarray.size.__get__(value))
    for base in _SIZED:
        if issubclass(kind, base):
            try:
                return ("len", base.__len__(value))
            except OverflowError:
                return _UNKNOWN
    if kind is types.FunctionType:
        return ("code", value.__code__)
    if kind is types.ModuleType and vars(value).get("__file__") not in _ShippedFiles():
        return ("module", vars(value).get("__name__"))  # a library's: its code and settings, not the block's data
    if depth > 0 and not issubclass(kind, type):
        attributes = _attributes(value, kind)
        if attributes:
            return ("obj", kind, tuple(sorted((name, _size(item, depth - 1)) for name, item in attributes.items())))
    return ("type", kind)


def _attributes(value: Any, kind: type) -> Dict[str, Any]:
    """The attributes an object holds itself: its ``__dict__`` and its ``__slots__``, read as the
    interpreter keeps them (not through the class's ``__getattr__`` or ``__getattribute__``)."""
    found: Dict[str, Any] = {}
    try:
        held = object.__getattribute__(value, "__dict__")
    except AttributeError:
        held = None
    if isinstance(held, dict):
        found.update((name, item) for name, item in held.items() if isinstance(name, str))
    for klass in kind.__mro__:
        if "__slots__" not in vars(klass):
            continue
        for name, slot in vars(klass).items():
            if isinstance(slot, types.MemberDescriptorType):
                try:
                    found[name] = slot.__get__(value, kind)
                except AttributeError:  # a slot never assigned
                    pass
    return found


def sizes(values: Dict[str, Any]) -> Sizes:
    """The sizes of a block's free variables (taken before it runs: it may change them)."""
    return tuple(sorted((name, _size(value)) for name, value in values.items()))


def _no_larger(now: Hashable, then: Hashable) -> bool:
    if now == _UNKNOWN or then == _UNKNOWN:
        return False
    if isinstance(now, tuple) and isinstance(then, tuple) and now[:1] == then[:1] == ("len",):
        return now[1] <= 2 * then[1] + 16
    if isinstance(now, tuple) and isinstance(then, tuple) and now[:2] == then[:2] and now[:1] == ("obj",):
        return len(now[2]) == len(then[2]) and all(a[0] == b[0] and _no_larger(a[1], b[1])
                                                   for a, b in zip(now[2], then[2]))
    return now == then


@dataclass
class _Timed:
    """What is known of one block's times, on values of ``sizes``."""
    sizes: Sizes
    cluster: Optional[float]  # seconds it took through the cluster (sent, run, brought back), last time
    here: Optional[float]  # seconds it takes here: the driver's estimate, or measured here
    measured: bool = False  # ``here`` was measured running it here

    def here_is_faster(self, taken: Sizes) -> bool:
        """Where the cluster's time is not known yet (the block ran here first), only if it was
        quick here (``EXPLORE_FROM``)."""
        if self.here is None or not _no_larger_all(taken, self.sizes):
            return False
        return self.here < (EXPLORE_FROM if self.cluster is None else self.cluster)


def _no_larger_all(taken: Sizes, then: Sizes) -> bool:
    """Whether each value the block read then is no larger now. A name the block reads that was
    unbound then (the block assigned it before reading it: a loop's second time) did not count."""
    now = dict(taken)
    return all(name in now and _no_larger(now[name], size) for name, size in then)


# (file, with line, the file's text's hash) -> its times
_timed: "collections.OrderedDict[Tuple[str, int, int], _Timed]" = collections.OrderedDict()
_TIMED_KEPT = 256


def _key(located: capture.Located) -> Tuple[str, int, int]:
    """The block, as long as its file's text is the same: by the text's hash (which locating the
    block computed already), not the text, which is read anew for every block (a copy of a 1 MB
    file kept for each of its blocks timed)."""
    return located.filename, located.with_line, hash(located.source)


def ran_on_cluster(located: capture.Located, taken: Sizes, seconds: float, cpython_seconds: Optional[float]) -> None:
    """The block ``located`` took ``seconds`` through the cluster on values of sizes ``taken``,
    where its driver estimated ``cpython_seconds`` as plain CPython (None: unknown). A time
    measured here on values no smaller is kept: an estimate does not replace it."""
    key = _key(located)
    then = _timed.pop(key, None)
    if then is not None and then.measured and _no_larger_all(taken, then.sizes):
        then.cluster = seconds
        _timed[key] = then
    else:
        _timed[key] = _Timed(taken, seconds, cpython_seconds)
    while len(_timed) > _TIMED_KEPT:
        _timed.popitem(last=False)


def ran_here(located: capture.Located, taken: Sizes, seconds: float) -> None:
    """The block ``located``, sent here by its times (``LEARNED``) or as its first run
    (``FIRST``), took ``seconds`` here on values of sizes ``taken``: the next run goes where it
    is faster."""
    key = _key(located)
    then = _timed.get(key)
    if then is None:
        _timed[key] = _Timed(taken, None, seconds, measured=True)
        while len(_timed) > _TIMED_KEPT:
            _timed.popitem(last=False)
    else:
        then.here, then.measured = seconds, True


def why_here(located: capture.Located, values: Dict[str, Any], taken: Sizes) -> Optional[str]:
    """Why the block ``located``, whose free variables are ``values`` of sizes ``taken``, runs
    here; None when it goes to the cluster (it reaches a shape the cluster split or has not run
    yet, or a proxy exists)."""
    if remote.proxies_alive():
        return None
    timed = _timed.get(_key(located))
    reaches_shapes = located.shaped or functions.rewrite_reachable(values, _ShippedFiles(), dry_run=True) > 0
    if not reaches_shapes:
        why = REASON
    elif timed is not None and timed.here_is_faster(taken):
        why = (LEARNED.format(here=timed.here, how="measured" if timed.measured else "estimated by the cluster",
                              cluster=timed.cluster) if timed.cluster is not None
               else FIRST.format(explore=EXPLORE_FROM))
    elif timed is None and _over_own_objects(located, values):
        why = FIRST.format(explore=EXPLORE_FROM)
    else:
        return None
    log.info("the block at %s:%d runs in this process: %s", located.filename, located.with_line, why)
    return why
