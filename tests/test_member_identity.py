"""Least privilege among members (issue 15), on an OPEN cluster (no secret), against real
services on loopback: a live worker's id cannot be taken over without its key; the registry
hands members tokens, never keys; a worker's control port takes peer messages only on a channel
that proved which member it is, and only as that member; and a two-worker cluster still splits
a block across both workers, with the right answer."""
from __future__ import annotations

import contextlib
import re
import secrets
import socket
import threading
from typing import Dict, Iterator

import pytest

import pyfora
from ufora.net import identity, wire
from tests.conftest import MANAGER_ONLY, Service, joining, manager_status, wait_for
from tests.primes import countPrimes

OPEN = {"UFORA_CLUSTER_SECRET": ""}
REFUSAL_LOGGED = "(said once per address)"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Dict]:
    """An open manager and two open workers; each worker's id, read from its own log."""
    with Service({**MANAGER_ONLY, **OPEN}) as manager, Service({**joining(manager, 1), **OPEN}) as first, \
            Service({**joining(manager, 1), **OPEN}) as second:
        workers = [first, second]
        wait_for(lambda: manager_status(manager.url)["workers"] == 2, "both workers to join")
        ids = [re.search(r"worker (\w+): control", worker.log).group(1) for worker in workers]
        yield {"manager": manager, "workers": workers, "ids": ids}


class Raw:
    """A raw connection speaking net.wire to a service's port, as a stranger (or a member made
    by hand) would."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.writing = threading.Lock()

    def send(self, header: dict, buffers=()) -> None:
        with self.writing:
            self.sock.sendall(b"".join(wire.encode(header, buffers)))

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def read(self) -> dict:
        """The next message's header other than a heartbeat (buffers read and dropped)."""
        while True:
            header_length, count = wire.decode_prefix(self._exactly(wire.PREFIX.size))
            lengths = wire.decode_lengths(self._exactly(8 * count))
            header = wire.decode_header(self._exactly(header_length))
            for length, _ in lengths:
                self._exactly(length)
            if header["type"] != "heartbeat":
                return header

    def refused(self) -> str:
        """The one error frame, then the connection closed: the error's message."""
        try:
            header = self.read()
            assert header["type"] == "error", header
            assert self.sock.recv(1) == b""
            return header["message"]
        finally:
            self.close()

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def member(manager: Service, key: str) -> Iterator[dict]:
    """A member registered by hand (as anyone can on an open cluster), beating its heart until
    it leaves: its WorkerInfo, key and welcome."""
    info = {"id": secrets.token_hex(6), "address": "127.0.0.1", "control_port": 1, "data_port": 1, "cores": 1,
            "memory": 1 << 30}
    registry = Raw(manager.ports["registry_port"])
    registry.send({"type": "register", "worker": info, "key": key})
    welcome = registry.read()
    assert welcome["type"] == "welcome", welcome
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.5):
            registry.send({"type": "heartbeat"})
    beating = threading.Thread(target=beat)
    beating.start()
    try:
        yield {"info": info, "key": key, "welcome": welcome, "registry": registry}
    finally:
        stop.set()
        beating.join()
        registry.close()
        wait_for(lambda: info["id"] not in [m["id"] for m in manager_status(manager.url)["members"]],
                 "the hand-made member to leave")


def introduced(port: int, me: dict, peer: str) -> Raw:
    """A channel to worker ``peer``'s control port, introduced as the hand-made member ``me``
    (``net.identity``), having checked the worker's own proof."""
    channel = Raw(port)
    nonce = secrets.token_hex(16)
    channel.send({"type": "hello", "worker": me["info"]["id"], "nonce": nonce})
    challenge = channel.read()
    assert challenge["type"] == "challenge", challenge
    assert challenge["proof"] == identity.proof(me["welcome"]["tokens"][peer], nonce, challenge["nonce"])
    channel.send({"type": "proof", "proof": identity.proof(identity.token(me["key"], peer), nonce,
                                                          challenge["nonce"])})
    return channel


def foreign_partitions(manager: Service) -> int:
    return sum(m.get("foreign_partitions", 0) for m in manager_status(manager.url)["members"])


def test_a_register_that_takes_over_a_live_worker_s_id_is_refused_and_the_worker_stays(cluster):
    manager, victim = cluster["manager"], cluster["ids"][0]
    forged = {"id": victim, "address": "127.0.0.1", "control_port": 1, "data_port": 2, "cores": 64, "memory": 1}
    without_key = Raw(manager.ports["registry_port"])
    without_key.send({"type": "register", "worker": forged})
    assert "key" in without_key.refused()
    for _ in range(2):
        wrong_key = Raw(manager.ports["registry_port"])
        wrong_key.send({"type": "register", "worker": forged, "key": identity.new_key()})
        assert wrong_key.refused() == f"worker {victim} is a member already, registered with another key"
    members = {m["id"]: m for m in manager_status(manager.url)["members"]}
    assert sorted(members) == sorted(cluster["ids"]) and members[victim]["configured_cores"] == 1
    assert manager.log.count(f"refused a register of worker {victim}") == 1  # logged once
    with pyfora.connect(manager.url, secret="", progress=False) as ufora:  # an open cluster
        with ufora.remotely.downloadAll():
            result = countPrimes(100_000)
    assert result == 9594


