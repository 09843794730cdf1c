"""Kernels: the code that computes one partition, compiled with numba when it can be.

Contract: a compiled kernel gives exactly what CPython gives for the same partition, or it is
not used.

* The element function, its filter, the ``key`` of min/max and every plain Python function they
  reach through globals or closure cells are cloned and ``njit``-ed (recursively; cycles are fine
  because numba compiles lazily), with checked integer arithmetic (``engine.checked``: an int
  that would wrap raises, and the partition is recomputed in CPython). The originals are never
  modified: the CPython fallback still
  has them. A function that holds generator expressions (which numba cannot compile) is replaced
  by its twin, where each ``sum``/``min``/``max``/``any``/``all`` of one is an explicit loop
  (``engine.rewriter``), so nested shapes compile too.
* The kernel source comes from the reducer's template (``engine.reducers``) with the source's
  item expression, and is compiled for the exact argument types of this job.
* If numba refuses any part (typing, an unsupported construct, anything at all), ``build``
  returns None and the job runs in CPython, still in parallel: fallback per job, never per
  element, never an error. Why numba refused is logged at debug level.
* Collected results need a fixed output type: the element must return an int, a float or a
  bool (a pair of them for dicts); anything else runs in CPython.
* Compiled kernels are cached per process (the last KERNEL_CACHE_SIZE) by the hash of the
  pickled functions plus the shape, the source's kernel code and the argument types, so a second
  block with the same functions compiles nothing; and on disk (``engine.kernel_cache``), by that
  key and the files of the installed libraries' functions it compiles (they travel by
  reference: the pickled functions' hash does not change when the library does), so that
  another process of the worker, or the service restarted, loads the kernel instead of
  compiling it. Each compile and each load is reported (``report_to``): the worker counts them.
* A process computing a partition of a peer's task (``asking``) that lacks its kernel on disk
  asks that peer for it (through the service, in the thread that would compile it, while the
  partitions go on in CPython), and compiles it only if no usable entry comes
  (``engine.kernel_cache.adopt`` checks the peer's bytes as it checks a file of its own).
"""
from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import logging
import os
import textwrap
import types
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ufora.engine import (background_compiles, checked, code, compile_apart, kernel_cache, lifted, memory_limits,
                          reducers, rewriter, warned)
from ufora.engine.sources import numpy_parts, pattern_names

log = logging.getLogger(__name__)


@dataclass
class Kernel:
    function: Callable
    output_dtypes: Tuple[str, ...]  # numpy dtype names of the output buffers (collections)
    # whether it may compute as numpy would warn for (a floating-point flag, ``engine.fp_flags``):
    # over numpy's scalars, or calling numpy's functions (``checked.may_warn``)
    watches_flags: bool = False


KERNEL_CACHE_SIZE = 256
# The module the generated functions (kernels and clones) say they belong to: numba keeps a
# compiled function's environment with it on disk only for functions of a module, and finds
# that module again by name when it loads the function (``engine.kernel_cache``).
GENERATED_MODULE = __name__
_cache: "OrderedDict[Tuple, Optional[Kernel]]" = OrderedDict()
COMPILING = object()  # the kernel is being compiled behind the partitions (``compile_behind``)


def attach_loops(text: str) -> Callable[[Callable], Callable]:
    """The ``__ufora_loops__`` hook: marks a function with the text of its numba-ready twin
    (``engine.rewriter.loop_source``) and the code it is the twin of, so that a wrapper that
    copied the function's attributes (``functools.wraps``) does not pass for it."""
    def attach(function: Callable) -> Callable:
        function.__dict__[rewriter.LOOPS_HOOK] = (text, function.__code__)
        return function
    return attach


def _sum_checked(total, start, count, magnitude):
    """Typed by numba only (``_support``): an inner ``sum``'s total, or an error that sends the
    partition back to CPython when int64 could have wrapped, or when the sum was empty and a
    float total stands for CPython's int start."""
    raise NotImplementedError


