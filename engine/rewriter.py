"""The block rewriter: replaces parallelizable expressions with calls into the engine.

Rules (docs/parallel-shapes.md has an example for each, and what stays serial):

* ``f(<genexp>, *rest, **kw)`` where ``f`` is the name ``sum``, ``min``, ``max``, ``any`` or
  ``all`` becomes ``__ufora_reduce__(f, <iterable>, lambda x: <element>, <condition>, *rest, **kw)``.
* ``[<element> for x in <iterable> if ...]`` becomes
  ``__ufora_collect__("list", <iterable>, lambda x: <element>, <condition>)``; set
  comprehensions likewise with ``"set"``; ``{k: v for ...}`` with ``"dict"`` and the element
  ``lambda x: (k, v)``.
* ``f(map(g, a))``, ``f(map(g, a, b))``, ``f(filter(p, a))`` for the reductions above and for
  ``list``/``set``: ``__ufora_reduce__(f, __ufora_zipped__(map, g, a), None, None)`` (or
  ``__ufora_collect__(list, ...)``); the engine takes the call apart at run time when ``map`` or
  ``filter`` is the builtin, so ``g`` and ``a`` are evaluated once, where they were.
* ``len(c)`` where ``c`` is rewritten to ``__ufora_collect__(...)`` (a comprehension,
  ``list(map(...))``, ``list(filter(...))``) becomes ``__ufora_len__(len, <the same arguments>)``:
  the engine counts a list's elements without building the whole list (a compiled partition counts;
  one in CPython builds its own part, as written), and takes ``len`` of a set or dict.
* ``<obj>.map(f)`` and ``<obj>.apply(f)`` (one argument, no keywords) become
  ``__ufora_method__(<obj>.map, lambda: f)``: when the bound method is pandas' ``Series.map`` or
  ``Series.apply`` of a Series the engine splits and ``f`` a plain Python function, the engine
  computes ``f`` of every value as a list comprehension over the Series, then has pandas build
  its result from those values; any other call runs as written. The argument is a thunk so that
  it is evaluated after the attribute, as CPython does.
* With several ``for`` clauses, the outer one is split: the element function gives, for one
  outer item, the generator of the inner loops (marked ``__ufora_flat__``), whose values are
  the elements, in order; these run in CPython inside each partition. For ``sum`` (without a
  start), ``any``, ``all``, and ``min`` and ``max`` (without a key or default), a second function
  gives the reduction of the inner loops for one outer item: when the reduction is the builtin,
  partitions reduce those instead, compiled. (The first of equal smallest elements is the first
  of the first group holding one; a NaN, which orders with nothing, makes the compiled
  reduction raise, and that partition is computed again in CPython, over the inner loops.)
* Only generators and comprehensions whose first ``for`` clause is over a plain name or a
  tuple of names, nested or not (``for i, (a, b) in enumerate(zip(xs, ys))``: the lambdas take
  the names in order, marked with ``__ufora_star__`` and the target's shape, by which the
  engine unpacks each item); any number of ``if`` clauses, joined with ``and`` into one
  condition (``None`` when there is none). A ``zip(...)`` or ``enumerate(...)`` call as the
  iterable, or as an argument of one, becomes ``__ufora_zipped__(zip, ...)`` so that the engine
  can split its arguments together.

Each hook made from a generator or comprehension also gets ``__ufora_serial__=lambda
__ufora_it: <the generator or comprehension as written, over __ufora_it>``: what the engine runs
when it does not split the shape (``engine.cost``), so that a serial run is CPython's own loop,
at its own speed, with no element function called per item.

The iterable is evaluated where it was (a comprehension's outermost iterable is evaluated
eagerly, so this keeps CPython's order of evaluation); the lambdas close over exactly what the
comprehension would have. The function (``f``) is passed so that the engine can check at run
time that it is the builtin and otherwise call it as written. Nested shapes are not rewritten
again: the outer one is split, the inner one runs inside each partition.
"""
from __future__ import annotations

