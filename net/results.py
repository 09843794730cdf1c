"""Large results waiting for their client's download: ``GET /results/<token>``.

A block's result larger than HTTP_RESULT_THRESHOLD does not travel in its socket.io message
(several times slower than plain HTTP): the message carries a token instead, told only to the
client whose block it is, over its authenticated connection. The token is random (128 bits),
good for one download, and forgotten after DOWNLOAD_TIMEOUT if never used.
"""
from __future__ import annotations

import asyncio
import secrets
from typing import Dict, List, Optional

import tornado.web

HTTP_RESULT_THRESHOLD = 8 << 20
DOWNLOAD_TIMEOUT = 300.0


class ResultStore:
    def __init__(self) -> None:
        self._waiting: Dict[str, List[bytes]] = {}  # token -> a result's buffers

    def put(self, buffers: List[bytes]) -> str:
        """Keep ``buffers`` for one download (for DOWNLOAD_TIMEOUT at most): its URL path."""
        token = secrets.token_hex(16)
        self._waiting[token] = buffers
        asyncio.get_running_loop().call_later(DOWNLOAD_TIMEOUT, self._waiting.pop, token, None)
        return f"/results/{token}"

    def take(self, token: str) -> Optional[List[bytes]]:
        """The buffers for ``token``, forgotten from now on; None if unknown, taken or expired."""
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
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(sum(len(buffer) for buffer in buffers)))
        for buffer in buffers:
            view = memoryview(buffer).cast("B")
            for at in range(0, len(view), self.CHUNK):
                self.write(bytes(view[at:at + self.CHUNK]))
                await self.flush()
