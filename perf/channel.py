"""The data channel alone: one large array moved between two processes on loopback, served by
the worker's ``BlobStore`` and fetched by the manager's ``BlobClient``. Between hosts the
channel sends lz4 frames with checksums when a sample says compression pays; between processes
of one host (this benchmark) it sends raw frames, since memory is faster than lz4. Target
(DESIGN.md): at least 1 GiB/s. Reported for random bytes (incompressible) and for a float64
array (``np.arange(n) * 0.5``), with the lz4 ratio each would get between hosts.

Run by ``python -m perf`` after the main table; ``python -m perf.channel --serve KIND SIZE`` is
the serving process it starts.
"""
from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from typing import List

import numpy as np

GIB = 1 << 30
TARGET_BYTES_PER_SECOND = GIB


def payload(kind: str, size: int) -> bytes:
    if kind == "random":
        return np.random.default_rng(0).bytes(size)
    return (np.arange(size // 8, dtype=np.float64) * 0.5).tobytes()


def _serve(kind: str, size: int) -> None:
    from net import channel as channels
    from net.blobs import BlobStore

    async def main() -> None:
        store = BlobStore()
        store.blobs["array"] = [payload(kind, size)]
        store.put = None  # this process only serves the one array, again and again
        _, port = channels.listen(0, _keep(store), address="127.0.0.1", compress=True)
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _keep(store):
    """Serve fetches but ignore ``fetched``, so that every repeat fetches the same array."""
    async def serve(channel):
        while True:
            header, _ = await channel.read()
            if header["type"] == "fetch":
                await channel.write({"type": "blob", "key": "array"}, store.blobs["array"])
    return serve


def _fetch_seconds(port: int) -> float:
    from net.blobs import BlobClient

    async def fetch() -> float:
        client = BlobClient("127.0.0.1", port, "bench")
        started = time.perf_counter()
        await client.fetch("array", "")  # its server ignores capabilities
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed

    return asyncio.run(fetch())


def report(quick: bool, repeats: int = 3) -> str:
    """A Markdown table of the data channel's throughput, and its target line."""
    from net import wire

    size = GIB // 4 if quick else GIB
    rows: List[str] = ["| data | size | lz4 ratio between hosts (compressed / raw) | median on loopback (sent raw) | GiB/s |",
                       "|---|---|---|---|---|"]
    slowest = None
    for kind in ("float64 array", "random"):
        data = payload(kind, size)
        compressed, sent = wire.maybe_compress(data)
        ratio = len(sent) / len(data) if compressed else 1.0
        del data, sent
        server = subprocess.Popen([sys.executable, "-m", "perf.channel", "--serve", kind, str(size)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())
            times = [_fetch_seconds(port) for _ in range(repeats)]
        finally:
            server.kill()
            server.wait()
        median = statistics.median(times)
        rate = size / median / GIB
        slowest = rate if slowest is None else min(slowest, rate)
        rows.append(f"| {kind} | {size / GIB:.2f} GiB | {ratio:.2f}{'' if compressed else ' (not worth it: raw)'} "
                    f"| {median:.3f} s | {rate:.2f} |")
    passed = slowest * GIB >= TARGET_BYTES_PER_SECOND
    rows.append("")
    rows.append(f"- {'PASS' if passed else 'FAIL'}  data channel, one array between two processes on "
                f"loopback, at least 1 GiB/s: slowest {slowest:.2f} GiB/s"
                + (" (quick run: 0.25 GiB)" if quick else ""))
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        print(report(quick="--quick" in sys.argv))
