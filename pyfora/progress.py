"""A progress bar for a block's parallel shapes, from the cluster's PROGRESS notifications.

On a terminal (stderr is a TTY) it is a tqdm bar on stderr; in Jupyter, tqdm's widget when
ipywidgets is installed (``tqdm.auto`` chooses). Elsewhere (a log file, a pipe, CI) nothing is
drawn. One bar per block: a block that runs several shapes one after another shows each in turn
on it. When the block ends the bar stays, telling how it ended: full (green in Jupyter) when the
block succeeded, whatever its last report said (reports come every 0.25 s, and ``any()`` may stop
a shape early); where it stopped (red in Jupyter) when the block raised or was cancelled.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Optional


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def wanted() -> bool:
    """Whether a bar would be seen here."""
    return _in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def _is_widget(bar: Any) -> bool:
    notebook = sys.modules.get("tqdm.notebook")  # imported by tqdm.auto in Jupyter only
    return notebook is not None and isinstance(bar, notebook.tqdm_notebook)


class ProgressBar:
    """Fed by ``update`` in the connection's reader thread, ended by ``close`` in the thread
    that waits for the block: after ``close``, a late report draws nothing."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Optional[int] = None
        self._closed = False
        self._lock = threading.Lock()

    def update(self, status: dict) -> None:
        from tqdm.auto import tqdm

        with self._lock:
            if self._closed:
                return
            if self._bar is None:
                self._bar = tqdm(total=status["items_total"], unit="item", unit_scale=True,
                                 desc="ufora", file=sys.stderr)
            elif status["task"] != self._task:  # the block's next shape
                self._bar.reset(total=status["items_total"])
            self._task = status["task"]
            self._bar.n = status["items_done"]
            self._bar.set_postfix(cores=status["active_cores"], moved=_bytes(status["bytes_moved"]),
                                  refresh=False)
            self._bar.refresh()

    def close(self, succeeded: bool) -> None:
        """Leave the bar full if the block ``succeeded``, else where it stopped, marked failed."""
        with self._lock:
            self._closed = True
            if self._bar is None:
                return
            if succeeded:
                self._bar.n = self._bar.total
            elif _is_widget(self._bar):
                self._bar.disp(bar_style="danger")  # red even when its last shape had done every item
            self._bar.close()
            self._bar = None


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}"
        size /= 1000
    return f"{size:.0f} TB"
