"""The text of a statement typed at the plain ``python`` prompt, from readline's history.

The plain REPL (before 3.13) keeps no text of what was typed: its code objects are compiled
from ``<stdin>``, and ``linecache`` has nothing under that name. readline's history has the
lines; ``typed_statement`` finds among them the statement a code object came from.
"""
from __future__ import annotations

import sys
import types
from typing import Iterator, List, Tuple

from ufora.engine.code import nested_codes
from pyfora.Exceptions import CantGetSourceTextError

_HISTORY_LINES = 2000  # how far back readline's history is searched for a typed statement


def typed_statement(code: types.CodeType) -> str:
    """The statement typed at the plain ``python`` prompt that compiled to ``code`` or
    defines it (a function typed earlier, called now).

    The plain REPL compiles each statement as ``<stdin>``, numbered from its own first line,
    and keeps no text of it; readline's history keeps the lines typed. A run of history lines
    that starts unindented and compiles, in "single" mode as the REPL compiles, to ``code`` or
    to a code holding it is that statement: code objects compare by bytecode, constants, names
    and line numbers, so the match is exact whatever else the history holds (older sessions,
    the same block typed twice with other values). Limits: the last ``_HISTORY_LINES`` lines
    are searched; code piped in (``python -``, or ``python -i`` whose stdin is no terminal, so
    readline never reads it), a history cleared or edited since, or a ``from __future__``
    import typed earlier that changes how the statement compiles leaves it unfound.
    """
    readline = sys.modules.get("readline")  # the interactive prompt loads it; never import it here
    if not hasattr(sys, "ps1"):
        raise CantGetSourceTextError(
            "the block was read from standard input (python - or a pipe), whose text Python does "
            "not keep; save the code to a file and run that")
    if readline is None:
        raise CantGetSourceTextError(
            "the block was typed at the interactive prompt, whose text only readline's history "
            "keeps, and readline is not loaded; run the block from a file or in IPython")
    count = readline.get_current_history_length()
    items = (readline.get_history_item(i) for i in range(max(1, count - _HISTORY_LINES + 1), count + 1))
    lines = "\n".join(item for item in items if item is not None).split("\n")
    for text, compiled in _typed_candidates(lines, code):
        if any(nested == code for nested in nested_codes(compiled)):
            return text
    raise CantGetSourceTextError(
        f"the statement typed at the interactive prompt is not in the last {_HISTORY_LINES} "
        "lines of readline's history (stdin not a terminal, so readline never saw it? history "
        "cleared or edited since?); type the block again at a terminal, or run it from a file")


def _typed_candidates(lines: List[str], code: types.CodeType) -> Iterator[Tuple[str, types.CodeType]]:
    """Runs of ``lines`` that compile as one statement and may hold ``code``, latest first.
    Each starts on an unindented line and ends before one (or at the end); the statement
    running now (``<module>``) is the last typed, and a statement defining a function or class
    has its name on the line ``code`` starts at."""
    running = code.co_name == "<module>"
    span = max((line for *_, line in code.co_lines() if line), default=1)
    for start in reversed(range(len(lines))):
        first = start + code.co_firstlineno - 1
        if not lines[start].strip() or lines[start][0].isspace() or first >= len(lines):
            continue
        if not running and code.co_name not in lines[first]:
            continue
        for end in ([len(lines)] if running else range(start + span, len(lines) + 1)):
            if end < len(lines) and lines[end][:1].isspace():
                continue
            text = "\n".join(lines[start:end]) + "\n"
            try:
                yield text, compile(text, "<stdin>", "single", dont_inherit=True)
                break
            except SyntaxError:
                continue
