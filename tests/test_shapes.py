"""Table-driven: each snippet runs as plain CPython and as a block through the engine (rewriter,
kernels or CPython fallback, partitions on the in-process runner); results, their types and
exceptions must be CPython's. Snippets marked parallel must also have been split."""
import itertools
import math
import textwrap

import numpy as np
import pytest

from ufora.engine import runtime, serialization
from ufora.engine.block import ASSIGNED_GROUPS, Block, run_block
from ufora.engine.runtime import InlineRunner
from tests.inline_block import variables_of

PRELUDE = textwrap.dedent('''
    import math

    import numpy as np

    from tests.primes import isPrime as is_prime, last_digits_if_prime, odd_prime

    class Box:
        def __init__(self, v):
            self.v = v

    def boxed(x):
        return Box(x).v * 2

    class Vec:
        """Adds only to its own kind; 0 + Vec works (sum's start), Vec + 0 does not."""
        def __init__(self, v):
            self.v = v

        def __add__(self, other):
            return Vec(self.v + other.v)

        def __radd__(self, other):
            return Vec(self.v + other)

    def big_power(x):
        total = x
        total *= x ** 20
        return -total

    def as_dict(x):
        return len(dict(value=x, name="n"))

    def count_primes(n):
        return sum(is_prime(x) for x in range(n))

    def last_digits_from(n, start=3):
        """last_digits_if_prime with its divisor's start a default (called by keyword too)."""
        i = start
        while i * i <= n:
            if n % i == 0:
                return 0
            i += 2
        return n % 1000

    def is_odd(n):
        return not (n % 2 == 0)  # a Python bool, whatever n is

    def is_small(n):
        return n in (1, 2, 3)

    def factorial(n):
        return 1 if n < 2 else n * factorial(n - 1)

    def halved_or_zero(n):
        return zero_below(n, 100) * 0.5

    def zero_below(n, limit):
        return n if n > limit else 0

    def evens_below(n):
        return [y for y in range(n) if y % 2 == 0]

    def score(x):  # a loop over a constant range: numpy's type after its first pass
        total = 0.0
        for k in range(6):
            total += (x * k) % 11
        return total

    def score_breaking(x):  # a break in the first pass leaves the Python float
        total = 0.0
        for k in range(6):
            if x > 3 * k:
                break
            total += x
        return total

    def score_skipping(x):  # a continue may keep the Python float through every pass
        total = 0.0
        for k in range(6):
            if x > 3 * k:
                continue
            total += x
        return total

    def score_over(x, n):  # a range that may be empty
        total = 0.0
        for k in range(n):
            total += x * k
        return total

    def score_none(x):  # an empty range of constants
        total = 0.0
        for k in range(5, 2):
            total += x * k
        return total

    def thrice_halved(i):  # its type is its argument's
        total = 0.0
        for k in range(3):
            total += i * 0.5
        return total

    def totals_seen(x):  # the loop variable kept as it was in each pass: a Python float first
        total = 0.0
        seen = [total]
        for k in range(3):
            seen.append(total)
            total += x
        return seen[1]

    def score_returning_early(x):  # a return inside the loop reads the Python float
        total = 0.0
        for k in range(6):
            if k == 0 and x > 0:
                return total
            total += x
        return total

    small = np.arange(10.0)

    class Base:
        def scale(self):
            return 1

    class Counter(Base):
        def __init__(self, k):
            self.__k = k

        def count(self, n):
            return sum(is_prime(x) for x in range(n))

        def scaled(self, n):
            k = self.__k * super().scale()
            return [x * k for x in range(n) if x % 3]

        @staticmethod
        def squares(n):
            return sum(x * x for x in range(n))

        @classmethod
        def evens(cls, n):
            return len([x for x in range(n) if x % 2 == 0])

    counter = Counter(3)

    ints = list(range(-15_000, 15_000))
    floats = [i * 0.25 for i in range(30_000)]
    bools = [i % 3 == 0 for i in range(30_000)]
    tup = tuple(range(25_000))
    mixed = [i if i % 2 else i * 0.5 for i in range(30_000)]
    words = [str(i) for i in range(30_000)]
    arr = np.arange(50_000) * 0.5
    iarr = np.arange(40_000, dtype=np.int64) - 20_000
    rows = np.arange(75_000, dtype=np.float64).reshape(25_000, 3)
    big = np.arange(300_000, dtype=np.float64)  # over the shared-memory threshold
    out = []
    f32 = (np.arange(30_000, dtype=np.float32) * np.float32(0.1)).astype(np.float32)
    i32 = np.arange(-15_000, 15_000, dtype=np.int32) * 70_001
    i8 = (np.arange(30_000) % 256 - 128).astype(np.int8)
    u8 = (np.arange(30_000) % 256).astype(np.uint8)
    nan = float("nan")
    nan_spread = np.arange(40_000, dtype=np.float64)  # a NaN where partitions may begin
    nan_spread[1::2] = nan
    nan_spread[3::7] = nan
    nan_list = nan_spread.tolist()
    nan_first = [nan] + list(range(30_000))
    all_nan = [nan] * 30_000
    sets = [{x} for x in range(30_000)] + [{0, 1}]  # ordered by inclusion only
''')

NUMERIC = ["range(50_000)", "range(-30_000, 30_000, 3)", "range(150_000, -150_000, -7)",
           "range(10**6, 10**6 + 40_000)", "ints", "floats", "tup", "arr", "iarr", "big"]
ELEMENTS = ["x", "x * x", "x % 7", "x * 0.5 - 3"]
FILTERS = ["", " if x % 3 == 1"]

SNIPPETS = []  # (id, code, parallel expected, compiled expected: True, False or None to skip, exact)


def add(code, parallel=True, name=None, compiled=None, exact=False):
    """``exact``: the result's repr must be CPython's (every value, its type and the sign of
    zero; floats to the last bit), not merely close."""
    SNIPPETS.append((name or code, code, parallel, compiled, exact))


for it, el, flt in itertools.product(NUMERIC, ELEMENTS, FILTERS):
    add(f"result = sum({el} for x in {it}{flt})", compiled=True)
for it, flt in itertools.product(NUMERIC, FILTERS):
    add(f"result = min(x % 1000 - 3 for x in {it}{flt})", compiled=True)
    add(f"result = max(x for x in {it}{flt})", compiled=True)
    add(f"result = [x * 2 for x in {it}{flt}]", compiled=True)
    add(f"result = any(x > 29_990 for x in {it}{flt})", compiled=True)
    add(f"result = all(x < 10**7 for x in {it}{flt})", compiled=True)
for it in ["range(50_000)", "ints", "arr", "iarr", "tup"]:
    # (over arr the values are not integers: a start other than 0 comes first, serially in CPython)
    add(f"result = sum((x % 5 for x in {it}), 10)", compiled=it != "arr")
    add(f"result = min((x for x in {it}), key=lambda v: (v - 7) * (v - 7))", compiled=True)
    add(f"result = max((x for x in {it} if x % 2), key=lambda v: v % 100, default=None)", compiled=True)
    add(f"result = {{x % 100 for x in {it}}}", compiled=True)
    add(f"result = {{x: x * 0.5 for x in {it} if x % 4 == 0}}", compiled=True)
    add(f"result = [x > 3 for x in {it}]", compiled=True)
    add(f"result = any(x == 17 for x in {it})", compiled=True)
    add(f"result = all(x != 17 for x in {it})", compiled=True)

