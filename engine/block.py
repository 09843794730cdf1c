"""Running a captured ``with`` block on the cluster.

A block arrives as the text of the file it was written in, that file's name and the line of its
``with`` statement, plus its free variables (pickled by the client). The body is compiled from
the file's own syntax tree, so tracebacks show the user's file and real line numbers, and the
file's text is put in ``linecache`` so they show the source lines too. The rewriter replaces its
parallel shapes first; everything else is plain CPython. The names the body assigns (also those
assigned before it raised) are returned, pickled one by one, so one value that cannot travel
does not lose the others; so are the free variables it changed in place (``engine.mutations``).
"""
from __future__ import annotations

import ast
import builtins
import functools
import json
import linecache
import logging
import os
import time
import types
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Set, Tuple, Union


from ufora.engine import (as_written, buffered_pickles, class_state, code, errors, function_body, functions,
                          generator_values, local_estimate, memory_limits, module_state, mutations, namespaces,
                          remote_values, rewriter, runtime, serialization, shm, unread, warned)

log = logging.getLogger(__name__)

HAND_OVER_BYTES = 1 << 20  # a variable's pickle from this size goes to the service in shared memory
# a block's results the client itself reads (what it changed in place, the module state it left),
# downloaded whatever their size, never kept on the cluster as remote objects
ALWAYS_DOWNLOADED = (mutations.MUTATED, module_state.STATE)
# The free variable naming the block's module (its ``__name__`` at home): the block's namespace is
# named so, as the user's module is, so that the classes, named tuples and functions the block
# defines are that module's (``__module__``: they were "__ufora_block__"'s, and an instance of a
# named tuple the block made could not be pickled at home afterwards), and so is ``__name__``
# the block reads (``if __name__ == "__main__":`` in a block held there, and not here)
MODULE_NAME = "__ufora_module_name__"
BLOCKS_OWN_NAME = "__ufora_block__"  # a block's namespace whose module is not named
# the variable a block's downloaded variables travel in, together ({name: value}), when the
# client wants them all: objects they share arrive shared (``b = a``: ``a is b``; ``items`` made
# with ``base``: ``items[0].cfg is base``), as one pickle writes each object once
ASSIGNED = "__ufora_assigned__"
# ... and those of them that hold objects the client sent, which refer to them (a Python call
# for every object pickled: the others do without), and to the first group's objects they hold
ASSIGNED_THEIRS = "__ufora_assigned_theirs__"
ASSIGNED_GROUPS = (ASSIGNED, ASSIGNED_THEIRS)
# the prefix of the variable a remote object that the block changed in place travels in (the
# object's id, ":" and its free variable's name after it), kept on the cluster whatever the client downloads: the client
# points its proxy at it (``pyfora.remote.changed_in_place``), so that ``xs.append(99)`` on a
# proxy's list is in ``xs`` afterwards, as in CPython (the change was lost)
REMOTE_CHANGED = "__ufora_remote_changed__"
# the same for a remote object held by a global of a module that a function of the block read and
# changed in place (``def g(): ys.append(9)``, ``ys`` a proxy), followed by [id, module, name] in JSON: sent
# back as a value, it replaced the client's proxy with a local copy, which the proxy's other
# names did not see (a user's trial)
REMOTE_CHANGED_GLOBAL = "__ufora_remote_changed_global__"

# Code written for Python 2 still runs: xrange is range, in the block and in every function
# shipped with it (their globals fall back to builtins).
builtins.xrange = range  # type: ignore[attr-defined]


