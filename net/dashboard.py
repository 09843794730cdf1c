"""The manager's live dashboard: what the page at ``/`` shows, and the read-only socket.io
namespace that pushes it.

A browser's page (``net/dashboard_page/``: plain HTML, CSS and a script, no CDN and no build
step) connects to the namespace ``/dashboard`` of the socket.io server the manager already runs
and receives ``status`` once a second: the workers (from their heartbeats: cores alive, memory
used against its budget, shared memory, load, partitions computed, remote objects' bytes),
the blocks running and waiting (client, the block's file, line and first line, the progress of
the parallel shape it runs now: its partitions per worker, and how many numba computed, the rest
having run in CPython), the blocks finished lately and the errors among them, and a
timeline of the cores computing over the last ten minutes. The namespace takes no event from a
page: it only sends, to at most ``MAX_PAGES`` pages, at most ``SHOWN_BLOCKS`` blocks each way.
With a cluster secret, a page proves it holds it over a fresh challenge, as a client does, in a
role of its own (``client_auth.dashboard_proof``: a page's proof cannot connect a client), so the
secret never crosses the network.

``Dashboard`` keeps what the manager's own state forgets once a block is done; it is fed by
the manager's handlers and read by ``snapshot``, and has no I/O of its own (tested alone).
"""
from __future__ import annotations

import functools
import os
import time
from collections import deque
from typing import Any, Deque, Dict, Iterable, List, Optional, Tuple

NAMESPACE = "/dashboard"
EVENT = "status"
HISTORY = 50  # finished blocks kept
ERRORS = 20  # failed blocks kept
TIMELINE_SECONDS = 600  # one sample a second
FORGET_AFTER = 600.0  # seconds a block neither running nor waiting is kept for its result's delivery
FIRST_LINE_CHARS = 160
SHOWN_BLOCKS = 100  # running, and waiting, blocks a view lists (the status counts them all)
MAX_PAGES = 32  # dashboard pages connected at once (each is sent every view)
MAX_WORKERS_SHOWN = 256  # workers a shape's partitions-per-worker lists
# the page's own rules: nothing from elsewhere, never in another site's frame
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                           "frame-ancestors 'none'",
                "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
PAGE_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard_page")  # served at /dashboard/


@functools.lru_cache(maxsize=1)
def page() -> bytes:
    """The page served at ``/`` to a browser (its script and style are under ``/dashboard/``)."""
    with open(os.path.join(PAGE_FOLDER, "index.html"), "rb") as file:
        return file.read()


def describe(filename: str, with_line: int, source: bytes) -> Dict[str, Any]:
    """A block as the dashboard names it: file, line, and its first line of code (the line after
    the ``with``, stripped and cut)."""
    lines = source.decode("utf-8", "replace").splitlines()
    first = next((line.strip() for line in lines[with_line:with_line + 20] if line.strip()), "")
    return {"file": filename, "line": with_line, "first_line": first[:FIRST_LINE_CHARS]}


def counts_by_worker(value: Any) -> Dict[str, int]:
    """A progress report's partitions per worker (worker id -> count), as far as it is one:
    entries that are not a short name and a count are dropped, and at most ``MAX_WORKERS_SHOWN``
    kept; anything else is no entry at all (the page shows what it gets as text)."""
    if not isinstance(value, dict):
        return {}
    counts = {worker: count for worker, count in value.items()
              if isinstance(worker, str) and len(worker) <= 64 and type(count) is int and count >= 0}
    return dict(list(counts.items())[:MAX_WORKERS_SHOWN])


