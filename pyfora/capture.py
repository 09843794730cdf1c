"""Capturing a ``with`` block in the caller's frame, and writing its results back there.

The block is located by the frame's file and line in the file's syntax tree, read through
``linecache`` (so IPython/Jupyter cells, and the inputs of Python 3.13's new REPL, which register
there, work too); a block typed at the plain ``python`` prompt (``<stdin>``, registered nowhere)
is found in readline's history instead (``pyfora.typed_source``). Its free variables are the names
it reads that the frame can resolve (locals first, then globals; builtins stay on the cluster).
The body is skipped locally with the trace-function trick: a local trace function raises
``SkipBody`` on the body's first line event, before any statement runs, and the context
manager's ``__exit__`` swallows it.
"""
from __future__ import annotations

import ast
import ctypes
import functools
import inspect
import linecache
import sys
import types
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import cloudpickle

from ufora.engine import buffered_pickles, functions, lru_caches, module_state, mutations, serialization
from ufora.engine.block import MODULE_NAME
from ufora.engine.code import cell_contents, find_with, free_names, installed_file, parsed, reachable, referenced_names
from pyfora import typed_source, unpicklable, unread_after, upload_limit
from pyfora.Exceptions import BadWithBlockError, CantGetSourceTextError, PyforaError, PythonToForaConversionError
from pyfora.remote import RemotePythonObject, rebuilt


class SkipBody(Exception):
    """Raised inside the ``with`` body so that it does not run locally."""


@dataclass
class CapturedBlock:
    source: str
    filename: str
    with_line: int
    free_variables: Union[bytes, buffered_pickles.Buffered]  # its large arrays after the pickle, uncopied
    other_sources: Dict[str, str]  # text of the other files defining functions it ships
    objects: List[str]  # ids of the remote objects the free variables refer to
    unread: List[str] = field(default_factory=list)  # assigned, never read again: not sent back
    # the objects the free variables' pickle wrote (kept here, never sent): a downloaded value
    # that holds some of them is given them back (engine.remote_values.pack)
    written: Optional[serialization.WrittenObjects] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Located:
    """Where a block is and what its text says, before any value is read."""
    source: str
    filename: str
    with_line: int
    names: Tuple[str, ...]  # the names its body reads
    imported: Tuple[str, ...]  # the modules it imports
    unread: Tuple[str, ...]  # names it assigns that its function never reads again (``pyfora.unread_after``)
    shaped: bool  # its body holds a parallel shape (``engine.rewriter``)


def locate(frame: types.FrameType) -> Located:
    """The block whose ``with`` statement the frame is running (``BadWithBlockError`` for a
    body that would leave the block, ``CantGetSourceTextError`` without its text)."""
    source = _source_text(frame)
    return Located(source, frame.f_code.co_filename, *_locate(source, frame.f_code.co_filename, frame.f_lineno))


@functools.lru_cache(maxsize=256)
def _locate(source: str, filename: str, line: int) -> Tuple[int, Tuple[str, ...], Tuple[str, ...], Tuple[str, ...],
                                                          bool]:
    """``Located``'s fields after the file's; cached per file text and line."""
    try:
        tree = parsed(source, filename)
    except SyntaxError as exc:
        raise CantGetSourceTextError(f"{filename!r} does not parse as it is now: {exc}") from None
    try:
        node = find_with(tree, line)
    except ValueError as exc:
        raise CantGetSourceTextError(str(exc)) from None
    _refuse_escapes(node.body)
    imported = tuple(alias.name for statement in node.body for n in ast.walk(statement)
                     if isinstance(n, ast.Import) for alias in n.names) + tuple(
        n.module for statement in node.body for n in ast.walk(statement) if isinstance(n, ast.ImportFrom) and n.module)
    return (node.lineno, tuple(free_names(node.body)), imported, unread_after.unread_after(tree, node),
            functions.has_shape(node.body))