@dataclass
class Block:
    source: str          # text of the whole file holding the block
    filename: str
    with_line: int       # line of the ``with`` statement
    free_variables: Union[bytes, "InSegment"]  # cloudpickle of {name: value} (moved to a segment: InSegment)
    other_sources: Dict[str, str] = field(default_factory=dict)  # files of shipped functions
    # Filled in by the worker, not sent: the remote objects the block refers to, as
    # {id: (pickle, parts)} (engine.remote_values), and the size from which an assigned value
    # stays on the cluster (None: every value is downloaded); the names the client will never
    # read (pyfora.unread_after: not sent back); the processes that can compute its
    # partitions, and whether every shape that can be split is (engine.cost).
    objects: Dict[str, Tuple[bytes, list]] = field(default_factory=dict)
    download_below: Optional[int] = None
    unread: FrozenSet[str] = frozenset()
    cores: int = 1
    always_split: bool = False

    @classmethod
    def unpack(cls, fields: Dict[str, Any], buffers: List[bytes]) -> "Block":
        """A block from the fields and buffers of its message (net.schema ``run_block``):
        ``filename``, ``with_line``; [source, free variables, other sources as JSON]."""
        source, free_variables, sources = buffers
        other_sources = json.loads(bytes(sources))
        if not isinstance(other_sources, dict):
            raise ValueError("sources must be a JSON object")
        return cls(bytes(source).decode(), str(fields["filename"]), int(fields["with_line"]), free_variables,
                   {str(k): str(v) for k, v in other_sources.items()})


# Free variables from this size on reach the compute process in a shared-memory segment, not
# down its pipe: a 128 MB array crossed the pipe at about 0.5 GB/s, pickled into the message,
# written in pieces from the event loop and read back into a frame, then copied out of it.
HAND_OVER_FROM = 1 << 20


@dataclass(frozen=True)
class InSegment:
    """Bytes handed to a compute process in a segment the worker made (and unlinks)."""
    name: str
    size: int


def free_variables_go_in_segment(block: Block) -> bool:
    """Whether ``free_variables_in_segment`` writes a segment for the block (its pickle is large)."""
    return not isinstance(block.free_variables, InSegment) and len(block.free_variables) >= HAND_OVER_FROM


def free_variables_in_segment(block: Block) -> Optional[str]:
    """Move a large pickle of the block's free variables into a new segment of the worker
    service (``block.free_variables`` then names it); the segment's name, for the worker to
    unlink when the block ends, or None where the pickle is small enough for the pipe."""
    if not free_variables_go_in_segment(block):
        return None
    data = block.free_variables
    try:
        name = shm.write_for_service(data)
    except OSError as exc:  # /dev/shm full: the pipe takes it, more slowly
        log.warning("the free variables of a block (%d bytes) go down the pipe: no segment for them (%s)",
                    len(data), exc)
        return None
    block.free_variables = InSegment(name, len(data))
    return name


