"""Objects a block cannot take to the cluster, end to end through pyfora.connect() and a real
cluster: the executor travels as a reference and comes back as itself; a lock, a thread, an
open file or a socket is named by its path inside the value that holds it, before anything is
sent, and the session stays usable."""
import logging
import re
import socket
import threading

import pytest

import pyfora


class Model:
    """A user's class that keeps its executor (and whatever else) on ``self``."""

    def __init__(self, executor, **attributes):
        self.executor = executor
        self.data = [1.5, 2.5, 3.0]
        vars(self).update(attributes)

    def total_remotely(self):
        with self.executor.remotely.downloadAll():
            self.total = sum(x * 2 for x in self.data)
            same = self.executor is ufora_seen
            text = repr(self.executor)
            has_other = hasattr(self.executor, "no_such_attribute")
        return same, text, has_other

    def nested_block(self):
        with self.executor.remotely.downloadAll():
            with self.executor.remotely.downloadAll():
                inner = 1
        return inner


ufora_seen = None  # the executor as a module global too: one object on the cluster


def still_usable(ufora) -> None:
    with ufora.remotely.downloadAll():
        after = sum(range(10))
    assert after == 45


def test_an_executor_in_self_travels_as_a_reference_and_comes_back_as_itself(ufora):
    global ufora_seen
    ufora_seen = ufora
    model = Model(ufora, link=ufora._connection)  # its connection too
    same, text, has_other = model.total_remotely()
    assert model.total == 14.0 and type(model.total) is float
    assert model.executor is ufora  # the very object, written back with self's attributes
    assert model.link is ufora._connection
    assert same is True and has_other is False  # one stand-in for it on the cluster
    assert "stand-in" in text
    kept = ufora.define(model).result(timeout=30)
    assert kept.toLocal().result(timeout=30).executor is ufora
    assert ufora.submit(lambda m: m.total, model).result(timeout=30).toLocal().result(timeout=30) == 14.0


def test_the_executor_cannot_be_used_inside_a_block_and_says_why(ufora):
    with pytest.raises(pyfora.ComputationError) as raised:
        Model(ufora).nested_block()
    assert isinstance(raised.value.remoteException, NotImplementedError)
    assert str(raised.value.remoteException) == (
        "pyfora.Executor.remotely cannot be used on the cluster, inside a block or call: blocks and "
        "calls do not nest; use it on the client, before or after the block")
    still_usable(ufora)


def _open_file(tmp_path):
    return open(tmp_path / "log.txt", "w")


# attribute -> (what makes it, what the error calls it)
UNSENDABLE = {
    "lock": (lambda _: threading.Lock(), "a lock (_thread.lock)"),
    "rlock": (lambda _: threading.RLock(), "a lock (_thread.RLock)"),
    "ready": (lambda _: threading.Event(), "an event (threading.Event)"),
    "worker": (lambda _: threading.Thread(target=print), "a thread (threading.Thread)"),
    "log_file": (_open_file, "an open file (io.TextIOWrapper)"),
    "sock": (lambda _: socket.socket(), "a socket (socket.socket)"),
    "pending": (lambda _: (x for x in range(3)), "a generator"),
    "handler": (lambda tmp_path: logging.FileHandler(tmp_path / "run.log"), "a logging handler (logging.FileHandler)"),
}


@pytest.mark.parametrize("attribute", sorted(UNSENDABLE))
def test_what_cannot_be_sent_is_named_by_its_path_in_self(ufora, tmp_path, attribute):
    make, kind = UNSENDABLE[attribute]
    value = make(tmp_path)
    model = Model(ufora, **{attribute: value})
    try:
        with pytest.raises(pyfora.PythonToForaConversionError) as raised:
            model.total_remotely()
    finally:
        getattr(value, "close", lambda: None)()
    assert str(raised.value) == (f"self.{attribute}: {kind} cannot be sent to the cluster; "
                                 "the block reads free variable 'self', which holds it")
    assert not hasattr(model, "total")
    still_usable(ufora)


def test_nested_paths_are_named(ufora):
    lock = threading.Lock()
    cases = {
        "self.config['log']": Model(ufora, config={"level": 1, "log": lock}),
        "self.handlers[1]": Model(ufora, handlers=[print, lock]),
        "self.parent.children[0].guard": Model(ufora, parent=Model(None, children=[Model(None, guard=lock)])),
    }
    for path, model in cases.items():
        with pytest.raises(pyfora.PythonToForaConversionError, match="^" + re.escape(f"{path}: a lock ")):
            model.total_remotely()
    looped = Model(ufora, guard=lock)
    looped.me = looped  # a cycle back to self on the way
    with pytest.raises(pyfora.PythonToForaConversionError, match=r"^self\.guard: a lock "):
        looped.total_remotely()
    still_usable(ufora)


def test_a_closure_variable_of_a_function_is_named(ufora):
    event = threading.Event()

    def wait_for_it():
        return event.is_set()

    with pytest.raises(pyfora.PythonToForaConversionError) as raised:
        with ufora.remotely.downloadAll():
            ready = wait_for_it()
    assert str(raised.value) == ("wait_for_it (its closure variable 'event'): an event (threading.Event) cannot "
                                 "be sent to the cluster; the block reads free variable 'wait_for_it', which holds it")


def test_arguments_of_define_and_submit_are_named(ufora):
    with pytest.raises(pyfora.PythonToForaConversionError) as raised:
        ufora.submit(len, threading.Lock())
    assert str(raised.value) == "argument 1 of the call: a lock (_thread.lock) cannot be sent to the cluster"
    with pytest.raises(pyfora.PythonToForaConversionError) as raised:
        ufora.define(Model(ufora, lock=threading.RLock()))
    assert str(raised.value) == ("argument 1 of the call (its .lock): a lock (_thread.RLock) cannot be sent to "
                                 "the cluster")
    with pytest.raises(pyfora.PythonToForaConversionError,
                       match=r"^argument 2 of the call \(its \[1\]\['sock'\]\): a socket \(socket.socket\) "):
        with socket.socket() as sock:
            ufora.submit(max, 1, [0, {"sock": sock}])
    assert ufora.submit(max, 1, 2).result(timeout=30).toLocal().result(timeout=30) == 2


def test_the_path_is_searched_only_when_pickling_failed(ufora, monkeypatch):
    def searched(*args):
        raise AssertionError("searched on the happy path")

    monkeypatch.setattr(pyfora.unpicklable, "message", searched)
    model = Model(ufora)
    model.total_remotely()
    assert model.total == 14.0
