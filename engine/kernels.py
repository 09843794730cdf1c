"""Kernels: the code that computes one partition, compiled with numba when it can be.

Contract: a kernel gives exactly what CPython gives for the same partition, or it is not used.

* The element function, its filter and every plain Python function they reach through globals or
  closure cells are cloned and ``njit``-ed (recursively; cycles are fine because numba compiles
  lazily). The originals are never modified, so the CPython fallback still has them.
* If numba refuses any part (typing, unsupported construct, anything at all), the job runs in
  CPython, still in parallel: fallback per job, never per element, never an error. Why numba
  refused is logged at debug level.
* If a compiled partition raises, it is recomputed in CPython, so the exception (type, message,
  traceback) is CPython's own.
* Integer sums run in int64 with a running float64 bound of the magnitudes; a partition whose
  bound could have wrapped is recomputed in CPython with exact Python ints.
* Compiled kernels are cached per process by a key the caller gives (a hash of the pickled
  element and filter functions), so a second block with the same functions compiles nothing.
"""
from __future__ import annotations

import logging
import types
from typing import Any, Callable, Dict, Optional, Tuple

log = logging.getLogger(__name__)

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# A float64 bound of |partial sums| below this cannot hide an int64 wrap-around.
EXACT_INT_BOUND = float(2 ** 62)

Partial = Tuple[bool, Any]  # (has_value, value): a partition with no elements has no value

_SUM_TEMPLATE = """
def sum_kernel(start, step, lo, hi):
    total = 0
    magnitude = 0.0
    for i in range(lo, hi):
        x = start + i * step
        {filter_line}
        value = element(x)
        total += value
        if value < 0:
            magnitude -= value
        else:
            magnitude += value
    return total, magnitude
"""

_kernel_cache: Dict[str, Optional[Callable]] = {}


def _referenced_names(code: types.CodeType) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _referenced_names(const)
    return names


def jit_clone(fn: Callable, memo: Dict[int, Callable]) -> Callable:
    """An ``njit`` dispatcher for a copy of ``fn`` whose globals and closure cells that hold plain
    Python functions are replaced by their own jitted copies (memoized by identity)."""
    import numba
    from numba.core.registry import CPUDispatcher

    if isinstance(fn, CPUDispatcher):
        return fn
    key = id(fn)
    if key in memo:
        return memo[key]
    new_globals: Dict[str, Any] = {"__builtins__": fn.__globals__.get("__builtins__", __builtins__)}
    closure = None
    if fn.__closure__:
        closure = tuple(types.CellType(_jit_value(cell.cell_contents, memo)) for cell in fn.__closure__)
    clone = types.FunctionType(fn.__code__, new_globals, fn.__name__, fn.__defaults__, closure)
    dispatcher = numba.njit(clone)
    memo[key] = dispatcher
    for name in _referenced_names(fn.__code__):
        if name in fn.__globals__:
            new_globals[name] = _jit_value(fn.__globals__[name], memo)
    return dispatcher


def _jit_value(value: Any, memo: Dict[int, Callable]) -> Any:
    if isinstance(value, types.FunctionType):
        return jit_clone(value, memo)
    return value


def _build_sum_kernel(element: Callable, condition: Optional[Callable]) -> Optional[Callable]:
    import numba

    memo: Dict[int, Callable] = {}
    namespace: Dict[str, Any] = {"element": jit_clone(element, memo)}
    if condition is not None:
        namespace["condition"] = jit_clone(condition, memo)
        filter_line = "if not condition(x):\n            continue"
    else:
        filter_line = "pass"
    exec(_SUM_TEMPLATE.format(filter_line=filter_line), namespace)
    kernel = numba.njit(namespace["sum_kernel"])
    try:
        kernel.compile((numba.int64,) * 4)
    except Exception as refusal:  # numba raises many types; any of them means "not compiled"
        log.debug("numba refused the kernel, running it in CPython: %s", refusal)
        return None
    return kernel


def compiled_sum_kernel(key: str, element: Callable, condition: Optional[Callable]) -> Optional[Callable]:
    """The cached compiled kernel for these functions, or None if numba cannot compile them."""
    if key not in _kernel_cache:
        _kernel_cache[key] = _build_sum_kernel(element, condition)
    return _kernel_cache[key]


def python_sum_partition(element: Callable, condition: Optional[Callable],
                         start: int, step: int, lo: int, hi: int) -> Partial:
    """CPython's left-to-right sum of one partition, starting from its first element."""
    has_value, total = False, None
    for i in range(lo, hi):
        x = start + i * step
        if condition is not None and not condition(x):
            continue
        value = element(x)
        total = (total + value) if has_value else value
        has_value = True
    return has_value, total


def fits_int64(start: int, step: int, length: int) -> bool:
    last = start + (length - 1) * step if length else start
    return INT64_MIN <= min(start, last) and max(start, last) <= INT64_MAX


def sum_partition(kernel: Optional[Callable], element: Callable, condition: Optional[Callable],
                  start: int, step: int, lo: int, hi: int) -> Partial:
    """One partition's partial sum: compiled when a kernel is given and its answer is exact."""
    if kernel is not None:
        try:
            total, magnitude = kernel(start, step, lo, hi)
        except Exception:  # recompute so that the exception raised is CPython's own
            log.debug("compiled partition [%d, %d) raised; recomputing in CPython", lo, hi)
        else:
            if not (isinstance(total, int) and magnitude >= EXACT_INT_BOUND):
                return True, total
    return python_sum_partition(element, condition, start, step, lo, hi)


def combine_sum(partials: list) -> Any:
    """Partials in partition order, added left to right onto sum()'s start value 0."""
    total: Any = 0
    for has_value, value in partials:
        if has_value:
            total = total + value
    return total


def warm_up() -> None:
    """Compile a throw-away kernel so numba's one-time initialisation (about 0.25 s) is paid
    before the compute pool forks, not by every process on the first job."""
    _build_sum_kernel(lambda x: x + 1, lambda x: x > 0)
