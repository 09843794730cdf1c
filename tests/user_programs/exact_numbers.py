"""Exact arithmetic: Decimal money (also with a changed precision), Fraction sums, integers past
int64, Python's floor division and modulo, int/int true division."""
import decimal
from decimal import Decimal
from fractions import Fraction

N = 40_000


def make_prices(n):
    return [Decimal(f"{i % 1000}.{i % 100:02d}") for i in range(n)]


def prog_decimal_money_with_tax(ufora):
    prices = make_prices(N)
    with ufora.remotely.downloadAll():
        total = sum(p * Decimal("1.0825") for p in prices)
        cents = [p.quantize(Decimal("0.1"), rounding=decimal.ROUND_HALF_UP) for p in prices]
    return {"total": total, "cents": cents[:12]}


def prog_decimal_precision_set_in_block(ufora):
    prices = make_prices(N)
    with ufora.remotely.downloadAll():
        decimal.getcontext().prec = 6
        total = sum(p / 3 for p in prices)
    return {"total": total, "prec_after": decimal.getcontext().prec}


def prog_decimal_precision_set_before_block(ufora):
    prices = make_prices(N)
    decimal.getcontext().prec = 8
    with ufora.remotely.downloadAll():
        digits = [len((p / 7).as_tuple().digits) for p in prices]
        first_share = prices[1] / 7
    return {"digits": digits[:6], "longest": max(digits), "first_share": first_share}


def prog_decimal_precision_restored_between_blocks(ufora):
    prices = make_prices(N)
    with ufora.remotely.downloadAll():
        decimal.getcontext().prec = 5
        rough = sum(p / 3 for p in prices[:10])
    decimal.getcontext().prec = 28
    with ufora.remotely.downloadAll():
        digits = [len((p / 7).as_tuple().digits) for p in prices]
    return {"rough": rough, "longest": max(digits), "digits": digits[:6]}


def prog_fraction_sum(ufora):
    with ufora.remotely.downloadAll():
        total = sum(Fraction(i % 97, 64) for i in range(N))
        parts = [Fraction(i, 6) for i in range(N) if i % 4000 == 0]
    return {"total": total, "parts": parts}


def prog_sum_of_cubes_past_int64(ufora):
    with ufora.remotely.downloadAll():
        cubes = sum(x * x * x for x in range(1_000_000))
    return {"cubes": cubes}


def prog_sum_near_int64_max(ufora):
    start = 2 ** 62
    with ufora.remotely.downloadAll():
        total = sum(x for x in range(start, start + 50_000))
        scaled = sum(x * 2 ** 40 for x in range(N))
    return {"total": total, "scaled": scaled}


def prog_powers_of_two(ufora):
    with ufora.remotely.downloadAll():
        total = sum(2 ** (x % 300) for x in range(N))
        digits = [len(str(3 ** (x % 200))) for x in range(N)]
    return {"total": total, "digits_sum": sum(digits)}


def prog_modular_hashing(ufora):
    with ufora.remotely.downloadAll():
        hashes = [(x * 2654435761) % 2 ** 32 for x in range(N)]
        check = sum(pow(x, 3, 1_000_003) for x in range(N))
    return {"hashes": hashes[-5:], "check": check}


def prog_floor_division_of_negatives(ufora):
    with ufora.remotely.downloadAll():
        floors = [(-x) // 7 for x in range(N)]
        mods = [(-x) % 7 for x in range(N)]
        neg_divisor = [x % -5 for x in range(N)]
        pairs = [divmod(x - 20_000, 9) for x in range(N)]
    return {"floors": floors[:10], "mods": mods[:10], "neg_divisor": neg_divisor[:10], "pairs": pairs[:5],
            "sums": (sum(floors), sum(mods), sum(neg_divisor))}


def prog_float_floor_division_and_modulo(ufora):
    values = [x * 0.37 - 5000.0 for x in range(N)]
    with ufora.remotely.downloadAll():
        mods = [v % 0.7 for v in values]
        floors = [v // 1.5 for v in values]
        negmod = [v % -2.5 for v in values]
    return {"mods": mods[:8], "floors": floors[:8], "negmod": negmod[:8]}


def prog_big_int_true_division(ufora):
    base = 10 ** 17
    with ufora.remotely.downloadAll():
        thirds = [x / 3 for x in range(base, base + N)]
        ratio = sum(x / 7 for x in range(base, base + N))
    return {"thirds": thirds[:8], "ratio": ratio}


def prog_int_float_mean(ufora):
    with ufora.remotely.downloadAll():
        mean = sum(x for x in range(N)) / N
        mean_sq = sum(x * x for x in range(N)) / N
        exact = sum(x for x in range(N)) // N
    return {"mean": mean, "mean_sq": mean_sq, "exact": exact}
