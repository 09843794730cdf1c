"""Whether a parallel shape's code could become a compiled kernel, told from its text and the
values its names hold, before anything runs: the client's guess for where a block's first run
goes (``pyfora.first_run``), which has no time of it yet.

The kernel builder (``engine.kernels``) compiles a shape's element, its filter and the functions
they call with numba, or runs the shape as CPython partitions. What it cannot compile is often
plain in the text: text formatting (f-strings, ``repr``), building strings, tuples, lists, dicts
or objects as a collected item (a compiled collection holds numbers only), calling a method of
an object or of a module numba does not know (``line.split()``, ``rng.random()``,
``statistics.mean``), reading an object's attributes (``self.rate``), a free list, dict, string
or object; and using random state, a clock or logging (``random.random()``, ``np.random.rand()``),
which numba would compile but ``engine.purity`` never lets a split run. ``may_compile`` says
False only on such evidence; anything it cannot tell counts as compilable, so a shape the
cluster could compile is never kept from it by this guess (a wrong False costs the first run's
speed-up only: it runs here as plain CPython).
"""
from __future__ import annotations

import ast
import builtins
import types
from typing import Any, Dict, Iterable, Optional, Set

import numpy

from ufora.engine import functions, purity, rewriter
from ufora.engine.code import EMPTY, cell_contents, installed_file, is_a

# numba compiles these modules' functions (numpy's by name); numba's ``random`` and ``np.random``
# do not count: a shape using random state is never split (``_effect``)
_COMPILED_MODULES = {"math", "cmath", "numpy", "operator"}
_COMPILED_BUILTINS = {abs, min, max, sum, len, range, round, pow, divmod, enumerate, zip, ord, chr, any, all,
                      int, float, bool, complex, str}  # ``str`` of an int or bool: ``kernels._text_support``
_NUMBER_TYPES = (bool, int, float, complex, numpy.number, numpy.bool_)
_ITEM_ATTRIBUTES = {"real", "imag", "shape", "size", "ndim", "T", "dtype"}  # of a number or an array's row
_REDUCTIONS = {"sum", "min", "max", "any", "all"}  # of a generator: unrolled into loops (``engine.rewriter``)
_NOT_COMPILED_NODES = (ast.JoinedStr, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.Dict, ast.Set,
                       ast.List, ast.Yield, ast.YieldFrom, ast.Await, ast.With, ast.AsyncWith, ast.Global,
                       ast.Nonlocal, ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef,
                       ast.AsyncFunctionDef, ast.Delete)
_DEPTH = 4  # levels of user functions followed; deeper counts as compilable


def _module_name(value: Any) -> Optional[str]:
    return vars(value).get("__name__") if is_a(value, types.ModuleType) else None


def _compiled_value(value: Any) -> bool:
    """A free value numba takes into a kernel: a number, an array of numbers, a tuple of them, a
    module, a function (whose code is looked at where it is called), None. Told by types and
    the built-ins' own attributes: a subclass's are the user's code."""
    if value is None or is_a(value, (*_NUMBER_TYPES, types.ModuleType, types.FunctionType,
                                     types.BuiltinFunctionType, numpy.ufunc)):
        return True
    if is_a(value, numpy.ndarray):
        return numpy.ndarray.dtype.__get__(value).kind in "biufc"
    if is_a(value, tuple):
        return all(is_a(item, _NUMBER_TYPES) for item in tuple.__iter__(value))
    return str(type(value).__module__).startswith("numba")  # a jitted function (a dispatcher)


def _effect(value: Any) -> bool:
    """A value of a module whose use ``engine.purity`` never splits (random state, clocks,
    logging), so that a shape using it runs serially, as CPython: the module, a function or class
    of it, an instance of one (a numpy ``Generator``), a method bound to one (``random.random``
    is ``random._inst.random``, ``np.random.rand`` a ``RandomState``'s)."""
    if is_a(value, (types.BuiltinMethodType, types.MethodType)) and not is_a(value.__self__, types.ModuleType):
        value = value.__self__
    if is_a(value, types.ModuleType):
        return purity.effect_module(vars(value).get("__name__"))
    if is_a(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return purity.effect_module(getattr(value, "__module__", None))
    return purity.effect_module(type(value).__module__)


_TEXT_BUILTINS = {repr, format, ascii, sorted}


def not_a_number(expression: ast.expr, namespace: Dict[str, Any]) -> bool:
    """Whether a collected item is plainly not a number (a compiled collection holds ints, floats
    or bools only): text, a display, a comprehension, what a class other than a number's makes."""
    if isinstance(expression, ast.Constant):
        return not isinstance(expression.value, (bool, int, float))
    if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Attribute) \
            and isinstance(expression.func.value, ast.Name) and expression.func.value.id == "cmath":
        return expression.func.attr not in ("phase", "isfinite", "isinf", "isnan", "isclose")  # make complex
    if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name):
        called = namespace.get(expression.func.id, getattr(builtins, expression.func.id, None))
        return (is_a(called, type) and not issubclass(called, (bool, int, float, numpy.number))
                or is_a(called, types.BuiltinFunctionType) and called in _TEXT_BUILTINS)
    return isinstance(expression, (ast.JoinedStr, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.ListComp,
                                   ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda))


