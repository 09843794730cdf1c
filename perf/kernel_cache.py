"""What the kernel cache on disk and compiling behind the partitions save: the tutorial's first
run (its first block on a freshly started one-host service with 2 compute processes) with an
empty kernel folder, its first partitions waiting for numba (``UFORA_COMPILE=first``: cold), or
not waiting (the default, ``background``: the partitions begin in CPython and go on compiled
once the kernel is ready), against the same with the folder already filled by an earlier service
(warm: the kernel is loaded), and against a fresh worker whose peer already compiled it (two
one-core workers: A, whose folder an earlier service filled, drives the block; B, with an empty
folder, computes A's partitions with the kernel it takes from A), interleaved round by round so
that the machine's load falls on all alike. The workers' ``kernels_compiled`` /
``kernels_loaded`` / ``kernels_fetched`` counters are read back to say which happened. The CPU
seconds the services' processes used during the block are given too: on a loaded machine they
show the compile saved where the wall time is noise.

Run by ``python -m perf`` after the cluster secret; ``python -m perf.kernel_cache [--quick]`` alone.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, List, Tuple

import pyfora
from ufora.engine import proc
from perf.jobs import isPrime
from pyfora.embedded import launch

N = 10_000_000  # the README's tutorial
EXPECTED = 664_581
# name: (what the row says, UFORA_COMPILE)
VARIANTS = {"cold": ("empty, the first partitions waiting for the compile (cold)", "first"),
            "behind": ("empty, compiling behind CPython partitions (the default)", "background"),
            "warm": ("filled by an earlier service (warm)", "background"),
            "peer": ("a fresh worker (empty) whose peer's folder an earlier service filled: 2 workers x 1 core",
                     "background")}
COUNTERS = ("kernels_compiled", "kernels_loaded", "kernels_fetched")


def _start(folder: str, compile_mode: str, cores: int = 2, manager: Dict[str, Any] = {}
           ) -> Tuple[subprocess.Popen, Dict[str, Any]]:
    """A service with a worker of ``cores`` processes keeping its kernels in ``folder``: with a
    manager of its own, or joining the one whose ports ``manager`` are; and its ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UFORA_")}
    env.update(UFORA_WORKER_BASE_PORT="0", UFORA_WORKER_OWN_ADDRESS="127.0.0.1", UFORA_WORKER_CORES=str(cores),
               UFORA_CLUSTER_SECRET="", UFORA_KERNEL_CACHE_DIR=folder, UFORA_COMPILE=compile_mode)
    if manager:
        env.update(UFORA_MANAGER_ADDRESS="127.0.0.1", UFORA_MANAGER_PORT=str(manager["registry_port"]))
    else:
        env.update(UFORA_WEB_HTTP_PORT="0", UFORA_MANAGER_PORT="0")
    process, ready = launch([sys.executable, "-m", "ufora.net.service", "--exit-with-parent", "--log-level", "ERROR"],
                            env, 60.0)
    line = ready()
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError("a ufora-service for the kernel cache benchmark did not start")
    return process, json.loads(line)


def _url(ports: Dict[str, Any]) -> str:
    return f"http://127.0.0.1:{ports['http_port']}"


def _members(url: str) -> List[dict]:
    with urllib.request.urlopen(url + "/api/status", timeout=10) as page:
        return json.load(page)["members"]


def _counts(url: str) -> Tuple[int, ...]:
    """(kernels compiled, loaded, fetched from a peer) by the workers, from their stats (they
    travel with heartbeats: read until both processes' reports are in, or 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        counts = tuple(sum(member.get(name, 0) for member in _members(url)) for name in COUNTERS)
        if sum(counts) >= 2 or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def _service_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and every process under it (the compute pool)."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += proc.cpu_seconds(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(child) for child in children.read().split())
        except OSError:
            pass
    return total


def _tutorial(ufora: Any, n: Any) -> int:
    """The tutorial's block, at one line for every variant: a block's element function is made
    from its source at its line, and another line would be another kernel."""
    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in range(n))
    return result


def _timed(ufora: Any, n: Any, pids: List[int]) -> Tuple[float, float]:
    """Seconds and CPU seconds (of the services ``pids``) of the tutorial's block."""
    began, cpu = time.perf_counter(), sum(map(_service_cpu, pids))
    result = _tutorial(ufora, n)
    seconds, cpu = time.perf_counter() - began, sum(map(_service_cpu, pids)) - cpu
    if result != EXPECTED:
        raise AssertionError(f"the tutorial gave {result}, not {EXPECTED}")
    return seconds, cpu


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(10)


def first_run(folder: str, compile_mode: str = "background") -> Tuple[float, float, Tuple[int, ...]]:
    """Seconds and CPU seconds of the tutorial's block on a fresh service using ``folder``, and
    its counters."""
    process, ports = _start(folder, compile_mode)
    try:
        with pyfora.connect(_url(ports), secret="", progress=False) as ufora:
            seconds, cpu = _timed(ufora, N, [process.pid])
        return seconds, cpu, _counts(_url(ports))
    finally:
        _stop(process)


def first_run_beside_peer(peer_folder: str, folder: str) -> Tuple[float, float, Tuple[int, ...]]:
    """The same on two fresh one-core workers: A keeps its kernels in ``peer_folder`` (filled)
    and drives the block (it holds the remote object ``n`` the block reads), B in ``folder``
    (empty) joins it and computes A's partitions."""
    a, ports = _start(peer_folder, "background", cores=1)
    services = [a]
    try:
        url = _url(ports)
        with pyfora.connect(url, secret="", progress=False) as ufora:
            with ufora.remotely:
                n = N
            services.append(_start(folder, "background", cores=1, manager=ports)[0])
            while len(_members(url)) < 2:
                time.sleep(0.05)
            seconds, cpu = _timed(ufora, n, [service.pid for service in services])
        return seconds, cpu, _counts(url)
    finally:
        for service in reversed(services):
            _stop(service)


def measure(quick: bool) -> Dict[str, Dict[str, object]]:
    """Median first-run seconds and CPU seconds, cold and warm, and the counters each saw."""
    rounds = 2 if quick else 4
    times: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    cpus: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    counts: Dict[str, set] = {name: set() for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="ufora-perf-kernels-") as root:
        warm = os.path.join(root, "warm")
        first_run(warm, "first")  # fills it
        for index in range(rounds):
            for name, (_, compile_mode) in VARIANTS.items():
                folder = os.path.join(root, f"{name}-{index}") if name != "warm" else warm
                if name == "peer":
                    os.mkdir(folder)
                    seconds, cpu, seen = first_run_beside_peer(warm, folder)
                else:
                    seconds, cpu, seen = first_run(folder, compile_mode)
                times[name].append(seconds)
                cpus[name].append(cpu)
                counts[name].add(seen)
    return {name: {"seconds": statistics.median(times[name]), "all": times[name], "cpu": statistics.median(cpus[name]),
                   "counts": sorted(counts[name])} for name in times}


def report(quick: bool) -> str:
    """A Markdown table of the variants."""
    figures = measure(quick)
    rows = ["| kernel folder | tutorial's first run (median) | runs | CPU seconds (median) "
            "| (compiled, loaded, fetched) |",
            "|---|---|---|---|---|"]
    for name, (label, _) in VARIANTS.items():
        measured = figures[name]
        runs = ", ".join(f"{seconds:.2f}" for seconds in measured["all"])  # type: ignore[attr-defined]
        rows.append(f"| {label} | {measured['seconds']:.2f} s | {runs} | {measured['cpu']:.2f} s | "
                    f"{measured['counts']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m perf.kernel_cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    print(report(parser.parse_args().quick))