# the tutorial, user functions, closures, rows of 2-D arrays, bools, indexing
add("result = sum(is_prime(x) for x in range(100_000))", compiled=True)
add("result = sum(is_prime(x) for x in range(100_000) if x % 2)", compiled=True)
add("k = 3\nresult = sum(x * k for x in range(40_000))")
add("result = sum(row.sum() for row in rows)", compiled=False)  # numpy adds a row otherwise than numba
add("result = [row[0] + row[2] for row in rows]", compiled=True)
add("result = sum(1 for b in bools if b)")
add("result = [not b for b in bools]")
add("result = sum(arr[i] * iarr[i] for i in range(len(iarr)))", compiled=True)
add("result = max(arr[i] - i for i in range(len(arr)))")
# zip, enumerate, map, filter, tuple targets
add("result = sum(a * b for a, b in zip(arr, iarr))", compiled=True)
add("result = sum(i * v for i, v in enumerate(arr))", compiled=True)
add("result = max((v, i) for i, v in enumerate(ints))", compiled=True)  # numba compares tuples as CPython does
add("result = [i + v for i, v in enumerate(floats, 10) if i % 3]", compiled=True)
add("result = {i: v for i, v in enumerate(range(100, 40_100))}", compiled=True)
add("result = sum(a - b for a, b in zip(range(50_000), range(7, 60_000, 2)))", compiled=True)
add("result = [t[0] * t[1] for t in zip(ints, floats)]", compiled=True)
add("result = any(a > b for a, b in zip(arr, iarr))", compiled=True)
add("result = sum(map(is_prime, range(60_000)))", compiled=True)
add("result = list(map(lambda v: v * 3, ints))", compiled=True)
add("result = sum(map(lambda a, b: a * b, arr, iarr))", compiled=True)
add("result = max(map(abs, iarr))", compiled=True)
add("result = list(filter(lambda v: v % 7 == 0, range(50_000)))", compiled=True)
add("result = sum(filter(None, bools))", compiled=True)
add("result = set(map(lambda w: w[-1], words))", compiled=False)
add("result = list(map(str, range(30_000)))", compiled=False)  # strings: collected in CPython
add("result = list(zip(range(30_000), ints))[:3]", parallel=False)
add("result = sum(x for x in zip(range(30_000), ints) if False)", compiled=None)
add("map = lambda f, xs: [0]\nresult = sum(map(abs, range(50_000)))", parallel=False)
add("result = sum(a * b for a, b in zip(range(50_000), range(50_000), strict=True))", parallel=False)
# numba cannot compile these: CPython partitions, same answers
add("result = sum(len(str(x)) for x in range(40_000))", compiled=True)  # numba has str(int)
add("result = [str(x) for x in range(30_000)]", compiled=False)
add("result = {str(x % 50): x for x in range(30_000)}", compiled=False)
add("result = sum(boxed(x) for x in range(30_000))", compiled=False)
add("result = sum(as_dict(x) for x in range(30_000))", compiled=False)
add("result = max(len(w) for w in words)", compiled=False)
add("result = [w + '!' for w in words]")
add("result = sum(x for x in mixed)", compiled=False)
add("result = min(mixed, key=lambda v: -v) if False else min(v for v in mixed)")
# exact integers where int64 would wrap
add("result = sum(x * x * x for x in range(10**6, 10**6 + 300_000))")
add("result = sum(x ** 3 * 1000 for x in range(1, 300_000))")
add("result = max(x * 2**40 for x in range(30_000))")
# ... and inside element functions: the partition that would wrap is recomputed in CPython
add("result = sum(x ** 40 % 1000 for x in range(2, 30_000))")
add("result = [x * x * x * x for x in range(100_000)]")
add("result = max(big_power(x) for x in range(-15_000, 15_000))")
add("result = sum((1 << (x % 100)) % 1000 for x in range(30_000))")
add("result = [sum(y ** 9 for y in range(x % 135)) for x in range(20_000)]")
add("result = {x: -x * 2**62 for x in range(-15_000, 15_000)}")
add("result = sum(x ** -1 for x in range(1, 30_000))")
add("result = sum(x ** (x % 3 - 1) for x in range(1, 30_000))")
add("result = min(x ** 2 - 2**63 for x in range(1, 30_000))")
# huge ranges with cheap elements
add("result = sum(x for x in range(10**9))", name="sum over range(10**9)")
add("result = sum(x % 3 for x in range(-10**8, 10**8, 7))")
# exceptions at the start, middle and end, and the first one by position wins
add("result = sum(1 // (x - 0) for x in range(50_000))")
add("result = sum(1 // (x - 25_000) for x in range(50_000))")
add("result = sum(1 // (x - 49_999) for x in range(50_000))")
add("result = sum(1 // (x - 40_000) + 1 // (x - 20_000) for x in range(50_000))")
add("result = [1 / (x - 30_000) for x in range(50_000)]")
add("result = max(int('x') if x == 30_000 else x for x in range(50_000))")
add("result = [words[x] for x in range(30_001)]")
add("result = min(x for x in range(50_000) if x < 0)")
add("result = max((x for x in range(50_000) if x < 0), default='none')")
add("result = any(1 // (x - 30_000) for x in range(50_000))")
add("result = all(x < 10 or 1 // (x - 40_000) for x in range(50_000))")
# empty and one-element inputs, and iterators, run inline; small inputs split (these tests' runner
# splits every shape it can, as UFORA_SPLIT=always does); same answers
for it in ["range(0)", "range(1)", "[]", "[5]", "range(10)", "np.arange(3)", "iter(range(30_000))"]:
    small = it in ("range(10)", "np.arange(3)")
    add(f"result = sum(x for x in {it})", parallel=small)
    add(f"result = [x + 1 for x in {it}]", parallel=small)
    add(f"result = max((x for x in {it}), default=-1)", parallel=small)
# min and max regrouped are CPython's only where ranks are totally ordered: a NaN is ordered
# with nothing (CPython's running best never becomes one, unless it comes first); sets order by
# inclusion, and a Decimal NaN raises when compared: those are made in order
for it in ["nan_spread", "nan_list"]:
    add(f"result = max(x for x in {it})", compiled=True, exact=True)
    add(f"result = min(-x for x in {it})", compiled=True, exact=True)
    add(f"result = max((x for x in {it}), key=lambda v: -v)", exact=True)
    add(f"result = max((x, i) for i, x in enumerate({it}))", parallel=False, exact=True)  # made in order
# one NaN object in every tuple: CPython's tuples compare it equal to itself (by identity)
add("one = float('nan')\nresult = max((one, i) for i in range(30_000))", parallel=False, exact=True)
add("result = max((x, i) for i, x in enumerate(arr))", compiled=True, exact=True)  # (np.float64, int)
add("result = max(x for x in nan_first)", exact=True)
add("result = min(x * 1.5 for x in nan_first)", exact=True)
add("result = max(x for x in all_nan), max(x for x in all_nan[1:] + [2.0])", exact=True)
add("result = max(x for x in [3.0] + all_nan + [7.0])", exact=True)
add("result = max(s for s in sets), min((s for s in sets), key=len)")
add("import decimal\nresult = max(decimal.Decimal(x) for x in [1] * 15_000 + ['NaN'] + [2] * 15_000)")
# side effects keep the serial order
add("[out.append(x) for x in range(30_000)]\nresult = len(out), out[:3]", parallel=False)
add("total = [0]\n[total.__setitem__(0, total[0] + x) for x in range(30_000)]\nresult = total", parallel=False)
add("import random\nrandom.seed(1)\nresult = [random.random() for x in range(30_000)][:3]", parallel=False)
# functions that cannot be pickled run serially where they are
add("import threading\nlock = threading.Lock()\nresult = sum(x for x in range(50_000) if not lock.locked())\ndel lock",
    parallel=False)
# shadowed builtins and other shapes are left to CPython
add("sum = lambda values: 42\nresult = sum(x for x in range(50_000))", parallel=False)
# several for clauses: the outer loop is split; sum, any and all reduce each outer item's inner
# loops (compiled), the others run the inner loops in CPython in each partition
add("result = sum(x * y for x in range(30_000) for y in range(x % 5))", compiled=True)
add("result = sum(x * 2.0 - y for x in big for y in range(int(x) % 4 + 1))", compiled=False)  # floats: in order
add("result = sum(x * y for x in iarr for y in range(int(x) % 4 + 1))", compiled=True)  # ints: grouped
add("result = sum(x * 0.5 - y for x in arr if x > 3 for y in range(int(x) % 4 + 1) if y != 2)",
    compiled=False)  # floats that are not integers, added per outer item: serially in CPython
add("result = sum(x * 0.5 - y for x in arr for y in range(int(x) % 4))")  # empty float sums: CPython's 0
add("result = sum(i * y for i, v in enumerate(ints) for y in range(v % 3))", compiled=True)
add("result = sum(x * y for x in range(30_000) for y in range(2**30, 2**30 + 3))", compiled=True)
add("result = sum(x ** 3 * y for x in range(30_000) for y in range(2**40, 2**40 + 3))")
add("result = sum(x ** 9 * y for x in range(30_000) for y in range(3))")  # leaves int64: CPython
add("result = all(x * y < 10**9 for x in range(10**7) for y in range(3))", compiled=True)
add("result = any(str(x + y) == '29999' for x in range(30_000) for y in range(2))", compiled=True)
add("result = sum((y for x in range(30_000) for y in (x, -x)), 10)", compiled=False)  # a start: flat
add("result = sum(len(w) * y for w in words for y in range(2))", compiled=False)
add("result = (lambda sum: sum(x * y for x in range(30_000) for y in range(2)))(lambda g: max(g))",
    parallel=False)  # not the builtin: called with every element, as written
add("result = sum(x for sum in rows for x in sum)", compiled=False)  # the target shadows sum: flat
# min and max reduce each outer item's inner loops too: the first of equal extremes is the first
# of the first group holding one; an empty group or a NaN makes that partition CPython's
add("result = min(x * y % 97 - 40 for x in range(30_000) for y in range(x % 5 + 1))", compiled=True)
add("result = max(x * 0.5 - y for x in arr for y in range(int(x) % 4 + 1))", compiled=True, exact=True)
add("result = max(x - y for x in iarr for y in range(int(x) % 3))", exact=True)  # empty groups
add("result = min((x * y for x in range(30_000) for y in (1, -1)), default=0)", compiled=False)  # a default: flat
# the element holds the NaN object ``nan`` (a marker: min and max may give that very object, and an
# element may compare it by identity): such a shape runs where it is (engine.purity.NAN_MARKER_HELD)
add("result = max(v for i in range(2_000) for v in (nan_spread[i], i * 0.5, nan))", parallel=False, exact=True)
add("result = min(v for i in range(2_000) for v in ((nan, -1.0) if i == 7 else (float(i),)))", parallel=False,
    exact=True)
add("result = max(v for i in range(2_000) for v in ((nan, 1e9) if i == 0 else (float(i),)))", parallel=False,
    exact=True)