def test_the_registry_hands_members_tokens_never_keys(cluster):
    manager = cluster["manager"]
    first_key, second_key = identity.new_key(), identity.new_key()
    with member(manager, first_key) as first, member(manager, second_key) as second:
        joined = first["registry"].read()
        first_id, second_id = first["info"]["id"], second["info"]["id"]
        assert joined == {"type": "joined", "worker": second["info"], "token": identity.token(second_key, first_id)}
        assert second["welcome"]["tokens"][first_id] == identity.token(first_key, second_id)
        assert first_key not in str(second["welcome"]) and second_key not in str(joined)
        status = str(manager_status(manager.url))
        assert first_id in status and second_id in status
        assert first_key not in status + manager.log and second_key not in status + manager.log


def test_a_stranger_s_peer_messages_are_refused_while_a_two_worker_block_stays_right(cluster):
    manager, workers, ids = cluster["manager"], cluster["workers"], cluster["ids"]
    target, other = workers[0], ids[1]
    before = foreign_partitions(manager)
    answers: list = []

    def run_block() -> None:
        with pyfora.connect(manager.url, secret="", progress=False) as ufora:  # an open cluster
            with ufora.remotely.downloadAll():
                answers.append(countPrimes(10_000_000))  # a few seconds: the forged frames come meanwhile
    client = threading.Thread(target=run_block)
    client.start()
    try:
        wait_for(lambda: manager_status(manager.url)["running"], "the block to start")
        forged = {  # in the name of the other worker, for the tasks the block has (ids count from 1)
            "pull": [({"type": "pull", "worker": other, "task_id": task, "reserved": 0}, []) for task in (1, 2)],
            "offer": [({"type": "offer", "worker": other, "task_id": 1}, [])],
            "partition_done": [({"type": "partition_done", "worker": other, "task_id": 1, "lo": 0, "hi": 1,
                                 "stop": True, "slot": [other, 0]}, [b"x"])],
        }
        for kind, messages in forged.items():
            stranger = Raw(target.ports["control_port"])
            for header, buffers in messages:
                stranger.send(header, buffers)
            assert stranger.refused() == (f"{kind} refused: this channel did not introduce itself as a member "
                                          "of the cluster (hello)")
    finally:
        client.join()
    assert answers == [664579 + 2]  # the primes below ten million, and isPrime's 0 and 1
    wait_for(lambda: foreign_partitions(manager) > before, "the other worker's partitions to be counted")
    assert target.log.count(REFUSAL_LOGGED) == 1  # logged once


def test_a_stranger_cannot_introduce_itself_as_a_member(cluster):
    target, other = cluster["workers"][1], cluster["ids"][0]
    stranger = Raw(target.ports["control_port"])
    stranger.send({"type": "hello", "worker": other, "nonce": secrets.token_hex(16)})
    challenge = stranger.read()
    assert challenge["type"] == "challenge"
    stranger.send({"type": "proof", "proof": secrets.token_hex(32)})
    assert stranger.refused() == f"introduction refused: it did not prove it is worker {other}"
    assert target.log.count(REFUSAL_LOGGED) == 1


def test_a_member_speaks_only_for_itself_and_its_own_slots(cluster):
    manager, target = cluster["manager"], cluster["workers"][1]
    other, target_id = cluster["ids"]
    with member(manager, identity.new_key()) as me:
        my_id = me["info"]["id"]
        channel = introduced(target.ports["control_port"], me, target_id)
        channel.send({"type": "offer", "worker": my_id, "task_id": 7})  # accepted: it pulls from us
        pull = channel.read()
        assert {k: pull[k] for k in ("type", "worker", "task_id")} == {"type": "pull", "worker": target_id,
                                                                       "task_id": 7}
        channel.send({"type": "none", "worker": my_id, "task_id": 7, "reserved": pull["reserved"]})
        channel.send({"type": "partition_done", "worker": my_id, "task_id": 1, "lo": 0, "hi": 1, "stop": True,
                      "slot": [other, 0]}, [b"x"])
        assert channel.refused() == f"partition_done refused: slot {[other, 0]!r} is not one worker {my_id} holds"
        impostor = introduced(target.ports["control_port"], me, target_id)
        impostor.send({"type": "pull", "worker": other, "task_id": 1, "reserved": 0})
        assert impostor.refused() == f"pull refused: this channel is worker {my_id}'s, not {other!r}'s"
    assert target.log.count(REFUSAL_LOGGED) == 1


def test_a_token_is_bound_to_its_key_and_audience_and_a_proof_to_its_token_and_both_nonces():
    key, other_key = identity.new_key(), identity.new_key()
    assert identity.token(key, "b") != identity.token(key, "c") != identity.token(other_key, "c")
    assert key not in identity.token(key, "b")
    token, a, b = identity.token(key, "b"), secrets.token_hex(16), secrets.token_hex(16)
    assert identity.proof(token, a, b) != identity.proof(token, b, a)
    assert identity.proof(token, a, b) != identity.proof(identity.token(key, "c"), a, b)
