"""Errors travel as data: the pickled exception when it pickles, its type and message as text
always, and the traceback text with the user's own files and lines (engine frames removed)."""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Optional

from engine import serialization

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


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


def capture(exc: BaseException) -> RemoteError:
    """Describe ``exc`` for the trip to another process, keeping only the user's frames."""
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(_user_frames(exc.__traceback__))
    lines += traceback.format_exception_only(type(exc), exc)
    try:
        pickled = serialization.dumps(exc)
    except Exception:
        pickled = None
    return RemoteError(type(exc).__qualname__, str(exc), "".join(lines), pickled)
