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
* With several ``for`` clauses, the outer one is split: the element function gives, for one
  outer item, the generator of the inner loops (marked ``__ufora_flat__``), whose values are
  the elements, in order; these run in CPython inside each partition.
* Only generators and comprehensions whose first ``for`` clause is over a plain name or a flat
  tuple (``for i, v in enumerate(a)``: the lambdas take the parts, marked with
  ``__ufora_star__``); any number of ``if`` clauses, joined with ``and`` into one condition
  (``None`` when there is none). A ``zip(...)`` or ``enumerate(...)`` call as the iterable
  becomes ``__ufora_zipped__(zip, ...)`` so that the engine can split its arguments together.

The iterable is evaluated where it was (a comprehension's outermost iterable is evaluated
eagerly, so this keeps CPython's order of evaluation); the lambdas close over exactly what the
comprehension would have. The function (``f``) is passed so that the engine can check at run
time that it is the builtin and otherwise call it as written. Nested shapes are not rewritten
again: the outer one is split, the inner one runs inside each partition.
"""
from __future__ import annotations

import ast
from typing import List, Optional

REDUCE_HOOK = "__ufora_reduce__"
COLLECT_HOOK = "__ufora_collect__"
ZIPPED_HOOK = "__ufora_zipped__"
STAR_HOOK = "__ufora_star__"
FLAT_HOOK = "__ufora_flat__"
HOOKS = (REDUCE_HOOK, COLLECT_HOOK, ZIPPED_HOOK, STAR_HOOK, FLAT_HOOK)
REDUCTIONS = {"sum", "min", "max", "any", "all"}
_ZIPPERS = {"zip", "enumerate"}
_MAPPERS = {"map", "filter"}


def _target_names(target: ast.expr) -> Optional[List[str]]:
    if isinstance(target, ast.Name):
        return [target.id]
    if (isinstance(target, ast.Tuple) and len(target.elts) > 1
            and all(isinstance(e, ast.Name) for e in target.elts)):
        return [e.id for e in target.elts]
    return None


def _clause(node: ast.AST) -> Optional[ast.comprehension]:
    """The first (outer) ``for`` clause, when the engine can split over it."""
    generators = getattr(node, "generators", None)
    if not generators or any(g.is_async for g in generators):
        return None
    clause = generators[0]
    return clause if _target_names(clause.target) is not None else None


def _element(clause: ast.comprehension, node: ast.AST, element: ast.expr) -> ast.expr:
    """The element function: of the outer item, ``element`` itself; with more ``for`` clauses,
    the generator of the inner loops (``__ufora_flat__``: each of its values is an element)."""
    inner = node.generators[1:]
    if not inner:
        return _lambda(clause, element)
    generator = ast.copy_location(ast.GeneratorExp(elt=element, generators=inner), element)
    return _hook(FLAT_HOOK, element, [_lambda(clause, generator)])


def _hook(name: str, node: ast.AST, args: list, keywords: list = ()) -> ast.Call:
    call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=list(keywords))
    return ast.copy_location(call, node)


def _lambda(clause: ast.comprehension, body: ast.expr) -> ast.expr:
    """``lambda x: body``, or ``__ufora_star__(lambda i, v: body)`` for a tuple target."""
    names = _target_names(clause.target)
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    function = ast.copy_location(ast.Lambda(args=args, body=body), body)
    return _hook(STAR_HOOK, body, [function]) if len(names) > 1 else function


def _condition(clause: ast.comprehension) -> ast.expr:
    if not clause.ifs:
        return ast.Constant(value=None)
    test = clause.ifs[0] if len(clause.ifs) == 1 else ast.BoolOp(op=ast.And(), values=clause.ifs)
    return _lambda(clause, test)


def _called_name(node: ast.AST, names: set) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in names)


def _iterable(self: ast.NodeTransformer, node: ast.expr) -> ast.expr:
    """The clause's iterable, visited; ``zip(...)``/``enumerate(...)`` kept apart for the engine."""
    node = self.visit(node)
    if _called_name(node, _ZIPPERS):
        return _hook(ZIPPED_HOOK, node, [node.func, *node.args], node.keywords)
    return node


class _ParallelShapes(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in REDUCTIONS and node.args and isinstance(node.args[0], ast.GeneratorExp):
            clause = _clause(node.args[0])
            if clause is not None:
                return _hook(REDUCE_HOOK, node, [
                    node.func, _iterable(self, clause.iter), _element(clause, node.args[0], node.args[0].elt),
                    _condition(clause), *[self.visit(a) for a in node.args[1:]]],
                    [self.visit(k) for k in node.keywords])
        if (node.args and _called_name(node.args[0], _MAPPERS) and not node.args[0].keywords
                and (name in REDUCTIONS or (name in ("list", "set") and len(node.args) == 1
                                            and not node.keywords))):
            inner = node.args[0]
            mapped = _hook(ZIPPED_HOOK, inner, [inner.func, *[self.visit(a) for a in inner.args]])
            hook, first = (REDUCE_HOOK, node.func) if name in REDUCTIONS else (COLLECT_HOOK, node.func)
            none = ast.Constant(value=None)
            return _hook(hook, node, [first, mapped, none, none, *[self.visit(a) for a in node.args[1:]]],
                         [self.visit(k) for k in node.keywords])
        return self.generic_visit(node)

    def _collect(self, kind: str, node: ast.AST, element: ast.expr) -> ast.AST:
        clause = _clause(node)
        if clause is None:
            return self.generic_visit(node)
        return _hook(COLLECT_HOOK, node, [ast.Constant(value=kind), _iterable(self, clause.iter),
                                         _element(clause, node, element), _condition(clause)])

    def visit_ListComp(self, node: ast.ListComp) -> ast.AST:
        return self._collect("list", node, node.elt)

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        return self._collect("set", node, node.elt)

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        pair = ast.copy_location(ast.Tuple(elts=[node.key, node.value], ctx=ast.Load()), node.key)
        return self._collect("dict", node, pair)


def rewrite(tree: ast.AST) -> ast.AST:
    """Rewrite every parallelizable shape in ``tree`` (in place) and return it, locations fixed."""
    tree = _ParallelShapes().visit(tree)
    return ast.fix_missing_locations(tree)
