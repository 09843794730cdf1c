"""What the engine did with a program's parallel shapes, as its own reports say.

The engine appends a report per shape (split or serial and why, partitions, how many compiled:
``engine.runtime.Report``) to a list in the compute process that drove the block; pyfora does
not send them to the client. So two probe blocks surround the measured run: the first appends a
mark to that list, the second returns every report after the mark. Both must run in the same
compute process as the program's block for the reports to be its own: a worker hands a block to
its first idle process, which is the same one for blocks sent one after another, and the probes
say which process they ran in, so that a run where they differ is shown as unknown rather than
as another block's reports. The probes are not timed.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import List, Optional, Tuple

import pyfora


@dataclass(frozen=True)
class Shape:
    shape: str      # sum, min, max, any, all, list, set, dict, ...
    source: str     # what it iterated
    split: bool     # computed over partitions
    reason: str     # why not split, or why its partials were not combined
    partitions: int
    compiled: int   # partitions run as compiled kernels

    def describe(self) -> str:
        if self.split:
            return f"{self.shape} over {self.source}: split, {self.partitions} partitions, {self.compiled} compiled"
        return f"{self.shape} over {self.source}: serial ({self.reason})"


def _mark_here(token: str) -> int:
    """Runs on the cluster: leave a mark in this compute process's reports."""
    import os

    from ufora.engine import runtime
    runtime.reports.append(runtime.Report("probe-mark", token, False))
    return os.getpid()


def _reports_after(token: str) -> Tuple[int, bool, bool, list]:
    """Runs on the cluster: this process's id, whether the mark is here, whether the list is full,
    and the reports after the mark (all of them if it was pushed out), as plain tuples. A loop, not
    a comprehension, so that the probe itself adds no report."""
    import os

    from ufora.engine import runtime
    found: list = []
    marked = False
    for report in runtime.reports:
        if report.shape == "probe-mark" and report.source == token:
            marked, found = True, []
        else:
            found.append((report.shape, report.source, report.parallel, report.reason, report.partitions,
                          report.compiled))
    return os.getpid(), marked, len(runtime.reports) == runtime.reports.maxlen, found


def _mark_block(ufora: pyfora.Executor, token: str) -> int:
    with ufora.remotely.downloadAll().onCluster():  # no shape: it would run here (pyfora.run_here)
        pid = _mark_here(token)
    return pid


def _after_block(ufora: pyfora.Executor, token: str) -> Tuple[int, bool, bool, list]:
    with ufora.remotely.downloadAll().onCluster():
        after = _reports_after(token)
    return after


def mark(ufora: pyfora.Executor) -> Tuple[str, int]:
    """Put a fresh mark in the process the next block will run in: (the mark, that process)."""
    token = secrets.token_hex(8)
    return token, _mark_block(ufora, token)


@dataclass(frozen=True)
class Reported:
    shapes: List[Shape]
    complete: bool  # False: the list kept only the last of them (``engine.runtime.reports`` is bounded)

    def summary(self) -> str:
        """One cell of the table: how many shapes were split and compiled, how many ran serially."""
        if not self.shapes:
            return "no shape"
        split = [s for s in self.shapes if s.split]
        compiled = [s for s in split if s.compiled]
        parts = []
        if split:
            parts.append(f"{len(split)} split" + (f" ({len(compiled)} compiled)" if compiled else ""))
        if len(self.shapes) > len(split):
            parts.append(f"{len(self.shapes) - len(split)} serial")
        return ("" if self.complete else "last ") + ", ".join(parts)

    def details(self) -> List[str]:
        """Each distinct shape once, with how often it ran."""
        counts: dict = {}
        for shape in self.shapes:
            counts[shape.describe()] = counts.get(shape.describe(), 0) + 1
        return [text + (f" (x{count})" if count > 1 else "") for text, count in counts.items()]


def shapes_since(ufora: pyfora.Executor, marked: Tuple[str, int]) -> Optional[Reported]:
    """The shapes reported since ``mark`` in the same process; None when the probe ran in another
    process (they cannot be told apart from another block's)."""
    token, pid = marked
    after_pid, found_mark, full, reports = _after_block(ufora, token)
    if after_pid != pid or not (found_mark or full):
        return None
    return Reported([Shape(*report) for report in reports], complete=found_mark)
