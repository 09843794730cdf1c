"""Reading functions without running them: the names their code refers to, their nested code
objects, the values in their closure cells. Used by the kernel builder (what to compile), the
side-effect check (what to read), the function rewriter (what to walk) and the client (which
files to ship)."""
from __future__ import annotations

import types
from typing import Any, Iterator

EMPTY = object()  # the contents of a closure cell not assigned yet


def nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and every code object defined inside it (lambdas, comprehensions, functions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from nested_codes(const)


def referenced_names(code: types.CodeType) -> set:
    """Every global (or attribute) name ``code`` and the code inside it refer to."""
    return {name for nested in nested_codes(code) for name in nested.co_names}


def cell_contents(cell: types.CellType) -> Any:
    """A closure cell's value, or EMPTY when the variable is not assigned yet."""
    try:
        return cell.cell_contents
    except ValueError:
        return EMPTY
