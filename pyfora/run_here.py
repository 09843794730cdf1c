"""Blocks that run in the caller's own process: those the cluster cannot make faster.

The cluster makes a block faster only through its parallel shapes (``engine.rewriter``: the
generators and comprehensions it splits and compiles). A block whose text holds none, and whose
functions (those it reaches, as the driver would rewrite them: ``engine.functions``) hold none
either, would run on the cluster as the very code it is, on one core, after its free variables
were pickled, sent and rebuilt there, and before its results and in-place changes came back: it
can only be slower there (a 40 ms loop over 200,000 dicts took 0.5 s as a block). Such a block
runs here instead, as written: every value, type, exception, identity and side effect is
CPython's because it is CPython, and nothing moves.

Any other block runs here the next times where that was faster: its driver says how long it would
take as plain CPython in one process (``engine.local_estimate``: its time less its split shapes',
plus their serial estimates; every shape serial, it is the driver's own time), which is weighed
against the time the block took through the cluster, sent and brought back; once it ran here,
its time measured here counts instead (so a wrong estimate costs one run). Only while its values
are no larger than then (``Sizes``): each number (numpy's, ``Decimal``, ``Fraction`` too) and each
short string as it was; each container, array and long string at most twice as long; each function
the same code (one level into objects' attributes); a name that was unbound then (the block
assigned it before reading it) is not one of its values. A block whose values grew goes to the
cluster again, which decides anew.

The first run of a block none of whose parallel shapes could be compiled (``pyfora.first_run``:
they iterate over the client's own Python objects, or their code plainly cannot become a numba
kernel) runs here too: as CPython partitions, a shape gains at most the cluster's cores, after its
data moved there and back. If that run took ``EXPLORE_FROM`` seconds or more, the next goes to the
cluster, once, to measure it; then the faster side wins, as above. A shape that may compile goes to
the cluster first.

Only when nothing could tell the difference: the block brings every value back
(``downloadAll()``; with ``remoteAll()`` or ``downloadSmall()`` its values must stay on the
cluster), and no proxy (``RemotePythonObject``) exists in this process, so none of its values
can be one. An exception it raises comes as it would from the cluster (``ComputationError`` and
its own type, with the traceback of here). ``onCluster()`` on a block, or
``pyfora.connect(..., serial_here=False)``, sends such blocks to the cluster all the same.
"""
from __future__ import annotations

import atexit
import collections
import decimal
import fractions
import functools
import hashlib
import logging
import os
import types
from dataclasses import dataclass
from typing import Any, Callable, Dict, Hashable, List, Optional, Set, Tuple

import numpy

from ufora import engine, net
import pyfora
from ufora.engine import functions
from ufora.engine.code import installed_file
from ufora.net import schema
from pyfora import block_times, capture, first_run, remote
from pyfora.Exceptions import PythonToForaConversionError

log = logging.getLogger(__name__)

REASON = ("it holds no parallel shape, nor do the functions it calls: the cluster would run it as this "
          "same code on one core, after its values moved there")
FIRST = ("none of its parallel shapes could be compiled (they iterate over your own Python objects, or "
         "their code formats text, builds objects or calls methods numba does not compile): the cluster "
         "would run them as this same code after moving their data; it runs here first, and goes to the "
         "cluster once if it takes {explore:g} s or more here")
EXPLORE_FROM = 0.5  # seconds a block's first run here takes from which the cluster is tried once
# A block whose every shape would run as CPython partitions (``first_run.CPYTHON``) is tried on the
# cluster only where it has more cores than this: on two, splitting can at most halve the shapes'
# time before their data moves there and back, and none of the 71 realistic programs' such blocks
# that went there was faster (``dataclass_point_set`` 3.6 s there against 1.3 s here)
SPLIT_CPYTHON_FROM_CORES = 3
ESTIMATES_OFF_BY = 2.0  # how far off the driver's estimate of a block here may be (``_Timed.worth_measuring_here``)
TRIED = ("it is measured here once: it took {cluster:.3f} s through the cluster{warming}, which estimated "
         "{here:.3f} s here, and such estimates may be off by {off:g}x")
