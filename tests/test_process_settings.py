"""The process-wide settings a block carries (``engine.process_settings``): taken, applied and put
back; carried by a task to its partitions; keeping shapes out of compiled code where compiled code
would not follow them; and, on a real service with every shape split, seen by every partition and
sent back to the caller when the block changes them."""
from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pyfora
from ufora.engine import process_settings, reducers, runtime, tasks
from ufora.engine.runtime import InlineRunner
from ufora.engine.sources import source_for


@pytest.fixture(autouse=True)
def own_settings():
    """Every test leaves this process's settings as it found them."""
    own = process_settings.take()
    with warnings.catch_warnings():
        yield
        process_settings.apply(own)


class HomeMadeWarning(UserWarning):
    """A warning category of the user's: no module of the cluster's Python defines it."""


def test_take_reads_every_setting_and_apply_sets_it(tmp_path, monkeypatch):
    before = process_settings.take()
    monkeypatch.chdir(tmp_path)  # (and back at the test's end)
    np.seterr(divide="raise", under="warn")
    np.set_printoptions(precision=3)
    warnings.simplefilter("error", RuntimeWarning)
    sys.setrecursionlimit(before[process_settings.RECURSION] + 500)
    sys.set_int_max_str_digits(0)
    os.environ["SETTINGS_TEST_SCALE"], os.environ["SETTINGS_TEST_EMPTY"] = "3=three", ""
    logging.getLogger("settings.test").setLevel(logging.DEBUG)
    changed = process_settings.take()
    assert ("settings.test", logging.DEBUG) in changed[process_settings.LOGGING][2]
    assert changed[process_settings.NUMPY_ERRORS][0]["divide"] == "raise"
    assert changed[process_settings.NUMPY_PRINT]["precision"] == 3
    assert changed[process_settings.WARNINGS][0][0][:3] == ("error", None, "builtins:RuntimeWarning")
    assert changed[process_settings.RECURSION] == before[process_settings.RECURSION] + 500
    assert changed[process_settings.INT_DIGITS] == 0
    assert changed[process_settings.WORKING_FOLDER] == str(tmp_path)
    variables = process_settings.variables(changed[process_settings.ENVIRONMENT])
    assert variables["SETTINGS_TEST_SCALE"] == "3=three" and variables["SETTINGS_TEST_EMPTY"] == ""
    assert all(changed[name] != before[name] for name in before if name != process_settings.ENVIRONMENT)

    process_settings.apply(before)
    assert process_settings.take() == before and "SETTINGS_TEST_SCALE" not in os.environ
    assert "SETTINGS_TEST_EMPTY" not in os.environ and logging.getLogger("settings.test").level == logging.NOTSET
    assert np.geterr()["divide"] == "warn" and np.get_printoptions()["precision"] == 8
    process_settings.apply(changed)
    assert process_settings.take() == changed and np.geterr()["divide"] == "raise"
    process_settings.apply({process_settings.WORKING_FOLDER: str(tmp_path / "not here")})
    assert os.getcwd() == str(tmp_path)  # a folder this machine lacks (the caller's elsewhere): stays


def test_the_engines_and_numbas_variables_are_neither_carried_nor_changed():
    os.environ["UFORA_SETTINGS_TEST"], os.environ["NUMBA_SETTINGS_TEST"] = "mine", "mine too"
    carried = process_settings.take()
    variables = process_settings.variables(carried[process_settings.ENVIRONMENT])
    assert variables["PATH"] == os.environ["PATH"] and not any(name.startswith(("UFORA_", "NUMBA_"))
                                                               for name in variables)
    try:
        process_settings.apply({process_settings.ENVIRONMENT: "ONLY_THIS=1"})
        assert os.environ["UFORA_SETTINGS_TEST"] == "mine" and os.environ["NUMBA_SETTINGS_TEST"] == "mine too"
        assert {name for name in os.environ if not name.startswith(("UFORA_", "NUMBA_"))} == {"ONLY_THIS"}
    finally:
        process_settings.apply(carried)
        del os.environ["UFORA_SETTINGS_TEST"], os.environ["NUMBA_SETTINGS_TEST"]
    assert os.environ["PATH"] == variables["PATH"] and "ONLY_THIS" not in os.environ


def test_applied_puts_the_processs_own_back_whatever_the_code_within_changed():
    own = process_settings.take()
    os.environ["SETTINGS_TEST_SCALE"] = "7"
    np.seterr(over="raise")
    callers = process_settings.take()
    process_settings.apply(own)
    with process_settings.applied(callers):
        assert os.environ["SETTINGS_TEST_SCALE"] == "7" and np.geterr()["over"] == "raise"
        os.environ["SET_WITHIN"] = "1"
        np.set_printoptions(precision=2)
        warnings.simplefilter("ignore")
    assert process_settings.take() == own and "SET_WITHIN" not in os.environ


