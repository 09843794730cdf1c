"""A block's warnings reach the client's own ``warnings`` as CPython's would (engine/warned.py):
once per place under the default filter however many partitions issued them, in order with what
the block prints, none from items after an error, seen by ``catch_warnings`` and filters here."""
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from ufora.engine import warned
from ufora.net import output_flow, schema
from tests.conftest import ROOT, client_script

SCALE = {"k": 1.0}  # a dict the element reads: not compiled, so its partitions run in CPython


class DataWarning(UserWarning):
    pass


def shifted_root(x):
    return np.sqrt(x) + SCALE["k"]


def parsed(record):
    if not record.isdigit():
        warnings.warn(f"bad record {record!r}", DataWarning)
        return 0
    return int(record)


def caught(run):
    """What ``run`` issued under the default filter: (category, message, file, line) each."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        run()
    return [(w.category, str(w.message), w.filename, w.lineno) for w in seen]


def test_a_split_shape_warns_once_per_place_as_cpython(ufora):
    values = np.linspace(-1, 1, 400_000)

    def here():
        [shifted_root(x) for x in values]

    def there():
        with ufora.remotely.downloadAll():
            roots = [shifted_root(x) for x in values]
        assert len(roots) == len(values)

    expected = caught(here)
    assert [w[:2] for w in expected] == [(RuntimeWarning, "invalid value encountered in sqrt")]
    assert caught(there) == expected


def test_a_users_category_and_its_records_in_order(ufora):
    records = [str(i) if i % 50_000 else f"x{i}" for i in range(200_000)]

    def here():
        sum(parsed(r) for r in records)

    def there():
        with ufora.remotely.downloadAll():
            total = sum(parsed(r) for r in records)
        assert total == sum(i for i in range(200_000) if i % 50_000)

    expected = caught(here)
    assert [w[1] for w in expected] == ["bad record 'x0'", "bad record 'x50000'", "bad record 'x100000'",
                                        "bad record 'x150000'"]
    assert caught(there) == expected


def test_no_warning_from_items_after_the_first_error(ufora):
    values = np.concatenate([np.linspace(-1, 1, 200_000), [np.nan], np.linspace(-1, 1, 200_000)])

    def element(x):
        if x != x:
            raise ValueError("a hole in the data")
        return np.sqrt(x) + SCALE["k"]

    def there():
        with pytest.raises(ValueError, match="a hole in the data"):
            with ufora.remotely.downloadAll():
                [element(x) for x in values]

    assert [w[1] for w in caught(there)] == ["invalid value encountered in sqrt"]
    late = np.concatenate([np.linspace(0, 1, 200_000), [np.nan], np.linspace(-1, 1, 200_000)])

    def late_there():
        with pytest.raises(ValueError, match="a hole in the data"):
            with ufora.remotely.downloadAll():
                [element(x) for x in late]

    assert caught(late_there) == []  # the negative items come after the error: CPython never reaches them


def test_filters_here_decide(ufora):
    values = np.linspace(-1, 1, 400_000)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("ignore", RuntimeWarning)
        with ufora.remotely.downloadAll():
            [shifted_root(x) for x in values]
            warnings.warn("from the body")
    assert [str(w.message) for w in seen] == ["from the body"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="invalid value encountered in sqrt"):
            with ufora.remotely.downloadAll():
                [shifted_root(x) for x in values]


SCRIPT = """
import numpy as np, pyfora, warnings
ufora = pyfora.connect({url!r}, progress=False)
SCALE = {{"k": 1.0}}
values = np.linspace(-1, 1, 400_000)
def shifted_root(x):
    return np.sqrt(x) + SCALE["k"]
for run in range(3):
    with ufora.remotely.downloadAll():
        roots = [shifted_root(x) for x in values]
        print("run", run)
ufora.close()
"""
LOCAL = """
import numpy as np, warnings
SCALE = {{"k": 1.0}}
values = np.linspace(-1, 1, 400_000)
def shifted_root(x):
    return np.sqrt(x) + SCALE["k"]
for run in range(3):
    roots = [shifted_root(x) for x in values]
    print("run", run)
"""


def test_a_script_prints_what_cpython_prints(cluster_url, tmp_path):
    """A script running the block three times: one warning on its stderr, as run locally (it
    printed the warning 7-10 times on the first run, 3 on each later one)."""
    there = client_script(tmp_path / "script.py", SCRIPT.format(url=cluster_url), None)
    out, err = there.communicate(timeout=240)
    here = subprocess.run([sys.executable, "-c", LOCAL.format()], capture_output=True, text=True, timeout=120)
    assert there.returncode == 0, err
    assert out == here.stdout == "run 0\nrun 1\nrun 2\n"
    assert err.count("RuntimeWarning") == here.stderr.count("RuntimeWarning") == 1, err


CHILD = textwrap.dedent("""
    import warnings, json
    from ufora.engine import output, warned

    warned.install()
    sent = []
    with output.forwarded(sent.extend):
        print("before")
        for _ in range(3):
            warnings.warn("twice over")  # one place: the default filter keeps it once
        warnings.warn("another")
        with warnings.catch_warnings(record=True) as mine:
            warnings.warn("the block's own catch")
        print("after", len(mine))
    kinds = [(stream, json.loads(text)["message"] if stream == warned.STREAM else text) for stream, text in sent]
    assert kinds == [("stdout", "before\\n"), ("warning", "twice over"), ("warning", "another"),
                     ("stdout", "after 1\\n")], kinds
    with warned.recorded() as records:
        warnings.warn("in a partition")
    assert [r["message"] for r in records] == ["in a partition"] and records[0]["module"] == "__main__"
    print("ok")
""")


def test_a_compute_process_sends_each_warning_as_a_piece_in_order():
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def record(message="m", category="builtins:UserWarning", module="tests.test_warned", lineno=7):
    return json.dumps({"category": category, "message": message, "filename": __file__, "lineno": lineno,
                       "module": module})


def test_the_client_issues_with_its_registry_and_shows_what_it_cannot_issue(capsys):
    registries = {}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for _ in range(2):
            warned.issue_here(record(), registries)  # this module's registry: once
            warned.issue_here(record(module="not_here"), registries)  # a registry of its own: once
        warned.issue_here(record(category=f"{__name__}:DataWarning", lineno=8), registries)
    assert [(w.category, w.lineno) for w in seen] == [(UserWarning, 7), (UserWarning, 7), (DataWarning, 8)]
    assert "not_here" in registries
    warned.issue_here("{not json", registries)
    warned.issue_here(record(category="nowhere:Missing", message="lost class"), registries)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warned.issue_here(record(message="an error here", lineno=9), registries)  # the block has ended: shown
    err = capsys.readouterr().err
    assert "could not be read" in err and "Warning: lost class" in err and "UserWarning: an error here" in err


def test_a_warning_piece_is_never_split_nor_joined():
    assert warned.STREAM == schema.WARNING_STREAM
    flow = output_flow.OutputFlow()
    long = "w" * (output_flow.CHUNK + 10)
    flow.add("j", "stderr", "a\n")
    flow.add("j", schema.WARNING_STREAM, long)
    flow.add("j", schema.WARNING_STREAM, "short")
    flow.add("j", "stderr", "b\n")
    flow.add("j", "stderr", "c\n")
    taken = []
    while (more := flow.take("j")):
        taken.extend(more)
        flow.acknowledged("j", sum(len(text) for _, text in more))
    assert taken == [("stderr", "a\n"), ("warning", long), ("warning", "short"), ("stderr", "b\nc\n")]
