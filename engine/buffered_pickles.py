"""A block's free variables as a pickle with its large buffers after it, out of band.

Pickled in band, a 32 MB array was copied into the pickle on the client (33 ms), searched there
for NaN floats (``engine.nan_identity``: 10-20 ms), and copied out of the pickle again in the
compute process (39 ms): 90 ms of a 200 ms block that only doubled it. Pickled with protocol
5's out-of-band buffers (``Buffered``), the pickle stream is small, the client sends the arrays'
own memory after it (``parts``), and the compute process reads the arrays where they arrived:
the segment the worker wrote the upload to, mapped copy-on-write (``engine.shm.map_private``),
so that a block that writes into a free variable changes its own copy, as in CPython, and one
that only reads it copies nothing. Read from memory that is not writable (a pickle small enough
for the compute process's pipe), each buffer is copied once, into memory of its own.

The layout: ``MAGIC``, the number of buffers, the stream's length and each buffer's (8 bytes
each, little-endian), the stream, then each buffer from an offset that is a multiple of
``ALIGN`` (numpy's fastest loops want aligned data). A pickle always starts with another byte
(protocol 2 and later with PROTO, 0x80), so the two kinds are told apart by their first bytes.
"""
from __future__ import annotations

import struct
from typing import Any, Iterator, List, Sequence, Tuple, Union

MAGIC = b"\xffufora-b"  # 8 bytes
ALIGN = 64
OUT_OF_BAND_FROM = 1 << 20  # a buffer (an array's bytes) from this size on goes after the stream
_COUNTS = struct.Struct("<QQ")  # buffers, the stream's length


def _padding(offset: int) -> int:
    return -offset % ALIGN


class Buffered:
    """A pickle ``stream`` and its out-of-band ``buffers`` (the arrays' memory, not copies, as
    bytes: ``PickleBuffer.raw()``)."""

    def __init__(self, stream: bytes, buffers: Sequence[memoryview]):
        self.stream = stream
        self.buffers = list(buffers)
        self._head = MAGIC + _COUNTS.pack(len(self.buffers), len(stream)) + b"".join(
            struct.pack("<Q", buffer.nbytes) for buffer in self.buffers)

    def __len__(self) -> int:
        return sum(len(part) if isinstance(part, bytes) else part.nbytes for part in self.parts())

    def parts(self) -> List[Union[bytes, memoryview]]:
        """The layout's pieces in order, to be sent one after the other (``joined`` copies them)."""
        pieces: List[Union[bytes, memoryview]] = [self._head, self.stream]
        offset = len(self._head) + len(self.stream)
        for buffer in self.buffers:
            pieces.append(bytes(_padding(offset)))
            offset += _padding(offset)
            pieces.append(buffer)
            offset += buffer.nbytes
        return pieces

    def joined(self) -> bytes:
        return b"".join(self.parts())


class Parts:
    """``Buffered.parts`` as a body ``requests`` sends piece by piece with its length declared
    (an object with ``__len__`` and ``__iter__``), again from the start on each iteration."""

    def __init__(self, buffered: Buffered):
        self._buffered = buffered
        self._length = len(buffered)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Union[bytes, memoryview]]:
        return iter(self._buffered.parts())


def is_buffered(data: Any) -> bool:
    """Whether ``data`` (bytes, or a view of a segment) is laid out as a ``Buffered``."""
    return bytes(memoryview(data)[:len(MAGIC)]) == MAGIC


def split(data: Any) -> Tuple[memoryview, List[Any]]:
    """The stream of a ``Buffered`` laid out in ``data``, and its buffers: views of ``data``
    where it is writable, else copies of their own (an array read from them must be writable,
    as the client's was, unless the pickle says it was not)."""
    view = memoryview(data).cast("B")
    count, stream_length = _COUNTS.unpack_from(view, len(MAGIC))
    at = len(MAGIC) + _COUNTS.size
    lengths = struct.unpack_from(f"<{count}Q", view, at)
    at += 8 * count
    stream = view[at:at + stream_length]
    at += stream_length
    buffers: List[Any] = []
    for length in lengths:
        at += _padding(at)
        if at + length > len(view):
            raise ValueError(f"a buffered pickle of {len(view)} bytes is cut short: a buffer ends at {at + length}")
        piece = view[at:at + length]
        buffers.append(piece if not view.readonly else bytearray(piece))
        at += length
    return stream, buffers
