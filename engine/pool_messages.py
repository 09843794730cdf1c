"""The messages between a worker service and its compute processes (``engine.pool``), one class
each: named fields instead of positions, and ``isinstance`` instead of comparing a string in
slot 0. NamedTuples: they pickle as small as a plain tuple (their class by reference, then
the fields), and a message per partition stays as cheap as before.

User values never need the service to read them: a partition's outcome travels pickled
(``PartitionDone.outcome``, ``TaskDone.outcomes``) from the process that computed it to the
driver that combines it; a large one's buffers in shared memory (``engine.parcels``).
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple, Union


class ForeignTask(NamedTuple):
    """Another worker's task, one partition of which a process here computes (task numbers are
    each worker's own, so a peer's is named with the peer)."""
    peer: str
    task_id: int


TaskId = Union[int, ForeignTask]  # this worker's task, or a peer's


# ---- service -> compute process ------------------------------------------------------------
class RunBlock(NamedTuple):
    """Drive this block (``engine.block.Block``)."""
    job_id: str
    block: Any


class RunPartition(NamedTuple):
    """Compute items [lo, hi) of a task. ``payload``: the task's bytes, or None when the process
    was sent them last (``pool._held_payload``); ``windows``: for a partition of another worker's
    task, the bytes of its shared arrays, else empty."""
    task_id: TaskId
    payload: Optional[bytes]
    lo: int
    hi: int
    windows: list


class TaskDone(NamedTuple):
    """The driver's task is computed: every kept partition's (lo, hi, pickled outcome), in order."""
    outcomes: List[Tuple[int, int, Any]]  # bytes, or an engine.parcels.Parcel


class Forget(NamedTuple):
    """Unmap these remote objects' segments or spill files (the objects were released)."""
    segments: List[str]


# ---- compute process -> service ------------------------------------------------------------
class BlockDone(NamedTuple):
    job_id: str
    result: Any  # engine.block.BlockResult: its values pickled, its arrays in shared memory


class PartitionDone(NamedTuple):
    task_id: TaskId
    lo: int
    hi: int
    stop: bool  # the outcome ends the task (an error, or any/all decided)
    outcome: Any  # pickled (bytes, or an engine.parcels.Parcel for a task of this worker): the driver's to read
    compiled: bool = False  # numba computed it (else CPython): shown per shape on the dashboard


class RunTask(NamedTuple):
    """The driver reached a parallel shape: split it (it computes partitions while it waits)."""
    payload: bytes
    length: int
    shareable: bool  # its partitions can be computed on other workers (a collection's values come back)
    windows: list  # engine.sources.Window: where its shared arrays lie
    duplicable: bool = False  # its partitions write nothing shared: one may be computed twice (a backup)


class Output(NamedTuple):
    """What the block printed: [(stream, text)], in order."""
    job_id: str
    pieces: list


class KernelEvent(NamedTuple):
    """The process compiled a kernel ("compiled"), loaded one from the disk cache ("loaded"), or
    took one from the peer that had it ("fetched"): counted in the worker's stats."""
    kind: str


class KernelWanted(NamedTuple):
    """The process lacks kernel-cache entry ``name`` for a partition of the peer's task: ask the
    peer for it (the answer comes through the kernel folder: ``engine.kernel_cache.deliver``)."""
    task: ForeignTask
    name: str


ToProcess = Union[RunBlock, RunPartition, TaskDone, Forget]
FromProcess = Union[BlockDone, PartitionDone, RunTask, Output, KernelEvent, KernelWanted]