@functools.lru_cache(maxsize=None)
def _support() -> Dict[str, Any]:
    """What twins call besides the user's functions, compiled; built on first use since it
    imports numba."""
    import numba
    from numba.core import types as nt
    from numba.extending import overload

    @overload(_sum_checked)
    def _typed(total, start, count, magnitude):
        if isinstance(total, nt.Integer):
            def checked(total, start, count, magnitude):
                if magnitude >= reducers.INT_EXACT_BOUND:
                    raise OverflowError("int64 could have wrapped")
                return total
        elif isinstance(total, nt.Float) and isinstance(start, (nt.Integer, nt.Boolean)):
            def checked(total, start, count, magnitude):
                if count == 0:
                    raise TypeError("CPython gives the int start")
                return total
        else:
            def checked(total, start, count, magnitude):
                return total
        return checked

    return {rewriter.SUM_CHECK: numba.njit(lambda total, start, count, magnitude:
                                           _sum_checked(total, start, count, magnitude))}


def _str_exactly(value):
    """Typed by numba only (``_text_support``): ``str`` of what numba formats as CPython does."""
    raise NotImplementedError


@functools.lru_cache(maxsize=None)
def _text_support() -> Callable:
    """``str`` for kernels: numba formats ints, bools and strings as CPython does, but a float
    as '<object type:float64>'; with any other argument type the kernel does not compile, and
    its shape runs in CPython."""
    import numba
    from numba.core import types as nt
    from numba.extending import overload

    @overload(_str_exactly)
    def _typed(value):
        if isinstance(value, (nt.Integer, nt.Boolean, nt.UnicodeType)):
            return lambda value: str(value)
        return None

    return numba.njit(lambda value: _str_exactly(value))


# Builtins whose numba versions misformat floats, and f-strings (FORMAT_VALUE) likewise:
# a function using them is not compiled.
_MISFORMATTING = {"repr", "format", "ascii"}


# ``type()`` and ``isinstance()`` are answered otherwise by numba: a Python float and a numpy
# float64 are one type to it, and an ``np.int64`` is an ``int`` to its ``isinstance``
_TYPE_TESTS = {"type", "isinstance"}


def _refuse_otherwise_answered(fn: types.FunctionType) -> None:
    import dis

    names = code.referenced_names(fn.__code__) - set(fn.__globals__)
    formats = any(ins.opname == "FORMAT_VALUE" for nested in code.nested_codes(fn.__code__)
                  for ins in dis.get_instructions(nested))
    if names & _MISFORMATTING or formats:
        raise TypeError(f"{fn.__qualname__} formats values as text, which numba does differently")
    if names & _TYPE_TESTS:
        raise TypeError(f"{fn.__qualname__} tests its values' types, which numba tells otherwise")


def _twin(fn: types.FunctionType, lifted_names: Tuple[str, ...] = ()) -> types.FunctionType:
    """The function to compile for ``fn``: its numba-ready twin, made with its globals, its
    closure's values and its defaults, or ``fn`` itself when it has none, when it is a wrapper
    of the function that had one, when a reduction the twin unrolls is not the builtin, or
    when ``fn`` is a lambda whose twin is itself as written (no loop unrolled) and takes
    nothing more.
    ``lifted_names``: names ``fn`` reads that the twin takes as parameters after its own
    (``engine.lifted``)."""
    text = lifted.twin_text(fn)
    free = fn.__code__.co_freevars
    values = [code.cell_contents(cell) for cell in fn.__closure__ or ()]
    if text is None or any(value is code.EMPTY for value in values):
        if lifted_names:  # fn itself would freeze the values the kernel must take as arguments
            raise TypeError(f"{fn.__qualname__} has no twin to take {', '.join(lifted_names)} as arguments")
        return fn
    statements = ast.parse(text).body
    if len(statements) == 1 and not lifted_names and fn.__code__.co_name == "<lambda>":
        return fn  # the rewriter's lambda as written (its twin was attached for engine.lifted)
    statements[-1].args.args += [ast.arg(arg=name) for name in lifted_names]
    support = _support()
    module = rewriter.enclosed(statements, [*free, *support], statements[-1].name)
    outer = next(c for c in compile(module, f"<twin of {fn.__qualname__}>", "exec", dont_inherit=True,
                                    flags=code.future_flags_of_code(fn.__code__.co_flags)).co_consts
                 if isinstance(c, types.CodeType))
    twin = types.FunctionType(outer, fn.__globals__)(*values, *support.values())
    twin.__defaults__, twin.__kwdefaults__ = fn.__defaults__, fn.__kwdefaults__
    return twin


