"""What the cluster secret costs: connecting, and the trivial block, on a one-host service with
UFORA_CLUSTER_SECRET against the same service open, measured in the same run, interleaved (so
that the machine's load falls on both alike). Target (issue 15): the trivial block with the secret
within 5% of without. The secret is proven once per connection (net.client_auth, net.auth), so a
block should cost nothing more; connecting costs one HTTP round trip more.

Run by ``python -m perf`` after the data channel; ``python -m perf.secret [--quick]`` alone.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import pyfora
from perf.engines.pyfora_cluster import _trivial_block
from pyfora.embedded import launch

TARGET_RATIO = 1.05


def _start(secret: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UFORA_")}
    env.update(UFORA_WEB_HTTP_PORT="0", UFORA_MANAGER_PORT="0", UFORA_WORKER_BASE_PORT="0",
               UFORA_WORKER_OWN_ADDRESS="127.0.0.1", UFORA_WORKER_CORES="1", UFORA_CLUSTER_SECRET=secret)
    process, ready = launch([sys.executable, "-m", "ufora.net.service", "--exit-with-parent", "--log-level", "ERROR"],
                            env, 60.0)
    line = ready()
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError("a ufora-service for the secret benchmark did not start")
    process.url = f"http://127.0.0.1:{json.loads(line)['http_port']}"  # type: ignore[attr-defined]
    return process


def _seconds(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def measure(quick: bool) -> Dict[str, Dict[str, float]]:
    """Median seconds of connecting and of the trivial block, with the secret and open."""
    blocks, connects = (100, 5) if quick else (400, 20)
    secret = secrets.token_hex(32)
    services = {"with the secret": (_start(secret), secret), "open": (_start(""), "")}
    try:
        times: Dict[str, Dict[str, List[float]]] = {name: {"connect": [], "block": []} for name in services}
        executors = {}
        for name, (service, key) in services.items():
            executors[name] = pyfora.connect(service.url, secret=key, progress=False)  # type: ignore[attr-defined]
            for _ in range(20):  # warm: the block's code cached on the worker
                _trivial_block(executors[name])
        for _ in range(connects):
            for name, (service, key) in services.items():
                times[name]["connect"].append(_seconds(lambda: pyfora.connect(
                    service.url, secret=key, progress=False).close()))  # type: ignore[attr-defined]
        for _ in range(blocks):
            for name in services:
                times[name]["block"].append(_seconds(lambda: _trivial_block(executors[name])))
        for executor in executors.values():
            executor.close()
        return {name: {what: statistics.median(values) for what, values in measured.items()}
                for name, measured in times.items()}
    finally:
        for service, _ in services.values():
            service.send_signal(signal.SIGTERM)
            service.wait(10)


def report(quick: bool) -> str:
    """A Markdown table of both, and the target line."""
    figures = measure(quick)
    rows = ["| cluster | connect (median) | trivial block (median) |", "|---|---|---|"]
    for name, measured in figures.items():
        rows.append(f"| {name} | {measured['connect'] * 1000:.1f} ms | {measured['block'] * 1000:.2f} ms |")
    ratio = figures["with the secret"]["block"] / figures["open"]["block"]
    rows.append("")
    rows.append(f"- {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}  trivial block with the cluster secret within "
                f"{(TARGET_RATIO - 1) * 100:.0f}% of without: {ratio:.3f}x")
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m perf.secret", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    print(report(parser.parse_args().quick))
