"""Remote output: what a block prints, sent where its client can show it.

While a block runs, the driver process's ``sys.stdout`` and ``sys.stderr`` are replaced by
streams that send each completed line (and whatever is left when the block ends) to ``send``,
as ``(stream name, text)``. Partitions do not print: an element function that prints is a
visible side effect, and its shape runs serially on the driver (``engine.purity``), so the
output keeps the order of a serial run.
"""
from __future__ import annotations

import contextlib
import io
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
        yield
    finally:
        for stream in streams:
            stream.flush()
        sys.stdout, sys.stderr = previous
