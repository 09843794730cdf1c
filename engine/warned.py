"""Warnings a block issues on the cluster, issued again in the client by its own ``warnings``.

In CPython a warning goes through the filters and the registry of the module it is attributed
to (once per place under the default filter), then to ``warnings.showwarning``: what a
``catch_warnings(record=True)``, pytest or ``logging.captureWarnings`` around the block see.
On the cluster a split shape runs its items in several processes, each with a registry of its
own, so numpy's ``RuntimeWarning`` for one line was printed once per partition (10 times for a
2M-item comprehension, where CPython prints it once), and none of it reached the client's
``warnings``: only text on stderr.

So in a compute process, a warning that passes the process's filters (the client's, which the
block carries: ``engine.process_settings``) is not printed but *recorded*: its category, text,
file, line and module (``Record``). A partition's records travel with its outcome
(``engine.tasks``); the driver passes on those of the partitions whose results it uses, in
order, as a serial run would have issued them (none from partitions after an error or a
decided ``any``); the driver's own are passed on as they happen, in order with what the block
prints (``engine.output``). The client gives each to ``warnings.warn_explicit`` with the
registry of its own module (``issue_here``): its filters, its once-per-place registry (also
across blocks, and with what ran locally), its ``showwarning``.

``install()`` puts one ``showwarning`` in place for the life of a compute process: numba's
compiles in other threads set ``warnings.showwarning`` aside and put it back
(``catch_warnings``), which would undo a hook set and removed per partition; this one stays,
and only where its records go (``_sink``) changes.
"""
from __future__ import annotations

import contextlib
import json
import sys
import threading
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from ufora.engine import process_settings

STREAM = "warning"  # an output piece whose text is one record (engine.output, net.output_flow)
ENGINE_THREADS = "ufora"  # the names of the engine's threads begin so (engine.background_compiles)
MESSAGE_CHARS = 16 << 10  # a longer warning text is cut here, so that a record fits one output message

Record = Dict[str, Any]  # {"category", "message", "filename", "lineno", "module"}
Sink = Callable[[Record], None]

_sink: Optional[Sink] = None  # where this process's warnings go now; None: shown as usual
_shown_as_usual: Optional[Callable[[Any], None]] = None  # warnings._showwarnmsg, as it was
_RECORDING_AS_USUAL = warnings._showwarnmsg_impl  # type: ignore[attr-defined]


def install() -> None:
    """Make this process's warnings go to the current sink, if any (a compute process, once)."""
    global _shown_as_usual
    if _shown_as_usual is None:
        _shown_as_usual = warnings._showwarnmsg  # type: ignore[attr-defined]
        warnings._showwarnmsg = _show  # type: ignore[attr-defined]


def _show(message: warnings.WarningMessage) -> None:
    """Where ``warnings`` sends a warning that passed its filters: to the sink, unless it is the
    engine's own (a compile thread's), or the block takes it itself (its own ``showwarning``,
    its ``catch_warnings(record=True)``). numba records every thread's warnings while it
    compiles (``catch_warnings(record=True)`` in a compile thread) and issues them again from
    there: a recording in force while a compile runs in another thread is taken for numba's."""
    sink = _sink
    if sink is None or message.file is not None or threading.current_thread().name.startswith(ENGINE_THREADS) \
            or warnings.showwarning is not warnings._showwarning_orig \
            or (warnings._showwarnmsg_impl is not _RECORDING_AS_USUAL and not _compiling_elsewhere()):
        (_shown_as_usual or _RECORDING_AS_USUAL)(message)
        return
    sink(record(message.message, message.category, message.filename, message.lineno))


def _compiling_elsewhere() -> bool:
    """Whether another thread of this process holds numba's compiler lock."""
    lock = process_settings.compiler_lock()
    if lock is None:
        return False
    if not lock._lock.acquire(blocking=False):  # the RLock: this thread's own hold does not count
        return True
    lock._lock.release()
    return False


def record(message: Any, category: type, filename: str, lineno: int) -> Record:
    """A warning as it travels: its category by name (``process_settings.category_name``), its
    text, and the module it is attributed to (the globals of the frame at its file and line:
    the client's filters match that name, and its registry is that module's)."""
    text = str(message)
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + "..."
    return {"category": process_settings.category_name(category), "message": text,
            "filename": str(filename), "lineno": int(lineno), "module": _module_at(filename, lineno)}


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
    partitions computed here inside it record theirs (``recorded``)."""
    with _sinking(sink):
        yield


@contextlib.contextmanager
def recorded() -> Iterator[List[Record]]:
    """While a partition computes: its warnings are kept, in order, in the list given. Each
    partition starts with empty registries, as a serial run's would be for its items (a place
    that warned in an earlier block or partition warns again; the client keeps it once)."""
    records: List[Record] = []
    warnings._filters_mutated()  # type: ignore[attr-defined]  # every registry is stale now
    with _sinking(records.append):
        yield records


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
    warnings go now: to the client, from a block; issued here outside one (the engine used
    without a cluster)."""
    for one in records:
        if _sink is not None:
            _sink(one)
        else:
            _issue(one, _registries)


_registries: Dict[str, dict] = {}  # of modules this process does not have, for records issued here


def text_of(one: Record) -> str:
    return json.dumps(one)


def shown(text: str) -> str:
    """A record as ``warnings`` would have printed it (for a process with no client to issue it)."""
    try:
        one = json.loads(text)
        return warnings.formatwarning(one["message"], Warning, one["filename"], one["lineno"])
    except (ValueError, KeyError, TypeError):
        return text


def issue_here(text: str, registries: Dict[str, dict]) -> None:
    """A record from the cluster, issued by this process's ``warnings`` (``_issue``); one that
    cannot be read is shown as text."""
    try:
        one = json.loads(text)
        one = {"category": str(one["category"]), "message": str(one["message"]), "filename": str(one["filename"]),
               "lineno": int(one["lineno"]), "module": one["module"] if isinstance(one.get("module"), str) else None}
    except (ValueError, KeyError, TypeError):
        sys.stderr.write(f"a warning from the cluster could not be read: {text[:200]!r}\n")
        return
    _issue(one, registries)


def _issue(one: Record, registries: Dict[str, dict]) -> None:
    """``one`` issued as CPython would have issued it here: through this process's filters, with
    the registry of the module it names (that module's ``__warningregistry__`` where this
    process has it, as ``warnings.warn`` uses; else one in ``registries``), to its
    ``showwarning``. Shown as text where its category cannot be imported here, or a filter of
    this process turns it into an error (the block has ended already)."""
    message, filename, lineno, module = one["message"], one["filename"], one["lineno"], one["module"]
    category = process_settings.category_named(one["category"])
    if category is None:
        sys.stderr.write(warnings.formatwarning(message, Warning, filename, lineno))
        return
    held = sys.modules.get(module) if module is not None else None
    if held is not None:
        registry, module_globals = vars(held).setdefault("__warningregistry__", {}), vars(held)
    else:
        registry, module_globals = registries.setdefault(module or filename, {}), None
    try:
        warnings.warn_explicit(message, category, filename, lineno, module, registry, module_globals)
    except Warning:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno))