import ast
import builtins
from typing import List, Optional

from ufora.engine.code import copied

REDUCE_HOOK = "__ufora_reduce__"
COLLECT_HOOK = "__ufora_collect__"
ZIPPED_HOOK = "__ufora_zipped__"
STAR_HOOK = "__ufora_star__"
FLAT_HOOK = "__ufora_flat__"
LEN_HOOK = "__ufora_len__"
LOOPS_HOOK = "__ufora_loops__"
METHOD_HOOK = "__ufora_method__"
SERIAL_KEYWORD = "__ufora_serial__"
_SERIAL_ITERABLE = "__ufora_it"
HOOKS = (REDUCE_HOOK, COLLECT_HOOK, ZIPPED_HOOK, STAR_HOOK, FLAT_HOOK, LEN_HOOK, METHOD_HOOK)
MAPPING_METHODS = {"map", "apply"}  # pandas' methods that call a function per value (or per row: axis=1)
REDUCTIONS = {"sum", "min", "max", "any", "all"}
_GROUPED = {"sum", "any", "all", "min", "max"}  # f(f(inner) for outer) is f(everything): see _element
_ZIPPERS = {"zip", "enumerate"}
_MAPPERS = {"map", "filter"}
FRAME_ITERATORS = {"itertuples", "iterrows"}  # a DataFrame's methods a shape iterates


def _target_names(target: ast.expr) -> Optional[List[str]]:
    """The names a ``for`` target binds, in order, when it is a name or a tuple of names and
    tuples of names (``i, (a, b)``), each bound once; else None."""
    if isinstance(target, ast.Name):
        return [target.id]
    if not isinstance(target, ast.Tuple) or not target.elts:
        return None
    parts = [_target_names(e) for e in target.elts]
    if None in parts:
        return None
    names = [name for part in parts for name in part]
    return names if len(set(names)) == len(names) else None


def _structure(target: ast.Tuple) -> str:
    """The target's shape with every name written ``_``: ``i, (a, b)`` gives "(_, (_, _))"."""
    blank = copied(target)
    for node in ast.walk(blank):
        if isinstance(node, ast.Name):
            node.id = "_"
    return ast.unparse(blank)


def _binds_outside_or_late(node: ast.AST) -> bool:
    """Whether the comprehension's element, filters or inner loops hold a ``:=`` (CPython binds
    it in the enclosing scope, with its last value) or a ``lambda`` (it would see the loop
    variable's last value, late binding, where an element function gives each its own): both
    are left as written, so CPython's scoping is kept."""
    parts = [getattr(node, name) for name in ("elt", "key", "value") if hasattr(node, name)]
    parts += [*node.generators[0].ifs, *node.generators[1:]]
    return any(isinstance(n, (ast.NamedExpr, ast.Lambda, ast.Await)) for part in parts for n in ast.walk(part))


def _clause(node: ast.AST) -> Optional[ast.comprehension]:
    """The first (outer) ``for`` clause, when the engine can split over it."""
    generators = getattr(node, "generators", None)
    if not generators or any(g.is_async for g in generators) or _binds_outside_or_late(node):
        return None
    clause = generators[0]
    return clause if _target_names(clause.target) is not None else None


def _element(clause: ast.comprehension, node: ast.AST, element: ast.expr,
             reduction: Optional[str] = None, twins: bool = True) -> ast.expr:
    """The element function: of the outer item, ``element`` itself; with more ``for`` clauses,
    the generator of the inner loops (``__ufora_flat__``: each of its values is an element),
    and for a ``reduction`` that is the same over nested groups (``sum`` without a start,
    ``any``, ``all``, ``min``, ``max``) the reduction of the inner loops too, which compiles."""
    inner = node.generators[1:]
    if not inner:
        return _lambda(clause, element, twins)
    generator = ast.copy_location(ast.GeneratorExp(elt=element, generators=inner), element)
    functions = [_lambda(clause, generator, twins)]
    targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    if reduction is not None and reduction not in targets:  # ``for sum in rows`` keeps it flat
        reduced = ast.Call(func=ast.Name(id=reduction, ctx=ast.Load()), args=[copied(generator)], keywords=[])
        functions.append(_lambda(clause, ast.copy_location(reduced, element), twins))
    return _hook(FLAT_HOOK, element, functions)


