"""Reducers: what a parallel shape computes per partition and how partials combine, in order.

Each reducer has
* ``template``: the numba kernel's source, with ``{params}`` (the source's arguments),
  ``{bind}`` (the lines binding item i), ``{args}`` (how the element is called) and ``{filter}``
  (the ``if`` clauses) filled in by ``engine.kernels``;
* ``python_partition``: the same partition in CPython (fallback, and recomputation when a
  compiled partition raised or could have overflowed);
* ``from_kernel``: a compiled partition's result as a partial, or None to recompute in CPython;
* ``combine``: the partials in partition order to the value CPython would have given;
* ``stops``: whether a partial decides the whole result (``any``/``all`` found their answer),
  so later partitions need not run.

Semantics kept: ``sum`` gives CPython's left-to-right answer (ints exactly; other partials are
combined only where regrouping is exact, ``Sum.serial_because``, else the sum is made in order);
``min``/``max`` keep the first of equal elements, as CPython's
strict comparisons do, and call ``key`` once per element; ``any``/``all`` stop at the first
deciding element by position; ``len`` of a list comprehension counts the elements it computes;
collected results keep CPython's order, so sets and dicts are built by inserting the elements in
the order CPython would have.
"""
from __future__ import annotations

import builtins
import datetime
import decimal
import fractions
import itertools
import math
import typing
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ufora.engine.sources import values_of

INT_EXACT_BOUND = float(2 ** 62)  # a float64 bound of |partial sums| below this cannot hide a wrap
_EXACT_FLOAT_INTEGERS = float(2 ** 53)  # integers up to this add exactly in float64, in any order
_EXACT_SUMS = (int, np.integer, fractions.Fraction, list, tuple)  # whose additions associate exactly
_CHUNK = 4096  # floats a CPython partition adds with sum() between two integer checks
_FILTER = "        if not condition({args}):\n            continue\n"
_NOT_FOUND = object()


def filter_lines(has_condition: bool, args: str) -> str:
    return _FILTER.format(args=args) if has_condition else ""


def _extended(run: list, values: Iterator) -> Optional[BaseException]:
    """``run`` extended by the next ``_CHUNK`` values (in C); what computing one of them raised,
    if one did, with the values before it kept in ``run``: a loop meets them first."""
    try:
        run.extend(itertools.islice(values, _CHUNK))
    except BaseException as error:  # noqa: BLE001 - raised by the caller, after the values before it
        return error
    return None


def _run_before_error(values: Iterator) -> typing.Generator[typing.Any, None, list]:
    """The next run of ``_CHUNK`` values (``yield from`` it); one that raised ends the run: the
    values before it are yielded one by one (the loop compares them first), then it is raised."""
    run: list = []
    error = _extended(run, values)
    if error is not None:
        yield from run
        raise error
    return run


def _values(items: Iterable, element: Optional[Callable], condition: Optional[Callable]) -> Iterator:
    """The elements of the items that pass ``condition``, in order (``engine.sources.values_of``);
    the items themselves when ``element`` is None (several ``for`` clauses: the inner loops' values)."""
    return values_of(items, element, condition, None)


