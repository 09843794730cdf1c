"""What ``ufora-service`` runs, read from the environment exactly as the ``ufora/service`` image
documents it. ``parse(environ, resolve)`` returns a ``ServiceConfig`` or raises ``ConfigError``
whose message is one line naming the variable at fault; its one side effect is resolving host
names, through ``resolve`` (tests pass a table).

``SETTINGS`` lists every variable with its default and meaning: ``ufora-service --help`` prints
it, and README's table is checked against it (tests/test_config.py).

Port 0 means "any free port" (tests and the embedded cluster use it); the data channel then
takes a free port of its own and registers it.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple, TypeVar

from net import tls

DEFAULT_HTTP_PORT = 30000
DEFAULT_MANAGER_PORT = 30002
DEFAULT_WORKER_BASE_PORT = 30009
DEFAULT_LOG_DIR = "/var/ufora"
DEFAULT_CLIENT_TIMEOUT = 45.0
DEFAULT_SESSION_GRACE = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    name: str
    meaning: str
    default: str  # as a user reads it


SETTINGS = (
    Setting("UFORA_MANAGER_ADDRESS", "set: run only a worker that joins the manager at this address",
            "unset: manager and worker"),
    Setting("UFORA_NO_WORKER", "1: run the manager alone (refused together with UFORA_MANAGER_ADDRESS)", "0"),
    Setting("UFORA_WEB_HTTP_PORT", "manager's HTTP + socket.io port (clients connect here)", str(DEFAULT_HTTP_PORT)),
    Setting("UFORA_MANAGER_PORT", "registry port: served by the manager, dialled by workers",
            str(DEFAULT_MANAGER_PORT)),
    Setting("UFORA_WORKER_BASE_PORT", "worker control channel; its data channel is this + 1",
            str(DEFAULT_WORKER_BASE_PORT)),
    Setting("UFORA_WORKER_OWN_ADDRESS", "address the worker registers (others reach it there)",
            "socket.gethostbyname(socket.getfqdn())"),
    Setting("UFORA_WORKER_CORES", "compute processes in the worker", "every core"),
    Setting("UFORA_SPLIT", "measure: a parallel shape is split only where timing its first items says splitting "
            "wins (else it runs serially, as the engine's reports say); always: every shape that can be split is "
            "(to test or benchmark the split path)", "measure"),
    Setting("UFORA_COMPILE", "background: a new kernel compiles in a thread of one compute process while its "
            "shape's partitions run in CPython, and the partitions after it is ready use it (no block waits for "
            "numba); first: the first partitions wait for it (to benchmark compiled code from the first run)",
            "background"),
    Setting("UFORA_LOG_DIR", "log folder (ufora-service.log)", f"{DEFAULT_LOG_DIR} if writable, else stderr"),
    Setting("UFORA_KERNEL_CACHE_DIR", "folder of the kernels the worker compiled, loaded instead of compiled again "
            "by its compute processes and after a restart (delete its files to clear it)",
            "kernels/ in the log folder; without one, a temporary folder removed when the service stops"),
    Setting("UFORA_CLIENT_TIMEOUT", "seconds a silent client (stopped, cut off) keeps its blocks running "
            "before it is declared gone and they stop", f"{DEFAULT_CLIENT_TIMEOUT:g}"),
    Setting("UFORA_SESSION_GRACE", "seconds the remote objects of a client whose connection dropped are kept "
            "for it to reconnect (0: freed at once)", f"{DEFAULT_SESSION_GRACE:g}"),
    Setting("UFORA_TLS_CERT", "PEM certificate (chain): with UFORA_TLS_KEY, the manager's client port serves "
            "https:// and wss://, and the registry, control and data ports serve TLS only (TLS 1.2 or later); "
            "checked at start", "unset: http and plain TCP"),
    Setting("UFORA_TLS_KEY", "the private key of UFORA_TLS_CERT (PEM)", "unset"),
    Setting("UFORA_TLS_CA", "PEM file of the authority that signed the cluster's certificates (or of the "
            "certificates themselves): this service dials the registry, control and data ports of others with "
            "TLS and trusts what it verifies (as for a client); checked at start", "unset: dials plain TCP"),
    Setting("UFORA_CLUSTER_SECRET", "the cluster's secret, the same on every service (at least 16 characters: "
            "openssl rand -hex 32): every connection between services proves it, both ways, before its first "
            "frame", "unset: open, with a warning"),
    Setting("UFORA_CLUSTER_SECRET_FILE", "a file holding the cluster's secret (instead of UFORA_CLUSTER_SECRET)",
            "unset"),
)


def describe_settings() -> str:
    """The variables, their meanings and defaults, as ``ufora-service --help`` ends."""
    width = max(len(setting.name) for setting in SETTINGS)
    return "environment variables:\n" + "\n".join(
        f"  {setting.name:<{width}}  {setting.meaning} (default: {setting.default})" for setting in SETTINGS)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ServiceConfig:
    run_manager: bool
    run_worker: bool
    http_port: int
    manager_port: int
    manager_address: str       # where the worker dials the registry
    worker_base_port: int
    worker_own_address: str
    worker_cores: int
    log_dir: Optional[str]
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    session_grace: float = DEFAULT_SESSION_GRACE  # seconds a dropped client's remote objects wait for it
    tls: Optional[Tuple[str, str]] = None  # (certificate, key) files: https on the client port, TLS on the others
    tls_ca: Optional[str] = None  # the authorities to verify the services this one dials (TLS)
    cluster_secret: Optional[bytes] = None  # channels between services authenticate with it (net.auth)
    always_split: bool = False  # UFORA_SPLIT=always: split every shape that can be split (engine.cost)
    kernel_cache_dir: Optional[str] = None  # compiled kernels kept here (None: a temporary folder)
    compile_behind: bool = True  # UFORA_COMPILE=background: partitions run in CPython while a kernel compiles

    @property
    def worker_data_port(self) -> int:
        return self.worker_base_port + 1 if self.worker_base_port else 0


def _port(env: Mapping[str, str], name: str, default: int, highest: int = 65535) -> int:
    return _number(env, name, default, int, 0, highest, "a port number", "")


def _number(env: Mapping[str, str], name: str, default, kind: type, lowest, highest, what: str, unit: str):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {what}") from None
    if not lowest <= value <= highest:
        raise ConfigError(f"{name}={value} is out of range ({lowest}-{highest}{unit})")
    return value


def _address(env: Mapping[str, str], name: str, resolve: Callable[[str], str]) -> str:
    raw = env[name].strip()
    try:
        return resolve(raw)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"{name}={raw!r} does not resolve to an address ({exc})") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name}={raw!r} is not a flag (use 1 or 0)")


def default_own_address() -> str:
    return socket.gethostbyname(socket.getfqdn())


def _log_dir(env: Mapping[str, str]) -> Optional[str]:
    if env.get("UFORA_LOG_DIR", "").strip():
        path = env["UFORA_LOG_DIR"].strip()
        if not os.path.isdir(path) or not os.access(path, os.W_OK):
            raise ConfigError(f"UFORA_LOG_DIR={path!r} is not a writable folder")
        return path
    if os.path.isdir(DEFAULT_LOG_DIR) and os.access(DEFAULT_LOG_DIR, os.W_OK):
        return DEFAULT_LOG_DIR
    return None


def _kernel_cache_dir(env: Mapping[str, str], log_dir: Optional[str]) -> Optional[str]:
    """The folder of compiled kernels: as set (it, or the folder it would be made in, must be
    writable), else ``kernels`` in the log folder, else None (the service makes a temporary one)."""
    path = env.get("UFORA_KERNEL_CACHE_DIR", "").strip()
    if not path:
        return os.path.join(log_dir, "kernels") if log_dir else None
    existing = path if os.path.exists(path) else os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise ConfigError(f"UFORA_KERNEL_CACHE_DIR={path!r} is not a writable folder (nor one that can be made)")
    return path


def parse(env: Mapping[str, str], resolve: Callable[[str], str] = socket.gethostbyname) -> ServiceConfig:
    no_worker = _flag(env, "UFORA_NO_WORKER")
    joins = bool(env.get("UFORA_MANAGER_ADDRESS", "").strip())
    if no_worker and joins:
        raise ConfigError("UFORA_NO_WORKER=1 and UFORA_MANAGER_ADDRESS are both set: "
                          "a manager-only service cannot join another manager; unset one")
    manager_port = _port(env, "UFORA_MANAGER_PORT", DEFAULT_MANAGER_PORT)
    base_port = _port(env, "UFORA_WORKER_BASE_PORT", DEFAULT_WORKER_BASE_PORT, highest=65534)
    run_worker = not no_worker
    if run_worker and env.get("UFORA_WORKER_OWN_ADDRESS", "").strip():
        own_address = _address(env, "UFORA_WORKER_OWN_ADDRESS", resolve)
    elif run_worker:
        try:
            own_address = default_own_address()
        except OSError as exc:
            raise ConfigError("UFORA_WORKER_OWN_ADDRESS is unset and this host's name does not "
                              f"resolve ({exc}); set it") from None
    else:
        own_address = ""
    cores_raw = env.get("UFORA_WORKER_CORES", "").strip()
    try:
        cores = int(cores_raw) if cores_raw else (os.cpu_count() or 1)
        if cores < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(f"UFORA_WORKER_CORES={cores_raw!r} is not a positive number") from None
    log_dir = _log_dir(env)
    return ServiceConfig(
        run_manager=not joins,
        run_worker=run_worker,
        http_port=_port(env, "UFORA_WEB_HTTP_PORT", DEFAULT_HTTP_PORT),
        manager_port=manager_port,
        manager_address=_address(env, "UFORA_MANAGER_ADDRESS", resolve) if joins else "127.0.0.1",
        worker_base_port=base_port,
        worker_own_address=own_address,
        worker_cores=cores,
        log_dir=log_dir,
        kernel_cache_dir=_kernel_cache_dir(env, log_dir),
        client_timeout=_seconds(env, "UFORA_CLIENT_TIMEOUT", DEFAULT_CLIENT_TIMEOUT),
        session_grace=_number(env, "UFORA_SESSION_GRACE", DEFAULT_SESSION_GRACE, float, 0, 86400,
                              "a number of seconds", " seconds"),
        tls=_tls(env, tls.paths),
        tls_ca=_tls(env, tls.authority),
        cluster_secret=_cluster_secret(env),
        always_split=_split(env),
        compile_behind=_choice(env, "UFORA_COMPILE", ("background", "first")) == "background",
    )


def _split(env: Mapping[str, str]) -> bool:
    return _choice(env, "UFORA_SPLIT", ("measure", "always")) == "always"


def _choice(env: Mapping[str, str], name: str, choices: Tuple[str, ...]) -> str:
    """The variable's value among ``choices`` (the first when unset)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(repr(c) for c in choices)}")
    return raw


