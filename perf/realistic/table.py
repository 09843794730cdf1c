"""The realistic programs' result: a Markdown table (one row per program), the programs slower
than local CPython, every wrong answer in full, what the engine reported of each program's
shapes, the targets; and a CSV of the same rows in perf/results/ (columns in
perf/results/README.md)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

from perf.realistic import targets
from perf.realistic.timing import Timed
from perf.report import markdown_table

CSV_COLUMNS = ("program", "theme", "size", "local_s", "local_runs_s", "cold_s", "warm_s", "startup_s",
               "cold_over_local", "warm_over_local", "over_limit", "engine", "cold_ran_here", "answer", "note")


def _seconds(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ratio(value: Optional[float], local: Optional[float]) -> Optional[float]:
    return None if value is None or not local else value / local


def _ratio_text(ratio: Optional[float], over: bool) -> str:
    return "–" if ratio is None else f"{ratio:.2f}" + (" **slower**" if over else "")


def _answer(timed: Timed) -> str:
    if timed.failure:
        return f"not timed: {timed.failure}"
    if timed.wrong:
        return "**WRONG ANSWER**"
    return "ok" + (f" (raises {timed.raised.split(':')[0]})" if timed.raised else "")


def _engine(timed: Timed) -> str:
    here = f"{timed.ran_here} ran here" if timed.ran_here else ""
    if timed.shapes is None:
        return here or ("?" if timed.warm is not None else "–")
    if here and not timed.shapes.shapes:
        return here
    return timed.shapes.summary() + (f", {here}" if here else "")


def _row(timed: Timed) -> List[str]:
    local, over = timed.local_median, targets.over_limit(timed)
    return [timed.program.name, timed.program.theme, _seconds(local), _seconds(timed.cold), _seconds(timed.warm),
            _ratio_text(_ratio(timed.cold, local), "cold" in over),
            _ratio_text(_ratio(timed.warm, local), "warm" in over), _engine(timed), _answer(timed)]


def _slower(timed: List[Timed]) -> List[str]:
    slower = sorted((t for t in timed if targets.over_limit(t)),
                    key=lambda t: max(t.seconds("cold"), t.seconds("warm")) - t.seconds("local"), reverse=True)
    if not slower:
        return ["None."]
    lines = []
    for t in slower:
        local = t.seconds("local")
        parts = [f"{run} {t.seconds(run):.3f} s (+{t.seconds(run) - local:.3f} s, "
                 f"{t.seconds(run) / local:.2f}x)" for run in targets.over_limit(t)]
        lines.append(f"- {t.program.name}: local {local:.3f} s; " + "; ".join(parts)
                     + f"; engine: {_engine(t)} (cold: {t.cold_ran_here} block(s) ran here)")
    return lines


def _wrong(timed: List[Timed]) -> List[str]:
    wrong = [t for t in timed if t.wrong]
    if not wrong:
        return ["None: every cold and warm run gave CPython's values, types and exceptions."]
    lines = []
    for t in wrong:
        lines.append(f"- WRONG ANSWER {t.program.name} ({t.program.run.__module__}.{t.program.name}):")
        lines += [f"    - {difference}" for difference in t.wrong]
    return lines


def _shapes(timed: List[Timed]) -> List[str]:
    lines = []
    for t in timed:
        if t.shapes is None:
            continue
        details = t.shapes.details() or ([] if t.ran_here else ["no parallel shape"])
        if t.ran_here:
            details.append(f"{t.ran_here} block(s) ran in the client (pyfora.run_here: why, at INFO in its log)")
        prefix = "" if t.shapes.complete else "(the last 256 reports only) "
        lines.append(f"- {t.program.name}: {prefix}" + "; ".join(details))
    return lines


def markdown(timed: List[Timed], facts: Dict[str, str], quick: bool) -> str:
    header = ("program", "theme", "local s", "cold s", "warm s", "cold / local", "warm / local",
              "engine (warm run)", "answer")
    startups = [t.startup for t in timed if t.startup is not None]
    lines = [f"Realistic programs ({'quick' if quick else 'full'} run): {len(timed)} programs, each timed in "
             "local CPython (median of 3 runs) and as a block on a fresh embedded cluster: cold (its first "
             "run after pyfora.connect()) and warm (its second).", ""]
    lines += [f"- {name}: {value}" for name, value in facts.items()]
    if startups:
        lines.append(f"- embedded cluster start-up (pyfora.connect(), not in the times): median "
                     f"{sorted(startups)[len(startups) // 2]:.2f} s, max {max(startups):.2f} s")
    lines += ["", *markdown_table(header, [_row(t) for t in timed]), "",
              "### Slower than local CPython by more than 10% + 20 ms", "", *_slower(timed), "",
              "### Wrong answers and exception mismatches", "", *_wrong(timed), "",
              "### What the engine reported of each shape (warm run)", "", *_shapes(timed), "",
              "### Targets", "", *[f"- {line}" for line in targets.check(timed)]]
    return "\n".join(lines)


def write_csv(path: Path, timed: List[Timed], facts: Dict[str, str], quick: bool) -> None:
    with path.open("w", newline="") as out:
        out.write(f"# run: {'quick' if quick else 'full'}\n")
        for name, value in facts.items():
            out.write(f"# {name}: {value}\n")
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for t in timed:
            local = t.local_median
            cold, warm = _ratio(t.cold, local), _ratio(t.warm, local)
            writer.writerow([
                t.program.name, t.program.theme, t.program.quick if quick else t.program.size,
                "" if local is None else f"{local:.6f}", ";".join(f"{s:.6f}" for s in t.local),
                *("" if v is None else f"{v:.6f}" for v in (t.cold, t.warm, t.startup)),
                *("" if r is None else f"{r:.4f}" for r in (cold, warm)), " ".join(targets.over_limit(t)),
                _engine(t), t.cold_ran_here, "wrong" if t.wrong else ("not timed" if t.failure else "ok"),
                " | ".join(t.wrong) or t.failure or t.raised or ""])