def jit_clone(fn: Callable, memo: Dict[int, Callable], lifted_names: Tuple[str, ...] = ()) -> Callable:
    """An ``njit`` dispatcher for a copy of ``fn`` (or of its twin, ``_twin``, taking
    ``lifted_names`` as parameters after its own) whose globals and closure cells that hold
    plain Python functions are replaced by their own jitted copies (memoized by identity)."""
    import numba
    from numba.core.registry import CPUDispatcher

    if isinstance(fn, CPUDispatcher) or not isinstance(fn, types.FunctionType):
        return fn  # a builtin called by compiled code is replaced there by its check (engine.checked)
    key = id(fn)
    if key in memo:
        return memo[key]
    fn = _twin(fn, lifted_names)
    _refuse_otherwise_answered(fn)
    new_globals: Dict[str, Any] = {"__builtins__": fn.__globals__.get("__builtins__", __builtins__),
                                   "__name__": GENERATED_MODULE}
    if "str" in code.referenced_names(fn.__code__) and "str" not in fn.__globals__:
        new_globals["str"] = _text_support()
    closure = None
    if fn.__closure__:
        closure = tuple(types.CellType(jit_clone(cell.cell_contents, memo)) for cell in fn.__closure__)
    clone = types.FunctionType(fn.__code__, new_globals, fn.__name__, fn.__defaults__, closure)
    dispatcher = numba.njit(clone, pipeline_class=checked.compiler(), boundscheck=True)
    memo[key] = dispatcher
    for name in code.referenced_names(fn.__code__):
        if name in fn.__globals__:
            new_globals[name] = jit_clone(fn.__globals__[name], memo)
    return dispatcher


def _output_dtype(numba_type) -> Optional[str]:
    from numba.core import types as nt

    if isinstance(numba_type, nt.Boolean):
        return "bool"
    if isinstance(numba_type, nt.Integer) and numba_type.signed:
        return "int64"
    if isinstance(numba_type, nt.Float):
        return "float64"
    return None


def _element_call(pattern: Optional[str], indent: str = "        ", lifted_count: int = 0) -> Tuple[str, str]:
    """(the kernel line unpacking item ``x`` for a starred element, the element's arguments:
    the item or its parts, then the ``lifted_count`` values ``engine.lifted`` passes)."""
    passed = "".join(f", {name}" for name in _lifted_parameters(lifted_count))
    if pattern is None:
        return "", "x" + passed
    return f"{indent}{pattern} = x\n", ", ".join(pattern_names(pattern)) + passed


def _lifted_parameters(count: int) -> List[str]:
    """The kernel's parameters for the values ``engine.lifted`` passes (named apart from the
    templates' own locals)."""
    return [f"lifted_{index}" for index in range(count)]


def _lifted_types(count: int) -> List[Any]:
    import numba

    return [numba.float64] * count  # engine.lifted passes exact Python floats only


def _element_type(element: Callable, item_type, pattern: Optional[str], lifted_count: int = 0):
    """The numba type the element gives for an item of this type."""
    import numba

    unpack, args = _element_call(pattern, "    ", lifted_count)
    namespace = {"element": element}
    exec(f"def call({', '.join(['x', *_lifted_parameters(lifted_count)])}):\n{unpack}    return element({args})",
         namespace)
    call = numba.njit(namespace["call"])
    call.compile((item_type, *_lifted_types(lifted_count)))
    return call.nopython_signatures[0].return_type


def _outputs(reducer, element: Callable, item_type, pattern: Optional[str],
             lifted_count: int = 0) -> Optional[Tuple[str, ...]]:
    """The output buffers' dtypes for a collection, from the element's compiled return type."""
    from numba.core import types as nt

    returned = _element_type(element, item_type, pattern, lifted_count)
    parts = returned.types if isinstance(returned, nt.BaseTuple) else (returned,)
    if len(parts) != reducer.outputs:
        return None
    dtypes = tuple(_output_dtype(part) for part in parts)
    return None if None in dtypes else dtypes


