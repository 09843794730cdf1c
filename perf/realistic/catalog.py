"""The register of realistic programs: each is a function ``name(ufora, data)`` holding one
``with ufora.remotely.downloadAll():`` block (or a ``remotely`` block and then a
``downloadAll()`` one, as a user keeps data on the cluster) and returning what the block
assigned. ``data`` is what ``make(size)`` built before the clock started, the same for the local
run and the cluster's (a user's own data, sent as a free variable); a program that makes its own
data inside its block is given its size.

The programs are written as users write Python, not to suit the engine: the point is to find
what users meet.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

# The themes, in the order the table shows them: one module of perf.realistic each.
THEMES = ("records", "objects", "numeric", "arrays", "simulations")


@dataclass(frozen=True)
class Program:
    name: str
    theme: str
    run: Callable[[Any, Any], Any]  # (executor or the local stand-in, data) -> the block's results
    size: int                       # what ``make`` is given in a full run ...
    quick: int                      # ... and in a quick one
    make: Callable[[int], Any]

    def data(self, quick: bool) -> Any:
        return self.make(self.quick if quick else self.size)


_REGISTERED: List[Program] = []


def _size_itself(size: int) -> int:
    return size


def program(size: int, quick: Optional[int] = None, make: Callable[[int], Any] = _size_itself):
    """Register the decorated function as a program run at ``size`` (``quick`` in a quick run,
    a fifth of ``size`` unless given), given ``make(size)``."""
    def register(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        theme = function.__module__.rsplit(".", 1)[1]
        _REGISTERED.append(Program(function.__name__, theme, function, size,
                                   quick if quick is not None else max(1, size // 5), make))
        return function
    return register


def programs() -> List[Program]:
    """Every program, theme by theme, each theme's in the order of its file."""
    for theme in THEMES:
        importlib.import_module(f"perf.realistic.{theme}")
    found = sorted(_REGISTERED, key=lambda p: (THEMES.index(p.theme), p.run.__code__.co_firstlineno))
    names = [p.name for p in found]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"two realistic programs share a name: {sorted(duplicates)}")
    return found
