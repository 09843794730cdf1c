"""pyfora's exceptions, with the original client's names so old ``except`` clauses still work.

An exception raised by the user's code on the cluster is raised here as an instance of a class
made for its type, ``ComputationError`` and that type at once: ``except IndexError`` and ``except
pyfora.ComputationError`` both catch it, ``str()`` and ``args`` are the original's, and its
``remoteException`` and ``trace`` say what was raised there and where (``computation_error``).
"""
from __future__ import annotations

import functools
import types
from concurrent.futures import CancelledError  # noqa: F401  (pyfora.CancelledError)
from concurrent.futures._base import Error as _FuturesError
from typing import Any, Optional, TypeVar

from ufora.engine import errors
from ufora.engine.errors import InvalidPyforaOperation, UnconvertibleValueError  # noqa: F401  (raised on the cluster)


class PyforaError(_FuturesError):
    """Base of every pyfora error."""


class ConnectionError(PyforaError):  # noqa: A001  (the original's name)
    """The manager cannot be reached, refused us, or the connection broke."""


class ComputationError(PyforaError):
    """The remote computation raised. ``remoteException`` is the original exception when it
    could be re-created here (else its text); ``trace`` is the remote traceback text."""

    def __init__(self, remoteException: Any, trace: str):
        self.remoteException = remoteException
        self.trace = trace
        name = type(remoteException).__name__ if isinstance(remoteException, BaseException) else "Exception"
        super().__init__(f"{name}: {remoteException}\n\nRemote traceback:\n{trace}")

    def __reduce__(self):
        # the classes made for remote types exist only in this process: pickle what makes one
        return computation_error, (self.remoteException, self.trace)


class PythonToForaConversionError(PyforaError):
    """A value the computation needs cannot be sent to the cluster."""


class ForaToPythonConversionError(PyforaError):
    """A result computed on the cluster cannot be rebuilt here."""


class NotCallableError(PyforaError, TypeError):
    """A call of something that is not callable: ``submit`` of a value that is not a function, or
    a call of a proxy whose remote value is not callable. A ``TypeError`` too, as CPython's."""


class PyforaNotImplementedError(PyforaError, NotImplementedError):
    """A feature of the original pyfora that this release does not have."""


class BadWithBlockError(PyforaError):
    """The ``with`` block cannot run remotely as written."""


class CantGetSourceTextError(PyforaError):
    """The source of the ``with`` block cannot be found."""


class InternalError(PyforaError):
    """The cluster failed for a reason of its own (a worker lost, a process died)."""


class ResultExceededBytecountThreshold(PyforaError):
    """A value is larger than the byte count the caller allowed for bringing it here."""


@functools.lru_cache(maxsize=1024)
def _both(kind: type) -> Optional[type]:
    """The class that is ``ComputationError`` and ``kind`` at once, named as ``kind``; None where
    there can be none (a type that refuses subclasses, or whose layout conflicts)."""
    try:
        return type(kind.__name__, (ComputationError, kind),
                    {"__module__": kind.__module__, "__qualname__": kind.__qualname__, "__doc__": kind.__doc__})
    except Exception:  # TypeError mostly; a user's __init_subclass__ may refuse with another
        return None


def _as_both(remote: Exception) -> Optional[ComputationError]:
    """``remote`` again, as an instance of ``_both(type(remote))`` with its ``args``, fields,
    attributes, notes and chain (``__cause__``, ``__context__``); None where that cannot be."""
    kind = _both(type(remote))  # type: ignore[arg-type]
    if kind is None:
        return None
    try:
        error = kind.__new__(kind, *remote.args)
    except TypeError:
        if not isinstance(type(remote).__new__, types.BuiltinFunctionType):
            return None  # a __new__ of the user's own that wants other arguments
        # a builtin's own __new__ that refuses a class made so ("MemoryError.__new__(MemoryError)
        # is not safe"): MemoryError came as a plain ComputationError, which ``except MemoryError`` missed
        error = BaseException.__new__(kind, *remote.args)
    except Exception:
        return None
    errors.restore(error, remote.args, errors.fields(remote), vars(remote))
    return _chained_as(error, remote)


_Error = TypeVar("_Error", bound=BaseException)


def _chained_as(error: _Error, remote: BaseException) -> _Error:
    """``error``, with the chain of ``remote`` (``__cause__``, ``__context__``): what it stands for."""
    error.__cause__, error.__context__ = remote.__cause__, remote.__context__
    error.__suppress_context__ = remote.__suppress_context__
    return error


def computation_error(remote: Any, trace: str) -> BaseException:
    """What to raise here for ``remote``, an exception raised on the cluster (or its text, when it
    could not be re-created here), and the remote ``trace``.

    An ``Exception`` comes as the instance of a class that is ``ComputationError`` and its type
    (``_as_both``), plus the remote traceback as a note (shown under it when it goes uncaught).
    Another ``BaseException`` (``SystemExit`` from ``sys.exit()``, ``KeyboardInterrupt``) is
    raised as itself, as CPython would: a ``ComputationError`` is an ``Exception``, which
    ``except Exception`` must not catch for these. A type that cannot be combined, or an
    exception known only by its text, gives a plain ``ComputationError``. Each has the chain of
    the original (``__cause__``, ``__context__``). One that is a ``ComputationError`` already
    (a nested block's, or one caught and raised again) is raised as it is, the new ``trace`` added
    as a note: no class is both ``ComputationError`` and such a class again, and a plain one would
    lose its own type."""
    if isinstance(remote, ComputationError):
        if trace:
            remote.add_note("Remote traceback (the code ran on the cluster):\n" + trace.rstrip("\n"))
        return remote
    if not isinstance(remote, BaseException):
        return ComputationError(remote, trace)
    error: Optional[Any] = _as_both(remote) if isinstance(remote, Exception) else remote
    if error is None:
        return _chained_as(ComputationError(remote, trace), remote)
    try:
        error.remoteException, error.trace = remote, trace
    except AttributeError:  # the user's type has these names as read-only properties
        return _chained_as(ComputationError(remote, trace), remote)
    if trace:
        error.add_note("Remote traceback (the code ran on the cluster):\n" + trace.rstrip("\n"))
    return error
