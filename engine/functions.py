"""Parallel shapes inside user functions: ``countPrimes(n)`` whose body is ``return sum(...)``.

The block's own code is rewritten from its source. Functions it reaches that were shipped with
it (its free variables, and everything they reach through globals and closure cells) are
rewritten too, from the source text of their files, which the client sends along and which is
in ``linecache`` here: the function's definition is found by its first line, its body rewritten
(``engine.rewriter``), and a new function is made with the same globals, defaults, closure cells
and name. The rewritten function replaces the original wherever it was reached: in the block's
namespace, in the globals dicts it was found in and in closure cells, so callers use it too.
Methods are found through the classes and the instances reached, and replaced in their class
(static and class methods rewrapped).

Only functions whose definition actually contains a shape are replaced; a function whose source
cannot be found or does not match its code is left as it is (it runs serially, still right).
"""
from __future__ import annotations

import ast
import functools
import linecache
import logging
import types
from typing import Any, Collection, Container, Dict, List, Optional, Sequence, Tuple

from ufora.engine import as_written, kernels, rewriter, showcase
from ufora.engine.code import EMPTY, cell_contents, copied, future_flags_of_code, is_a, parsed, referenced_names

log = logging.getLogger(__name__)



class _Definitions(Dict[Tuple[str, int], Tuple[ast.FunctionDef, Optional[str]]]):
    """A file's function definitions by (name, first line), with the name of the class each is
    written in; and, once asked, which hold a shape."""

    def __init__(self) -> None:
        super().__init__()
        self.shaped: Dict[Tuple[str, int], bool] = {}


