"""The facts printed above every result, so that a figure is never read without its machine,
and a wait for the machine to be quiet before anything is timed."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from importlib import metadata
from typing import Callable, Dict, List

PACKAGES = ("numpy", "numba", "tornado", "python-socketio", "cloudpickle", "lz4", "dask",
            "distributed", "ray", "matplotlib")


def _proc_field(path: str, key: str) -> str:
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _memory() -> str:
    kib = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    return f"{int(kib) / 1024 ** 2:.1f} GiB" if kib.isdigit() else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' (with uncommitted changes)' if dirty else ''}"


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def facts(load_at_start: str) -> Dict[str, str]:
    """Machine, interpreter and package versions, in order; called at the end of a run."""
    found = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": _commit(),
        "cores": f"{os.cpu_count()} ({platform.machine()}, {_proc_field('/proc/cpuinfo', 'model name')})",
        "memory": _memory(),
        "load average (1, 5, 15 min) at start": load_at_start,
        "load average at end": load_average(),  # others' work on the machine shows here
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    found.update({package: _version(package) for package in PACKAGES})
    return found


def _busy_fraction(interval: float) -> float:
    def sample() -> List[int]:
        with open("/proc/stat") as stat:
            return [int(n) for n in stat.readline().split()[1:]]
    before = sample()
    time.sleep(interval)
    delta = [b - a for a, b in zip(before, sample())]
    idle = delta[3] + delta[4]  # idle + iowait
    return 1.0 - idle / max(1, sum(delta))


def wait_until_quiet(log: Callable[[str], None], busy_below: float = 0.25,
                     longest: float = 15.0) -> None:
    """Return once the cores are mostly idle (or after ``longest`` seconds, saying so)."""
    deadline = time.monotonic() + longest
    try:
        while _busy_fraction(0.5) >= busy_below:
            if time.monotonic() > deadline:
                log(f"the machine is still busy after {longest:.0f} s; timing anyway")
                return
    except OSError:
        return  # no /proc/stat: nothing to wait for
