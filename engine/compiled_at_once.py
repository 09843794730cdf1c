"""Small compiled shapes computed at once in the driver, not handed out as partitions.

A split costs what its size does not change: the task's hand-out, a round trip through the worker
service per partition (a guided plan cuts even 200,000 items into 17), the gathering. A count over
a 200,000-float remote array whose kernel was ready took 14-16 ms split on the embedded cluster:
its kernel takes well under a millisecond, its generator 10-14 ms in local CPython. Once a
shape's kernel exists, a shape that small is computed faster by that kernel in the driver than by
any split.

So this process remembers, per shape (its element and condition code), that its kernel ran here
(``ran``), and how long it took an item when it ran at once. A shape whose kernel ran before is
computed at once when the kernel is expected to take less than ``AT_ONCE_BELOW``: by its best
time an item at once (the task's pickling included), or, not timed yet, when its CPython
estimate is below ``CPYTHON_BELOW`` (a compiled kernel that gained nothing on CPython would take as long as that
estimate: no more than the split it replaces, on two cores). A shape at once whose kernel was
not there after all (other argument types, a compile still running) ran in CPython, and is
forgotten: the next run splits again.
"""
from __future__ import annotations

import collections
from typing import Any, Hashable, Optional

# seconds of kernel time below which one pass here beats any split (what a split costs whatever its
# size, measured: 10-15 ms for 17 partitions on the embedded cluster; less, to leave the cores a
# margin where the kernel runs longer than it did)
AT_ONCE_BELOW = 0.005
# seconds of CPython (the shape's estimate) below which a shape whose kernel exists, but whose kernel
# time was not measured yet, runs at once: the split it replaces took longer than this work as CPython
CPYTHON_BELOW = 0.03
_REMEMBERED = 512  # shapes kept (the oldest forgotten first)

_NOT_TIMED = object()  # a shape's value when only its kernel's run is known, not its time
_per_item: "collections.OrderedDict[Hashable, Any]" = collections.OrderedDict()


def shape_of(element: Any, condition: Any) -> Hashable:
    """The key of a shape: its functions' code, the same for each run of a block's shape (its
    functions are made anew each time)."""
    return getattr(element, "__code__", element), getattr(condition, "__code__", condition)


def ran(shape: Hashable, items: int, seconds: Optional[float], compiled: bool) -> None:
    """Remember how the shape's last run went: its kernel ran for every partition (``compiled``),
    ``seconds`` for its ``items`` when it ran at once here (None: split), or not."""
    if not compiled:
        _per_item.pop(shape, None)
        return
    if seconds is not None:  # its best: one run slowed by a busy machine must not split it for good
        timed = seconds / max(1, items)
        before = _per_item.get(shape)
        _per_item[shape] = timed if before is None or before is _NOT_TIMED else min(before, timed)
    elif shape not in _per_item:
        _per_item[shape] = _NOT_TIMED
    _per_item.move_to_end(shape)
    while len(_per_item) > _REMEMBERED:
        _per_item.popitem(last=False)


def why_at_once(shape: Hashable, items: int, cpython_seconds: float) -> Optional[str]:
    """Why the shape is computed at once here (its kernel ran before and is expected to end
    sooner than a split would), or None: it splits as its estimate says."""
    per_item = _per_item.get(shape)
    if per_item is None:
        return None
    if per_item is _NOT_TIMED:
        if cpython_seconds >= CPYTHON_BELOW:
            return None
        return (f"its kernel is compiled, and its {items} items take {cpython_seconds * 1e3:.1f} ms even as "
                f"CPython: computed at once here, sooner than partitions are handed out")
    expected = per_item * items
    if expected >= AT_ONCE_BELOW:
        return None
    return (f"its kernel is compiled and takes about {expected * 1e3:.2f} ms for its {items} items: computed "
            f"at once here, sooner than partitions are handed out")
