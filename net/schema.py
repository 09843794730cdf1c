"""The message schema shared by the client (pyfora) and the manager: with net.client_auth, the only
part of net/ that pyfora imports. Changing a name or a field here is a protocol change: bump PROTOCOL_VERSION.

socket.io connect ``auth``: {"session": str}  (16-64 of [A-Za-z0-9_-], chosen by the client: its
    blocks and remote objects belong to the session, which outlives a dropped connection for
    the manager's session grace; see net.sessions); with the cluster's secret also
    {"challenge": nonce from GET /auth/challenge, "nonce": the client's, "proof": hex HMAC}
    (net.client_auth: without a right proof the connection is refused)
GET /auth/challenge -> {"secret_required": bool, "nonce": str (when required)}
socket.io, client -> manager, acknowledged:
    HANDSHAKE  {"version": int}              -> {"version": int, "workers": int,
                                                 "resumed": bool,  (this connection resumes the session)
                                                 "proof": str | null}  (the manager's, with a secret)
    STATUS     {}                            -> the manager's status (as ``GET /`` answers)
socket.io, client -> manager (not acknowledged: its JOB_DONE is the answer, errors included):
    SUBMIT     {"job_id", "filename", "with_line", "source": str,
                "free_variables": bytes | {"upload": id},  (large ones: PUT /uploads/<id> first)
                "sources": {filename: str},   (other files defining functions the block ships)
                "objects": [object id],       (remote objects the free variables refer to)
                "download_below": int | null, (variables pickling to fewer bytes come back as
                                               values, the others stay as remote objects;
                                               null: all come back)
                "unread": [name]}             (variables the client will never read: none of
                                               them comes back; pyfora.unread_after)
    CANCEL     {"job_id"}                    (stop that block, wherever it is)
    FETCH      {"job_id", "object_id"}       (a remote object's value: answered by a JOB_DONE
                                              with the one name "value" and its parts)
    RELEASE    {"object_ids": [str]}         (the client dropped them; also all when it says
                                              GOODBYE, or when a dropped session's grace ends)
    GOODBYE    {}                            (the client closes its session: its blocks stop and its
                                              remote objects are freed now, not after the grace)
socket.io, manager -> client:
    OUTPUT     {"job_id", "stream": "stdout" | "stderr" | "warning" | "log", "text"}   (what the block prints,
                                             in order; acknowledged once written: the block's output
                                             moves on credit, see net.output_flow. The "warning"
                                             stream's text is lines, each a JSON object {"categories",
                                             "message", "filename", "lineno", "module", "count"?}: a
                                             warning the block issued, which the client issues again
                                             (engine.warned); so is the "log" stream's: a log
                                             record the client's loggers handle (engine.log_records))
    PROGRESS   {"job_id", *PROGRESS_FIELDS}   (the parallel shape the block runs now: "task"
                                             identifies the shape; items of "items_total" done in
                                             "partitions_done" partitions, "partitions_compiled" of
                                             them by numba; processes computing it now on all
                                             workers; bytes moved between workers)
    JOB_DONE   {"job_id", "names": [str], "variables": [bytes] | null,
                "download": absent | {"path", "sizes": [int]},   (large results: GET path once,
                                                                   the variables end to end)
                "objects": {name: {"id", "size", "type", "callable"}},  (variables kept on the cluster)
                "parts": [int],   (per name: how many buffers follow its pickle in "variables",
                                   the out-of-band buffers of its large arrays)
                "error": null | {"type_name", "message", "trace", "pickled": bytes | null},
                "cpython_seconds": float | null,  (the block's time as plain CPython in one process, as
                                                    the driver estimates it: engine.local_estimate, pyfora.run_here)
                "warming_seconds": float}  (of the block's time, its shapes' while their kernels compiled)
Every ``bytes`` above smaller than INLINE_BYTES travels as base64 text inside the event's JSON
(``wire_bytes``/``bytes_from_wire``): socket.io sends each binary attachment as a websocket frame
of its own, and a trivial block's round trip is 0.1 ms shorter without them.

Registry and control channel (net.wire messages, header "type" first):
    register   {"worker": WorkerInfo, "key"}  -> welcome {"members": [WorkerInfo], "tokens": {id: token}}
                                                 | error {"message"}  (the id is a live member's,
                                                   registered with another key: net.identity)
    heartbeat  {}                             (both ways, every HEARTBEAT_INTERVAL)
    joined     {"worker": WorkerInfo, "token"}, left {"id"}   (registry -> workers; a token is
                                              what that member proves itself with to the receiver)
    run_block  {"job_id", "filename", "with_line", "download_below", "unread", "objects": {id: worker id},
                "capabilities": {id: capability}}  + [source, free_variables, sources as JSON]
    block_done {"job_id", "names", "parts": [int] (per name, as in JOB_DONE), "error",
                "objects": {name: {"id", "capability", "size", "type", "callable"}},
                "blob": absent | key, "blob_capability": absent | capability,
                "driver_lost": bool, "cpython_seconds": float | null, "warming_seconds": float}
                                        + [*variables and their parts, pickled exception if any] (worker ->
                                        manager; driver_lost: the process running it died, error says how;
                                        cpython_seconds, warming_seconds: as in JOB_DONE)
    cancel     {"job_id"}                     (manager -> worker)
    release    {"object_ids"}                 (manager -> worker: drop those remote objects)
    output     {"job_id", "stream", "text"}   (worker -> manager; text at most output_flow.CHUNK)
    output_ack {"job_id", "chars"}            (manager -> worker: the client wrote that much of it)
    progress   {"job_id", *PROGRESS_FIELDS, "partitions_by_worker": {worker id: int}}
                                              (worker -> manager, at most every 0.25 s per shape; the
                                               second, for the dashboard: net.dashboard.counts_by_worker)
    hello {"worker", "nonce"} -> challenge {"nonce", "proof"}, then proof {"proof"}
                                              (worker -> worker, first on a channel it dials: net.identity)
    offer, pull, partition, none, partition_done, partition_lost   (worker <-> worker: net.peers; each
                                              {"worker"} the member the channel proved to be)

Data channel (worker base port + 1):
    fetch      {"key", "capability"}  -> blob {"key"} + [buffers] | missing {"key", "message"}
                                          (results, objects and "shm:" ranges; a capability that
                                          does not grant the key is answered "missing": net.blobs)
    fetched    {"key", "capability"}      (a result may be dropped now; objects stay)
    error      {"message"}                    (then the sender closes the connection)
"""
import base64
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

