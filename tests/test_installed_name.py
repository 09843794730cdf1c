"""One installed name: ``pip install`` puts ``ufora`` (holding ``ufora.engine`` and ``ufora.net``,
the design's top-level folders engine/ and net/) and ``pyfora`` in site-packages, nothing else;
and a user's script, a block on an embedded cluster and ``ufora-service`` work alike from a built
wheel and from a fresh clone that installed nothing, with no module named plain ``engine`` or
``net`` loaded in the client or on the cluster."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

# A user's script with modules of its own named engine and net (the names ufora no longer takes):
# a block with a parallel shape calling them, and one that reports the cluster's modules, on an
# embedded cluster; then what the client loaded.
USER_MODULES = {"engine.py": "def speed(x):\n    return 2 * x\n", "net.py": "RATE = 5\n"}
USER_SCRIPT = '''
import json
import sys

import engine
import net
import pyfora


def scaled(x):
    return 3 * x


executor = pyfora.connect(progress=False, serial_here=False)
with executor.remotely.downloadAll():
    total = sum(scaled(i) for i in range(100000))
    mine = sum(engine.speed(i) * net.RATE for i in range(100000))
with executor.remotely.downloadAll():
    remote = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
              if name.split(".")[0] in ("ufora", "engine", "net")}
executor.close()
local = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
         if name.split(".")[0] in ("ufora", "engine", "net")}
print(json.dumps({"total": total, "mine": mine, "remote": remote, "local": local}))
'''
EXPECTED = {"total": sum(3 * i for i in range(100000)), "mine": sum(2 * i * 5 for i in range(100000))}


def _run_user_script(folder: str, env: dict) -> dict:
    for name, text in {**USER_MODULES, "user_script.py": USER_SCRIPT}.items():
        with open(os.path.join(folder, name), "w") as out:
            out.write(text)
    script = os.path.join(folder, "user_script.py")
    done = subprocess.run([sys.executable, script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_loaded_from(report: dict, layout: str) -> None:
    """The script's answers are CPython's, every ufora module of the client and of the cluster's
    compute process came from ``layout`` under its ``ufora`` name, and the plain names ``engine``
    and ``net`` are the user's modules (on the cluster, sent by value, they are not in
    ``sys.modules``)."""
    assert {name: report[name] for name in EXPECTED} == EXPECTED
    for side in ("local", "remote"):
        modules = report[side]
        assert "ufora.engine.runtime" in modules and "ufora.net.config" in modules, (side, sorted(modules))
        ours = {name: path for name, path in modules.items() if name.split(".")[0] == "ufora"}
        outside = {name: path for name, path in ours.items() if path and not path.startswith(layout)}
        assert not outside, f"{side}: loaded from outside {layout}: {outside}"
        plain = {name: path for name, path in modules.items() if name.split(".")[0] in ("engine", "net")}
        assert side == "remote" or sorted(plain) == ["engine", "net"], f"{side}: {plain}"
        assert all(path is None or path.endswith(("/engine.py", "/net.py")) for path in plain.values()), \
            f"{side}: ufora's own under a plain name: {plain}"


def _environment(**extra: str) -> dict:
    env = {name: value for name, value in os.environ.items() if name not in ("UFORA_URL", "PYTHONPATH")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    """The wheel ``pip wheel .`` builds from the sources as they are (not the editable install)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = str(folder / "source")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "*.egg-info",
                                                                "__pycache__", "perf", "tests"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), source],
                   check=True, capture_output=True, timeout=300)
    built, = [name for name in os.listdir(folder) if name.endswith(".whl")]
    return str(folder / built)


def test_the_wheel_holds_ufora_and_pyfora_only_with_every_source_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    info = {top for top in tops if top.endswith(".dist-info")}
    assert len(info) == 1 and tops - info == {"ufora", "pyfora"}, sorted(tops)
    for folder in ("engine", "net", "pyfora"):
        for directory, _, files in os.walk(os.path.join(ROOT, folder)):
            if "__pycache__" in directory:
                continue
            relative = os.path.relpath(directory, ROOT)
            installed = relative if folder == "pyfora" else os.path.join("ufora", relative)
            for name in files:
                assert os.path.join(installed, name) in names, f"{relative}/{name} is not in the wheel"
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{info.pop()}/entry_points.txt").decode()
    assert "ufora-service = ufora.net.service:main" in entry_points


def test_a_script_and_the_service_command_from_the_installed_wheel(wheel, tmp_path):
    """Installed into a folder of its own (first on the path, ahead of this checkout's editable
    install), run from a folder that is not the checkout."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
                   check=True, capture_output=True, timeout=300)
    assert sorted(name for name in os.listdir(target) if not name.endswith(".dist-info")) == \
        ["bin", "pyfora", "ufora"]
    env = _environment(PYTHONPATH=str(target))
    work = tmp_path / "work"
    work.mkdir()
    _assert_loaded_from(_run_user_script(str(work), env), str(target) + os.sep)

    help_text = subprocess.run([str(target / "bin" / "ufora-service"), "--help"], env=env, capture_output=True,
                               text=True, timeout=60)
    assert help_text.returncode == 0 and "UFORA_MANAGER_ADDRESS" in help_text.stdout, help_text.stderr


def test_a_script_and_the_service_module_from_a_fresh_clone_with_nothing_installed(tmp_path):
    """The files a clone has (git's tracked and new ones, as they are now), on the path of a script
    in a folder of its own (in the clone's root, the folder engine/ would hide the user's
    engine.py, as any package folder beside a script does): ufora/__init__.py maps ufora.engine
    and ufora.net onto the clone's engine/ and net/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        if name.split("/")[0] in ("ufora", "engine", "net", "pyfora") and os.path.isfile(os.path.join(ROOT, name)):
            os.makedirs(clone / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), clone / name)
    env = _environment(PYTHONPATH=str(clone))
    work = tmp_path / "work"
    work.mkdir()
    _assert_loaded_from(_run_user_script(str(work), env), str(clone) + os.sep)

    help_text = subprocess.run([sys.executable, "-m", "ufora.net.service", "--help"], cwd=clone, env=env,
                               capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and "UFORA_MANAGER_ADDRESS" in help_text.stdout, help_text.stderr
