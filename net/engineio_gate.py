"""What a client's websocket may send the manager, checked before python-engineio and
python-socketio read it.

Anyone who can reach the manager's port can open a websocket (authentication is socket.io's
first event, read after it), and both libraries decode what arrives without checks. python-
engineio's reader raised out of itself on an empty text or a packet type that is not a digit or
past its list (a traceback in the log for each message, "Task exception was never retrieved"),
and read a message's text as JSON before socket.io saw it (``4[[[[...``: RecursionError).
python-socketio raised on an event without data, a binary event before its connect, an
attachment nobody announced, a type past its list (a traceback each, "message async handler
error"). ``refused`` stops the first kind before engine.io reads it; ``guard_messages`` catches
the second where socket.io reads it. Either way the connection is closed with one log line.

Engine.io protocol 4 over a websocket, client to server: a text message is a packet type digit
then its data; ``4`` (message) carries a socket.io packet, whose own type is a digit; binary
messages are socket.io's attachments. The other types a client sends (close, ping, pong,
upgrade, noop) carry at most ``2probe``'s data.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Optional, Union

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
    if kind == "4":
        return None if data[:1] and data[0] in SOCKETIO_TYPES else "a message that is not a socket.io packet"
    if kind in SHORT_PACKETS:
        return None if len(data) <= SHORT_PACKET_CHARS else f"an engine.io packet of type {kind} with long data"
    return f"an unknown engine.io packet type {kind[:8]!r}"


def guard_messages(sio: Any) -> None:
    """Make ``sio`` (a socketio.AsyncServer) close the connection of a client whose socket.io
    packet it cannot read, with one log line, rather than log a traceback and read on."""
    read: Callable[[str, Any], Awaitable[Any]] = sio.eio.handlers["message"]

    async def guarded(eio_sid: str, data: Any) -> Any:
        try:
            return await read(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            log.warning("a client sent a socket.io packet that cannot be read (%s: %s): closed",
                        type(exc).__name__, str(exc)[:200])
            await sio.eio.disconnect(eio_sid)
            return None

    sio.eio.handlers["message"] = guarded