add("result = max((x % 7, x) for x in range(20_000) for y in range(2))", exact=True)
add("result = sum(Vec(y) for x in range(30_000) for y in range(x % 2)).v")  # CPython partitions: no int 0 added
add("result = [(x, y) for x in range(25_000) if x % 2 for y in range(x % 3) if y != 1]", compiled=False)
add("result = {x % 100: y for x in range(25_000) for y in range(2)}", compiled=False)
add("result = max(x - y for x in ints for y in (1, 2))", compiled=True, exact=True)  # grouped
add("result = min((y for i, v in enumerate(floats) for y in (v, -v)), default=0)", compiled=False)
add("result = any(x == 7 and y == 1 for x in range(10**7) for y in range(3))", compiled=True)
add("result = sum(1 // (x - 20_000 + y) for x in range(30_000) for y in range(2))", compiled=False)
add("result = sum(x * y for x in range(300) for y in range(300))")  # the 300 outer items are split
add("result = sorted(x % 10 for x in range(50_000))[:5]", parallel=False)
# len of a comprehension: a count over partitions, no list built; sets and dicts: distinct items
add("result = len([x for x in range(50_000) if x % 3])", compiled=True)
add("result = len([is_prime(x) for x in range(60_000) if x % 2])", compiled=True)
add("result = len([x * 0.5 for x in arr if x > 100])", compiled=True)
add("result = len([w for w in words if w.endswith('7')])", compiled=False)
add("result = len([(x, y) for x in range(25_000) for y in range(x % 3)])", compiled=False)
add("result = len(list(filter(lambda v: v % 7 == 0, range(50_000))))", compiled=True)
add("result = len(list(map(abs, iarr)))", compiled=True)
add("result = len({x % 100 for x in range(50_000)})", compiled=True)
add("result = len({x % 7: x for x in iarr})", compiled=True)
add("result = len([1 // (x - 30_000) for x in range(50_000)])")
add("result = len([x for x in range(50_000) if x < 0])", compiled=True)
add("result = len([x for x in range(10)])")
add("len = lambda v: -1\nresult = len([x for x in range(50_000)])")  # shadowed: the list is built
# shapes inside functions and methods the block calls (defined in the block's file)
add("result = count_primes(50_000)", compiled=True)
add("result = counter.count(60_000)", compiled=True)
add("result = Counter(2).count(40_000) + counter.count(30_000)", compiled=True)
add("result = counter.scaled(50_000)", compiled=True)  # private name and super() in the method
add("result = Counter.squares(50_000)", compiled=True)
add("result = counter.evens(50_000)", compiled=True)
# a dataclass the block defines: frozen (object.__setattr__ in __init__) and with the standard
# library's recursion guard around __repr__, both free of visible effects; annotations stay types
add("from dataclasses import dataclass\n@dataclass(frozen=True)\nclass P:\n    x: int\n    y: int\n"
    "    def norm(self):\n        return self.x * self.x + self.y * self.y\n"
    "pts = [P(i, i % 7) for i in range(30_000)]\n"
    "result = sum(p.norm() for p in pts), len({p for p in pts if p.x % 2}), repr(pts[3]), P.__annotations__",
    compiled=False)
add("def f(a: int) -> str:\n    return str(a)\nresult = f.__annotations__", parallel=False)
# object.__setattr__ on anything but the new object is still a side effect
add("class Box:\n    pass\nbox = Box()\nclass Q:\n    def __init__(self, v):\n"
    "        object.__setattr__(box, 'last', v)\n        object.__setattr__(self, 'v', v)\n"
    "result = sum(Q(x).v for x in range(30_000)), box.last", parallel=False)
add("result = counter.count(100)", compiled=True)
# nested shapes inside a partition: compiled (the twin's loops), exact, or recomputed in CPython
add("result = [sum(is_prime(y) for y in range(x % 100)) for x in range(30_000)]", compiled=True)
add("result = sum(count_primes(x % 50) for x in range(30_000))", compiled=True)
add("result = sum(len(evens_below(x % 50)) for x in range(30_000))", compiled=True)
add("result = max(min(y * y - x for y in range(x % 7 + 1)) for x in ints)", compiled=True)
add("result = [any(y * y == x for y in range(x % 40)) for x in range(30_000)]", compiled=True)
add("result = [all(x % y for y in range(2, x % 30 + 2) if y < x) for x in range(30_000)]", compiled=True)
add("result = [x for x in range(30_000) if any(x % y == 0 for y in range(2, 9))]", compiled=True)
add("k = 3\nresult = [sum(y * k for y in range(x % 20)) for x in range(30_000)]", compiled=True)
add("result = [sum(v * x for v in small) for x in range(30_000)]", compiled=True)
add("result = [sum(a * b for a, b in zip(range(x % 9), range(5))) for x in range(30_000)]", compiled=True)
add("result = sum(sum(y for y in range(x % 9) for z in range(y) if z % 2) for x in range(30_000))",
    compiled=True)
add("result = [sum((y for y in range(x % 4)), 10) for x in range(30_000)]", compiled=True)
add("result = [sum(i * a - b for i, (a, b) in enumerate(zip(range(x % 7), range(3, 9)))) for x in range(30_000)]",
    compiled=True)  # a nested tuple target inside the element compiles
# nested tuple targets: the item is unpacked as the target says, by the kernel or by CPython
add("result = sum(i * a for i, (a, b) in enumerate(zip(range(30_000), ints)))", compiled=True)
add("result = sum(i * x - y for i, (x, y) in enumerate(zip(arr, floats), 5))", compiled=True)
add("result = {i: a * b for i, (a, b) in enumerate(zip(ints, ints))}", compiled=True)
add("result = max(a - c for (a, b), c in zip(zip(ints, arr), range(30_000)) if b > 3)", compiled=True)
add("result = [a + b + c for a, (b, c) in zip(range(30_000), zip(ints, zip(floats, bools)))]")
add("result = [p[0] * b for p, b in zip(zip(ints, floats), bools)]", compiled=True)
add("result = sum(a - b for a, b in rows)")  # rows have 3 columns: CPython's ValueError
add("result = sum(a - b * c for a, b, c in rows)", compiled=True)
add("result = sum(a * len(w) for a, (w, v) in zip(ints, zip(words, floats)))", compiled=False)
add("result = sum(a for a, (b, c) in zip(ints, tup))")  # ints cannot be unpacked: TypeError
add("result = sum(a * b for a, (b,) in zip(ints, zip(floats)))", compiled=True)
add("result = [sum(y * 0.5 for y in range(x % 3)) for x in range(30_000)]")  # empty: CPython's int 0
add("result = [sum(y * 2**40 for y in range(x % 5000)) for x in range(30_000)]")  # past int64
add("result = [sum(1 // (y - 3) for y in range(x % 10)) for x in range(30_000)]")
add("result = [min(y for y in range(x % 5)) for x in range(30_000)]")
add("result = [counter.count(x % 50) for x in range(30_000)]", compiled=False)  # methods: CPython
# A list the block never reads stays an array until it is unpickled (engine.unread); read, a list
add("result = [x * 0.5 for x in range(100_000)]\nresult = result[-3:] + [type(result).__name__]")
add("values = [x % 3 == 0 for x in range(100_000)]\nresult = sum(values)")
add("result = [x * 3 for x in range(-50_000, 50_000) if x % 7]", compiled=True)
add("result = [x % 3 == 0 for x in range(100_000)]", compiled=True)
# Text: numba formats ints as CPython does, floats not ('<object type:float64>'): CPython then
add("result = sum(len(str(x)) for x in range(100_000))", compiled=True)
add("result = sum(str(x).count('5') for x in big)", compiled=False)
add("result = sum(len(f'{x}') for x in arr)", compiled=False)
add("result = sum(len(repr(x)) for x in range(50_000))", compiled=False)
add("result = [str(x) for x in floats]")

