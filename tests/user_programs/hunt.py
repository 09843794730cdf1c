"""Programs written to hunt for wrong answers, as a data scientist would write them: sums whose
order matters (ints that turn into floats midway, huge ints, infinities), shifts and powers past
64 bits, int/float comparisons past 2**53, sort stability, which key a dict keeps, side effects
of any/all, unequal zips, 2-D numpy rows, unicode case mappings, exceptions from math functions."""
import decimal
import fractions
import math

import numpy as np

N = 40_000


# ---------------------------------------------------------------- sums whose order matters

def prog_int_sum_turns_float_midway(ufora):
    """CPython adds every int after the first float as a double, one by one."""
    weights = [x * 2**40 + 1 for x in range(N)]
    weights[100] = 0.5
    with ufora.remotely.downloadAll():
        total = sum(w for w in weights)
        scaled = sum(w * 3 for w in weights)
    return {"total": total, "scaled": scaled}


def prog_float_then_huge_ints_cancel(ufora):
    """A float first, then ints too big for a C long that cancel: the float is lost in CPython."""
    values = [1.5] + [(2**70 if i % 2 else -2**70) for i in range(N)]
    with ufora.remotely.downloadAll():
        total = sum(v for v in values)
        total_list = sum(values)
    return {"total": total, "total_list": total_list}


def prog_sum_of_big_and_small_floats(ufora):
    """Adding 1.0 to 1e16 is lost each time in CPython's left-to-right sum."""
    with ufora.remotely.downloadAll():
        total = sum(1e16 if x == 0 else 1.0 for x in range(N))
        alternating = sum((1e16 if x % 2 else -1e16) + (x % 3) * 0.25 for x in range(N))
    return {"total": total, "alternating": alternating}


def prog_fsum_and_prod(ufora):
    with ufora.remotely.downloadAll():
        exact = math.fsum(1e16 if x == 0 else 1.0 for x in range(N))
        big_product = math.prod(x % 7 + 1 for x in range(200))
        float_product = math.prod(1.0001 + (x % 5) * 1e-5 for x in range(N))
    return {"exact": exact, "big_product": big_product, "float_product": float_product}


def prog_inf_and_nan_in_sums(ufora):
    with ufora.remotely.downloadAll():
        both = sum(math.inf if x == 10 else (-math.inf if x == 30_000 else 1.0) for x in range(N))
        overflowing = sum(1e308 if x < 3 else -1e308 for x in range(N))
        mean_of_wide = sum(x * 1e300 for x in range(N)) / N
    return {"both": both, "overflowing": overflowing, "mean_of_wide": mean_of_wide}


def prog_negative_zero_sum_and_min(ufora):
    with ufora.remotely.downloadAll():
        only_negative_zeros = sum((-0.0 for _ in range(N)), -0.0)
        min_zero = min(0.0 if x % 2 else -0.0 for x in range(N))
        max_zero = max(-0.0 if x % 2 else 0.0 for x in range(N))
        min_zero_later = min(-0.0 if x == 30_000 else 0.0 for x in range(N))
    return {"only_negative_zeros": only_negative_zeros, "min_zero": min_zero, "max_zero": max_zero,
            "min_zero_later": min_zero_later}


# ---------------------------------------------------------------- ints past 64 bits

def prog_shifts_past_64_bits(ufora):
    with ufora.remotely.downloadAll():
        masks = sum(1 << (x % 70) for x in range(N))
        high = [x << 60 for x in range(N)]
        down = sum((x << 64) >> 63 for x in range(N))
    return {"masks": masks, "high": high[-3:], "down": down}


def prog_fourth_powers_modulo(ufora):
    with ufora.remotely.downloadAll():
        residues = [x * x * x * x % 1_000_003 for x in range(60_000, 60_000 + N)]
        biggest = max(x ** 4 for x in range(60_000, 60_000 + N))
    return {"residues": residues[-4:], "sum": sum(residues), "biggest": biggest}


def prog_int_float_comparison_past_2_53(ufora):
    """Python compares ints and floats exactly; a double cannot hold 2**53 + 1."""
    base = 2**53
    with ufora.remotely.downloadAll():
        differs = sum(1 for x in range(N) if base + x != float(base + x))
        above = sum(1 for x in range(N) if base + x > float(base + x))
        top = max(base + x if x % 2 else float(base + x) for x in range(N))
    return {"differs": differs, "above": above, "top": top}


def prog_hashes_of_numbers(ufora):
    with ufora.remotely.downloadAll():
        int_hashes = sum(hash(x) for x in range(-N, N))
        float_hashes = sum(hash(x / 4) for x in range(N)) % (2**61 - 1)
        buckets = [hash(x * 0.1) % 97 for x in range(N)]
    return {"int_hashes": int_hashes, "float_hashes": float_hashes, "buckets": buckets[::997]}


def prog_three_argument_pow(ufora):
    with ufora.remotely.downloadAll():
        residues = sum(pow(x, 65_537, 1_000_000_007) for x in range(N))
        inverses = [pow(x, -1, 40_009) for x in range(1, N)]
    return {"residues": residues, "inverses": inverses[:5], "inverse_sum": sum(inverses)}


