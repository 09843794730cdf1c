"""One channel interface for every connection between services (registry, control, data).

A ``Channel`` reads and writes whole messages (``net.wire``) over a Tornado ``IOStream``.
Every failure of a read or write (the peer gone, a buffer over the limit, a message that breaks
the wire rules) surfaces as ``ChannelClosed``; a message that breaks the wire rules is
answered with an ``error`` frame, then the connection is closed (we cannot know how much of the
stream is left to trust). ``listen`` and ``connect`` are the only places that name TCP.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from typing import Awaitable, Callable, List, Optional, Sequence, Tuple

import numpy as np
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.tcpclient import TCPClient
from tornado.tcpserver import TCPServer

from net import auth, wire
from net.accepting import GuardedAccept

log = logging.getLogger(__name__)

Message = Tuple[wire.Header, List[bytes]]


class ChannelClosed(ConnectionError):
    """The peer is gone, or the connection was closed because of what it sent."""


# Limits on what an accepted connection may hold open (a peer that never sends, or sends a
# frame a byte at a time, would otherwise keep its memory and file descriptor forever).
FIRST_FRAME_TIMEOUT = 60.0  # seconds from accepting a connection to its first byte
FRAME_TIMEOUT = 10.0        # seconds from a frame's first byte to its last, plus ...
SLOWEST_RATE = 1 << 20      # ... a second per MiB of its buffers
MAX_CONNECTIONS = 512       # open connections per listening port
# lz4 on buffers this large runs in a thread (as dask's distributed does from 10 MB): 1 GiB
# takes about a second, which the event loop would otherwise spend away from every other peer
OFF_LOOP_FROM = 10 << 20


class Channel:
    def __init__(self, stream: IOStream, compress: bool = False,
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, accepted: bool = False):
        self.stream = stream
        self.max_payload = max_payload
        address = stream.socket.getpeername() if stream.socket else ("?", 0)
        self.peer = f"{address[0]}:{address[1]}"
        self.compress = compress and not (SAME_HOST_SKIPS_COMPRESSION and stream.socket is not None
                                          and ipaddress.ip_address(address[0]).is_loopback)
        stream.set_nodelay(True)
        self._encoding = asyncio.Lock()  # held from encoding a message to queueing its frames
        # Deadlines hold only for connections we accepted: our own dials trust their peer.
        self._timed = accepted
        self._expired: Optional[str] = None
        self._deadline: Optional[asyncio.TimerHandle] = None
        if accepted:
            self._expire_in(FIRST_FRAME_TIMEOUT, f"sent nothing within {FIRST_FRAME_TIMEOUT:.0f} s")

    def _expire_in(self, seconds: float, reason: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expire, reason)

    def _expire(self, reason: str) -> None:
        self._expired = reason
        log.info("closing the connection from %s: it %s", self.peer, reason)
        self.stream.close()

    def _frame_done(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    @property
    def closed(self) -> bool:
        return self.stream.closed()

    async def read(self) -> Message:
        try:
            prefix = await self.stream.read_bytes(wire.PREFIX.size)
            if self._timed:
                self._expire_in(FRAME_TIMEOUT, f"did not complete a frame within {FRAME_TIMEOUT:.0f} s")
            header_length, count = wire.decode_prefix(prefix)
            lengths = wire.decode_lengths(await self.stream.read_bytes(8 * count), self.max_payload)
            if self._timed and lengths:
                seconds = FRAME_TIMEOUT + sum(length for length, _ in lengths) / SLOWEST_RATE
                self._expire_in(seconds, f"did not complete a frame within {seconds:.0f} s")
            header = wire.decode_header(await self.stream.read_bytes(header_length))
            buffers, budget = [], self.max_payload  # what all its buffers may expand to
            for length, compressed in lengths:
                data = await self._read_buffer(length)
                if compressed and (length >= OFF_LOOP_FROM or wire.declared_size(data) >= OFF_LOOP_FROM):
                    # in a thread (lz4 lets go of the GIL), judged by the size it expands to
                    buffers.append(await asyncio.to_thread(wire.decode_buffer, data, compressed, budget))
                else:
                    buffers.append(wire.decode_buffer(data, compressed, budget))
                budget -= len(buffers[-1])
            self._frame_done()
            return header, buffers
        except wire.WireError as exc:
            log.warning("closing channel from %s: %s", self.peer, exc)
            await self.abort(str(exc))
            raise ChannelClosed(f"{self.peer} sent a bad message: {exc}") from None
        except (StreamClosedError, StreamBufferFullError) as exc:
            if self._expired is not None:
                raise ChannelClosed(f"{self.peer} {self._expired}") from None
            raise ChannelClosed(f"{self.peer}: {exc or 'closed the connection'}") from None

    async def _read_buffer(self, length: int):
        """One buffer; a large one straight into memory of its own (no growing and copying of
        the stream's read buffer), not zero-filled first: the read touches each page once (a
        first touch is most of the cost of moving 800 MB here)."""
        if length < LARGE_BUFFER:
            return await self.stream.read_bytes(length) if length else b""
        buffer = memoryview(np.empty(length, np.uint8))
        await self.stream.read_into(buffer)
        return buffer

    async def write(self, header: wire.Header, buffers: Sequence[bytes] = ()) -> None:
        """Send one message. Buffers to compress from OFF_LOOP_FROM bytes on are compressed in a
        thread, the loop serving others meanwhile; messages still leave in the order written."""
        try:
            async with self._encoding:
                if self.compress and any(len(buffer) >= OFF_LOOP_FROM for buffer in buffers):
                    frames = await asyncio.to_thread(wire.encode, header, buffers, True)
                else:
                    frames = wire.encode(header, buffers, self.compress)
                for frame in frames[:-1]:
                    self.stream.write(frame)
                sent = self.stream.write(frames[-1])
            await sent
        except StreamClosedError:
            raise ChannelClosed(f"{self.peer} closed the connection") from None

    async def abort(self, reason: str) -> None:
        """Tell the peer why (best effort), then close."""
        try:
            await self.write({"type": "error", "message": reason})
        except ChannelClosed:
            pass
        self.close()

    def close(self) -> None:
        self._frame_done()
        self.stream.close()


Handler = Callable[[Channel], Awaitable[None]]


LARGE_BUFFER = 1 << 20  # read straight into memory of its own from this size on
# Compression cannot pay between processes of one host: memory is faster than lz4.
SAME_HOST_SKIPS_COMPRESSION = True
# Tornado refuses reads over 100 MiB by default; our frames carry up to wire.DEFAULT_MAX_PAYLOAD.
MAX_BUFFER = wire.DEFAULT_MAX_PAYLOAD + (1 << 20)
# What a channel we dialled may send us in one message: the answers to what we asked (a block's
# result of several GiB from a worker's data channel), from a member of our own cluster.
DIALED_MAX_PAYLOAD = 1 << 40


class _Server(GuardedAccept, TCPServer):
    def __init__(self, handler: Handler, compress: bool):
        super().__init__(max_buffer_size=MAX_BUFFER)
        self.handler = handler
        self.compress = compress
        self.open = 0
        self._refusals_logged = 0.0

    async def handle_stream(self, stream: IOStream, address) -> None:
        if self.open >= MAX_CONNECTIONS:  # refused at once; said once a minute at most
            stream.close()
            now = asyncio.get_running_loop().time()
            if now - self._refusals_logged > 60:
                self._refusals_logged = now
                log.warning("refusing connections from %s and others: %d are open on this port",
                            address[0], self.open)
            return
        self.open += 1
        try:
            await self._serve(stream)
        finally:
            self.open -= 1

    async def _serve(self, stream: IOStream) -> None:
        if _secret is not None and not await _authenticated(stream):
            return
        channel = Channel(stream, self.compress, accepted=True)
        try:
            await self.handler(channel)
        except ChannelClosed as exc:
            log.debug("channel ended: %s", exc)
        except Exception:
            log.exception("handler for %s failed", channel.peer)
        finally:
            channel.close()


_secret: Optional[bytes] = None


def use_secret(secret: Optional[bytes]) -> None:
    """From now on, every channel this process opens or accepts authenticates both ways with
    ``secret`` (``net.auth``) before its first frame; None: channels are open, as the original's."""
    global _secret
    _secret = secret