@functools.lru_cache(maxsize=64)
def _definitions(filename: str, text: str) -> _Definitions:
    """Every function definition of a file, by (name, first line), with the name of the class it
    is written in (None outside classes): the compiler mangles private names (``self.__n``) with
    it, so a method is recompiled inside a class of that name."""
    found = _Definitions()
    try:
        tree = parsed(text, filename)
    except SyntaxError:
        return found

    def walk(node: ast.AST, owner: Optional[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for line in {child.lineno, child.decorator_list[0].lineno if child.decorator_list else child.lineno}:
                    found[(child.name, line)] = (child, owner)
            walk(child, child.name if isinstance(child, ast.ClassDef) else owner)

    walk(tree, None)
    return found


def has_shape(statements: Sequence[ast.stmt]) -> bool:
    """Whether the rewriter finds a parallel shape in these statements (copies are rewritten)."""
    rewritten = rewriter.rewrite(ast.Module(body=copied(list(statements)), type_ignores=[]), twins=False)
    return any(isinstance(n, ast.Name) and n.id in rewriter.HOOKS for n in ast.walk(rewritten))


def _entry(fn: types.FunctionType) -> Tuple[Optional[_Definitions], Tuple[str, int]]:
    """The definitions of ``fn``'s file (None when it cannot be read), and ``fn``'s key there."""
    code = fn.__code__
    lines = linecache.getlines(code.co_filename)
    return (_definitions(code.co_filename, "".join(lines)) if lines else None), (code.co_name, code.co_firstlineno)


def source_definition(fn: types.FunctionType) -> Optional[ast.FunctionDef]:
    """The ``def`` of ``fn`` in its file's text (shared: not to be changed), shape or not; None
    where there is none (a lambda, a file not readable)."""
    definitions, key = _entry(fn)
    found = definitions.get(key) if definitions is not None else None
    return found[0] if found is not None else None


def _found(fn: types.FunctionType) -> Optional[Tuple[ast.FunctionDef, Optional[str]]]:
    """The definition of ``fn`` and its class's name: None when its definition holds no shape
    (or its file cannot be read). Whether it holds one is asked of each function a block
    reaches, once, not of every function of its file (a file of 30 functions took 0.1 s)."""
    definitions, key = _entry(fn)
    if definitions is None:
        return None
    found = definitions.get(key)
    if key not in definitions.shaped:
        definitions.shaped[key] = found is not None and has_shape([found[0]])
    return found if definitions.shaped[key] else None


def definition(fn: types.FunctionType) -> Optional[ast.FunctionDef]:
    """The definition of ``fn`` when it holds a shape (shared: not to be changed), else None."""
    found = _found(fn)
    return found[0] if found is not None else None


def _definition(fn: types.FunctionType) -> Tuple[Optional[ast.FunctionDef], Optional[str]]:
    """The definition of ``fn`` (a copy) and its class's name."""
    found = _found(fn)
    return (copied(found[0]), found[1]) if found is not None else (None, None)


def _inner_code(code: types.CodeType, name: str) -> Optional[types.CodeType]:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name:
                return const
            found = _inner_code(const, name)
            if found is not None:
                return found
    return None


def rewrite_function(fn: types.FunctionType) -> Optional[types.FunctionType]:
    """A copy of ``fn`` with its parallel shapes rewritten, or None if it has none (or its
    source cannot be matched to its code)."""
    node, owner = _definition(fn)
    if node is None:
        return None
    node.decorator_list = []  # the shipped function is already decorated
    definition = rewriter.rewrite(node)
    code = fn.__code__
    # Compiled inside a function whose parameters are the closure's names, so that they stay
    # free variables of the new code and the original cells can be reused; a method inside a
    # class of its own class's name (mangling), whose ``__class__`` cell is the original's.
    if owner is not None:
        node = ast.copy_location(ast.ClassDef(name=owner, bases=[], keywords=[], body=[definition],
                                              decorator_list=[]), definition)
    module = rewriter.enclosed([node], [n for n in code.co_freevars if n != "__class__"], node.name)
    try:
        new_code = _inner_code(compile(module, code.co_filename, "exec", dont_inherit=True,
                                       flags=future_flags_of_code(code.co_flags)), code.co_name)
    except SyntaxError as exc:
        log.debug("cannot recompile %s: %s", code.co_name, exc)
        return None
    cells = dict(zip(code.co_freevars, fn.__closure__ or ()))
    if new_code is None or not set(new_code.co_freevars) <= set(cells):
        return None
    from ufora.engine import runtime

    for name, hook in runtime.hooks().items():
        fn.__globals__.setdefault(name, hook)
    new = types.FunctionType(new_code, fn.__globals__, fn.__name__, fn.__defaults__,
                             tuple(cells[n] for n in new_code.co_freevars) or None)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__, new.__module__, new.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    new.__dict__.update(fn.__dict__)
    as_written.remember_function(new, fn)  # what goes back to the client is fn, or its code
    twin = rewriter.loops_of(definition)
    return kernels.attach_loops(twin)(new) if twin is not None else new


def rewrite_reachable(namespace: Dict[str, Any], shipped_files: Container[str], dry_run: bool = False,
                      found: Optional[List[types.FunctionType]] = None) -> int:
    """Rewrite, in place, every function defined in one of ``shipped_files`` (the user's own
    code, sent with the block) or in ufora's showcase modules (``engine.showcase``), and
    reachable from ``namespace``, that holds a shape; how many were rewritten. Methods are
    reached through classes and through instances (``obj.count(n)``) and replaced in their
    class. Installed libraries are neither rewritten nor walked.
    ``dry_run``: change nothing, count the functions whose definition holds a shape that the
    block may call (following from each function only the globals its code names, not every
    global of its module): what the client asks before sending a block (``pyfora.run_here``);
    ``found`` then receives those functions."""
    replaced: Dict[int, Any] = {}   # id(original) -> rewritten (or the original when unchanged)
    seen_dicts: set = set()
    seen_classes: set = set()
    count = 0
    shipped_files = showcase.WithShowcase(shipped_files)

    def visit(value: Any) -> Any:
        nonlocal count
        if is_a(value, types.ModuleType):  # only ufora's showcase modules are walked (engine.showcase)
            for module in showcase.modules_under(value):
                visit_dict(vars(module))
            return value
        if not is_a(value, types.FunctionType):  # by type: the client's dry run asks no object anything
            visit_class(value if is_a(value, type) else type(value))
            return value
        if value.__code__.co_filename not in shipped_files:
            return value
        if id(value) in replaced:
            return replaced[id(value)]
        replaced[id(value)] = value
        if dry_run:
            if _found(value) is not None:
                count += 1
                if found is not None:
                    found.append(value)
            new = None
        else:
            new = rewrite_function(value)
        if new is not None:
            replaced[id(value)] = new
            count += 1
        visit_dict(value.__globals__, referenced_names(value.__code__) if dry_run else None)
        for cell in value.__closure__ or ():
            contents = cell_contents(cell)
            if contents is EMPTY:
                continue
            swapped = visit(contents)
            if swapped is not contents:
                cell.cell_contents = swapped
        return replaced[id(value)]

    def visit_class(cls: type) -> None:
        for klass in cls.__mro__:
            if klass.__module__ == "builtins" or id(klass) in seen_classes:
                continue
            seen_classes.add(id(klass))
            for name, attribute in list(vars(klass).items()):
                wrapped = is_a(attribute, (staticmethod, classmethod))
                function = attribute.__func__ if wrapped else attribute
                if is_a(function, types.FunctionType):
                    swapped = visit(function)
                    if swapped is not function:
                        setattr(klass, name, type(attribute)(swapped) if wrapped else swapped)

    def visit_dict(scope: Dict[str, Any], only: Optional[Collection[str]] = None) -> None:
        if only is not None:  # a dry run: what a function may call, the globals its code names
            for name in only:
                if name in scope:
                    visit(scope[name])
            return
        if id(scope) in seen_dicts:
            return
        seen_dicts.add(id(scope))
        for name, value in list(scope.items()):
            swapped = visit(value)
            if swapped is not value:
                scope[name] = swapped

    visit_dict(namespace)
    return count
