"""engine.output alone, in a child interpreter (its flusher thread lives as long as the process,
as in a compute process): what a block prints is sent in order, the lines of a block that goes
quiet are sent while it still runs, by the one flusher thread the process keeps across blocks,
and what is left is sent when the block ends."""
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys, threading
    from ufora.engine import output

    def collector():
        sent, arrived = [], threading.Event()
        def send(pieces):
            sent.extend(pieces)
            arrived.set()
        return sent, arrived, send

    for block in range(2):  # the second block finds the flusher of the first
        sent, arrived, send = collector()
        with output.forwarded(send):
            print("line", block)
            assert arrived.wait(30), "the flusher never sent the line"
            assert sent == [("stdout", f"line {block}\\n")], sent
            print("tail", end="")
        assert sent == [("stdout", f"line {block}\\n"), ("stdout", "tail")], sent
    assert sum(thread.name == "ufora-output" for thread in threading.enumerate()) == 1

    sent, _, send = collector()
    with output.forwarded(send):
        print("a")
        print("b", file=sys.stderr)
        print("c", end="")
    text = ["".join(t for s, t in sent if s == stream) for stream in ("stdout", "stderr")]
    assert text == ["a\\nc", "b\\n"], sent
    print("ok")
""")


def test_lines_go_in_order_while_a_quiet_block_runs_and_the_rest_when_it_ends():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_a_block_starting_while_another_forks_leaves_the_fork_hooks_balanced():
    """The fork hooks release the batchers' locks they took, not those of a block that began in
    between ("RuntimeError: release unlocked lock" on a user's stderr)."""
    from ufora.engine import output

    first, second = output._Batcher(lambda pieces: None), output._Batcher(lambda pieces: None)
    output._batchers.append(first)
    try:
        output.before_fork()
        output._batchers.append(second)  # a block beginning in another thread
        output.after_fork_in_parent()
        assert not first.lock.locked() and not second.lock.locked()
    finally:
        for batcher in (first, second):
            if batcher in output._batchers:
                output._batchers.remove(batcher)