async def _authenticated(stream: IOStream) -> bool:
    """An accepted connection's peer proved it holds the secret; else it is sent one error frame
    and closed, and the failure is logged once per address."""
    address = stream.socket.getpeername()[0] if stream.socket else "?"
    try:
        await auth.authenticate(stream, _secret or b"", dialed=False, timeout=FIRST_FRAME_TIMEOUT)
        return True
    except auth.AuthenticationFailed as exc:
        auth.log_refusal(address, "a connection", str(exc))
        try:
            await stream.write(b"".join(wire.encode({"type": "error", "message": "authentication failed"})))
        except StreamClosedError:
            pass
        stream.close()
        return False


class CannotListen(OSError):
    """A port that cannot be bound, with the setting that chose it (one line for the user)."""


def listen(port: int, handler: Handler, address: str = "", compress: bool = False,
           setting: str = "") -> Tuple[TCPServer, int]:
    """Serve ``handler(channel)`` for each connection; returns the server and the bound port
    (``port`` 0 picks a free one). ``setting`` names the variable that chose the port."""
    server = _Server(handler, compress)
    sockets = bind(port, address, setting)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


def bind(port: int, address: str = "", setting: str = "") -> List[socket.socket]:
    from tornado.netutil import bind_sockets

    try:
        return bind_sockets(port, address or None, family=socket.AF_INET)
    except OSError as exc:
        chosen_by = f" (set by {setting})" if setting else ""
        raise CannotListen(exc.errno, f"cannot listen on port {port}{chosen_by}: "
                                      f"{exc.strerror or exc}") from None


async def connect(host: str, port: int, timeout: float, compress: bool = False,
                  first_delay: float = 0.05, max_delay: float = 2.0) -> Channel:
    """Connect under a deadline, retrying with jittered exponential backoff; the last error is
    chained onto the ``TimeoutError``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = first_delay
    last_error: Optional[BaseException] = None
    while True:
        try:
            remaining = max(0.01, deadline - loop.time())
            stream = await asyncio.wait_for(TCPClient().connect(host, port, max_buffer_size=DIALED_MAX_PAYLOAD),
                                            remaining)
            if _secret is not None:
                try:
                    await auth.authenticate(stream, _secret, dialed=True, timeout=max(1.0, deadline - loop.time()))
                except auth.AuthenticationFailed as exc:
                    stream.close()
                    raise ConnectionRefusedError(f"{host}:{port} refused the cluster's secret: {exc}") from None
            return Channel(stream, compress, max_payload=DIALED_MAX_PAYLOAD)
        except (OSError, StreamClosedError, asyncio.TimeoutError) as exc:
            last_error = getattr(exc, "real_error", None) or exc  # tornado hides why: "Connection refused"
        if loop.time() + delay > deadline:
            raise TimeoutError(f"could not connect to {host}:{port} within {timeout:.1f} s") from last_error
        await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(max_delay, delay * 2)