class Sum:
    """Ints are summed exactly in compiled code: each value is split into its high and low 32
    bits, summed apart (neither sum can wrap within 2**30 items), the low sum's carry
    moved into the high one after each chunk; the partial is ``high * 2**32 + low`` as a Python
    int, exact to about 2**94 (beyond, the partition is recomputed with Python ints). The loop
    stays a plain vectorisable loop: ``sum(x for x in range(10**10))`` at compiled speed.

    Partials are ``(has_value, total, bound)``. Regrouping a sum by partition gives the serial
    answer only when every addition is exact, so ``bound`` says whether it is: 0.0 for values
    whose addition is exact (ints, numpy's wrapping ints, Fractions, lists and tuples), the sum
    of the magnitudes for floats that are all integers (every partial sum of integers whose
    magnitudes add up to at most 2**53 is exact, in any order), None otherwise. ``serial_because``
    then says when the partials must not be combined: the sum is made again in order."""
    name = "sum"
    outputs = 0
    # (floats: -0.0 + x is x for every x, so a sum of -0.0 stays -0.0, as CPython's sum(rest,
    # first) of the partition; 0.0 would make it 0.0. ``fraction`` stays 0.0 while every value
    # is an integer; np.floor, a float, costs nothing here, where math.floor's int costs 50%)
    template = """
def kernel({params}, lo, hi):
    total = -0.0
    count = 0
    magnitude = 0.0
    fraction = 0.0
    for i in range(lo, hi):
{bind}{filter}        value = element({args})
        total += value
        count += 1
        magnitude += abs(value)
        fraction += value - np.floor(value)
    return count > 0, total, magnitude, fraction
"""
    int_template = """
def kernel({params}, lo, hi):
    high = 0
    low = 0
    count = 0
    for chunk in range(lo, hi, {chunk}):
        for i in range(chunk, min(chunk + {chunk}, hi)):
{bind_inner}{filter_inner}            value = int(element({args}))
            high += value >> 32
            low += value & 0xFFFFFFFF
            count += 1
        high += low >> 32
        low &= 0xFFFFFFFF
        if high > {high_bound} or high < -{high_bound}:
            return count > 0, 0, 0, True
    return count > 0, high, low, False
""".replace("{chunk}", str(2 ** 30)).replace("{high_bound}", str(2 ** 62))

    @staticmethod
    def scalar_of(sample) -> type:
        """The numpy type of a partial sum of elements like ``sample``: CPython's sum starts at 0,
        and ``0 + np.True_`` is an int64."""
        return type(0 + sample)

    @staticmethod
    def template_for(element_type) -> str:
        """The kernel for elements of this numba type: ints and bools exactly, else as added."""
        from numba.core import types

        return Sum.int_template if isinstance(element_type, (types.Integer, types.Boolean)) else Sum.template

    @staticmethod
    def accepts(args: tuple, kwargs: dict) -> bool:
        """A start that sum() refuses (text) runs serially, so CPython raises its own error."""
        start = args[0] if args else kwargs.get("start")
        return (len(args) + len(kwargs) <= 1 and set(kwargs) <= {"start"}
                and not isinstance(start, (str, bytes, bytearray)))

    @staticmethod
    def python_partition(items, element, condition, key) -> Tuple[bool, typing.Any, Optional[float]]:
        """Left to right from the partition's first element, in C where it can be:
        ``sum(rest, first)`` adds exactly as the loop would (CPython's own sum does); floats in
        chunks, each checked for being integers (the partial's ``bound``)."""
        values = _values(items, element, condition)
        first = next(values, _NOT_FOUND)
        if first is _NOT_FOUND:
            return False, None, 0.0
        if isinstance(first, (str, bytes, bytearray)):  # sum() refuses these as a start
            total = first
            for value in values:
                total = total + value
            return True, total, None
        if not isinstance(first, float):
            total = sum(values, first)
            return True, total, 0.0 if isinstance(total, _EXACT_SUMS) else None
        total, bound = first, _integral_bound([first], 0.0)
        while True:
            chunk: list = []
            error = _extended(chunk, values)
            total = sum(chunk, total)  # the additions before a value that raised raise first, as in the loop
            if error is not None:
                raise error
            if not chunk:
                return True, total, bound
            bound = _integral_bound(chunk, bound)

    @staticmethod
    def from_kernel(result, scalar: Callable) -> Optional[Tuple[bool, Any, Optional[float]]]:
        if isinstance(result[1], float):
            has_value, total, magnitude, fraction = result
            return has_value, scalar(total), magnitude if fraction == 0.0 else None
        has_value, high, low, beyond = result
        if beyond:
            return None  # past what two int64 words hold: recompute with Python ints
        total = (high << 32) + low
        if isinstance(scalar, type) and issubclass(scalar, np.signedinteger):
            total = (total + 2**63) % 2**64 - 2**63  # numpy's int64 scalars wrap as they add
        return has_value, scalar(total), 0.0

    @staticmethod
    def stops(partial) -> bool:
        return False

    @staticmethod
    def serial_because(partials: Sequence, args: tuple, kwargs: dict, grouped: bool = False) -> Optional[str]:
        """Why these partials must not be combined (the sum is made again in order), or None:
        Decimals and narrow floats round at every step; floats that are not all integers of
        bounded size, and objects of other types, may round (or behave) otherwise regrouped;
        once a float is among them, an int or Fraction partial or start (whose own items may
        be large) may too, unless it is 0.
        ``grouped``: the partials added each outer item's inner values first, which only ints
        make the serial sum (the inner values of a float may not be integers)."""
        start = args[0] if args else kwargs.get("start", 0)
        kept = [(value, bound) for has_value, value, bound in partials if has_value]
        inexact = any(isinstance(value, (float, complex, np.inexact)) for value, _ in kept)
        if grouped and inexact:
            return "a float sum of several for clauses was added per outer item: added in order"
        for value, bound in kept:
            if isinstance(value, decimal.Decimal):
                return "a sum of Decimal rounds at each step: added in order"
            if isinstance(value, np.floating) and value.itemsize < 8:
                return f"a sum of {type(value).__name__} rounds at each step in that width: added in order"
            if bound is None:
                kind = type(value).__name__
                if isinstance(value, (float, complex)):
                    return (f"a sum of {kind} values that are not all integers may round otherwise regrouped: "
                            "added in order")
                return f"a sum of {kind} may add otherwise regrouped: added in order"
        if not inexact:
            return None if isinstance(start, _EXACT_SUMS) or _zero(start) else \
                f"a sum started at {type(start).__name__} may add otherwise regrouped: added in order"
        total = _integral_bound([start], 0.0) if isinstance(start, (int, float, np.number)) else None
        for value, bound in kept:
            if not isinstance(value, (float, complex, np.inexact)) and not _zero(value):
                return "a sum of floats and other numbers may round otherwise regrouped: added in order"
            total = None if total is None else total + bound
        if total is None or total > _EXACT_FLOAT_INTEGERS:
            return "a float sum past 2**53 may round otherwise regrouped: added in order"
        return None

    @staticmethod
    def combine(partials: Sequence, function: Callable, args: tuple, kwargs: dict) -> typing.Any:
        total = args[0] if args else kwargs.get("start", 0)
        for has_value, value, _ in partials:
            if has_value:
                total = total + value
        return total


