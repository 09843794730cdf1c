"""The compute pool's pipes: frames that cross in both directions at once never deadlock."""
import asyncio
import hashlib
import os
import socket

import pytest

from ufora.engine import frames
from ufora.engine.pool import ComputePool
from ufora.engine.pool_messages import Forget

MB = 1 << 20


def _echo_child(sock: socket.socket, size: int, rounds: int) -> None:
    """A compute process's side: blocking; each round it writes `size` bytes of its own *before*
    reading the parent's frame, so both directions are full at the same moment."""
    try:
        for round_ in range(rounds):
            frames.write(sock, bytes([round_ % 251]) * size)
            received = frames.read(sock)
            frames.write(sock, hashlib.sha256(received).digest())
    finally:
        os._exit(0)


async def _parent(sock: socket.socket, size: int, rounds: int) -> list:
    """The service's side: non-blocking, on an event loop, as net.worker drives the pool."""
    loop = asyncio.get_running_loop()
    inbox, outbox = frames.Inbox(), frames.Outbox()
    arrived: asyncio.Queue = asyncio.Queue()
    writable = asyncio.Event()

    def on_readable():
        try:
            for frame in inbox.read(sock):
                arrived.put_nowait(frame)
        except EOFError:
            loop.remove_reader(sock.fileno())

    def on_writable():
        if outbox.flush(sock):
            loop.remove_writer(sock.fileno())
            writable.set()

    loop.add_reader(sock.fileno(), on_readable)
    seen = []
    try:
        for round_ in range(rounds):
            payload = os.urandom(64) + bytes(size - 64)
            writable.clear()
            outbox.put(payload)
            if outbox.flush(sock):
                writable.set()
            else:
                loop.add_writer(sock.fileno(), on_writable)
            theirs = await asyncio.wait_for(arrived.get(), 60)
            digest = await asyncio.wait_for(arrived.get(), 60)
            await asyncio.wait_for(writable.wait(), 60)
            seen.append((len(theirs), theirs[:1] == bytes([round_ % 251]),
                         digest == hashlib.sha256(payload).digest()))
    finally:
        loop.remove_reader(sock.fileno())
        loop.remove_writer(sock.fileno())
    return seen


def test_100_mb_each_way_at_the_same_moment_20_times():
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _echo_child(theirs, 100 * MB, 20)
    theirs.close()
    ours.setblocking(False)
    try:
        seen = asyncio.run(asyncio.wait_for(_parent(ours, 100 * MB, 20), 600))
    finally:
        ours.close()
        os.waitpid(pid, 0)
    assert seen == [(100 * MB, True, True)] * 20


def test_frames_split_anywhere_are_put_together():
    """Headers and bodies cut at every byte boundary, several frames in one read."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    messages = [b"", b"x", b"hello" * 1000, bytes(range(256)) * 3]
    stream = b"".join(frames.HEADER.pack(len(m)) + m for m in messages)
    inbox, got = frames.Inbox(), []
    try:
        for cut in range(0, len(stream), 7):
            theirs.sendall(stream[cut:cut + 7])
            got += inbox.read(ours)
        assert got == messages
        theirs.close()
        with pytest.raises(EOFError):
            inbox.read(ours)
    finally:
        ours.close()


def test_a_compute_process_takes_a_big_message_while_it_sends_one():
    """The pool's own pipes: a 50 MB message down while the process answers; the parent's put
    returns at once, with what the pipe did not take still queued."""
    pool = ComputePool(1)
    [process] = pool.processes.values()
    try:
        names = [f"ufora_test_frames_{i:09d}" for i in range(2_000_000)]  # about 50 MB pickled
        assert process.put(Forget(names)) is False
        assert process.outbox.pending > 10 * MB
        while not process.flush():
            pass
        assert process.outbox.pending == 0
    finally:
        pool.stop()


def test_the_client_s_numpy_websocket_mask_is_websocket_client_s():
    from websocket import ABNF

    from pyfora.connection import _LargeFrame

    for size in (0, 1, 5, 100_000, 100_003):
        data, key = os.urandom(size), os.urandom(4)
        assert _LargeFrame(1, 0, 0, 0, ABNF.OPCODE_BINARY, 1, data)._get_masked(key) == key + ABNF.mask(key, data)


def test_the_last_frames_before_the_other_end_closed_are_kept():
    """A process that prints its last line and dies: the line is read, then the end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.sendall(frames.HEADER.pack(4) + b"last" + frames.HEADER.pack(2) + b"wo")
    theirs.close()
    inbox = frames.Inbox()
    try:
        assert inbox.read(ours) == [b"last", b"wo"]
        with pytest.raises(EOFError):
            inbox.read(ours)
    finally:
        ours.close()
