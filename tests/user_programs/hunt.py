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
        literal = {1: "a", 1.0: "b", True: "c"}  # noqa: F601 - the collision is the point
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


# ---------------------------------------------------------------- batch 2: compiled element code

def prog_two_argument_min_max_keep_types(ufora):
    """min(1, 1.0) is the int 1 (the first of equals); max(nan, 0.0) is nan, max(0.0, nan) is 0.0."""
    readings = [float("nan") if i % 11 == 0 else (i % 7) - 3.0 for i in range(N)]
    with ufora.remotely.downloadAll():
        capped = [min(x % 3, 1.0) for x in range(N)]
        floored = [max(r, 0.0) for r in readings]
        floored_rev = [max(0.0, r) for r in readings]
        clipped_sum = sum(min(max(r, -1.0), 1.0) for r in readings)
    return {"capped": capped[:9], "floored": floored[:23], "floored_rev": floored_rev[:23],
            "clipped_sum": clipped_sum}


def prog_float32_times_python_float(ufora):
    """NumPy 2 keeps float32 when a Python float joins in; int8 + 1 stays int8."""
    a = (np.arange(N) % 1000).astype(np.float32) * np.float32(0.1)
    small = (np.arange(N) % 100).astype(np.int8)
    with ufora.remotely.downloadAll():
        halves = [v * 0.5 for v in a]
        thirds = [v / 3 for v in a]
        shifted = [v + 1.5 for v in a]
        bumped = [s + 1 for s in small]
        tripled = [s * 3 for s in small]
    return {"halves": halves[::997], "thirds": thirds[::997], "shifted": shifted[::997],
            "bumped": bumped[::997], "tripled": tripled[95:105]}


def prog_numpy_row_statistics(ufora):
    m = np.sin(np.arange(N, dtype=np.float64)).reshape(-1, 20)
    m[3, 5] = np.nan
    with ufora.remotely.downloadAll():
        stds = [row.std() for row in m]
        norms = [np.linalg.norm(row) for row in m]
        dots = [row.dot(row) for row in m]
        tops = [row.max() for row in m]
        where = [int(np.argmax(row)) for row in m]
        cums = [row.cumsum()[-1] for row in m]
    return {"stds": stds[:6] + stds[::97], "norms": norms[::97],
            "dots": dots[::97], "tops": tops[:6], "where": where[:6], "cums": cums[::97]}


def prog_shared_nan_object_in_set(ufora):
    """One missing-value object used everywhere: a set keeps it once (identity before equality)."""
    missing = float("nan")
    readings = [missing if i % 5 == 0 else float(i % 50) for i in range(N)]
    with ufora.remotely.downloadAll():
        levels = {r for r in readings}
        counted = {r: 0 for r in readings}
        missing_count = sum(1 for r in readings if r is missing)
        found = missing in readings
    return {"levels": len(levels), "counted": len(counted), "missing_count": missing_count, "found": found}


def prog_sentinel_identity(ufora):
    skip = object()
    items = [skip if i % 3 == 0 else i for i in range(N)]
    with ufora.remotely.downloadAll():
        kept = sum(i for i in items if i is not skip)
        skipped = sum(1 for i in items if i is skip)
    return {"kept": kept, "skipped": skipped}


def prog_set_of_strings_iteration_order(ufora):
    """A set of strings iterates in an order set by the interpreter's string hashes."""
    names = {f"sensor-{i}" for i in range(2000)}
    scores = {f"sensor-{i}": i / 7 for i in range(2000)}
    with ufora.remotely.downloadAll():
        in_order = [n.upper() for n in names]
        total = sum(scores[n] for n in names)
        first_long = max(names, key=len)
    return {"in_order": in_order[:10], "total": total, "first_long": first_long}


def prog_stop_iteration_in_generator(ufora):
    """StopIteration inside a generator expression becomes RuntimeError (PEP 479); a list
    comprehension lets it through."""
    found = []
    for kind in range(2):
        result = None
        try:
            with ufora.remotely.downloadAll():
                source = iter(range(30_000))
                if kind == 0:
                    result = sum(next(source) for _ in range(N))
                else:
                    result = [next(source) for _ in range(N)]
        except Exception as e:
            result = e
        found.append(result if not isinstance(result, list) else len(result))
    return {"found": found}


