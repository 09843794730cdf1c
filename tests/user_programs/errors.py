"""Errors a computation runs into: math domain and range errors, float overflow, numpy and list
index errors, division by zero, conversions of NaN, the first of two errors by position."""
import math
import traceback

import numpy as np

N = 40_000


def prog_sqrt_of_negative(ufora):
    roots = error = None
    try:
        with ufora.remotely.downloadAll():
            roots = [math.sqrt(30_000 - x) for x in range(N)]
    except Exception as e:
        error = e
    return {"roots": roots, "error": error}


def prog_log_of_zero_in_sum(ufora):
    total = error = None
    try:
        with ufora.remotely.downloadAll():
            total = sum(math.log(x % 35_000) for x in range(1, N))
    except Exception as e:
        error = e
    return {"total": total, "error": error}


def prog_exp_overflow(ufora):
    total = error = None
    try:
        with ufora.remotely.downloadAll():
            total = sum(math.exp(x / 10) for x in range(N))
    except Exception as e:
        error = e
    return {"total": total, "error": error}


def prog_float_power_overflow(ufora):
    growth = error = None
    try:
        with ufora.remotely.downloadAll():
            growth = [1.5 ** (x / 10) for x in range(N)]
    except Exception as e:
        error = e
    return {"growth": growth, "error": error}


def prog_float_multiply_to_inf(ufora):
    with ufora.remotely.downloadAll():
        big = [x * 1e305 for x in range(N)]
        infinite = sum(1 for b in big if math.isinf(b))
    return {"infinite": infinite, "tail": big[-3:]}


def prog_numpy_index_out_of_range(ufora):
    table = np.arange(1000) * 2
    picked = error = None
    try:
        with ufora.remotely.downloadAll():
            picked = [table[(i * 7) % 1010] for i in range(N)]
    except Exception as e:
        error = e
    return {"picked": picked, "error": error}


def prog_numpy_negative_indices(ufora):
    table = np.arange(30_000) * 3
    with ufora.remotely.downloadAll():
        from_end = [table[-(i % 30_000) - 1] for i in range(N)]
    return {"head": from_end[:5], "total": sum(from_end)}


def prog_numpy_negative_index_too_far(ufora):
    table = np.arange(30_000) * 3
    shifted = error = None
    try:
        with ufora.remotely.downloadAll():
            shifted = sum(table[i - 35_000] for i in range(N))
    except Exception as e:
        error = e
    return {"shifted": shifted, "error": error}


def prog_list_index_past_end(ufora):
    readings = [i * 0.5 for i in range(N)]
    pairs = error = None
    try:
        with ufora.remotely.downloadAll():
            pairs = [readings[i + 1] - readings[i] for i in range(len(readings))]
    except Exception as e:
        error = e
    return {"pairs": pairs, "error": error}


