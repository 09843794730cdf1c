"""pyfora's exceptions, with the original client's names so old ``except`` clauses still work."""
from concurrent.futures import CancelledError  # noqa: F401  (pyfora.CancelledError)
from concurrent.futures._base import Error as _FuturesError


class PyforaError(_FuturesError):
    """Base of every pyfora error."""


class ConnectionError(PyforaError):  # noqa: A001  (the original's name)
    """The manager cannot be reached, refused us, or the connection broke."""


class ComputationError(PyforaError):
    """The remote computation raised. ``remoteException`` is the original exception when it
    could be re-created here (else its text); ``trace`` is the remote traceback text."""

    def __init__(self, remoteException, trace: str):
        self.remoteException = remoteException
        self.trace = trace
        name = type(remoteException).__name__ if isinstance(remoteException, BaseException) else "Exception"
        super().__init__(f"{name}: {remoteException}\n\nRemote traceback:\n{trace}")


class PythonToForaConversionError(PyforaError):
    """A value the computation needs cannot be sent to the cluster."""


class BadWithBlockError(PyforaError):
    """The ``with`` block cannot run remotely as written."""


class CantGetSourceTextError(PyforaError):
    """The source of the ``with`` block cannot be found."""


class InternalError(PyforaError):
    """The cluster failed for a reason of its own (a worker lost, a process died)."""


class ForaToPythonConversionError(PyforaError):
    """A result computed on the cluster cannot be rebuilt here."""


class ResultExceededBytecountThreshold(PyforaError):
    """A value is larger than the byte count the caller allowed for bringing it here."""
