"""``ufora-service``: the one command the ``ufora/service`` image runs.

What runs is read from the UFORA_* variables (``net.config``). The compute pool is forked
first, before any event loop or socket exists; then the manager and/or the worker start on one
Tornado loop. SIGTERM and SIGINT stop everything, the compute processes included.

Two options exist for the embedded cluster that ``pyfora.connect()`` starts: ``--ready-fd N``
writes one JSON line with the bound ports to file descriptor N once the worker is registered,
and ``--exit-with-parent`` stops the service when the process that started it is gone.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import resource
import shutil
import signal
import sys
import tempfile
from typing import TYPE_CHECKING, Iterator, List, Optional

from ufora.net import config as service_config
from ufora.net import loop_health, tls
from ufora.net.version import __version__
from ufora.net.channel import CannotListen, use_secret, use_tls

if TYPE_CHECKING:
    from ufora.net.objects import Spill

log = logging.getLogger("ufora.service")


def setup_logging(log_dir: Optional[str], level: str) -> None:
    handler: logging.Handler
    if log_dir:
        handler = logging.FileHandler(os.path.join(log_dir, "ufora-service.log"))
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


async def _serve(config: service_config.ServiceConfig, pool, spill_folder: Optional[str], ready_fd: Optional[int],
                 exit_with_parent: bool) -> int:
    """Run the service until it is stopped: 0, or ``UNUSABLE``."""
    from ufora.net.manager import ManagerService
    from ufora.net.worker import WorkerService

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    manager = worker = None
    ports: dict = {}
    unusable: List[str] = []  # why the worker can compute no more (a worker-only service stops)
    try:
        if config.run_manager:
            manager = ManagerService(config.http_port, config.manager_port, config.client_timeout,
                                     config.session_grace, config.tls, config.cluster_secret)
            ports.update(await manager.start())
        if config.run_worker:
            worker = WorkerService(pool, config.worker_own_address, config.manager_address,
                                   ports.get("registry_port", config.manager_port),
                                   config.worker_base_port, config.worker_data_port, config.always_split,
                                   _spill(config, spill_folder))
            if manager is not None:  # before it registers: the manager reaches it in process
                manager.local_control = worker.local_control
            else:
                worker.on_unusable = functools.partial(_stop_unusable, stopping, unusable)
            info = await worker.start()
            ports.update(control_port=info.control_port, data_port=info.data_port)
        if ready_fd is not None:
            if worker is not None:
                await _registered_unless_stopped(worker.registry.registered, stopping)
            if not stopping.is_set():
                with os.fdopen(ready_fd, "w") as ready:
                    ready.write(json.dumps(ports) + "\n")
        loop_health.watch()  # from now on (starting up is slow, and nothing waits on it yet)
        if exit_with_parent:
            parent = os.getppid()
            while not stopping.is_set() and os.getppid() == parent:
                await asyncio.sleep(0.2)
            stopping.set()
        await stopping.wait()
        log.info("stopping")
    finally:
        if worker is not None:
            worker.stop()
        if manager is not None:
            manager.stop()
    return UNUSABLE if unusable else 0


UNUSABLE = 3  # the exit status of a worker-only service that can compute no more


def _stop_unusable(stopping: asyncio.Event, unusable: List[str], why: str) -> None:
    """A worker-only service whose compute pool is gone stops (exit status ``UNUSABLE``): the
    manager then runs its blocks on the other workers, and a supervisor (Docker's restart policy,
    systemd) starts it again whole. Before, it stayed registered with no process, and every
    block the manager sent it failed."""
    log.critical("this worker can compute no more: %s; stopping, to be restarted", why)
    unusable.append(why)
    stopping.set()


async def _registered_unless_stopped(registered: asyncio.Event, stopping: asyncio.Event) -> None:
    """Until the worker is registered, or SIGTERM or SIGINT came first (a worker its manager
    refuses retries until then: stopping it must not wait out the 30 s); TimeoutError after 30 s."""
    waits = [asyncio.ensure_future(registered.wait()), asyncio.ensure_future(stopping.wait())]
    try:
        done, _ = await asyncio.wait(waits, timeout=30.0, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    if not done:
        raise TimeoutError


def _spill(config: service_config.ServiceConfig, folder: Optional[str]) -> Optional["Spill"]:
    """Where and past what the worker's remote objects spill (``net.objects``): past half its
    memory budget, the other half left to blocks."""
    from ufora.engine import spill_files
    from ufora.net.objects import Spill, sweep_spill_folder  # noqa: F811 (imported at the top for mypy alone)

    if folder is None or config.worker_memory is None:
        return None
    swept = sweep_spill_folder(folder) + _sweep_dead_service_folders(SPILL_PARENT, SPILL_PREFIX)
    if swept:
        log.warning("removed %d spilled objects left by worker services no longer alive", swept)
    if spill_files.in_memory(folder):
        log.warning("the spill folder %s is in memory (tmpfs): remote objects spilled there free no memory; "
                    "set UFORA_SPILL_DIR to a folder on a disk", folder)
    return Spill(folder, config.worker_memory // 2)


def _sweep_dead_service_folders(parent: str, prefix: str) -> int:
    """Remove the temporary folders (``prefix`` + pid + "-" + its random part, in ``parent``:
    spill, kernels) of this user's services that were killed before they could remove them; how
    many files they held. Without this, every killed worker left its folder behind for good."""
    from ufora.engine import proc

    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        pid, dash, rest = entry.name[len(prefix):].partition("-")
        if not (entry.name.startswith(prefix) and pid.isdigit() and dash and rest) or proc.alive(int(pid)):
            continue
        try:  # another process may remove an entry of a busy /tmp meanwhile
            if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid():
                removed += sum(len(files) for _, _, files in os.walk(entry.path))
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue
    return removed


def _raise_descriptor_limit() -> None:
    """Every connection and pipe is a file descriptor; the usual soft limit (1024) is far below
    what the hard limit allows a service."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ufora-service",
                                     description="Run a ufora manager and/or worker, as the UFORA_* variables "
                                                 "below say.",
                                     epilog=service_config.describe_settings(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO (the default), WARNING or ERROR")
    args = parser.parse_args(argv)
    try:
        config = service_config.parse(os.environ)
    except service_config.ConfigError as exc:
        print(f"ufora-service: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_dir, args.log_level.upper())
    use_secret(config.cluster_secret)
    use_tls(tls.server_context(*config.tls) if config.tls else None,
            tls.peer_context(config.tls_ca) if config.tls_ca else None)
    one_sided = tls.one_sided(config.tls is not None, config.tls_ca is not None)
    if one_sided:
        log.warning(one_sided)
    if config.cluster_secret is None:
        log.warning("UFORA_CLUSTER_SECRET is not set: anyone who reaches this service's ports can join the "
                    "cluster, run code on it and change its answers; set the same secret on every service")
    pool = None
    if config.run_worker and config.kernel_cache_dir is None:
        _sweep_dead_service_folders(tempfile.gettempdir(), KERNELS_PREFIX)
    with _worker_folder(config, config.kernel_cache_dir, f"{KERNELS_PREFIX}{os.getpid()}-") as kernel_folder, \
            _worker_folder(config, config.spill_dir, f"{SPILL_PREFIX}{os.getpid()}-", SPILL_PARENT) as spill_folder:
        if config.run_worker:
            from ufora.engine import shm
            from ufora.engine.pool import ComputePool

            swept = shm.sweep_dead_services()
            if swept:
                log.warning("removed %d shared-memory segments left by worker services no longer alive", swept)
            pool = ComputePool(config.worker_cores, kernel_folder, config.compile_behind, config.worker_memory,
                               config.preload, reaper=True)
        _raise_descriptor_limit()  # after the pool is forked: blocks keep the usual limit
        return _run(config, pool, spill_folder, args)


SPILL_PARENT = "/var/tmp"  # on a disk where /tmp may be tmpfs (a spill there would free no memory)
SPILL_PREFIX = "ufora-spill-"  # + the service's pid + "-": the temporary spill folders of services
KERNELS_PREFIX = "ufora-kernels-"  # + the service's pid + "-": the temporary kernel folders (in /tmp)


@contextlib.contextmanager
def _worker_folder(config: service_config.ServiceConfig, configured: Optional[str], prefix: str,
                   parent: Optional[str] = None) -> Iterator[Optional[str]]:
    """A folder of the worker's own (compiled kernels: ``engine.kernel_cache``; spilled remote
    objects: ``net.objects``): the one configured, made if needed; else a temporary one (the
    embedded cluster, tests) in ``parent`` where it is writable, removed when the service stops,
    so that no two services share it by accident."""
    if not config.run_worker:
        yield None
    elif configured is not None:
        os.makedirs(configured, exist_ok=True)
        yield configured
    else:
        where = parent if parent is not None and os.access(parent, os.W_OK) else None
        with tempfile.TemporaryDirectory(prefix=prefix, dir=where) as folder:
            yield folder


def _run(config: service_config.ServiceConfig, pool, spill_folder: Optional[str], args: argparse.Namespace) -> int:
    try:
        status = asyncio.run(_serve(config, pool, spill_folder, args.ready_fd, args.exit_with_parent))
    except TimeoutError:
        print("ufora-service: the worker could not register with its manager within 30 s",
              file=sys.stderr)
        return 1
    except CannotListen as exc:  # a port in use: one line naming it, not a traceback
        print(f"ufora-service: {exc.strerror}", file=sys.stderr)
        return 2
    except OSError as exc:  # an address not ours
        print(f"ufora-service: cannot listen: {exc}", file=sys.stderr)
        return 1
    if status == UNUSABLE:
        print("ufora-service: this worker can compute no more (its compute pool is gone): restart it",
              file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