@functools.lru_cache(maxsize=None)
def nan_tests() -> Dict[str, Callable]:
    """``is_nan(x)`` (a float NaN) and ``holds_nan(x)`` (a tuple with a NaN in it), for compiled
    min/max (``engine.reducers``): each compiles to ``x != x`` for its kind of value and to
    False for the others, so ints pay nothing."""
    from numba.core import types as nt
    from numba.extending import overload

    def is_nan(x):
        return x != x

    def holds_nan(x):
        return x != x

    @overload(is_nan)
    def _is_nan(x):
        return (lambda x: x != x) if isinstance(x, nt.Float) else (lambda x: False)

    @overload(holds_nan)
    def _holds_nan(x):
        return (lambda x: x != x) if isinstance(x, nt.BaseTuple) else (lambda x: False)

    return {"is_nan": is_nan, "holds_nan": holds_nan}


def _source_code(reducer, template: str, source, has_condition: bool, has_key: bool,
                 pattern: Optional[str], lifted_count: int = 0) -> str:
    """The kernel's source: the reducer's template with the source's parameters and item
    binding, and the element called with the item, or with its parts unpacked by ``pattern``
    (``{bind_inner}``/``{filter_inner}``: the same, one loop deeper), then with the values
    ``engine.lifted`` passes, which the kernel takes after the source's parameters."""
    params, bind = source.kernel_code()
    params = ", ".join(filter(None, [params, *_lifted_parameters(lifted_count)]))
    unpack, args = _element_call(pattern, lifted_count=lifted_count)
    filter_lines = reducers.filter_lines(has_condition, _element_call(pattern)[1])
    return template.format(
        params=params, bind=bind + unpack, filter=filter_lines,
        bind_inner=textwrap.indent(bind + unpack, "    "), filter_inner=textwrap.indent(filter_lines, "    "),
        rank="key(value)" if has_key else "value", operator=getattr(reducer, "operator", ""),
        test="" if getattr(reducer, "decides_on", True) else "not ",
        extra_output=", out1" if reducer.outputs == 2 else "",
        store=getattr(reducer, "store", "").format(args=args), args=args)


def _argument_types(source) -> tuple:
    """The numba types of the source's kernel arguments, with its data in place."""
    import numba

    return tuple(numba.typeof(argument) for argument in source.kernel_arguments())


def _item_type(source) -> Any:
    """The numba type of the source's items, with its data in place; what typing them raised in
    its place (``_build`` raises it, where numba's refusals are caught)."""
    try:
        return source.item_type()
    except Exception as exc:  # noqa: BLE001 - any of them means "not compiled"
        return exc


def _build(reducer, source, element, condition, key, pattern: Optional[str], argument_types: tuple,
           item_type, lifted_names: Tuple[str, ...] = ()) -> Optional[Kernel]:
    """The kernel (None: numba refused it). ``argument_types`` and ``item_type``: the source's,
    typed while its data was in place: a compile behind the partitions may begin after the
    partition that asked for it has let go of its shared arrays. ``lifted_names``: the names
    the element reads that the kernel takes as arguments (``engine.lifted``)."""
    try:
        if isinstance(item_type, Exception):
            raise item_type
        memo: Dict[int, Callable] = {}
        # a checked builtin passed as the function itself (map(math.log, a)) is called through
        # a plain function, which the checked compiler rewrites
        namespace: Dict[str, Any] = {"__name__": GENERATED_MODULE,
                                     "element": jit_clone(checked.calling(element) or element, memo, lifted_names)}
        if condition is not None:
            namespace["condition"] = jit_clone(checked.calling(condition) or condition, memo)
        if key is not None:
            namespace["key"] = jit_clone(checked.calling(key) or key, memo)
        # the functions that take the items, which are numpy scalars in CPython over an array
        named = [(name, namespace[name].py_func) for name in ("element", "condition", "key")
                 if hasattr(namespace.get(name), "py_func")]
        # a key is given the element's values, the element and the condition the items (or their parts)
        flags = numpy_parts(source, pattern)
        parts = checked.origins(flags)
        # the element's lifted arguments are Python floats
        lifted_parts = checked.origins((*(flags if isinstance(flags, tuple) else (flags,)),
                                        *(False,) * len(lifted_names))) if lifted_names else parts
        token = checked.numpy_arguments.set({function: source.numpy_items if name == "key"
                                             else lifted_parts if name == "element" else parts
                                             for name, function in named})
        record = checked.TypedFunctions()
        typed = checked.typed_functions.set(record)
        try:
            kernel = _compile(reducer, source, namespace, condition is not None, key is not None, pattern,
                              argument_types, item_type, len(lifted_names))
            if kernel is not None:
                element_function = getattr(namespace["element"], "py_func", None)
                kernel.watches_flags = record.may_warn or reducer is reducers.Sum and checked.element_sum_may_warn(
                    element_function, lifted_parts)
            return kernel
        finally:
            checked.typed_functions.reset(typed)
            checked.numpy_arguments.reset(token)
    except Exception as refusal:  # numba raises many types; any of them means "not compiled"
        log.debug("numba refused the %s kernel, running it in CPython: %s", reducer.name, refusal)
        return None


