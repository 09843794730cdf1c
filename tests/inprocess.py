"""An in-process cluster for fast protocol tests: a ``ManagerService`` and one or more
``WorkerService``s in the test process, on one asyncio loop in a background thread, over real
loopback sockets on ports the kernel picked, with a random cluster secret.

Beside the subprocess clusters (``tests.conftest.Service``), it starts in a fraction of the time
and lets a test look inside: ``manager.state`` (the pure ``ManagerState``, and its
``validate_state()``), a worker's channels and scheduler, and the services' logs through
``caplog``. What runs on the cluster's loop (the services' state is the loop's alone) goes through
``run(coroutine)`` or ``call(function)``.

What ``net.service._serve`` does and this does not, because it holds for a whole process: no
signal handlers (they belong to the main thread, and to pytest), no ``loop_health.watch()`` (it
patches every asyncio loop of the process, pytest's and the clients' too). What it shares with
the test process: the channels' secret (``net.channel.use_secret`` is per process: set while the
cluster runs, restored after, so every service here has the same one) and the compute pools'
shared-memory tag (``engine.shm.become_service`` is per process: each pool forked takes a new
one, so a worker serves byte ranges of its segments to peers only if its pool was forked last;
tests of that peer protocol need the subprocess clusters), and the refusals already logged
(``net.auth.log_refusal`` says each once per address and process: cleared when a cluster starts).
And two compute pools in one process: each pool's zygote, forked from the test process, holds
copies of the descriptors of the pools forked before it, so they are stopped last forked first.
"""
from __future__ import annotations

import asyncio
import secrets
import threading
from typing import Any, Callable, Coroutine, Dict, List, Optional, TypeVar

import tornado.httpserver

from ufora.engine.pool import ComputePool
from ufora.net import auth
from ufora.net import channel as channels
from ufora.net.manager import ManagerService
from ufora.net.worker import WorkerService

T = TypeVar("T")
START_TIMEOUT = 30.0  # seconds for every worker to register and its control channel to open


class InProcessCluster:
    """A manager and ``workers`` workers of ``cores`` compute processes each; ``stop()`` (or
    leaving the ``with``) stops them all, whatever state they are in."""

    host = "127.0.0.1"

    def __init__(self, workers: int = 2, cores: int = 1, session_grace: float = 60.0, local_first: bool = False):
        self._local_first = local_first  # the first worker is the manager's own, as in one ufora-service
        self.secret = secrets.token_hex(16)
        self.manager: Optional[ManagerService] = None
        self.workers: List[WorkerService] = []
        self.ports: Dict[str, int] = {}
        self._pools: List[ComputePool] = []
        self._session_grace = session_grace
        self._previous_secret = channels._secret  # the process's, restored by stop()
        auth._refusals_logged.clear()  # said once per address and process: once per cluster here
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="inprocess-cluster")
        try:
            for _ in range(workers):  # forked before the loop's thread exists (a fork copies the locks it holds)
                self._pools.append(ComputePool(cores))
            channels.use_secret(self.secret.encode())
            self._thread.start()
            self.run(self._start(), timeout=START_TIMEOUT + 10)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        """The manager's URL, for ``pyfora.connect(url, secret=cluster.secret)``."""
        return f"http://{self.host}:{self.ports['http_port']}"

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coroutine`` on the cluster's loop; its result (or its exception) here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the cluster's loop, between two of its steps (where the
        services' state is whole): ``cluster.call(cluster.manager.state.validate_state)``."""
        async def called() -> T:
            return function(*args)
        return self.run(called())

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        """Until ``condition()``, evaluated on the cluster's loop, is true; an AssertionError
        naming ``what`` after ``timeout``."""
        self.run(_until(condition, what, timeout), timeout + 5)

    def __enter__(self) -> "InProcessCluster":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _start(self) -> None:
        self.manager = ManagerService(0, 0, session_grace=self._session_grace, secret=self.secret.encode())
        self.ports = await self.manager.start()
        for pool in self._pools:
            worker = WorkerService(pool, self.host, self.host, self.ports["registry_port"], 0, 0)
            self.workers.append(worker)  # before it starts: stopped whatever happens next
            if self._local_first and len(self.workers) == 1:
                self.manager.local_control = worker.local_control
            await worker.start()
        manager = self.manager
        await _until(lambda: all(worker.id in manager.state.members and manager.state.members[worker.id].ready
                                 for worker in self.workers), "every worker to join", START_TIMEOUT)

    def stop(self) -> None:
        """Stop the workers (their pools reaped, their segments swept), then the manager; cancel
        what they left running; then the loop and its thread end, and the process's channel
        secret is what it was. Once: a second call does nothing."""
        if self.loop.is_closed():
            return
        try:
            if self._thread.is_alive():
                self.run(self._stop(), timeout=30)
            else:  # the start failed before the loop ran: only the pools were made
                for pool in reversed(self._pools):
                    pool.stop()
        finally:
            if self._thread.is_alive():
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join()  # it closes the loop
            else:
                self.loop.close()
            channels.use_secret(self._previous_secret)

    async def _stop(self) -> None:
        # Last forked, first stopped: a pool's zygote holds copies of the descriptors of the pools
        # forked before it (their zygotes' sockets, their processes' pipes), which would not see
        # them close, and so not exit, while it lives.
        for pool in reversed(self._pools[len(self.workers):]):  # no worker was made for it (the start failed)
            pool.stop()
        for worker in reversed(self.workers):
            worker.stop()
        if self.manager is not None:
            await self.manager.sio.shutdown()
            self.manager.stop()
            for server in self.manager._servers:
                if isinstance(server, tornado.httpserver.HTTPServer):
                    await server.close_all_connections()
        # What the stopped services leave running, a process that exits would end with it: the
        # handlers of connections between them (a worker does not close the channels it dialed to
        # its peers), a disconnected client's ping timer. Cancelled, each closes its connection.
        current = asyncio.current_task()
        left = [task for task in asyncio.all_tasks() if task is not current]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

async def _until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
