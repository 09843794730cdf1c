"""The block rewriter: replaces parallelizable expressions with calls into the engine.

Rule (this slice): ``sum(<genexp>)`` whose generator has exactly one ``for`` clause with a plain
name as target (any number of ``if`` filters) becomes

    __ufora_sum__(sum, <iterable>, lambda x: <element>, lambda x: <f1> and <f2>)

The iterable is evaluated where it was (a generator's outermost iterable is evaluated eagerly,
so this keeps CPython's order of evaluation). ``sum`` itself is passed so that the engine can
check at run time that it is the builtin (a user may shadow it) and fall back to the original
expression otherwise. The lambdas close over exactly what the generator would have closed over.
Nested shapes are not rewritten again: the outer one is the one that is split, the inner one runs
inside each partition.
"""
from __future__ import annotations

import ast
from typing import Optional

SUM_HOOK = "__ufora_sum__"


class _ParallelShapes(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        rewritten = _rewrite_sum(node)
        if rewritten is not None:
            return rewritten
        return self.generic_visit(node)


def _rewrite_sum(node: ast.Call) -> Optional[ast.Call]:
    if not (isinstance(node.func, ast.Name) and node.func.id == "sum"):
        return None
    if len(node.args) != 1 or node.keywords:
        return None
    gen = node.args[0]
    if not isinstance(gen, ast.GeneratorExp) or len(gen.generators) != 1:
        return None
    clause = gen.generators[0]
    if clause.is_async or not isinstance(clause.target, ast.Name):
        return None
    var = clause.target.id
    element = _lambda(var, gen.elt)
    if clause.ifs:
        test = clause.ifs[0] if len(clause.ifs) == 1 else ast.BoolOp(op=ast.And(), values=clause.ifs)
        condition: ast.expr = _lambda(var, test)
    else:
        condition = ast.Constant(value=None)
    call = ast.Call(
        func=ast.Name(id=SUM_HOOK, ctx=ast.Load()),
        args=[ast.Name(id="sum", ctx=ast.Load()), clause.iter, element, condition],
        keywords=[],
    )
    return ast.copy_location(call, node)


def _lambda(var: str, body: ast.expr) -> ast.Lambda:
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=var)], vararg=None, kwonlyargs=[],
                         kw_defaults=[], kwarg=None, defaults=[])
    return ast.copy_location(ast.Lambda(args=args, body=body), body)


def rewrite(tree: ast.AST) -> ast.AST:
    """Rewrite every parallelizable shape in ``tree`` (in place) and return it, locations fixed."""
    tree = _ParallelShapes().visit(tree)
    return ast.fix_missing_locations(tree)
