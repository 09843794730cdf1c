"""A shape's free floats, passed to its kernel as arguments rather than frozen into it.

numba freezes the globals and closure values a compiled function reads: a shape reading a float
parameter (``sum(math.exp(-a * x) for x in range(n))`` for each ``a`` of a sweep) compiled a new
kernel for each value, 0.2-6 s each, and a block looping over eight parameters took 3.0 s where
CPython took 1.9 s. So the floats an element reads (a global's value or a closure cell's) become
parameters of its numba-ready twin (``engine.kernels._twin``) and arguments of its kernel, and
the task's pickled functions hold a placeholder where they were: the kernel is named by that
pickle (``engine.tasks``), the same for every value, and the values travel beside it, put back
into the functions where a process unpickles them (CPython partitions read them as they were).

Only exact Python floats (a numpy float64 warns and divides otherwise, an int has no fixed
width), only names that the element's own body reads and never assigns, only for an element
without defaults (its twin's parameters are its own, then the lifted ones), and only for one
whose twin is known (the rewriter attaches one to each lambda it makes): a helper or an inner
function reading the same name keeps it frozen, and its value is in the pickle that names the
kernel, as before.
"""
from __future__ import annotations

import ast
import functools
import types
from typing import Any, FrozenSet, Optional, Sequence, Tuple

from ufora.engine import code, rewriter

PLACEHOLDER = "ufora: a float passed to the kernel as an argument"  # what the pickle holds instead


def twin_text(fn: Any) -> Optional[str]:
    """The numba-ready twin's text the rewriter attached to ``fn`` (``rewriter.LOOPS_HOOK``), if
    it is still ``fn``'s own and the reductions it unrolls are the builtins (no global or free
    variable of ``fn`` takes their names)."""
    if not isinstance(fn, types.FunctionType):
        return None
    attached = fn.__dict__.get(rewriter.LOOPS_HOOK)
    if attached is None or attached[1] != fn.__code__ or not rewriter.REDUCTIONS.isdisjoint(fn.__globals__) \
            or not rewriter.REDUCTIONS.isdisjoint(fn.__code__.co_freevars):
        return None
    return attached[0]


def liftable(fn: Any) -> Tuple[str, ...]:
    """The names ``fn`` reads that hold an exact Python float and that only its own body reads
    (sorted); () when none, or when ``fn`` has no twin to take them as parameters."""
    text = twin_text(fn)
    if text is None or fn.__defaults__ or fn.__kwdefaults__:  # a default would take a lifted argument's place
        return ()
    floats = {name for name, value in _read_values(fn).items() if type(value) is float}
    return tuple(sorted(floats & _read_by_its_body_alone(text))) if floats else ()


@functools.lru_cache(maxsize=1024)
def _read_by_its_body_alone(text: str) -> FrozenSet[str]:
    """The names the twin's main function reads in its own scope and nothing else of the twin
    reads or assigns (not a helper, an inner function or comprehension, nor an assignment):
    empty where the twin could not take more parameters. Cached: a shape in a loop comes with
    the same text each time."""
    *helpers, main = ast.parse(text).body
    if not isinstance(main, ast.FunctionDef) or main.args.vararg or main.args.kwarg or main.args.kwonlyargs \
            or main.args.posonlyargs:
        return frozenset()
    read = {name.id for name in ast.walk(main) if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Load)}
    kept = {arg.arg for arg in main.args.args}
    for node in helpers:
        kept |= {name.id for name in ast.walk(node) if isinstance(name, ast.Name)}
    for node in ast.walk(main):
        if isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ListComp,
                             ast.SetComp, ast.DictComp, ast.GeneratorExp)) and node is not main:
            kept |= {name.id for name in ast.walk(node) if isinstance(name, ast.Name)}
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            kept.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            kept.update(node.names)
    return frozenset(read - kept)


def _read_values(fn: types.FunctionType) -> dict:
    """The values of the names ``fn``'s own code reads: its closure cells', then its globals'."""
    values = {name: code.cell_contents(cell) for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ())}
    for name in fn.__code__.co_names:
        if name not in values and name in fn.__globals__:
            values[name] = fn.__globals__[name]
    return values


def values(fn: Any, names: Sequence[str]) -> Tuple[float, ...]:
    """The values of ``names`` (``liftable``'s) as ``fn`` reads them."""
    if not names:
        return ()
    read = _read_values(fn)
    return tuple(read[name] for name in names)


def blanked(fn: types.FunctionType, names: Sequence[str]) -> types.FunctionType:
    """A copy of ``fn`` reading ``PLACEHOLDER`` where it read ``names``: what the task pickles."""
    free = fn.__code__.co_freevars
    closure = tuple(types.CellType(PLACEHOLDER) if name in names else cell
                    for name, cell in zip(free, fn.__closure__ or ())) or None
    lifted_globals = [name for name in names if name not in free]
    module_globals = {**fn.__globals__, **dict.fromkeys(lifted_globals, PLACEHOLDER)} if lifted_globals \
        else fn.__globals__
    copy = types.FunctionType(fn.__code__, module_globals, fn.__name__, fn.__defaults__, closure)
    copy.__kwdefaults__, copy.__qualname__, copy.__module__ = fn.__kwdefaults__, fn.__qualname__, fn.__module__
    copy.__dict__.update(fn.__dict__)
    return copy


def restore(fn: Any, names: Sequence[str], given: Sequence[float]) -> None:
    """Put the values back into a ``blanked`` copy, once unpickled (its cells and globals are
    its own there)."""
    if not names:
        return
    free = fn.__code__.co_freevars
    for name, value in zip(names, given):
        if name in free:
            fn.__closure__[free.index(name)].cell_contents = value  # type: ignore[index]
        else:
            fn.__globals__[name] = value