def _serial(node: ast.AST) -> ast.keyword:
    """``__ufora_serial__=lambda __ufora_it: <node as written, its first iterable __ufora_it>``."""
    original = copied(node)
    original.generators[0].iter = ast.Name(id=_SERIAL_ITERABLE, ctx=ast.Load())
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=_SERIAL_ITERABLE)], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    return ast.keyword(arg=SERIAL_KEYWORD, value=ast.copy_location(ast.Lambda(args=args, body=original), node))


def _hook(name: str, node: ast.AST, args: list, keywords: list = ()) -> ast.Call:
    call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=list(keywords))
    return ast.copy_location(call, node)


def _lambda(clause: ast.comprehension, body: ast.expr, twins: bool = True) -> ast.expr:
    """``lambda x: body``, or ``__ufora_star__(lambda i, a, b: body, "(_, (_, _))")`` for a
    tuple target (the names in order, and the target's shape to unpack each item with); with
    its numba-ready twin attached unless ``twins`` is False."""
    names = _target_names(clause.target)
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    function = ast.copy_location(ast.Lambda(args=args, body=body), body)
    # attached, loops or not, where the body reads a free value: its floats can become the
    # kernel's arguments (``engine.lifted``)
    twin = loop_source(function, always=_reads_free_values(function)) if twins else None
    if twin is not None:
        function = ast.Call(func=_hook(LOOPS_HOOK, body, [ast.Constant(value=twin)]), args=[function], keywords=[])
    if isinstance(clause.target, ast.Name):
        return function
    return _hook(STAR_HOOK, body, [function, ast.Constant(value=_structure(clause.target))])


_BUILTIN_NAMES = frozenset(dir(builtins))


def _reads_free_values(function: ast.Lambda) -> bool:
    """Whether the lambda's body reads a name other than its parameters and the builtins,
    other than as a function it calls or an object whose attribute it reads (``f(x)``,
    ``math.exp``): a value that may be a float."""
    if isinstance(function.body, ast.GeneratorExp):  # an outer item's inner loops: never compiled so
        return False
    bound = {arg.arg for arg in function.args.args} | _BUILTIN_NAMES | {
        node.id for node in ast.walk(function.body) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    skipped = {id(node.func) for node in ast.walk(function.body) if isinstance(node, ast.Call)}
    skipped |= {id(node.value) for node in ast.walk(function.body) if isinstance(node, ast.Attribute)}
    return any(isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound
               and id(node) not in skipped for node in ast.walk(function.body))


def _condition(clause: ast.comprehension, twins: bool = True) -> ast.expr:
    if not clause.ifs:
        return ast.Constant(value=None)
    test = clause.ifs[0] if len(clause.ifs) == 1 else ast.BoolOp(op=ast.And(), values=clause.ifs)
    return _lambda(clause, test, twins)


def _called_name(node: ast.AST, names: set) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in names)


def _iterable(self: ast.NodeTransformer, node: ast.expr) -> ast.expr:
    """The clause's iterable, visited; ``zip(...)``/``enumerate(...)`` kept apart for the
    engine, and so are those among their arguments (``enumerate(zip(a, b))``), and a
    DataFrame's ``itertuples(...)``/``iterrows()`` of constant arguments (the method, not yet
    called: ``engine.runtime.zipped``)."""
    if _called_name(node, _ZIPPERS):
        return _hook(ZIPPED_HOOK, node, [node.func, *[_iterable(self, a) for a in node.args]],
                     [self.visit(k) for k in node.keywords])
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FRAME_ITERATORS
            and all(isinstance(a, ast.Constant) for a in [*node.args, *(k.value for k in node.keywords)])
            and all(k.arg is not None for k in node.keywords)):
        return _hook(ZIPPED_HOOK, node, [self.visit(node.func), *node.args], node.keywords)
    return self.visit(node)


