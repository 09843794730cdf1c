"""Which compute process does what next: a plain state machine, no I/O.

One entry: ``PoolScheduler.handle(event)`` takes what happened (a block submitted or cancelled, a
message from a process, a process gone or added, a peer's message, a peer joined or gone, the
windows of a peer's partition or a kernel fetched or not; the dataclasses under "events") and
returns what to do, in order (the "instructions": a message to a process, a process to kill, a
block finished, a message to a peer, windows or a kernel to fetch from a peer, a fetched kernel
to hand to the process that wanted it). Its state includes the peer
protocol's (net/peers.py only turns frames into events and instructions into frames): which
task each peer offered, which of our processes wait for an answer to a pull, which peer's
partition each computes and the peer's slot holding it, and the bytes each task moved between
workers. ``validate_state()`` checks its invariants (tests call it after every event).

Rules:
* A process is *available for partitions* when it is not computing and is either idle or a
  driver waiting for its own task; it is *available for a block* only when idle.
* Partitions come before new blocks: finishing running work first keeps latency low.
* Partitions of the oldest task first; each task is cut by its own guided plan, sized for
  the whole pool, and pulled by whoever is free, so a slow process takes fewer partitions.
* A process that computes a partition and drives no block is handed its next one ahead
  (``LOOKAHEAD`` deep, in its pipe), so it never waits for the scheduler between partitions
  (0.2-0.5 ms each); not in the plan's tail of smallest partitions, where a partition queued
  behind another could leave an idle process with nothing to do.
* An outcome that says ``stop`` (an error, or ``any``/``all`` decided) at position p ends the
  task as soon as every partition before p is done; partitions after p are not handed out, and
  results of those already running are dropped.
* Across workers, by pull: a task that sends no array by name (``shareable``; the arrays it
  reads travel to peers by byte ranges, over the data channel, and a collection's values a peer
  computes come back in its outcome) is offered to peers
  (``SendOffer``); each process of ours with nothing of its own to do is reserved for one pull
  of a task a peer offered (``SendPull``), and gets a partition (``PartitionAnswered``: its
  windows are fetched, then it is computed here and its outcome sent back) or none
  (``NoneAnswered``: the process is free again, the offer forgotten). On the origin, each pulled
  partition is held by a *remote slot* that never drives a block and is dropped when its outcome
  arrives, or counted as a lost process when its peer leaves.
* A process computing a peer's partition that lacks its kernel on disk says so (``KernelWanted``):
  the peer is asked for it (``FetchKernel``, answered by ``SendKernel``), and what comes, or
  nothing, goes to the kernel folder for that process (``DeliverKernel``), which checks it
  before use and compiles the kernel if it is missing or unusable; its partitions run in
  CPython meanwhile.
* A partition of a *duplicable* task that has run far longer than its items' typical time (a
  straggler: a peer's process stopped, a loaded machine), once the task has nothing else to hand
  out, is computed again by an idle process of ours (a *backup*, as MapReduce's); whichever
  outcome comes first is the partition's, the other is dropped when it comes. Only duplicable
  tasks (``RunTask.duplicable``): their outcomes carry everything, where a collection's
  partition writes into the driver's output, which a late duplicate must never touch. A driver
  waiting for its task takes a backup only of a peer's partition, and only after
  ``DRIVER_BACKUP_AFTER``: its task's outcomes wait behind the backup if the twin wins; a
  partition a driver holds is not backed up (its block waits for the driver all the same).
  ``Tick`` events (the worker's, every quarter second) look for stragglers by the scheduler's
  clock.
* A partition whose process died is handed out again, once (a peer reports one it lost as
  ``partition_lost``); a block whose driver died fails with an error that says so; with no
  process left, every waiting block fails the same way.
"""
from __future__ import annotations

import itertools
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ufora.engine import serialization
from ufora.engine.block import Block, BlockResult
from ufora.engine.errors import RemoteError
from ufora.engine.partition import GuidedPlan
from ufora.engine.pool_messages import (BlockDone, ForeignTask, FromProcess, KernelWanted, PartitionDone, RunBlock,
                                        RunPartition, RunTask, TaskDone, TaskId, ToProcess)
from ufora.engine.sources import Window

Sends = List[Tuple[int, ToProcess]]  # inside: (process, message) pairs, made into Send instructions
LOOKAHEAD = 2  # partitions a process that drives no block may hold: the one it computes, the next
# a partition is a straggler once it has run BACKUP_FACTOR times its items' typical time (the median
# seconds per item of the task's partitions done), and BACKUP_AFTER seconds at least: guided plans
# hand out large partitions first, so time is judged per item; a stopped peer's partition showed
# as a block waiting without end
BACKUP_FACTOR = 4.0
BACKUP_AFTER = 1.0
DRIVER_BACKUP_AFTER = 5.0  # seconds at least before a driver takes a backup (a peer's partition only)


# ---- events: what happened --------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitBlock:
    job_id: str
    block: Block


@dataclass(frozen=True)
class ProcessSaid:
    """A message from a compute process, or from the peer computing a remote slot's partition."""
    index: ProcessIndex
    message: FromProcess


@dataclass(frozen=True)
class Tick:
    """Time passed: partitions that run far too long are computed again (backups)."""


