"""Length-prefixed frames on the compute pool's socket pairs, so that the service never blocks.

Each frame is an 8-byte big-endian length and that many bytes. A compute process reads and
writes its end blocking: it has nothing else to do. The worker service reads and writes its end
non-blocking, from its event loop: what cannot be written at once waits in an ``Outbox`` that is
flushed when the socket is writable, and what arrives is gathered by an ``Inbox`` until a frame
is whole. A blocking write there deadlocked the service: with a megabyte of task going down a
pipe while a megabyte of result came up it, both ends waited for the other to read, forever.
Since the service always reads (but for a process whose printed output waits for its client:
that one's ``print`` is meant to block), a compute process's blocking write always ends.
"""
from __future__ import annotations

import socket
import struct
from collections import deque
from typing import Deque, List, Optional

HEADER = struct.Struct("!Q")
CHUNK = 1 << 20  # bytes read per system call while no frame's size is known
# A payload up to this size goes out in one system call with its header (one wake-up of the
# reader, not two: each costs a trivial block tens of microseconds, more on a busy host);
# a larger one is not copied for it.
JOIN_BELOW = 64 << 10


def write(sock: socket.socket, payload: bytes) -> None:
    """One frame, blocking (a compute process's side)."""
    if len(payload) < JOIN_BELOW:
        sock.sendall(HEADER.pack(len(payload)) + payload)
        return
    sock.sendall(HEADER.pack(len(payload)))
    sock.sendall(payload)


def read(sock: socket.socket) -> bytearray:
    """One frame, blocking (a compute process's side); EOFError when the other end closed."""
    size, = HEADER.unpack(_exactly(sock, HEADER.size))
    return _exactly(sock, size)


def _exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        got = sock.recv_into(view[done:])
        if got == 0:
            raise EOFError("the other end of the pipe closed")
        done += got
    return buffer


class Outbox:
    """Frames waiting to be written to a non-blocking socket, in order."""

    def __init__(self) -> None:
        self._parts: Deque[memoryview] = deque()
        self.pending = 0  # bytes not written yet

    def put(self, payload: bytes) -> None:
        header = HEADER.pack(len(payload))
        for part in (header + payload,) if len(payload) < JOIN_BELOW else (header, payload):
            if len(part):
                self._parts.append(memoryview(part).cast("B"))
                self.pending += len(part)

    def flush(self, sock: socket.socket) -> bool:
        """Write what the socket takes now; True when nothing is left. OSError if the peer is gone."""
        while self._parts:
            part = self._parts[0]
            try:
                sent = sock.send(part)
            except (BlockingIOError, InterruptedError):
                return False
            self.pending -= sent
            if sent == len(part):
                self._parts.popleft()
            else:
                self._parts[0] = part[sent:]
        return True


class Inbox:
    """Frames read from a non-blocking socket: bytes are gathered until a frame is whole."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._frame: Optional[bytearray] = None
        self._filled = 0
        self._closed = False

    def read(self, sock: socket.socket, budget: int = 64 << 20) -> List[bytearray]:
        """The frames completed by what the socket holds now, reading at most about ``budget``
        bytes (so that one busy pipe cannot hold the event loop). EOFError when it closed (on
        the next call, when this one completed frames: a process's last words are kept)."""
        frames: List[bytearray] = []
        if self._closed:
            raise EOFError("the other end of the pipe closed")
        try:
            self._read(sock, budget, frames)
        except EOFError:
            if not frames:
                raise
            self._closed = True
        return frames

    def _read(self, sock: socket.socket, budget: int, frames: List[bytearray]) -> None:
        while budget > 0:
            try:
                if self._frame is None:
                    data = sock.recv(min(CHUNK, budget))
                    if not data:
                        raise EOFError("the other end of the pipe closed")
                    budget -= len(data)
                    self._take(memoryview(data), frames)
                else:
                    view = memoryview(self._frame)[self._filled:]
                    got = sock.recv_into(view, min(len(view), budget))
                    if got == 0:
                        raise EOFError("the other end of the pipe closed")
                    budget -= got
                    self._filled += got
                    self._finish(frames)
            except (BlockingIOError, InterruptedError):
                break

    def _take(self, data: memoryview, frames: List[bytearray]) -> None:
        """Bytes read while no frame was open: headers, small frames, and the start of a big one."""
        while len(data):
            if self._frame is None:
                wanted = HEADER.size - len(self._header)
                self._header += data[:wanted]
                data = data[wanted:]
                if len(self._header) < HEADER.size:
                    return
                size, = HEADER.unpack(self._header)
                self._header.clear()
                self._frame, self._filled = bytearray(size), 0
            taken = min(len(data), len(self._frame) - self._filled)
            self._frame[self._filled:self._filled + taken] = data[:taken]
            self._filled += taken
            data = data[taken:]
            self._finish(frames)

    def _finish(self, frames: List[bytearray]) -> None:
        if self._frame is not None and self._filled == len(self._frame):
            frames.append(self._frame)
            self._frame = None
