"""What a service may rely on of any ``net.comm.Channel``, checked on both implementations: TCP on
loopback (``net.channel``) and in-process (``net.inproc``), so that a protocol unit-tested over
the second behaves the same over the first."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Tuple

import numpy as np
import pytest

from ufora.net import channel as tcp
from ufora.net import inproc, wire
from ufora.net.comm import Channel, ChannelClosed

Scenario = Callable[[Channel, Channel], Awaitable[object]]


async def _tcp_pair() -> Tuple[Channel, Channel]:
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()

    async def handler(channel: Channel) -> None:
        accepted.set_result(channel)
        await finished.wait()  # the listener closes the channel when its handler returns

    server, port = tcp.listen(0, handler, address="127.0.0.1")
    dialed = await tcp.connect("127.0.0.1", port, timeout=10)
    await dialed.write({"type": "open"})  # a listener hands a connection over at its first byte
    other = await accepted
    assert await other.read() == ({"type": "open"}, [])
    server.stop()
    dialed.finished = finished  # type: ignore[attr-defined]
    return dialed, other


async def _inproc_pair() -> Tuple[Channel, Channel]:
    return inproc.pair()


def run(make_pair: Callable[[], Awaitable[Tuple[Channel, Channel]]], scenario: Scenario) -> object:
    async def main() -> object:
        dialed, accepted = await asyncio.wait_for(make_pair(), 10)
        try:
            return await asyncio.wait_for(scenario(dialed, accepted), 10)
        finally:
            dialed.close()
            accepted.close()
            getattr(dialed, "finished", asyncio.Event()).set()
    return asyncio.run(main())


both = pytest.mark.parametrize("make_pair", [_tcp_pair, _inproc_pair], ids=["tcp", "inproc"])


@both
def test_messages_arrive_whole_in_order_each_way_with_their_buffers(make_pair):
    async def scenario(dialed, accepted):
        await dialed.write({"type": "first", "n": 1, "pair": (1, 2)}, [b"a" * 10, b""])
        await dialed.write({"type": "second"})
        await accepted.write({"type": "back"}, [bytearray(b"xyz")])
        return [await accepted.read(), await accepted.read(), await dialed.read()]

    first, second, back = run(make_pair, scenario)
    assert first[0] == {"type": "first", "n": 1, "pair": [1, 2]}  # JSON: a tuple arrives as a list
    assert [bytes(buffer) for buffer in first[1]] == [b"a" * 10, b""]
    assert second == ({"type": "second"}, [])
    assert (back[0], [bytes(buffer) for buffer in back[1]]) == ({"type": "back"}, [b"xyz"])


@both
def test_the_reader_gets_its_own_header_not_the_writer_s(make_pair):
    async def scenario(dialed, accepted):
        header = {"type": "note", "items": [1]}
        await dialed.write(header)
        header["items"].append(2)
        return (await accepted.read())[0]

    assert run(make_pair, scenario) == {"type": "note", "items": [1]}


@both
def test_a_header_without_a_type_is_refused_at_the_writer(make_pair):
    async def scenario(dialed, accepted):
        with pytest.raises(wire.WireError):
            await dialed.write({"kind": "no type"})
        await dialed.write({"type": "still open"})
        return (await accepted.read())[0]

    assert run(make_pair, scenario) == {"type": "still open"}


@both
def test_abort_sends_its_reason_then_the_other_end_reads_closed(make_pair):
    async def scenario(dialed, accepted):
        await accepted.abort("go away")
        error = await dialed.read()
        with pytest.raises(ChannelClosed):
            await dialed.read()
        return error, accepted.closed

    assert run(make_pair, scenario) == (({"type": "error", "message": "go away"}, []), True)


@both
def test_what_was_written_before_a_close_is_still_read(make_pair):
    async def scenario(dialed, accepted):
        await dialed.write({"type": "last words"})
        dialed.close()
        last = await accepted.read()
        with pytest.raises(ChannelClosed):
            await accepted.read()
        return last

    assert run(make_pair, scenario) == ({"type": "last words"}, [])


@both
def test_closing_wakes_a_read_waiting_at_either_end_and_later_reads_and_writes_fail(make_pair):
    async def scenario(dialed, accepted):
        waiting_here, waiting_there = asyncio.ensure_future(dialed.read()), asyncio.ensure_future(accepted.read())
        await asyncio.sleep(0)  # both reads are waiting
        dialed.close()
        for waiting in (waiting_here, waiting_there):
            with pytest.raises(ChannelClosed):
                await waiting
        with pytest.raises(ChannelClosed):
            await dialed.read()
        with pytest.raises(ChannelClosed):
            await dialed.write({"type": "too late"})
        return dialed.closed

    assert run(make_pair, scenario) is True


def test_an_in_process_listener_serves_each_connection_and_closes_it_when_its_handler_returns():
    async def main():
        async def echo_once(channel: Channel) -> None:
            await channel.write(*await channel.read())

        listener, port = inproc.listen(0, echo_once)
        try:
            first, second = [await inproc.connect("here", port, timeout=1) for _ in range(2)]
            await second.write({"type": "two"}, [b"2"])
            await first.write({"type": "one"})
            answers = [await first.read(), await second.read()]
            with pytest.raises(ChannelClosed):
                await first.read()
        finally:
            listener.stop()
        with pytest.raises(TimeoutError):
            await inproc.connect("here", port, timeout=1)
        return answers

    assert asyncio.run(main()) == [({"type": "one"}, []), ({"type": "two"}, [b"2"])]


@both
def test_a_large_message_and_those_written_after_it_arrive_in_order(make_pair):
    """What is written after a large message, small or large, arrives after it."""
    large = bytes(16 << 20)

    async def scenario(dialed, accepted):
        writes = [asyncio.ensure_future(dialed.write({"type": "large"}, [large])),
                  asyncio.ensure_future(dialed.write({"type": "small"}, [b"s"])),
                  asyncio.ensure_future(dialed.write({"type": "large again"}, [memoryview(large)[:-1]])),
                  asyncio.ensure_future(dialed.write({"type": "last"}))]
        got = [await accepted.read() for _ in writes]
        await asyncio.gather(*writes)
        return got

    got = run(make_pair, scenario)
    assert [(header["type"], [len(buffer) for buffer in buffers]) for header, buffers in got] == [
        ("large", [len(large)]), ("small", [1]), ("large again", [len(large) - 1]), ("last", [])]
    assert bytes(got[0][1][0]) == large


def test_in_process_the_reader_gets_the_writers_buffers_read_only_not_copies():
    """A block's 32 MB upload was copied between the manager and the worker of one service (23 ms
    of a 190 ms block): the reader now gets the writer's memory, and cannot change it."""
    upload = np.arange(1 << 20, dtype=np.uint8)

    async def scenario(dialed, accepted):
        await dialed.write({"type": "run"}, [upload.data, b"source"])
        return await accepted.read()

    (header, (given, source)) = run(_inproc_pair, scenario)
    assert header == {"type": "run"} and source == b"source"
    assert given.readonly and np.shares_memory(np.frombuffer(given, np.uint8), upload)
    with pytest.raises(TypeError):
        given[0] = 1