@dataclass(frozen=True)
class ProcessGone:
    index: ProcessIndex
    reason: str
    replacing: bool = False  # a replacement is being forked (ProcessAdded or ReplacementFailed follows)


@dataclass(frozen=True)
class ReplacementFailed:
    reason: str


@dataclass(frozen=True)
class ProcessAdded:
    index: int


@dataclass(frozen=True)
class Cancel:
    job_id: str


# from peers (net/peers.py decodes them from frames), and from fetching a peer's windows
@dataclass(frozen=True)
class PeerJoined:
    """A worker joined: it is offered every task of ours that still has partitions to hand out."""
    peer: str


@dataclass(frozen=True)
class PeerOffered:
    """``offer``: a peer has a task whose partitions our idle processes may pull."""
    peer: str
    task_id: int


@dataclass(frozen=True)
class PeerPull:
    """``pull``: a peer's idle process (``reserved``, its number there, echoed back) asks for a
    partition of our task ``task_id``."""
    peer: str
    task_id: int
    reserved: Any


@dataclass(frozen=True)
class PartitionAnswered:
    """``partition``: the answer to our pull for process ``reserved``: items [lo, hi) of the
    peer's task, held there by ``slot``; ``ranges`` are the byte ranges of the peer's shared
    arrays it reads, (segment, start, end, capability) each."""
    peer: str
    reserved: int
    task_id: int
    lo: int
    hi: int
    slot: list  # the peer's remote slot, opaque here: sent back as it came
    payload: bytes
    ranges: Sequence[Tuple[str, int, int, str]] = ()


@dataclass(frozen=True)
class NoneAnswered:
    """``none``: the peer has nothing left of ``task_id`` for our process ``reserved``."""
    peer: str
    task_id: int
    reserved: int


@dataclass(frozen=True)
class WindowsFetched:
    """The windows of the peer's partition process ``index`` waits for (``FetchWindows``)."""
    index: int
    windows: Sequence[bytes]


@dataclass(frozen=True)
class WindowsNotFetched:
    """The windows of the peer's partition process ``index`` waits for could not be fetched."""
    index: int


@dataclass(frozen=True)
class PeerPartitionDone:
    """``partition_done``: the peer computed the partition its remote slot ``slot`` held."""
    slot: RemoteSlot
    message: PartitionDone


@dataclass(frozen=True)
class PeerPartitionLost:
    """``partition_lost``: the peer's process computing the partition of ``slot`` died."""
    peer: str
    slot: RemoteSlot


@dataclass(frozen=True)
class PeerGone:
    peer: str
    reason: str


@dataclass(frozen=True)
class PeerKernelWanted:
    """``kernel_wanted``: a peer computing a partition of our task ``task_id`` lacks kernel-cache
    entry ``name``."""
    peer: str
    task_id: int
    name: str


@dataclass(frozen=True)
class KernelFetched:
    """The peer's bytes of entry ``name`` (``FetchKernel``), not yet checked: the process that
    asked checks them as a file of its own (``engine.kernel_cache.adopt``)."""
    name: str
    data: bytes


@dataclass(frozen=True)
class KernelNotFetched:
    """The peer had no entry ``name`` (or did not answer, or is gone): it is compiled here."""
    name: str


Event = Union[SubmitBlock, ProcessSaid, Tick, ProcessGone, ReplacementFailed, ProcessAdded, Cancel, PeerJoined,
              PeerOffered, PeerPull, PartitionAnswered, NoneAnswered, WindowsFetched, WindowsNotFetched,
              PeerPartitionDone, PeerPartitionLost, PeerGone, PeerKernelWanted, KernelFetched, KernelNotFetched]


# ---- instructions: what to do -------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    index: int
    message: ToProcess


@dataclass(frozen=True)
class Kill:
    """Kill this process: it computes a cancelled block (it is replaced as it goes)."""
    index: int


@dataclass(frozen=True)
class Finished:
    job_id: str
    result: BlockResult


# to peers: each is one frame of net/peers.py's protocol, named after its type
@dataclass(frozen=True)
class Straggler:
    """Partition [lo, hi) of a task, held by ``holder`` for ``seconds``, is computed again by
    our process ``process``, or (None) cannot be, ``why`` (for the log: a straggler is worth a
    line; a block that waits for one says why)."""
    task_id: int
    lo: int
    hi: int
    holder: str
    seconds: float
    process: Optional[int]
    why: str = ""


@dataclass(frozen=True)
class SendOffer:
    """Offer our shareable task to ``peer`` (None: to every peer)."""
    task_id: int
    peer: Optional[str] = None


@dataclass(frozen=True)
class SendPull:
    """Ask ``peer`` for a partition of its task, for our process ``reserved``."""
    peer: str
    task_id: int
    reserved: int


@dataclass(frozen=True)
class SendPartition:
    """The answer to a pull: the remote slot that now holds items [lo, hi) of our task, and the
    byte ranges of our shared arrays they read ((segment, start, end) each: the peer needs a
    capability for each)."""
    peer: str
    task_id: int
    reserved: Any
    slot: RemoteSlot
    payload: bytes
    lo: int
    hi: int
    ranges: List[Tuple[str, int, int]]


