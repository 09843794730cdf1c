"""Warnings a block issues on the cluster, issued again in the client by its own ``warnings``.

In CPython a warning goes through the filters and the registry of the module it is attributed
to (once per place under the default filter), then to ``warnings.showwarning``: what a
``catch_warnings(record=True)``, pytest or ``logging.captureWarnings`` around the block see.
On the cluster a split shape runs its items in several processes, each with a registry of its
own, so numpy's ``RuntimeWarning`` for one line was printed once per partition (10 times for a
2M-item comprehension, where CPython prints it once), and none of it reached the client's
``warnings``: only text on stderr.

So in a compute process, a warning that passes the process's filters (the client's, which the
block carries: ``engine.process_settings``) is not printed but *recorded*: its category and the
category's bases, text, file, line and module (``Record``; a warning issued again at once is
counted in the record before it). A partition's records travel with its outcome
(``engine.tasks``); the driver passes on those of the partitions whose results it uses, in
order, as a serial run would have issued them (none from partitions after an error or a decided
``any``); the driver's own are passed on as they happen, as lines of an output stream of their
own, in order with what the block prints (``engine.output``). What the engine computes for
itself (the cost model's sample, a kernel's types) warns nowhere: those items warn where they
are computed for their results. The client gives each record to ``warnings.warn_explicit``
with the registry of its own module (``issue_here``): its filters, its once-per-place registry
(also across blocks, and with what ran locally), its ``showwarning``.

``install()`` puts one hook in ``warnings._showwarnmsg`` (what ``warnings`` calls for a warning
its filters let through) for the life of a compute process: numba's compiles in other threads
set ``warnings.showwarning`` aside and put it back (``catch_warnings``), which would undo a hook
there set and removed per partition; this one stays, and only where its records go (``_sink``)
changes.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import json
import logging
import os
import secrets
import sys
import threading
import types
import warnings
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from ufora.engine import process_settings
from ufora.engine.proc import ENGINE_THREADS

log = logging.getLogger(__name__)

STREAM = "warning"  # output pieces of this stream are records, one JSON object a line (engine.output)
MESSAGE_CHARS = 8 << 10  # a longer warning text is cut here: a record fits one output message

# {"categories": the category's class and its bases up to Warning, by name; "message", "filename",
#  "lineno", "module"; "count": how many times in a row it was issued, where more than once}
Record = Dict[str, Any]
Sink = Callable[[Record], None]

_sink: Optional[Sink] = None  # where this process's warnings go now; None: shown as usual
_shown_as_usual: Optional[Callable[[Any], None]] = None  # warnings._showwarnmsg, as it was
_recording_as_usual: Any = None  # warnings._showwarnmsg_impl, as it was


def install() -> None:
    """Make this process's warnings go to the current sink, if any (a compute process, once,
    before any ``catch_warnings``)."""
    global _shown_as_usual, _recording_as_usual
    if _shown_as_usual is None:
        _shown_as_usual = warnings._showwarnmsg  # type: ignore[attr-defined]
        _recording_as_usual = warnings._showwarnmsg_impl  # type: ignore[attr-defined]
        warnings._showwarnmsg = _show  # type: ignore[attr-defined]


class _KeptThroughCompiles(warnings.catch_warnings):
    """numba's ``warnings.catch_warnings`` (``keep_filters_through_compiles``). numba sets the
    filters aside while it compiles, in a compile thread, and puts back at its end the list it
    set aside: filters a partition put in force meanwhile (a block's ``simplefilter("always")``,
    carried by its task) were undone, and the partition went on under the last block's
    ("default": a user's trial got one warning per place where CPython gave 115,469). In an
    engine thread, what this process put in force while they were set aside is written into the
    list put back."""

    def __enter__(self) -> Any:
        self._times_put = process_settings.filters_put()[0]
        return super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        times, filters = process_settings.filters_put()
        if getattr(self, "_entered", False) and times != self._times_put and filters is not None \
                and threading.current_thread().name.startswith(ENGINE_THREADS):
            self._filters[:] = filters  # type: ignore[attr-defined]  # the list it puts back
        super().__exit__(*exc_info)


class _NumbasWarnings(types.ModuleType):
    """The ``warnings`` numba's compiler modules see: the module itself, but for
    ``catch_warnings`` (the user's ``warnings.catch_warnings`` stays Python's own)."""
    catch_warnings = _KeptThroughCompiles

    def __getattr__(self, name: str) -> Any:
        return getattr(warnings, name)


# numba's modules that set the filters aside while they compile
_NUMBA_MODULES = ("numba.core.errors", "numba.core.compiler", "numba.np.arraymath", "numba.np.ufunc.ufuncbuilder")
_numbas_warnings = _NumbasWarnings("warnings")


def keep_filters_through_compiles() -> None:
    """Make numba's compiles leave the filters this process puts in force meanwhile
    (``_KeptThroughCompiles``): called before a kernel is built, once numba is imported."""
    for name in _NUMBA_MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "warnings", None) is warnings:
            module.warnings = _numbas_warnings  # type: ignore[attr-defined]


def _show(message: warnings.WarningMessage) -> None:
    """Where ``warnings`` sends a warning that passed its filters: to the sink, unless it is the
    engine's own (a compile thread's), or the block takes it itself (its own ``showwarning``,
    its ``catch_warnings(record=True)``). numba records every thread's warnings while it
    compiles (``catch_warnings(record=True)`` in a compile thread) and issues them again from
    there: a recording in force while a compile runs in another thread is taken for numba's."""
    if _discarding.get():  # items the engine evaluates for itself, in this thread: they warn where they count
        _unregistered(message)
        return
    in_partition = _in_partition.get()
    if in_partition:  # a partition computed in the block's own process: its records go on (``pass_on``)
        _unregistered(message)  # (at the place CPython wrote it: before it is given the shape's below)
    shape = _shape_at.get()
    if shape is not None and os.path.dirname(os.path.abspath(message.filename)) == _ENGINE_FOLDER:
        if not in_partition and _sink is not None and _taken_by_the_block() \
                and not threading.current_thread().name.startswith(ENGINE_THREADS):
            # the block takes it itself, from its own line: with that module's registry, as the
            # sum CPython runs warns there (a review: recorded again under "once")
            _unregistered(message)
            _give_to_the_block(record(message.message, message.category, shape[0], shape[1], shape[2]))
            return
        message.filename, message.lineno = shape[0], shape[1]
    else:
        shape = None
    sink = _sink
    if sink is None or message.file is not None or threading.current_thread().name.startswith(ENGINE_THREADS) \
            or (_taken_by_the_block() and not in_partition):
        (_shown_as_usual or warnings._showwarnmsg_impl)(message)  # type: ignore[attr-defined]
        return
    sink(record(message.message, message.category, message.filename, message.lineno,
                shape[2] if shape is not None else None))