def _refuse_escapes(body: List[ast.stmt]) -> None:
    """``return`` and ``yield``, and ``break`` and ``continue`` of a loop around the block, would
    leave the block from the cluster: refused before anything is sent, wherever the block would
    run (``pyfora.run_here``), so that it means the same everywhere (inside functions or lambdas
    the block defines, and inside loops the block holds, they are fine)."""
    todo: List[Tuple[ast.AST, bool]] = [(statement, False) for statement in body]  # (node, in a loop of the block)
    while todo:
        node, in_loop = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
            word = "return" if isinstance(node, ast.Return) else "yield"
            raise BadWithBlockError(f"line {node.lineno}: a block that runs remotely cannot {word}; "
                                    f"assign the value to a variable instead")
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
            word = "break" if isinstance(node, ast.Break) else "continue"
            raise BadWithBlockError(f"line {node.lineno}: a block that runs remotely cannot {word} a loop "
                                    f"around it; set a flag in the block and test it after")
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):  # its else clause is not in it
            heading = [node.test] if isinstance(node, ast.While) else [node.target, node.iter]
            todo += [(child, True) for child in node.body] + [(child, in_loop) for child in heading + node.orelse]
            continue
        todo += [(child, in_loop) for child in ast.iter_child_nodes(node)]


def capture(frame: types.FrameType, located: Located) -> CapturedBlock:
    """The block ``located`` in the frame, with its free variables' values, ready to send."""
    values = free_values(frame, located.names)
    kinds = module_state.wanted(values.values()) | module_state.imported(located.imported) | module_state.always()
    if kinds:  # random's, numpy.random's generator, the decimal context: the block's too
        values[module_state.STATE] = module_state.taken(kinds)
    module_name = frame.f_globals.get("__name__")
    if isinstance(module_name, str):  # the classes and functions the block defines are its module's
        values[MODULE_NAME] = module_name
    block = ship(located.source, located.filename, located.with_line, values, block_globals=frame.f_globals)
    if sys.gettrace() is None:  # else a debugger may look at them
        shared = {*frame.f_code.co_cellvars, *frame.f_code.co_freevars}  # closures read them
        block.unread = [name for name in located.unread if name not in shared]
    return block


def _source_text(frame: types.FrameType) -> str:
    """The text the frame's code was compiled from: its file or notebook cell, or the statement
    typed at the plain interactive prompt."""
    filename = frame.f_code.co_filename
    lines = linecache.getlines(filename, frame.f_globals)
    if lines:
        return "".join(lines)
    if filename == "<stdin>":
        return typed_source.typed_statement(frame.f_code)
    raise CantGetSourceTextError(
        f"the source of {filename!r} is not available: no such file, and nothing registered in "
        "linecache under that name (exec() of a string registers nothing); run the block from a "
        "file, a notebook cell or the interactive prompt, or register the text in linecache")


def ship(source: str, filename: str, with_line: int, values: Dict[str, Any],
         labels: Optional[Dict[str, str]] = None, block_globals: Optional[Dict[str, Any]] = None) -> CapturedBlock:
    """The block at ``with_line`` of ``source`` with ``values`` as its free variables, ready to
    send: the values pickled, with the files of the user functions they reach. ``labels`` name
    values for the user where their variable names would not (``argument 2``). The functions
    whose globals are ``block_globals`` (the block's frame's) read the block's own namespace on
    the cluster: what the block assigns, they see (``engine.namespaces``)."""
    pickled, objects, written = _pickle(values, labels or {}, block_globals, filename)
    upload_limit.check(len(pickled), values, labels or {})
    return CapturedBlock(source, filename, with_line, pickled,
                         _shipped_sources(values.values(), filename), sorted(objects), written=written)


_UFORA_PACKAGES = {"ufora", "pyfora"}
_classified: set = set()  # modules already looked at, by name
_user_modules: set = {"__main__"}  # modules shipped by value
_modules_seen: Tuple[int, Optional[str]] = (0, None)  # sys.modules' size and newest name, when last looked at


def _ship_user_modules_by_value() -> None:
    """Register every loaded module that is not installed (not in the standard library or
    site-packages, and not ufora's own) to be pickled by value: the cluster cannot import the
    user's own modules, only what is installed there. Each module is looked at once; and
    sys.modules only when a name was added since (a new name goes last in it, so its size or
    its last name changed): comparing its thousand names with those seen cost more than the
    rest of capturing a small block."""
    global _modules_seen
    seen = (len(sys.modules), next(reversed(sys.modules.keys()), None))
    if seen == _modules_seen:
        return
    _modules_seen = seen
    for name in sys.modules.keys() - _classified:
        _classified.add(name)
        module = sys.modules.get(name)
        if name.split(".")[0] in _UFORA_PACKAGES or name == "__main__":
            continue
        path = getattr(module, "__file__", None)
        if path and not installed_file(path):
            cloudpickle.register_pickle_by_value(module)
            _user_modules.add(name)


