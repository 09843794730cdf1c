"""Process-wide settings a block shares with its caller: how numpy handles floating-point errors
(``np.seterr``, ``np.seterrcall``) and prints (``np.set_printoptions``), the ``warnings``
filters, the recursion limit, the int-to-text digit limit (``sys.set_int_max_str_digits``) and
the environment (``os.environ``, less the engine's and numba's own variables: ``UFORA_*``,
``NUMBA_*``) and the working folder (where this machine has the caller's: relative paths name the
caller's files on an embedded cluster, whose workers share its machine).

Run locally, a block runs under its caller's settings, and what it sets holds for the caller
afterwards. On the cluster the block runs in a driver process and its partitions in other
compute processes, each with settings of its own. So every block carries its caller's settings
(``take``: about 2 KB, mostly the environment) as ``engine.module_state`` carries the decimal
context (they are its kind ``settings``): the driver applies them for the block's duration, and
those the block changed go back to the caller. Each task carries the driver's (``engine.tasks``),
which a compute process applies for one partition (``applied``). Either process puts its own back
afterwards, so no other client's block runs under them.

Compiled kernels (``engine.kernels``) follow none of numpy's error modes and issue no warnings:
``not_compiled_because`` says when the settings make that visible, and then the shapes run in
CPython partitions.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import io
import logging
import os
import pickle
import re
import sys
import warnings
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from ufora.engine import code, log_records

log = logging.getLogger(__name__)


class Settings(Dict[str, Any]):
    """Setting's name -> its value. Pickled as one string of plain pickle (every block carries
    one: cloudpickle's look at each of its hundred strings and tuples cost a trivial block 60 µs),
    or as it is where it holds more than plain data (a user's warning category, an error callback)."""

    def __reduce__(self) -> Tuple[Any, ...]:
        buffer = io.BytesIO()
        try:
            _PlainOnly(buffer, pickle.HIGHEST_PROTOCOL).dump(dict(self))
        except pickle.PicklingError:
            return Settings, (dict(self),)
        return _unpickled, (buffer.getvalue(),)


class _PlainOnly(pickle.Pickler):
    """Pickles plain data only (strings, numbers, tuples, dicts...: what pickle never asks
    ``reducer_override`` about), the same here and on the cluster."""

    def reducer_override(self, obj: Any) -> Any:
        raise pickle.PicklingError(f"{type(obj).__name__} is not plain data")


def _unpickled(data: bytes) -> Settings:
    return Settings(pickle.loads(data))

NUMPY_ERRORS = "numpy errors"
NUMPY_PRINT = "numpy print options"
WARNINGS = "warnings filters"
RECURSION = "recursion limit"
INT_DIGITS = "int digits"
ENVIRONMENT = "environment"
WORKING_FOLDER = "working folder"
LOGGING = "logging levels"  # engine.log_records

ENGINE_VARIABLES = ("UFORA_", "NUMBA_")  # the processes' own: never carried, never changed


# The environments seen last, as (os.environ's encoded variables, ``_environment``'s string):
# decoding every variable was most of the cost of taking the settings, paid twice for every
# partition and block (the caller's, then this process's own again); comparing is not.
_seen: List[Tuple[Dict[Any, Any], str]] = []
_SEEN_KEPT = 4


def _environment() -> str:
    """The environment less the engine's variables, as "NAME=value" texts in order of names,
    joined by NULs (which neither can hold): one string, compared, hashed and pickled at once."""
    encoded = os.environ._data  # type: ignore[attr-defined]  # what os.environ decodes its items from
    for seen, joined in _seen:
        if seen == encoded:
            return joined
    joined = "\0".join(sorted(f"{name}={value}" for name, value in os.environ.items()
                              if not name.startswith(ENGINE_VARIABLES)))
    _seen.insert(0, (dict(encoded), joined))
    del _seen[_SEEN_KEPT:]
    return joined


def variables(environment: str) -> Dict[str, str]:
    """The variables of an environment as the settings hold it (``_environment``)."""
    return dict(text.split("=", 1) for text in environment.split("\0")) if environment else {}


@functools.lru_cache(maxsize=16)
def _changes(current: str, wanted: str) -> Tuple[Tuple[str, ...], Tuple[Tuple[str, str], ...]]:
    """(the variables to remove, those to set) that make environment ``current`` ``wanted``
    (cached: a process goes back and forth between its own and its callers')."""
    now, then = variables(current), variables(wanted)
    return tuple(now.keys() - then.keys()), tuple((name, value) for name, value in then.items() - now.items()
                                                  if not name.startswith(ENGINE_VARIABLES))


def _set_environment(wanted: str) -> None:
    removed, changed = _changes(_environment(), wanted)
    for name in removed:
        os.environ.pop(name, None)
    for name, value in changed:
        os.environ[name] = value


def _numpy_errors() -> Tuple[Dict[str, str], Any]:
    return np.geterr(), np.geterrcall()


def _set_numpy_errors(state: Tuple[Dict[str, str], Any]) -> None:
    modes, call = state
    np.seterr(**modes)
    np.seterrcall(call)


def _working_folder() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:  # the folder was removed: none to carry
        return None


def _set_working_folder(folder: Optional[str]) -> None:
    """Work in ``folder`` where this machine has it (relative paths then name the files they
    name for the caller: on an embedded cluster, the caller's machine), else stay where this
    process is (a cluster's own machines)."""
    if isinstance(folder, str) and os.path.isabs(folder) and "\0" not in folder and os.path.isdir(folder):
        try:
            os.chdir(folder)
        except OSError:  # not allowed in, or gone meanwhile: relative paths start where they did
            pass


def _set_recursion_limit(limit: int) -> None:
    try:
        sys.setrecursionlimit(limit)
    except RecursionError:  # below this process's depth (a caller's limit of a few dozen): kept
        log.warning("the recursion limit %d is below the depth of this process: %d kept", limit,
                    sys.getrecursionlimit())


# A filter's category travels by name when the cluster has it installed (Python's, a library's:
# pickling classes by reference is slow), else as the class (a user's, pickled by value).
@functools.lru_cache(maxsize=256)
def _portable_category(category: type) -> Any:
    if category.__module__ == "builtins" or code.installed(category.__module__):
        return category_name(category)
    return category


# Modules whose warning categories every pyfora client's filters name: its connection imports
# requests, which imports urllib3, and both add filters as they are imported. A compute process
# that lacks them imports them to take a block's filters: 64 ms of a first trivial block's 71 ms.
# The compute pool imports them before it forks (``engine.pool``).
CLIENT_WARNING_MODULES = ("requests",)


def category_name(category: type) -> str:
    """A warning category as it travels by name (``_category_named`` takes it back)."""
    return f"{category.__module__}:{category.__qualname__}"


def category_in(module: Any, qualname: str) -> Optional[type]:
    """The warning class ``qualname`` names in ``module``; None where it names none."""
    value = module
    for part in qualname.split("."):
        value = getattr(value, part, None)
    return value if isinstance(value, type) and issubclass(value, Warning) else None


@functools.lru_cache(maxsize=256)
def _category_named(name: str) -> Optional[type]:
    """The class of a category's name; None when it cannot be imported here (no warning of it
    can be issued here either)."""
    module, _, qualname = name.partition(":")
    try:
        return category_in(importlib.import_module(module), qualname)
    except Exception:  # noqa: BLE001 - any failure to import means "not here"
        return None


def _portable_pattern(pattern: Any) -> Any:
    return (pattern.pattern, pattern.flags) if isinstance(pattern, re.Pattern) else pattern


def _pattern(portable: Any) -> Any:
    return re.compile(*portable) if isinstance(portable, tuple) else portable


def _warning_filters() -> Tuple[Tuple[Any, ...], str]:
    return _portable_filters(tuple(warnings.filters)), warnings.defaultaction


@functools.lru_cache(maxsize=16)
def _portable_filters(filters: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """The filters as they travel (cached: a process sees few sets of them)."""
    return tuple((action, _portable_pattern(message), _portable_category(category), _portable_pattern(module), line)
                 for action, message, category, module, line in filters)


@functools.lru_cache(maxsize=16)
def _filters(portable: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """Filters as ``warnings.filters`` holds them, from the way they travel (a category this
    process cannot import left out)."""
    filters = []
    for action, message, category, module, line in portable:
        kind = _category_named(category) if isinstance(category, str) else category
        if kind is not None:
            filters.append((action, _pattern(message), kind, _pattern(module), line))
    return tuple(filters)


# False while filters are installed that leave every registry as it is (``registries_kept``)
_STALE_REGISTRIES = contextvars.ContextVar("ufora_filters_make_registries_stale", default=True)


@contextlib.contextmanager
def registries_kept() -> Iterator[None]:
    """Within: warnings filters installed leave the registries as they are (as if they had been
    in force when the registries were last made stale: ``engine.warned.installing``)."""
    token = _STALE_REGISTRIES.set(False)
    try:
        yield
    finally:
        _STALE_REGISTRIES.reset(token)


# How many times this process has put warnings filters in force, and the last it put
_put: Dict[str, Any] = {"times": 0, "filters": None}


def filters_put() -> Tuple[int, Optional[List[Any]]]:
    """(how many times this process has put warnings filters in force, the last it put)."""
    return _put["times"], _put["filters"]


def _set_warning_filters(state: Tuple[Tuple[Any, ...], str]) -> None:
    entries, default = state
    lock = compiler_lock() if _warnings_raise(state) or _warnings_raise(_warning_filters()) else None
    with lock if lock is not None else contextlib.nullcontext():
        filters = list(_filters(entries))
        # told first: numba's compile ending between the two writes the new ones where it puts back
        _put.update(times=_put["times"] + 1, filters=filters)
        warnings.filters[:] = filters
        warnings.defaultaction = default
        if _STALE_REGISTRIES.get():
            warnings._filters_mutated()  # type: ignore[attr-defined]  # what catch_warnings calls too


# numba sets ``warnings.filters`` aside while it types a kernel, in a compile thread of this
# process (``engine.background_compiles``), and puts back at the end what it set aside
# (``catch_warnings``, many times in a compile, all under its compiler lock): a change made in
# between is undone. Filters that turn warnings into errors are therefore put in force, and
# taken out, only with that lock held (waiting for a compile running here to end): a compile
# that begins while they are in force ends before they go, sets them aside and puts them back
# (code running meanwhile meets them, with numba's own added in front), and none sets another
# block's aside over them. Other filters change without it (never waiting for a compile): one
# undone that way shows or hides a warning on stderr, it decides no answer.
def compiler_lock() -> Any:
    """numba's compiler lock, once numba is imported (held by a thread that compiles)."""
    module = sys.modules.get("numba.core.compiler_lock")
    return module.global_compiler_lock if module is not None else None


# name -> (how to read it, how to set it)
_SETTINGS: Dict[str, Tuple[Callable[[], Any], Callable[[Any], None]]] = {
    NUMPY_ERRORS: (_numpy_errors, _set_numpy_errors),
    NUMPY_PRINT: (np.get_printoptions, lambda options: np.set_printoptions(**options)),
    WARNINGS: (_warning_filters, _set_warning_filters),
    RECURSION: (sys.getrecursionlimit, _set_recursion_limit),
    ENVIRONMENT: (_environment, _set_environment),
    WORKING_FOLDER: (_working_folder, _set_working_folder),
    LOGGING: (log_records.levels, log_records.set_levels),
}
if hasattr(sys, "set_int_max_str_digits"):  # Python 3.11, and 3.10 from 3.10.7
    _SETTINGS[INT_DIGITS] = (sys.get_int_max_str_digits, sys.set_int_max_str_digits)


# what a task carries to its partitions: not the logging levels (a shape that logs runs serially
# on the driver: engine.purity), whose reading walks every logger of the process
PARTITION_SETTINGS = tuple(name for name in _SETTINGS if name != LOGGING)


def take(names: Iterable[str] = tuple(_SETTINGS)) -> Settings:
    """This process's settings (those of ``names`` this Python has), picklable."""
    return Settings({name: _SETTINGS[name][0]() for name in names if name in _SETTINGS})


def apply(settings: Mapping[str, Any], current: Optional[Mapping[str, Any]] = None) -> Settings:
    """Make these this process's settings (each only where it differs from ``current``, read now
    when not given); a setting this process cannot take is logged and left as it is. The settings
    in force after, read again where they changed: one may differ from what was asked (a warning
    category this process cannot import is left out)."""
    current = take(settings) if current is None else current
    in_force = Settings(current)
    for name, value in settings.items():
        if name in _SETTINGS and current.get(name) != value:
            read, write = _SETTINGS[name]
            try:
                write(value)
            except Exception:  # noqa: BLE001 - a caller's setting another numpy does not know
                log.warning("could not apply the caller's %s", name, exc_info=True)
            in_force[name] = read()
    return in_force


_COMPILED_MODES = ("ignore", "warn")  # numpy error modes compiled code shows no difference to


def not_compiled_because(settings: Mapping[str, Any]) -> Optional[str]:
    """Why compiled code would not behave as CPython under these settings, if it would not: it
    raises no ``FloatingPointError``, calls or prints nothing for numpy's floating-point errors
    and issues no warnings, so neither a numpy error mode other than "ignore" and "warn" nor a
    filter that turns a warning of Python's or numpy's into an error may be in force."""
    if NUMPY_ERRORS in settings:
        odd = {kind: mode for kind, mode in settings[NUMPY_ERRORS][0].items() if mode not in _COMPILED_MODES}
        if odd:
            modes = ", ".join(f"{kind}={mode!r}" for kind, mode in sorted(odd.items()))
            return f"not compiled: np.seterr({modes}) is in force, which compiled code does not follow"
    if WARNINGS in settings and _warnings_raise(settings[WARNINGS], compiled=True):
        return "not compiled: a warnings filter turns warnings into errors, and compiled code issues none"
    return None


def numpy_calls_back() -> Optional[str]:
    """Why numpy's errors would have effects here that a partition elsewhere would lose, if
    they would: a mode "call" or "log" runs the function (writes to the object) given to
    ``np.seterrcall``, whose effects are the block's (a handler counting them counted none of
    those met in other processes)."""
    modes = np.geterr()
    calling = sorted(kind for kind, mode in modes.items() if mode in ("call", "log"))
    if calling and np.geterrcall() is not None:
        return f"numpy's errors ({', '.join(calling)}) call {np.geterrcall()!r}, here"
    return None


def not_compiled_here() -> Optional[str]:
    """``not_compiled_because`` of this process's settings now: a task made now carries them."""
    return not_compiled_because(take((NUMPY_ERRORS, WARNINGS)))


def _warnings_raise(state: Any, compiled: bool = False) -> bool:
    """Whether these filters (the settings' ``WARNINGS``) turn warnings into errors; ``compiled``:
    warnings compiled code could meet, Python's own and numpy's (a library's or a user's own are
    issued by calls numba does not compile)."""
    entries, default = state
    return default == "error" or any(
        action == "error" and (not compiled or isinstance(category, str)
                               and category.split(":")[0].split(".")[0] in ("builtins", "numpy"))
        for action, _, category, _, _ in entries)


@contextlib.contextmanager
def applied(settings: Mapping[str, Any]) -> Iterator[None]:
    """Within: ``settings`` are this process's; after: its own again, whatever the code within
    changed."""
    own = take(settings)
    apply(settings, own)
    try:
        yield
    finally:
        apply(own)
