"""Large values a client sends ahead of the block that uses them, over plain HTTP.

A socket.io message must fit Tornado's read buffer (100 MiB) and crosses the websocket slower; a
block's free variables (or a call's arguments) from ``schema.UPLOAD_FROM`` bytes on are PUT to
``/uploads/<id>`` instead, streamed into one buffer of the declared size, and claimed by the
block's submission. The session header binds an upload to a connected client's session; an
upload never claimed is dropped after UPLOAD_TIMEOUT, or with its session.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Dict, Tuple

import numpy as np
import tornado.web

from net import schema
from net.sessions import Sessions

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT = 300.0  # seconds an upload waits for the submission that claims it


class Uploads:
    """Uploads received and not yet claimed, by (session, upload id)."""

    def __init__(self) -> None:
        self._held: Dict[Tuple[str, str], memoryview] = {}

    def bytes_held(self, session: str) -> int:
        return sum(len(data) for (owner, _), data in self._held.items() if owner == session)

    def add(self, session: str, upload_id: str, data: memoryview) -> None:
        key = (session, upload_id)
        self._held[key] = data
        asyncio.get_running_loop().call_later(UPLOAD_TIMEOUT, self._held.pop, key, None)

    def claim(self, session: str, upload_id: str) -> memoryview:
        """The upload's bytes, no longer held here; KeyError saying why if there is none."""
        try:
            return self._held.pop((session, upload_id))
        except KeyError:
            raise KeyError(f"upload {upload_id[:40]!r} is not on the manager (never sent, or not claimed "
                           f"within {UPLOAD_TIMEOUT:.0f} s)") from None

    def drop_session(self, session: str) -> None:
        for key in [key for key in self._held if key[0] == session]:
            del self._held[key]

    def __len__(self) -> int:
        return len(self._held)


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """``PUT /uploads/<id>`` with the session's header and a Content-Length: the body, read
    into a buffer of that size as it arrives (never more than the declared size, never more
    than ``schema.MAX_UPLOAD_BYTES`` held for one session)."""

    def initialize(self, uploads: Uploads, sessions: Sessions) -> None:
        self.uploads = uploads
        self.sessions = sessions

    def prepare(self) -> None:
        self.session = self.request.headers.get(schema.SESSION_HEADER, "")
        if self.request.method != "PUT":
            return
        if self.sessions.sid_of(self.session) is None:
            raise tornado.web.HTTPError(403, reason="no connected client has this session")
        try:
            declared = int(self.request.headers["Content-Length"])
        except (KeyError, ValueError):
            raise tornado.web.HTTPError(411, reason="an upload declares its Content-Length") from None
        held = self.uploads.bytes_held(self.session)
        if declared < 0 or held + declared > schema.MAX_UPLOAD_BYTES:
            raise tornado.web.HTTPError(413, reason=f"{declared} bytes (with {held} held already) is over the "
                                                    f"limit of {schema.MAX_UPLOAD_BYTES} bytes")
        self.request.connection.set_max_body_size(declared)
        # not zero-filled first (bytearray would be): each page is touched once, by the upload
        self.buffer = memoryview(np.empty(declared, np.uint8))
        self.received = 0

    def data_received(self, chunk: bytes) -> None:
        end = self.received + len(chunk)
        self.buffer[self.received:end] = chunk  # Tornado stops a body at its Content-Length
        self.received = end

    def put(self, upload_id: str) -> None:
        if self.received != len(self.buffer):
            raise tornado.web.HTTPError(400, reason=f"the body ended after {self.received} of "
                                                    f"{len(self.buffer)} bytes")
        self.uploads.add(self.session, upload_id, self.buffer)
        self.write({"size": self.received})