# The shape whose values the engine combines here, where it combines them as CPython would
# (the builtin ``sum`` adding numpy's scalars, which warns for an overflow): (its file, its
# first line, its module). CPython issues such a warning from the line that calls ``sum``; it
# came from the engine's line that did (``engine/reducers.py``), which the client's filters and
# registries took for another place.
_shape_at: contextvars.ContextVar[Optional[Tuple[str, int, Optional[str]]]] = contextvars.ContextVar(
    "ufora_shape_at", default=None)
_ENGINE_FOLDER = os.path.dirname(os.path.abspath(__file__))


@contextlib.contextmanager
def issued_at(function: Any) -> Iterator[None]:
    """Within: a warning the engine's own lines issue is the line of the shape ``function``
    (its element, or its loop as written) was written on."""
    code = getattr(function, "__code__", None)
    name = getattr(function, "__globals__", {}).get("__name__")
    token = _shape_at.set(None if code is None else (code.co_filename, code.co_firstlineno,
                                                     name if isinstance(name, str) else None))
    try:
        yield
    finally:
        _shape_at.reset(token)


def _taken_by_the_block() -> bool:
    """Whether the block takes its warnings itself now: its own ``showwarning``, or its own
    ``catch_warnings(record=True)`` (unless numba's, in a compile running in another thread)."""
    return warnings.showwarning is not warnings._showwarning_orig or (  # type: ignore[attr-defined]
        warnings._showwarnmsg_impl is not _recording_as_usual and not _compiling_elsewhere())  # type: ignore


