"""What an accepted connection may hold: deadlines for a first byte and for a whole frame, a cap
on open connections, bounded decompression. Real sockets on loopback, one event loop."""
import asyncio
import socket

import lz4.frame
import pytest

from ufora.net import channel as channels
from ufora.net import wire


async def _serve_echo(monkeypatch, **limits):
    for name, value in limits.items():
        monkeypatch.setattr(channels, name, value)
    served = []

    async def echo(channel):
        while True:
            header, buffers = await channel.read()
            served.append(header["type"])
            await channel.write(header, buffers)

    server, port = channels.listen(0, echo, address="127.0.0.1")
    return server, port, served


async def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """The service closed ``sock`` (a read returns EOF) within ``seconds``."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 1), seconds) == b""
    except asyncio.TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_connection_that_never_sends_is_closed(monkeypatch):
    async def scenario():
        server, port, _ = await _serve_echo(monkeypatch, FIRST_FRAME_TIMEOUT=0.3)
        with socket.create_connection(("127.0.0.1", port)) as silent:
            closed = await _closed_within(silent, 5)
        server.stop()
        return closed
    assert asyncio.run(scenario())


def test_a_frame_that_does_not_complete_in_time_closes_its_connection(monkeypatch):
    async def scenario():
        server, port, served = await _serve_echo(monkeypatch, FRAME_TIMEOUT=0.3)
        frame = b"".join(wire.encode({"type": "hello"}))
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(frame[:wire.PREFIX.size + 2])  # its first bytes, then nothing
            closed = await _closed_within(slow, 5)
        server.stop()
        return closed, served
    closed, served = asyncio.run(scenario())
    assert closed and served == []


def test_a_frame_that_completes_in_time_is_served_and_the_connection_may_idle(monkeypatch):
    async def scenario():
        server, port, served = await _serve_echo(monkeypatch, FIRST_FRAME_TIMEOUT=0.3, FRAME_TIMEOUT=0.3)
        channel = await channels.connect("127.0.0.1", port, timeout=5)
        await channel.write({"type": "hello"})
        await channel.read()
        await asyncio.sleep(0.8)  # longer than both deadlines: a peer that spoke may idle
        await channel.write({"type": "again"}, [b"x" * 1000])
        header, buffers = await channel.read()
        channel.close()
        server.stop()
        return served, header, buffers
    served, header, buffers = asyncio.run(scenario())
    assert served == ["hello", "again"] and header["type"] == "again" and bytes(buffers[0]) == b"x" * 1000


def test_connections_over_the_cap_are_refused_and_the_others_keep_working(monkeypatch):
    async def scenario():
        server, port, served = await _serve_echo(monkeypatch, MAX_CONNECTIONS=3)
        kept = [await channels.connect("127.0.0.1", port, timeout=5) for _ in range(3)]
        for channel in kept:  # each accepted and served
            await channel.write({"type": "hello"})
            await channel.read()
        with socket.create_connection(("127.0.0.1", port)) as extra:
            refused = await _closed_within(extra, 5)
        await kept[0].write({"type": "still"})
        answer, _ = await kept[0].read()
        for channel in kept:
            channel.close()
        server.stop()
        return refused, answer
    refused, answer = asyncio.run(scenario())
    assert refused and answer["type"] == "still"


def test_a_port_full_of_silent_strangers_makes_room_for_one_that_speaks(monkeypatch):
    """Hundreds of idle connections (each held up to FIRST_FRAME_TIMEOUT) filled a worker's data
    port, and a real block's result could not be fetched: the oldest silent one now goes instead."""
    async def scenario():
        server, port, served = await _serve_echo(monkeypatch, MAX_CONNECTIONS=3)
        spoke = await channels.connect("127.0.0.1", port, timeout=5)
        await spoke.write({"type": "hello"})  # heard from: never evicted
        await spoke.read()
        strangers = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        await asyncio.sleep(0.2)  # both accepted: the port is full
        member = await channels.connect("127.0.0.1", port, timeout=5)
        await member.write({"type": "result please"})
        answer, _ = await asyncio.wait_for(member.read(), 5)
        oldest_closed = await _closed_within(strangers[0], 5)
        await spoke.write({"type": "still"})
        still, _ = await spoke.read()
        for channel in (spoke, member):
            channel.close()
        for stranger in strangers:
            stranger.close()
        server.stop()
        return answer, oldest_closed, still
    answer, oldest_closed, still = asyncio.run(scenario())
    assert answer["type"] == "result please" and oldest_closed and still["type"] == "still"


def test_a_compressed_buffer_is_refused_before_it_expands_past_the_limit():
    declared = lz4.frame.compress(b"\0" * 1_000_000, content_checksum=True)  # declares its size
    with pytest.raises(wire.WireError, match="declares 1000000 bytes"):
        wire.decode_buffer(declared, True, max_payload=1000)
    undeclared = lz4.frame.compress(b"\0" * 1_000_000, content_checksum=True, store_size=False)
    with pytest.raises(wire.WireError, match="more than 1000 bytes"):
        wire.decode_buffer(undeclared, True, max_payload=1000)
    assert wire.decode_buffer(undeclared, True, max_payload=1_000_000) == b"\0" * 1_000_000


OUT_OF_DESCRIPTORS = """
import asyncio, logging, resource, socket, sys
from ufora.net import accepting, channel as channels
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
accepting.PAUSE = 0.2
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

async def main():
    async def echo(channel):
        header, _ = await channel.read()
        await channel.write(header)
    server, port = channels.listen(0, echo, address="127.0.0.1")
    holders = []
    for _ in range(80):  # more than the process's descriptors: some wait in the backlog
        try:
            holders.append(socket.create_connection(("127.0.0.1", port)))
        except OSError:
            break
        await asyncio.sleep(0)
    await asyncio.sleep(2.0)  # 10 pauses' worth: a tight loop would log thousands of lines
    for holder in holders:
        holder.close()
    channel = await channels.connect("127.0.0.1", port, timeout=30)  # waits in the backlog until accepted
    await channel.write({"type": "after"})
    header, _ = await channel.read()
    print("ANSWERED", header["type"])

asyncio.run(main())
"""


def test_running_out_of_descriptors_is_said_once_and_accepting_resumes(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = tmp_path / "descriptors.py"
    script.write_text(OUT_OF_DESCRIPTORS)
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"})
    lines = out.stdout.splitlines()
    assert "ANSWERED after" in lines, out.stdout[-2000:] + out.stderr[-2000:]
    assert sum("cannot accept connections" in line for line in lines) == 1, out.stdout[-2000:]
    assert "Traceback" not in out.stdout + out.stderr


def test_a_buffer_that_declares_no_size_is_decompressed_a_piece_at_a_time(monkeypatch):
    monkeypatch.setattr(wire, "UNDECLARED_PIECE", 1000)
    data = bytes(range(256)) * 400  # 102,400 bytes: a hundred pieces
    undeclared = lz4.frame.compress(data, content_checksum=True, store_size=False)
    assert wire.decode_buffer(undeclared, True, max_payload=1 << 40) == data
    with pytest.raises(wire.WireError, match="more than 50000 bytes"):
        wire.decode_buffer(undeclared, True, max_payload=50_000)
