"""A client that never strands its user (issue 14, first slices): the manager's URL as users
write it, and Ctrl-C that cancels the work it interrupts and leaves the executor connected."""
import signal
from typing import Optional

import pytest

import pyfora
from tests.conftest import client_script


@pytest.mark.parametrize("given,meant", [
    ("127.0.0.1:30000", "http://127.0.0.1:30000"),
    ("http://192.168.1.15:30000/", "http://192.168.1.15:30000"),
    ("https://cluster.example:443", "https://cluster.example:443"),
    ("manager", "http://manager:30000"),
    ("[::1]:31000", "http://[::1]:31000"),
])
def test_the_manager_s_url_as_users_write_it(given, meant):
    assert pyfora.manager_url(given) == meant


@pytest.mark.parametrize("given", ["ftp://host:30000", "http://host:port", "http://:30000", "host:99999"])
def test_a_malformed_url_is_a_connection_error_naming_it(given):
    with pytest.raises(pyfora.ConnectionError, match="is not a manager's URL") as raised:
        pyfora.connect(given, timeout=2)
    assert repr(given) in str(raised.value)


def test_a_url_without_a_scheme_connects(cluster_url):
    with pyfora.connect(cluster_url[len("http://"):]) as ufora:
        with ufora.remotely.downloadAll():
            total = sum(range(10))
    assert total == 45


CTRL_C_THEN_GO_ON = """
import signal, sys
import pyfora
from tests.primes import countPrimes
seen = []
def users_handler(signum, frame):  # installed before connecting: it still runs
    seen.append(signum)
    raise KeyboardInterrupt
signal.signal(signal.SIGINT, users_handler)
ufora = pyfora.connect(progress=False)
future = ufora.submit(countPrimes, 10**9)  # hours of work
try:
    print("submitted", flush=True)
    future.result()
except KeyboardInterrupt:
    print("interrupted", seen == [signal.SIGINT], flush=True)
with ufora.remotely.downloadAll():  # the same executor, still connected
    after = sum(range(10))
print("after", after, flush=True)
ufora.close()
"""


def test_ctrl_c_cancels_the_work_and_the_executor_stays_connected(start_service, tmp_path):
    from tests.conftest import one_host

    service = start_service(one_host(2))
    client = client_script(tmp_path / "interrupted.py", CTRL_C_THEN_GO_ON, service.url)
    try:
        assert client.stdout.readline().strip() == "submitted"
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=60)
    finally:
        client.kill()
    assert out.split("\n")[:2] == ["interrupted True", "after 45"], out + err
    assert client.returncode == 0, err
    assert "was stopped by a cancel" in service.log


# Scripts that end without close(), in each state a user leaves them; URL is the manager's, or
# None for an embedded cluster (whose service pid the script prints).
EXITS = {
    "a live proxy": "with ufora.remotely:\n    xs = list(range(1000))\n",
    "a pending future": "from tests.primes import countPrimes\nfuture = ufora.submit(countPrimes, 10**9)\n",
    "an uncaught exception": "",
    "nothing in particular": "",
}


def ending_without_close(state: str, url: Optional[str]) -> str:
    """A script that connects to ``url`` (None: an embedded cluster), leaves ``state``, prints
    "ready" and its embedded cluster's pid (0: none), and ends without close()."""
    return (f"import pyfora\nufora = pyfora.connect({url!r}, progress=False)\n" + EXITS[state] +
            "cluster = ufora._cluster\n"
            "print('ready', cluster.process.pid if cluster else 0, flush=True)\n" +
            ("raise RuntimeError('the script failed')\n" if state == "an uncaught exception" else ""))


@pytest.mark.parametrize("state", EXITS)
@pytest.mark.parametrize("embedded", [False, True], ids=["remote", "embedded"])
def test_a_script_that_ends_without_close_exits_and_stops_its_cluster(state, embedded, start_service, tmp_path):
    """Nothing holds the interpreter at its end (how soon it exits is a figure of
    perf/responses.py: 2 s at most)."""
    from ufora.engine import proc
    from tests.conftest import one_host, wait_for

    url = None if embedded else start_service(one_host(1)).url
    client = client_script(tmp_path / "ends.py", ending_without_close(state, url), None)
    try:
        word, pid = client.stdout.readline().split()
        client.wait(timeout=60)
        wait_for(lambda: not proc.alive(int(pid)), "the embedded cluster to stop")  # (pid 0: none)
    finally:
        client.kill()
        client.wait()
    assert word == "ready" and client.returncode == (1 if state == "an uncaught exception" else 0)


def test_a_call_after_the_connection_dropped_says_since_when_and_why(start_service):
    from tests.conftest import one_host, wait_for

    service = start_service(one_host(1))
    ufora = pyfora.connect(service.url, timeout=5, progress=False)  # the call waits for reconnecting to give up
    try:
        service.process.kill()
        wait_for(lambda: not ufora._connection._sio.connected, "the client to see the drop")
        with pytest.raises(pyfora.ConnectionError) as raised:
            ufora.define(1).result(timeout=10)
        message = str(raised.value)
        assert "this executor is disconnected from the manager at" in message and " since " in message, message
        assert "namespace" not in message
    finally:
        ufora.close()


CTRL_C_IN_A_BLOCK = """
import pyfora
from tests.primes import countPrimes
ufora = pyfora.connect(progress=False)
print("connected", flush=True)
with ufora.remotely.downloadAll():
    counted = countPrimes(10**12)  # hours: Ctrl-C, not caught
"""


def test_ctrl_c_in_a_block_shows_the_interrupt_alone(start_service, tmp_path):
    """Found by a user's trial: an uncaught Ctrl-C while a block ran printed the engine's own
    ``pyfora.capture.SkipBody`` first, then "During handling of the above exception..."."""
    from tests.conftest import manager_status, one_host, wait_for

    service = start_service(one_host(2))
    client = client_script(tmp_path / "interrupted.py", CTRL_C_IN_A_BLOCK, service.url)
    try:
        assert client.stdout.readline().strip() == "connected"
        wait_for(lambda: manager_status(service.url)["running"] > 0, "the block to run")
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=60)
    finally:
        client.kill()
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "SkipBody" not in err and "During handling" not in err, err
