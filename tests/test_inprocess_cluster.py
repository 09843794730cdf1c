"""Protocol tests on the in-process cluster (tests/inprocess.py): a manager and two workers in
this process, over real loopback sockets with a random secret, whose state the tests read and
check (``ManagerState.validate_state``) between the loop's steps, and whose logs ``caplog``
holds. Each would otherwise need subprocess services."""
import logging
import os
import socket

import pytest

import pyfora
from ufora.net import auth, wire
from ufora.net.inproc import InProcChannel
from ufora.net import channel as channels
from tests.conftest import RUN_SECRET, alive, client_claim, manager_status, socketio_connect, wait_for
from tests.inprocess import InProcessCluster
from tests.primes import countPrimes
from tests.test_wire_robustness import error_message, exchange


@pytest.fixture
def cluster(caplog):
    caplog.set_level(logging.INFO)
    with InProcessCluster(workers=2) as running:
        yield running


def connect(cluster: InProcessCluster) -> pyfora.Executor:
    return pyfora.connect(cluster.url, secret=cluster.secret, progress=False)


def compute_pids(worker) -> set:
    return {process.pid for process in worker.processes.values()}


def wait_for_file(path: str) -> int:
    """Runs on the cluster until ``path`` exists (the test says when): the computing process's pid."""
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)
    return os.getpid()


def test_the_manager_reaches_its_own_service_s_worker_in_process_and_the_others_over_tcp(caplog):
    caplog.set_level(logging.INFO)
    with InProcessCluster(workers=2, local_first=True) as cluster, connect(cluster) as ufora:
        own, other = cluster.workers
        links = cluster.manager.links
        assert type(cluster.call(lambda: links[own.id].control)) is InProcChannel
        assert type(cluster.call(lambda: links[other.id].control)) is not InProcChannel
        for _ in range(3):
            with ufora.remotely.downloadAll():
                result = countPrimes(10_000)
                pid = os.getpid()
            assert result == countPrimes(10_000) and pid in compute_pids(own) | compute_pids(other)
        cluster.call(cluster.manager.state.validate_state)
        assert cluster.call(lambda: (cluster.manager.state.running_count(), dict(own.jobs))) == (0, {})


def test_a_block_s_round_trip_leaves_the_manager_s_state_whole(cluster):
    with connect(cluster) as ufora:
        with ufora.remotely.downloadAll():
            result = countPrimes(100_000)
            pid = os.getpid()
    assert result == 9594
    assert pid in compute_pids(cluster.workers[0]) | compute_pids(cluster.workers[1])  # not here
    cluster.call(cluster.manager.state.validate_state)
    state = cluster.manager.state
    assert cluster.call(lambda: (state.running_count(), len(state.pending), len(state.objects))) == (0, 0, 0)
    for worker in cluster.workers:  # the block's record ended with it on its worker
        cluster.call(worker.scheduler.validate_state)
        assert cluster.call(lambda: dict(worker.jobs)) == {}
    status = manager_status(cluster.url)
    assert (status["workers"], status["clients"]) == (2, 0)


def test_a_block_whose_worker_s_control_channel_closes_runs_again_on_the_other_worker(cluster, caplog, tmp_path):
    flag = tmp_path / "go"
    with connect(cluster) as ufora:
        future = ufora.submit(wait_for_file, str(flag))
        cluster.wait(lambda: any(worker.jobs for worker in cluster.workers), "the block to reach a worker")
        [first] = [worker for worker in cluster.workers if worker.jobs]
        [other] = [worker for worker in cluster.workers if worker is not first]
        computing = compute_pids(first)
        cluster.call(lambda: [job.channel.close() for job in first.jobs.values()])
        cluster.wait(lambda: bool(other.jobs), "the block to run again on the other worker")
        cluster.call(cluster.manager.state.validate_state)
        assert first.id not in cluster.manager.state.members  # lost with its channel, until it registers again
        flag.touch()
        pid = future.result(timeout=60).toLocal().result(timeout=60)
    assert pid in compute_pids(other)
    wait_for(lambda: "was stopped by a cancel" in caplog.text, "the first worker to stop the block")
    assert cluster.call(lambda: dict(first.jobs)) == {}  # ended by the cancel
    assert not computing & compute_pids(first)  # its process was killed, and replaced
    assert "abandoned: the channel of the manager that sent it closed" in caplog.text
    assert "running block" in caplog.text and "again (1 of 2)" in caplog.text
    cluster.call(cluster.manager.state.validate_state)