def prog_print_inside_any(ufora):
    with ufora.remotely.downloadAll():
        hit = any(print("checking", x) or x == 1500 for x in range(3000))
        total = sum(print("row", x) or x for x in range(0, 3000, 7))
    return {"hit": hit, "total": total}


def prog_join_error_names_the_item(ufora):
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = ",".join(str(x) if x != 31_000 else x for x in range(N))
    except Exception as e:
        error = e
    return {"result": result, "error": error}


def prog_join_list_error_names_the_item(ufora):
    labels = [str(x) for x in range(N)]
    labels[29_999] = 29_999
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = "|".join([s.strip() if isinstance(s, str) else s for s in labels])
    except Exception as e:
        error = e
    return {"result": result, "error": error}


def prog_parse_unusual_ints(ufora):
    texts = ["1_000", " 12 ", "\u0661\u0662", "+7", "-0", "0x10", "12.0"] * (N // 7)
    parsed = error = None
    try:
        with ufora.remotely.downloadAll():
            parsed = [int(t) for t in texts]
    except Exception as e:
        error = e
    good = [t for t in texts[:6] if t != "0x10"]
    with ufora.remotely.downloadAll():
        ok = [int(t) for t in good * 1000]
        floats = [float(t) for t in ["1e500", "-inf", " nan ", "1_0.5", "\u0663.5"] * 1000]
    return {"parsed": parsed, "error": error, "ok": ok[:5], "floats": floats[:5]}


def prog_nested_for_clauses(ufora):
    with ufora.remotely.downloadAll():
        pairs = [(i, j) for i in range(300) for j in range(i) if (i + j) % 7 == 0]
        weighted = sum(i * j / 3 for i in range(300) for j in range(i, 300) if (i ^ j) & 1)
        flat = [c for word in ("alpha", "beta", "gamma") * 2000 for c in word if c != "a"]
        best = max((i * j % 101, i, j) for i in range(200) for j in range(200))
    return {"pairs": len(pairs), "pairs_tail": pairs[-3:], "weighted": weighted, "flat": "".join(flat[:30]),
            "flat_len": len(flat), "best": best}


def prog_map_filter_and_builtins(ufora):
    values = [((i * 7919) % 10_007) / 10.0 - 500 for i in range(N)]
    with ufora.remotely.downloadAll():
        absolute = sum(map(abs, values))
        positive = sum(filter(lambda v: v > 0, values))
        rounded = list(map(round, values))
        biggest = max(map(lambda v: v * v, values))
        as_tuple = tuple(v * 2 for v in values)
        frozen = frozenset(int(v) for v in values)
    return {"absolute": absolute, "positive": positive, "rounded": rounded[::997], "biggest": biggest,
            "as_tuple": as_tuple[:3], "frozen": len(frozen)}


def prog_user_generator_function(ufora):
    def readings(n):
        for i in range(n):
            if i % 1000 == 999:
                continue
            yield i * 0.1

    with ufora.remotely.downloadAll():
        total = sum(r * r for r in readings(N))
        top = max(readings(N))
        count = sum(1 for _ in readings(N))
    return {"total": total, "top": top, "count": count}


def prog_mixed_element_types(ufora):
    def cost(i):
        if i % 5 == 0:
            return i // 5
        if i % 5 == 1:
            return i / 5
        if i % 5 == 2:
            return fractions.Fraction(i, 5)
        if i % 5 == 3:
            return True
        return decimal.Decimal(i) / 5

    total = error = None
    try:
        with ufora.remotely.downloadAll():
            costs = [cost(i) for i in range(N)]
            types = {type(c).__name__ for c in costs}
            total = sum(c for c in costs if not isinstance(c, decimal.Decimal))
            dec_total = sum(c for c in costs if isinstance(c, (decimal.Decimal, int)))
            error = sum(costs)
    except Exception as e:
        error = e
    return {"types": sorted(types), "total": total, "dec_total": dec_total, "error": error}


def prog_objects_with_lt_only(ufora):
    class Reading:
        def __init__(self, value):
            self.value = value

        def __lt__(self, other):
            return self.value < other.value

        def __repr__(self):
            return f"Reading({self.value})"

    readings = [Reading((i * 37) % 1000) for i in range(N)]
    with ufora.remotely.downloadAll():
        top = max(readings)
        low = min(r for r in readings)
        ranked = sorted(readings)[:3]
        top_index = readings.index(max(readings))
    return {"top": repr(top), "low": repr(low), "ranked": repr(ranked), "top_index": top_index}


def prog_eq_hash_objects_in_dict(ufora):
    class Key:
        def __init__(self, name, tag):
            self.name, self.tag = name, tag

        def __eq__(self, other):
            return self.name == other.name

        def __hash__(self):
            return hash(self.name)

    keys = [Key(f"k{i % 500}", i) for i in range(N)]
    with ufora.remotely.downloadAll():
        table = {k: k.tag for k in keys}
        kept_tags = sorted(k.tag for k in table)
        unique = {k for k in keys}
        unique_tags = sorted(k.tag for k in unique)
    return {"values": sorted(table.values())[:5], "kept_tags": kept_tags[:5], "unique_tags": unique_tags[:5]}


# ---------------------------------------------------------------- batch 3: numbers at the edges of 64 bits and doubles

def prog_float_to_int_past_int64(ufora):
    with ufora.remotely.downloadAll():
        cents = [int(x * 1e15) for x in range(N)]
        floors = [math.floor(x * 3.3e15) for x in range(N)]
        rounded = [round(x * 7.7e14) for x in range(N)]
        total = sum(int(x * 1e15) for x in range(N))
    return {"cents": cents[-3:], "floors": floors[-3:], "rounded": rounded[-3:], "total": total}


def prog_int_true_division_past_2_53(ufora):
    base = 2**55
    with ufora.remotely.downloadAll():
        thirds = [(base + x) / 3 for x in range(N)]
        ratio = sum((base + x) / (x + 1) for x in range(N))
        halves = [(base + x) // 2 / (x + 1) for x in range(N)]
    return {"thirds": thirds[::997], "ratio": ratio, "halves": halves[::997]}


def prog_int_times_float_past_2_53(ufora):
    base = 2**60
    with ufora.remotely.downloadAll():
        scaled = [(base + x) * 0.5 for x in range(N)]
        shifted = sum((base + x) + 0.25 for x in range(100))
        mixed = [(base + x) - float(base) for x in range(N)]
    return {"scaled": scaled[::997], "shifted": shifted, "mixed": mixed[::997]}


def prog_round_numpy_scalars_to_digits(ufora):
    """round() of a numpy float64 is numpy's rounding (scale, round, unscale), not CPython's."""
    prices = np.arange(N) / 1000
    with ufora.remotely.downloadAll():
        cents = [round(p, 2) for p in prices]
        whole = [round(p * 10) for p in prices]
        python_cents = [round(float(p), 2) for p in prices]
    return {"cents": cents[:80], "whole": whole[::997], "python_cents": python_cents[:80],
            "sums": (sum(cents), sum(python_cents))}


def prog_numpy_bool_arithmetic(ufora):
    mask = (np.arange(N) % 3) == 0
    with ufora.remotely.downloadAll():
        doubled = [m + m for m in mask]
        tripled = [m * 3 for m in mask]
        inverted = [~m for m in mask]
        count = sum(m + m for m in mask)
    return {"doubled": doubled[:4], "tripled": tripled[:4], "inverted": inverted[:4], "count": count}


def prog_numpy_bool_subtract_error(ufora):
    mask = (np.arange(N) % 3) == 0
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = [m - mask[0] for m in mask]
    except Exception as e:
        error = e
    return {"result": result, "error": error}


def prog_hypot_of_coordinates(ufora):
    with ufora.remotely.downloadAll():
        lengths = [math.hypot(x * 0.1, (x % 300) * 0.3) for x in range(N)]
    return {"lengths": lengths[::997], "lengths_sum": sum(lengths)}


def prog_gamma_function(ufora):
    with ufora.remotely.downloadAll():
        gammas = [math.gamma(x / 1000 + 0.5) for x in range(0, N, 4)]
    return {"gammas": gammas[::97]}


def prog_log_gamma_sum(ufora):
    with ufora.remotely.downloadAll():
        lgammas = sum(math.lgamma(x / 100 + 0.1) for x in range(N))
    return {"lgammas": lgammas}


def prog_error_function(ufora):
    with ufora.remotely.downloadAll():
        erfcs = [math.erfc(x / 10_000) for x in range(N)]
        erfs = [math.erf(x / 10_000 - 2) for x in range(N)]
    return {"erfcs": erfcs[::997], "erfs": erfs[::997]}


def prog_log_and_exp_variants(ufora):
    with ufora.remotely.downloadAll():
        logs = [(math.log1p(x / 1e6), math.expm1(x / 1e5), math.log2(x + 1), math.log10(x + 1)) for x in range(N)]
        based = sum(math.log(x + 2, 3) for x in range(N))
    return {"logs": logs[::997], "based": based}


def prog_cube_root_and_exp2(ufora):
    with ufora.remotely.downloadAll():
        cubes = [math.cbrt(x - 20_000.0) for x in range(N)]
        twos = [math.exp2(x / 1000) for x in range(N)]
    return {"cubes": cubes[::997], "twos": twos[::997]}


def prog_numpy_row_mean(ufora):
    m = np.sin(np.arange(N, dtype=np.float64)).reshape(-1, 20)
    with ufora.remotely.downloadAll():
        means = [row.mean() for row in m]
    return {"means": means[::97]}


def prog_complex_arithmetic(ufora):
    with ufora.remotely.downloadAll():
        quotients = [(x + 1j) / (3 - 2j * x) for x in range(N)]
        cubes = [(1 + x * 1j) ** 3 for x in range(N)]
        roots = [(x - 20_000 + 1j) ** 0.5 for x in range(N)]
        total = sum((x * 0.5 - 3j) * (1 + 1j) for x in range(N))
        magnitudes = sum(abs(x + x * 1j) for x in range(N))
    return {"quotients": quotients[::997], "cubes": cubes[::997], "roots": roots[::997], "total": total,
            "magnitudes": magnitudes}


def prog_int_bit_tricks(ufora):
    with ufora.remotely.downloadAll():
        lowest = [x & -x for x in range(N)]
        inverted = sum(~x for x in range(N))
        lengths = [(x * 2**40).bit_length() for x in range(N)]
        ones = sum(bin(x).count("1") for x in range(N))
        negative_shift = [(-x) >> 3 for x in range(N)]
        mixed = sum((x ^ (x >> 1)) * 2**45 for x in range(N))
    return {"lowest": lowest[::997], "inverted": inverted, "lengths": lengths[::997], "ones": ones,
            "negative_shift": negative_shift[::997], "mixed": mixed}


def prog_products_overflowing_int64(ufora):
    with ufora.remotely.downloadAll():
        residues = sum(x * x * x * 1_000_003 % 997 for x in range(N))
        negatives = [-(x * 2**62) // 3 for x in range(N)]
        diffs = [abs(x * 2**58 - 2**63) for x in range(N)]
        largest = max(x * x * x * x * x for x in range(N))
    return {"residues": residues, "negatives": negatives[::997], "diffs": diffs[::997], "largest": largest}


def prog_float_accumulation_in_helper(ufora):
    """A helper that loops to accumulate: order and int/float switch within one element."""
    def score(i):
        total = 0
        for k in range(1, 30):
            total += (i % k) if k % 3 else (i / k)
        return total

    with ufora.remotely.downloadAll():
        scores = [score(i) for i in range(N)]
        best = max(range(N), key=score)
    return {"scores": scores[::997], "best": best, "sum": sum(scores)}


def prog_min_of_negative_and_positive_zero_keys(ufora):
    with ufora.remotely.downloadAll():
        first_zero = min(range(N), key=lambda i: 0.0 if i % 2 else -0.0)
        zero_key = min((0.0 if i % 2 else -0.0, i) for i in range(N))
        table = {(0.0 if i % 2 else -0.0): i for i in range(N)}
    return {"first_zero": first_zero, "zero_key": zero_key, "table": table}


# ---------------------------------------------------------------- batch 4: numpy types, iterators, settings

def prog_uint64_elements_with_python_ints(ufora):
    """NumPy 2: uint64 * 2 stays uint64 (a Python int is weak); uint64 - 1 wraps at 0."""
    ids = np.arange(N, dtype=np.uint64) * np.uint64(3)
    with ufora.remotely.downloadAll():
        doubled = [v * 2 for v in ids]
        before = [v - 1 for v in ids[:5]]
        total = sum(v * 2 for v in ids)
        halves = [v // 2 for v in ids]
    return {"doubled": doubled[::997], "before": before, "total": total, "halves": halves[::997]}


def prog_other_numpy_dtypes(ufora):
    a32 = np.arange(N, dtype=np.uint32)
    i32 = np.arange(N, dtype=np.int32) - N // 2
    f16 = (np.arange(N) % 500).astype(np.float16)
    c64 = (np.arange(N) + 1j).astype(np.complex64)
    with ufora.remotely.downloadAll():
        u = [v * 3 + 1 for v in a32]
        s = [v * v for v in i32]
        h = [v * 0.5 for v in f16]
        c = [v * 2 for v in c64]
        u_total = sum(v for v in a32)
    return {"u": u[::997], "s": s[::997], "h": h[::997], "c": c[::997], "u_total": u_total}


def prog_two_argument_max_numpy_and_python(ufora):
    """max(v, 0) keeps v's numpy type where v wins or ties, and the Python 0 where 0 wins."""
    deltas = np.arange(N) - N // 2
    scores = np.arange(N) / 4 - 5000
    with ufora.remotely.downloadAll():
        gains = [max(v, 0) for v in deltas]
        losses = [min(v, 0.5) for v in scores]
        capped = [min(max(s, -1), 1) for s in scores]
    return {"gains": gains[N // 2 - 3:N // 2 + 3], "losses": losses[20_000:20_004],
            "capped": capped[19_990:20_010]}


def prog_range_across_int64_limit(ufora):
    start = 2**63 - 20_000
    with ufora.remotely.downloadAll():
        residues = [x % 1000 for x in range(start, start + N)]
        biggest = max(x % 99_991 for x in range(start, start + N))
        total = sum(x - start for x in range(start, start + N))
        count = sum(1 for x in range(start, start + N) if x > 2**63)
    return {"residues": residues[19_995:20_005], "biggest": biggest, "total": total, "count": count}


def prog_itertools_stateful(ufora):
    import itertools

    values = [(i * 7919) % 10_007 for i in range(N)]
    with ufora.remotely.downloadAll():
        prefix = sum(v for v in itertools.takewhile(lambda v: v < 9_990, values))
        after = sum(1 for _ in itertools.dropwhile(lambda v: v < 9_990, values))
        running = max(itertools.accumulate(v - 5000 for v in values))
        runs = [len(list(g)) for _, g in itertools.groupby(v % 2 for v in values)]
        sliced = sum(v for v in itertools.islice(values, 5, N, 3))
        paired = sum(a * b for a, b in itertools.pairwise(values))
    return {"prefix": prefix, "after": after, "running": running, "runs": len(runs), "sliced": sliced,
            "paired": paired}


def prog_partly_consumed_generator(ufora):
    with ufora.remotely.downloadAll():
        squares = (x * x for x in range(N))
        first = next(squares)
        second = next(squares)
        rest = sum(squares)
    return {"first": first, "second": second, "rest": rest}


def prog_generator_sees_later_changes(ufora):
    limit = 100
    bonus = [1, 2, 3]
    with ufora.remotely.downloadAll():
        picked = (x + y for x in range(N) for y in bonus if x < limit)
        limit = 30_000
        bonus.append(4)
        total = sum(picked)
    return {"total": total}


def prog_numpy_errors_set_to_raise(ufora):
    """np.seterr(all='raise'): numpy's overflow and division by zero raise FloatingPointError."""
    a = np.arange(N, dtype=np.float64) - 20_000
    old = np.seterr(all="raise")
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = [np.float64(1.0) / v for v in a]
    except Exception as e:
        error = e
    finally:
        np.seterr(**old)
    return {"result": result, "error": error}


def prog_numpy_print_options(ufora):
    rows = np.arange(N, dtype=np.float64).reshape(-1, 4) / 3
    old = np.get_printoptions()
    np.set_printoptions(precision=3, legacy="1.25")
    try:
        with ufora.remotely.downloadAll():
            texts = [str(row) for row in rows]
            scalars = [repr(v) for v in rows[:, 0]]
            listed = str([rows[0, 0], rows[1, 1]])
    finally:
        np.set_printoptions(**old)
    return {"texts": texts[:3], "scalars": scalars[:3], "listed": listed, "n": len(texts)}


def prog_recursion_limit_raised(ufora):
    import sys

    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)
    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = sum(depth(1500 + x % 7) for x in range(300))
    except Exception as e:
        error = e
    finally:
        sys.setrecursionlimit(old)
    return {"result": result, "error": error}


def prog_recursion_too_deep(ufora):
    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)

    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = [depth(x) for x in range(0, 3000, 10)]
    except Exception as e:
        error = e
    return {"result": result, "error": type(error).__name__}


def prog_int_string_digit_limit(ufora):
    import sys

    found = []
    for limit in (None, 0):
        old = sys.get_int_max_str_digits()
        if limit is not None:
            sys.set_int_max_str_digits(limit)
        result = None
        try:
            with ufora.remotely.downloadAll():
                result = sum(len(str(7 ** (5200 + x))) for x in range(20))
        except Exception as e:
            result = e
        finally:
            sys.set_int_max_str_digits(old)
        found.append(result)
    return {"found": found}


def prog_lru_cache_statistics(ufora):
    import functools

    @functools.lru_cache(maxsize=None)
    def slow_square(x):
        return x * x

    with ufora.remotely.downloadAll():
        total = sum(slow_square(x % 100) for x in range(N))
    info = slow_square.cache_info()
    return {"total": total, "hits": info.hits, "misses": info.misses}


def prog_decimal_flags_and_traps(ufora):
    amounts = [decimal.Decimal(x) for x in range(N)]
    with ufora.remotely.downloadAll():
        total = sum(a / 7 for a in amounts)
    flags = sorted(f.__name__ for f, v in decimal.getcontext().flags.items() if v)
    decimal.getcontext().traps[decimal.Inexact] = True
    exact = error = None
    try:
        with ufora.remotely.downloadAll():
            exact = sum(a / 4 for a in amounts) + sum(a / 3 for a in amounts)
    except Exception as e:
        error = e
    return {"total": total, "flags": flags, "exact": exact, "error": error}


class RowError(Exception):
    """An exception whose __init__ takes other arguments than its message."""

    def __init__(self, row, reason):
        super().__init__(f"row {row}: {reason}")
        self.row = row


def prog_exception_with_custom_init(ufora):
    def check(i):
        if i == 31_234:
            raise RowError(i, "negative stock")
        return i

    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = sum(check(i) for i in range(N))
    except Exception as e:
        error = e
    remote = getattr(error, "remoteException", error)
    return {"result": result, "type": type(remote).__name__, "message": str(remote),
            "row": getattr(remote, "row", None)}


def prog_exception_chain(ufora):
    table = {i: i * 2 for i in range(N) if i != 25_000}

    def lookup(i):
        try:
            return table[i]
        except KeyError as missing:
            raise ValueError(f"no entry for {i}") from missing

    result = error = None
    try:
        with ufora.remotely.downloadAll():
            result = [lookup(i) for i in range(N)]
    except Exception as e:
        error = e
    remote = getattr(error, "remoteException", error)
    return {"result": result, "error": remote, "cause": repr(remote.__cause__)}


def prog_sum_of_user_vectors(ufora):
    class Money:
        def __init__(self, amount):
            self.amount = amount

        def __add__(self, other):
            return Money(self.amount + (other.amount if isinstance(other, Money) else other))

        __radd__ = __add__

    prices = [Money(((i * 7919) % 10_007) / 100) for i in range(N)]
    with ufora.remotely.downloadAll():
        total = sum(p for p in prices).amount
        taxed = sum((Money(p.amount * 1.07) for p in prices), Money(0.1)).amount
    return {"total": total, "taxed": taxed}


def prog_complex_sum_fractional(ufora):
    with ufora.remotely.downloadAll():
        total = sum(complex(x * 0.1, 1 / (x + 1)) for x in range(N))
        vector = sum(np.array([x * 0.1, x / 3]) for x in range(N))
    return {"total": total, "vector": vector}


def prog_environment_variable_in_helper(ufora):
    import os

    os.environ["HUNT_SCALE"] = "3"
    try:
        with ufora.remotely.downloadAll():
            scaled = sum(x * float(os.environ.get("HUNT_SCALE", "1")) for x in range(1000))
    finally:
        del os.environ["HUNT_SCALE"]
    return {"scaled": scaled}


def prog_warnings_as_errors(ufora):
    import warnings

    a = np.arange(N, dtype=np.float64) - 20_000
    result = error = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with ufora.remotely.downloadAll():
                result = [v / np.float64(0.0) if v == 0 else v for v in a]
        except Exception as e:
            error = e
    return {"result": result, "error": error}


def prog_heap_pushes_from_generator(ufora):
    import heapq

    heap = []
    with ufora.remotely.downloadAll():
        pushed = sum(heapq.heappush(heap, -x) or x for x in range(0, N, 7))
    return {"pushed": pushed, "heap_len": len(heap), "heap_top": heap[:3]}


def prog_bound_append_in_any(ufora):
    log = []
    record = log.append
    with ufora.remotely.downloadAll():
        found = any(record(x) or x * x > 900_000_000 for x in range(N))
    return {"found": found, "log": len(log)}


# ---------------------------------------------------------------- batch 5: the items a comprehension gives back

def prog_filtered_records_are_the_same_dicts(ufora):
    records = [{"id": i, "value": (i * 7919) % 1000} for i in range(N)]
    with ufora.remotely.downloadAll():
        high = [r for r in records if r["value"] > 990]
        for r in high:
            r["flag"] = True
        first_same = high[0] is records[high[0]["id"]]
    flagged = sum(1 for r in records if r.get("flag"))
    return {"flagged": flagged, "first_same": first_same, "high": len(high)}


class Account:
    def __init__(self, owner, balance):
        self.owner, self.balance = owner, balance


def _accounts():
    return [Account(f"o{i}", (i * 7919) % 10_007) for i in range(N)]


def prog_accounts_paired_with_their_interest(ufora):
    """Tuples built around the caller's objects: changing the object through the tuple changes the
    caller's list (one object, not a copy)."""
    accounts = _accounts()
    with ufora.remotely.downloadAll():
        with_interest = [(a, a.balance * 0.03) for a in accounts if a.balance > 5_000]
        for account, interest in with_interest:
            account.balance += interest
    return {"paired": len(with_interest), "total": sum(a.balance for a in accounts),
            "first_is_callers": with_interest[0][0] is accounts[1]}


def prog_matrix_rows_normalised_in_place(ufora):
    """Rows picked by a filter are views: scaling them scales the matrix, as numpy users expect."""
    m = (np.arange(N, dtype=np.float64).reshape(-1, 4) % 97) + 1.0
    with ufora.remotely.downloadAll():
        big_rows = [row for row in m if row.max() > 90]
        for row in big_rows:
            row /= row.max()
    return {"rows": len(big_rows), "total": float(m.sum()), "m0": m[0].tolist()}


def prog_richest_account_changed_after_the_block(ufora):
    """The object max() picks is one of the caller's: changing it after the block changes the list."""
    accounts = _accounts()
    with ufora.remotely.downloadAll():
        richest = max(accounts, key=lambda a: a.balance)
        top = sorted(accounts, key=lambda a: -a.balance)[:3]
    richest.balance = 0
    top[1].owner = "renamed"
    return {"zeroed": sum(1 for a in accounts if a.balance == 0), "renamed": sum(a.owner == "renamed" for a in accounts),
            "same": richest is top[0]}


def prog_alias_of_an_outside_list(ufora):
    """A name bound in the block to an outside list is that list."""
    xs = [1.5, 2.5]
    table = {"a": [1], "b": [2]}
    with ufora.remotely.downloadAll():
        ys = xs
        bs = table["b"]
        both = (xs, table["a"])
    ys.append(3.5)
    bs.append(3)
    both[1].append(9)
    return {"xs": xs, "table": table, "same": ys is xs}


def prog_records_kept_then_flagged_here(ufora):
    """Records a filter keeps in the block are the caller's: flagging them afterwards flags the records."""
    records = [{"id": i, "score": (i * 37) % 101} for i in range(N)]
    with ufora.remotely.downloadAll():
        best = [r for r in records if r["score"] > 95]
        pairs = [(r["id"], r) for r in records if r["score"] == 0]
    for r in best:
        r["flag"] = True
    pairs[0][1]["zero"] = True
    return {"flagged": sum(1 for r in records if r.get("flag")), "zero": records[0].get("zero"), "best": len(best)}


def prog_largest_object_is_the_same_object(ufora):
    accounts = _accounts()
    with ufora.remotely.downloadAll():
        richest = max(accounts, key=lambda a: a.balance)
        richest.balance = 0
        poorest = min((a for a in accounts), key=lambda a: a.balance)
    return {"richest_owner": richest.owner, "zeroed_in_list": sum(1 for a in accounts if a.balance == 0),
            "same": poorest is richest}


# ---------------------------------------------------------------- batch 6: exception chains, bound methods, caches

def prog_exception_context_without_from(ufora):
    """Raised inside an except clause without `from`: CPython keeps the KeyError as __context__."""
    rates = {f"c{i}": 1 + i / 1000 for i in range(N) if i != 31_000}

    def convert(i):
        try:
            return 100 * rates[f"c{i}"]
        except KeyError:
            raise LookupError(f"no rate for c{i}")

    converted = error = None
    try:
        with ufora.remotely.downloadAll():
            converted = [convert(i) for i in range(N)]
    except LookupError as e:
        error = e
    remote = getattr(error, "remoteException", error)
    return {"converted": converted, "error": remote, "context": repr(remote.__context__),
            "cause": repr(remote.__cause__), "suppressed": remote.__suppress_context__,
            "raised_context": repr(error.__context__)}


def prog_raise_from_none_keeps_context(ufora):
    """`raise ... from None`: no cause, the context hidden (but still there, in CPython)."""
    stock = {i: (i * 7) % 13 for i in range(N)}

    def per_unit(i):
        try:
            return 1000 // stock[i]
        except ZeroDivisionError:
            raise ValueError(f"item {i} is out of stock") from None

    units = error = None
    try:
        with ufora.remotely.downloadAll():
            units = sum(per_unit(i) for i in range(1, N))
    except ValueError as e:
        error = e
    return {"units": units, "error": error, "context": repr(error.__context__), "cause": repr(error.__cause__),
            "suppressed": error.__suppress_context__}


def prog_block_inside_an_except_clause(ufora):
    """The block runs while the client handles an error: what it raises has that error as
    __context__ in CPython."""
    prices = {f"p{i}": i % 50 for i in range(N)}
    keys = [f"p{i}" for i in range(N)] + ["p-unknown"]
    total = error = None
    try:
        try:
            total = sum(prices[k] for k in keys)
        except KeyError:
            with ufora.remotely.downloadAll():
                total = sum(1000 / prices.get(k, 1) for k in keys)
    except ZeroDivisionError as e:
        error = e
    remote = getattr(error, "remoteException", error)
    return {"total": total, "error": remote, "context": repr(remote.__context__),
            "raised_context": repr(error.__context__)}


def prog_bound_method_of_user_object(ufora):
    """A method of an outside object of a user class, bound before the block, changes the object."""
    class Tally:
        def __init__(self):
            self.count = 0
            self.residues = []

        def add(self, x):
            self.count += 1
            self.residues.append(x % 7)
            return x

    tally = Tally()
    add = tally.add
    with ufora.remotely.downloadAll():
        total = sum(add(x) for x in range(N) if x % 3 == 0)
    return {"total": total, "count": tally.count, "residues": tally.residues, "same": add.__self__ is tally}


def prog_two_bound_methods_of_one_set(ufora):
    """Two builtin methods bound to one outside set, the set itself read in the block too."""
    words = [f"w{(i * 7919) % 5000}" for i in range(N)]
    seen = set()
    remember, forget = seen.add, seen.discard
    with ufora.remotely.downloadAll():
        for w in words:
            remember(w)
        forget("w0")
        size = len(seen)
    return {"seen": sorted(seen), "size": size, "same": remember.__self__ is seen}


def prog_lru_cache_info_read_in_block(ufora):
    """The block reads the statistics of an lru_cache function it called."""
    import functools

    @functools.lru_cache(maxsize=64)
    def digit_sum(x):
        return sum(int(c) for c in str(x))

    with ufora.remotely.downloadAll():
        total = sum(digit_sum(x % 500) for x in range(N))
        info = digit_sum.cache_info()
    return {"total": total, "info": tuple(info)}
