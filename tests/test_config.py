import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys

import pytest

from ufora.net import config
from ufora.net.config import ConfigError, parse


def resolve(name: str) -> str:
    table = {"manager.example": "10.1.2.3", "127.0.0.1": "127.0.0.1", "192.168.7.2": "192.168.7.2"}
    if name not in table:
        raise OSError(f"unknown host {name}")
    return table[name]


@pytest.fixture(autouse=True)
def own_host(monkeypatch):
    monkeypatch.setattr(config, "default_own_address", lambda: "192.168.7.2")
    monkeypatch.setattr(config, "DEFAULT_LOG_DIR", "/nonexistent/ufora")


def test_defaults_run_manager_and_worker_on_the_documented_ports():
    c = parse({}, resolve)
    assert (c.run_manager, c.run_worker) == (True, True)
    assert (c.http_port, c.manager_port, c.worker_base_port, c.worker_data_port) == (30000, 30002, 30009, 30010)
    assert c.worker_own_address == "192.168.7.2"
    assert c.manager_address == "127.0.0.1"
    assert c.log_dir is None


def test_manager_address_runs_a_worker_only():
    c = parse({"UFORA_MANAGER_ADDRESS": "manager.example", "UFORA_MANAGER_PORT": "31002"}, resolve)
    assert (c.run_manager, c.run_worker) == (False, True)
    assert (c.manager_address, c.manager_port) == ("10.1.2.3", 31002)


def test_no_worker_runs_the_manager_only():
    c = parse({"UFORA_NO_WORKER": "1"}, resolve)
    assert (c.run_manager, c.run_worker) == (True, False)


def test_both_roles_switched_off_is_refused_naming_both():
    with pytest.raises(ConfigError) as raised:
        parse({"UFORA_NO_WORKER": "1", "UFORA_MANAGER_ADDRESS": "manager.example"}, resolve)
    assert "UFORA_NO_WORKER" in str(raised.value) and "UFORA_MANAGER_ADDRESS" in str(raised.value)


def test_ports_address_and_cores_are_read():
    c = parse({"UFORA_WEB_HTTP_PORT": "8000", "UFORA_WORKER_BASE_PORT": "40000",
               "UFORA_WORKER_OWN_ADDRESS": "127.0.0.1", "UFORA_WORKER_CORES": "3"}, resolve)
    assert (c.http_port, c.worker_base_port, c.worker_data_port) == (8000, 40000, 40001)
    assert (c.worker_own_address, c.worker_cores) == ("127.0.0.1", 3)


def test_log_dir(tmp_path, monkeypatch):
    assert parse({"UFORA_LOG_DIR": str(tmp_path)}, resolve).log_dir == str(tmp_path)
    monkeypatch.setattr(config, "DEFAULT_LOG_DIR", str(tmp_path))  # the image's /var/ufora
    assert parse({}, resolve).log_dir == str(tmp_path)


@pytest.mark.parametrize("env,variable", [
    ({"UFORA_WEB_HTTP_PORT": "http"}, "UFORA_WEB_HTTP_PORT"),
    ({"UFORA_WEB_HTTP_PORT": "70000"}, "UFORA_WEB_HTTP_PORT"),
    ({"UFORA_MANAGER_PORT": "-1"}, "UFORA_MANAGER_PORT"),
    ({"UFORA_WORKER_BASE_PORT": "65535"}, "UFORA_WORKER_BASE_PORT"),  # no room for the data port
    ({"UFORA_WORKER_BASE_PORT": "3.5"}, "UFORA_WORKER_BASE_PORT"),
    ({"UFORA_MANAGER_ADDRESS": "no.such.host"}, "UFORA_MANAGER_ADDRESS"),
    ({"UFORA_WORKER_OWN_ADDRESS": "no.such.host"}, "UFORA_WORKER_OWN_ADDRESS"),
    ({"UFORA_NO_WORKER": "maybe"}, "UFORA_NO_WORKER"),
    ({"UFORA_WORKER_CORES": "0"}, "UFORA_WORKER_CORES"),
    ({"UFORA_LOG_DIR": "/nonexistent/logs"}, "UFORA_LOG_DIR"),
    ({"UFORA_CLIENT_TIMEOUT": "soon"}, "UFORA_CLIENT_TIMEOUT"),
    ({"UFORA_CLIENT_TIMEOUT": "1"}, "UFORA_CLIENT_TIMEOUT"),
])
def test_each_bad_value_is_one_line_naming_its_variable(env, variable):
    with pytest.raises(ConfigError) as raised:
        parse(env, resolve)
    message = str(raised.value)
    assert message.startswith(variable) and "\n" not in message