# ---------------------------------------------------------------- floats and math functions

def prog_zero_to_negative_power(ufora):
    rates = [(x % 1000) / 10 for x in range(N)]
    inverse = error = None
    try:
        with ufora.remotely.downloadAll():
            inverse = [r ** -1 for r in rates]
    except Exception as e:
        error = e
    return {"inverse": inverse, "error": error}


def prog_math_domain_errors(ufora):
    found = []
    for kind in range(5):
        result = None
        try:
            with ufora.remotely.downloadAll():
                if kind == 0:
                    result = sum(math.acos(1 - x / 20_000) for x in range(N))
                elif kind == 1:
                    result = sum(math.atanh(x / 30_000) for x in range(N))
                elif kind == 2:
                    result = sum(math.fmod(x, x % 20_000) for x in range(1, N))
                elif kind == 3:
                    result = sum(math.floor(1e300 * x * 1e10) for x in range(N))
                else:
                    result = sum(x % (x % 30_000 * 0.5) for x in range(1, N))
        except Exception as e:
            result = e
        found.append(result)
    return {"found": found}


def prog_float_divmod_and_remainder(ufora):
    with ufora.remotely.downloadAll():
        pairs = [divmod(x * 0.37 - 5000, 7.3) for x in range(N)]
        remainders = [math.remainder(x * 0.37, 7.3) for x in range(N)]
        fmods = [math.fmod(-x * 0.37, 7.3) for x in range(N)]
    return {"pairs": pairs[::1999], "remainders": remainders[::1999], "fmods": fmods[::1999],
            "sums": (sum(p[0] for p in pairs), sum(remainders), sum(fmods))}


def prog_round_to_digits(ufora):
    prices = [x / 1000 + 0.0005 for x in range(N)]
    with ufora.remotely.downloadAll():
        cents = [round(p, 2) for p in prices]
        thirds = [round(x / 3, 3) for x in range(N)]
        hundreds = [round(x * 1.5, -2) for x in range(N)]
        int_hundreds = [round(x * 37, -2) for x in range(N)]
    return {"cents": cents, "thirds": thirds[::97], "hundreds": hundreds[::101], "int_hundreds": int_hundreds[::89]}


# ---------------------------------------------------------------- sorting and ranking

def prog_sorted_with_nans(ufora):
    readings = [float("nan") if i % 17 == 3 else ((i * 7919) % 10_007) / 10.0 for i in range(N)]
    with ufora.remotely.downloadAll():
        ordered = sorted(r for r in readings)
        top = sorted((r for r in readings), reverse=True)[:20]
    return {"ordered": ordered[::113], "top": top}


def prog_sorted_stable_reverse_ties(ufora):
    people = [(f"p{i}", (i * 37) % 50) for i in range(N)]
    with ufora.remotely.downloadAll():
        by_age = sorted((p for p in people), key=lambda p: p[1], reverse=True)
        by_age_up = sorted(people, key=lambda p: p[1])
        mixed = sorted([1, 1.0, True, 0, 0.0, False] * 1000)
    return {"by_age": by_age[:30] + by_age[-30:], "by_age_up": by_age_up[:30], "mixed": mixed[990:1010]}


def prog_max_min_key_ties_and_default(ufora):
    words = [("w%d" % i) * (1 + i % 4) for i in range(N)]
    with ufora.remotely.downloadAll():
        longest = max(words, key=len)
        shortest = min((w for w in words), key=len)
        last_longest = max(reversed(words), key=len)
        none_long = max((w for w in words if len(w) > 1000), key=len, default="none")
        tuple_max = max((len(w), i % 3) for i, w in enumerate(words))
        mixed_max = max(((i % 5) * 1.0 if i % 2 else i % 5) for i in range(N))
    return {"longest": longest, "shortest": shortest, "last_longest": last_longest, "none_long": none_long,
            "tuple_max": tuple_max, "mixed_max": mixed_max}


# ---------------------------------------------------------------- dicts and sets

def prog_colliding_keys_keep_first_key(ufora):
    with ufora.remotely.downloadAll():
        table = {(x % 3 if x % 2 else float(x % 3)): x for x in range(N)}
        truthy = {(x % 2 == 1 if x > 30_000 else x % 2): x for x in range(N)}
        seen = {(float(x % 5) if x > 20_000 else x % 5) for x in range(N)}
        literal = {1: "a", 1.0: "b", True: "c"}
    return {"table": table, "truthy": truthy, "seen": sorted((repr(s) for s in seen)), "literal": literal}


def prog_dict_insertion_order_with_updates(ufora):
    with ufora.remotely.downloadAll():
        last_seen = {(x * 7919) % 1000: x for x in range(N)}
        order = list(last_seen)
    return {"order": order[:40], "values": list(last_seen.values())[:40]}


# ---------------------------------------------------------------- any/all, side effects, errors

def prog_any_with_logging_side_effect(ufora):
    log = []
    with ufora.remotely.downloadAll():
        found = any(log.append(x) or x * x > 900_000_000 for x in range(N))
    return {"found": found, "log_len": len(log), "log_tail": log[-3:]}


