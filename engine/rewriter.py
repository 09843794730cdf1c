"""The block rewriter: replaces parallelizable expressions with calls into the engine.

Rules (docs/parallel-shapes.md has an example for each, and what stays serial):

* ``f(<genexp>, *rest, **kw)`` where ``f`` is the name ``sum``, ``min``, ``max``, ``any`` or
  ``all`` becomes ``__ufora_reduce__(f, <iterable>, lambda x: <element>, <condition>, *rest, **kw)``.
* ``[<element> for x in <iterable> if ...]`` becomes
  ``__ufora_collect__("list", <iterable>, lambda x: <element>, <condition>)``; set
  comprehensions likewise with ``"set"``; ``{k: v for ...}`` with ``"dict"`` and the element
  ``lambda x: (k, v)``.
* Only generators and comprehensions with one ``for`` clause over a plain name; any number of
  ``if`` clauses, joined with ``and`` into one condition (``None`` when there is none).

The iterable is evaluated where it was (a comprehension's outermost iterable is evaluated
eagerly, so this keeps CPython's order of evaluation); the lambdas close over exactly what the
comprehension would have. The function (``f``) is passed so that the engine can check at run
time that it is the builtin and otherwise call it as written. Nested shapes are not rewritten
again: the outer one is split, the inner one runs inside each partition.
"""
from __future__ import annotations

import ast
from typing import Optional

REDUCE_HOOK = "__ufora_reduce__"
COLLECT_HOOK = "__ufora_collect__"
REDUCTIONS = {"sum", "min", "max", "any", "all"}


def _clause(node: ast.AST) -> Optional[ast.comprehension]:
    generators = getattr(node, "generators", None)
    if not generators or len(generators) != 1:
        return None
    clause = generators[0]
    if clause.is_async or not isinstance(clause.target, ast.Name):
        return None
    return clause


def _lambda(var: str, body: ast.expr) -> ast.Lambda:
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=var)], vararg=None, kwonlyargs=[],
                         kw_defaults=[], kwarg=None, defaults=[])
    return ast.copy_location(ast.Lambda(args=args, body=body), body)


def _condition(clause: ast.comprehension) -> ast.expr:
    if not clause.ifs:
        return ast.Constant(value=None)
    test = clause.ifs[0] if len(clause.ifs) == 1 else ast.BoolOp(op=ast.And(), values=clause.ifs)
    return _lambda(clause.target.id, test)


def _hook(name: str, node: ast.AST, args: list, keywords: list = ()) -> ast.Call:
    call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=list(keywords))
    return ast.copy_location(call, node)


class _ParallelShapes(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        if (isinstance(node.func, ast.Name) and node.func.id in REDUCTIONS and node.args
                and isinstance(node.args[0], ast.GeneratorExp)):
            clause = _clause(node.args[0])
            if clause is not None:
                return _hook(REDUCE_HOOK, node, [
                    node.func, clause.iter, _lambda(clause.target.id, node.args[0].elt),
                    _condition(clause), *node.args[1:]], node.keywords)
        return self.generic_visit(node)

    def _collect(self, kind: str, node: ast.AST, element: ast.expr) -> ast.AST:
        clause = _clause(node)
        if clause is None:
            return self.generic_visit(node)
        return _hook(COLLECT_HOOK, node, [ast.Constant(value=kind), clause.iter,
                                         _lambda(clause.target.id, element), _condition(clause)])

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
