"""Numbers in plain Python: nested loops, generator expressions fed to sum/min/max/any,
complex arithmetic, Decimal and Fraction, sieves, number theory, statistics by hand."""
from __future__ import annotations

import cmath
import decimal
import fractions
import math
import statistics

from perf.realistic.catalog import program


@program(3000, quick=1200)
def double_loop(ufora, n):
    with ufora.remotely.downloadAll():
        total = 0
        for i in range(n):
            for j in range(n):
                if (i + j) % 7 == 0:
                    total += i * j
    return total


@program(2000, quick=800)
def double_comprehension(ufora, n):
    with ufora.remotely.downloadAll():
        pairs = sum(1 for i in range(n) for j in range(n) if (i * j) % 11 == 3)
        closest = min(abs(i * i - j * 3) for i in range(1, n) for j in range(1, n, 7))
    return pairs, closest


@program(800, quick=300)
def distance_matrix(ufora, n):
    with ufora.remotely.downloadAll():
        xs = [math.cos(k) * 10 for k in range(n)]
        ys = [math.sin(k * 1.3) * 10 for k in range(n)]
        matrix = [[math.hypot(xs[i] - xs[j], ys[i] - ys[j]) for j in range(n)] for i in range(n)]
        farthest = max(max(row) for row in matrix)
        mean_nearest = sum(min(d for j, d in enumerate(row) if j != i) for i, row in enumerate(matrix)) / n
    return farthest, mean_nearest


@program(2_000_000, quick=600_000)
def parameter_sweep(ufora, n):
    """A float parameter swept in a plain loop: one kernel for every value (engine.lifted)."""
    with ufora.remotely.downloadAll():
        curve = []
        for alpha in [0.05 * k for k in range(1, 9)]:
            curve.append(sum(math.exp(-alpha * (x % 100)) for x in range(n)))
    return curve


def mandelbrot_escape(c, limit=60):
    z = 0j
    for k in range(limit):
        z = z * z + c
        if abs(z) > 2.0:
            return k
    return limit


@program(200, quick=90)
def mandelbrot_complex(ufora, n):
    with ufora.remotely.downloadAll():
        grid = [complex(-2.0 + 2.6 * i / n, -1.3 + 2.6 * j / n) for i in range(n) for j in range(n)]
        escapes = [mandelbrot_escape(c) for c in grid]
        inside = sum(1 for e in escapes if e == 60)
    return inside, sum(escapes)


