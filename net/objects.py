"""The remote objects one worker holds for clients.

Each object is a pickle plus the shared-memory segments of its large buffers
(``engine.remote_values``). The worker's ``BlobStore`` serves it over the data channel (to the
manager for ``toLocal()``, to other workers whose blocks use it) as ``[pickle, *buffers]``,
the buffers being read-only views of the segments, so serving copies nothing here. A block of
this worker gets the segments' names and maps them itself.

A release that arrives while a running block uses the object waits for that block to end: the
segments must not vanish under its partitions.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Set, Tuple

from ufora.engine import remote_values, shm
from ufora.net.blobs import BlobStore

log = logging.getLogger(__name__)


class ObjectHolder:
    def __init__(self, blobs: BlobStore, unmap: Callable[[List[str]], None]):
        self.blobs = blobs
        self.unmap = unmap  # tells the compute processes to unmap dropped segments
        self.segments: Dict[str, List[remote_values.Segment]] = {}
        self.in_use: Dict[str, Set[str]] = {}  # job id -> object ids its block uses
        self.doomed: Set[str] = set()  # released while in use

    def keep(self, data: bytes, segments: List[remote_values.Segment]) -> str:
        views = [shm.map_readonly(name, size) for name, size in segments]
        key = self.blobs.put([data, *views], keep=True)
        self.segments[key] = segments
        return key

    def local_parts(self, key: str) -> Tuple[bytes, list]:
        """A held object as a block of this worker loads it: (pickle, its segments)."""
        data = self.blobs.blobs[key][0]
        return data, list(self.segments.get(key, ()))

    def use(self, job_id: str, keys: Set[str]) -> None:
        self.in_use[job_id] = keys

    def done(self, job_id: str) -> None:
        for key in self.in_use.pop(job_id, ()):
            if key in self.doomed and not self._used(key):
                self._drop(key)

    def release(self, key: str) -> None:
        if self._used(key):
            self.doomed.add(key)
        else:
            self._drop(key)

    def _used(self, key: str) -> bool:
        return any(key in keys for keys in self.in_use.values())

    def _drop(self, key: str) -> None:
        self.doomed.discard(key)
        self.blobs.release(key)
        segments = self.segments.pop(key, [])
        remote_values.discard(segments)
        if segments:
            self.unmap([name for name, _ in segments])

    def stop(self) -> None:
        for key in list(self.segments):
            self._drop(key)
