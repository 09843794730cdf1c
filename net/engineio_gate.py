"""What a client's websocket may send the manager, checked before python-engineio and
python-socketio read it.

Anyone who can reach the manager's port can open a websocket (authentication is socket.io's
first event, read after it), and both libraries decode what arrives without checks. python-
engineio's reader raised out of itself on an empty text or a packet type that is not a digit or
past its list (a traceback in the log for each message, "Task exception was never retrieved"),
and read a message's text as JSON before socket.io saw it (``4[[[[...``: RecursionError).
python-socketio raised on an event without data, a binary event before its connect, an
attachment nobody announced, a type past its list (a traceback each, "message async handler
error"). ``refused`` (and ``refused_body``, for long polling's POSTs) stops the first kind before
engine.io reads it; ``guard_messages`` checks for the second before socket.io reads it. Either
way the connection is closed with one log line.

Engine.io protocol 4 over a websocket, client to server: a text message is a packet type digit
then its data; ``4`` (message) carries a socket.io packet, whose own type is a digit; binary
messages are socket.io's attachments. The other types a client sends (close, ping, pong,
upgrade, noop) carry at most ``2probe``'s data.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional, Set, Union

from socketio import packet as socketio_packet

log = logging.getLogger(__name__)

SHORT_PACKETS = frozenset("12356")  # close, ping, pong, upgrade, noop
SHORT_PACKET_CHARS = 16
SOCKETIO_TYPES = frozenset("0123456")


def refused(message: Union[str, bytes]) -> Optional[str]:
    """Why a websocket message is not an engine.io packet a client sends, or None."""
    if isinstance(message, bytes):
        return None
    if not message:
        return "an empty message"
    kind, data = message[0], message[1:]
    if kind == "b":  # an attachment in base64 (long polling)
        return None
    if kind == "4":
        return None if data[:1] and data[0] in SOCKETIO_TYPES else "a message that is not a socket.io packet"
    if kind in SHORT_PACKETS:
        return None if len(data) <= SHORT_PACKET_CHARS else f"an engine.io packet of type {kind} with long data"
    return f"an unknown engine.io packet type {kind[:8]!r}"


def guard_messages(sio: Any) -> None:
    """Make ``sio`` (a socketio.AsyncServer) close the connection of a client whose socket.io
    packet it would fail to read (``_unreadable``), with one log line, rather than log a
    traceback and read on. What it reads is not guarded otherwise: an error of the manager's own
    handlers keeps its traceback."""
    read: Callable[[str, Any], Awaitable[Any]] = sio.eio.handlers["message"]

    async def guarded(eio_sid: str, data: Any) -> Any:
        why = _unreadable(sio, eio_sid, data)
        if why is None:
            return await read(eio_sid, data)
        log.warning("a client sent %s: closed", why)
        # not awaited here: on long polling this runs inside the client's POST, which the
        # disconnect would wait for
        task = asyncio.ensure_future(sio.eio.disconnect(eio_sid))
        _disconnecting.add(task)
        task.add_done_callback(_disconnecting.discard)
        return None

    sio.eio.handlers["message"] = guarded


_disconnecting: Set["asyncio.Future[Any]"] = set()  # strong references to the disconnects under way


def _unreadable(sio: Any, eio_sid: str, data: Any) -> Optional[str]:
    """Why python-socketio would raise reading ``data`` from ``eio_sid``, or None: the checks its
    ``_handle_eio_message`` lacks (it raised on each of these, with a traceback)."""
    waiting = eio_sid in getattr(sio, "_binary_packet", {})  # a binary event waiting for its attachments
    if not isinstance(data, str):
        return None if waiting else "an attachment no socket.io event announced"
    if waiting:
        return None
    try:
        packet = sio.packet_class(encoded_packet=data)
    except Exception as exc:  # noqa: BLE001 - whatever the decoder raises on this text
        return f"a socket.io packet that cannot be read ({type(exc).__name__}: {str(exc)[:100]})"
    kind, payload = packet.packet_type, packet.data
    if kind in (socketio_packet.EVENT, socketio_packet.BINARY_EVENT) and not (
            isinstance(payload, list) and payload and isinstance(payload[0], str)):
        return "an event without its name"
    if kind in (socketio_packet.ACK, socketio_packet.BINARY_ACK) and not isinstance(payload, list):
        return "an acknowledgement without its list of values"
    if kind in (socketio_packet.BINARY_EVENT, socketio_packet.BINARY_ACK) and not sio.manager.sid_from_eio_sid(
            eio_sid, packet.namespace or "/"):
        return "a binary event before connecting"
    if kind not in (socketio_packet.CONNECT, socketio_packet.DISCONNECT, socketio_packet.EVENT, socketio_packet.ACK,
                    socketio_packet.BINARY_EVENT, socketio_packet.BINARY_ACK):
        return f"a socket.io packet of type {kind!r}, which a client does not send"
    return None


def refused_body(body: bytes) -> Optional[str]:
    """Why a long-polling POST's body is not engine.io packets (separated by a record separator),
    or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "a body that is not UTF-8 text"
    for packet in text.split("\x1e"):
        why = refused(packet)
        if why is not None:
            return why
    return None
