"""Test hosts: network namespaces with their own addresses on one private bridge, made and
removed by the tests themselves (root only). Only these namespaces and loopback are contacted.

    switch namespace: bridge br0
    host namespace i: veth "u<tag><i>a" with 10.<net>.<sub>.<i + 1>/24, lo up
    this process:     veth "u<tag>ra" with 10.<net>.<sub>.254/24 (so tests reach the manager)
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List, Optional

SUBNET = f"10.77.{100 + os.getpid() % 100}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable() -> Optional[str]:
    """Why namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"ufprobe{os.getpid() % 10000}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"this machine forbids network namespaces: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class Hosts:
    def __init__(self, count: int):
        self.tag = f"{os.getpid() % 10000:04d}"
        self.switch = f"ufsw{self.tag}"
        self.names: List[str] = []
        self.addresses: Dict[str, str] = {}
        self._root_veth = f"u{self.tag}ra"
        try:
            _ip("netns", "add", self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for index in range(count):
                self._add_host(index)
            self._attach(self._root_veth, f"u{self.tag}rb", None)
            _ip("addr", "add", f"{SUBNET}.254/24", "dev", self._root_veth)
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
        address = f"{SUBNET}.{index + 1}"
        _ip("-n", name, "addr", "add", f"{address}/24", "dev", veth)
        _ip("-n", name, "link", "set", veth, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        self.addresses[name] = address

    def command(self, host: str) -> List[str]:
        """The prefix that runs a command inside ``host``."""
        return ["ip", "netns", "exec", host]

    def remove(self) -> None:
        _ip("link", "del", self._root_veth, check=False)
        for name in self.names + [self.switch]:
            _ip("netns", "del", name, check=False)
