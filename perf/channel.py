"""The data channel alone: one large array moved between two processes on loopback, served by
the worker's ``BlobStore`` and fetched by the manager's ``BlobClient``, over plain TCP and over
TLS (UFORA_TLS_CERT/UFORA_TLS_KEY on the server, UFORA_TLS_CA on the client: a certificate made
with the openssl command), each measured in the same run. Between hosts the channel sends lz4
frames with checksums when a sample says compression pays; between processes of one host (this
benchmark) it sends raw frames, since memory is faster than lz4. Targets (DESIGN.md, issue 15):
at least 1 GiB/s, over TLS too. Reported for random bytes (incompressible), a float64 array
(``np.arange(n) * 0.5``) and numpy zeros, with the lz4 ratio each would get between hosts.

Run by ``python -m perf`` after the main table, or alone: ``python -m perf.channel [--quick]``;
``python -m perf.channel --serve KIND SIZE [CERT KEY]`` is the serving process it starts.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

GIB = 1 << 30
TARGET_BYTES_PER_SECOND = GIB
KINDS = ("float64 array", "random", "zeros")


def payload(kind: str, size: int) -> bytes:
    if kind == "random":
        return np.random.default_rng(0).bytes(size)
    if kind == "zeros":
        return np.zeros(size, np.uint8).tobytes()
    return (np.arange(size // 8, dtype=np.float64) * 0.5).tobytes()


def _serve(kind: str, size: int, certificate: Optional[Tuple[str, str]]) -> None:
    from ufora.net import channel as channels
    from ufora.net import tls
    from ufora.net.blobs import BlobStore

    channels.use_tls(tls.server_context(*certificate) if certificate else None, None)
    channels.use_secret(os.environ.get("UFORA_CLUSTER_SECRET", "").encode() or None)

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


def _fetch_seconds(port: int, ca: Optional[str], secret: Optional[bytes]) -> float:
    from ufora.net import channel as channels
    from ufora.net import tls
    from ufora.net.blobs import BlobClient

    channels.use_tls(None, tls.peer_context(ca) if ca else None)
    channels.use_secret(secret)

    async def fetch() -> float:
        client = BlobClient("127.0.0.1", port, "bench")
        started = time.perf_counter()
        await client.fetch("array", "")  # its server ignores capabilities
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed

    try:
        return asyncio.run(fetch())
    finally:
        channels.use_tls(None, None)
        channels.use_secret(None)


def _cpu_seconds(pid: Optional[int] = None) -> float:
    """User + system CPU seconds of this process (its threads included), or of ``pid``."""
    from ufora.engine import proc

    if pid is None:
        times = os.times()
        return times.user + times.system
    return proc.cpu_seconds(pid)


@dataclass
class Measured:
    seconds: float        # median of the fetches
    fetching_cpu: float   # CPU seconds per fetch, of the fetching process
    serving_cpu: float    # ... and of the serving one


def _measure(kind: str, size: int, repeats: int, certificate: Optional[Tuple[str, str]],
             secret: Optional[bytes] = None) -> Measured:
    """``repeats`` fetches from a serving process, over TLS if ``certificate`` (self-signed: the
    client trusts it as its own authority), both sides proving ``secret`` on each connection if
    given. CPU time is what a busy machine does not distort much: 1 / (CPU seconds per GiB of
    the busier side) is the rate two idle cores would give."""
    env = dict(os.environ, UFORA_CLUSTER_SECRET=(secret or b"").decode())
    server = subprocess.Popen([sys.executable, "-m", "perf.channel", "--serve", kind, str(size),
                               *(certificate or ())], stdout=subprocess.PIPE, text=True, env=env)
    try:
        port = int(server.stdout.readline())
        fetching, serving = _cpu_seconds(), _cpu_seconds(server.pid)
        times = [_fetch_seconds(port, certificate[0] if certificate else None, secret) for _ in range(repeats)]
        return Measured(statistics.median(times), (_cpu_seconds() - fetching) / repeats,
                        (_cpu_seconds(server.pid) - serving) / repeats)
    finally:
        server.kill()
        server.wait()


def _certificate(folder: str) -> Tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key, as the tests make them."""
    cert, key = str(Path(folder) / "cert.pem"), str(Path(folder) / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def report(quick: bool, repeats: int = 3) -> str:
    """A Markdown table of the data channel's throughput over plain TCP and over TLS (each
    measured in this run; TLS also as a ratio to plain TCP), and the target lines."""
    from ufora.net import wire

    size = GIB // 4 if quick else GIB
    rows: List[str] = ["| data | size | lz4 ratio between hosts (compressed / raw) | transport | median on loopback "
                       "(sent raw) | GiB/s | time / plain TCP | CPU s per GiB: fetching | serving |",
                       "|---|---|---|---|---|---|---|---|---|"]
    slowest = {"plain TCP": float("inf"), "plain TCP, with the cluster secret": float("inf"), "TLS": float("inf")}
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        certificate = _certificate(folder)
        for kind in KINDS:
            data = payload(kind, size)
            compressed, sent = wire.maybe_compress(data)
            ratio = f"{len(sent) / len(data) if compressed else 1.0:.2f}{'' if compressed else ' (not worth it: raw)'}"
            del data, sent
            plain = _measure(kind, size, repeats, None)
            for how, measured in (("plain TCP", plain),
                                  ("plain TCP, with the cluster secret",
                                   _measure(kind, size, repeats, None, secrets.token_hex(32).encode())),
                                  ("TLS", _measure(kind, size, repeats, certificate))):
                slowest[how] = min(slowest[how], size / measured.seconds / GIB)
                rows.append(f"| {kind} | {size / GIB:.2f} GiB | {ratio} | {how} | {measured.seconds:.3f} s "
                            f"| {size / measured.seconds / GIB:.2f} | {measured.seconds / plain.seconds:.2f} "
                            f"| {measured.fetching_cpu * GIB / size:.2f} | {measured.serving_cpu * GIB / size:.2f} |")
    rows.append("")
    rows.append(f"Load average (1 min) {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, on "
                f"{os.cpu_count()} cores: others' work slows the medians, much less the CPU seconds.")
    rows.append("")
    for how, rate in slowest.items():
        rows.append(f"- {'PASS' if rate * GIB >= TARGET_BYTES_PER_SECOND else 'FAIL'}  data channel over {how}, one "
                    f"array between two processes on loopback, at least 1 GiB/s: slowest {rate:.2f} GiB/s"
                    + (" (quick run: 0.25 GiB)" if quick else ""))
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2], int(sys.argv[3]), (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else None)
    else:
        print(report(quick="--quick" in sys.argv))
