"""A block written inside a function runs as the body of a function, as it does for its user.

Compiled as module code, every name a block's loops touch is a dictionary lookup (LOAD_NAME,
STORE_NAME); in the user's function the same names are fast locals, and a plain loop over
200,000 records runs 1.3 to 2 times slower as module code. So a block whose ``with`` sits in a
function (``engine.code.enclosing_function``: not at module level, not in a class body) is
compiled as ``def <that function's name>(<its locals the block uses>): <body>``, with the scoping
CPython gives the user's own function (read from the file's symbol table):

* a name the user's function binds (or reads from an enclosing function) is a local here too: a
  parameter whose value is the shipped free variable, or, when none was shipped, unbound at
  entry, so reading it first raises the same ``UnboundLocalError``;
* a name the function declares ``global`` is declared ``global`` here; every other name is read
  as a global. The globals are those the functions of the block's module read on the cluster
  (``engine.namespaces``), apart from the namespace the block's results are read from: the
  user's locals are not globals to the functions the block calls;
* a ``nonlocal`` statement at the block's level names a variable of an enclosing function: a
  local here, whose value was shipped and goes back like any other;
* functions, lambdas and classes the block defines close over its variables (cells), as in the
  user's function.

When the body ends, also by an exception, a ``finally`` hands its locals to a hook that puts
them in the namespace (and takes out those it deleted), so everything after the run reads the
namespace as after module-level code. A body that could leave the function (``return``,
``yield``, ``await`` at its own level) is not compiled this way: module code refuses it.
"""
from __future__ import annotations

import ast
import builtins
import functools
import symtable
import types
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ufora.engine import code

UNBOUND_HOOK = "__ufora_unbound__"  # the value of a parameter that was not shipped
LOCALS_HOOK = "__ufora_locals__"  # builtins.locals: the user may have rebound ``locals``
KEEP_HOOK = "__ufora_keep_locals__"  # puts the body's locals in the namespace
_UNBOUND = object()
_ESCAPES = (ast.Return, ast.Yield, ast.YieldFrom, ast.Await)
_OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass(frozen=True)
class FunctionBody:
    code: types.CodeType
    parameters: Tuple[str, ...]  # the user's locals the block uses, shipped or unbound
    local_names: Tuple[str, ...]  # every local of the body: what goes to the namespace after
    declared: Tuple[str, ...] = ()  # the names the user's function declares ``global``

    def run(self, namespace: Dict[str, Any], module_globals: Dict[str, Any]) -> None:
        """Call the body with ``module_globals`` as its globals (the namespace the functions of
        the block's module read) and its parameters from ``namespace``; its locals, and the
        globals it declares, end up in ``namespace``. The user's locals are never globals to
        the functions the block calls: ``LIMIT = 4`` in the function leaves their LIMIT alone."""
        module_globals[UNBOUND_HOOK] = _UNBOUND
        module_globals[LOCALS_HOOK] = builtins.locals
        module_globals[KEEP_HOOK] = lambda values: _keep(namespace, self.local_names, values)
        try:
            function = types.FunctionType(self.code, module_globals)
            function(*[namespace.get(name, _UNBOUND) for name in self.parameters])
        finally:  # the hook closes over the namespace: left in it, the two would wait for the
            # cycle collector, and the block's values (a remote array's mapping) with them
            del module_globals[KEEP_HOOK]
            _keep(namespace, self.declared, module_globals)


def _keep(namespace: Dict[str, Any], names: Tuple[str, ...], values: Dict[str, Any]) -> None:
    for name in names:
        if name in values:
            namespace[name] = values[name]
        else:
            namespace.pop(name, None)


