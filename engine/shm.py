"""Shared-memory segments for large inputs and outputs of parallel shapes.

Ownership is explicit: the driver process that runs a block creates a job's segments and
unlinks them when the shape finishes, whether it returned, raised or was interrupted; pool
processes only attach by name. Every name starts with its worker service's prefix,
``ufora_<service pid>_<service tag>_``: a driver's segments are
``ufora_<service pid>_<service tag>_<driver pid>_<random>``, so that the worker can sweep those
of a driver that died (``sweep(pid)``), and a service that starts removes whatever a service
that is no longer alive left (``sweep_dead_services``, by the pid right after the prefix: one
killed with SIGKILL, its pool and all, could not clean up).

The tag (128 random bits, drawn once by the worker service and inherited by its pool) and the
random last part make names that cannot be guessed: nobody can name a segment they were not
told of (the data channel serves ranges of segments only with a capability, ``net.blobs``), nor
take a name first to make the service's ``create`` fail; and a name is never used twice, so a
capability for one segment's range never reads another's.

The large arrays of *remote objects* outlive the block that made them: the driver creates their
segments in the worker service's name (``ufora_<service pid>_<service tag>_o<random>``,
``create_for_service``), the service unlinks them when the object is released and sweeps them
all when it stops, and its pool's zygote sweeps them when the service dies (killed, nothing
else would). Blocks map them read-only (``map_readonly``: remote objects are immutable), and
``find`` tells ``ArraySource`` that an array already lies in shared memory, so it is not copied
again. Pool processes map such a segment read-only, with its page tables filled at once, and
keep it mapped from one partition to the next (``attach_kept``: faulting in 800 MB page by
page, again in each partition, costs as much as the sum itself) until the service says it is
gone (``forget``).

``multiprocessing.shared_memory`` before Python 3.13 registers every segment, attached ones
too, with a resource-tracker process that unlinks them when *any* user exits and would be
started in every pool process; ownership here is explicit instead, so segments are untracked.
"""
from __future__ import annotations

import bisect
import contextlib
import errno
import glob
import mmap
import os
import re
import secrets
import sys
import weakref
from multiprocessing import resource_tracker, shared_memory
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ufora.engine import cow_pages, host_memory, proc

PREFIX = "ufora_"
# The worker service whose remote objects this process's segments may become, and its random
# tag: set by the compute pool before it forks (``become_service``).
service_pid = os.getpid()
service_tag = secrets.token_hex(16)


def become_service() -> None:
    """This process is a worker service: the segments it and the processes it forks create
    carry its pid and a fresh random tag."""
    global service_pid, service_tag
    service_pid, service_tag = os.getpid(), secrets.token_hex(16)


def _service_prefix() -> str:
    return f"{PREFIX}{service_pid}_{service_tag}_"


@contextlib.contextmanager
def _untracked() -> Iterator[None]:
    register, unregister = resource_tracker.register, resource_tracker.unregister
    resource_tracker.register = resource_tracker.unregister = lambda *args: None
    try:
        yield
    finally:
        resource_tracker.register, resource_tracker.unregister = register, unregister


def _open(**kwargs) -> shared_memory.SharedMemory:
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(track=False, **kwargs)
    with _untracked():
        return shared_memory.SharedMemory(**kwargs)


_CHECKED_FROM = 1 << 20  # a smaller segment is made without reading what memory there is


class NoRoom(MemoryError):
    """A segment the engine wanted for a shape (its outputs, a copy of its array) is larger than
    the memory available: the shape runs in order where it is instead, as CPython would (the
    outputs are sized for every item, and a filter may keep few of them)."""


def _room_for(nbytes: int) -> Optional[float]:
    """None where a segment of ``nbytes`` fits in the memory available
    (``host_memory.shared_available``), else that memory. Touched, a segment's pages past it had
    the kernel kill the process (out of memory in a cgroup; SIGBUS past /dev/shm's size).
    ``RLIMIT_DATA`` (``engine.memory_limits``) does not count shared memory."""
    if nbytes < _CHECKED_FROM:
        return None
    room = host_memory.shared_available()
    return None if nbytes <= room else room


