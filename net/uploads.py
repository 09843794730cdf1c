"""Large values a client sends ahead of the block that uses them, over plain HTTP.

A socket.io message must fit Tornado's read buffer (100 MiB) and crosses the websocket slower; a
block's free variables (or a call's arguments) from ``schema.UPLOAD_FROM`` bytes on are PUT to
``/uploads/<id>`` instead, streamed into one buffer of the declared size, and claimed by the
block's submission. The session header binds an upload to a connected client's session.

Memory is reserved when an upload's headers arrive, before any of its body is read: at most
``schema.MAX_UPLOAD_BYTES`` per session (arriving and waiting to be claimed together) and
MAX_HELD_BYTES for all sessions; an upload over either is refused with 413 on its headers. An
upload never claimed is dropped after UPLOAD_TIMEOUT, or with its session; one that stalls is
cut by the HTTP server's body timeout.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Dict, Tuple

import numpy as np
import tornado.web

from ufora.net import schema
from ufora.net.sessions import Sessions

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT = 300.0  # seconds an upload waits for the submission that claims it
BODY_TIMEOUT = 600.0  # seconds an upload's body may take to arrive (1 GiB at 2 MB/s)
MAX_HELD_BYTES = 4 * schema.MAX_UPLOAD_BYTES  # all sessions' uploads, arriving or waiting


class UploadMissing(LookupError):
    """A submission names an upload the manager does not hold."""


class Uploads:
    """Uploads received and not yet claimed, by (session, upload id), and the bytes reserved
    for them and for those arriving."""

    def __init__(self) -> None:
        self._held: Dict[Tuple[str, str], memoryview] = {}
        self._reserved: Dict[str, int] = {}  # session -> bytes arriving or held

    def reserve(self, session: str, size: int) -> None:
        """Set ``size`` bytes aside for an upload of ``session``: ``tornado.web.HTTPError``
        413 if that is over the session's limit or everyone's."""
        mine, everyone = self._reserved.get(session, 0), sum(self._reserved.values())
        if mine + size > schema.MAX_UPLOAD_BYTES:
            raise tornado.web.HTTPError(413, reason=f"{size} bytes, with the {mine} this session sends or holds "
                                                    f"already, are over its limit of {schema.MAX_UPLOAD_BYTES}")
        if everyone + size > MAX_HELD_BYTES:
            raise tornado.web.HTTPError(413, reason=f"the manager holds {everyone} bytes of uploads now, and "
                                                    f"takes at most {MAX_HELD_BYTES}: try again later")
        self._reserved[session] = mine + size

    def unreserve(self, session: str, size: int) -> None:
        left = self._reserved.get(session, 0) - size
        if left > 0:
            self._reserved[session] = left
        else:
            self._reserved.pop(session, None)

    def add(self, session: str, upload_id: str, data: memoryview) -> None:
        """A complete upload (its bytes reserved already), claimed within UPLOAD_TIMEOUT."""
        key = (session, upload_id)
        self._held[key] = data
        asyncio.get_running_loop().call_later(UPLOAD_TIMEOUT, self._drop, key)

    def _drop(self, key: Tuple[str, str]) -> None:
        data = self._held.pop(key, None)
        if data is not None:
            self.unreserve(key[0], len(data))

    def claim(self, session: str, upload_id: str) -> memoryview:
        """The upload's bytes, no longer held here; UploadMissing saying why if there is none."""
        data = self._held.pop((session, upload_id), None)
        if data is None:
            raise UploadMissing(f"this block's values, uploaded ahead of it, are not on the manager: not claimed "
                                f"within {UPLOAD_TIMEOUT:.0f} s, or the manager restarted meanwhile; run it again")
        self.unreserve(session, len(data))
        return data

    def drop_session(self, session: str) -> None:
        for key in [key for key in self._held if key[0] == session]:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._held)

    def reserved_bytes(self) -> int:
        return sum(self._reserved.values())


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """``PUT /uploads/<id>`` with the session's header and a Content-Length: the body, read
    into a buffer of that size as it arrives (its memory reserved first, see the module)."""

    def initialize(self, uploads: Uploads, sessions: Sessions) -> None:
        self.uploads = uploads
        self.sessions = sessions
        self.reserved = 0

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
        if declared < 0:
            raise tornado.web.HTTPError(400, reason="a negative Content-Length")
        self.uploads.reserve(self.session, declared)
        self.reserved = declared
        self.request.connection.set_max_body_size(declared)  # type: ignore[union-attr]
        # not zero-filled first (bytearray would be): each page is touched once, by the upload
        self.buffer = np.empty(declared, np.uint8).data
        self.received = 0

    def data_received(self, chunk: bytes) -> None:
        end = self.received + len(chunk)
        self.buffer[self.received:end] = chunk  # Tornado stops a body at its Content-Length
        self.received = end

    def put(self, upload_id: str) -> None:
        if self.received != len(self.buffer):
            raise tornado.web.HTTPError(400, reason=f"the body ended after {self.received} of "
                                                    f"{len(self.buffer)} bytes")
        if self.session not in self.sessions.by_id:
            raise tornado.web.HTTPError(403, reason="the session ended while its upload arrived")
        self.uploads.add(self.session, upload_id, self.buffer)
        self.reserved = 0  # the upload holds it now, until it is claimed or dropped
        self.write({"size": self.received})

    def on_finish(self) -> None:
        self._unreserve()

    def on_connection_close(self) -> None:  # the client went away mid-upload
        self._unreserve()

    def _unreserve(self) -> None:
        if self.reserved:
            self.uploads.unreserve(self.session, self.reserved)
            self.reserved = 0
