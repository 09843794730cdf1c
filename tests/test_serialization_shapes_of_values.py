"""Values that pickle refuses or rebuilds otherwise, as a block's results meet them (found by a
user's trial): instances of a class with ``__slots__`` sent by value, and closed files."""
import io
import os
import subprocess
import sys
import textwrap

import pytest

from ufora.engine import serialization
from tests.conftest import ROOT


def _slotted_class():
    class Point:  # made in a function: pickled by value, as a script's own classes are
        __slots__ = ("x", "y")

        def __init__(self, x, y):
            self.x, self.y = x, y
    return Point


def test_a_slotted_class_sent_by_value_makes_slotted_instances_that_come_back():
    point = _slotted_class()
    child = textwrap.dedent("""
        import sys
        from ufora.engine import serialization
        kind = serialization.loads(sys.stdin.buffer.read())
        made = kind(1, 2)
        assert not hasattr(made, "__dict__"), "the rebuilt class lost its slots"
        sys.stdout.buffer.write(serialization.dumps([made, kind(3, 4)]))
    """)
    done = subprocess.run([sys.executable, "-c", child], input=serialization.dumps(point), capture_output=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    first, second = serialization.loads(done.stdout)
    assert type(first) is point and (first.x, first.y, second.y) == (1, 2, 4)


@pytest.mark.parametrize("mode,kind", [("r", io.TextIOWrapper), ("rb", io.BufferedReader), ("ab", io.BufferedWriter)])
def test_a_closed_file_comes_back_a_closed_file_of_its_type_name_and_mode(tmp_path, mode, kind):
    path = tmp_path / "data.txt"
    path.write_text("1\n2\n")
    with open(path, mode) as opened:
        pass
    again = serialization.loads(serialization.dumps({"f": opened}))["f"]
    assert type(again) is kind and again.closed and again.name == opened.name and again.mode == opened.mode
    with pytest.raises(ValueError, match="closed file"):
        again.read() if "r" in mode else again.write(b"x")
    assert os.path.exists(os.devnull)


def test_closed_memory_files_come_back_closed():
    text, data = io.StringIO("a"), io.BytesIO(b"a")
    text.close()
    data.close()
    assert all(type(v) is type(o) and v.closed for v, o in zip(serialization.loads(serialization.dumps([text, data])),
                                                                 (text, data)))
