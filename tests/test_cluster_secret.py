"""The cluster secret (issue 15, first slice): with UFORA_CLUSTER_SECRET set, every connection
between services proves the secret both ways before its first frame. Forged frames on the
registry, control and data ports are refused before they are read, and the cluster keeps
serving with the right answer; a worker with another secret, or none, never joins and says why;
a service without one warns at start."""
import pytest

import pyfora
from ufora.net import auth, config, wire
from tests.conftest import joining, manager_status, one_host, wait_for
from tests.primes import countPrimes
from tests.test_wire_robustness import exchange

FORGED = {
    "a register that takes over a worker's id": None,  # filled in with the worker's own id
    "a pull of other users' partitions": b"".join(wire.encode({"type": "pull", "task_id": 1, "reserved": 1})),
    "a forged partition_done": b"".join(wire.encode({"type": "partition_done", "task_id": 1, "lo": 0, "hi": 1,
                                                     "slot": [0, 1]}, [b"x"])),
    "an offer held open": b"".join(wire.encode({"type": "offer", "task_id": 1})),
    "a fetch of a shared-memory range": b"".join(wire.encode({"type": "fetch", "key": "segment:ufora_1_1_0:0:8"})),
}


@pytest.mark.parametrize("attack", sorted(FORGED))
def test_forged_frames_are_refused_before_they_are_read_and_the_cluster_keeps_serving(start_service, attack):
    service = start_service(one_host(1))
    [member] = manager_status(service.url)["members"]
    data = FORGED[attack] or b"".join(wire.encode({"type": "register", "worker": {
        "id": member["id"], "address": "127.0.0.1", "control_port": 1, "data_port": 2, "cores": 64}}))
    for port in (service.ports["registry_port"], service.ports["control_port"], service.ports["data_port"]):
        reply = exchange(port, data)
        assert reply[:len(auth.MAGIC)] == auth.MAGIC  # our half of the handshake, then one error frame
        rest = reply[auth.HELLO:]
        header_length, _ = wire.decode_prefix(rest[:wire.PREFIX.size])
        assert wire.decode_header(rest[wire.PREFIX.size:wire.PREFIX.size + header_length]) == {
            "type": "error", "message": "authentication failed"}
    status = manager_status(service.url)
    assert [(m["id"], m["configured_cores"]) for m in status["members"]] == [(member["id"], 1)]
    with pyfora.connect(service.url, progress=False) as ufora:
        with ufora.remotely.downloadAll():
            result = countPrimes(100_000)
    assert result == 9594
    assert service.log.count("refused a connection from 127.0.0.1") == 1  # logged once


@pytest.mark.parametrize("secret", ["another-secret-of-32-characters!", ""])
def test_a_worker_with_another_secret_or_none_never_joins_and_says_why(start_service, secret):
    manager = start_service({**one_host(1)})
    stranger = start_service({**joining(manager, 1), "UFORA_CLUSTER_SECRET": secret}, wait_ready=False)
    said = "refused the cluster's secret" if secret else "requires the cluster's secret (UFORA_CLUSTER_SECRET)"
    wait_for(lambda: said in stranger.log, "the stranger to say why it cannot join", timeout=60)
    assert manager_status(manager.url)["workers"] == 1
    if not secret:
        assert "UFORA_CLUSTER_SECRET is not set" in stranger.log


def test_workers_with_the_secret_join_and_share_a_block(start_service):
    manager = start_service({"UFORA_NO_WORKER": "1", "UFORA_WEB_HTTP_PORT": "0", "UFORA_MANAGER_PORT": "0"})
    for _ in range(2):
        start_service(joining(manager, 1))
    wait_for(lambda: manager_status(manager.url)["workers"] == 2, "both workers to join")
    with pyfora.connect(manager.url, progress=False) as ufora:
        with ufora.remotely.downloadAll():
            result = countPrimes(1_000_000)
    assert result == 78500
    assert "UFORA_CLUSTER_SECRET is not set" not in manager.log


@pytest.mark.parametrize("env,fault", [
    ({"UFORA_CLUSTER_SECRET": "short"}, "too short"),
    ({"UFORA_CLUSTER_SECRET": "x" * 32, "UFORA_CLUSTER_SECRET_FILE": "/etc/hostname"}, "both set"),
    ({"UFORA_CLUSTER_SECRET_FILE": "/no/such/file"}, "cannot be read"),
])
def test_a_secret_that_cannot_be_used_is_a_one_line_error(env, fault):
    with pytest.raises(config.ConfigError, match=fault):
        config.parse({**env, "UFORA_NO_WORKER": "1"})


def test_the_secret_can_come_from_a_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text("s" * 40 + "\n")
    assert config.parse({"UFORA_NO_WORKER": "1", "UFORA_CLUSTER_SECRET_FILE": str(path)}).cluster_secret == b"s" * 40


def test_a_proof_is_bound_to_its_role_and_to_both_nonces():
    secret, a, b = b"k" * 32, b"a" * 32, b"b" * 32
    assert auth.proof(secret, b"dialer", a, b) != auth.proof(secret, b"listener", a, b)
    assert auth.proof(secret, b"dialer", a, b) != auth.proof(secret, b"dialer", b, a)
    assert auth.proof(secret, b"dialer", a, b) != auth.proof(b"j" * 32, b"dialer", a, b)
