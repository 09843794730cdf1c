"""The variables a block assigns that nothing will ever read: they need not come back.

A block inside a function often builds something large on its way to a small answer
(``items = [Item(...) for i in range(n)]``, then ``total = sum(...)`` over it), and the function
returns only the small answer. In CPython ``items`` is a local that dies with the function; sent
back, it would cost more than the whole computation (300,000 small objects: 1.4 s to pickle, send
and unpickle, against 0.6 s to compute). So a name is left on the cluster, not written back,
when nothing can tell:

* the block is in a function (at module level, or in a class body, anything may read a global);
* the block assigns it by a plain assignment at its top level before any statement of the block
  reads it (so the block never needs the caller's value, however often it runs: in a loop too);
* no other statement of the function reads or deletes it, nor any function, lambda, class or
  comprehension the function holds, and it is not shared with one (a cell: closures see it);
* it is not declared ``global`` or ``nonlocal``;
* the function never names a way of reading its locals by name: ``locals``, ``vars``, ``eval``,
  ``exec``, ``dir``, ``breakpoint``, ``_getframe``, ``currentframe``, ``f_locals``, ``f_back``;
* no debugger or tracer is running (decided by the caller, ``pyfora.capture``): a user stepping
  through the function would look at it.
"""
from __future__ import annotations

import ast
from typing import Iterator, List, Set, Tuple

from ufora.engine.code import enclosing_function

_SEEING_LOCALS = {"locals", "vars", "eval", "exec", "dir", "breakpoint", "_getframe", "currentframe", "f_locals",
                  "f_back"}


def _outside(node: ast.AST, block: ast.With) -> Iterator[ast.AST]:
    """Every node under ``node`` except the block's body (its header, ``with ufora.remotely``,
    is read where it stands)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if child is block:
            yield from (n for item in block.items for n in ast.walk(item))
            continue
        yield from _outside(child, block)


def _assigned_first(body: List[ast.stmt]) -> Set[str]:
    """Names a top-level plain assignment of ``body`` binds before any statement reads them."""
    read: Set[str] = set()
    first: Set[str] = set()
    for statement in body:
        value_reads = {n.id for n in ast.walk(statement)
                       if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)}
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                for name in _plain_targets(target):
                    if name not in read and name not in value_reads:
                        first.add(name)
        read |= value_reads
        if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
            read.add(statement.target.id)
    return first


def _plain_targets(target: ast.expr) -> List[str]:
    """The names a target binds when it is a name or a (nested) tuple or list of names."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _plain_targets(element)]
    return []


def unread_after(tree: ast.AST, block: ast.With) -> Tuple[str, ...]:
    """The names the block assigns that nothing in its function reads, sorted (see the module's
    rules; the caller still leaves out the function's cells and stops this under a debugger)."""
    function = enclosing_function(tree, block)
    if function is None:
        return ()
    candidates = _assigned_first(block.body)
    for node in _outside(function, block):
        if isinstance(node, ast.Name):
            if node.id in _SEEING_LOCALS:
                return ()
            if not isinstance(node.ctx, ast.Store):
                candidates.discard(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in _SEEING_LOCALS:
            return ()
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            candidates -= set(node.names)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            candidates.discard(node.target.id)
    for node in ast.walk(block):  # declared inside the block
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            candidates -= set(node.names)
    return tuple(sorted(candidates))