@dataclass(frozen=True)
class SendNone:
    """The answer to a pull when the task has nothing left to hand out."""
    peer: str
    task_id: Any
    reserved: Any


@dataclass(frozen=True)
class SendPartitionDone:
    """A peer's partition computed here: its outcome goes back to the peer's ``slot``."""
    peer: str
    task_id: int
    lo: int
    hi: int
    slot: list  # the peer's, as it came with the partition
    stop: bool
    outcome: bytes
    compiled: bool = False


@dataclass(frozen=True)
class SendPartitionLost:
    """A peer's partition not computed here (its process died, or no pull waited for it): the
    peer hands it out again."""
    peer: str
    task_id: int
    lo: int
    hi: int
    slot: list  # the peer's, as it came with the partition


@dataclass(frozen=True)
class FetchWindows:
    """Fetch the byte ranges (segment, start, end, capability) of a peer's partition from the
    peer's data channel; then ``WindowsFetched`` or ``WindowsNotFetched`` for process ``index``."""
    index: int
    peer: str
    lo: int  # the partition's items, for what is logged
    hi: int
    ranges: Sequence[Tuple[str, int, int, str]]


@dataclass(frozen=True)
class FetchKernel:
    """Ask ``peer`` for kernel-cache entry ``name``, which a process of ours computing a partition
    of its task ``task_id`` lacks; then ``KernelFetched`` or ``KernelNotFetched``."""
    peer: str
    task_id: int
    name: str


@dataclass(frozen=True)
class SendKernel:
    """The answer to ``kernel_wanted``: our entry ``name``'s bytes, or none."""
    peer: str
    task_id: int
    name: str


@dataclass(frozen=True)
class DeliverKernel:
    """Hand the answer for entry ``name`` (the peer's bytes, or None) to the process of ours
    that asked (through the kernel folder: it may be busy with a partition)."""
    name: str
    data: Optional[bytes]


PeerInstruction = Union[SendOffer, SendPull, SendPartition, SendNone, SendPartitionDone, SendPartitionLost,
                        FetchWindows, FetchKernel, SendKernel]
Instruction = Union[Send, Kill, Finished, Straggler, DeliverKernel, PeerInstruction]


@dataclass
class _Foreign:
    """A peer's partition on one of our processes: its windows being fetched, then (``started``)
    computed. ``slot`` is None once there is no one to tell the outcome (the peer is gone)."""
    peer: str
    task_id: int
    lo: int
    hi: int
    slot: Optional[list]
    payload: bytes
    started: bool = False


HERE = ""  # the worker of a partition computed by this pool, in ``progress``: the service names it


@dataclass
class _ComputedBy:
    """Where a shape's partitions were computed (this pool, or a peer by id) and how many of them
    numba computed: what the dashboard shows of a shape beside its progress."""
    by_worker: Dict[str, int] = field(default_factory=dict)
    compiled: int = 0

    def computed(self, worker: str, compiled: bool) -> None:
        self.by_worker[worker] = self.by_worker.get(worker, 0) + 1
        self.compiled += compiled


@dataclass
class _Task:
    task_id: int
    driver: int
    payload: bytes
    plan: GuidedPlan
    shareable: bool = False
    duplicable: bool = False  # its partitions write nothing shared (see the module's rules: backups)
    windows: List[Window] = field(default_factory=list)  # where its shared arrays lie, for peers
    retry: Deque[Tuple[int, int]] = field(default_factory=deque)
    running: Dict[Tuple[int, int], int] = field(default_factory=dict)  # partition -> process
    retried: set = field(default_factory=set)
    handed: Dict[Tuple[int, int], float] = field(default_factory=dict)  # running partition -> when handed out
    seconds_per_item: List[float] = field(default_factory=list)  # of each partition done, as handed out
    backups: Dict[Tuple[int, int], Any] = field(default_factory=dict)  # partition -> the process computing it again
    recorded: set = field(default_factory=set)  # partitions whose outcome came (a second one is dropped)
    told: set = field(default_factory=set)  # stragglers said to be waited for (once each)
    outcomes: List[Tuple[int, int, bytes]] = field(default_factory=list)  # (lo, hi, pickled outcome)
    cutoff: Optional[int] = None  # lo of the first stopping outcome
    bytes_moved: int = 0  # of its partitions (payload, windows) sent to peers and their outcomes back
    shown: _ComputedBy = field(default_factory=_ComputedBy)  # for the dashboard

    def next_partition_available(self) -> bool:
        return bool(self.retry) or (self.cutoff is None and self.plan.remaining > 0)

    def next_partition(self) -> Optional[Tuple[int, int]]:
        if self.retry:
            return self.retry.popleft()
        return self.plan.next_partition() if self.cutoff is None else None

    def record(self, lo: int, hi: int, stop: bool, outcome: bytes) -> None:
        self.outcomes.append((lo, hi, outcome))
        if stop and (self.cutoff is None or lo < self.cutoff):
            self.cutoff = lo
            self.retry = deque(p for p in self.retry if p[0] < lo)

    @property
    def finished(self) -> bool:
        if self.retry:
            return False
        if self.cutoff is None:
            return not self.running and self.plan.remaining == 0
        return not any(lo < self.cutoff for lo, _ in self.running)

    def ordered_outcomes(self) -> List[Tuple[int, int, bytes]]:
        kept = [o for o in self.outcomes if self.cutoff is None or o[0] <= self.cutoff]
        return sorted(kept, key=lambda outcome: outcome[0])


