"""A soak of a real service: many clients, many mixed blocks, malformed frames on every port.

    python -m tests.soak [--clients 4] [--blocks 1000] [--fuzz 2000]

Starts a ``ufora-service`` (manager + worker on loopback, every port free), then:
1. measures the comprehension over 30,000 strings of 100 characters against local CPython (the
   reproduction of the pipe deadlock);
2. runs ``--clients`` client processes at once, each ``--blocks`` blocks drawn in a fixed order:
   trivial, an int sum, a raising block, a remote array created, summed and freed,
   define/submit/toLocal, and one block in ten printing 1 MB; each answer is checked;
3. sends ``--fuzz`` malformed frames to each of the registry, control and data ports, and as many
   malformed socket.io events, then checks the service still answers.
Reports errors, wrong answers, the RSS and open file descriptors of every service process before
and after, and what is left in /dev/shm of the service. Not part of ``make test``: the figures
go in closing notes (see the README's "What keeps a service serving").
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import socket
import struct
import sys
import time
from typing import Dict, List

import numpy as np

import pyfora
from ufora.engine import proc, shm
from ufora.net import schema, wire
from tests.conftest import Service, client_claim, descendants, manager_status, one_host

KINDS = ["trivial", "sum", "raising", "remote_array", "submit", "trivial", "sum", "submit", "raising", "printing"]


def sum_of_squares(n: int) -> int:
    return sum(i * i for i in range(n))


def _one_block(ufora: pyfora.Executor, kind: str, index: int) -> bool:
    """Run one block of ``kind``; True when its answer is CPython's."""
    if kind == "trivial":
        with ufora.remotely.downloadAll():
            value = index + 1
        return value == index + 1
    if kind == "sum":
        with ufora.remotely.downloadAll():
            total = sum(i * i for i in range(100_000 + index))
        return total == sum_of_squares(100_000 + index)
    if kind == "raising":
        try:
            with ufora.remotely.downloadAll():
                ratio = index / 0  # noqa: F841
        except pyfora.ComputationError as exc:  # the original pyfora's API: the exception inside
            return isinstance(exc.remoteException, ZeroDivisionError) and str(exc.remoteException) == "division by zero"
        return False
    if kind == "remote_array":
        with ufora.remotely:
            array = np.arange(200_000, dtype=np.float64)
        with ufora.remotely.downloadAll():
            total = float(array.sum())
        del array
        return total == float(np.arange(200_000, dtype=np.float64).sum())
    if kind == "submit":
        proxy = ufora.define(1000 + index).result(timeout=60)
        value = ufora.submit(sum_of_squares, proxy).result(timeout=60).toLocal().result(timeout=60)
        return value == sum_of_squares(1000 + index)
    if kind == "printing":
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            with ufora.remotely.downloadAll():
                for line in range(10_000):
                    print(f"{line:09d}" + "x" * 90)
        lines = captured.getvalue().splitlines()
        return len(lines) == 10_000 and lines[-1] == f"{9_999:09d}" + "x" * 90
    raise ValueError(kind)


def _client(url: str, blocks: int, seed: int, results: "multiprocessing.Queue") -> None:
    counts = {"blocks": 0, "wrong": 0, "errors": 0, "first_error": ""}
    with pyfora.connect(url, progress=False) as ufora:
        for index in range(blocks):
            kind = KINDS[(index + seed) % len(KINDS)]
            try:
                counts["wrong"] += not _one_block(ufora, kind, index)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                counts["errors"] += 1
                counts["first_error"] = counts["first_error"] or f"{kind}: {exc!r}"[:300]
            counts["blocks"] += 1
    results.put(counts)


def _service_processes(service: Service) -> Dict[str, int]:
    pids = [service.process.pid, *descendants(service.process.pid)]
    return {"processes": len(pids), "rss_mib": sum(proc.resident_bytes(pid) for pid in pids) >> 20,
            "fds": sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids if os.path.isdir(f"/proc/{pid}/fd"))}


