"""Compiled kernels kept on disk: a kernel numba compiled once on this host is loaded, not
compiled again, by the worker's other compute processes, by those that replace them, and by
the service after a restart.

Contract: an entry is used only for exactly the kernel it was compiled for, by the same code
generator on the same kind of CPU; anything else is a miss, never a wrong kernel (a wrong number
is the worst bug a cache could cause). A miss costs a compile, nothing more.

* An entry's name is a SHA-256 of the kernel's key (``engine.kernels``: the hash of the pickled
  functions, the shape, the source's kernel code, the argument types, and the files of the
  installed libraries' functions it compiles) and of ``fingerprint()``: Python's, numba's,
  llvmlite's and numpy's versions, the CPU numba compiles for (its name and features), numba's
  optimisation settings, and the engine's own code (its templates and the passes of checked
  arithmetic shape the machine code). The entry holds that key and fingerprint in full, and
  both must be equal when it is read.
* A file is ``MAGIC``, the SHA-256 of the rest, then the pickled entry. One that is short,
  altered, unreadable, or that numba cannot load, is logged, removed and compiled again. Files
  are written whole under a temporary name and renamed: a reader sees the old file or the new.
* On one host a kernel is compiled by one process at a time: it holds an exclusive ``flock`` on
  ``<name>.lock`` while it looks, compiles and writes; another process that wants the same
  kernel waits, then loads it. The lock goes with its process, however it ends.
* What is kept is numba's own cached form of a compile result (``CompileResult._reduce``: the
  object code of the kernel and of everything it calls, as numba's ``cache=True`` writes it),
  and numba's refusals, so that a kernel numba cannot compile is not tried again either.
  Numba's own cache is not used: it finds entries by the source file of the function, and a
  kernel is generated source with no file, whose key must also cover the functions it calls.
  Nothing is kept when numba says a result cannot be cached (dynamic globals: addresses in this
  process, such as a large array frozen as a constant).
* The folder is the service's (``UFORA_KERNEL_CACHE_DIR``); ``use`` is called before the compute
  pool forks. Without one (unit tests, in-process pools) nothing touches the disk.
* A worker computing a peer's partition asks that peer for an entry it lacks before compiling it
  (``engine.kernels``): the peer's service serves its file's bytes (``entry_bytes``); ours puts
  them, or an empty file for "none", beside the entry as ``<name>.answer`` (``deliver``), where the
  process that asked takes them (``take_answer``), since the service cannot reach a process busy
  with a partition; and ``adopt`` uses and keeps them only if ``load`` would accept them as a
  file of our own.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import itertools
import keyword
import logging
import os
import pickle
import re
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Tuple

log = logging.getLogger(__name__)

MAGIC = b"ufora kernel cache 1\n"
FOLDER_LIMIT = 1 << 30  # bytes of entries kept; at start, the least recently used beyond it go
SUFFIX = ".kernel"
ANSWER = ".answer"  # a peer's answer for an entry, for the process that asked (``deliver``)
_NAME = re.compile(r"[0-9a-f]{64}")  # what ``name_of`` gives: nothing else names a file of the folder
MISSING = object()  # what ``load`` gives when there is no usable entry

_folder: Optional[str] = None


def use(folder: Optional[str]) -> None:
    """Keep kernels in ``folder`` (which exists), or nowhere (None); entries beyond
    ``FOLDER_LIMIT`` bytes are removed, least recently used first."""
    global _folder
    _folder = folder
    if folder is not None:
        prune(folder, FOLDER_LIMIT)


def folder() -> Optional[str]:
    return _folder


@functools.lru_cache(maxsize=None)
def fingerprint() -> str:
    """What, besides a kernel's own key, decides the machine code numba makes for it here."""
    import llvmlite
    import numba
    import numpy
    from numba.core.registry import cpu_target

    engine = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as source:
                engine.update(name.encode() + b"\0" + source.read() + b"\0")
    return repr((MAGIC, sys.version, numba.__version__, llvmlite.__version__, numpy.__version__,
                 cpu_target.target_context.codegen().magic_tuple(), numba.config.OPT,
                 numba.config.BOUNDSCHECK, engine.hexdigest()))


def name_of(key: Tuple) -> str:
    """The entry's name: its key must be made of strings, numbers, None and tuples (its repr
    is the same in every process)."""
    return hashlib.sha256(f"{fingerprint()}\n{key!r}".encode()).hexdigest()


def _path(name: str, suffix: str = SUFFIX) -> str:
    assert _folder is not None
    return os.path.join(_folder, name + suffix)