def free_values(frame: types.FrameType, names: Sequence[str]) -> Dict[str, Any]:
    """The values of ``names`` in the frame: locals first, then globals; builtins stay behind.
    A function's local that is unbound is not shipped (not even a global of that name): the
    block reading it raises ``UnboundLocalError``, as the function would."""
    scope_locals, scope_globals = frame.f_locals, frame.f_globals
    code = frame.f_code
    own = {*code.co_varnames, *code.co_cellvars, *code.co_freevars} if code.co_flags & inspect.CO_OPTIMIZED else set()
    values: Dict[str, Any] = {}
    for name in names:
        if name in scope_locals:
            values[name] = scope_locals[name]
        elif name in scope_globals and name not in own:
            values[name] = scope_globals[name]
    if own and sys.version_info < (3, 13):
        # a function's f_locals is a snapshot kept on its frame: left filled, it would keep every
        # local alive (a remote object the caller deletes later would never be freed)
        scope_locals.clear()
    return values


def _shipped_sources(values: Iterable[Any], block_file: str) -> Dict[str, str]:
    """The text of every file, other than the block's, that defines a user function the block
    ships: reached directly, as a method of a user class or of an instance of one, through
    those functions' globals and closures, or as the code that made a remote object. The cluster
    reads it to find parallel shapes inside
    those functions (``engine.functions`` rewrites methods in their class)."""
    sources: Dict[str, str] = {}
    for value in reachable(values, _leads_to):
        if isinstance(value, RemotePythonObject):  # a remote function: the files that made it
            for filename, text in value.sources.items():
                if filename != block_file:
                    sources.setdefault(filename, text)
        elif isinstance(value, types.FunctionType) and value.__module__ in _user_modules:
            filename = value.__code__.co_filename
            if filename != block_file and filename not in sources:
                lines = linecache.getlines(filename, value.__globals__)
                if lines:
                    sources[filename] = "".join(lines)
    return sources


def _leads_to(value: Any) -> Iterable[Any]:
    """For ``_shipped_sources``: a method's function and owner, a class's methods, the class of
    an instance of a user class, the globals and closure of a user function."""
    if isinstance(value, RemotePythonObject):
        return ()
    if isinstance(value, types.MethodType):
        return value.__func__, value.__self__
    if isinstance(value, type):
        return _methods(value)
    if not isinstance(value, types.FunctionType):
        return (type(value),) if type(value).__module__ in _user_modules else ()
    if value.__module__ not in _user_modules:
        return ()
    return [*(value.__globals__.get(name) for name in referenced_names(value.__code__)),
            *(cell_contents(cell) for cell in value.__closure__ or ())]


def _methods(cls: type) -> Iterator[Any]:
    """What the user classes of ``cls``'s MRO hold, with static and class methods and
    properties unwrapped to their functions (other attributes are walked like any value)."""
    for klass in cls.__mro__:
        if klass.__module__ not in _user_modules:
            continue
        for attribute in vars(klass).values():
            if isinstance(attribute, (staticmethod, classmethod)):
                yield attribute.__func__
            elif isinstance(attribute, property):
                yield from (attribute.fget, attribute.fset, attribute.fdel)
            else:
                yield attribute


_warned_in_place: set = set()  # (file, line, name) already warned about


def update_in_place(frame: types.FrameType, pickled: bytes, parts: Sequence[Any] = (),
                    written: Optional[serialization.WrittenObjects] = None,
                    together: Optional[serialization.TogetherRead] = None) -> None:
    """Make the caller's free variables that the block changed in place hold what the block
    left in them, as if it had run here (``engine.mutations``: ``pickled`` is their dict, with
    its out-of-band ``parts``; ``written``: what the block's free variables were, whose NaN
    floats it may hold: ``engine.nan_identity``; ``together``: the values the block assigned, read
    before, whose objects it may hold: ``cache["r"] = row``); warn once for each one that cannot be updated
    so (a type with no in-place update, or values that cannot be rebuilt here)."""
    try:
        changed = rebuilt("the free variables the block changed", pickled, parts, written, together)
    except PyforaError as exc:
        _warn_once(frame, "", f"{exc}: the caller's objects keep their values from before the block")
        return
    for module in mutations.apply_globals(changed["globals"]):
        _warn_once(frame, module, f"the block changed globals of module {module!r}, which is not loaded here"
                   if ":" not in module else f"the block changed {module.replace(':', '.')!r}, which could not "
                   "be updated here")
    for name in mutations.apply_cells(free_values(frame, list(changed["cells"])), changed["cells"]):
        _warn_once(frame, name, f"the block changed the closure of {name!r}, which is another function here")
    for name in changed["caches"]:
        _warn_once(frame, name + ":cache", f"the block called lru_cache function {name!r} on the cluster: what "
                                           "it cached there and the calls counted there stay there; its cache and "
                                           "cache_info() here are as before the block")
    targets = mutations.targets(free_values(frame, [mutations.variable(name) for name in changed["free"]]),
                                changed["free"])
    for name in changed["moved"]:
        _warn_once(frame, name + ":moved", f"the block moved or replaced objects inside free variable {name!r}: "
                                           "it holds new objects now, which your other references to the old "
                                           "ones do not see")
    for name in mutations.apply(targets, changed["free"], shallow=changed["moved"]):
        _warn_once(frame, name, f"the block changed free variable {name!r} in place, but this "
                                f"{type(targets.get(name)).__name__} cannot be updated in place here: "
                                "it keeps its value from before the block")
    unbind(frame, changed.get("deleted", ()))  # last: ``x.append(1); del x`` changed what ``y = x`` holds


