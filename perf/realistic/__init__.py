"""Issue 16's ``realistic`` job set: ordinary programs of the kinds users write (record parsing,
string munging, objects in sets and dicts, numpy row loops, Monte Carlo, small simulations,
k-means steps, complex and Decimal arithmetic), each timed as a block on a fresh embedded cluster
(cold: its first run; warm: its second) against the same code in local CPython, in one run, with
every answer compared to CPython's. Targets (``perf.realistic.targets``): no program slower than
local CPython by more than 10% + 20 ms, cold or warm; the warm total at least 1.5x faster.

Run by ``python -m perf`` after the cluster secret; ``python -m perf.realistic [--quick]
[program ...]`` alone. ``perf.realistic.catalog`` says how a program is written and registered.
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from perf import machine
from perf.realistic import table
from perf.realistic.catalog import programs
from perf.realistic.timing import Timed, time_program


def run(quick: bool, log: Callable[[str], None], names: Optional[Sequence[str]] = None) -> List[Timed]:
    """Every program (or those named), timed one after the other."""
    chosen = programs()
    if names:
        unknown = set(names) - {p.name for p in chosen}
        if unknown:
            raise ValueError(f"no realistic program named {', '.join(sorted(unknown))}")
        chosen = [p for p in chosen if p.name in names]
    timed = []
    for index, program in enumerate(chosen, start=1):
        log(f"realistic {index}/{len(chosen)}: {program.name} ...")
        timed.append(time_program(program, quick, log))
    return timed


def report(quick: bool, log: Callable[[str], None], results: Path, names: Optional[Sequence[str]] = None) -> str:
    """Run the programs; the Markdown result (with the machine's facts, its load at the start and
    at the end of these programs), and the path of the CSV written to ``results``."""
    load_at_start = machine.load_average()
    timed = run(quick, log, names)
    facts = machine.facts(load_at_start)
    results.mkdir(exist_ok=True)
    path = results / f"realistic-{'quick-' if quick else ''}{datetime.datetime.now():%Y%m%d-%H%M%S}.csv"
    table.write_csv(path, timed, facts, quick)
    return table.markdown(timed, facts, quick) + f"\n\ncsv: {path}"
