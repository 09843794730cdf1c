"""Bodo on two MPI ranks: the prime count and the array sum as a Bodo user writes them
(``@bodo.jit`` with ``bodo.prange``, see ``perf.engines.bodo_ranks``), run by
``mpiexec -n 2`` from Bodo's own virtual environment (``pip install bodo`` ships MPICH's
``mpiexec``). Bodo lives apart from the harness's interpreter because it pins numba below the
version pyfora and the numba variants run with; this module imports none of it.

One launch per run: ``start`` launches the ranks and makes the first calls, which compile
(timed as the start-up, as numba's first calls are). Each job is then one request to every rank
over a Unix socket in a private folder (between requests the ranks sleep in a read, using no
core); the ranks time the call themselves and rank 0 answers with that time, which the harness
takes (``Measured``), as a user timing their own Bodo program would see it.

MPI stays on this machine: the ranks are forked by Hydra (``-launcher fork``), Hydra's own
sockets are bound to loopback (``-iface lo``), and MPICH's UCX and OFI transports are limited to
shared memory, so that no network interface is used for the ranks' messages.
"""
from __future__ import annotations

import io
import os
import pickle
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple

from perf import install
from perf.engines import BODO
from perf.engines.base import Engine, Measured

RANKS = 2
START_SECONDS = 300.0   # launching, importing bodo and compiling: 7-15 s here
CALL_SECONDS = 900.0    # a job request that has not been answered by then is not coming
LOCAL_ONLY = {
    "BODO_SPAWN_MODE": "0",     # SPMD: mpiexec starts the ranks; Bodo spawns none of its own
    "UCX_TLS": "self,sm",       # MPICH's UCX: this process and shared memory only
    "UCX_NET_DEVICES": "lo",
    "FI_PROVIDER": "shm",       # MPICH's OFI, should it be chosen: shared memory
    "HYDRA_IFACE": "lo",
}


class BodoEngine(Engine):
    jobs = frozenset({"prime", "array_sum_squares"})

    def __init__(self) -> None:
        self._folder: Optional[tempfile.TemporaryDirectory] = None
        self._process: Optional[subprocess.Popen] = None
        self._connections: List[socket.socket] = []
        self._streams: List[io.BufferedRWPair] = []  # by rank

    def _errors(self) -> str:
        """The end of what the ranks and ``mpiexec`` wrote to stderr, for an error message."""
        assert self._folder is not None
        return Path(self._folder.name, "stderr").read_text(errors="replace").strip()[-300:]

    def _command(self) -> list:
        bin_folder = install.venv_bin(BODO)
        return [str(bin_folder / "mpiexec"), "-launcher", "fork", "-iface", "lo", "-n", str(RANKS),
                str(bin_folder / "python"), "-m", "perf.engines.bodo_ranks"]

    def _accept(self, server: socket.socket, deadline: float) -> socket.socket:
        """The next rank's connection, or an error as soon as ``mpiexec`` has ended without it."""
        assert self._process is not None
        server.settimeout(1.0)
        while time.monotonic() < deadline:
            try:
                connection, _ = server.accept()
                return connection
            except socket.timeout:
                if self._process.poll() is not None:
                    raise RuntimeError(f"mpiexec exited with {self._process.returncode} before "
                                       f"every rank connected: {self._errors()!r}")
        raise TimeoutError(f"the ranks did not connect within {START_SECONDS:.0f} s")

    def start(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="perf-bodo-")  # mode 0700: ours alone
        path = os.path.join(self._folder.name, "ranks")
        deadline = time.monotonic() + START_SECONDS
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server, \
                open(os.path.join(self._folder.name, "stderr"), "wb") as errors:
            server.bind(path)
            server.listen(RANKS)
            self._process = subprocess.Popen(
                [*self._command(), path], cwd=install.ROOT, env={**os.environ, **LOCAL_ONLY},
                stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
            by_rank = {}
            for _ in range(RANKS):
                connection = self._accept(server, deadline)
                self._connections.append(connection)
                connection.settimeout(CALL_SECONDS)
                stream = connection.makefile("rwb")
                by_rank[pickle.load(stream)] = stream
        self._streams = [by_rank[rank] for rank in range(RANKS)]
        self._ask("warm")

    def _send(self, request: Tuple[str, Any]) -> None:
        for stream in self._streams:
            pickle.dump(request, stream)
            stream.flush()

    def _ask(self, kind: str, argument: Any = None) -> Measured:
        self._send((kind, argument))
        answer = pickle.load(self._streams[0])
        if answer[0] != "ok":
            raise RuntimeError(f"Bodo ranks: {answer[1]}; {answer[2].strip().splitlines()[-3:]}")
        return Measured(answer[1], answer[2])

    def close(self) -> None:
        """Asks the ranks to stop, then ends whatever of ``mpiexec``'s process group is left."""
        try:
            self._send(("stop", None))
        except OSError:
            pass  # the ranks are gone already
        for stream in self._streams:
            stream.close()
        for connection in self._connections:
            connection.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._folder is not None:
            self._folder.cleanup()

    def prime_count(self, n: int) -> Measured:
        return self._ask("prime", n)

    def prepare(self, job_key: str, argument: Any) -> None:
        """The ranks build the array job's array themselves (the same ``array_of``) and spread
        it over the ranks, as pyfora builds its own on the cluster: not timed."""
        if job_key == "array_sum_squares":
            self._ask("scatter", len(argument))

    def array_sum_squares(self, a: Any) -> Measured:
        return self._ask("array")