def _check_room(nbytes: int) -> None:
    """``MemoryError`` (CPython's, with a note) before a segment of ``nbytes`` for a value is made
    where it does not fit (``_room_for``)."""
    room = _room_for(nbytes)
    if room is not None:
        error = MemoryError()
        error.add_note(f"(ufora) {nbytes / 2**30:.2f} GiB of shared memory were needed for the block's values, "
                       f"and {room / 2**30:.2f} GiB were available (the host's, its cgroup's and /dev/shm's)")
        raise error


def create(nbytes: int) -> shared_memory.SharedMemory:
    """A new segment of at least ``nbytes`` (never 0), owned by this process (``NoRoom`` where it
    does not fit)."""
    ensure_room(nbytes)
    return _open(name=_own_name(), create=True, size=max(1, nbytes))


def ensure_room(nbytes: int) -> None:
    """``NoRoom`` unless segments of ``nbytes`` in all fit in the memory available."""
    room = _room_for(nbytes)
    if room is not None:
        raise NoRoom(f"its shared memory ({nbytes / 2**30:.2f} GiB) would be more than the memory available "
                     f"({room / 2**30:.2f} GiB)")


def _own_name() -> str:
    """A new name for a segment this process owns (swept with it: ``sweep``)."""
    return f"{_service_prefix()}{os.getpid()}_{secrets.token_hex(8)}"


def attach(name: str) -> shared_memory.SharedMemory:
    return _open(name=name)


_kept: Dict[str, memoryview] = {}


def attach_kept(name: str) -> memoryview:
    """A remote object's segment, mapped read-only once in this process and kept until
    ``forget`` (then unmapped when the last array on it goes)."""
    if name not in _kept:
        _kept[name] = map_readonly(name, os.stat(f"/dev/shm/{name}").st_size, populate=True)
    return _kept[name]


def forget(names: List[str]) -> bool:
    """Drop the mappings ``attach_kept`` kept of ``names``; whether this process still maps
    one of them (or a spill file of that name) all the same: an array of it still alive."""
    for name in names:
        _kept.pop(name, None)
    wanted = set(names)
    return any(name in wanted and alive() is not None for _, name, _, alive in _mapped.values())


def create_for_service(nbytes: int) -> shared_memory.SharedMemory:
    """A new segment for a remote object's buffer, owned by the worker service."""
    _check_room(nbytes)
    segment = _open(name=f"{_service_prefix()}o{secrets.token_hex(8)}", create=True, size=max(1, nbytes))
    try:
        _service_still_there(segment.name)
    except ServiceGone:
        segment.close()
        raise
    return segment


class ServiceGone(RuntimeError):
    """The worker service a segment was made in the name of is gone."""


def _service_still_there(name: str) -> None:
    """Unlink segment ``name``, made in the worker service's name, if the service is gone, and
    raise ``ServiceGone``: its pool's zygote sweeps the service's segments when it dies, and one
    a compute process made after that sweep (a driver finishing its block as its worker was
    killed) stayed in /dev/shm, as a CI run found. Checked after the segment exists: one made
    before the sweep is swept."""
    if service_pid != os.getpid() and not proc.alive(service_pid):
        unlink(name)
        raise ServiceGone(f"the worker service {service_pid} is gone")


# Driver segments whose data a value the block leaves may take as they are (a shape's output
# left as a list's array: engine.unread): {start address: (name, size, the owner's finalizer)}.
_handable: Dict[int, Tuple[str, int, weakref.finalize]] = {}


def handable(segment: shared_memory.SharedMemory, nbytes: int, owner: Any) -> None:
    """From now on ``owner``, which holds ``segment`` and views of its first ``nbytes`` (arrays
    made on ``segment.buf`` do not keep the mapping alive: the owner does), owns it: it is
    unlinked when ``owner`` dies, unless ``take`` hands it on to the worker service first.
    Beyond ``nbytes`` it is cut off (the memory a filter's gaps took goes), and this process's
    descriptor is closed now."""
    if nbytes < segment.size:
        os.ftruncate(segment._fd, max(1, nbytes))
    os.close(segment._fd)
    segment._fd = -1
    _hand_on(segment.buf, segment.name, nbytes, owner)


