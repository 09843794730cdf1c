"""Objects with methods: __init__ setting attributes, methods mutating self, class-level counters,
dataclasses, properties, __eq__/__hash__ in sets, inheritance, namedtuples."""
import collections
import dataclasses
import math

N = 30_000


class Particle:
    def __init__(self, x):
        self.x = x
        self.mass = 1.0 + (x % 3)
        self.velocity = (x % 17) * 0.25

    def energy(self):
        return 0.5 * self.mass * self.velocity ** 2


def prog_particles_energy(ufora):
    with ufora.remotely.downloadAll():
        particles = [Particle(x) for x in range(N)]
        energy = sum(p.energy() for p in particles)
    return {"energy": energy, "last": particles[-1], "n": len(particles)}


class Account:
    def __init__(self, owner):
        self.owner = owner
        self.balance = 0
        self.history = []

    def deposit(self, amount):
        self.balance += amount
        self.history.append(amount)
        return self.balance


def prog_methods_mutating_outside_objects(ufora):
    accounts = [Account(i) for i in range(N)]
    with ufora.remotely.downloadAll():
        balances = [acc.deposit(i % 7) for i, acc in enumerate(accounts)]
    return {"balances_tail": balances[-10:], "total_after": sum(a.balance for a in accounts),
            "history_7": accounts[7].history}


class Widget:
    created = 0

    def __init__(self, size):
        Widget.created += 1
        self.size = size
        self.serial = Widget.created


def prog_class_level_counter(ufora):
    Widget.created = 0
    with ufora.remotely.downloadAll():
        widgets = [Widget(i % 10) for i in range(N)]
        big = sum(1 for w in widgets if w.size > 5)
    return {"created": Widget.created, "serials_tail": [w.serial for w in widgets[-5:]], "big": big}


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: int


def prog_frozen_dataclass_in_set(ufora):
    with ufora.remotely.downloadAll():
        points = [Point((i % 100) * 0.5, i % 7) for i in range(N)]
        unique = {p for p in points}
        origin_like = sum(1 for p in points if p == Point(0.0, 0))
    return {"n_unique": len(unique), "origin_like": origin_like, "head": points[:3],
            "is_point": isinstance(points[0], Point)}


@dataclasses.dataclass
class Order:
    item: str
    qty: int
    price: float

    @property
    def total(self):
        return self.qty * self.price


def prog_dataclass_property_totals(ufora):
    orders = [Order(f"sku{i % 50}", 1 + i % 4, 2.5 + (i % 9)) for i in range(N)]
    with ufora.remotely.downloadAll():
        totals = [o.total for o in orders]
        revenue = sum(o.total for o in orders if o.qty > 1)
        by_item = {o.item: o.total for o in orders}
    return {"totals_head": totals[:10], "revenue": revenue, "by_item_head": list(by_item.items())[:5]}


class Celsius:
    def __init__(self, degrees):
        self._degrees = degrees

    @property
    def fahrenheit(self):
        return self._degrees * 9 / 5 + 32


def prog_property_in_comprehension(ufora):
    temps = [Celsius(d % 60 - 20) for d in range(N)]
    with ufora.remotely.downloadAll():
        hot = [t.fahrenheit for t in temps if t.fahrenheit > 90]
        coldest = min(t.fahrenheit for t in temps)
    return {"hot_head": hot[:10], "n_hot": len(hot), "coldest": coldest}


class CaselessName:
    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, CaselessName) and self.name.lower() == other.name.lower()

    def __hash__(self):
        return hash(self.name.lower())


def prog_custom_eq_hash_first_kept(ufora):
    spellings = ["alice", "Bob", "CAROL", "dave", "ALICE", "bob", "Carol", "Dave"]
    names = [spellings[(i * 5 + i // 1000) % 8] for i in range(N)]
    with ufora.remotely.downloadAll():
        seen = {CaselessName(n) for n in names}
        kept = sorted(c.name for c in seen)
        first_by_key = {n.lower(): n for n in reversed(names)}
    return {"kept": kept, "first_by_key": first_by_key}


class Tracker:
    def __init__(self):
        self.count = 0
        self.largest = None

    def see(self, value):
        self.count += 1
        if self.largest is None or value > self.largest:
            self.largest = value
        return value * 2


def prog_tracker_method_in_generator(ufora):
    tracker = Tracker()
    with ufora.remotely.downloadAll():
        total = sum(tracker.see((x * 31) % 1000) for x in range(N))
    return {"total": total, "count": tracker.count, "largest": tracker.largest}


class Shape:
    def area(self):
        raise NotImplementedError


class Circle(Shape):
    def __init__(self, r):
        self.r = r

    def area(self):
        return math.pi * self.r ** 2


class Square(Shape):
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side


def prog_polymorphic_areas(ufora):
    shapes = [Circle(i % 5) if i % 2 else Square(i % 9) for i in range(N)]
    with ufora.remotely.downloadAll():
        areas = [s.area() for s in shapes]
        square_area = sum(s.area() for s in shapes if isinstance(s, Square))
    return {"areas_head": areas[:10], "square_area": square_area,
            "types": [type(a).__name__ for a in areas[:4]]}


Row = collections.namedtuple("Row", ["id", "name", "score"])


def prog_namedtuple_rows(ufora):
    rows = [Row(i, f"n{i}", (i * 17) % 101) for i in range(N)]
    with ufora.remotely.downloadAll():
        sevens = sum(r.score for r in rows if r.name.endswith("7"))
        best = max(rows, key=lambda r: r.score)
        renamed = [r._replace(name=r.name.upper()) for r in rows if r.score == 100]
    return {"sevens": sevens, "best": best, "renamed_head": renamed[:3], "is_row": type(best) is Row}
