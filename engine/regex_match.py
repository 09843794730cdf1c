"""``re.Match`` across processes. CPython cannot pickle a match, yet a loop as common as
``for line in lines: m = pattern.match(line)`` leaves one in a block's variables, and at home
the block simply ends with ``m`` assigned. A match is fully determined by its pattern, its
string, the bounds it was looked for in and the way it was found; so it travels as those, and
the receiving side finds it again. Either side checks that what it found is the very same match
(every group's span, the last group): one that cannot be found again exactly (a later match of
``finditer`` is found again by iterating, but a match from ``scanner`` may not be) refuses to
pickle, with the reason, rather than arrive as another match.
"""
from __future__ import annotations

import pickle
import re
from typing import Callable, Optional, Tuple

_WAYS = ("match", "fullmatch", "search", "finditer")  # how it may have been found, cheapest first


def _find(pattern: re.Pattern, string, pos: int, endpos: int, way: str, regs: tuple) -> Optional[re.Match]:
    if way == "finditer":
        return next((found for found in pattern.finditer(string, pos, endpos) if found.regs == regs), None)
    return getattr(pattern, way)(string, pos, endpos)


def _same(found: Optional[re.Match], match: re.Match) -> bool:
    return (found is not None and found.regs == match.regs and found.lastindex == match.lastindex
            and found.pos == match.pos and found.endpos == match.endpos)


def reduce(match: re.Match) -> Tuple[Callable, tuple]:
    """The pickle reduction of ``match`` (PicklingError if it cannot be found again exactly)."""
    for way in _WAYS:
        if _same(_find(match.re, match.string, match.pos, match.endpos, way, match.regs), match):
            return rebuild, (match.re, match.string, match.pos, match.endpos, way, match.regs, match.lastindex)
    raise pickle.PicklingError(f"cannot pickle {match!r}: it cannot be found again from its pattern and string")


def rebuild(pattern: re.Pattern, string, pos: int, endpos: int, way: str, regs: tuple,
            lastindex: Optional[int]) -> re.Match:
    found = _find(pattern, string, pos, endpos, way, regs)
    if found is None or found.regs != regs or found.lastindex != lastindex:
        raise pickle.UnpicklingError(f"a re.Match of {pattern.pattern!r} could not be found again here (another "
                                     "version of the re module?)")
    return found
