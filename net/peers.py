"""Partitions across workers: the worker-to-worker half of scheduling, over control channels.

The decisions are ``engine.scheduler.PoolScheduler``'s; this module moves its messages between
workers. Pull, so that a busy or slow worker is never handed work it cannot start:

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
                                       <-       partition_done {worker, task_id, lo, hi, stop, slot}
                                                  + [pickled outcome]; then B pulls again
                                       <-       partition_lost {worker, task_id, lo, hi, slot}
                                                  (the process computing it died: A hands it
                                                  out again, as for any lost process)

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
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from engine.pool_messages import PartitionDone
from engine.scheduler import (Event, ForeignDone, ForeignLost, Instruction, Offer, PartitionForPeer, PeerGone, PeerPull,
                              PoolScheduler, ProcessGone, ProcessSaid, Release, Reserve, Reserved, RunForeign)
from net import channel as channels
from net import identity
from net.blobs import MissingBlob
from net.comm import Channel, ChannelClosed

log = logging.getLogger(__name__)

MESSAGES = {"offer", "pull", "partition", "none", "partition_done", "partition_lost"}
REPORTS = {"partition_done", "partition_lost"}  # their "slot" must be one the sender holds


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
        self.wanted: Dict[str, int] = {}                       # peer -> task it offered
        self.foreign: Dict[Tuple[str, int, int, int], Any] = {}  # (peer, task, lo, hi) -> its slot
        self.pulls: Dict[str, set] = {}  # peer -> our processes reserved for pulls not answered yet
        self.moved: Dict[int, int] = {}  # our task -> bytes of its partitions and outcomes sent to peers and back

    def peer_cores(self) -> int:
        return sum(info.cores for peer, info in self.members().items() if peer != self.id)

    # ---- the scheduler's instructions for peers ----------------------------------------------
    def carry_out(self, instruction: Instruction) -> None:
        if isinstance(instruction, Offer):
            for peer in self.members():
                if peer != self.id:
                    self._send(peer, {"type": "offer", "worker": self.id, "task_id": instruction.task_id})
        elif isinstance(instruction, (ForeignDone, ForeignLost)):
            peer, task_id, lo, hi = instruction.peer, instruction.task_id, instruction.lo, instruction.hi
            slot = self.foreign.pop((peer, task_id, lo, hi), None)
            if slot is None:
                return
            header = {"worker": self.id, "task_id": task_id, "lo": lo, "hi": hi, "slot": slot}
            if isinstance(instruction, ForeignDone):
                self._send(peer, dict(header, type="partition_done", stop=instruction.stop), [instruction.outcome])
            else:
                self._send(peer, dict(header, type="partition_lost"))
        else:
            raise TypeError(f"not an instruction for peers: {instruction!r}")

    def _ask(self, event: Event, answer: type) -> Any:
        """The scheduler's ``answer`` to ``event`` (None if it gave none); its other
        instructions, if any, carried out."""
        instructions = self.scheduler.handle(event)
        found = next((instruction for instruction in instructions if isinstance(instruction, answer)), None)
        rest = [instruction for instruction in instructions if instruction is not found]
        if rest:
            self.dispatch(rest)
        return found

    def joined(self, peer: str) -> None:
        """A worker joined mid-job: offer it every task that still has partitions to hand out."""
        for task_id in self.scheduler.open_offers():
            self._send(peer, {"type": "offer", "worker": self.id, "task_id": task_id})

    def pull_idle(self) -> None:
        """Our processes with nothing to do pull partitions of the tasks peers offered."""
        for peer, task_id in list(self.wanted.items()):
            while (reserved := self._ask(Reserve(), Reserved)) is not None:
                reserved = reserved.index
                self.pulls.setdefault(peer, set()).add(reserved)
                self._send(peer, {"type": "pull", "worker": self.id, "task_id": task_id,
                                  "reserved": reserved})

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
        kind = header["type"]
        self.channels.setdefault(peer, channel)
        if kind == "offer":
            self.wanted[peer] = int(header["task_id"])
            self.pull_idle()
        elif kind == "pull":
            pulled = self._ask(PeerPull(peer, int(header["task_id"])), PartitionForPeer)
            reply = {"worker": self.id, "task_id": header["task_id"], "reserved": header["reserved"]}
            if pulled is None:
                self._send(peer, dict(reply, type="none"))
            else:
                slot, payload, lo, hi, windows = pulled.slot, pulled.payload, pulled.lo, pulled.hi, pulled.windows
                ranges = [[name, offset + lo * row, offset + hi * row] for name, offset, row in windows]
                self._count(int(header["task_id"]), len(payload) + sum(end - start for _, start, end in ranges))
                granted = [[*window, self.grant_range(*window)] for window in ranges]
                self._send(peer, dict(reply, type="partition", lo=lo, hi=hi, slot=list(slot), windows=granted),
                           [payload])
        elif kind == "partition":
            reserved, task_id = int(header["reserved"]), int(header["task_id"])
            lo, hi = int(header["lo"]), int(header["hi"])
            if reserved not in self.pulls.get(peer, ()):  # no pull of ours waits for it (any more): handed out again
                self._send(peer, {"type": "partition_lost", "worker": self.id, "task_id": task_id,
                                  "lo": lo, "hi": hi, "slot": header["slot"]})
                return
            self.pulls[peer].discard(reserved)
            self.foreign[(peer, task_id, lo, hi)] = header["slot"]
            ranges = [(str(name), int(start), int(end), str(capability))
                      for name, start, end, capability in header.get("windows") or ()]
            self.spawn(self._run_foreign(peer, reserved, task_id, buffers[0], lo, hi, ranges))
        elif kind == "none":
            if self.wanted.get(peer) == header["task_id"]:
                del self.wanted[peer]
            reserved = int(header["reserved"])
            if reserved in self.pulls.get(peer, ()):  # else the process was released already
                self.pulls[peer].discard(reserved)
                self.dispatch(self.scheduler.handle(Release(reserved)))
        elif kind == "partition_done":  # the outcome stays pickled: it is the driver's to read
            self._count(int(header["task_id"]), len(buffers[0]))
            slot = tuple(header["slot"])
            self.dispatch(self.scheduler.handle(ProcessSaid(
                slot, PartitionDone(int(header["task_id"]), int(header["lo"]), int(header["hi"]),
                                    bool(header.get("stop")), bytes(buffers[0])))))
        elif kind == "partition_lost" and self.scheduler.holds_slot(tuple(header["slot"])):  # else given up already
            log.warning("worker %s lost partition [%s, %s) with the process computing it; handing "
                        "it out again", peer, header["lo"], header["hi"])
            self.dispatch(self.scheduler.handle(ProcessGone(tuple(header["slot"]),
                                                            f"its process on worker {peer} died")))

    async def _run_foreign(self, peer: str, reserved: int, task_id: int, payload: bytes, lo: int,
                           hi: int, ranges: List[Tuple[str, int, int, str]]) -> None:
        """Fetch the windows of a peer's partition from its data channel, then compute it on
        the process reserved for it; if they cannot be fetched, it is lost (the peer hands it
        out again)."""
        try:
            windows = [await self.fetch_range(peer, *window) for window in ranges]
        except (ChannelClosed, MissingBlob, TimeoutError, KeyError) as exc:
            log.warning("the items of partition [%d, %d) could not be fetched from worker %s: %s",
                        lo, hi, peer, exc)
            slot = self.foreign.pop((peer, task_id, lo, hi), None)
            if slot is not None:
                self._send(peer, {"type": "partition_lost", "worker": self.id, "task_id": task_id,
                                  "lo": lo, "hi": hi, "slot": slot})
            self.dispatch(self.scheduler.handle(Release(reserved)))
            return
        self.dispatch(self.scheduler.handle(RunForeign(reserved, peer, task_id, payload, lo, hi, windows)))

    def _count(self, task_id: int, size: int) -> None:
        self.moved[task_id] = self.moved.get(task_id, 0) + size

    def lost(self, peer: str, reason: str) -> None:
        """The peer is gone: its partitions go to others, its offers are forgotten."""
        held = self.scheduler.slots_of(peer)
        log.warning("worker %s is gone (%s); %d of its partitions handed out again", peer, reason, held)
        self.channels.pop(peer, None)
        self.dialing.pop(peer, None)
        self.wanted.pop(peer, None)
        for reserved in self.pulls.pop(peer, set()):  # pulls it will never answer
            self.dispatch(self.scheduler.handle(Release(reserved)))
        self.foreign = {key: slot for key, slot in self.foreign.items() if key[0] != peer}
        self.dispatch(self.scheduler.handle(PeerGone(peer, reason)))

    # ---- channels --------------------------------------------------------------------------
    def _send(self, peer: str, header: dict, buffers: List[bytes] = ()) -> None:
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
