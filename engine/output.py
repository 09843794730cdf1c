"""Remote output: what a block prints or logs, sent where its client can show it.

While a block runs, the driver process's ``sys.stdout`` and ``sys.stderr`` are replaced by
streams that send each completed line (and whatever is left when the block ends) to ``send``,
as ``(stream name, text)``. Partitions do not print: an element function that prints or logs is
a visible side effect, and its shape runs serially on the driver (``engine.purity``), so the
output keeps the order of a serial run.

``logging`` in the block behaves as in a fresh interpreter (no handlers, level WARNING, so
``logging.warning(...)`` prints ``WARNING:root:...`` to stderr, and ``basicConfig`` works),
and its stderr is the forwarded one. The service's own loggers (``engine``, ``net``) keep
writing to the service's log meanwhile; everything is put back when the block ends.
"""
from __future__ import annotations

import contextlib
import io
import logging
import sys
from typing import Callable, Iterator

Send = Callable[[str, str], None]


class _Forwarded(io.TextIOBase):
    def __init__(self, name: str, send: Send):
        self.name, self.send, self.pending = name, send, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            lines, _, self.pending = self.pending.rpartition("\n")
            self.send(self.name, lines + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.send(self.name, self.pending)
            self.pending = ""


@contextlib.contextmanager
def forwarded(send: Send) -> Iterator[None]:
    """Send what is printed inside the ``with`` to ``send``, line by line."""
    streams = _Forwarded("stdout", send), _Forwarded("stderr", send)
    previous = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = streams
    try:
        with _fresh_logging():
            yield
    finally:
        for stream in streams:
            stream.flush()
        sys.stdout, sys.stderr = previous


_OWN_LOGGERS = ("engine", "net")


@contextlib.contextmanager
def _fresh_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    own = [logging.getLogger(name) for name in _OWN_LOGGERS]
    kept = [(logger.handlers[:], logger.level, logger.propagate) for logger in own]
    for logger in own:
        logger.handlers[:], logger.propagate = handlers, False
        logger.setLevel(logger.getEffectiveLevel())
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers:  # what the block configured: closed, then dropped
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for logger, (saved, saved_level, propagate) in zip(own, kept):
            logger.handlers[:], logger.propagate = saved, propagate
            logger.setLevel(saved_level)
