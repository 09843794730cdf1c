"""The data channel end to end, with a byte corrupted in flight: the corruption is detected by
the lz4 checksum, reported to the sender, and the result is fetched again, never used."""
import asyncio

from ufora.net import channel as channels
from ufora.net.blobs import BlobClient, BlobStore


PAYLOAD = b"".join(b"row %d value %d\n" % (i, i * 7919 % 100_003) for i in range(200_000))


class CorruptingProxy:
    """A TCP proxy that flips one byte in the middle of the first large reply it forwards."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.corrupted = 0
        self.writers = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(source, sink, corrupt):
            while data := await source.read(1 << 20):
                if corrupt and not self.corrupted and len(data) > 100_000:
                    data = bytearray(data)
                    data[len(data) // 2] ^= 0xFF
                    data = bytes(data)
                    self.corrupted += 1
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True),
                             return_exceptions=True)

    async def close(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in self.writers), return_exceptions=True)


def test_a_corrupted_result_is_detected_and_fetched_again(caplog, monkeypatch):
    monkeypatch.setattr(channels, "SAME_HOST_SKIPS_COMPRESSION", False)  # as between two hosts
    async def scenario():
        store = BlobStore()
        store.blobs["k"] = [PAYLOAD]  # compressible: sent as lz4 with a checksum
        server, data_port = channels.listen(0, store.serve, address="127.0.0.1", compress=True)
        proxy = CorruptingProxy(data_port)
        proxy_port = await proxy.start()
        client = BlobClient("127.0.0.1", proxy_port, "w")
        try:
            buffers = await client.fetch("k", store.capability("k"))
            deadline = asyncio.get_running_loop().time() + 30
            while store.blobs and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)  # until the acknowledgement reaches the worker
        finally:
            client.close()
            server.stop()
            await proxy.close()
        return buffers, proxy.corrupted, store.blobs

    buffers, corrupted, left = asyncio.run(scenario())
    assert corrupted == 1
    assert buffers == [PAYLOAD]
    assert left == {}  # let go once acknowledged
    assert "attempt 1 of 3" in caplog.text


def test_large_buffers_are_compressed_and_decompressed_off_the_event_loop_in_order(monkeypatch):
    """lz4 on a 64 MB buffer runs in a thread on both ends (the loop serves other peers
    meanwhile), also when it compresses to far less than that, and a small message written after
    a large one still arrives after it."""
    import threading

    from ufora.net import wire

    monkeypatch.setattr(channels, "SAME_HOST_SKIPS_COMPRESSION", False)  # as between two hosts
    threads = {"compress": set(), "decompress": set()}
    compress, decode = wire.maybe_compress, wire.decode_buffer

    def recording_compress(buffer):
        threads["compress"].add((len(buffer), threading.current_thread() is threading.main_thread()))
        return compress(buffer)

    def recording_decode(data, compressed, max_payload=wire.DEFAULT_MAX_PAYLOAD):
        if compressed:
            threads["decompress"].add((wire.declared_size(data) >= channels.OFF_LOOP_FROM,
                                       threading.current_thread() is threading.main_thread()))
        return decode(data, compressed, max_payload)

    monkeypatch.setattr(wire, "maybe_compress", recording_compress)
    monkeypatch.setattr(wire, "decode_buffer", recording_decode)
    large = bytes(64 << 20)  # 64 MB of zeros: compressed, 0.25 MB (judged by what it expands to)
    small = PAYLOAD[:200_000]

    async def scenario():
        received = []
        done = asyncio.Event()

        async def serve(channel):
            for _ in range(2):
                received.append(await channel.read())
            done.set()

        server, port = channels.listen(0, serve, address="127.0.0.1", compress=True)
        client = await channels.connect("127.0.0.1", port, timeout=10, compress=True)
        try:
            first = asyncio.ensure_future(client.write({"type": "large"}, [large]))
            await asyncio.sleep(0)  # the large one is being compressed when the small one is written
            await client.write({"type": "small"}, [small])
            await first
            await asyncio.wait_for(done.wait(), 60)
        finally:
            client.close()
            server.stop()
        return received

    received = asyncio.run(scenario())
    assert [header["type"] for header, _ in received] == ["large", "small"]
    assert bytes(received[0][1][0]) == large and bytes(received[1][1][0]) == small
    assert threads["compress"] == {(len(large), False), (len(small), True)}
    assert threads["decompress"] == {(True, False), (False, True)}  # the large one off the loop