@contextlib.contextmanager
def claimed(name: str) -> Iterator[None]:
    """Exclusive use of entry ``name`` among this host's processes (nothing without a folder,
    or if the lock cannot be made: then two processes may both compile, which is only slower)."""
    claim = _claim(name, wait=True)
    assert claim is not None  # waited for
    try:
        yield
    finally:
        release(claim)


def try_claim(name: str) -> Optional[Claim]:
    """Exclusive use of entry ``name`` if no other process of the host has it now (then None):
    for a process that has other work to do meanwhile (``engine.kernels`` compiling behind)."""
    return _claim(name, wait=False)


@dataclass(frozen=True)
class Claim:
    descriptor: Optional[int]  # of the locked file (None: no folder, or no lock could be made)


def release(claim: Claim) -> None:
    if claim.descriptor is not None:
        os.close(claim.descriptor)  # and the lock with it


def _claim(name: str, wait: bool) -> Optional[Claim]:
    if _folder is None:
        return Claim(None)
    try:
        descriptor = os.open(_path(name) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("kernel cache: cannot lock %s (%s); compiling without it", name, exc)
        return Claim(None)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    except BaseException:
        os.close(descriptor)
        raise
    return Claim(descriptor)


def distinct_symbols() -> None:
    """Make the names of the functions numba compiles in this process its own. Numba names each
    by its qualified name, its argument types and a counter (``FunctionIdentity._unique_ids``);
    processes forked from one parent count alike, so two of them could give one name to two
    different functions, and a process that loaded both would call one in place of the other
    (the linker keeps the first definition of a name: numba issue 10486). Called in each
    compute process after the fork: its counter starts at a random 64-bit number."""
    from numba.core.bytecode import FunctionIdentity

    FunctionIdentity._unique_ids = itertools.count(secrets.randbits(64))


@dataclass(frozen=True)
class Frozen:
    """A compiled kernel as kept: enough to call it again without compiling."""
    output_dtypes: Tuple[str, ...]
    parameters: Tuple[str, ...]  # the kernel function's parameter names
    result: bytes  # numba's reduced CompileResult, serialized as numba's cache does
    watches_flags: bool  # ``kernels.Kernel.watches_flags``


def freeze(dispatcher: Any, output_dtypes: Tuple[str, ...], watches_flags: bool) -> Optional[Frozen]:
    """The kernel compiled for one signature, as kept; None if numba says it cannot be cached."""
    from numba.core.serialize import dumps

    [result] = dispatcher.overloads.values()
    if result.library.has_dynamic_globals or any(not lifted.can_cache for lifted in result.lifted):
        return None
    code = dispatcher.py_func.__code__
    return Frozen(output_dtypes, code.co_varnames[:code.co_argcount], dumps(result._reduce()), watches_flags)


def thaw(frozen: Frozen) -> Callable:
    """A dispatcher that calls the kept kernel (and compiles nothing: with other argument types
    it raises TypeError, and the partition runs in CPython)."""
    import numba
    from numba.core.compiler import CompileResult
    from numba.core.compiler_lock import global_compiler_lock

    parameters = frozen.parameters
    if not all(isinstance(p, str) and p.isidentifier() and not keyword.iskeyword(p) for p in parameters):
        raise ValueError("its parameter names are not names")
    namespace: dict = {}
    exec(f"def kernel({', '.join(parameters)}):\n    raise RuntimeError('never compiled')", namespace)
    dispatcher = numba.njit(namespace["kernel"])
    context = dispatcher.targetctx
    with global_compiler_lock:  # as numba's Dispatcher.compile loads from its own cache:
        context.refresh()  # the runtime's symbols (NRT_*) exist once the context is refreshed
        result = CompileResult._rebuild(context, *pickle.loads(frozen.result))
        context.insert_user_function(result.entry_point, result.fndesc, [result.library])
        dispatcher.add_overload(result)
    dispatcher.disable_compile()
    return dispatcher


def load(name: str, key: Tuple) -> Any:
    """Entry ``name``: (a dispatcher, its output dtypes, whether it watches flags), None (numba
    refused this kernel), or MISSING (no entry, or one that cannot be used: logged and removed)."""
    if _folder is None:
        return MISSING
    path = _path(name)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return MISSING
    except OSError as exc:
        log.warning("kernel cache: cannot read %s (%s); compiling the kernel", path, exc)
        return MISSING
    try:
        found = _usable(data, key)
    except Exception as exc:  # a damaged file can fail anywhere in unpickling or in numba
        log.warning("kernel cache: %s cannot be used (%s); removed, compiling the kernel", path, exc)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return MISSING
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return found


def _usable(data: bytes, key: Tuple) -> Any:
    """What an entry's bytes hold: ``load``'s kernel's parts, or None (numba refused the kernel);
    raises if they are not exactly an entry of ``key`` for this fingerprint."""
    frozen = _unpack(data, key)
    return None if frozen is None else (thaw(frozen), frozen.output_dtypes, frozen.watches_flags)


def _unpack(data: bytes, key: Tuple) -> Optional[Frozen]:
    if not data.startswith(MAGIC):
        raise ValueError("not a kernel cache file of this release")
    checksum, body = data[len(MAGIC):len(MAGIC) + 32], data[len(MAGIC) + 32:]
    if hashlib.sha256(body).digest() != checksum:
        raise ValueError("its checksum does not match its contents")
    written_for, written_key, frozen = pickle.loads(body)
    if written_for != fingerprint():
        raise ValueError("it was made by another Python, numba, llvmlite, numpy, CPU or engine")
    if written_key != repr(key):
        raise ValueError("it was written for another kernel")
    if frozen is not None and not isinstance(frozen, Frozen):
        raise ValueError("it holds no kernel")
    return frozen


def save(name: str, key: Tuple, frozen: Optional[Frozen]) -> None:
    """Keep entry ``name`` (``frozen``, or None: numba refused the kernel). A folder that cannot
    be written costs compiles, never an error."""
    if _folder is None:
        return
    body = pickle.dumps((fingerprint(), repr(key), frozen), protocol=pickle.HIGHEST_PROTOCOL)
    _write(_path(name), MAGIC + hashlib.sha256(body).digest() + body)


def _write(path: str, data: bytes) -> None:
    """``data`` as file ``path``, written whole under a temporary name and renamed (a reader
    sees the old file or the new); logged if it cannot be."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("kernel cache: cannot write %s (%s)", path, exc)
        with contextlib.suppress(OSError):
            os.unlink(temporary)


# ---- entries from peers ---------------------------------------------------------------------
def entry_bytes(name: str) -> Optional[bytes]:
    """Entry ``name``'s file as it is, for a peer that lacks it; None if there is none here (or
    ``name`` is not an entry's name: a peer names no other file)."""
    if _folder is None or not _NAME.fullmatch(name):
        return None
    try:
        with open(_path(name), "rb") as file:
            return file.read()
    except OSError:
        return None


def deliver(name: str, data: Optional[bytes]) -> None:
    """The service's answer for entry ``name`` (a peer's bytes, or None: none to be had) to the
    process of this host that asked (``take_answer``)."""
    if _folder is not None and _NAME.fullmatch(name):
        _write(_path(name, ANSWER), data or b"")


def take_answer(name: str, patience: float, every: float = 0.02) -> Optional[bytes]:
    """The peer's bytes for entry ``name`` once the service delivers them (looked for every
    ``every`` seconds, and taken: removed), or None: none to be had, or no answer within
    ``patience`` seconds (the service answers every question within its own deadline)."""
    path = _path(name, ANSWER)
    deadline = time.monotonic() + patience
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            log.warning("kernel cache: no answer for %s within %.0f s; compiling it", name, patience)
            return None
        time.sleep(every)
    try:
        with open(path, "rb") as file:
            data = file.read()
        os.unlink(path)
    except OSError as exc:
        log.warning("kernel cache: cannot take %s (%s); compiling the kernel", path, exc)
        return None
    return data or None


def forget_answer(name: str) -> None:
    """Drop an answer for entry ``name`` left by an earlier question (asked again now)."""
    with contextlib.suppress(OSError):
        os.unlink(_path(name, ANSWER))


def adopt(name: str, key: Tuple, data: bytes, source: str) -> Any:
    """A peer's file for entry ``name``, checked exactly as ``load`` checks a file of ours: if
    it passes, kept as ours and what ``load`` would give; else MISSING (logged as an error: the
    kernel is compiled here)."""
    try:
        found = _usable(data, key)
    except Exception as exc:  # hostile, damaged or foreign bytes can fail anywhere in unpickling or numba
        log.error("kernel cache: the kernel %s from %s cannot be used (%s); compiling it here", name, source, exc)
        return MISSING
    _write(_path(name), data)
    return found


def prune(folder: str, limit: int) -> None:
    """Remove the least recently used entries (and their locks) beyond ``limit`` bytes, and
    temporary files that a process killed mid-write left, and peers' answers no one took."""
    entries = []
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            if name.endswith((".tmp", ANSWER)):  # an answer no one took is stale
                os.unlink(path)
            elif name.endswith(SUFFIX):
                status = os.stat(path)
                entries.append((status.st_mtime, status.st_size, path))
        except OSError:
            continue
    kept = 0
    for _, size, path in sorted(entries, reverse=True):
        kept += size
        if kept > limit:
            for stale in (path, path + ".lock"):
                with contextlib.suppress(OSError):
                    os.unlink(stale)
