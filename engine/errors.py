"""Errors travel as data: the pickled exception when it pickles, its type and message as text
always, and the traceback text with the user's own files and lines (engine frames removed).

An exception is pickled as its parts (``parts``): its type, ``args``, the fields the
interpreter keeps outside ``__dict__`` (``OSError.errno``, ``StopIteration.value``...) and its
``__dict__``, each attribute that cannot be pickled left out. ``rebuilt`` puts it back together
without depending on its ``__init__``: a user's exception whose ``__init__`` takes other
parameters than its ``args`` (``MyError(code, text)`` calling ``super().__init__(text)``), which
plain pickling cannot re-create, arrives whole.
"""
from __future__ import annotations

import os
import traceback
import types
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from engine import serialization

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
# kept by BaseException itself, or the traceback machinery: never copied from one error to another
_NOT_FIELDS = frozenset({"args", "__traceback__", "__cause__", "__context__", "__suppress_context__",
                         "__dict__", "__notes__"})


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


def _user_frames(tb) -> list:
    return [frame for frame in traceback.extract_tb(tb)
            if not os.path.abspath(frame.filename).startswith(_ENGINE_DIR + os.sep)]


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


class _Parts:
    """Pickles as ``rebuilt(...)`` of an exception's parts: unpickling gives the exception."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __reduce__(self) -> Tuple[Any, tuple]:
        exc = self.exc
        own_fields = {name: value for name, value in fields(exc).items() if _picklable(value)}
        state = {name: value for name, value in vars(exc).items() if _picklable(value)}
        return rebuilt, (type(exc), exc.args, own_fields, state)


def capture(exc: BaseException) -> RemoteError:
    """Describe ``exc`` for the trip to another process, keeping only the user's frames."""
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(_user_frames(exc.__traceback__))
    lines += traceback.format_exception_only(type(exc), exc)
    try:
        pickled = serialization.dumps(_Parts(exc))
    except Exception:
        pickled = None
    return RemoteError(type(exc).__qualname__, str(exc), "".join(lines), pickled)
