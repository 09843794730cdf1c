"""A client taking its block's large result straight from the worker's data channel (net.blobs),
blocking, rather than through the manager (which would fetch it, keep it and serve it again).

The client speaks the data channel as a service dials it (``net.channel``): TLS first where the
cluster serves it (the worker's certificate verified against the client's authority, its
addresses checked as ``net.tls`` says), then the cluster secret's handshake with the client as
the dialer (``net.auth``), then one ``fetch`` with the capability the worker handed out for the
result, answered by ``blob`` (``net.wire`` frames; lz4 buffers decompressed), then ``fetched``,
after which the worker drops it. A socket in the client's own thread, with a deadline on
connecting and on each read: the client runs no event loop.

Every failure is a ``FetchFailed`` saying what failed; the client then asks the manager for the
result instead (``GET /results/<token>``), which answers with the result or with why it is lost.
A large buffer is read straight into memory of its own (``numpy.empty``: writable and aligned
for the arrays rebuilt on it, not zero-filled first).
"""
from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import List, Optional, Union

import numpy as np

from ufora.net import auth, tls, wire

# What the worker may send in one answer: the result of a block, from a member of the cluster
# we proved the secret to (as net.channel.DIALED_MAX_PAYLOAD).
MAX_PAYLOAD = 1 << 40
LARGE_BUFFER = 1 << 20  # read into memory of its own from this size on
_READ_PIECE = 16 << 20  # bytes asked of one recv_into


class FetchFailed(Exception):
    """The result could not be taken from the worker; ``connected``: whether the channel was up
    (else the worker could not be reached, or refused us: not worth trying again soon)."""

    def __init__(self, message: str, connected: bool):
        super().__init__(message)
        self.connected = connected


@dataclass(frozen=True)
class Where:
    """A result on a worker's data channel, as the manager's JOB_DONE names it."""
    address: str
    port: int
    key: str
    capability: str
    tls: bool

    @classmethod
    def of(cls, described: dict) -> "Where":
        return cls(str(described["address"]), int(described["port"]), str(described["key"]),
                   str(described["capability"]), bool(described.get("tls")))

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


def fetch(where: Where, secret: Optional[bytes], tls_context: Optional[ssl.SSLContext],
          connect_timeout: float, read_timeout: float) -> List[Union[bytes, memoryview]]:
    """The buffers of the result ``where`` names. ``tls_context``: how to verify the worker
    when it serves TLS (``net.tls.peer_context`` of the client's authority; None: it cannot be);
    ``secret``: the cluster's, if it has one. Each read waits at most ``read_timeout`` seconds
    for the worker."""
    sock = _connected(where, secret, tls_context, connect_timeout)
    try:
        sock.settimeout(read_timeout)
        try:
            sock.sendall(_message({"type": "fetch", "key": where.key, "capability": where.capability}))
            header, buffers = _read_message(sock)
        except (OSError, wire.WireError) as exc:
            raise FetchFailed(f"reading the result from worker {where} failed: {_said(exc)}", True) from None
        if header.get("type") == "missing":
            raise FetchFailed(f"worker {where} no longer has the result: {header.get('message')}", True)
        if header.get("type") != "blob" or header.get("key") != where.key:
            raise FetchFailed(f"worker {where} answered {header.get('type')!r} for {header.get('key')!r}, "
                              "not the result asked for", True)
        try:  # it may drop the result now; if this does not reach it, the result expires there
            sock.sendall(_message({"type": "fetched", "key": where.key, "capability": where.capability}))
        except OSError:
            pass
        return buffers
    finally:
        sock.close()


def _connected(where: Where, secret: Optional[bytes], tls_context: Optional[ssl.SSLContext],
               timeout: float) -> socket.socket:
    """A socket to the worker's data channel, through TLS and the secret's handshake as the
    cluster wants them, within ``timeout``."""
    if where.tls and tls_context is None:  # the system's authorities would not do: net.tls
        raise FetchFailed(f"worker {where} serves TLS, and this client was given no authority to verify it "
                          "with (tls_ca)", False)
    try:
        sock = socket.create_connection((where.address, where.port), timeout=timeout)
    except OSError as exc:
        raise FetchFailed(f"worker {where} could not be reached: {_said(exc)}", False) from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if where.tls:
            assert tls_context is not None
            sock = tls_context.wrap_socket(sock)
            mismatch = tls.address_mismatch(sock.getpeercert() or {}, where.address)
            if mismatch is not None:
                raise FetchFailed(f"worker {where}: {mismatch}", False)
        if secret is not None:
            auth.authenticate_dialed_socket(sock, secret)
        return sock
    except FetchFailed:
        sock.close()
        raise
    except (OSError, auth.AuthenticationFailed) as exc:  # ssl.SSLError is an OSError
        sock.close()
        raise FetchFailed(f"worker {where} refused this client: {_said(exc)}", False) from None


def _message(header: wire.Header) -> bytes:
    return b"".join(wire.encode(header))


def _read_message(sock: socket.socket) -> tuple:
    header_length, count = wire.decode_prefix(_exactly(sock, wire.PREFIX.size))
    lengths = wire.decode_lengths(_exactly(sock, 8 * count), MAX_PAYLOAD)
    header = wire.decode_header(_exactly(sock, header_length))
    buffers: List[Union[bytes, memoryview]] = []
    for length, compressed in lengths:
        data = _read_buffer(sock, length)
        buffers.append(wire.decode_buffer(data, compressed, MAX_PAYLOAD) if compressed else data)
    return header, buffers


def _read_buffer(sock: socket.socket, length: int) -> Union[bytes, memoryview]:
    if length < LARGE_BUFFER:
        return _exactly(sock, length)
    view = memoryview(np.empty(length, np.uint8)).cast("B")
    at = 0
    while at < length:
        count = sock.recv_into(view[at:], min(length - at, _READ_PIECE))
        if not count:
            raise ConnectionError(f"the worker closed the connection {length - at} bytes before the end of a buffer")
        at += count
    return view


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the worker closed the connection in the middle of a message")
        data += chunk
    return bytes(data)


def _said(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "it stopped answering (timed out)"
    return str(exc) or type(exc).__name__
