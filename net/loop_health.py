"""The service's own event-loop health: every step that holds the loop too long is named.

A service's event loop answers heartbeats, socket.io pings and every channel; one step that runs
for a second (a blocking write, a big unpickle) stalls all of them, and the symptom shows up far
away (a client's session dropped, a worker declared gone). So each step of the loop is timed
(``asyncio.Handle._run``, in the service's process only: about 0.2 us a step), and a step over
``SLOW_STEP`` is logged as a warning that names the callback or the coroutine it ran, with the
longest step since start kept for the status page.
"""
from __future__ import annotations

import asyncio
import asyncio.events
import logging
import time
from typing import Any, Dict

log = logging.getLogger(__name__)

SLOW_STEP = 0.1  # seconds

_original_run = asyncio.events.Handle._run
health: Dict[str, Any] = {"slow_steps": 0, "longest_step": 0.0, "longest_step_name": ""}


def describe(callback: Any) -> str:
    """What a loop step ran: the coroutine of a task's step, else the callback's name."""
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coroutine = owner.get_coro()
        return f"task {getattr(coroutine, '__qualname__', coroutine)!s}"
    return getattr(callback, "__qualname__", None) or repr(callback)


def _timed_run(handle: asyncio.Handle) -> None:
    started = time.monotonic()
    try:
        _original_run(handle)
    finally:
        took = time.monotonic() - started
        if took > SLOW_STEP:
            name = describe(handle._callback)
            health["slow_steps"] += 1
            if took > health["longest_step"]:
                health["longest_step"], health["longest_step_name"] = took, name
            log.warning("the event loop was held %.3f s by %s", took, name)


def watch() -> None:
    """Time every step of every event loop in this process from now on (idempotent)."""
    asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]


def snapshot() -> Dict[str, Any]:
    return {"slow_steps": health["slow_steps"], "longest_step": round(health["longest_step"], 3),
            "longest_step_name": health["longest_step_name"]}
