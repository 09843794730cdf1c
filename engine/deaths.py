"""Why a compute process died, said so that a user can act on it.

A bare "compute process died" leaves the user guessing; the kernel knows more. The worker
samples its processes' resident memory and the host's count of out-of-memory kills as it runs
(``Watch.sample``), reaps the dead process's wait status, and turns them into a sentence such as
"killed by signal 9 (SIGKILL) — the kernel's out-of-memory killer, at 5.8 GiB resident".
"""
from __future__ import annotations

import os
import signal
from typing import Dict, Iterable

from ufora.engine import proc


def oom_kills() -> int:
    """How many processes the kernel's out-of-memory killer has killed in this process's cgroup
    (a container's, or a memory-limited service's), else on this host: 0 if unknown."""
    for path in (_cgroup_file("memory.events"), "/proc/vmstat"):
        try:
            with open(path) as counters:
                for line in counters:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def _cgroup_file(name: str) -> str:
    try:
        with open("/proc/self/cgroup") as cgroup:
            path = next(line.split(":", 2)[2].strip() for line in cgroup if line.startswith("0::"))
    except (OSError, StopIteration, IndexError):
        return ""
    return os.path.join("/sys/fs/cgroup", path.lstrip("/"), name)


class Watch:
    """The last resident size seen of each process, and the OOM-kill count seen then."""

    def __init__(self) -> None:
        self.resident: Dict[int, int] = {}
        self.oom_kills = oom_kills()

    def sample(self, pids: Iterable[int]) -> None:
        self.resident = {pid: proc.resident_bytes(pid) for pid in pids}
        self.oom_kills = oom_kills()

    def describe(self, pid: int, status: int) -> str:
        """How process ``pid`` ended, from its wait status (-1: unknown)."""
        resident = self.resident.pop(pid, 0)
        if status == -1:
            return "ended for a reason its worker could not learn"
        if os.WIFEXITED(status):
            return f"exited with code {os.WEXITSTATUS(status)}"
        if not os.WIFSIGNALED(status):
            return f"ended with wait status {status}"
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        said = f"was killed by signal {number} ({name})"
        if number == signal.SIGKILL and oom_kills() > self.oom_kills:
            said += " — the kernel's out-of-memory killer"
        elif number == signal.SIGSEGV:
            said += " — a crash in compiled or C code"
        if resident:
            said += f", at {resident / 2 ** 30:.1f} GiB resident"
        return said
