"""pyfora.pandas_util: the original pyfora's pandas helper, ``read_csv_from_string``.

It is written as a user writes a loop the cluster speeds up: a comprehension over the text's
lines. In a block on the cluster the engine splits it over the cores as it splits the user's own
(``engine.showcase``); anywhere else it is plain Python, in order. Either way each value is
Python's ``float()`` of its text, so the frame is the same to the bit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List

if TYPE_CHECKING:  # imported where a frame is made: importing pyfora must not import pandas
    import pandas


def read_csv_from_string(data: str) -> "pandas.DataFrame":
    """The comma-separated values of ``data`` as a DataFrame of float64 columns, as the original
    pyfora read them: the first line names the columns (each name stripped of spaces), every
    other line holds one number per column, each read by Python's ``float()`` (``1e3``, ``nan``,
    `` 2.5 ``); an empty field is NaN; blank lines are skipped. A line with another number of
    fields, or a field that is not a number, is a ``ValueError`` naming its line and column;
    quoting is not understood (a line is a record)."""
    import numpy
    import pandas

    if not isinstance(data, str):
        raise TypeError(f"read_csv_from_string reads a str, not {type(data).__name__}")
    lines = data.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError("read_csv_from_string: the first line must name the columns, and it is empty")
    names = [name.strip() for name in lines[0].split(",")]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"read_csv_from_string: the first line names {', '.join(map(repr, repeated))} twice")
    rows = [_numbers(line, number, names) for number, line in enumerate(lines[1:], 2) if line.strip()]
    values = numpy.array(rows, dtype=numpy.float64) if rows else numpy.empty((0, len(names)))
    return pandas.DataFrame(values, columns=names)


def _numbers(line: str, number: int, names: List[str]) -> List[float]:
    """The numbers of one line (``number``: its line in the text, the header being line 1)."""
    fields = line.split(",")
    if len(fields) != len(names):
        raise ValueError(f"read_csv_from_string: line {number} has {len(fields)} fields; the first line "
                         f"names {len(names)} columns")
    return [_number(field, number, name) for field, name in zip(fields, names)]


def _number(field: str, number: int, name: str) -> float:
    if not field.strip():
        return float("nan")  # a new NaN, as float(field) gives: no NaN object shared across the lines
    try:
        return float(field)
    except ValueError:
        raise ValueError(f"read_csv_from_string: line {number}, column {name!r}: {field!r} is not a number") from None