def test_a_socketio_client_is_refused_without_the_cluster_s_secret(cluster):
    assert socketio_connect(cluster.url, None).startswith("authentication failed: this cluster requires its secret")
    another = socketio_connect(cluster.url, client_claim(cluster.url, secret=RUN_SECRET))  # another cluster's
    assert another == "authentication failed: the secret does not match this cluster's (UFORA_CLUSTER_SECRET)"
    assert socketio_connect(cluster.url, client_claim(cluster.url, secret=cluster.secret)) == ""
    cluster.wait(lambda: not cluster.manager.sessions.by_sid, "the accepted client's session to end with it")
    cluster.call(cluster.manager.state.validate_state)


def test_a_forged_register_is_refused_before_it_is_read_and_takes_over_no_worker(cluster, caplog):
    victim = cluster.workers[0]
    forged = b"".join(wire.encode({"type": "register", "worker": {
        "id": victim.id, "address": "127.0.0.1", "control_port": 1, "data_port": 2, "cores": 64}}))
    reply = exchange(cluster.ports["registry_port"], forged)
    assert reply[:len(auth.MAGIC)] == auth.MAGIC  # our half of the handshake, then one error frame
    assert error_message(reply[auth.HELLO:]) == "authentication failed"
    member = cluster.call(lambda: cluster.manager.state.members[victim.id].info)
    assert (member.control_port, member.cores) == (cluster.call(lambda: victim.registry.info.control_port), 1)
    cluster.call(cluster.manager.state.validate_state)
    assert caplog.text.count("refused a connection from 127.0.0.1") == 1
    with connect(cluster) as ufora:
        with ufora.remotely.downloadAll():
            result = countPrimes(100_000)
    assert result == 9594


def test_a_session_s_remote_objects_are_its_own_and_go_with_it(cluster):
    with connect(cluster) as alice, connect(cluster) as bob:
        hers = alice.define([1, 2, 3]).result(timeout=60)
        his = bob.define("his").result(timeout=60)
        objects = cluster.manager.state.objects
        assert cluster.call(lambda: objects[hers.object_id].session != objects[his.object_id].session)
        with pytest.raises(pyfora.InternalError, match=f"remote object {hers.object_id} was freed, or never existed"):
            bob._fetch(hers.object_id).result(timeout=60)  # the answer an id that never existed gets
        assert hers.toLocal().result(timeout=60) == [1, 2, 3]
        held_by = cluster.call(lambda: [worker for worker in cluster.workers if hers.object_id in worker.blobs.blobs])
        assert len(held_by) == 1
        alice.close()
        cluster.wait(lambda: hers.object_id not in objects and not any(hers.object_id in worker.blobs.blobs
                                                                        for worker in cluster.workers),
                     "her object to be freed on the manager and on its worker")
        assert his.toLocal().result(timeout=60) == "his"  # his stays while he is connected
        cluster.call(cluster.manager.state.validate_state)


def test_a_cluster_stopped_by_a_failing_test_leaves_no_port_process_or_secret_behind():
    before = channels._secret
    with pytest.raises(RuntimeError, match="a test failed here"):
        with InProcessCluster(workers=1) as cluster:
            [worker] = cluster.workers
            ports = [*cluster.ports.values(), *cluster.call(lambda: (worker.registry.info.control_port,
                                                                     worker.registry.info.data_port))]
            pids = compute_pids(worker) | {worker.pool.zygote}
            raise RuntimeError("a test failed here")
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
    assert not any(alive(pid) for pid in pids)
    assert channels._secret is before  # the process's own again
