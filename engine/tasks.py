"""Tasks: a parallel shape packed as bytes, and the computation of one partition of it.

A task is what every partition of one parallel expression shares (its functions and its
iterable), pickled once by the driver and unpickled once per process. A partition is just
[lo, hi) in element-index space, so whoever schedules partitions never looks inside a task.

Wire form of a sum task (cloudpickle of a tuple):
    ("sum", functions: bytes = cloudpickle((element, condition)), start: int, step: int)
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, Optional, Tuple


from engine import errors, kernels, serialization
from engine.kernels import combine_sum  # re-exported: the reducer that goes with sum tasks

__all__ = ["sum_task", "run_partition", "combine_sum"]

_decoded: Dict[bytes, Tuple] = {}  # per process: task digest -> decoded task
_DECODED_LIMIT = 64


def sum_task(element: Callable, condition: Optional[Callable], iterable: range) -> bytes:
    functions = serialization.dumps((element, condition))
    return serialization.dumps(("sum", functions, iterable.start, iterable.step))


def _decode(task: bytes) -> Tuple:
    digest = hashlib.sha1(task).digest()
    if digest not in _decoded:
        if len(_decoded) >= _DECODED_LIMIT:
            _decoded.clear()
        kind, functions, start, step = serialization.loads(task)
        element, condition = serialization.loads(functions)
        kernel = None
        if kernels.fits_int64(start, step, 1):
            kernel = kernels.compiled_sum_kernel(hashlib.sha1(functions).hexdigest(), element, condition)
        _decoded[digest] = (kind, element, condition, start, step, kernel)
    return _decoded[digest]


def run_partition(task: bytes, lo: int, hi: int) -> Tuple[str, Any]:
    """("ok", partial) or ("error", RemoteError) for elements [lo, hi) of ``task``.

    Nested parallel shapes inside the element function run inline here (no runner is set in a
    partition), which is what the design asks: the outer shape is the one that is split."""
    try:
        kind, element, condition, start, step, kernel = _decode(task)
        if kernel is not None and not kernels.fits_int64(start, step, hi):
            kernel = None
        return "ok", kernels.sum_partition(kernel, element, condition, start, step, lo, hi)
    except Exception as exc:
        return "error", errors.capture(exc)
