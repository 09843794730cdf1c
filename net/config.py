"""What ``ufora-service`` runs, read from the environment exactly as the ``ufora/service`` image
documents it. ``parse(environ, resolve)`` returns a ``ServiceConfig`` or raises ``ConfigError``
whose message is one line naming the variable at fault; its one side effect is resolving host
names, through ``resolve`` (tests pass a table).

``SETTINGS`` declares every UFORA_* variable once, the client's too: its kind (how it is read),
its default and its meaning. ``parse`` and pyfora's ``connect`` read them through it,
``ufora-service --help`` prints the service's, and the README's two tables are checked against
it (tests/test_config.py).

Port 0 means "any free port" (tests and the embedded cluster use it); the data channel then
takes a free port of its own and registers it.
"""
from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Tuple, TypeVar

from ufora.engine import host_memory
from ufora.net import tls

DEFAULT_HTTP_PORT = 30000
DEFAULT_MANAGER_PORT = 30002
DEFAULT_WORKER_BASE_PORT = 30009
DEFAULT_LOG_DIR = "/var/ufora"
DEFAULT_CLIENT_TIMEOUT = 45.0
DEFAULT_SESSION_GRACE = 60.0
T = TypeVar("T")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Kind:
    """What a variable's value is: its name for users (``--help``, the README's tables) and how
    it is read (``read``: the value, or ``ConfigError`` naming the variable)."""
    name: str
    read: Callable[[str, str], Any]  # (variable, its text, stripped and not empty) -> value


