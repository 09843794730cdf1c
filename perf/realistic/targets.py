"""Issue 16's targets for the realistic programs, and the contract's: each line PASS or FAIL with
what was measured.

- No program slower than local CPython by more than 10% + 20 ms, cold or warm: a user who tries
  the cluster on their own code must never find it slower than not using it.
- The total of the warm runs at least 1.5x faster than the total of local CPython (on the
  machine's cores: 2 here).
- Every answer CPython's (value, type, exception): not a speed target, the contract itself. A
  wrong answer is the worst bug the project can ship, so it gets its own line.
"""
from __future__ import annotations

import os
from typing import List

from perf.realistic.timing import Timed

SLOWER_FRACTION = 0.10   # a block may take local CPython's time plus this fraction ...
SLOWER_SECONDS = 0.020   # ... plus this much, cold or warm
TOTAL_SPEEDUP = 1.5      # local CPython's total / the warm blocks' total, at least


def limit(local: float) -> float:
    """The most a block may take where local CPython takes ``local`` seconds."""
    return local * (1 + SLOWER_FRACTION) + SLOWER_SECONDS


def over_limit(timed: Timed) -> List[str]:
    """Which of the program's cluster runs ("cold", "warm") took longer than ``limit``."""
    if not timed.measured:
        return []
    return [run for run in ("cold", "warm") if timed.seconds(run) > limit(timed.seconds("local"))]


def _line(passed: bool, what: str, detail: str) -> str:
    return f"{'PASS' if passed else 'FAIL'}  {what}: {detail}"


def _slower_line(measured: List[Timed]) -> str:
    slower = [t for t in measured if over_limit(t)]
    what = (f"no program slower than local CPython by more than {SLOWER_FRACTION:.0%} + "
            f"{SLOWER_SECONDS * 1000:.0f} ms, cold or warm")
    cold = sum(1 for t in slower if "cold" in over_limit(t))
    warm = sum(1 for t in slower if "warm" in over_limit(t))
    return _line(not slower, what, f"{len(slower)} of {len(measured)} programs over it "
                                   f"({cold} cold, {warm} warm)")


def total(measured: List[Timed], run: str) -> float:
    """The seconds of ``run`` ("local", "cold", "warm") over the measured programs."""
    return sum(t.seconds(run) for t in measured)


def _total_line(measured: List[Timed]) -> str:
    what = f"the total at least {TOTAL_SPEEDUP}x faster than local CPython, warm, on {os.cpu_count()} cores"
    local, cold, warm = (total(measured, run) for run in ("local", "cold", "warm"))
    return _line(local / warm >= TOTAL_SPEEDUP, what,
                 f"local {local:.2f} s, warm {warm:.2f} s: {local / warm:.2f}x "
                 f"(cold {cold:.2f} s: {local / cold:.2f}x)")


def _answers_line(timed: List[Timed]) -> str:
    wrong = [t.program.name for t in timed if t.wrong]
    return _line(not wrong, "every answer CPython's (values, types, exceptions), cold and warm",
                 f"{len(wrong)} of {len(timed)} programs differ" + (f": {', '.join(wrong)}" if wrong else ""))


def check(timed: List[Timed]) -> List[str]:
    """One line per target; the speed targets over the programs that were timed on both sides."""
    measured = [t for t in timed if t.measured]
    lines = [_slower_line(measured), _total_line(measured)] if measured else []
    lines.append(_answers_line(timed))
    untimed = [t.program.name for t in timed if t not in measured]
    if untimed:
        lines.append(f"N/A   not timed on the cluster: {', '.join(untimed)}")
    return lines