MIN_SECRET = 16


def _cluster_secret(env: Mapping[str, str]) -> Optional[bytes]:
    given = env.get("UFORA_CLUSTER_SECRET", "").strip()
    path = env.get("UFORA_CLUSTER_SECRET_FILE", "").strip()
    if given and path:
        raise ConfigError("UFORA_CLUSTER_SECRET and UFORA_CLUSTER_SECRET_FILE are both set: set one")
    name = "UFORA_CLUSTER_SECRET"
    if path:
        name = f"UFORA_CLUSTER_SECRET_FILE={path!r}"
        try:
            with open(path, "rb") as file:
                given = file.read().strip().decode("utf-8", "replace")
        except OSError as exc:
            raise ConfigError(f"{name} cannot be read: {exc.strerror or exc}") from None
    if not given:
        return None
    if len(given) < MIN_SECRET:
        raise ConfigError(f"{name} is too short ({len(given)} characters): use at least {MIN_SECRET} random "
                          "characters, the same on every service (openssl rand -hex 32)")
    return given.encode()


def _tls(env: Mapping[str, str], read: Callable[[Mapping[str, str]], T]) -> T:
    try:
        return read(env)
    except tls.TLSConfigError as exc:
        raise ConfigError(str(exc)) from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, 2, 3600, "a number of seconds", " seconds")
