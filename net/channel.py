"""The TCP implementation of ``net.comm.Channel``: every connection between services (registry,
control, data) when they run, and the one module that names TCP.

A ``TcpChannel`` reads and writes whole messages (``net.wire``) over a Tornado ``IOStream``.
Every failure of a read or write (the peer gone, a buffer over the limit, a message that breaks
the wire rules) surfaces as ``ChannelClosed``; a message that breaks the wire rules is
answered with an ``error`` frame, then the connection is closed (we cannot know how much of the
stream is left to trust). ``listen`` (a ``net.comm.Listener``) and ``connect`` (a
``net.comm.Connector``) make them; services type against ``net.comm`` only.

Before the first frame, a connection may start TLS (``use_tls``) and then prove the cluster's
secret (``use_secret``), in that order: the secret's handshake runs inside TLS. A listener tells
TLS from plain TCP by the first byte the dialer sends (a TLS handshake record begins with 0x16,
our frames and hellos with "U"), so a peer configured otherwise is refused with a reason that
names the setting to fix, on both sides, rather than with a garbled handshake.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import ssl
from contextlib import suppress
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.tcpclient import TCPClient
from tornado.tcpserver import TCPServer

from ufora.net import auth, tls, wire
from ufora.net.accepting import GuardedAccept
from ufora.net.comm import Channel, ChannelClosed, Handler, Listener, Message, serve

log = logging.getLogger(__name__)


# Limits on what an accepted connection may hold open (a peer that never sends, or sends a
# frame a byte at a time, would otherwise keep its memory and file descriptor forever).
FIRST_FRAME_TIMEOUT = 60.0  # seconds from accepting a connection to its first byte
FRAME_TIMEOUT = 10.0        # seconds from a frame's first byte to its last, plus ...
SLOWEST_RATE = 1 << 20      # ... a second per MiB of its buffers
MAX_CONNECTIONS = 512       # open connections per listening port
# lz4 on buffers this large runs in a thread (as dask's distributed does from 10 MB): 1 GiB
# takes about a second, which the event loop would otherwise spend away from every other peer
OFF_LOOP_FROM = 10 << 20


class TcpChannel(Channel):
    def __init__(self, stream: IOStream, compress: bool = False,
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, accepted: bool = False,
                 heard: Optional[Callable[[], None]] = None):
        self.stream = stream
        self._heard = heard  # called once, as its first whole frame arrives
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
            if self._heard is not None:
                self._heard()
                self._heard = None
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
                pieces = _joined(frames)
                for piece in pieces[:-1]:
                    self.stream.write(piece)
                sent = self.stream.write(pieces[-1])
            await sent
        except StreamClosedError:
            raise ChannelClosed(f"{self.peer} closed the connection") from None

    def close(self) -> None:
        self._frame_done()
        self.stream.close()


LARGE_BUFFER = 1 << 20  # read straight into memory of its own from this size on
# Frames smaller than this are joined with their neighbours before they are written: each write
# is a system call that wakes the reader (a block's message is a prefix and three small
# buffers: one call instead of four); larger buffers are never copied for it.
JOIN_BELOW = 64 << 10
# Compression cannot pay between processes of one host: memory is faster than lz4.
SAME_HOST_SKIPS_COMPRESSION = True
# Tornado refuses reads over 100 MiB by default; our frames carry up to wire.DEFAULT_MAX_PAYLOAD.
MAX_BUFFER = wire.DEFAULT_MAX_PAYLOAD + (1 << 20)
# What a channel we dialled may send us in one message: the answers to what we asked (a block's
# result of several GiB from a worker's data channel), from a member of our own cluster.
DIALED_MAX_PAYLOAD = 1 << 40


def _joined(frames: Sequence[bytes]) -> List[bytes]:
    """``frames`` in order, each run of small ones joined into one piece."""
    pieces: List[bytes] = []
    run: List[bytes] = []
    for frame in frames:
        if len(frame) < JOIN_BELOW:
            run.append(frame)
            continue
        if run:
            pieces.append(b"".join(run))
            run = []
        pieces.append(frame)
    if run:
        pieces.append(b"".join(run))
    return pieces


class _Server(GuardedAccept, TCPServer):
    def __init__(self, handler: Handler, compress: bool):
        super().__init__(max_buffer_size=MAX_BUFFER)
        self.handler = handler
        self.compress = compress
        self.open = 0
        # Connections not yet heard from (no whole frame, no proof of the secret), oldest first:
        # key -> the stream to close (the TLS one once its handshake is done).
        self.silent: Dict[int, IOStream] = {}
        self._refusals_logged = 0.0
        self._evictions_logged = 0.0

    async def handle_stream(self, stream: IOStream, address) -> None:
        if self.open >= MAX_CONNECTIONS and not self._evict_silent(address[0]):
            stream.close()  # refused at once; said once a minute at most
            now = asyncio.get_running_loop().time()
            if now - self._refusals_logged > 60:
                self._refusals_logged = now
                log.warning("refusing connections from %s and others: %d are open on this port",
                            address[0], self.open)
            return
        self.open += 1
        key = id(stream)
        self.silent[key] = stream
        try:
            await self._serve(stream, key)
        finally:
            self.open -= 1
            self.silent.pop(key, None)

    def _evict_silent(self, newcomer: str) -> bool:
        """Make room on a full port by closing the oldest connection that has said nothing yet:
        idle strangers (hundreds of them, each held up to FIRST_FRAME_TIMEOUT) must not shut out
        the cluster's own connections, which speak as soon as they connect. Whether one went."""
        if not self.silent:
            return False
        key = next(iter(self.silent))
        oldest = self.silent.pop(key)
        oldest.close()
        now = asyncio.get_running_loop().time()
        if now - self._evictions_logged > 60:
            self._evictions_logged = now
            log.warning("this port is full (%d open): closing the connections that sent nothing, oldest first, "
                        "for new ones (%s and others)", self.open, newcomer)
        return True

    async def _serve(self, plain: IOStream, key: int) -> None:
        stream = await _tls_accepted(plain)
        if stream is None:
            return
        if key in self.silent:
            self.silent[key] = stream
        if _secret is not None and not await _authenticated(stream):
            return
        if _secret is not None:  # a member of the cluster: never taken for a stranger
            self.silent.pop(key, None)
        await serve(self.handler, TcpChannel(stream, self.compress, accepted=True,
                                             heard=lambda: self.silent.pop(key, None)))


