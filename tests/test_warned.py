"""A block's warnings reach the client's own ``warnings`` as CPython's would (engine/warned.py):
once per place under the default filter however many partitions issued them, in order with what
the block prints, none from items after an error, seen by ``catch_warnings`` and filters here."""
import functools
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import pyfora
from ufora.engine import warned
from ufora.net import output_flow, schema
from tests.conftest import ROOT, client_script, one_host

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


def warn_from_this_module():
    warnings.warn("from an imported module")  # its registry is the module's, in every process


def test_always_gives_every_warning_once_and_blocks_start_with_empty_registries(ufora):
    values = np.linspace(-1, -0.5, 20_000)

    def roots():
        return [shifted_root(x) for x in values]

    def counted(run):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            run()
        return len(seen)

    def there():
        with ufora.remotely.downloadAll():
            rooted = roots()
        assert len(rooted) == len(values)
    # CPython gives one for each item: none more from the engine's own looks at the first items
    assert counted(there) == counted(roots) == len(values)

    def twice_there():
        with ufora.remotely.downloadAll():
            warn_from_this_module()
    assert caught(twice_there) == caught(warn_from_this_module)  # the first time
    assert caught(twice_there) == caught(warn_from_this_module)  # and again, as each catch_warnings resets


def noisy_mean(row):
    """A user's record check: a warning whose text names the row, and numpy's for an empty one."""
    if row[0] < -0.9:
        warnings.warn(f"row starting {row[0]:.4f} is an outlier")
    return np.sqrt(row[1]) + SCALE["k"]


@pytest.mark.parametrize("action", ["always", "once", "module", "ignore", "default"])
def test_filters_the_block_sets_decide_while_it_runs(ufora, action):
    """A block that sets the filters itself (``simplefilter("always")`` at its top) has its
    warnings decided by them, as CPython would, though the client's stay as they were until the
    block ends (before: one warning per place, 2,157 of 131,995 with ``always``)."""
    rows = np.random.default_rng(7).uniform(-1, 1, size=(60_000, 2))

    def body():
        warnings.simplefilter(action)
        [noisy_mean(row) for row in rows]
        warn_from_this_module()

    def seen(run, client_action):
        warnings.onceregistry.clear()  # "once" is once per process for ever: each run starts afresh
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter(client_action)
            run()
            after = warnings.filters[0][0]
        return [(w.category, str(w.message), w.lineno) for w in got], after

    def there():
        with ufora.remotely.downloadAll():
            body()

    for client_action in ("default", "always"):
        expected = seen(body, client_action)
        assert len(expected[0]) > 0 or action == "ignore"
        assert seen(there, client_action) == expected
        assert expected[1] == action  # the block's filter holds in the client after it


def divided(values):
    return [v / 0.0 for v in values]


def test_a_shape_run_serially_after_its_sample_keeps_its_first_warning(ufora):
    """The cost model's look at the first items fills the registries too: made stale after it,
    or the first item's warning (divide by zero, once per place) was lost."""
    values = np.linspace(-1, 1, 11)  # the sample sees item 0 (invalid: -1/0 is -inf... and 0/0)

    def there():
        with ufora.remotely.downloadAll():
            divided(values)
    assert caught(there) == caught(lambda: divided(values))


def test_a_change_of_the_filters_in_a_block_makes_the_clients_registries_stale(ufora):
    """As ``filterwarnings`` makes every registry stale in CPython: a place that warned in an
    earlier block warns again after the block changed the filters."""
    values = np.linspace(-1, 1, 200_001)

    def blocks(there):
        def first():
            if there:
                with ufora.remotely.downloadAll():
                    divided(values)
            else:
                divided(values)

        def second():
            if there:
                with ufora.remotely.downloadAll():
                    warnings.filterwarnings("default", category=RuntimeWarning)
                    divided(values)
            else:
                warnings.filterwarnings("default", category=RuntimeWarning)
                divided(values)
        return lambda: (first(), second())

    expected = caught(blocks(False))
    assert len(expected) == 4  # divide by zero and invalid value, in each block
    assert caught(blocks(True)) == expected