@dataclass
class BlockResult:
    variables: Dict[str, bytes] = field(default_factory=dict)  # name -> cloudpickle of value
    types: Dict[str, str] = field(default_factory=dict)  # name -> qualified type of the value
    callables: Set[str] = field(default_factory=set)  # names whose value is callable
    # name -> shared-memory segments holding the large buffers of a value that stays remote
    segments: Dict[str, List[remote_values.Segment]] = field(default_factory=dict)
    # name -> the large buffers of a downloaded value, out of its pickle: segments the service
    # takes over, then mapped read-only (``take_over``), sent after the pickle as buffers of their own
    parts: Dict[str, List[remote_values.Part]] = field(default_factory=dict)
    error: Optional[errors.RemoteError] = None
    # name -> the segment holding its pickle, between ``hand_over`` and ``take_over``
    handed: Dict[str, remote_values.Segment] = field(default_factory=dict)
    # names kept on the cluster as remote objects whatever the block's ``download_below``
    kept: Set[str] = field(default_factory=set)
    # the process running the block died (error says how): the block may be run again
    driver_lost: bool = False
    # seconds the block would take as plain CPython in one process (``engine.local_estimate``;
    # None: unknown), which the client weighs against the cluster's (``pyfora.run_here``)
    cpython_seconds: Optional[float] = None
    # of the block's time, seconds its shapes ran in CPython while their kernels compiled
    # (``engine.local_estimate``): the client does not count them as the cluster's for good
    warming_seconds: float = 0.0

    def hand_over(self) -> None:
        """Driver side: move each large variable's pickle into a segment the worker service
        will own, so that the pipe carries its name only (a pipe moves 80 MB in 0.22 s)."""
        for name, data in self.variables.items():
            if len(data) < HAND_OVER_BYTES:
                continue
            try:
                segment = shm.create_for_service(len(data))
            except OSError:  # no room in /dev/shm: the pipe still carries it
                continue
            try:
                segment.buf[:len(data)] = data
            finally:
                shm.release(segment)
            self.handed[name] = (segment.name, len(data))
            self.variables[name] = b""

    def take_over(self) -> None:
        """Service side: each handed pickle and each downloaded value's parts, mapped read-only
        with their page tables filled in one call (they are read whole when sent: a fault per
        page there cost the data channel 2-4x on 80 MB); their segments' names are unlinked at
        once (the memory goes with the last view of it). A segment that cannot be read makes
        the block fail with that reason (and its value stays here)."""
        handed, self.handed = self.handed, {}
        for name, (segment, size) in handed.items():
            self.variables[name] = self._mapped(name, segment, size)
        for name, parts in self.parts.items():
            self.parts[name] = [self._mapped(name, *part) if isinstance(part, tuple) else part for part in parts]
        for name in [name for name, data in self.variables.items() if data is None]:
            del self.variables[name]
            self.parts.pop(name, None)

    def _mapped(self, name: str, segment: str, size: int) -> Optional[memoryview]:
        try:
            return shm.map_readonly(segment, size, populate=True)
        except OSError as exc:
            self.error = self.error or errors.RemoteError(
                "InternalError", f"the value of {name!r} was lost on its way from the block: {exc}", "")
            self.variables[name] = None  # type: ignore[assignment]  (dropped by take_over)
            return None
        finally:
            shm.unlink(segment)

    def pack(self) -> Tuple[Dict[str, Any], List[bytes]]:
        """The fields and buffers of a ``block_done`` message (net.schema): the names and how
        many parts follow each one's pickle, then the error's texts (capped: they travel in a
        header of limited size) and whether its pickle follows the variables' buffers."""
        fields: Dict[str, Any] = {"names": list(self.variables), "error": None,
                                  "parts": [len(self.parts.get(name, ())) for name in self.variables],
                                  "driver_lost": self.driver_lost,
                                  "cpython_seconds": self.cpython_seconds, "warming_seconds": self.warming_seconds}
        buffers = [buffer for name, data in self.variables.items() for buffer in (data, *self.parts.get(name, ()))]
        if self.error is not None:
            fields["error"] = {"type_name": self.error.type_name, "message": _capped(self.error.message),
                               "trace": _capped(self.error.trace), "pickled": self.error.pickled is not None}
            if self.error.pickled is not None:
                buffers.append(self.error.pickled)
        return fields, buffers