# Compiled code that must give CPython's exact values and types, or not be compiled (engine.checked)
add("result = [math.sqrt(x) for x in range(30_000)]", compiled=True, exact=True)
add("result = sum(math.sqrt(x - 10) for x in range(30_000))")  # ValueError: math domain error
add("result = [math.log(x) for x in range(30_000)]")  # log(0): ValueError
add("result = [math.log(x + 1) for x in range(30_000)]", compiled=True, exact=True)
add("result = sum(math.exp(x / 10) for x in range(30_000))")  # OverflowError: math range error
add("result = [math.sin(x * 1e300 * 1e10) for x in range(30_000)]")  # sin(inf): ValueError
add("result = [math.floor(x * 0.37) for x in range(30_000)]", compiled=True, exact=True)
add("result = [math.floor(x * 1e300 * 1e10) for x in range(30_000)]")  # floor(inf): OverflowError
add("result = [int(x * 1e16) for x in range(30_000)]", exact=True)  # past int64: CPython's ints
add("result = [np.int64(x * 1e300) for x in range(30_000)]")  # OverflowError (numba: INT64_MIN)
add("result = [np.int64(x * 0.37) for x in range(30_000)]", compiled=True, exact=True)
add("result = [(x * 1.1) ** 3 for x in range(30_000)]", compiled=True, exact=True)  # C's pow, not x*x*x
add("result = [(x * 0.37) ** 2 for x in range(30_000)]", compiled=True, exact=True)
add("result = [(x * 0.5) ** 0.5 for x in range(30_000)]", compiled=True, exact=True)
add("result = sum(10.0 ** (x / 50) for x in range(30_000))")  # OverflowError
add("result = [(x - 5) ** 0.5 for x in range(30_000)]", exact=True)  # complex for x < 5
add("result = [(x * 0.5 - 3) ** -1 for x in range(30_000)]")  # 0.0 ** -1: ZeroDivisionError
add("result = [(x + 2**60) / 3 for x in range(30_000)]", exact=True)  # beyond 2**53: CPython divides exactly
add("result = [arr[x] for x in range(50_001)]")  # IndexError with numpy's message
add("result = [arr[-x] for x in range(1, 30_000)]", compiled=True, exact=True)
add("result = sum(arr[x - 50_000] for x in range(30_000))", compiled=True)
add("result = [round(x * 0.005, 2) for x in range(30_000)]", compiled=False, exact=True)  # round(0.015, 2)
add("result = [round(x * 0.25) for x in range(30_000)]", compiled=True, exact=True)  # ints, half to even
add("result = [round(x * 1e300 * 1e10) for x in range(30_000)]")  # round(inf): OverflowError
add("result = [x / 2 if x % 2 else x // 2 for x in range(30_000)]", compiled=False, exact=True)
add("result = [x > 3 if x % 2 else 0 for x in range(30_000)]", compiled=False, exact=True)
add("result = [max(x, 2.5) for x in range(30_000)]", compiled=False, exact=True)  # 7, not 7.0
add("result = [(x, 1) if x % 2 else (x, 1.5) for x in range(30_000)]", compiled=False, exact=True)
add("result = [[x, 1.5][0] for x in range(30_000)]", compiled=False, exact=True)
add("result = [pow(x, 5) for x in range(30_000)]", exact=True)  # past int64: CPython's ints
add("result = [round(x > 5) + math.floor(x > 9) for x in range(30_000)]", compiled=True, exact=True)
# numpy scalars on one path, Python numbers on another: numba types both float64
add("result = [x if x > 100 else 0.0 for x in arr]", compiled=False, exact=True)
add("result = [math.sqrt(x) if x > 100 else x for x in arr]", compiled=False, exact=True)
add("result = [x if x > 100 else 0.0 for x in floats]", compiled=True, exact=True)  # Python floats both
add("result = [x * 2 if x > 100 else x for x in arr]", compiled=True, exact=True)  # numpy scalars both
# the same in a function the element calls (and one it calls): its arguments' origins are the call's
add("result = [last_digits_if_prime(x) for x in iarr]", compiled=False, exact=True)
add("result = [odd_prime(x) for x in iarr]", compiled=False, exact=True)
add("result = [halved_or_zero(x) for x in iarr]", compiled=False, exact=True)
add("result = [last_digits_if_prime(x) for x in range(30_000)]", compiled=True, exact=True)  # Python ints all
add("result = [odd_prime(x) for x in range(30_000)]", compiled=True, exact=True)
add("result = [halved_or_zero(int(x)) for x in iarr]", compiled=True, exact=True)
add("result = [last_digits_from(x) for x in iarr]", compiled=False, exact=True)  # its default omitted
add("result = [last_digits_from(n=x) for x in iarr]", compiled=False, exact=True)  # by keyword
add("result = [last_digits_from(x, start=3) for x in range(30_000)]", compiled=True, exact=True)
add("result = [is_odd(x) if x > 5 else x == 3 for x in iarr]", compiled=False, exact=True)  # found by review
add("result = [(not (x % 2 == 0)) if x > 5 else x == 3 for x in iarr]", compiled=False, exact=True)
add("result = [is_small(x) if x > 0 else x == -3 for x in iarr]", compiled=False, exact=True)
add("result = [factorial(x % 15) for x in iarr]", compiled=False, exact=True)  # 1 or numpy's
add("result = [factorial(x % 15) for x in range(30_000)]", compiled=True, exact=True)  # recursion: Python ints
# a loop variable that starts a Python number and is a numpy scalar after each pass
add("result = [score(x) for x in iarr]", compiled=True, exact=True)  # range(6): a pass is made
add("result = sum(score(x) for x in iarr)", compiled=True, exact=True)
add("result = [score(x) for x in range(30_000)]", compiled=True, exact=True)  # Python floats all
add("result = [score_breaking(x) for x in iarr]", compiled=False, exact=True)
add("result = [score_skipping(x) for x in iarr]", compiled=False, exact=True)
add("result = [score_over(x, 3) for x in iarr]", compiled=False, exact=True)  # n is not a constant there
add("result = [score_none(x) for x in iarr]", compiled=False, exact=True)
add("result = [score_returning_early(x) for x in iarr]", compiled=False, exact=True)
add("result = [totals_seen(x) for x in iarr]", compiled=False, exact=True)
# enumerate's and zip's parts each their own origin (found by review: a range's ints read as numpy's)
add("result = [thrice_halved(i) if x > 0 else x * 0.5 for i, x in enumerate(iarr)]", compiled=False, exact=True)
add("result = [i * 0.5 if x > 0 else x * 0.5 for i, x in enumerate(iarr)]", compiled=False, exact=True)
add("result = [thrice_halved(i) if x > 0 else x * 0.5 for i, x in zip(range(40_000), iarr)]", compiled=False,
    exact=True)
add("result = [thrice_halved(x) + i for i, x in enumerate(iarr)]", compiled=True, exact=True)  # numpy's all
add("result = [thrice_halved(i) * 2 for i, x in enumerate(iarr)]", compiled=True, exact=True)  # Python's all
# a range numba would count the passes of otherwise (found by review: 0 passes where CPython makes 10)
add("result = [sum(1 for k in range(-5 * 10**18, 5 * 10**18, 10**18)) + x for x in range(30_000)]", exact=True)
add("result = [x * 2.5 for x in f32]", compiled=False, exact=True)  # float32 arithmetic
add("result = sum(x * 0.5 for x in f32)", parallel=False, exact=True)  # a float32 sum: item by item
add("result = sum(x for x in f32)", parallel=False, exact=True)
add("result = [x * 3 for x in i32]", compiled=False, exact=True)  # int32 wraps as numpy's scalars do
add("result = sum(x for x in i8)", exact=True)
add("result = [x + 200 for x in u8]", compiled=False, exact=True)
add("result = sum(m for m in np.array(bools))", compiled=True, exact=True)  # 0 + np.True_ is an int64
add("result = sum((m for m in np.array(bools)), 5)", compiled=True, exact=True)
add("result = sum((-0.0 * x for x in range(30_000)), -0.0)", compiled=True, exact=True)
add("result = sum(-0.0 * x for x in range(30_000))", compiled=True, exact=True)
add("result = sum(-0.0 * x for x in arr)", compiled=True, exact=True)
add("result = sum((str(x) for x in range(30_000)), '')", parallel=False)  # TypeError: can't sum strings
add("result = sum((bytes(x % 3) for x in range(30_000)), b'')", parallel=False)
add("from decimal import Decimal, getcontext\ngetcontext().prec = 6\nresult = sum(Decimal(x) / 7 for x in range(30_000))",
    parallel=False, exact=True)  # not associative under rounding: added serially
add("from decimal import Decimal, getcontext\ngetcontext().prec = 5\nresult = [Decimal(x) / 7 for x in range(30_000)]",
    exact=True)  # the partitions round under the block's context
add("from fractions import Fraction\nresult = sum(Fraction(x % 7, 3) for x in range(30_000))", exact=True)
add("from decimal import Decimal, getcontext\ngetcontext().prec = 6\n"
    "result = sum(Decimal('0.4444445') if x == 0 else Decimal('0.0000005') if x == 1 else Decimal(0) for x in range(30_000))",
    parallel=False, exact=True)  # 0 + d rounds d first (0.444444, not 0.444445): serially in CPython

# Splitting that CPython's side effects would reveal: these run serially on the driver
# (engine.purity), and the driver's objects see every effect
add("it = iter(range(10**6))\nresult = [next(it) + x for x in range(30_000)][-3:], next(it)", parallel=False)
add("np.random.seed(3)\nresult = sum(np.random.rand() for x in range(30_000)), np.random.rand()", parallel=False,
    exact=True)
add("rng = np.random.default_rng(0)\nresult = sum(rng.random() for x in range(30_000)), rng.random()",
    parallel=False, exact=True)
add("import random\nrandom.seed(2)\nresult = [random.random() for x in range(30_000)][-2:]", parallel=False, exact=True)
add("import random\nr = random.Random(4)\nresult = sum(r.randint(0, 9) for x in range(30_000))", parallel=False)
add("class W:\n    made = 0\n    def __init__(self, v):\n        W.made += 1\n        self.v = v\n"
    "result = sum(W(x).v for x in range(30_000)), W.made", parallel=False)
add("class P:\n    def __init__(self, v):\n        self.v = v\n    def bump(self):\n        self.v += 1\n"
    "        return self.v\nps = [P(i) for i in range(30_000)]\nresult = sum(p.bump() for p in ps), ps[5].v")
add("rows = [[i] for i in range(30_000)]\ndef grow(r):\n    r.append(0)\n    return len(r)\n"
    "result = sum(grow(r) for r in rows), rows[3]")
add("rows = [[i] for i in range(30_000)]\ndef zero(r):\n    r[0] = 0\n    return 1\n"
    "result = sum(zero(r) for r in rows), rows[3]")
add("acc = []\ndef keep(a, x):\n    a.append(x)\n    return x\nresult = sum(keep(acc, x) for x in range(30_000)), len(acc)",
    parallel=False)
add("class Acc:\n    def __init__(self):\n        self.items = []\n    def add(self, x):\n"
    "        self.items.append(x)\n        return x\na = Acc()\nresult = sum(a.add(x) for x in range(30_000)), len(a.items)",
    parallel=False)
add("class Box2:\n    def __init__(self, v):\n        self.v = v\n    def double(self):\n        return self.v * 2\n"
    "result = sum(Box2(x).double() for x in range(30_000))", compiled=False)  # a constructor sets its own self
add("count = 0\ndef tick(x):\n    global count\n    count += 1\n    return x\nresult = sum(tick(x) for x in range(30_000)), count",
    parallel=False)
add("it = iter(range(20_000))\nresult = [next(it) for x in range(30_000)]", parallel=False)  # StopIteration
add("it = iter(range(20_000))\nresult = {next(it) for x in range(30_000)}", parallel=False)
add("it = iter(range(20_000))\nresult = sum(next(it) for x in range(30_000))", parallel=False)  # RuntimeError
# np.append is numpy's function read off the module, not a list's append: free of side effects;
# a list a module holds, or a module's attribute bound to a list's append, is not
add("result = [float(np.append(small, x).sum()) for x in range(30_000)]", name="np.append in the element")
MODULE_LOG = "import types\nlog_module = types.ModuleType('log_module')\nlog_module.items = []\n"
add(MODULE_LOG + "def note(x):\n    log_module.items.append(x)\n    return x\n"
    "result = sum(note(x) for x in range(30_000)), len(log_module.items)", parallel=False,
    name="append to a list a module holds")
add(MODULE_LOG + "log_module.append = log_module.items.append\ndef note(x):\n    log_module.append(x)\n    return x\n"
    "result = sum(note(x) for x in range(30_000)), len(log_module.items)", parallel=False,
    name="a module's attribute bound to a list's append")
