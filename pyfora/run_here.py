"""Blocks that run in the caller's own process: those the cluster could only run serially.

The cluster makes a block faster only through its parallel shapes (``engine.rewriter``: the
generators and comprehensions it splits and compiles). A block whose text holds none, and whose
functions (those it reaches, as the driver would rewrite them: ``engine.functions``) hold none
either, would run on the cluster as the very code it is, on one core, after its free variables
were pickled, sent and rebuilt there, and before its results and in-place changes came back: it
can only be slower there (a 40 ms loop over 200,000 dicts took 0.5 s as a block). Such a block
runs here instead, as written: every value, type, exception, identity and side effect is
CPython's because it is CPython, and nothing moves.

A block with shapes that the cluster ran every one of serially (measured not worth splitting, or
over a value it does not split: ``engine.cost``) runs here the next times too, while its values
are no larger than then (``Sizes``): each number, and each short string, as it was; each
container, array and long string at most twice as long (one level into objects' attributes). A
block whose values grew goes to the cluster again, which decides anew.

Only when nothing could tell the difference: the block brings every value back
(``downloadAll()``; with ``remoteAll()`` or ``downloadSmall()`` its values must stay on the
cluster), and no proxy (``RemotePythonObject``) exists in this process, so none of its values
can be one. An exception it raises comes as it would from the cluster (``ComputationError`` and
its own type, with the traceback of here). ``onCluster()`` on a block, or
``pyfora.connect(..., serial_here=False)``, sends such blocks to the cluster all the same.
"""
from __future__ import annotations

import collections
import logging
import os
import sysconfig
from typing import Any, Dict, Hashable, Optional, Tuple

import engine
import net
import pyfora
from engine import functions
from pyfora import capture, remote

log = logging.getLogger(__name__)

REASON = ("it holds no parallel shape, nor do the functions it calls: the cluster would run it as this "
          "same code on one core, after its values moved there")
LEARNED = ("the cluster ran every parallel shape of it serially last time, on values no smaller than these: "
           "it would again, after they moved there")

# Files whose functions the cluster would not rewrite: the standard library's, installed
# packages' and ufora's own (the client does not ship them: ``pyfora.capture``).
_NOT_SHIPPED = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
                     | {os.path.dirname(package.__file__ or "") + os.sep for package in (engine, net, pyfora)})


class _ShippedFiles:
    """The files of the user's functions, as the set of files the cluster would be sent."""

    def __contains__(self, filename: object) -> bool:
        return isinstance(filename, str) and not filename.startswith(_NOT_SHIPPED)


Sizes = Tuple[Tuple[str, Hashable], ...]  # per free variable, what its size is told by (``sizes``)
_ATOMS = (type(None), bool, int, float, complex)
_SIZED = (list, tuple, dict, set, frozenset, collections.deque, str, bytes, bytearray, range)
_SHORT = 64  # characters of a string compared as it is


def _size(value: Any, depth: int = 1) -> Hashable:
    """What a value's size is told by: an atom or a short string itself; the length of a
    container, long string or array; an object's attributes' sizes (``depth`` levels down);
    else only its type (a function, a class: the same block calls the same code)."""
    if isinstance(value, _ATOMS) or isinstance(value, str) and len(value) <= _SHORT:
        return ("=", type(value), value)
    if isinstance(value, _SIZED):
        return ("len", len(value))
    if type(value).__module__ == "numpy" and hasattr(value, "size"):
        return ("len", int(value.size))
    attributes = getattr(value, "__dict__", None)
    if depth > 0 and isinstance(attributes, dict) and not isinstance(value, type):
        return ("obj", type(value), tuple(sorted((name, _size(item, depth - 1)) for name, item in attributes.items()
                                                 if isinstance(name, str))))
    return ("type", type(value))


def sizes(values: Dict[str, Any]) -> Sizes:
    """The sizes of a block's free variables (taken before it runs: it may change them)."""
    return tuple(sorted((name, _size(value)) for name, value in values.items()))


def _no_larger(now: Hashable, then: Hashable) -> bool:
    if isinstance(now, tuple) and isinstance(then, tuple) and now[:1] == then[:1] == ("len",):
        return now[1] <= 2 * then[1] + 16
    if isinstance(now, tuple) and isinstance(then, tuple) and now[:2] == then[:2] and now[:1] == ("obj",):
        return len(now[2]) == len(then[2]) and all(a[0] == b[0] and _no_larger(a[1], b[1])
                                                   for a, b in zip(now[2], then[2]))
    return now == then


# (file, with line, the file's text) -> the sizes the cluster ran every shape serially on
_learned: "collections.OrderedDict[Tuple[str, int, str], Sizes]" = collections.OrderedDict()
_LEARNED_KEPT = 256


def _key(located: capture.Located) -> Tuple[str, int, str]:
    return located.filename, located.with_line, located.source


def learn(located: capture.Located, taken: Sizes, serial: bool) -> None:
    """What the cluster did with the block ``located`` on values of sizes ``taken``: ``serial``,
    it ran every parallel shape serially (so it runs here next time, while its values are no
    larger); else it split one (it goes to the cluster again)."""
    key = _key(located)
    _learned.pop(key, None)
    if serial:
        _learned[key] = taken
        while len(_learned) > _LEARNED_KEPT:
            _learned.popitem(last=False)


def _serial_last_time(located: capture.Located, taken: Sizes) -> bool:
    then = _learned.get(_key(located))
    return then is not None and len(then) == len(taken) and all(
        a[0] == b[0] and _no_larger(a[1], b[1]) for a, b in zip(taken, then))


def why_here(located: capture.Located, values: Dict[str, Any], taken: Sizes) -> Optional[str]:
    """Why the block ``located``, whose free variables are ``values`` of sizes ``taken``, runs
    here; None when it goes to the cluster (it reaches a shape the cluster split or has not run
    yet, or a proxy exists)."""
    if remote.proxies_alive():
        return None
    if not located.shaped and not functions.rewrite_reachable(values, _ShippedFiles(), dry_run=True):
        why = REASON
    elif _serial_last_time(located, taken):
        why = LEARNED
    else:
        return None
    log.info("the block at %s:%d runs in this process: %s", located.filename, located.with_line, why)
    return why
