"""Exceptions travel with their traceback, cause and context.

pickle keeps an exception's class, ``args`` and ``__dict__`` only: an exception a block caught
and kept (``except ValueError as err: errors.append(err)``, a loop collecting bad records) came
back with no ``__traceback__``, ``__cause__`` or ``__context__``, so ``raise ... from`` was lost
and ``traceback.format_exception(err)`` printed one line where CPython prints the stack and the
chain, as a user's trial found.

An exception that has any of them is pickled with them: its cause and context as objects (their
own state so too), its traceback as the file, function and line of each entry. The other side
remakes the traceback as a chain of real traceback objects over stand-in frames, each with the
entry's file and function name, so ``traceback`` prints the same stack, the source lines read
from the same files (the stand-in frames hold no variables: ``capture_locals`` shows none). An
exception with none of them is pickled as before.
"""
from __future__ import annotations

import functools
import sys
import types
from typing import List, Optional, Tuple

_ENTRIES_AT_MOST = 1000  # a traceback's entries kept (the innermost ones, where a recursion is deep)
Entry = Tuple[str, str, int]  # file, function, line


def reduction(exception: BaseException, protocol: int) -> Optional[tuple]:
    """How to pickle ``exception`` with its traceback, cause and context; None: it has none of
    them, or its own reduction is not the plain (callable, args, state) this one can extend."""
    if exception.__traceback__ is None and exception.__cause__ is None and exception.__context__ is None:
        return None
    reduced = exception.__reduce_ex__(protocol)
    if not isinstance(reduced, tuple) or len(reduced) < 2 or any(part is not None for part in reduced[3:]):
        return None
    state = reduced[2] if len(reduced) > 2 else None
    extra = (state, _entries(exception.__traceback__), exception.__cause__, exception.__context__,
             exception.__suppress_context__)
    return reduced[0], reduced[1], extra, None, None, _with_state


def _entries(traceback: Optional[types.TracebackType]) -> List[Entry]:
    entries: List[Entry] = []
    while traceback is not None:
        code = traceback.tb_frame.f_code
        entries.append((code.co_filename, code.co_name, traceback.tb_lineno))
        traceback = traceback.tb_next
    return entries[-_ENTRIES_AT_MOST:]


def _with_state(exception: BaseException, extra: tuple) -> BaseException:
    """The pickle's state setter: the exception's own state, then its chain and traceback."""
    state, entries, cause, context, suppress = extra
    if state:
        exception.__setstate__(state)  # type: ignore[attr-defined]  # BaseException's
    exception.__cause__, exception.__context__ = cause, context
    exception.__suppress_context__ = suppress
    exception.__traceback__ = _traceback(entries)
    return exception


def _traceback(entries: List[Entry]) -> Optional[types.TracebackType]:
    traceback = None
    for filename, name, line in reversed(entries):
        traceback = types.TracebackType(traceback, _frame(str(filename), str(name)), -1, int(line))
    return traceback


def _stand_in() -> types.FrameType:
    return sys._getframe()


@functools.lru_cache(maxsize=256)
def _stand_in_code(filename: str, name: str) -> types.CodeType:
    return _stand_in.__code__.replace(co_filename=filename, co_name=name, co_qualname=name)


def _frame(filename: str, name: str) -> types.FrameType:
    """A frame whose code has this file and function name: what a traceback entry shows."""
    return types.FunctionType(_stand_in_code(filename, name), {"sys": sys})()