# a subscript store whose key is an expression: into the element's own array it is free of side
# effects; into an outside array (a global, or the element's argument) it is not
add("def hist(x):\n    counts = np.zeros(4)\n    counts[int(np.argmax(small[:4] * x)) % 4] += 1\n    return counts.sum()\n"
    "result = sum(hist(x) for x in range(30_000))", name="a store with a computed key into the element's own array")
add("shared = np.zeros(4)\ndef mark(x):\n    shared[int(np.argmax(small[:4] * x)) % 4] = x\n    return x\n"
    "result = sum(mark(x) for x in range(30_000)), shared.tolist()", parallel=False,
    name="a store with a computed key into a global array")
add("def mark(row):\n    row[len(row) - 1] = 0\n    return len(row)\nrows2 = []\nfor i in range(30_000):\n    rows2.append([i, i])\n"
    "result = sum(mark(r) for r in rows2), rows2[5]", parallel=False,
    name="a store with a computed key into the element's argument")
# a change through a name bound to an outside object (a local alias, a loop's or an unpacked
# variable, what .get() hands out, a view): the effect is the outside object's, so serial
add("counts = {}\ndef tally(x):\n    c = counts\n    c[x % 7] = c.get(x % 7, 0) + 1\n    return x\n"
    "result = sum(tally(x) for x in range(30_000)), sorted(counts.items())", parallel=False,
    name="a store into a global dict through a local alias")
add("class Basket:\n    def __init__(self):\n        self.items = []\n    def put(self, x):\n        items = self.items\n"
    "        items.append(x)\n        return x\nb = Basket()\nresult = sum(b.put(x) for x in range(30_000)), len(b.items)",
    parallel=False, name="append to an attribute's list through a local alias")
add("log = []\ndef f(x):\n    a = log\n    b = a\n    b.append(x)\n    return x\nresult = sum(f(x) for x in range(30_000)), len(log)",
    parallel=False, name="append through a chain of aliases")
add("rows = []\nfor i in range(30_000):\n    rows.append([i, 0])\ndef f(x):\n    for r in rows[x:x + 1]:\n        r[1] = 5\n    return x\n"
    "result = sum(f(x) for x in range(30_000)), rows[7]", parallel=False, name="a store into a loop variable over a global")
add("pairs = []\nfor i in range(30_000):\n    pairs.append(([i], [0]))\ndef f(p):\n    a, b = p\n    b[0] = 1\n    return len(a)\n"
    "result = sum(f(p) for p in pairs), pairs[7]", parallel=False, name="a store into an unpacked argument")
add("groups = {0: [], 1: [], 2: [], 3: [], 4: []}\ndef f(x):\n    g = groups.get(x % 5)\n    g.append(x)\n    return x\n"
    "result = sum(f(x) for x in range(30_000)), len(groups[1])", parallel=False, name="append to what dict.get hands out")
add("big = np.zeros(30_000)\ndef f(i):\n    v = big[i:i + 1]\n    v += 1\n    return i\n"
    "result = sum(f(i) for i in range(30_000)), float(big.sum())", parallel=False, name="+= on a view of a global array")
add("arrs = []\nfor i in range(30_000):\n    arrs.append(np.zeros(3))\ndef f(a):\n    a += 1\n    return float(a.sum())\n"
    "result = sum(f(a) for a in arrs), arrs[7].tolist()", parallel=False, name="+= on an array item")
add("import io\nbuf = io.StringIO()\ndef f(x):\n    w = buf\n    w.write('a')\n    return x\n"
    "result = sum(f(x) for x in range(30_000)), len(buf.getvalue())", parallel=False, name="write through an alias of a global file")
add("m = np.zeros((30_000, 2))\ndef f(r):\n    r += 1\n    return float(r.sum())\nresult = sum(f(r) for r in m), float(m.sum())",
    parallel=False, name="+= on a row of a 2-d array")
# found by a user's trial: a method changing what a global's item, attribute or a helper's answer
# holds (items were lost, or counted twice)
add("D = {'a': []}\ndef f(x):\n    D['a'].append(x)\n    return x\nresult = sum(f(x) for x in range(30_000)), len(D['a'])",
    parallel=False, name="append to a global dict's item")
add("BUCKETS = {0: [], 1: [], 2: []}\ndef bucket(k):\n    return BUCKETS[k]\ndef f(x):\n    bucket(x % 3).append(x)\n"
    "    return x\nresult = sum(f(x) for x in range(30_000)), len(BUCKETS[1])", parallel=False,
    name="append to a global list a helper hands out")
add("groups = {0: [], 1: []}\ndef f(x):\n    groups.get(x % 2).append(x)\n    return x\n"
    "result = sum(f(x) for x in range(30_000)), len(groups[1])", parallel=False, name="append to what .get() answers")
add("class Acct:\n    def __init__(self):\n        self.bal = 0\n    def deposit(self, x):\n        self.bal += x\n"
    "ACCTS = [Acct(), Acct(), Acct()]\ndef f(x):\n    ACCTS[x % 3].deposit(1)\n    return x\n"
    "result = sum(f(x) for x in range(30_000)), ACCTS[0].bal + ACCTS[1].bal + ACCTS[2].bal", parallel=False,
    name="a method of an object in a global list")
# ...and what only looks like one: numbers rebound, the element's own objects
add("def steps(n):\n    c = 0\n    while n != 1:\n        if n % 2:\n            n = 3 * n + 1\n        else:\n"
    "            n //= 2\n        c += 1\n    return c\nresult = max(steps(x) for x in range(1, 30_000))",
    name="//= on an int argument")
add("START = 0\nW = np.arange(10.0)\ndef f(x):\n    t = START\n    v = W[x % 10]\n    v += 1\n    t += x\n    return t + v\n"
    "result = sum(f(x) for x in range(30_000))", name="+= on names bound to a global number and an array's item")
add("lines = [f'{i},{i * 2}' for i in range(30_000)]\ndef f(line):\n    fs = line.split(',')\n    fs[0] = int(fs[0])\n"
    "    fs.append(1)\n    mine = fs\n    mine.append(2)\n    return fs[0] + len(fs)\nresult = sum(f(l) for l in lines)",
    name="stores into a list the element made, and an alias of it")
# numba's dead code elimination dropped a store into a list reached through a loop, an unpacking
# or a tuple (numba issue 7595): the kernel answered 0 (engine.checked follows those aliases)
add("def f(x):\n    grid = [[0, 0] for _ in range(3)]\n    for row in grid:\n        row[0] = x\n    return grid[0][0]\n"
    "result = sum(f(x) for x in range(30_000))", name="a kernel's store through a loop variable over its own list")
add("def f(x):\n    grid = [[0, 0] for _ in range(3)]\n    a, b, c = grid\n    a[0] = x\n    return grid[0][0]\n"
    "result = sum(f(x) for x in range(30_000))", name="a kernel's store through an unpacked list")
# (3,000 items: its side effect keeps the sum in order, and every call of f splits its list of 3 on
# the always-splitting runner, 0.7 ms a call)
add("def f(x):\n    grid = [[0, 0] for _ in range(3)]\n    for i, row in enumerate(grid):\n        row[1] = x + i\n"
    "    t = (grid[2], 1)\n    t[0][0] = x\n    return grid[0][1] + grid[2][0]\nresult = sum(f(x) for x in range(3_000))",
    name="a kernel's store through enumerate and a tuple")
add("def f(x):\n    grid = [np.zeros(2) for _ in range(3)]\n    for row in grid:\n        row += x\n    return float(grid[1][0])\n"
    "result = sum(f(x) for x in range(30_000))", name="a kernel's += on arrays of its own list")
# numpy's scalar types called on one path, Python's numbers on another: numba makes them one type
# (found by a user's trial: every element came back an int, or a float64, once compiled)
add("result = [np.float64(x) if x % 2 else float(x) for x in range(30_000)]", exact=True, compiled=False,
    name="np.float64() on one path, float() on the other")
add("result = [np.int64(x) if x % 2 else x for x in range(30_000)]", exact=True, compiled=False,
    name="np.int64() on one path, an int on the other")
add("def pick(x):\n    return np.float64(x) if x % 3 == 0 else x * 1.0\n"
    "result = max(pick(x) for x in range(30_000))", exact=True, compiled=False,
    name="max of np.float64() or a float")
# A pure element that raises StopIteration at one item: a generator turns it into RuntimeError,
# map() and filter() end there quietly, a comprehension lets it through (PEP 479): never split
STOPS = "def stopped(x):\n    if x == 24_000:\n        raise StopIteration(x)\n    return x\n"
add(STOPS + "result = sum(stopped(x) for x in range(30_000))", parallel=False, name="stopped: sum of a generator")
add(STOPS + "result = sum(map(stopped, range(30_000)))", parallel=False, name="stopped: sum of map")
add(STOPS + "result = list(map(stopped, range(30_000)))", parallel=False, name="stopped: list of map")
add(STOPS + "result = max(filter(stopped, range(30_000)))", parallel=False, name="stopped: max of filter")
add(STOPS + "result = [stopped(x) for x in range(30_000)]", parallel=False, name="stopped: list comprehension")
add(STOPS + "result = any(stopped(x) < 0 for x in range(30_000))", parallel=False, name="stopped: any of a generator")
add(STOPS + "result = {x: stopped(x) for x in range(30_000)}", parallel=False, name="stopped: dict comprehension")
# CPython partitions run the loop as written (engine.sources.written_elements): a dict comprehension's
# partitions give their dicts' pairs, merged in order (each key where it first came, the first of
# equal keys, its last value); nested loops, filters and errors as the loop gives them
add("result = [(type(k).__name__, v) for k, v in {(1 if x % 3 == 0 else 1.0 if x % 3 == 1 else True): str(x)"
    " for x in range(30_000)}.items()]", compiled=False, name="dict comprehension: equal keys of three types")
add("result = {str(x % 13): (x, str(x)) for x in range(30_000) if x % 5}", compiled=False,
    name="dict comprehension: keys repeated across partitions")
