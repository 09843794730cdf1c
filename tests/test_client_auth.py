"""Clients prove the cluster's secret, and so does the manager (issue 15): with
UFORA_CLUSTER_SECRET set on the manager, a client connects only with ``secret=`` (or
UFORA_SECRET) right, over a fresh single-use challenge; a client with a secret refuses a manager
that cannot prove it holds the same one, before it trusts anything the manager sends."""
import asyncio
import json
import threading

import pytest
import requests
import socketio
import websocket
import tornado.web

import pyfora
from ufora.net import client_auth, schema
from tests.conftest import RUN_SECRET, client_claim, manager_status, one_host, socketio_connect
from tests.primes import countPrimes


@pytest.fixture(scope="module")
def secured(request):
    """A manager + worker with the run's secret, shared by the tests that only connect to it."""
    from tests.conftest import Service

    with Service(one_host(1)) as running:
        yield running


def test_a_client_with_the_secret_connects_and_gets_the_right_answer(secured):
    with pyfora.connect(secured.url, secret=RUN_SECRET, progress=False) as ufora:
        with ufora.remotely.downloadAll():
            result = countPrimes(100_000)
    assert result == 9594


@pytest.mark.parametrize("secret,said", [
    ("", "this cluster requires its secret: pass pyfora.connect(url, secret=...) or set UFORA_SECRET"),
    ("another-secret-of-32-characters!", "the secret does not match this cluster's (UFORA_CLUSTER_SECRET)"),
])
def test_a_client_without_the_right_secret_is_refused_and_the_cluster_keeps_serving(secured, secret, said):
    with pytest.raises(pyfora.ConnectionError) as raised:
        pyfora.connect(secured.url, secret=secret, timeout=10, progress=False)
    assert str(raised.value) == f"the manager at {secured.url} refused this client: authentication failed: {said}"
    assert manager_status(secured.url)["clients"] == 0  # it never held a session
    with pyfora.connect(secured.url, progress=False) as ufora:  # the run's secret, from UFORA_SECRET
        with ufora.remotely.downloadAll():
            result = countPrimes(10_000)
    assert result == countPrimes(10_000)  # as computed here
    assert secured.log.count("refused a client from 127.0.0.1") == 1  # logged once per address


def test_a_proof_is_good_for_one_connection_only(secured):
    claim = client_claim(secured.url)
    assert socketio_connect(secured.url, claim) == ""
    replayed = socketio_connect(secured.url, claim)
    assert replayed == "authentication failed: the challenge is unknown, used or expired: connect again"
    other_session = dict(client_claim(secured.url), session="t" * 32)  # a proof made for another session
    assert socketio_connect(secured.url, other_session).startswith("authentication failed: the secret does not match")


def test_a_client_with_a_secret_refuses_an_open_manager(start_service):
    service = start_service({**one_host(1), "UFORA_CLUSTER_SECRET": ""})
    with pytest.raises(pyfora.ConnectionError, match="authentication failed: the manager at .* runs without a "
                                                     "cluster secret, so it cannot prove it is your cluster"):
        pyfora.connect(service.url, secret=RUN_SECRET, timeout=10, progress=False)
    with pyfora.connect(service.url, secret="", progress=False) as ufora:  # open, as the original
        with ufora.remotely.downloadAll():
            result = countPrimes(10_000)
    assert result == countPrimes(10_000)  # as computed here


def test_before_its_proof_a_client_can_make_the_manager_read_only_a_few_kilobytes(secured):
    from ufora.net.manager import PRE_AUTH_BODY, PRE_AUTH_MESSAGE

    socket = websocket.create_connection(secured.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
                                         timeout=10)
    try:
        assert socket.recv().startswith("0")  # engine.io's open packet
        socket.send("4" + "x" * (PRE_AUTH_MESSAGE + 1))  # a message before socket.io's connect
        assert socket.recv_data_frame(True)[1].data[:2] == (1009).to_bytes(2, "big")  # "message too big"
    finally:
        socket.close()
    small = requests.post(secured.url + client_auth.CHALLENGE_PATH, data=b"x" * PRE_AUTH_BODY, timeout=10)
    assert small.status_code == 405  # read, then refused by the handler
    large = requests.post(secured.url + client_auth.CHALLENGE_PATH, data=b"x" * (PRE_AUTH_BODY + 1), timeout=10)
    assert large.status_code == 400  # refused from its Content-Length, never read
    refused = socketio.Client(reconnection=False)  # long-polling: its messages would be HTTP bodies
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(secured.url, transports=["polling"], auth=client_claim(secured.url), wait_timeout=10)
    with pyfora.connect(secured.url, progress=False) as ufora:  # once proven, messages as large as ever
        value = b"y" * (4 << 20)
        assert ufora.define(value).result().toLocal().result() == value


class _Impostor:
    """A server that looks like a manager with a secret (it hands out challenges and accepts any
    connection) but does not know the secret: its handshake reply cannot carry the right proof."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        sio = socketio.AsyncServer(async_mode="tornado")
        sio.on(schema.HANDSHAKE, lambda sid, data: {"version": schema.PROTOCOL_VERSION, "workers": 1,
                                                     "resumed": False, "proof": "0" * 64})

        class Challenge(tornado.web.RequestHandler):
            def get(self) -> None:
                self.write(json.dumps({"secret_required": True, "nonce": client_auth.new_nonce()}))

        app = tornado.web.Application([(r"/socket.io/", socketio.get_tornado_handler(sio)),
                                       (client_auth.CHALLENGE_PATH, Challenge)])
        self.server = app.listen(0, "127.0.0.1")
        self.port = next(iter(self.server._sockets.values())).getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def close() -> None:
            self.server.stop()
            await self.server.close_all_connections()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_a_client_refuses_a_manager_that_cannot_prove_the_secret():
    impostor = _Impostor()
    try:
        with pytest.raises(pyfora.ConnectionError, match="authentication failed: the manager at .* did not prove "
                                                         "that it holds the cluster's secret"):
            pyfora.connect(f"http://127.0.0.1:{impostor.port}", secret=RUN_SECRET, timeout=10, progress=False)
    finally:
        impostor.stop()


def test_challenges_are_single_use_short_lived_and_bounded():
    challenges = client_auth.Challenges()
    nonce = challenges.issue(now=100.0)
    assert challenges.take(nonce, now=101.0)
    assert not challenges.take(nonce, now=101.0)  # used
    late = challenges.issue(now=100.0)
    assert not challenges.take(late, now=100.0 + client_auth.CHALLENGE_LIFETIME + 1)  # expired
    assert not challenges.take(None, now=100.0) and not challenges.take(["x"], now=100.0)
    for _ in range(client_auth.MAX_CHALLENGES + 10):
        challenges.issue(now=200.0)
    assert len(challenges) == client_auth.MAX_CHALLENGES
