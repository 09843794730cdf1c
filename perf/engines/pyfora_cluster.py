"""pyfora, the project itself: an embedded local cluster (``pyfora.connect()``) or the cluster
at a URL.

The ``with`` blocks below are the measured code: pyfora finds a block by reading this file, so
they must stay literal blocks inside functions. ``isPrime`` is sent by value (see
``perf.engines.ship_by_value``) because a cluster started elsewhere cannot import ``perf``.
"""
from __future__ import annotations

import os
from typing import Optional

import pyfora

from perf.engines.base import Engine
from perf.jobs import isPrime


def _prime_block(ufora: pyfora.Executor, N: int) -> int:
    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in range(N))
    return result


def _trivial_block(ufora: pyfora.Executor) -> int:
    with ufora.remotely.downloadAll():
        x = 1
    return x


class PyforaEngine(Engine):
    jobs = frozenset({"prime", "trivial"})
    cold_first_run = True

    def __init__(self, url: Optional[str] = None):
        self._url = url
        self._executor: Optional[pyfora.Executor] = None

    def start(self) -> None:
        if self._url is None:
            os.environ.pop("UFORA_URL", None)  # connect() would prefer it to the embedded cluster
        self._executor = pyfora.connect(self._url)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()

    def prime_count(self, n: int) -> int:
        return _prime_block(self._executor, n)

    def trivial(self) -> int:
        return _trivial_block(self._executor)