add("words = [str(x) for x in range(5_000)]\nresult = [w[i] for w in words for i in range(len(w)) if w[i] != '1']",
    compiled=False, name="list comprehension: nested loop and filter over strings")
add("result = [int('a') if x == 28_000 else 1 // (x - 25_000) if x > 20_000 else x for x in range(30_000)]",
    compiled=False, name="list comprehension: the first error in order, not the first seen")
add("result = list({str(x % 977) + 'k' for x in range(30_000)})", compiled=False,
    name="set comprehension of strings: its order")
add("class C:\n    n = 0\n    def bump(self, x):\n        C.n += 1\n        return x\nc = C()\n"
    "result = sum(map(c.bump, range(30_000))), C.n", parallel=False)  # a bound method as the element
add("class T:\n    def __init__(self):\n        self.n = 0\n    def add(self, x):\n        self.n += 1\n"
    "        return x\nt = T()\nadd = t.add\nresult = sum(add(x) for x in range(30_000)), t.n",
    parallel=False)  # a bound method the element calls
add("class K:\n    made = 0\n    def __new__(cls, v):\n        cls.made = cls.made + 1\n        return super().__new__(cls)\n"
    "result = len([K(x) for x in range(30_000)]), K.made", parallel=False)
add("class P2:\n    def __init__(self):\n        self.n = 0\n    def bump(self):\n        self.n += 1\n        return self.n\n"
    "pairs = [(i, P2()) for i in range(30_000)]\nresult = sum(t[1].bump() for t in pairs), pairs[3][1].n")
add("def draw(x):\n    import random\n    return random.random()\nresult = len([draw(x) for x in range(30_000)])", parallel=False)
# What a split shape gives back that came with it is the caller's object, not a copy
RECORDS = "recs = [{'v': i % 7} for i in range(30_000)]\nids = {id(r) for r in recs}\n"
add(RECORDS + "kept = [r for r in recs if r['v'] > 4]\nlast = None\nfor r in recs:\n    if r['v'] > 4:\n"
    "        last = r\nresult = len(kept), kept[0] is recs[5], kept[-1] is last")
add("recs = []\nfor i in range(30_000):\n    recs.append({'v': i % 7})\nids = {id(r) for r in recs}\n"
    "result = sorted(ids) == sorted(id(r) for r in recs), len({hash(str(r)) for r in recs})", parallel=False)
add(RECORDS + "pairs = [(r, r['v']) for r in recs]\nresult = all(p[0] is r for p, r in zip(pairs, recs))")
add(RECORDS + "copies = [dict(r) for r in recs]\nresult = any(id(c) in ids for c in copies), copies[:2]")
add(RECORDS + "best = max(recs, key=lambda r: r['v'])\nresult = best is recs[6]")
add(RECORDS + "by_v = {i: r for i, r in enumerate(recs) if r['v'] == 3}\nresult = all(by_v[i] is recs[i] for i in by_v)")
add("skip = object()\nitems = [skip if i % 3 == 0 else i for i in range(30_000)]\n"
    "result = sum(i for i in items if i is not skip), len([i for i in items if i is skip])")
add("class Missing:\n    pass\nGAP = Missing()\nitems = [GAP if i % 5 == 0 else float(i) for i in range(30_000)]\n"
    "kept = [x for x in items if x is not GAP]\nresult = len(kept), sum(kept), [x for x in items[:6] if x is GAP][0] is GAP")
# a 2-D array's rows are views of it, given back split or not (the matrix in shared memory too)
add("m = np.arange(60_000.0).reshape(-1, 4)\nrows = [r for r in m if r[0] % 8 == 0]\nrows[1][1] = -1.0\n"
    "result = m[2, 1], len(rows), rows[1].base is not None")
add("m = np.arange(600_000.0).reshape(-1, 4)\npairs = [(i, r) for i, r in enumerate(m) if i % 1000 == 0]\n"
    "pairs[3][1][0] = -5.0\nresult = m[3000, 0], len(pairs)")
add("m = np.arange(60_000.0).reshape(-1, 4).T.copy().T\nrows = [r for r in m]\nrows[7][2] = -2.0\n"
    "result = m[7, 2], rows[8][1:].tolist()")
add("import functools\n@functools.lru_cache(maxsize=None)\ndef sq(x):\n    return [x * x]\n"
    "rows = [sq(x % 100) for x in range(30_000)]\nresult = sq.cache_info(), rows[0] is rows[100]", parallel=False)
# Scoping CPython gives comprehensions: left as written
add("fs = [lambda: k for k in range(30_000)]\nresult = [f() for f in fs[:3]]")  # late binding: the 3 calls split
add("result = [y := x * 2 for x in range(30_000)][-1], y", parallel=False)  # := binds outside
add("result = sum(z for x in range(30_000) if (z := x % 7)), z", parallel=False)
# what numba answers otherwise, found by a user's trial: not compiled (CPython partitions)
add("bs = [True, False, False] * 20_000\nresult = sum(~b for b in bs), [~b for b in bs][:4]", compiled=False)
add("fs = [0.5, 1.5] * 25_000\nresult = sum(1 for f in fs if type(f) is float)", compiled=False)
add("result = sum(1 for x in np.arange(50_000) if isinstance(x, int))", compiled=False)
add("result = [type(x).__name__ for x in range(50_000) if x % 9999 == 0]", compiled=False)
# found by a user's trial: a compiled >> by 64 or more was LLVM's undefined shift (CPython: the
# sign), by a negative count no error; math.lgamma is CPython's own code, numba calls the C library's
add("result = [(x * 2654435761) >> (x % 80) for x in range(200_000)]", compiled=True, exact=True)
add("result = [(-x) >> (60 + x % 10) for x in range(1, 50_000)]", compiled=True, exact=True)
add("result = sum(x >> (x - 5) for x in range(50_000))")  # ValueError: negative shift count
add("r = 1 << 62\nresult = [(r + x) >> 3 for x in range(50_000)][-3:]", compiled=True, exact=True)
add("result = [math.lgamma(x * 0.37 + 0.5) for x in range(200_000)]", compiled=False, exact=True)
# found by a user's trial, 1 ulp apart once compiled: CPython's own hypot (3.10+), numpy's own
# (SIMD) exp, log and arctan, where numba calls the C library's; math.exp is the C library's in both
add("def h(x):\n    s = 0.0\n    for i in range(30):\n        s += 0.0 * i\n    return math.hypot(x * 0.001 + s, 1.5)\n"
    "result = [h(x) for x in range(30_000)]", compiled=False, exact=True)
add("result = [np.exp(-(x * 0.001)) + np.log(x + 1.0) + np.arctan(x * 0.01) for x in range(30_000)]",
    compiled=False, exact=True)
add("result = [math.exp(-(x * 0.001)) + math.log(x + 1.0) for x in range(200_000)]", compiled=True, exact=True)
# found by a user's trial: items that reading uses up (iterators, streams) were read twice, once to
# time the shape's first items and again to run it, so the first came out empty: never split
add("its = []\nfor k in range(50_000):\n    its.append(iter(range(k % 7)))\nresult = [sum(it) for it in its][:8]",
    parallel=False)
add("import io\nstreams = []\nfor k in range(50_000):\n    streams.append(io.StringIO('x\\ny\\n' * (k % 3 + 1)))\n"
    "result = [len(s.readlines()) for s in streams][:4]", parallel=False)
add("import itertools\npairs = itertools.tee(range(3), 2) * 25_000\nresult = [list(t) for t in pairs][:3]",
    parallel=False)
# and a NaN held outside the shape (a "missing" marker, math.nan, np.nan) came back as copies: a list
# counts and finds a NaN by identity, a set keeps one of it
add("MISSING = float('nan')\nvals = [MISSING if x % 3 == 0 else 1.0 for x in range(60_000)]\n"
    "result = (vals.count(MISSING), MISSING in vals, len({MISSING if x % 3 else 2.0 for x in range(60_000)}))",
    parallel=False)
add("vals = [math.nan if x % 5 == 0 else x * 0.5 for x in range(60_000)]\nresult = (vals.count(math.nan), vals[:2])",
    parallel=False)
add("def pick(x):\n    return np.nan if x % 4 == 0 else float(x)\nvals = [pick(x) for x in range(60_000)]\n"
    "result = vals.count(np.nan)", parallel=False)
add("result = sum(x if x % 3 else math.nan for x in range(60_000)) != 0")  # a sum: no item in its result
# and a warning the element issues, which catch_warnings(record=True) records once in CPython
add("import warnings\ndef check(x):\n    if x == 0:\n        warnings.warn('zero reading')\n    return x * 2\n"
    "with warnings.catch_warnings(record=True) as caught:\n    warnings.simplefilter('always')\n"
    "    doubled = [check(x) for x in range(50_000)]\nresult = (len(caught), doubled[-1])", parallel=False)


@pytest.fixture(autouse=True)
def default_decimal_context():
    """Snippets set the precision as users do (getcontext().prec = 6): each test starts afresh."""
    import decimal

    decimal.setcontext(decimal.Context())
    yield
    decimal.setcontext(decimal.Context())


# Snippets CPython takes seconds to run as written, and programs giving CPython the same value
# at once (closed forms): their reference is CPython's all the same
QUICKER = {
    "result = sum(x for x in range(10**9))": "result = 10**9 * (10**9 - 1) // 2",
    "result = all(x * y < 10**9 for x in range(10**7) for y in range(3))": "result = (10**7 - 1) * 2 < 10**9",
    "result = [sum(y * 2**40 for y in range(x % 5000)) for x in range(30_000)]":
        "result = [2**40 * (x % 5000) * (x % 5000 - 1) // 2 for x in range(30_000)]",
}


def cpython(code: str):
    namespace = {"__name__": "__shapes__"}
    exec(PRELUDE, namespace)
    try:
        exec(QUICKER.get(code, code), namespace)
    except Exception as exc:
        return "error", (type(exc), str(exc))
    return "ok", namespace.get("result")


