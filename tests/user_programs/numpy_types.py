"""numpy scalar types: float32/int32/int8/uint8 arrays iterated, np.float64 sums, dtypes of
results."""
import warnings

import numpy as np

from tests.primes import last_digits_if_prime, odd_prime

N = 40_000


def prog_float32_sum_of_elements(ufora):
    a = np.arange(N, dtype=np.float32) / np.float32(3)
    with ufora.remotely.downloadAll():
        total = sum(x for x in a)
        squares = sum(x * x for x in a)
    return {"total": total, "squares": squares}


def prog_int32_square_sum_wraps(ufora):
    a = np.arange(N, dtype=np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ufora.remotely.downloadAll():
            total = sum(x * x for x in a)
            big = max(x * x for x in a)
    return {"total": total, "big": big}


def prog_uint8_pixels_brighten(ufora):
    img = (np.arange(N) % 256).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ufora.remotely.downloadAll():
            brighter = [p + 10 for p in img]
            clipped = [min(int(p) + 10, 255) for p in img]
    return {"brighter": brighter[240:262], "clipped": clipped[240:262], "n": len(brighter)}


def prog_int8_array_rebuilt(ufora):
    small = (np.arange(N) % 100 - 50).astype(np.int8)
    with ufora.remotely.downloadAll():
        doubled = np.array([x * 2 for x in small])
        negatives = sum(1 for x in small if x < 0)
    return {"doubled": doubled, "negatives": negatives}


def prog_float64_mean_and_std(ufora):
    values = np.random.default_rng(3).normal(10.0, 2.0, N)
    with ufora.remotely.downloadAll():
        total = sum(v for v in values)
        mean = total / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return {"total": total, "mean": mean, "var": var}


def prog_int16_max_and_argmax(ufora):
    a = ((np.arange(N) * 7919) % 30_011 - 15_000).astype(np.int16)
    with ufora.remotely.downloadAll():
        biggest = max(x for x in a)
        where = max(range(len(a)), key=lambda i: a[i])
        smallest = min(a)
    return {"biggest": biggest, "where": where, "smallest": smallest}


def prog_bool_mask_counting(ufora):
    values = np.random.default_rng(4).random(N)
    mask = values > 0.5
    with ufora.remotely.downloadAll():
        count = sum(m for m in mask)
        flags = [v > 0.9 for v in values]
        any_big = any(v > 0.99999 for v in values)
    return {"count": count, "flags_head": flags[:10], "any_big": any_big}


def prog_float32_matrix_row_sums(ufora):
    matrix = (np.arange(N * 4, dtype=np.float32) % 97 / np.float32(7)).reshape(N, 4)
    with ufora.remotely.downloadAll():
        row_sums = [row.sum() for row in matrix]
        row_max = [max(row) for row in matrix]
    return {"sums": row_sums[:20], "max": row_max[:20]}


def prog_int64_true_division_elements(ufora):
    a = np.arange(N, dtype=np.int64)
    with ufora.remotely.downloadAll():
        halves = [x / 2 for x in a]
        floors = [x // 3 for x in a]
        as_int = [int(x) % 5 for x in a]
    return {"halves": halves[:7], "floors": floors[:7], "as_int": as_int[:7]}


def prog_mixed_scalar_with_python_float(ufora):
    a = np.arange(N, dtype=np.float32)
    with ufora.remotely.downloadAll():
        scaled = [x * 0.1 for x in a]
        shifted = [x + 1 for x in a]
    return {"scaled": scaled[1:6], "shifted": shifted[1:6]}


def prog_int64_products_wrap(ufora):
    ids = np.arange(N, dtype=np.int64) * 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ufora.remotely.downloadAll():
            squares = [x * x for x in ids]
            total = sum(x * x for x in ids)
    return {"squares_tail": squares[-3:], "total": total}


def prog_numpy_division_by_zero(ufora):
    values = np.arange(N, dtype=np.float64) % 1000
    counts = np.arange(N, dtype=np.int64) % 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ufora.remotely.downloadAll():
            inverse = [1.0 / v for v in values]
            per_count = [1000 // c for c in counts]
    return {"inverse": inverse[:3], "per_count": per_count[:3], "n_inf": sum(1 for v in inverse if np.isinf(v))}


def prog_round_numpy_floats(ufora):
    values = np.arange(N) * 0.005 + 0.0025
    with ufora.remotely.downloadAll():
        cents = [round(v, 2) for v in values]
        whole = [round(v) for v in values]
    return {"cents": cents[:12], "whole": whole[::4001]}


def prog_clip_negative_to_zero(ufora):
    values = np.random.default_rng(8).normal(0.0, 1.0, N)
    with ufora.remotely.downloadAll():
        clipped = [v if v > 0 else 0 for v in values]
        positive_total = sum(clipped)
    return {"clipped": clipped[:8], "positive_total": positive_total}


def prog_sensor_readings_with_missing_values(ufora):
    """A day of readings where the sensor dropped out (NaN), as pandas and numpy leave them:
    the user takes the peak and the trough with plain max/min, as CPython does them (a NaN is
    passed over, unless it is the very first reading)."""
    rng = np.random.default_rng(11)
    readings = rng.normal(20.0, 5.0, 3 * N)
    readings[rng.random(3 * N) < 0.3] = np.nan
    starts_missing = readings.copy()
    starts_missing[0] = np.nan
    as_list = readings.tolist()
    with ufora.remotely.downloadAll():
        peak = max(r for r in readings)
        trough = min(r for r in as_list)
        coldest_hour = min((r for r in readings), key=lambda r: abs(r - 5.0))
        first_missing = max(r for r in starts_missing)
        valid = max(r for r in readings if r == r)
        labelled = max((r, i) for i, r in enumerate(as_list))
    return {"peak": peak, "trough": trough, "coldest_hour": coldest_hour, "first_missing": first_missing,
            "valid": valid, "labelled": labelled}


def prog_helper_returns_a_python_int_or_a_numpy_int(ufora):
    """A user's trial: 0 (an int) or n % 1000 (numpy's, n an array's item), per item; the bool
    twin, n == 2 (numpy's) or False; the types of every item compared."""
    a = np.arange(1_000_000, 1_000_000 + N, dtype=np.int64)
    with ufora.remotely.downloadAll():
        digits = [last_digits_if_prime(x) for x in a]
        odd = [odd_prime(x) for x in a]
    return {"digits": digits, "odd": odd, "digit_types": [type(d).__name__ for d in digits],
            "odd_types": [type(o).__name__ for o in odd]}