def _compiling_elsewhere() -> bool:
    """Whether another thread of this process holds numba's compiler lock."""
    lock = process_settings.compiler_lock()
    if lock is None:
        return False
    if not lock._lock.acquire(blocking=False):  # the RLock: this thread's own hold does not count
        return True
    lock._lock.release()
    return False


def record(message: Any, category: type, filename: str, lineno: int, module: Optional[str] = None) -> Record:
    """A warning as it travels: its category and the category's bases by name (the client takes
    the first it has: a class defined in a function or in the block is not found by its name
    there, its base is), its text, and the module it is attributed to (the globals of the frame
    at its file and line, unless ``module`` is given: the client's filters match that name,
    and its registry is that module's)."""
    text = str(message)
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + "..."
    categories = [process_settings.category_name(kind) for kind in category.__mro__
                  if isinstance(kind, type) and issubclass(kind, Warning)]
    module = _module_at(filename, lineno) if module is None else module
    try:
        action: Optional[str] = action_for(text, category, filename, lineno, module)
    except Exception:  # noqa: BLE001 - a filter of the user's own making: the client's filters decide
        action = None
    return {"categories": categories, "message": text, "filename": str(filename), "lineno": int(lineno),
            "module": module,
            # None where the text cut or the module found make it one no shown warning has: the
            # client's filters decide, as before records carried one
            "action": action if action in _ACTIONS_SHOWN else None}


def action_for(text: str, category: type, filename: str, lineno: int, module: Optional[str]) -> str:
    """The action this process's filters take for a warning, found as ``warnings.warn_explicit``
    finds it (the first filter that matches, else the default action). A record carries the one
    its block's filters took: a block may change them (``simplefilter("always")`` in it), and
    until it ends the client's are still the ones it had before."""
    if module is None:
        module = filename or "<unknown>"
        if module[-3:].lower() == ".py":
            module = module[:-3]
    for action, message, kind, module_pattern, line in warnings.filters:
        if _matched(message, text) and issubclass(category, kind) and _matched(module_pattern, module) \
                and (line == 0 or lineno == line):
            return str(action)
    return str(warnings.defaultaction)


def _matched(pattern: Any, text: str) -> bool:
    """As ``warnings`` matches a filter's message or module: any where None, a plain string (the
    default filters' ``"__main__"``) exactly, else a regular expression from its start."""
    if pattern is None:
        return True
    if isinstance(pattern, str):
        return pattern == text
    return bool(pattern.match(text))


def _module_at(filename: str, lineno: int) -> Optional[str]:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == filename and frame.f_lineno == lineno:
            name = frame.f_globals.get("__name__")
            return name if isinstance(name, str) else None
        frame = frame.f_back  # type: ignore[assignment]
    return None


@contextlib.contextmanager
def sent(sink: Sink) -> Iterator[None]:
    """While a block runs in this process: its warnings go to ``sink`` (and on to the client),
    partitions computed here inside it record theirs (``recorded``). It starts with empty
    registries (a place that warned in an earlier block warns again: the client keeps it once),
    and what it leaves in ``warnings.showwarning`` (``logging.captureWarnings``, its own
    function) is taken out after it, so that the next blocks' warnings still reach their client."""
    shown, shown_impl = warnings.showwarning, warnings._showwarnmsg_impl  # type: ignore[attr-defined]
    _fresh_registries()
    _filters.update(thread=None, change=None)
    try:
        with _sinking(functools.partial(_marked, sink)):
            yield
    finally:
        _filters.update(thread=None, change=None)
        warnings.showwarning = shown
        if warnings._showwarnmsg_impl is not _recording_as_usual:  # type: ignore[attr-defined]
            # what the block left in force: out. Not back to warnings' own where it is already:
            # a compile thread's recording in force as the block began, ended since, would be
            # put back, and take every later warning of the process (a user's trial lost a
            # block's overflow warning so)
            warnings._showwarnmsg_impl = shown_impl  # type: ignore[attr-defined]
        if getattr(logging, "_warnings_showwarning", None) is not None:
            logging._warnings_showwarning = None  # type: ignore[attr-defined]  # captureWarnings(True) undone


