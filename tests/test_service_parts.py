"""The services' small pure parts: loop health, crash backoff, how a process died, output credit."""
import asyncio
import faulthandler
import logging
import os
import signal
import time

from ufora.engine import deaths
from ufora.net import loop_health
from ufora.net import output_flow
from ufora.net.backoff import Backoff
from ufora.net.output_flow import OutputFlow


def test_a_step_that_holds_the_event_loop_is_named(monkeypatch, caplog):
    monkeypatch.setattr(asyncio.events.Handle, "_run", asyncio.events.Handle._run)  # restored after
    monkeypatch.setattr(loop_health, "health", {"slow_steps": 0, "longest_step": 0.0, "longest_step_name": ""})
    loop_health.watch()

    def blocking_callback():
        time.sleep(0.15)

    async def blocking_coroutine():
        await asyncio.sleep(0)
        time.sleep(0.15)

    async def scenario():
        asyncio.get_running_loop().call_soon(blocking_callback)
        await asyncio.sleep(0.01)
        await blocking_coroutine()
        await asyncio.sleep(0.01)  # a quick step is not reported

    with caplog.at_level(logging.WARNING, logger="ufora.net.loop_health"):
        asyncio.run(scenario())
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2, said
    assert "blocking_callback" in said[0] and "task" in said[1] and "scenario" in said[1], said
    snapshot = loop_health.snapshot()
    assert snapshot["slow_steps"] == 2 and snapshot["longest_step"] >= 0.15


def test_a_crash_loop_backs_off_doubling_up_to_a_cap_and_starts_over_after_a_quiet_spell():
    now = [0.0]
    backoff = Backoff(first=0.05, cap=1.0, quiet=30.0, clock=lambda: now[0])
    delays = []
    for _ in range(8):
        delays.append(backoff.next_delay())
        now[0] += 0.1
    assert delays == [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    now[0] += 31
    assert backoff.next_delay() == 0.0


def _status_of(action) -> int:
    pid = os.fork()
    if pid == 0:
        faulthandler.disable()  # pytest's would print the child's traceback
        action()
        os._exit(0)
    return os.waitpid(pid, 0)[1]


def test_how_a_process_died_is_said_so_that_a_user_can_act_on_it(monkeypatch):
    watch = deaths.Watch()
    assert watch.describe(1, _status_of(lambda: os._exit(3))) == "exited with code 3"
    segfault = watch.describe(1, _status_of(lambda: os.kill(os.getpid(), signal.SIGSEGV)))
    assert segfault == "was killed by signal 11 (SIGSEGV) — a crash in compiled or C code"
    killed = _status_of(lambda: os.kill(os.getpid(), signal.SIGKILL))
    watch.resident[42] = int(5.8 * 2 ** 30)
    monkeypatch.setattr(deaths, "oom_kills", lambda: watch.oom_kills + 1)
    assert watch.describe(42, killed) == \
        "was killed by signal 9 (SIGKILL) — the kernel's out-of-memory killer, at 5.8 GiB resident"
    monkeypatch.setattr(deaths, "oom_kills", lambda: watch.oom_kills)
    assert watch.describe(43, killed) == "was killed by signal 9 (SIGKILL)"
    assert watch.describe(44, -1) == "ended for a reason its worker could not learn"


def test_output_goes_on_credit_in_chunks_and_a_long_line_is_split(monkeypatch):
    monkeypatch.setattr(output_flow, "WINDOW", 100)
    monkeypatch.setattr(output_flow, "QUEUE", 250)
    monkeypatch.setattr(output_flow, "CHUNK", 40)
    flow = OutputFlow()
    flow.add("job", "stdout", "a" * 30)
    flow.add("job", "stdout", "b" * 5)
    flow.add("job", "stderr", "c" * 90)  # longer than a chunk: split
    assert flow.take("job") == [("stdout", "a" * 30 + "b" * 5), ("stderr", "c" * 40), ("stderr", "c" * 40)]
    assert flow.take("job") == []  # 115 characters in flight: the window is full
    assert not flow.sent("job")
    flow.acknowledged("job", 75)
    assert flow.take("job") == [("stderr", "c" * 10)] and flow.sent("job")
    flow.add("job", "stdout", "d" * 300)
    assert flow.congested("job")
    flow.drop("job")
    assert flow.sent("job") and not flow.congested("job") and flow.take("job") == []


def test_output_the_client_cannot_write_is_still_acknowledged(monkeypatch, caplog):
    """Returning from the OUTPUT handler is what acknowledges it: a closed pipe or a console
    that cannot encode the text must not stop the block's output for good."""
    from types import SimpleNamespace

    from pyfora.connection import Connection

    class Broken:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", Broken())
    client = SimpleNamespace(_output_failed=False)
    with caplog.at_level(logging.WARNING, logger="pyfora.connection"):
        for _ in range(3):
            assert Connection._on_output(client, {"stream": "stdout", "text": "x\n"}) is None
    assert client._output_failed and len(caplog.records) == 1
