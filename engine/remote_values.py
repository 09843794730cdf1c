"""The values a block leaves on the cluster as remote objects, and loading them in a later block.

A value is pickled with its large buffers (the data of numpy arrays, from LARGE_BUFFER bytes)
out of band. If it stays on the cluster, each such buffer is copied once into a shared-memory
segment owned by the worker service (``engine.shm.create_for_service``): a later block on that
worker maps the segments read-only and its arrays *are* the segments, with no copy and no
unpickling of the data, and ``ArraySource`` hands them to the pool by name. If the value is
downloaded instead, it is pickled whole, as any other.

An object's *parts* are its out-of-band buffers, each either ``(segment name, size)`` (on this
worker) or the bytes themselves (fetched from another worker).
"""
from __future__ import annotations

from typing import Any, Collection, List, Optional, Sequence, Tuple, Union

from engine import serialization, shm

LARGE_BUFFER = 1 << 20

Segment = Tuple[str, int]
Part = Union[Segment, bytes, memoryview]


def pack(value: Any, download_below: Optional[int], read: Optional[serialization.ReadObjects] = None,
         free_ids: Collection[int] = ()) -> Tuple[bytes, List[Segment]]:
    """The pickle of ``value`` and the segments of its large buffers. The buffers go to shared
    memory only if the value will stay on the cluster: if its size is at least ``download_below``
    (None: it is downloaded, whatever its size). A downloaded value refers to the objects it
    holds that the client sent (``read``: the block's free variables; ``free_ids``: their own
    ids), so that the client puts its own objects there: ``best = max(accounts, key=...)`` is
    one of the client's accounts, as in CPython."""
    if download_below is None:
        if read is None or (id(value) not in free_ids and _new(value, read) and serialization.plain(value, read.ids)):
            return serialization.dumps(value), []
        return serialization.dumps_referring(value, read.number), []
    data, buffers = serialization.dumps_out_of_band(value, LARGE_BUFFER)
    if not buffers:
        return data, []
    if len(data) + sum(buffer.raw().nbytes for buffer in buffers) < download_below:
        return serialization.dumps(value), []
    segments: List[Segment] = []
    try:
        for buffer in buffers:
            raw = buffer.raw()
            segment = shm.create_for_service(raw.nbytes)
            segments.append((segment.name, raw.nbytes))
            segment.buf[:raw.nbytes] = raw
            shm.release(segment)
    except BaseException:
        discard(segments)
        raise
    return data, segments


def _new(value: Any, read: serialization.ReadObjects) -> bool:
    """Whether ``value``, a list, dict or set, is not one the client sent (``rows =
    data["rows"]``: the client's own list, then)."""
    return type(value) not in (list, dict, set) or id(value) not in read.ids()


def discard(segments: Sequence[Segment]) -> None:
    """Unlink the segments of a value that will not be kept after all (or no longer is)."""
    for name, _ in segments:
        shm.unlink(name)


def size_of(data: bytes, segments: Sequence[Segment]) -> int:
    return len(data) + sum(size for _, size in segments)


def load(data: bytes, parts: Sequence[Part]) -> Any:
    """The value of a remote object: its segments mapped read-only (remote objects do not
    change; a block that wants to change an array copies it), its other buffers used as they
    are."""
    buffers = [shm.map_readonly(*part) if isinstance(part, tuple) else part for part in parts]
    return serialization.loads(data, buffers=buffers)