class _Checker:
    """Walks code with the values its free names hold (``namespace``) and the names that are its
    own (parameters and locals: values not known)."""

    def __init__(self, over_arrays: bool) -> None:
        self.over_arrays = over_arrays  # the shape's items may be an array's rows (their methods compile)
        self.seen: Set[types.CodeType] = set()

    def code(self, nodes: Iterable[ast.AST], namespace: Dict[str, Any], own: Set[str], depth: int) -> bool:
        for root in nodes:
            for node in ast.walk(root):
                if not self._node(node, namespace, own, depth):
                    return False
        return True

    def _value(self, name: str, namespace: Dict[str, Any], own: Set[str]) -> Any:
        if name in own:
            return _OWN
        if name in namespace:
            return namespace[name]
        return getattr(builtins, name, _OWN)

    def _node(self, node: ast.AST, namespace: Dict[str, Any], own: Set[str], depth: int) -> bool:
        if isinstance(node, _NOT_COMPILED_NODES):
            return False
        if isinstance(node, ast.GeneratorExp):
            return True  # checked where it is: the argument of a reduction, else the call refuses it
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            value = self._value(node.id, namespace, own)
            if value is not _OWN and _effect(value):
                return False
            return value is _OWN or node.id in rewriter.HOOKS or node.id.startswith("__ufora") \
                or _compiled_value(value) or is_a(value, type)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, namespace, own)
        if isinstance(node, ast.Call):
            return self._call(node, namespace, own, depth)
        return True

    def _attribute(self, node: ast.Attribute, namespace: Dict[str, Any], own: Set[str]) -> bool:
        base = node.value
        if isinstance(base, ast.Name):
            value = self._value(base.id, namespace, own)
            if value is _OWN:
                return node.attr in _ITEM_ATTRIBUTES or self.over_arrays
            module = _module_name(value)
            if module is not None:
                # the module's own attribute: not through a module's __getattr__ (a lazy import)
                attribute = vars(value).get(node.attr)
                if _effect(attribute):  # np.random
                    return False
                return module in _COMPILED_MODULES or is_a(attribute, types.ModuleType)
            return is_a(value, (numpy.ndarray, *_NUMBER_TYPES))
        return True  # np.random.rand: its base is checked as an attribute of its own

    def _call(self, node: ast.Call, namespace: Dict[str, Any], own: Set[str], depth: int) -> bool:
        function = node.func
        if isinstance(function, ast.Attribute):
            return self._attribute(function, namespace, own)
        if not isinstance(function, ast.Name):
            return True
        if function.id in _REDUCTIONS and any(isinstance(a, ast.GeneratorExp) for a in node.args):
            return True  # the generator's own parts are walked as the call's children
        if any(isinstance(a, ast.GeneratorExp) for a in node.args):
            return False  # a generator given to anything else: numba has no generators
        value = self._value(function.id, namespace, own)
        if value is _OWN or function.id.startswith("__ufora"):
            return True
        if is_a(value, type):  # (range, enumerate and zip are classes: a trial found loops over range refused)
            return value in _COMPILED_BUILTINS or issubclass(value, numpy.generic)
        if is_a(value, types.BuiltinFunctionType) and getattr(value, "__self__", None) is builtins:
            return value in _COMPILED_BUILTINS
        if is_a(value, types.FunctionType):
            return self.function(value, depth + 1)
        return True

    def function(self, fn: types.FunctionType, depth: int) -> bool:
        """Whether a Python function the code calls may compile: its definition's statements,
        with its globals and closure as its namespace."""
        if depth > _DEPTH or fn.__code__ in self.seen:
            return True
        self.seen.add(fn.__code__)
        module = str(fn.__module__ or "")
        if module.split(".")[0] in _COMPILED_MODULES:
            return True
        if installed_file(fn.__code__.co_filename):
            return False  # a library's Python (``statistics.mean``): numba knows only _COMPILED_MODULES
        definition = functions.source_definition(fn)
        if definition is None:
            return True
        body = list(definition.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # its docstring
        return self.code(body, namespace_of(fn), {*fn.__code__.co_varnames, *fn.__code__.co_cellvars}, depth)


_OWN = object()  # a parameter's or local's value: not known before the code runs


def namespace_of(fn: types.FunctionType) -> Dict[str, Any]:
    """The values the names of ``fn``'s code may read: its globals, and its closure's cells."""
    namespace = dict(fn.__globals__)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        contents = cell_contents(cell)
        if contents is not EMPTY:
            namespace[name] = contents
    return namespace


def may_compile_function(fn: types.FunctionType) -> bool:
    """Whether a function a shape maps (``map(f, xs)``) may be compiled."""
    return _Checker(False).function(fn, 0)


def may_compile(functions: Iterable[Optional[ast.Lambda]], namespace: Dict[str, Any], own: Set[str],
                over_arrays: bool = False) -> bool:
    """Whether a shape whose element, filter and key are these lambdas (of the rewritten block:
    ``engine.rewriter``), run where ``namespace`` holds the free names' values and ``own`` names
    the names whose values are not known (the block's own, a function's locals), may be compiled."""
    checker = _Checker(over_arrays)
    for function in functions:
        if function is None:
            continue
        parameters = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        if not checker.code([function.body], namespace, own | parameters, 0):
            return False
    return True

