"""Large results waiting for their client's download: ``GET /results/<token>``.

A block's result larger than HTTP_RESULT_THRESHOLD does not travel in its socket.io message
(several times slower than plain HTTP): the message carries a token instead, told only to the
client whose block it is, over its authenticated connection. The token is random (128 bits),
good for one download, and forgotten after DOWNLOAD_TIMEOUT if never used.

A result left on its worker's data channel (net.blobs) is first offered to the client there
(``net.result_fetch``); its token here is the way round for a client that cannot reach the
worker: it stands for a *fetch* from the worker, run only if the client comes for it. If that
fetch fails (the worker was lost, or the result is no longer there), the download answers 502
with the reason.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Awaitable, Callable, Dict, List, Optional, Union

import tornado.web

log = logging.getLogger(__name__)

HTTP_RESULT_THRESHOLD = 8 << 20
DOWNLOAD_TIMEOUT = 300.0

Fetch = Callable[[], Awaitable[List[bytes]]]


class ResultLost(Exception):
    """A result waiting on a worker that can no longer be fetched: the message says why."""


class ResultStore:
    def __init__(self) -> None:
        self._waiting: Dict[str, Union[List[bytes], Fetch]] = {}  # token -> a result's buffers, or their fetch

    def put(self, buffers: Union[List[bytes], Fetch]) -> str:
        """Keep ``buffers`` (or what fetches them: it raises ``ResultLost``) for one download,
        for DOWNLOAD_TIMEOUT at most: its URL path."""
        token = secrets.token_hex(16)
        self._waiting[token] = buffers
        asyncio.get_running_loop().call_later(DOWNLOAD_TIMEOUT, self._waiting.pop, token, None)
        return f"/results/{token}"

    def take(self, token: str) -> Optional[Union[List[bytes], Fetch]]:
        """The buffers for ``token`` (or their fetch), forgotten from now on; None if unknown,
        taken or expired."""
        return self._waiting.pop(token, None)

    def __len__(self) -> int:
        return len(self._waiting)


class ResultHandler(tornado.web.RequestHandler):
    """A large result's buffers, one after the other; gone once downloaded. Sent in chunks
    (Tornado writes only bytes: a chunk at a time is copied, not the whole result)."""

    CHUNK = 16 << 20

    def initialize(self, results: ResultStore) -> None:
        self.results = results

    async def get(self, token: str) -> None:
        buffers = self.results.take(token)
        if buffers is None:
            raise tornado.web.HTTPError(404, "no such result (downloaded already, or expired)")
        if callable(buffers):
            try:
                buffers = await buffers()
            except ResultLost as exc:
                log.warning("a result could not be fetched for its client's download: %s", exc)
                self.set_status(502, "result lost")
                self.finish(str(exc))
                return
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(sum(len(buffer) for buffer in buffers)))
        for buffer in buffers:
            view = memoryview(buffer).cast("B")
            for at in range(0, len(view), self.CHUNK):
                self.write(bytes(view[at:at + self.CHUNK]))
                await self.flush()
