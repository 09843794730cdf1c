"""The worker service: a Tornado process around a forked compute pool.

It listens on its control port (blocks from the manager, their results back) and on its data
port (large results, lz4-compressed, fetched by key with the capability this worker handed out
for it: ``net.blobs``), registers with the manager's registry, and moves messages between those
channels and the compute processes' pipes (``net.pool_comm``). What the processes do next is decided by
``engine.scheduler.PoolScheduler``; this module only does the I/O.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import tornado.ioloop

from ufora.engine import deaths, errors, memory_limits, remote_values, shm
from ufora.engine import pool as compute_pool
from ufora.engine.block import (ALWAYS_DOWNLOADED, Block, BlockResult, free_variables_go_in_segment,
                                free_variables_in_segment)
from ufora.engine.pool_messages import Forget, FromProcess, KernelEvent, Output, ToProcess
from ufora.engine.scheduler import (HERE, Cancel, Finished, Instruction, Kill, PoolScheduler, ProcessAdded,
                                    ProcessGone, ProcessSaid, ReplacementFailed, Send, Straggler, SubmitBlock,
                                    Tick)
from ufora.engine.serialization import MissingObjectError
from ufora.net import channel as channels
from ufora.net import host_usage, identity, inproc, loop_health
from ufora.net.backoff import Backoff
from ufora.net.background import Background
from ufora.net.blobs import BlobClient, BlobStore, segment_key
from ufora.net.comm import Channel, ChannelClosed, serve
from ufora.net.objects import ObjectHolder, Spill
from ufora.net.output_flow import OutputFlow
from ufora.net.peers import MESSAGES as PEER_MESSAGES
from ufora.net.peers import Peers
from ufora.net.pool_comm import PoolComm
from ufora.net.registry import RegistryClient, WorkerInfo

log = logging.getLogger(__name__)

# Results larger than this go to the data channel instead of the control channel.
DATA_CHANNEL_THRESHOLD = 1 << 20
PROGRESS_INTERVAL = 0.25  # seconds between progress reports of a running shape


@dataclass
class _Job:
    """A block this worker was sent (``run_block``), from then until its result is reported or
    it is cancelled: what the worker keeps for it besides the scheduler's state (the block's
    place in the queue or the process driving it)."""
    channel: Channel  # the manager's, which its output, progress and result go back on
    download_below: Optional[int]  # see net.schema SUBMIT
    fetched: int = 0  # bytes of remote objects fetched from peers for it
    reported: Optional[dict] = None  # the progress last reported
    result: Optional[BlockResult] = None  # held until the block's output has gone
    segment: Optional[str] = None  # the block's free variables, handed to its process (engine.block.InSegment)


class WorkerService:
    def __init__(self, pool: compute_pool.ComputePool, own_address: str, manager_address: str,
                 manager_port: int, control_port: int, data_port: int, always_split: bool = False,
                 spill: Optional[Spill] = None):
        self.pool = pool  # the compute pool: forks and reaps the processes
        self.processes = pool.processes  # index -> PoolProcess, alive now
        self.comms: Dict[int, PoolComm] = {}  # index -> its pipe, read and written from the loop
        self.scheduler = PoolScheduler(len(self.processes))
        self.crashes = Backoff()  # a compute process that crashes is replaced after this delay
        self.output = OutputFlow()  # blocks' output on its way to their clients
        self.paused: Dict[int, str] = {}  # pool process -> the block whose output it must wait for
        self.deaths = deaths.Watch()  # what a compute process that dies was last seen using
        self.cancelled: set = set()  # pids killed by a cancel: replaced, not counted as crashes
        self.own_address = own_address
        self.always_split = always_split  # UFORA_SPLIT=always (engine.cost)
        self.manager = (manager_address, manager_port)
        self.ports = (control_port, data_port)
        self.control_port = 0  # the one listened on, once started
        self.id = uuid.uuid4().hex[:12]
        self.key = identity.new_key()  # proves our id to the registry, and through it to peers
        self.jobs: Dict[str, _Job] = {}  # added on run_block, dropped by _end_job alone
        self.blobs = BlobStore()
        self.objects = ObjectHolder(self.blobs, self._unmap, spill)
        self.peer_blobs: Dict[str, BlobClient] = {}
        # kernels the compute processes compiled, loaded from disk, or took from a peer
        self.kernels = {"compiled": 0, "loaded": 0, "fetched": 0}
        self.registry: Optional[RegistryClient] = None
        self._servers: list = []
        self._progress: Optional[tornado.ioloop.PeriodicCallback] = None
        self.background = Background()  # tasks started and not waited for
        # called once no compute process is left nor can be forked (``_replace``): a worker-only
        # service then stops (``net.service``), so that the manager runs its blocks on the others
        # and a supervisor restarts it; None (a manager beside it): its blocks fail saying so
        self.on_unusable: Optional[Callable[[str], None]] = None
        self.peers = Peers(self.id, self.key, self.scheduler, self._members, self._member_token, self._carry_out,
                           self.background.spawn, self._fetch_range, self._grant_range)

    def _members(self) -> dict:
        return self.registry.members if self.registry is not None else {}

    async def _member_token(self, peer: str) -> Optional[str]:
        return await self.registry.token(peer) if self.registry is not None else None

    async def start(self) -> WorkerInfo:
        control, control_port = channels.listen(self.ports[0], self._serve_control,
                                                setting="UFORA_WORKER_BASE_PORT")
        data, data_port = channels.listen(self.ports[1], self.blobs.serve, compress=True,
                                          setting="UFORA_WORKER_BASE_PORT, plus one")
        self._servers = [control, data]
        self.control_port = control_port
        for process in self.processes.values():
            self._attach(process)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        info = WorkerInfo(self.id, self.own_address, control_port, data_port, len(self.processes), memory)
        self.registry = RegistryClient(info, self.key, *self.manager, stats=self._stats, on_joined=self.peers.joined,
                                       on_left=self._peer_left)
        self.background.spawn(self.registry.run())
        self._progress = tornado.ioloop.PeriodicCallback(self._report_progress, PROGRESS_INTERVAL * 1000)
        self._progress.start()
        log.info("worker %s: control %d, data %d, %d compute processes",
                 self.id, control_port, data_port, len(self.processes))
        return info

    def local_control(self, info: WorkerInfo) -> Optional[Channel]:
        """The control channel to this worker for the manager of the same service: an
        in-process channel (``net.inproc``) served as an accepted TCP connection is, since a
        loopback connection between two parts of one process cost a trivial block four system
        calls and as many turns of the event loop. None for any other worker (the manager then
        dials it): only this worker's own id at its own address and control port. Nothing
        leaves the process, so there is nothing to authenticate."""
        if (info.id, info.address, info.control_port) != (self.id, self.own_address, self.control_port):
            return None
        dialed, accepted = inproc.pair("inproc:manager", f"inproc:worker {self.id}")
        self.background.spawn(serve(self._serve_control, accepted))  # stop() cancels it, closing both ends
        return dialed

    def _stats(self) -> dict:
        return {**self.scheduler.counts, **{f"kernels_{kind}": count for kind, count in self.kernels.items()},
                "objects": len(self.objects.sizes), "object_bytes": self.objects.memory_bytes,
                "spilled_objects": len(self.objects.spilled), "spilled_bytes": self.objects.spilled_bytes,
                "processes_alive": len(self.processes),
                "loop": loop_health.snapshot(), **host_usage.usage()}

    def _unmap(self, names: list) -> None:
        self._carry_out([Send(index, Forget(names)) for index in self.processes])

    def _peer_left(self, peer: str) -> None:
        self.peers.lost(peer, "left the cluster")
        blobs = self.peer_blobs.pop(peer, None)
        if blobs is not None:
            blobs.close()


    async def _serve_control(self, channel: Channel) -> None:
        try:
            await self._read_control(channel)
        finally:
            for peer, peer_channel in list(self.peers.channels.items()):
                if peer_channel is channel:
                    self.peers.lost(peer, "its channel closed")
            # The manager that sent these blocks is gone (restarted, or cut off): nobody can
            # receive their results, and it runs them again elsewhere if it comes back.
            for job_id in [job_id for job_id, job in self.jobs.items() if job.channel is channel]:
                log.warning("block %s abandoned: the channel of the manager that sent it closed", job_id)
                self._cancel(job_id)

    async def _read_control(self, channel: Channel) -> None:
        member: Optional[str] = None  # the worker that dialed this channel, once it proved it (net.identity)
        while True:
            header, buffers = await channel.read()
            kind = header["type"]
            if kind in PEER_MESSAGES:
                if not await self.peers.receive(channel, member, header, buffers):
                    return
            elif kind == "hello" and member is None:
                member = await self.peers.accept(channel, header)
                if member is None:
                    return
            elif kind == "run_block":
                try:
                    job_id, block = str(header["job_id"]), Block.unpack(header, buffers)
                except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
                    await channel.abort(f"malformed run_block: {exc!r}")
                    return
                job = self.jobs[job_id] = _Job(channel, header.get("download_below"))
                block.download_below = job.download_below
                block.unread = frozenset(str(name) for name in header.get("unread") or ())
                block.cores, block.always_split = len(self.processes) + self.peers.peer_cores(), self.always_split
                owners = {str(key): str(owner) for key, owner in dict(header.get("objects") or {}).items()}
                capabilities = {str(key): str(value) for key, value in dict(header.get("capabilities") or {}).items()}
                if owners:
                    self.objects.use(job_id, set(owners))  # now: a release read next must wait
                if owners or free_variables_go_in_segment(block):
                    self.background.spawn(self._start_block(job_id, block, owners, capabilities))
                else:  # nothing to gather or write: queued at once (a round trip of the loop less)
                    self._carry_out(self.scheduler.handle(SubmitBlock(job_id, block)))
            elif kind == "cancel":
                self._cancel(str(header.get("job_id")))
            elif kind == "output_ack":
                job_id = str(header.get("job_id"))
                chars = header.get("chars")
                if not isinstance(chars, int) or isinstance(chars, bool):
                    await channel.abort(f"malformed output_ack: chars {chars!r} is not a number")
                    return
                self.output.acknowledged(job_id, chars)
                self._send_output(job_id)
            elif kind == "release":
                object_ids = header.get("object_ids")
                for key in object_ids if isinstance(object_ids, list) else ():
                    self.objects.release(str(key))
            elif kind == "heartbeat":
                await channel.write({"type": "heartbeat"})
            else:
                await channel.abort(f"unknown message type on the control channel: {kind!r}")
                return

    async def _start_block(self, job_id: str, block: Block, owners: Dict[str, str],
                           capabilities: Dict[str, str]) -> None:
        """Write a large pickle of the block's free variables into a segment, in a thread (880 MB
        held the event loop 1.1 s), gather the remote objects the block refers to (from this
        worker's store, or over the data channels of the workers holding them, with the
        capabilities the manager passed on), then queue it."""
        try:
            writing = _SegmentWrite(block)
            try:
                segment = await asyncio.shield(asyncio.to_thread(writing.run))
            except asyncio.CancelledError:  # the worker stops: the segment goes as soon as it is made
                writing.abandon()
                raise
            job = self.jobs.get(job_id)
            if job is None:  # cancelled meanwhile: nobody else will unlink it
                if segment is not None:
                    shm.unlink(segment)
                return
            job.segment = segment
            for object_id, owner in owners.items():
                block.objects[object_id] = await self._object(job_id, object_id, owner,
                                                              capabilities.get(object_id, ""))
        except Exception as exc:  # whatever it is, the block must end with it, not hang
            self._report(job_id, BlockResult(error=errors.capture(exc)))
            return
        if job_id in self.jobs:  # not cancelled meanwhile
            self._carry_out(self.scheduler.handle(SubmitBlock(job_id, block)))

    async def _object(self, job_id: str, object_id: str, owner: str, capability: str) -> Tuple[bytes, list]:
        """(pickle, parts) of a remote object: its segments' names if this worker holds it,
        else its buffers fetched from the worker that does."""
        if owner == self.id:
            if not self.objects.holds(object_id):
                raise MissingObjectError(f"remote object {object_id} is not on worker {self.id}")
            data, parts = self.objects.local_parts(object_id)
            if not isinstance(data, bytes):  # a spilled object's pickle, read from its file in a thread
                data = await asyncio.to_thread(bytes, data)
            return data, parts
        if owner not in self._members():
            raise MissingObjectError(f"remote object {object_id} was lost with worker {owner}")
        data, *parts = await self._peer_blobs(owner).fetch(object_id, capability)
        if job_id in self.jobs:
            self.jobs[job_id].fetched += sum(len(b) for b in (data, *parts))
        return data, parts

    def _peer_blobs(self, peer: str) -> BlobClient:
        """The data channel to another worker (KeyError if it is not a member)."""
        if peer not in self.peer_blobs:
            info = self._members()[peer]
            self.peer_blobs[peer] = BlobClient(info.address, info.data_port, peer)
        return self.peer_blobs[peer]

    async def _fetch_range(self, peer: str, segment: str, start: int, end: int, capability: str) -> bytes:
        [window] = await self._peer_blobs(peer).fetch(segment_key(segment, start, end), capability)
        return window

    def _grant_range(self, segment: str, start: int, end: int) -> str:
        """The capability to fetch bytes [start, end) of one of our segments, and no others."""
        return self.blobs.capability(segment_key(segment, start, end))

    def _report_progress(self) -> None:
        """Each running shape's progress, to the manager (for the block's client), when it
        changed: see ``PoolScheduler.progress``; its bytes moved count the remote objects fetched
        for the block too. And what the compute processes use now, to say why one died."""
        self.deaths.sample(process.pid for process in self.processes.values())
        self._carry_out(self.scheduler.handle(Tick()))  # stragglers, computed again
        self.objects.relieve()
        self.pool.check_zygotes()
        # a shape over is reported once more, as it ended (no core on it): the dashboard's timeline
        for job_id, snapshot in {**self.scheduler.finished_shapes, **self.scheduler.progress()}.items():
            job = self.jobs.get(job_id)
            message = None if job is None else self._progress_message(job, job_id, snapshot)
            if message is not None:
                self.background.spawn(self._forward(job.channel, message))

    def _progress_message(self, job: _Job, job_id: str, snapshot: dict) -> Optional[dict]:
        """The progress message for ``snapshot`` of the job's shape (its bytes moved counting the
        remote objects fetched for the block, this worker named by its id), or None when the
        manager was told as much already."""
        shown = {**snapshot, "bytes_moved": snapshot["bytes_moved"] + job.fetched,
                 "partitions_by_worker": {self.id if worker == HERE else worker: count
                                          for worker, count in snapshot["partitions_by_worker"].items()}}
        if shown == job.reported:
            return None
        job.reported = shown
        return {"type": "progress", "job_id": job_id, **shown}

    def _attach(self, process: compute_pool.PoolProcess) -> None:
        self.comms[process.index] = comm = PoolComm(process)
        self.background.spawn(self._read_process(process.index, comm))

    async def _read_process(self, index: int, comm: PoolComm) -> None:
        """A compute process's messages, until its pipe closes (it died, or was killed); a
        message whose handling fails is logged, and the next one read."""
        while True:
            try:
                message = await comm.read()
            except ChannelClosed:
                self._process_gone(index)
                return
            try:
                self._on_pool_message(index, message)
            except Exception:
                log.exception("handling %s from compute process %d failed", type(message).__name__, comm.process.pid)

    def _on_pool_message(self, index: int, message: FromProcess) -> None:
        if isinstance(message, Output):  # printed by a block: on to its client, in order, on credit
            job_id = message.job_id
            if job_id in self.jobs:
                for stream, text in message.pieces:
                    self.output.add(job_id, stream, text)
                self._send_output(job_id)
                if self.output.congested(job_id) and index not in self.paused:
                    self.paused[index] = job_id  # its print blocks until the client reads
                    self.comms[index].pause()
            return
        if isinstance(message, KernelEvent):
            self.kernels[message.kind] = self.kernels.get(message.kind, 0) + 1
            return
        self.scheduler.peer_cores = self.peers.peer_cores()
        self._carry_out(self.scheduler.handle(ProcessSaid(index, message)))

    def _send_output(self, job_id: str) -> None:
        """What the block's window lets go now; then the process printing it is read again if
        little waits, and its result is reported if it was waiting for its output to go."""
        job = self.jobs.get(job_id)
        if job is None:
            self.output.drop(job_id)
        else:
            for stream, text in self.output.take(job_id):
                self.background.spawn(self._forward(job.channel, {"type": "output", "job_id": job_id,
                                                        "stream": stream, "text": text}))
        for index in [i for i, paused_job in self.paused.items() if paused_job == job_id]:
            if job is None or not self.output.congested(job_id):
                del self.paused[index]
                if index in self.comms:
                    self.comms[index].resume()
        if job is not None and job.result is not None and self.output.sent(job_id):
            self._report(job_id, job.result)

    async def _forward(self, channel: Channel, header: dict) -> None:
        try:
            await channel.write(header)
        except ChannelClosed:
            pass  # the manager is gone: so is the client the output was for

    def _cancel(self, job_id: str) -> None:
        """Kill what computes the block now; the processes are replaced as they go."""
        job = self._end_job(job_id)
        if job is not None and job.result is not None:
            _discard(job.result)
        self._send_output(job_id)  # its process is read again
        self._carry_out(self.scheduler.handle(Cancel(job_id)))
        log.info("block %s cancelled", job_id)

    def _process_gone(self, index: int) -> None:
        self.paused.pop(index, None)
        self.comms.pop(index).close()
        process, status = self.pool.forget(index)
        cancelled = process.pid in self.cancelled
        self.cancelled.discard(process.pid)
        retired = status >= 0 and os.WIFEXITED(status) and os.WEXITSTATUS(status) == memory_limits.RETIRED
        reason = (f"compute process {process.pid} was stopped by a cancel" if cancelled else
                  f"compute process {process.pid} retired: it held most of its memory budget after a block"
                  if retired else f"the compute process {process.pid} {self.deaths.describe(process.pid, status)}")
        (log.info if cancelled or retired else log.error)("%s; %d shared segments of its swept", reason,
                                                          shm.sweep(process.pid))
        delay = 0.0 if cancelled or retired else self.crashes.next_delay()
        self._carry_out(self.scheduler.handle(ProcessGone(index, reason, replacing=True)))
        asyncio.get_running_loop().call_later(delay, self._replace, process.pid, reason, delay)

    def _replace(self, pid: int, reason: str, delay: float) -> None:
        """Fork the replacement of a compute process that is gone (after ``delay`` s of backoff,
        if it crashed: a crash loop slows down, it never uses up the pool)."""
        try:
            new = self.pool.spawn()
        except OSError as exc:  # out of descriptors or memory, for now: tried again, later
            delay = max(delay, self.crashes.next_delay())
            log.error("compute process %d not replaced yet (%s); trying again in %.2f s", pid, exc, delay)
            asyncio.get_running_loop().call_later(delay, self._replace, pid, reason, delay)
            return
        except RuntimeError as exc:  # the zygote is gone: no process can be forked any more
            log.error("compute process %d not replaced: %s", pid, exc)
            self._carry_out(self.scheduler.handle(ReplacementFailed(f"{reason}, and could not be replaced: {exc}")))
            if not self.scheduler.has_processes() and self.on_unusable is not None:
                self.on_unusable(f"no compute process is left, and none can be forked ({exc})")
            return
        self._attach(new)
        log.log(logging.WARNING if delay else logging.INFO,
                "compute process %d replaced by %d after %.2f s", pid, new.pid, delay)
        self._carry_out(self.scheduler.handle(ProcessAdded(new.index)))

    def _carry_out(self, instructions: List[Instruction]) -> None:
        """What the scheduler said to do: messages to compute processes (never blocking: what a
        pipe does not take now is written when it is writable), kills, finished blocks, and
        what goes to peers."""
        for instruction in instructions:
            if isinstance(instruction, Send):
                self._to_process(instruction.index, instruction.message)
            elif isinstance(instruction, Kill):
                process = self.processes[instruction.index]
                self.cancelled.add(process.pid)
                with contextlib.suppress(ProcessLookupError):  # it may have died on its own
                    os.kill(process.pid, signal.SIGKILL)
            elif isinstance(instruction, Finished):
                self._finished(instruction.job_id, instruction.result)
            elif isinstance(instruction, Straggler):
                self._log_straggler(instruction)
            else:
                self.peers.carry_out(instruction)

    @staticmethod
    def _log_straggler(straggler: Straggler) -> None:
        held = (f"partition [{straggler.lo}, {straggler.hi}) of task {straggler.task_id} has been with "
                f"{straggler.holder} for {straggler.seconds:.1f} s, far longer than its items take elsewhere")
        if straggler.process is not None:
            log.info("%s: computing it again on process %d too; the first outcome is kept", held, straggler.process)
        else:
            log.warning("%s; it is not computed again (%s): the block waits for it", held, straggler.why)

    def _to_process(self, index: int, message: ToProcess) -> None:
        try:
            self.comms[index].send(message)
        except (ChannelClosed, KeyError):
            log.warning("could not reach compute process %d", index)

    def _finished(self, job_id: str, result: BlockResult) -> None:
        job = self.jobs.get(job_id)
        if job is not None and not self.output.sent(job_id):  # its output goes first
            job.result = result
            return
        self._report(job_id, result)

    def _end_job(self, job_id: str) -> Optional[_Job]:
        """The one place a job ends (reported, failed to start, or cancelled): its record goes,
        and with it what it kept in use (its remote objects, its output not yet sent)."""
        job = self.jobs.pop(job_id, None)
        self.output.drop(job_id)
        self.objects.done(job_id)
        if job is not None and job.segment is not None:
            shm.unlink(job.segment)
        return job

    def _report(self, job_id: str, result: BlockResult) -> None:
        """The job ends with ``result``: to the manager, or, if it was cancelled, nowhere."""
        last_shape = self.scheduler.last_shape(job_id)
        job = self._end_job(job_id)
        if job is None:
            _discard(result)
        else:
            last = None if last_shape is None else self._progress_message(job, job_id, last_shape)
            self.background.spawn(self._send_result(job, job_id, result, last))

    async def _send_result(self, job: _Job, job_id: str, result: BlockResult, last_shape: Optional[dict]) -> None:
        """The block's result to the manager; first, where the manager has not seen it, its last
        shape's progress as it finished (what the dashboard keeps of the block)."""
        if last_shape is not None:
            with contextlib.suppress(ChannelClosed):
                await job.channel.write(last_shape)
        objects = self._keep_remote(result, job.download_below)
        fields, buffers = result.pack()
        header = {"type": "block_done", "job_id": job_id, **fields, "objects": objects}
        if sum(len(b) for b in buffers) > DATA_CHANNEL_THRESHOLD:  # fetched by the client (or the manager)
            header["blob_sizes"] = [len(buffer) for buffer in buffers]
            header["blob"], buffers = self.blobs.put(buffers), []
            header["blob_capability"] = self.blobs.capability(header["blob"])
        try:
            await job.channel.write(header, buffers)
        except ChannelClosed:
            log.warning("the manager went away before job %s could be reported", job_id)

    def _keep_remote(self, result: BlockResult, download_below: Optional[int]) -> Dict[str, dict]:
        """Keep here, as remote objects, the variables not to be downloaded (those of at least
        ``download_below`` bytes; with None, none; those whose buffers the block put in shared
        memory, always); describe them by name, with the capability to fetch them (for the
        manager only: it never reaches the client)."""
        kept = {}
        for name, data in list(result.variables.items()):
            if name in ALWAYS_DOWNLOADED:
                continue
            segments = result.segments.get(name, [])
            size = remote_values.size_of(data, segments)
            if segments or name in result.kept or (download_below is not None and size >= download_below):
                object_id = self.objects.keep(data, segments)
                kept[name] = {"id": object_id, "capability": self.blobs.capability(object_id), "size": size,
                              "type": result.types.get(name, ""), "callable": name in result.callables}
                del result.variables[name]
        return kept

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.objects.stop()
        shm.sweep_service(os.getpid())  # remote objects' segments no one reported (a driver killed mid-pack)
        for blobs in self.peer_blobs.values():
            blobs.close()
        if self.registry is not None:
            self.registry.stop()
        self.background.cancel_all()
        for server in self._servers:
            server.stop()
        for comm in self.comms.values():
            comm.close()
        self.pool.stop()


class _SegmentWrite:
    """A block's free variables written into a segment in a thread (``free_variables_in_segment``)
    for a task that may be cancelled meanwhile (the worker stops): then the segment is unlinked
    by whichever of the two comes last, the thread or the cancel, and none is left behind."""

    def __init__(self, block: Block):
        self.block, self.lock = block, threading.Lock()
        self.abandoned = False
        self.name: Optional[str] = None

    def run(self) -> Optional[str]:
        name = free_variables_in_segment(self.block)
        with self.lock:
            if self.abandoned and name is not None:
                shm.unlink(name)
                return None
            self.name = name
        return name

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True
            if self.name is not None:
                shm.unlink(self.name)
                self.name = None


def _discard(result: BlockResult) -> None:
    """What a block no one will hear of would have kept on the cluster goes."""
    for segments in result.segments.values():
        remote_values.discard(segments)
