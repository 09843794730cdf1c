"""The worker registry: who is in the cluster, served by the manager (port 30002).

``Membership`` is the logic (plain, no I/O). ``serve_registry`` runs one registered worker's
connection: its ``register`` frame, the ``welcome`` answer with every member, heartbeats both
ways, and ``joined``/``left`` pushed to everyone. ``RegistryClient`` is the worker's side: it
registers, keeps its view of the members, and when the manager goes away retries with backoff
and registers again.

A worker registers with a random key of its own (``net.identity``): an id that is a live member
is taken again only with that member's key, and each member learns, instead of the others' keys,
the tokens they prove themselves with to it. Keys never leave the registry: not in ``welcome``,
``joined``, the status page, or a log line.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

from ufora.net import identity, schema
from ufora.net.backoff import Backoff
from ufora.net.channel import Refused, connect
from ufora.net.comm import Channel, ChannelClosed

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
    """Members, their keys, and the channels to push membership changes on."""

    def __init__(self) -> None:
        self.members: Dict[str, WorkerInfo] = {}
        self.keys: Dict[str, str] = {}  # id -> the key it registered with (never sent to anyone)
        self.channels: Dict[str, Channel] = {}
        self.stats: Dict[str, dict] = {}  # what each worker last reported with its heartbeat
        self.on_join: List[Listener] = []
        self.on_leave: List[Listener] = []

    def admits(self, worker_id: str, key: str) -> bool:
        """A new id, or a live member's registered again with its own key (its connection to
        the registry dropped, and it came back before we noticed)."""
        known = self.keys.get(worker_id)
        return known is None or hmac.compare_digest(known.encode(), key.encode())

    def tokens_for(self, audience: str) -> Dict[str, str]:
        """What each other member proves itself with to ``audience`` (``net.identity``)."""
        return {worker_id: identity.token(key, audience) for worker_id, key in self.keys.items()
                if worker_id != audience}

    def join(self, info: WorkerInfo, key: str, channel: Channel) -> None:
        self.members[info.id] = info
        self.keys[info.id] = key
        self.channels[info.id] = channel
        for listener in self.on_join:
            listener(info)

    def leave(self, worker_id: str) -> Optional[WorkerInfo]:
        info = self.members.pop(worker_id, None)
        self.keys.pop(worker_id, None)
        self.channels.pop(worker_id, None)
        self.stats.pop(worker_id, None)
        if info is not None:
            for listener in self.on_leave:
                listener(info)
        return info

    async def broadcast(self, header: Callable[[str], dict], skip: str = "") -> None:
        """``header(id)`` to each member but ``skip``."""
        for worker_id, channel in list(self.channels.items()):
            if worker_id != skip:
                try:
                    await channel.write(header(worker_id))
                except ChannelClosed:
                    pass


KEY_LENGTHS = range(32, 257)  # characters of a worker's key (identity.new_key draws 64)


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
    key = header.get("key")
    if not isinstance(key, str) or len(key) not in KEY_LENGTHS:
        await channel.abort(f"a register carries the worker's key, {KEY_LENGTHS.start} to {KEY_LENGTHS.stop - 1} "
                            "characters (a worker of another release?)")
        return
    if not membership.admits(info.id, key):
        identity.log_refusal(channel, f"a register of worker {info.id} (a live member, registered with another key)")
        await channel.abort(f"worker {info.id} is a member already, registered with another key")
        return
    membership.join(info, key, channel)
    log.info("worker %s joined from %s:%d (%d cores)", info.id, info.address, info.control_port, info.cores)
    try:
        await channel.write({"type": "welcome", "members": [asdict(m) for m in membership.members.values()],
                             "tokens": membership.tokens_for(info.id)})
        await membership.broadcast(lambda audience: {"type": "joined", "worker": asdict(info),
                                                     "token": identity.token(key, audience)}, skip=info.id)
        await _heartbeats(channel, lambda stats: membership.stats.__setitem__(info.id, stats))
    finally:
        if membership.channels.get(info.id) is channel:
            membership.leave(info.id)
            log.info("worker %s left", info.id)
            await membership.broadcast(lambda _: {"type": "left", "id": info.id})


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

    def __init__(self, info: WorkerInfo, key: str, manager_address: str, manager_port: int,
                 stats: Callable[[], dict] = dict, on_joined: Callable[[str], None] = lambda peer: None,
                 on_left: Callable[[str], None] = lambda peer: None):
        self.info = info
        self.key = key           # ours: proves our id to the registry (net.identity)
        self.manager = (manager_address, manager_port)
        self.stats = stats        # counters sent with each heartbeat (shown on the status page)
        self.on_joined, self.on_left = on_joined, on_left
        self.members: Dict[str, WorkerInfo] = {}
        self.tokens: Dict[str, str] = {}  # id -> what that member proves itself with to us
        self._announced = asyncio.Condition()  # notified when members join
        self.registered = asyncio.Event()
        self._stopping = False
        self._retries = Backoff(first=0.1, cap=5.0)
        self._refusal_said = False  # since it last registered

    async def run(self) -> None:
        while not self._stopping:
            try:
                channel = await connect(*self.manager, timeout=UNREACHABLE_WARNING_INTERVAL, max_delay=1.0,
                                        refused=self._refused)
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

    def _refused(self, error: Refused) -> None:
        """The first refusal since it registered is said at once, not after the 10 s of tries a
        warning sums up (it says it again): the user need not wait to learn which setting to fix."""
        if not self._refusal_said:
            self._refusal_said = True
            log.warning("the manager at %s:%d refuses this worker: %s; still trying", *self.manager, error)

    async def _session(self, channel: Channel) -> None:
        await channel.write({"type": "register", "worker": asdict(self.info), "key": self.key})
        header, _ = await asyncio.wait_for(channel.read(), schema.HEARTBEAT_TIMEOUT)
        if header["type"] != "welcome":
            raise ChannelClosed(f"manager answered {header['type']!r}: {header.get('message', '')}")
        self.members = {m["id"]: WorkerInfo.from_wire(m) for m in header["members"]}
        self.tokens = {str(worker_id): str(token) for worker_id, token in dict(header["tokens"]).items()}
        await self._announce()
        self.registered.set()
        self._refusal_said = False
        log.info("registered with the manager at %s:%d; %d members", *self.manager, len(self.members))
        beating = asyncio.ensure_future(self._beat(channel))
        try:
            while True:
                header, _ = await asyncio.wait_for(channel.read(), schema.HEARTBEAT_TIMEOUT)
                if header["type"] == "joined":
                    info = WorkerInfo.from_wire(header["worker"])
                    self.members[info.id], self.tokens[info.id] = info, str(header["token"])
                    await self._announce()
                    self.on_joined(info.id)
                elif header["type"] == "left":
                    gone = str(header.get("id"))
                    self.tokens.pop(gone, None)
                    if self.members.pop(gone, None) is not None:
                        self.on_left(gone)
        except asyncio.TimeoutError:
            raise ChannelClosed("the manager missed its heartbeats") from None
        finally:
            beating.cancel()

    async def _announce(self) -> None:
        async with self._announced:
            self._announced.notify_all()

    async def token(self, worker_id: str) -> Optional[str]:
        """What member ``worker_id`` proves itself with to us; None if the registry does not
        announce it within ``identity.INTRODUCTION_TIMEOUT`` (a member that just joined can dial
        us before its ``joined`` reaches us)."""
        async with self._announced:
            try:
                await asyncio.wait_for(self._announced.wait_for(lambda: worker_id in self.tokens),
                                       identity.INTRODUCTION_TIMEOUT)
            except asyncio.TimeoutError:
                return None
            return self.tokens[worker_id]

    async def _beat(self, channel: Channel) -> None:
        try:
            while True:
                await channel.write({"type": "heartbeat", "stats": self.stats()})
                await asyncio.sleep(schema.HEARTBEAT_INTERVAL)
        except ChannelClosed:
            pass  # the reading side notices and reconnects

    def stop(self) -> None:
        self._stopping = True
