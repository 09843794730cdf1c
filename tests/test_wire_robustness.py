"""Malformed, oversized, unknown and wrong-version frames sent by a raw socket to each port of a
real service: each is answered with an error frame and its connection closed, and the service
goes on serving everyone else."""
import socket
import struct

import pytest

import pyfora
from ufora.net import wire
from tests.primes import countPrimes

BAD_FRAMES = {
    "not a ufora frame": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "another wire version": wire.PREFIX.pack(b"UF", 9, 0, 2, 0) + b"{}",
    "header over the limit": wire.PREFIX.pack(b"UF", 1, 0, wire.MAX_HEADER + 1, 0),
    "too many buffers": wire.PREFIX.pack(b"UF", 1, 0, 2, wire.MAX_BUFFERS + 1),
    "payload over the limit": wire.PREFIX.pack(b"UF", 1, 0, 2, 1) + struct.pack(">Q", 1 << 40) + b"{}",
    "header not JSON": wire.PREFIX.pack(b"UF", 1, 0, 5, 0) + b"{oops",
    "unknown message type": b"".join(wire.encode({"type": "launch_missiles"})),
}


@pytest.fixture(scope="module")
def service():
    from tests.conftest import Service, one_host

    # open (no cluster secret): what a peer can send before authenticating is in test_cluster_secret
    with Service({**one_host(1), "UFORA_CLUSTER_SECRET": ""}) as running:
        yield running


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then read until the service closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def error_message(reply: bytes) -> str:
    header_length, count = wire.decode_prefix(reply[:wire.PREFIX.size])
    assert count == 0
    header = wire.decode_header(reply[wire.PREFIX.size:wire.PREFIX.size + header_length])
    assert header["type"] == "error"
    return header["message"]


@pytest.mark.parametrize("port_name", ["registry_port", "control_port", "data_port"])
@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_frames_get_an_error_frame_and_a_closed_connection(service, port_name, case):
    reply = exchange(service.ports[port_name], BAD_FRAMES[case])
    message = error_message(reply)
    assert message  # says what was wrong
    if case == "unknown message type":
        assert "launch_missiles" in message


def test_the_service_still_serves_after_all_of_them(service):
    for port_name in ("registry_port", "control_port", "data_port"):
        for data in BAD_FRAMES.values():
            exchange(service.ports[port_name], data)
    with pyfora.connect(service.url, secret="") as ufora:  # an open cluster
        with ufora.remotely.downloadAll():
            result = countPrimes(100_000)
    assert result == 9594
    assert "closing channel" in service.log  # each bad peer was logged, with the reason
