"""The introduction between two members (``net.identity``) as a protocol, over in-process channels
(``net.inproc``): both ends prove their token over fresh nonces, and each refuses what does not
prove it. The same exchange between real workers over TCP is in test_member_identity.py."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Optional

import pytest

from ufora.net import identity, inproc
from ufora.net.comm import Channel, ChannelClosed

A, B = "worker-a", "worker-b"
KEYS = {A: identity.new_key(), B: identity.new_key()}


def handed_to(audience: str) -> Callable[[str], Awaitable[Optional[str]]]:
    """What the registry hands ``audience``: each other member's token for it."""
    async def token_of(member: str) -> Optional[str]:
        return identity.token(KEYS[member], audience) if member in KEYS and member != audience else None
    return token_of


async def listener_side(channel: Channel, me: str = B, key: str = KEYS[B]) -> str:
    """As a worker's control port does: the first message is the hello, then the exchange."""
    hello, _ = await channel.read()
    try:
        return await identity.identify(channel, hello, me, key, handed_to(me))
    except identity.Refused as exc:
        await channel.abort(f"introduction refused: {exc}")
        raise


def exchange(dialer: Callable[[Channel], Awaitable[object]],
             listener: Callable[[Channel], Awaitable[object]] = listener_side) -> tuple:
    """Both ends at once, each closing its channel when it is done (as a worker does); each
    one's result or exception."""
    async def closing(side: Callable[[Channel], Awaitable[object]], channel: Channel) -> object:
        try:
            return await side(channel)
        finally:
            channel.close()

    async def main() -> tuple:
        dialed, accepted = inproc.pair()
        return tuple(await asyncio.wait_for(asyncio.gather(closing(dialer, dialed), closing(listener, accepted),
                                                           return_exceptions=True), 10))
    return asyncio.run(main())


def test_two_members_introduce_themselves_and_the_channel_then_carries_messages():
    async def dialer(channel):
        await identity.introduce(channel, A, KEYS[A], B, identity.token(KEYS[B], A))
        await channel.write({"type": "offer", "worker": A})
        return (await channel.read())[0]

    async def listener(channel):
        member = await listener_side(channel)
        header, _ = await channel.read()
        await channel.write({"type": "ok", "from": member, "got": header["type"]})
        return member

    assert exchange(dialer, listener) == ({"type": "ok", "from": A, "got": "offer"}, A)


def test_a_dialer_that_claims_another_member_s_id_is_refused():
    """It holds a key, but not A's: its proof is not A's token."""
    async def dialer(channel):
        await identity.introduce(channel, A, identity.new_key(), B, identity.token(KEYS[B], A))
        return await channel.read()

    introduced, refused = exchange(dialer)
    assert introduced == ({"type": "error", "message": f"introduction refused: it did not prove it is worker {A}"}, [])
    assert isinstance(refused, identity.Refused)


def test_a_listener_that_is_not_the_member_the_registry_named_is_refused_before_anything_is_sent():
    async def impostor(channel):
        return await listener_side(channel, key=identity.new_key())

    async def dialer(channel):
        await identity.introduce(channel, A, KEYS[A], B, identity.token(KEYS[B], A))

    refused, waiting = exchange(dialer, impostor)
    assert isinstance(refused, identity.Refused) and "is not worker worker-b" in str(refused)
    assert isinstance(waiting, ChannelClosed)  # the dialer sent no proof: it closed the channel


def test_a_stranger_and_a_hello_without_a_nonce_are_refused_with_the_reason():
    async def stranger(channel):
        await identity.introduce(channel, "worker-c", identity.new_key(), B, "no token")

    async def no_nonce(channel):
        await channel.write({"type": "hello", "worker": A})
        return await channel.read()

    refused, _ = exchange(stranger)
    assert isinstance(refused, identity.Refused)
    assert str(refused) == ("worker worker-b refused our introduction: "
                            "introduction refused: worker 'worker-c' is not a member of this cluster")
    answer, _ = exchange(no_nonce)
    assert answer == ({"type": "error", "message": "introduction refused: its hello names no worker and nonce"}, [])


def test_a_proof_seen_on_one_channel_does_not_pass_on_another():
    """A replay of A's proof from an earlier introduction: the listener's nonce is new."""
    seen: dict = {}

    async def recording(channel):
        await identity.introduce(channel, A, KEYS[A], B, identity.token(KEYS[B], A))

    async def listener(channel):
        hello, _ = await channel.read()
        seen["hello"] = hello
        member = await identity.identify(channel, hello, B, KEYS[B], handed_to(B))
        return member

    exchange(recording, listener)

    async def replaying(channel):
        await channel.write(seen["hello"])
        challenge, _ = await channel.read()
        await channel.write({"type": "proof", "proof": identity.proof(identity.token(KEYS[A], B),
                                                                      seen["hello"]["nonce"], "an earlier nonce")})
        return challenge["type"], await channel.read()

    replayed, refused = exchange(replaying)
    assert replayed == ("challenge", ({"type": "error", "message": f"introduction refused: it did not prove it is "
                                                                   f"worker {A}"}, []))
    assert isinstance(refused, identity.Refused)


@pytest.mark.parametrize("answer", [{"type": "error", "message": "busy"}, {"type": "heartbeat"}])
def test_a_dialer_refuses_a_listener_that_answers_its_hello_with_anything_but_a_challenge(answer):
    async def dialer(channel):
        await identity.introduce(channel, A, KEYS[A], B, identity.token(KEYS[B], A))

    async def listener(channel):
        await channel.read()
        await channel.write(answer)

    refused, _ = exchange(dialer, listener)
    assert isinstance(refused, identity.Refused)
    assert str(refused) == f"worker {B} refused our introduction: {answer.get('message', answer['type'])}"