def test_warning_categories_travel_by_name_when_the_cluster_has_them_and_as_classes_when_not():
    warnings.filterwarnings("error", category=HomeMadeWarning)
    warnings.filterwarnings("error", category=np.exceptions.ComplexWarning)
    entries, _ = process_settings.take()[process_settings.WARNINGS]
    assert entries[0][2] == "numpy.exceptions:ComplexWarning" and entries[1][2] is HomeMadeWarning
    # a category this process cannot import cannot be issued here: its filter is left out
    unknown = (("error", None, "not_installed_anywhere:Warning", None, 0), *entries)
    process_settings.apply({process_settings.WARNINGS: (unknown, "default")})
    assert warnings.filters[0][2] is np.exceptions.ComplexWarning and warnings.filters[1][2] is HomeMadeWarning
    with pytest.raises(HomeMadeWarning):
        warnings.warn("raised", HomeMadeWarning)


@pytest.mark.parametrize("change,reason", [
    (lambda: None, None),
    (lambda: np.seterr(all="ignore"), None),  # compiled code warns no one either
    (lambda: np.seterr(divide="raise"), "not compiled: np.seterr(divide='raise') is in force"),
    (lambda: np.seterr(over="print"), "not compiled: np.seterr(over='print') is in force"),
    (lambda: warnings.simplefilter("error"), "not compiled: a warnings filter turns warnings into errors"),
    (lambda: warnings.filterwarnings("error", category=RuntimeWarning), "not compiled: a warnings filter"),
    (lambda: warnings.filterwarnings("error", category=np.exceptions.ComplexWarning), "not compiled: a warnings"),
    # only a call compiled code never makes issues these
    (lambda: warnings.filterwarnings("error", category=HomeMadeWarning), None),
    (lambda: warnings.filterwarnings("error", category=pytest.PytestWarning), None),
])
def test_the_settings_compiled_code_would_not_follow_keep_shapes_from_it(change, reason):
    change()
    found = process_settings.not_compiled_because(process_settings.take())
    assert found == reason if reason is None else found.startswith(reason)


class RecordingLock:
    """Stands for numba's compiler lock: says when it is held."""

    def __init__(self, events: list):
        self.events = events

    def __enter__(self):
        self.events.append("held")

    def __exit__(self, *exc):
        self.events.append("let go")


def test_filters_that_make_errors_come_and_go_only_with_numbas_compiler_lock_held(monkeypatch):
    """numba sets warnings.filters aside while it types a kernel (in a compile thread, under its
    compiler lock) and puts back what it set aside: filters that turn warnings into errors are
    put in force and taken out with the lock held, so no compile undoes either; other filters
    change without it, never waiting for a compile."""
    events: list = []
    monkeypatch.setattr(process_settings, "compiler_lock", lambda: RecordingLock(events))
    real = warnings._filters_mutated
    monkeypatch.setattr(warnings, "_filters_mutated", lambda: (events.append("changed"), real()))
    own = process_settings.take()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ignoring = process_settings.take()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        raising = process_settings.take()
    with warnings.catch_warnings():
        warnings.simplefilter("error", HomeMadeWarning)  # compiled code would not matter: errors all the same
        raising_users = process_settings.take()
    events.clear()  # catch_warnings and simplefilter tell warnings of their changes too
    with process_settings.applied(ignoring):
        assert events == ["changed"]
    assert events == ["changed", "changed"]
    events.clear()
    with process_settings.applied(raising):
        assert events == ["held", "changed", "let go"] and warnings.filters[0][:3] == ("error", None, RuntimeWarning)
        with pytest.raises(RuntimeWarning):
            warnings.warn("raised", RuntimeWarning)
    assert events == ["held", "changed", "let go"] * 2 and process_settings.take() == own
    events.clear()
    with process_settings.applied(raising_users):
        assert process_settings.not_compiled_here() is None
    assert events == ["held", "changed", "let go"] * 2


def _reading_settings(x):
    """An element that is what its partition sees: a variable, numpy's overflow mode, the
    recursion limit."""
    return (os.environ.get("SETTINGS_TEST_SCALE"), np.geterr()["over"], sys.getrecursionlimit())


def test_a_partition_runs_under_the_settings_its_task_was_made_under():
    own = process_settings.take()
    os.environ["SETTINGS_TEST_SCALE"] = "3"
    np.seterr(over="raise")
    sys.setrecursionlimit(own[process_settings.RECURSION] + 321)
    with tasks.made_task(reducers.COLLECTIONS["set"], _reading_settings, None, None, source_for(range(100)), (),
                         None, False) as task:
        process_settings.apply(own)  # another process: the driver's settings are not this one's
        status, partial, compiled, _ = tasks.run_partition(task, 0, 100)
    assert status == "ok" and not compiled
    assert partial[0] == "values" and set(partial[1]) == {("3", "raise", own[process_settings.RECURSION] + 321)}
    assert process_settings.take() == own  # and this process's own are back


A = np.arange(20_000, dtype=np.float64) - 10_000


