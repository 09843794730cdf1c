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
segments (or of a spill file of this service's: ``engine.spill_files``): the items of an input
array that a partition computed on another worker reads (``engine.sources``). It is served
straight from the segment or the file, never stored.

Every ``fetch`` and ``fetched`` carries a *capability* for its key: an HMAC of the key under a
random secret only this store knows (``capability``), handed out by this worker with the key
and to no one else: to the manager with a result or a remote object (which passes an object's on
only to the worker driving a block of the client that owns it), and to the peer that pulled a
partition for exactly the byte ranges of its items (``net.peers``). So knowing a key, or a
segment's name, is not enough to read it: one who was not handed its capability (a stranger on
an open cluster, a member of an authenticated one, a client that learned another's object id)
gets the answer a key that does not exist gets, and the channel goes on serving. Keys and
capabilities are 128 random bits; the check is stateless and in constant time.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import mmap
import os
import re
import secrets
from typing import Any, Dict, List, Optional

import numpy as np

from ufora.engine import shm, spill_files
from ufora.net import channel as channels
from ufora.net.comm import Channel, ChannelClosed

log = logging.getLogger(__name__)

RESULT_TIMEOUT = 300.0  # a stored result not fetched by then is dropped
FETCH_ATTEMPTS = 3
FETCH_BACKOFF = 0.2  # seconds before the second attempt; twice that before the third
SEGMENT_KEY = "shm:"
_SEGMENT_NAME = re.compile(re.escape(shm.PREFIX) + r"\d+_\w+")
# The answer to a key that is not here and to a capability that does not grant it, alike.
MISSING = "no such blob here (released, expired or never stored), or not for this capability"


def segment_key(name: str, start: int, end: int) -> str:
    return f"{SEGMENT_KEY}{name}:{start}:{end}"


def _segment_range(key: str) -> Optional[memoryview]:
    """The bytes a ``shm:`` key names, or None if it names no range of a ufora segment."""
    try:
        name, start, end = key[len(SEGMENT_KEY):].rsplit(":", 2)
        first, last = int(start), int(end)
        if spill_files.owned_here(name):  # a spilled remote object's file (a shape over its array)
            if not 0 <= first <= last <= os.stat(name).st_size:
                return None
            return spill_files.map_range(name, first, last)
        owned = _SEGMENT_NAME.fullmatch(name) and shm.owned_here(name)  # never another service's
        size = os.stat(f"/dev/shm/{name}").st_size if owned else -1
    except (ValueError, OSError):
        return None
    if not 0 <= first <= last <= size:
        return None
    return shm.map_readonly(name, size)[first:last]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a header's JSON may hold lone surrogates


class BlobStore:
    def __init__(self) -> None:
        self.blobs: Dict[str, List[bytes]] = {}
        self.kept: set = set()  # keys of remote objects: not dropped by ``fetched``
        self._secret = secrets.token_bytes(32)  # signs this store's capabilities; never sent

    def put(self, buffers: List[bytes], keep: bool = False) -> str:
        key = secrets.token_hex(16)
        self.blobs[key] = buffers
        if keep:
            self.kept.add(key)
        else:
            asyncio.get_running_loop().call_later(RESULT_TIMEOUT, self.blobs.pop, key, None)
        return key

    def capability(self, key: str) -> str:
        """What a fetch of ``key`` (a blob's, or a ``segment_key``) must carry: for whoever
        this worker hands the key to, and no one else."""
        return hmac.new(self._secret, _utf8(key), hashlib.sha256).hexdigest()[:32]

    def _grants(self, key: str, capability: Any) -> bool:
        return isinstance(capability, str) and hmac.compare_digest(_utf8(self.capability(key)), _utf8(capability))

    def release(self, key: str) -> None:
        self.kept.discard(key)
        self.blobs.pop(key, None)

    async def serve(self, channel: Channel) -> None:
        refused = False  # a fetch without the capability was logged for this connection
        while True:
            header, _ = await channel.read()
            kind, key = header.get("type"), str(header.get("key"))
            if kind not in ("fetch", "fetched"):
                await channel.abort(f"unknown message type on the data channel: {kind!r}")
                return
            granted = self._grants(key, header.get("capability"))
            if not granted and not refused:
                refused = True
                log.warning("refused a '%s' from %s without a valid capability (said once per connection)",
                            kind, channel.peer)
            if kind == "fetch":
                await self._answer(channel, key, granted)
            elif granted and key not in self.kept:  # fetched: a result may go now
                self.blobs.pop(key, None)

    async def _answer(self, channel: Channel, key: str, granted: bool) -> None:
        """Its buffers, or ``missing``. Held only until written (a coroutine of its own): the
        mapping of a remote object released meanwhile, or of a range, must not outlive them."""
        if not granted:
            buffers = None
        elif key.startswith(SEGMENT_KEY):
            view = _segment_range(key)
            buffers = None if view is None else [view]
        else:
            buffers = self.blobs.get(key)
        if buffers is None:
            await channel.write({"type": "missing", "key": key, "message": MISSING})
            return
        if sum(len(buffer) for buffer in buffers) >= channels.OFF_LOOP_FROM:
            await asyncio.to_thread(_paged_in, buffers)
        await channel.write({"type": "blob", "key": key}, buffers)


def _paged_in(buffers: List[Any]) -> None:
    """Touch a page of every 4 KiB of ``buffers``, in a thread: a spilled object's pages may have
    gone back to its file (memory was short), and read from the disk while the loop writes them
    uncompressed they would hold it for seconds (a worker whose heartbeats stop is taken for lost)."""
    for buffer in buffers:
        if len(buffer) >= mmap.PAGESIZE:
            np.frombuffer(buffer, np.uint8)[::mmap.PAGESIZE].max()


class MissingBlob(LookupError):
    """The worker asked does not have that key (released, expired, or never stored there), or
    the capability given does not grant it: it answers both alike."""


class BlobClient:
    """One data channel to one worker, opened when first needed and again after a failure;
    fetches on it run one at a time."""

    def __init__(self, address: str, port: int, name: str):
        self.address, self.port, self.name = address, port, name
        self.channel: Optional[Channel] = None
        self._lock = asyncio.Lock()

    async def fetch(self, key: str, capability: str) -> List[bytes]:
        """The blob's buffers (lz4 with checksums when it pays), with the ``capability`` the
        worker handed out for ``key``. A transfer that fails (a frame
        that fails its checksum closes the channel) is fetched again on a new connection, up to
        FETCH_ATTEMPTS times. Raises ``MissingBlob`` or ``ChannelClosed``. A fetch interrupted
        any other way (a timeout cancels it mid-read) closes the channel: its next reply would
        be this one's."""
        async with self._lock:
            try:
                return await self._fetch(key, capability)
            except MissingBlob:
                raise
            except BaseException:
                self.close()
                raise

    async def _fetch(self, key: str, capability: str) -> List[bytes]:
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            try:
                if self.channel is None or self.channel.closed:
                    self.channel = await channels.connect(self.address, self.port,
                                                          timeout=10.0, compress=True)
                await self.channel.write({"type": "fetch", "key": key, "capability": capability})
                header, buffers = await self.channel.read()
                break
            except ChannelClosed as exc:
                log.warning("fetching %s from worker %s failed (%s), attempt %d of %d",
                            key, self.name, exc, attempt, FETCH_ATTEMPTS)
                if attempt == FETCH_ATTEMPTS:
                    raise
                await asyncio.sleep(FETCH_BACKOFF * attempt)  # a full port or a restart passes: not 3 tries in 3 ms
        if header.get("key") != key:
            raise ChannelClosed(f"worker {self.name} answered for {header.get('key')!r}, not {key!r}")
        if header["type"] != "blob":
            raise MissingBlob(f"worker {self.name}: {MISSING} ({key})")
        await self.channel.write({"type": "fetched", "key": key, "capability": capability})
        return buffers

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