# A block that changes the filters (``simplefilter``, ``catch_warnings``, even to what they
# were) makes every registry stale in CPython: its records after each change carry that
# change's name, and the client makes its own registries stale where a record names a change it
# has not seen. The changes are counted as ``warnings`` makes them (``_counted_change``), in the
# block's thread and outside what the engine computes there for itself (``_engines_own``): the
# count when they were the caller's or last named, the name of the last change named
_filters: Dict[str, Any] = {"thread": None, "counted": 0, "named": 0, "change": None}
_changes = itertools.count(1)
_PROCESS = secrets.token_hex(4)  # changes' names are this process's
_engines_own: contextvars.ContextVar[bool] = contextvars.ContextVar("ufora_engines_own_warnings", default=False)
_python_filters_mutated = warnings._filters_mutated  # type: ignore[attr-defined]


def _counted_change() -> None:
    """``warnings._filters_mutated`` in a process that runs blocks: counts the block's own (its
    thread's, and those of the threads it starts; not the engine's threads')."""
    if _filters["thread"] is not None and not _engines_own.get() \
            and not threading.current_thread().name.startswith(ENGINE_THREADS):
        _filters["counted"] += 1
    _python_filters_mutated()


@contextlib.contextmanager
def engines_own() -> Iterator[None]:
    """Within: what changes the filters in this thread is the engine's, not the block's (numba
    sets them aside while it compiles a kernel the block's code never asked for)."""
    token = _engines_own.set(True)
    try:
        yield
    finally:
        _engines_own.reset(token)


def callers_filters_in_force(block_globals: Optional[Dict[str, Any]] = None) -> None:
    """The block's caller's settings are installed: a change of the filters from here on, in
    this thread, is the block's. ``block_globals``: the block's namespace (its module's, for a
    block in a function), whose registry its partitions' warnings are given with
    (``_give_to_the_block``)."""
    warnings._filters_mutated = _counted_change  # type: ignore[attr-defined]
    _filters.update(thread=threading.get_ident(), named=_filters["counted"], change=None)
    _block_globals["globals"] = block_globals


def _changed_since_named() -> Optional[str]:
    """The name of the last change of the filters in the block, named now if it is not yet."""
    if _filters["thread"] is not None and _filters["counted"] != _filters["named"]:
        _filters.update(named=_filters["counted"], change=f"{_PROCESS}-{next(_changes)}")
    return _filters["change"]


# A block's module state's kind (``engine.module_state``): the last change of the filters in it
FILTERS_CHANGE = "warnings filters change"


def final_change() -> Optional[str]:
    """The name of the last change of the filters the block made (None: it made none), as it
    ends: changes are no longer counted (a block run without ``sent``, in the client's own
    process, counted the client's ``catch_warnings`` as the next block's)."""
    change = _changed_since_named()
    _filters.update(thread=None)
    _block_globals["globals"] = None
    return change


@contextlib.contextmanager
def installing(change: Optional[str], registries: Dict[str, dict]) -> Iterator[None]:
    """While the client installs the filters a block ended with (``change``: ``final_change``):
    its registries are made stale once for the block's last change, as the block's own
    ``simplefilter`` did in CPython: where a record of the block named that change, that was
    done then; else now. Installing the filters makes them stale no more (made stale twice, a
    warning a block had shown under "once" or "default" was shown again by the next block)."""
    if change is not None and registries.get(_CHANGE_SEEN) != change:
        registries[_CHANGE_SEEN] = change
        warnings._filters_mutated()  # type: ignore[attr-defined]
    with process_settings.registries_kept():  # (a list the block changed in place: CPython's stay)
        yield


