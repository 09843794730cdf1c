"""One program timed against local CPython: three local runs, and on a fresh embedded cluster
(``pyfora.connect()``) its first run (cold) and its second (warm), interleaved with the local
ones (local, connect, cold, local, warm, local) so that a busy minute on the machine slows both
sides alike. Every run is given data built anew before its clock starts (a program may change
its data in place, as users' programs do) and starts from the same global state (``random``,
numpy's global generator, the decimal context).

The first local run's result is the expected answer: the cluster's runs must give the same
values of the same types, or raise the same exception (``tests.compare_runs.differences``). The
other local runs are compared too: a program whose local runs differ is not deterministic and
its comparison says so instead of blaming the cluster.
"""
from __future__ import annotations

import gc
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

import pyfora
from perf.realistic import probe
from perf.realistic.catalog import Program
from tests.compare_runs import LocalUfora, differences, fresh_global_state

Log = Callable[[str], None]


@dataclass
class Timed:
    program: Program
    local: List[float] = field(default_factory=list)
    cold: Optional[float] = None
    warm: Optional[float] = None
    startup: Optional[float] = None           # pyfora.connect(), the embedded cluster's start
    wrong: List[str] = field(default_factory=list)  # "cold: <difference>", ...
    raised: Optional[str] = None              # the exception of the expected answer, if any
    shapes: Optional[probe.Reported] = None   # what the engine reported for the warm run
    ran_here: int = 0                         # blocks of the warm run that ran in the client (pyfora.run_here)
    cold_ran_here: int = 0                    # and of the cold run (its shapes are not probed: a probe
                                              # block before it would warm the cluster)
    failure: Optional[str] = None             # the harness could not time it (the cluster did not start, ...)

    @property
    def local_median(self) -> Optional[float]:
        return statistics.median(self.local) if self.local else None

    @property
    def measured(self) -> bool:
        """Timed on both sides (else ``failure`` or an exception of the harness says why)."""
        return self.failure is None and self.cold is not None and self.warm is not None

    def seconds(self, run: str) -> float:
        """The time of a measured program's run: "local" (the median), "cold" or "warm"."""
        value = self.local_median if run == "local" else getattr(self, run)
        if value is None:
            raise ValueError(f"{self.program.name} has no {run} time")
        return value


def _run(program: Program, ufora: Any, quick: bool) -> Tuple[float, Any]:
    """Seconds of one run, and its result or the exception it raised (a result too). Each run
    starts from a collected heap: the objects a run left to the collector's old generation made
    the next run, whichever it was, pay a full collection (33 ms of 80 ms for 50,000 parsed CSV
    rows), so a block run in the client, as written, timed after a local run looked 1.8x slower
    than it, and the other way round."""
    data = program.data(quick)
    fresh_global_state()
    gc.collect()
    began = time.perf_counter()
    try:
        result = program.run(ufora, data)
    except Exception as error:  # the program's own exception is its answer, compared as such
        result = error
    seconds = time.perf_counter() - began
    fresh_global_state()
    return seconds, result


def _embedded_cluster() -> pyfora.Executor:
    os.environ.pop("UFORA_URL", None)  # connect() would prefer it to the embedded cluster
    os.environ["UFORA_KERNEL_CACHE_DIR"] = ""  # cold is cold: no kernel kept from an earlier run
    os.environ["UFORA_BLOCK_TIMES"] = ""  # nor where its blocks ran faster (pyfora.block_times)
    return pyfora.connect(progress=False, serial_here=True)  # as users connect (tests.conftest, imported, says 0)


def time_program(program: Program, quick: bool, log: Log) -> Timed:
    timed = Timed(program)
    local = LocalUfora()
    seconds, expected = _run(program, local, quick)
    timed.local.append(seconds)
    if isinstance(expected, BaseException):
        timed.raised = f"{type(expected).__name__}: {expected}"

    def compare(what: str, result: Any) -> None:
        found = differences(expected, result)
        timed.wrong += [f"{what}: {difference}" for difference in found]

    began = time.perf_counter()
    try:
        ufora = _embedded_cluster()
    except pyfora.PyforaError as error:
        timed.failure = f"the embedded cluster did not start: {error}"
        return timed
    timed.startup = time.perf_counter() - began
    try:
        timed.cold, result = _run(program, ufora, quick)
        timed.cold_ran_here = ufora.blocksRunHere
        compare("cold", result)
        seconds, result = _run(program, local, quick)
        timed.local.append(seconds)
        compare("local again (the program is not deterministic)", result)
        marked, ran_here = probe.mark(ufora), ufora.blocksRunHere
        timed.warm, result = _run(program, ufora, quick)
        timed.ran_here = ufora.blocksRunHere - ran_here
        timed.shapes = probe.shapes_since(ufora, marked)
        compare("warm", result)
        seconds, result = _run(program, local, quick)
        timed.local.append(seconds)
        compare("local again (the program is not deterministic)", result)
    finally:
        ufora.close()
    log(f"{program.name}: local {timed.local_median:.3f} s, cold {timed.cold:.3f} s, warm {timed.warm:.3f} s"
        + (f", {len(timed.wrong)} DIFFERENCES" if timed.wrong else ""))
    return timed