def loaded(result, name: str, written=None):
    """A variable of a block's result (taken over) as the client gets it: unpickled on its
    large buffers, the objects it refers to the client's own (``written``)."""
    return variables_of(result, written)[name]


def engine(code: str, runner=None):
    namespace = {"__name__": "__shapes__"}
    exec(compile(PRELUDE, "<shapes>", "exec"), namespace)  # the block's file: its functions are shipped
    free = {k: v for k, v in namespace.items() if not k.startswith("__")}
    source = PRELUDE + "with cluster:\n" + textwrap.indent(code, "    ") + "\n"
    pickled, _, written = serialization.dumps_written(free)
    block = Block(source, "<shapes>", PRELUDE.count("\n") + 1, pickled)
    runtime.reports.clear()
    result = run_block(block, runner or InlineRunner(processes=2))
    result.take_over()  # as the worker service does: large buffers mapped, their segments unlinked
    reports = list(runtime.reports)
    if result.error is not None:
        exc = result.error.exception()
        return ("error", (type(exc), str(exc))), reports
    # as the client reads them: a value may refer to the objects it sent (engine.remote_values.pack)
    values = variables_of(result, written)
    return ("ok", values["result"] if "result" in values else None), reports


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, np.floating):
        return bool(np.isclose(a, b, rtol=1e-12))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def test_there_are_at_least_150_snippets():
    assert len(SNIPPETS) >= 150


@pytest.mark.parametrize("code,parallel,compiled,exact", [s[1:] for s in SNIPPETS], ids=[s[0] for s in SNIPPETS])
def test_snippet_gives_cpythons_result(code, parallel, compiled, exact):
    expected = cpython(code)
    got, reports = engine(code)
    assert_cpythons(got, expected, reports, exact)
    if parallel and got[0] == "ok":
        assert any(r.parallel for r in reports) or _in_order(reports), reports
    if not parallel:
        assert not any(r.parallel for r in reports), reports
    if compiled is not None and got[0] == "ok":
        assert any(r.compiled for r in reports) is compiled, reports


# every fourth compiled snippet, with its kernel compiling behind its first partition
BEGUN_IN_CPYTHON = [s for s in SNIPPETS if s[3] is True][::4]


@pytest.mark.parametrize("code,exact", [(s[1], s[4]) for s in BEGUN_IN_CPYTHON], ids=[s[0] for s in BEGUN_IN_CPYTHON])
def test_a_snippet_whose_kernel_is_ready_only_after_its_first_items_gives_cpythons_result(
        kernels_compiling_at_first, code, exact):
    """Tiered execution: a first partition's items before the kernel is ready in CPython, the
    rest compiled (two pieces, combined as partitions); the result is CPython's all the same."""
    expected = cpython(code)
    got, reports = engine(code)
    assert_cpythons(got, expected, reports, exact)


def _in_order(reports) -> list:
    return [r for r in reports if r.reason.endswith("added in order")]


def assert_cpythons(got, expected, reports, exact: bool) -> None:
    """The engine's outcome is CPython's: the same error, or the same value (to the bit where
    ``exact``, or where a sum was made in order)."""
    assert got[0] == expected[0], (got, expected)
    if got[0] == "error":
        assert got[1] == expected[1]
    elif exact:
        assert repr(got[1]) == repr(expected[1]), next(
            (g, e) for g, e in zip(repr(got[1]).split(", "), repr(expected[1]).split(", ")) if g != e)
    else:
        assert same(got[1], expected[1]), (got[1] if not isinstance(got[1], list) else got[1][:5],
                                           expected[1] if not isinstance(expected[1], list) else expected[1][:5])
    # a sum whose regrouping could round otherwise is made in order instead (engine.reducers):
    # then it must be CPython's to the bit
    if _in_order(reports) and got[0] == "ok":
        assert repr(got[1]) == repr(expected[1])


def test_large_arrays_and_collected_results_go_through_shared_memory():
    got, reports = engine("result = [x * 2.0 for x in big]")
    assert got[0] == "ok" and got[1][:3] == [0.0, 2.0, 4.0]
    [report] = reports
    assert "shared" in report.source and report.compiled == report.partitions


