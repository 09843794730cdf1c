"""What blocks' runs taught about where they are faster, kept on disk for the client's next
process (``pyfora.run_here``).

A script is run again and again, each time in a new process; without this, every run of it would
start over: each block's first run would go where the guess says (``pyfora.first_run``), and a
block the cluster made slower would be slower once more per run. The file holds, per block (its
file, its ``with`` line and a digest of its file's text: a changed file starts over), the times
learned and the sizes of the values they were learned on, as JSON (nothing in it runs code when
read). ``UFORA_BLOCK_TIMES`` names the file; empty, nothing is kept (the test suite, and the
benchmarks, whose first runs must be first runs). An unreadable file is reported and replaced at
the next save; a file that cannot be written is reported once, and the process goes on without.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any, Dict, List, Optional

from ufora.net import config

log = logging.getLogger(__name__)

VARIABLE = "UFORA_BLOCK_TIMES"
_VERSION = 1
_warned: set = set()  # what was already reported (a path that cannot be written, ...)


def path() -> Optional[str]:
    """The file (``$UFORA_BLOCK_TIMES``, else ``block-times.json`` in the user's cache folder);
    None when it is set empty."""
    if VARIABLE in os.environ:  # set empty: none kept
        return config.read(VARIABLE)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "pyfora", "block-times.json")


def _warn_once(what: str, message: str, *args: Any) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning(message, *args)


def load(file: str) -> List[Dict[str, Any]]:
    """The entries kept in ``file``, oldest first ([] when there is none, or it cannot be read:
    reported)."""
    try:
        with open(file, encoding="utf-8") as stream:
            kept = json.load(stream)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        _warn_once(f"read {file}", "the block times in %s cannot be read (%s); they are started anew", file, exc)
        return []
    if not isinstance(kept, dict) or kept.get("version") != _VERSION or not isinstance(kept.get("blocks"), list):
        _warn_once(f"read {file}", "the block times in %s are not in this pyfora's format; they are started anew",
                   file)
        return []
    return [entry for entry in kept["blocks"] if isinstance(entry, dict)]


def save(file: str, entries: List[Dict[str, Any]]) -> None:
    """Write ``entries`` to ``file`` whole (another process reading it sees the old file or the
    new one, never half of one); readable by the user only."""
    folder = os.path.dirname(os.path.abspath(file))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".block-times-", dir=folder)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump({"version": _VERSION, "blocks": entries}, stream)
            os.replace(temporary, file)
        except BaseException:
            os.unlink(temporary)
            raise
    except (OSError, TypeError, ValueError) as exc:
        _warn_once(f"write {file}", "the block times cannot be kept in %s (%s): the next process starts over",
                   file, exc)
