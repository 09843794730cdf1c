"""The manager's decisions, apart from its I/O: which blocks wait, which worker drives each,
which run again when a worker or a driver process is lost, and whose remote objects live where.

``ManagerState.handle(event)`` takes one event (a client submitted, cancelled or released; a
worker joined, became ready, finished a block or was lost; a session ended; a timer fired) and
returns the instructions for the manager's I/O shell (``net.manager``) to carry out: run a block
on a worker, stop one, free objects on a worker, fail a client's block, deliver a result, start
the orphan timer. No sockets, no clock, no asyncio: tests drive it with events and call
``validate_state()`` after each.

Rules:
* A block goes to the ready member holding most bytes of its remote objects (they are not moved
  then), else to the least loaded per core; not to the one where its driver process died, if
  another can take it.
* A member lost while driving blocks: each runs again from the start (blocks are re-runnable:
  the client's values are still here), at the front of the queue, up to MAX_RERUNS times; if no
  member is left, an orphan timer starts (ORPHAN_TIMEOUT), and blocks still waiting to run again
  when it fires fail saying so.
* A block whose driver process died runs again once (elsewhere if possible); if it dies again,
  the client gets the error, saying it was run again.
* A remote object belongs to the client session that made it; only that session may use or
  release it. One released while a waiting or running block uses it is freed when no such
  block is left.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, List, Optional, Union

from ufora.net.registry import WorkerInfo

log = logging.getLogger(__name__)

MAX_RERUNS = 2
ORPHAN_TIMEOUT = 10.0  # seconds blocks to run again wait for a member when none is left


@dataclass
class Job:
    client_job_id: str  # the id the client chose (unique among its own blocks)
    session: str  # the client's session (net/sessions.py)
    header: dict
    buffers: List[bytes]
    objects: List[str] = field(default_factory=list)  # remote objects the block refers to
    reruns: int = 0
    lost_on: Optional[str] = None  # the worker whose process running the block died (it ran again once)

    @property
    def cluster_job_id(self) -> str:
        """The block's id on the workers: the client's id made unique across clients."""
        return self.header["job_id"]


@dataclass
class RemoteObject:
    """A value kept on a worker for a client (pyfora's ``RemotePythonObject``)."""
    session: str
    worker_id: str
    size: int
    capability: str = ""  # to fetch it from its worker's data channel (net.blobs): never sent to the client
    released: bool = False  # by the client, while a block that uses it waits or runs


@dataclass
class Member:
    """A registered worker, as the manager schedules it."""
    info: WorkerInfo
    ready: bool = False  # its control channel is open: blocks can be sent
    running: Dict[str, Job] = field(default_factory=dict)  # by cluster job id

    @property
    def load(self) -> float:
        return len(self.running) / max(1, self.info.cores)


# ---- events ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submitted:
    job: Job


@dataclass(frozen=True)
class Cancelled:
    """The session's block ``client_job_id`` is not wanted; every block of the session if None."""
    session: str
    client_job_id: Optional[str] = None


@dataclass(frozen=True)
class Released:
    session: str
    object_ids: List[str]


@dataclass(frozen=True)
class SessionEnded:
    session: str


@dataclass(frozen=True)
class WorkerJoined:
    info: WorkerInfo


@dataclass(frozen=True)
class WorkerReady:
    info: WorkerInfo


@dataclass(frozen=True)
class WorkerLost:
    info: WorkerInfo  # this registration of it (a worker that registered again is a new member)
    reason: str


@dataclass(frozen=True)
class BlockDone:
    worker_id: str
    header: dict  # the worker's block_done header
    buffers: List[bytes]  # its buffers: never looked into here, passed on to the delivery


@dataclass(frozen=True)
class OrphansDue:
    """The orphan timer started for ``reason`` fired."""
    reason: str


Event = Union[Submitted, Cancelled, Released, SessionEnded, WorkerJoined, WorkerReady, WorkerLost, BlockDone,
              OrphansDue]


# ---- instructions --------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    worker_id: str
    job: Job  # its header (with the owners of its objects) and buffers go to the worker


@dataclass(frozen=True)
class Stop:
    worker_id: str
    cluster_job_id: str


@dataclass(frozen=True)
class Free:
    worker_id: str
    object_ids: List[str]


@dataclass(frozen=True)
class Fail:
    job: Job
    message: str


@dataclass(frozen=True)
class Deliver:
    """A block's result, to fetch from the worker if it left it there, and send to its client."""
    job: Job
    worker_id: str
    header: dict
    buffers: List[bytes]
    kept: List[str]  # remote objects it made: to free if the result cannot be delivered


@dataclass(frozen=True)
class StartOrphanTimer:
    reason: str


Instruction = Union[Run, Stop, Free, Fail, Deliver, StartOrphanTimer]


class ManagerState:
    def __init__(self) -> None:
        self.pending: Deque[Job] = deque()
        self.members: Dict[str, Member] = {}
        self.objects: Dict[str, RemoteObject] = {}  # object id -> where it is, whose it is
        self._out: List[Instruction] = []
        self._handlers: Dict[type, Callable] = {
            Submitted: self._submitted, Cancelled: self._cancelled, Released: self._released,
            SessionEnded: self._session_ended, WorkerJoined: self._worker_joined, WorkerReady: self._worker_ready,
            WorkerLost: self._worker_lost, BlockDone: self._block_done, OrphansDue: self._orphans_due}

    def handle(self, event: Event) -> List[Instruction]:
        """Apply ``event``; the instructions it leads to, in the order to carry them out."""
        self._handlers[type(event)](event)
        self._free_released()
        self._dispatch()
        out, self._out = self._out, []
        return out

    # ---- queries -------------------------------------------------------------------------
    def object_problem(self, object_id: str, session: str) -> Optional[str]:
        """Why the client's ``session`` cannot use a remote object, or None if it can."""
        held = self.objects.get(object_id)
        if held is None or held.session != session:
            return f"remote object {object_id} was freed, or never existed"
        if held.worker_id not in self.members:
            return f"remote object {object_id} was lost with worker {held.worker_id}, which held it"
        return None

    def running_job(self, worker_id: str, cluster_job_id: str) -> Optional[Job]:
        member = self.members.get(worker_id)
        return None if member is None else member.running.get(cluster_job_id)

    def running_count(self) -> int:
        return sum(len(member.running) for member in self.members.values())

    def validate_state(self) -> None:
        """Raise AssertionError if the state contradicts itself (for tests, after every event)."""
        running = [job for member in self.members.values() for job in member.running.values()]
        ids = [job.cluster_job_id for job in running]
        assert len(ids) == len(set(ids)), f"a block runs on two members: {ids}"
        assert not set(map(id, running)) & set(map(id, self.pending)), "a block both waits and runs"
        for worker_id, member in self.members.items():
            assert member.info.id == worker_id, (worker_id, member.info)
            assert member.ready or not member.running, f"member {worker_id} runs blocks before it is ready"
            for key, job in member.running.items():
                assert key == job.cluster_job_id and job.header.get("objects") is not None, key
        if any(member.ready for member in self.members.values()):
            assert not self.pending, "blocks wait while a member is ready"
        in_use = self._in_use()
        for object_id, held in self.objects.items():
            assert not held.released or object_id in in_use, f"object {object_id} released but kept"

    # ---- events --------------------------------------------------------------------------
    def _submitted(self, event: Submitted) -> None:
        self.pending.append(event.job)
        if not self.members and self._object_problem(event.job) is not None:
            # no worker to fail it when ready (``_dispatch``): it fails once none came back in time
            # (a user's trial: with the only worker lost, it waited for ever; toLocal() failed at once)
            self._out.append(StartOrphanTimer("a remote object it uses was lost with its worker"))

    def _object_problem(self, job: Job) -> Optional[str]:
        """Why ``job`` cannot use one of its remote objects (``object_problem``), or None."""
        return next(filter(None, (self.object_problem(key, job.session) for key in job.objects)), None)

    def _cancelled(self, event: Cancelled) -> None:
        """Stop the chosen blocks: dropped if they wait, stopped on their workers if they run."""
        def chosen(job: Job) -> bool:
            return job.session == event.session and event.client_job_id in (None, job.client_job_id)

        self.pending = deque(job for job in self.pending if not chosen(job))
        for member in self.members.values():
            for job in [job for job in member.running.values() if chosen(job)]:
                del member.running[job.cluster_job_id]
                log.info("cancelling block %s on worker %s", job.cluster_job_id, member.info.id)
                self._out.append(Stop(member.info.id, job.cluster_job_id))

    def _released(self, event: Released) -> None:
        """Free the client's objects on the workers that hold them; those a waiting or running
        block uses are freed when no such block is left (``_free_released``)."""
        in_use = self._in_use()
        by_worker: Dict[str, List[str]] = {}
        for object_id in event.object_ids:
            held = self.objects.get(object_id)
            if held is None or held.session != event.session:
                continue
            if object_id in in_use:
                held.released = True
            else:
                del self.objects[object_id]
                by_worker.setdefault(held.worker_id, []).append(object_id)
        for worker_id, object_ids in by_worker.items():
            self._free_on(worker_id, object_ids)

    def _session_ended(self, event: SessionEnded) -> None:
        self._released(Released(event.session, [key for key, held in self.objects.items()
                                                 if held.session == event.session]))

    def _worker_joined(self, event: WorkerJoined) -> None:
        previous = self.members.get(event.info.id)
        if previous is not None:  # registered again before its old registration ended
            self._lose(previous, f"worker {event.info.id} registered again while running this block")
        self.members[event.info.id] = Member(event.info)

    def _worker_ready(self, event: WorkerReady) -> None:
        member = self.members.get(event.info.id)
        if member is not None and member.info is event.info:
            member.ready = True

    def _worker_lost(self, event: WorkerLost) -> None:
        member = self.members.get(event.info.id)
        if member is not None and member.info is event.info:
            self._lose(member, event.reason)

    def _block_done(self, event: BlockDone) -> None:
        header = event.header
        member = self.members.get(event.worker_id)
        job = None if member is None else member.running.pop(str(header.get("job_id")), None)
        kept = [str(described.get("id")) for described in dict(header.get("objects") or {}).values()]
        if job is None:  # cancelled meanwhile: nobody will ask for what it kept
            self._free_on(event.worker_id, kept)
            return
        if header.get("driver_lost"):
            if job.lost_on is None:  # like a lost worker: run again once, elsewhere if possible
                job.lost_on = event.worker_id
                log.warning("block %s: %s; running it again once", job.cluster_job_id, error_message(header))
                self.pending.appendleft(job)
                return
            header = dict(header, error={**header["error"], "message":
                          f"{error_message(header)} (it was run again once, and its process died again)"})
        described = {name: dict(about) for name, about in dict(header.get("objects") or {}).items()}
        for about in described.values():
            self.objects[str(about["id"])] = RemoteObject(job.session, event.worker_id, int(about["size"]),
                                                          str(about.pop("capability", "")))
        header = dict(header, objects=described)  # without the capabilities: the client gets it
        self._out.append(Deliver(job, event.worker_id, header, event.buffers, kept))

    def _orphans_due(self, event: OrphansDue) -> None:
        """Blocks waiting to run again, with still no member to run them, fail; so do those
        waiting that use a remote object lost with its worker, which did not come back."""
        if self.members:
            return
        orphans = [job for job in self.pending if job.reruns]
        unrunnable = [job for job in self.pending if not job.reruns and self._object_problem(job) is not None]
        failing = {id(job) for job in [*orphans, *unrunnable]}
        self.pending = deque(job for job in self.pending if id(job) not in failing)
        for job in orphans:
            self._out.append(Fail(job, f"{event.reason}, and no worker was left to run it again within "
                                       f"{ORPHAN_TIMEOUT:.0f} s"))
        for job in unrunnable:
            self._out.append(Fail(job, f"the block cannot run: {self._object_problem(job)}, and no worker came "
                                       f"back within {ORPHAN_TIMEOUT:.0f} s"))

    # ---- steps ---------------------------------------------------------------------------
    def _lose(self, member: Member, reason: str) -> None:
        del self.members[member.info.id]
        again = False
        for job in member.running.values():
            if job.reruns >= MAX_RERUNS:
                self._out.append(Fail(job, f"{reason}, and it was already run {job.reruns + 1} times"))
                continue
            job.reruns += 1
            log.warning("%s: running block %s again (%d of %d)", reason, job.client_job_id, job.reruns, MAX_RERUNS)
            self.pending.appendleft(job)
            again = True
        if again and not self.members:
            self._out.append(StartOrphanTimer(reason))
        member.running.clear()

    def _free_on(self, worker_id: str, object_ids: List[str]) -> None:
        member = self.members.get(worker_id)
        if member is not None and member.ready and object_ids:
            self._out.append(Free(worker_id, object_ids))

    def _in_use(self) -> set:
        jobs = [*self.pending, *(job for member in self.members.values() for job in member.running.values())]
        return {object_id for job in jobs for object_id in job.objects}

    def _free_released(self) -> None:
        released: Dict[str, List[str]] = {}
        for object_id, held in self.objects.items():
            if held.released:
                released.setdefault(held.session, []).append(object_id)
        for session, object_ids in released.items():
            self._released(Released(session, object_ids))

    def _dispatch(self) -> None:
        ready = [member for member in self.members.values() if member.ready]
        while self.pending and ready:
            job = self.pending.popleft()
            problem = self._object_problem(job)
            if problem is not None:
                self._out.append(Fail(job, f"the block cannot run: {problem}"))
                continue
            owners = {object_id: self.objects[object_id].worker_id for object_id in job.objects}
            member = self._driver_for(job, owners, ready)
            job.header["objects"] = owners
            # for the driver to fetch those held elsewhere: only for the blocks of their owner
            job.header["capabilities"] = {object_id: self.objects[object_id].capability for object_id in owners}
            member.running[job.cluster_job_id] = job
            self._out.append(Run(member.info.id, job))

    def _driver_for(self, job: Job, owners: Dict[str, str], ready: List[Member]) -> Member:
        """The member to drive a block (see the module's rules)."""
        ready = [member for member in ready if member.info.id != job.lost_on] or ready
        held_bytes: Dict[str, int] = {}
        for object_id, worker_id in owners.items():
            held_bytes[worker_id] = held_bytes.get(worker_id, 0) + self.objects[object_id].size
        holders = [member for member in ready if member.info.id in held_bytes]
        if holders:
            return max(holders, key=lambda member: (held_bytes[member.info.id], -member.load))
        return min(ready, key=lambda member: member.load)


def error_message(header: dict) -> str:
    return str((header.get("error") or {}).get("message", ""))