def _progress_of(task: _Task) -> dict:
    """A shape's progress, as ``PoolScheduler.progress`` reports it."""
    return {"task": task.task_id, "partitions_done": len(task.outcomes),
            "items_done": sum(hi - lo for lo, hi, _ in task.outcomes),
            "items_total": task.plan.length, "active_cores": len(set(task.running.values())),
            "bytes_moved": task.bytes_moved, "partitions_compiled": task.shown.compiled,
            "partitions_by_worker": dict(task.shown.by_worker)}


class RemoteSlot(NamedTuple):
    """A peer's process computing one partition of ours, held here as a process of our pool until
    its outcome arrives (it travels as the list [peer, number] and comes back so)."""
    peer: str
    number: int


ProcessIndex = Union[int, RemoteSlot]  # a pool process's number, or a remote slot


@dataclass
class _Process:
    index: ProcessIndex
    remote: bool = False
    busy: bool = False
    job_id: Optional[str] = None     # the block this process drives
    waiting_task: Optional[int] = None  # set while the driver waits for its task
    partitions: List[Tuple[int, Tuple[int, int]]] = field(default_factory=list)  # (task, [lo, hi)), in order
    pulling: Optional[str] = None  # reserved: the peer whose answer to our pull it waits for
    foreign: Optional[_Foreign] = None  # a peer's partition it fetches the windows of, or computes
    doomed: bool = False  # about to be killed by a cancel: given nothing more
    holds_payload_of: Any = None  # the task whose payload it was sent last (and keeps)

    def payload_for(self, task_id: TaskId, payload: bytes) -> Optional[bytes]:
        """What a ``partition`` message to this process carries as the task's payload: None
        when the process holds it already (a megabyte of task is not sent with every partition)."""
        if self.holds_payload_of == task_id:
            return None
        self.holds_payload_of = task_id
        return payload


