"""The client's socket.io connection to the manager: handshake, submissions, notifications.

Every submission (and every fetch of a remote object) gets a ``RemoteFuture`` resolved by the
manager's ``job_done`` notification, turned into what the caller wants by a ``transform`` (a
block's variables, a proxy, a value); a connection that breaks fails every pending future at
once with ``pyfora.ConnectionError``. Cancelling a future stops its work on the cluster.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from concurrent.futures import Future, InvalidStateError
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union, cast

import engineio
import numpy as np
import requests
import socketio
import websocket

from ufora.engine import buffered_pickles, client_objects, log_records, warned
from ufora.net import client_auth, result_fetch, schema, tls
from ufora.net.backoff import Backoff
from pyfora.link_state import LinkState
from pyfora.tls_websocket import SerializedTLSWebSocket
from pyfora.Exceptions import ConnectionError

log = logging.getLogger(__name__)

RELEASE_DELAY = 0.5  # seconds: frees of remote objects are sent together
# python-socketio's reasons for a disconnect, said the way a user can act on them
_DISCONNECT_CAUSES = {
    "client disconnect": "closed by this client",
    "server disconnect": "the manager closed it",
    "transport error": "the manager went away, stopped answering, or the network between us failed",
}
_CLIENT_DISCONNECT = "client disconnect"
_open_connections: "weakref.WeakSet[Connection]" = weakref.WeakSet()
_READ_CHUNK = 4 << 20
# Taking a result from its worker: connecting (TLS and the secret's handshake included), then
# each read; past them the client asks the manager for it instead.
DIRECT_CONNECT_TIMEOUT = 5.0
DIRECT_READ_TIMEOUT = 60.0


_NUMPY_MASK_FROM = 64 << 10  # bytes
_ALIGN = 64  # bytes: where each downloaded buffer starts


def _aligned_empty(nbytes: int) -> np.ndarray:
    """``nbytes`` of uninitialised memory starting at an address aligned to _ALIGN."""
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    skip = -raw.ctypes.data % _ALIGN
    return raw[skip:skip + nbytes]


class _LargeFrame(websocket.ABNF):
    """A client's websocket frame is masked (XOR with a 4-byte key); websocket-client does it
    with Python integers, 30 ms for a 3 MB upload: numpy, four bytes at a time, in 5 ms."""

    def _get_masked(self, mask_key) -> bytes:
        key = mask_key.encode("latin-1") if isinstance(mask_key, str) else mask_key
        data = cast(bytes, self.data)  # always bytes here: _send_now encodes text first
        whole = len(data) // 4
        masked = bytearray(4 + len(data))
        masked[:4] = key
        np.frombuffer(masked, np.uint32, count=whole, offset=4)[:] = (
            np.frombuffer(data, np.uint32, count=whole) ^ np.frombuffer(key, np.uint32)[0])
        for index in range(whole * 4, len(data)):
            masked[4 + index] = data[index] ^ key[index % 4]
        return bytes(masked)


class _InlineEngineIOClient(engineio.Client):
    """engineio's client starts a thread for every message it receives (a result with binary
    attachments is several messages). Our handlers only resolve futures and never block, so they
    run in the reader thread: about 0.2 ms less per block. And it sends every packet from a
    writer thread, woken through a queue; on a websocket, packets are sent by the caller
    instead (the socket.io client keeps one event's packets together): about 0.1 ms less."""

    def _trigger_event(self, event, *args, **kwargs):
        kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)

    def _send_packet(self, pkt):
        if self.state == "connected" and self.ws is not None:
            try:
                self._send_now(pkt)
                return
            except (websocket.WebSocketConnectionClosedException, OSError):
                pass  # the writer thread meets the same error and ends the connection
        super()._send_packet(pkt)

    def _send_now(self, pkt) -> None:
        data = pkt.encode()
        if len(data) < _NUMPY_MASK_FROM:
            (self.ws.send_binary if pkt.binary else self.ws.send)(data)
            return
        opcode = websocket.ABNF.OPCODE_BINARY if pkt.binary else websocket.ABNF.OPCODE_TEXT
        self.ws.send_frame(_LargeFrame(1, 0, 0, 0, opcode, 1, data.encode() if isinstance(data, str) else data))

    def _read_loop_websocket(self):
        """engineio's, then the websocket closed: engineio leaves it open when the connection
        ended in an error (a reset, a timeout), and its socket lingered, as did the manager's
        side of it, until the client was collected. The websocket is the one this loop read:
        by the time it ends, a reconnect may have put another in its place."""
        ws = self.ws
        try:
            super()._read_loop_websocket()
        finally:
            ws.shutdown()

    def _write_loop(self):
        """Sends what was queued before the websocket was up. engineio's own loop ends the
        connection when its queue stays empty for a ping interval, which is always the case
        here: packets go out from the callers."""
        while self.state == "connected":
            try:
                pkt = self.queue.get(timeout=1.0)
            except self.queue_empty:
                continue
            self.queue.task_done()
            if pkt is None:  # the connection is closing
                break
            try:
                self._send_now(pkt)
            except (websocket.WebSocketConnectionClosedException, OSError):
                log.warning("the websocket to the manager closed")
                break
        self.write_loop_task = None