DEPRECATED = """
import warnings{imports}
def deprecated_at_three(x):
    if x == 3:
        warnings.warn("old api", DeprecationWarning)
    return x
{connect}
with warnings.catch_warnings(record=True) as seen:
{block}    total = sum(deprecated_at_three(x) for x in range(10))
print(total, [(w.category.__name__, str(w.message)) for w in seen])
"""


def test_the_default_filters_plain_module_names_match_as_cpythons(cluster_url, tmp_path):
    """Python's own default filters name a module by a plain string (``default::
    DeprecationWarning:__main__``), with which a record's action is found too (a user's trial:
    AttributeError 'str' object has no attribute 'match', raised in the block, where CPython
    gave 45 and the warning)."""
    script = DEPRECATED.format(imports=", pyfora", connect=f"ufora = pyfora.connect({cluster_url!r}, progress=False)",
                               block="  with ufora.remotely.downloadAll():\n  ")
    there = client_script(tmp_path / "script.py", script, None)
    out, err = there.communicate(timeout=240)
    here = subprocess.run([sys.executable, "-c", DEPRECATED.format(imports="", connect="", block="")],
                          capture_output=True, text=True, timeout=120)
    assert there.returncode == 0, err
    assert out == here.stdout == "45 [('DeprecationWarning', 'old api')]\n", err


def test_a_block_that_leaves_warnings_captured_by_logging_does_not_hide_the_next_blocks(ufora):
    def captures():
        import logging
        logging.captureWarnings(True)
    for _ in range(2):  # on every compute process the blocks may run on
        with ufora.remotely.downloadAll().onCluster():
            captures()

    def there():
        with ufora.remotely.downloadAll().onCluster():
            warn_from_this_module()
    assert [w[1] for w in caught(there)] == ["from an imported module"]


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
    kinds = [(stream, [json.loads(line)["message"] for line in text.splitlines()] if stream == warned.STREAM
                       else text) for stream, text in sent]
    assert kinds == [("stdout", "before\\n"), ("warning", ["twice over", "another"]), ("stdout", "after 1\\n")], kinds
    with warned.recorded() as records:
        warnings.warn("in a partition")
    assert [r["message"] for r in records] == ["in a partition"] and records[0]["module"] == "__main__"
    print("ok")