def _capped(text: str, limit: int = 64 * 1024) -> str:
    """Keep the head and the tail of a long text (the exception line ends a traceback)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit // 2]}\n... ({len(text) - limit} characters cut) ...\n{text[-limit // 2:]}"


class _AssignedNames(ast.NodeVisitor):
    """Names bound in the block's own scope (not inside functions, classes or lambdas it
    defines, whose names are their own; comprehension variables are their own too)."""

    def __init__(self) -> None:
        self.names: List[str] = []

    def _bind(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id)

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._bind(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def visit_alias(self, node: ast.alias) -> None:
        self._bind((node.asname or node.name).split(".")[0])

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._bind(node.name)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.generic_visit(node)

    def _own_scope(self, node: ast.AST) -> None:
        for generator in node.generators:  # type: ignore[attr-defined]
            self.visit(generator.iter)
        for inner in ast.walk(node):  # a := inside binds in the block's scope (PEP 572)
            if isinstance(inner, ast.NamedExpr):
                self._bind(inner.target.id)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _own_scope


def assigned_names(body: List[ast.stmt]) -> List[str]:
    collector = _AssignedNames()
    for statement in body:
        collector.visit(statement)
    return collector.names


_Compiled = Union[types.CodeType, function_body.FunctionBody]


class _Body(NamedTuple):
    """``_compile_body``'s: what the block's text says of itself (``engine.mutations``)."""
    compiled: _Compiled
    names: Tuple[str, ...]  # those it assigns
    touched: Set[str]  # those whose values it could change in place
    written: Set[str]
    written_into: Set[str]
    unbinding: Set[str]  # those it may unbind
    calls: Tuple[mutations.Call, ...]  # the calls passing names (``mutations.calls_passing``)


@functools.lru_cache(maxsize=256)
def _compile_body(source: str, filename: str, with_line: int) -> _Body:
    """The rewritten, compiled body (module code, or a function's body when the block is in a
    function: ``engine.function_body``), and what its text says of its names (``_Body``);
    cached, since a loop of small blocks from one file would otherwise parse that whole file
    every time."""
    tree = ast.parse(source, filename)
    block = code.find_with(tree, with_line)
    body = block.body
    as_is = code.copied(body)  # the text as written, whose functions go back to the client in place of the rewritten
    names = tuple(assigned_names(body))
    touched, written, unbinding = mutations.touched(body), mutations.written(body), mutations.unbinding(body)
    written_into = mutations.written_into(body)
    module = rewriter.rewrite(ast.Module(body=body, type_ignores=[]))
    module.body = unread.mark(module.body)
    compiled = _compiled(tree, block, module.body, source, filename)
    as_written.remember(_code_of(compiled), _code_of(_compiled(tree, block, as_is, source, filename)))
    return _Body(compiled, names, touched, written, written_into, unbinding, mutations.calls_passing(body))


def _compiled(tree: ast.Module, block: ast.With, body: List[ast.stmt], source: str, filename: str) -> _Compiled:
    """``body``, the statements of ``block`` in ``tree``, compiled as a function's body where the
    block is in a function (``engine.function_body``), else as a module."""
    flags = code.future_flags_of_module(tree)
    as_function = function_body.compile_body(tree, block, body, source, filename, flags)
    if as_function is not None:
        return as_function
    return compile(ast.Module(body=body, type_ignores=[]), filename, "exec", flags=flags, dont_inherit=True)


def _code_of(compiled: _Compiled) -> types.CodeType:
    return compiled.code if isinstance(compiled, function_body.FunctionBody) else compiled


def _type_name(value: Any) -> str:
    kind = getattr(type(value), "stands_for", type(value))  # unread.NumericList: a list
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _recording(load, object_id: str, loaded: Dict[int, Tuple[str, Any]]):
    def recorded():
        value = load()
        loaded[id(value)] = (object_id, value)
        return value
    return recorded


def _free_variables(block: Block, loaders: Dict[str, Any], module_globals: Dict[str, Any]
                    ) -> Tuple[Dict[str, Any], serialization.ReadObjects]:
    """The block's free variables, unpickled, and the objects read (a downloaded value refers to
    the client's own by them); a value that cannot be rebuilt here (its class's module is not
    installed on the cluster) is an ``UnconvertibleValueError`` saying so. The functions of the
    block's module get ``module_globals`` as their globals."""
    data = block.free_variables
    try:
        with namespaces.loading_into(module_globals, block.filename):
            return serialization.loads_read(_mapped(data) if isinstance(data, InSegment) else data, loaders)
    except serialization.MissingObjectError:
        raise
    except Exception as exc:
        raise errors.UnconvertibleValueError(
            f"the values this code uses cannot be rebuilt on the cluster: {type(exc).__name__}: {exc} "
            "(install the module they come from on the workers too)") from exc


def _mapped(data: InSegment) -> memoryview:
    """The segment holding a block's free variables, mapped: read-only for a pickle, whose
    values are copied out of it; copy-on-write where the arrays lie after the pickle
    (``engine.buffered_pickles``), as the block's own, to read in place or to change."""
    if shm.first_bytes(data.name, len(buffered_pickles.MAGIC)) == buffered_pickles.MAGIC:
        return shm.map_private(data.name, data.size)
    return shm.map_readonly(data.name, data.size)


