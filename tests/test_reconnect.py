"""A dropped connection (issue 14): reconnected automatically, the session's remote objects
kept by the manager for its grace period; pending futures fail naming the cause; a session
closed, or ended by its script, frees its objects at once. Real services, a real TCP relay
whose connections the test cuts."""
import logging
import threading

import pytest

import pyfora
from tests.conftest import client_script, free_port_pair, manager_status, one_host, wait_for
from tests.relay import Relay


def objects_held(service) -> int:
    return manager_status(service.url)["objects"]


@pytest.fixture
def relayed(start_service):
    """``relayed(grace=None) -> (service, relay)``: a manager + worker, and a relay to it."""
    relays = []

    def start(grace=None):
        env = one_host(1)
        if grace is not None:
            env["UFORA_SESSION_GRACE"] = str(grace)
        service = start_service(env)
        relays.append(Relay(service.ports["http_port"]))
        return service, relays[-1]

    yield start
    for relay in relays:
        relay.close()


def test_a_dropped_connection_is_reconnected_and_proxies_made_before_still_work(relayed, caplog):
    service, relay = relayed()
    with pyfora.connect(relay.url, timeout=20, progress=False) as ufora:
        data = ufora.define([1, 2, 3]).result()
        pending = ufora.submit(pow, 2, 10**9)  # minutes of work: pending when the connection drops
        wait_for(lambda: manager_status(service.url)["running"] == 1, "the block to run")
        with caplog.at_level(logging.WARNING, logger="pyfora.connection"):
            relay.cut()
            error = pending.exception(timeout=30)
            assert isinstance(error, pyfora.ConnectionError)
            assert "was lost" in str(error) and "(" in str(error)  # names the cause
            with ufora.remotely.downloadAll():
                total = sum(data)
        assert total == 6
        assert relay.accepted == 4  # two connections, each after its authentication challenge (one GET)
        assert any("reconnected to the manager" in record.getMessage() and "gone" not in record.getMessage()
                   for record in caplog.records)
        # the block pending at the drop was stopped on the cluster: its future had failed
        wait_for(lambda: manager_status(service.url)["running"] == 0, "the dropped block to stop")
        assert data.toLocal().result() == [1, 2, 3]


def test_objects_of_a_session_that_outlives_its_grace_are_freed_and_say_so(relayed):
    service, relay = relayed(grace=1)
    with pyfora.connect(relay.url, timeout=20, progress=False) as ufora:
        data = ufora.define([1, 2, 3]).result()
        assert objects_held(service) == 1
        relay.refusing = True
        relay.cut()
        wait_for(lambda: objects_held(service) == 0, "the grace period to end")
        relay.refusing = False
        with pytest.raises(pyfora.PyforaError, match="was freed, or never existed"):
            data.toLocal().result()
        with ufora.remotely.downloadAll():  # the session itself works again
            total = sum(range(4))
        assert total == 6


def test_a_reconnect_that_fails_says_since_when_and_why(relayed):
    service, relay = relayed()
    ufora = pyfora.connect(relay.url, timeout=2, progress=False)
    try:
        relay.refusing = True
        relay.cut()
        with pytest.raises(pyfora.ConnectionError) as raised:
            ufora.getWorkerCount()
        message = str(raised.value)
        assert "disconnected from the manager" in message and " since " in message
        assert "reconnecting for 2 s failed" in message
        assert "not a connected namespace" not in message
    finally:
        ufora.close()


def test_a_restarted_manager_is_reconnected_to(start_service, caplog):
    env = {**one_host(1), "UFORA_WEB_HTTP_PORT": str(free_port_pair()), "UFORA_MANAGER_PORT": str(free_port_pair()),
           "UFORA_WORKER_BASE_PORT": str(free_port_pair())}
    service = start_service(env)
    with pyfora.connect(service.url, timeout=60, progress=False) as ufora:
        data = ufora.define([1, 2, 3]).result()
        service.stop()
        with caplog.at_level(logging.WARNING, logger="pyfora.connection"):
            start_service(env)
            with ufora.remotely.downloadAll():
                total = sum(range(4))
        assert total == 6
        assert any("no longer knew this session" in record.getMessage() for record in caplog.records)
        with pytest.raises(pyfora.PyforaError, match="was freed, or never existed"):
            data.toLocal().result()


def test_close_frees_the_session_s_objects_at_once(relayed):
    service, relay = relayed()  # the default grace: a minute
    ufora = pyfora.connect(service.url, progress=False)
    ufora.define(list(range(10))).result()
    assert objects_held(service) == 1
    ufora.close()
    wait_for(lambda: objects_held(service) == 0, "the closed session's objects to be freed", timeout=5)


def test_a_script_that_ends_without_close_frees_its_objects_at_once(relayed, tmp_path):
    service, relay = relayed()
    script = client_script(tmp_path / "user.py", (
        "import pyfora\n"
        "ufora = pyfora.connect(progress=False)\n"
        "kept = ufora.define(list(range(10))).result()\n"
        "print(kept is not None, flush=True)\n"), service.url)
    out, err = script.communicate(timeout=60)
    assert script.returncode == 0, err
    assert out.strip() == "True"
    wait_for(lambda: objects_held(service) == 0, "the ended script's objects to be freed", timeout=5)


def test_a_call_made_the_moment_a_future_fails_waits_for_the_reconnect(relayed):
    """The drop fails pending futures only once a reconnect is under way: a caller woken by the
    failure is never told the executor is disconnected when it is reconnecting."""
    service, relay = relayed()
    with pyfora.connect(relay.url, timeout=20, progress=False) as ufora:
        for _ in range(5):
            pending = ufora.submit(pow, 2, 10**9)
            wait_for(lambda: manager_status(service.url)["running"] == 1, "the block to run")
            answers = []
            waiter = threading.Thread(target=lambda: answers.append(
                (pending.exception(timeout=30), ufora.getWorkerCount())))
            waiter.start()
            relay.cut()
            waiter.join(60)
            assert isinstance(answers[0][0], pyfora.ConnectionError) and answers[0][1] == 1


def test_close_while_reconnecting_leaves_no_connection_behind(relayed):
    service, relay = relayed()
    ufora = pyfora.connect(relay.url, timeout=20, progress=False)
    ufora.define([1, 2, 3]).result()
    relay.refusing = True
    relay.cut()
    wait_for(lambda: ufora._connection._state.down is not None, "the client to see the drop")
    relay.refusing = False  # the reconnecting thread may be opening a connection right now
    ufora.close()
    wait_for(lambda: not any(thread.name == "pyfora-reconnect" for thread in threading.enumerate()),
             "the reconnecting thread to end")
    assert not ufora._connection._sio.connected
    wait_for(lambda: manager_status(service.url)["clients"] == 0, "the manager to see no client")
