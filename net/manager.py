"""The manager service: the cluster's front end and block scheduler.

Clients talk only to it, over socket.io on the HTTP port (a ``GET /`` answers a JSON status).
Workers register on its registry port; for each member it opens that worker's control channel
to hand it blocks, and its data channel when a result is too large for the control channel.
A block goes to the member with the fewest running blocks per core; while no worker is
registered, blocks wait. A worker that leaves while driving blocks: each is run again from the
start on another worker (blocks are re-runnable: the client's values are still here), up to
MAX_RERUNS times; if no worker is left to take it within ORPHAN_TIMEOUT, it fails with an
error that says so.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple

import socketio
import tornado.httpserver
import tornado.web

from net import channel as channels
from net import loop_health, schema, tls, uploads
from net.accepting import GuardedAccept
from net.background import Background
from net.blobs import BlobClient, MissingBlob
from net.channel import Channel, ChannelClosed
from net.registry import Membership, WorkerInfo, serve_registry
from net.sessions import Sessions
from net.uploads import UploadHandler, UploadMissing, Uploads

log = logging.getLogger(__name__)

# Largest socket.io message a client may send: larger values are uploaded over HTTP (net.uploads)
MAX_MESSAGE = 2 * schema.UPLOAD_FROM
MAX_RERUNS = 2
# Larger results are downloaded by the client over plain HTTP (several times faster than a
# websocket message), once, within DOWNLOAD_TIMEOUT.
HTTP_RESULT_THRESHOLD = 8 << 20
DOWNLOAD_TIMEOUT = 300.0
FETCH_TIMEOUT = 300.0  # a large result not fetched from its worker by then fails its block
ORPHAN_TIMEOUT = 10.0


@dataclass
class _Job:
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
class _RemoteObject:
    """A value kept on a worker for a client (pyfora's ``RemotePythonObject``)."""
    session: str
    worker_id: str
    size: int
    capability: str  # to fetch it from its worker's data channel (net.blobs): never sent to the client
    released: bool = False  # by the client, while a block that uses it waits or runs


@dataclass
class _WorkerLink:
    info: WorkerInfo
    control: Optional[Channel] = None
    running: Dict[str, _Job] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = BlobClient(self.info.address, self.info.data_port, self.info.id)

    @property
    def load(self) -> float:
        return len(self.running) / max(1, self.info.cores)


class ManagerService:
    def __init__(self, http_port: int, registry_port: int, client_timeout: float = 45.0,
                 session_grace: float = 60.0, tls_files: Optional[Tuple[str, str]] = None):
        self.ports = (http_port, registry_port)
        self.tls_files = tls_files  # (certificate, key): clients connect with https
        self.membership = Membership()
        self.membership.on_join.append(self._worker_joined)
        self.membership.on_leave.append(self._worker_left)
        self.links: Dict[str, _WorkerLink] = {}
        self.pending: Deque[_Job] = deque()
        self.downloads: Dict[str, List[bytes]] = {}  # token -> a large result's buffers
        self.objects: Dict[str, _RemoteObject] = {}  # object id -> where it is, whose it is
        self.sessions = Sessions()
        self._block_numbers = itertools.count(1)  # blocks' ids on the workers: unique, and no session id
        self.uploads = Uploads()
        self.session_grace = session_grace  # seconds a dropped client's remote objects are kept
        # A client that answers no ping for client_timeout seconds is gone: its blocks stop.
        self.sio = socketio.AsyncServer(async_mode="tornado", max_http_buffer_size=MAX_MESSAGE,
                                        cors_allowed_origins=[], serializer=schema.TolerantPacket,
                                        ping_interval=client_timeout / 2, ping_timeout=client_timeout / 2)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        for event, handler in [(schema.HANDSHAKE, self._on_handshake), (schema.SUBMIT, self._on_submit),
                               (schema.CANCEL, self._on_cancel), (schema.FETCH, self._on_fetch),
                               (schema.STATUS, self._on_status), (schema.RELEASE, self._on_release),
                               (schema.GOODBYE, self._on_goodbye)]:
            self.sio.on(event, _guarded(event, handler))
        self.sio.on("*", self._on_unknown)
        self._servers: list = []
        self.background = Background()  # tasks started and not waited for

    async def start(self) -> Dict[str, int]:
        registry, registry_port = channels.listen(
            self.ports[1], lambda channel: serve_registry(self.membership, channel),
            setting="UFORA_MANAGER_PORT")
        app = tornado.web.Application([
            (r"/socket.io/", _socketio_handler(self.sio)),
            (r"/", _StatusHandler, {"manager": self}),
            (r"/results/([0-9a-f]+)", _ResultHandler, {"manager": self}),
            (r"/uploads/([0-9a-f]{32})", UploadHandler, {"uploads": self.uploads, "sessions": self.sessions}),
        ], websocket_max_message_size=MAX_MESSAGE)
        # bodies are read 1 MiB at a time (Tornado's default, 64 KiB, costs a loop step per 64 KiB)
        http = _HTTPServer(app, max_body_size=MAX_MESSAGE, chunk_size=1 << 20, body_timeout=uploads.BODY_TIMEOUT,
                           ssl_options=tls.server_context(*self.tls_files) if self.tls_files else None)
        sockets = channels.bind(self.ports[0], setting="UFORA_WEB_HTTP_PORT")
        http.add_sockets(sockets)
        self._servers = [registry, http]
        ports = {"http_port": sockets[0].getsockname()[1], "registry_port": registry_port}
        log.info("manager: %s %d, registry %d", "https" if self.tls_files else "http", ports["http_port"],
                 ports["registry_port"])
        return ports

    def status(self) -> dict:
        members = [{"id": link.info.id, "address": link.info.address, "configured_cores": link.info.cores,
                    "running": len(link.running), **self.membership.stats.get(link.info.id, {})}
                   for link in self.links.values()]
        for member in members:  # the compute processes alive now (from its last heartbeat)
            member["cores"] = member.pop("processes_alive", member["configured_cores"])
        return {"version": schema.PROTOCOL_VERSION, "workers": len(self.links),
                "cores": sum(member["cores"] for member in members),
                "members": members,
                "running": sum(len(link.running) for link in self.links.values()),
                "pending": len(self.pending),
                "objects": len(self.objects),
                "clients": len(self.sessions.by_sid),
                "uploads": len(self.uploads),
                "upload_bytes": self.uploads.reserved_bytes(),
                "sessions_waiting": self.sessions.waiting(),
                "loop": loop_health.snapshot()}


    # ---- clients -----------------------------------------------------------------------
    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        session, resumed, replaced = self.sessions.connect(sid, auth)
        if replaced is not None:  # the client saw the old connection drop before we did, and
            self._cancel(lambda job: job.session == session.id)  # failed the futures of its blocks
            self.background.spawn(self.sio.disconnect(replaced))
        log.info("client %s connected%s", sid, " (resuming its session)" if resumed else "")

    async def _on_unknown(self, event: str, sid: str, *args) -> dict:
        if event == schema.MALFORMED:
            log.warning("client %s sent a packet that cannot be decoded (%.200s); ignored", sid, args)
            return {"error": f"a packet that cannot be decoded: {args}"}
        log.warning("client %s sent an unknown event %.100r; ignored", sid, event)
        return {"error": f"unknown event {event[:100]!r}"}

    async def _on_status(self, sid: str, data) -> dict:
        return self.status()

    async def _on_handshake(self, sid: str, data) -> dict:
        session = self.sessions.by_sid.get(sid)
        return {"version": schema.PROTOCOL_VERSION, "workers": len(self.links),
                "resumed": session is not None and session.connections > 1}

    def _session(self, sid: str) -> str:
        """The session whose connection ``sid`` sent an event."""
        return self.sessions.session_of(sid) or f"sid:{sid}"

    async def _on_submit(self, sid: str, data) -> None:
        """Queue a block. Not acknowledged (one round trip less per block): a malformed
        submission is answered with its JOB_DONE carrying the error."""
        job_id = str(data.get("job_id")) if isinstance(data, dict) else "?"
        session = self._session(sid)
        try:
            if not isinstance(data, dict):
                raise TypeError(f"a submission is an object, not {type(data).__name__}")
            download_below = data.get("download_below")
            header = {"type": "run_block", "job_id": f"{next(self._block_numbers)}:{job_id[:64]}",
                      "filename": str(data["filename"]), "with_line": int(data["with_line"]),
                      "download_below": None if download_below is None else int(download_below)}
            objects = [str(object_id) for object_id in data.get("objects") or ()]
            sources = {str(k): str(v) for k, v in dict(data.get("sources") or {}).items()}
            buffers = [str(data["source"]).encode(), self._free_variables(session, data["free_variables"]),
                       json.dumps(sources).encode()]
        except UploadMissing as exc:
            await self._fail(_Job(job_id, session, {}, []), str(exc))
            return
        except (KeyError, TypeError, ValueError) as exc:
            await self._fail(_Job(job_id, session, {}, []), f"malformed submission: {exc!r}")
            return
        self.pending.append(_Job(job_id, session, header, buffers, objects))
        self._dispatch()

    def _free_variables(self, session: str, sent: Any) -> Any:
        """A submission's free variables: sent in it, or uploaded ahead of it."""
        if isinstance(sent, dict):
            return self.uploads.claim(session, str(sent["upload"]))
        return schema.bytes_from_wire(sent)

    async def _on_cancel(self, sid: str, data) -> None:
        job_id = str(data.get("job_id")) if isinstance(data, dict) else ""
        session = self._session(sid)
        self._cancel(lambda job: job.client_job_id == job_id and job.session == session)

    async def _on_goodbye(self, sid: str, data) -> None:
        """The client closes its session: at its disconnect, which follows, nothing is kept."""
        session = self.sessions.by_sid.get(sid)
        if session is not None:
            session.closing = True

    async def _on_disconnect(self, sid: str, *reason) -> None:
        """A client whose connection ended wants none of its blocks (it failed their futures).
        One that said goodbye wants none of its remote objects either; one whose connection
        ended otherwise (a crash, a network failure, a handshake that failed) keeps them for
        ``session_grace`` seconds, to find them again if it reconnects."""
        session = self.sessions.disconnect(sid)
        if session is None:  # replaced by the client's new connection
            return
        self._cancel(lambda job: job.session == session.id)
        why = str(reason[0]) if reason else ""
        if session.closing or session.id.startswith("sid:"):
            self._end_session(session.id)
            log.info("client %s disconnected", sid)
            return
        log.info("client %s disconnected (%s); its remote objects are kept %.0f s for it to reconnect", sid, why,
                 self.session_grace)
        asyncio.get_running_loop().call_later(self.session_grace, self._end_session, session.id, session.drops)

    def _end_session(self, session_id: str, drop: Optional[int] = None) -> None:
        """Free a disconnected session's remote objects (given ``drop``: if it has not
        reconnected since)."""
        if self.sessions.end(session_id, drop):
            self.uploads.drop_session(session_id)
            self._release(session_id, [key for key, held in self.objects.items() if held.session == session_id])

    async def _fetch(self, job: _Job, link: _WorkerLink, key: str, capability: str,
                     what: str) -> Optional[List[bytes]]:
        """A blob's buffers from a worker's data channel, with the capability the worker handed
        out for it; None once ``job`` is failed with the reason, whatever went wrong (the client
        must never wait for nothing)."""
        try:
            return await asyncio.wait_for(link.data.fetch(key, capability), FETCH_TIMEOUT)
        except (ChannelClosed, MissingBlob, TimeoutError, asyncio.TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
        except Exception as exc:
            log.exception("fetching %s from worker %s failed", key, link.info.id)
            reason = repr(exc)
        await self._fail(job, f"{what} could not be fetched from worker {link.info.id}: {reason}")
        return None

    async def _on_fetch(self, sid: str, data) -> None:
        """``toLocal()``: a remote object's pickle, answered like a block that assigned it to
        ``value`` (so that large ones are downloaded over HTTP the same way)."""
        job = _Job(str(data.get("job_id")) if isinstance(data, dict) else "?", self._session(sid), {}, [])
        object_id = str(data.get("object_id")) if isinstance(data, dict) else ""
        problem = self._object_problem(object_id, job.session)
        if problem is not None:
            await self._fail(job, problem)
            return
        held = self.objects[object_id]
        buffers = await self._fetch(job, self.links[held.worker_id], object_id, held.capability,
                                    f"remote object {object_id}")
        if buffers is not None:
            await self._finish(job, {"names": ["value"], "error": None, "parts": len(buffers) - 1}, buffers)

    async def _on_release(self, sid: str, data) -> None:
        object_ids = data.get("object_ids") if isinstance(data, dict) else None
        if isinstance(object_ids, list):
            self._release(self._session(sid), [str(object_id) for object_id in object_ids])

    def _release(self, session: str, object_ids: List[str]) -> None:
        """Free the client's objects on the workers that hold them; those a waiting or running
        block uses are freed when no such block is left (``_free_released``)."""
        in_use = self._in_use()
        by_worker: Dict[str, List[str]] = {}
        for object_id in object_ids:
            held = self.objects.get(object_id)
            if held is None or held.session != session:
                continue
            if object_id in in_use:
                held.released = True
            else:
                del self.objects[object_id]
                by_worker.setdefault(held.worker_id, []).append(object_id)
        for worker_id, keys in by_worker.items():
            self._drop_on(self.links.get(worker_id), keys)

    def _in_use(self) -> set:
        jobs = [*self.pending, *(job for link in self.links.values() for job in link.running.values())]
        return {object_id for job in jobs for object_id in job.objects}

    def _free_released(self) -> None:
        if not any(held.released for held in self.objects.values()):
            return
        released: Dict[str, List[str]] = {}
        for object_id, held in self.objects.items():
            if held.released:
                released.setdefault(held.session, []).append(object_id)
        for session, object_ids in released.items():
            self._release(session, object_ids)

    def _drop_on(self, link: Optional[_WorkerLink], object_ids: List[str]) -> None:
        if link is not None and link.control is not None and object_ids:
            self.background.spawn(self._send(link, {"type": "release", "object_ids": object_ids}))

    def _cancel(self, chosen: Callable[[_Job], bool]) -> None:
        """Stop the chosen blocks: dropped if they wait, stopped on their workers if they run."""
        self.pending = deque(job for job in self.pending if not chosen(job))
        for link in self.links.values():
            for job in [job for job in link.running.values() if chosen(job)]:
                del link.running[job.cluster_job_id]
                log.info("cancelling block %s on worker %s", job.cluster_job_id, link.info.id)
                self.background.spawn(self._send(link, {"type": "cancel", "job_id": job.cluster_job_id}))
        self._free_released()
        self._dispatch()

    async def _finish(self, job: _Job, header: dict, buffers: List[bytes]) -> None:
        message = job_done_message(job.client_job_id, header, buffers)
        objects = header.get("objects") or {}
        for described in objects.values():
            self.objects[described["id"]] = _RemoteObject(job.session, header["worker_id"], described["size"],
                                                          str(described.pop("capability", "")))
        message["objects"] = objects
        sid = self.sessions.sid_of(job.session)
        if sid is None:  # gone while its block ran: nobody will free them
            self._release(job.session, [described["id"] for described in objects.values()])
            return
        if sum(len(value) for value in message["variables"]) > HTTP_RESULT_THRESHOLD:
            token = uuid.uuid4().hex
            self.downloads[token] = message["variables"]
            asyncio.get_running_loop().call_later(DOWNLOAD_TIMEOUT, self.downloads.pop, token, None)
            message["download"] = {"path": f"/results/{token}",
                                   "sizes": [len(value) for value in message["variables"]]}
            message["variables"] = None
        else:
            message["variables"] = [schema.wire_bytes(value) for value in message["variables"]]
        if message["error"] is not None and message["error"]["pickled"] is not None:
            message["error"]["pickled"] = schema.wire_bytes(message["error"]["pickled"])
        await self.sio.emit(schema.JOB_DONE, message, to=sid)

    async def _fail(self, job: _Job, message: str) -> None:
        await self._finish(job, {"names": [], "error": {
            "type_name": "InternalError", "message": message, "trace": "", "pickled": False}}, [])

    # ---- workers -----------------------------------------------------------------------
    def _worker_joined(self, info: WorkerInfo) -> None:
        previous = self.links.get(info.id)
        if previous is not None:  # registered again before its old session ended
            self._close_link(previous)
        link = _WorkerLink(info)
        self.links[info.id] = link
        self.background.spawn(self._drive_link(link))

    def _worker_left(self, info: WorkerInfo) -> None:
        link = self.links.get(info.id)
        if link is not None and link.info is info:
            del self.links[info.id]
            self._close_link(link)

    @staticmethod
    def _close_link(link: _WorkerLink) -> None:
        if link.control is not None:
            link.control.close()
        link.data.close()

    async def _drive_link(self, link: _WorkerLink) -> None:
        """Open the worker's control channel, then read its results until it goes away."""
        info = link.info
        try:
            link.control = await channels.connect(info.address, info.control_port, timeout=10.0)
            # A first frame at once: a connection that sends nothing is closed after a minute.
            await link.control.write({"type": "heartbeat"})
            self._dispatch()
            while True:
                header, buffers = await link.control.read()
                if header["type"] == "block_done":
                    await self._block_done(link, header, buffers)
                elif header["type"] in ("output", "progress"):
                    await self._notify(link, header)
                elif header["type"] != "heartbeat":
                    log.warning("worker %s sent %r on its control channel", info.id, header["type"])
        except (ChannelClosed, TimeoutError) as exc:
            log.warning("control channel to worker %s lost: %s", info.id, exc)
        except Exception:  # a bug, or input we do not understand: its blocks must not be lost
            log.exception("the link to worker %s failed", info.id)
        finally:
            if self.links.get(info.id) is link:
                del self.links[info.id]
            self._close_link(link)
            for job in link.running.values():
                await self._rerun(job, f"worker {info.id} at {info.address} was lost while running this block")
            link.running.clear()
            self._dispatch()

    async def _rerun(self, job: _Job, reason: str) -> None:
        if job.reruns >= MAX_RERUNS:
            await self._fail(job, f"{reason}, and it was already run {job.reruns + 1} times")
            return
        job.reruns += 1
        log.warning("%s: running block %s again (%d of %d)", reason, job.client_job_id, job.reruns, MAX_RERUNS)
        self.pending.appendleft(job)
        if not self.links:
            asyncio.get_running_loop().call_later(
                ORPHAN_TIMEOUT, lambda: self.background.spawn(self._fail_orphans(reason)))

    async def _fail_orphans(self, reason: str) -> None:
        """Blocks waiting to run again, with still no worker to run them, fail."""
        if self.links:
            return
        orphans = [job for job in self.pending if job.reruns]
        self.pending = deque(job for job in self.pending if not job.reruns)
        for job in orphans:
            await self._fail(job, f"{reason}, and no worker was left to run it again within {ORPHAN_TIMEOUT:.0f} s")
        self._free_released()

    async def _notify(self, link: _WorkerLink, header: dict) -> None:
        """A block's output or progress, on to its client."""
        job = link.running.get(str(header.get("job_id")))
        sid = None if job is None else self.sessions.sid_of(job.session)
        if sid is None:  # cancelled, or its client is reconnecting (which cancels it)
            return
        if header["type"] == "progress":
            fields = {name: int(header.get(name, 0)) for name in schema.PROGRESS_FIELDS}
            await self.sio.emit(schema.PROGRESS, {"job_id": job.client_job_id, **fields}, to=sid)
        elif header.get("stream") in ("stdout", "stderr"):
            text = str(header.get("text", ""))
            acknowledged = {"type": "output_ack", "job_id": job.cluster_job_id, "chars": len(text)}
            await self.sio.emit(schema.OUTPUT,
                                {"job_id": job.client_job_id, "stream": header["stream"], "text": text},
                                to=sid, callback=lambda *_: self.background.spawn(self._send(link, acknowledged)))

    async def _block_done(self, link: _WorkerLink, header: dict, buffers: List[bytes]) -> None:
        job = link.running.pop(str(header.get("job_id")), None)
        kept = [str(described.get("id")) for described in dict(header.get("objects") or {}).values()]
        if job is None:  # cancelled meanwhile: nobody will ask for what it kept
            self._drop_on(link, kept)
            return
        if header.get("driver_lost"):
            if job.lost_on is None:  # like a lost worker: run again once, elsewhere if possible
                job.lost_on = link.info.id
                log.warning("block %s: %s; running it again once", job.cluster_job_id, _error_message(header))
                self.pending.appendleft(job)
                self._dispatch()
                return
            header = dict(header, error={**header["error"], "message":
                          f"{_error_message(header)} (it was run again once, and its process died again)"})
        try:
            if "blob" in header:
                buffers = await self._fetch(job, link, str(header["blob"]), str(header.get("blob_capability")),
                                            "the result")
                if buffers is None:
                    self._drop_on(link, kept)
            if buffers is not None:
                await self._finish(job, dict(header, worker_id=link.info.id), buffers)
        except Exception as exc:  # a malformed result must still end the client's wait
            log.exception("result of block %s unusable", job.cluster_job_id)
            self._drop_on(link, kept)
            await self._fail(job, f"the result of this block could not be delivered: {exc!r}")
        self._free_released()
        self._dispatch()

    def _dispatch(self) -> None:
        ready = [link for link in self.links.values() if link.control is not None]
        while self.pending and ready:
            job = self.pending.popleft()
            problems = list(filter(None, (self._object_problem(key, job.session) for key in job.objects)))
            if problems:
                self.background.spawn(self._fail(job, f"the block cannot run: {problems[0]}"))
                continue
            owners = {object_id: self.objects[object_id].worker_id for object_id in job.objects}
            link = _driver_for(job, owners, ready, self.objects)
            job.header["objects"] = owners
            # for the driver to fetch those held elsewhere: only for the blocks of their owner
            job.header["capabilities"] = {object_id: self.objects[object_id].capability for object_id in owners}
            link.running[job.cluster_job_id] = job
            self.background.spawn(self._send(link, job.header, job.buffers))

    def _object_problem(self, object_id: str, session: str) -> Optional[str]:
        """Why the client's ``session`` cannot use a remote object, or None if it can."""
        held = self.objects.get(object_id)
        if held is None or held.session != session:
            return f"remote object {object_id} was freed, or never existed"
        if held.worker_id not in self.links:
            return f"remote object {object_id} was lost with worker {held.worker_id}, which held it"
        return None

    async def _send(self, link: _WorkerLink, header: dict, buffers: List[bytes] = ()) -> None:
        try:
            await link.control.write(header, buffers)
        except ChannelClosed:
            pass  # _drive_link notices the loss and runs its blocks again elsewhere

    def stop(self) -> None:
        self.background.cancel_all()
        for server in self._servers:
            server.stop()


class _HTTPServer(GuardedAccept, tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, accepting without a tight loop when descriptors run out."""


def _guarded(event: str, handler: Callable[[str, Any], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A socket.io event handler that takes what any client sends: one argument is the event's
    data, none or several are passed as None or a list (the handler then refuses them); an
    error in it is one log line and, for an acknowledged event, an ``{"error"}`` answer, never
    a traceback per frame."""
    async def guarded(sid: str, *args: Any) -> Any:
        data = args[0] if len(args) == 1 else (list(args) or None)
        try:
            return await handler(sid, data)
        except Exception as exc:  # noqa: BLE001 - whatever a client sends must not break the manager
            log.warning("client %s sent a malformed %r event: %.200r", sid, event, exc)
            return {"error": f"malformed {event!r} event: {exc!r}"}
    return guarded


def _socketio_handler(sio: socketio.AsyncServer) -> type:
    """python-socketio's Tornado handler, with Nagle off (a result with binary attachments is
    several websocket frames: with Nagle on, each waits for the client's delayed ACK, ~40 ms)
    and without permessage-deflate (payloads are pickles and arrays: deflating them costs more
    time than it saves, and large ones are already lz4-compressed where it pays)."""
    base = socketio.get_tornado_handler(sio)

    class Handler(base):  # type: ignore[misc, valid-type]
        async def open(self, *args, **kwargs):
            self.set_nodelay(True)
            await super().open(*args, **kwargs)

        def get_compression_options(self):
            return None

    return Handler


def _error_message(header: dict) -> str:
    return str((header.get("error") or {}).get("message", ""))


def _driver_for(job: _Job, owners: Dict[str, str], ready: List[_WorkerLink],
                objects: Dict[str, _RemoteObject]) -> _WorkerLink:
    """The worker to drive a block: the one holding most bytes of its remote objects (they are
    not moved then), else the least loaded; not the one where its process died, if another
    can take it."""
    ready = [link for link in ready if link.info.id != job.lost_on] or ready
    held_bytes: Dict[str, int] = {}
    for object_id, worker_id in owners.items():
        held_bytes[worker_id] = held_bytes.get(worker_id, 0) + objects[object_id].size
    holders = [link for link in ready if link.info.id in held_bytes]
    if holders:
        return max(holders, key=lambda link: (held_bytes[link.info.id], -link.load))
    return min(ready, key=lambda link: link.load)


def job_done_message(job_id: str, header: dict, buffers: List[bytes]) -> dict:
    """The client's JOB_DONE message for a worker's ``block_done`` header and buffers."""
    names = list(header.get("names") or [])
    count = len(names) + int(header.get("parts", 0))
    error = header.get("error")
    if error is not None:
        error = dict(error, pickled=bytes(buffers[count]) if error.get("pickled") else None)
    return {"job_id": job_id, "names": names, "variables": buffers[:count], "error": error,
            "parts": count - len(names)}


class _ResultHandler(tornado.web.RequestHandler):
    """A large result's buffers, one after the other, for the one client that was told the
    token; gone once downloaded. Sent in chunks (Tornado writes only bytes: a chunk at a time
    is copied, not the whole result)."""

    CHUNK = 16 << 20

    def initialize(self, manager: ManagerService) -> None:
        self.manager = manager

    async def get(self, token: str) -> None:
        buffers = self.manager.downloads.pop(token, None)
        if buffers is None:
            raise tornado.web.HTTPError(404, "no such result (downloaded already, or expired)")
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(sum(len(buffer) for buffer in buffers)))
        for buffer in buffers:
            view = memoryview(buffer).cast("B")
            for at in range(0, len(view), self.CHUNK):
                self.write(bytes(view[at:at + self.CHUNK]))
                await self.flush()


class _StatusHandler(tornado.web.RequestHandler):
    def initialize(self, manager: ManagerService) -> None:
        self.manager = manager

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.manager.status()))