def run_block(block: Block, runner: Optional[runtime.PartitionRunner]) -> BlockResult:
    """Execute the block's body with ``runner`` computing its parallel shapes."""
    result = BlockResult()
    driver = os.getpid()
    namespace: Dict[str, Any] = {"__name__": BLOCKS_OWN_NAME, "__builtins__": builtins,
                                 **runtime.hooks()}
    try:
        shipped = {**block.other_sources, block.filename: block.source}
        for filename, text in shipped.items():
            linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        compiled, names, touched, written, written_into, unbinding, calls = _compile_body(
            block.source, block.filename, block.with_line)
        in_function = isinstance(compiled, function_body.FunctionBody)
        # the globals of the functions of the block's module (engine.namespaces): the block's
        # namespace at module level; in a function, the namespace without the function's locals
        module_globals = {**namespace} if in_function else namespace
        loaders = {object_id: functools.partial(remote_values.load, data, parts)
                   for object_id, (data, parts) in block.objects.items()}
        # remote objects' values, by their ids here: (the object's id, the value), the cluster's own, never sent back
        loaded: Dict[int, Tuple[str, Any]] = {}
        loaders = {object_id: _recording(load, object_id, loaded) for object_id, load in loaders.items()}
        free, read = _free_variables(block, loaders, module_globals)
        states = free.pop(module_state.STATE, {})
        module_name = free.pop(MODULE_NAME, BLOCKS_OWN_NAME)
        namespace["__name__"] = module_globals["__name__"] = module_name if isinstance(module_name, str) \
            else BLOCKS_OWN_NAME
        own_states = module_state.taken(states)  # this process's, put back after the block
        namespace.update(free)
        functions.rewrite_reachable(namespace, shipped)
        if in_function:
            module_globals.update((name, value) for name, value in namespace.items()
                                  if name not in compiled.parameters)
        remote = set(loaded)
        read.not_theirs = remote  # the cluster's values, never the client's objects
        compared = {name: value for name, value in free.items() if id(value) not in remote}
        owned = {name: part for name, part in mutations.owners(compared, touched).items()
                 if id(part) not in remote}  # record = log.append: the list, which its calls change
        before = mutations.snapshot({**namespace, **owned}, [*compared, *owned], touched | owned.keys(),
                                    written | mutations.changing(owned, compared))
        remote_free = {name: value for name, value in free.items() if name not in compared}
        remote_names = mutations.remote_compared(remote_free, touched, written, written_into,
                                                 mutations.passed_to_changers(calls, namespace, set(remote_free)))
        before_remote = mutations.snapshot(namespace, remote_names, set(remote_names), written)
        reached = mutations.reached(free.values())
        before_globals, before_caches = mutations.helpers_globals(reached, remote), mutations.caches(reached)
        before_cells = mutations.closures(free)
        before_classes = class_state.taken(reached)
    except Exception as exc:
        result.error = errors.capture(exc)
        return result
    # the caller's random generators, decimal context and settings, as installed, which the
    # body's changes are told from: a setting this process could not take (a warning category
    # it cannot import) is not a change to send back
    states = module_state.install(states, own_states)
    warned.callers_filters_in_force(module_globals)  # a change of them from here on is the block's
    started = time.perf_counter()
    with local_estimate.tallied() as tally:
        try:
            # what the block's shapes bring back (or time) here must not give its classes copies
            # of their methods, whose globals would be a dict of their own (engine.class_state)
            with runtime.using_runner(runner), class_state.keeping_own_functions():
                if isinstance(compiled, function_body.FunctionBody):
                    compiled.run(namespace, module_globals)
                else:
                    exec(compiled, namespace)
        except BaseException as exc:  # sys.exit() and the like end the block, not the process
            with memory_limits.reserve():  # the block's values are still held: describing its MemoryError needs room
                memory_limits.explain(exc)
                result.error = errors.capture(exc)
    if os.getpid() != driver:  # a child the block forked, whose body ended: nothing of it is sent
        return result
    result.cpython_seconds = tally.cpython_seconds(time.perf_counter() - started)
    kept_changed: Set[str] = set()  # the remote objects changed in place kept so far, by their former ids
    result.warming_seconds = tally.warming_seconds
    try:
        changed_free = mutations.changed(before)
        mutated = {"free": changed_free, "moved": mutations.moved(before, changed_free),
                   "globals": mutations.changed_globals(before_globals), "cells": mutations.changed_cells(before_cells),
                   "caches": mutations.used_caches(before_caches), "classes": class_state.changed(before_classes),
                   "deleted": sorted(name for name in unbinding if name not in namespace)}
        names = mutations.rebound(namespace, before, names)
        _keep_changed_remote_globals(result, mutated["globals"], before_globals, loaded, kept_changed, module_globals,
                                     block.filename)
    except Exception:  # finding the effects must never cost the block's own variables
        log.exception("could not tell which free variables the block changed in place")
        mutated = {"free": {}, "globals": {}, "cells": {}, "caches": [], "classes": [], "deleted": []}
    if any(mutated.values()):  # always downloaded
        namespace[mutations.MUTATED] = mutated
        names = (*names, mutations.MUTATED)
    now = module_state.taken(states)
    states = module_state.changed(states, now)
    final_filters = warned.final_change()
    if final_filters is not None:
        states[warned.FILTERS_CHANGE] = final_filters
    module_state.install(own_states, now)  # no other client's block sees this one's seed or settings
    if states:  # always downloaded: they are the caller's module state
        namespace[module_state.STATE] = states
        names = (*names, module_state.STATE)
    with generator_values.sending_back():  # a generator expression not ended goes too
        _send_variables(result, namespace, names, free, block, read, module_globals)
    _keep_changed_remote(result, before_remote, loaded, kept_changed, module_globals, block.filename)
    errors.forget_partition_traces()
    return result


