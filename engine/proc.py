"""What /proc says about a process: the one reader of it in the engine and services."""
from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Iterator, List

ENGINE_THREADS = "ufora"  # the names of the engine's own threads begin so (background compiles, output)
_PR_SET_NAME = 15


_libc = ctypes.CDLL(None)


def set_name(name: str) -> None:
    """This process's name as ``ps``, ``top`` and /proc/<pid>/comm show it (at most 15 bytes):
    a worker's zygotes and compute processes are told apart by it."""
    _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans among this process's descendants become its children (not init's): a compute
    process whose zygote died, the standby that zygote forked, stay below their worker."""
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@contextlib.contextmanager
def named(title: str) -> Iterator[None]:
    """This process named ``title`` for a while: around a fork, so that the child has its name
    from its first instant (named after the fork, it was seen by its old name for a moment)."""
    pid = os.getpid()
    before = name(pid)
    set_name(title)
    try:
        yield
    finally:
        if os.getpid() == pid:  # the child forked inside keeps it
            set_name(before)


def name(pid: int) -> str:
    """The name of a process (``set_name``); "" if it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> List[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); OSError if gone."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process used so far (0 if it is gone)."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