UNSENDABLE = "its values cannot be sent to the cluster, so it runs here, as written: {error}"
LEARNED = ("it takes {here:.3f} s here ({how}) and took {cluster:.3f} s through the cluster last time, on "
           "values no smaller than these")

# ufora's own files: the cluster has them (the client does not ship them: ``pyfora.capture``)
_UFORA = tuple(os.path.dirname(package.__file__ or "") + os.sep for package in (engine, net, pyfora))


class _ShippedFiles:
    """The files of the user's functions, as the set of files the cluster would be sent: not the
    standard library's, installed packages' or ufora's own, which it would not rewrite."""

    def __contains__(self, filename: object) -> bool:
        return isinstance(filename, str) and not filename.startswith(_UFORA) and not installed_file(filename)


Sizes = Tuple[Tuple[str, Hashable], ...]  # per free variable, what its size is told by (``sizes``)
_NUMBERS = (type(None), bool, int, float, complex)  # exactly these: a subclass's == may be the user's own
_SIZED = (list, tuple, dict, set, frozenset, collections.deque, str, bytes, bytearray, range)
_SHORT = 64  # characters of a string compared as it is
_UNKNOWN = ("?",)  # a size that cannot be told (a range longer than sys.maxsize): never no larger


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _code_digest(code: types.CodeType) -> str:
    """A function's code, told the same way in every process (``pyfora.block_times`` keeps sizes
    on disk): its bytecode, names and constants, nested code by its own digest."""
    digest = hashlib.sha1(code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_filename, code.co_firstlineno)).encode())
    for const in code.co_consts:
        digest.update((_code_digest(const) if isinstance(const, types.CodeType) else repr(const)).encode())
    return digest.hexdigest()


def _size(value: Any, depth: int = 1) -> Hashable:
    """What a value's size is told by, read without running any code of the user's (no ``__len__``,
    ``__getattr__``, ``__eq__`` or property of theirs, which may raise or load something): a number
    or a short string itself (numpy's scalars by their bytes, ``Decimal`` and ``Fraction`` by their
    text); the length of a container, long string or array (of a subclass: the built-in's length),
    the size of a pandas Series, DataFrame or Index; a function by its code (a parameter may be
    another function each call); a module of the standard library or an installed package by its
    name (``np``: 500 attributes measured in 0.6 ms a block, which would run in microseconds
    here); an object's attributes' sizes, ``__slots__`` too
    (``depth`` levels down); else only its type (a class: the same block calls the same code).
    Told with plain values (a type by its name, bytes in hex), as JSON keeps them."""
    kind = type(value)
    if kind is complex:
        return ("=", "builtins.complex", repr(value))
    if kind in _NUMBERS or kind is str and len(value) <= _SHORT:
        return ("=", _type_name(kind), value)
    if issubclass(kind, numpy.generic):
        return ("=", _type_name(kind), value.dtype.str, value.tobytes().hex())
    if kind in (decimal.Decimal, fractions.Fraction):
        return ("=", _type_name(kind), str(value))  # a signalling NaN raises on ==
    if issubclass(kind, numpy.ndarray):
        return ("len", numpy.ndarray.size.__get__(value))
    if kind.__module__.split(".")[0] == "pandas" and isinstance(getattr(kind, "shape", None), property):
        return ("len", int(numpy.prod(value.shape)))  # a Series, DataFrame or Index: pandas' own code
    for base in _SIZED:
        if issubclass(kind, base):
            try:
                return ("len", base.__len__(value))
            except OverflowError:
                return _UNKNOWN
    if kind is types.FunctionType:
        return ("code", _code_digest(value.__code__))
    if kind is types.ModuleType and vars(value).get("__file__") not in _ShippedFiles():
        return ("module", vars(value).get("__name__"))  # a library's: its code and settings, not the block's data
    if depth > 0 and not issubclass(kind, type):
        attributes = _attributes(value, kind)
        if attributes:
            return ("obj", _type_name(kind),
                    tuple(sorted((name, _size(item, depth - 1)) for name, item in attributes.items())))
    return ("type", _type_name(kind))


