"""Which object inside a value stops it from being sent to the cluster, and where it is.

A block that reads ``self.data`` ships all of ``self``; when ``self`` holds a lock, an open file
or a thread, pickle's own error ("cannot pickle '_thread.lock' object") does not say where it
is. ``culprit`` finds it by taking the value apart the way pickle does (list and tuple items,
dict keys and values, set elements, an object's state from ``__reduce_ex__``: its attributes,
the closure variables, globals and defaults of a function sent by value) and following the
parts that fail to pickle alone, down to the object that cannot be pickled itself. It runs
only after pickling failed, so sending a value that pickles costs nothing more; each level
pickles the parts of the failing object once.

The objects are not sent in another form (a lock as a fresh lock, a file as its name): a block
gives exactly what CPython gives, and a copy of a lock on the cluster would not be the caller's
lock, nor an open file the caller's file. The error names them so that the user can leave them
out (``__getstate__``, or a block that reads ``self.data`` into a local first).
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

from ufora.engine import serialization
from ufora.engine.code import cell_contents, referenced_names

# What a user calls the objects that commonly cannot be sent, by the module and name of their
# type or of a base class (found by name: nothing is imported to tell).
_KINDS: Dict[str, str] = {
    "_io._IOBase": "an open file", "socket.socket": "a socket", "threading.Thread": "a thread",
    "_thread.lock": "a lock", "_thread.RLock": "a lock", "threading._RLock": "a lock",
    "threading.Condition": "a condition variable", "threading.Semaphore": "a semaphore",
    "threading.Event": "an event", "threading.Barrier": "a barrier", "queue.Queue": "a queue between threads",
    "subprocess.Popen": "a child process", "concurrent.futures._base.Executor": "a pool of threads or processes",
    "multiprocessing.pool.Pool": "a pool of processes", "sqlite3.Connection": "a database connection",
    "sqlite3.Cursor": "a database cursor", "mmap.mmap": "a memory map", "builtins.generator": "a generator",
    "builtins.coroutine": "a coroutine", "builtins.async_generator": "an async generator",
    "builtins.frame": "a frame", "builtins.traceback": "a traceback", "logging.Handler": "a logging handler",
    "_thread._local": "a thread-local store", "multiprocessing.synchronize.SemLock": "a lock between processes",
    "asyncio.events.AbstractEventLoop": "an event loop",
}
_ATOMS = (int, float, complex, str, bytes, bool, type(None))


@dataclass
class Culprit:
    path: str  # where it is, after the value's own name: ".log_file", "['log']", "[1]", ""
    value: Any
    error: str  # why pickling it failed


def message(name: str, label: Optional[str], value: Any, error: Exception) -> str:
    """The error for free variable ``name`` (or the value ``label`` names: "argument 2 of the
    call"), whose pickling failed with ``error``: where the object that cannot be sent is, and
    what it is."""
    found = culprit(value, error)
    if label is None:
        where = f"{name}{found.path}" if found.path else f"free variable {name!r}"
    elif found.path:
        where = f"{label}{found.path}" if found.path.startswith(" (") else f"{label} (its {found.path})"
    else:
        where = label
    what, known = _described(found.value)
    text = f"{where}: {what} cannot be sent to the cluster" + ("" if known else f": {found.error}")
    if label is None and found.path:
        text += f"; the block reads free variable {name!r}, which holds it"
    return text


def culprit(value: Any, error: Exception) -> Culprit:
    """The object inside ``value`` (which failed to pickle with ``error``) that cannot be
    pickled, and its path; ``value`` itself when no part of it fails alone."""
    found = _search(value, "", {id(value)})
    return found if found is not None else Culprit("", value, str(error))


def _described(value: Any) -> Tuple[str, bool]:
    """What ``value`` is for its user (``an open file (io.TextIOWrapper)``, ``a generator``),
    or the name of its type; and whether it is one of the kinds named so."""
    kind = type(value)
    module = kind.__module__
    if getattr(sys.modules.get(module.lstrip("_")), kind.__name__, None) is kind:
        module = module.lstrip("_")  # _io.TextIOWrapper is io.TextIOWrapper
    name = "" if module == "builtins" else f"{module}.{kind.__qualname__}"
    what = _kind(value)
    if what is None:
        return name or kind.__qualname__, False
    if what == "an open file" and value.closed:
        what = "a closed file"
    return (f"{what} ({name})" if name else what), True


def _kind(value: Any) -> Optional[str]:
    for cls in type(value).__mro__:
        what = _KINDS.get(f"{cls.__module__}.{cls.__qualname__}")
        if what is not None:
            return what
    return None


def _search(value: Any, path: str, on_path: set) -> Optional[Culprit]:
    """Depth first through the parts of ``value`` that fail to pickle alone; None when every
    failing part fails only because it leads back to an object on the path (a cycle)."""
    if _kind(value) is not None:
        return Culprit(path, value, "")
    try:
        parts = list(_parts(value))
    except Exception as exc:  # its own reduction fails: it is the one
        return Culprit(path, value, str(exc))
    for label, part in parts:
        if isinstance(part, _ATOMS) or id(part) in on_path:
            continue
        try:
            serialization.dumps(part)
        except Exception:
            found = _search(part, path + label, on_path | {id(part)})
            if found is not None:
                return found
    if not parts:  # opaque to this walk: pickling it failed
        try:
            serialization.dumps(value)
        except Exception as exc:
            return Culprit(path, value, str(exc))
    return None


def _parts(value: Any) -> Iterator[Tuple[str, Any]]:
    """(path suffix, part) of what pickle writes for ``value``."""
    if isinstance(value, (list, tuple)):
        yield from ((f"[{index}]", item) for index, item in enumerate(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield " (a key)", key
            yield f"[{key!r}]", item
    elif isinstance(value, (set, frozenset)):
        yield from ((" (an element)", item) for item in value)
    elif isinstance(value, types.FunctionType):
        yield from _function_parts(value)
    elif isinstance(value, types.MethodType):
        yield ".__self__", value.__self__
        yield ".__func__", value.__func__
    else:
        yield from _reduced_parts(serialization.reduction(value))


def _function_parts(function: types.FunctionType) -> Iterator[Tuple[str, Any]]:
    """A function sent by value: its closure variables, the globals it reads, its defaults and
    attributes."""
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
        yield f" (its closure variable {name!r})", cell_contents(cell)
    for name in referenced_names(function.__code__):
        if name in function.__globals__:
            yield f" (its global {name!r})", function.__globals__[name]
    for index, default in enumerate(function.__defaults__ or ()):
        yield f".__defaults__[{index}]", default
    yield from ((f".__kwdefaults__[{name!r}]", item) for name, item in (function.__kwdefaults__ or {}).items())
    yield from ((f".{name}", item) for name, item in vars(function).items())


def _reduced_parts(reduced: Any) -> Iterator[Tuple[str, Any]]:
    """The parts of pickle's reduction of an object: attributes for a dict state (and for the
    slots of a (dict, slots) state), items for the list and dict iterators, else the arguments
    that rebuild it and its state as a whole."""
    if isinstance(reduced, str) or reduced is None:
        return  # a global, pickled by reference
    _, args, state, list_items, dict_items = (*reduced, None, None, None)[:5]
    yield from ((f" (argument {index + 1} that rebuilds it)", arg) for index, arg in enumerate(args or ()))
    states = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in states:
        if isinstance(part, dict) and all(isinstance(name, str) for name in part):
            yield from ((f".{name}", item) for name, item in part.items())
        elif part is not None:
            yield " (its state)", part
    yield from ((f"[{index}]", item) for index, item in enumerate(list_items or ()))
    yield from ((f"[{key!r}]", item) for key, item in (dict_items or ()))
