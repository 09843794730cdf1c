"""Generators a block leaves in its variables, sent back as the generators they are.

``squares = (x * x for x in xs); total = sum(squares)`` leaves ``squares`` bound to a spent
generator, and ``g = (i for i in range(3))`` one not started yet; CPython simply ends the block
with them bound. pickle refuses every generator, so the whole block failed ("the value of 'g'
(generator) cannot be sent back to the client"), as a user's trial found.

* A generator that has ended (its frame is gone: it ran out, returned, raised or was closed)
  holds nothing: it travels as a generator of the same name and qualified name that has ended,
  both ways. ``next()`` raises ``StopIteration`` on it, as on the original.
* A generator expression that has not ended travels back to the client only, and only where
  its whole state is its iterator: one ``for`` (a second one's iterator lives on the frame's
  stack), no variable of an enclosing function (a cell the client's function would not share),
  and an iterator that keeps its place when pickled (``range``'s, a list's, a tuple's, a string's:
  not a dict's or a set's, which pickle as a list of what is left).
  It arrives as the same expression over that iterator, which gives the items the original
  had still to give. Not the other way: a generator the client sends and the cluster advances
  would be left where it was here.

Any other generator (a generator function's, started; one of two ``for`` clauses) is still
refused, with pickle's own message.
"""
from __future__ import annotations

import contextlib
import contextvars
import dis
import types
from typing import Any, Callable, Iterator, Optional, Tuple

# iterators whose pickle is their sequence and their place in it: a dict's or a set's pickles as
# a list of the rest, which a change of the dict after the block would not reach (CPython's
# generator then raises "dictionary changed size during iteration")
_KEEPING_THEIR_PLACE = frozenset({"range_iterator", "longrange_iterator", "list_iterator", "tuple_iterator",
                                  "list_reverseiterator", "str_ascii_iterator", "str_iterator", "bytes_iterator"})
_sending_back: contextvars.ContextVar[bool] = contextvars.ContextVar("ufora_generators_back", default=False)


@contextlib.contextmanager
def sending_back() -> Iterator[None]:
    """Within: values are pickled for the client (a block's results), where a generator
    expression that has not ended may go."""
    token = _sending_back.set(True)
    try:
        yield
    finally:
        _sending_back.reset(token)


def reduction(generator: types.GeneratorType) -> Optional[Tuple[Callable, tuple]]:
    """How to pickle ``generator``, or None: pickle refuses it, as before."""
    frame = generator.gi_frame
    if frame is None:
        return _ended, (generator.__name__, generator.__qualname__)
    if not _sending_back.get() or generator.gi_running or not _resumable(generator.gi_code):
        return None
    iterator = frame.f_locals.get(".0")
    if type(iterator).__name__ not in _KEEPING_THEIR_PLACE:
        return None
    function = types.FunctionType(generator.gi_code, frame.f_globals, generator.__name__)
    function.__qualname__ = generator.__qualname__
    return _resumed, (function, iterator)


def _resumable(code: types.CodeType) -> bool:
    """Whether a generator of ``code`` is a generator expression whose iterator is its whole state."""
    return (code.co_name == "<genexpr>" and not code.co_freevars
            and sum(1 for instruction in dis.get_instructions(code) if instruction.opname == "FOR_ITER") == 1)


def _ended(name: str, qualname: str) -> types.GeneratorType:
    def ended():
        return
        yield  # (unreachable: it makes ``ended`` a generator function)
    generator = ended()
    generator.__name__, generator.__qualname__ = name, qualname
    generator.close()
    return generator


def _resumed(function: Callable[[Any], types.GeneratorType], iterator: Any) -> types.GeneratorType:
    return function(iterator)