class _SocketIOClient(socketio.Client):
    """A socket.io client whose events go out whole: an event with binary attachments is several
    engineio packets, which two threads emitting at once must not interleave."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sending = threading.Lock()

    def _engineio_client_class(self):
        return _InlineEngineIOClient

    def _send_packet(self, pkt):
        with self._sending:
            super()._send_packet(pkt)


class HeldReleases:
    """``Connection.hold_releases``'s hold: ``end()`` (once; again does nothing) lets them go."""

    def __init__(self, connection: "Connection"):
        self._connection: Optional["Connection"] = connection

    def end(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection._hold_ended()


class RemoteFuture(Future):
    """A ``concurrent.futures.Future`` for work on the cluster: ``cancel()`` also stops the work
    there, and Ctrl-C while waiting in ``result()`` or ``exception()`` cancels it, then raises
    ``KeyboardInterrupt`` as usual."""

    def __init__(self, connection: "Connection", job_id: str, transform: Callable[[dict], Any]):
        super().__init__()
        self.job_id = job_id
        self._connection = connection
        self._transform = transform
        self._progress_callbacks: List[Callable[[dict], None]] = []

    def add_progress_callback(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(status)`` on each progress notification of this work (see
        ``net.schema.PROGRESS``), in the connection's reader thread."""
        self._progress_callbacks.append(callback)

    def notify_progress(self, status: dict) -> None:
        for callback in self._progress_callbacks:
            try:
                callback(status)
            except Exception:  # a broken callback must not break the connection
                log.exception("the status callback failed")

    def cancel(self) -> bool:
        if self.done():
            return False
        self._connection.cancel(self)
        return super().cancel()

    def result(self, timeout: Optional[float] = None) -> Any:
        try:
            return super().result(timeout)
        except KeyboardInterrupt:
            if not self.cancel():  # it came as Ctrl-C did: nobody will see it
                self._abandon()
            raise

    def _abandon(self) -> None:
        """Free the remote objects of a JOB_DONE that came, untransformed, for a caller who will
        not see it (a user's trial: Ctrl-C as a block ended left them on the cluster until
        ``close()``); a transformed result holds proxies, which free their own."""
        try:
            value = super().result(0)
        except BaseException:  # noqa: B902 - its error, or cancelled: nothing held
            return
        if isinstance(value, dict):
            self._connection.release_all(value)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        try:
            return super().exception(timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise

    def resolve(self, message: dict) -> None:
        """Called with the manager's JOB_DONE (downloaded already): the transformed result.
        Remote objects of a result nobody will see (the future was cancelled) are freed."""
        if self.done():
            self._connection.release_all(message)
            return
        try:
            value = self._transform(message)
        except BaseException as exc:  # noqa: B902  (the caller of result() gets it)
            self.fail(exc)
        else:
            try:
                self.set_result(value)
            except InvalidStateError:  # cancelled meanwhile, in another thread
                if value is message:  # untransformed: no proxy frees its objects
                    self._connection.release_all(message)

    def fail(self, exc: BaseException) -> None:
        try:
            self.set_exception(exc)
        except InvalidStateError:  # done or cancelled meanwhile, in another thread
            pass


def _placed(message: dict, buffers: List[Any]) -> dict:
    """A JOB_DONE with the buffers downloaded for it in place: its variables (each pickle and its
    parts), then, where its error's "pickled" says True, that error's pickle."""
    count = len(message["names"]) + sum(message.get("parts") or ())
    if len(buffers) < count:
        raise ConnectionError(f"the result came with {len(buffers)} buffers where {count} were expected")
    error = message.get("error")
    if error is not None and error.get("pickled") is True:
        error = dict(error, pickled=bytes(buffers[count]))
    return dict(message, variables=list(buffers[:count]), error=error)


def _with_root_cause(exc: BaseException) -> str:
    """``exc``'s message, and the error it stems from when that says more (socket.io's
    "Connection error" hides a refused port or a certificate that failed verification)."""
    root, below = exc, exc.__cause__ or exc.__context__
    while below is not None:
        root, below = below, below.__cause__ or below.__context__
    return str(exc) if root is exc or not str(root) else f"{exc} ({root})"


def _keep_message(message: dict) -> dict:
    return message


class Connection(client_objects.ClientObject):  # sent to the cluster as a reference
    """One client's connection to the manager, for one session (its remote objects and blocks).

    A connection that drops without ``close()`` is opened again in the background, with backoff,
    for up to ``timeout`` seconds: the manager keeps the session's remote objects for a grace
    period (``UFORA_SESSION_GRACE``), so proxies made before the drop work after it. Futures
    pending at the drop fail at once with ``ConnectionError`` naming the cause; calls made while
    reconnecting wait for it."""

    def __init__(self, url: str, timeout: float, tls_ca: Optional[str] = None, secret: Optional[bytes] = None):
        self.url = url
        self._timeout = timeout
        self._secret = secret  # the cluster's: given, each connection proves it both ways (net.client_auth)
        self._refusal: Optional[str] = None  # why the manager refused the last connect, if it said
        self._session = uuid.uuid4().hex  # names this client's session to the manager, across connections
        self._futures: Dict[str, RemoteFuture] = {}
        self._lock = threading.Lock()
        # object ids dropped by the client, not yet told: a deque, appended to without a lock
        # (``release`` runs in __del__, which the garbage collector may call anywhere)
        self._released: Deque[str] = deque()
        self._release_due = False
        self._holding = threading.Lock()
        self._held = 0  # blocks and calls being captured and sent, which hold the releases back
        self._output_failed = False
        self._warning_registries: Dict[str, dict] = {}  # engine.warned.issue_here's, of modules not here
        self._state = LinkState()  # up, down, or reconnecting (pyfora.link_state)
        self._closing = threading.Event()  # wakes the reconnecting thread's waits
        # request_timeout bounds the websocket's opening handshake (engineio's default is 5 s).
        # websocket-client checks text frames' UTF-8 in Python (90% of the time of receiving a
        # block's printed output); decoding them checks it anyway, in C.
        # handle_sigint=False: python-socketio's own SIGINT handler would disconnect every client
        # on Ctrl-C (and hide the handler the user had); a Ctrl-C cancels the work it interrupts,
        # and the executor stays connected.
        # one requests session for uploads, downloads and the websocket's TLS settings: an https
        # manager is verified against tls_ca if given, else the system's authorities. Uploads and
        # downloads are large and rare: their connections are not kept open.
        self._http = requests.Session()
        if tls_ca is not None:
            if not os.path.isfile(tls_ca):
                raise ConnectionError(f"the certificates to trust for {url}, {tls_ca!r}, are not a file")
            self._http.verify = tls_ca  # for the websocket (engineio reads it from the session)
        # the workers' data channels, where a large result is taken from: verified against tls_ca
        # alone (net.tls), as the services verify each other; without it, only the manager is tried
        try:
            self._worker_tls = tls.peer_context(tls_ca) if tls_ca is not None else None
        except tls.TLSConfigError as exc:
            raise ConnectionError(f"the certificates to trust for {url}, {tls_ca!r}, cannot be used: {exc}") from None
        self._unreachable: set = set()  # workers' data addresses this client could not reach
        # for requests, explicitly: $REQUESTS_CA_BUNDLE would win over the session's setting
        self._verify = tls_ca or True
        self._sio = _SocketIOClient(reconnection=False, request_timeout=timeout, handle_sigint=False,
                                    http_session=self._http,
                                    websocket_extra_options={"skip_utf8_validation": True,
                                                             "class_": SerializedTLSWebSocket})
        self._sio.on(schema.JOB_DONE, self._on_job_done)
        self._sio.on(schema.OUTPUT, self._on_output)
        self._sio.on(schema.PROGRESS, self._on_progress)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on("connect_error", self._on_connect_error)
        try:
            self._open(time.monotonic() + timeout)  # the whole of connecting, not each step, within timeout
        except BaseException:
            self._http.close()  # its pooled connection (the authentication challenge's)
            raise
        _open_connections.add(self)

    def _open(self, deadline: float) -> dict:
        """Connect and shake hands with the manager before ``deadline``: its handshake reply,
        else ``ConnectionError`` saying why not. With a secret, the manager must prove it holds
        it too before anything it sends is trusted."""
        auth, expected = {"session": self._session}, None
        if self._secret is not None:
            auth, expected = self._claim(deadline)
        self._refusal = None
        try:
            self._sio.connect(self.url, transports=["websocket"], auth=auth,
                              wait_timeout=max(0.1, deadline - time.monotonic()))
            reply = self._sio.call(schema.HANDSHAKE, {"version": schema.PROTOCOL_VERSION},
                                   timeout=max(0.1, deadline - time.monotonic()))
        except (socketio.exceptions.ConnectionError, socketio.exceptions.TimeoutError, OSError) as exc:
            self._sio.disconnect()
            if self._refusal is not None:
                raise ConnectionError(f"the manager at {self.url} refused this client: {self._refusal}") from None
            raise ConnectionError(f"cannot connect to a ufora manager at {self.url}: {_with_root_cause(exc)}") \
                from None
        if not isinstance(reply, dict) or reply.get("version") != schema.PROTOCOL_VERSION:
            self._sio.disconnect()
            theirs = reply.get("version") if isinstance(reply, dict) else reply
            raise ConnectionError(f"the manager at {self.url} speaks protocol version {theirs}; this pyfora "
                                  f"speaks version {schema.PROTOCOL_VERSION}: install matching versions")
        if expected is not None and not client_auth.matches(reply.get("proof"), expected):
            self._sio.disconnect()
            raise ConnectionError(f"authentication failed: the manager at {self.url} did not prove that it holds "
                                  "the cluster's secret; nothing it sent was used")
        return reply

    def _claim(self, deadline: float) -> Tuple[dict, str]:
        """The connect ``auth`` that proves this client holds the secret, over a fresh challenge
        from the manager; and the proof the manager must answer with."""
        assert self._secret is not None
        try:
            with self._http.get(self.url + client_auth.CHALLENGE_PATH, verify=self._verify,
                                timeout=max(0.1, deadline - time.monotonic())) as reply:
                reply.raise_for_status()
                challenge = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise ConnectionError(f"cannot connect to a ufora manager at {self.url}: its authentication "
                                  f"challenge failed: {_with_root_cause(exc)}") from None
        if not isinstance(challenge, dict) or not challenge.get("secret_required"):
            raise ConnectionError(f"authentication failed: the manager at {self.url} runs without a cluster "
                                  "secret, so it cannot prove it is your cluster; to use an open cluster, "
                                  "connect without secret= and without UFORA_SECRET")
        nonce, mine = str(challenge.get("nonce")), client_auth.new_nonce()
        claim = {"session": self._session, "challenge": nonce, "nonce": mine,
                 "proof": client_auth.client_proof(self._secret, nonce, mine, self._session)}
        return claim, client_auth.manager_proof(self._secret, nonce, mine, self._session)

    def _on_connect_error(self, data: Any = None) -> None:
        """The manager refused the connection: keep what it said, for the error."""
        message = data.get("message") if isinstance(data, dict) else data
        self._refusal = str(message) if message else None

    def _reconnect(self) -> None:
        """Open the dropped connection again, with backoff, for up to ``timeout`` seconds."""
        try:
            self._reconnect_until(time.monotonic() + self._timeout)
        finally:
            if self._closing.is_set():  # close() came during an attempt: what that attempt opened
                self._http.close()      # (a pooled HTTP connection for its challenge) goes too

    def _reconnect_until(self, deadline: float) -> None:
        backoff = Backoff(first=0.1, cap=2.0)
        failure = "no attempt"
        while not self._state.closed:
            # never at once: socket.io finishes tearing the old connection down after our handler
            delay = max(backoff.next_delay(), 0.05)
            if time.monotonic() + delay >= deadline or self._closing.wait(delay):
                break
            drops = self._state.drops
            try:
                reply = self._open(deadline)
            except Exception as exc:  # noqa: BLE001 - whatever failed, it is one more failed attempt
                failure = str(exc) or type(exc).__name__
                continue
            if self._state.up_again(drops):
                if reply.get("resumed"):
                    log.warning("reconnected to the manager at %s", self.url)
                else:
                    log.warning("reconnected to the manager at %s, which no longer knew this session "
                                "(restarted, or the session outlived its grace period): remote objects "
                                "made before are gone", self.url)
                return
            if self._state.closed:  # close() came while this connection was being opened
                self._end_session()
        self._state.gave_up(failure, self._timeout)

    def _check_connected(self) -> None:
        """Wait for a reconnect under way; then ``ConnectionError`` if still disconnected."""
        down = self._state.settled_down(self._timeout + 5.0)
        if down is not None:
            since, cause = down
            raise ConnectionError(f"this executor is disconnected from the manager at {self.url} since "
                                  f"{time.strftime('%H:%M:%S', time.localtime(since))} ({cause}); "
                                  "connect again with pyfora.connect()")

    def _across_a_drop(self, send: Callable[[], Any], failed: str) -> Any:
        """``send()``; if the connection drops under it, once more after reconnecting. Else a
        ``ConnectionError``: the manager at the URL ``failed``, and why."""
        for attempt in (1, 2):
            self._check_connected()
            try:
                return send()
            except (socketio.exceptions.SocketIOError, OSError) as exc:
                if attempt == 2 or self._state.down is None:
                    raise ConnectionError(f"the manager at {self.url} {failed}: "
                                          f"{str(exc) or type(exc).__name__}") from None

    def worker_count(self) -> int:
        return int(self._status()["workers"])

    def cluster_cores(self) -> int:
        """The compute processes alive on all workers (the manager's status)."""
        return int(self._status()["cores"])

    def _status(self) -> dict:
        return self._across_a_drop(lambda: self._sio.call(schema.STATUS, {}, timeout=self._timeout), "did not answer")

    def submit(self, submission: dict, transform: Callable[[dict], Any] = _keep_message) -> RemoteFuture:
        """Send a block; the future's result is ``transform`` of the manager's ``job_done``.
        Large free variables are uploaded over HTTP first (net.uploads); those pickled with their
        large buffers apart (``engine.buffered_pickles``) are sent so, or joined where small."""
        free_variables = submission.get("free_variables")
        if isinstance(free_variables, (bytes, buffered_pickles.Buffered)) and len(free_variables) >= schema.UPLOAD_FROM:
            upload_id = self._across_a_drop(lambda: self._upload(free_variables), "did not take the upload")
            submission = dict(submission, free_variables={"upload": upload_id})
        elif isinstance(free_variables, buffered_pickles.Buffered):
            submission = dict(submission, free_variables=schema.wire_bytes(free_variables.joined()))
        return self._request(schema.SUBMIT, submission, transform)

    def _upload(self, data: Union[bytes, buffered_pickles.Buffered]) -> str:
        """PUT ``data`` to the manager for this session: its upload id. A network failure is an
        OSError (``_across_a_drop`` tries again after reconnecting); a refusal, ConnectionError.
        A ``Buffered`` goes piece by piece, its arrays from their own memory."""
        upload_id = uuid.uuid4().hex
        # (a Parts yields memoryviews, which http.client sends as it sends bytes)
        body: Any = buffered_pickles.Parts(data) if isinstance(data, buffered_pickles.Buffered) else data
        try:
            reply = self._http.put(f"{self.url}/uploads/{upload_id}", data=body, timeout=(self._timeout, 600),
                                   verify=self._verify,
                                   headers={schema.SESSION_HEADER: self._session, "Connection": "close",
                                            "Content-Type": "application/octet-stream"})
        except requests.ConnectionError as exc:
            raise OSError(f"the upload of {len(data)} bytes broke: {exc}") from None
        except requests.RequestException as exc:
            raise ConnectionError(f"the manager at {self.url} did not take an upload of {len(data)} bytes: "
                                  f"{exc}") from None
        if reply.status_code != 200:
            raise ConnectionError(f"the manager at {self.url} refused an upload of {len(data)} bytes: "
                                  f"{reply.status_code} {reply.reason}")
        return upload_id

    def fetch(self, object_id: str, transform: Callable[[dict], Any]) -> RemoteFuture:
        """Ask for a remote object's value; the future's result is ``transform`` of the
        ``job_done`` carrying it."""
        return self._request(schema.FETCH, {"object_id": object_id}, transform)

    def _request(self, event: str, data: dict, transform: Callable[[dict], Any]) -> RemoteFuture:
        future = RemoteFuture(self, uuid.uuid4().hex, transform)

        def register() -> None:
            with self._lock:
                self._futures[future.job_id] = future

        def send() -> None:
            self._flush_releases()
            if not self._state.register_if_up(register):  # a drop's sweep fails every future
                raise OSError("the connection dropped")  # registered before it, and no other
            try:
                self._sio.emit(event, dict(data, job_id=future.job_id))
            except BaseException:
                self._forget(future.job_id)
                raise

        self._across_a_drop(send, "did not take the request")
        return future

    def cancel(self, future: RemoteFuture) -> None:
        """Stop the work behind ``future`` on the cluster (best effort: the connection may be
        gone already, which stops nothing more)."""
        self._forget(future.job_id)
        self._emit_quietly(schema.CANCEL, {"job_id": future.job_id})

    def release(self, object_id: str) -> None:
        """The client dropped a remote object: the cluster frees it soon (with the next request,
        or within RELEASE_DELAY). Safe to call from ``__del__``, in any thread."""
        if sys.is_finalizing():  # no thread can start now (it would hang the exit): the
            return               # disconnect that ends the process frees them all
        self._released.append(object_id)
        if not self._release_due:
            self._release_due = True
            timer = threading.Timer(RELEASE_DELAY, self._flush_releases)
            timer.daemon = True
            try:
                timer.start()
            except RuntimeError:  # the interpreter is shutting down: disconnecting frees them
                pass

    def release_all(self, message: dict) -> None:
        """Free the remote objects a JOB_DONE describes (a result that nobody will see)."""
        for described in (message.get("objects") or {}).values():
            self.release(str(described.get("id")))

    def hold_releases(self) -> "HeldReleases":
        """No release is told from now until the ``end()`` of what this returns: a block's (or a
        call's) remote objects are read as it is captured and told to the manager as it is sent;
        a proxy pointed at another object meanwhile (a call that changed it ended, in the
        connection's thread) released the object the block was sent with, and the release came
        first: the block failed with "remote object ... was freed" (a user's trial)."""
        with self._holding:
            self._held += 1
        return HeldReleases(self)

    def _hold_ended(self) -> None:
        with self._holding:
            self._held -= 1
        if self._released:
            self._flush_releases()

    def _flush_releases(self) -> None:
        """Tell the manager which remote objects were dropped; while disconnected, they wait
        for the next request after reconnecting; while a block is captured and sent
        (``hold_releases``), until it is sent."""
        self._release_due = False
        if not self._sio.connected or self._held:
            return
        released = []
        while self._released:
            released.append(self._released.popleft())
        if released:
            self._emit_quietly(schema.RELEASE, {"object_ids": released})

    def _emit_quietly(self, event: str, data: dict) -> None:
        try:
            self._sio.emit(event, data)
        except (socketio.exceptions.SocketIOError, OSError):
            log.debug("could not send %s to %s (disconnected)", event, self.url)

    def _fetch_result(self, message: dict) -> dict:
        """A JOB_DONE whose large result waits elsewhere, with the result in place: taken
        straight from the worker that holds it when the manager says where (``net.result_fetch``),
        else, or if that fails, downloaded from the manager (which fetches it from the worker
        then). A worker that cannot be reached (or refuses this client) is not tried again by
        this connection."""
        direct = message.get("direct")
        if direct is not None:
            where = result_fetch.Where.of(direct)
            if (where.address, where.port) not in self._unreachable:
                try:
                    return _placed(message, result_fetch.fetch(where, self._secret, self._worker_tls,
                                                               DIRECT_CONNECT_TIMEOUT, DIRECT_READ_TIMEOUT))
                except result_fetch.FetchFailed as exc:
                    if not exc.connected:
                        self._unreachable.add((where.address, where.port))
                    log.warning("%s; downloading the result from the manager instead", exc)
        return _placed(message, self._download(message))

    def _download(self, message: dict) -> List[memoryview]:
        """The buffers of a JOB_DONE's large result, from the manager: fetched over plain HTTP
        (much faster than a websocket message) into one writable buffer, split back into its
        buffers without copies (numpy arrays rebuilt from them are writable, as at home). Each
        buffer starts at an address aligned for any numpy type (an array on an unaligned
        buffer is slower to read)."""
        sizes = message["download"]["sizes"]
        starts = [0]
        for size in sizes:
            starts.append(starts[-1] + -(-size // _ALIGN) * _ALIGN)
        # not zero-filled first (bytearray would be): each page is touched once, by the download
        data = _aligned_empty(starts[-1]).data
        variables = [data[start:start + size] for start, size in zip(starts, sizes)]
        try:
            with self._http.get(self.url + message["download"]["path"], timeout=300, stream=True,
                                verify=self._verify, headers={"Connection": "close"}) as reply:
                if reply.status_code != 200:
                    raise requests.RequestException(f"{reply.status_code} {reply.reason}: {reply.text.strip()}")
                for variable in variables:
                    at = 0
                    while at < len(variable):  # requests' own chunks are 10 KB: read straight into
                        count = reply.raw.readinto(variable[at:at + _READ_CHUNK])  # place, urllib3 slows on huge reads
                        if not count:
                            raise requests.RequestException(f"the download ended {len(variable) - at} bytes short")
                        at += count
        except requests.RequestException as exc:
            raise ConnectionError(f"the result could not be downloaded from {self.url}: {exc}") from None
        return variables

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._futures.pop(job_id, None)

    def _on_job_done(self, message: dict) -> None:
        with self._lock:
            future = self._futures.pop(str(message.get("job_id")), None)
        if future is None:  # cancelled: what it kept on the cluster goes
            self.release_all(message)
            return
        try:
            if message.get("variables") is not None:
                message["variables"] = [schema.bytes_from_wire(value) for value in message["variables"]]
            if (message.get("error") or {}).get("pickled") not in (None, True):  # True: among the downloaded
                message["error"]["pickled"] = schema.bytes_from_wire(message["error"]["pickled"])
        except (TypeError, ValueError) as exc:
            future.fail(ConnectionError(f"the manager at {self.url} sent a malformed result: {exc}"))
            return
        if message.get("download") is None:
            future.resolve(message)
        else:  # a download: not in the reader thread, which other messages wait for
            threading.Thread(target=self._download_and_resolve, args=(future, message), daemon=True).start()

    def _download_and_resolve(self, future: RemoteFuture, message: dict) -> None:
        try:
            message = self._fetch_result(message)
        except Exception as exc:  # whatever broke the download, the future must end
            future.fail(exc if isinstance(exc, ConnectionError) else ConnectionError(
                f"the result could not be downloaded from {self.url}: {exc!r}"))
            return
        future.resolve(message)

    def _on_progress(self, message: dict) -> None:
        with self._lock:
            future = self._futures.get(str(message.get("job_id")))
        if future is not None:
            future.notify_progress({name: message.get(name, 0) for name in schema.PROGRESS_FIELDS})

    def _on_output(self, message: dict) -> None:
        """What a block prints on the cluster, printed here as it arrives (before its result).
        Returning acknowledges it, which lets more of the block's output come: a stream that
        cannot take it (a closed pipe, a console that cannot encode it) must not stop the block."""
        if message.get("stream") == schema.WARNING_STREAM:  # issued again by this process's warnings
            warned.issue_here(str(message.get("text", "")), self._warning_registries)
            return
        if message.get("stream") == schema.LOG_STREAM:  # handled by this process's loggers
            log_records.handle_here(str(message.get("text", "")))
            return
        stream = sys.stderr if message.get("stream") == "stderr" else sys.stdout
        try:
            stream.write(str(message.get("text", "")))
            stream.flush()
        except (OSError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            if not self._output_failed:
                self._output_failed = True
                log.warning("the block's output could not be written here: %r; the rest is dropped", exc)

    def _on_disconnect(self, *reason) -> None:
        """The connection ended: pending futures fail naming why; unless this client closed
        it, it is opened again in the background."""
        why = str(reason[0]) if reason else "lost"
        cause = _DISCONNECT_CAUSES.get(why, why)
        reconnect = self._state.dropped(cause, retry=why != _CLIENT_DISCONNECT)  # before the futures fail
        with self._lock:
            futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            future.fail(ConnectionError(f"the connection to {self.url} was lost ({cause})"))
        if reconnect:
            threading.Thread(target=self._reconnect, name="pyfora-reconnect", daemon=True).start()

    def close(self) -> None:
        """End the session: the manager frees its remote objects at once."""
        self._closing.set()
        self._state.close()
        _open_connections.discard(self)
        self._end_session()
        self._http.close()

    def _end_session(self) -> None:
        """Tell the manager this session is over (else it keeps its remote objects for its
        grace period, for a reconnect), then disconnect."""
        if self._sio.connected:
            self._emit_quietly(schema.GOODBYE, {})
        self._sio.disconnect()


@atexit.register
def _close_at_exit() -> None:
    """A script that ends without ``close()`` ends its sessions cleanly (else the manager keeps
    their remote objects for the grace period, waiting for a reconnect that cannot come)."""
    for connection in list(_open_connections):
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - exiting must not fail
            pass
