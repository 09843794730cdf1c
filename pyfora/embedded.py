"""An embedded local cluster: ``ufora-service`` (manager + one worker using every core) as a
child process on loopback, on free ports, owned by the client that started it.

It is stopped by ``stop()`` (``Executor.close()``), at interpreter exit, and by itself when the
client process disappears (``--exit-with-parent``), so it never outlives its client.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Optional

from pyfora.Exceptions import ConnectionError

_SERVICE_VARIABLES = ("UFORA_MANAGER_ADDRESS", "UFORA_NO_WORKER", "UFORA_WORKER_CORES")


class EmbeddedCluster:
    def __init__(self, cores: Optional[int] = None, timeout: float = 60.0):
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
        env.update(UFORA_WEB_HTTP_PORT="0", UFORA_MANAGER_PORT="0", UFORA_WORKER_BASE_PORT="0",
                   UFORA_WORKER_OWN_ADDRESS="127.0.0.1")
        if cores:
            env["UFORA_WORKER_CORES"] = str(cores)
        ready_read, ready_write = os.pipe()
        self.process: Optional[subprocess.Popen] = subprocess.Popen(
            [sys.executable, "-m", "net.service", "--ready-fd", str(ready_write),
             "--exit-with-parent", "--log-level", "WARNING"],
            pass_fds=[ready_write], env=env, start_new_session=True)
        os.close(ready_write)
        atexit.register(self.stop)
        try:
            ports = json.loads(read_line(ready_read, timeout))
        except ValueError:
            self.stop()
            raise ConnectionError("the embedded ufora cluster did not start (see its log above)") from None
        finally:
            os.close(ready_read)
        self.url = f"http://127.0.0.1:{ports['http_port']}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def read_line(fd: int, timeout: float) -> str:
    """One line from ``fd`` within ``timeout`` seconds, or "" if it closed or took too long."""
    data, deadline = b"", time.monotonic() + timeout
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return ""
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode()