def _hand_on(data: Any, name: str, nbytes: int, owner: Any) -> None:
    start = np.frombuffer(data, np.uint8).ctypes.data
    _handable[start] = (name, nbytes, weakref.finalize(owner, _unhandled, start, name, os.getpid()))


def _unhandled(start: int, name: str, pid: int) -> None:
    """The owner died: unlink, in the process that owns it (a child a block forked has a copy of
    the finalizer, and dropping its copy of the arrays, or exiting, unlinked its parent's segment)."""
    _handable.pop(start, None)
    if os.getpid() == pid:
        unlink(name)


def adopt(name: str) -> str:
    """Rename a segment another process of this service wrote (``engine.parcels``) as one of
    the service's own (``create_for_service``'s names): no longer swept with its writer, which
    may die while the service still holds the segment; its new name."""
    if name.startswith(f"{_service_prefix()}o"):
        return name
    adopted = f"{_service_prefix()}o{secrets.token_hex(8)}"
    os.rename(f"/dev/shm/{name}", f"/dev/shm/{adopted}")
    _service_still_there(adopted)
    return adopted


def take(buffer: memoryview) -> Optional[str]:
    """If ``buffer`` is exactly the data of a ``handable`` segment: that segment, renamed as one
    of the worker service (``create_for_service``'s names: a driver's own are swept when it
    ends) and no longer its owner's to unlink; its new name. Else None."""
    nbytes = buffer.nbytes
    start = np.frombuffer(buffer, np.uint8).ctypes.data if nbytes else 0
    entry = _handable.get(start)
    if entry is None or entry[1] != nbytes:
        return None
    del _handable[start]
    name, _, finalizer = entry
    finalizer.detach()
    renamed = f"{_service_prefix()}o{secrets.token_hex(8)}"
    try:
        os.rename(f"/dev/shm/{name}", f"/dev/shm/{renamed}")
    except OSError:
        unlink(name)
        raise
    _service_still_there(renamed)
    return renamed


def write_for_service(data: Any) -> str:
    """A new segment of the worker service holding a copy of ``data`` (bytes-like): its name.
    Written with ``write``, not through a mapping: the kernel fills a tmpfs file's pages itself,
    where a fresh mapping takes a fault per page (128 MB: 0.06 s, not 0.12)."""
    name = f"{_service_prefix()}o{secrets.token_hex(8)}"
    view = memoryview(data).cast("B")
    _check_room(len(view))
    fd = os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
    except BaseException:
        unlink(name)
        raise
    finally:
        os.close(fd)
    _service_still_there(name)
    return name


ALIGNMENT = 64  # bytes: each buffer of ``write_own_parts`` starts at a multiple (what numpy allocates on)


