"""pyfora on two worker hosts with one core each, each host a network namespace of its own
with its own address, against the embedded cluster's one worker with two cores (DESIGN.md:
two one-core workers within 1.15x of one two-core worker).

The hosts are the ones the multi-host tests make (``tests/hosts.py``: namespaces, veth pairs
and a bridge, removed on close) and the services are started like theirs, through
``ufora-service`` with the seed's variables. Needs root and iproute2; elsewhere the rows say why.
"""
from __future__ import annotations

import json
import time
import urllib.request
from typing import List, Optional

from perf.engines.pyfora_cluster import PyforaEngine
from tests import hosts
from tests.conftest import Service


class PyforaHostsEngine(PyforaEngine):
    jobs = frozenset({"prime"})

    def __init__(self) -> None:
        super().__init__()
        self._lan: Optional[hosts.Hosts] = None
        self._services: List[Service] = []

    def start(self) -> None:
        why_not = hosts.unavailable()
        if why_not:
            raise RuntimeError(why_not)
        self._lan = hosts.Hosts(3)
        manager_host, *worker_hosts = self._lan.names
        manager = Service({"UFORA_NO_WORKER": "1"}, prefix=self._lan.command(manager_host))
        manager.host = self._lan.addresses[manager_host]
        self._services.append(manager)
        for host in worker_hosts:
            self._services.append(Service(
                {"UFORA_MANAGER_ADDRESS": manager.host, "UFORA_WORKER_CORES": "1",
                 "UFORA_WORKER_OWN_ADDRESS": self._lan.addresses[host]},
                prefix=self._lan.command(host)))
        deadline = time.monotonic() + 10
        while json.load(urllib.request.urlopen(manager.url + "/api/status", timeout=5))["workers"] < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the two workers did not register within 10 s")
            time.sleep(0.1)
        self._url = manager.url
        super().start()

    def close(self) -> None:
        super().close()
        for service in reversed(self._services):
            service.stop()
        if self._lan is not None:
            self._lan.remove()
