"""The remote objects one worker holds for clients.

Each object is a pickle plus the shared-memory segments of its large buffers
(``engine.remote_values``). The worker's ``BlobStore`` serves it over the data channel (to the
manager for ``toLocal()``, to other workers whose blocks use it) as ``[pickle, *buffers]``,
the buffers being read-only views of the segments, so serving copies nothing here. A block of
this worker gets the segments' names and maps them itself.

A release that arrives while a running block uses the object waits for that block to end: the
segments must not vanish under its partitions.

Objects held in memory take at most ``in_memory_limit`` bytes (half the worker's memory budget),
and at most half of what they hold plus the memory available (the host's, its cgroup's, /dev/shm's:
what the blocks beside them need grows as they run, so this is looked at again every progress
tick): past it, objects that no running block uses are *spilled* (``_spill_over`` says which first),
written to one file each in the spill folder (``engine.spill_files``) and their segments unlinked. A spilled
object is served from the file's pages and a block maps its regions from the file, so it is read
back where and when it is used, and the kernel can drop its pages again. A spill that cannot be
written (a full disk) leaves the object in memory, as it was (tried again after SPILL_RETRY):
nothing is lost.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ufora.engine import host_memory, proc, remote_values, shm, spill_files
from ufora.net.blobs import BlobStore

log = logging.getLogger(__name__)

SPILL_RETRY = 60.0  # seconds before an object whose spill failed (a full disk) is tried again


@dataclass
class Spill:
    """Where and past what the objects of a worker go to disk."""
    folder: str
    in_memory_limit: int  # bytes of objects held in memory at most (less where memory is short)


class ObjectHolder:
    def __init__(self, blobs: BlobStore, unmap: Callable[[List[str]], None], spill: Optional[Spill] = None,
                 available: Callable[[], int] = host_memory.shared_available):
        self.blobs = blobs
        self.unmap = unmap  # tells the compute processes to unmap dropped segments
        self.spill = spill
        self.available = available  # the memory a new segment may take now
        self.segments: Dict[str, List[remote_values.Segment]] = {}  # held in memory
        # key -> (its file, (offset, size) of each of its buffers there)
        self.spilled: Dict[str, Tuple[str, List[Tuple[int, int]]]] = {}
        self.sizes: Dict[str, int] = {}
        self.last_used: Dict[str, float] = {}
        self.in_use: Dict[str, Set[str]] = {}  # job id -> object ids its block uses
        self.doomed: Set[str] = set()  # released while in use
        self.unspillable: Dict[str, float] = {}  # their spill failed: in memory until then (monotonic)
        self._spilling: Optional[asyncio.Task] = None
        self._abandon = threading.Event()  # set by ``stop``: the spill being written gives up

    def keep(self, data: bytes, segments: List[remote_values.Segment]) -> str:
        views = [shm.map_readonly(name, size) for name, size in segments]
        key = self.blobs.put([data, *views], keep=True)
        self.segments[key] = segments
        self.sizes[key] = remote_values.size_of(data, segments)
        self.last_used[key] = time.monotonic()
        self._spill_over()
        return key

    def holds(self, key: str) -> bool:
        """Whether this worker has the object, in memory or spilled."""
        return key in self.segments or key in self.spilled

    @property
    def memory_bytes(self) -> int:
        """The bytes of the objects held in shared memory (pickles included)."""
        return sum(self.sizes[key] for key in self.segments)

    @property
    def spilled_bytes(self) -> int:
        """The bytes of the objects spilled to files."""
        return sum(self.sizes[key] for key in self.spilled)

    def local_parts(self, key: str) -> Tuple[Any, list]:
        """A held object as a block of this worker loads it: (its pickle, its segments, or its
        regions in its spill file). A spilled one's pickle is a view of the file, to be read
        off the event loop."""
        if key in self.spilled:
            path, regions = self.spilled[key]
            return self.blobs.blobs[key][0], [(path, offset, size) for offset, size in regions[1:]]
        return self.blobs.blobs[key][0], list(self.segments.get(key, ()))

    def use(self, job_id: str, keys: Set[str]) -> None:
        self.in_use[job_id] = keys
        now = time.monotonic()
        for key in keys:
            if key in self.last_used:
                self.last_used[key] = now

    def done(self, job_id: str) -> None:
        for key in self.in_use.pop(job_id, ()):
            if key in self.doomed and not self._used(key):
                self._drop(key)
        self._spill_over()

    def release(self, key: str) -> None:
        if self._used(key):
            self.doomed.add(key)
        else:
            self._drop(key)

    def _used(self, key: str) -> bool:
        return any(key in keys for keys in self.in_use.values())

    def _drop(self, key: str) -> None:
        self.doomed.discard(key)
        self.unspillable.pop(key, None)
        self.sizes.pop(key, None)
        self.last_used.pop(key, None)
        self.blobs.release(key)
        segments = self.segments.pop(key, [])
        remote_values.discard(segments)
        if segments:
            self.unmap([name for name, _ in segments])
        path, _ = self.spilled.pop(key, ("", []))
        if path:
            _remove(path)
            self.unmap([path])

    def relieve(self) -> None:
        """Spill what the memory available now says must go (the worker's progress tick)."""
        if self.segments:
            self._spill_over()

    def _spill_over(self) -> None:
        """Start spilling an object no block uses, if those in memory take more than their
        share (one spill at a time; each one done looks again): the least recently used of
        those that bring them under it alone, else the least recently used (a large object
        just made goes before the small ones used long ago)."""
        if self.spill is None or (self._spilling is not None and not self._spilling.done()):
            return
        now = time.monotonic()
        idle = [key for key in self.segments if not self._used(key) and self.unspillable.get(key, 0) <= now]
        if not idle:  # nothing could go: memory is not read (0.2 ms, on every block's end)
            return
        held = self.memory_bytes
        excess = held - min(self.spill.in_memory_limit, (held + self.available()) // 2)
        if excess > 0:
            enough = [key for key in idle if self.sizes[key] >= excess]
            chosen = min(enough or idle, key=self.last_used.__getitem__)
            path = spill_files.file_name(self.spill.folder, chosen)
            self._spilling = asyncio.ensure_future(self._spill_one(chosen, path, self.blobs.blobs[chosen]))

    async def _spill_one(self, key: str, path: str, buffers: list) -> None:
        try:
            regions = await asyncio.to_thread(spill_files.write, path, buffers, self._abandon)
            if key in self.segments and not self._used(key):
                self._swap_to_file(key, path, regions)
            else:  # released, or a block began to use it, while it was written
                _remove(path)
        except Exception as exc:  # a full disk, no mapping left: the object stays as it was
            _remove(path)
            self.unspillable[key] = time.monotonic() + SPILL_RETRY
            log.warning("remote object %s (%d bytes) stays in memory for now: it could not be spilled to %s (%s)",
                        key, self.sizes.get(key, 0), path, repr(exc))  # not exc: its frames hold the mappings
        self._spilling = None
        self._spill_over()

    def _swap_to_file(self, key: str, path: str, regions: List[Tuple[int, int]]) -> None:
        views = [spill_files.map_region(path, offset, size) for offset, size in regions]
        self.blobs.blobs[key] = views
        self.spilled[key] = (path, regions)
        self.unspillable.pop(key, None)
        segments = self.segments.pop(key)
        remote_values.discard(segments)
        if segments:
            self.unmap([name for name, _ in segments])
        log.info("remote object %s (%d bytes) spilled to %s: objects in memory %d bytes, limit %d",
                 key, self.sizes[key], path, self.memory_bytes, self.spill.in_memory_limit if self.spill else 0)

    def stop(self) -> None:
        if self._spilling is not None:  # its thread gives up and removes its file
            self._abandon.set()
            self._spilling.cancel()
        for key in [*self.segments, *self.spilled]:
            self._drop(key)


def sweep_spill_folder(folder: str) -> int:
    """Remove the files a worker service no longer alive spilled to ``folder`` (it was killed
    before it could); how many."""
    removed = 0
    for name in os.listdir(folder):
        pid = spill_files.owner(name)
        if pid is not None and not proc.alive(pid):
            _remove(os.path.join(folder, name))
            removed += 1
    return removed


def _remove(path: str) -> None:
    """Remove a spill file; one that cannot be (a folder turned read-only) is logged, never
    raised: the object it held is gone for the service either way."""
    if not path:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the spill file %s: %s", path, exc)
