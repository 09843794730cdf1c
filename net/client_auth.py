"""Mutual authentication of a client and the manager, with the cluster's secret.

The client port speaks socket.io, whose connect packet carries one ``auth`` object and nothing
can be said before it. So the challenge comes first, over HTTP: the client asks
``GET /auth/challenge`` for a fresh nonce (single use, short-lived), then connects with an HMAC
of that nonce, a nonce of its own and its session id. The manager refuses the connection unless
the proof is right, so nothing unauthenticated ever becomes a socket.io client or claims a
session; its handshake reply proves in turn that it holds the secret, and the client trusts
nothing it receives (results are unpickled) before checking that proof. The secret never
crosses the wire; a proof is good for one connection (the manager's nonce is used once) and
one direction (the role is part of what is signed), and is bound to the session it claims.

Pure functions and state, shared by pyfora and the manager; no I/O, no clock of its own.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from typing import Optional

NONCE_BYTES = 32
CHALLENGE_LIFETIME = 60.0  # seconds a challenge may wait for its connection
MAX_CHALLENGES = 4096  # outstanding at once: beyond it, the oldest is forgotten (bounded memory)
CHALLENGE_PATH = "/auth/challenge"


class Challenges:
    """The nonces the manager handed out and not yet used: each is good once, for
    ``CHALLENGE_LIFETIME`` seconds, and at most ``MAX_CHALLENGES`` are kept, so that
    unauthenticated requests cost a bounded amount of memory."""

    def __init__(self) -> None:
        self._issued: "OrderedDict[str, float]" = OrderedDict()  # nonce -> when it was issued

    def issue(self, now: float) -> str:
        while self._issued and (len(self._issued) >= MAX_CHALLENGES
                                or next(iter(self._issued.values())) < now - CHALLENGE_LIFETIME):
            self._issued.popitem(last=False)
        nonce = secrets.token_hex(NONCE_BYTES)
        self._issued[nonce] = now
        return nonce

    def take(self, nonce: object, now: float) -> bool:
        """Whether ``nonce`` was issued, unused and fresh; it is used up either way."""
        issued = self._issued.pop(nonce, None) if isinstance(nonce, str) else None
        return issued is not None and issued >= now - CHALLENGE_LIFETIME

    def __len__(self) -> int:
        return len(self._issued)


def client_proof(secret: bytes, manager_nonce: str, client_nonce: str, session: str) -> str:
    """What a client holding ``secret`` sends to connect, for the manager to check."""
    return _proof(secret, b"client", manager_nonce, client_nonce, session)


def dashboard_proof(secret: bytes, manager_nonce: str, client_nonce: str) -> str:
    """What a dashboard page sends to watch the cluster (``net.dashboard``): a role of its own,
    so that a page's proof, if taken on its way, cannot connect a client."""
    return _proof(secret, b"dashboard", manager_nonce, client_nonce, "")


def manager_proof(secret: bytes, manager_nonce: str, client_nonce: str, session: str) -> str:
    """What the manager answers in its handshake, for the client to check."""
    return _proof(secret, b"manager", manager_nonce, client_nonce, session)


def matches(sent: object, expected: str) -> bool:
    """A constant-time comparison of a proof received with the one expected."""
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def _proof(secret: bytes, role: bytes, manager_nonce: str, client_nonce: str, session: Optional[str]) -> str:
    message = b"|".join([b"ufora-client-port", role, manager_nonce.encode(), client_nonce.encode(),
                         (session or "").encode()])
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
