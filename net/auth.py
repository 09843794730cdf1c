"""Mutual authentication of the channels between services, with the cluster's secret.

Before any frame is read, both ends of a connection prove that they hold the secret, which never
crosses the wire: each sends a fresh random nonce, then an HMAC-SHA256 of both nonces and of its
role (dialer or listener), and checks the other's with a constant-time compare. A proof is good
for one connection only (fresh nonces on both sides) and for one direction (the role), so it can
be neither replayed on another connection nor reflected back. Before the peer has proven itself,
it can make us read exactly HELLO + PROOF bytes, within a deadline.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import socket

from tornado.iostream import IOStream, StreamClosedError

from ufora.net.wire import AUTH_MAGIC as MAGIC
from ufora.net.wire import TLS_MAGIC, TLS_ONLY

log = logging.getLogger(__name__)
NONCE = 32
HELLO = len(MAGIC) + NONCE
PROOF = hashlib.sha256().digest_size


class AuthenticationFailed(Exception):
    """The peer did not prove it holds this cluster's secret (or spoke no handshake at all)."""


class ServesTLSOnly(AuthenticationFailed):
    """The peer answered our hello with the refusal of a port that serves TLS only (net.channel)."""


def proof(secret: bytes, role: bytes, dialer_nonce: bytes, listener_nonce: bytes) -> bytes:
    return hmac.new(secret, b"ufora-channel|" + role + b"|" + dialer_nonce + listener_nonce, hashlib.sha256).digest()


async def authenticate(stream: IOStream, secret: bytes, dialed: bool, timeout: float) -> None:
    """Prove our knowledge of ``secret`` to the peer of ``stream`` and check its proof, within
    ``timeout`` seconds; ``AuthenticationFailed`` saying why not."""
    try:
        await asyncio.wait_for(_handshake(stream, secret, dialed), timeout)
    except asyncio.TimeoutError:
        raise AuthenticationFailed(f"it did not complete the cluster's handshake within {timeout:.0f} s") from None
    except StreamClosedError:
        raise AuthenticationFailed("it closed the connection during the cluster's handshake (a service "
                                   "with another secret, or none)") from None


async def _handshake(stream: IOStream, secret: bytes, dialed: bool) -> None:
    mine = os.urandom(NONCE)
    stream.write(MAGIC + mine)
    theirs = _their_nonce(await stream.read_bytes(HELLO))
    ours, expected = _proofs(secret, dialed, mine, theirs)
    stream.write(ours)
    _check_proof(await stream.read_bytes(PROOF), expected)


def _their_nonce(hello: bytes) -> bytes:
    if hello.startswith(TLS_MAGIC):
        raise ServesTLSOnly(TLS_ONLY)
    if hello[:len(MAGIC)] != MAGIC:
        raise AuthenticationFailed("it did not start the cluster's handshake (a service without "
                                   "UFORA_CLUSTER_SECRET, or not a ufora service)")
    return hello[len(MAGIC):]


def _proofs(secret: bytes, dialed: bool, mine: bytes, theirs: bytes) -> tuple:
    """(the proof we send, the one we expect)."""
    dialer, listener = (mine, theirs) if dialed else (theirs, mine)
    role, their_role = (b"dialer", b"listener") if dialed else (b"listener", b"dialer")
    return proof(secret, role, dialer, listener), proof(secret, their_role, dialer, listener)


def _check_proof(theirs: bytes, expected: bytes) -> None:
    if not hmac.compare_digest(theirs, expected):
        raise AuthenticationFailed("its proof does not match this cluster's secret (UFORA_CLUSTER_SECRET differs)")


def authenticate_dialed_socket(sock: socket.socket, secret: bytes) -> None:
    """``authenticate`` on a blocking socket we dialled (a client's, which runs no event loop),
    within the socket's own timeout: the same bytes and checks. ``AuthenticationFailed`` saying
    why not; ``OSError`` (``socket.timeout`` among them) as the socket raises it."""
    mine = os.urandom(NONCE)
    sock.sendall(MAGIC + mine)
    theirs = _their_nonce(_exactly(sock, HELLO))
    ours, expected = _proofs(secret, True, mine, theirs)
    sock.sendall(ours)
    _check_proof(_exactly(sock, PROOF), expected)


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise AuthenticationFailed("it closed the connection during the cluster's handshake (a service "
                                       "with another secret, or none)")
        data += chunk
    return data


_refusals_logged: set = set()  # (address, kind of failure) already logged
_MAX_LOGGED = 10_000


def log_refusal(address: str, what: str, why: str = "", kind: str = "") -> None:
    """Say once per address (and ``kind`` of failure) that a peer was refused: a stranger
    retrying in a loop must not fill the log."""
    if (address, kind) not in _refusals_logged and len(_refusals_logged) < _MAX_LOGGED:
        _refusals_logged.add((address, kind))
        log.warning("refused %s from %s%s (said once per address)", what, address, f": {why}" if why else "")
