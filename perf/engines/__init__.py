"""Which engines the harness runs, what each needs installed, and how to load one.

Engine modules import their libraries at the top, so a module is imported only when its engine
is wanted, after ``perf.install`` has fetched what it needs; an import that still fails makes
that engine's rows say why instead of stopping the run.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any, List, Mapping, NamedTuple, Optional, Tuple

import cloudpickle

from perf import jobs
from perf.engines.base import Engine


class Requirement(NamedTuple):
    pip: str     # what ``pip install`` is given
    module: str  # what proves it is installed
    # None: installed into the interpreter running the harness. Otherwise a virtual environment
    # of its own, this folder under the repository root, for a package whose pins would change
    # what the other variants run with (Bodo pins numba below the version pyfora compiles with).
    venv: Optional[str] = None


DASK = Requirement("dask[distributed]", "distributed")
RAY = Requirement("ray", "ray")
BODO = Requirement("bodo", "bodo", venv=".venv-bodo")

REFERENCE = "pyfora"  # the key every ratio is taken against
HOSTS = "pyfora-hosts"  # two one-core workers, each in its own network namespace


@dataclass(frozen=True)
class EngineSpec:
    key: str
    label: str
    target: str      # "module:Class"
    startup: str     # what its start-up time measures
    requires: Tuple[Requirement, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> Engine:
        """A new, unstarted engine; raises ImportError when its library is missing."""
        module_name, class_name = self.target.split(":")
        return getattr(importlib.import_module(module_name), class_name)(**self.options)


def specs(url: Optional[str] = None) -> List[EngineSpec]:
    """Every variant, the reference first (it also starts first, on a quiet machine)."""
    chosen = [EngineSpec(REFERENCE, "pyfora (embedded)", "perf.engines.pyfora_cluster:PyforaEngine",
                         "pyfora.connect()")]
    if url:
        chosen.append(EngineSpec("pyfora-url", f"pyfora ({url})",
                                 "perf.engines.pyfora_cluster:PyforaEngine",
                                 f"pyfora.connect({url!r})", options={"url": url}))
    chosen += [
        EngineSpec(HOSTS, "pyfora (2 hosts x 1 core)", "perf.engines.pyfora_hosts:PyforaHostsEngine",
                   "2 network namespaces, manager + 2 workers"),
        EngineSpec("numba-parallel", "numba @njit(parallel=True)", "perf.engines.numba_jit:NumbaEngine",
                   "first call (compile)", options={"parallel": True}),
        EngineSpec("numba", "numba @njit", "perf.engines.numba_jit:NumbaEngine",
                   "first call (compile)", options={"parallel": False}),
        EngineSpec("cpython", "CPython serial", "perf.engines.cpython:SerialEngine", "nothing"),
        EngineSpec("pool", "multiprocessing.Pool(2)", "perf.engines.mp_pool:PoolEngine",
                   "Pool(2) and a first task answered"),
        EngineSpec("dask", "Dask LocalCluster (2 x 1 thread)", "perf.engines.dask_local:DaskEngine",
                   "LocalCluster + Client", requires=(DASK,)),
        EngineSpec("ray", "Ray (num_cpus=2)", "perf.engines.ray_local:RayEngine", "ray.init()",
                   requires=(RAY,)),
        EngineSpec("bodo", "Bodo (mpiexec -n 2)", "perf.engines.bodo_mpi:BodoEngine",
                   "mpiexec -n 2, import bodo, first calls (compile)", requires=(BODO,)),
    ]
    return chosen


def ship_by_value() -> None:
    """Send ``perf.jobs`` inside every pickle instead of by name: a cluster, a Dask worker or a
    Ray worker may run where ``perf`` cannot be imported. Ray keeps its own cloudpickle."""
    cloudpickle.register_pickle_by_value(jobs)
    ray_cloudpickle = sys.modules.get("ray.cloudpickle")
    if ray_cloudpickle is not None:
        ray_cloudpickle.register_pickle_by_value(jobs)