def _attributes(value: Any, kind: type) -> Dict[str, Any]:
    """The attributes an object holds itself: its ``__dict__`` and its ``__slots__``, read as the
    interpreter keeps them (not through the class's ``__getattr__`` or ``__getattribute__``)."""
    found: Dict[str, Any] = {}
    try:
        held = object.__getattribute__(value, "__dict__")
    except AttributeError:
        held = None
    if isinstance(held, dict):
        found.update((name, item) for name, item in held.items() if isinstance(name, str))
    for klass in kind.__mro__:
        if "__slots__" not in vars(klass):
            continue
        for name, slot in vars(klass).items():
            if isinstance(slot, types.MemberDescriptorType):
                try:
                    found[name] = slot.__get__(value, kind)
                except AttributeError:  # a slot never assigned
                    pass
    return found


def sizes(values: Dict[str, Any]) -> Sizes:
    """The sizes of a block's free variables (taken before it runs: it may change them)."""
    return tuple(sorted((name, _size(value)) for name, value in values.items()))


def _no_larger(now: Hashable, then: Hashable) -> bool:
    if now == _UNKNOWN or then == _UNKNOWN:
        return False
    if isinstance(now, tuple) and isinstance(then, tuple) and now[:1] == then[:1] == ("len",):
        return now[1] <= 2 * then[1] + 16
    if isinstance(now, tuple) and isinstance(then, tuple) and now[:2] == then[:2] and now[:1] == ("obj",):
        return len(now[2]) == len(then[2]) and all(a[0] == b[0] and _no_larger(a[1], b[1])
                                                   for a, b in zip(now[2], then[2]))
    return now == then


@dataclass
class _Timed:
    """What is known of one block's times, on values of ``sizes``."""
    sizes: Sizes
    cluster: Optional[float]  # seconds it took through the cluster (sent, run, brought back), last time
    here: Optional[float]  # seconds it takes here: the driver's estimate, or measured here
    measured: bool = False  # ``here`` was measured running it here
    cpython: bool = False  # its first run here was chosen since its shapes would all run as CPython there
    # of ``cluster``, the seconds its shapes ran in CPython while their kernels compiled: a kernel
    # may take them down to nothing, so that time says little of the next runs there
    warming: float = 0.0

    def here_is_faster(self, taken: Sizes, cores: Callable[[], int]) -> bool:
        """Where the cluster's time is not known yet (the block ran here first), only if it was
        quick here (``EXPLORE_FROM``), or if the cluster's ``cores()`` are too few to split CPython
        (``SPLIT_CPYTHON_FROM_CORES``). Where it is: if the time here is less, or the estimate
        of it is worth a measurement here (``worth_measuring_here``). A time the cluster took
        while kernels compiled decides nothing: it may only send the block here once, to be
        measured, and the next run goes to the cluster again, to be timed with its kernels."""
        if self.here is None or not _no_larger_all(taken, self.sizes):
            return False
        if self.cluster is not None:
            return self.worth_measuring_here() or (not self.warming and self.here < self.cluster)
        return self.here < EXPLORE_FROM or self.cpython and cores() < SPLIT_CPYTHON_FROM_CORES

    def worth_measuring_here(self) -> bool:
        """Whether the driver's estimate of the block here is at most ``ESTIMATES_OFF_BY`` times
        what the cluster took without its shapes' time while their kernels compiled, and the
        block is quick there (``EXPLORE_FROM``): it runs here once, to be measured. Estimates
        time the shapes' first items in a process that has just started them, and a count over
        numpy floats was estimated at 2.9x its time (``engine.cost``)."""
        return (not self.measured and self.cluster is not None and self.cluster < EXPLORE_FROM
                and self.here is not None and self.here < ESTIMATES_OFF_BY * (self.cluster - self.warming))

    def why_here_is_faster(self) -> str:
        """What ``here_is_faster`` found, in words (when it did)."""
        if self.cluster is None:
            return FIRST.format(explore=EXPLORE_FROM)
        if not self.warming and self.here is not None and self.here < self.cluster:
            return LEARNED.format(here=self.here, how="measured" if self.measured else "estimated by the cluster",
                                  cluster=self.cluster)
        warming = f" ({self.warming:.3f} s of it while kernels compiled)" if self.warming else ""
        return TRIED.format(cluster=self.cluster, warming=warming, here=self.here, off=ESTIMATES_OFF_BY)