def _marked(sink: Sink, one: Record) -> None:
    """``one`` to ``sink``, naming the last change of the filters the block made before it."""
    change = _changed_since_named()
    sink(one if change is None else {**one, "filters": change})


class Records(list):
    """A partition's records, in order; a warning issued again at once (a numpy warning for each
    of a million items, under ``simplefilter("always")``) counted in the record before it."""

    def add(self, one: Record) -> None:
        if self and {**self[-1], "count": 1} == {**one, "count": 1}:
            self[-1]["count"] = self[-1].get("count", 1) + one.get("count", 1)
        else:
            self.append(one)


@contextlib.contextmanager
def recorded() -> Iterator[Records]:
    """While a partition computes: its warnings are kept, in order, in the list given. Each
    partition starts with empty registries, as a serial run's would be for its items (a place
    that warned in an earlier block or partition warns again; the client keeps it once)."""
    records = Records()
    driving = _filters["thread"] is not None  # in the process running the block
    token = _in_partition.set(driving)
    try:
        with engines_own():  # (as the settings the partition runs under are put in force)
            if not driving:
                _fresh_registries()
            with _sinking(records.add):
                yield records
    finally:
        _in_partition.reset(token)
        if driving and _undo_failed.pop("any", False):
            _fresh_registries()


# In a partition computed in the process running its block (``recorded``): its warnings go to
# its records, whoever takes the block's, and leave the registries as they found them
# (``_unregistered``), where making them all stale re-armed the block's own warnings (a review:
# 26 records of two warnings under "once", from 13 partitions computed in the driver)
_in_partition: contextvars.ContextVar[bool] = contextvars.ContextVar("ufora_in_partition", default=False)


def _fresh_registries() -> None:
    """Every registry stale, and none of "once"'s (which no filter change clears): a warning an
    earlier block issued here is issued again, and the client decides with its own."""
    _python_filters_mutated()
    warnings.onceregistry.clear()


@contextlib.contextmanager
def discarded() -> Iterator[None]:
    """While the engine evaluates items for itself (the cost model's sample, a kernel's types):
    the items are computed again where their results count, and warn there, so the registries
    they filled are made stale after them (else the first item's warning, kept once per place,
    was counted as shown by the sample: a shape run serially after its sample lost it), and
    numpy calls, prints or logs nothing for them."""
    quiet = {kind: "ignore" for kind, mode in np.geterr().items() if mode in _NUMPY_SIDE_EFFECTS}
    token = _discarding.set(True)  # also from a block's own catch_warnings(record=True) (``_show``)
    with engines_own(), np.errstate(**quiet):
        try:
            with _sinking(lambda one: None):
                yield
        finally:
            _discarding.reset(token)
            if _undo_failed.pop("any", False):
                _fresh_registries()


_undo_failed: Dict[str, bool] = {}  # a registry ``_unregistered`` could not find: made stale instead


def _unregistered(message: warnings.WarningMessage) -> None:
    """Take back what ``warn_explicit`` has just written in the registries for ``message`` (a
    warning of items the engine evaluates for itself): the key of its text, category and line
    in the registry of the module that issued it (the globals of the frame at its file and line),
    and the key "module" and "once" write there (text and category). Those items then leave the
    registries as they found them: making every registry stale after them, as before, made a
    block that records its warnings itself record a place twice (a review: under "default",
    "module" and "once", each shape's look at its first items re-armed the block's warnings)."""
    text, category, lineno = str(message.message), message.category, message.lineno
    frame = sys._getframe(2)
    while frame is not None and not (frame.f_code.co_filename == message.filename and frame.f_lineno == lineno):
        frame = frame.f_back
    if frame is None:
        _undo_failed["any"] = True
        return
    module = frame.f_globals.get("__name__")
    action = action_for(text, category, message.filename, lineno, module if isinstance(module, str) else None)
    registry = frame.f_globals.get("__warningregistry__")
    if action == "always" or not isinstance(registry, dict):
        return
    registry.pop((text, category, lineno), None)
    if action in ("module", "once"):  # (CPython's "once" keeps its key in the module's registry too)
        registry.pop((text, category), None)