class _ParallelShapes(ast.NodeTransformer):
    def __init__(self, twins: bool = True) -> None:
        self.twins = twins  # attach functions' numba-ready twins (``loop_source``)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in REDUCTIONS and node.args and isinstance(node.args[0], ast.GeneratorExp):
            clause = _clause(node.args[0])
            if clause is not None:
                grouped = name if name in _GROUPED and len(node.args) == 1 and not node.keywords else None
                serial = _serial(node.args[0])
                return _hook(REDUCE_HOOK, node, [
                    node.func, _iterable(self, clause.iter), _element(clause, node.args[0], node.args[0].elt, grouped,
                                                                 self.twins),
                    _condition(clause, self.twins), *[self.visit(a) for a in node.args[1:]]],
                    [*[self.visit(k) for k in node.keywords], serial])
        if (node.args and _called_name(node.args[0], _MAPPERS) and not node.args[0].keywords
                and (name in REDUCTIONS or (name in ("list", "set") and len(node.args) == 1
                                            and not node.keywords))):
            inner = node.args[0]
            mapped = _hook(ZIPPED_HOOK, inner, [inner.func, *[self.visit(a) for a in inner.args]])
            hook, first = (REDUCE_HOOK, node.func) if name in REDUCTIONS else (COLLECT_HOOK, node.func)
            none = ast.Constant(value=None)
            return _hook(hook, node, [first, mapped, none, none, *[self.visit(a) for a in node.args[1:]]],
                         [self.visit(k) for k in node.keywords])
        if (isinstance(node.func, ast.Attribute) and node.func.attr in MAPPING_METHODS and len(node.args) == 1
                and all(k.arg == "axis" and isinstance(k.value, ast.Constant) for k in node.keywords)
                and not isinstance(node.args[0], ast.Starred)
                and not any(isinstance(n, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await))
                            for n in ast.walk(node.args[0]))):  # which a thunk would scope or run otherwise
            thunk = ast.Lambda(args=_arguments([]), body=self.visit(node.args[0]))
            return _hook(METHOD_HOOK, node, [self.visit(node.func), ast.copy_location(thunk, node.args[0])],
                         [self.visit(k) for k in node.keywords])
        if name == "len" and len(node.args) == 1 and not node.keywords:
            collected = self.visit(node.args[0])
            if _called_name(collected, {COLLECT_HOOK}):
                return _hook(LEN_HOOK, node, [node.func, *collected.args], collected.keywords)
            node.args = [collected]
            return node
        return self.generic_visit(node)

    def _collect(self, kind: str, node: ast.AST, element: ast.expr) -> ast.AST:
        clause = _clause(node)
        if clause is None:
            return self.generic_visit(node)
        serial = _serial(node)
        return _hook(COLLECT_HOOK, node, [ast.Constant(value=kind), _iterable(self, clause.iter),
                                         _element(clause, node, element, twins=self.twins),
                                         _condition(clause, self.twins)], [serial])

    def visit_ListComp(self, node: ast.ListComp) -> ast.AST:
        return self._collect("list", node, node.elt)

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        return self._collect("set", node, node.elt)

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        pair = ast.copy_location(ast.Tuple(elts=[node.key, node.value], ctx=ast.Load()), node.key)
        return self._collect("dict", node, pair)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        """Rewritten, with its twin attached when a shape was replaced or one can be compiled."""
        if not self.twins:
            return self.generic_visit(node)
        original = copied(node)
        self.generic_visit(node)
        twin = loop_source(original, always=any(isinstance(n, ast.Name) and n.id in HOOKS for n in ast.walk(node)))
        if twin is not None:
            node.decorator_list.append(_hook(LOOPS_HOOK, node, [ast.Constant(value=twin)]))
        return node