def test_len_of_a_list_comprehension_counts_without_collecting():
    got, reports = engine("result = len([x * 2 for x in range(10**7) if x % 3])")
    assert got == ("ok", 10**7 - (10**7 + 2) // 3)
    [report] = reports
    assert report.shape == "len" and report.compiled == report.partitions


def test_partitions_recomputed_in_cpython_are_counted_in_the_report_with_why():
    """Only the last items' cubes outgrow int64: the partitions holding them ran compiled, were
    computed again in CPython (Python's ints), and the report says how many and why."""
    code = "result = sum(x ** 3 if x > 2_990_000 else x for x in range(3_000_000))"
    got, reports = engine(code)
    expected = {}
    exec(code, expected)
    assert got == ("ok", expected["result"]) and expected["result"] > 2 ** 63
    [report] = reports
    recomputed = report.partitions - report.compiled
    assert 0 < recomputed < report.partitions, report
    assert report.recomputed == (f"{recomputed} partition{'s' if recomputed > 1 else ''} recomputed in CPython: "
                                 "the kernel raised OverflowError (integer result does not fit in int64)"), report


def test_short_circuit_stops_handing_out_partitions():
    got, reports = engine("result = any(x == 5 for x in range(10**9))")
    assert got == ("ok", True)
    assert reports[-1].partitions == 1  # the first partition decided; the rest never ran


def test_a_large_array_travels_by_name_not_inside_the_task():
    sizes = []

    class Recording(InlineRunner):
        def run_partitions(self, task, length, shareable=False, windows=(), duplicable=False):
            sizes.append((len(task), shareable, list(windows)))
            return super().run_partitions(task, length, shareable, windows, duplicable)

    big = np.arange(1_000_000, dtype=np.float64)  # 8 MB
    with runtime.using_runner(Recording()):
        total = runtime.parallel_reduce(sum, big, lambda x: x * 2, None)
    assert total == sum(x * 2 for x in big)
    [(task_bytes, shareable, windows)] = sizes
    assert task_bytes < 64 * 1024  # in shared memory, attached by name
    assert shareable and [window[1:] for window in windows] == [(0, 8)]  # other workers: by window


class ThroughWindows(InlineRunner):
    """Computes every partition as another worker does: from the bytes of its items, read out of
    the shared segments (as the data channel serves them), never attaching them (a peer cannot
    attach the driver's segments: attaching one raises here), a collection's values carried back
    in its outcome."""

    def run_partitions(self, task, length, shareable=False, windows=(), duplicable=False):
        from ufora.engine import shm, tasks
        from ufora.engine.partition import GuidedPlan


        results = []
        plan = GuidedPlan(length, self.processes)
        while (partition := plan.next_partition()) is not None:
            lo, hi = partition
            parts = []
            for name, offset, row in windows:
                view = shm.map_readonly(name, offset + hi * row)
                parts.append(bytes(view[offset + lo * row:offset + hi * row]))
                view.release()  # unmapped now, as the data channel does: not when a frame goes
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(shm, "attach", _not_on_this_host)
                outcome = tasks.run_partition(task, lo, hi, parts, foreign=True)
            results.append((lo, hi, tasks.load_outcome(task, tasks.outcome_bytes(task, outcome))))
            if outcome[3]:
                break
        return results


def _not_on_this_host(name, *args, **kwargs):
    raise FileNotFoundError(f"segment {name} is on another host")


@pytest.mark.parametrize("code", [
    "result = [x * 2.0 for x in big]",  # compiled partitions carry their values back
    "result = [x for x in big if x % 7 == 3]",  # a few values each, placed at their partition's offset
    "result = {i: x * 0.5 for i, x in enumerate(big) if i % 5 == 0}",  # two columns
    "result = {x % 1000 for x in big}",
    "result = [x > 150_000 for x in big]",  # bools: one byte each
    "result = [str(x)[:3] for x in big[::50]]",  # CPython partitions: their values
    "result = sum(x * 2.0 for x in big)",
    "result = max(x for x in big if x % 7 == 3)",
    "result = sum(i * x for i, x in enumerate(big))",
    "result = sum(x * y for x, y in zip(big, big))",
    "result = sum(r[0] - r[2] for r in rows)",
    "result = sum(str(x).count('5') for x in big)",  # CPython partitions read windows too
    "result = sum(1.0 / (float(x) - 150_000) for x in big)",  # the first error, by index
])
def test_partitions_read_from_windows_give_cpythons_answer(code):
    expected = cpython(code)
    got, reports = engine(code, ThroughWindows(processes=2))
    assert got[0] == expected[0] and (same(got[1], expected[1]) if got[0] == "ok" else got[1] == expected[1])
    assert got[0] == "error" or any(r.parallel for r in reports), reports


def test_a_list_the_block_never_reads_travels_as_an_array():
    code = "big_list = [x * 0.5 for x in range(300_000)]\nread = [x * 2.0 for x in range(300_000)]\nresult = read[:2]"
    namespace = {"__name__": "__shapes__"}
    source = "with cluster:\n" + textwrap.indent(code, "    ") + "\n"
    result = run_block(Block(source, "<unread>", 1, serialization.dumps(namespace)), InlineRunner(processes=2))
    result.take_over()  # as the worker service does: the parts' segments mapped, and unlinked
    assert result.error is None and result.types["big_list"] == "list"
    [group] = [group for group in ASSIGNED_GROUPS if b"as_list" in result.variables.get(group, b"")]
    pickled = result.variables[group]  # (the block's variables travel together)
    assert pickled.count(b"as_list") == 1 and len(pickled) < 300_000 * 12  # big_list's 2.4 MB are a part
    assert [part.nbytes for parts in result.parts.values() for part in parts] == [300_000 * 8]  # read: float by float
    values = variables_of(result)["big_list"]
    assert type(values) is list and values[:3] == [0.0, 0.5, 1.0] and len(values) == 300_000


def test_a_filtered_list_the_block_never_reads_is_moved_down_over_its_gaps_in_place():
    code = "kept = [x * 0.5 for x in range(400_000) if x % 3]"
    source = "with cluster:\n" + textwrap.indent(code, "    ") + "\n"
    result = run_block(Block(source, "<unread>", 1, serialization.dumps({"__name__": "__shapes__"})),
                       InlineRunner(processes=3))
    result.take_over()
    assert result.error is None
    assert variables_of(result)["kept"] == [x * 0.5 for x in range(400_000) if x % 3]


# A block inside a function runs as a function's body (engine.function_body): its names are the
# function's fast locals, with CPython's scoping. Each row runs the same function in CPython and
# with its block through the engine; the block's variables afterwards (locals, or globals it
# declares) and its error must be CPython's.
FUNCTION = '''
def user_function({parameters}):
{header}
    try:
        with cluster:
{code}
    except Exception as error:
        return ("error", (type(error), str(error))), scope()
    return ("ok", None), scope()
'''

IN_FUNCTION = [  # (id, code, the function's arguments, lines at its top, parallel expected)
    ("read and assign", "for x in xs:\n    total = total + x\ncount = len(xs)", {"total": 5, "xs": list(range(1000))},
     "", False),
    ("augmented", "for x in xs:\n    total += x * 0.5", {"total": 1, "xs": list(range(1000))}, "", False),
    ("unbound local read", "if flag:\n    y = 1\nz = y", {"flag": False}, "", False),
    ("unbound local, a global of that name", "if flag:\n    small = 1\nz = small", {"flag": False}, "", False),
    ("bound conditionally", "if flag:\n    y = 1\nz = y", {"flag": True}, "", False),
    ("global in the block", "global counter_g\ncounter_g = counter_g + len(xs)\nseen = counter_g", {"xs": [1, 2]},
     "", False),
    ("global in the function", "counter_g = counter_g * 3\nseen = counter_g", {}, "    global counter_g", False),
    ("closures over block variables",
     "k = 3\ng = lambda y: y * k\ndef h(y):\n    return y + k + sum(x * k for x in range(y))\n"
     "class C:\n    v = k * 2\n    w = [k for _ in range(2)]\nresult = g(2), h(10), C.v, C.w\nk = 5\nlate = g(2), h(1)",
     {}, "", False),
    ("a closure over a parameter", "def scaled(v):\n    return v * k\nresult = [scaled(v) for v in xs]",
     {"k": 7, "xs": list(range(30_000))}, "", True),
    ("split shapes over block locals",
     "k = 3\nys = list(range(30_000))\nresult = sum(x * k for x in ys), [x + k for x in xs if x % 3], "
     "{x: x * k for x in ys}[7], max(y - k for y in ys)",
     {"xs": list(range(30_000))}, "", True),
    ("a generator over block locals", "k = 2\ngen = (x * k for x in xs)\nresult = list(gen), list(x + k for x in xs)\n"
     "del gen", {"xs": list(range(100))}, "", False),
    ("error midway", "a = 1\nb = xs[0]\nc = 1 // (b - b)\nd = 4", {"xs": [3]}, "", False),
    ("error midway in a loop", "for i, x in enumerate(xs):\n    total = total + 1 / x", {"xs": [4, 2, 0, 1], "total": 0},
     "", False),
    ("del", "t = total\ndel total\nu = 1\ndel u", {"total": 3}, "", False),
    ("del then read", "del total\nz = total", {"total": 3}, "", False),
    ("locals shadowed", "locals = 5\nresult = locals * 2", {}, "", False),
    ("locals read", "a = 1\nc = b\nresult = sorted(n for n in locals())", {"b": 2}, "", False),
    ("reads a global, assigns a local", "n = len(small)\nsmall2 = [v * n for v in small]", {}, "", False),
    ("nonlocal-free names and comprehension scope", "x = 10\nresult = [x for x in xs]\nafter = x", {"xs": [1, 2]},
     "", False),
    ("walrus", "result = [y := v * 2 for v in xs]\nlast = y", {"xs": [1, 2, 3]}, "", False),
    ("try/except inside", "try:\n    q = 1 / zero\nexcept ZeroDivisionError as exc:\n    msg = str(exc)",
     {"zero": 0}, "", False),
]


def _in_function(code, parameters, header):
    source = PRELUDE + "counter_g = 10\n" + FUNCTION.format(
        parameters=", ".join(parameters), header=header or "    pass", code=textwrap.indent(code, " " * 12))
    return source, source.splitlines().index("        with cluster:") + 1


def cpython_in_function(code, arguments, header=""):
    import contextlib

    source, _ = _in_function(code, arguments, header)
    namespace = {"__name__": "__shapes__", "cluster": contextlib.nullcontext(), "scope": locals}
    exec(compile(source, "<function>", "exec"), namespace)
    outcome, scope = namespace["user_function"](**arguments)
    function_code = namespace["user_function"].__code__
    own = {*function_code.co_varnames, *function_code.co_cellvars}
    values = {name: scope[name] if name in own else namespace[name]
              for name in _assigned(code) if (scope if name in own else namespace).get(name, _ABSENT) is not _ABSENT}
    return outcome, values


_ABSENT = object()


def _assigned(code):
    import ast

    from ufora.engine.block import assigned_names

    return assigned_names(ast.parse(code).body)


def engine_in_function(code, arguments, header=""):
    import ast

    from ufora.engine.code import read_names

    source, with_line = _in_function(code, arguments, header)
    namespace = {"__name__": "__shapes__", "cluster": None}
    exec(compile(source, "<function>", "exec"), namespace)
    function_code = namespace.pop("user_function").__code__
    own = {*function_code.co_varnames, *function_code.co_cellvars}  # as pyfora.capture ships them
    free = {name: arguments[name] if name in arguments else namespace[name]
            for name in read_names(ast.parse(code).body) if name in arguments or (name in namespace and name not in own)}
    runtime.reports.clear()
    pickled, _, written = serialization.dumps_written(free)
    result = run_block(Block(source, "<function>", with_line, pickled), InlineRunner(processes=2))
    result.take_over()
    values = {name: value for name, value in variables_of(result, written).items() if name in _assigned(code)}
    if result.error is not None:
        exc = result.error.exception()
        return (("error", (type(exc), str(exc))), values), list(runtime.reports)
    return (("ok", None), values), list(runtime.reports)


def _comparable(values):
    """Functions and classes the block made: compared by what the block computed with them."""
    return {name: value for name, value in values.items() if not callable(value)}


@pytest.mark.parametrize("code,arguments,header,parallel", [row[1:] for row in IN_FUNCTION],
                         ids=[row[0] for row in IN_FUNCTION])
def test_a_block_in_a_function_gives_cpythons_result(code, arguments, header, parallel):
    expected = cpython_in_function(code, arguments, header)
    (outcome, values), reports = engine_in_function(code, arguments, header)
    assert outcome == expected[0]
    for name, value in _comparable(expected[1]).items():
        assert same(values[name], value), (name, values[name], value)
    assert set(values) == set(expected[1])
    if parallel:
        assert any(r.parallel for r in reports), reports


def test_a_block_in_a_function_sends_back_closures_that_work():
    code = "k = 3\ng = lambda y: y * k\ndef h(y):\n    return sum(x * k for x in range(y))\nclass C:\n    v = k"
    (outcome, values), _ = engine_in_function(code, {})
    assert outcome == ("ok", None)
    assert values["g"](2) == 6 and values["h"](10) == 135 and values["C"].v == 3
    assert values["g"].__closure__ is not None  # closes over the block's k, as in the user's function


def test_a_block_in_a_nested_function_rebinds_its_nonlocal_as_cpython_does():
    import contextlib

    source = textwrap.dedent('''
        def outer():
            z = 1
            def f(a):
                nonlocal z
                with cluster:
                    nonlocal z
                    z = z + a
                    def g():
                        nonlocal z
                        z += 1
                    g()
                return z
            return f
    ''')
    namespace = {"cluster": contextlib.nullcontext()}
    exec(compile(source, "<nested>", "exec"), namespace)
    expected = namespace["outer"]()(5)
    result = run_block(Block(source, "<nested>", 6, serialization.dumps({"z": 1, "a": 5})), InlineRunner(processes=2))
    result.take_over()
    assert result.error is None and loaded(result, "z") == expected == 7


IN_FUNCTION_SNIPPETS = [s for i, s in enumerate(SNIPPETS)  # those that bind names or define functions, a sample else
                        if i % 8 == 0 or any(word in s[1] for word in ("def ", "class ", "lambda", "\n"))]


@pytest.mark.parametrize("code,parallel", [s[1:3] for s in IN_FUNCTION_SNIPPETS], ids=[s[0] for s in IN_FUNCTION_SNIPPETS])
def test_a_snippet_in_a_function_gives_cpythons_result(code, parallel):
    """The block's names are cells where it defines functions over them: the partitions, the
    side-effect check and the compiled twins see them there."""
    expected = cpython_in_function(code, {})
    (outcome, values), reports = engine_in_function(code, {})
    assert outcome[0] == expected[0][0] and (outcome[0] == "ok" or outcome == expected[0]), (outcome, expected[0])
    if outcome[0] == "ok" and "result" in expected[1]:
        assert same(values["result"], expected[1]["result"]), (values["result"], expected[1]["result"])
    in_order = any(r.reason.endswith("added in order") for r in reports)
    if parallel and outcome[0] == "ok":
        assert any(r.parallel for r in reports) or in_order, reports
    if not parallel:
        assert not any(r.parallel for r in reports), reports
