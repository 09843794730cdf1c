"""An embedded local cluster: ``ufora-service`` (manager + one worker using every core) as a
child process on loopback, on free ports, owned by the client that started it.

It is stopped by ``stop()`` (``Executor.close()``), at interpreter exit, and by itself when the
client process disappears (``--exit-with-parent``), so it never outlives its client.
"""
from __future__ import annotations

import atexit
import secrets
import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from pyfora.Exceptions import ConnectionError

# the client's own (UFORA_TLS_CA: the authority of a remote manager) would make a service dial TLS
_SERVICE_VARIABLES = ("UFORA_MANAGER_ADDRESS", "UFORA_NO_WORKER", "UFORA_WORKER_CORES", "UFORA_CLUSTER_SECRET",
                      "UFORA_CLUSTER_SECRET_FILE", "UFORA_TLS_CERT", "UFORA_TLS_KEY", "UFORA_TLS_CA")


def user_kernel_folder() -> Optional[str]:
    """Where an embedded cluster keeps the kernels it compiled, for the next run of the script:
    ``$XDG_CACHE_HOME/ufora/kernels`` (``~/.cache/ufora/kernels``), as numba's ``cache=True`` keeps
    them beside the code; None where it cannot be made (the cluster then keeps them in a
    temporary folder, for its own life). Entries are checked against this Python, numba, CPU and
    engine before use (``engine.kernel_cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "ufora", "kernels")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


class EmbeddedCluster:
    def __init__(self, cores: Optional[int] = None, timeout: float = 60.0):
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
        # its own random secret: its client, and the channels between its manager and worker, are
        # authenticated (another local user can reach its loopback ports)
        self.secret = secrets.token_hex(32)
        env.update(UFORA_WEB_HTTP_PORT="0", UFORA_MANAGER_PORT="0", UFORA_WORKER_BASE_PORT="0",
                   UFORA_WORKER_OWN_ADDRESS="127.0.0.1", UFORA_CLUSTER_SECRET=self.secret)
        if cores:
            env["UFORA_WORKER_CORES"] = str(cores)
        if "UFORA_KERNEL_CACHE_DIR" not in env:  # set, even empty (this session only), it is the user's
            kept = user_kernel_folder()
            if kept is not None:
                env["UFORA_KERNEL_CACHE_DIR"] = kept
        self.process: Optional[subprocess.Popen] = None
        atexit.register(self.stop)
        try:
            self.process, ready = launch([sys.executable, "-m", "ufora.net.service", "--exit-with-parent",
                                          "--log-level", "WARNING"], env, timeout, start_new_session=True)
            ports = json.loads(ready())
        except ValueError:
            self.stop()
            raise ConnectionError("the embedded ufora cluster did not start (see its log above)") from None
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


def launch(command: List[str], env: Dict[str, str], timeout: float,
           **popen: Any) -> Tuple[subprocess.Popen, Callable[..., str]]:
    """Start ``ufora-service`` (``command``, to which ``--ready-fd`` is added): the process, and
    a function that waits up to ``timeout`` for the JSON line of its bound ports ("" if it
    exited or took too long; call it once, with ``wait=False`` not to wait)."""
    ready_read, ready_write = os.pipe()
    try:
        process = subprocess.Popen([*command, "--ready-fd", str(ready_write)], pass_fds=[ready_write],
                                   env=env, **popen)
    except BaseException:
        os.close(ready_read)
        raise
    finally:
        os.close(ready_write)

    def ready(wait: bool = True) -> str:
        try:
            return read_line(ready_read, timeout) if wait else ""
        finally:
            os.close(ready_read)
    return process, ready


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
