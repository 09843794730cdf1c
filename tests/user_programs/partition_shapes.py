"""Loops whose CPython partitions take a fast path (engine.sources.values_of, the reducers' runs
in C): tuple unpacking over zip and enumerate, min and max of strings, ints and floats, any and
all, written as a user would. Run split too (tests.test_user_programs' split services)."""
import numpy as np

N = 20_000


def prog_cheapest_and_dearest_parsed_rows(ufora):
    lines = [f"item{i:05d},{(i * 7919) % 1000 / 10:.2f}" for i in range(N)]
    with ufora.remotely.downloadAll():
        rows = [(name, float(price)) for name, price in (line.split(",") for line in lines)]
        cheapest = min(price for name, price in rows)
        dearest = max(price for name, price in rows)
        last_name = max(name for name, _ in rows)
        first_cheap = min(name for name, price in rows if price < 1.0)
    return {"cheapest": cheapest, "dearest": dearest, "last_name": last_name, "first_cheap": first_cheap}


def prog_enumerate_weighted_sum(ufora):
    rng = np.random.default_rng(5)
    values = rng.random(N).tolist()
    with ufora.remotely.downloadAll():
        weighted = sum(i * v for i, v in enumerate(values) if v > 0.5)
        first_big = min(i for i, v in enumerate(values) if v > 0.999)
    return {"weighted": weighted, "first_big": first_big}


def prog_exact_dot_product_of_big_ints(ufora):
    xs = [3 ** (i % 60) for i in range(N)]
    ys = [(-1) ** i * (i + 1) for i in range(N)]
    with ufora.remotely.downloadAll():
        dot = sum(a * b for a, b in zip(xs, ys))
        biggest = max(a * b for a, b in zip(xs, ys))
        smallest = min(a * b for a, b in zip(xs, ys))
    return {"dot": dot, "biggest": biggest, "smallest": smallest}


def prog_words_any_all(ufora):
    words = [("zebra" if i == N - 3 else "word") + str(i) for i in range(N)]
    with ufora.remotely.downloadAll():
        has_z = any(word.startswith("z") for word in words)
        all_short = all(len(word) < 12 for word in words)
        all_long = all(len(word) > 5 for word in words)
        no_q = not any("q" in word for word in words)
    return {"has_z": has_z, "all_short": all_short, "all_long": all_long, "no_q": no_q}


def prog_nested_unpacking(ufora):
    pairs = [(i, i * 0.5) for i in range(N)]
    weights = [1 + (i % 3) for i in range(N)]
    with ufora.remotely.downloadAll():
        total = sum(w * (a - b) for (a, b), w in zip(pairs, weights))
        spread = max(a - b for (a, b), _ in zip(pairs, weights))
    return {"total": total, "spread": spread}


def prog_unpacking_a_record_of_the_wrong_length(ufora):
    records = [(i, i + 1) for i in range(N)]
    records[N // 2] = (1, 2, 3)
    error = None
    with ufora.remotely.downloadAll():
        try:
            total = sum(a + b for a, b in records)
        except ValueError as exc:
            error = str(exc)
            total = None
    return {"total": total, "error": error}


def prog_min_of_mixed_types_raises(ufora):
    readings = list(range(N)) + ["n/a"] + list(range(5))
    error = None
    with ufora.remotely.downloadAll():
        try:
            lowest = min(r for r in readings)
        except TypeError as exc:
            lowest, error = None, str(exc)
    return {"lowest": lowest, "error": error}


def prog_monte_carlo_zip_of_arrays(ufora):
    rng = np.random.default_rng(2024)
    xs, ys = rng.random(N), rng.random(N)
    with ufora.remotely.downloadAll():
        hits = sum(1 for x, y in zip(xs, ys) if x * x + y * y < 1.0)
        closest = min(x * x + y * y for x, y in zip(xs, ys))
        farthest = max(x * x + y * y for x, y in zip(xs, ys))
    return {"hits": hits, "closest": closest, "farthest": farthest}


def prog_max_of_readings_with_missing_values(ufora):
    readings = [float("nan")] + [((i * 37) % 101) / 10 for i in range(N)] + [float("nan")]
    with ufora.remotely.downloadAll():
        peak = max(r for r in readings)
        peak_after_first = max(r for r in readings[1:])
        low = min(int(r) for r in readings[1:-1])
    return {"peak": peak, "peak_after_first": peak_after_first, "low": low}


def _row_total(line):
    return sum(float(value) for value in line.split(","))


def _cleaned(line, number):
    return [f"{number}:{field.strip()}" for field in line.split(",") if field.strip()]


def prog_a_helper_with_its_own_loop_called_per_line(ufora):
    lines = [f"{i % 17}, {i / 8}, ,{-i}" .replace(", ,", ",0,") for i in range(N)]
    with ufora.remotely.downloadAll():
        totals = [_row_total(line) for line in lines]
        fields = [_cleaned(line, number) for number, line in enumerate(lines, 1) if number % 3]
        biggest = max(_row_total(line) for line in lines)
    return {"totals_head": totals[:5], "totals_tail": totals[-5:], "count": len(totals),
            "fields": fields[:2] + fields[-2:], "n_fields": len(fields), "biggest": biggest}