_secret: Optional[bytes] = None


def use_secret(secret: Optional[bytes]) -> None:
    """From now on, every channel this process opens or accepts authenticates both ways with
    ``secret`` (``net.auth``) before its first frame; None: channels are open, as the original's."""
    global _secret
    _secret = secret


async def _authenticated(stream: IOStream) -> bool:
    """An accepted connection's peer proved it holds the secret; else it is sent one error frame
    and closed, and the failure is logged once per address."""
    try:
        await auth.authenticate(stream, _secret or b"", dialed=False, timeout=FIRST_FRAME_TIMEOUT)
        return True
    except auth.AuthenticationFailed as exc:
        _refused(_peer_address(stream), "secret", str(exc))
        try:
            await stream.write(b"".join(wire.encode({"type": "error", "message": "authentication failed"})))
        except StreamClosedError:
            pass
        stream.close()
        return False


def _refused(address: str, kind: str, why: str) -> None:
    auth.log_refusal(address, "a connection", why, kind)


def _peer_address(stream: IOStream) -> str:
    try:
        return stream.socket.getpeername()[0] if stream.socket else "?"
    except OSError:
        return "?"


_serving: Optional[ssl.SSLContext] = None  # accepted channels serve TLS with it (UFORA_TLS_CERT, _KEY)
_dialing: Optional[ssl.SSLContext] = None  # dialled channels start TLS with it (UFORA_TLS_CA)
_handshaking: set = set()  # descriptors of our TLS handshakes in progress
TLS_RECORD = 0x16  # the first byte of a TLS handshake record: a ClientHello
# What a port serving TLS sends a peer that began in plain TCP: as long as a hello of the
# secret's handshake, so that a dialer with a secret or without reads it whole (net.auth, net.wire).
TLS_REFUSAL = wire.TLS_MAGIC.ljust(auth.HELLO, b"\0")


