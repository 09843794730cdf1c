"""Errors as the user expects them, end to end against a real manager and worker: what the code
raised on the cluster is raised here as ``ComputationError`` *and* its own type (``except
IndexError`` and ``except pyfora.ComputationError`` both catch it), with CPython's ``str``,
``args`` and attributes; the original pyfora's other exception names, raised where they apply."""
import os
import sys
import threading

import pytest

import pyfora
from ufora.engine import code


class OutOfStock(Exception):
    """A user's exception whose ``__init__`` takes other parameters than its ``args``."""

    def __init__(self, item, count):
        super().__init__(f"no {item} left")
        self.item, self.count = item, count


class Final(Exception):
    """A user's exception that refuses subclasses."""

    def __init_subclass__(cls, **kwargs):
        raise TypeError("Final cannot be subclassed")


def fails(x):
    raise ValueError(f"no good: {x}")


def add(a, b=10):
    return a + b


def local_error(code):
    """What CPython raises running ``code`` here."""
    try:
        exec(code, {"OutOfStock": OutOfStock, "Final": Final})
    except BaseException as exc:  # noqa: B902
        return exc
    raise AssertionError(f"{code!r} raised nothing")


def same_as_cpython(error, code):
    """``error`` (raised here for a block) shows what CPython's own exception shows."""
    expected = local_error(code)
    assert isinstance(error, type(expected)) and type(error).__name__ == type(expected).__name__
    assert (str(error), error.args, repr(error)) == (str(expected), expected.args, repr(expected))


def test_an_index_error_is_caught_as_index_error_and_as_computation_error(ufora):
    values = [1, 2, 3]
    try:
        with ufora.remotely.downloadAll():
            before = len(values)
            item = values[10]
    except IndexError as exc:
        caught = exc
    assert before == 3  # written back before the error, as a local run would have assigned it
    assert isinstance(caught, pyfora.ComputationError) and isinstance(caught, pyfora.PyforaError)
    same_as_cpython(caught, "[1, 2, 3][10]")
    assert type(caught.remoteException) is IndexError and str(caught.remoteException) == "list index out of range"
    assert os.path.basename(__file__) in caught.trace and "item = values[10]" in caught.trace
    assert any("item = values[10]" in note for note in caught.__notes__)  # shown when uncaught
    with pytest.raises(pyfora.ComputationError):
        with ufora.remotely.downloadAll():
            item = values[10]


def test_key_error_args_are_the_missing_key(ufora):
    table = {"a": 1}
    with pytest.raises(KeyError) as raised:
        with ufora.remotely.downloadAll():
            found = table["missing"]
    assert raised.value.args[0] == "missing"
    same_as_cpython(raised.value, "{'a': 1}['missing']")


def test_a_users_exception_keeps_its_type_args_and_attributes(ufora):
    with pytest.raises(OutOfStock) as raised:
        with ufora.remotely.downloadAll():
            raise OutOfStock("apples", 0)
    error = raised.value
    assert isinstance(error, pyfora.ComputationError)
    assert (error.item, error.count) == ("apples", 0)
    same_as_cpython(error, "raise OutOfStock('apples', 0)")
    assert isinstance(error.remoteException, OutOfStock) and error.remoteException.item == "apples"


def test_os_error_fields_come_back(ufora):
    with pytest.raises(FileNotFoundError) as raised:
        with ufora.remotely.downloadAll():
            open("/nonexistent/ufora-test-file")
    assert (raised.value.errno, raised.value.filename) == (2, "/nonexistent/ufora-test-file")
    same_as_cpython(raised.value, "open('/nonexistent/ufora-test-file')")


