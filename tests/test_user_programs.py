"""Ordinary user programs, each run twice: once in local CPython and once as a real block on a
real cluster through ``pyfora.connect(url)``; the two runs must agree exactly.

Each program is a function ``prog_<name>(ufora)`` in a module of ``tests/user_programs/``: setup
code, a ``with ufora.remotely.downloadAll():`` block, and ``return {...}`` of what the block
assigned, of the outside objects it may have changed, and of what it raised. For the CPython run
the same function gets a stand-in whose ``remotely.downloadAll()`` is ``contextlib.nullcontext()``,
so the body runs here.

Compared: every value, exactly (floats bit for bit, -0.0 is not 0.0, Decimal by its text),
the ``type()`` of every value and of every element inside it, exceptions by type, message and
args (a remote one arrives as ``pyfora.ComputationError``: its ``remoteException`` is compared),
and what the run printed on stdout. A difference that is only in the last bits of some floats
is reported as 'float-last-bits'.

A program that diverges today is listed in ``DIVERGES`` (xfail, strict): fixing the engine makes
its test fail until the entry is removed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import decimal
import fractions
import importlib
import inspect
import math
import random
import time

import numpy as np
import pytest

import pyfora

PROGRAM_MODULES = [
    "parsing", "montecarlo", "kmeans", "objects", "formatting", "numpy_types", "exact_numbers",
    "errors", "mixed_types", "closures_state", "bulk",
]

# program name -> what differs today (kept in step with the engine: strict xfail).
DIVERGES = {
    # a generator cannot be pickled: a block cannot read one
    "outside_generator_consumed": "a generator as a free variable is refused (PythonToForaConversionError); "
                                  "CPython sums it and exhausts it",
}



# ---------------------------------------------------------------- the local stand-in

class _LocalRemotely:
    def downloadAll(self):
        return contextlib.nullcontext()


class LocalUfora:
    """What a program's ``ufora`` is for the CPython run: the block's body runs here."""
    remotely = _LocalRemotely()


# ---------------------------------------------------------------- collecting the programs

def _programs():
    found = []
    for module_name in PROGRAM_MODULES:
        module = importlib.import_module(f"tests.user_programs.{module_name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("prog_") and function.__module__ == module.__name__:
                found.append((name[len("prog_"):], function))
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), "two programs share a name"

    def place(item):  # the order of the modules, then of the programs in their file
        function = item[1]
        return PROGRAM_MODULES.index(function.__module__.rsplit(".", 1)[1]), function.__code__.co_firstlineno

    return sorted(found, key=place)


PROGRAMS = _programs()


def _params():
    unknown = set(DIVERGES) - {name for name, _ in PROGRAMS}
    assert not unknown, f"DIVERGES names no program: {sorted(unknown)}"
    params = []
    for name, function in PROGRAMS:
        marks = [pytest.mark.xfail(strict=True, reason=DIVERGES[name])] if name in DIVERGES else []
        params.append(pytest.param(function, id=name, marks=marks))
    return params


# ---------------------------------------------------------------- comparing two results

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


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."


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
                   f" ({_describe(expected)} vs {_describe(actual)})")
        if not same_name:
            return out
    if isinstance(expected, BaseException):
        if str(expected) != str(actual) or expected.args != actual.args:
            out.append(f"{path}: exception {te.__name__}({str(expected)!r}) != {ta.__name__}({str(actual)!r})")
        return out
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
                if not (_float_same(complex(e).real, complex(a).real, loose) and _float_same(complex(e).imag, complex(a).imag, loose)):
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
                out.append(f"{path}: same keys in another order: {_describe(list(expected))} vs {_describe(list(actual))}")
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
            out.append(f"{path}: sets differ: only expected {_describe(sorted(map(repr, expected - actual))[:5])}, "
                       f"only actual {_describe(sorted(map(repr, actual - expected))[:5])}")
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
        out.append(f"{path}: {_describe(expected)} != {_describe(actual)}")
    return out


# ---------------------------------------------------------------- running

def _fresh_global_state():
    """The state a program may observe or change outside its own module, as a fresh
    interpreter has it: the same for both runs."""
    random.seed(20240601)
    np.random.seed(20240601)
    decimal.setcontext(decimal.Context())


def _run(program, ufora, clock=time.perf_counter):
    """The program's result, and how long it took by ``clock``."""
    _fresh_global_state()
    started = clock()
    try:
        result = program(ufora)
    except Exception as error:  # noqa: BLE001 - the program's own failure is its result
        result = {"uncaught": error}
    finally:
        _fresh_global_state()
    return result, clock() - started


@pytest.fixture(scope="module")
def ufora(cluster_url):
    executor = pyfora.connect(cluster_url)
    yield executor
    executor.close()


@pytest.mark.parametrize("program", _params())
def test_program_matches_cpython(program, ufora, capsys):
    # CPU time: what the program costs, however loaded the machine is
    expected, local_seconds = _run(program, LocalUfora(), clock=time.process_time)
    expected_out = capsys.readouterr().out
    actual, remote_seconds = _run(program, ufora)
    actual_out = capsys.readouterr().out
    assert local_seconds < 1.5, f"the program itself is too slow: {local_seconds:.2f} s of CPU locally"
    assert "uncaught" not in expected, f"the program fails in CPython itself: {expected['uncaught']!r}"

    found = differences(expected, actual)
    if isinstance(actual.get("uncaught"), pyfora.ConnectionError):
        found.insert(0, "hang or crash: the connection to the cluster was lost")
    if expected_out != actual_out:
        found.append(f"stdout: {_describe(expected_out)} != {_describe(actual_out)}")
    if found:
        only_last_bits = not differences(expected, actual, loose=True) and expected_out == actual_out
        kind = "float-last-bits" if only_last_bits else "diverges"
        pytest.fail(f"{kind} (remote {remote_seconds:.2f} s):\n  " + "\n  ".join(found), pytrace=False)


# ---------------------------------------------------------------- the comparison itself is strict

@pytest.mark.parametrize("expected,actual", [
    (1, 1.0), (1, True), (0.0, -0.0), (np.float64(1.5), 1.5), (1.5, np.float32(1.5)),
    ([1, 2.0], [1, 2]), ({"a": [np.int64(1)]}, {"a": [1]}), (decimal.Decimal("1.10"), decimal.Decimal("1.1")),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ({0.0}, {-0.0}), (ValueError("x"), ValueError("y")),
    (ValueError("x"), TypeError("x")), (pyfora.ComputationError(KeyError(1), ""), KeyError(2)),
    (np.arange(3), np.arange(3.0)), (fractions.Fraction(1, 2), 0.5), (float("nan"), 0.0),
    (np.array([0.0]), np.array([-0.0])), ((1, 2), [1, 2]), (1.0, 1.0000000000000002),
])
def test_comparison_tells_these_apart(expected, actual):
    assert differences(expected, actual)


@pytest.mark.parametrize("expected,actual", [
    (float("nan"), float("nan")), (ValueError("x"), pyfora.ComputationError(ValueError("x"), "")),
    ({1, 2}, {2, 1}), (np.array([np.nan]), np.array([np.nan])), (LocalUfora(), LocalUfora()),
])
def test_comparison_accepts_these(expected, actual):
    assert not differences(expected, actual)


def test_last_bits_are_told_apart_from_other_differences():
    assert differences(0.1 + 0.2, 0.3) and not differences(0.1 + 0.2, 0.3, loose=True)
    assert differences(0.3, 0.31, loose=True)
