"""The engine's entry points that rewritten code calls, and the runner they hand work to.

A *runner* computes the partitions of a task somewhere (this process, the local compute pool,
later the whole cluster) and returns their outcomes in partition order. Code running inside a
partition has no runner: nested parallel shapes run inline there.
"""
from __future__ import annotations

import builtins
import contextlib
from typing import Any, Callable, Iterator, List, Optional, Protocol, Tuple

from engine import tasks
from engine.errors import RemoteError

# Below this many elements, splitting and compiling costs more than it saves.
INLINE_LIMIT = 20_000

Outcome = Tuple[str, Any]  # ("ok", partial) or ("error", RemoteError)


class PartitionRunner(Protocol):
    def run_partitions(self, task: bytes, length: int) -> List[Tuple[int, int, Outcome]]:
        """Compute every partition of ``task`` over [0, length); outcomes sorted by position."""


_runner: Optional[PartitionRunner] = None


@contextlib.contextmanager
def using_runner(runner: Optional[PartitionRunner]) -> Iterator[None]:
    global _runner
    previous, _runner = _runner, runner
    try:
        yield
    finally:
        _runner = previous


def parallel_sum(sum_function: Callable, iterable: Any, element: Callable,
                 condition: Optional[Callable]) -> Any:
    """``sum(element(x) for x in iterable if condition(x))`` with CPython's answer, computed over
    partitions when it is the builtin ``sum`` over a large ``range`` and a runner is available."""
    if (sum_function is not builtins.sum or _runner is None or not isinstance(iterable, range)
            or len(iterable) < INLINE_LIMIT):
        return sum_function(element(x) for x in iterable if condition is None or condition(x))
    task = tasks.sum_task(element, condition, iterable)
    outcomes = _runner.run_partitions(task, len(iterable))
    return tasks.combine_sum([_partial_or_raise(lo, hi, outcome) for lo, hi, outcome in outcomes])


def _partial_or_raise(lo: int, hi: int, outcome: Outcome) -> Any:
    """The partial of an ``ok`` outcome; the first error by position is raised as the original
    exception, with the partition's traceback attached as a note."""
    status, value = outcome
    if status == "ok":
        return value
    error: RemoteError = value
    exc = error.exception()
    exc.add_note(f"Raised in partition [{lo}, {hi}):\n{error.trace}")
    raise exc


class InlineRunner:
    """Runs the partitions one after another in this process: the runner for tests and for
    engine use without a cluster. Same plan, same code path as the pool."""

    def __init__(self, processes: int = 2):
        self.processes = processes

    def run_partitions(self, task: bytes, length: int) -> List[Tuple[int, int, Outcome]]:
        from engine.partition import GuidedPlan

        plan = GuidedPlan(length, self.processes)
        results = []
        while (partition := plan.next_partition()) is not None:
            lo, hi = partition
            results.append((lo, hi, tasks.run_partition(task, lo, hi)))
        return results
