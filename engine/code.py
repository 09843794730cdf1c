"""Reading code without running it: the names functions' code refers to, their nested code
objects, the values in their closure cells; the ``with`` statement of a block and the names its
body reads; the ``__future__`` features user code was written under. Used by the kernel builder (what to compile), the
side-effect check (what to read), the function rewriter (what to walk) and the client (which
files to ship)."""
from __future__ import annotations

import __future__
import ast
import functools
import os
import sys
import sysconfig
import types
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

EMPTY = object()  # the contents of a closure cell not assigned yet
# where the standard library and installed packages live, as configured and with links resolved
_LIBRARY_PATHS = tuple({path for key in ("stdlib", "platstdlib", "purelib", "platlib")
                        for path in (sysconfig.get_paths()[key] + os.sep,
                                     os.path.realpath(sysconfig.get_paths()[key]) + os.sep)})
_UFORA_PACKAGES = ("ufora", "pyfora")


_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


def future_flags_of_code(flags: int) -> int:
    """The ``__future__`` features of a code object's ``co_flags``: what user code compiled
    again must be compiled with (``compile(..., flags=..., dont_inherit=True)``), instead of the
    engine's own (``from __future__ import annotations`` here must never turn a user's
    annotations into strings)."""
    return flags & _FUTURE_FLAGS


def future_flags_of_module(tree: ast.Module) -> int:
    """The ``__future__`` features a module's source imports (they lead the module)."""
    flags = 0
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            for alias in statement.names:
                feature = getattr(__future__, alias.name, None)
                flags |= feature.compiler_flag if feature is not None else 0
    return flags


def reachable(roots: Iterable[Any], expand: Callable[[Any], Iterable[Any]]) -> Iterator[Any]:
    """Every value reachable from ``roots``, once each (by identity): ``expand(value)`` gives
    what a value leads to. The walk behind the module state a block reaches and the globals
    its functions hold."""
    seen: set = set()
    todo = list(roots)
    while todo:
        value = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        todo.extend(expand(value))


def is_a(value: Any, kinds: Union[type, Tuple[type, ...]]) -> bool:
    """``isinstance`` told by the value's type alone. ``isinstance`` asks a value that is not of
    the type for its ``__class__``, which a user's ``__getattribute__`` (or a ``__class__``
    property, as proxies have) answers: code that reads a user's values before their block runs
    (``pyfora.first_run``, the client's dry run of ``engine.functions``) must run none of it."""
    return issubclass(type(value), kinds)


@functools.lru_cache(maxsize=4096)
def installed_file(filename: str) -> bool:
    """Whether a file is the standard library's or an installed package's (the cluster's Python
    has it too), by its path as given or with links resolved; or a module frozen into the
    interpreter (``<frozen os>``: ``os``, ``posixpath``, ``codecs``... since Python 3.11)."""
    return (filename.startswith(_LIBRARY_PATHS) or filename.startswith("<frozen ")
            or os.path.realpath(filename).startswith(_LIBRARY_PATHS))


def written_by_user(function: types.FunctionType) -> bool:
    """Whether a Python function is the user's own: not from the standard library, an installed
    package or ufora itself (whose code never changes the user's state)."""
    module = str(function.__module__ or "")
    return module.split(".")[0] not in _UFORA_PACKAGES and not installed_file(function.__code__.co_filename)


def installed(module_name: str) -> bool:
    """Whether a loaded module is the standard library's or an installed package's (the cluster's
    Python has it too: what it defines can travel by name)."""
    file = getattr(sys.modules.get(module_name), "__file__", None)
    return isinstance(file, str) and installed_file(file)


@functools.lru_cache(maxsize=32)
def parsed(source: str, filename: str) -> ast.Module:
    """A file's syntax tree, parsed once per text (``SyntaxError`` as ``ast.parse``): the client
    reads the same file for a block's place, its shapes and its functions. Shared: never change
    it (copy what is rewritten)."""
    return ast.parse(source, filename)


def users_class(value: Any) -> bool:
    """A class with at least one method that is the user's own (``written_by_user``)."""
    if not isinstance(value, type) or value.__module__ == "builtins":
        return False
    for member in vars(value).values():
        member = getattr(member, "__func__", member)
        if isinstance(member, types.FunctionType):
            return written_by_user(member)
    return False


def nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and every code object defined inside it (lambdas, comprehensions, functions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from nested_codes(const)


def referenced_names(code: types.CodeType) -> set:
    """Every global (or attribute) name ``code`` and the code inside it refer to."""
    return {name for nested in nested_codes(code) for name in nested.co_names}


def cell_contents(cell: types.CellType) -> Any:
    """A closure cell's value, or EMPTY when the variable is not assigned yet."""
    try:
        return cell.cell_contents
    except ValueError:
        return EMPTY


def copied(node: Any) -> Any:
    """A copy of a syntax tree (a node or a list of them) that shares nothing mutable with it:
    ``copy.deepcopy`` with 2.6x less time (3.5 ms against 9.1 ms for a 200-line file), paid on
    every new block by the client and the worker. Nodes are rebuilt from their ``__dict__`` (the
    fields, the locations and any mark the rewriter left); values that are not nodes or lists
    (names, constants, the shared ``Load``/``Store`` contexts) are immutable and shared."""
    if isinstance(node, list):
        return [copied(item) for item in node]
    if not isinstance(node, ast.AST) or isinstance(node, ast.expr_context):
        return node
    new = node.__class__.__new__(node.__class__)
    new.__dict__.update({key: copied(value) if isinstance(value, (list, ast.AST)) else value
                         for key, value in node.__dict__.items()})
    return new


def _spanning(node: ast.AST, line: int) -> Iterator[ast.AST]:
    """``node``'s children whose lines hold ``line``, and those without a place of their own
    (``arguments``, ``comprehension``, ``withitem``), which hold no statement: a search for a
    statement at a line then reads a path of the tree, not all of it (1.3 ms for a with
    statement in a 200-line file)."""
    for child in ast.iter_child_nodes(node):
        start, end = getattr(child, "lineno", None), getattr(child, "end_lineno", None)
        if start is None or end is None or start <= line <= end:
            yield child


def find_with(tree: ast.AST, line: int) -> ast.With:
    """The innermost ``with`` statement whose header holds ``line`` (ValueError if none): the
    client finds the block this way from the line running, and the worker from the line the
    client sent. The header's last line may hold the body too (``with ...: total = sum(xs)``);
    where it holds the first statement of a longer body instead, that statement is not a
    ``with`` of its own (else that ``with``, further in, is the one found)."""
    found: Optional[ast.With] = None
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.With) and node.lineno <= line <= node.body[0].lineno:
            if found is None or node.lineno > found.lineno:
                found = node
        todo.extend(_spanning(node, line))
    if found is None:
        raise ValueError(f"no with statement found at line {line}")
    return found


def enclosing_function(tree: ast.AST, block: ast.With) -> Optional[ast.AST]:
    """The innermost function (``def``/``async def``) whose body holds ``block``, or None when the
    block is at module level or in a class body (directly: a class inside a function is its own
    scope)."""
    def search(node: ast.AST, scope: Optional[ast.AST]) -> Optional[Tuple[Optional[ast.AST]]]:
        if node is block:
            return (scope,)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = node
        elif isinstance(node, ast.ClassDef):
            scope = None
        for child in _spanning(node, block.lineno):
            found = search(child, scope)
            if found is not None:
                return found
        return None
    found = search(tree, None)
    return found[0] if found is not None else None


def read_names(body: Iterable[ast.AST]) -> List[str]:
    """Names whose value the body may read, in order of first use: loads, and targets of
    ``x += ...`` and ``del x`` (both need the value that is already there); not a comprehension's
    own variables inside it, nor a function's or lambda's parameters inside its body (``[x * x for
    x in range(5)]`` reads no ``x`` of the caller's, which could be a generator that cannot be sent)."""
    names: Dict[str, None] = {}
    for statement in body:
        local = _scoped_loads(statement)
        for node in ast.walk(statement):
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                names[node.target.id] = None
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store) and id(node) not in local:
                names[node.id] = None
    return list(names)


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _scoped_loads(tree: ast.AST) -> set:
    """The ids of the Name loads in ``tree`` that read a comprehension's variable inside it, or a
    parameter inside its function's or lambda's body: never a name of the enclosing scope."""
    found: set = set()
    for node in ast.walk(tree):
        if isinstance(node, _COMPREHENSIONS):
            own = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            parts = [getattr(node, name) for name in ("elt", "key", "value") if hasattr(node, name)]
            parts += [*(i for g in node.generators for i in g.ifs), *(g.iter for g in node.generators[1:])]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            own = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                   *filter(None, [arguments.vararg, arguments.kwarg])]}
            parts = node.body if isinstance(node.body, list) else [node.body]
        else:
            continue
        found.update(id(n) for part in parts for n in ast.walk(part)
                     if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in own)
    return found


def free_names(body: List[ast.stmt]) -> List[str]:
    """The names of ``read_names`` whose value the body may read from before it runs: not those
    it binds first, in a statement at its top level that always binds them (an assignment, an
    import, a ``def`` or ``class``, a ``with ... as`` name) before any statement reads them.
    Such a name's old value is never read, so it is not sent: a generator or a lock held there
    made the block fail, where CPython ignores the old value (a user's trial). A binding inside
    an ``if``, a loop, a ``try`` or a ``with`` body may not happen, and binds nothing here."""
    names: Dict[str, None] = {}
    bound: set = set()
    for statement in body:
        heads: List[ast.AST] = [statement]
        if isinstance(statement, ast.With):  # its ``as`` names are bound before its body runs
            heads = [item.context_expr for item in statement.items]
        names.update((name, None) for name in read_names(heads) if name not in bound)
        if isinstance(statement, ast.With):
            bound.update(_stored(item.optional_vars for item in statement.items if item.optional_vars is not None))
            names.update((name, None) for name in read_names(statement.body) if name not in bound)
            continue
        bound.update(_always_bound(statement))
    return list(names)


def _always_bound(statement: ast.stmt) -> Iterable[str]:
    """The names a top-level statement binds whenever it ends without an exception."""
    if isinstance(statement, ast.Assign):
        return _stored(statement.targets)
    if isinstance(statement, ast.AnnAssign) and statement.value is not None:
        return _stored([statement.target])
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.split(".")[0] for alias in statement.names if alias.name != "*"]
    return []


def _stored(targets: Iterable[ast.AST]) -> List[str]:
    """The plain names assignment targets bind (``a, (b, *c) = ...``; not ``a[i]`` nor ``a.b``,
    whose names the AST marks as read)."""
    return [node.id for target in targets for node in ast.walk(target)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)]
