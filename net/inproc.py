"""The in-process implementation of ``net.comm.Channel``: two queues on one event loop.

For unit tests of a protocol (an introduction, a store's answers, a registry's refusals) without
sockets, ports or processes; and between the manager and the worker of one ``ufora-service``
(``WorkerService.local_control``), which would otherwise talk over loopback TCP inside one
process. It keeps what a service can tell of a TCP channel: messages go through the wire codec
both ways (a header that would not encode fails here too, and the reader
gets a fresh JSON-decoded header), they arrive in order, a read on a closed channel raises
``ChannelClosed``, messages written before the other end closed are still read, and ``abort``
sends its ``error`` frame first. The reader gets the writer's buffers, read-only, not copies
(``_shared``): a copy of a block's 32 MB upload took 23 ms of a 190 ms block, the manager's
loop waiting; neither end changes a buffer once written (a writer over TCP could, since its
bytes have left when ``write`` returns: none here does). It leaves out what only
a network has: deadlines, limits, compression, TLS and the cluster's secret (``net.channel``).

``pair()`` gives two connected ends. ``listen``/``connect`` have the signatures of
``net.channel``'s (a ``Listener`` and a ``Connector``) over numbered in-process ports, for code
written against those; the handler runs as ``net.comm.serve`` runs it for TCP.
"""
from __future__ import annotations

import asyncio
import errno
import itertools
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Set, Tuple

from ufora.net import wire
from ufora.net.comm import Channel, ChannelClosed, Handler, Message, serve


def _shared(buffers: Sequence[Any]) -> List[Any]:
    """The buffers of a message as its reader gets them: ``bytes`` as they are, any other buffer
    (an upload's array, a view) as a read-only view of the writer's memory."""
    return [buffer if isinstance(buffer, bytes) else memoryview(buffer).toreadonly() for buffer in buffers]


class InProcChannel(Channel):
    def __init__(self, peer: str):
        self.peer = peer
        self.other: Optional[InProcChannel] = None  # the other end, set by pair()
        self._inbox: Deque[Tuple[bytes, List[bytes]]] = deque()
        self._reading: Optional[asyncio.Future] = None  # a read waiting for a message
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed or self.other is None or self.other._closed

    async def read(self) -> Message:
        while True:
            if self._closed:
                raise ChannelClosed(f"{self.peer}: the channel is closed")
            if self._inbox:
                frame, buffers = self._inbox.popleft()
                _, count = wire.decode_prefix(frame[:wire.PREFIX.size])
                return wire.decode_header(frame[wire.PREFIX.size + 8 * count:]), buffers
            if self.closed:
                raise ChannelClosed(f"{self.peer}: closed the connection")
            self._reading = asyncio.get_running_loop().create_future()
            try:
                await self._reading
            finally:
                self._reading = None

    async def write(self, header: wire.Header, buffers: Sequence[bytes] = ()) -> None:
        if self.closed or self.other is None:
            raise ChannelClosed(f"{self.peer} closed the connection")
        frames = wire.encode(header, buffers)  # WireError as over TCP
        self.other._inbox.append((frames[0], _shared(buffers)))
        self.other._wake()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._wake()
            if self.other is not None:
                self.other._wake()

    def _wake(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._reading.set_result(None)


def pair(dialer: str = "inproc:dialer", listener: str = "inproc:listener") -> Tuple[InProcChannel, InProcChannel]:
    """Two connected ends: the dialer's (whose peer is ``listener``) and the listener's."""
    dialed, accepted = InProcChannel(listener), InProcChannel(dialer)
    dialed.other, accepted.other = accepted, dialed
    return dialed, accepted


class InProcListener:
    def __init__(self, port: int, handler: Handler):
        self.port = port
        self.handler = handler
        self.serving: Set[asyncio.Task] = set()  # kept until done (the loop holds tasks weakly)

    def accept(self, channel: InProcChannel) -> None:
        task = asyncio.ensure_future(serve(self.handler, channel))
        self.serving.add(task)
        task.add_done_callback(self.serving.discard)

    def stop(self) -> None:
        """No more connections; those accepted go on, as with TCP."""
        if _listening.get(self.port) is self:
            del _listening[self.port]


_listening: Dict[int, InProcListener] = {}
_free_ports = itertools.count(1 << 16)  # past every TCP port: never mistaken for one
_dialers = itertools.count(1)


def listen(port: int, handler: Handler, address: str = "", compress: bool = False,
           setting: str = "") -> Tuple[InProcListener, int]:
    """As ``net.channel.listen``: ``port`` 0 picks a free in-process port."""
    if port == 0:
        port = next(port for port in _free_ports if port not in _listening)
    if port in _listening:
        raise OSError(errno.EADDRINUSE, f"cannot listen on in-process port {port}: it is taken")
    _listening[port] = InProcListener(port, handler)
    return _listening[port], port


async def connect(host: str, port: int, timeout: float, compress: bool = False) -> InProcChannel:
    """As ``net.channel.connect``, except that nothing listening is an immediate TimeoutError
    (a test starts its listeners before it dials them)."""
    listener = _listening.get(port)
    if listener is None:
        raise TimeoutError(f"could not connect to {host}:{port} within {timeout:.1f} s") from \
            ConnectionRefusedError(f"nothing listens on in-process port {port}")
    dialed, accepted = pair(f"inproc:{next(_dialers)}", f"{host}:{port}")
    listener.accept(accepted)
    return dialed
