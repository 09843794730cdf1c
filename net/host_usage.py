"""What a worker's host has in use, sent with each heartbeat for the dashboard (``net.dashboard``):
memory used and the budget it is measured against (the cgroup's limit where one is set, as in a
container, else the machine's memory), shared memory in use (``/dev/shm``, where the engine's
segments live) and the load average. Each reading is a few small file reads; one that fails
(another kernel, a missing file) is left out, never an error in the heartbeat."""
from __future__ import annotations

import os
import shutil
from typing import Dict, Optional

_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


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


def _cgroup_limit() -> Optional[int]:
    for path in _CGROUP_LIMITS:
        try:
            with open(path) as file:
                text = file.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max", or cgroup v1's "no limit" (a huge number)
            return int(text)
    return None


def usage() -> Dict[str, float]:
    """{memory_used, memory_budget, shm_used (bytes), load (1-minute average)}, those readable."""
    found: Dict[str, float] = {}
    try:
        info = _meminfo()
        total = info["MemTotal"]
        found["memory_used"] = total - info.get("MemAvailable", info.get("MemFree", 0))
        found["memory_budget"] = min(total, _cgroup_limit() or total)
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
