"""The progress bar as users see it, against a real manager + worker: on a pseudo-terminal, in a
real Jupyter kernel (ipywidgets, run by nbclient), and not at all where nobody would see it.

A successful block leaves its bar full (green in Jupyter), though the last progress report comes
before the end; a block that raises or is interrupted (Ctrl-C, or Jupyter's Interrupt, once its
bar is shown) leaves it where it stopped (red in Jupyter). A block of two shapes shows both on
one bar. A test that interrupts a block starts its own cluster: the block's processes are replaced."""
from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from tests.conftest import ROOT, client_script, one_host
from tests.test_api import run_in_a_terminal

SETUP = """\
import pyfora
from tests.primes import countPrimes

ufora = pyfora.connect({url})
"""
TWO_SHAPES = """\
reports = []
with ufora.remotely.downloadAll().withStatusCallback(reports.append):
    first = countPrimes(3_000_000)
    second = countPrimes(4_000_000)
print("counted", first, second, "reported", len({status["task"] for status in reports}), "shapes")
"""
COUNTED = "counted 216818 283148 reported 2 shapes"
RAISES = """\
with ufora.remotely.downloadAll():
    counted = countPrimes(3_000_000)
    raise ValueError("after the shape")
"""
INTERRUPTED = """\
try:
    with ufora.remotely.downloadAll():
        counted = countPrimes(10**12)  # hours: interrupted once its bar is shown
except KeyboardInterrupt:
    print("interrupted")
"""
FULL_THEN_FAILED = """\
from pyfora import progress

bar = progress.ProgressBar()  # a block whose last report had every item done, and that then raised
bar.update({"task": 1, "partitions_done": 4, "items_done": 100, "items_total": 100, "active_cores": 0,
            "bytes_moved": 0})
bar.close(succeeded=False)
"""

BAR_COUNTS = re.compile(r"ufora:\s+(\d+)%\|.*?\| (\S+)/(\S+) \[")


def final_bars(output: str) -> list:
    """(percent, done, total) of each bar left on the terminal: a bar's last drawing before the
    newline that ends it (an erased bar leaves none)."""
    bars = []
    for line in output.split("\n"):
        match = BAR_COUNTS.match(line.rstrip("\r").rsplit("\r", 1)[-1])
        if match:
            bars.append((int(match[1]), match[2], match[3]))
    return bars


def test_on_a_terminal_a_block_s_bar_ends_full_and_an_interrupted_one_where_it_stopped(start_service, tmp_path):
    service = start_service(one_host(2))
    (tmp_path / "script.py").write_text(SETUP.format(url="") + TWO_SHAPES + INTERRUPTED + "ufora.close()\n")
    # Ctrl-C once the second block's bar has drawn a progress report
    shown = run_in_a_terminal(tmp_path / "script.py", service.url, interrupt_at=COUNTED + r"[\s\S]*cores=")
    assert COUNTED in shown and "interrupted" in shown, shown
    succeeded, interrupted = final_bars(shown)  # one per block: the two shapes share one
    assert succeeded == (100, "4.00M", "4.00M"), shown
    percent, done, total = interrupted
    assert percent < 100 and done != total and total == "1.00T", shown


def test_where_stderr_is_not_a_terminal_nothing_is_drawn(cluster_url, tmp_path):
    script = client_script(tmp_path / "script.py", SETUP.format(url="") + TWO_SHAPES, cluster_url)
    out, err = script.communicate(timeout=60)
    assert COUNTED in out, (out, err)  # progress was reported
    assert "ufora:" not in err and "\r" not in err, err


@pytest.fixture
def kernel_name(tmp_path, monkeypatch) -> str:
    """A kernelspec that runs this interpreter (the venv's), in a temporary Jupyter path; the
    kernel's connection file and IPython's profile go there too, not to the home directory."""
    name = "ufora-test-python"
    spec = tmp_path / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name, "language": "python"}))
    for variable, path in (("JUPYTER_PATH", "jupyter"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        monkeypatch.setenv(variable, str(tmp_path / path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONPATH", ROOT)
    return name


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def notebook_client():
    """An nbclient ``NotebookClient`` that interrupts the kernel, as Jupyter's Interrupt button
    does, once the cell ``INTERRUPTED`` displays a widget (its progress bar)."""
    nbclient = pytest.importorskip("nbclient")

    class Interrupting(nbclient.NotebookClient):
        interruption = None

        def output(self, outs, msg, display_id, cell_index):
            if (self.interruption is None and self.nb.cells[cell_index].source == INTERRUPTED
                    and WIDGET_VIEW in msg["content"].get("data", {})):
                self.interruption = asyncio.ensure_future(self.km.interrupt_kernel())
            return super().output(outs, msg, display_id, cell_index)

    return Interrupting


def bars_of(cell, widgets: dict) -> list:
    """The FloatProgress states of the tqdm widgets a cell displayed."""
    bars = []
    for output in cell.outputs:
        view = output.get("data", {}).get(WIDGET_VIEW)
        if view:
            children = [widgets[child.removeprefix("IPY_MODEL_")]
                        for child in widgets[view["model_id"]]["state"]["children"]]
            [progress] = [child["state"] for child in children if child["model_name"] == "FloatProgressModel"]
            bars.append(progress)
    return bars


def _end_jupyter_event_loop() -> None:
    """nbclient runs on an event loop that jupyter_core makes for this thread and keeps (its
    epoll and self-pipe outlive the kernel): closed here, so the test leaves no descriptor."""
    from jupyter_core import utils

    loop = utils._loop.get()
    if loop is not None and not loop.is_closed():
        loop.close()
    asyncio.set_event_loop(None)


def test_in_jupyter_a_block_s_widget_ends_green_and_full_and_red_when_it_raises_or_is_interrupted(
        start_service, kernel_name):
    nbformat = pytest.importorskip("nbformat")
    service = start_service(one_host(2))
    cells = [SETUP.format(url=repr(service.url)), TWO_SHAPES, RAISES, INTERRUPTED, FULL_THEN_FAILED, "ufora.close()"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    try:
        notebook_client()(notebook, kernel_name=kernel_name, store_widget_state=True, allow_errors=True,
                          timeout=60, resources={"metadata": {"path": ROOT}}).execute()
    finally:
        _end_jupyter_event_loop()
    _, succeeded, raised, interrupted, full_then_failed, closed = notebook.cells
    assert [o.text for o in succeeded.outputs if o.output_type == "stream"] == [COUNTED + "\n"]
    assert [o.ename for o in raised.outputs if o.output_type == "error"] == ["ValueError"]  # and a ComputationError
    assert [o.text for o in interrupted.outputs if o.output_type == "stream"] == ["interrupted\n"]
    assert not [o for o in closed.outputs if o.output_type == "error"], closed.outputs
    widgets = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]

    [bar] = bars_of(succeeded, widgets)  # one for the block's two shapes
    assert (bar["bar_style"], bar["value"], bar["max"]) == ("success", 4_000_000, 4_000_000), bar
    [bar] = bars_of(raised, widgets)
    assert bar["bar_style"] == "danger" and bar["max"] == 3_000_000, bar
    [bar] = bars_of(interrupted, widgets)
    assert bar["bar_style"] == "danger" and bar["value"] < bar["max"] == 10**12, bar
    [bar] = bars_of(full_then_failed, widgets)
    assert (bar["bar_style"], bar["value"], bar["max"]) == ("danger", 100, 100), bar