def _keep_changed_remote(result: BlockResult, before: Dict[str, tuple], loaded: Dict[int, Tuple[str, Any]],
                         kept: Set[str], module_globals: Dict[str, Any], filename: str) -> None:
    """Put in ``result``, kept on the cluster (``REMOTE_CHANGED``), each remote object named by
    a free variable that the block changed in place (``before``: their snapshot), once (``kept``:
    those kept already, by their former ids: two names of one proxy, or a global holding it). One
    that cannot be pickled any more (a lock put in it) keeps its value as before the block, and
    the worker's log says so: before, every change was lost so, and failing the block for it would
    lose its other results (a review)."""
    try:
        changed = mutations.changed(before)
    except Exception:
        log.exception("could not tell which remote objects the block changed in place")
        return
    for name, value in changed.items():
        was = loaded[id(value)][0] if id(value) in loaded else None
        if was is not None and was not in kept:
            kept.add(was)
            _keep_changed(result, f"{REMOTE_CHANGED}{was}:{name}", name, value, module_globals, filename)


def _keep_changed_remote_globals(result: BlockResult, changed: Dict[str, Dict[str, Any]],
                                 taken: Dict[Tuple[str, str], tuple], loaded: Dict[int, Tuple[str, Any]],
                                 kept: Set[str], module_globals: Dict[str, Any], filename: str) -> None:
    """Take out of ``changed`` (``mutations.changed_globals``: {module: {name: value}}) each
    global that held a remote object (``loaded``) and was changed in place, and keep it on the
    cluster instead (``REMOTE_CHANGED_GLOBAL`` and [its former id, the module, the name] in
    JSON), once, as ``_keep_changed_remote`` keeps a free variable's; one the block bound to
    another value goes back as a value, as any global."""
    for module, values in list(changed.items()):
        for name, value in list(values.items()):
            held = taken.get((module, name))
            if held is None or id(held[1]) not in loaded or isinstance(value, mutations.Rebound):
                continue
            del values[name]
            was = loaded[id(held[1])][0]
            if was not in kept:
                kept.add(was)
                _keep_changed(result, REMOTE_CHANGED_GLOBAL + json.dumps([was, module, name]), f"{module}.{name}",
                              value, module_globals, filename)
        if not values:
            del changed[module]


def _keep_changed(result: BlockResult, key: str, label: str, value: Any, module_globals: Dict[str, Any],
                  filename: str) -> None:
    """Put ``value``, a remote object the block changed in place, in ``result`` as ``key``, kept
    on the cluster; one that cannot be pickled any more keeps its value as before (logged)."""
    try:
        _send(result, key, value, 0, None, (), module_globals, filename, None)
    except Exception as exc:
        log.warning("the block changed the remote object %r (%s) in place, and it cannot be kept so (%s): it "
                    "keeps its value as before the block", label, type(value).__name__, exc)
        return
    result.kept.add(key)
    _describe(result, key, value)