class PoolScheduler:
    def __init__(self, processes: int, clock: Callable[[], float] = time.monotonic):
        self.clock = clock  # for telling stragglers (tests give their own)
        self.processes: Dict[Any, _Process] = {i: _Process(i) for i in range(processes)}
        self.blocks: Deque[Tuple[str, Block]] = deque()
        self.tasks: Dict[int, _Task] = {}
        self.finished_shapes: Dict[str, dict] = {}  # job id -> its last shape's progress (``last_shape``)
        self._task_ids = itertools.count(1)
        self._slot_ids = itertools.count()
        self.peer_cores = 0  # cores of the other workers, for sizing plans
        self.offers: Dict[str, int] = {}  # peer -> the task it offered, whose partitions we pull
        # instructions other than messages to processes, in the order the current event made them
        self._out: List[Instruction] = []
        self.counts = {"partitions": 0, "foreign_partitions": 0, "remote_partitions": 0, "backups": 0}
        self.replacements_coming = 0  # processes gone whose replacement is being forked
        self._handlers: Dict[type, Callable[[Any], List[Instruction]]] = {
            SubmitBlock: lambda e: self._sends(self._submit_block(e.job_id, e.block)),
            ProcessSaid: lambda e: self._sends(self._on_message(e.index, e.message)),
            Tick: lambda e: self._sends(self._back_up_stragglers()),
            ProcessGone: lambda e: self._sends(self._on_process_gone(e.index, e.reason, e.replacing)),
            ReplacementFailed: lambda e: self._sends(self._on_replacement_failed(e.reason)),
            ProcessAdded: lambda e: self._sends(self._add_process(e.index)),
            Cancel: lambda e: [Kill(index) for index in self._cancel(e.job_id)],
            PeerJoined: lambda e: [SendOffer(task_id, e.peer) for task_id in self._open_offers()],
            PeerOffered: self._on_offer,
            PeerPull: self._answer_pull,
            PartitionAnswered: self._on_partition,
            NoneAnswered: lambda e: self._sends(self._on_none(e.peer, e.task_id, e.reserved)),
            WindowsFetched: lambda e: self._sends(self._run_foreign(e.index, e.windows)),
            WindowsNotFetched: lambda e: self._sends(self._windows_not_fetched(e.index)),
            PeerPartitionDone: lambda e: self._sends(self._on_peer_partition_done(e.slot, e.message)),
            PeerPartitionLost: lambda e: self._sends(self._on_peer_partition_lost(e.peer, e.slot)),
            PeerGone: lambda e: self._sends(self._peer_gone(e.peer, e.reason)),
            PeerKernelWanted: lambda e: [SendKernel(e.peer, e.task_id, e.name)],
            KernelFetched: lambda e: [DeliverKernel(e.name, e.data)],
            KernelNotFetched: lambda e: [DeliverKernel(e.name, None)],
        }

    def handle(self, event: Event) -> List[Instruction]:
        """Apply ``event``: the instructions it leads to, in the order to carry them out (messages
        to processes first, then the others in the order they arose, then the pulls of the
        processes left with nothing to do)."""
        out = self._handlers[type(event)](event)
        out += [i for i in self._out if not isinstance(i, SendOffer) or i.task_id in self.tasks]  # not if done
        self._out = []
        return out + self._pull_offered()

    @staticmethod
    def _sends(sends: Sends) -> List[Instruction]:
        return [Send(index, message) for index, message in sends]

    # ---- queries ---------------------------------------------------------------------------
    def holds_slot(self, slot: RemoteSlot) -> bool:
        """Whether a peer's remote slot ``slot`` still holds a partition of ours."""
        return slot in self.processes

    def slots_of(self, peer: str) -> int:
        """How many of our partitions ``peer`` holds."""
        return sum(1 for index in self.processes if isinstance(index, RemoteSlot) and index.peer == peer)

    def _submit_block(self, job_id: str, block: Block) -> Sends:
        if not self.has_processes():
            self._fail(job_id, "this worker has no compute process left")
            return []
        self.blocks.append((job_id, block))
        return self._dispatch()

    def _on_message(self, index: ProcessIndex, message: FromProcess) -> Sends:
        process = self.processes.get(index)
        if process is None:  # a remote slot whose peer was already given up
            return self._dispatch()
        if isinstance(message, KernelWanted):  # nothing here changes: the peer is asked
            self._out.append(FetchKernel(message.task.peer, message.task.task_id, message.name))
            return []
        if isinstance(message, RunTask) and process.job_id is None:
            return self._dispatch()  # the block was cancelled while its driver asked
        if isinstance(message, RunTask):
            processes = len(self.processes) + (self.peer_cores if message.shareable else 0)
            task = _Task(next(self._task_ids), index, message.payload, GuidedPlan(message.length, processes),
                         message.shareable, message.duplicable, [tuple(window) for window in message.windows])
            self.tasks[task.task_id] = task
            if message.shareable and self.peer_cores:
                self._out.append(SendOffer(task.task_id))
            process.busy, process.waiting_task = False, task.task_id
        elif isinstance(message, PartitionDone):
            task_id, lo, hi, stop, outcome, compiled = message
            if (task_id, (lo, hi)) in process.partitions:
                process.partitions.remove((task_id, (lo, hi)))
            foreign, process.busy, process.foreign = process.foreign, bool(process.partitions), None
            self.counts["remote_partitions" if process.remote else "partitions"] += 1
            if process.remote:
                del self.processes[index]
            if isinstance(task_id, ForeignTask):  # a peer's partition, computed here
                self.counts["foreign_partitions"] += 1
                if foreign is not None and foreign.slot is not None:
                    self._out.append(SendPartitionDone(foreign.peer, foreign.task_id, lo, hi, foreign.slot, stop,
                                                       outcome, compiled))
                return self._dispatch()
            task = self.tasks.get(task_id)
            if task is not None and (lo, hi) not in task.recorded:  # else a backup's twin came first
                self._record(task, lo, hi, stop, outcome)
                task.shown.computed(index.peer if isinstance(index, RemoteSlot) else HERE, compiled)
        elif isinstance(message, BlockDone):
            self._out.append(Finished(message.job_id, message.result))
            process.busy, process.job_id = False, None
        return self._dispatch()

    def _on_process_gone(self, index: int, reason: str, replacing: bool = False) -> Sends:
        """A process died; with ``replacing``, a new one comes (``add_process`` or
        ``on_replacement_failed``), so blocks waiting for a process keep waiting even when none
        is left now."""
        process = self.processes.pop(index)
        if process.foreign is not None:  # the peer hands it out again
            self._lose_foreign(process.foreign)
        for task_id, partition in process.partitions:
            task = self.tasks.get(task_id)
            if task is not None and not self._twin_goes_on(task, partition, index):
                task.running.pop(partition, None)
                if partition in task.retried:
                    task.record(*partition, True, serialization.dumps(("error", _lost(partition, reason), False, True)))
                else:
                    task.retried.add(partition)
                    task.retry.append(partition)
        if process.job_id is not None:
            self._fail(process.job_id, f"the process running this block died: {reason}", driver_lost=True)
            if process.waiting_task is not None:
                self.tasks.pop(process.waiting_task, None)
        self.replacements_coming += replacing
        self._fail_waiting_without_processes(reason)
        return self._dispatch()

    def _on_replacement_failed(self, reason: str) -> Sends:
        self.replacements_coming -= 1
        self._fail_waiting_without_processes(reason)
        return self._dispatch()

    def has_processes(self) -> bool:
        """A local process exists, or the replacement of one is coming."""
        return self.replacements_coming > 0 or any(not p.remote for p in self.processes.values())

    def _fail_waiting_without_processes(self, reason: str) -> None:
        if not self.has_processes():
            while self.blocks:
                self._fail(self.blocks.popleft()[0], f"no compute process is left ({reason})")

    def _cancel(self, job_id: str) -> List[int]:
        """Stop a block: dropped if it waits; if it runs, the local processes to kill (its
        driver and those computing its partitions: compiled loops cannot be interrupted, and
        killed processes are replaced). Partitions held by peers are dropped when they return."""
        self.finished_shapes.pop(job_id, None)
        if any(queued == job_id for queued, _ in self.blocks):
            self.blocks = deque((j, b) for j, b in self.blocks if j != job_id)
            return []
        driver = next((p for p in self.processes.values() if p.job_id == job_id), None)
        if driver is None:
            return []
        doomed = [driver.index]
        task = self.tasks.pop(driver.waiting_task, None) if driver.waiting_task is not None else None
        if task is not None:  # those computing its partitions now (a backup's twin too); one only queued
            doomed += [p.index for p in self.processes.values()  # finishes it unread
                       if not p.remote and p.partitions and p.partitions[0][0] == task.task_id]
        for index in doomed:  # nothing more is given to them: they are about to be killed
            self.processes[index].busy = self.processes[index].doomed = True
        driver.job_id, driver.waiting_task = None, None  # its death is the cancel, not a failure
        return sorted(set(doomed), key=str)

    def _add_process(self, index: int) -> Sends:
        """A new local process (the replacement of one that died) is ready for work."""
        self.replacements_coming = max(0, self.replacements_coming - 1)
        self.processes[index] = _Process(index)
        return self._dispatch()

    # ---- the peer protocol ------------------------------------------------------------------
    def _open_offers(self) -> List[int]:
        """Shareable tasks that still have partitions to hand out."""
        return [t.task_id for t in self.tasks.values() if t.shareable and t.next_partition_available()]

    def _on_offer(self, event: PeerOffered) -> List[Instruction]:
        self.offers[event.peer] = event.task_id
        return []  # its pulls follow, as after any event (_pull_offered)

    def _pull_offered(self) -> List[Instruction]:
        """Each local process with nothing to do now (none of our own work waits) is reserved for
        one pull of a task a peer offered, the peers in the order they offered."""
        pulls: List[Instruction] = []
        for peer, task_id in self.offers.items():
            while (process := self._idle_process()) is not None:
                process.busy, process.pulling = True, peer
                pulls.append(SendPull(peer, task_id, process.index))
        return pulls

    def _idle_process(self) -> Optional[_Process]:
        if self.blocks or any(t.next_partition_available() for t in self.tasks.values()):
            return None
        return next((process for process in self.processes.values()
                     if not process.remote and not process.busy and process.job_id is None), None)

    def _answer_pull(self, event: PeerPull) -> List[Instruction]:
        """A partition of ``task_id`` for the peer, held by a new remote slot; or none when that
        task has nothing left to hand out (or cannot travel)."""
        task = self.tasks.get(event.task_id)
        if task is not None and task.shareable:
            slot = _Process(RemoteSlot(event.peer, next(self._slot_ids)), remote=True)
            self.processes[slot.index] = slot
            sends: Sends = []
            if self._give_partition(slot, sends):
                partition = sends[0][1]
                assert isinstance(partition, RunPartition)
                lo, hi = partition.lo, partition.hi
                ranges = [(name, offset + lo * row, offset + hi * row) for name, offset, row in task.windows]
                task.bytes_moved += len(task.payload) + sum(end - start for _, start, end in ranges)
                return [SendPartition(event.peer, event.task_id, event.reserved, slot.index, task.payload, lo, hi,
                                      ranges)]
            del self.processes[slot.index]
        return [SendNone(event.peer, event.task_id, event.reserved)]

    def _on_partition(self, event: PartitionAnswered) -> List[Instruction]:
        """The peer's partition is fetched for the process reserved for it; if that process no
        longer waits for this peer's answer (it died, or the peer was given up), the peer hands
        the partition out again."""
        process = self.processes.get(event.reserved)
        if process is None or process.remote or process.pulling != event.peer:
            return [SendPartitionLost(event.peer, event.task_id, event.lo, event.hi, event.slot)]
        process.pulling = None
        process.foreign = _Foreign(event.peer, event.task_id, event.lo, event.hi, event.slot, event.payload)
        return [FetchWindows(process.index, event.peer, event.lo, event.hi, list(event.ranges))]

    def _on_none(self, peer: str, task_id: int, reserved: int) -> Sends:
        """Nothing left of the peer's task: its offer is forgotten, the process is free again."""
        if self.offers.get(peer) == task_id:
            del self.offers[peer]
        process = self.processes.get(reserved)
        if process is None or process.remote or process.pulling != peer:  # released already
            return []
        process.busy, process.pulling = False, None
        return self._dispatch()

    def _run_foreign(self, index: int, windows: Sequence[bytes]) -> Sends:
        """Compute the peer's partition whose windows arrived, on the process reserved for it."""
        process = self.processes.get(index)
        if process is None or process.foreign is None or process.foreign.started:  # died meanwhile
            return []
        foreign = process.foreign
        foreign.started = True
        task_id = ForeignTask(foreign.peer, foreign.task_id)
        return [(index, RunPartition(task_id, process.payload_for(task_id, foreign.payload), foreign.lo, foreign.hi,
                                     list(windows)))]

    def _windows_not_fetched(self, index: int) -> Sends:
        """The peer's partition cannot be computed here: the peer hands it out again."""
        process = self.processes.get(index)
        if process is None or process.foreign is None or process.foreign.started:
            return []
        self._lose_foreign(process.foreign)
        process.busy, process.foreign = False, None
        return self._dispatch()

    def _lose_foreign(self, foreign: _Foreign) -> None:
        if foreign.slot is not None:
            self._out.append(SendPartitionLost(foreign.peer, foreign.task_id, foreign.lo, foreign.hi, foreign.slot))

    def _on_peer_partition_done(self, slot: RemoteSlot, message: PartitionDone) -> Sends:
        """A remote slot's outcome (it stays pickled: it is the driver's to read)."""
        task = self.tasks.get(message.task_id)
        if task is not None:
            task.bytes_moved += len(message.outcome)
        return self._on_message(slot, message)

    def _on_peer_partition_lost(self, peer: str, slot: RemoteSlot) -> Sends:
        if not self.holds_slot(slot):  # given up already
            return []
        return self._on_process_gone(slot, f"its process on worker {peer} died")

    def _peer_gone(self, peer: str, reason: str) -> Sends:
        """The peer's offer is forgotten, our pulls it will never answer are given up, its
        partitions computed here are reported to no one, and every partition it held is handed
        out again (once), as for a dead process."""
        self.offers.pop(peer, None)
        for process in self.processes.values():
            if process.pulling == peer:
                process.busy, process.pulling = False, None
            if process.foreign is not None and process.foreign.peer == peer:
                process.foreign.slot = None
        sends: Sends = []
        for index in [i for i in self.processes if isinstance(i, RemoteSlot) and i.peer == peer]:
            sends += self._on_process_gone(index, f"worker {peer} left: {reason}")
        return sends + self._dispatch()

    def _fail(self, job_id: str, message: str, driver_lost: bool = False) -> None:
        self._out.append(Finished(job_id, BlockResult(error=RemoteError("InternalError", message, ""),
                                                      driver_lost=driver_lost)))

    def validate_state(self) -> None:
        """Raise AssertionError if the state contradicts itself (for tests, after every stimulus)."""
        for task in self.tasks.values():
            driver = self.processes.get(task.driver)
            assert driver is not None and driver.waiting_task == task.task_id, f"task {task.task_id}: its driver"
            for partition, index in [*task.running.items(), *task.backups.items()]:
                assert (task.task_id, partition) in self.processes[index].partitions, (task.task_id, partition, index)
            for partition, index in task.backups.items():
                assert task.running.get(partition) not in (None, index), f"backup of {partition}: its twin"
        for process in self.processes.values():
            assert len(process.partitions) <= (1 if process.remote else LOOKAHEAD), process
            for task_id, partition in process.partitions:
                task = self.tasks.get(task_id)
                if task is not None and partition not in task.recorded:  # else cancelled, or its twin came first
                    assert process.index in (task.running.get(partition), task.backups.get(partition)), \
                        (process, task_id, partition)
            if process.remote:
                assert process.job_id is None and process.pulling is None and process.foreign is None, process
            if process.pulling is not None or process.foreign is not None:  # a peer's: nothing of ours
                assert process.busy and process.job_id is None and not process.partitions, process
                assert process.pulling is None or process.foreign is None, f"{process}: pulls, and has its answer"
            if not process.busy and not process.remote:
                assert not process.partitions and process.foreign is None and process.pulling is None, process
            if process.busy and not process.remote:
                assert (process.job_id is not None or process.partitions or process.foreign is not None
                        or process.pulling is not None or process.doomed), f"{process}: busy with nothing"
            if process.waiting_task is not None:
                assert process.job_id is not None and process.waiting_task in self.tasks, process
        reported = [(p.foreign.peer, p.foreign.slot) for p in self.processes.values()
                    if p.foreign is not None and p.foreign.slot is not None]
        assert len(reported) == len(set(map(repr, reported))), f"a peer's slot computed twice: {reported}"
        idle = [process for process in self.processes.values() if not process.remote and not process.busy
                and not process.doomed and (process.job_id is None or process.waiting_task is not None)]
        if idle:
            assert not any(task.next_partition_available() for task in self.tasks.values()), \
                f"processes {[process.index for process in idle]} idle while partitions wait"
            assert not self.blocks or all(process.job_id is not None for process in idle), "a block waits"
            assert not self.offers or all(process.job_id is not None for process in idle), \
                f"processes {[process.index for process in idle]} idle while peers offer {self.offers}"

    def progress(self) -> Dict[str, dict]:
        """For each block computing a parallel shape: that shape's (``task``) partitions and
        items done so far, of its items in all, the processes computing it now, here and on
        other workers, the bytes of its partitions sent to those and their outcomes back, how many
        of its partitions numba computed, and how many each worker did (this one: ``HERE``)."""
        report = {}
        for task in self.tasks.values():
            driver = self.processes.get(task.driver)
            if driver is not None and driver.job_id is not None:
                report[driver.job_id] = _progress_of(task)
        return report

    def last_shape(self, job_id: str) -> Optional[dict]:
        """The progress of the block's last shape as it finished (once: it is forgotten then);
        ``progress`` reports running shapes only, every so often, so a shape's last partitions,
        or a shape over in less than that, would otherwise never be seen."""
        return self.finished_shapes.pop(job_id, None)

    def _record(self, task: _Task, lo: int, hi: int, stop: bool, outcome: bytes) -> None:
        """The first outcome of partition [lo, hi): its time per item counts towards the task's
        typical one; a backup or the partition's first holder, whichever is still computing it,
        sees its outcome dropped."""
        partition = (lo, hi)
        task.running.pop(partition, None)
        task.backups.pop(partition, None)
        handed = task.handed.pop(partition, None)
        if handed is not None and hi > lo:
            task.seconds_per_item.append((self.clock() - handed) / (hi - lo))
        task.recorded.add(partition)
        task.record(lo, hi, stop, outcome)

    def _twin_goes_on(self, task: _Task, partition: Tuple[int, int], gone: ProcessIndex) -> bool:
        """Whether the partition of a process gone is computed still, by its backup or by the
        holder the backup was for (then it is not handed out again)."""
        if partition in task.recorded:
            return True
        if task.backups.get(partition) == gone:
            del task.backups[partition]
            return True
        if task.running.get(partition) == gone and partition in task.backups:
            task.running[partition] = task.backups.pop(partition)
            task.handed[partition] = self.clock()  # judged from now: it is not its own straggler
            return True
        return False

    def _back_up_stragglers(self) -> Sends:
        """Give each straggler (see ``BACKUP_FACTOR``) of a task that has nothing else to hand
        out to an idle process of ours, oldest first, where one is free; a straggler that may not
        be computed again (its task is not duplicable, or a driver holds it) is told once."""
        sends: Sends = []
        now = self.clock()
        for task in self.tasks.values():
            if task.next_partition_available() or not task.seconds_per_item:
                continue
            typical = statistics.median(task.seconds_per_item)
            for partition, handed in sorted(task.handed.items(), key=lambda item: item[1]):
                lo, hi = partition
                holder = task.running.get(partition)
                if holder is None or partition in task.backups or (task.cutoff is not None and lo >= task.cutoff):
                    continue
                ran, expected = now - handed, BACKUP_FACTOR * typical * (hi - lo)
                if ran < max(BACKUP_AFTER, expected):
                    continue
                held_by = f"worker {holder.peer}" if isinstance(holder, RemoteSlot) else f"process {holder}"
                why = ("its shape writes the block's output here, which a twin must not write again"
                       if not task.duplicable else "the process holding it drives a block"
                       if self.processes[holder].job_id is not None else "")
                if why:
                    if partition not in task.told:
                        task.told.add(partition)
                        self._out.append(Straggler(task.task_id, lo, hi, held_by, ran, None, why))
                    continue
                process = self._free_for_backup(isinstance(holder, RemoteSlot) and ran >= DRIVER_BACKUP_AFTER)
                if process is None:
                    continue
                task.backups[partition] = process.index
                process.busy = True
                process.partitions.append((task.task_id, partition))
                sends.append((process.index, RunPartition(task.task_id, process.payload_for(task.task_id, task.payload),
                                                          lo, hi, [])))
                self.counts["backups"] += 1
                self._out.append(Straggler(task.task_id, lo, hi, held_by, ran, process.index))
        return sends

    def _free_for_backup(self, drivers: bool) -> Optional[_Process]:
        """An idle process of ours that drives no block, else (given ``drivers``) a driver
        waiting for its task: one computing a backup whose twin comes first reads its task's
        outcomes only after it."""
        free = [p for p in self.processes.values() if not p.remote and not p.busy and not p.doomed
                and (p.job_id is None or drivers and p.waiting_task is not None)]
        return min(free, key=lambda p: p.job_id is not None, default=None)

    def _dispatch(self) -> Sends:
        sends: Sends = []
        for task in list(self.tasks.values()):
            if task.finished:
                del self.tasks[task.task_id]
                driver = self.processes.get(task.driver)
                if driver is not None:
                    if driver.job_id is not None:
                        self.finished_shapes[driver.job_id] = _progress_of(task)
                    driver.busy, driver.waiting_task = True, None
                    sends.append((task.driver, TaskDone(task.ordered_outcomes())))
        for process in list(self.processes.values()):
            if process.busy or process.remote:
                continue
            if process.job_id is None or process.waiting_task is not None:
                if self._give_partition(process, sends):
                    continue
            if process.job_id is None and self.blocks:
                job_id, block = self.blocks.popleft()
                process.busy, process.job_id = True, job_id
                sends.append((process.index, RunBlock(job_id, block)))
        for process in list(self.processes.values()):  # then the next partition ahead
            if (not process.remote and not process.doomed and process.job_id is None
                    and process.foreign is None and 0 < len(process.partitions) < LOOKAHEAD):
                self._give_partition(process, sends, ahead=True)
        return sends

    def _give_partition(self, process: _Process, sends: Sends, ahead: bool = False) -> bool:
        for task in self.tasks.values():
            if process.remote and not task.shareable:
                continue
            if ahead and (task.retry or not task.plan.tapering):
                continue
            partition = task.next_partition()
            if partition is not None:
                task.running[partition] = process.index
                task.handed[partition] = self.clock()
                process.busy = True
                process.partitions.append((task.task_id, partition))
                sends.append((process.index, RunPartition(task.task_id, process.payload_for(task.task_id, task.payload),
                                                          *partition, [])))
                return True
        return False


def _lost(partition: Tuple[int, int], reason: str) -> RemoteError:
    return RemoteError("InternalError",
                       f"partition [{partition[0]}, {partition[1]}) was lost twice: {reason}", "")
