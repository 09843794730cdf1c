"""The manager's dashboard (net/dashboard.py, net/dashboard_page/): its state alone, the JSON and
the page over HTTP, the read-only socket.io namespace, and the page itself in a real headless
Chromium (Debian's, driven by Playwright) against a real cluster running a real block."""
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

import pyfora
from ufora.net import dashboard
from ufora.net import client_auth
from tests.conftest import Service, client_claim, dashboard_claim, one_host, socketio_connect, wait_for

CHROMIUM = "/usr/bin/chromium"
# as the machine's notes advise for a closed network: no background connections, no sandbox as root
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _job(job_id: str, session: str = "s" * 32, line: int = 2) -> SimpleNamespace:
    source = b"import pyfora\nwith ufora.remotely:\n    total = sum(slow(x) for x in range(10))\n"
    return SimpleNamespace(cluster_job_id=job_id, client_job_id=job_id.split(":")[1], session=session,
                           buffers=[source], header={"job_id": job_id, "filename": "job.py", "with_line": line})


def test_the_dashboard_keeps_progress_history_errors_and_a_timeline():
    board = dashboard.Dashboard()
    board.client_connected("s" * 32, "10.0.0.7")
    running, failed = _job("1:a"), _job("2:b")
    board.submitted(running, now=100.0)
    board.submitted(failed, now=100.0)
    board.progressed(running, "w1", {"task": 3, "partitions_done": 4, "items_done": 40, "items_total": 100,
                                     "active_cores": 2, "bytes_moved": 0, "partitions_compiled": 3},
                     {"w1": 1, "w2": 3}, now=101.0)
    board.sample(["1:a", "2:b"], [], now=102.0)
    board.sample(["1:a"], ["2:b"], now=110.0)  # no news: the shape still runs on its cores
    board.finished(failed, {"type_name": "ValueError", "message": "bad row 7"}, now=103.0)
    view = board.snapshot({"cores": 2}, [(running, "w1")], [], now=104.0)
    [shown] = view["running"]
    assert shown["first_line"] == "total = sum(slow(x) for x in range(10))" and shown["client"] == "10.0.0.7"
    assert (shown["file"], shown["line"], shown["worker"], shown["seconds"]) == ("job.py", 2, "w1", 4.0)
    assert shown["shape"]["items_done"] == 40 and "updated" not in shown["shape"]
    assert shown["shape"]["partitions_compiled"] == 3 and shown["shape"]["by_worker"] == {"w1": 1, "w2": 3}
    assert [b["id"] for b in view["history"]] == ["2:b"] and view["errors"][0]["error"] == "ValueError: bad row 7"
    assert view["timeline"] == [(102.0, 2), (110.0, 2)]
    board.progressed(running, "w1", {"task": 3, "partitions_done": 4, "items_done": 100, "items_total": 100,
                                     "active_cores": 0, "bytes_moved": 0, "partitions_compiled": 3},
                     {"w1": 1, "w2": 3}, now=104.5)  # its shape ended: no core on it
    board.sample(["1:a"], [], now=104.6)
    assert board.timeline[-1] == (104.6, 0)
    board.finished(running, None, now=105.0)
    assert board.history[0]["ok"] and board.history[0]["items"] == 100 and not board.blocks and not board.progress
    assert (board.history[0]["partitions"], board.history[0]["compiled"]) == (4, 3)
    assert board.history[0]["by_worker"] == {"w1": 1, "w2": 3}
    json.dumps(board.snapshot({}, [], [], now=106.0))  # what socket.io sends
    download = SimpleNamespace(cluster_job_id=None, client_job_id="d1", session="s" * 32, buffers=[], header={})
    board.finished(download, None, now=107.0)  # a toLocal(): not a block
    board.finished(download, {"type_name": "InternalError", "message": "malformed"}, now=107.0)
    assert len(board.history) == 3 and board.history[0]["id"] == "d1" and not board.blocks


def test_a_progress_reports_partitions_per_worker_are_kept_only_as_names_and_counts():
    assert dashboard.counts_by_worker({"w1": 3, "w2": 0}) == {"w1": 3, "w2": 0}
    for hostile in (None, [], "w1", 7, {"w1": "3"}, {"w1": -1}, {"w1": True}, {"w" * 65: 1}, {3: 1}):
        assert dashboard.counts_by_worker(hostile) == {}, hostile
    many = {f"w{i}": i for i in range(1000)}
    assert len(dashboard.counts_by_worker(many)) == dashboard.MAX_WORKERS_SHOWN