def _compile(reducer, source, namespace: Dict[str, Any], has_condition: bool, has_key: bool,
             pattern: Optional[str], argument_types: tuple, item_type, lifted_count: int = 0) -> Optional[Kernel]:
    """The kernel over the jitted functions in ``namespace``, compiled for this source's types;
    None when its elements are not numbers a collection can hold."""
    import numba

    signature = [*argument_types, *_lifted_types(lifted_count), numba.int64, numba.int64]
    dtypes: Tuple[str, ...] = ()
    if reducer.outputs:
        dtypes = _outputs(reducer, namespace["element"], item_type, pattern, lifted_count)
        if dtypes is None:
            log.debug("%s elements are not numbers: collecting them in CPython", reducer.name)
            return None
        signature += [numba.types.Array(numba.from_dtype(np.dtype(d)), 1, "C") for d in dtypes]
    namespace.update(nan_tests())
    template = reducer.template
    if hasattr(reducer, "template_for"):
        template = reducer.template_for(_element_type(namespace["element"], item_type, pattern, lifted_count))
    namespace["np"] = np
    exec(_source_code(reducer, template, source, has_condition, has_key, pattern, lifted_count), namespace)
    kernel = numba.njit(namespace["kernel"])
    kernel.compile(tuple(signature))
    return Kernel(kernel, dtypes)


def compiled(digest: str, reducer, source, element, condition, key,
             pattern: Optional[str] = None) -> Optional[Kernel]:
    """The cached compiled kernel for this job, or None if numba cannot compile it, or if it is
    compiling behind the partitions (``compile_behind``): this partition runs in CPython."""
    kernel = kernel_or_compiling(digest, reducer, source, element, condition, key, pattern)
    return None if kernel is COMPILING else kernel


def kernel_or_compiling(digest: str, reducer, source, element, condition, key,
                        pattern: Optional[str] = None, wait_own: bool = False,
                        deferring: bool = False, lifted_names: Tuple[str, ...] = ()) -> Any:
    """``compiled``'s kernel or None, or COMPILING while it compiles behind the partitions;
    ``wait_own``: if this process is the one compiling it, its kernel once compiled;
    ``deferring``: the shape asking ends before a compile would: a compile this process must
    make waits until the process is idle (``start_deferred_compiles``) or a shape asks for it
    that does not defer it. ``lifted_names``: the names the element reads that its kernel takes
    as arguments after the source's (``engine.lifted``; ``digest`` then names the functions
    without their values)."""
    if not source.compilable:
        return None
    argument_types = _argument_types(source)
    types_key = tuple(str(argument_type) for argument_type in argument_types)
    params, bind = source.kernel_code()
    cache_key = (digest, reducer.name, params, bind, types_key, pattern, numpy_parts(source, pattern), lifted_names)
    if cache_key in _cache:
        _cache.move_to_end(cache_key)
        return _cache[cache_key]
    item_type = _item_type(source)  # typed now, not per lookup of a kernel already found

    def build() -> Optional[Kernel]:
        # numba's compiler aborts the process when it cannot allocate; it sets the warnings
        # filters aside, which the block's code did not ask for
        warned.keep_filters_through_compiles()
        with memory_limits.reserve(), warned.engines_own():
            return _build(reducer, source, element, condition, key, pattern, argument_types, item_type,
                          lifted_names)

    kernel = _compiled_once(cache_key + (_library_files((element, condition, key)),), build, wait_own, deferring)
    if kernel is COMPILING:
        return kernel
    _cache[cache_key] = kernel
    if len(_cache) > KERNEL_CACHE_SIZE:
        _cache.popitem(last=False)
    return kernel


