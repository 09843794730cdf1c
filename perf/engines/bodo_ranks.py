"""What each of Bodo's MPI ranks runs, launched by ``perf.engines.bodo_mpi`` as
``mpiexec -n 2 python -m perf.engines.bodo_ranks SOCKET`` with the Python of Bodo's own virtual
environment (``.venv-bodo``), in SPMD mode (``BODO_SPAWN_MODE=0``): every rank runs this file,
and each ``bodo.jit`` function runs on both ranks at once, each rank over its part of a
``prange`` or of a distributed array, the partial results combined over MPI.

The jobs are written as a Bodo user writes them: ``@bodo.jit`` functions with ``bodo.prange``
loops, the tutorial's ``isPrime`` jitted as it is (``perf.jobs``, the code every variant runs),
the array spread over the ranks with ``bodo.scatterv`` and summed by a function told that its
argument is distributed.

Every rank connects to the harness over a Unix socket (pickles both ways: the harness's own
process, nothing else can reach it) and waits there for each request, asleep in a read: an MPI
collective would wait by spinning (MPICH polls), taking a core from the variants timed between
Bodo's runs. Every rank runs the request; rank 0 answers with the result and the seconds the
call took, measured here: from a barrier that starts both ranks together to the result, the
slower rank's time. A user's program under ``mpiexec`` is itself rank 0, so the harness's
socket hop is no part of what Bodo costs them.
"""
from __future__ import annotations

import pickle
import socket
import sys
import time
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

import bodo
import numpy as np
from mpi4py import MPI

from perf import jobs

COMM = MPI.COMM_WORLD

is_prime = bodo.jit(jobs.isPrime)


@bodo.jit
def count_primes(n):
    total = 0
    for x in bodo.prange(n):
        total += is_prime(x)
    return total


@bodo.jit(distributed=["a"])
def sum_squares(a):
    total = 0.0
    for i in bodo.prange(len(a)):
        total += a[i] * a[i]
    return total


class Ranks:
    """The state every rank keeps between requests: its part of the array job's array."""

    def __init__(self) -> None:
        self.part: Optional[np.ndarray] = None

    def scatter(self, n: int) -> int:
        """Rank 0 builds the array (the same ``array_of`` as every variant) and spreads it over
        the ranks; not timed by the harness (``prepare``). Returns this rank's part's length."""
        self.part = None  # the previous size's is freed first
        self.part = bodo.scatterv(jobs.array_of(n) if COMM.rank == 0 else None)
        return len(self.part)

    def warm(self, _: Any) -> int:
        """The first calls, which compile, for the very argument types of the jobs."""
        count_primes(10)
        self.scatter(1000)
        sum_squares(self.part)
        self.part = None
        return 0

    def handlers(self) -> Dict[str, Callable[[Any], Any]]:
        return {"warm": self.warm, "scatter": self.scatter, "prime": count_primes,
                "array": lambda _: sum_squares(self.part)}


def _timed(call: Callable[[Any], Any], argument: Any) -> Tuple[Any, float]:
    COMM.Barrier()
    begin = time.perf_counter()
    value = call(argument)
    seconds = COMM.reduce(time.perf_counter() - begin, op=MPI.MAX, root=0)
    return value, seconds


def _serve(ranks: Ranks, stream: Any) -> None:
    """Every rank loops here until the harness says stop (or goes away)."""
    handlers = ranks.handlers()
    while True:
        try:
            kind, argument = pickle.load(stream)
        except EOFError:
            return
        if kind == "stop":
            return
        try:
            value, seconds = _timed(handlers[kind], argument)
            answer: Tuple[Any, ...] = ("ok", value, seconds)
        except Exception as exc:  # sent to the harness, whose cell then says so
            answer = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        if COMM.rank == 0:
            pickle.dump(answer, stream)
            stream.flush()


def main(path: str) -> None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    stream = connection.makefile("rwb")
    pickle.dump(COMM.rank, stream)  # which rank this connection is: rank 0's answers
    stream.flush()
    _serve(Ranks(), stream)


if __name__ == "__main__":
    main(sys.argv[1])
