"""Dask distributed on a ``LocalCluster`` of two single-threaded worker processes: the same
Python function over the same two cores, one task per chunk."""
from __future__ import annotations

import logging
from typing import Optional

from dask.distributed import Client, LocalCluster

from perf import jobs
from perf.engines.base import Engine


class DaskEngine(Engine):
    jobs = frozenset({"prime", "trivial"})

    def __init__(self):
        self._cluster: Optional[LocalCluster] = None
        self._client: Optional[Client] = None

    def start(self) -> None:
        self._cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None, silence_logs=logging.ERROR)
        self._client = Client(self._cluster)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    # pure=False: the same call twice must compute twice, not hit Dask's result cache.
    def prime_count(self, n: int) -> int:
        return sum(self._client.gather(self._client.map(jobs.count_primes_in, jobs.chunks(n),
                                                         pure=False)))

    def trivial(self) -> int:
        return self._client.submit(jobs.one, pure=False).result()
