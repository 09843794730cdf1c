"""The worker registry: who is in the cluster, served by the manager (port 30002).

``Membership`` is the logic (plain, no I/O). ``serve_registry`` runs one registered worker's
connection: its ``register`` frame, the ``welcome`` answer with every member, heartbeats both
ways, and ``joined``/``left`` pushed to everyone. ``RegistryClient`` is the worker's side: it
registers, keeps its view of the members, and when the manager goes away retries with backoff
and registers again.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

from net import schema
from net.backoff import Backoff
from net.channel import Channel, ChannelClosed, connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    address: str
    control_port: int
    data_port: int
    cores: int
    memory: int

    @classmethod
    def from_wire(cls, data: dict) -> "WorkerInfo":
        try:
            return cls(str(data["id"]), str(data["address"]), int(data["control_port"]),
                       int(data["data_port"]), int(data["cores"]), int(data["memory"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad worker description: {exc!r}") from None


Listener = Callable[[WorkerInfo], None]


class Membership:
    """Members and the channels to push membership changes on."""

    def __init__(self) -> None:
        self.members: Dict[str, WorkerInfo] = {}
        self.channels: Dict[str, Channel] = {}
        self.stats: Dict[str, dict] = {}  # what each worker last reported with its heartbeat
        self.on_join: List[Listener] = []
        self.on_leave: List[Listener] = []

    def join(self, info: WorkerInfo, channel: Channel) -> None:
        self.members[info.id] = info
        self.channels[info.id] = channel
        for listener in self.on_join:
            listener(info)

    def leave(self, worker_id: str) -> Optional[WorkerInfo]:
        info = self.members.pop(worker_id, None)
        self.channels.pop(worker_id, None)
        self.stats.pop(worker_id, None)
        if info is not None:
            for listener in self.on_leave:
                listener(info)
        return info

    async def broadcast(self, header: dict, skip: str = "") -> None:
        for worker_id, channel in list(self.channels.items()):
            if worker_id != skip:
                try:
                    await channel.write(header)
                except ChannelClosed:
                    pass


async def serve_registry(membership: Membership, channel: Channel) -> None:
    header, _ = await channel.read()
    if header["type"] != "register":
        await channel.abort(f"expected a register message, got {header['type']!r}")
        return
    try:
        info = WorkerInfo.from_wire(header.get("worker") or {})
    except ValueError as exc:
        await channel.abort(str(exc))
        return
    membership.join(info, channel)
    log.info("worker %s joined from %s:%d (%d cores)", info.id, info.address, info.control_port, info.cores)
    try:
        await channel.write({"type": "welcome", "members": [asdict(m) for m in membership.members.values()]})
        await membership.broadcast({"type": "joined", "worker": asdict(info)}, skip=info.id)
        await _heartbeats(channel, lambda stats: membership.stats.__setitem__(info.id, stats))
    finally:
        if membership.channels.get(info.id) is channel:
            membership.leave(info.id)
            log.info("worker %s left", info.id)
            await membership.broadcast({"type": "left", "id": info.id})


async def _heartbeats(channel: Channel, report: Callable[[dict], None]) -> None:
    """Answer the peer's heartbeats with ours, keeping the counters they carry; a silent peer
    is gone after HEARTBEAT_TIMEOUT."""
    while True:
        try:
            header, _ = await asyncio.wait_for(channel.read(), schema.HEARTBEAT_TIMEOUT)
        except asyncio.TimeoutError:
            raise ChannelClosed(f"{channel.peer} missed its heartbeats") from None
        if header["type"] == "heartbeat":
            if isinstance(header.get("stats"), dict):
                report(header["stats"])
            await channel.write({"type": "heartbeat"})
        else:
            await channel.abort(f"unexpected message on the registry: {header['type']!r}")
            return


UNREACHABLE_WARNING_INTERVAL = 10.0  # seconds between warnings of a worker that cannot reach its manager


class RegistryClient:
    """The worker's registration: kept alive for as long as the worker runs."""

    def __init__(self, info: WorkerInfo, manager_address: str, manager_port: int,
                 stats: Callable[[], dict] = dict, on_joined: Callable[[str], None] = lambda peer: None,
                 on_left: Callable[[str], None] = lambda peer: None):
        self.info = info
        self.manager = (manager_address, manager_port)
        self.stats = stats        # counters sent with each heartbeat (shown on the status page)
        self.on_joined, self.on_left = on_joined, on_left
        self.members: Dict[str, WorkerInfo] = {}
        self.registered = asyncio.Event()
        self._stopping = False
        self._retries = Backoff(first=0.1, cap=5.0)

    async def run(self) -> None:
        while not self._stopping:
            try:
                channel = await connect(*self.manager, timeout=UNREACHABLE_WARNING_INTERVAL, max_delay=1.0)
            except TimeoutError as exc:  # said every interval, tried all along
                log.warning("cannot reach the manager at %s:%d (UFORA_MANAGER_ADDRESS, UFORA_MANAGER_PORT): "
                            "%s; still trying", *self.manager, exc.__cause__ or exc)
                continue
            try:
                await self._session(channel)
            except ChannelClosed as exc:
                log.warning("lost the manager at %s:%d (%s); registering again", *self.manager, exc)
            except (ValueError, KeyError, TypeError, asyncio.TimeoutError) as exc:
                log.warning("the manager at %s:%d sent what we cannot use (%r); registering again",
                            *self.manager, exc)
            finally:
                self.registered.clear()
                channel.close()
            await asyncio.sleep(max(0.1, self._retries.next_delay()))  # a refusal is not retried in a tight loop

    async def _session(self, channel: Channel) -> None:
        await channel.write({"type": "register", "worker": asdict(self.info)})
        header, _ = await asyncio.wait_for(channel.read(), schema.HEARTBEAT_TIMEOUT)
        if header["type"] != "welcome":
            raise ChannelClosed(f"manager answered {header['type']!r}: {header.get('message', '')}")
        self.members = {m["id"]: WorkerInfo.from_wire(m) for m in header["members"]}
        self.registered.set()
        log.info("registered with the manager at %s:%d; %d members", *self.manager, len(self.members))
        beating = asyncio.ensure_future(self._beat(channel))
        try:
            while True:
                header, _ = await asyncio.wait_for(channel.read(), schema.HEARTBEAT_TIMEOUT)
                if header["type"] == "joined":
                    info = WorkerInfo.from_wire(header["worker"])
                    self.members[info.id] = info
                    self.on_joined(info.id)
                elif header["type"] == "left":
                    if self.members.pop(header.get("id"), None) is not None:
                        self.on_left(str(header.get("id")))
        except asyncio.TimeoutError:
            raise ChannelClosed("the manager missed its heartbeats") from None
        finally:
            beating.cancel()

    async def _beat(self, channel: Channel) -> None:
        try:
            while True:
                await channel.write({"type": "heartbeat", "stats": self.stats()})
                await asyncio.sleep(schema.HEARTBEAT_INTERVAL)
        except ChannelClosed:
            pass  # the reading side notices and reconnects

    def stop(self) -> None:
        self._stopping = True
