"""Partitions across workers: the worker-to-worker half of scheduling, over control channels.

The decisions, and the protocol's state (offers, pulls waiting for their answer, the peers'
partitions computed here and their slots), are ``engine.scheduler.PoolScheduler``'s; this module
is its gateway: it decodes each peer message into a scheduler event, and carries out the
instructions that name a peer (a frame to write, windows to fetch). Pull, so that a busy or slow
worker is never handed work it cannot start:

    origin A                                    peer B
    offer {worker, task_id}            ->       (B remembers that A has work)
                                       <-       pull {worker, task_id, reserved}   one per idle process
    partition {worker, task_id, lo, hi,
               reserved, slot, windows} + [task] ->  B fetches the windows' bytes (items [lo, hi)
                                                 of the task's shared arrays, [segment, start,
                                                 end, capability] each: the capability reads
                                                 that range and no other) from A's data
                                                 channel, then computes the partition in its
                                                 own pool
      or none {worker, task_id, reserved}       (B releases the process, forgets the offer)
                                       <-       partition_done {worker, task_id, lo, hi, stop, compiled, slot}
                                                  + [pickled outcome]; then B pulls again
                                       <-       partition_lost {worker, task_id, lo, hi, slot}
                                                  (not computed: the process computing it
                                                  died, its windows could not be fetched, or
                                                  no pull waited for it; A hands it out
                                                  again, as for any lost process)

A process of B computing A's partition may lack its kernel on disk (``engine.kernels``); B asks
A for that kernel-cache entry by name while the partition runs in CPython:

    origin A                                    peer B
                                       <-       kernel_wanted {worker, task_id, name}
    kernel {worker, task_id, name, found}
           + [the entry's file, if found]  ->   B puts it (or "none", or nothing within
                                                 KERNEL_TIMEOUT) in its kernel folder for the
                                                 process that asked, which checks it exactly as
                                                 a file of its own and else compiles the kernel

A channel to a peer is opened on first need and read like any incoming one; when it closes, or
the registry says the peer left, every partition the peer held is handed out again.

Only members exchange these messages, each on a channel that proved which member it is
(``net.identity``: the dialer's ``hello`` first, answered both ways), and each naming that member
in its "worker" field: anyone else who sends one to a control port gets one error frame and the
connection closed. A member, in turn, can only answer pulls that were sent to it (``partition``,
``none``) and report on slots it holds (``partition_done``, ``partition_lost``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

from ufora.engine import kernel_cache
from ufora.engine.pool_messages import PartitionDone
from ufora.engine.scheduler import (DeliverKernel, Event, FetchKernel, FetchWindows, Instruction, KernelFetched,
                                    KernelNotFetched, NoneAnswered, PartitionAnswered, PeerGone, PeerJoined,
                                    PeerKernelWanted, PeerOffered, PeerPartitionDone, PeerPartitionLost, PeerPull,
                                    PoolScheduler, RemoteSlot, SendKernel, SendNone, SendOffer, SendPartition,
                                    SendPartitionDone, SendPartitionLost, SendPull, WindowsFetched, WindowsNotFetched)
from ufora.net import channel as channels
from ufora.net import identity
from ufora.net.blobs import MissingBlob
from ufora.net.comm import Channel, ChannelClosed

log = logging.getLogger(__name__)

MESSAGES = {"offer", "pull", "partition", "none", "partition_done", "partition_lost", "kernel_wanted", "kernel"}
REPORTS = {"partition_done", "partition_lost"}  # their "slot" must be one the sender holds
KERNEL_TIMEOUT = 5.0  # seconds a peer has to answer kernel_wanted; then the kernel is compiled here


def event(peer: str, header: dict, buffers: List[bytes]) -> Event:
    """The scheduler event a peer's message (one of MESSAGES) stands for (KeyError, ValueError or
    TypeError if it is malformed)."""
    kind, task_id = header["type"], int(header["task_id"])
    if kind == "offer":
        return PeerOffered(peer, task_id)
    if kind == "pull":
        return PeerPull(peer, task_id, header["reserved"])
    if kind == "partition":
        ranges = [(str(name), int(start), int(end), str(capability))
                  for name, start, end, capability in header.get("windows") or ()]
        return PartitionAnswered(peer, int(header["reserved"]), task_id, int(header["lo"]), int(header["hi"]),
                                 header["slot"], buffers[0], ranges)
    if kind == "none":
        return NoneAnswered(peer, task_id, int(header["reserved"]))
    if kind == "partition_done":  # the outcome stays pickled: it is the driver's to read
        return PeerPartitionDone(_slot(header), PartitionDone(
            task_id, int(header["lo"]), int(header["hi"]), bool(header.get("stop")), bytes(buffers[0]),
            bool(header.get("compiled"))))
    if kind == "partition_lost":
        return PeerPartitionLost(peer, _slot(header))
    if kind == "kernel_wanted":
        return PeerKernelWanted(peer, task_id, _text(header["name"]))
    raise ValueError(f"not a peer message: {kind!r}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a name: {value!r}")
    return value


def kernel_answer(header: dict, buffers: List[bytes]) -> Tuple[str, Optional[bytes]]:
    """(the entry's name, its bytes or None) of a ``kernel`` message; ValueError or TypeError if
    it is malformed (the bytes themselves are checked by the process that asked for them)."""
    name, found = _text(header["name"]), header["found"]
    if found is not True and found is not False:
        raise TypeError(f"'found' is {found!r}, not true or false")
    if len(buffers) != (1 if found else 0):
        raise ValueError(f"{len(buffers)} buffers with found={found}")
    return name, bytes(buffers[0]) if found else None


def _slot(header: dict) -> RemoteSlot:
    """The remote slot a report names (it came back as the list it was sent as)."""
    peer, number = header["slot"]
    return RemoteSlot(str(peer), int(number))


class Peers:
    def __init__(self, worker_id: str, key: str, scheduler: PoolScheduler, members: Callable[[], Dict[str, Any]],
                 member_token: Callable[[str], Awaitable[Optional[str]]],
                 dispatch: Callable[[list], None], spawn: Callable[[Any], None],
                 fetch_range: Callable[[str, str, int, int, str], Awaitable[bytes]],
                 grant_range: Callable[[str, int, int], str]):
        self.id = worker_id
        self.key = key                  # ours, from which our tokens derive (net.identity)
        # (peer, segment, start, end, capability) -> bytes, over its data channel
        self.fetch_range = fetch_range
        self.grant_range = grant_range  # (segment, start, end) -> the capability to fetch those bytes of ours
        self.scheduler = scheduler
        self.members = members      # id -> WorkerInfo, from the registry
        self.member_token = member_token  # id -> what it proves itself with to us, from the registry
        self.dispatch = dispatch    # carries the scheduler's instructions out (WorkerService._carry_out)
        self.spawn = spawn
        self.channels: Dict[str, Channel] = {}  # each identified as that peer's
        self.dialing: Dict[str, asyncio.Lock] = {}  # peer -> held while a channel to it is dialed
        # (peer, entry name) -> the peer's answer to our kernel_wanted, awaited by _fetch_kernel
        self.kernel_answers: Dict[Tuple[str, str], asyncio.Future] = {}

    def peer_cores(self) -> int:
        return sum(info.cores for peer, info in self.members().items() if peer != self.id)

    # ---- the scheduler's instructions for peers ----------------------------------------------
    def carry_out(self, instruction: Instruction) -> None:
        if isinstance(instruction, FetchWindows):
            self.spawn(self._fetch_windows(instruction))
        elif isinstance(instruction, FetchKernel):
            self.spawn(self._fetch_kernel(instruction))
        elif isinstance(instruction, SendKernel):
            self.spawn(self._send_kernel(instruction))
        elif isinstance(instruction, DeliverKernel):
            self.spawn(asyncio.to_thread(kernel_cache.deliver, instruction.name, instruction.data))
        elif isinstance(instruction, SendOffer):
            for peer in [instruction.peer] if instruction.peer is not None else list(self.members()):
                if peer != self.id:
                    self._send(peer, self._header("offer", instruction.task_id))
        elif isinstance(instruction, SendPull):
            self._send(instruction.peer, self._header("pull", instruction.task_id, reserved=instruction.reserved))
        elif isinstance(instruction, SendNone):
            self._send(instruction.peer, self._header("none", instruction.task_id, reserved=instruction.reserved))
        elif isinstance(instruction, SendPartition):
            granted = [[*window, self.grant_range(*window)] for window in instruction.ranges]
            self._send(instruction.peer, self._header(
                "partition", instruction.task_id, reserved=instruction.reserved, lo=instruction.lo, hi=instruction.hi,
                slot=list(instruction.slot), windows=granted), [instruction.payload])
        elif isinstance(instruction, SendPartitionDone):
            self._send(instruction.peer, self._header(
                "partition_done", instruction.task_id, lo=instruction.lo, hi=instruction.hi, slot=instruction.slot,
                stop=instruction.stop, compiled=instruction.compiled), [instruction.outcome])
        elif isinstance(instruction, SendPartitionLost):
            self._send(instruction.peer, self._header(
                "partition_lost", instruction.task_id, lo=instruction.lo, hi=instruction.hi, slot=instruction.slot))
        else:
            raise TypeError(f"not an instruction for peers: {instruction!r}")

    def _header(self, kind: str, task_id: Any, **fields: Any) -> dict:
        return {"type": kind, "worker": self.id, "task_id": task_id, **fields}

    async def _fetch_windows(self, fetch: FetchWindows) -> None:
        """Fetch the windows of a peer's partition from its data channel (the capability of each
        reads that range and no other); if they cannot be fetched, it is lost (the peer hands it
        out again)."""
        try:
            windows = [await self.fetch_range(fetch.peer, *window) for window in fetch.ranges]
        except (ChannelClosed, MissingBlob, TimeoutError, KeyError) as exc:
            log.warning("the items of partition [%d, %d) could not be fetched from worker %s: %s",
                        fetch.lo, fetch.hi, fetch.peer, exc)
            self.dispatch(self.scheduler.handle(WindowsNotFetched(fetch.index)))
            return
        self.dispatch(self.scheduler.handle(WindowsFetched(fetch.index, windows)))

    async def _fetch_kernel(self, fetch: FetchKernel) -> None:
        """Ask the peer for a kernel-cache entry a process of ours lacks and wait for its answer,
        KERNEL_TIMEOUT at most: then ``KernelFetched`` with its bytes, else ``KernelNotFetched``
        (the process compiles it)."""
        key = (fetch.peer, fetch.name)
        answer = self.kernel_answers.setdefault(key, asyncio.get_running_loop().create_future())
        self._send(fetch.peer, self._header("kernel_wanted", fetch.task_id, name=fetch.name))
        data: Optional[bytes] = None
        try:
            data = await asyncio.wait_for(asyncio.shield(answer), KERNEL_TIMEOUT)
            if data is None:
                log.info("worker %s has no kernel %s: compiling it here", fetch.peer, fetch.name[:12])
        except (asyncio.TimeoutError, ChannelClosed, ValueError, TypeError, KeyError) as exc:
            log.warning("kernel %s could not be fetched from worker %s (%s); compiling it here",
                        fetch.name[:12], fetch.peer, exc or type(exc).__name__)
        finally:
            if self.kernel_answers.get(key) is answer:
                del self.kernel_answers[key]
        self.dispatch(self.scheduler.handle(KernelNotFetched(fetch.name) if data is None
                                            else KernelFetched(fetch.name, data)))

    async def _send_kernel(self, send: SendKernel) -> None:
        """Our entry's file (read in a thread: the loop serves others meanwhile), or none."""
        data = await asyncio.to_thread(kernel_cache.entry_bytes, send.name)
        await self._write(send.peer, self._header("kernel", send.task_id, name=send.name, found=data is not None),
                          [data] if data is not None else [])

    def _kernel_answered(self, peer: str, header: dict, buffers: List[bytes]) -> None:
        """A peer's ``kernel`` message, for the fetch that waits for it; one nobody waits for
        (it came late, or was never asked for) is dropped."""
        try:
            name, data = kernel_answer(header, buffers)
        except (KeyError, TypeError, ValueError) as exc:
            name, data = str(header.get("name")), None
            failure: Optional[Exception] = ValueError(f"a malformed kernel message: {exc!r}")
        else:
            failure = None
        answer = self.kernel_answers.get((peer, name))
        if answer is None or answer.done():
            log.warning("worker %s sent kernel %s, which no fetch waits for; dropped", peer, name[:12])
        elif failure is not None:
            answer.set_exception(failure)
        else:
            answer.set_result(data)

    def joined(self, peer: str) -> None:
        """A worker joined mid-job: it is offered every task that still has partitions to hand out."""
        self.dispatch(self.scheduler.handle(PeerJoined(peer)))

    # ---- messages from peers ---------------------------------------------------------------
    async def accept(self, channel: Channel, hello: dict) -> Optional[str]:
        """A channel dialed to us introduces itself: the member it proved to be, or None (it
        was sent one error frame and closed)."""
        try:
            return await identity.identify(channel, hello, self.id, self.key, self.member_token)
        except identity.Refused as exc:
            identity.log_refusal(channel, f"a peer's introduction ({exc})")
            await channel.abort(f"introduction refused: {exc}")
            return None

    async def receive(self, channel: Channel, member: Optional[str], header: dict, buffers: List[bytes]) -> bool:
        """A peer message on a channel identified as ``member`` (None: not identified), handled
        if that member may send it; else the channel gets one error frame and is closed (False)."""
        refusal = self._refusal(member, header)
        if refusal is None:
            self.handle(channel, str(member), header, buffers)
            return True
        identity.log_refusal(channel, f"a {header['type']!r} message ({refusal})")
        await channel.abort(f"{header['type']} refused: {refusal}")
        return False

    def _refusal(self, member: Optional[str], header: dict) -> Optional[str]:
        if member is None:
            return "this channel did not introduce itself as a member of the cluster (hello)"
        if header.get("worker") != member:
            return f"this channel is worker {member}'s, not {header.get('worker')!r}'s"
        slot = header.get("slot")
        if header["type"] in REPORTS and not (isinstance(slot, list) and slot[:1] == [member]):
            return f"slot {slot!r} is not one worker {member} holds"
        return None

    def handle(self, channel: Channel, peer: str, header: dict, buffers: List[bytes]) -> None:
        self.channels.setdefault(peer, channel)
        if header["type"] == "kernel":  # an answer, for the fetch that waits for it
            self._kernel_answered(peer, header, buffers)
            return
        happened = event(peer, header, buffers)
        if isinstance(happened, PeerPartitionLost) and self.scheduler.holds_slot(happened.slot):
            log.warning("worker %s lost partition [%s, %s) with the process computing it; handing "
                        "it out again", peer, header["lo"], header["hi"])
        self.dispatch(self.scheduler.handle(happened))

    def lost(self, peer: str, reason: str) -> None:
        """The peer is gone: its partitions go to others, its offers are forgotten."""
        held = self.scheduler.slots_of(peer)
        log.warning("worker %s is gone (%s); %d of its partitions handed out again", peer, reason, held)
        self.channels.pop(peer, None)
        self.dialing.pop(peer, None)
        for (asked, _), answer in self.kernel_answers.items():
            if asked == peer and not answer.done():
                answer.set_exception(ChannelClosed(f"worker {peer} is gone ({reason})"))
        self.dispatch(self.scheduler.handle(PeerGone(peer, reason)))

    # ---- channels --------------------------------------------------------------------------
    def _send(self, peer: str, header: dict, buffers: Sequence[bytes] = ()) -> None:
        self.spawn(self._write(peer, header, list(buffers)))

    async def _write(self, peer: str, header: dict, buffers: List[bytes]) -> None:
        try:
            channel = self.channels.get(peer) or await self._connect(peer)
            await channel.write(header, buffers)
        except (ChannelClosed, TimeoutError, KeyError) as exc:
            log.warning("could not reach worker %s: %s", peer, exc)
            self.lost(peer, str(exc))

    async def _connect(self, peer: str) -> Channel:
        """A channel to ``peer``, dialed and introduced once however many messages wait for it
        (they leave in the order they were sent, on one channel)."""
        async with self.dialing.setdefault(peer, asyncio.Lock()):
            if peer in self.channels:
                return self.channels[peer]
            info, peer_token = self.members()[peer], await self.member_token(peer)
            if peer_token is None:
                raise KeyError(f"the registry gave no token of worker {peer}")
            channel = await channels.connect(info.address, info.control_port, timeout=5.0)
            try:
                await identity.introduce(channel, self.id, self.key, peer, peer_token)
            except BaseException:
                channel.close()
                raise
            self.channels[peer] = channel
            self.spawn(self.read(channel, peer))
            return channel

    async def read(self, channel: Channel, peer: str) -> None:
        """Read a channel we opened to a peer (which proved it is ``peer``) until it closes."""
        try:
            while True:
                header, buffers = await channel.read()
                if header["type"] in MESSAGES and not await self.receive(channel, peer, header, buffers):
                    raise ChannelClosed(f"worker {peer} sent a {header['type']!r} it may not send")
        except (ChannelClosed, ValueError, KeyError, TypeError) as exc:
            if self.channels.get(peer) is channel:
                channel.close()
                self.lost(peer, f"{exc!r}")
