"""Which member of the cluster is on the other end of a channel between two workers.

Each worker draws a random *key* at start and sends it only to the registry, in its ``register``
frame: the registry lets a live member's id be registered again only with that same key (a worker
whose registry connection dropped), so nobody else can take the id over. From the key the
registry derives, for every other member, a *token*: ``token(key of A, B)`` is what worker A
proves itself with to worker B, handed to B alone (in ``welcome`` or ``joined``); A derives it
from its own key. So a token is good between one pair of workers in one direction: B cannot pass
for A to C, and no token reveals the key.

A worker that dials a peer's control port introduces itself before any other message, both
ends proving their token over fresh nonces (like ``net.auth`` for the cluster's secret), so a
proof seen on one connection cannot be replayed on another, even on an open cluster::

    dialer A                                       listener B
    hello {worker: A, nonce: nA}           ->      (B waits briefly for the registry to announce A)
                                           <-      challenge {nonce: nB, proof: HMAC(token(kB, A), nA|nB)}
    proof {proof: HMAC(token(kA, B), nA|nB)}  ->   the channel is worker A's from now on

The listener proves itself too: the dialer sends partitions (code and data) on that channel, so
it must be the member the registry named, not whoever holds that address now.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from typing import Awaitable, Callable, Optional

from ufora.net import auth
from ufora.net.comm import Channel, ChannelClosed


# Seconds an introduction may take, each way; also how long a listener waits for the registry
# to announce a member that dialed it (its ``joined`` can arrive after the member's first dial).
INTRODUCTION_TIMEOUT = 10.0


class Refused(ChannelClosed):
    """The other end of the channel did not prove it is the member it says it is."""


def new_key() -> str:
    return secrets.token_hex(32)


def token(key: str, audience: str) -> str:
    """What the worker holding ``key`` proves itself with to worker ``audience``."""
    return hmac.new(key.encode(), b"ufora-member|" + audience.encode(), hashlib.sha256).hexdigest()


def proof(member_token: str, dialer_nonce: str, listener_nonce: str) -> str:
    return hmac.new(member_token.encode(), f"ufora-peer|{dialer_nonce}|{listener_nonce}".encode(),
                    hashlib.sha256).hexdigest()


def _matches(claimed: object, expected: str) -> bool:
    return isinstance(claimed, str) and hmac.compare_digest(claimed.encode(), expected.encode())


async def introduce(channel: Channel, me: str, key: str, peer: str, peer_token: str) -> None:
    """As the dialer of ``channel``: prove to ``peer`` that we are member ``me``, and check that
    it is ``peer`` (``peer_token``, from the registry); ``Refused`` or ``ChannelClosed`` if not."""
    nonce = secrets.token_hex(16)
    await channel.write({"type": "hello", "worker": me, "nonce": nonce})
    header, _ = await asyncio.wait_for(channel.read(), INTRODUCTION_TIMEOUT)
    if header.get("type") != "challenge":
        raise Refused(f"worker {peer} refused our introduction: {header.get('message', header.get('type'))}")
    theirs = header.get("nonce")
    if not isinstance(theirs, str) or not _matches(header.get("proof"), proof(peer_token, nonce, theirs)):
        raise Refused(f"the worker at {channel.peer} is not worker {peer} (its proof does not match)")
    await channel.write({"type": "proof", "proof": proof(token(key, peer), nonce, theirs)})


async def identify(channel: Channel, hello: dict, me: str, key: str,
                   token_of: Callable[[str], Awaitable[Optional[str]]]) -> str:
    """As the listener of ``channel``, its dialer's ``hello`` read: the member it proved to be;
    ``Refused`` if it is none (``token_of`` gives a member's token, None for a stranger)."""
    peer, theirs = hello.get("worker"), hello.get("nonce")
    if not isinstance(peer, str) or not isinstance(theirs, str):
        raise Refused("its hello names no worker and nonce")
    peer_token = await token_of(peer)
    if peer_token is None:
        raise Refused(f"worker {peer!r} is not a member of this cluster")
    nonce = secrets.token_hex(16)
    await channel.write({"type": "challenge", "nonce": nonce, "proof": proof(token(key, peer), theirs, nonce)})
    try:
        header, _ = await asyncio.wait_for(channel.read(), INTRODUCTION_TIMEOUT)
    except asyncio.TimeoutError:
        raise Refused(f"it did not prove it is worker {peer} within {INTRODUCTION_TIMEOUT:.0f} s") from None
    if header.get("type") != "proof" or not _matches(header.get("proof"), proof(peer_token, theirs, nonce)):
        raise Refused(f"it did not prove it is worker {peer}")
    return peer


def log_refusal(channel: Channel, what: str) -> None:
    """Say once per address that a peer's channel was refused (``net.auth.log_refusal``)."""
    auth.log_refusal(channel.peer.rsplit(":", 1)[0], what)
