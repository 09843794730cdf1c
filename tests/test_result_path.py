"""A block's large result goes from the worker that holds it straight to its client, over the
worker's data channel (``net.result_fetch``), not through the manager; the manager's download is
the way round for a client that cannot take it there. Values arrive exact (floats bit for bit),
the channel asks of the client what it asks of a service (the cluster's secret, the result's
capability), and a transfer that breaks ends in the result or a clear error, never in a wait."""
import logging
import math
import os
import signal

import numpy as np
import pytest

import pyfora
from ufora.net import result_fetch
from tests.conftest import MANAGER_ONLY, joining, manager_status, wait_for


@pytest.fixture
def fetches(monkeypatch):
    """Every direct fetch the client makes: (where, whether it succeeded)."""
    made = []
    real = result_fetch.fetch

    def recorded(where, *args, **kwargs):
        try:
            buffers = real(where, *args, **kwargs)
        except result_fetch.FetchFailed:
            made.append((where, False))
            raise
        made.append((where, True))
        return buffers
    monkeypatch.setattr(result_fetch, "fetch", recorded)
    return made


@pytest.fixture
def manager_downloads(monkeypatch):
    """The JOB_DONE messages whose result the client downloaded from the manager."""
    from pyfora.connection import Connection

    seen = []
    real = Connection._download
    monkeypatch.setattr(Connection, "_download", lambda self, message: seen.append(message) or real(self, message))
    return seen


def halves(ufora, n):
    with ufora.remotely.downloadAll():
        values = [x * 0.5 for x in range(n)]  # never read in the block: the array its partitions wrote
    return values


def test_a_large_result_comes_from_the_worker_not_through_the_manager(ufora, fetches, manager_downloads):
    values = halves(ufora, 400_000)
    assert type(values) is list and len(values) == 400_000
    assert all(type(v) is float for v in values[::997]) and values == [x * 0.5 for x in range(400_000)]
    assert [ok for _, ok in fetches] == [True] and manager_downloads == []
    with ufora.remotely.downloadAll():  # the manager knew the block was done: the next one runs
        small = 6 * 7
    assert small == 42


def test_floats_and_arrays_arrive_bit_for_bit(ufora, fetches):
    with ufora.remotely.downloadAll():
        bits = np.random.default_rng(7).integers(-2**63, 2**63 - 1, 300_000, dtype=np.int64).view(np.float64)
        zeros = [x * -0.0 for x in range(1, 200_001)]
        specials = [math.inf if x % 3 == 0 else -math.inf if x % 3 == 1 else x * 1e-310 for x in range(200_000)]
    expected = np.random.default_rng(7).integers(-2**63, 2**63 - 1, 300_000, dtype=np.int64)
    assert bits.dtype == np.float64 and np.array_equal(bits.view(np.int64), expected)  # NaN payloads too
    assert bits.flags.writeable  # an array comes back writable, as at home
    assert all(type(z) is float and math.copysign(1.0, z) == -1.0 for z in zeros)
    local = [math.inf if x % 3 == 0 else -math.inf if x % 3 == 1 else x * 1e-310 for x in range(200_000)]
    assert np.array_equal(np.array(specials).view(np.int64), np.array(local).view(np.int64))
    assert fetches and all(ok for _, ok in fetches)


def raising_after(ufora, n):
    values = None
    try:
        with ufora.remotely.downloadAll():
            values = [x * 0.5 for x in range(n)]
            raise KeyError("after the list")
    except KeyError as error:
        return values, error


def test_a_block_that_raises_after_a_large_value_gives_back_both(ufora, fetches):
    """The exception's pickle travels after the variables, on the worker's data channel too."""
    values, error = raising_after(ufora, 300_000)
    assert values == [x * 0.5 for x in range(300_000)]
    assert isinstance(error, KeyError) and isinstance(error, pyfora.ComputationError)  # the pickled one
    assert error.args == ("after the list",)
    assert [ok for _, ok in fetches] == [True]


def test_a_client_that_cannot_reach_the_worker_downloads_from_the_manager(cluster_url, monkeypatch, fetches,
                                                                           manager_downloads, caplog):
    """The worker's data address as the manager names it does not answer here (another network):
    the manager fetches the result and serves it; that worker is not tried again."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]  # nothing listens there once the socket is closed
    real = result_fetch.Where.of
    monkeypatch.setattr(result_fetch.Where, "of", lambda described: real({**described, "port": nowhere}))
    with pyfora.connect(cluster_url, progress=False) as ufora, caplog.at_level(logging.WARNING):
        assert halves(ufora, 300_000) == [x * 0.5 for x in range(300_000)]
        assert halves(ufora, 200_000)[-1] == 199_999 * 0.5
    assert [ok for _, ok in fetches] == [False]  # once: the address is remembered as unreachable
    assert len(manager_downloads) == 2
    assert "could not be reached" in caplog.text and "from the manager instead" in caplog.text


def test_the_worker_gives_the_result_only_to_a_client_with_the_secret_and_the_capability(ufora, monkeypatch):
    """Before taking its result, the client tries the worker's data channel without the secret,
    with another secret, and with the secret but another capability: refused, refused, and
    answered as a result that is not there; then the result arrives whole."""
    from tests.conftest import RUN_SECRET

    attempts = []
    real = result_fetch.fetch

    def first_as_strangers(where, secret, *args):
        assert secret == RUN_SECRET.encode()  # the client proves the cluster's secret
        for wrong, strange in ((None, where), (b"another secret of 32 characters", where),
                               (secret, result_fetch.Where(where.address, where.port, where.key, "0" * 32, where.tls))):
            with pytest.raises(result_fetch.FetchFailed) as failed:
                real(strange, wrong, *args)
            attempts.append((failed.value.connected, str(failed.value)))
        return real(where, secret, *args)
    monkeypatch.setattr(result_fetch, "fetch", first_as_strangers)
    assert halves(ufora, 300_000)[-1] == 299_999 * 0.5
    (_, no_secret), (wrong_up, wrong), (no_capability_up, no_capability) = attempts
    assert "secret" in no_secret  # the worker asks for the handshake first
    assert not wrong_up and "refused this client" in wrong and "secret" in wrong
    assert no_capability_up and "no longer has the result" in no_capability


def test_a_worker_killed_mid_transfer_ends_in_a_clear_error(start_service, monkeypatch, fetches):
    """The worker dies while the client reads its result: the client asks the manager, which
    knows the worker was lost and says so; the block fails with that reason, at once."""
    manager = start_service(MANAGER_ONLY)
    worker = start_service(joining(manager, 1))
    wait_for(lambda: manager_status(manager.url)["workers"] == 1, "the worker to join")
    real = result_fetch._read_buffer

    def killing_the_worker(sock, length):
        if length >= result_fetch.LARGE_BUFFER and worker.process.poll() is None:
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait()
        return real(sock, length)
    monkeypatch.setattr(result_fetch, "_read_buffer", killing_the_worker)
    with pyfora.connect(manager.url, progress=False) as ufora:
        with pytest.raises(pyfora.ConnectionError, match="result could not be downloaded .* was lost"):
            halves(ufora, 5_000_000)  # 40 MB: more than the sockets' buffers hold
    assert [ok for _, ok in fetches] == [False]