def _warn_once(frame: types.FrameType, name: str, message: str) -> None:
    where = (frame.f_code.co_filename, frame.f_lineno, name)
    if where not in _warned_in_place:
        _warned_in_place.add(where)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _pickle(values: Dict[str, Any], labels: Dict[str, str], block_globals: Optional[Dict[str, Any]] = None,
            block_file: str = "") -> Tuple[Union[bytes, buffered_pickles.Buffered], set, serialization.WrittenObjects]:
    """The pickle of ``values``, the remote objects it refers to, and the objects it wrote. An lru_cache function whose
    cache is in use is refused: the cluster would have an empty one (``engine.lru_caches``)."""
    _ship_user_modules_by_value()
    with lru_caches.refusing_used():
        try:
            return serialization.dumps_written(values, block_globals, block_file, sharing=True, nans=True,
                                               out_of_band=True)
        except Exception:
            for name, value in values.items():
                try:
                    serialization.dumps(value)
                except Exception as exc:
                    raise PythonToForaConversionError(unpicklable.message(name, labels.get(name), value, exc)) from exc
            raise


def unbind(frame: types.FrameType, names: Iterable[str]) -> None:
    """Unbind ``names`` in ``frame``, as the block's ``del`` (or the end of its ``except ... as
    e``) would have: at module level (or in a class body) in its namespace; in a function, its
    locals, and its globals for the names it declares ``global``."""
    names = set(names)
    code = frame.f_code
    if not names:
        return
    if not code.co_flags & inspect.CO_OPTIMIZED:  # module level, a class body: f_locals is the namespace
        for name in names:
            frame.f_locals.pop(name, None)
        return
    own = names & {*code.co_varnames, *code.co_cellvars, *code.co_freevars}
    for name in names - own:
        frame.f_globals.pop(name, None)
    if not own:
        return
    scope = frame.f_locals
    for name in own:
        scope.pop(name, None)
    if sys.version_info < (3, 13):  # (since 3.13 f_locals writes through by itself)
        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(1))  # 1: those missing unbound
        scope.clear()


def write_back(frame: types.FrameType, values: Dict[str, Any]) -> None:
    """Assign ``values`` in ``frame`` as the block's own assignments would have: its globals at
    module level; in a function, its locals, and its globals for the names it declares
    ``global`` (the compiler made every other name it assigns a local or a cell)."""
    if frame.f_locals is frame.f_globals:
        frame.f_globals.update(values)
        return
    code = frame.f_code
    if code.co_flags & inspect.CO_OPTIMIZED:
        own = {*code.co_varnames, *code.co_cellvars, *code.co_freevars}
        frame.f_globals.update({name: value for name, value in values.items() if name not in own})
        values = {name: value for name, value in values.items() if name in own}
    scope = frame.f_locals
    for name, value in values.items():
        scope[name] = value
    if sys.version_info < (3, 13):  # since 3.13 f_locals writes through by itself
        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
        # A function's f_locals is a snapshot, rebuilt on every access: left as it is, it would
        # keep every local alive after a ``del`` (a proxy would not be freed until the function
        # returns). A class body's or exec()'s locals are the real namespace: never cleared.
        if frame.f_code.co_flags & inspect.CO_OPTIMIZED:
            scope.clear()