# Within ``discarded``, in its thread: a warning that passed the filters is shown nowhere. The
# block's own recording took the sample's warnings too: 160 where CPython records 100 (a user's
# trial: ``[np.sqrt(v) for v in a]`` under ``catch_warnings(record=True)``, 100 negative values)
_discarding: contextvars.ContextVar[bool] = contextvars.ContextVar("ufora_discarding", default=False)


# numpy's error modes that do something besides warning or raising: the items evaluated for the
# engine itself do not do it (a block's np.seterrcall handler was called once more than in CPython)
_NUMPY_SIDE_EFFECTS = ("call", "print", "log")


@contextlib.contextmanager
def _sinking(sink: Sink) -> Iterator[None]:
    global _sink
    before, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = before


def pass_on(records: Sequence[Record]) -> None:
    """Records of partitions whose results the driver uses, on to where this process's own
    warnings go now: to the client, from a block, unless the block takes them itself (its own
    ``catch_warnings(record=True)``, where they went to the client's stderr instead: a user's
    trial); issued here outside one (the engine used without a cluster), or so taken."""
    for one in records:
        if _sink is None:
            _issue_each(one, _registries)
        elif _taken_by_the_block():
            _give_to_the_block(one)
        else:
            _sink(one)


def _give_to_the_block(one: Record) -> None:
    """A partition's record, given to the block's own ``catch_warnings(record=True)`` or
    ``showwarning`` as many times as it was issued, by ``warn_explicit`` under the block's
    filters and with the registry of the module it names: the block's namespace's where it is
    the block's (``callers_filters_in_force``), which its own warnings at the same place use too
    (a review: a place that warned in the block and in a split shape was recorded twice), else
    one of this process's for that name. Never the globals of a module this process imported
    under that name (the service's own ``__main__``, whose loader raised ``ImportError``)."""
    category = _category_here(one["categories"])
    message, filename, lineno, module = one["message"], one["filename"], one["lineno"], one["module"]
    if category is None:
        sys.stderr.write(warnings.formatwarning(message, Warning, filename, lineno))
        return
    held = _block_globals.get("globals")
    if isinstance(held, dict) and module is not None and held.get("__name__") == module:
        registry = held.setdefault("__warningregistry__", {})
    else:
        registry = _registries.setdefault(module or filename, {})
    for _ in range(one.get("count", 1)):
        warnings.warn_explicit(message, category, filename, lineno, module, registry)


# the globals of the block this process runs (its namespace, or its module's: ``engine.block``)
_block_globals: Dict[str, Any] = {"globals": None}


_registries: Dict[str, dict] = {}  # of modules this process does not have, for records issued here


def text_of(one: Record) -> str:
    """A record as it travels in the output: one line of JSON (lines of a stream are joined into
    messages, and split between them, as printed lines are: ``net.output_flow``)."""
    return json.dumps(one) + "\n"


def shown(text: str) -> str:
    """Records as ``warnings`` would have printed them (a process with no client to issue them)."""
    lines = []
    for line in text.splitlines():
        try:
            one = _read(line)
        except (ValueError, KeyError, TypeError):
            lines.append(line + "\n")
            continue
        kind = type(one["categories"][0].rpartition(".")[2].rpartition(":")[2] or "Warning", (Warning,), {})
        lines.append(warnings.formatwarning(one["message"], kind, one["filename"], one["lineno"]) * one["count"])
    return "".join(lines)