""")


def test_a_compute_process_sends_each_warning_as_a_piece_in_order():
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def record(message="m", category="builtins:UserWarning", module="tests.test_warned", lineno=7, **more):
    return json.dumps({"categories": [category], "message": message, "filename": __file__, "lineno": lineno,
                       "module": module, **more}) + "\n"


def test_the_client_issues_with_its_registry_and_shows_what_it_cannot_issue(capsys):
    registries = {}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for _ in range(2):
            warned.issue_here(record(), registries)  # this module's registry: once
            warned.issue_here(record(module="not_here"), registries)  # a registry of its own: once
        warned.issue_here(record(category=f"{__name__}:DataWarning", lineno=8), registries)
        local = json.loads(record(lineno=9))
        local["categories"] = [f"{__name__}:test_x.<locals>.Mine", f"{__name__}:DataWarning", "builtins:UserWarning"]
        warned.issue_here(json.dumps(local), registries)  # a class defined in a function: its base
    assert [(w.category, w.lineno) for w in seen] == [(UserWarning, 7), (UserWarning, 7), (DataWarning, 8),
                                                      (DataWarning, 9)]
    assert "not_here" in registries
    warned.issue_here("{not json\n" + record(category="nowhere:Missing", message="lost class"), registries)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warned.issue_here(record(message="an error here", lineno=10), registries)  # shown, not raised
    err = capsys.readouterr().err
    assert "could not be read" in err and "Warning: lost class" in err and "UserWarning: an error here" in err
    assert "nowhere" not in sys.modules  # a record imports nothing


def test_the_blocks_action_decides_with_the_clients_registry(capsys):
    """A record carries the action its block's filters took; where the client's filters would
    take another, the block's is used with the client's registries, and the client's filters
    and their version (what keeps every registry) are left as they were."""
    registries = {}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        filters = warnings.filters
        for _ in range(3):
            warned.issue_here(record(message="each", action="always"), registries)
            warned.issue_here(record(message="first", lineno=11, action="default"), registries)
        warnings.onceregistry.clear()
        warned.issue_here(record(message="once", lineno=12, action="once")
                          + record(message="once", lineno=13, action="once"), registries)
        assert warnings.filters is filters
    assert [(str(w.message), w.lineno) for w in seen] == [("each", 7), ("first", 11), ("each", 7), ("each", 7),
                                                         ("once", 12)]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("error")
        warned.issue_here(record(message="the block showed it", action="always"), registries)  # not raised here
        warned.issue_here(record(message="nowhere", action="ignore") + record(action="always", count=0), registries)
    assert [str(w.message) for w in seen] == ["the block showed it"]
    assert capsys.readouterr().err.count("could not be read") == 2  # no action a shown warning can have


def test_a_count_is_issued_that_many_times_and_a_raising_showwarning_stops_nothing(caplog):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warned.issue_here(record(count=3) + record(message="other"), {})
    assert [str(w.message) for w in seen] == ["m", "m", "m", "other"]

    def raising(*args, **kwargs):
        raise RuntimeError("a showwarning of the user's")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = raising
        warned.issue_here(record(), {})  # logged: the block's output goes on
    assert "could not be issued here" in caplog.text


def test_records_passed_on_outside_a_block_are_issued_as_many_times_as_counted():
    """The engine used without a cluster (InlineRunner) issues a partition's records here."""
    one = json.loads(record(count=3))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warned.pass_on([one])
    assert [str(w.message) for w in seen] == ["m", "m", "m"]


def test_a_partition_counts_a_warning_issued_again_at_once():
    records = warned.Records()
    first = {"categories": ["builtins:UserWarning"], "message": "m", "filename": "f", "lineno": 1, "module": None}
    for one in (first, dict(first), dict(first), {**first, "lineno": 2}, dict(first)):
        records.add(one)
    assert [(r["lineno"], r.get("count", 1)) for r in records] == [(1, 3), (2, 1), (1, 1)]