def test_a_type_that_cannot_be_subclassed_is_a_plain_computation_error(ufora):
    with pytest.raises(pyfora.ComputationError) as raised:
        with ufora.remotely.downloadAll():
            raise Final("the end")
    assert type(raised.value) is pyfora.ComputationError and not isinstance(raised.value, Final)
    assert isinstance(raised.value.remoteException, Final) and str(raised.value.remoteException) == "the end"
    assert str(raised.value).startswith("Final: the end")
    with pytest.raises(pyfora.ComputationError) as raised:
        with ufora.remotely.downloadAll():
            raise Final("the end") from KeyError("why")
    assert type(raised.value.__cause__) is KeyError and raised.value.__suppress_context__  # the original's chain


def test_an_exception_that_cannot_come_back_is_a_plain_computation_error_with_its_text(ufora):
    lock = threading.Lock
    with pytest.raises(pyfora.ComputationError) as raised:
        with ufora.remotely.downloadAll():
            raise ValueError(lock())  # a lock cannot be pickled
    assert type(raised.value) is pyfora.ComputationError
    assert raised.value.remoteException.startswith("ValueError: <unlocked _thread.lock object")


def test_a_type_unknown_here_is_a_plain_computation_error_with_its_text(ufora, tmp_path):
    with pytest.raises(pyfora.ComputationError) as raised:
        with ufora.remotely.downloadAll():
            import importlib
            import sys
            import tempfile

            with tempfile.TemporaryDirectory() as folder:  # a module only this worker process has
                with open(os.path.join(folder, "ufora_worker_only.py"), "w") as module:
                    module.write("class WorkerOnlyError(Exception):\n    pass\n")
                sys.path.insert(0, folder)
                try:
                    raise importlib.import_module("ufora_worker_only").WorkerOnlyError("made there")
                finally:
                    sys.path.remove(folder)
    assert type(raised.value) is pyfora.ComputationError
    assert raised.value.remoteException == "WorkerOnlyError: made there"
    assert "made there" in raised.value.trace


def test_sys_exit_in_a_block_is_system_exit_here_as_in_cpython(ufora):
    try:
        with ufora.remotely.downloadAll():
            sys.exit(3)
    except Exception:  # noqa: B902 - CPython's except Exception does not catch sys.exit()
        pytest.fail("except Exception caught a block's sys.exit()")
    except SystemExit as exc:
        assert exc.code == 3 and isinstance(exc.remoteException, SystemExit) and "sys.exit(3)" in exc.trace
    try:
        with ufora.remotely.downloadAll():
            raise KeyboardInterrupt("raised by the code")
    except Exception:  # noqa: B902
        pytest.fail("except Exception caught a block's KeyboardInterrupt")
    except KeyboardInterrupt as exc:
        assert type(exc) is KeyboardInterrupt and str(exc) == "raised by the code"
    exits = ufora.submit(sys.exit, 4).result(timeout=60)
    with pytest.raises(pyfora.PythonToForaConversionError, match="a computation that raised SystemExit: 4"):
        ufora.submit(print, exits)  # not SystemExit: using the failed result must not end this program
    with ufora.remotely.downloadAll():
        still = 1 + 1
    assert still == 2


def test_a_failed_call_raises_its_own_type_from_to_local(ufora):
    proxy = ufora.submit(fails, 3).result(timeout=60)
    with pytest.raises(ValueError) as raised:
        proxy.toLocal().result(timeout=60)
    assert isinstance(raised.value, pyfora.ComputationError)
    same_as_cpython(raised.value, "raise ValueError('no good: 3')")
    assert "raise ValueError" in raised.value.trace
    assert isinstance(proxy.toLocal().exception(timeout=60), ValueError)
    assert ufora.submit(add, 1, b=2).result(timeout=60).toLocal().result(timeout=60) == 3  # keyword arguments


def test_a_computation_error_pickles_as_itself(ufora):
    import pickle

    with pytest.raises(KeyError) as raised:
        with ufora.remotely.downloadAll():
            {}["gone"]
    again = pickle.loads(pickle.dumps(raised.value))
    assert isinstance(again, KeyError) and isinstance(again, pyfora.ComputationError)
    assert again.args == ("gone",) and again.trace == raised.value.trace


