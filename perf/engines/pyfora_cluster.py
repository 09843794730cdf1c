"""pyfora, the project itself: an embedded local cluster (``pyfora.connect()``) or the cluster
at a URL.

The ``with`` blocks below are the measured code: pyfora finds a block by reading this file, so
they must stay literal blocks inside functions. ``isPrime``, ``array_of`` and ``label_length``
are sent by value (see ``perf.engines.ship_by_value``) because a cluster started elsewhere cannot
import ``perf``.

Every name a block assigns is downloaded, so the array blocks ``del`` their array: only its sum
(or length) comes back, not 800 MB. There are no remote objects yet, so the array cannot be
uploaded once and reused: each array block builds it on the cluster, and the block that only
builds it (``array_creation``) measures what to subtract.
"""
from __future__ import annotations

import os
from typing import Optional

import pyfora

from perf.engines.base import Engine
from perf.jobs import array_of, isPrime, label_length


def _prime_block(ufora: pyfora.Executor, N: int) -> int:
    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in range(N))
    return result


def _trivial_block(ufora: pyfora.Executor) -> int:
    with ufora.remotely.downloadAll():
        x = 1
    return x


def _array_sum_block(ufora: pyfora.Executor, N: int) -> float:
    with ufora.remotely.downloadAll():
        a = array_of(N)
        result = sum(x * x for x in a)
        del a
    return result


def _array_creation_block(ufora: pyfora.Executor, N: int) -> int:
    with ufora.remotely.downloadAll():
        a = array_of(N)
        result = len(a)
        del a
    return result


def _list_block(ufora: pyfora.Executor, N: int) -> list:
    with ufora.remotely.downloadAll():
        result = [x * 0.5 for x in range(N)]
    return result


def _string_block(ufora: pyfora.Executor, N: int) -> int:
    with ufora.remotely.downloadAll():
        result = sum(label_length(x) for x in range(N))
    return result


class PyforaEngine(Engine):
    jobs = frozenset({"prime", "trivial", "array_sum_squares", "array_creation", "list_floats",
                      "string_building"})
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

    def array_sum_squares(self, a) -> float:
        # Only the length travels: the block builds the same array on the cluster.
        return _array_sum_block(self._executor, len(a))

    def array_creation(self, n: int) -> int:
        return _array_creation_block(self._executor, n)

    def list_floats(self, n: int) -> list:
        return _list_block(self._executor, n)

    def string_building(self, n: int) -> int:
        return _string_block(self._executor, n)
