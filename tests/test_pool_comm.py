"""A compute process's pipe as the worker's comm (``net.pool_comm``), with the test playing the
compute process on the other end of a real socket pair (blocking, as ``engine.pool`` does)."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import threading

import pytest

from ufora.engine import frames, serialization
from ufora.engine.pool import PoolProcess
from ufora.engine.pool_messages import Forget, Output
from ufora.net.comm import ChannelClosed
from ufora.net.pool_comm import PoolComm


def pipe(pid: int = 0):
    """(the worker's process, the compute process's end of its pipe)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return PoolProcess(0, pid, ours), theirs


def say(theirs: socket.socket, message) -> None:
    frames.write(theirs, serialization.dumps(message))


def output(n: int) -> Output:
    return Output("job", [("stdout", f"line {n}\n")])


def test_messages_are_read_in_order_and_the_pipe_closing_ends_the_reads_after_them():
    async def main():
        process, theirs = pipe()
        comm = PoolComm(process)
        for n in range(3):
            say(theirs, output(n))
        theirs.close()
        got = [await comm.read() for _ in range(3)]
        with pytest.raises(ChannelClosed):
            await comm.read()
        comm.close()
        return got, comm.closed

    got, closed = asyncio.run(main())
    assert got == [output(0), output(1), output(2)] and closed


def test_a_paused_pipe_is_not_read_until_resumed_and_what_was_read_before_is_still_returned():
    async def main():
        process, theirs = pipe()
        comm = PoolComm(process)
        try:
            say(theirs, output(0))
            first = await comm.read()
            comm.pause()
            say(theirs, output(1))  # in the pipe before the loop's next look at it
            waiting = asyncio.ensure_future(comm.read())
            for _ in range(3):
                await asyncio.sleep(0)  # the loop polls its descriptors each time round
            paused = not waiting.done()
            comm.resume()
            return first, paused, await waiting
        finally:
            comm.close()
            theirs.close()

    first, paused, second = asyncio.run(main())
    assert (first, paused, second) == (output(0), True, output(1))


def test_a_write_the_pipe_cannot_take_at_once_completes_as_the_process_reads_it():
    names = [f"ufora_test_pool_comm_{i:09d}" for i in range(1_000_000)]  # about 30 MB pickled
    received = []

    async def main():
        process, theirs = pipe()
        comm = PoolComm(process)
        reader = threading.Thread(target=lambda: received.append(serialization.loads(frames.read(theirs))))
        try:
            comm.send(Forget(["first"]))
            assert process.outbox.pending == 0  # a small message goes at once
            writing = asyncio.ensure_future(comm.write(Forget(names)))
            await asyncio.sleep(0)
            assert not writing.done() and process.outbox.pending > 0  # the pipe is full: the loop is not
            received.append(serialization.loads(frames.read(theirs)))
            reader.start()
            await writing
            return process.outbox.pending
        finally:
            reader.join()
            comm.close()
            theirs.close()

    assert asyncio.run(main()) == 0
    assert received == [Forget(["first"]), Forget(names)]


def test_a_frame_that_cannot_be_read_gets_its_process_killed():
    sleeper = subprocess.Popen(["sleep", "60"])

    async def main():
        process, theirs = pipe(sleeper.pid)
        comm = PoolComm(process)
        try:
            frames.write(theirs, b"not a pickle")
            say(theirs, output(0))  # never read: nothing after the bad frame is trusted
            return await asyncio.get_running_loop().run_in_executor(None, sleeper.wait, 30)
        finally:
            comm.close()
            theirs.close()

    try:
        assert asyncio.run(main()) == -9
    finally:
        sleeper.kill()
        sleeper.wait()


def test_sending_to_a_closed_pipe_fails_as_any_comm_does():
    async def main():
        process, theirs = pipe()
        comm = PoolComm(process)
        comm.close()
        theirs.close()
        with pytest.raises(ChannelClosed):
            comm.send(Forget([]))
        with pytest.raises(ChannelClosed):
            await comm.read()

    asyncio.run(main())
