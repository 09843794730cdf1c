"""Installs the comparison packages ``make bench`` needs when they are missing.

They are not dependencies of the project (nobody running pyfora needs Ray), so they are fetched
here, into the interpreter running the harness, with its own pip. A package that cannot be
installed is reported, not raised: its rows in the table say why.
"""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from typing import Dict, Iterable, Optional

from perf.engines import Requirement

MATPLOTLIB = Requirement("matplotlib", "matplotlib")
PIP_TIMEOUT = 900.0  # seconds; Ray's wheel is large


def _install(requirement: Requirement, log) -> Optional[str]:
    log(f"installing {requirement.pip} (missing) ...")
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement.pip],
                              capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"pip install {requirement.pip} took over {PIP_TIMEOUT:.0f} s"
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        last = (errors or done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"pip install {requirement.pip} failed: {last}"
    importlib.invalidate_caches()
    return None


def ensure(requirements: Iterable[Requirement], log) -> Dict[Requirement, Optional[str]]:
    """For each requirement, None when it is importable (installing it first if need be), else
    why it is not."""
    outcome: Dict[Requirement, Optional[str]] = {}
    for requirement in dict.fromkeys(requirements):
        if importlib.util.find_spec(requirement.module) is None:
            outcome[requirement] = _install(requirement, log)
        else:
            outcome[requirement] = None
    return outcome