def write_own_parts(buffers: Sequence[memoryview]) -> Tuple[str, List[Tuple[int, int]]]:
    """A new segment of this process (swept with it) holding a copy of each of ``buffers``, one
    after the other, each aligned: its name and each one's (offset, size). ``NoRoom`` where
    /dev/shm is full (``ensure_room`` first: reading what memory there is costs more than
    writing a MiB)."""
    spans, end = [], 0
    for buffer in buffers:
        spans.append((end, buffer.nbytes))
        end += -(-buffer.nbytes // ALIGNMENT) * ALIGNMENT
    name = _own_name()
    try:
        fd = os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            for buffer, (offset, nbytes) in zip(buffers, spans):
                view = buffer.cast("B")
                written = 0
                while written < nbytes:
                    written += os.pwrite(fd, view[written:], offset + written)
        finally:
            os.close(fd)
    except BaseException as exc:
        unlink(name)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise NoRoom(f"/dev/shm is full: {exc}") from None
        raise
    return name, spans


def map_handed(name: str, nbytes: int, handable: bool) -> memoryview:
    """A writable view of segment ``name`` (of ``nbytes``), which another process of this service
    wrote for this one (``engine.parcels``). Its memory goes when the last view of it dies:
    unlinked now; or, ``handable``, renamed as this process's own and owned by the mapping as a
    ``handable`` segment is (the worker service may ``take`` it for a value the block leaves)."""
    own = _own_name() if handable else name
    try:
        if handable:
            os.rename(f"/dev/shm/{name}", f"/dev/shm/{own}")
        fd = os.open(f"/dev/shm/{own}", os.O_RDWR)
    except BaseException:
        unlink(name)
        unlink(own)
        raise
    try:
        mapping = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
    except OSError as exc:  # a mapping keeps a descriptor (mmap duplicates it), and there are only so many
        if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
            unlink(own)
            raise
        return _read_privately(fd, own, nbytes)
    except BaseException:
        unlink(own)
        raise
    finally:
        os.close(fd)
    if handable:
        _hand_on(mapping, own, nbytes, mapping)
    else:
        unlink(own)
    return memoryview(mapping)


def _read_privately(fd: int, name: str, nbytes: int) -> memoryview:
    """The segment's bytes copied into this process's own memory, and the segment unlinked."""
    try:
        data = memoryview(np.empty(nbytes, np.uint8))
        read = 0
        while read < nbytes:
            count = os.preadv(fd, [data[read:]], read)
            if count <= 0:
                raise OSError(errno.EIO, f"segment {name} ended after {read} of {nbytes} bytes")
            read += count
        return data
    finally:
        unlink(name)


# Read-only mappings of this process: sorted start addresses, and (end, name, the offset in the
# named file where the mapping starts, the mapping while it lives) for each. A mapping that died
# leaves its range to ordinary memory: never matched.
_starts: List[int] = []
_mapped: Dict[int, Tuple[int, str, int, weakref.ref]] = {}


def map_readonly(name: str, nbytes: int, populate: bool = False) -> memoryview:
    """A read-only view of segment ``name``; the mapping lasts as long as views of it do.
    ``populate``: fill its page tables now, in one call, rather than at each page's first touch."""
    fd = os.open(f"/dev/shm/{name}", os.O_RDONLY)
    try:
        flags = mmap.MAP_SHARED | (mmap.MAP_POPULATE if populate else 0)
        mapping = mmap.mmap(fd, max(1, nbytes), flags=flags, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    remember(mapping, nbytes, name)
    return memoryview(mapping)[:nbytes]


def map_private(name: str, nbytes: int) -> memoryview:
    """A writable, copy-on-write view of segment ``name``: what is written to it stays this
    process's (the segment is unchanged), what is only read is the segment's own pages. Not
    ``remember``-ed: arrays on it may differ from the segment, which no other process must map
    in their place. Its pages count towards ``RLIMIT_DATA`` (``engine.memory_limits``) as a
    private copy would."""
    fd = os.open(f"/dev/shm/{name}", os.O_RDONLY)
    try:
        mapping = mmap.mmap(fd, max(1, nbytes), flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    start = np.frombuffer(mapping, np.uint8).ctypes.data
    _private[start] = (start + nbytes, name, weakref.ref(mapping))
    return memoryview(mapping)[:nbytes]


# the copy-on-write mappings of this process (``map_private``): start -> (end, the segment's name
# (its bytes as they arrived, while the block runs), the mapping); those gone are dropped as found
_private: Dict[int, Tuple[int, str, Any]] = {}


def same_as_arrived(array: np.ndarray) -> bool:
    """Whether ``array`` (contiguous) lies in a copy-on-write mapping (``map_private``) and its
    bytes are still the segment's: every page of it this process wrote (``engine.cow_pages``)
    holds what the segment holds there. False where that cannot be told."""
    if not (array.flags.c_contiguous or array.flags.f_contiguous) or array.nbytes == 0:
        return False
    address = array.ctypes.data
    for start, (end, name, alive) in list(_private.items()):
        if alive() is None:
            del _private[start]
        elif start <= address and address + array.nbytes <= end:
            runs = cow_pages.written_runs(address, array.nbytes)
            return runs is not None and _as_in_segment(array, name, address - start, runs)
    return False


def _as_in_segment(array: np.ndarray, name: str, offset: int, runs: List[Tuple[int, int]]) -> bool:
    """Whether the bytes of ``array`` (at ``offset`` in segment ``name``) in each of ``runs``
    are the segment's; False where the segment is gone."""
    if not runs:
        return True
    mine = array.reshape(-1, order="A").view(np.uint8)  # its bytes in memory order
    try:
        fd = os.open(f"/dev/shm/{name}", os.O_RDONLY)
    except OSError:
        return False
    try:
        for lo, hi in runs:
            arrived = os.pread(fd, hi - lo, offset + lo)
            if len(arrived) != hi - lo or mine[lo:hi].data != arrived:
                return False
        return True
    finally:
        os.close(fd)


def first_bytes(name: str, count: int) -> bytes:
    """The first ``count`` bytes of segment ``name`` (fewer if it is shorter)."""
    fd = os.open(f"/dev/shm/{name}", os.O_RDONLY)
    try:
        return os.pread(fd, count, 0)
    finally:
        os.close(fd)


def remember(mapping: mmap.mmap, nbytes: int, name: str, offset: int = 0) -> None:
    """Let ``find`` tell that arrays on ``mapping`` (of ``nbytes`` of the file ``name`` from
    ``offset``) lie there: a segment's, or a spilled remote object's file (``engine.spill_files``)."""
    start = np.frombuffer(mapping, np.uint8).ctypes.data
    for dead in [at for at, (_, _, _, alive) in _mapped.items() if alive() is None]:
        del _mapped[dead]
        _starts.remove(dead)
    if start not in _mapped:
        bisect.insort(_starts, start)
    _mapped[start] = (start + nbytes, name, offset, weakref.ref(mapping))


def find(address: int, nbytes: int) -> Optional[Tuple[str, int]]:
    """(name, offset in it) if ``[address, address + nbytes)`` lies in a segment this process
    mapped with ``map_readonly`` (or a spill file it mapped: its name is its path)."""
    at = bisect.bisect_right(_starts, address) - 1
    if at < 0:
        return None
    start = _starts[at]
    end, name, offset, alive = _mapped[start]
    if alive() is not None and address + nbytes <= end:
        return name, offset + address - start
    return None


def release(segment: shared_memory.SharedMemory, unlink: bool = False) -> None:
    """Close this process's mapping (if no array still uses it) and, for the owner, unlink."""
    try:
        segment.close()
    except BufferError:  # a view is still alive here: the mapping goes with it (the mapping has a
        if segment._fd >= 0:  # descriptor of its own), the name goes below, this descriptor now
            os.close(segment._fd)
            segment._fd = -1
    if unlink:
        with _untracked(), contextlib.suppress(FileNotFoundError):
            segment.unlink()


def unlink(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"/dev/shm/{name}")


def sweep(pid: int) -> int:
    """Unlink every segment a (dead) driver process of this service left behind; how many."""
    return _unlink_all(glob.glob(f"/dev/shm/{_service_prefix()}{pid}_*"))


def sweep_service(pid: int) -> int:
    """Unlink every segment of the worker service ``pid`` (stopped, or killed); how many."""
    return _unlink_all(glob.glob(f"/dev/shm/{PREFIX}{pid}_*"))


def owner(name: str) -> Optional[int]:
    """The worker service a segment's name says it belongs to, or None if it is not ours."""
    match = _OWNED.match(name)
    return int(match.group(1)) if match else None


def owned_here(name: str) -> bool:
    """A segment of this process's worker service (what its data channel may serve)."""
    return name.startswith(_service_prefix())


def sweep_dead_services() -> int:
    """Unlink the segments of every worker service that is no longer alive (a previous run
    killed with SIGKILL); those of live services, and other programs' files, are left alone."""
    dead: Dict[int, bool] = {}
    paths = []
    for name in os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else ():
        pid = owner(name)
        if pid is not None and dead.setdefault(pid, not proc.alive(pid)):
            paths.append(f"/dev/shm/{name}")
    return _unlink_all(paths)


_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)_")


def _unlink_all(paths: List[str]) -> int:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return len(paths)
