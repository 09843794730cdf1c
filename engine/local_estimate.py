"""How long a block would have taken as plain CPython in one process: what the client weighs
against the time the cluster took, to run the block in its own process next time where that is
faster (``pyfora.run_here``).

The driver runs the block; where it splits a shape it has just estimated the shape's serial time
(``engine.cost``: its first items timed in CPython). So the block's time in CPython is its time
here, less the time its split shapes took (partitions, gathering, a split given up), plus their
serial estimates. Unknown when a shape was split without an estimate (``UFORA_SPLIT=always``).

A shape split while its kernel was still compiling ran as CPython partitions: the cluster's time
then says little of its next runs, which the kernel may make far shorter. So the time of such
shapes is told apart (``warming_seconds``): the client weighs the rest of the cluster's time
(sending, gathering, the other statements), which no kernel shortens, against the estimate here,
to decide whether to measure the block here once; such a run of the cluster decides nothing for
good (``pyfora.run_here``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass
class Tally:
    """What the split shapes of one block took and would have taken serially."""
    split_seconds: float = 0.0
    serial_seconds: float = 0.0
    warming_seconds: float = 0.0  # the split time of shapes that ran in CPython while their kernels compiled
    unknown: bool = False

    def nested_correction(self) -> Optional[float]:
        """What the shapes counted here (those inside another shape's first items, as the
        engine timed them: ``engine.cost``) would have taken more as CPython than they took
        split or compiled; None when unknown."""
        return None if self.unknown else self.serial_seconds - self.split_seconds

    def cpython_seconds(self, elapsed: float) -> Optional[float]:
        """The block's estimated time in CPython, given its time here (``elapsed``)."""
        if self.unknown:
            return None
        return max(0.0, elapsed - self.split_seconds) + self.serial_seconds


_current: Optional[Tally] = None  # the block running in this process (one at a time)


@contextlib.contextmanager
def tallied() -> Iterator[Tally]:
    """Within: the split shapes of the block running are counted in the tally given."""
    global _current
    tally, before = Tally(), _current
    _current = tally
    try:
        yield tally
    finally:
        _current = before


def split_shape(seconds: float, serial_seconds: Optional[float], warming: bool = False) -> None:
    """A shape took ``seconds`` split; serially it would take ``serial_seconds`` (None: not
    estimated; 0 for a split given up, computed serially afterwards); ``warming``: some of its
    partitions ran in CPython while its kernel compiled."""
    if _current is None:
        return
    _current.split_seconds += seconds
    if warming:
        _current.warming_seconds += seconds
    if serial_seconds is None:
        _current.unknown = True
    else:
        _current.serial_seconds += serial_seconds