def prog_division_by_zero_messages(ufora):
    found = []
    for kind in range(4):
        result = None
        try:
            with ufora.remotely.downloadAll():
                if kind == 0:
                    result = [100 / (x % 35_000) for x in range(1, N)]
                elif kind == 1:
                    result = [100 // (x % 35_000) for x in range(1, N)]
                elif kind == 2:
                    result = [100.0 // (x % 35_000) for x in range(1, N)]
                else:
                    result = [x % (x % 35_000) for x in range(1, N)]
        except Exception as e:
            result = e
        found.append(result)
    return {"found": found}


def prog_key_error_in_lookup(ufora):
    prices = {f"item{i}": i * 0.5 for i in range(100)}
    orders = [f"item{i % 100}" for i in range(N)]
    orders[33_333] = "item-missing"
    cost = error = None
    try:
        with ufora.remotely.downloadAll():
            cost = sum(prices[name] for name in orders)
    except Exception as e:
        error = e
    return {"cost": cost, "error": error}


def check(x):
    if x == 31_000:
        raise ValueError(f"bad value {x}")
    if x == 29_000:
        raise KeyError(x)
    return x


def prog_first_of_two_errors_wins(ufora):
    checked = error = None
    try:
        with ufora.remotely.downloadAll():
            checked = [check(x) for x in range(N)]
    except Exception as e:
        error = e
    return {"checked": checked, "error": error}


def prog_assigned_before_error_written_back(ufora):
    before = total = after = error = None
    try:
        with ufora.remotely.downloadAll():
            before = sum(x for x in range(N))
            total = sum(1 / (x - 36_000) for x in range(N))
            after = "unreached"
    except Exception as e:
        error = e
    return {"before": before, "total": total, "after": after, "error": error}


def prog_int_of_nan_and_inf(ufora):
    values = [x * 0.5 for x in range(N)]
    values[32_000] = float("nan")
    values[36_000] = float("inf")
    ints = error = None
    try:
        with ufora.remotely.downloadAll():
            ints = [int(v) for v in values]
    except Exception as e:
        error = e
    return {"ints": ints, "error": error}


def validate(reading):
    assert reading >= 0, f"negative reading {reading}"
    return reading ** 0.5


def prog_assertion_in_helper(ufora):
    readings = [float(i % 5000) for i in range(N)]
    readings[38_765] = -1.0
    roots = error = None
    try:
        with ufora.remotely.downloadAll():
            roots = [validate(r) for r in readings]
    except Exception as e:
        error = e
    return {"roots": roots, "error": error}


def prog_type_error_mixed_list(ufora):
    values = list(range(N))
    values[30_500] = "30500"
    total = error = None
    try:
        with ufora.remotely.downloadAll():
            total = sum(v * 2 for v in values)
    except Exception as e:
        error = e
    return {"total": total, "error": error}


def probe(x):
    if x == 35_000:
        raise RuntimeError("probe failed")
    return x == 1_000


def prog_any_stops_before_error(ufora):
    found = error = None
    try:
        with ufora.remotely.downloadAll():
            found = any(probe(x) for x in range(N))
    except Exception as e:
        error = e
    return {"found": found, "error": error}


class ValidationError(Exception):
    pass


def parse_amount(text):
    if not text.replace(".", "", 1).isdigit():
        raise ValidationError(f"not an amount: {text!r}")
    return float(text)


def prog_custom_exception_class(ufora):
    texts = [f"{i}.25" for i in range(N)]
    texts[33_000] = "12,5"
    amounts = error = None
    try:
        with ufora.remotely.downloadAll():
            amounts = [parse_amount(t) for t in texts]
    except Exception as e:
        error = e
    return {"amounts": amounts, "error": error, "is_validation_error": isinstance(
        getattr(error, "remoteException", error), ValidationError)}


def prog_zip_strict_length_mismatch(ufora):
    xs = list(range(N))
    ys = list(range(N - 5))
    pairs = error = None
    with ufora.remotely.downloadAll():
        shortest = [a * b for a, b in zip(xs, ys)]
    try:
        with ufora.remotely.downloadAll():
            pairs = [a - b for a, b in zip(xs, ys, strict=True)]
    except Exception as e:
        error = e
    return {"shortest_n": len(shortest), "pairs": pairs, "error": error}


def _parsed_amount(text):
    return int(text)


def _frames(exception):
    return [(frame.name, frame.lineno, frame.line) for frame in traceback.extract_tb(exception.__traceback__)]


def prog_errors_kept_with_their_chain_and_traceback(ufora):
    """A user's trial (2026-12-07, the third): exceptions a loop caught and kept came back with no
    ``__traceback__``, ``__cause__`` or ``__context__``."""
    rows = ["12", "x7", "40", "", "3"]
    with ufora.remotely.downloadAll():
        problems = []
        for row in rows:
            try:
                try:
                    _parsed_amount(row)
                except ValueError as error:
                    raise LookupError(f"bad row {row!r}") from error
            except LookupError as problem:
                problems.append(problem)
        try:
            {}["missing"]
        except KeyError:
            try:
                1 / 0
            except ZeroDivisionError as during:
                kept = during
        check = sum(i % 7 for i in range(N * 10))
    return {"check": check, "problems": [(repr(p), repr(p.__cause__), _frames(p), _frames(p.__cause__))
                                         for p in problems],
            "kept": (repr(kept), repr(kept.__context__), kept.__suppress_context__, _frames(kept))}


def _tenth_of_distance(i):
    return 10 // (i - 399_999)


def prog_an_error_caught_in_the_block_is_formatted_as_cpython_s(ufora):
    """A user's trial (the fourth): the exception a partition raised, caught in the block, had a
    note CPython's has not ("Raised in partition [...]" and the partition's traceback), so
    ``traceback.format_exception_only`` gave 11 lines for CPython's 1."""
    with ufora.remotely.downloadAll():
        try:
            total = sum(_tenth_of_distance(i) for i in range(400_000))
        except ZeroDivisionError as error:
            shown = traceback.format_exception_only(type(error), error)
            notes = getattr(error, "__notes__", None)
            total = None
    return {"shown": shown, "notes": notes, "total": total}