def _zero(value: typing.Any) -> bool:
    """Whether ``value`` is an int or float zero (adding it first changes no later rounding)."""
    return type(value) in (int, float, bool) and value == 0


def in_order_exact(partials: Sequence) -> bool:
    """Whether one partition's ``sum(rest, first)`` over every element, plus a zero start, is
    CPython's ``0 + first + ...``: for numbers, ``0 + first`` is ``first`` exactly; not for a
    Decimal (``0 + d`` rounds ``d`` to the context's precision) or objects (their ``__radd__``)."""
    return all(isinstance(value, (int, float, complex, fractions.Fraction, np.number))
               for has_value, value, *_ in partials if has_value)


def zero_start(args: tuple, kwargs: dict) -> bool:
    """Whether a sum starts at 0 or a float zero: then the sum made in order from the first
    element (``Sum.template``, ``python_partition``), plus the start, is CPython's."""
    return _zero(args[0] if args else kwargs.get("start", 0))


def _integral_bound(values: Sequence, bound: Optional[float]) -> Optional[float]:
    """``bound`` plus the magnitudes of ``values`` if they are all integers (floats or ints,
    finite); else None."""
    if bound is None:
        return None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    with np.errstate(all="ignore"):
        if not np.array_equal(np.floor(array), array):
            return None
        bound += float(np.abs(array).sum())
    return bound if bound <= _EXACT_FLOAT_INTEGERS else None


# Rank types whose ``<`` orders every two values of them (no NaN among them: ``_unordered`` goes
# first), in families (``_order_family``): numbers with numbers; a Decimal with a numpy int raises
_NUMBER_TYPES = frozenset({int, bool, float, fractions.Fraction, np.float64, np.float32, np.float16, np.bool_})
_OWN_FAMILY_TYPES = frozenset({str, bytes, decimal.Decimal, datetime.date, datetime.timedelta})
_AWARE_TYPES = frozenset({datetime.datetime, datetime.time})  # naive and aware ones do not compare
# totally ordered, and never a NaN: the best of a run of one of these is the builtin's (``_Extreme``)
_PLAIN_TYPES = frozenset({int, bool, str, bytes})
_FLOAT_TYPES = frozenset({float, np.float64, np.float32, np.float16, np.longdouble})
# floats whose runs free of NaN the builtin orders as the loop does (the first of equals, -0.0 and
# 0.0 equal): CPython partitions of max over 2M floats took 4x the generator's time in the loop
_C_FLOAT_TYPES = frozenset({float, np.float64})