class Dashboard:
    """What the page shows that the manager's state does not keep: shapes' progress, finished
    blocks, errors, clients' addresses and the timeline of active cores."""

    def __init__(self) -> None:
        self.blocks: Dict[str, Dict[str, Any]] = {}  # cluster job id -> its description and times
        self.progress: Dict[str, Dict[str, Any]] = {}  # cluster job id -> its shape's latest progress
        self.history: Deque[Dict[str, Any]] = deque(maxlen=HISTORY)
        self.errors: Deque[Dict[str, Any]] = deque(maxlen=ERRORS)
        self.timeline: Deque[Tuple[float, int]] = deque(maxlen=TIMELINE_SECONDS)
        self.clients: Dict[str, str] = {}  # session -> the address it connected from
        self.missing: Dict[str, float] = {}  # blocks kept, neither running nor waiting: since when

    def client_connected(self, session: str, address: str) -> None:
        self.clients[session] = address

    def session_ended(self, session: str) -> None:
        self.clients.pop(session, None)

    def _block(self, job: Any, now: float) -> Dict[str, Any]:
        """The description of ``job`` (a manager_state.Job), made once. A job that never became a
        block (a malformed submission, a download: no header) is described, not kept."""
        job_id = str(job.header.get("job_id", job.client_job_id))
        known = self.blocks.get(job_id)
        if known is None:
            source = job.buffers[0] if job.buffers and "job_id" in job.header else b""
            known = {"id": job_id, "client": self.clients.get(job.session, job.session[:8]),
                     **describe(str(job.header.get("filename", "?")), int(job.header.get("with_line", 0) or 0),
                                bytes(source)),
                     "submitted": now}
            if "job_id" in job.header:
                self.blocks[job_id] = known
        return known

    def submitted(self, job: Any, now: Optional[float] = None) -> None:
        self._block(job, time.time() if now is None else now)

    def progressed(self, job: Any, worker_id: str, fields: Dict[str, int], by_worker: Dict[str, int],
                   now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        self._block(job, now).setdefault("started", now)
        self.progress[job.cluster_job_id] = {**fields, "by_worker": by_worker, "worker": worker_id}

    def finished(self, job: Any, error: Optional[Dict[str, Any]], now: Optional[float] = None) -> None:
        """A block's end (its result or error went to its client, or it failed before running);
        a download's (no header) is not a block's."""
        if "job_id" not in job.header and error is None:
            return
        now = time.time() if now is None else now
        block = dict(self._block(job, now))
        last = self.progress.get(block["id"])
        self._forget(block["id"])
        if last is not None:  # its last shape's
            block["items"] = last.get("items_total", 0)
            block["partitions"] = last.get("partitions_done", 0)
            block["compiled"] = last.get("partitions_compiled", 0)
            block["by_worker"] = last.get("by_worker", {})
        failure = None if error is None else f"{error.get('type_name', 'Error')}: {str(error.get('message', ''))[:500]}"
        self._to_history(block, now, failure)
        if failure is not None:
            self.errors.appendleft(block)

    def sample(self, running: Iterable[str], pending: Iterable[str], now: Optional[float] = None) -> None:
        """One point of the timeline: the cores computing the shapes of the running blocks
        (``running``: their cluster ids), as their latest progress says (a worker reports a
        shape when it changes, and as it ends, with no core left on it). What is kept of a block
        neither running nor waiting (``pending``) for ``FORGET_AFTER`` seconds without finishing
        is dropped: nothing is kept for ever."""
        now = time.time() if now is None else now
        running = set(running)
        active = 0
        for job_id in running:
            shape = self.progress.get(job_id)
            if shape is not None:
                active += int(shape.get("active_cores", 0))
        self.timeline.append((round(now, 1), active))
        alive = running | set(pending)
        for job_id in [job_id for job_id in self.blocks if job_id not in alive]:  # delivering its result, or lost
            if now - self.missing.setdefault(job_id, now) >= FORGET_AFTER:
                self._forget(job_id)
        for job_id in alive & self.missing.keys():
            del self.missing[job_id]

    def cancelled(self, job_ids: Iterable[str], now: Optional[float] = None) -> None:
        """Blocks the manager stopped (Ctrl-C, ``cancel()``, their client gone): to the history as such."""
        now = time.time() if now is None else now
        for job_id in job_ids:
            block = self._forget(job_id)
            if block is not None:
                self._to_history(block, now, "cancelled (Ctrl-C, cancel(), or its client left)")

    def _to_history(self, block: Dict[str, Any], now: float, failure: Optional[str]) -> None:
        """``block`` ended at ``now``, well or with ``failure``: first in the history."""
        block.update(finished=now, seconds=round(now - block["submitted"], 3), ok=failure is None)
        if failure is not None:
            block["error"] = failure
        self.history.appendleft(block)

    def _forget(self, job_id: str) -> Optional[Dict[str, Any]]:
        self.progress.pop(job_id, None)
        self.missing.pop(job_id, None)
        return self.blocks.pop(job_id, None)

    def snapshot(self, status: Dict[str, Any], running: List[Tuple[Any, str]], pending: List[Any],
                 now: Optional[float] = None) -> Dict[str, Any]:
        """What the page shows: ``status`` (the manager's JSON status), the ``running`` blocks
        with the worker driving each, the ``pending`` ones."""
        now = time.time() if now is None else now

        def shown(job: Any, worker_id: Optional[str]) -> Dict[str, Any]:
            block = dict(self._block(job, now))
            block["worker"] = worker_id
            block["seconds"] = round(now - block["submitted"], 1)
            shape = self.progress.get(job.cluster_job_id)
            if shape is not None:
                block["shape"] = dict(shape)
            return block

        return {"now": now, "status": status,
                "running": [shown(job, worker_id) for job, worker_id in running[:SHOWN_BLOCKS]],
                "pending": [shown(job, None) for job in pending[:SHOWN_BLOCKS]],
                "history": list(self.history), "errors": list(self.errors),
                "timeline": list(self.timeline)}