@pytest.mark.parametrize("element,error", [
    (lambda x: x * 1e306 * 1e10, "overflow encountered in scalar multiply"),
    (lambda x: np.sqrt(x), "invalid value encountered in sqrt"),  # (np.log is numpy's own code: never compiled)
])
def test_numpys_raise_mode_is_cpythons_in_partitions_compiled_code_gives_nan(element, error):
    """Compiled, these shapes give nan (numba follows no numpy error mode); under np.seterr(all=
    'raise') they run in CPython partitions, which raise as CPython does."""
    np.seterr(all="ignore")  # as compiled code: no warning, no error
    with runtime.using_runner(InlineRunner()):
        assert np.isnan(runtime.parallel_reduce(sum, A, element, None))
        assert runtime.reports[-1].compiled, "compiled where numpy ignores its errors"
        np.seterr(all="raise")
        with pytest.raises(FloatingPointError, match=error):
            runtime.parallel_reduce(sum, A, element, None)


def test_a_shape_kept_from_compiled_code_by_the_settings_says_why():
    with runtime.using_runner(InlineRunner()):
        assert runtime.parallel_reduce(max, A, lambda x: x * 2.0, None) == 19_998.0
        assert runtime.reports[-1].parallel and runtime.reports[-1].compiled and not runtime.reports[-1].reason
        warnings.simplefilter("error", RuntimeWarning)
        assert runtime.parallel_reduce(max, A, lambda x: x * 2.0, None) == 19_998.0
    report = runtime.reports[-1]
    assert report.parallel and report.compiled == 0 and report.partitions > 1
    assert report.reason == "not compiled: a warnings filter turns warnings into errors, and compiled code issues none"


def test_every_partition_of_a_split_block_sees_the_callers_settings_and_changes_come_back(start_service):
    """On a service splitting every shape over two compute processes: every partition sees the
    caller's variable, numpy mode and recursion limit (not the service's), the engine's own
    variables stay the service's, what the block sets is the caller's afterwards, and the next
    block runs under the caller's settings of then, not the last block's."""
    from tests.conftest import one_host

    service = start_service({**one_host(2), "UFORA_SPLIT": "always"})
    limit = sys.getrecursionlimit()
    os.environ["SETTINGS_TEST_SCALE"] = "3"
    np.seterr(over="raise")
    sys.setrecursionlimit(limit + 321)
    try:
        with pyfora.connect(service.url, progress=False) as executor:
            with executor.remotely.downloadAll():
                seen = {(os.environ.get("SETTINGS_TEST_SCALE"), np.geterr()["over"], sys.getrecursionlimit(),
                         os.getpid()) for x in range(100_000)}
                split = os.environ.get("UFORA_SPLIT")
                os.environ["SET_IN_THE_BLOCK"] = "yes"
                del os.environ["SETTINGS_TEST_SCALE"]
                np.seterr(under="raise")
            assert {found[:3] for found in seen} == {("3", "raise", limit + 321)} and split == "always"
            assert len({found[3] for found in seen}) == 2, "both compute processes computed partitions"
            assert os.environ["SET_IN_THE_BLOCK"] == "yes" and "SETTINGS_TEST_SCALE" not in os.environ
            assert np.geterr()["under"] == "raise" and sys.getrecursionlimit() == limit + 321
            np.seterr(all="warn")
            sys.setrecursionlimit(limit)
            del os.environ["SET_IN_THE_BLOCK"]
            with executor.remotely.downloadAll():
                later = {(os.environ.get("SET_IN_THE_BLOCK"), np.geterr()["under"], sys.getrecursionlimit(),
                          os.getpid()) for x in range(100_000)}
            assert {found[:3] for found in later} == {(None, "warn", limit)}
    finally:
        sys.setrecursionlimit(limit)
        os.environ.pop("SETTINGS_TEST_SCALE", None)
        os.environ.pop("SET_IN_THE_BLOCK", None)


CLIENT_SETTINGS = "import pickle, sys\nimport pyfora\nfrom ufora.engine import process_settings\n" \
    "sys.stdout.buffer.write(pickle.dumps(process_settings.take()))"
TAKE_THEM = ("import pickle, sys\nfrom ufora.engine import process_settings\n"
             "settings = pickle.loads(sys.stdin.buffer.read())\n"
             "{warm}\nbefore = set(sys.modules)\nprocess_settings.apply(settings)\n"
             "print(sorted(set(sys.modules) - before))")


@pytest.mark.parametrize("warmed", [True, False])
def test_a_compute_process_takes_a_pyfora_clients_warning_filters_without_importing(warmed):
    """A script's filters name the categories of the modules pyfora's own connection imports
    (requests, urllib3); the compute pool imports them before it forks (``pool._preload``), or every
    process imported them on its first block (64 ms of a first trivial block's 71 ms)."""
    settings = subprocess.run([sys.executable, "-c", CLIENT_SETTINGS], capture_output=True, check=True).stdout
    code = TAKE_THEM.format(warm="from ufora.engine import pool\npool._preload(process_settings.CLIENT_WARNING_MODULES)"
                            if warmed else "")
    taken = subprocess.run([sys.executable, "-c", code], input=settings, capture_output=True, check=True)
    imported = ast.literal_eval(taken.stdout.decode())
    if warmed:
        assert imported == []
    else:  # what the pool's import spares them
        assert "requests" in imported and "urllib3" in imported
