"""Shared-memory segments for large inputs and outputs of parallel shapes.

Ownership is explicit: the driver process that runs a block creates a job's segments and
unlinks them when the shape finishes, whether it returned, raised or was interrupted; pool
processes only attach by name. Segments are named ``ufora_<driver pid>_<n>`` so that the
worker can sweep those of a driver that died (``sweep(pid)``).

``multiprocessing.shared_memory`` before Python 3.13 registers every segment, attached ones
too, with a resource-tracker process that unlinks them when *any* user exits and would be
started in every pool process; ownership here is explicit instead, so segments are untracked.
"""
from __future__ import annotations

import contextlib
import glob
import itertools
import os
import sys
from multiprocessing import resource_tracker, shared_memory
from typing import Iterator

PREFIX = "ufora_"
_counter = itertools.count()


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


def create(nbytes: int) -> shared_memory.SharedMemory:
    """A new segment of at least ``nbytes`` (never 0), owned by this process."""
    name = f"{PREFIX}{os.getpid()}_{next(_counter)}"
    return _open(name=name, create=True, size=max(1, nbytes))


def attach(name: str) -> shared_memory.SharedMemory:
    return _open(name=name)


def release(segment: shared_memory.SharedMemory, unlink: bool = False) -> None:
    """Close this process's mapping (if no array still uses it) and, for the owner, unlink."""
    try:
        segment.close()
    except BufferError:
        pass  # a view is still alive here; the mapping goes with it, the name goes below
    if unlink:
        with _untracked(), contextlib.suppress(FileNotFoundError):
            segment.unlink()


def sweep(pid: int) -> int:
    """Unlink every segment a (dead) driver process left behind; how many there were."""
    paths = glob.glob(f"/dev/shm/{PREFIX}{pid}_*")
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return len(paths)
