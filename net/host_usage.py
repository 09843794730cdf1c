"""What a worker's host has in use, sent with each heartbeat for the dashboard (``net.dashboard``):
memory used and the budget it is measured against (the cgroup's limit where one is set, as in a
container, else the machine's memory), shared memory in use (``/dev/shm``, where the engine's
segments live) and the load average. Each reading is a few small file reads; one that fails
(another kernel, a missing file) is left out, never an error in the heartbeat."""
from __future__ import annotations

import os
import shutil
from typing import Dict, Optional, Tuple

# (the limit, the usage) of cgroup v2, then v1
_CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))
FIELDS = ("memory_used", "memory_budget", "shm_used", "load")


def _meminfo() -> Dict[str, int]:
    """/proc/meminfo's fields, in bytes."""
    fields: Dict[str, int] = {}
    with open("/proc/meminfo") as lines:
        for line in lines:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return fields


def _number_in(path: str) -> Optional[int]:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) < 1 << 60 else None  # not "max", nor v1's "no limit"


def _cgroup_memory() -> Optional[Tuple[int, int]]:
    """(the limit, the usage) of this process's memory cgroup, when it has a limit."""
    for limit_file, usage_file in _CGROUP_FILES:
        limit, used = _number_in(limit_file), _number_in(usage_file)
        if limit is not None and used is not None:
            return limit, used
    return None


def usage() -> Dict[str, float]:
    """{memory_used, memory_budget, shm_used (bytes), load (1-minute average)}, those readable."""
    found: Dict[str, float] = {}
    try:
        info = _meminfo()
        total = info["MemTotal"]
        limited = _cgroup_memory()
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
