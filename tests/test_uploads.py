"""Large values sent to the cluster (issue 14): free variables, ``define`` and ``submit``
arguments past Tornado's 100 MiB buffer travel as HTTP uploads; over the documented limit, an
error names the variable and both sizes before anything is sent, and the session is intact.
The upload port itself refuses what is not a connected session's, or over the limit."""
import http.client
import os

import numpy as np
import pytest

import pyfora
from ufora.net import schema
from tests.conftest import descendants, manager_status, one_host, shm_entries, wait_for


def test_a_free_variable_of_300_mb_reaches_the_block(ufora, cluster_url):
    data = np.arange(300 << 17, dtype=np.float64)  # 300 MiB: three times Tornado's read buffer
    data[-1] = -1.5
    with ufora.remotely.downloadAll():
        total = float(data.sum())
        last = data[-1]
        kind = str(data.dtype)
    assert (total, last, kind) == (float(data.sum()), -1.5, "float64")
    assert manager_status(cluster_url)["uploads"] == 0  # claimed by its block


def test_define_and_submit_arguments_past_the_old_limit(ufora):
    words = ["word %d" % index for index in range(4_000_000)]  # about 50 MB pickled
    proxy = ufora.define(words).result()
    assert ufora.submit(len, proxy).result().toLocal().result() == 4_000_000
    assert ufora.submit(lambda ws, n: ws[n], words, 3_999_999).result().toLocal().result() == "word 3999999"


def test_over_the_limit_is_an_error_naming_the_variable_and_both_sizes(ufora, cluster_url):
    small = 3
    huge = np.zeros((schema.MAX_UPLOAD_BYTES >> 3) + 1024)  # 8 KiB over the limit
    with pytest.raises(pyfora.PythonToForaConversionError) as raised:
        with ufora.remotely.downloadAll():
            total = float(huge.sum()) + small
    message = str(raised.value)
    assert "free variable 'huge' pickles to 1.00 GiB (1,073,750," in message
    assert "over the 1.00 GiB (1,073,741,824 bytes)" in message and "nothing was sent" in message
    del huge
    with pytest.raises(pyfora.PythonToForaConversionError, match="argument 1 of the call pickles to"):
        ufora.submit(len, bytes(schema.MAX_UPLOAD_BYTES + 1))
    with ufora.remotely.downloadAll():  # the session is as it was
        total = small + 1
    assert total == 4
    assert manager_status(cluster_url)["uploads"] == 0


def _put(cluster_url: str, headers: dict, body: bytes = b"") -> int:
    host, port = cluster_url[len("http://"):].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("PUT", "/uploads/" + "ab" * 16)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_upload_port_takes_only_a_connected_session_s_uploads_within_the_limit(ufora, cluster_url):
    session = ufora._connection._session
    assert _put(cluster_url, {"Content-Length": "3"}, b"abc") == 403  # no session
    assert _put(cluster_url, {schema.SESSION_HEADER: "f" * 32, "Content-Length": "3"}, b"abc") == 403
    # over the limit: refused on its headers, before any of its body is read
    assert _put(cluster_url, {schema.SESSION_HEADER: session,
                              "Content-Length": str(schema.MAX_UPLOAD_BYTES + 1)}) == 413
    assert _put(cluster_url, {schema.SESSION_HEADER: session, "Content-Length": "3"}, b"abc") == 200
    assert manager_status(cluster_url)["uploads"] == 1

    def submit_naming(upload_id: str) -> dict:
        return ufora._connection._request(schema.SUBMIT, {
            "filename": "<test>", "with_line": 1, "source": "with x:\n    pass\n",
            "free_variables": {"upload": upload_id}, "download_below": None}, lambda message: message).result(30)

    assert "are not on the manager" in submit_naming("cd" * 16)["error"]["message"]
    assert submit_naming("ab" * 16)["error"] is not None  # claimed ("abc" is no pickle): no longer held
    assert manager_status(cluster_url)["uploads"] == 0 and manager_status(cluster_url)["upload_bytes"] == 0


def test_uploads_arriving_at_once_cannot_pass_the_limit_together_and_a_broken_one_frees_its_memory(
        ufora, cluster_url):
    import socket

    session = ufora._connection._session
    host, port = cluster_url[len("http://"):].split(":")
    declared = schema.MAX_UPLOAD_BYTES // 2 + 1
    first = socket.create_connection((host, int(port)))
    try:  # headers and a little of the body: its bytes are set aside now
        first.sendall((f"PUT /uploads/{'ef' * 16} HTTP/1.1\r\nHost: x\r\n{schema.SESSION_HEADER}: {session}\r\n"
                       f"Content-Length: {declared}\r\n\r\n").encode() + bytes(1000))
        wait_for(lambda: manager_status(cluster_url)["upload_bytes"] == declared, "the first upload's reservation")
        assert _put(cluster_url, {schema.SESSION_HEADER: session, "Content-Length": str(declared)}) == 413
    finally:
        first.close()  # gone mid-body: what it reserved is free again
    wait_for(lambda: manager_status(cluster_url)["upload_bytes"] == 0, "the broken upload's reservation to go")
    assert manager_status(cluster_url)["uploads"] == 0


def _handed_over(names=None) -> set:
    """The segments (among ``names``, else all) that the worker of a service under this test
    process made for blocks' free variables (engine.block.InSegment) and remote objects."""
    from ufora.engine import shm
    ours = {os.getpid(), *descendants(os.getpid())}
    return {name for name in (shm_entries() if names is None else names) if "_o" in name and shm.owner(name) in ours}


def test_free_variables_handed_over_in_shared_memory_are_unlinked_when_the_block_ends(ufora):
    from ufora.engine.block import HAND_OVER_FROM

    words = [f"word {index}" for index in range(HAND_OVER_FROM // 4)]  # pickled: past HAND_OVER_FROM
    before = _handed_over()
    with ufora.remotely.downloadAll():
        import os
        count, last = len(words), words[-1]
        during = set(os.listdir("/dev/shm"))
    assert (count, last) == (len(words), words[-1])
    assert len(_handed_over(during) - before) == 1  # its free variables' segment
    with pytest.raises(ZeroDivisionError):
        with ufora.remotely.downloadAll():
            count = len(words) // 0
    wait_for(lambda: _handed_over() == before, "the blocks' segments to go")


def test_a_cancelled_block_s_handed_over_free_variables_go_with_it(start_service):
    from tests.primes import countPrimes

    words = [f"word {index}" for index in range(1_000_000)]
    with pyfora.connect(start_service(one_host(2)).url, progress=False) as ufora:
        before = _handed_over()
        future = ufora.submit(lambda ws, n: countPrimes(n) + len(ws), words, 10**9)  # hours of work
        wait_for(lambda: len(_handed_over() - before) == 1, "the block's free variables in a segment")
        assert future.cancel()
        wait_for(lambda: _handed_over() == before, "the cancelled block's segment to go")
        assert ufora.submit(len, words).result().toLocal().result() == 1_000_000


def test_free_variables_go_down_the_pipe_when_no_segment_can_be_made(monkeypatch, caplog):
    from ufora.engine import block as blocks
    from ufora.engine import shm

    def full(data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shm, "write_for_service", full)
    block = blocks.Block("x = 1\n", "<t>", 1, bytes(blocks.HAND_OVER_FROM))
    assert blocks.free_variables_in_segment(block) is None
    assert block.free_variables == bytes(blocks.HAND_OVER_FROM) and "No space left" in caplog.text
