"""Ray on this machine with two CPUs: the same Python function over the same two cores, one
task per chunk. Kept quiet and offline: no dashboard, no usage statistics, no worker logs."""
from __future__ import annotations

import logging
import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read when ray is imported; no network here

import ray  # noqa: E402

from perf import jobs  # noqa: E402
from perf.engines.base import Engine  # noqa: E402

# The object store only carries small integers here; Ray's default takes 30 % of memory.
OBJECT_STORE_BYTES = 256 * 1024 * 1024


class RayEngine(Engine):
    jobs = frozenset({"prime", "trivial"})

    def __init__(self):
        self._count = self._one = None  # remote functions exist only once ray is up

    def start(self) -> None:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, object_store_memory=OBJECT_STORE_BYTES)
        self._count = ray.remote(jobs.count_primes_in)
        self._one = ray.remote(jobs.one)

    def close(self) -> None:
        ray.shutdown()

    def prime_count(self, n: int) -> int:
        return sum(ray.get([self._count.remote(bounds) for bounds in jobs.chunks(n)]))

    def trivial(self) -> int:
        return ray.get(self._one.remote())