def _send_variables(result: BlockResult, namespace: Dict[str, Any], names: Sequence[str], free: Dict[str, Any],
                    block: Block, read: serialization.ReadObjects, module_globals: Dict[str, Any]) -> None:
    """Put the block's variables ``names`` (of ``namespace``) in ``result``, pickled: with
    ``downloadAll()`` those it assigned in one pickle (or two: ``ASSIGNED_GROUPS``), the others
    each apart; a variable that cannot be sent is the block's error, naming it."""
    free_ids = {id(value) for value in free.values()}
    sent = [name for name in names if name in namespace and name not in block.unread]
    together = serialization.Together()
    assigned = [name for name in sent if name not in ALWAYS_DOWNLOADED]
    if block.download_below is None and assigned:  # all downloaded: one pickle (a = [0]; b = a: a is b there)
        theirs = [name for name in assigned if remote_values.may_hold_theirs(namespace[name], read, free_ids)]
        groups = {ASSIGNED: [name for name in assigned if name not in theirs], ASSIGNED_THEIRS: theirs}
        try:
            for group, members in groups.items():
                if members:
                    _send(result, group, {name: namespace[name] for name in members}, block.download_below, read,
                          free_ids, module_globals, block.filename, together, several=True)
            for name in assigned:
                _describe(result, name, namespace[name])
            sent = [name for name in sent if name in ALWAYS_DOWNLOADED]
        except Exception:  # each apart, to tell which cannot be sent
            for group in groups:
                result.variables.pop(group, None)
                result.parts.pop(group, None)
            together = serialization.Together()
    for name in sent:
        try:
            if name in ALWAYS_DOWNLOADED:  # (values to compare: not the client's own; module state shares nothing)
                _send(result, name, namespace[name], None, read, (), module_globals, block.filename,
                      together if name == mutations.MUTATED else None, nans_only=True)
            else:
                _send(result, name, namespace[name], block.download_below, read, free_ids, module_globals,
                      block.filename, together)
            _describe(result, name, namespace[name])
        except Exception as exc:
            if result.error is None:
                with memory_limits.reserve():  # (a MemoryError: the values are still held)
                    result.error = errors.capture(_unsendable(name, namespace[name], exc))


def _describe(result: BlockResult, name: str, value: Any) -> None:
    """Tell the client the type of the variable ``name`` sent in ``result``, and whether it is callable."""
    result.types[name] = _type_name(value)
    if callable(value):
        result.callables.add(name)


def _send(result: BlockResult, name: str, value: Any, download_below: Optional[int],
          read: serialization.ReadObjects, free_ids: Set[int], module_globals: Dict[str, Any], filename: str,
          together: Optional[serialization.Together], nans_only: bool = False, several: bool = False) -> None:
    """Put ``value``, pickled (``remote_values.pack``), in ``result`` under ``name``: its segments
    among those kept on the cluster, or among the parts downloaded with it."""
    data, segments, kept = remote_values.pack(value, download_below, read, free_ids, module_globals, filename,
                                              nans_only=nans_only, together=together, several=several)
    result.variables[name] = data
    if segments:
        (result.segments if kept else result.parts)[name] = list(segments)


def _unsendable(name: str, value: Any, exc: Exception) -> BaseException:
    """The error of a block whose variable ``name`` cannot be sent back: ``MemoryError`` (with a
    note) where there was no memory to pickle it, as a user's trial found a 450 MB bytearray
    reported as ``TypeError: ... cannot be sent back to the client: `` with nothing after; else
    ``TypeError`` naming the value."""
    if isinstance(exc, MemoryError):
        exc.add_note(f"(ufora) sending the value of {name!r} ({type(value).__name__}) back to the client "
                     "needed more memory than this compute process may allocate (UFORA_WORKER_MEMORY)")
        return exc
    return TypeError(f"the value of {name!r} ({type(value).__name__}) cannot be sent back to the client: {exc}")