def compile_body(tree: ast.Module, block: ast.With, body: List[ast.stmt], source: str, filename: str,
                 flags: int) -> Optional[FunctionBody]:
    """``body`` (the block's rewritten statements) compiled as the body of a function, or None
    when the block is not in a function or could leave it."""
    function = code.enclosing_function(tree, block)
    if function is None or _escapes(body):
        return None
    scope = _symbols(source, filename, function.name, function.lineno)
    symbols = {name: scope.lookup(name) for name in _names(body) if name in scope.get_identifiers()}
    parameters = [name for name, symbol in symbols.items() if symbol.is_local() or symbol.is_free()]
    declared = [name for name, symbol in symbols.items() if symbol.is_declared_global()]
    location = {"lineno": block.lineno, "col_offset": block.col_offset, "end_lineno": block.end_lineno,
                "end_col_offset": block.end_col_offset}
    statements: List[ast.stmt] = []
    if declared:
        statements.append(ast.Global(names=declared, **location))
    for name in parameters:
        test = ast.Compare(left=ast.Name(id=name, ctx=ast.Load()), ops=[ast.Is()],
                           comparators=[ast.Name(id=UNBOUND_HOOK, ctx=ast.Load())])
        statements.append(ast.If(test=test, body=[ast.Delete(targets=[ast.Name(id=name, ctx=ast.Del())])], orelse=[],
                                 **location))
    keep = ast.Expr(value=ast.Call(func=ast.Name(id=KEEP_HOOK, ctx=ast.Load()), keywords=[], args=[
        ast.Call(func=ast.Name(id=LOCALS_HOOK, ctx=ast.Load()), args=[], keywords=[])]), **location)
    statements.append(ast.Try(body=_without_nonlocal(body), handlers=[], orelse=[], finalbody=[keep], **location))
    arguments = ast.arguments(posonlyargs=[], args=[ast.arg(arg=name) for name in parameters], vararg=None,
                              kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    definition = ast.FunctionDef(name=function.name, args=arguments, body=statements, decorator_list=[],
                                 returns=None, type_comment=None, **location)
    module = ast.fix_missing_locations(ast.Module(body=[definition], type_ignores=[]))
    compiled = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    body_code = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    local_names = tuple(name for name in (*body_code.co_varnames, *body_code.co_cellvars)
                        if not name.startswith("__ufora_"))
    return FunctionBody(body_code, tuple(parameters), local_names, tuple(declared))


@functools.lru_cache(maxsize=16)
def _symbols(source: str, filename: str, name: str, line: int) -> symtable.SymbolTable:
    """The symbol table of the function ``name`` defined at ``line`` of ``source``: cached, since
    a new block's body is compiled twice, rewritten and as written (1.5 ms a 200-line file)."""
    todo = [symtable.symtable(source, filename, "exec")]
    while todo:
        table = todo.pop()
        if (table.get_type(), table.get_name(), table.get_lineno()) == ("function", name, line):
            return table
        todo.extend(table.get_children())
    raise ValueError(f"no symbol table for {name} at line {line}")


def _own_level(body: List[ast.stmt]):
    """Every node of ``body`` outside the functions, lambdas and classes it defines."""
    todo: List[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _OWN_SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _escapes(body: List[ast.stmt]) -> bool:
    return any(isinstance(node, _ESCAPES) for node in _own_level(body))


def _names(body: List[ast.stmt]) -> List[str]:
    """Every name the body mentions, nested scopes too (a function it defines may close over
    the user's local), in order of first appearance."""
    names: Dict[str, None] = {}
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                names[node.id] = None
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                names.update(dict.fromkeys(node.names))
    return list(names)


def _without_nonlocal(body: List[ast.stmt]) -> List[ast.stmt]:
    """The body with its own level's ``nonlocal`` statements made ``pass`` (the names are the
    body's locals, passed in and handed back)."""
    for node in _own_level(body):
        if isinstance(node, _OWN_SCOPES):
            continue
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field, [ast.copy_location(ast.Pass(), item) if isinstance(item, ast.Nonlocal) else item
                                      for item in value])
    return [ast.copy_location(ast.Pass(), s) if isinstance(s, ast.Nonlocal) else s for s in body]
