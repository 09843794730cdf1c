"""Coroutines a service starts and does not wait for (a write, a fetch, a link's reader).

asyncio keeps only a weak reference to a task: one nobody holds can be collected mid-flight.
A service keeps its background tasks here until they end, and cancels those left when it stops.
"""
from __future__ import annotations

import asyncio
from typing import Any, Coroutine, Set


class Background:
    def __init__(self) -> None:
        self._tasks: Set[asyncio.Future] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