def _in_c(kinds: typing.Set[type], column: Sequence) -> bool:
    """Whether the values ``column``, whose types are ``kinds``, are of one type that ``<``
    orders totally as ``_Extreme``'s loop does (``_PLAIN_TYPES``; floats none of which is a NaN)."""
    return len(kinds) == 1 and (kinds <= _PLAIN_TYPES or kinds <= _C_FLOAT_TYPES and not any(map(math.isnan, column)))


def _tuples_in_c(run: list) -> bool:
    """Whether the tuples ``run`` are of one length, each place a column of one type the builtin
    orders as the loop does (``_in_c``): then they are of one family (``_order_family``), free of
    NaN, and the builtin's best is the loop's. Tuples holding ints only (or one str or bytes
    type) are told from their places' types at once, whatever their lengths: their columns cost
    twice as much."""
    kinds = set(map(type, itertools.chain.from_iterable(run)))
    if len(kinds) == 1 and kinds <= _PLAIN_TYPES:  # of any lengths, tuples of these are ordered totally
        return True
    if len(set(map(len, run))) != 1:
        return False
    return all(_in_c(set(map(type, column)), column) for column in zip(*run))


def _unordered(rank: typing.Any) -> bool:
    """A binary float NaN: ordered with nothing (``nan > x`` and ``x > nan`` are both false)."""
    return type(rank) in _FLOAT_TYPES and rank != rank


def _order_family(rank: typing.Any, inside: bool = False) -> typing.Hashable:
    """The family of ``rank`` in which ``<`` orders every two values totally, so that the best of
    a partition compared with the best before it is the best CPython's running comparison finds,
    and no comparison raises (a str with an int does); None where there is none: a set (ordered
    by inclusion), an object with comparisons of its own, a Decimal NaN (comparing it raises), or
    a tuple holding one of those or a float NaN (``inside``). A float NaN alone is a number: it
    compares with numbers without raising (``_Extreme`` keeps it out of the best), not with a str."""
    kind = type(rank)
    if kind in _NUMBER_TYPES or isinstance(rank, np.integer):
        return None if inside and _unordered(rank) else "number"
    if kind in _OWN_FAMILY_TYPES:
        return None if kind is decimal.Decimal and rank.is_nan() else kind
    if kind in _AWARE_TYPES:
        return kind, rank.tzinfo is None
    if kind is tuple:
        parts = tuple(_order_family(part, inside=True) for part in rank)
        return None if None in parts else (tuple, parts)
    return None


# a partial's family when it met no rank: it combines with any family (a string, compared by
# equality: a partial is pickled on its way to the driver)
_NO_RANK = "no rank"


