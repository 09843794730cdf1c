"""The client's websocket to the manager over TLS, with reads and writes that never overlap.

python-engineio's client reads its websocket in one thread while others write to it (socket.io's
connect packet, every event), and one ``ssl.SSLSocket`` is one OpenSSL connection, which must
not be entered by two threads at once (python-engineio issue 461, python-socketio issue 1568).
When a read and a write met, the connection was lost without a close frame: under load, 4 to 7
of 1,000 ``pyfora.connect`` calls to a TLS manager waited out their whole timeout and failed
with "Unexpected connection error" (CI met one). Plain websockets are not affected: the kernel
serialises a socket's reads and writes itself.

``SerializedTLSSocket`` keeps the TLS socket non-blocking and enters it under one lock, waiting
for it to become readable or writable outside the lock, so that a reader waiting for the
manager never holds up a writer, and each OpenSSL call runs alone. ``SerializedTLSWebSocket``
is websocket-client's ``WebSocket`` with its TLS socket so wrapped, given to engineio's
``websocket.create_connection`` as ``class_``.
"""
from __future__ import annotations

import errno
import selectors
import socket
import ssl
import threading
import time
from typing import Any, Callable, Optional, cast

import websocket


READ_PATIENCE = 0.01  # seconds a write that wants to read waits before it tries again


class SerializedTLSSocket:
    """An ``ssl.SSLSocket`` whose ``recv`` and ``send`` (and closing) enter OpenSSL one at a
    time; anything else is the socket's own. The timeout (``settimeout``) is kept here, as
    a blocking socket's would be: the socket itself stays non-blocking."""

    def __init__(self, sock: ssl.SSLSocket):
        self._sock = sock
        self._lock = threading.Lock()
        self._timeout: Optional[float] = sock.gettimeout()
        sock.settimeout(0)

    def gettimeout(self) -> Optional[float]:
        return self._timeout

    def settimeout(self, timeout: Optional[float]) -> None:
        self._timeout = timeout

    def recv(self, size: int) -> bytes:
        return self._alone(lambda: self._sock.recv(size), writer=False)

    def send(self, data: bytes) -> int:
        return self._alone(lambda: self._sock.send(data), writer=True)

    def _alone(self, call: Callable[[], Any], writer: bool) -> Any:
        """``call()`` (a non-blocking recv or send) under the lock, as often as it must, waiting
        outside the lock for what it wants. A write that wants to read (a renegotiation) looks
        again every ``READ_PATIENCE`` s: the reader may take what comes first."""
        deadline = self._deadline()
        while True:
            with self._lock:
                try:
                    return call()
                except ssl.SSLWantWriteError:  # a write, or a read that must write (a key update)
                    wait_for, patience = selectors.EVENT_WRITE, None
                except ssl.SSLWantReadError:
                    wait_for, patience = selectors.EVENT_READ, READ_PATIENCE if writer else None
                except BlockingIOError:
                    wait_for, patience = selectors.EVENT_WRITE if writer else selectors.EVENT_READ, None
            self._wait(wait_for, deadline, patience)

    def shutdown(self, how: int) -> None:
        with self._lock:
            self._sock.shutdown(how)

    def close(self) -> None:
        with self._lock:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _deadline(self) -> Optional[float]:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _wait(self, event: int, deadline: Optional[float], patience: Optional[float] = None) -> None:
        """Until the socket is ready for ``event``, or ``patience`` seconds have passed;
        ``socket.timeout`` past ``deadline``, as a blocking socket's call would raise
        (websocket-client reads it as a timeout)."""
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(self._sock, event)
            except ValueError:  # closed by another thread meanwhile
                raise OSError(errno.EBADF, "the socket was closed") from None
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            waited = remaining if patience is None else patience if remaining is None else min(remaining, patience)
            if not selector.select(waited) and (deadline is not None and time.monotonic() >= deadline):
                raise socket.timeout("timed out")


class SerializedTLSWebSocket(websocket.WebSocket):
    """websocket-client's ``WebSocket``; over TLS, its socket is a ``SerializedTLSSocket``
    once the handshake (which runs in one thread) is done."""

    def connect(self, url: str, **options: Any) -> None:
        super().connect(url, **options)
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock = cast(socket.socket, SerializedTLSSocket(self.sock))  # a stand-in it reads the same