import socketio.packet

PROTOCOL_VERSION = 16  # 16: a remote object changed in place travels with the id it had
STREAMS = ("stdout", "stderr", "warning", "log")  # of OUTPUT
WARNING_STREAM = "warning"  # its text is cut between lines only (engine.warned.STREAM)
LOG_STREAM = "log"  # so is this one's (engine.log_records.STREAM)
RECORD_STREAMS = (WARNING_STREAM, LOG_STREAM)
INLINE_BYTES = 64 << 10
# A block's free variables (or a call's arguments) pickling to UPLOAD_FROM bytes or more are PUT
# over HTTP ahead of the submission (net.uploads), which names them {"upload": id}; no more than
# MAX_UPLOAD_BYTES per block or call.
UPLOAD_FROM = 8 << 20
MAX_UPLOAD_BYTES = 1 << 30
SESSION_HEADER = "X-Ufora-Session"  # an upload's session (the one in the socket.io connect auth)

HANDSHAKE = "handshake"
SUBMIT = "submit"
CANCEL = "cancel"
JOB_DONE = "job_done"
OUTPUT = "output"
FETCH = "fetch"
STATUS = "status"
PROGRESS = "progress"
PROGRESS_FIELDS = ("task", "partitions_done", "items_done", "items_total", "active_cores", "bytes_moved",
                   "partitions_compiled")
