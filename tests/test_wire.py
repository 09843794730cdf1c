import os

import lz4.frame
import pytest

from ufora.net import schema, wire


def join(frames):
    return b"".join(frames)


def decode(data: bytes):
    """Decode one whole message from bytes with the codec's own steps."""
    header_length, count = wire.decode_prefix(data[:wire.PREFIX.size])
    at = wire.PREFIX.size
    lengths = wire.decode_lengths(data[at:at + 8 * count])
    at += 8 * count
    header = wire.decode_header(data[at:at + header_length])
    at += header_length
    buffers = []
    for length, compressed in lengths:
        buffers.append(wire.decode_buffer(data[at:at + length], compressed))
        at += length
    return header, buffers


def test_literal_bytes_of_a_small_message():
    frames = wire.encode({"type": "ping"}, [b"ab"])
    assert join(frames) == (b"UF" + b"\x01" + b"\x00" + b"\x00\x00\x00\x0f" + b"\x00\x00\x00\x01"
                            + b"\x00\x00\x00\x00\x00\x00\x00\x02" + b'{"type":"ping"}' + b"ab")


def test_round_trip_with_compression_only_where_it_pays():
    compressible = b"a" * 200_000
    random_bytes = os.urandom(200_000)
    frames = wire.encode({"type": "blob", "n": 3}, [b"", compressible, random_bytes, b"xy"], compress=True)
    assert len(frames[2]) < 10_000           # compressed
    assert frames[3] == random_bytes         # sent as is: would not shrink
    assert decode(join(frames)) == ({"type": "blob", "n": 3}, [b"", compressible, random_bytes, b"xy"])


@pytest.mark.parametrize("prefix,complaint", [
    (b"XX\x01\x00\x00\x00\x00\x02\x00\x00\x00\x00", "magic"),
    (b"UF\x02\x00\x00\x00\x00\x02\x00\x00\x00\x00", "version"),
    (b"UF\x01\x00\x7f\x00\x00\x00\x00\x00\x00\x00", "header too large"),
    (b"UF\x01\x00\x00\x00\x00\x02\x00\x01\x00\x00", "too many buffers"),
])
def test_bad_prefixes_are_refused_before_reading_more(prefix, complaint):
    with pytest.raises(wire.WireError, match=complaint):
        wire.decode_prefix(prefix)


def test_oversized_payload_is_refused_from_its_lengths():
    lengths = (2 ** 40).to_bytes(8, "big")
    with pytest.raises(wire.WireError, match="payload too large"):
        wire.decode_lengths(lengths, max_payload=2 ** 30)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"no": "type"}', b"\xff\xfe"])
def test_headers_must_be_objects_with_a_type(raw):
    with pytest.raises(wire.WireError):
        wire.decode_header(raw)


def test_corrupted_lz4_buffer_is_detected_by_its_checksum():
    data = bytearray(lz4.frame.compress(b"0123456789" * 10_000, content_checksum=True))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(wire.WireError, match="corrupt"):
        wire.decode_buffer(bytes(data), compressed=True)


@pytest.mark.parametrize("size", [0, 10, schema.INLINE_BYTES - 1, schema.INLINE_BYTES])
def test_socketio_bytes_are_text_when_small_and_come_back_the_same(size):
    data = os.urandom(size)
    on_the_wire = schema.wire_bytes(data)
    assert isinstance(on_the_wire, str if size < schema.INLINE_BYTES else bytes)
    assert schema.bytes_from_wire(on_the_wire) == data


@pytest.mark.parametrize("value,error", [("not base64!", ValueError), (3, TypeError), (None, TypeError)])
def test_socketio_bytes_that_are_neither_are_refused(value, error):
    with pytest.raises(error):
        schema.bytes_from_wire(value)


@pytest.mark.parametrize("data,job_id", [({"job_id": "abc"}, "abc"), ({}, "None"), ("junk", ""), (None, ""),
                                         ({"job_id": "x" * 100}, "x" * 64)])
def test_a_cancel_names_a_job_or_none(data, job_id):
    assert schema.cancel(data) == job_id


@pytest.mark.parametrize("data,fetch", [({"job_id": "j", "object_id": "o"}, schema.Fetch("j", "o")),
                                        ([1, 2], schema.Fetch("?", "")), ({"job_id": "j"}, schema.Fetch("j", "None"))])
def test_a_fetch_names_its_answer_and_an_object(data, fetch):
    assert schema.fetch(data) == fetch


@pytest.mark.parametrize("data,ids", [({"object_ids": ["a", 2]}, ["a", "2"]), ({"object_ids": "a"}, []),
                                      ({}, []), ("junk", [])])
def test_a_release_names_objects_or_nothing(data, ids):
    assert schema.release(data) == ids


def test_a_header_nested_deeper_than_the_parser_goes_is_refused_not_a_traceback():
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode_header(b'{"type": "x", "a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