def issue_here(text: str, registries: Dict[str, dict]) -> None:
    """Records from the cluster (lines of JSON), issued by this process's ``warnings``
    (``_issue``). Never raises: the block's output must go on (a ``showwarning`` of the user's
    that raises is logged; a record that cannot be read is shown as text)."""
    for line in text.splitlines():
        try:
            one = _read(line)
        except (ValueError, KeyError, TypeError):
            sys.stderr.write(f"a warning from the cluster could not be read: {line[:200]!r}\n")
            continue
        try:
            _issue_each(one, registries)
        except Exception:  # noqa: BLE001 - the user's showwarning, a filter's regular expression...
            global _issue_failed
            (log.debug if _issue_failed else log.warning)(
                "a warning from the cluster could not be issued here (said once): %r", one["message"][:200],
                exc_info=True)
            _issue_failed = True


_issue_failed = False


_ACTIONS_SHOWN = (None, "always", "default", "module", "once")  # "ignore" and "error" show nothing


def _read(line: str) -> Record:
    one = json.loads(line)
    categories = [str(name) for name in one["categories"]][:64] or ["builtins:UserWarning"]
    count = one.get("count", 1)
    action = one.get("action")
    if action not in _ACTIONS_SHOWN:
        raise ValueError(f"an action of {action!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"a count of {count!r}")
    change = one.get("filters")
    return {"categories": categories, "message": str(one["message"]), "filename": str(one["filename"]),
            "lineno": int(one["lineno"]), "module": one["module"] if isinstance(one.get("module"), str) else None,
            "count": count, "action": action, "filters": change if isinstance(change, str) else None}


def _issue_each(one: Record, registries: Dict[str, dict]) -> None:
    """``one`` issued as many times in a row as it was issued there (``Records``), after the
    registries here are made stale where it names a change of the block's filters not seen yet
    (as the block's ``simplefilter`` made them stale there)."""
    change = one.get("filters")
    if change is not None and registries.get(_CHANGE_SEEN) != change:
        registries[_CHANGE_SEEN] = change
        warnings._filters_mutated()  # type: ignore[attr-defined]
    for _ in range(one.get("count", 1)):
        _issue(one, registries)


_CHANGE_SEEN = "\0 the last change of a block's filters"  # in the registries: never a module's name


def _issue(one: Record, registries: Dict[str, dict]) -> None:
    """``one`` issued as CPython would have issued it here: through this process's filters, with
    the registry of the module it names (that module's ``__warningregistry__`` where this
    process has it, as ``warnings.warn`` uses; else one in ``registries``), to its
    ``showwarning``. Its category is the first of its classes this process has loaded (none is
    imported for it); shown as text where it has none, or where a filter of this process turns
    it into an error (the block raised it there already, or the filters changed since)."""
    message, filename, lineno, module = one["message"], one["filename"], one["lineno"], one["module"]
    category = _category_here(one["categories"])
    if category is None:
        sys.stderr.write(warnings.formatwarning(message, Warning, filename, lineno))
        return
    held = sys.modules.get(module) if module is not None else None
    held_globals = getattr(held, "__dict__", None)
    if isinstance(held_globals, dict):
        registry, module_globals = held_globals.setdefault("__warningregistry__", {}), held_globals
    else:
        registry, module_globals = registries.setdefault(module or filename, {}), None
    action = one.get("action")
    held = warnings.filters
    if action is not None and action != action_for(message, category, filename, lineno, module):
        # the block's filters decide, which come back here only when it ends: one in front of
        # this process's for this category and line, while this warning is issued (set as the
        # attribute, which ``warn_explicit`` reads each time, without a change of the filters'
        # version, which would clear every registry)
        warnings.filters = [(action, None, category, None, lineno), *held]
    try:
        warnings.warn_explicit(message, category, filename, lineno, module, registry, module_globals)
    except Warning:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno))
    finally:
        warnings.filters = held


def _category_here(names: Sequence[str]) -> Optional[type]:
    """The first of ``names`` (module:qualname) that names a warning class of a module this
    process has loaded."""
    for name in names:
        module, _, qualname = name.partition(":")
        held = sys.modules.get(module)
        found = process_settings.category_in(held, qualname) if held is not None else None
        if found is not None:
            return found
    return None