class _Extreme:
    """min and max: strict comparison, so the first of equal elements is kept.

    Partials regrouped give CPython's running answer only where ranks are totally ordered. A
    float NaN is ordered with nothing: CPython's running best never becomes one, unless it is
    the very first element, which then stays the answer (nothing is greater than it). So a
    partition's partial is the best of its other ranks (first of equals), its first element
    and rank where that rank is a NaN (``lead``), and the one family of totally ordered types
    every rank was of (``_order_family``: None if not: a tuple holding a NaN, a set, ordered by
    inclusion, an object with comparisons of its own, or ranks of two families, as a str after
    ints, whose comparison raises). A partition whose ranks leave a family stops there, before
    any comparison that could raise; partials of no family, or of two, are not combined: the
    shape runs again in CPython, in order (``serial_because``), which raises CPython's own
    error where one is raised.
    """
    name = ""
    operator = ""
    outputs = 0
    template = """
def kernel({params}, lo, hi):
    found = False
    seen = False
    lead = False
    odd = False
    for i in range(lo, hi):
{bind}{filter}        value = element({args})
        rank = {rank}
        if is_nan(rank):
            if not seen:
                lead = True
                first = value
            seen = True
            continue
        seen = True
        if holds_nan(rank):
            odd = True
        if not found:
            best = value
            best_rank = rank
            found = True
        elif rank {operator} best_rank:
            best = value
            best_rank = rank
    if not lead:
        first = best
    return found, best, best_rank, lead, first, odd
"""

    @staticmethod
    def accepts(args: tuple, kwargs: dict) -> bool:
        return not args and set(kwargs) <= {"key", "default"}

    @classmethod
    def better(cls, rank, best_rank) -> bool:
        return rank < best_rank if cls.operator == "<" else rank > best_rank

    @classmethod
    def python_partition(cls, items, element, condition, key):
        values = _values(items, element, condition)
        if key is None:
            values = cls._runs_in_c(values)
        found, best, best_rank, lead, family, seen = False, None, None, None, _NO_RANK, False
        for value in values:
            rank = value if key is None else key(value)
            own = _order_family(rank)
            family = own if family == _NO_RANK or own == family else None
            if family is None:  # comparing it could raise, or order otherwise: made in order
                return found, best, best_rank, lead, None
            if _unordered(rank):
                if not seen:
                    lead = (value, rank)
                seen = True
                continue
            seen = True
            if not found or cls.better(rank, best_rank):
                found, best, best_rank = True, value, rank
        return found, best, best_rank, lead, family

    @classmethod
    def _runs_in_c(cls, values: Iterator) -> Iterator:
        """``values``, each run of ``_CHUNK`` of them whose ranks are all of one type among
        ``_PLAIN_TYPES``, or of floats none of which is a NaN (``_C_FLOAT_TYPES``), or tuples of
        one length whose every place is such a column (``_tuples_in_c``), replaced by its best,
        which the builtin finds in C (the first of equals, as the loop keeps): the loop's three
        checks per value took three times as long as the builtin over 2.5M ints, and its family
        of each tuple (``_order_family``) made a CPython partition of ``min((x % m, x) for x in
        ...)`` 15x slower than the generator. Any other run is given whole to the loop."""
        builtin = min if cls.operator == "<" else max
        while run := (yield from _run_before_error(values)):
            kinds = set(map(type, run))
            if len(kinds) == 1 and (_in_c(kinds, run) or kinds == {tuple} and _tuples_in_c(run)):
                yield builtin(run)
            else:
                yield from run

    @staticmethod
    def from_kernel(result, scalar: Callable):
        """A compiled partition skips NaN ranks as ``python_partition`` does (``is_nan``:
        ``engine.kernels.nan_tests``); one whose ranks are tuples holding a NaN is not combined
        (numba compares those without CPython's identity shortcut): the shape runs in CPython."""
        found, best, best_rank, lead, first, odd = result
        family = _NO_RANK if not found else None if odd else _order_family(best_rank)  # one numba type
        return found, scalar(best), best_rank, (scalar(first), None) if lead else None, family

    @staticmethod
    def stops(partial) -> bool:
        """A partial of no family is made again in order: the partitions after it do not matter
        (an error of theirs must not be raised before the one CPython would meet first)."""
        return partial[4] is None

    @staticmethod
    def serial_because(partials: Sequence, args: tuple, kwargs: dict, grouped: bool = False) -> Optional[str]:
        families = {family for *_, family in partials if family != _NO_RANK}
        if None not in families and len(families) <= 1:
            return None
        return ("its elements are not totally ordered (tuples holding a NaN, sets, objects with comparisons of "
                "their own, values of types that do not compare), so regrouped they may compare otherwise: "
                "made in order")

    @classmethod
    def combine(cls, partials: Sequence, function: Callable, args: tuple, kwargs: dict) -> typing.Any:
        found, best, best_rank = False, None, None
        for part_found, value, rank, lead, _ in partials:
            if lead is not None and not found:  # the first element of all is a NaN: CPython's answer
                return lead[0]
            if part_found and (not found or cls.better(rank, best_rank)):
                found, best, best_rank = True, value, rank
        if not found:
            return function(iter(()), **kwargs)  # CPython's own default or ValueError
        return best


