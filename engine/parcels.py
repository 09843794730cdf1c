"""Large partition outcomes through shared memory instead of the pipes.

A partition's outcome goes from the compute process that computed it, through its worker
service, to the process driving the task. Pickled whole, a 120 MB outcome (the tables of a
parallel CSV read, a list of DataFrames) was copied six times on the way: pickled, written to
the pipe, read by the service, pickled again into ``TaskDone``, read by the driver, unpickled
(0.8 s of the 1.2 s a 135 MB import took). As a *parcel*, its buffers of ``OUT_OF_BAND`` bytes
or more (numpy arrays', pyarrow buffers': pickle protocol 5's out-of-band buffers) are written
once into one shared-memory segment, and only the small pickle and the segment's name travel.
The driver maps the segment and unpickles on it without a copy: the arrays it makes lie on
the segment, writable as the element made them. A buffer of ``ALONE`` bytes or more has a
segment of its own, which the arrays on it own in the driver (``shm.handable``): a value the
block leaves on the cluster takes it as it is (``shm.take``), with no copy.

Who unlinks a segment, at each step:

* the compute process names it with its own pid: swept if that process dies (``shm.sweep``)
  before the service read the message;
* the service adopts it as it reads the message (``shm.adopt``: renamed as the service's own, so
  the writer's death no longer sweeps it), and its copy of the ``Parcel`` unlinks the segments when
  it dies: a partition whose outcome is dropped (a backup's twin came first, its task was
  cancelled, its driver died) gives its memory back. Pickling it to the driver hands them on;
* the driver maps them: one of its own is renamed as the driver's and unlinked when the last
  array on it dies (or handed to the service); the shared one is unlinked at once, its memory
  going with the last array on it.

Only outcomes of this worker's own tasks are parcels: a peer's partition goes back over the
network, as bytes.
"""
from __future__ import annotations

import os
import pickle
import weakref
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from ufora.engine import memory_limits, remote_values, shm

# bytes: a smaller buffer stays in the pickle (64 KiB copied five times costs about what a
# segment's file and mapping cost); a CSV piece's column of 35,000 numbers is 280 KB
OUT_OF_BAND = 64 << 10
# bytes: a buffer in a segment of its own, which a value left on the cluster takes whole: the
# size from which remote values put buffers in segments of their own
ALONE = remote_values.LARGE_BUFFER
# bytes: smaller buffers share segments of at most about this size (one array kept alive keeps
# its whole segment: a review kept 2 of 500 arrays of 800 KB and held a 400 MB segment)
GROUP = 4 << 20

Segment = Tuple[str, int, bool]  # (name, bytes, whether it holds one buffer of ALONE bytes or more)
Place = Tuple[int, int, int]  # (segment's index, offset in it, bytes)
BufferCallback = Callable[[pickle.PickleBuffer], bool]


class Parcel:
    """An outcome's pickle without its large buffers, the segments holding those, and where each
    buffer lies, in the order the pickle reads them."""

    def __init__(self, data: bytes, segments: Sequence[Segment], places: Sequence[Place], owned: bool = False):
        self.data, self.segments, self.places = data, tuple(segments), tuple(places)
        self._owner = weakref.finalize(self, _unlink_all, self.segments, os.getpid()) if owned else None

    def __reduce__(self):
        """Pickling a parcel hands its segments to whoever reads the pickle (the service writes it
        to the driver): this copy no longer unlinks them."""
        self.disown()
        return _received, (self.data, self.segments, self.places)

    def disown(self) -> None:
        if self._owner is not None:
            self._owner.detach()
            self._owner = None