_behind: Optional[background_compiles.BackgroundCompiles] = None
# Who to ask for a kernel this process lacks, for the partition it computes now: the peer whose
# task it is, through the service (``asking``); None for a partition of this worker's own task.
_ask: contextvars.ContextVar[Optional[Callable[[str], None]]] = contextvars.ContextVar("ufora_kernel_ask",
                                                                                       default=None)
FETCH_PATIENCE = 15.0  # seconds a process waits for the answer (the service gives up on the peer before)


@contextlib.contextmanager
def asking(ask: Optional[Callable[[str], None]]) -> Iterator[None]:
    """Within: a kernel missing from the disk cache is asked for with ``ask(name)`` (its answer
    taken from the kernel folder) before it is compiled, compiling behind only (``compile_behind``),
    since a peer that has it saves this worker a compile of 0.2-6 s."""
    token = _ask.set(ask)
    try:
        yield
    finally:
        _ask.reset(token)


def compile_behind(enabled: bool) -> None:
    """With a kernel folder (``engine.kernel_cache``): compile each new kernel behind the first
    process that wants it (in a thread; deferred until the process is idle, in a child process
    at the lowest priority: ``_compiled_apart``) while the partitions run in CPython, and use it
    from the next partition after it is ready, here, or in another process once it is on disk
    (tiered execution: no block waits for numba). Without: the first partition compiles it and the others wait for it
    (``UFORA_COMPILE=first``). Set before the compute pool forks."""
    global _behind
    _behind = background_compiles.BackgroundCompiles() if enabled else None


def compiles_behind() -> bool:
    """Whether this process's kernels compile behind the partitions (``compile_behind``), which
    then never wait for numba."""
    return _behind is not None and kernel_cache.folder() is not None


def join_background_compiles(timeout: float) -> bool:
    """Wait for this process's background compiles, deferred ones started first (tests): True
    when none is left."""
    return _behind is None or _behind.join(timeout)


def deferred_for() -> Optional[float]:
    """Seconds the oldest compile deferred here (``kernel_or_compiling``'s ``deferring``) has
    waited for the process to be idle; None: none waits."""
    return None if _behind is None else _behind.deferred_for()


def start_deferred_compiles(idle: bool = True) -> None:
    """Start the compiles deferred here: the process has nothing else to do (``idle``: they run
    at the lowest priority), or they waited long enough while work kept coming (not ``idle``:
    the shapes that want them run now, and they run at the process's priority)."""
    if _behind is not None:
        _behind.start_deferred(idle)


_listeners: List[Callable[[str], None]] = []


def report_to(callback: Callable[[str], None]) -> None:
    """Call ``callback("compiled")`` each time numba compiles a kernel here (or refuses it),
    ``callback("loaded")`` each time one is loaded from the disk cache instead, and
    ``callback("fetched")`` each time one is taken from a peer."""
    _listeners[:] = [callback]


def _report(kind: str) -> None:
    for listener in _listeners:
        listener(kind)


def _compiled_once(key: Tuple, build: Callable[[], Optional[Kernel]], wait_own: bool = False,
                   deferring: bool = False) -> Any:
    """The kernel of ``key`` (None: numba refused it), from the disk cache, or built and kept
    there; while one process of the host builds it, another that wants it waits, then loads it;
    or, compiling behind, ``COMPILING`` until it is ready."""
    if kernel_cache.folder() is None:
        kernel = build()
        _report("compiled")
        return kernel
    name = kernel_cache.name_of(key)
    if _behind is not None:
        kernel = _compiled_behind(_behind, name, key, build, deferring)
        if kernel is COMPILING and wait_own and _behind.running(name):
            _behind.wait(name)
            kernel = _behind.poll(name)
            if kernel is background_compiles.RUNNING or kernel is background_compiles.ABSENT:
                kernel = COMPILING  # started only now, or made by another process
        return kernel
    with kernel_cache.claimed(name):
        found = _loaded(name, key)
        return _compiled_and_kept(name, key, build) if found is kernel_cache.MISSING else found


