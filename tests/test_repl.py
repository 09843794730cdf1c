"""Block capture where there is no file: the plain ``python`` prompt and a real ``ipython``
(each driven through a pty, as a user types, against a real cluster), cells registered in
``linecache`` the way IPython registers them, and code whose text is nowhere
(``CantGetSourceTextError``).

IPython (a test dependency) registers each cell in ``linecache`` under an ``<ipython-input-...>``
name with no modification time, so that ``linecache.checkcache`` keeps it; the test of that path
in-process (no IPython) fakes such a registration."""
import linecache
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import pyfora
from ufora.engine.code import nested_codes
from pyfora import typed_source
from tests.conftest import ROOT, descendants

TYPED_TIMEOUT = 120.0  # the first block on a fresh cluster compiles its kernels
PYTHON = [sys.executable, "-q", "-i"]
# --simple-prompt: lines are read as typed (no prompt_toolkit editing, auto-indent or escapes).
IPYTHON = [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor",
           "--no-confirm-exit"]


class Prompt:
    """An interactive ``command`` (``PYTHON``, ``IPYTHON``) on a pty, in a session of its own,
    with its own HOME (so its history and profile files are the test's), ``env`` added."""

    def __init__(self, home: str, command=PYTHON, **env: str):
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONSTARTUP", "UFORA_URL", "IPYTHONDIR")}
        full_env.update(HOME=home, TERM="dumb", PYTHONPATH=ROOT, **env)
        self._master, slave = os.openpty()
        try:
            self.process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                                            env=full_env, start_new_session=True)
        finally:
            os.close(slave)
        self.output = ""

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def read_until(self, pattern: str, timeout: float = TYPED_TIMEOUT) -> re.Match:
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.output)):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in what the prompt printed:\n{self.output}"
            if select.select([self._master], [], [], min(left, 0.5))[0]:
                try:
                    self.output += os.read(self._master, 65536).decode(errors="replace")
                except OSError:  # the child closed the pty
                    assert False, f"the prompt exited before {pattern!r}:\n{self.output}"
        return found

    def close(self) -> None:
        """Ctrl-D, again each second while it runs (one typed before readline has put the
        terminal in raw mode reaches readline as a NUL byte: lost), then SIGKILL to its session
        if it has not left within 10 s (once)."""
        if self._master is None:
            return
        try:
            deadline = time.monotonic() + 10
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    self.type("\x04")
                    self.process.wait(timeout=1)
                except (OSError, subprocess.TimeoutExpired):  # OSError: it closed the pty
                    pass
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        finally:
            os.close(self._master)
            self._master = None


@pytest.fixture
def start_prompt(tmp_path):
    """``start_prompt(command=PYTHON, **env) -> Prompt`` with ``tmp_path`` as HOME; each is
    closed after the test."""
    started = []

    def start(command=PYTHON, **env: str) -> Prompt:
        started.append(Prompt(str(tmp_path), command, **env))
        return started[-1]

    yield start
    for session in started:
        session.close()


def test_blocks_typed_at_the_python_prompt_run_on_the_cluster(start_prompt, cluster_url, tmp_path):
    # An earlier session's history holds a block of the same shape: the one typed now must win.
    decoy = "with ufora.remotely.downloadAll():\n    result = sum(x for x in range(10))\n"
    (tmp_path / ".python_history").write_text(decoy)
    prompt = start_prompt()
    prompt.type(textwrap.dedent(f"""\
        import pyfora
        ufora = pyfora.connect({cluster_url!r})
        n = 1000
        with ufora.remotely.downloadAll():
            result = sum(x for x in range(n))
            pid = __import__("os").getpid()

        print("RESULT", result, pid != __import__("os").getpid())
        def total(m):
            with ufora.remotely.downloadAll():
                squares = sum(x * x for x in range(m))
            return squares

        print("not a block")
        print("TOTAL", total(100))
        """))
    assert prompt.read_until(r"RESULT (\d+) (\w+)\r?\n").groups() == ("499500", "True")
    assert prompt.read_until(r"TOTAL (\d+)\r?\n").group(1) == str(sum(x * x for x in range(100)))
    assert "Error" not in prompt.output, prompt.output
    prompt.close()  # the prompt saves its history at exit: the decoy was in it, read at startup
    assert (tmp_path / ".python_history").read_text().startswith(decoy + "import pyfora\n")


