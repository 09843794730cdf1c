"""The processor's floating-point exception flags around a compiled partition.

numpy warns ("invalid value encountered in sqrt", "divide by zero encountered in log", "overflow
encountered in scalar multiply") where an operation on its scalars or arrays raises the
processor's flag for it and its error mode for that flag is "warn" (the default, but for
underflow). Compiled code raises the same flags and warns nowhere. So around a kernel that may
compute as numpy would (``kernels.Kernel.watches_flags``), the flags whose mode is "warn" are
cleared before it runs and read after: one raised sends the partition to CPython, which computes
it again and warns exactly as it would have. A flag raised where numpy would not warn (compiled
code compares with instructions that flag a nan; the compiler may compute a branch not taken)
costs that recompute only. Other modes ("raise", "call", "print", "log") keep shapes from
compiling at all (``engine.process_settings``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
import warnings
from typing import Dict, List, Optional

import numpy as np

# fenv.h's FE_* values, by numpy's name for each kind of error
_FLAGS: Optional[Dict[str, int]] = {
    "x86_64": {"invalid": 0x01, "divide": 0x04, "over": 0x08, "under": 0x10},
    "aarch64": {"invalid": 0x01, "divide": 0x02, "over": 0x04, "under": 0x08},
}.get(platform.machine())


def _c_math_library() -> Optional[ctypes.CDLL]:
    try:
        return ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    except OSError:
        return None


_libm = _c_math_library() if _FLAGS is not None else None


def watched() -> int:
    """The flags whose numpy error mode is "warn" in this thread now (0: none, where the
    warnings filters ignore every ``RuntimeWarning``, or where this machine's flags cannot be
    read, and compiled shapes here warn nowhere, as before)."""
    if _FLAGS is None or _libm is None or _runtime_warnings_ignored():
        return 0
    modes = np.geterr()
    return sum(flag for name, flag in _FLAGS.items() if modes.get(name) == "warn")


def _runtime_warnings_ignored() -> bool:
    """Whether the filters ignore numpy's warnings wherever they are issued: the first filter
    that can match a ``RuntimeWarning`` ignores it whatever its text, module and line are
    (``simplefilter("ignore")``), after filters that could only ignore it too."""
    for action, message, category, module, line in warnings.filters:
        if not issubclass(RuntimeWarning, category):
            continue
        if action != "ignore":
            return False
        if not getattr(message, "pattern", message) and not getattr(module, "pattern", module) and not line:
            return True
    return warnings.defaultaction == "ignore"


def clear(flags: int) -> None:
    """Lower ``flags`` (a ``watched`` value) in this thread."""
    _libm.feclearexcept(flags)  # type: ignore[union-attr]


def raised(flags: int) -> List[str]:
    """numpy's names of those of ``flags`` raised in this thread since they were cleared
    ("invalid", "divide", "over", "under"): none, mostly."""
    up = _libm.fetestexcept(flags)  # type: ignore[union-attr]
    return [name for name, flag in (_FLAGS or {}).items() if up & flag] if up else []
