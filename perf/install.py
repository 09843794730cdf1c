"""Installs the comparison packages ``make bench`` needs when they are missing.

They are not dependencies of the project (nobody running pyfora needs Ray), so they are fetched
here, with pip, into the interpreter running the harness, or, for a requirement that names a
virtual environment of its own (Bodo, whose numba pin would otherwise downgrade the numba that
pyfora and the numba variants run with), into that environment, created first under the
repository root. A package that cannot be installed is reported, not raised: its rows in the
table say why.
"""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, Optional

from perf.engines import Requirement

MATPLOTLIB = Requirement("matplotlib", "matplotlib")
PIP_TIMEOUT = 900.0  # seconds; Ray's wheel is large
ROOT = Path(__file__).resolve().parent.parent


def venv_bin(requirement: Requirement) -> Path:
    """The ``bin`` folder of the requirement's own virtual environment (its python, its
    mpiexec); only for a requirement that names one."""
    assert requirement.venv is not None
    return ROOT / requirement.venv / "bin"


def _python(requirement: Requirement) -> str:
    return str(venv_bin(requirement) / "python") if requirement.venv else sys.executable


def _importable(requirement: Requirement) -> bool:
    if requirement.venv is None:
        return importlib.util.find_spec(requirement.module) is not None
    if not Path(_python(requirement)).exists():
        return False
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({requirement.module!r}) is None)"
    return subprocess.run([_python(requirement), "-c", probe], capture_output=True).returncode == 0


def _run(command: list, what: str) -> Optional[str]:
    """None when the command succeeded, else why not, in one line."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{what} took over {PIP_TIMEOUT:.0f} s"
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        last = (errors or done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{what} failed: {last}"
    return None


def _install(requirement: Requirement, log) -> Optional[str]:
    where = f" into {requirement.venv}" if requirement.venv else ""
    log(f"installing {requirement.pip}{where} (missing) ...")
    if requirement.venv and not Path(_python(requirement)).exists():
        problem = _run([sys.executable, "-m", "venv", str(ROOT / requirement.venv)],
                       f"python -m venv {requirement.venv}")
        if problem:
            return problem
    problem = _run([_python(requirement), "-m", "pip", "install", "-q", requirement.pip],
                   f"pip install {requirement.pip}{where}")
    importlib.invalidate_caches()
    return problem


def ensure(requirements: Iterable[Requirement], log) -> Dict[Requirement, Optional[str]]:
    """For each requirement, None when it is importable where it is to run (installing it first
    if need be), else why it is not."""
    outcome: Dict[Requirement, Optional[str]] = {}
    for requirement in dict.fromkeys(requirements):
        outcome[requirement] = None if _importable(requirement) else _install(requirement, log)
    return outcome
