"""Runs the plan: installs and starts every engine (timing each start-up), runs each job with
the variants alternating round by round, and stops every engine whatever happens.

Alternation (A B C A B C ...) instead of all runs of A then all of B: a minute in which the
machine is busier than usual then slows every variant a little, not one variant a lot.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Set, Tuple

from perf import engines, install, machine
from perf.engines import EngineSpec
from perf.engines.base import Engine, Measured
from perf.measure import ERROR, NOT_APPLICABLE, NOT_RUN, OK, UNAVAILABLE, Cell
from perf.plan import Job

Log = Callable[[str], None]


@dataclass
class Variant:
    spec: EngineSpec
    engine: Optional[Engine] = None
    startup: Optional[float] = None     # seconds
    unavailable: Optional[str] = None   # why it does not run


def _load(spec: EngineSpec, missing: dict) -> Variant:
    variant = Variant(spec)
    reasons = [missing[r] for r in spec.requires if missing.get(r)]
    if reasons:
        variant.unavailable = "; ".join(reasons)
        return variant
    try:
        variant.engine = spec.load()
    except ImportError as exc:
        variant.unavailable = f"cannot import: {exc}"
    return variant


def _close(variant: Variant, log: Log) -> None:
    try:
        variant.engine.close()
    except Exception as exc:  # one engine failing to stop must not keep the others running
        log(f"closing {variant.spec.label} failed: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def started(specs: List[EngineSpec], log: Log) -> Iterator[List[Variant]]:
    """Every variant, its engine started when it could be; all are closed on exit."""
    missing = install.ensure([r for spec in specs for r in spec.requires], log)
    variants = [_load(spec, missing) for spec in specs]
    engines.ship_by_value()
    with contextlib.ExitStack() as stack:
        for variant in variants:
            if variant.engine is None:
                continue
            stack.callback(_close, variant, log)
            log(f"starting {variant.spec.label} ...")
            begin = time.perf_counter()
            try:
                variant.engine.start()
            except Exception as exc:
                variant.unavailable = f"did not start: {type(exc).__name__}: {exc}".splitlines()[0]
                continue
            variant.startup = time.perf_counter() - begin
        machine.wait_until_quiet(log)  # Ray and Dask keep starting processes after start()
        yield variants


def _timed(job: Job, engine: Engine, argument: Any) -> Tuple[float, Any]:
    """Seconds of one call (as the engine measured them, when it returns ``Measured``), and
    what of its result is checked (taken after the clock stops, so that a large result is
    dropped before the next call)."""
    begin = time.perf_counter()
    value = job.invoke(engine, argument)
    seconds = time.perf_counter() - begin
    if isinstance(value, Measured):
        seconds, value = value.seconds, value.value
    return seconds, job.answer(value)


def _cell(job: Job, size: int, variant: Variant) -> Cell:
    cell = Cell(job.key, size, variant.spec.key, variant.spec.label, job.expected(size))
    if variant.engine is None or variant.unavailable:
        cell.status, cell.note = UNAVAILABLE, variant.unavailable or ""
    elif job.key in variant.engine.not_applicable:
        cell.status, cell.note = NOT_APPLICABLE, variant.engine.not_applicable[job.key]
    else:
        reason = job.skip_reason(variant.spec.key, size)
        if reason:
            cell.status, cell.note = NOT_RUN, reason
    return cell


def _run_round(job: Job, argument: Any, active: List[Tuple[Variant, Cell]], calls: int) -> None:
    for variant, cell in active:
        for _ in range(calls):
            if cell.status == ERROR:
                break
            try:
                seconds, value = _timed(job, variant.engine, argument)
            except Exception as exc:
                cell.fail(exc)
            else:
                cell.record(seconds, value)


def _cold_runs(job: Job, argument: Any, active: List[Tuple[Variant, Cell]],
               pending: Set[int]) -> None:
    """The first run of the job on each engine that reports it apart, once per engine."""
    for variant, cell in active:
        if id(variant) not in pending:
            continue
        pending.discard(id(variant))
        try:
            cell.cold, value = _timed(job, variant.engine, argument)
        except Exception as exc:
            cell.fail(exc)
        else:
            cell.check(value)


def _progress(job: Job, size: int, index: int, rounds: int,
              taking_part: List[Tuple[Variant, Cell]]) -> str:
    last = [f"{v.spec.key} {c.times[-1] * job.per_second:.3g} {job.unit}" if c.times
            else f"{v.spec.key} {c.status}" for v, c in taking_part]
    return f"{job.title} {job.size_name}={size:,} round {index + 1}/{rounds}: {', '.join(last)}"


def run_job(job: Job, variants: List[Variant], repeats: int, log: Log) -> List[Cell]:
    """Every size of the job, smallest first; one cell per variant and size."""
    cells: List[Cell] = []
    cold_pending = {id(v) for v in variants if v.engine is not None and v.engine.cold_first_run}
    for size in job.sizes:
        row = [(v, _cell(job, size, v)) for v in variants
               if v.engine is None or job.key in v.engine.jobs or job.key in v.engine.not_applicable]
        cells += [cell for _, cell in row]
        active = [(v, cell) for v, cell in row if cell.status == OK]
        if not active:
            continue
        argument = job.make_input(size)  # one at a time: the previous size's is dropped first
        for variant, _ in active:
            if variant.engine is not None:
                variant.engine.prepare(job.key, argument)  # outside every timing
        _cold_runs(job, argument, active, cold_pending)
        rounds = max(job.rounds(v.spec.key, size, repeats) for v, _ in active)
        for index in range(rounds):
            taking_part = [(v, c) for v, c in active if index < job.rounds(v.spec.key, size, repeats)]
            _run_round(job, argument, taking_part, job.calls_per_round(size))
            log(_progress(job, size, index, rounds, taking_part))
        del argument
    return cells