def use_tls(serving: Optional[ssl.SSLContext], dialing: Optional[ssl.SSLContext]) -> None:
    """From now on, channels this process accepts serve TLS with ``serving`` and refuse a peer
    that does not start TLS (None: they refuse a peer that does), and channels it dials start
    TLS with ``dialing``, verifying the peer (``net.tls``); None: they dial plain TCP."""
    global _serving, _dialing
    _serving, _dialing = serving, dialing
    logging.getLogger("tornado.general").addFilter(_our_handshakes)


def dials_tls() -> bool:
    """Whether the channels this process dials start TLS (so the services it dials serve it)."""
    return _dialing is not None


class _OurHandshakes(logging.Filter):
    """Tornado warns of every failed TLS handshake ("SSL Error on <fd> ..."), which would repeat
    with each retry of a misconfigured peer; ours are said once per peer, naming the setting."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "SSL Error on %s %s: %s" and isinstance(record.args, tuple)
                    and record.args[0] in _handshaking)


_our_handshakes = _OurHandshakes()


async def _first_byte(stream: IOStream) -> bytes:
    """The first byte the peer sent, left unread (MSG_PEEK); b"" if it closed without one."""
    sock = stream.socket
    loop = IOLoop.current()
    readable = asyncio.get_running_loop().create_future()

    def ready(fd: socket.socket, events: int) -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_handler(sock, ready, IOLoop.READ)
    try:
        await asyncio.wait_for(readable, FIRST_FRAME_TIMEOUT)
    finally:
        loop.remove_handler(sock)
    return sock.recv(1, socket.MSG_PEEK)


async def _tls_accepted(stream: IOStream) -> Optional[IOStream]:
    """The stream to go on with: ``stream`` itself where neither side wants TLS, its TLS stream
    once the handshake is done where both do; None (closed, and said once per address) where
    only one does, or the handshake fails."""
    address = _peer_address(stream)
    try:
        first = await _first_byte(stream)
    except asyncio.CancelledError:  # the service is stopping
        stream.close()
        raise
    except (asyncio.TimeoutError, OSError) as exc:
        if isinstance(exc, asyncio.TimeoutError):
            log.info("closing the connection from %s: it sent nothing within %.0f s", address, FIRST_FRAME_TIMEOUT)
        stream.close()
        return None
    began_tls = first[:1] == bytes([TLS_RECORD])
    if first and began_tls and _serving is not None:
        return await _handshake(stream, address)
    if first and not began_tls and _serving is None:
        return stream
    if began_tls:
        _refused(address, "tls", "it started TLS (UFORA_TLS_CA is set there), which this service does not serve: "
                                 "set UFORA_TLS_CERT and UFORA_TLS_KEY here, or unset UFORA_TLS_CA there")
    elif first:
        _refused(address, "plain", "this service serves TLS only (UFORA_TLS_CERT is set here) and it did not "
                                   "start TLS: set UFORA_TLS_CA there to the authority that signed UFORA_TLS_CERT")
        with suppress(StreamClosedError):
            await stream.write(TLS_REFUSAL)
    stream.close()  # b"": the peer left before saying anything
    return None


async def _handshake(stream: IOStream, address: str) -> Optional[IOStream]:
    fd = stream.socket.fileno()
    _handshaking.add(fd)
    try:
        return await asyncio.wait_for(stream.start_tls(server_side=True, ssl_options=_serving), FIRST_FRAME_TIMEOUT)
    except asyncio.TimeoutError:  # the TLS stream is closed with the cancelled handshake
        log.info("closing the connection from %s: no TLS handshake within %.0f s", address, FIRST_FRAME_TIMEOUT)
    except (StreamClosedError, OSError) as exc:  # tornado hands over why the handshake failed, if it knows
        reason = _reason(_why(exc))
        if any(alert in reason for alert in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN")):
            _refused(address, "handshake", f"it does not trust this service's certificate ({reason}): its "
                                           "UFORA_TLS_CA must name the authority that signed UFORA_TLS_CERT here")
        else:
            _refused(address, "handshake", f"the TLS handshake failed ({reason})")
    finally:
        _handshaking.discard(fd)
    return None


def _why(exc: BaseException) -> Optional[BaseException]:
    return exc.real_error if isinstance(exc, StreamClosedError) else exc


def _reason(error: Optional[BaseException]) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return error.verify_message
    return getattr(error, "reason", None) or str(error or "") or "the peer closed the connection"


class Refused(ConnectionRefusedError):
    """The peer answered and refused the connection, or we refused the peer (TLS, the cluster's
    secret): trying again changes nothing until a setting does."""


async def _dialed_tls(stream: IOStream, where: str, timeout: float) -> IOStream:
    """``stream`` (just connected) as a TLS stream whose peer UFORA_TLS_CA trusts; else
    ``Refused`` saying which setting to fix."""
    address, fd = _peer_address(stream), stream.socket.fileno()
    _handshaking.add(fd)
    try:
        secured = await asyncio.wait_for(stream.start_tls(server_side=False, ssl_options=_dialing), timeout)
    except (StreamClosedError, OSError) as exc:
        error = _why(exc)
        if isinstance(error, ssl.SSLCertVerificationError):
            raise Refused(f"{where} presented a certificate that UFORA_TLS_CA does not trust "
                          f"({_reason(error)}): UFORA_TLS_CA here must name the authority "
                          "that signed UFORA_TLS_CERT there") from None
        raise Refused(f"{where} ended the TLS handshake ({_reason(error)}): it serves no "
                      "TLS (set UFORA_TLS_CERT and UFORA_TLS_KEY there, or unset UFORA_TLS_CA "
                      "here), or refused ours") from None
    finally:
        _handshaking.discard(fd)
    mismatch = tls.address_mismatch(secured.socket.getpeercert() or {}, address)
    if mismatch is not None:
        secured.close()
        raise Refused(f"{where}: {mismatch} (UFORA_TLS_CERT there)")
    return secured


class CannotListen(OSError):
    """A port that cannot be bound, with the setting that chose it (one line for the user)."""


def listen(port: int, handler: Handler, address: str = "", compress: bool = False,
           setting: str = "") -> Tuple[Listener, int]:
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
                  first_delay: float = 0.05, max_delay: float = 2.0,
                  refused: Callable[[Refused], None] = lambda error: None) -> TcpChannel:
    """Connect under a deadline, retrying with jittered exponential backoff; the last error is
    chained onto the ``TimeoutError``. ``refused`` is told of every refusal (``Refused``) as it
    comes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = first_delay
    last_error: Optional[BaseException] = None
    while True:
        try:
            remaining = max(0.01, deadline - loop.time())
            stream = await asyncio.wait_for(TCPClient().connect(host, port, max_buffer_size=DIALED_MAX_PAYLOAD),
                                            remaining)
            if _dialing is not None:
                stream = await _dialed_tls(stream, f"{host}:{port}", max(0.01, deadline - loop.time()))
            if _secret is not None:
                try:
                    await auth.authenticate(stream, _secret, dialed=True, timeout=max(1.0, deadline - loop.time()))
                except auth.ServesTLSOnly as exc:
                    stream.close()
                    raise Refused(f"{host}:{port}: {exc}") from None
                except auth.AuthenticationFailed as exc:
                    stream.close()
                    raise Refused(f"{host}:{port} refused the cluster's secret: {exc}") from None
            return TcpChannel(stream, compress, max_payload=DIALED_MAX_PAYLOAD)
        except (OSError, StreamClosedError, asyncio.TimeoutError) as exc:
            last_error = getattr(exc, "real_error", None) or exc  # tornado hides why: "Connection refused"
            if isinstance(exc, Refused):
                refused(exc)
        if loop.time() + delay > deadline:
            raise TimeoutError(f"could not connect to {host}:{port} within {timeout:.1f} s") from last_error
        await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(max_delay, delay * 2)
