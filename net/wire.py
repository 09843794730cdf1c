"""The frame codec: pure functions from messages to bytes and back, with limits.

A message is a JSON header (an object with at least ``"type"``) plus zero or more binary
buffers. Buffers travel as frames of their own, never copied into one big bytes object.

Wire format of one message (integers big-endian):

    offset   size   field
    0        2      magic b"UF"
    2        1      wire version (WIRE_VERSION)
    3        1      flags, reserved: 0
    4        4      H: header length in bytes                 (<= MAX_HEADER)
    8        4      N: number of buffers                      (<= MAX_BUFFERS)
    12       8*N    buffer lengths on the wire, u64; the top bit set means the buffer is an
                    lz4 frame with a content checksum (decompressed on arrival)
    12+8N    H      header, JSON in UTF-8
    ...             the N buffers, in order

A peer can make us allocate at most PREFIX + 8*MAX_BUFFERS + MAX_HEADER + ``max_payload``
bytes per message; anything larger, malformed, of another version or failing its checksum is a
``WireError`` before any of its payload is read.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Dict, List, Sequence, Tuple

import lz4.frame

MAGIC = b"UF"
WIRE_VERSION = 1
PREFIX = struct.Struct(">2sBBII")
MAX_HEADER = 1 << 20
MAX_BUFFERS = 1024
DEFAULT_MAX_PAYLOAD = 1 << 31  # 2 GiB of buffers in one message
UNDECLARED_PIECE = 64 << 20  # bytes decompressed at a time from an lz4 frame that declares no size
_COMPRESSED = 1 << 63

# Compress only when it pays: small buffers never, others when a sample shrinks enough.
COMPRESS_MIN = 64 * 1024
_SAMPLE = 64 * 1024
_WORTH_IT = 0.9


class WireError(ValueError):
    """A message that must not be used: the connection it came on is closed after an error
    frame."""


Header = Dict[str, Any]


def maybe_compress(buffer: bytes) -> Tuple[bool, bytes]:
    """(compressed?, bytes to send): lz4 with checksum when a sample says it saves >10%."""
    if len(buffer) < COMPRESS_MIN:
        return False, buffer
    sample = bytes(memoryview(buffer)[:_SAMPLE])
    if len(lz4.frame.compress(sample)) > _WORTH_IT * len(sample):
        return False, buffer
    return True, lz4.frame.compress(buffer, content_checksum=True)


def encode(header: Header, buffers: Sequence[bytes] = (), compress: bool = False) -> List[bytes]:
    """The frames of one message, ready to write in order."""
    if "type" not in header:
        raise WireError("a header needs a 'type'")
    if len(buffers) > MAX_BUFFERS:
        raise WireError(f"too many buffers: {len(buffers)} > {MAX_BUFFERS}")
    body = json.dumps(header, separators=(",", ":")).encode()
    if len(body) > MAX_HEADER:
        raise WireError(f"header too large: {len(body)} > {MAX_HEADER} bytes")
    frames, lengths = [], []
    for buffer in buffers:
        compressed, data = maybe_compress(buffer) if compress else (False, buffer)
        frames.append(data)
        lengths.append(len(data) | (_COMPRESSED if compressed else 0))
    prefix = PREFIX.pack(MAGIC, WIRE_VERSION, 0, len(body), len(buffers))
    return [prefix + struct.pack(f">{len(lengths)}Q", *lengths) + body, *frames]


AUTH_MAGIC = b"UFA1"  # how a peer that requires the cluster's secret begins (net.auth)
TLS_MAGIC = b"UFT1"  # how a port serving TLS only answers a peer that did not start TLS (net.channel)
TLS_ONLY = "it serves TLS only (UFORA_TLS_CERT is set there): set UFORA_TLS_CA here to the authority that signed it"


def decode_prefix(prefix: bytes) -> Tuple[int, int]:
    """(header length, buffer count) from the first PREFIX.size bytes."""
    if prefix.startswith(AUTH_MAGIC):
        raise WireError("the peer requires the cluster's secret (UFORA_CLUSTER_SECRET), which is not set here")
    if prefix.startswith(TLS_MAGIC):
        raise WireError(TLS_ONLY)
    magic, version, _flags, header_length, count = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"not a ufora frame (magic {magic!r})")
    if version != WIRE_VERSION:
        raise WireError(f"wire version {version} is not {WIRE_VERSION}")
    if header_length > MAX_HEADER:
        raise WireError(f"header too large: {header_length} > {MAX_HEADER} bytes")
    if count > MAX_BUFFERS:
        raise WireError(f"too many buffers: {count} > {MAX_BUFFERS}")
    return header_length, count


def decode_lengths(raw: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> List[Tuple[int, bool]]:
    """[(length on the wire, compressed?)], refusing a payload over ``max_payload``."""
    lengths = [(n & ~_COMPRESSED, bool(n & _COMPRESSED)) for n in struct.unpack(f">{len(raw) // 8}Q", raw)]
    total = sum(n for n, _ in lengths)
    if total > max_payload:
        raise WireError(f"payload too large: {total} > {max_payload} bytes")
    return lengths


def decode_header(raw: bytes) -> Header:
    try:
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    except RecursionError:  # [[[[...]]]] deeper than the parser goes: refused, not a traceback
        raise WireError("header is not JSON: nested too deeply") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise WireError("header is not an object with a string 'type'")
    return header


def declared_size(data: bytes) -> int:
    """The size an lz4 buffer declares it decompresses to (0: it does not say)."""
    try:
        return lz4.frame.get_frame_info(bytes(memoryview(data)[:19]))["content_size"]
    except (RuntimeError, ValueError, KeyError) as exc:
        raise WireError(f"corrupt lz4 buffer: {exc}") from None


def decode_buffer(data: bytes, compressed: bool, max_payload: int = DEFAULT_MAX_PAYLOAD) -> bytes:
    """A buffer as it arrived, decompressed if it is lz4: never to more than ``max_payload``
    bytes, and refused before any allocation when its frame declares more."""
    if not compressed:
        return data
    declared = declared_size(data)
    if declared > max_payload:
        raise WireError(f"buffer declares {declared} bytes decompressed, over the limit of {max_payload}")
    decompressor = lz4.frame.LZ4FrameDecompressor()
    # lz4 sets aside max_length bytes at once: the declared size (ours always declare it), else
    # a piece at a time, so that a frame that declares nothing costs what it expands to.
    piece = declared + 1 if declared else min(max_payload + 1, UNDECLARED_PIECE)
    pieces, total = [], 0
    try:
        pieces.append(decompressor.decompress(data, max_length=piece))
        total = len(pieces[-1])
        while not decompressor.eof and not decompressor.needs_input and total <= max_payload:
            pieces.append(decompressor.decompress(b"", max_length=piece))
            total += len(pieces[-1])
    except RuntimeError as exc:  # lz4 reports bad frames and checksum mismatches this way
        raise WireError(f"corrupt lz4 buffer: {exc}") from None
    if total > max_payload or not decompressor.eof:
        raise WireError(f"buffer decompresses to more than {max_payload} bytes, or is cut short")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
