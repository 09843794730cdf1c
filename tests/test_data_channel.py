"""The data channel end to end, with a byte corrupted in flight: the corruption is detected by
the lz4 checksum, reported to the sender, and the result is fetched again, never used."""
import asyncio

from net import channel as channels
from net.blobs import BlobClient, BlobStore


PAYLOAD = b"".join(b"row %d value %d\n" % (i, i * 7919 % 100_003) for i in range(200_000))


class CorruptingProxy:
    """A TCP proxy that flips one byte in the middle of the first large reply it forwards."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.corrupted = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

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
            buffers = await client.fetch("k")
            await asyncio.sleep(0.1)  # the acknowledgement reaches the worker
        finally:
            client.close()
            server.stop()
            proxy.server.close()
        return buffers, proxy.corrupted, store.blobs

    buffers, corrupted, left = asyncio.run(scenario())
    assert corrupted == 1
    assert buffers == [PAYLOAD]
    assert left == {}  # let go once acknowledged
    assert "attempt 1 of 3" in caplog.text