def _no_larger_all(taken: Sizes, then: Sizes) -> bool:
    """Whether each value the block read then is no larger now. A name the block reads that was
    unbound then (the block assigned it before reading it: a loop's second time) did not count."""
    now = dict(taken)
    return all(name in now and _no_larger(now[name], size) for name, size in then)


Key = Tuple[str, int, str]  # (file, with line, the file's text's digest)
_timed: "collections.OrderedDict[Key, _Timed]" = collections.OrderedDict()  # oldest first
_TIMED_KEPT = 256
_changed: Set[Key] = set()  # the blocks whose times this process learned: what it saves
_kept_in: Optional[str] = None  # the file ``_timed`` was read from (``pyfora.block_times``)


@functools.lru_cache(maxsize=64)
def _digest(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()


def _key(located: capture.Located) -> Key:
    """The block, as long as its file's text is the same: by a digest of the text, the same in
    every process, not the text, which is read anew for every block (a copy of a 1 MB file kept
    for each of its blocks timed)."""
    return located.filename, located.with_line, _digest(located.source)


def _tupled(value: Any) -> Any:
    """A size read back from JSON: its lists as the tuples they were."""
    return tuple(_tupled(item) for item in value) if isinstance(value, list) else value


def _warming(value: Any, cluster: Any) -> float:
    """An entry's ``warming`` seconds as kept: a number from 0 to its ``cluster`` time, else 0 (an
    older entry has none; a file may have been edited)."""
    warming, whole = schema.seconds(value), schema.seconds(cluster)
    return 0.0 if warming is None or whole is None else min(warming, whole)


def _load_once() -> None:
    """Read what earlier processes learned (``pyfora.block_times``), before this one's first
    decision; what this process learns after comes later in ``_timed``, so it wins."""
    global _kept_in
    file = block_times.path()
    if file == _kept_in:
        return
    _kept_in = file
    if file is None:
        return
    learned = dict(_timed)
    _timed.clear()
    for entry in block_times.load(file):
        try:
            key = (str(entry["file"]), int(entry["line"]), str(entry["digest"]))
            _timed[key] = _Timed(_tupled(entry["sizes"]), entry["cluster"], entry["here"], bool(entry["measured"]),
                                 bool(entry["cpython"]), _warming(entry.get("warming"), entry["cluster"]))
        except (KeyError, TypeError, ValueError):
            continue  # an entry another version wrote: skipped
    _timed.update(learned)
    while len(_timed) > _TIMED_KEPT:
        _timed.popitem(last=False)


def save() -> None:
    """Keep what this process learned for the next (``pyfora.block_times``), merged with what
    other processes kept meanwhile; at exit, and when an executor closes."""
    file = block_times.path()
    if file is None or not _changed:
        return
    entries = {(str(e.get("file")), e.get("line"), str(e.get("digest"))): e for e in block_times.load(file)}
    for key in [key for key in _timed if key in _changed]:
        timed = _timed[key]
        entries.pop(key, None)  # ours is the newest: last
        entries[key] = {"file": key[0], "line": key[1], "digest": key[2], "sizes": timed.sizes,
                        "cluster": timed.cluster, "here": timed.here, "measured": timed.measured,
                        "cpython": timed.cpython, "warming": timed.warming}
    block_times.save(file, list(entries.values())[-_TIMED_KEPT:])
    _changed.clear()


atexit.register(save)


def ran_on_cluster(located: capture.Located, taken: Sizes, seconds: float, cpython_seconds: Optional[float],
                   warming_seconds: float = 0.0) -> None:
    """The block ``located`` took ``seconds`` through the cluster on values of sizes ``taken``,
    where its driver estimated ``cpython_seconds`` as plain CPython (None: unknown), and its
    shapes ran ``warming_seconds`` of it in CPython while their kernels compiled. A time
    measured here on values no smaller is kept: an estimate does not replace it."""
    _load_once()
    then = _timed.pop(_key(located), None)
    if then is not None and then.measured and _no_larger_all(taken, then.sizes):
        then.cluster, then.warming = seconds, min(warming_seconds, seconds)
        _remember(located, then)
    else:
        _remember(located, _Timed(taken, seconds, cpython_seconds, warming=min(warming_seconds, seconds)))


def _remember(located: capture.Located, timed: _Timed) -> None:
    """Keep ``timed`` as the block's times (the newest last; the oldest beyond ``_TIMED_KEPT``
    forgotten)."""
    key = _key(located)
    _timed.pop(key, None)
    _timed[key] = timed
    _changed.add(key)
    while len(_timed) > _TIMED_KEPT:
        _timed.popitem(last=False)


def ran_here(located: capture.Located, taken: Sizes, seconds: float) -> None:
    """The block ``located``, sent here by its times (``LEARNED``) or as its first run
    (``FIRST``), took ``seconds`` here on values of sizes ``taken``: the next run goes where it
    is faster."""
    then = _timed.get(_key(located))
    if then is None:
        then = _Timed(taken, None, seconds, measured=True)
    else:
        then.here, then.measured = seconds, True
    _remember(located, then)


def unsendable(located: capture.Located, error: PythonToForaConversionError) -> str:
    """Why the block ``located``, which may run here, does, when its values cannot be sent to the
    cluster (``error``: an ``lru_cache`` function whose cache its first run here filled, a lock,
    an open file, an upload over the limit): CPython runs it, as written, where the cluster could
    not. Logged at INFO, as the other reasons are."""
    why = UNSENDABLE.format(error=error)
    log.info("the block at %s:%d runs in this process: %s", located.filename, located.with_line, why)
    return why


def _first_run_verdict(located: capture.Located, values: Dict[str, Any],
                       reached: List[types.FunctionType]) -> Optional[str]:
    """``first_run.runs_here_first``, which reads the user's values and code: a guess that fails
    on something it did not foresee sends the block to the cluster, as before any guess, and says
    so, rather than failing the user's block."""
    try:
        return first_run.runs_here_first(located, values, reached)
    except Exception as exc:
        log.warning("could not tell where the first run of the block at %s:%d goes (%s: %s): the cluster",
                    located.filename, located.with_line, type(exc).__name__, exc)
        return None


def why_here(located: capture.Located, values: Dict[str, Any], taken: Sizes,
             cores: Callable[[], int]) -> Optional[str]:
    """Why the block ``located``, whose free variables are ``values`` of sizes ``taken``, runs
    here; None when it goes to the cluster (it reaches a shape the cluster split or has not run
    yet, or a proxy exists). ``cores()``: the cluster's cores now (asked only when needed). A
    block that reads a proxy by name goes without asking ``proxies_alive``, whose collection
    took 14-40 ms before each such block (told by the values' types: ``isinstance`` would read a
    user's object's ``__class__``, and deciding runs none of the user's code)."""
    if any(issubclass(type(value), remote.RemotePythonObject) for value in values.values()) or remote.proxies_alive():
        return None
    _load_once()
    timed = _timed.get(_key(located))
    reached: List[types.FunctionType] = []  # the functions it calls that hold shapes
    if not located.shaped or timed is None:  # needed only then
        functions.rewrite_reachable(values, _ShippedFiles(), dry_run=True, found=reached)
    if not (located.shaped or reached):
        why = REASON
    elif timed is not None and timed.here_is_faster(taken, cores):
        why = timed.why_here_is_faster()
    elif timed is None and (verdict := _first_run_verdict(located, values, reached)) is not None:
        why = FIRST.format(explore=EXPLORE_FROM)
        _remember(located, _Timed(taken, None, None, cpython=verdict == first_run.CPYTHON))
    else:
        return None
    log.info("the block at %s:%d runs in this process: %s", located.filename, located.with_line, why)
    return why