@program(300_000)
def complex_roots_of_unity(ufora, n):
    with ufora.remotely.downloadAll():
        roots = [cmath.exp(2j * cmath.pi * k / n) for k in range(n)]
        total = sum(roots)
        product_angle = sum(cmath.phase(r) for r in roots[: n // 2])
        largest_real = max(roots, key=lambda z: z.real)
    return abs(total) < 1e-6, product_angle, largest_real


def prices_as_text(n):
    return [f"{(i * 7919) % 100000 / 100:.2f}" for i in range(n)]


@program(300_000, make=prices_as_text)
def decimal_invoice_total(ufora, prices):
    with ufora.remotely.downloadAll():
        cent = decimal.Decimal("0.01")
        amounts = [decimal.Decimal(p) for p in prices]
        subtotal = sum(amounts)
        tax = (subtotal * decimal.Decimal("0.0825")).quantize(cent, rounding=decimal.ROUND_HALF_UP)
        discounts = sum((a * decimal.Decimal("0.05")).quantize(cent) for a in amounts if a > 900)
    return subtotal, tax, discounts


@program(2500, quick=1000)
def fraction_series(ufora, n):
    with ufora.remotely.downloadAll():
        harmonic = sum(fractions.Fraction(1, k) for k in range(1, n // 10))
        alternating = sum(fractions.Fraction((-1) ** k, 2 * k + 1) for k in range(n // 10))
        rough = [float(fractions.Fraction(k, 7) + fractions.Fraction(1, k)) for k in range(1, n * 20)]
    return harmonic.denominator.bit_length(), alternating.numerator % 1000, sum(rough)


@program(3_000_000, quick=600_000)
def prime_sieve(ufora, n):
    with ufora.remotely.downloadAll():
        is_prime = [True] * n
        is_prime[0] = is_prime[1] = False
        for p in range(2, int(n ** 0.5) + 1):
            if is_prime[p]:
                for multiple in range(p * p, n, p):
                    is_prime[multiple] = False
        primes = [i for i, flag in enumerate(is_prime) if flag]
        twin = sum(1 for a, b in zip(primes, primes[1:]) if b - a == 2)
    return len(primes), twin, primes[-1]


def collatz_length(n):
    steps = 1
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


@program(60_000, quick=12_000)
def collatz_longest(ufora, n):
    with ufora.remotely.downloadAll():
        longest = max(range(1, n), key=collatz_length)
        average = sum(collatz_length(k) for k in range(1, n)) / (n - 1)
    return longest, average


@program(1500, quick=600)
def gcd_table(ufora, n):
    with ufora.remotely.downloadAll():
        coprime = sum(1 for a in range(1, n) for b in range(1, n) if math.gcd(a, b) == 1)
        density = coprime / (n - 1) ** 2
    return coprime, density


@program(1_000_000, quick=200_000)
def float_statistics(ufora, n):
    with ufora.remotely.downloadAll():
        values = [math.sin(i * 0.001) * 100 + (i % 13) for i in range(n)]
        mean = sum(values) / len(values)
        variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        stdev = math.sqrt(variance)
        lowest, highest = min(values), max(values)
        outliers = sum(1 for v in values if abs(v - mean) > 2 * stdev)
    return mean, stdev, lowest, highest, outliers


@program(200_000, quick=40_000)
def statistics_module(ufora, n):
    with ufora.remotely.downloadAll():
        data = [((i * 7919) % 10007) / 10.0 for i in range(n)]
        summary = (statistics.mean(data), statistics.median(data), statistics.pstdev(data))
        quartiles = statistics.quantiles(data, n=4)
    return summary, quartiles


@program(200_000, quick=40_000)
def moving_average(ufora, n):
    with ufora.remotely.downloadAll():
        series = [math.sin(i / 50.0) + (i % 7) * 0.1 for i in range(n)]
        window = 20
        smooth = [sum(series[i:i + window]) / window for i in range(len(series) - window + 1)]
        crossings = sum(1 for a, b in zip(smooth, smooth[1:]) if (a < 0.3) != (b < 0.3))
    return len(smooth), smooth[-1], crossings


@program(1_000_000, quick=200_000)
def histogram_dict(ufora, n):
    with ufora.remotely.downloadAll():
        bins = {}
        for i in range(n):
            x = math.sin(i) * math.cos(i * 0.5)
            b = int((x + 1) * 10)
            bins[b] = bins.get(b, 0) + 1
        mode = max(bins, key=bins.get)
    return dict(sorted(bins.items())), mode


@program(120, quick=70)
def matrix_multiply_lists(ufora, n):
    with ufora.remotely.downloadAll():
        a = [[(i * j) % 7 + 0.5 for j in range(n)] for i in range(n)]
        b = [[(i + j) % 5 - 1.0 for j in range(n)] for i in range(n)]
        c = [[sum(a[i][k] * b[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
        trace = sum(c[i][i] for i in range(n))
    return trace, c[n // 2][:5]


@program(5_000_000, quick=1_000_000)
def generator_checks(ufora, n):
    with ufora.remotely.downloadAll():
        has_big_square = any(x * x > 10 ** 13 for x in range(n))
        all_small = all(x % 1_000_003 != 999_999 for x in range(n))
        smallest_odd_cube = min(x ** 3 % 1_000_003 for x in range(1, n, 2))
        total = sum(x % 97 for x in range(n))
    return has_big_square, all_small, smallest_odd_cube, total


@program(20_000, quick=5_000)
def big_integer_fibonacci(ufora, n):
    with ufora.remotely.downloadAll():
        a, b = 0, 1
        digit_sums = 0
        for k in range(n):
            a, b = b, a + b
            if k % 100 == 0:
                digit_sums += sum(int(d) for d in str(a))
        digits = len(str(a))
    return digits, digit_sums, a % 1_000_000_007
