"""The values a block leaves: on the cluster as remote objects, or on their way to the client;
and loading remote objects in a later block.

A value is pickled with its large buffers (the data of numpy arrays, from LARGE_BUFFER bytes)
out of band, each in a shared-memory segment owned by the worker service: a buffer that already
is the whole data of a segment of the driver (a list left as the array its shape wrote,
``engine.unread``) is that segment, renamed as the service's (``shm.take``); any other is copied
once into a new one (``shm.write_for_service``). If the value stays on the cluster, a later
block on that worker maps the segments read-only and its arrays *are* the segments, with no
copy and no unpickling of the data, and ``ArraySource`` hands them to the pool by name. If it
is downloaded, the segments go to the service as the value's *parts* (``engine.block``), which
the client receives as buffers of their own and unpickles the value on without a copy.

An object's *parts* are its out-of-band buffers, each either ``(segment name, size)`` (on this
worker), ``(file, offset, size)`` (on this worker, spilled to disk: ``engine.spill_files``) or
the bytes themselves (fetched from another worker).
"""
from __future__ import annotations

import pickle
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple, Union

from ufora.engine import serialization, shm, spill_files

LARGE_BUFFER = 1 << 20

Segment = Tuple[str, int]
Part = Union[Segment, spill_files.Region, bytes, memoryview]


def pack(value: Any, download_below: Optional[int], read: Optional[serialization.ReadObjects] = None,
         free_ids: Collection[int] = (), block_globals: Optional[Dict[str, Any]] = None, block_file: str = "",
         nans_only: bool = False, together: Optional[serialization.Together] = None, several: bool = False
         ) -> Tuple[bytes, List[Segment], bool]:
    """The pickle of ``value``, the segments of its large buffers, and whether it stays on the
    cluster: if its size is at least ``download_below`` (None: it is downloaded, whatever its
    size). A value downloaded whatever its size refers to the objects it holds that the client
    sent (``read``: the block's free variables; ``free_ids``: their own ids), so that the client
    puts its own objects there: ``best = max(accounts, key=...)`` is one of the client's
    accounts, as in CPython. The functions whose globals are ``block_globals`` (the block's
    module's, of ``block_file``: ``engine.namespaces``) read the caller's module's globals
    where they arrive. Functions go as the user wrote them when downloaded (``engine.as_written``),
    as they ran when kept. ``nans_only``: of the objects the client sent, only its NaN floats are
    its own again (``engine.nan_identity``): a value to compare with the client's (its changes
    in place), whose NaNs are yet the client's markers. ``together``: the values downloaded
    before this one, whose objects it refers to where it holds them (``serialization.Together``);
    it joins them unless ``nans_only`` (those values are read apart: ``pyfora.with_block``).
    ``several``: ``value`` is a dict of the block's variables, each looked at as one value."""
    refer = theirs = None
    if download_below is None and read is not None:
        theirs = read.nan_keys()  # (where the value holds NaNs: engine.nan_identity)
        if not nans_only and any(may_hold_theirs(part, read, free_ids) for part in
                                 (value.values() if several else (value,))):
            refer = read.number
    if download_below is None and together is not None and together.may_hold(value):
        refer = together.refer(refer)
    data, buffers, as_written, memo = serialization.dumps_out_of_band(value, LARGE_BUFFER, refer, block_globals,
                                                                      block_file, theirs=theirs)
    kept = download_below is not None and len(data) + sum(b.raw().nbytes for b in buffers) >= download_below
    if kept and as_written:  # kept here, its functions stay rewritten: a later block's shapes in them split
        data, buffers, _, _ = serialization.dumps_out_of_band(value, LARGE_BUFFER, refer, block_globals, block_file,
                                                              written=False)
    segments: List[Segment] = []
    try:
        for buffer in buffers:
            segments.append(_in_segment(buffer))
    except BaseException:
        discard(segments)
        raise
    if download_below is None and together is not None and not nans_only:
        together.add(memo, value, several)  # (once it will be sent: the reader numbers the values it reads)
    return data, segments, kept


def may_hold_theirs(value: Any, read: serialization.ReadObjects, free_ids: Collection[int]) -> bool:
    """Whether ``value`` may be or hold an object the client sent (it then refers to it)."""
    return id(value) in free_ids or not _new(value, read) or not serialization.plain(value, read.ids)


def _in_segment(buffer: pickle.PickleBuffer) -> Segment:
    raw = buffer.raw()
    return shm.take(raw) or shm.write_for_service(raw), raw.nbytes


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
    """The value of a remote object: its segments and spilled regions mapped read-only (remote
    objects do not change; a block that wants to change an array copies it), its other buffers
    used as they are."""
    return serialization.loads(data, buffers=[_mapped(part) for part in parts])


def _mapped(part: Part) -> Any:
    if not isinstance(part, tuple):
        return part
    if len(part) == 3:
        return spill_files.map_region(*part)
    return shm.map_readonly(*part)
