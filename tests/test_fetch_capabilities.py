"""Least privilege on the data channel (issue 15): every fetch of a stored result, a remote object
or a shared-memory range carries the capability the worker holding it handed out with the key.
Who knows or guesses a key or a segment's name without having been handed its capability (a
stranger on an open cluster, a member of an authenticated one) gets the answer a key that does
not exist gets, and the worker goes on serving; the client's ``toLocal()``, large results, and
partitions that read windows of another worker's array still get the right answers."""
import asyncio
import os
import secrets

import numpy as np
import pytest

import pyfora
from ufora.engine import shm
from ufora.net import channel as channels
from ufora.net import inproc
from ufora.net.blobs import MISSING, BlobStore, segment_key
from ufora.net.comm import Connector
from tests.conftest import MANAGER_ONLY, joining, manager_status, one_host, wait_for


async def answers(port: int, requests: list, connect: Connector = channels.connect) -> list:
    """Send ``requests`` in order on one data channel; the (header, buffers) answer to each
    ``fetch`` (a ``fetched`` has none)."""
    channel = await connect("127.0.0.1", port, timeout=10)
    replies = []
    try:
        for request in requests:
            await channel.write(request)
            if request["type"] == "fetch":
                header, buffers = await channel.read()
                replies.append((header, [bytes(buffer) for buffer in buffers]))
    finally:
        channel.close()
    return replies


def missing(key: str) -> tuple:
    return {"type": "missing", "key": key, "message": MISSING}, []


def test_a_capability_reads_its_own_key_and_nothing_else():
    """In one worker's store: a range's capability reads that range only, a result's that result
    only, another worker's reads nothing here, and a ``fetched`` without the result's own
    capability does not drop it. The store's protocol alone: over an in-process channel."""
    async def scenario():
        store, elsewhere = BlobStore(), BlobStore()
        result = store.put([b"a result"])
        segment = shm.create(64)
        segment.buf[:64] = bytes(range(64))
        server, port = inproc.listen(0, store.serve)
        first_eight, whole = segment_key(segment.name, 0, 8), segment_key(segment.name, 0, 64)
        try:
            replies = await answers(port, [
                {"type": "fetched", "key": result, "capability": store.capability(first_eight)},
                {"type": "fetch", "key": whole, "capability": store.capability(first_eight)},
                {"type": "fetch", "key": result, "capability": store.capability(first_eight)},
                {"type": "fetch", "key": result, "capability": elsewhere.capability(result)},
                {"type": "fetch", "key": result, "capability": None},
                {"type": "fetch", "key": first_eight, "capability": store.capability(first_eight)},
                {"type": "fetch", "key": result, "capability": store.capability(result)},
            ], inproc.connect)
        finally:
            server.stop()
            shm.release(segment, unlink=True)
        return replies, result, first_eight, whole

    replies, result, first_eight, whole = asyncio.run(scenario())
    assert replies == [missing(whole), missing(result), missing(result), missing(result),
                       ({"type": "blob", "key": first_eight}, [bytes(range(8))]),
                       ({"type": "blob", "key": result}, [b"a result"])]  # not dropped by the forged fetched


@pytest.mark.parametrize("cluster", ["open", "authenticated"])
def test_no_key_or_segment_name_reads_anything_without_its_capability(start_service, monkeypatch, cluster):
    """A stranger on an open cluster, or a member of an authenticated one (it holds the secret),
    fetches a remote object by its id (as a leak would give it), by a guessed id, and shared
    memory by a real segment's name and by a guessed one: each is answered as a key that does
    not exist, on the same connection, logged once; the owner's toLocal() and a large result
    still arrive whole."""
    service = start_service({**one_host(1), **({"UFORA_CLUSTER_SECRET": ""} if cluster == "open" else {})})
    if cluster == "authenticated":
        monkeypatch.setattr(channels, "_secret", service.secret.encode())  # as a member: past the handshake
    pid = service.process.pid
    with pyfora.connect(service.url, progress=False, secret="" if cluster == "open" else None) as ufora:
        with ufora.remotely:
            kept = np.arange(1_000_000, dtype=np.float64)  # stays on the worker, in shared memory
        segments = [name for name in os.listdir("/dev/shm") if shm.owner(name) == pid]
        assert segments  # its buffer's
        keys = [kept.object_id, secrets.token_hex(16), segment_key(segments[0], 0, 8),
                segment_key(f"{shm.PREFIX}{pid}_{pid}_0", 0, 8)]  # the names before issue 15
        forged = [{"type": "fetch", "key": key} for key in keys]
        forged += [{"type": "fetch", "key": key, "capability": secrets.token_hex(16)} for key in keys]
        assert asyncio.run(answers(service.ports["data_port"], forged)) == [missing(r["key"]) for r in forged]
        assert np.array_equal(kept.toLocal().result(timeout=60), np.arange(1_000_000, dtype=np.float64))
        with ufora.remotely.downloadAll():
            doubled = np.arange(2_000_000, dtype=np.float64) * 2  # 16 MB: fetched from the worker's data port
        assert np.array_equal(doubled, np.arange(2_000_000, dtype=np.float64) * 2)
    assert service.log.count("refused a 'fetch' from 127.0.0.1") == 1  # once for the connection


def test_partitions_on_another_worker_read_the_windows_they_were_handed(start_service):
    """A large input array lies in the driver's shared memory; the other worker fetches the
    items of each partition it pulls with the capability that came with the partition."""
    manager = start_service(MANAGER_ONLY)
    workers = [start_service(joining(manager, 1)) for _ in range(2)]
    wait_for(lambda: manager_status(manager.url)["workers"] == 2, "both workers to join")
    data = np.arange(8_000_000, dtype=np.float64) % 1000  # 64 MB, sent with the block

    def foreign_partitions() -> int:
        return sum(member.get("foreign_partitions", 0) for member in manager_status(manager.url)["members"])

    with pyfora.connect(manager.url, progress=False) as ufora:
        with ufora.remotely.downloadAll():
            total = sum(x * x for x in data)
    assert total == 8_000 * sum(k * k for k in range(1000))
    wait_for(lambda: foreign_partitions() > 0, "a partition computed on the other worker", timeout=5)
    logs = "".join(worker.log for worker in workers)
    assert "could not be fetched" not in logs and "without a valid capability" not in logs
