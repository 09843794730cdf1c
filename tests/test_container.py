"""The ``ufora/service`` image without a Docker engine: the real entrypoint (container/entrypoint.py)
run as a process under each combination of the role variables, and the Dockerfile checked against
the ``docker`` lines the README documents and against the defaults of net/config.py."""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, Iterator, List, Tuple

import pytest

from ufora.net import config
from tests.conftest import ROOT, alive, descendants, free_port_pair, wait_for

ENTRYPOINT = os.path.join(ROOT, "container", "entrypoint.py")
LOG_FILE = "ufora-service.log"


# ---- the entrypoint, as a process ------------------------------------------------------------

def free_ports() -> Tuple[int, int, int]:
    """Distinct free ports: HTTP, registry, and a worker base port whose + 1 is free too."""
    while True:
        http, registry, base = free_port_pair(), free_port_pair(), free_port_pair()
        if len({http, registry, base, base + 1}) == 4:
            return http, registry, base


def container_env(log_dir: str, variables: Dict[str, str]) -> Dict[str, str]:
    """What ``docker run -e ...`` gives the entrypoint: the variables, no UFORA_* of ours, the
    log folder standing in for /var/ufora, and this checkout's ``ufora-service`` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UFORA_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = ROOT
    env["UFORA_LOG_DIR"] = log_dir
    env.update(variables)
    return env


class Container:
    def __init__(self, process: subprocess.Popen, log_dir: str, stderr):
        self.process, self.log_dir, self._stderr = process, log_dir, stderr

    def output(self) -> str:
        self._stderr.seek(0)
        log = os.path.join(self.log_dir, LOG_FILE)
        text = ""
        if os.path.exists(log):
            with open(log) as lines:
                text = lines.read()
        return f"stderr: {self._stderr.read()!r}\n{LOG_FILE}: {text[-3000:]}"

    def status(self, http_port: int, until, timeout: float = 60.0) -> dict:
        """The manager's status page, polled until ``until(status)`` holds."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"exited {self.process.returncode}: {self.output()}"
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/status", timeout=5) as page:
                    last = json.load(page)
                if until(last):
                    return last
            time.sleep(0.1)
        raise AssertionError(f"status never matched, last {last}: {self.output()}")

    def stop(self, timeout: float) -> None:
        """``docker stop``: SIGTERM to the process the container started; it must exit in
        ``timeout`` seconds (docker's grace period before SIGKILL is 10) with code 0 and take
        every process it started with it."""
        started = [self.process.pid] + descendants(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        assert self.process.returncode == 0, self.output()
        wait_for(lambda: not [pid for pid in started if alive(pid)], "every process it started to end")


@contextlib.contextmanager
def container(log_dir, **variables: str) -> Iterator[Container]:
    os.makedirs(log_dir)
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen([ENTRYPOINT], env=container_env(str(log_dir), variables),
                                   stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        running = Container(process, str(log_dir), stderr)
        try:
            yield running
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_no_role_variable_runs_manager_and_worker_and_stops_on_sigterm(tmp_path):
    http, registry, base = free_ports()
    with container(tmp_path / "var-ufora", UFORA_WEB_HTTP_PORT=str(http), UFORA_MANAGER_PORT=str(registry),
                   UFORA_WORKER_BASE_PORT=str(base), UFORA_WORKER_OWN_ADDRESS="127.0.0.1",
                   UFORA_WORKER_CORES="1") as service:
        status = service.status(http, lambda s: s["workers"] == 1)
        assert status["cores"] == 1
        # exec'd: the process docker signals is ufora-service itself, not a shell or a wrapper
        with open(f"/proc/{service.process.pid}/cmdline") as cmdline:
            argv = cmdline.read().split("\0")
        assert "ufora-service" in map(os.path.basename, argv)
        assert not [arg for arg in argv if "entrypoint" in arg], argv
        assert descendants(service.process.pid), "no compute pool"
        service.stop(timeout=10)
        assert f"http {http}" in (tmp_path / "var-ufora" / LOG_FILE).read_text()


def test_no_worker_runs_the_manager_alone(tmp_path):
    http, registry, _ = free_ports()
    with container(tmp_path / "var-ufora", UFORA_NO_WORKER="1", UFORA_WEB_HTTP_PORT=str(http),
                   UFORA_MANAGER_PORT=str(registry)) as manager:
        assert manager.status(http, lambda s: True)["workers"] == 0
        assert descendants(manager.process.pid) == [], "a manager alone forks no compute pool"
        manager.stop(timeout=10)


def test_manager_address_runs_a_worker_that_joins_the_manager(tmp_path):
    http, registry, base = free_ports()
    with container(tmp_path / "manager", UFORA_NO_WORKER="1", UFORA_WEB_HTTP_PORT=str(http),
                   UFORA_MANAGER_PORT=str(registry)) as manager:
        manager.status(http, lambda s: s["workers"] == 0)
        with container(tmp_path / "worker", UFORA_MANAGER_ADDRESS="127.0.0.1",
                       UFORA_MANAGER_PORT=str(registry), UFORA_WORKER_BASE_PORT=str(base),
                       UFORA_WORKER_OWN_ADDRESS="127.0.0.1", UFORA_WORKER_CORES="1") as worker:
            assert manager.status(http, lambda s: s["workers"] == 1)["cores"] == 1
            worker.stop(timeout=10)
        manager.status(http, lambda s: s["workers"] == 0, timeout=30)
        manager.stop(timeout=10)


def test_both_roles_switched_off_is_refused_at_once_naming_both(tmp_path):
    """At once: before starting anything (no log, one line said), not after a service tried."""
    log_dir = tmp_path / "var-ufora"
    log_dir.mkdir()
    out = subprocess.run([ENTRYPOINT], env=container_env(str(log_dir), {
        "UFORA_NO_WORKER": "1", "UFORA_MANAGER_ADDRESS": "127.0.0.1"}),
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert "UFORA_NO_WORKER" in out.stderr and "UFORA_MANAGER_ADDRESS" in out.stderr
    assert list(log_dir.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping root needs root")
def test_as_root_it_hands_the_log_folder_to_the_run_as_user_then_drops_root(tmp_path):
    nobody = pwd.getpwnam("nobody")
    bin_dir = tempfile.mkdtemp()  # the stand-in ufora-service must be reachable by nobody
    try:
        os.chmod(bin_dir, 0o755)
        stub = os.path.join(bin_dir, "ufora-service")
        with open(stub, "w") as script:
            script.write('#!/bin/sh\necho "$(id -u) $(id -g) $(id -G) $HOME $*"\n')
        os.chmod(stub, 0o755)
        log_dir = tmp_path / "var-ufora"  # missing: the entrypoint creates it
        env = container_env(str(log_dir), {"UFORA_RUN_AS": "nobody"})
        env["PATH"] = bin_dir + os.pathsep + env["PATH"]
        out = subprocess.run([ENTRYPOINT, "--log-level", "DEBUG"], env=env,
                             capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(bin_dir)
    assert out.returncode == 0, out.stderr
    uid, gid, *groups_home_args = out.stdout.split()
    assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid)
    assert "0" not in groups_home_args[:-3], "root's groups kept"
    assert groups_home_args[-3:] == [nobody.pw_dir, "--log-level", "DEBUG"]
    assert (log_dir.stat().st_uid, log_dir.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)


# ---- the Dockerfile against the README and net/config.py ---------------------------------

def dockerfile() -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuation lines joined."""
    instructions, pending = [], ""
    with open(os.path.join(ROOT, "Dockerfile")) as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            keyword, _, arguments = (pending + line).partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    assert not pending, "Dockerfile ends inside a continuation"
    return instructions


def arguments(instructions, keyword: str) -> List[List[str]]:
    """The arguments of every ``keyword`` instruction, JSON (exec) form or shell form."""
    return [json.loads(args) if args.startswith("[") else shlex.split(args)
            for name, args in instructions if name == keyword]


def readme_docker_commands() -> List[List[str]]:
    """Every ``docker ...`` command in the README's "Docker image" section, as tokens."""
    with open(os.path.join(ROOT, "README.md")) as readme:
        text = readme.read()
    section = re.search(r"^## Docker image\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "README has no '## Docker image' section"
    commands = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", section.group(1), re.M | re.S):
        for command in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(command, comments=True)
            if tokens[:1] == ["docker"]:
                commands.append(tokens)
    return commands


# `docker run` options the README may use that take a value (other options are flags).
RUN_OPTIONS_WITH_VALUE = {"-p", "--publish", "-v", "--volume", "-e", "--env", "--name", "--net",
                          "--network", "--restart", "--shm-size", "-u", "--user", "--cpus"}


def docker_run(tokens: List[str]) -> Tuple[Dict[str, List[str]], str, List[str]]:
    """``docker run OPTIONS IMAGE ARGS`` → ({option: [values]}, image, args)."""
    options: Dict[str, List[str]] = {}
    rest = tokens[2:]
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if "=" in option:
            option, value = option.split("=", 1)
        elif option in RUN_OPTIONS_WITH_VALUE:
            value = rest.pop(0)
        else:
            value = ""
        options.setdefault({"--publish": "-p", "--volume": "-v", "--env": "-e",
                            "--network": "--net"}.get(option, option), []).append(value)
    assert rest, f"no image in {shlex.join(tokens)}"
    return options, rest[0], rest[1:]


def test_readme_docker_lines_match_the_dockerfile():
    instructions = dockerfile()
    commands = readme_docker_commands()
    builds = [tokens for tokens in commands if tokens[1] == "build"]
    runs = [tokens for tokens in commands if tokens[1] == "run"]
    assert builds and len(runs) >= 3, commands

    # the build line tags the image the run lines start, from the folder holding the Dockerfile
    tags = {tokens[tokens.index("-t") + 1] for tokens in builds}
    assert tags == {"ufora/service"} and all(tokens[-1] == "." for tokens in builds)
    exposed = {int(port) for ports in arguments(instructions, "EXPOSE") for port in ports}
    volumes = [path for paths in arguments(instructions, "VOLUME") for path in paths]
    dockerfile_env = {item.split("=", 1)[0] for env in arguments(instructions, "ENV") for item in env}
    with open(config.__file__) as source:
        known = set(re.findall(r"UFORA_[A-Z_]+", source.read())) | dockerfile_env
    roles = set()
    for tokens in runs:
        options, image, args = docker_run(tokens)
        line = shlex.join(tokens)
        assert image in tags and args == [], line
        env = dict((item.split("=", 1) + [""])[:2] for item in options.get("-e", []))  # -e NAME passes its value
        assert set(env) <= known, f"unknown variable in {line}"
        for volume in options.get("-v", []):
            assert volume.split(":")[1] in volumes, line
        published = set()
        for mapping in options.get("-p", []):
            host, inside = mapping.rsplit(":", 2)[-2:]
            # a worker registers the port it listens on: the host must publish that same port
            assert host == inside, line
            published.add(int(inside))
        assert published <= exposed, line
        # every port its role listens on must be reachable: published, or host networking
        manager = "UFORA_MANAGER_ADDRESS" not in env
        worker = env.get("UFORA_NO_WORKER") != "1"
        base = int(env.get("UFORA_WORKER_BASE_PORT", config.DEFAULT_WORKER_BASE_PORT))
        needed = ({int(env.get("UFORA_WEB_HTTP_PORT", config.DEFAULT_HTTP_PORT)),
                   int(env.get("UFORA_MANAGER_PORT", config.DEFAULT_MANAGER_PORT))} if manager else set())
        needed |= {base, base + 1} if worker else set()
        assert options.get("--net") == ["host"] or needed <= published, line
        if not manager:  # inside a container the default own address is the container's
            assert "UFORA_WORKER_OWN_ADDRESS" in env, line
        roles.add((manager, worker))
    assert roles == {(True, True), (True, False), (False, True)}, "a role is not documented"


def test_dockerfile_builds_the_image_the_entrypoint_and_config_expect(monkeypatch):
    instructions = dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    exposed = {int(port) for ports in arguments(instructions, "EXPOSE") for port in ports}
    assert exposed == {config.DEFAULT_HTTP_PORT, config.DEFAULT_MANAGER_PORT,
                       config.DEFAULT_WORKER_BASE_PORT, config.DEFAULT_WORKER_BASE_PORT + 1}
    assert arguments(instructions, "VOLUME") == [[config.DEFAULT_LOG_DIR]]

    # exec form (no shell between docker and the service), tini first, then the copied script
    entrypoint, = arguments(instructions, "ENTRYPOINT")
    assert entrypoint[:2] == ["tini", "--"] and len(entrypoint) == 3
    copies = arguments(instructions, "COPY")
    assert ["container/entrypoint.py", entrypoint[2]] in copies
    assert os.access(ENTRYPOINT, os.X_OK)
    runs = [args for name, args in instructions if name == "RUN"]
    assert any("apt-get install" in run and "tini" in run.split() for run in runs)

    # the user the entrypoint drops to is the one the image creates
    env = dict(item.split("=", 1) for items in arguments(instructions, "ENV") for item in items)
    assert any("useradd" in run and run.split()[-1] == env["UFORA_RUN_AS"] for run in
               (part.strip() for run in runs for part in run.split("&&")))

    # cache-friendly: setup.py alone, its install, then the packages, then their install;
    # every package setup.py installs is copied, and the build context (.dockerignore) has it
    captured = {}
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("setuptools.setup", lambda **kwargs: captured.update(kwargs))
    runpy.run_path(os.path.join(ROOT, "setup.py"))
    # the source folder of each package's top: ufora.engine's is engine/ (setup.py's package_dir)
    folders = captured.get("package_dir", {})
    packages = {folders.get(name, name.replace(".", "/")).split("/")[0] for name in captured["packages"]}
    assert packages, "setup.py installs no package"
    order = [(name, args.split()) for name, args in instructions]
    position = {(name, tuple(args)): i for i, (name, args) in enumerate(order)}
    installs = [i for i, (name, args) in enumerate(order) if name == "RUN" and "pip" in args[:1]]
    assert len(installs) == 2
    for i in installs:  # the package itself, not editable, without the test extras (with s3's)
        assert not {"-e", "--editable"} & set(order[i][1]) and "test" not in " ".join(order[i][1])
    assert position.get(("COPY", ("setup.py", "./")), len(order)) < installs[0]
    for package in packages:
        copied = position.get(("COPY", (f"{package}/", f"{package}/")), -1)
        assert installs[0] < copied < installs[1], f"{package}/ is not copied between the installs"
    with open(os.path.join(ROOT, ".dockerignore")) as ignore:
        kept = {line[1:].rstrip("/") for line in ignore.read().split() if line.startswith("!")}
    assert {source.split("/")[0] for *sources, _ in copies for source in sources} <= kept


def test_the_dockerfiles_first_install_builds_from_what_it_copied(tmp_path):
    """The image's first ``pip install .`` (the dependencies' layer) has only the files COPY'd
    before it: setup.py must build from those alone (a review found it failing once setup.py
    named packages whose folders were not there yet)."""
    instructions = dockerfile()
    first_install = next(i for i, (name, args) in enumerate(instructions) if name == "RUN" and args.startswith("pip"))
    for name, args in instructions[:first_install]:
        if name == "COPY":
            *sources, destination = args.split()
            for source in sources:
                target = tmp_path / destination
                if destination.endswith("/"):
                    target = target / os.path.basename(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(os.path.join(ROOT, source), target)
    built = subprocess.run([sys.executable, "setup.py", "-q", "build"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert built.returncode == 0, built.stderr
