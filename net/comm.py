"""The transport boundary: what a service reads and writes whole messages through.

A ``Comm`` is one connection that carries whole messages, in order, each way: ``read`` the next
one, ``write`` one, ``abort`` (tell the other end why, then close) or ``close``. Every failure
(the other end gone, a message that breaks the rules, a read on a comm already closed) is
``ChannelClosed``, so a service handles one exception whatever carries its messages. Services
type against these names only, never against an implementation:

- ``Channel``, a comm of ``net.wire`` messages (a header and its buffers), between services:
  over TCP in ``net.channel`` (the one module that names TCP: framing, deadlines, lz4, TLS, the
  cluster's secret), and in-process in ``net.inproc`` (two queues on one event loop, for unit
  tests of a protocol without sockets, and between the manager and worker of one service);
- the compute processes' pipes, ``net.pool_comm``: a comm of ``engine.pool_messages``, so that a
  worker reads and writes its compute processes as it does its peers, never blocking.

A ``Listener`` is what ``listen(port, handler, ...)`` returns; ``handler(channel)`` is run for
every connection accepted (``serve``), and a ``Connector`` dials one: ``net.channel`` and
``net.inproc`` each have both. This is the shape of dask's ``distributed.comm`` (Comm, Listener,
Connector; ``inproc``), kept small: no address schemes, no backends registry.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Awaitable, Callable, Generic, List, Protocol, Sequence, Tuple, TypeVar

from ufora.net import wire

log = logging.getLogger(__name__)

Message = Tuple[wire.Header, List[bytes]]
In = TypeVar("In")
Out = TypeVar("Out")


class ChannelClosed(ConnectionError):
    """The peer is gone, or the connection was closed because of what it sent."""


class Comm(ABC, Generic[In, Out]):
    """One connection carrying whole messages, ``In`` read and ``Out`` written."""

    peer: str  # who is at the other end, for log lines and refusals ("host:port")

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Closed here, or seen closed by the other end."""

    @abstractmethod
    async def read(self) -> In:
        """The next message; ``ChannelClosed`` once the comm is closed (by either end) or broken."""

    @abstractmethod
    async def write(self, message: Out, buffers: Sequence[bytes] = ()) -> None:
        """Send one message (with ``buffers``, out of band where the comm carries them); they
        leave in the order written. ``ChannelClosed`` if the comm is closed."""

    @abstractmethod
    async def abort(self, reason: str) -> None:
        """The other end is not to be trusted any more: tell it why if the comm can, then close."""

    @abstractmethod
    def close(self) -> None:
        """Close now (idempotent); the other end's reads then raise ``ChannelClosed``."""


class Channel(Comm[Message, wire.Header]):
    """A comm of ``net.wire`` messages: a header and its buffers."""

    async def abort(self, reason: str) -> None:
        """Send one ``error`` frame saying why (best effort), then close."""
        try:
            await self.write({"type": "error", "message": reason})
        except ChannelClosed:
            pass
        self.close()


Handler = Callable[[Channel], Awaitable[None]]


class Listener(Protocol):
    """Accepts channels for a handler until stopped."""

    def stop(self) -> None: ...


class Connector(Protocol):
    """Dials a listener: a channel to it, or ``TimeoutError`` once ``timeout`` seconds pass."""

    def __call__(self, host: str, port: int, timeout: float, compress: bool = False) -> Awaitable[Channel]: ...


async def serve(handler: Handler, channel: Channel) -> None:
    """Run ``handler`` on an accepted channel, then close it: the channel closing under the
    handler is how a conversation ends, and any other failure is logged, not raised into the
    listener."""
    try:
        await handler(channel)
    except ChannelClosed as exc:
        log.debug("channel ended: %s", exc)
    except Exception:
        log.exception("handler for %s failed", channel.peer)
    finally:
        channel.close()