def test_calling_what_is_not_callable_is_a_not_callable_error_at_once(ufora):
    number = ufora.define(5).result(timeout=60)
    with pytest.raises(pyfora.NotCallableError, match="'int' object is not callable"):
        number(1)
    with pytest.raises(TypeError, match="'int' object is not callable"):  # CPython's type and words
        ufora.submit(5)
    function = ufora.define(add).result(timeout=60)
    assert function(1, b=5).result(timeout=60).toLocal().result(timeout=60) == 6


def test_reading_standard_input_in_a_block_is_an_invalid_pyfora_operation(ufora):
    with pytest.raises(pyfora.InvalidPyforaOperation, match="standard input") as raised:
        with ufora.remotely.downloadAll():
            answer = input("name? ")
    assert isinstance(raised.value, pyfora.ComputationError) and "input(" in raised.value.trace


def test_a_value_whose_module_the_cluster_lacks_is_an_unconvertible_value_error(ufora, tmp_path, monkeypatch,
                                                                                request):
    (tmp_path / "ufora_client_only.py").write_text("class Point:\n    x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # as if installed here (in site-packages) but not on the workers: it travels by name
    monkeypatch.setattr(code, "_LIBRARY_PATHS", code._LIBRARY_PATHS + (os.path.realpath(tmp_path) + os.sep,))
    code.installed_file.cache_clear()  # what it told of files before, and after (undone by then), is not kept
    request.addfinalizer(code.installed_file.cache_clear)
    import importlib

    monkeypatch.delitem(sys.modules, "ufora_client_only", raising=False)  # so it is gone again after the test
    module = importlib.import_module("ufora_client_only")
    point = module.Point()
    with pytest.raises(pyfora.UnconvertibleValueError, match="No module named 'ufora_client_only'") as raised:
        with ufora.remotely.downloadAll():
            x = point.x
    assert isinstance(raised.value, pyfora.ComputationError)


def test_the_names_are_the_original_pyforas():
    import pyfora.Exceptions as Exceptions

    for name in ("NotCallableError", "PyforaNotImplementedError", "InvalidPyforaOperation",
                 "UnconvertibleValueError"):
        assert getattr(pyfora, name) is getattr(Exceptions, name) and name in pyfora.__all__
    # as in the original: these two are raised by the running code, not pyfora errors themselves
    assert not issubclass(pyfora.InvalidPyforaOperation, pyfora.PyforaError)
    assert not issubclass(pyfora.UnconvertibleValueError, pyfora.PyforaError)
    assert issubclass(pyfora.NotCallableError, pyfora.PyforaError)
    assert issubclass(pyfora.PyforaNotImplementedError, NotImplementedError)


def lookup(table, key):
    try:
        return table[key]
    except KeyError as missing:
        raise ValueError(f"no entry for {key!r}") from missing


def test_the_chain_of_a_remote_exception_is_cpythons(ufora):
    import traceback

    table = {}
    with pytest.raises(ValueError) as raised:
        with ufora.remotely.downloadAll():
            lookup(table, "k")
    error = raised.value
    for exc in (error, error.remoteException):  # what is raised here, and the original
        assert type(exc.__cause__) is KeyError and exc.__cause__.args == ("k",)
        assert exc.__context__ is exc.__cause__ and exc.__suppress_context__
    printed = "".join(traceback.format_exception(error))
    # as CPython prints it: the cause, then the exception; the remote lines of both in the note
    assert printed.startswith("KeyError: 'k'\n\nThe above exception was the direct cause of the following exception:")
    remote = printed[printed.index("Remote traceback"):]
    assert remote.index("return table[key]") < remote.index("direct cause") < remote.index("from missing")
    try:
        raise OSError("handled by the caller")
    except OSError as handled:
        with pytest.raises(KeyError) as raised:
            with ufora.remotely.downloadAll():
                table["k"]
        # raised while the caller handled an error: that error is its context, as in CPython
        assert raised.value.__context__ is handled and raised.value.remoteException.__context__ is handled
        assert not raised.value.__suppress_context__