def rewrite(tree: ast.AST, twins: bool = True) -> ast.AST:
    """Rewrite every parallelizable shape in ``tree`` (in place) and return it, locations fixed.
    ``twins=False``: without the numba-ready twins (``loop_source``) of its functions and of its
    shapes' lambdas, for a caller that only looks for the shapes (the client, deciding where a
    block goes: most of the time of rewriting)."""
    tree = _ParallelShapes(twins).visit(tree)
    return ast.fix_missing_locations(tree)


# Numba-ready twins. numba compiles list comprehensions but not generator expressions, so a
# function whose body holds ``sum(f(y) for y in r)`` (or whose shapes the rules above replaced by
# engine calls) cannot be compiled as it is. Its *twin* is its source with every reduction of a
# generator expression replaced by a call to a helper function holding the explicit loop; the
# rewriter attaches the twin's text to the functions it makes and rewrites
# (``@__ufora_loops__(text)``), and ``engine.kernels`` compiles the twin in its place. The
# helpers keep CPython's semantics or raise, and a compiled partition that raises is recomputed
# in CPython: ``sum`` checks that int64 cannot have wrapped (``__ufora_sum_checked__``) and
# that an empty float sum would not be CPython's int ``0``; ``min``/``max`` of nothing raise,
# and so do they at a NaN (CPython's running best skips it unless it comes first);
# ``any``/``all`` return at the deciding element. The first iterable is evaluated where the
# generator was; the names of the function that the generator reads are passed as arguments.

SUM_CHECK = "__ufora_sum_checked__"  # given to the twin by engine.kernels
_FIRST, _VALUE = "__ufora_items", "__ufora_value"
_LOOPS = {  # reduction: (before the loops, for each element, after the loops)
    "sum": ("__ufora_total = __ufora_start\n__ufora_magnitude = 0.0\n__ufora_count = 0",
            "__ufora_total = __ufora_total + __ufora_value\n__ufora_magnitude += abs(__ufora_value)\n"
            "__ufora_count += 1",
            f"return {SUM_CHECK}(__ufora_total, __ufora_start, __ufora_count, __ufora_magnitude)"),
    **{name: ("__ufora_found = False",
              "if __ufora_value != __ufora_value:\n    raise ValueError('a NaN: made in CPython')\n"
              "if not __ufora_found:\n    __ufora_best = __ufora_value\n    __ufora_found = True\n"
              f"elif __ufora_value {op} __ufora_best:\n    __ufora_best = __ufora_value",
              f"if not __ufora_found:\n    raise ValueError('{name}() arg is an empty sequence')\n"
              "return __ufora_best") for name, op in (("min", "<"), ("max", ">"))},
    "any": ("", "if __ufora_value:\n    return True", "return False"),
    "all": ("", "if not __ufora_value:\n    return False", "return True"),
}


def _statements(text: str) -> List[ast.stmt]:
    return ast.parse(text).body if text else []


def _bound(node: ast.AST, skip: Optional[ast.AST] = None) -> set:
    """Every name ``node`` binds anywhere but inside ``skip`` (its parameters, assignments, loop
    and comprehension variables, nested definitions and imports)."""
    names = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if n is skip:
            continue
        todo.extend(ast.iter_child_nodes(n))
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            names.add(n.id)
        elif isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.alias):
            names.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
    return names


