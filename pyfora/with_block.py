"""``executor.remotely``: the context manager whose body runs on the cluster, not here.

    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in xrange(10 * 1000 * 1000))

A block the cluster could only run serially runs here instead, as written (``pyfora.run_here``).
Any other: ``__enter__`` captures the block (``pyfora.capture``) and arranges for the body to be skipped;
``__exit__`` submits it, waits, and writes the variables it assigned into the caller's scope
(and its ``global`` names into the module), and the free variables it changed in place into
the caller's own objects.
If the body raised remotely, the variables it assigned before that are written back first, then
``ComputationError`` is raised here.

What comes back is chosen by the modifiers, which chain (each returns the block executor):
``remoteAll()`` (the default) leaves every assigned value on the cluster and writes back
proxies (``RemotePythonObject``); ``downloadAll()`` brings every value here;
``downloadSmall(bytecount)`` brings values whose pickle is under ``bytecount`` bytes and leaves
the others as proxies. ``onCluster()`` sends the block to the cluster even where it would run here.
"""
from __future__ import annotations

import dis
import functools
import sys
import time
import types
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from ufora.engine import class_state, errors, module_state, mutations, namespaces, serialization, warned
from pyfora import capture, remote, run_here
from pyfora.connection import HeldReleases
from pyfora.Exceptions import PythonToForaConversionError, computation_error
from pyfora.remote import pickles_of, remote_error, values_of

if TYPE_CHECKING:
    from pyfora.executor import Executor


def _ignore_events(frame, event, arg):
    return None


def _split_changed(message: dict) -> Tuple[dict, Optional[Tuple[Any, List[Any]]]]:
    """The message without the pickle of the free variables the block changed in place
    (``engine.mutations``), and that pickle with its parts (None if nothing changed): a value
    of those that cannot be rebuilt here must not cost the block's own variables."""
    names = list(message.get("names") or [])
    if mutations.MUTATED not in names:
        return message, None
    index = names.index(mutations.MUTATED)
    pickles = pickles_of(message)
    changed = pickles.pop(index)
    del names[index]
    return {**message, "names": names, "variables": [buffer for data, parts in pickles for buffer in (data, *parts)],
            "parts": [len(parts) for _, parts in pickles]}, changed


