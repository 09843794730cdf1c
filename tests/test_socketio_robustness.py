"""Malformed socket.io events, sent by a raw socket.io client to a real manager: each known event
with arguments of every wrong type, unknown events and deeply nested JSON get an error answer
(acknowledged events) or a JOB_DONE with the error (submit), one log line at most, never a
traceback; and the service goes on serving everyone."""
import contextlib
import threading

import pytest
import socketio

import pyfora
from ufora.net import engineio_gate, schema
from tests.conftest import client_claim, one_host, wait_for

# A socket.io event packet (engine.io "4" message, socket.io "2" event, ack id 7) with data
# nested 10,000 deep: python-socketio cannot even build one, so it goes as raw text.
NESTED = '27["status",' + '{"a":' * 10_000 + "null" + "}" * 10_000 + "]"
WRONG = [None, 1, 2.5, "text", [], [1, 2], {}, {"job_id": []}, {"job_id": "j", "object_id": {}},
         {"object_ids": "x"}, {"object_ids": [[], {}]}, {"job_id": "j", "source": 5, "free_variables": []},
         {"job_id": "j", "filename": "f", "with_line": "x", "source": "", "free_variables": ""},
         {"job_id": "j", "download_below": "lots"}, True, "x" * 100_000]
EVENTS = [schema.HANDSHAKE, schema.STATUS, schema.SUBMIT, schema.CANCEL, schema.FETCH, schema.RELEASE]


@pytest.fixture(scope="module")
def service():
    from tests.conftest import Service

    with Service(one_host(1)) as running:
        yield running


def test_malformed_events_are_answered_and_logged_without_tracebacks(service):
    client = socketio.Client()
    job_done = []
    done = threading.Event()

    @client.on(schema.JOB_DONE)
    def on_job_done(message):
        job_done.append(message)
        done.set()

    client.connect(service.url, transports=["websocket"], auth=client_claim(service.url))
    try:
        answers = {}
        for event in EVENTS:
            for index, value in enumerate(WRONG):
                if event in (schema.HANDSHAKE, schema.STATUS):
                    answers[(event, index)] = client.call(event, value, timeout=10)
                else:
                    client.emit(event, value)
        client.eio.send(NESTED)
        answers["unknown"] = client.call("launch_missiles", {"now": True}, timeout=10)
        answers["no argument"] = client.call(schema.HANDSHAKE, timeout=10)
        answers["two arguments"] = client.call(schema.HANDSHAKE, (1, 2), timeout=10)
        client.emit(schema.SUBMIT, "not a dict")
        assert done.wait(10)
    finally:
        client.disconnect()
    assert all(answer is not None for answer in answers.values())
    assert "error" in answers["unknown"]
    # every malformed submit is answered, with its error
    assert job_done and all(message["error"] is not None for message in job_done)
    log = service.log
    assert "Traceback" not in log and "never retrieved" not in log, log[-3000:]
    with pyfora.connect(service.url) as ufora:
        with ufora.remotely.downloadAll():
            total = sum(x for x in range(1000))
    assert total == 499_500


def test_a_client_that_starts_on_long_polling_upgrades_to_a_websocket(start_service):
    """Browsers and plain socket.io clients start on long-polling, then upgrade with engine.io's
    "2probe", which is not JSON: only socket.io's own packets are decoded tolerantly. (An open
    manager: one with a secret takes websockets only, see test_client_auth.)"""
    service = start_service({**one_host(1), "UFORA_CLUSTER_SECRET": ""})
    client = socketio.Client()
    client.connect(service.url)  # both transports, as a browser would
    try:
        wait_for(lambda: client.transport() == "websocket", "the upgrade to a websocket")
        assert client.call(schema.HANDSHAKE, {"version": schema.PROTOCOL_VERSION}, timeout=10)["version"]
    finally:
        client.disconnect()


# what a stranger can send on a websocket before authenticating: engine.io packets python-engineio
# read with a traceback each, and socket.io packets python-socketio did
GARBAGE = [b"\x00\x01\x02garbage", "", "4", "4garbage", "4" + "[" * 5000, "42", "451-[\"x\"]", "40{", "44{}",
           "49", "2" + "x" * 1000, "9", "42[" + "1," * 100_000 + "1]"]


def test_engineio_and_socketio_garbage_closes_the_connection_with_one_line_not_a_traceback(service):
    import websocket

    address = service.url.split("//")[1]
    before = len(service.log)
    for message in GARBAGE:
        ws = websocket.create_connection(f"ws://{address}/socket.io/?EIO=4&transport=websocket", timeout=10)
        try:
            ws.recv()  # engine.io's open packet
            if isinstance(message, bytes):
                ws.send_binary(message)
            else:
                ws.send(message)
            with contextlib.suppress(websocket.WebSocketConnectionClosedException, ConnectionError):
                # until the manager closes it: the websocket, or engine.io's session ("1");
                # an authentication refused is answered (socket.io's "44"), a frame too large cut
                assert ws.recv() in ("", b"", "1") or message == "40{"
        finally:
            ws.close()
    # one line each, but for the refused authentication (said as such) and the frame too large
    wait_for(lambda: service.log[before:].count(": closed") == len(GARBAGE) - 2, "a line for each")
    log = service.log[before:]
    assert "Traceback" not in log and "never retrieved" not in log, log[-3000:]
    with pyfora.connect(service.url) as ufora:
        with ufora.remotely.downloadAll():
            total = sum(x for x in range(1000))
    assert total == 499_500


@pytest.mark.parametrize("message, why", [
    ("", "an empty message"), ("x", "an unknown engine.io packet type 'x'"), ("0", "an unknown engine.io packet type '0'"),
    ("4", "a message that is not a socket.io packet"), ("4[[", "a message that is not a socket.io packet"),
    ("2" + "p" * 17, "an engine.io packet of type 2 with long data"),
    ("2probe", None), ("3", None), ("5", None), ("6", None), ("1", None), ('42["status",{}]', None),
    ("40{}", None), ("451-[]", None), (b"\x00", None)])
def test_the_engineio_gate_reads_the_packet_type_only(message, why):
    assert engineio_gate.refused(message) == why


def test_long_polling_garbage_is_refused_on_an_open_manager(start_service):
    """An open manager also takes long polling, whose packets come as POST bodies."""
    import json
    import urllib.error
    import urllib.request

    service = start_service({**one_host(1), "UFORA_CLUSTER_SECRET": ""})
    base = f"{service.url}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(base, timeout=10) as opened:  # engine.io's open packet: "0{...}"
        sid = json.loads(opened.read().decode()[1:])["sid"]
    answers = []
    for body in [b"x", b"9", b"4[[[[", "4\u00e9".encode("latin-1"), b"3\x1e4[", b"42"]:
        request = urllib.request.Request(f"{base}&sid={sid}", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                answers.append(answer.status)
        except urllib.error.HTTPError as error:
            answers.append(error.code)
    assert answers[:5] == [400] * 5, answers  # "42" passes the gate, and socket.io's guard closes the session
    wait_for(lambda: "an event without its name: closed" in service.log, "the session closed")
    assert "Traceback" not in service.log, service.log[-3000:]