def _compiled_behind(behind: background_compiles.BackgroundCompiles, name: str, key: Tuple,
                     build: Callable[[], Optional[Kernel]], deferring: bool = False) -> Any:
    """The kernel if this process compiled it or can load it now; else ``COMPILING``, and its
    compile started here unless another process of the host is compiling it (then it is loaded
    from the disk cache by the first partition that asks after it is written); or, ``deferring``,
    its compile kept for when this process is idle, unclaimed until then: a process that wants
    it now is not kept waiting for one that is busy. A compile deferred here looks for the
    kernel on disk at each ask: a sibling that wanted it now compiled it meanwhile (a process
    kept busy by block after block ran a shape in CPython on every run while the other used
    the kernel its sibling had written)."""
    state = behind.poll(name, deferring)
    if state is background_compiles.DEFERRED:  # waiting here for an idle moment: a sibling may have it
        found = _loaded(name, key)
        if found is kernel_cache.MISSING:
            return COMPILING
        behind.forget(name)
        return found
    if state is background_compiles.RUNNING:
        return COMPILING
    if state is not background_compiles.ABSENT:
        return state
    found = _loaded(name, key)  # entries are written whole (renamed into place): no claim needed to read
    if found is not kernel_cache.MISSING:
        return found
    ask = _ask.get()
    if deferring:
        behind.defer(name, lambda wanted: _claimed_and_compiled(name, key, build, ask, wanted))
        return COMPILING
    claim = kernel_cache.try_claim(name)
    if claim is None:
        return COMPILING
    try:
        found = _loaded(name, key)  # written while we looked
    except BaseException:
        kernel_cache.release(claim)
        raise
    if found is not kernel_cache.MISSING:
        kernel_cache.release(claim)
        return found

    def compile_and_release() -> Optional[Kernel]:
        try:
            return _compiled_and_kept(name, key, build) if ask is None else _fetched_or_compiled(name, key, build, ask)
        finally:
            kernel_cache.release(claim)

    behind.start(name, compile_and_release)
    return COMPILING


def _claimed_and_compiled(name: str, key: Tuple, build: Callable[[], Optional[Kernel]],
                          ask: Optional[Callable[[str], None]], wanted: bool = False) -> Any:
    """A deferred compile, once started: the kernel, compiled (or loaded, if another process
    wrote it meanwhile); ``background_compiles.ABSENT`` if another process is compiling it."""
    claim = kernel_cache.try_claim(name)
    if claim is None:
        return background_compiles.ABSENT
    try:
        found = _loaded(name, key)
        if found is not kernel_cache.MISSING:
            return found
        # a child either way (no interpreter lock shared with the partitions): at the lowest
        # priority for a later run (the process was idle), at the process's own where a shape
        # wants the kernel after all (``engine.compile_apart``)
        compile = functools.partial(_compiled_apart, nice=compile_apart.WANTED_NICE if wanted else compile_apart.NICE)
        return compile(name, key, build) if ask is None else _fetched_or_compiled(name, key, build, ask, compile)
    finally:
        kernel_cache.release(claim)


def _fetched_or_compiled(name: str, key: Tuple, build: Callable[[], Optional[Kernel]],
                         ask: Callable[[str], None],
                         compile: Optional[Callable[[str, Tuple, Callable[[], Optional[Kernel]]], Optional[Kernel]]]
                         = None) -> Optional[Kernel]:
    """The kernel from the peer whose partition wants it (asked for through the service, its
    bytes checked as a file of ours is, then kept as one), else built and kept by ``compile``
    (with the claim of ``name`` held)."""
    kernel_cache.forget_answer(name)  # an answer to an earlier question, taken by no one
    ask(name)
    data = kernel_cache.take_answer(name, FETCH_PATIENCE)
    found = kernel_cache.MISSING if data is None else kernel_cache.adopt(name, key, data, "the peer")
    if found is kernel_cache.MISSING:
        return (compile or _compiled_and_kept)(name, key, build)
    _report("fetched")
    return None if found is None else Kernel(*found)


