"""Mixed element types: int or float by branch, bools vs ints, -0.0, None, complex from a negative
base, sums of strings, which of equal values max/min keep."""
import math

N = 40_000


def prog_half_or_floor_half(ufora):
    with ufora.remotely.downloadAll():
        values = [x / 2 if x % 2 else x // 2 for x in range(N)]
        total = sum(values)
    return {"head": values[:8], "total": total, "types": [type(v).__name__ for v in values[:4]]}


def prog_bools_and_ints(ufora):
    with ufora.remotely.downloadAll():
        flags = [x % 3 == 0 for x in range(N)]
        count = sum(x % 3 == 0 for x in range(N))
        short_circuit = [x % 3 == 0 and x for x in range(N)]
        either = [x > 5 or x for x in range(N)]
        doubled = [b + b for b in flags]
    return {"flags": flags[:6], "count": count, "short_circuit": short_circuit[:7], "either": either[:8],
            "doubled": doubled[:4]}


def prog_max_min_of_bools(ufora):
    with ufora.remotely.downloadAll():
        biggest = max((x % 2 == 0) for x in range(N))
        smallest = min(x % 2 == 0 for x in range(N))
        any_seven = any(x % 7 == 0 for x in range(1, N))
        all_small = all(x < N for x in range(N))
        first_truthy = any(x for x in range(N))
    return {"biggest": biggest, "smallest": smallest, "any_seven": any_seven, "all_small": all_small,
            "first_truthy": first_truthy}


def prog_negative_zero(ufora):
    with ufora.remotely.downloadAll():
        zeros = [-x * 0.0 for x in range(N)]
        total = sum(-0.0 for _ in range(N))
        first_min = min((-1.0) ** x * 0.0 for x in range(N))
        signs = sum(math.copysign(1.0, z) for z in zeros)
        rounded = [round(-(x % 10) / 25, 0) for x in range(N)]
    return {"zeros": zeros[:4], "total": total, "first_min": first_min, "signs": signs, "rounded": rounded[:10]}


def prog_equal_int_and_float_max(ufora):
    with ufora.remotely.downloadAll():
        peak = max((x % 51) * (1.0 if x % 2 else 1) for x in range(N))
        low = min((x % 51) * (1.0 if x % 2 == 0 else 1) for x in range(1, N))
    return {"peak": peak, "low": low}


def prog_none_for_missing(ufora):
    with ufora.remotely.downloadAll():
        maybe = [x if x % 3 else None for x in range(N)]
        present = sum(1 for m in maybe if m is not None)
    return {"head": maybe[:7], "present": present}


def prog_sum_of_strings_with_start(ufora):
    words = ["w%d" % i for i in range(N)]
    joined = error = None
    try:
        with ufora.remotely.downloadAll():
            joined = sum((w for w in words), "")
    except Exception as e:
        error = e
    return {"joined": joined, "error": error}


def prog_negative_base_fractional_power(ufora):
    with ufora.remotely.downloadAll():
        roots = [(x - 20_000) ** 0.5 for x in range(N)]
        cube_roots = [(x - 20_000) ** (1 / 3) for x in range(0, N, 4)]
    return {"roots": roots[19_995:20_005], "cube_head": cube_roots[:3],
            "types": sorted({type(r).__name__ for r in roots})}


def prog_int_power_negative_exponent(ufora):
    with ufora.remotely.downloadAll():
        scales = [2 ** (x % 5 - 2) for x in range(N)]
        inverse = [x ** -1 for x in range(1, N)]
        total = sum(scales)
    return {"scales": scales[:5], "inverse": inverse[:4], "total": total}


def prog_complex_sum(ufora):
    with ufora.remotely.downloadAll():
        total = sum(complex(x, -x) for x in range(N))
        phases = [abs(complex(x % 10, 1)) for x in range(N)]
    return {"total": total, "phases": phases[:10]}


def prog_int_or_float_accumulate(ufora):
    with ufora.remotely.downloadAll():
        total = sum(x if x % 2 else x * 1.0 for x in range(N))
        ints_only = sum(x if x < N - 1 else 0.0 for x in range(N))
        abs_diffs = [abs(x - 15_000) for x in range(N)]
    return {"total": total, "ints_only": ints_only, "abs_diffs": abs_diffs[14_998:15_003]}


def prog_rounding_to_int(ufora):
    values = [x * 0.25 - 5000 for x in range(N)]
    with ufora.remotely.downloadAll():
        rounded = [round(v) for v in values]
        floors = [math.floor(v) for v in values]
        truncated = [int(v) for v in values]
    return {"rounded": rounded[:12], "floors": floors[:6], "truncated": truncated[:6],
            "sums": (sum(rounded), sum(floors), sum(truncated))}


def prog_max_with_missing_readings(ufora):
    readings = [float("nan") if i % 10 == 3 else ((i * 7919) % 10_007) / 10.0 for i in range(N)]
    with ufora.remotely.downloadAll():
        highest = max(readings)
        lowest = min(r for r in readings)
        highest_at = max(range(N), key=lambda i: readings[i])
        total = sum(readings)
    return {"highest": highest, "lowest": lowest, "highest_at": highest_at, "total": total}


def prog_unique_rounded_noise(ufora):
    noise = [((i * 7919) % 801 - 400) / 10_000 for i in range(N)]
    with ufora.remotely.downloadAll():
        levels = {round(v, 1) for v in noise}
        tally = {round(v, 1): 0 for v in noise}
    return {"levels": [repr(v) for v in levels], "tally": [repr(k) for k in tally]}


def prog_empty_selection_max_and_default(ufora):
    values = list(range(N))
    nothing = error = None
    with ufora.remotely.downloadAll():
        fallback = min((v for v in values if v < 0), default=None)
        start_float = sum((v for v in values if v % 2), 0.0)
        start_ten = sum((v for v in values if v > N), 10)
    try:
        with ufora.remotely.downloadAll():
            nothing = max(v for v in values if v > N)
    except Exception as e:
        error = e
    return {"fallback": fallback, "start_float": start_float, "start_ten": start_ten, "nothing": nothing,
            "error": error}
