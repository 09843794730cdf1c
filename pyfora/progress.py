"""A progress bar for a block's parallel shapes, from the cluster's PROGRESS notifications.

On a terminal (stderr is a TTY) it is a tqdm bar on stderr; in Jupyter, tqdm's widget when
ipywidgets is installed (``tqdm.auto`` chooses). Elsewhere (a log file, a pipe, CI) nothing is
drawn. One bar per shape: a block that runs several shapes one after another shows each in turn.
"""
from __future__ import annotations

import sys
from typing import Any, Optional


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def wanted() -> bool:
    """Whether a bar would be seen here."""
    return _in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


class ProgressBar:
    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Optional[int] = None

    def update(self, status: dict) -> None:
        from tqdm.auto import tqdm

        if status["task"] != self._task:
            self.close()
            self._task = status["task"]
            self._bar = tqdm(total=status["items_total"], unit="item", unit_scale=True,
                             desc="ufora", leave=False, file=sys.stderr)
        self._bar.n = status["items_done"]
        self._bar.set_postfix(cores=status["active_cores"], moved=_bytes(status["bytes_moved"]),
                              refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _bytes(count: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}"
        count /= 1000
    return f"{count:.0f} TB"
