"""A compute process's pipe as the worker sees it: a ``net.comm.Comm`` of ``engine.pool_messages``.

So the worker reads and writes its compute processes as it does any other connection: ``await
read()`` the next message, and ``send`` one, never blocking the event loop. Underneath is the
parent's non-blocking end of the pipe (``engine.pool.PoolProcess``: its frames, its pickles),
watched with the loop's ``add_reader``/``add_writer``; the child's end stays blocking code in
``engine.pool`` (a compute process has no event loop and nothing else to do).

Beyond a ``Comm``: ``send`` is ``write`` without waiting (the worker's scheduler sends from plain
functions; messages still leave in the order sent, what the pipe does not take now is written
when it is writable), and ``pause``/``resume`` stop and restart reading the pipe (a process whose
printed output waits for its client is left blocked in its ``print``: ``net.output_flow``).
A frame that cannot be read makes the process untrusted: it is killed, and its pipe closes.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from typing import Deque, Optional, Sequence

from ufora.engine.pool import PoolProcess
from ufora.engine.pool_messages import FromProcess, ToProcess
from ufora.net.comm import ChannelClosed, Comm

log = logging.getLogger(__name__)


class PoolComm(Comm[FromProcess, ToProcess]):
    def __init__(self, process: PoolProcess):
        self.process = process
        self.peer = f"compute process {process.pid}"
        self._loop = asyncio.get_running_loop()
        self._ready: Deque[FromProcess] = deque()  # read from the pipe, not yet from us
        self._reading: Optional[asyncio.Future] = None  # a read waiting for a message
        self._flushed: Optional[asyncio.Future] = None  # a write waiting for the pipe to take it all
        self._gone: Optional[str] = None  # why the pipe closed
        self._closed = False
        self._watching = False  # the loop reads the pipe as it becomes readable
        self._flushing = False  # ... and writes to it as it becomes writable
        self.resume()

    @property
    def closed(self) -> bool:
        return self._closed or self._gone is not None

    async def read(self) -> FromProcess:
        while not self._ready:
            if self.closed:
                raise ChannelClosed(f"{self.peer}: {self._gone or 'the pipe is closed'}")
            self._reading = self._loop.create_future()
            try:
                await self._reading
            finally:
                self._reading = None
        return self._ready.popleft()

    def send(self, message: ToProcess) -> None:
        """Queue ``message`` and write what the pipe takes now; the rest when it is writable.
        ``ChannelClosed`` if the process is gone."""
        if self.closed:
            raise ChannelClosed(f"{self.peer}: {self._gone or 'the pipe is closed'}")
        try:
            flushed = self.process.put(message)
        except OSError as exc:
            raise ChannelClosed(f"{self.peer}: {exc}") from None
        if not flushed and not self._flushing:
            self._flushing = True
            self._loop.add_writer(self.process.fileno(), self._writable)

    async def write(self, message: ToProcess, buffers: Sequence[bytes] = ()) -> None:
        """``send``, then wait until the pipe took all that was queued (a pool message carries
        no buffers: it is one pickle)."""
        if buffers:
            raise ValueError("a compute process's messages carry no buffers")
        self.send(message)
        while self._flushing:
            if self._flushed is None:
                self._flushed = self._loop.create_future()
            await asyncio.shield(self._flushed)

    def pause(self) -> None:
        """Read no more from the pipe (what was read already is still returned by ``read``)."""
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self.process.fileno())

    def resume(self) -> None:
        if not self._watching and not self.closed:
            self._watching = True
            self._loop.add_reader(self.process.fileno(), self._readable)

    async def abort(self, reason: str) -> None:
        self.kill(reason)

    def kill(self, reason: str) -> None:
        """The process is not to be trusted: kill it (it cannot be told why, it would have to
        read it). Its pipe closes as it dies, and ``read`` then raises ``ChannelClosed``."""
        log.error("killing %s: %s", self.peer, reason)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop watching the pipe and close our end (the process exits when it reads that)."""
        self.pause()
        self._stop_flushing()
        self._closed = True
        self.process.close()
        self._wake()

    def _readable(self) -> None:
        try:
            self._ready.extend(self.process.messages())
        except (EOFError, OSError) as exc:
            self._gone = str(exc) or "its pipe closed"
            self.pause()
            self._stop_flushing()
        except Exception:  # a frame that cannot be read: the process is not to be trusted
            log.exception("%s sent what cannot be read", self.peer)
            self.kill("it sent what cannot be read")
            return
        self._wake()

    def _writable(self) -> None:
        try:
            done = self.process.flush()
        except OSError:
            done = True  # it died: the pipe's reader will say so
        if done:
            self._stop_flushing()

    def _stop_flushing(self) -> None:
        if self._flushing:
            self._flushing = False
            self._loop.remove_writer(self.process.fileno())
        if self._flushed is not None:
            self._flushed.set_result(None)
            self._flushed = None

    def _wake(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._reading.set_result(None)
