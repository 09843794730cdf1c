"""A user program run two ways and compared: here, in local CPython, through a stand-in for the
executor, and on a cluster. Shared by the user-program tests (``tests/test_user_programs.py``)
and the realistic benchmark (``perf/realistic``), so that both hold the cluster to the same
exactness: every value (floats bit for bit, -0.0 is not 0.0, Decimal by its text), the
``type()`` of every value and of every element inside it, and exceptions by type, message and args.
"""
from __future__ import annotations

import contextlib
import dataclasses
import decimal
import io
import math
import random

import numpy as np

import pyfora


class _LocalRemotely(contextlib.nullcontext):
    """``ufora.remotely`` here: a block under it (and under ``downloadAll()``) runs in place."""

    def downloadAll(self):
        return contextlib.nullcontext()


class LocalUfora:
    """What a program's ``ufora`` is for the CPython run: the block's body runs here."""
    remotely = _LocalRemotely()


def run_printing(program, ufora) -> tuple:
    """What ``program(ufora)`` returned (or raised: ``{"uncaught": error}``), and what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            result = program(ufora)
        except BaseException as error:  # noqa: BLE001 - the program's own failure is its result
            result = {"uncaught": error}
    return result, printed.getvalue()


def fresh_global_state() -> None:
    """The state a program may observe or change outside its own module, as a fresh
    interpreter has it: the same for every run."""
    random.seed(20240601)
    np.random.seed(20240601)
    decimal.setcontext(decimal.Context())


def _unwrap(value):
    """A remote exception arrives as ComputationError: compare the original."""
    if isinstance(value, pyfora.ComputationError):
        return value.remoteException
    return value


def _float_same(a: float, b: float, loose: bool) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return math.copysign(1.0, a) == math.copysign(1.0, b)
    if loose and math.isfinite(a) and math.isfinite(b):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return False


def describe(value) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."


CHAIN_COMPARED = 10  # exceptions of a chain compared, at most (a chain may be a cycle)


def _chain_differences(expected: BaseException, actual: BaseException, path: str, out: list, limit: int) -> list:
    """The ways the chains of two exceptions differ: ``__suppress_context__``, then what
    ``__cause__`` and ``__context__`` are, and their own chains."""
    todo, seen = [(expected, actual, path)], set()
    while todo and len(seen) < CHAIN_COMPARED and len(out) < limit:
        expected, actual, path = todo.pop(0)
        if id(expected) in seen:
            continue
        seen.add(id(expected))
        if expected.__suppress_context__ != actual.__suppress_context__:
            out.append(f"{path}.__suppress_context__: {expected.__suppress_context__} != {actual.__suppress_context__}")
        for link in ("__cause__", "__context__"):
            e, a = getattr(expected, link), getattr(actual, link)
            if e is None and a is None:
                continue
            if e is None or a is None or type(e) is not type(a):
                out.append(f"{path}.{link}: {describe(e)} != {describe(a)}")
                continue
            if str(e) != str(a) or e.args != a.args:
                out.append(f"{path}.{link}: exception {type(e).__name__}({str(e)!r}) != {str(a)!r}")
            todo.append((e, a, f"{path}.{link}"))
    return out


def differences(expected, actual, path="result", loose=False, out=None, limit=8):
    """Every way ``actual`` differs from ``expected`` (up to ``limit``), as text."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    expected, actual = _unwrap(expected), _unwrap(actual)
    te, ta = type(expected), type(actual)
    if te is not ta:
        same_name = (te.__module__, te.__qualname__) == (ta.__module__, ta.__qualname__)
        out.append(f"{path}: type {te.__module__}.{te.__qualname__} != "
                   f"{ta.__module__}.{ta.__qualname__}{' (same name, another class object)' if same_name else ''}"
                   f" ({describe(expected)} vs {describe(actual)})")
        if not same_name:
            return out
    if isinstance(expected, BaseException):
        if str(expected) != str(actual) or expected.args != actual.args:
            out.append(f"{path}: exception {te.__name__}({str(expected)!r}) != {ta.__name__}({str(actual)!r})")
        return _chain_differences(expected, actual, path, out, limit)
    if isinstance(expected, (float, np.floating)) and not isinstance(expected, np.ndarray):
        if not _float_same(float(expected), float(actual), loose):
            out.append(f"{path}: {expected!r} != {actual!r}")
        return out
    if isinstance(expected, (complex, np.complexfloating)):
        if not (_float_same(expected.real, actual.real, loose) and _float_same(expected.imag, actual.imag, loose)):
            out.append(f"{path}: {expected!r} != {actual!r}")
        return out
    if isinstance(expected, decimal.Decimal):
        if str(expected) != str(actual):
            out.append(f"{path}: Decimal {str(expected)} != {str(actual)}")
        return out
    if isinstance(expected, np.ndarray):
        if expected.dtype != actual.dtype or expected.shape != actual.shape:
            out.append(f"{path}: array {expected.dtype}{expected.shape} != {actual.dtype}{actual.shape}")
            return out
        if expected.dtype == object:
            for i, (e, a) in enumerate(zip(expected.ravel(), actual.ravel())):
                differences(e, a, f"{path}.flat[{i}]", loose, out, limit)
            return out
        if expected.dtype.kind in "fc":
            for i, (e, a) in enumerate(zip(expected.ravel().tolist(), actual.ravel().tolist())):
                if not (_float_same(complex(e).real, complex(a).real, loose)
                        and _float_same(complex(e).imag, complex(a).imag, loose)):
                    out.append(f"{path}.flat[{i}]: {e!r} != {a!r}")
                    if len(out) >= limit:
                        break
            return out
        if not np.array_equal(expected, actual):
            bad = np.flatnonzero(expected.ravel() != actual.ravel())[:3]
            out.append(f"{path}: arrays differ at flat {bad.tolist()}: "
                       f"{expected.ravel()[bad].tolist()} != {actual.ravel()[bad].tolist()}")
        return out
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(actual):
            out.append(f"{path}: length {len(expected)} != {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            differences(e, a, f"{path}[{i}]", loose, out, limit)
            if len(out) >= limit:
                break
        return out
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            if set(expected) == set(actual):
                out.append(f"{path}: same keys in another order: {describe(list(expected))} "
                           f"vs {describe(list(actual))}")
            else:
                missing = [k for k in expected if k not in actual][:5]
                extra = [k for k in actual if k not in expected][:5]
                out.append(f"{path}: keys differ: missing {missing!r}, extra {extra!r}")
        for (ke, ve), (ka, va) in zip(expected.items(), actual.items()):
            differences(ke, ka, f"{path}.key({ke!r})", loose, out, limit)
            differences(ve, va, f"{path}[{ke!r}]", loose, out, limit)
            if len(out) >= limit:
                break
        return out
    if isinstance(expected, (set, frozenset)):
        if expected != actual:
            out.append(f"{path}: sets differ: only expected {describe(sorted(map(repr, expected - actual))[:5])}, "
                       f"only actual {describe(sorted(map(repr, actual - expected))[:5])}")
        else:
            typed_e = sorted((repr(x), type(x).__qualname__) for x in expected)
            typed_a = sorted((repr(x), type(x).__qualname__) for x in actual)
            if typed_e != typed_a:
                out.append(f"{path}: equal sets whose elements differ in type or repr (e.g. -0.0 vs 0.0)")
        return out
    if isinstance(expected, random.Random):
        if expected.getstate() != actual.getstate():
            out.append(f"{path}: Random state differs")
        return out
    if isinstance(expected, np.random.Generator):
        if expected.bit_generator.state != actual.bit_generator.state:
            out.append(f"{path}: Generator state differs")
        return out
    if dataclasses.is_dataclass(expected) or (hasattr(expected, "__dict__") and not isinstance(expected, type)
                                             and not callable(expected) and te.__module__ != "builtins"):
        differences(vars(expected), vars(actual), f"{path}.__dict__", loose, out, limit)
        return out
    try:
        equal = expected == actual
        equal = bool(equal)
    except Exception as error:  # noqa: BLE001 - an incomparable value is a difference
        out.append(f"{path}: cannot compare {expected!r} with {actual!r}: {error!r}")
        return out
    if not equal:
        out.append(f"{path}: {describe(expected)} != {describe(actual)}")
    return out