def _received(data: bytes, segments: Sequence[Segment], places: Sequence[Place]) -> Parcel:
    """A parcel read from a pipe: its segments are this process's to unlink until it hands them
    on. The service adopts them first: the process that wrote them may die (its segments are
    swept then) while the service holds the parcel (a review found a whole block lost so)."""
    adopted = []
    for name, nbytes, alone in segments:
        try:
            adopted.append((shm.adopt(name), nbytes, alone))
        except OSError:  # gone already: the driver fails naming it (FileNotFoundError)
            adopted.append((name, nbytes, alone))
    return Parcel(data, adopted, places, owned=True)


def _unlink_all(segments: Sequence[Segment], pid: Optional[int] = None) -> None:
    """Unlink the segments, in process ``pid`` only if given (a forked child holds copies of the
    parent's objects and finalizers)."""
    if pid is not None and os.getpid() != pid:
        return
    for name, _, _ in segments:
        shm.unlink(name)


def pack(dump: Callable[[Optional[BufferCallback]], bytes]) -> Union[bytes, Parcel]:
    """What ``dump`` pickles (called with a protocol-5 buffer callback, or None), as a parcel if it
    has large buffers; as plain bytes if it has none, or if shared memory has no room for them."""
    buffers: List[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            raw = buffer.raw()
        except BufferError:  # not contiguous: it goes in the pickle
            return True
        if raw.nbytes < OUT_OF_BAND:
            return True
        buffers.append(raw)
        return False

    data = dump(out_of_band)
    if not buffers:
        return data
    segments: List[Segment] = []
    try:
        shm.ensure_room(sum(raw.nbytes for raw in buffers))
        places = _written(buffers, segments)
    except shm.NoRoom:
        _unlink_all(segments)
        return dump(None)
    except BaseException:
        _unlink_all(segments)
        raise
    return Parcel(data, segments, places)


def _written(buffers: List[memoryview], segments: List[Segment]) -> List[Place]:
    """Each of ``buffers`` written to a segment (appended to ``segments`` as it is made): a
    large one to one of its own, the others together; where each lies."""
    places: List[Optional[Place]] = [None] * len(buffers)
    groups: List[List[int]] = []  # the buffers' indices, a segment's worth in each
    small: List[int] = []  # the group small buffers join now
    for at, raw in enumerate(buffers):
        if raw.nbytes >= ALONE:
            groups.append([at])
            continue
        if not small or sum(buffers[i].nbytes for i in small) + raw.nbytes > GROUP:
            small = []
            groups.append(small)
        small.append(at)
    for group in groups:
        name, spans = shm.write_own_parts([buffers[at] for at in group])
        segments.append((name, spans[-1][0] + spans[-1][1], buffers[group[0]].nbytes >= ALONE))
        for at, (offset, nbytes) in zip(group, spans):
            places[at] = (len(segments) - 1, offset, nbytes)
    return places  # type: ignore[return-value]


_mapped = [0]  # bytes of the parcels' segments this process maps now (their arrays alive)


def unpack(parcel: Parcel, load: Callable[[bytes, Sequence[Any]], Any]) -> Any:
    """``load(data, buffers)`` of a parcel received in the process it was meant for. Its
    segments count against this process's memory budget with those it maps already: where the
    budget has no room for them, ``MemoryError`` (``memory_limits``), as unpickling the outcome
    whole in this process's own memory raised before parcels."""
    parcel.disown()
    total = sum(nbytes for _, nbytes, _ in parcel.segments)
    if not memory_limits.has_room(_mapped[0] + total):
        _unlink_all(parcel.segments)
        raise MemoryError()
    mappings: List[Any] = []
    try:
        for name, nbytes, alone in parcel.segments:
            mappings.append(shm.map_handed(name, nbytes, handable=alone))
            _mapped[0] += nbytes
            weakref.finalize(mappings[-1].obj, _unmapped, nbytes)
    except BaseException:
        _unlink_all(parcel.segments[len(mappings) + 1:])
        raise
    return load(parcel.data, [mappings[index][offset:offset + nbytes] for index, offset, nbytes in parcel.places])


def _unmapped(nbytes: int) -> None:
    _mapped[0] -= nbytes
