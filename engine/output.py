"""Remote output: what a block prints or logs, sent where its client can show it.

While a block runs, the driver process's ``sys.stdout`` and ``sys.stderr`` are replaced by
streams that pass each completed line (and whatever is left when the block ends) on to ``send``
as a list of ``(stream name, text)``, in order. Lines printed in a burst are sent together,
``BATCH`` characters or ``INTERVAL`` seconds' worth at a time (a flusher thread sends what a
block printed just before it went quiet): a block printing a million lines sends a few thousand
messages, not a million. Partitions do not print: an element function that prints or logs is
a visible side effect, and its shape runs serially on the driver (``engine.purity``), so the
output keeps the order of a serial run. The warnings the block issues are lines of a stream of
their own (``engine.warned``), in order with the lines printed before them, issued again by the
client's ``warnings``.

Its ``sys.stdin`` is one that cannot be read: ``input()`` in a block would wait for a terminal
that is not there, so reading it raises ``InvalidPyforaOperation`` saying so.

``logging`` in the block has no handlers of the service's (``basicConfig`` in the block works,
and prints to the forwarded stderr), at the client's levels; a record no handler takes goes to
the client's own loggers, a stream of its own (``engine.log_records``). The service's own loggers
(``engine``, ``net``) keep writing to the service's log meanwhile; everything is put back when
the block ends.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import sys
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

from ufora.engine import log_records, warned
from ufora.engine.errors import InvalidPyforaOperation

Pieces = List[Tuple[str, str]]
Send = Callable[[Pieces], None]
BATCH = 64 << 10  # characters
INTERVAL = 0.02  # seconds


class _Batcher:
    """Completed lines of both streams, in order, sent in batches."""

    def __init__(self, send: Send):
        self.send = send
        self.lock = threading.Lock()
        self.pieces: Pieces = []
        self.size = 0
        self.unbatched = False  # in a child the block forked: no flusher there, each line goes

    def add(self, stream: str, text: str) -> None:
        with self.lock:
            if self.pieces and self.pieces[-1][0] == stream:
                self.pieces[-1] = (stream, self.pieces[-1][1] + text)
            else:
                self.pieces.append((stream, text))
            self.size += len(text)
            if self.size >= BATCH or self.unbatched:
                self._flush_locked()
            elif not _due.is_set():
                _due.set()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self.pieces:
            pieces, self.pieces, self.size = self.pieces, [], 0
            self.send(pieces)


_batchers: List[_Batcher] = []  # the one of the block running now, if any
# Set when the running block holds lines not sent yet: the flusher sends them INTERVAL later.
_due = threading.Event()
_flusher: Optional[threading.Thread] = None


def _flush_every_interval() -> None:
    """The flusher: one thread per process, started with its first block and kept (starting a
    thread and joining it for each block cost more than a trivial block's whole run, 1.4 ms).
    It sends what the running block printed ``INTERVAL`` after it began to wait; what is left
    when a block ends is sent by ``forwarded`` itself."""
    while True:
        _due.wait()
        time.sleep(INTERVAL)
        _due.clear()
        for batcher in list(_batchers):
            batcher.flush()


def _start_flusher() -> None:
    global _flusher
    if _flusher is None:
        _flusher = threading.Thread(target=_flush_every_interval, name="ufora-output", daemon=True)
        _flusher.start()


# A block may fork while the flusher holds its batcher's lock: the child (which has no flusher)
# must not inherit it held. The caller takes these before any lock the flusher's ``send`` takes.
# the locks ``before_fork`` took: those released after it (a batcher added meanwhile, by a block
# starting in another thread, was released unheld: "RuntimeError: release unlocked lock")
_held_at_fork: List[threading.Lock] = []


def before_fork() -> None:
    held = [batcher.lock for batcher in list(_batchers)]
    for lock in held:
        lock.acquire()
    _held_at_fork[:] = held


def after_fork_in_parent() -> None:
    held, _held_at_fork[:] = list(_held_at_fork), []
    for lock in held:
        lock.release()


def after_fork_in_child() -> None:
    for batcher in _batchers:
        batcher.lock, batcher.unbatched = threading.Lock(), True


class _Forwarded(io.TextIOBase):
    def __init__(self, name: str, batcher: _Batcher):
        self.name, self.batcher, self.pending = name, batcher, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            lines, _, self.pending = self.pending.rpartition("\n")
            self.batcher.add(self.name, lines + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.batcher.add(self.name, self.pending)
            self.pending = ""


class _NoInput(io.TextIOBase):
    name = "<stdin>"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        raise InvalidPyforaOperation("code running on the cluster cannot read this client's standard input "
                                     "(input(), sys.stdin): read it before the block and use the variable")

    def readline(self, size: int = -1) -> str:
        return self.read(size)


@contextlib.contextmanager
def forwarded(send: Send) -> Iterator[None]:
    """Send what is printed inside the ``with`` to ``send``, in batches of whole lines. ``send``
    is called from this thread or the flusher thread, never from both at once."""
    _start_flusher()
    batcher = _Batcher(send)
    _batchers.append(batcher)
    streams = _Forwarded("stdout", batcher), _Forwarded("stderr", batcher)
    previous = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, (sys.stdout, sys.stderr) = _NoInput(), streams

    def warn(one: warned.Record) -> None:  # in order with what was printed before it
        log(warned.STREAM, warned.text_of(one))

    def log(stream: str, text: str) -> None:
        for printed in streams:
            printed.flush()
        batcher.add(stream, text)
    try:
        with _fresh_logging(), warned.sent(warn), log_records.sent(functools.partial(log, log_records.STREAM)):
            yield
    finally:
        for stream in streams:
            stream.flush()
        _batchers.remove(batcher)
        batcher.flush()
        sys.stdin, sys.stdout, sys.stderr = previous


_OWN_LOGGERS = ("ufora",)  # ufora.engine, ufora.net and the service


@contextlib.contextmanager
def _fresh_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    own = [logging.getLogger(name) for name in _OWN_LOGGERS]
    kept = [(logger.handlers[:], logger.level, logger.propagate) for logger in own]
    for logger in own:
        logger.handlers[:], logger.propagate = handlers, False
        _set_level(logger, logger.getEffectiveLevel())
    root.handlers[:] = []
    _set_level(root, logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers:  # what the block configured: closed, then dropped
            handler.close()
        root.handlers[:] = handlers
        _set_level(root, level)
        for logger, (saved, saved_level, propagate) in zip(own, kept):
            logger.handlers[:], logger.propagate = saved, propagate
            _set_level(logger, saved_level)


def pin_own_log_levels() -> None:
    """Give the engine's and net's loggers their effective level as their own, in a compute
    process: each block's ``forwarded`` then finds them at it, and neither sets nor restores it
    (each change empties the level cache of every logger of the process: 0.14 ms a block)."""
    for name in _OWN_LOGGERS:
        logger = logging.getLogger(name)
        _set_level(logger, logger.getEffectiveLevel())


def _set_level(logger: logging.Logger, level: int) -> None:
    """``setLevel`` only where the level changes: each call empties the level cache of every
    logger of the process (numba's hundreds too), six times a block."""
    if logger.level != level:
        logger.setLevel(level)