class Min(_Extreme):
    name, operator = "min", "<"


class Max(_Extreme):
    name, operator = "max", ">"


class _Decision:
    """any and all: the first deciding element by position settles the result."""
    name = ""
    decides_on = True  # any: a true element decides; all: a false one
    outputs = 0
    template = """
def kernel({params}, lo, hi):
    for i in range(lo, hi):
{bind}{filter}        if {test}element({args}):
            return True, i
    return False, hi
"""

    @staticmethod
    def accepts(args: tuple, kwargs: dict) -> bool:
        return not args and not kwargs

    @classmethod
    def python_partition(cls, items, element, condition, key):
        """Whether an element decides, found by the builtin itself (in C; it stops there too)."""
        values = _values(items, element, condition)
        return (any(values) if cls.decides_on else not all(values)), None

    @staticmethod
    def from_kernel(result, scalar: Callable):
        return result

    @staticmethod
    def stops(partial) -> bool:
        return partial[0]

    @classmethod
    def combine(cls, partials: Sequence, function: Callable, args: tuple, kwargs: dict) -> bool:
        if any(decided for decided, _ in partials):
            return cls.decides_on
        return not cls.decides_on


class Any(_Decision):
    name, decides_on = "any", True


class All(_Decision):
    name, decides_on = "all", False


class Count:
    """``len`` of a list comprehension: every element is still computed (it may raise), none is
    kept, so no list is built anywhere."""
    name = "len"
    outputs = 0
    template = """
def kernel({params}, lo, hi):
    count = 0
    for i in range(lo, hi):
{bind}{filter}        element({args})
        count += 1
    return count
"""

    @staticmethod
    def accepts(args: tuple, kwargs: dict) -> bool:
        return not args and not kwargs

    @staticmethod
    def python_partition(items, element, condition, key) -> int:
        return count(_values(items, element, condition))

    @staticmethod
    def from_kernel(result, scalar: Callable) -> int:
        return result

    @staticmethod
    def stops(partial) -> bool:
        return False

    @staticmethod
    def combine(partials: Sequence, function: Callable, args: tuple, kwargs: dict) -> int:
        return sum(partials)


def count(values: Iterable) -> int:
    """What ``len(list(values))`` gives, without the list: the serial form of ``Count``."""
    total = 0
    for _ in values:
        total += 1
    return total


class Collect:
    """list, set and dict comprehensions. Compiled partitions write into output buffers (one,
    or two for dict keys and values) from their first position and return a count: views of
    the driver's shared buffers at the partition's offset, or a peer's own arrays whose values
    travel back with the outcome (``engine.tasks``); CPython partitions return their values."""
    outputs = 1
    template = """
def kernel({params}, lo, hi, out0{extra_output}):
    k = 0
    for i in range(lo, hi):
{bind}{filter}        {store}
        k += 1
    return k
"""
    store = "out0[k] = element({args})"

    def __init__(self, name: str, build: Callable[[List[typing.Any]], Any]):
        self.name = name
        self.build = build
        if name == "dict":
            self.outputs = 2
            self.store = "pair = element({args})\n        out0[k] = pair[0]\n        out1[k] = pair[1]"

    @staticmethod
    def python_partition(items, element, condition, key) -> Tuple[str, List[typing.Any]]:
        if type(items) is list and element is None and condition is None:  # a list comprehension's own
            return "values", items
        return "values", list(_values(items, element, condition))

    @staticmethod
    def from_kernel(result, scalar: Callable) -> Tuple[str, int]:
        return "shared", result

    @staticmethod
    def stops(partial) -> bool:
        return False


REDUCTIONS: Dict[Callable, type] = {builtins.sum: Sum, builtins.min: Min, builtins.max: Max,
                                   builtins.any: Any, builtins.all: All, count: Count}
COLLECTIONS: Dict[str, Collect] = {
    "list": Collect("list", list),
    "set": Collect("set", set),
    "dict": Collect("dict", dict),
}


def by_name(name: str):
    for reducer in (*REDUCTIONS.values(), *COLLECTIONS.values()):
        if reducer.name == name:
            return reducer
    raise KeyError(name)