@pytest.mark.parametrize("variable,port", [("UFORA_MANAGER_ADDRESS", "UFORA_MANAGER_PORT"),
                                           ("UFORA_WORKER_OWN_ADDRESS", "UFORA_WORKER_BASE_PORT")])
def test_an_address_given_with_its_port_says_where_the_port_goes(variable, port):
    """A user's trial wrote UFORA_MANAGER_ADDRESS=127.0.0.1:31002 and was told it does not resolve."""
    with pytest.raises(ConfigError) as raised:
        parse({variable: "127.0.0.1:31002"}, resolve)
    assert str(raised.value) == (f"{variable}='127.0.0.1:31002' holds a port: give the address alone "
                                 f"(127.0.0.1) and the port in {port}=31002")


def test_the_client_timeout_is_read_in_seconds():
    assert parse({}, resolve).client_timeout == 45.0
    assert parse({"UFORA_CLIENT_TIMEOUT": "7.5"}, resolve).client_timeout == 7.5


def readme_variables(heading: str) -> list:
    """The rows of README's table of variables under ``heading``, as (name, kind, meaning,
    default) with the markdown taken out."""
    text = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `UFORA_")]
    return [tuple(cell.strip().replace("`", "").replace("**", "") for cell in row.strip("|").split("|"))
            for row in rows]


def test_readme_lists_exactly_the_settings_with_their_kinds_meanings_and_defaults():
    declared = {client: [(s.name, s.kind.name, s.meaning, s.shown) for s in config.SETTINGS if s.client is client]
                for client in (False, True)}
    assert readme_variables("## Running a cluster: ufora-service") == declared[False]
    assert readme_variables("### The client's variables") == declared[True]


def test_every_variable_read_anywhere_is_declared_once():
    """The service's modules, the engine and the client: a UFORA_* name in their code is a setting
    (a process's own, such as UFORA_* in the engine's list of variables not to carry, aside)."""
    root = pathlib.Path(config.__file__).parent.parent
    source = "".join(path.read_text() for folder in ("net", "pyfora", "engine") for path in (root / folder).glob("*.py"))
    read = set(re.findall(r'"(UFORA_[A-Z_]+)"', source))
    names = [s.name for s in config.SETTINGS]
    assert read <= set(names) and len(names) == len(set(names)), read - set(names)
    assert {s.name for s in config.SETTINGS if not s.client} <= read


def test_a_client_variable_of_the_wrong_kind_is_named():
    with pytest.raises(config.ConfigError, match="UFORA_SERIAL_HERE='maybe' is not a flag"):
        config.read("UFORA_SERIAL_HERE", {"UFORA_SERIAL_HERE": "maybe"})
    assert config.read("UFORA_SERIAL_HERE", {}) is True and config.read("UFORA_SERIAL_HERE", {"UFORA_SERIAL_HERE": "0"}) is False


def service(*arguments: str) -> subprocess.CompletedProcess:
    command = os.path.join(os.path.dirname(sys.executable), "ufora-service")
    return subprocess.run([command, *arguments], capture_output=True, text=True, timeout=60)


def test_help_lists_every_variable_with_its_default():
    shown = service("--help")
    assert shown.returncode == 0
    for setting in config.SETTINGS:
        lines = [line for line in shown.stdout.splitlines() if line.split()[:1] == [setting.name]]
        if setting.client:
            assert lines == []
            continue
        [line] = lines
        assert setting.meaning in line and f"({setting.kind.name}; default: {setting.shown})" in line


def test_version_is_the_distributions():
    import pyfora
    from ufora.net.version import __version__

    shown = service("--version")
    assert (shown.returncode, shown.stdout) == (0, f"ufora-service {__version__}\n")
    assert pyfora.__version__ == __version__ == importlib.metadata.version("ufora")