def _number_kind(name: str, kind: type, lowest: float, highest: float, what: str, unit: str = "") -> Kind:
    def read(variable: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{variable}={raw!r} is not {what}") from None
        if not lowest <= value <= highest:
            raise ConfigError(f"{variable}={value} is out of range ({lowest:g}-{highest:g}{unit})")
        return value
    return Kind(name, read)


def _flag(variable: str, raw: str) -> bool:
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{variable}={raw!r} is not a flag (use 1 or 0)")


def _choice_kind(*choices: str) -> Kind:
    def read(variable: str, raw: str) -> str:
        if raw.lower() not in choices:
            raise ConfigError(f"{variable}={raw!r} is not one of {', '.join(repr(c) for c in choices)}")
        return raw.lower()
    return Kind(" or ".join(choices), read)


def _modules(variable: str, raw: str) -> Tuple[str, ...]:
    """``pandas,scipy.stats`` as module names; a name that is not one is refused."""
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ConfigError(f"{variable}={raw!r}: {name!r} is not a module name")
    return names


MODULES = Kind("module names, comma-separated", _modules)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_WORKER_MEMORY = 256 << 20
MAX_WORKER_MEMORY = 1 << 60  # (setrlimit takes no more)


def _memory(variable: str, raw: str) -> Tuple[str, float]:
    """("share", 0.75) of ``75%``, or ("bytes", n) of ``12G``, ``800M``, ``1.5G``, ``1073741824``."""
    text = raw.upper().removesuffix("IB").removesuffix("B")
    unit = "%" if text.endswith("%") else text[-1:] if text[-1:] in _UNITS else ""
    try:
        count = float(text[:len(text) - len(unit)])
    except ValueError:
        count = math.nan
    if not math.isfinite(count):
        raise ConfigError(f"{variable}={raw!r} is not an amount of memory (like 12G, 800M or 75%)")
    if unit == "%":
        if not 0 < count <= 100:
            raise ConfigError(f"{variable}={raw!r} is out of range (a share of 1-100%)")
        return "share", count / 100
    count *= _UNITS[unit]
    if count >= MAX_WORKER_MEMORY:
        raise ConfigError(f"{variable}={raw!r} is out of range (at most {MAX_WORKER_MEMORY >> 50} PiB)")
    if count < MIN_WORKER_MEMORY:
        raise ConfigError(f"{variable}={raw!r} is below {MIN_WORKER_MEMORY >> 20} MiB, "
                          "too little for a compute process")
    return "bytes", int(count)


MEMORY = Kind("memory (12G, 800M or 75%)", _memory)
PORT = _number_kind("port", int, 0, 65535, "a port number")
BASE_PORT = _number_kind("port", int, 0, 65534, "a port number")
CORES = _number_kind("number", int, 1, 1 << 16, "a positive number")
SECONDS = _number_kind("seconds", float, 2, 3600, "a number of seconds", " seconds")
GRACE = _number_kind("seconds", float, 0, 86400, "a number of seconds", " seconds")
FLAG = Kind("flag (1 or 0)", _flag)
TEXT = Kind("text", lambda variable, raw: raw)
ADDRESS = Kind("address", lambda variable, raw: raw)  # resolved by ``parse``
FOLDER = Kind("folder", lambda variable, raw: raw)  # checked by ``parse``
FILE = Kind("file", lambda variable, raw: raw)  # read by ``parse`` or net.tls
URL = Kind("URL", lambda variable, raw: raw)


@dataclass(frozen=True)
class Setting:
    """One UFORA_* variable, declared once: ``ufora-service --help``, the README's tables (a test
    compares them), and the readers (``parse``, pyfora's ``connect``) all come from here."""
    name: str
    kind: Kind
    default: Any  # the value when unset (None: decided where it is read, as ``shown`` says)
    shown: str  # the default as a user reads it
    meaning: str
    client: bool = False  # read by pyfora, not by ufora-service

    def read(self, env: Mapping[str, str]) -> Any:
        """The variable's value in ``env``, or its default when it is unset or empty."""
        raw = env.get(self.name, "").strip()
        return self.kind.read(self.name, raw) if raw else self.default


SETTINGS = (
    Setting("UFORA_MANAGER_ADDRESS", ADDRESS, None, "unset: manager and worker",
            "set: run only a worker that joins the manager at this address"),
    Setting("UFORA_NO_WORKER", FLAG, False, "0",
            "1: run the manager alone (refused together with UFORA_MANAGER_ADDRESS)"),
    Setting("UFORA_WEB_HTTP_PORT", PORT, DEFAULT_HTTP_PORT, str(DEFAULT_HTTP_PORT),
            "manager's HTTP + socket.io port (clients and the dashboard connect here)"),
    Setting("UFORA_MANAGER_PORT", PORT, DEFAULT_MANAGER_PORT, str(DEFAULT_MANAGER_PORT),
            "registry port: served by the manager, dialled by workers"),
    Setting("UFORA_WORKER_BASE_PORT", BASE_PORT, DEFAULT_WORKER_BASE_PORT, str(DEFAULT_WORKER_BASE_PORT),
            "worker control channel; its data channel is this + 1"),
    Setting("UFORA_WORKER_OWN_ADDRESS", ADDRESS, None, "socket.gethostbyname(socket.getfqdn())",
            "address the worker registers (others reach it there)"),
    Setting("UFORA_WORKER_CORES", CORES, None, "every core", "compute processes in the worker"),
    Setting("UFORA_WORKER_MEMORY", MEMORY, ("share", 0.8), "80%",
            "the memory each compute process of the worker may allocate for blocks (beyond what it holds when it "
            "starts): an amount, or a share of the host's memory (its cgroup's limit where one is set), lowered as "
            "each block starts to what is available then; past it an allocation raises MemoryError in the block, "
            "as in CPython, where the kernel would have killed the process"),
    Setting("UFORA_SPLIT", _choice_kind("measure", "always"), "measure", "measure",
            "measure: a parallel shape is split only where timing its first items says splitting wins (else it "
            "runs serially, as the engine's reports say); always: every shape that can be split is (to test or "
            "benchmark the split path)"),
    Setting("UFORA_COMPILE", _choice_kind("background", "first"), "background", "background",
            "background: a new kernel compiles in a thread of one compute process (a short shape's, once the "
            "process is idle, in a low-priority child) while its shape's partitions run in CPython, and the "
            "partitions after it is ready use it (no block waits for numba); first: the first partitions wait "
            "for it (to benchmark compiled code from the first run)"),
    Setting("UFORA_PRELOAD", MODULES, (), "none",
            "modules the compute processes import before they fork, so that no block pays their import (pandas: "
            "0.3-0.4 s in each process, paid once at start-up instead); one that cannot be imported is logged and "
            "left out"),
    Setting("UFORA_LOG_DIR", FOLDER, None, f"{DEFAULT_LOG_DIR} if writable, else stderr",
            "log folder (ufora-service.log)"),
    Setting("UFORA_KERNEL_CACHE_DIR", FOLDER, None,
            "kernels/ in the log folder; without one, a temporary folder removed when the service stops "
            "(by the next worker service of the host where it was killed)",
            "folder of the kernels the worker compiled, loaded instead of compiled again by its compute processes "
            "and after a restart (delete its files to clear it)"),
    Setting("UFORA_SPILL_DIR", FOLDER, None,
            "spill/ in the log folder; without one, a temporary folder in /var/tmp removed when the service stops",
            "folder where the worker writes the remote objects it holds once those in memory pass half of "
            "UFORA_WORKER_MEMORY, or half of what they hold plus the memory available (those no block uses, "
            "the least recently used first); they are read from there when used. Put it on a disk: on tmpfs a "
            "spill frees no memory (the service warns)"),
    Setting("UFORA_CLIENT_TIMEOUT", SECONDS, DEFAULT_CLIENT_TIMEOUT, f"{DEFAULT_CLIENT_TIMEOUT:g}",
            "seconds a silent client (stopped, cut off) keeps its blocks running before it is declared gone and "
            "they stop"),
    Setting("UFORA_SESSION_GRACE", GRACE, DEFAULT_SESSION_GRACE, f"{DEFAULT_SESSION_GRACE:g}",
            "seconds the remote objects of a client whose connection dropped are kept for it to reconnect "
            "(0: freed at once)"),
    Setting("UFORA_TLS_CERT", FILE, None, "unset: http and plain TCP",
            "PEM certificate (chain): with UFORA_TLS_KEY, the manager's client port serves https:// and wss://, "
            "and the registry, control and data ports serve TLS only (TLS 1.2 or later); checked at start"),
    Setting("UFORA_TLS_KEY", FILE, None, "unset", "the private key of UFORA_TLS_CERT (PEM)"),
    Setting("UFORA_TLS_CA", FILE, None, "unset: dials plain TCP (a client: the system's authorities)",
            "PEM file of the authority that signed the cluster's certificates (or of the certificates "
            "themselves): this service dials the registry, control and data ports of others with TLS and trusts "
            "what it verifies (as for a client); checked at start. pyfora.connect() given no tls_ca trusts it for "
            "an https:// manager"),
    Setting("UFORA_CLUSTER_SECRET", TEXT, None, "unset: open, with a warning",
            "the cluster's secret, the same on every service (at least 16 characters: openssl rand -hex 32): "
            "every connection between services proves it, both ways, before its first frame"),
    Setting("UFORA_CLUSTER_SECRET_FILE", FILE, None, "unset",
            "a file holding the cluster's secret (instead of UFORA_CLUSTER_SECRET)"),
    # read by pyfora, in the user's process
    Setting("UFORA_URL", URL, None, "unset: an embedded cluster",
            "the manager pyfora.connect() reaches when given no URL", client=True),
    Setting("UFORA_SECRET", TEXT, "", "unset: none",
            "the cluster's secret (its services' UFORA_CLUSTER_SECRET) when pyfora.connect() is given none",
            client=True),
    Setting("UFORA_SERIAL_HERE", FLAG, True, "1",
            "1: a block with no parallel shape runs in the client, as written; 0: every block goes to the "
            "cluster (pyfora.connect(serial_here=...) when not given)", client=True),
    Setting("UFORA_BLOCK_TIMES", FILE, None, "~/.cache/pyfora/block-times.json",
            "file where pyfora keeps the times of the blocks it chose to run here or on the cluster (set "
            "empty: none kept)", client=True),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def setting(name: str) -> Setting:
    return BY_NAME[name]


def read(name: str, env: Optional[Mapping[str, str]] = None) -> Any:
    """The value of the variable ``name`` (declared in ``SETTINGS``) in ``env`` (the process's
    environment by default)."""
    return BY_NAME[name].read(os.environ if env is None else env)


def describe_settings() -> str:
    """The service's variables, their kinds, meanings and defaults, as ``ufora-service --help`` ends."""
    service = [s for s in SETTINGS if not s.client]
    width = max(len(s.name) for s in service)
    return "environment variables:\n" + "\n".join(
        f"  {s.name:<{width}}  {s.meaning} ({s.kind.name}; default: {s.shown})" for s in service)


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
    worker_memory: Optional[int] = None  # bytes each compute process may allocate (UFORA_WORKER_MEMORY)
    spill_dir: Optional[str] = None  # remote objects past half of worker_memory go here (None: a temporary folder)
    preload: Tuple[str, ...] = ()  # UFORA_PRELOAD: modules the compute processes import before they fork

    @property
    def worker_data_port(self) -> int:
        return self.worker_base_port + 1 if self.worker_base_port else 0


_PORT_OF = {"UFORA_MANAGER_ADDRESS": "UFORA_MANAGER_PORT", "UFORA_WORKER_OWN_ADDRESS": "UFORA_WORKER_BASE_PORT"}


def _address(env: Mapping[str, str], name: str, resolve: Callable[[str], str]) -> str:
    raw = env[name].strip()
    host, colon, port = raw.rpartition(":")
    if colon and host and port.isdigit() and ":" not in host:  # host:port (an IPv6 address has several)
        raise ConfigError(f"{name}={raw!r} holds a port: give the address alone ({host}) and the port in "
                          f"{_PORT_OF[name]}={port}")
    try:
        return resolve(raw)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"{name}={raw!r} does not resolve to an address ({exc})") from None


def default_own_address() -> str:
    return socket.gethostbyname(socket.getfqdn())


def _log_dir(env: Mapping[str, str]) -> Optional[str]:
    path = read("UFORA_LOG_DIR", env)
    if path is not None:
        if not os.path.isdir(path) or not os.access(path, os.W_OK):
            raise ConfigError(f"UFORA_LOG_DIR={path!r} is not a writable folder")
        return path
    if os.path.isdir(DEFAULT_LOG_DIR) and os.access(DEFAULT_LOG_DIR, os.W_OK):
        return DEFAULT_LOG_DIR
    return None


def _worker_folder(env: Mapping[str, str], log_dir: Optional[str], variable: str, default: str) -> Optional[str]:
    """A folder of the worker's own (compiled kernels, spilled objects): as ``variable`` sets it
    (it, or the folder it would be made in, must be writable), else ``default`` in the log
    folder, else None (the service makes a temporary one)."""
    path = read(variable, env)
    if path is None:
        return os.path.abspath(os.path.join(log_dir, default)) if log_dir else None
    path = os.path.abspath(path)  # the same folder for a process that changes its own
    existing = path if os.path.exists(path) else os.path.dirname(path)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise ConfigError(f"{variable}={path!r} is not a writable folder (nor one that can be made)")
    return path


def parse(env: Mapping[str, str], resolve: Callable[[str], str] = socket.gethostbyname) -> ServiceConfig:
    no_worker = read("UFORA_NO_WORKER", env)
    joins = read("UFORA_MANAGER_ADDRESS", env) is not None
    if no_worker and joins:
        raise ConfigError("UFORA_NO_WORKER=1 and UFORA_MANAGER_ADDRESS are both set: "
                          "a manager-only service cannot join another manager; unset one")
    run_worker = not no_worker
    if run_worker and read("UFORA_WORKER_OWN_ADDRESS", env) is not None:
        own_address = _address(env, "UFORA_WORKER_OWN_ADDRESS", resolve)
    elif run_worker:
        try:
            own_address = default_own_address()
        except OSError as exc:
            raise ConfigError("UFORA_WORKER_OWN_ADDRESS is unset and this host's name does not "
                              f"resolve ({exc}); set it") from None
    else:
        own_address = ""
    log_dir = _log_dir(env)
    return ServiceConfig(
        run_manager=not joins,
        run_worker=run_worker,
        http_port=read("UFORA_WEB_HTTP_PORT", env),
        manager_port=read("UFORA_MANAGER_PORT", env),
        manager_address=_address(env, "UFORA_MANAGER_ADDRESS", resolve) if joins else "127.0.0.1",
        worker_base_port=read("UFORA_WORKER_BASE_PORT", env),
        worker_own_address=own_address,
        worker_cores=read("UFORA_WORKER_CORES", env) or os.cpu_count() or 1,
        log_dir=log_dir,
        kernel_cache_dir=_worker_folder(env, log_dir, "UFORA_KERNEL_CACHE_DIR", "kernels"),
        spill_dir=_worker_folder(env, log_dir, "UFORA_SPILL_DIR", "spill"),
        client_timeout=read("UFORA_CLIENT_TIMEOUT", env),
        session_grace=read("UFORA_SESSION_GRACE", env),
        tls=_tls(env, tls.paths),
        tls_ca=_tls(env, tls.authority),
        cluster_secret=_cluster_secret(env),
        always_split=read("UFORA_SPLIT", env) == "always",
        compile_behind=read("UFORA_COMPILE", env) == "background",
        preload=read("UFORA_PRELOAD", env),
        worker_memory=_worker_memory(env) if run_worker else None,
    )


def _worker_memory(env: Mapping[str, str]) -> int:
    """UFORA_WORKER_MEMORY in bytes: a share is of the host's memory, or its cgroup's limit
    (``engine.host_memory.limit``; what is available when a block starts lowers it then)."""
    way, amount = read("UFORA_WORKER_MEMORY", env)
    return int(amount) if way == "bytes" else max(MIN_WORKER_MEMORY, int(amount * host_memory.limit()))


MIN_SECRET = 16


def _cluster_secret(env: Mapping[str, str]) -> Optional[bytes]:
    given = read("UFORA_CLUSTER_SECRET", env) or ""
    path = read("UFORA_CLUSTER_SECRET_FILE", env)
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
