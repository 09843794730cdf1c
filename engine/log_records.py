"""``logging`` in a block, handled by the client's own loggers and handlers.

A script configures its logging (``basicConfig(level=INFO)``, a file handler, a handler of its
own on one logger) and then logs inside a block. On the cluster the block ran under a fresh
process's logging: level WARNING, no handlers, so ``log.info(...)`` vanished and
``log.warning("done %d", 3)`` reached stderr as the bare text, never the client's handler, as a
user's trial found (23 records lost of 23).

So the client's logging levels travel with the block, as its other process settings do
(``engine.process_settings``: the root's level, ``logging.disable``'s, and each logger's own level
where it set one): a record is made on the cluster exactly where the client's ``isEnabledFor``
would make it, and a level the block sets comes back. A record that finds no handler on the
cluster (none but those the block itself added there: ``basicConfig`` in the block still prints
there, as in a fresh process) goes to ``logging.lastResort``, which during a block is
``_ToClient``: it sends the record, its message formatted (``getMessage()``, the exception's
traceback as text), as a line of an output stream of its own, in order with what the block
prints. The client remakes it (``logging.makeLogRecord``) and gives it to its logger of the same
name (``handle_here``): the client's filters, handlers, formatters and ``propagate`` decide where
it goes; with none, the client's own ``lastResort`` prints it, as CPython would.

Where the client's root has handlers, so does the cluster's during the block (the one that sends
records), so that ``logging.info()`` there finds it configured as at home. The remade record is
the cluster's as to time, line and file (the block's), process and thread; its ``args`` are None
(the message is formatted already), its ``exc_info`` too (the traceback comes as ``exc_text``),
and the fields ``extra=`` added come as text where JSON has no type for them. The engine's own
loggers and numba's never reach the client.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ufora.engine.proc import ENGINE_THREADS

STREAM = "log"  # output pieces of this stream are records, one JSON object a line (engine.output)
ENGINE_LOGGERS = ("ufora", "numba", "llvmlite")  # never the block's: never sent, never set
MESSAGE_CHARS = 1 << 20  # a longer message is cut here (a record is one output message, never split)

# root's level, logging.disable's, (name, level) of each logger with a level of its own, whether
# the root has handlers
Levels = Tuple[int, int, Tuple[Tuple[str, int], ...], bool]
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}  # a record's own fields
_FIELDS = ("name", "levelno", "levelname", "pathname", "filename", "module", "lineno", "funcName", "created",
           "msecs", "thread", "threadName", "process", "processName", "exc_text", "stack_info")


def _engines(name: str) -> bool:
    return name.partition(".")[0] in ENGINE_LOGGERS


def levels() -> Levels:
    """This process's logging levels (a process setting)."""
    manager = logging.root.manager
    named = tuple(sorted((name, logger.level) for name, logger in list(manager.loggerDict.items())
                         if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
                         and not _engines(name)))
    return logging.root.level, manager.disable, named, bool(logging.root.handlers)


def set_levels(state: Levels) -> None:
    """Make ``state`` this process's logging levels: every logger not named there has none of its
    own (the engine's and numba's are left as they are); the loggers' caches are emptied once.
    In a block's process (``sent``), where the caller's root has handlers, this process's root
    has the one that sends records to the caller: ``logging.info()`` in the block must not find a
    root without handlers and configure one here (it does so at home only where the root has
    none); the caller's own handlers are never touched."""
    root_level, disable, named, root_handled = state
    if _active is not None:
        if root_handled and _active not in logging.root.handlers:
            logging.root.addHandler(_active)
        elif not root_handled and _active in logging.root.handlers:
            logging.root.removeHandler(_active)
    manager = logging.root.manager
    wanted: Dict[str, int] = dict(named)
    changed = False
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and not _engines(name):
            level = wanted.pop(name, logging.NOTSET)
            if logger.level != level:
                logger.level, changed = level, True
    for name, level in wanted.items():  # loggers this process has not made yet
        logging.getLogger(name).level, changed = level, True
    if logging.root.level != root_level or manager.disable != disable:
        logging.root.level, manager.disable, changed = root_level, disable, True
    if changed:
        manager._clear_cache()  # type: ignore[attr-defined]


class _ToClient(logging.Handler):
    """``logging.lastResort`` during a block: a record no handler here took goes to the client."""

    def __init__(self, send: Callable[[str], None], before: Optional[logging.Handler]):
        super().__init__(logging.NOTSET)
        self.send, self.before = send, before

    def emit(self, record: logging.LogRecord) -> None:
        if _engines(record.name) or threading.current_thread().name.startswith(ENGINE_THREADS):
            if self.before is not None and record.levelno >= self.before.level:
                self.before.handle(record)
            return
        try:
            self.send(text_of(record))
        except Exception:  # noqa: BLE001 - a message whose formatting raises: logging's own report
            self.handleError(record)


def text_of(record: logging.LogRecord) -> str:
    """A record as it travels in the output: one line of JSON, with the fields the call added
    (``extra=``, a ``LoggerAdapter``'s), as text where JSON has no type for them. A message that
    cannot be formatted travels with its arguments, for the caller's handler to fail on as it
    would at home."""
    one: Dict[str, Any] = {name: value for name, value in record.__dict__.items() if name not in _STANDARD}
    one.update((name, getattr(record, name, None)) for name in _FIELDS)
    try:
        one["msg"] = record.getMessage()[:MESSAGE_CHARS]
    except Exception:  # noqa: BLE001 - ("n=%d", "x"): formatted by the caller's handler, which fails there
        one["msg"], one["args"] = str(record.msg)[:MESSAGE_CHARS], record.args
    if record.exc_info and not record.exc_text:
        one["exc_text"] = logging.Formatter().formatException(record.exc_info)
    return json.dumps(one, default=str) + "\n"


_active: Optional[_ToClient] = None  # the handler sending the running block's records


@contextlib.contextmanager
def sent(send: Callable[[str], None]) -> Iterator[None]:
    """Within: records no handler of this process takes go to ``send`` (as lines of text)."""
    global _active
    before = logging.lastResort
    _active = logging.lastResort = _ToClient(send, before)
    try:
        yield
    finally:
        if _active in logging.root.handlers:
            logging.root.removeHandler(_active)
        _active, logging.lastResort = None, before


def handle_here(text: str) -> None:
    """Records from the cluster (lines of JSON), each handled by this process's logger of its
    name. Never raises: the block's output must go on."""
    for line in text.splitlines():
        try:
            one = json.loads(line)
            name = str(one.get("name") or "root")
            args = one.get("args")
            args = tuple(args) if isinstance(args, list) else args
            record = logging.makeLogRecord({**one, "name": name, "args": args})
            record.relativeCreated = (record.created - logging._startTime) * 1000  # type: ignore[attr-defined]
            (logging.getLogger() if name == "root" else logging.getLogger(name)).handle(record)
        except Exception:  # noqa: BLE001 - a record that cannot be read, a handler of the user's that raises
            sys.stderr.write(f"a log record from the cluster could not be handled: {line[:200]!r}\n")


def shown(text: str) -> str:
    """Records as a fresh process's logging would have printed them (a process with no client)."""
    lines = []
    for line in text.splitlines():
        try:
            one = json.loads(line)
            lines.append(f"{one['levelname']}:{one['name']}:{one['msg']}\n")
        except (ValueError, KeyError, TypeError):
            lines.append(line + "\n")
    return "".join(lines)