def test_blocks_that_end_without_a_result_go_to_the_history_as_cancelled():
    """A cancelled block (Ctrl-C, its client gone) never finishes: it is not kept as running, and a
    user's trial found it gone without a trace: the history says it was cancelled."""
    board = dashboard.Dashboard()
    cancelled = _job("3:c")
    board.submitted(cancelled, now=1.0)
    board.progressed(cancelled, "w1", {"items_done": 1}, {}, now=2.0)
    board.sample(["3:c"], [], now=3.0)
    assert board.blocks and board.progress
    board.cancelled(["3:c"], now=4.0)
    assert not board.blocks and not board.progress
    assert board.history[0]["id"] == "3:c" and board.history[0]["error"].startswith("cancelled")
    delivering, lost = _job("4:d"), _job("5:e")  # done on the worker: neither running nor waiting
    board.submitted(delivering, now=5.0)
    board.submitted(lost, now=5.0)
    board.sample([], [], now=6.0)
    board.finished(delivering, None, now=7.0)  # its result delivered: once in the history, as done
    assert [b["id"] for b in board.history][:1] == ["4:d"] and board.history[0]["ok"]
    board.sample([], [], now=6.0 + dashboard.FORGET_AFTER)  # never delivered: forgotten, not kept for ever
    assert not board.blocks and not board.missing and len(board.history) == 2


@pytest.fixture(scope="module")
def service():
    with Service(one_host(2)) as running:
        yield running


def _get(url: str, accept: str = None) -> tuple:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers.get("Content-Type"), answer.read()


