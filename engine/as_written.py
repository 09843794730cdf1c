"""Functions as the user wrote them, for what a block sends back to its client.

On the cluster a block runs rewritten: its parallel shapes call the engine's hooks
(``__ufora_reduce__``, ...), and a function holding a loop numba may compile is marked with its
twin (``__ufora_loops__``). A function the block defines, or one of the user's it rewrote, that
went back to the client as it ran there would carry that code: calling it would need the hooks,
so they were added to the user's module (its ``globals()`` gained names CPython's never has),
and its ``__dict__`` held the mark. So each rewritten function's code is paired here with the
code the user wrote (compiled from the same text), and the results' pickle (``remote_values``)
sends a copy of the function with that code and without the mark: the client gets the function
its own CPython would have made. Where it runs in a later block, the engine rewrites it again.

Code objects are paired by name, first line and signature, and only where each is unique on both
sides and their free variables agree: a pair that cannot be told apart keeps the code that ran.
"""
from __future__ import annotations

import inspect
import types
import weakref
from typing import Dict, Iterator, Optional

from ufora.engine import rewriter
from ufora.engine.code import nested_codes

# rewritten code -> the user's; weak, so that a block's code, once no function runs it, goes
_ORIGINALS: "weakref.WeakKeyDictionary[types.CodeType, types.CodeType]" = weakref.WeakKeyDictionary()
# a rewritten copy of a function the client sent -> that function
_COPIED_FROM: "weakref.WeakKeyDictionary[types.FunctionType, types.FunctionType]" = weakref.WeakKeyDictionary()


def _place(code: types.CodeType) -> tuple:
    """What tells a function's code from the others of a text: its name, first line and
    signature (its parameters' names and kinds). Not its qualified name: the rewriter wraps a
    ``map``/``apply`` argument in a lambda of its own, which nests the user's lambdas there one
    level deeper than as written."""
    parameters = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS) \
        + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return (code.co_name, code.co_firstlineno, code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
            code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS), code.co_varnames[:parameters])


def _by_place(codes: Iterator[types.CodeType]) -> Dict[tuple, Optional[types.CodeType]]:
    """Code objects by ``_place``; None where two share a place (they stay as they ran)."""
    found: Dict[tuple, Optional[types.CodeType]] = {}
    for code in codes:
        place = _place(code)
        found[place] = None if place in found else code
    return found


def remember(rewritten: types.CodeType, written: types.CodeType) -> None:
    """Pair the functions nested in ``rewritten`` (code compiled from the rewritten text) with
    those in ``written`` (the same text compiled as the user wrote it)."""
    originals = _by_place(nested_codes(written))
    for place, code in _by_place(nested_codes(rewritten)).items():
        original = originals.get(place)
        if code is not None and original is not None and code is not original:
            _pair(code, original)


def remember_function(rewritten: types.FunctionType, written: types.FunctionType) -> None:
    """``rewritten`` is the engine's copy of the user's function ``written``: a result that holds
    it refers to ``written`` where the client sent it (``copied_from``); their codes are paired,
    and so are the functions nested in them."""
    _COPIED_FROM[rewritten] = written
    _pair(rewritten.__code__, written.__code__)
    remember(rewritten.__code__, written.__code__)


def copied_from(function: types.FunctionType) -> types.FunctionType:
    """The user's function ``function`` is the engine's rewritten copy of, else itself: a
    block's ``h = helper`` gives the client its own ``helper`` back, as in CPython. Not where
    the block changed the copy (an attribute, its defaults, its code): the copy, with the
    change, goes back."""
    original = _COPIED_FROM.get(function)
    if original is None or not _unchanged(function, original):
        return function
    return original


def _unchanged(copy: types.FunctionType, original: types.FunctionType) -> bool:
    attributes = {name: value for name, value in copy.__dict__.items() if name != rewriter.LOOPS_HOOK}
    return (_ORIGINALS.get(copy.__code__) is original.__code__ and attributes == original.__dict__
            and copy.__defaults__ == original.__defaults__ and copy.__kwdefaults__ == original.__kwdefaults__)


def _pair(code: types.CodeType, original: types.CodeType) -> None:
    if code.co_freevars == original.co_freevars:  # the closure's cells fit either
        _ORIGINALS[code] = original


def written(function: types.FunctionType) -> Optional[types.FunctionType]:
    """A copy of ``function`` with the code the user wrote and without the engine's mark, or
    None where it runs the user's code as it is."""
    original = _ORIGINALS.get(function.__code__)
    marked = rewriter.LOOPS_HOOK in function.__dict__
    if original is None and not marked:
        return None
    copy = types.FunctionType(original or function.__code__, function.__globals__, function.__name__,
                              function.__defaults__, function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__, copy.__module__, copy.__doc__ = function.__qualname__, function.__module__, function.__doc__
    copy.__annotations__ = function.__annotations__
    copy.__dict__.update((name, value) for name, value in function.__dict__.items() if name != rewriter.LOOPS_HOOK)
    return copy
