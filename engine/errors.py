"""Errors travel as data: the pickled exception when it pickles, its type and message as text
always, and the traceback text with the user's own files and lines (engine frames removed).

An exception is pickled as its parts (``parts``): its type, ``args``, the fields the
interpreter keeps outside ``__dict__`` (``OSError.errno``, ``StopIteration.value``...) and its
``__dict__``, each attribute that cannot be pickled left out. ``rebuilt`` puts it back together
without depending on its ``__init__``: a user's exception whose ``__init__`` takes other
parameters than its ``args`` (``MyError(code, text)`` calling ``super().__init__(text)``), which
plain pickling cannot re-create, arrives whole.

The exceptions chained to it travel with it (``chained``): its ``__cause__`` (``raise ... from
missing``), its ``__context__`` (raised while another was handled) and ``__suppress_context__``
(``from None``), and theirs, each pickled on its own (one that does not unpickle arrives as a
``RuntimeError`` with its text), cycles kept as cycles, at most ``CHAIN_LIMIT`` exceptions (a
longer chain is cut there). The traceback text shows the chain as CPython prints it.

An exception raised in another process and raised again here must keep that chain: a ``raise``
sets ``__context__`` to the exception being handled where it runs (the client's ``SkipBody``, an
engine's own), so ``reraise`` puts its context back; and the exception handled here, if any, is
what CPython would have made the context of the exception at the end of the chain, the first one
raised (``in_context``).
"""
from __future__ import annotations

import collections
import os
import traceback
import types
from dataclasses import dataclass
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Tuple

from ufora.engine import serialization

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
# kept by BaseException itself, or the traceback machinery: never copied from one error to another
_NOT_FIELDS = frozenset({"args", "__traceback__", "__cause__", "__context__", "__suppress_context__",
                         "__dict__", "__notes__"})
# At most this many exceptions of a chain travel (a recursion that chains one at every level
# would otherwise send them all): the link to the next one is cut.
CHAIN_LIMIT = 100


class InvalidPyforaOperation(Exception):
    """The block did something that cannot be done on the cluster as it would be here (read this
    client's standard input). pyfora's name for it: ``pyfora.InvalidPyforaOperation``."""


class UnconvertibleValueError(Exception):
    """A value the client sent cannot be rebuilt on the cluster (its class's module is not
    installed there). pyfora's name for it: ``pyfora.UnconvertibleValueError``."""


@dataclass
class RemoteError:
    type_name: str
    message: str
    trace: str
    pickled: Optional[bytes] = None

    def exception(self) -> BaseException:
        """The original exception object when it unpickles here, else a RuntimeError with its text."""
        if self.pickled is not None:
            try:
                return serialization.loads(self.pickled)
            except Exception:
                pass
        return RuntimeError(f"{self.type_name}: {self.message}")


def _user_frame(frame: traceback.FrameSummary) -> bool:
    return not os.path.abspath(frame.filename).startswith(_ENGINE_DIR + os.sep)


def fields(exc: BaseException) -> Dict[str, Any]:
    """The attributes the interpreter's own exception types keep outside ``__dict__`` (those set,
    of every built-in exception class ``exc`` derives from)."""
    found: Dict[str, Any] = {}
    for kind in type(exc).__mro__:
        if kind.__module__ != "builtins" or not issubclass(kind, BaseException):
            continue
        for name, attribute in vars(kind).items():
            if name in _NOT_FIELDS or name in found or not isinstance(
                    attribute, (types.MemberDescriptorType, types.GetSetDescriptorType)):
                continue
            value = getattr(exc, name, None)  # AttributeError: never set (OSError.characters_written)
            if value is not None:  # None reads as unset, but set it would show (OSError's "-> None")
                found[name] = value
    return found


def restore(exc: BaseException, args: tuple, own_fields: Dict[str, Any], state: Dict[str, Any]) -> None:
    """Give ``exc`` the ``args``, fields and attributes of another exception."""
    exc.args = args
    for name, value in own_fields.items():
        try:
            setattr(exc, name, value)
        except (AttributeError, TypeError):  # read-only here, or of another type than expected
            pass
    exc.__dict__.update(state)
    if isinstance(state.get("__notes__"), list):
        exc.__notes__ = list(state["__notes__"])  # not shared with the original


def rebuilt(kind: type, args: tuple, own_fields: Dict[str, Any], state: Dict[str, Any]) -> BaseException:
    """An exception of type ``kind`` with those parts (see the module's docstring)."""
    try:
        exc = kind(*args)
    except Exception:  # an __init__ whose parameters are not the args
        exc = kind.__new__(kind, *args)
    restore(exc, args, own_fields, state)
    return exc


def _picklable(value: Any) -> bool:
    try:
        serialization.dumps(value)
    except Exception:
        return False
    return True


def _parts(exc: BaseException) -> Tuple[type, tuple, Dict[str, Any], Dict[str, Any]]:
    """What ``rebuilt`` makes ``exc`` again from: each attribute that cannot be pickled left out."""
    own_fields = {name: value for name, value in fields(exc).items() if _picklable(value)}
    state = {name: value for name, value in vars(exc).items() if _picklable(value)}
    return type(exc), exc.args, own_fields, state