class _Loops(ast.NodeTransformer):
    """Replaces each reduction of a generator expression by a call to a helper (``self.helpers``)."""

    def __init__(self) -> None:
        self.helpers: List[ast.FunctionDef] = []
        self.scope: Optional[ast.FunctionDef] = None

    def function(self, node: ast.FunctionDef) -> ast.FunctionDef:
        outer, self.scope = self.scope, node
        node.body = [self.visit(statement) for statement in node.body]
        self.scope = outer
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        generator = node.args[0] if node.args else None
        start = node.args[1:] + [k.value for k in node.keywords if k.arg == "start"]
        if (name not in _LOOPS or name in _bound(self.scope) or not isinstance(generator, ast.GeneratorExp)
                or any(g.is_async for g in generator.generators)
                or len(node.args) + len(node.keywords) > (2 if name == "sum" else 1)
                or len(start) != len(node.args) + len(node.keywords) - 1
                or any(isinstance(n, (ast.NamedExpr, ast.Starred)) for n in ast.walk(node))):
            return self.generic_visit(node)
        first, *rest = generator.generators
        inside = [generator.elt, *first.ifs, *rest]
        targets = {n.id for g in generator.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        loaded = {n.id for part in inside for n in ast.walk(part) if isinstance(n, ast.Name)}
        # the function's own variables the generator reads (names bound only inside the
        # generator are its own, or free in both the generator and the helper)
        params = sorted((loaded & _bound(self.scope, skip=node)) - targets)
        before, each, after = _LOOPS[name]
        body = [ast.Assign(targets=[ast.Name(id=_VALUE, ctx=ast.Store())], value=generator.elt), *_statements(each)]
        for index, clause in reversed(list(enumerate(generator.generators))):
            guards = [ast.If(test=ast.UnaryOp(op=ast.Not(), operand=test), body=[ast.Continue()], orelse=[])
                      for test in clause.ifs]
            items = ast.Name(id=_FIRST, ctx=ast.Load()) if index == 0 else clause.iter
            body = [ast.For(target=clause.target, iter=items, body=guards + body, orelse=[])]
        helper_name = f"__ufora_loop_{len(self.helpers)}"
        extra = ["__ufora_start"] if name == "sum" else []
        helper = ast.FunctionDef(
            name=helper_name, args=_arguments([_FIRST, *extra, *params]), decorator_list=[], returns=None,
            body=[*_statements(before), *body, *_statements(after)], type_comment=None)
        self.helpers.append(helper)
        self.function(helper)
        values = [self.visit(first.iter), *([self.visit(start[0])] if start else []),
                  *([ast.Constant(value=0)] if name == "sum" and not start else [])]
        return _hook(helper_name, node, [*values, *[ast.Name(id=p, ctx=ast.Load()) for p in params]])


def _arguments(names: List[str]) -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def loop_source(node: ast.AST, always: bool = False) -> Optional[str]:
    """The text of the numba-ready twin of a function definition or lambda (the helpers, then
    the function without defaults or decorators); None when no reduction was replaced, unless
    ``always``."""
    node = copied(node)
    if isinstance(node, ast.Lambda):
        node = ast.FunctionDef(name="__ufora_lambda__", args=node.args, body=[ast.Return(value=node.body)],
                               decorator_list=[], returns=None, type_comment=None)
    node.decorator_list, node.args.defaults = [], []
    node.args.kw_defaults = [None] * len(node.args.kwonlyargs)
    loops = _Loops()
    main = loops.function(node)
    if not loops.helpers and not always:
        return None
    module = ast.fix_missing_locations(ast.Module(body=[*loops.helpers, main], type_ignores=[]))
    return ast.unparse(module)


def enclosed(statements: List[ast.stmt], parameters: List[str], result: str) -> ast.Module:
    """``def __ufora_outer__(*parameters): <statements>; return <result>``: compiled so that
    ``parameters`` stay free variables of the functions the statements define."""
    outer = ast.FunctionDef(name="__ufora_outer__", args=_arguments(list(parameters)),
                            body=[*statements, ast.Return(value=ast.Name(id=result, ctx=ast.Load()))],
                            decorator_list=[], returns=None, type_comment=None)
    return ast.fix_missing_locations(ast.Module(body=[ast.copy_location(outer, statements[0])], type_ignores=[]))


def loops_of(node: ast.FunctionDef) -> Optional[str]:
    """The twin's text the rewriter attached to this (rewritten) definition, if any."""
    for decorator in node.decorator_list:
        if _called_name(decorator, {LOOPS_HOOK}):
            return decorator.args[0].value
    return None
