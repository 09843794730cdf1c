"""The manager service: the cluster's front end and block scheduler.

Clients talk only to it, over socket.io on the HTTP port (a ``GET /`` answers a JSON status).
Workers register on its registry port; for each member it opens that worker's control channel
to hand it blocks, and its data channel when a result is too large for the control channel.
Which worker runs what, reruns and remote objects' ownership are decided by the pure
``net.manager_state.ManagerState``; this module is its I/O: socket.io and HTTP for clients,
channels to workers, timers. Each event goes to ``ManagerState.handle``, and ``_carry_out``
does what it answers.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Tuple

import socketio
import tornado.httpserver
import tornado.web

from ufora.net import channel as channels
from ufora.net import auth, client_auth, dashboard, engineio_gate, host_usage, loop_health, schema, tls, uploads
from ufora.net.accepting import GuardedAccept
from ufora.net.background import Background
from ufora.net.blobs import BlobClient, MissingBlob
from ufora.net.comm import Channel, ChannelClosed
from ufora.net.manager_state import (ORPHAN_TIMEOUT, BlockDone, Cancelled, Deliver, Event, Fail, Free, Instruction, Job,
                                      ManagerState, OrphansDue, Released, Run, SessionEnded, StartOrphanTimer, Stop,
                                      Submitted, WorkerJoined, WorkerLost, WorkerReady)
from ufora.net.registry import Membership, WorkerInfo, serve_registry
from ufora.net.results import HTTP_RESULT_THRESHOLD, ResultHandler, ResultLost, ResultStore
from ufora.net.sessions import Sessions
from ufora.net.uploads import UploadHandler, UploadMissing, Uploads

log = logging.getLogger(__name__)

# Largest socket.io message a client may send: larger values are uploaded over HTTP (net.uploads)
MAX_MESSAGE = 2 * schema.UPLOAD_FROM
# With a secret, what a client may make the manager read before it has proven it holds it: a
# websocket message (socket.io's connect packet is well under 1 KB), and an HTTP body (uploads
# raise it for a session's reserved upload)
PRE_AUTH_MESSAGE = 16 << 10
PRE_AUTH_BODY = 64 << 10
FETCH_TIMEOUT = 300.0  # a large result not fetched from its worker by then fails its block


@dataclass
class _WorkerLink:
    """The channels to one registered worker."""
    info: WorkerInfo
    control: Optional[Channel] = None

    def __post_init__(self) -> None:
        self.data = BlobClient(self.info.address, self.info.data_port, self.info.id)
        self.lost = asyncio.Event()  # set when the link closes: the worker left, or was replaced


class ManagerService:
    def __init__(self, http_port: int, registry_port: int, client_timeout: float = 45.0,
                 session_grace: float = 60.0, tls_files: Optional[Tuple[str, str]] = None,
                 secret: Optional[bytes] = None):
        self.ports = (http_port, registry_port)
        self.tls_files = tls_files  # (certificate, key): clients connect with https
        self.secret = secret  # clients must prove they hold it to connect (net.client_auth)
        self.challenges = client_auth.Challenges()
        self._proofs: Dict[str, str] = {}  # connection -> the manager's proof, for its handshake reply
        self.membership = Membership()
        self.membership.on_join.append(self._worker_joined)
        self.membership.on_leave.append(self._worker_left)
        self.links: Dict[str, _WorkerLink] = {}
        self.state = ManagerState()  # the decisions: queue, placement, reruns, ownership
        self.results = ResultStore()  # large results, downloaded over HTTP
        self.sessions = Sessions()
        self._block_numbers = itertools.count(1)  # blocks' ids on the workers: unique, and no session id
        self.uploads = Uploads()
        self.session_grace = session_grace  # seconds a dropped client's remote objects are kept
        # A client that answers no ping for client_timeout seconds is gone: its blocks stop.
        # With a secret, websocket only: a long-polling client's messages arrive as HTTP bodies,
        # which could not be kept small until it has proven the secret (pyfora uses websockets).
        self.sio = socketio.AsyncServer(async_mode="tornado", max_http_buffer_size=MAX_MESSAGE,
                                        transports=["websocket"] if secret is not None else ["polling", "websocket"],
                                        cors_allowed_origins=[], serializer=schema.TolerantPacket,
                                        ping_interval=client_timeout / 2, ping_timeout=client_timeout / 2)
        engineio_gate.guard_messages(self.sio)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        for event, handler in [(schema.HANDSHAKE, self._on_handshake), (schema.SUBMIT, self._on_submit),
                               (schema.CANCEL, self._on_cancel), (schema.FETCH, self._on_fetch),
                               (schema.STATUS, self._on_status), (schema.RELEASE, self._on_release),
                               (schema.GOODBYE, self._on_goodbye)]:
            self.sio.on(event, _guarded(event, handler))
        self.sio.on("*", self._on_unknown)
        self.dashboard = dashboard.Dashboard()
        self._dashboards: Set[str] = set()  # the pages connected to the dashboard's namespace
        self.sio.on("connect", self._on_dashboard_connect, namespace=dashboard.NAMESPACE)
        self.sio.on("disconnect", self._dashboards.discard, namespace=dashboard.NAMESPACE)
        self._servers: list = []
        self.background = Background()  # tasks started and not waited for
        # The worker of the same service, if any, gives its control channel in process
        # (``WorkerService.local_control``): None for every other worker, which is dialed.
        self.local_control: Callable[[WorkerInfo], Optional[Channel]] = lambda info: None

    async def start(self) -> Dict[str, int]:
        registry, registry_port = channels.listen(
            self.ports[1], lambda channel: serve_registry(self.membership, channel),
            setting="UFORA_MANAGER_PORT")
        app = tornado.web.Application([
            (r"/socket.io/", _socketio_handler(self.sio, MAX_MESSAGE if self.secret is None else PRE_AUTH_MESSAGE)),
            (r"/", _StatusHandler, {"manager": self}),
            (r"/api/status", _StatusHandler, {"manager": self, "page": False}),
            (r"/dashboard/(.*)", _PageFileHandler, {"path": dashboard.PAGE_FOLDER}),
            (client_auth.CHALLENGE_PATH, _ChallengeHandler, {"manager": self}),
            (r"/results/([0-9a-f]+)", ResultHandler, {"results": self.results}),
            (r"/uploads/([0-9a-f]{32})", UploadHandler, {"uploads": self.uploads, "sessions": self.sessions}),
        ], websocket_max_message_size=MAX_MESSAGE)
        # bodies are read 1 MiB at a time (Tornado's default, 64 KiB, costs a loop step per 64 KiB)
        http = _HTTPServer(app, max_body_size=MAX_MESSAGE if self.secret is None else PRE_AUTH_BODY,
                           chunk_size=1 << 20, body_timeout=uploads.BODY_TIMEOUT,
                           ssl_options=tls.server_context(*self.tls_files) if self.tls_files else None)
        sockets = channels.bind(self.ports[0], setting="UFORA_WEB_HTTP_PORT")
        http.add_sockets(sockets)
        self._servers = [registry, http]
        self.background.spawn(self._show_dashboards())
        ports = {"http_port": sockets[0].getsockname()[1], "registry_port": registry_port}
        log.info("manager: %s %d, registry %d", "https" if self.tls_files else "http", ports["http_port"],
                 ports["registry_port"])
        return ports

    def status(self, hosts: bool = False) -> dict:
        """The cluster's state (``GET /api/status``); ``hosts``: with each worker's host's memory,
        shared memory and load (``net.host_usage``), which only the dashboard's pages are sent."""
        members = [{"id": link.info.id, "address": link.info.address, "configured_cores": link.info.cores,
                    "running": len(self.state.members[link.info.id].running) if link.info.id in self.state.members
                    else 0, **{name: value for name, value in self.membership.stats.get(link.info.id, {}).items()
                               if hosts or name not in host_usage.FIELDS}}
                   for link in self.links.values()]
        for member in members:  # the compute processes alive now (from its last heartbeat)
            member["cores"] = member.pop("processes_alive", member["configured_cores"])
        return {"version": schema.PROTOCOL_VERSION, "workers": len(self.links),
                "cores": sum(member["cores"] for member in members),
                "members": members,
                "running": self.state.running_count(),
                "pending": len(self.state.pending),
                "objects": len(self.state.objects),
                "clients": len(self.sessions.by_sid),
                "uploads": len(self.uploads),
                "upload_bytes": self.uploads.reserved_bytes(),
                "sessions_waiting": self.sessions.waiting(),
                "loop": loop_health.snapshot()}


    # ---- clients -----------------------------------------------------------------------
    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        """A client connects: with a secret set, only with a proof that it holds it
        (``net.client_auth``), before it can claim a session or send any event."""
        if self.secret is not None:
            self._authenticate(sid, environ, auth)
        session, resumed, replaced = self.sessions.connect(sid, auth)
        handler = environ.get("tornado.handler")
        self.dashboard.client_connected(session.id, handler.request.remote_ip if handler is not None else "?")
        if replaced is not None:  # the client saw the old connection drop before we did, and
            self._handle(Cancelled(session.id))  # failed the futures of its blocks
            self.background.spawn(self.sio.disconnect(replaced))
        log.info("client %s connected%s", sid, " (resuming its session)" if resumed else "")

    def _authenticate(self, sid: str, environ: dict, claim: Any) -> None:
        """Check a connecting client's proof and keep the manager's for its handshake reply;
        else refuse the connection, saying why (logged once per address)."""
        claim = claim if isinstance(claim, dict) else {}
        session = str(claim.get("session", ""))
        problem = self._proof_problem(claim, lambda nonce, mine: client_auth.client_proof(self.secret, nonce, mine,
                                                                                          session))
        if problem is None:
            assert self.secret is not None
            nonce, client_nonce, session = (str(claim.get(name, "")) for name in ("challenge", "nonce", "session"))
            self._proofs[sid] = client_auth.manager_proof(self.secret, nonce, client_nonce, session)
            websocket = getattr(environ.get("tornado.handler"), "ws_connection", None)
            if websocket is not None:  # proven: from now on, messages as large as any client's
                websocket.params.max_message_size = MAX_MESSAGE
            return
        self._refuse(environ, "a client", problem)

    def _proof_problem(self, claim: dict, expected: Callable[[str, str], str],
                       missing: str = "pass pyfora.connect(url, secret=...) or set UFORA_SECRET") -> Optional[str]:
        """Why ``claim`` does not prove the cluster's secret (the proof ``expected(challenge,
        its nonce)``), or None if it does."""
        assert self.secret is not None
        nonce, client_nonce = str(claim.get("challenge", "")), str(claim.get("nonce", ""))
        if "proof" not in claim:
            return f"this cluster requires its secret: {missing}"
        if not self.challenges.take(nonce, time.monotonic()):
            return "the challenge is unknown, used or expired: connect again"
        if not client_auth.matches(claim["proof"], expected(nonce, client_nonce)):
            return "the secret does not match this cluster's (UFORA_CLUSTER_SECRET)"
        return None

    @staticmethod
    def _refuse(environ: dict, who: str, problem: str) -> None:
        handler = environ.get("tornado.handler")
        auth.log_refusal(handler.request.remote_ip if handler is not None else "?", who, problem)
        raise socketio.exceptions.ConnectionRefusedError(f"authentication failed: {problem}")

    async def _on_dashboard_connect(self, sid: str, environ: dict, claim: Any = None) -> None:
        """A dashboard page connects (read-only: it is sent ``status``, and nothing it sends is
        read); with a secret set, only with a proof that it holds it (``net.dashboard``)."""
        if self.secret is not None:
            secret = self.secret
            problem = self._proof_problem(claim if isinstance(claim, dict) else {},
                                          lambda nonce, mine: client_auth.dashboard_proof(secret, nonce, mine),
                                          "enter it in the page")
            if problem is not None:
                self._refuse(environ, "a dashboard page", problem)
        if len(self._dashboards) >= dashboard.MAX_PAGES:
            raise socketio.exceptions.ConnectionRefusedError(
                f"{dashboard.MAX_PAGES} dashboard pages are open already: close one")
        self._dashboards.add(sid)

    @staticmethod
    def _show(record: Callable[..., None], *args: Any) -> None:
        """Tell the dashboard (``record(*args)``): a failure there is logged, never the block's."""
        try:
            record(*args)
        except Exception:
            log.exception("the dashboard could not record %s", getattr(record, "__name__", record))

    def dashboard_view(self) -> dict:
        """What a dashboard page shows now (``net.dashboard``)."""
        running = [(job, member_id) for member_id, member in self.state.members.items()
                   for job in member.running.values()]
        return self.dashboard.snapshot(self.status(hosts=True), running, list(self.state.pending))

    async def _show_dashboards(self) -> None:
        """Once a second: a point of the timeline, and the view to every page connected."""
        while True:
            await asyncio.sleep(1.0)
            try:
                self.dashboard.sample([job_id for member in self.state.members.values() for job_id in member.running],
                                      [job.cluster_job_id for job in self.state.pending if "job_id" in job.header])
                if self._dashboards:
                    await self.sio.emit(dashboard.EVENT, self.dashboard_view(), namespace=dashboard.NAMESPACE)
            except Exception:  # the dashboard must never stop the manager
                log.exception("could not update the dashboard")

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
                "resumed": session is not None and session.connections > 1, "proof": self._proofs.get(sid)}

    async def _on_submit(self, sid: str, data) -> None:
        """Queue a block. Not acknowledged (one round trip less per block): a malformed
        submission is answered with its JOB_DONE carrying the error."""
        session = self.sessions.session_of(sid)
        try:
            sent = schema.submission(data)
            free_variables = sent.free_variables
            if isinstance(free_variables, str):  # uploaded ahead of it
                free_variables = self.uploads.claim(session, free_variables)
        except UploadMissing as exc:
            await self._fail(Job(str(data.get("job_id")), session, {}, []), str(exc))
            return
        except (KeyError, TypeError, ValueError) as exc:
            job_id = str(data.get("job_id")) if isinstance(data, dict) else "?"
            await self._fail(Job(job_id, session, {}, []), f"malformed submission: {exc!r}")
            return
        header = {"type": "run_block", "job_id": f"{next(self._block_numbers)}:{sent.job_id}",
                  "filename": sent.filename, "with_line": sent.with_line, "download_below": sent.download_below,
                  "unread": sent.unread}
        buffers = [sent.source.encode(), free_variables, json.dumps(sent.sources).encode()]
        job = Job(str(data.get("job_id")), session, header, buffers, sent.objects)
        self._show(self.dashboard.submitted, job)
        self._handle(Submitted(job))

    async def _on_cancel(self, sid: str, data) -> None:
        self._handle(Cancelled(self.sessions.session_of(sid), schema.cancel(data)))

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
        self._proofs.pop(sid, None)
        session = self.sessions.disconnect(sid)
        if session is None:  # replaced by the client's new connection
            return
        self._handle(Cancelled(session.id))
        why = str(reason[0]) if reason else ""
        if session.closing or not session.named:
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
            self.dashboard.session_ended(session_id)
            self._handle(SessionEnded(session_id))

    async def _fetch(self, job: Job, link: _WorkerLink, key: str, capability: str,
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
        request = schema.fetch(data)
        job, object_id = Job(request.job_id, self.sessions.session_of(sid), {}, []), request.object_id
        problem = self.state.object_problem(object_id, job.session)
        if problem is not None:
            await self._fail(job, problem)
            return
        held = self.state.objects[object_id]
        link = self.links.get(held.worker_id)
        if link is None:
            await self._fail(job, f"remote object {object_id} was lost with worker {held.worker_id}, which held it")
            return
        buffers = await self._fetch(job, link, object_id, held.capability, f"remote object {object_id}")
        if buffers is not None:
            await self._finish(job, {"names": ["value"], "error": None, "parts": [len(buffers) - 1]}, buffers)

    async def _on_release(self, sid: str, data) -> None:
        object_ids = schema.release(data)
        if object_ids:
            self._handle(Released(self.sessions.session_of(sid), object_ids))

    def _handle(self, event: Event) -> None:
        """``event`` to the state; what it answers, carried out. The blocks a cancel stops are
        the dashboard's to show as such."""
        before = self._blocks_alive() if isinstance(event, Cancelled) else set()
        for instruction in self.state.handle(event):
            self._carry_out(instruction)
        if before:
            self._show(self.dashboard.cancelled, before - self._blocks_alive())

    def _blocks_alive(self) -> Set[str]:
        """The cluster ids of the blocks running and waiting."""
        return {*(job.cluster_job_id for job in self.state.pending),
                *(job_id for member in self.state.members.values() for job_id in member.running)}

    def _carry_out(self, instruction: Instruction) -> None:
        if isinstance(instruction, Run):
            job = instruction.job
            self.background.spawn(self._send(instruction.worker_id, job.header, job.buffers))
        elif isinstance(instruction, Stop):
            self.background.spawn(self._send(instruction.worker_id,
                                             {"type": "cancel", "job_id": instruction.cluster_job_id}))
        elif isinstance(instruction, Free):
            self.background.spawn(self._send(instruction.worker_id,
                                             {"type": "release", "object_ids": instruction.object_ids}))
        elif isinstance(instruction, Fail):
            self.background.spawn(self._fail(instruction.job, instruction.message))
        elif isinstance(instruction, Deliver):
            self.background.spawn(self._deliver(instruction))
        elif isinstance(instruction, StartOrphanTimer):
            asyncio.get_running_loop().call_later(ORPHAN_TIMEOUT, self._handle, OrphansDue(instruction.reason))

    async def _finish(self, job: Job, header: dict, buffers: List[bytes]) -> None:
        await self._send_done(job, header, job_done_message(job.client_job_id, header, buffers))

    async def _offer(self, job: Job, link: _WorkerLink, header: dict) -> None:
        """A result left on its worker's data channel goes to the client from there: its JOB_DONE
        says where (the worker's data address, the result's key and the capability for it: that
        result, nothing else), and holds a download here that fetches it from the worker, for a
        client that cannot reach it (net.results)."""
        worker_id, key, capability = link.info.id, str(header["blob"]), str(header.get("blob_capability"))

        async def relay() -> List[bytes]:
            """The result from the worker; ``ResultLost`` at once if the worker leaves meanwhile
            (its data port refuses us then: a fetch would retry until its deadline)."""
            current = self.links.get(worker_id)
            if current is None:
                raise ResultLost(f"worker {worker_id}, which held the result, was lost")
            fetching = asyncio.ensure_future(asyncio.wait_for(current.data.fetch(key, capability), FETCH_TIMEOUT))
            lost = asyncio.ensure_future(current.lost.wait())
            await asyncio.wait([fetching, lost], return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            if not fetching.done():
                fetching.cancel()
                raise ResultLost(f"worker {worker_id}, which held the result, was lost")
            try:
                return fetching.result()
            except (ChannelClosed, MissingBlob, TimeoutError, asyncio.TimeoutError) as exc:
                raise ResultLost(f"the result could not be fetched from worker {worker_id}: "
                                 f"{str(exc) or type(exc).__name__}") from None

        message = job_done_message(job.client_job_id, header, None)
        message["direct"] = {"address": link.info.address, "port": link.info.data_port, "key": key,
                             "capability": capability, "tls": channels.dials_tls()}
        message["download"] = {"path": self.results.put(relay), "sizes": [int(size) for size in header["blob_sizes"]]}
        await self._send_done(job, header, message)

    async def _send_done(self, job: Job, header: dict, message: dict) -> None:
        self._show(self.dashboard.finished, job, message["error"])
        objects = header.get("objects") or {}
        message["objects"] = objects
        sid = self.sessions.sid_of(job.session)
        if sid is None:  # gone while its block ran: nobody will free them
            self._handle(Released(job.session, [str(described["id"]) for described in objects.values()]))
            return
        variables = message["variables"]  # None: on the worker's data channel (``_offer``)
        if variables is not None and sum(len(value) for value in variables) > HTTP_RESULT_THRESHOLD:
            message["download"] = {"path": self.results.put(variables), "sizes": [len(value) for value in variables]}
            message["variables"] = None
        elif variables is not None:
            message["variables"] = [schema.wire_bytes(value) for value in variables]
        if message["error"] is not None and isinstance(message["error"]["pickled"], (bytes, memoryview)):
            message["error"]["pickled"] = schema.wire_bytes(message["error"]["pickled"])
        await self.sio.emit(schema.JOB_DONE, message, to=sid)

    async def _fail(self, job: Job, message: str) -> None:
        await self._finish(job, {"names": [], "error": {
            "type_name": "InternalError", "message": message, "trace": "", "pickled": False}}, [])

    # ---- workers -----------------------------------------------------------------------
    def _worker_joined(self, info: WorkerInfo) -> None:
        previous = self.links.get(info.id)
        if previous is not None:  # registered again before its old session ended
            self._close_link(previous)
        link = _WorkerLink(info)
        self.links[info.id] = link
        self._handle(WorkerJoined(info))
        self.background.spawn(self._drive_link(link))

    def _worker_left(self, info: WorkerInfo) -> None:
        link = self.links.get(info.id)
        if link is not None and link.info is info:
            del self.links[info.id]
            self._close_link(link)

    @staticmethod
    def _close_link(link: _WorkerLink) -> None:
        link.lost.set()
        if link.control is not None:
            link.control.close()
        link.data.close()

    async def _drive_link(self, link: _WorkerLink) -> None:
        """Open the worker's control channel, then read its results until it goes away."""
        info = link.info
        try:
            link.control = (self.local_control(info)
                            or await channels.connect(info.address, info.control_port, timeout=10.0))
            # A first frame at once: a connection that sends nothing is closed after a minute.
            await link.control.write({"type": "heartbeat"})
            self._handle(WorkerReady(info))
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
            self._handle(WorkerLost(info, f"worker {info.id} at {info.address} was lost while running this block"))

    async def _notify(self, link: _WorkerLink, header: dict) -> None:
        """A block's output or progress, on to its client."""
        job = self.state.running_job(link.info.id, str(header.get("job_id")))
        sid = None if job is None else self.sessions.sid_of(job.session)
        if sid is None:  # cancelled, or its client is reconnecting (which cancels it)
            return
        if header["type"] == "progress":
            fields = {name: schema.count(header.get(name)) for name in schema.PROGRESS_FIELDS}
            self._show(self.dashboard.progressed, job, link.info.id, fields,
                       dashboard.counts_by_worker(header.get("partitions_by_worker")))
            await self.sio.emit(schema.PROGRESS, {"job_id": job.client_job_id, **fields}, to=sid)
        elif header.get("stream") in schema.STREAMS:
            text = str(header.get("text", ""))
            acknowledged = {"type": "output_ack", "job_id": job.cluster_job_id, "chars": len(text)}
            worker_id = link.info.id
            await self.sio.emit(schema.OUTPUT,
                                {"job_id": job.client_job_id, "stream": header["stream"], "text": text},
                                to=sid, callback=lambda *_: self.background.spawn(self._send(worker_id, acknowledged)))

    async def _block_done(self, link: _WorkerLink, header: dict, buffers: List[bytes]) -> None:
        """A block's result: the state says whether it goes to its client (``_deliver``)."""
        self._handle(BlockDone(link.info.id, header, buffers))

    async def _deliver(self, delivery: Deliver) -> None:
        """A result to its client: fetched from the worker's data channel first if it left it
        there. One that cannot be delivered fails the block, and what it kept is freed."""
        job, link = delivery.job, self.links.get(delivery.worker_id)
        buffers = delivery.buffers
        try:
            if "blob" in delivery.header and link is None:
                await self._fail(job, f"the result could not be fetched: worker {delivery.worker_id} was lost")
                buffers = None
            elif "blob" in delivery.header:
                await self._offer(job, link, delivery.header)
                return
            if buffers is not None:
                await self._finish(job, delivery.header, buffers)
                return
        except Exception as exc:  # a malformed result must still end the client's wait
            log.exception("result of block %s unusable", job.cluster_job_id)
            await self._fail(job, f"the result of this block could not be delivered: {exc!r}")
        self._handle(Released(job.session, delivery.kept))

    async def _send(self, worker_id: str, header: dict, buffers: List[bytes] = ()) -> None:
        link = self.links.get(worker_id)
        try:
            if link is not None and link.control is not None:
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


def _socketio_handler(sio: socketio.AsyncServer, first_message_limit: int) -> type:
    """python-socketio's Tornado handler, with Nagle off (a result with binary attachments is
    several websocket frames: with Nagle on, each waits for the client's delayed ACK, ~40 ms),
    without permessage-deflate (payloads are pickles and arrays: deflating them costs more
    time than it saves, and large ones are already lz4-compressed where it pays), and taking
    messages of at most ``first_message_limit`` bytes until the client is authenticated (the
    limit is checked from a frame's header, before its payload is read)."""
    base = socketio.get_tornado_handler(sio)

    class Handler(base):  # type: ignore[misc, valid-type]
        @property
        def max_message_size(self) -> int:
            return first_message_limit

        async def open(self, *args, **kwargs):
            self.set_nodelay(True)
            await super().open(*args, **kwargs)

        def get_compression_options(self):
            return None

        async def post(self, *args, **kwargs):
            why = engineio_gate.refused_body(self.request.body)
            if why is None:
                await super().post(*args, **kwargs)
                return
            log.warning("a long-polling client at %s sent %s: refused", self.request.remote_ip, why)
            self.set_status(400)
            self.finish("not engine.io packets")

        async def on_message(self, message):
            why = engineio_gate.refused(message)
            if why is None:
                await super().on_message(message)
            elif not self._refused:  # the rest of the connection is not read
                self._refused = True
                log.warning("a websocket from %s sent %s: closed", self.request.remote_ip, why)
                self.close(1002, "not an engine.io packet")

        _refused = False

    return Handler


def job_done_message(job_id: str, header: dict, buffers: Optional[List[bytes]]) -> dict:
    """The client's JOB_DONE message for a worker's ``block_done`` header and buffers (None: the
    client fetches them; then an error's "pickled" says only whether its pickle is among them,
    after the variables)."""
    names = list(header.get("names") or [])
    parts = [int(count) for count in header.get("parts") or [0] * len(names)]
    if len(parts) != len(names):
        raise ValueError(f"{len(parts)} counts of parts for {len(names)} variables")
    count = len(names) + sum(parts)
    error = header.get("error")
    if error is not None and buffers is None:
        error = dict(error, pickled=bool(error.get("pickled")) or None)
    elif error is not None:
        error = dict(error, pickled=bytes(buffers[count]) if error.get("pickled") else None)
    return {"job_id": job_id, "names": names, "variables": None if buffers is None else buffers[:count],
            "error": error, "parts": parts, "cpython_seconds": schema.seconds(header.get("cpython_seconds")),
            "warming_seconds": schema.seconds(header.get("warming_seconds")) or 0.0}


class _ChallengeHandler(tornado.web.RequestHandler):
    """A fresh nonce for a client to prove, when it connects, that it holds the cluster's
    secret (``net.client_auth``); or that this cluster has none."""

    def initialize(self, manager: ManagerService) -> None:
        self.manager = manager

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        if self.manager.secret is None:
            self.write(json.dumps({"secret_required": False}))
        else:
            self.write(json.dumps({"secret_required": True,
                                   "nonce": self.manager.challenges.issue(time.monotonic())}))


class _StatusHandler(tornado.web.RequestHandler):
    """The manager's status as JSON (``/api/status``); at ``/``, the dashboard's page to a browser
    (a request that accepts text/html and not application/json), the JSON to anything else."""

    def initialize(self, manager: ManagerService, page: bool = True) -> None:
        self.manager = manager
        self.page = page

    def get(self) -> None:
        accepted = self.request.headers.get("Accept", "")
        if self.page and "text/html" in accepted and "application/json" not in accepted:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            for name, value in dashboard.PAGE_HEADERS.items():
                self.set_header(name, value)
            self.write(dashboard.page())
            return
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.manager.status()))


class _PageFileHandler(tornado.web.StaticFileHandler):
    """The dashboard's script and style, with the page's own rules (``dashboard.PAGE_HEADERS``)."""

    def set_extra_headers(self, path: str) -> None:
        for name, value in dashboard.PAGE_HEADERS.items():
            self.set_header(name, value)