def test_the_status_is_json_at_api_status_and_the_page_goes_to_browsers(service):
    kind, body = _get(service.url + "/api/status")
    assert kind == "application/json" and json.loads(body)["workers"] == 1
    assert json.loads(_get(service.url + "/")[1])["cores"] == 2  # scripts, curl: the JSON as before
    assert json.loads(_get(service.url + "/", "application/json")[1])["workers"] == 1
    request = urllib.request.Request(service.url + "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        kind, page, rules = answer.headers.get("Content-Type"), answer.read(), answer.headers
    assert kind.startswith("text/html") and b"/dashboard/dashboard.js" in page
    assert "frame-ancestors 'none'" in rules["Content-Security-Policy"] and rules["X-Frame-Options"] == "DENY"
    assert b"cdn" not in page.lower() and b"http" not in page.split(b"<body>")[1]  # nothing from elsewhere
    assert b"WebSocket" in _get(service.url + "/dashboard/dashboard.js")[1]
    with pytest.raises(urllib.error.HTTPError):
        _get(service.url + "/dashboard/..%2f..%2fnet%2fmanager.py")


def test_the_namespace_asks_for_the_secret_and_only_sends(service):
    import socketio

    received, refusals = [], []

    def client() -> "socketio.Client":
        made = socketio.Client(reconnection=False)
        made.on("status", received.append, namespace=dashboard.NAMESPACE)
        made.on("connect_error", lambda data=None: refusals.append(str(data)), namespace=dashboard.NAMESPACE)
        return made

    stranger = client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        stranger.connect(service.url, transports=["websocket"], namespaces=[dashboard.NAMESPACE], wait_timeout=10)
    wrong = client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        wrong.connect(service.url, transports=["websocket"], namespaces=[dashboard.NAMESPACE], wait_timeout=10,
                      auth=dashboard_claim(service.url, "not the secret at all"))
    a_clients = client()  # a client's proof is not a page's
    with pytest.raises(socketio.exceptions.ConnectionError):
        a_clients.connect(service.url, transports=["websocket"], namespaces=[dashboard.NAMESPACE], wait_timeout=10,
                          auth=client_claim(service.url, service.secret, ""))
    assert "requires its secret" in refusals[0] and "does not match" in refusals[1] and "does not match" in refusals[2]
    assert not received
    # nor is a page's a client's: a page's proof, taken on its way, cannot run code
    assert "does not match" in socketio_connect(service.url, {"session": "", **dashboard_claim(service.url,
                                                                                                service.secret)})
    page = client()
    page.connect(service.url, transports=["websocket"], namespaces=[dashboard.NAMESPACE], wait_timeout=10,
                 auth=dashboard_claim(service.url, service.secret))
    try:
        page.emit("submit", {"job_id": "x", "source": "x = 1"}, namespace=dashboard.NAMESPACE)  # not read
        wait_for(lambda: len(received) >= 2, "two views of the cluster", timeout=10)
        assert received[-1]["status"]["workers"] == 1 and received[-1]["running"] == []
        assert received[-1]["status"]["pending"] == 0 and received[-1]["history"] == []  # the submit ran nothing
        assert "memory_budget" in received[-1]["status"]["members"][0]  # the hosts' usage, to pages only
        assert "memory_budget" not in json.loads(_get(service.url + "/api/status")[1])["members"][0]
    finally:
        page.disconnect()


def _browser():
    """Playwright's Chromium (Debian's binary), or a skip saying what is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no {CHROMIUM}: install Debian's chromium package (make test does, as root with apt)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    return sync_api.sync_playwright()


SLOW_BLOCK_SCRIPT = '''
from fractions import Fraction

def slow(x):
    f = Fraction(0)
    for j in range(1, 100):
        f += Fraction(x, j)
    return f.numerator % 7

def run(ufora):
    with ufora.remotely.downloadAll():
        total = sum(slow(x) for x in range(60000))
    return total
'''


def test_the_page_in_chromium_shows_workers_progress_and_history(tmp_path):
    """A page load asks for the secret, then shows the cluster's worker; a running block's
    progress moves; the finished block appears in the history. Screenshots: tmp_path."""
    with _browser() as playwright, Service({**one_host(2), "UFORA_SPLIT": "always"}) as service:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(service.url + "/")
            page.wait_for_selector("#secret-form:not([hidden])", timeout=15_000)
            page.fill("#secret", "a wrong secret, long enough")
            page.click("#secret-form button")
            page.wait_for_selector("#secret-problem:has-text('does not match')", timeout=15_000)
            page.fill("#secret", service.secret)
            page.click("#secret-form button")
            member = json.loads(_get(service.url + "/api/status")[1])["members"][0]
            worker, address = member["id"], member["address"]
            page.wait_for_selector(f"#workers tr[data-worker='{worker}']", timeout=15_000)
            assert page.inner_text("#state") == "live"
            page.screenshot(path=str(tmp_path / "workers.png"))

            module_path = tmp_path / "slow_job.py"
            module_path.write_text(SLOW_BLOCK_SCRIPT)
            namespace: dict = {"__file__": str(module_path), "__name__": "slow_job"}
            exec(compile(SLOW_BLOCK_SCRIPT, str(module_path), "exec"), namespace)
            results = []
            with pyfora.connect(service.url, secret=service.secret, progress=False) as executor:
                block = threading.Thread(target=lambda: results.append(namespace["run"](executor)))
                block.start()
                try:
                    seen, rows = set(), []
                    deadline = time.monotonic() + 60
                    while len(seen) < 2 and time.monotonic() < deadline and block.is_alive():
                        cells = page.locator("#running tr[data-state='running'] .bar b").all_inner_texts()
                        seen.update(text for text in cells if text.endswith("items") and not text.startswith("0 /"))
                        rows += page.locator("#running tr[data-state='running']").all_inner_texts()
                        time.sleep(0.2)
                    page.screenshot(path=str(tmp_path / "running.png"))
                    assert len(seen) >= 2, f"the progress never moved: {seen}"
                    # Fractions: CPython partitions, all on the one worker, named by its address
                    assert any("CPython" in text and f"{address}: " in text for text in rows), rows[-3:]
                finally:
                    block.join(timeout=120)
            assert results == [204341]  # CPython's (a sum of slow(x) over the range, 20 s locally)
            page.wait_for_selector("#history tr td:has-text('total = sum(slow(x) for x in range(60000))')",
                                   timeout=15_000)
            page.screenshot(path=str(tmp_path / "history.png"))
            assert "ok" in page.inner_text("#history tr:first-child")
            assert "CPython" in page.inner_text("#history tr:first-child")
            shown = page.evaluate("""() => [window.uforaDashboard.engines(4, {a: 4}),
                window.uforaDashboard.engines(0, {a: 1, b: 3}), window.uforaDashboard.engines(3, {a: 2, b: 2}),
                window.uforaDashboard.engines(0, {}), window.uforaDashboard.engines(9, {a: 2}),
                window.uforaDashboard.perWorker({"a1": 3, "b2": 1, "constructor": 2}, {"a1": "10.0.0.1"})]""")
            assert shown == ["compiled", "CPython", "3 compiled, 1 CPython", "–", "compiled",
                             "10.0.0.1: 3, b2: 1, constructor: 2"]
            key, message = "k" * 70, "ufora-client-port|dashboard|n|m|"  # the page's own SHA-256, for http
            expected = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
            assert page.evaluate("([k, m]) => window.uforaDashboard.hmacSha256(k, m)", [key, message]) == expected
        finally:
            browser.close()



def _slow_count(n):
    from fractions import Fraction
    return sum(1 for x in range(n) if Fraction(x, 7).denominator == 7)


def test_a_cancelled_block_goes_to_the_history_as_cancelled(service):
    """Found by a user's trial: a block stopped by cancel() (or Ctrl-C, or its client gone) left
    the page without a trace."""
    import socketio

    views = []
    page = socketio.Client(reconnection=False)
    page.on("status", views.append, namespace=dashboard.NAMESPACE)
    page.connect(service.url, transports=["websocket"], namespaces=[dashboard.NAMESPACE], wait_timeout=10,
                 auth=dashboard_claim(service.url, service.secret))
    try:
        with pyfora.connect(service.url, secret=service.secret, progress=False) as executor:
            slow = executor.submit(_slow_count, 10 ** 9)
            wait_for(lambda: views and views[-1]["running"], "the block running on the page", timeout=30)
            slow.cancel()
            wait_for(lambda: views[-1]["history"] and not views[-1]["running"], "the block in the history", timeout=30)
        [cancelled] = views[-1]["history"][:1]
        assert cancelled["error"].startswith("cancelled") and not cancelled["ok"]
    finally:
        page.disconnect()
