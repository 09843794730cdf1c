"""Large values on the data channel (worker base port + 1): stored by the worker that has them,
fetched by key by the manager or by another worker.

Two kinds of blob share one store:
* a block's large *result*, fetched once by the manager: kept until the fetcher says
  ``fetched`` (so that one that arrived corrupted can be fetched again), dropped after
  RESULT_TIMEOUT if never fetched;
* a *remote object* (pyfora's ``RemotePythonObject``), fetched any number of times (by the
  manager for ``toLocal()``, by other workers for blocks that use it) until the manager says
  ``release``.

A key ``shm:<segment>:<start>:<end>`` is a byte range of one of this host's shared-memory
segments: the items of an input array that a partition computed on another worker reads
(``engine.sources``). It is served straight from the segment, never stored.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from typing import Dict, List, Optional

from engine import shm
from net import channel as channels
from net.channel import Channel, ChannelClosed

log = logging.getLogger(__name__)

RESULT_TIMEOUT = 300.0  # a stored result not fetched by then is dropped
FETCH_ATTEMPTS = 3
SEGMENT_KEY = "shm:"
_SEGMENT_NAME = re.compile(re.escape(shm.PREFIX) + r"\d+_\w+")


def segment_key(name: str, start: int, end: int) -> str:
    return f"{SEGMENT_KEY}{name}:{start}:{end}"


def _segment_range(key: str) -> Optional[memoryview]:
    """The bytes a ``shm:`` key names, or None if it names no range of a ufora segment."""
    try:
        name, start, end = key[len(SEGMENT_KEY):].rsplit(":", 2)
        first, last = int(start), int(end)
        owned = _SEGMENT_NAME.fullmatch(name) and shm.owned_here(name)  # never another service's
        size = os.stat(f"/dev/shm/{name}").st_size if owned else -1
    except (ValueError, OSError):
        return None
    if not 0 <= first <= last <= size:
        return None
    return shm.map_readonly(name, size)[first:last]


class BlobStore:
    def __init__(self) -> None:
        self.blobs: Dict[str, List[bytes]] = {}
        self.kept: set = set()  # keys of remote objects: not dropped by ``fetched``

    def put(self, buffers: List[bytes], keep: bool = False) -> str:
        key = uuid.uuid4().hex
        self.blobs[key] = buffers
        if keep:
            self.kept.add(key)
        else:
            asyncio.get_running_loop().call_later(RESULT_TIMEOUT, self.blobs.pop, key, None)
        return key

    def release(self, key: str) -> None:
        self.kept.discard(key)
        self.blobs.pop(key, None)

    @property
    def kept_bytes(self) -> int:
        return sum(len(b) for key in self.kept for b in self.blobs.get(key, ()))

    async def serve(self, channel: Channel) -> None:
        while True:
            header, _ = await channel.read()
            key = str(header.get("key"))
            if header.get("type") == "fetched":
                if key not in self.kept:
                    self.blobs.pop(key, None)
            elif header.get("type") != "fetch":
                await channel.abort(f"unknown message type on the data channel: {header.get('type')!r}")
                return
            elif key.startswith(SEGMENT_KEY):
                view = _segment_range(key)
                reply = {"type": "blob" if view is not None else "missing", "key": key}
                await channel.write(reply, [view] if view is not None else [])
            elif key not in self.blobs:
                await channel.write({"type": "missing", "key": key})
            else:
                await channel.write({"type": "blob", "key": key}, self.blobs[key])


class MissingBlob(LookupError):
    """The worker asked does not have that key (released, expired, or never stored there)."""


class BlobClient:
    """One data channel to one worker, opened when first needed and again after a failure;
    fetches on it run one at a time."""

    def __init__(self, address: str, port: int, name: str):
        self.address, self.port, self.name = address, port, name
        self.channel: Optional[Channel] = None
        self._lock = asyncio.Lock()

    async def fetch(self, key: str) -> List[bytes]:
        """The blob's buffers (lz4 with checksums when it pays). A transfer that fails (a frame
        that fails its checksum closes the channel) is fetched again on a new connection, up to
        FETCH_ATTEMPTS times. Raises ``MissingBlob`` or ``ChannelClosed``. A fetch interrupted
        any other way (a timeout cancels it mid-read) closes the channel: its next reply would
        be this one's."""
        async with self._lock:
            try:
                return await self._fetch(key)
            except MissingBlob:
                raise
            except BaseException:
                self.close()
                raise

    async def _fetch(self, key: str) -> List[bytes]:
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            try:
                if self.channel is None or self.channel.closed:
                    self.channel = await channels.connect(self.address, self.port,
                                                          timeout=10.0, compress=True)
                await self.channel.write({"type": "fetch", "key": key})
                header, buffers = await self.channel.read()
                break
            except ChannelClosed as exc:
                log.warning("fetching %s from worker %s failed (%s), attempt %d of %d",
                            key, self.name, exc, attempt, FETCH_ATTEMPTS)
                if attempt == FETCH_ATTEMPTS:
                    raise
        if header.get("key") != key:
            raise ChannelClosed(f"worker {self.name} answered for {header.get('key')!r}, not {key!r}")
        if header["type"] != "blob":
            raise MissingBlob(f"worker {self.name} has no blob {key}")
        await self.channel.write({"type": "fetched", "key": key})
        return buffers

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
