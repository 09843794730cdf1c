"""Accepting connections without a tight loop when the process runs out of file descriptors.

Tornado's accept handler lets ``accept()``'s EMFILE escape: the listening socket stays readable,
so the event loop calls the handler again at once and logs a traceback on every turn, for as
long as the descriptors are gone. Here a port that cannot accept stops trying for ``PAUSE``
seconds, and says so at most once every ``SAY_EVERY`` seconds.
"""
from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Callable, Iterable

from tornado.ioloop import IOLoop

log = logging.getLogger(__name__)

PAUSE = 1.0
SAY_EVERY = 60.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_BATCH = 128  # connections accepted per turn of the loop at most


class GuardedAccept:
    """A mixin for tornado's ``TCPServer`` and its subclasses (``HTTPServer``)."""

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock  # type: ignore[attr-defined]
            self._handlers[sock.fileno()] = accept_handler(sock, self._handle_connection)  # type: ignore[attr-defined]


def accept_handler(sock: socket.socket, callback: Callable[[socket.socket, tuple], None]) -> Callable[[], None]:
    """Call ``callback(connection, address)`` for each connection to ``sock``; returns the
    function that stops it (as ``tornado.netutil.add_accept_handler``)."""
    loop = IOLoop.current()
    state = {"removed": False, "said": float("-inf")}

    def accept(fd: socket.socket, events: int) -> None:
        for _ in range(_BATCH):
            if state["removed"]:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                now = time.monotonic()
                if now - state["said"] > SAY_EVERY:
                    state["said"] = now
                    log.warning("cannot accept connections on port %d (%s); trying again every %.0f s",
                                sock.getsockname()[1], exc.strerror, PAUSE)
                loop.remove_handler(sock)
                loop.call_later(PAUSE, resume)
                return
            callback(connection, address)

    def resume() -> None:
        if not state["removed"]:
            loop.add_handler(sock, accept, IOLoop.READ)

    def remove() -> None:
        state["removed"] = True
        loop.remove_handler(sock)

    loop.add_handler(sock, accept, IOLoop.READ)
    return remove