def test_cells_typed_at_ipython_run_on_the_cluster(start_prompt, cluster_url, tmp_path):
    ipython = start_prompt(IPYTHON, UFORA_URL=cluster_url, IPYTHONDIR=str(tmp_path / ".ipython"))
    # Line by line, as at its prompt: a statement that is complete runs as a cell; a compound
    # one continues until a blank line.
    ipython.type(textwrap.dedent("""\
        import os, pyfora
        ufora = pyfora.connect()
        with ufora.remotely.downloadAll():
            result = sum(x for x in range(1000))
            pid = os.getpid()

        print("RESULT", result, pid, os.getpid())
        def square(x):
            return x * x

        with ufora.remotely.downloadAll():
            squares = [square(x) for x in range(5)]

        print("SQUARES", squares)
        def total(m):
            with ufora.remotely.downloadAll():
                found = sum(square(x) for x in range(m))
            return found

        print("TOTAL", total(100), total.__code__.co_filename)
        """))
    result, remote, local = ipython.read_until(r"RESULT (\d+) (\d+) (\d+)\r?\n").groups()
    assert result == "499500"
    assert int(local) == ipython.process.pid  # the cell ran in the IPython process...
    # ...and the block in a process of the cluster this module started, not in IPython's tree
    assert int(remote) in descendants(os.getpid())
    assert int(remote) not in [ipython.process.pid, *descendants(ipython.process.pid)]
    assert ipython.read_until(r"SQUARES (\[.*\])\r?\n").group(1) == "[0, 1, 4, 9, 16]"
    total, cell = ipython.read_until(r"TOTAL (\d+) (\S+)\r?\n").groups()
    assert total == str(sum(x * x for x in range(100)))
    assert cell.startswith("<ipython-input-"), cell  # its text came from IPython's cell cache
    assert "Error" not in ipython.output, ipython.output
    ipython.close()
    assert ipython.process.returncode == 0  # left at Ctrl-D, with its profile in tmp_path:
    assert (tmp_path / ".ipython" / "profile_default" / "history.sqlite").exists()


def test_a_block_read_from_a_pipe_says_its_text_is_not_kept(cluster_url):
    script = f"import pyfora\nufora = pyfora.connect({cluster_url!r})\n" \
             "with ufora.remotely.downloadAll():\n    result = 1\n"
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-"], input=script, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "CantGetSourceTextError: the block was read from standard input" in out.stderr, out.stderr


class History:
    """readline's history functions over a list of typed lines."""

    def __init__(self, lines):
        self.lines = lines

    def get_current_history_length(self):
        return len(self.lines)

    def get_history_item(self, index):  # 1-based, as readline's
        return self.lines[index - 1]


@pytest.fixture
def typed(monkeypatch):
    """``typed(lines)``: an interactive session whose readline history is ``lines``."""
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    return lambda lines: monkeypatch.setitem(sys.modules, "readline", History(lines))


def code_of(statement, name="<module>"):
    [code] = [c for c in nested_codes(compile(statement, "<stdin>", "single")) if c.co_name == name]
    return code


BLOCK = "with ufora.remotely.downloadAll():\n    result = sum(x for x in range({}))\n"


def test_the_statement_running_now_is_the_last_one_typed(typed):
    older = [f"x{i} = {i}" for i in range(3000)] + BLOCK.format(10).splitlines()  # a decoy
    typed(older + ["# a comment", "print(1)"] + BLOCK.format(1000).splitlines())
    assert typed_source.typed_statement(code_of(BLOCK.format(1000))) == BLOCK.format(1000)


def test_a_function_typed_earlier_is_found_by_its_code(typed):
    define = ("def total(m):\n"
              "    with ufora.remotely.downloadAll():\n"
              "        result = sum(x for x in range(m))\n"
              "    return result\n")
    redefined = define.replace("range(m)", "range(m + 1)")
    typed(redefined.splitlines() + define.splitlines() + ["n = 3", "total(n)"])
    assert typed_source.typed_statement(code_of(define, "total")) == define
    assert typed_source.typed_statement(code_of(redefined, "total")) == redefined


def test_a_statement_not_in_the_history_says_why(typed, monkeypatch):
    typed(BLOCK.format(10).splitlines())
    with pytest.raises(pyfora.CantGetSourceTextError, match="not in the last 2000 lines"):
        typed_source.typed_statement(code_of(BLOCK.format(11)))
    monkeypatch.delitem(sys.modules, "readline")
    with pytest.raises(pyfora.CantGetSourceTextError, match="readline is not loaded"):
        typed_source.typed_statement(code_of(BLOCK.format(10)))


@pytest.fixture(scope="module")
def ufora(cluster_url):
    executor = pyfora.connect(cluster_url)
    yield executor
    executor.close()


def test_a_cell_registered_in_linecache_like_ipythons(ufora):
    cell = "<ipython-input-7-5f1c0e2a9b3d>"
    source = ("offset = 3\n"
              "with ufora.remotely.downloadAll():\n"
              "    total = sum(x + offset for x in range(100_000))\n")
    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)
    try:
        namespace = {"ufora": ufora}
        linecache.checkcache()  # what a traceback elsewhere in the session does: the cell stays
        exec(compile(source, cell, "exec"), namespace)
    finally:
        del linecache.cache[cell]
    assert namespace["total"] == sum(x + 3 for x in range(100_000))


def test_a_block_whose_text_is_nowhere_says_why(ufora):
    source = "with ufora.remotely.downloadAll():\n    total = 1\n"
    with pytest.raises(pyfora.CantGetSourceTextError, match="'<nowhere>'.*exec\\(\\) of a string"):
        exec(compile(source, "<nowhere>", "exec"), {"ufora": ufora})