class _Parts:
    """Pickles as ``rebuilt(...)`` of an exception's parts, or as ``chained(...)`` when others
    are chained to it: unpickling gives the exception, with its chain."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __reduce__(self) -> Tuple[Any, tuple]:
        members = _chain(self.exc)
        if len(members) == 1 and not self.exc.__suppress_context__:
            return rebuilt, _parts(self.exc)
        index = {id(member): number for number, member in enumerate(members)}
        links = [(index.get(id(member.__cause__)), index.get(id(member.__context__)), member.__suppress_context__)
                 for member in members]
        return chained, (_parts(self.exc), [_alone(member) for member in members[1:]], links)


def _chain(exc: BaseException) -> List[BaseException]:
    """``exc``, then the exceptions chained to it (causes and contexts, theirs too), once each,
    at most ``CHAIN_LIMIT``."""
    members: List[BaseException] = []
    seen: set = set()
    todo = [exc]
    while todo and len(members) < CHAIN_LIMIT:
        member = todo.pop(0)
        if member is None or id(member) in seen:
            continue
        seen.add(id(member))
        members.append(member)
        todo += [member.__cause__, member.__context__]
    return members


def _alone(exc: BaseException) -> Tuple[str, str, Optional[bytes]]:
    """A chained exception for ``chained``: its type's name, its text and its own pickle (None
    where it has none)."""
    try:
        pickled: Optional[bytes] = serialization.dumps(_Alone(exc))
    except Exception:
        pickled = None
    return type(exc).__qualname__, str(exc), pickled


class _Alone(_Parts):
    """An exception's parts without its chain (``chained`` links the chain)."""

    def __reduce__(self) -> Tuple[Any, tuple]:
        return rebuilt, _parts(self.exc)


def chained(first: tuple, others: Sequence[Tuple[str, str, Optional[bytes]]],
            links: Sequence[Tuple[Optional[int], Optional[int], bool]]) -> BaseException:
    """The exception ``rebuilt(*first)`` with the exceptions of its chain, ``others`` (each
    pickled alone: one that does not unpickle here is a RuntimeError with its text), linked as
    ``links`` says: (cause, context, suppress context) of each, by position."""
    members = [rebuilt(*first)]
    members += [RemoteError(type_name, message, "", pickled).exception() for type_name, message, pickled in others]
    for member, (cause, context, suppress) in zip(members, links):
        member.__cause__ = None if cause is None else members[cause]
        member.__context__ = None if context is None else members[context]
        member.__suppress_context__ = suppress
    return members[0]


def in_context(exc: BaseException, handled: Optional[BaseException]) -> None:
    """Make ``handled`` the context of the first exception raised of ``exc``'s chain (the end
    of its ``__context__`` links), as CPython does raising it while ``handled`` is handled;
    ``exc`` was raised in another process, where nothing was (a partition, the cluster)."""
    if handled is None:
        return
    seen = {id(exc)}
    end = exc
    while end.__context__ is not None and id(end.__context__) not in seen:
        end = end.__context__
        seen.add(id(end))
    if end.__context__ is None and id(handled) not in seen:
        end.__context__ = handled


def reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` with the chain it has: a plain ``raise`` would make the exception handled
    here its context (``SkipBody`` in a ``with`` block's ``__exit__``). Its traceback starts at
    the caller, as if the caller had raised it."""
    context, before = exc.__context__, exc.__traceback__
    try:
        raise exc
    except BaseException:
        exc.__context__, exc.__traceback__ = context, before
        raise  # the same exception again: its context is left alone, and no line of this function is added


# Where the exceptions a partition raised were raised: {id of the exception raised again in the
# block: (its type, text)}, the last PARTITION_TRACES_KEPT of them. Not a note on the exception:
# a block that caught it saw one that CPython's has not (a user's trial found
# ``traceback.format_exception_only`` giving 11 lines for CPython's 1); ``trace`` adds it to the
# text the client shows. The exception itself is not held (a block catching failures in a loop
# kept each alive, and the results its frames held); its type guards against a reused id.
PARTITION_TRACES_KEPT = 32
_partition_traces: "collections.OrderedDict[int, Tuple[type, str]]" = collections.OrderedDict()


def raised_in_partition(exc: BaseException, lo: int, hi: int, partition_trace: str) -> None:
    """Keep where ``exc``, to be raised again in the block, was raised: items [lo, hi) of a
    partition, with its traceback there."""
    _partition_traces[id(exc)] = (type(exc), f"Raised in partition [{lo}, {hi}):\n{partition_trace}")
    _partition_traces.move_to_end(id(exc))
    while len(_partition_traces) > PARTITION_TRACES_KEPT:
        _partition_traces.popitem(last=False)


def forget_partition_traces() -> None:
    _partition_traces.clear()


def trace(exc: BaseException) -> str:
    """The traceback text of ``exc`` and its chain as CPython prints it, with only the user's
    frames (the engine's removed), then where each exception of it that a partition raised was
    raised (``raised_in_partition``)."""
    described = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    todo, seen, raised, told = [(described, exc)], set(), [], set()
    while todo:
        part, original = todo.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        part.stack = traceback.StackSummary.from_list([frame for frame in part.stack if _user_frame(frame)])
        kept = _partition_traces.get(id(original))
        if kept is not None and kept[0] is type(original) and kept[1] not in told:
            told.add(kept[1])  # once: one exception may be in the chain twice (a context, and in a group)
            raised.append(kept[1])
        todo += [(p, o) for p, o in ((part.__cause__, getattr(original, "__cause__", None)),
                                     (part.__context__, getattr(original, "__context__", None)))
                 if p is not None]
        todo += [(p, o) for p, o in zip(part.exceptions or (), getattr(original, "exceptions", ()))]
    return "".join(described.format()) + "".join(f"\n{text}" for text in raised)


def capture(exc: BaseException) -> RemoteError:
    """Describe ``exc`` (and its chain) for the trip to another process, keeping only the
    user's frames."""
    try:
        pickled = serialization.dumps(_Parts(exc))
    except Exception:
        pickled = None
    return RemoteError(type(exc).__qualname__, str(exc), trace(exc), pickled)