def _objects_left(url: str, timeout: float) -> int:
    """The remote objects the manager and the worker still hold: once none are (the worker's
    count travels with its heartbeat), or what is left after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status = manager_status(url)
        held = status["objects"] + sum(member.get("objects", 0) for member in status["members"])
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


def _deadlock_reproduction(url: str) -> Dict[str, float]:
    lines = [("line %05d " % i) * 10 for i in range(30_000)]
    local, remote = [], []
    with pyfora.connect(url, progress=False) as ufora:
        for _ in range(5):
            started = time.perf_counter()
            expected = [s.upper() for s in lines]
            local.append(time.perf_counter() - started)
            started = time.perf_counter()
            with ufora.remotely.downloadAll():
                upper = [s.upper() for s in lines]
            remote.append(time.perf_counter() - started)
            assert upper == expected
    return {"local_ms": round(1000 * min(local), 1), "remote_ms": round(1000 * min(remote), 1),
            "ratio": round(min(remote) / min(local), 1)}


_FUZZ = [
    b"GET / HTTP/1.1\r\n\r\n",
    wire.PREFIX.pack(b"UF", 9, 0, 2, 0) + b"{}",
    wire.PREFIX.pack(b"UF", 1, 0, wire.MAX_HEADER + 1, 0),
    wire.PREFIX.pack(b"UF", 1, 0, 2, 1) + struct.pack(">Q", 1 << 40) + b"{}",
    wire.PREFIX.pack(b"UF", 1, 0, 5, 0) + b"{oops",
    b"".join(wire.encode({"type": "launch_missiles"})),
    b"".join(wire.encode({"type": "run_block", "job_id": []})),
]


def _fuzz_port(port: int, frames: int) -> int:
    sent = 0
    for index in range(frames):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(_FUZZ[index % len(_FUZZ)])
            sock.settimeout(5)
            while sock.recv(65536):
                pass
            sent += 1
    return sent


def _fuzz_socketio(url: str, events: int) -> int:
    import socketio

    client = socketio.Client()
    client.connect(url, transports=["websocket"], auth=client_claim(url))
    try:
        for index in range(events):
            event = [schema.SUBMIT, schema.FETCH, schema.CANCEL, schema.RELEASE, "nonsense"][index % 5]
            client.emit(event, [None, 1, "x", [], {"job_id": {}}][index % 5])
    finally:
        client.disconnect()
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--fuzz", type=int, default=2000)
    args = parser.parse_args()
    service = Service(one_host(2))
    report: Dict[str, object] = {}
    try:
        with pyfora.connect(service.url, progress=False) as warm:
            for kind in set(KINDS):
                _one_block(warm, kind, 0)
        report["before"] = _service_processes(service)
        report["deadlock_reproduction"] = _deadlock_reproduction(service.url)
        results: "multiprocessing.Queue" = multiprocessing.get_context("spawn").Queue()
        started = time.monotonic()
        clients = [multiprocessing.get_context("spawn").Process(
            target=_client, args=(service.url, args.blocks, seed, results)) for seed in range(args.clients)]
        for client in clients:
            client.start()
        counts: List[dict] = [results.get(timeout=3600) for _ in clients]
        for client in clients:
            client.join()
        report["blocks"] = {"clients": args.clients, "blocks": sum(c["blocks"] for c in counts),
                            "wrong_answers": sum(c["wrong"] for c in counts),
                            "errors": sum(c["errors"] for c in counts),
                            "first_error": next((c["first_error"] for c in counts if c["first_error"]), ""),
                            "seconds": round(time.monotonic() - started, 1)}
        ports = service.ports
        report["fuzz"] = {name: _fuzz_port(ports[key], args.fuzz) for name, key in
                          [("registry", "registry_port"), ("control", "control_port"), ("data", "data_port")]}
        report["fuzz"]["socketio_events"] = _fuzz_socketio(service.url, args.fuzz)
        with pyfora.connect(service.url, progress=False) as after:
            report["answers_after_fuzz"] = _one_block(after, "sum", 7)
        report["objects_left"] = _objects_left(service.url, timeout=30)
        report["after"] = _service_processes(service)
        report["shm_left_mib"] = sum(os.stat(f"/dev/shm/{name}").st_size for name in os.listdir("/dev/shm")
                                     if shm.owner(name) == service.process.pid) >> 20
        report["log_tracebacks"] = service.log.count("Traceback")
    finally:
        service.stop()
        service.close_log()
    report["shm_left_after_stop"] = len([n for n in os.listdir("/dev/shm") if shm.owner(n) == service.process.pid])
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