class WithBlockExecutor:
    def __init__(self, executor: "Executor"):
        self._executor = executor
        self._frame: Optional[types.FrameType] = None
        self._previous_trace: Any = None
        self._previous_opcodes = False  # the frame's f_trace_opcodes before the block
        self._as_name: Optional[str] = None  # the name the with statement binds this to ("": none)
        self._captured: Optional[capture.CapturedBlock] = None
        self._held: Optional[HeldReleases] = None  # the releases held back from capture to sending
        self._download_below: Optional[int] = 0  # remoteAll
        self._status_callback: Optional[Callable[[dict], None]] = None
        self._on_cluster = False
        # the block and its values' sizes, when it could run here, and when it began: its time
        # decides where it runs next time (``pyfora.run_here.ran_on_cluster``, ``ran_here``)
        self._learning: Optional[Tuple[capture.Located, run_here.Sizes]] = None
        self._began = 0.0
        self.ranHere: Optional[str] = None  # why the block ran in this process, when it did

    def remoteAll(self) -> "WithBlockExecutor":
        """Every variable the block assigns stays on the cluster; proxies come back."""
        self._download_below = 0
        return self

    def downloadAll(self) -> "WithBlockExecutor":
        """Every variable the block assigns comes back as a local value."""
        self._download_below = None
        return self

    def downloadSmall(self, bytecount: int = 10000) -> "WithBlockExecutor":
        """Variables whose pickle is under ``bytecount`` bytes come back as values, the
        others as proxies."""
        self._download_below = int(bytecount)
        return self

    def onCluster(self) -> "WithBlockExecutor":
        """Run the block on the cluster even if it holds no parallel shape (``pyfora.run_here``):
        for a block that must use the cluster's memory or files."""
        self._on_cluster = True
        return self

    def withStatusCallback(self, callback: Callable[[dict], None]) -> "WithBlockExecutor":
        """Call ``callback(status)`` as the block's parallel shapes progress: ``status`` has
        ``task`` (identifies the shape: it changes with the next one), ``partitions_done`` (of
        which numba computed ``partitions_compiled``, the rest ran in CPython), ``items_done`` of
        ``items_total``, ``active_cores`` (processes computing it now, on all workers) and
        ``bytes_moved`` (between workers). Called in the connection's thread; keep it short."""
        self._status_callback = callback
        return self

    def __enter__(self) -> "WithBlockExecutor":
        self._began = time.perf_counter()
        frame = sys._getframe(1)
        located = capture.locate(frame)
        self._executor._check_open()
        self.ranHere, self._learning = None, None  # this executor may have run another block before
        if self._download_below is None and not self._on_cluster and self._executor._serial_here:
            values = capture.free_values(frame, located.names)
            self._learning = (located, run_here.sizes(values))
            self.ranHere = run_here.why_here(located, values, self._learning[1], self._executor._cluster_cores)
        if self.ranHere is not None:
            self._executor.blocksRunHere += 1
            return self  # the body runs, as written
        self._held = self._executor._hold_releases()  # until it is sent (``_run_block``)
        try:
            self._captured = capture.capture(frame, located)
        except BaseException as exc:
            self._held.end()
            if not isinstance(exc, PythonToForaConversionError) or self._learning is None \
                    or remote.proxies_alive(collect=True):  # it may not run here: it fails as there
                raise
            self.ranHere, self._learning = run_here.unsendable(located, exc), None
            self._executor.blocksRunHere += 1
            return self
        self._frame = frame
        self._previous_trace = sys.gettrace()
        # Skipped on the first instruction after this returns (an opcode event), not on the
        # body's first line: a ``try:`` first is a NOP that no handler covers (CPython 3.11),
        # which SkipBody raised there would leave without calling __exit__; and raised inside
        # the ``try``, an ``except Exception`` would catch it and run locally. That instruction
        # binds the ``as`` name, which __exit__ then binds instead; a target other than a name
        # (``as self.block``) is skipped on the body's first line, as before.
        self._as_name = _as_name(frame.f_code, frame.f_lasti)
        self._previous_opcodes = frame.f_trace_opcodes
        if self._as_name is not None:  # set before settrace: from 3.12 it turns opcode events on
            frame.f_trace_opcodes = True
        sys.settrace(_ignore_events)  # local trace functions fire only while one is set
        frame.f_trace = self._skip_body
        return self

    def _skip_body(self, frame, event, arg):
        """The trace function that raises SkipBody on the first event in the caller's frame."""
        raise capture.SkipBody()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.ranHere is not None:
            # its time, to the end or to the exception it raised (not Ctrl-C's)
            if (exc is None or isinstance(exc, Exception)) and self._learning is not None \
                    and self.ranHere != run_here.REASON:
                run_here.ran_here(*self._learning, time.perf_counter() - self._began)
            if isinstance(exc, Exception):  # as the cluster's would come: ComputationError and its type
                errors.reraise(computation_error(exc, "").with_traceback(tb))
            return False
        frame, self._frame = self._frame, None
        block, self._captured = self._captured, None  # its pickler's memo holds the free variables
        held, self._held = self._held, None
        assert frame is not None and block is not None and held is not None, "__exit__ without __enter__"
        frame.f_trace, frame.f_trace_opcodes = None, self._previous_opcodes
        sys.settrace(self._previous_trace)
        if self._as_name:  # skipped before its instruction ran
            capture.write_back(frame, {self._as_name: self})
        if exc_type is not capture.SkipBody:
            held.end()
            return False
        try:
            message = self._executor._run_block(block, self._download_below, self._status_callback, held)
        except BaseException as interrupted:  # Ctrl-C while it ran: its traceback, without "during SkipBody"
            interrupted.__context__ = exc.__context__
            errors.reraise(interrupted)
        sources = {block.filename: block.source, **block.other_sources}
        message, changed = _split_changed(message)
        # a class of yours that comes back keeps your functions; a function the block defined reads
        # your module's globals (engine.namespaces)
        with class_state.keeping_own_functions(), namespaces.loading_into(frame.f_globals, block.filename, True):
            together = serialization.TogetherRead()  # (the objects the values share: engine.block)
            try:
                values = values_of(message, self._executor, sources, block.written, together)
            except BaseException:  # Ctrl-C as the result came: its remote objects have no proxy to free them
                self._executor._release_all(message)
                raise
            told = remote.changed_in_place(values, capture.free_values(frame, remote.changed_names(values)))
            states = values.pop(module_state.STATE, {})
            with warned.installing(states.pop(warned.FILTERS_CHANGE, None), self._executor._warning_registries):
                module_state.install(states)
            if changed is not None:  # first: a name the block bound anew still holds the object it changed
                capture.update_in_place(frame, *changed, block.written, together)
            capture.write_back(frame, values)
        remote.warn_all(told)
        error = message.get("error")
        # its time, to the end or to the user's exception (not the cluster's own failure)
        if self._learning is not None and (error is None or error.get("type_name") != "InternalError"):
            run_here.ran_on_cluster(*self._learning, time.perf_counter() - self._began, message.get("cpython_seconds"),
                                    message.get("warming_seconds") or 0.0)
        if error is not None:
            # raised with its own chain, not "during handling of SkipBody"; what the caller was
            # handling when the body began (SkipBody's context) is the context CPython gives it
            errors.reraise(remote_error(error, handled=exc.__context__))
        return True


_NAME_STORES = {"STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF"}


@functools.lru_cache(maxsize=256)
def _as_name(code: types.CodeType, entering: int) -> Optional[str]:
    """What the instruction after the with statement's entry (at offset ``entering``) binds this
    block's executor to: "" for nothing (it is popped), the name, or None for a target that is
    not a name."""
    instructions = iter(dis.get_instructions(code))
    for instruction in instructions:
        if instruction.offset >= entering:
            break
    after = next(instructions, None)
    if after is None:
        return None
    if after.opname == "POP_TOP":
        return ""
    return str(after.argval) if after.opname in _NAME_STORES else None