def _loaded(name: str, key: Tuple) -> Any:
    """Entry ``name`` as a kernel (None: numba refused it), or ``kernel_cache.MISSING``."""
    found = kernel_cache.load(name, key)
    if found is kernel_cache.MISSING:
        return found
    _report("loaded")
    return None if found is None else Kernel(*found)


def _compiled_and_kept(name: str, key: Tuple, build: Callable[[], Optional[Kernel]]) -> Optional[Kernel]:
    """The kernel built, and kept in the disk cache (with the claim of ``name`` held)."""
    kernel = build()
    _report("compiled")
    _kept(name, key, kernel)
    return kernel


def _kept(name: str, key: Tuple, kernel: Optional[Kernel]) -> bool:
    """Whether ``kernel`` (None: numba refused it) was written to the disk cache: not where numba
    cannot reduce it (it is compiled again next time)."""
    try:
        frozen = None if kernel is None else kernel_cache.freeze(kernel.function, kernel.output_dtypes,
                                                                  kernel.watches_flags)
    except Exception as exc:
        log.warning("kernel cache: a compiled kernel could not be kept (%r)", exc)
        return False
    if kernel is not None and frozen is None:
        return False
    kernel_cache.save(name, key, frozen)
    return True


def _built_in_child(name: str, key: Tuple, build: Callable[[], Optional[Kernel]]) -> bool:
    """``_compiled_apart``'s child: the kernel built and kept. Its functions' names are its own
    (``kernel_cache.distinct_symbols``): it counts from its parent's counter otherwise, and two
    children of one process gave one name to two kernels."""
    kernel_cache.distinct_symbols()
    return _kept(name, key, build())


def _compiled_apart(name: str, key: Tuple, build: Callable[[], Optional[Kernel]],
                    nice: int = compile_apart.NICE) -> Optional[Kernel]:
    """``_compiled_and_kept`` for a compile deferred for a shape that ends before a compile would
    (for its next run): built in a child process (``engine.compile_apart``), which shares no GIL
    with the next blocks' partitions, at ``nice`` (the lowest, taking only what the cores leave
    idle, where the process was idle; its own where a shape wanted the kernel after all), then
    loaded from the disk cache; built here where the child could not keep it there (numba cannot
    reduce it, the folder cannot be written); None (CPython) where the child died. A compile a
    shape wants from its start is built in its thread, as before."""
    ended = compile_apart.run(lambda: _built_in_child(name, key, build), nice)
    if ended is None:
        return None
    found = kernel_cache.load(name, key) if ended == compile_apart.KEPT else kernel_cache.MISSING
    if found is kernel_cache.MISSING:
        return _compiled_and_kept(name, key, build)
    _report("compiled")
    return None if found is None else Kernel(*found)


def _library_files(roots: Tuple[Any, ...]) -> Tuple[Tuple[str, int, int], ...]:
    """(file, size, modification time) of the file of each function the kernel may compile that
    is not the user's (an installed library's): those travel by reference, so the hash of the
    pickled functions stays the same when the library changes; the disk cache's key must not."""
    def leads_to(value: Any) -> list:
        if not isinstance(value, types.FunctionType):
            return []
        named = [value.__globals__[name] for name in code.referenced_names(value.__code__)
                 if name in value.__globals__]
        return named + [code.cell_contents(cell) for cell in value.__closure__ or ()]

    files = {value.__code__.co_filename for value in code.reachable(roots, leads_to)
             if isinstance(value, types.FunctionType) and not code.written_by_user(value)}
    stamps = []
    for file in sorted(files):
        try:
            status = os.stat(file)
            stamps.append((file, status.st_size, status.st_mtime_ns))
        except OSError:
            stamps.append((file, -1, -1))
    return tuple(stamps)


def warm_up() -> None:
    """Compile throw-away kernels so numba's one-time initialisation (about 0.25 s) is paid
    before the compute pool forks, not by every process on the first job."""
    from ufora.engine.sources import RangeSource

    kernel_cache.fingerprint()  # reads the engine's files: once, before the fork
    source = RangeSource(range(10))
    _build(reducers.Sum, source, lambda x: x + 1, lambda x: x > 0, None, None, _argument_types(source),
           _item_type(source))
