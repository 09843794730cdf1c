"""pyfora, the project itself: an embedded local cluster (``pyfora.connect()``) or the cluster
at a URL.

The ``with`` blocks below are the measured code: pyfora finds a block by reading this file, so
they must stay literal blocks inside functions. ``isPrime``, ``array_of`` and ``label_length``
are sent by value (see ``perf.engines.ship_by_value``) because a cluster started elsewhere cannot
import ``perf``.

The array job's array is built on the cluster once per size, as a remote object (a block under
``remotely``, whose variables stay there), which is what a user with an 800 MB array does: its
data lies in the worker's shared memory from then on, and the timed block only sums it.
``array_creation`` times that building block apart.
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
    with ufora.remotely.downloadAll().onCluster():  # the round trip, not pyfora.run_here
        x = 1
    return x


def _remote_array(ufora: pyfora.Executor, N: int) -> pyfora.RemotePythonObject:
    with ufora.remotely:
        a = array_of(N)
    return a


def _length_block(ufora: pyfora.Executor, a: pyfora.RemotePythonObject) -> int:
    with ufora.remotely.downloadAll():
        length = len(a)
    return length


def _array_sum_block(ufora: pyfora.Executor, a: pyfora.RemotePythonObject) -> float:
    with ufora.remotely.downloadAll():
        result = sum(x * x for x in a)
    return result


def _list_block(ufora: pyfora.Executor, N: int) -> list:
    with ufora.remotely.downloadAll():
        result = [x * 0.5 for x in range(N)]
    return result


def _kept_list_block(ufora: pyfora.Executor, N: int) -> pyfora.RemotePythonObject:
    with ufora.remotely:
        result = [x * 0.5 for x in range(N)]
    return result


def _length_of_block(ufora: pyfora.Executor, values: list) -> int:
    with ufora.remotely.downloadAll().onCluster():  # the round trip, not pyfora.run_here
        length = len(values)
    return length


def _copy_block(ufora: pyfora.Executor, values: list) -> list:
    with ufora.remotely.downloadAll().onCluster():  # the round trip, not pyfora.run_here
        copied = list(values)
    return copied


def _range_sum_block(ufora: pyfora.Executor, N: int) -> int:
    with ufora.remotely.downloadAll():
        result = sum(x for x in range(N))
    return result


def _string_block(ufora: pyfora.Executor, N: int) -> int:
    with ufora.remotely.downloadAll():
        result = sum(label_length(x) for x in range(N))
    return result


class PyforaEngine(Engine):
    jobs = frozenset({"prime", "trivial", "array_sum_squares", "array_creation", "list_floats",
                      "list_floats_kept", "string_building", "range_sum", "scalars_sent", "floats_sent",
                      "scalars_round_trip", "floats_round_trip"})
    cold_first_run = True

    def __init__(self, url: Optional[str] = None):
        self._url = url
        self._executor: Optional[pyfora.Executor] = None
        self._array: Optional[pyfora.RemotePythonObject] = None  # the array job's, on the cluster

    def start(self) -> None:
        if self._url is None:
            os.environ.pop("UFORA_URL", None)  # connect() would prefer it to the embedded cluster
            os.environ["UFORA_KERNEL_CACHE_DIR"] = ""  # first runs compile, as in every run before
        self._executor = pyfora.connect(self._url)

    def close(self) -> None:
        self._array = None
        if self._executor is not None:
            self._executor.close()

    def prime_count(self, n: int) -> int:
        return _prime_block(self._executor, n)

    def trivial(self) -> int:
        return _trivial_block(self._executor)

    def prepare(self, job_key: str, argument) -> None:
        """The array job's array is built on the cluster (only its length travels), as numba's
        is built here, before the timings."""
        if job_key == "array_sum_squares":
            self._array = None  # the previous size's is freed first
            self._array = _remote_array(self._executor, len(argument))

    def array_sum_squares(self, a) -> float:
        return _array_sum_block(self._executor, self._array)

    def array_creation(self, n: int) -> int:
        return _length_block(self._executor, _remote_array(self._executor, n))

    def list_floats(self, n: int) -> list:
        return _list_block(self._executor, n)

    def list_floats_kept(self, n: int) -> pyfora.RemotePythonObject:
        return _kept_list_block(self._executor, n)

    def string_building(self, n: int) -> int:
        return _string_block(self._executor, n)

    def list_sent(self, values: list) -> int:
        return _length_of_block(self._executor, values)

    def list_round_trip(self, values: list) -> list:
        return _copy_block(self._executor, values)

    def range_sum(self, n: int) -> int:
        return _range_sum_block(self._executor, n)
