"""What a worker's host has in use, sent with each heartbeat for the dashboard (``net.dashboard``):
memory used and the budget it is measured against (the cgroup's limit where one is set, as in a
container, else the machine's memory), shared memory in use (``/dev/shm``, where the engine's
segments live) and the load average. Each reading is a few small file reads; one that fails
(another kernel, a missing file) is left out, never an error in the heartbeat."""
from __future__ import annotations

import os
import shutil
from typing import Dict

from ufora.engine import host_memory

FIELDS = ("memory_used", "memory_budget", "shm_used", "load")


def usage() -> Dict[str, float]:
    """{memory_used, memory_budget, shm_used (bytes), load (1-minute average)}, those readable."""
    found: Dict[str, float] = {}
    try:
        info = host_memory.meminfo()
        total = info["MemTotal"]
        limited = host_memory.cgroup_memory()
        if limited is not None and limited[0] < total:  # a container's: its own usage against its limit
            found["memory_budget"], found["memory_used"] = limited
        else:
            found["memory_budget"], found["memory_used"] = total, total - info.get("MemAvailable", info["MemFree"])
    except (OSError, KeyError):
        pass
    try:
        found["shm_used"] = shutil.disk_usage("/dev/shm").used
    except OSError:
        pass
    try:
        found["load"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return found
