"""How much memory this host has, and this process's cgroups let it use (a container's limit, a
memory-limited service's): read from /proc and /sys/fs/cgroup (v1's memory controller or v2),
for the dashboard (``net.host_usage``), the worker's memory budget (``net.config``) and each
compute process's limit (``engine.memory_limits``)."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

# (the limit, the usage) of cgroup v2, then v1
_CGROUP_FILES = (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes"))
_CGROUP_ROOTS = ("/sys/fs/cgroup/memory", "/sys/fs/cgroup")  # (v1's memory controller's, v2's)


def meminfo() -> Dict[str, int]:
    """/proc/meminfo's fields, in bytes."""
    fields: Dict[str, int] = {}
    with open("/proc/meminfo") as lines:
        for line in lines:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return fields


def number_in(path: str) -> Optional[int]:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) < 1 << 60 else None  # not "max", nor v1's "no limit"


def cgroup_memory() -> Optional[Tuple[int, int]]:
    """(the limit, the usage) of this process's memory cgroup, when it has a limit."""
    for (limit_file, usage_file), root in zip(_CGROUP_FILES, _CGROUP_ROOTS[::-1]):
        limit, used = number_in(os.path.join(root, limit_file)), number_in(os.path.join(root, usage_file))
        if limit is not None and used is not None:
            return limit, used
    return None


def limit() -> int:
    """The memory this process may ever use: the host's, or less where a cgroup of it (or of one
    it is nested in) sets a limit."""
    found = [meminfo()["MemTotal"]]
    for folder, (limit_file, _) in _own_memory_cgroups():
        found += [number for number in (number_in(os.path.join(up, limit_file)) for up in _upwards(folder))
                  if number is not None]
    return min(found)


def _upwards(folder: str) -> List[str]:
    """``folder`` and the cgroups it is nested in, up to its hierarchy's root."""
    found = []
    while folder.startswith(_CGROUP_ROOTS):
        found.append(folder)
        if folder in _CGROUP_ROOTS:
            break
        folder = os.path.dirname(folder)
    return found


def available() -> int:
    """The memory this process could still take: the host's available memory, or less where a
    cgroup of it (or of one it is nested in: a container's, a memory-limited service's) sets a
    limit, less what that cgroup uses already (the client and the service beside the workers),
    but for the files it has cached, which the kernel takes back before it kills anything (a
    worker that read a large file would otherwise have seemed full)."""
    info = meminfo()
    found = [info.get("MemAvailable", info["MemFree"])]
    for folder, (limit_file, usage_file) in _own_memory_cgroups():
        for up in _upwards(folder):
            cap, used = (number_in(os.path.join(up, name)) for name in (limit_file, usage_file))
            if cap is not None:
                found.append(max(0, cap - (used or 0) + _file_cache(up)))
    return min(found)


def shared_available() -> int:
    """``available``, and no more than /dev/shm has free (its own size limit)."""
    room = available()
    try:
        stats = os.statvfs("/dev/shm")
        room = min(room, stats.f_bavail * stats.f_frsize)
    except OSError:
        pass
    return room


def _file_cache(folder: str) -> int:
    """The bytes of files a cgroup has cached (``memory.stat``: its file pages, active and
    inactive; not tmpfs's, such as /dev/shm's segments, which cannot be taken back)."""
    cached = {}
    try:
        with open(os.path.join(folder, "memory.stat")) as lines:
            for line in lines:
                name, _, value = line.partition(" ")
                cached[name] = int(value)
    except (OSError, ValueError):
        return 0
    v1 = "total_inactive_file" in cached  # (v1's own counts leave out its children's)
    return sum(cached.get(("total_" if v1 else "") + name, 0) for name in ("active_file", "inactive_file"))


def _own_memory_cgroups() -> List[Tuple[str, Tuple[str, str]]]:
    """(folder, (its limit file, its usage file)) of this process's memory cgroups: v1's
    ``memory`` controller's, v2's unified one (where /sys/fs/cgroup is v2's)."""
    found = []
    try:
        with open("/proc/self/cgroup") as lines:
            for line in lines:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if "memory" in controllers.split(","):
                    found.append((os.path.normpath("/sys/fs/cgroup/memory" + path), _CGROUP_FILES[1]))
                elif controllers == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                    found.append((os.path.normpath("/sys/fs/cgroup" + path), _CGROUP_FILES[0]))
    except (OSError, ValueError):
        pass
    return found


def data_held() -> Optional[int]:
    """The private writable memory this process has mapped (``VmData``: what ``RLIMIT_DATA``
    counts), in bytes."""
    try:
        with open("/proc/self/status") as lines:
            for line in lines:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
