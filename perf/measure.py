"""The cells of the result, one per variant, job and size, with their timings and whether they
were right, and the ratio of each to pyfora's cell in the same run. Times are kept in seconds;
the report converts."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

OK, WRONG, ERROR, NOT_RUN, UNAVAILABLE = "ok", "wrong", "error", "not run", "unavailable"
NOT_APPLICABLE = "n/a"  # the engine cannot express the job at all (numba and strings)


@dataclass
class Cell:
    job: str
    size: int
    variant: str
    label: str
    expected: Any
    status: str = OK
    note: str = ""
    cold: Optional[float] = None        # the first run, apart (engines with cold_first_run)
    times: List[float] = field(default_factory=list)

    def check(self, value: Any) -> None:
        """A wrong answer marks the cell; its times still count, and show."""
        if value != self.expected and self.status == OK:
            self.status, self.note = WRONG, f"got {value!r}, expected {self.expected!r}"

    def record(self, seconds: float, value: Any) -> None:
        self.check(value)
        self.times.append(seconds)

    def fail(self, error: BaseException) -> None:
        text = f"{type(error).__name__}: {error}".strip().splitlines()
        self.status, self.note = ERROR, text[0][:160]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p99(self) -> float:
        """Nearest-rank 99th percentile."""
        ordered = sorted(self.times)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class Results:
    """Every cell of one run, looked up by (job, size, variant)."""

    def __init__(self, cells: Iterable[Cell], reference: str):
        self.cells = list(cells)
        self.reference = reference
        self._index: Dict[Tuple[str, int, str], Cell] = {
            (cell.job, cell.size, cell.variant): cell for cell in self.cells}

    def get(self, job: str, size: int, variant: str) -> Optional[Cell]:
        """The cell, if it has timings."""
        cell = self._index.get((job, size, variant))
        return cell if cell is not None and cell.times else None

    def ratio(self, cell: Cell) -> Optional[float]:
        """The cell's median over the reference's median at the same job and size."""
        reference = self.get(cell.job, cell.size, self.reference)
        if reference is None or not cell.times:
            return None
        return cell.median / reference.median