RELEASE = "release"
GOODBYE = "goodbye"

HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_TIMEOUT = 5.0


def count(value: object) -> int:
    """A count a worker reports (a progress field): a non-negative int, else 0."""
    return value if type(value) is int and value >= 0 else 0


def seconds(value: object) -> Optional[float]:
    """A count of seconds a peer reports (a header is checked, not trusted): a finite number
    from 0 on, else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and 0 <= value < float("inf") else None


def wire_bytes(data: bytes) -> Union[bytes, str]:
    """``data`` as a socket.io event carries it: base64 text when small, else binary."""
    return base64.b64encode(data).decode("ascii") if len(data) < INLINE_BYTES else bytes(data)


def bytes_from_wire(value: object) -> bytes:
    """The bytes a ``wire_bytes`` value stands for; TypeError for anything else."""
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"expected bytes, got {type(value).__name__}")


MALFORMED = "malformed"  # the event a packet that cannot be decoded becomes (see TolerantJSON)


@dataclass(frozen=True)
class Submission:
    """A SUBMIT event, checked: every field of the type the table above says."""
    job_id: str
    filename: str
    with_line: int
    source: str
    free_variables: Union[bytes, str]  # the pickle, or the id of its upload (PUT /uploads/<id>)
    sources: Dict[str, str]
    objects: List[str]
    download_below: Optional[int]
    unread: List[str]  # names the client will never read: not sent back (pyfora.unread_after)


def submission(data: object) -> Submission:
    """A SUBMIT event's data, checked; ValueError (or KeyError, TypeError) saying what is wrong."""
    if not isinstance(data, dict):
        raise TypeError(f"a submission is an object, not {type(data).__name__}")
    sent, download_below = data["free_variables"], data.get("download_below")
    return Submission(
        job_id=str(data.get("job_id"))[:64], filename=str(data["filename"]), with_line=int(data["with_line"]),
        source=str(data["source"]),
        free_variables=str(sent["upload"]) if isinstance(sent, dict) else bytes_from_wire(sent),
        sources={str(k): str(v) for k, v in dict(data.get("sources") or {}).items()},
        objects=[str(object_id) for object_id in data.get("objects") or ()],
        download_below=None if download_below is None else int(download_below),
        unread=[str(name) for name in data.get("unread") or ()])


@dataclass(frozen=True)
class Fetch:
    """A FETCH event: ``job_id`` names the answer (a JOB_DONE); "?" and "" when missing."""
    job_id: str
    object_id: str


def cancel(data: object) -> str:
    """The job id a CANCEL names ("" if none: it matches no block)."""
    return str(data.get("job_id"))[:64] if isinstance(data, dict) else ""


def fetch(data: object) -> Fetch:
    if not isinstance(data, dict):
        return Fetch("?", "")
    return Fetch(str(data.get("job_id"))[:64], str(data.get("object_id")))


def release(data: object) -> List[str]:
    """The object ids a RELEASE names (none if it is malformed: nothing is freed)."""
    object_ids = data.get("object_ids") if isinstance(data, dict) else None
    return [str(object_id) for object_id in object_ids] if isinstance(object_ids, list) else []


class TolerantJSON:
    """The JSON module python-socketio decodes packets with. A packet that is not JSON, or is
    nested past Python's recursion limit, becomes the event MALFORMED with the reason, which the
    manager answers with an error and one log line, instead of a traceback in engineio."""

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(value, **kwargs)

    @staticmethod
    def loads(text: Union[str, bytes], **kwargs: Any) -> Any:
        try:
            return json.loads(text, **kwargs)
        except (ValueError, RecursionError) as exc:
            return [MALFORMED, f"{type(exc).__name__}: {str(exc)[:200]}"]


class TolerantPacket(socketio.packet.Packet):
    """socket.io packets decoded with TolerantJSON (engine.io's own packets keep plain JSON: its
    "2probe" upgrade handshake is not JSON)."""
    json = TolerantJSON
