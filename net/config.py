"""What ``ufora-service`` runs, read from the environment exactly as the ``ufora/service`` image
documents it. ``parse(environ, resolve)`` returns a ``ServiceConfig`` or raises ``ConfigError``
whose message is one line naming the variable at fault; its one side effect is resolving host
names, through ``resolve`` (tests pass a table).

    UFORA_MANAGER_ADDRESS     set: run only a worker that joins that manager
    UFORA_NO_WORKER=1         run only the manager (exclusive with UFORA_MANAGER_ADDRESS)
    UFORA_WEB_HTTP_PORT       manager's HTTP + socket.io port            (default 30000)
    UFORA_MANAGER_PORT        registry port, served and dialled          (default 30002)
    UFORA_WORKER_BASE_PORT    worker control port; data channel is +1    (default 30009)
    UFORA_WORKER_OWN_ADDRESS  address the worker registers   (default: this host's FQDN address)
    UFORA_WORKER_CORES        compute processes in the worker            (default: all cores)
    UFORA_LOG_DIR             log folder (default /var/ufora if writable, else stderr)
    UFORA_CLIENT_TIMEOUT      seconds a silent client (stopped, cut off) keeps its blocks
                              running before it is declared gone and they stop   (default 45)
    UFORA_SESSION_GRACE       seconds a dropped client's remote objects wait for it to reconnect
                              (default 60)
    UFORA_TLS_CERT, UFORA_TLS_KEY   PEM certificate and key: the client port serves https/wss

Port 0 means "any free port" (tests and the embedded cluster use it); the data channel then
takes a free port of its own and registers it.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple

from net import tls

DEFAULT_HTTP_PORT = 30000
DEFAULT_MANAGER_PORT = 30002
DEFAULT_WORKER_BASE_PORT = 30009
DEFAULT_LOG_DIR = "/var/ufora"


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
    client_timeout: float = 45.0
    session_grace: float = 60.0  # seconds a dropped client's remote objects wait for it to reconnect
    tls: Optional[Tuple[str, str]] = None  # (certificate, key) files: the client port serves https

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
    return ServiceConfig(
        run_manager=not joins,
        run_worker=run_worker,
        http_port=_port(env, "UFORA_WEB_HTTP_PORT", DEFAULT_HTTP_PORT),
        manager_port=manager_port,
        manager_address=_address(env, "UFORA_MANAGER_ADDRESS", resolve) if joins else "127.0.0.1",
        worker_base_port=base_port,
        worker_own_address=own_address,
        worker_cores=cores,
        log_dir=_log_dir(env),
        client_timeout=_seconds(env, "UFORA_CLIENT_TIMEOUT", 45.0),
        session_grace=_number(env, "UFORA_SESSION_GRACE", 60.0, float, 0, 86400, "a number of seconds", " seconds"),
        tls=_tls(env) if not joins else None,
    )


def _tls(env: Mapping[str, str]) -> Optional[Tuple[str, str]]:
    try:
        return tls.paths(env)
    except tls.TLSConfigError as exc:
        raise ConfigError(str(exc)) from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, 2, 3600, "a number of seconds", " seconds")