def test_the_warning_stream_is_cut_between_lines_only():
    assert warned.STREAM == schema.WARNING_STREAM
    flow = output_flow.OutputFlow()
    line = "w" * (output_flow.CHUNK // 3) + "\n"
    flow.add("j", "stderr", "a\n")
    flow.add("j", schema.WARNING_STREAM, line * 4)
    flow.add("j", schema.WARNING_STREAM, "short\n")
    flow.add("j", "stderr", "b\n")
    flow.add("j", "stderr", "c\n")
    taken = []
    while (more := flow.take("j")):
        taken.extend(more)
        flow.acknowledged("j", sum(len(text) for _, text in more))
    assert taken == [("stderr", "a\n"), ("warning", line * 2), ("warning", line * 2 + "short\n"),
                     ("stderr", "b\nc\n")]


FILTER_CALLS = """
import contextlib, threading, warnings
REMOTE = {remote}
if REMOTE:
    import pyfora
    ufora = pyfora.connect({url!r}, progress=False)
    block = ufora.remotely.downloadAll
else:
    block = contextlib.nullcontext

def noisy(x):
    if x == 3:
        warnings.warn("three seen", UserWarning)
    return x

def catch():
    with warnings.catch_warnings():
        pass

for step in ["once", "unchanged", "catch inside", "always", "default", "default again", "catch at the end",
             "unchanged", "edited in place", "unchanged", "catch in a thread"]:
    print(step, flush=True)
    with block():
        if step in ("once", "always", "default", "default again"):
            warnings.simplefilter(step.split()[0])
        elif step == "catch inside":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
        elif step == "edited in place":  # no call that sets them: CPython's registries stay
            warnings.filters.insert(0, ("ignore", None, DeprecationWarning, None, 0))
        elif step == "catch in a thread":
            thread = threading.Thread(target=catch)
            thread.start()
            thread.join()
            del thread
        total = sum(noisy(x) for x in range(10))
        if step == "catch at the end":
            with warnings.catch_warnings():
                pass
print("end", flush=True)
"""


def test_each_filter_call_of_a_block_makes_registries_stale_once_as_in_cpython(cluster_url, tmp_path):
    """CPython makes every registry stale at each call that sets the filters, even to what they
    were (``catch_warnings``, ``simplefilter`` of the first filter; in any thread), and at no
    other time (the list changed in place). The
    client made them stale again when it took back the filters a block ended with ("once" in
    one block: the next block's warning was shown again), and never where the filters a block
    ended with were the ones it began with (a ``catch_warnings`` inside it)."""
    there = client_script(tmp_path / "there.py", FILTER_CALLS.format(remote=True, url=cluster_url), None)
    out, err = there.communicate(timeout=240)
    (tmp_path / "here.py").write_text(FILTER_CALLS.format(remote=False, url=None))
    here = subprocess.run([sys.executable, str(tmp_path / "here.py")], capture_output=True, text=True, timeout=120)
    assert there.returncode == 0 == here.returncode, err + here.stderr
    assert out == here.stdout
    assert err.replace("there.py", "here.py") == here.stderr
    assert here.stderr.count("three seen") == 7 * 2  # the warning and its line, in seven of the eleven blocks


def test_the_blocks_warnings_module_is_pythons_own(ufora):
    """numba's compiles in a compute process see a ``catch_warnings`` of the engine's; the
    block's code sees Python's own (``repr``, its type, its errors)."""
    with ufora.remotely.downloadAll():
        total = sum(x * 0.5 for x in range(300_000))  # (a kernel compiled there)
        kind = f"{warnings.catch_warnings.__module__}.{warnings.catch_warnings.__qualname__}"
        shown = repr(warnings.catch_warnings())
        try:
            warnings.catch_warnings().__exit__(None, None, None)
            error = None
        except Exception as exc:
            error = type(exc).__name__
    assert total == sum(x * 0.5 for x in range(300_000))
    assert (kind, shown, error) == ("warnings.catch_warnings", "catch_warnings()", "RuntimeError")


INT64_HALVES = np.full(200_000, 2**62, dtype=np.int64)  # a sum that overflows every other item


def summed(values):
    return sum(x for x in values)


@pytest.mark.parametrize("action", ["default", "always"])
def test_a_sums_own_overflow_warns_from_the_users_line(ufora, action):
    """numpy warns for the sum's own additions from the line that calls ``sum``; split, they
    were issued by the engine's lines that add (``engine/reducers.py``, ``engine/runtime.py``),
    two places where CPython has one."""
    def there():
        with ufora.remotely.downloadAll():
            total = summed(INT64_HALVES)
        return total

    def issued(run):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter(action)
            value = run()
        return value, [(w.category, str(w.message), w.filename, w.lineno) for w in seen]

    expected, here = issued(lambda: summed(INT64_HALVES))
    got, remote = issued(there)
    assert (got, type(got)) == (expected, type(expected))
    assert {w[2:] for w in remote} == {w[2:] for w in here} == {(__file__, summed.__code__.co_firstlineno + 1)}
    if action == "default":
        assert remote == here


def test_numpys_error_handler_is_called_as_often_as_in_cpython(ufora):
    """A handler given to ``np.seterrcall`` is the block's: a shape that meets numpy's errors
    under mode "call" runs here, in order (its calls in other processes were lost), and the
    engine's look at its first items calls it for none of them (it was called once more)."""
    values = np.linspace(0.0, 1.0, 200_000)
    values[::50_000] = 0.0  # np.log(0.0): divide by zero, four times
    calls = []

    def handler(kind, flag):
        calls.append(kind)

    old = np.geterrcall()
    try:
        with ufora.remotely.downloadAll():
            np.seterrcall(handler)
            with np.errstate(divide="call"):
                total = sum(np.log(x) for x in values)
    finally:
        np.seterrcall(old)
    assert total == -np.inf and calls == ["divide by zero"] * 4


KEPT = textwrap.dedent("""
    import threading, warnings
    import numba.core.errors
    from ufora.engine import process_settings, warned

    warned.keep_filters_through_compiles()
    assert warnings.catch_warnings.__module__ == "warnings"  # the user's is Python's own
    entered, done = threading.Event(), threading.Event()

    def compiling():  # as numba does in a compile thread: the filters set aside, then put back
        with numba.core.errors.warnings.catch_warnings(record=True):
            warnings.simplefilter("always", SyntaxWarning)
            entered.set()
            done.wait()

    thread = threading.Thread(target=compiling, name=warned.ENGINE_THREADS + "-compile")
    thread.start()
    entered.wait()
    state = process_settings.take((process_settings.WARNINGS,))
    entries, default = state[process_settings.WARNINGS]
    always = ((("always", None, "builtins:RuntimeWarning", None, 0),) + entries, default)
    process_settings.apply({process_settings.WARNINGS: always})  # a partition's, meanwhile
    done.set()
    thread.join()
    assert warnings.filters[0][:3] == ("always", None, RuntimeWarning), warnings.filters[:2]
    with numba.core.errors.warnings.catch_warnings():  # in another thread (the block's): what it set aside
        process_settings.apply({process_settings.WARNINGS: state[process_settings.WARNINGS]})
    assert warnings.filters[0][:3] == ("always", None, RuntimeWarning), warnings.filters[:2]
    print("ok")
""")


def test_a_compile_in_another_thread_does_not_undo_the_filters_a_partition_put_in_force():
    """numba sets the filters aside while it compiles and puts back what it set aside: a
    partition's filters put in force meanwhile were undone ("always" became the last block's
    "default": one warning per place, where CPython gave 115,469)."""
    done = subprocess.run([sys.executable, "-c", KEPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_the_blocks_own_recording_sees_a_sums_warning_at_the_users_line(ufora):
    values = INT64_HALVES[:1_000]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        summed(values)
    expected = sorted((w.filename, w.lineno) for w in seen)
    with ufora.remotely.downloadAll():
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            summed(values)
        places = sorted((w.filename, w.lineno) for w in recorded)
        del recorded
    assert places == expected and len(expected) == 250


def square_roots(values):
    return [np.sqrt(v) for v in values]


@pytest.mark.parametrize("size", [3_000, 300_000])
def test_the_blocks_own_recording_gets_each_items_warning_once(ufora, size):
    """A block's ``catch_warnings(record=True)`` around a shape: one warning per negative value,
    as CPython records them (a user's trial: 160 for 100, the cost model's sample recorded too;
    split, the partitions' warnings went to the client's stderr instead)."""
    values = np.arange(size) - 100.0

    def run():
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            square_roots(values)
        return [(w.category, str(w.message), w.lineno) for w in seen]

    expected = run()
    with ufora.remotely.downloadAll().onCluster():
        got = run()
    assert got == expected and len(expected) == 100


def recorded_by_the_block(action):
    values = np.arange(300_000) - 100.0
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter(action)
        for _ in range(2):
            square_roots(values)
            warnings.warn("hello")
    return [(w.category, str(w.message), w.lineno) for w in seen]


@pytest.mark.parametrize("action", ["default", "module", "once", "always"])
def test_the_blocks_own_recording_keeps_each_place_as_its_filter_says_over_several_shapes(ufora, action):
    """Each shape's look at its first items made every registry stale: a block recording its
    own warnings recorded a place again after each shape (a review: 4 for 2)."""
    expected = recorded_by_the_block(action)
    with ufora.remotely.downloadAll().onCluster():
        got = recorded_by_the_block(action)
    assert got == expected and len(expected) == (202 if action == "always" else 2)


ROOT_SHIFT = {"k": 1.0}


def root_read_from_a_dict(x):
    return np.sqrt(x) + ROOT_SHIFT["k"]  # (a dict read: CPython partitions, whose warnings are records)


def warned_in_the_block_and_in_a_shape(split_first):
    values = np.arange(300_000) - 100.0
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        if not split_first:
            root_read_from_a_dict(np.float64(-1.0))
        [root_read_from_a_dict(x) for x in values]
        if split_first:
            root_read_from_a_dict(np.float64(-1.0))
    return [(w.category, str(w.message), w.lineno) for w in seen]


def once_again_after_a_filter_change():
    values = np.arange(300_000) - 100.0
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("once")
        for _ in range(2):
            [root_read_from_a_dict(x) for x in values]
            warnings.simplefilter("once")  # a change of the filters: "once" counts afresh in 3.11
    return [(w.category, str(w.message), w.lineno) for w in seen]


def test_a_split_shapes_warnings_share_the_blocks_registry(start_service):
    """Split, a shape's warnings are given to the block's own recording with the registry its own
    warnings use (a review: a place that warned in both was recorded twice, and "once" did not
    count afresh after a change of the filters)."""
    service = start_service({**one_host(2), "UFORA_SPLIT": "always"})
    runs = [functools.partial(warned_in_the_block_and_in_a_shape, False),
            functools.partial(warned_in_the_block_and_in_a_shape, True), once_again_after_a_filter_change,
            *(functools.partial(recorded_by_the_block, action) for action in ("default", "module", "once"))]
    with pyfora.connect(service.url, progress=False) as ufora:
        for run in runs:
            expected = run()
            with ufora.remotely.downloadAll():
                got = run()
            assert got == expected, run


OVERFLOWING = """
import numpy as np, pyfora, warnings
def overflowing():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("once")
        total = sum(np.int64(2 ** 62) * np.int64(v % 3 + 1) for v in range(300_000))
    return total, [(w.category.__name__, str(w.message)) for w in seen]
expected = overflowing()
ufora = pyfora.connect({url!r}, progress=False)
with ufora.remotely.downloadAll().onCluster():
    got = overflowing()
ufora.close()
assert got == expected and len(expected[1]) == 2, (got, expected)
print("ok")
"""


def test_a_scripts_block_recording_a_sums_warnings_once_gets_them_once(cluster_url, tmp_path):
    """Run as a script (its module ``__main__``): partitions computed in the driver recorded
    their warnings once each (26 for 2), and issuing them there raised ``ImportError`` (the
    service's own ``__main__`` was taken for the script's; a review)."""
    there = client_script(tmp_path / "script.py", OVERFLOWING.format(url=cluster_url), None)
    out, err = there.communicate(timeout=240)
    assert there.returncode == 0 and out == "ok\n", err


LEAK = textwrap.dedent("""
    import threading, warnings
    from ufora.engine import output, warned

    warned.install()
    began, block_started, ended = threading.Event(), threading.Event(), threading.Event()

    def compile_thread():  # a compile's recording, open as a block begins, ended while it runs
        with warnings.catch_warnings(record=True):
            began.set()
            block_started.wait(30)
        ended.set()
    threading.Thread(target=compile_thread, name="ufora compile k").start()
    began.wait(30)
    with output.forwarded(lambda pieces: None):
        block_started.set()
        ended.wait(30)
    sent = []
    with output.forwarded(sent.extend):  # the next block's warning reaches its client
        warnings.warn("the next block's")
    assert [stream for stream, _ in sent] == [warned.STREAM], sent
    print("ok")
""")


def test_a_compiles_recording_that_ends_during_a_block_does_not_take_the_next_blocks_warnings():
    """A user's trial lost a block's overflow warning after three blocks had compiled kernels: a
    compile thread's recording was in force as a block began, and the block's end put it back."""
    done = subprocess.run([sys.executable, "-c", LEAK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
