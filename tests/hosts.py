"""Test hosts: network namespaces with their own addresses on one private bridge, made and
removed by the tests themselves (root only). Only these namespaces and loopback are contacted.

    switch namespace: bridge br0
    host namespace i: veth "u<tag><i>a" with 10.77.<tag>.<i + 1>/24, lo up
    this process:     veth "u<tag>ra" with 10.77.<tag>.254/24 (so tests reach the manager)

The subnet (and the tag naming the namespaces) is claimed with a lock file under LOCKS, so runs
in parallel (two clones, two users) never share one; a lock whose process is gone is taken over,
and what that run left behind is removed first.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

LOCKS = "/run/ufora-test-subnets"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable() -> Optional[str]:
    """Why namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"ufprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"this machine forbids network namespaces: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _claim_subnet() -> Tuple[int, str]:
    """(third octet of a 10.77.x.0/24 no other run holds and no interface here uses, its lock)."""
    os.makedirs(LOCKS, exist_ok=True)
    in_use = _ip("-o", "addr").stdout
    for third in range(100, 200):
        if f" 10.77.{third}." in in_use:
            continue
        lock = os.path.join(LOCKS, str(third))
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _holder_alive(lock):
                continue
            os.unlink(lock)  # its run is gone: the next run takes it (after removing its leftovers)
            continue
        os.write(descriptor, str(os.getpid()).encode())
        os.close(descriptor)
        return third, lock
    raise RuntimeError(f"no 10.77.x.0/24 subnet is free (locks in {LOCKS})")


def _holder_alive(lock: str) -> bool:
    try:
        with open(lock) as file:
            os.kill(int(file.read().strip() or 0), 0)
        return True
    except (OSError, ValueError):
        return False


class Hosts:
    def __init__(self, count: int):
        third, self._lock = _claim_subnet()
        self.subnet = f"10.77.{third}"
        self.tag = str(third)
        self.switch = f"ufsw{self.tag}"
        self.names: List[str] = []
        self.addresses: Dict[str, str] = {}
        self._root_veth = f"u{self.tag}ra"
        self._remove_leftovers(count)
        try:
            _ip("netns", "add", self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for index in range(count):
                self._add_host(index)
            self._attach(self._root_veth, f"u{self.tag}rb", None)
            _ip("addr", "add", f"{self.subnet}.254/24", "dev", self._root_veth)
            _ip("link", "set", self._root_veth, "up")
        except BaseException:
            self.remove()
            raise

    def _attach(self, outside: str, inside: str, namespace: Optional[str]) -> None:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", inside, "master", "br0", "up")
        if namespace is not None:
            _ip("link", "set", outside, "netns", namespace)

    def _add_host(self, index: int) -> None:
        name = f"ufh{self.tag}{index}"
        _ip("netns", "add", name)
        self.names.append(name)
        veth = f"u{self.tag}{index}a"
        self._attach(veth, f"u{self.tag}{index}b", name)
        address = f"{self.subnet}.{index + 1}"
        _ip("-n", name, "addr", "add", f"{address}/24", "dev", veth)
        _ip("-n", name, "link", "set", veth, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        self.addresses[name] = address

    def command(self, host: str) -> List[str]:
        """The prefix that runs a command inside ``host``."""
        return ["ip", "netns", "exec", host]

    def _remove_leftovers(self, count: int) -> None:
        """What a killed run with this tag left (its lock was taken over): gone before we begin."""
        _ip("link", "del", self._root_veth, check=False)
        for name in [f"ufh{self.tag}{index}" for index in range(count)] + [self.switch]:
            _ip("netns", "del", name, check=False)

    def remove(self) -> None:
        _ip("link", "del", self._root_veth, check=False)
        for name in self.names + [self.switch]:
            _ip("netns", "del", name, check=False)
        if os.path.exists(self._lock):
            os.unlink(self._lock)