def prog_all_error_before_false(ufora):
    found = error = None
    try:
        with ufora.remotely.downloadAll():
            found = all(100 / (x - 25_000) < 50 for x in range(N))
    except Exception as e:
        error = e
    return {"found": found, "error": error}


def prog_filter_raises_late(ufora):
    records = [{"v": i} if i != 33_333 else {"w": i} for i in range(N)]
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = [r["v"] for r in records if r["v"] % 2 == 0]
    except Exception as e:
        error = e
    return {"result": result, "error": error}


def prog_two_error_types(ufora):
    values = list(range(N))
    values[31_000] = "n/a"
    values[12_345] = None
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = sum(v * 2 for v in values)
    except Exception as e:
        error = e
    return {"result": result, "error": error}


# ---------------------------------------------------------------- zip, enumerate, iterators

def prog_zip_consumes_one_more(ufora):
    data = list(range(N))
    short = list(range(N // 2))
    with ufora.remotely.downloadAll():
        source = iter(data)
        pairs = sum(a * b for a, b in zip(source, short))
        after = next(source)
        starts = [i * v for i, v in enumerate(short, start=N)]
    return {"pairs": pairs, "after": after, "starts": starts[-2:]}


# ---------------------------------------------------------------- numpy

def prog_int8_sum_wraps(ufora):
    small = (np.arange(N) % 100).astype(np.int8)
    with ufora.remotely.downloadAll():
        total = sum(small)
        total_gen = sum(v for v in small)
        doubled = [v + v for v in small]
    return {"total": total, "total_gen": total_gen, "doubled": doubled[95:105]}


def prog_uint8_minus_python_int(ufora):
    pixels = (np.arange(N) % 256).astype(np.uint8)
    darker = error = None
    try:
        with ufora.remotely.downloadAll():
            darker = [p - 300 for p in pixels]
    except Exception as e:
        error = e
    return {"darker": darker, "error": error}


def prog_row_sums_of_matrix(ufora):
    m = np.arange(N, dtype=np.float64).reshape(-1, 8) / 7
    with ufora.remotely.downloadAll():
        totals = [row.sum() for row in m]
        column_sum = sum(row for row in m)
        widest = max(m, key=lambda row: row[-1] - row[0])
    return {"totals": totals[::101], "column_sum": column_sum, "widest": widest}


def prog_rows_are_views_of_the_matrix(ufora):
    """Iterating a 2-D array gives views: writing into one writes into the matrix."""
    m = np.arange(N, dtype=np.float64).reshape(-1, 8)
    with ufora.remotely.downloadAll():
        rows = [row for row in m]
        rows[0][0] = -1.0
    return {"m00": m[0, 0], "row00": rows[0][0]}


def prog_float32_max_and_mixed(ufora):
    a = (np.arange(N) % 1000).astype(np.float32) * np.float32(0.1)
    with ufora.remotely.downloadAll():
        biggest = max(a)
        mixed = max(float(v) if i % 2 else v for i, v in enumerate(a))
        total = sum(v * 2 for v in a)
    return {"biggest": biggest, "mixed": mixed, "total": total}


# ---------------------------------------------------------------- strings

def prog_unicode_case_mappings(ufora):
    words = ["Straße", "ǆemal", "İstanbul", "ﬁnal", "Ꟁx", "ΣΑΣ", "ŉ", "groß"] * (N // 8)
    with ufora.remotely.downloadAll():
        upper = [w.upper() for w in words]
        lower_lengths = sum(len(w.lower()) for w in words)
        folded = {w.casefold() for w in words}
        capital = [w.capitalize() for w in words[:8]]
        titled = [w.title() for w in words[:8]]
        alpha = sum(w.isalpha() for w in words)
    return {"upper": upper[:8], "lower_lengths": lower_lengths, "folded": sorted(folded), "capital": capital,
            "titled": titled, "alpha": alpha}


def prog_fstring_widths(ufora):
    with ufora.remotely.downloadAll():
        lines = [f"{x:>8.3f}|{x:<6d}|{-x / 7:+.2e}|{x:08_x}|{x / 3:10.4%}" for x in range(N)]
        lengths = sum(len(line) for line in lines)
    return {"lines": lines[::3331], "lengths": lengths}


# ---------------------------------------------------------------- exact numbers

def prog_decimal_rounding_context(ufora):
    amounts = [decimal.Decimal(x) / 7 for x in range(N)]
    with ufora.remotely.downloadAll():
        decimal.getcontext().prec = 5
        decimal.getcontext().rounding = decimal.ROUND_DOWN
        total = sum(a * 3 for a in amounts)
        biggest = max(a + 1 for a in amounts)
    return {"total": total, "biggest": biggest}


def prog_fraction_then_float(ufora):
    with ufora.remotely.downloadAll():
        total = sum(fractions.Fraction(1, 3) if x == 5 else (0.1 if x == 20_000 else x) for x in range(N))
        exact = sum(fractions.Fraction(x, 7) for x in range(N))
    return {"total": total, "exact": exact}
