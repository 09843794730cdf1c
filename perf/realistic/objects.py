"""Python objects: dataclasses in sets and dicts, small classes with methods, lists of dicts,
namedtuples, sorting by keys, grouping, a graph search."""
from __future__ import annotations

import collections
import dataclasses
import heapq
import statistics
from typing import List

from perf.realistic.catalog import program

DEPARTMENTS = ["sales", "research", "support", "finance", "legal", "ops", "design"]


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int

    def manhattan(self):
        return abs(self.x) + abs(self.y)


@program(400_000, quick=80_000)
def dataclass_point_set(ufora, n):
    with ufora.remotely.downloadAll():
        points = {Point(i % 701 - 350, (i * 7) % 509 - 254) for i in range(n)}
        near = {p for p in points if p.manhattan() < 100}
        farthest = max(p.manhattan() for p in points)
    return len(points), len(near), farthest


@dataclasses.dataclass
class Employee:
    name: str
    department: str
    salary: float
    years: int

    @property
    def senior(self):
        return self.years >= 10


def staff(n):
    return [Employee(f"emp{i}", DEPARTMENTS[(i * 3) % 7], 30_000 + (i * 7919) % 90_000, i % 35) for i in range(n)]


@program(150_000, make=staff)
def dataclass_department_stats(ufora, employees):
    with ufora.remotely.downloadAll():
        payroll = {d: sum(e.salary for e in employees if e.department == d) for d in DEPARTMENTS}
        seniors = [e.name for e in employees if e.senior and e.salary > 100_000]
        by_name = {e.name: e for e in employees}
        median_salary = statistics.median(e.salary for e in employees)
    return payroll, len(seniors), by_name["emp4242"], median_salary


@program(150_000, make=staff)
def raise_salaries_in_place(ufora, employees):
    with ufora.remotely.downloadAll():
        for e in employees:
            if e.senior:
                e.salary = round(e.salary * 1.03, 2)
        total = sum(e.salary for e in employees)
    return total, employees[10], employees[-1]


class Account:
    def __init__(self, owner, balance=0.0):
        self.owner = owner
        self.balance = balance
        self.transactions = 0

    def deposit(self, amount):
        self.balance += amount
        self.transactions += 1

    def withdraw(self, amount):
        if amount > self.balance:
            return False
        self.balance -= amount
        self.transactions += 1
        return True


@program(300_000)
def bank_accounts(ufora, n):
    with ufora.remotely.downloadAll():
        accounts = [Account(f"client{i}", 100.0) for i in range(1000)]
        refused = 0
        for t in range(n):
            account = accounts[(t * 7919) % 1000]
            if t % 3 == 0:
                if not account.withdraw((t % 50) * 2.5):
                    refused += 1
            else:
                account.deposit((t % 20) * 1.25)
        richest = max(accounts, key=lambda a: a.balance)
        total = sum(a.balance for a in accounts)
    return refused, richest.owner, richest.balance, total


def orders(n):
    return [{"id": i, "customer": f"c{(i * 31) % 2000}", "price": ((i * 13) % 400) / 4, "qty": 1 + i % 5,
             "status": ["new", "paid", "shipped", "cancelled"][i % 4]} for i in range(n)]


@program(200_000, make=orders)
def list_of_dicts_group_by(ufora, orders):
    with ufora.remotely.downloadAll():
        per_customer = collections.defaultdict(list)
        for o in orders:
            if o["status"] != "cancelled":
                per_customer[o["customer"]].append(o["price"] * o["qty"])
        totals = {c: sum(v) for c, v in per_customer.items()}
        best = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return best, len(totals)


@program(150_000, make=orders)
def list_of_dicts_enrich(ufora, orders):
    with ufora.remotely.downloadAll():
        enriched = [{**o, "total": o["price"] * o["qty"], "vat": round(o["price"] * o["qty"] * 0.2, 2)}
                    for o in orders if o["status"] in ("paid", "shipped")]
        biggest = max(enriched, key=lambda o: o["total"])
        vat = sum(o["vat"] for o in enriched)
    return len(enriched), biggest, vat


@program(200_000, make=orders)
def sorted_then_comprehension(ufora, orders):
    with ufora.remotely.downloadAll():
        ranked = sorted(orders, key=lambda o: (-o["price"] * o["qty"], o["id"]))
        top_ids = [o["id"] for o in ranked[:1000] if o["status"] == "paid"]
        ranks = {o["id"]: i for i, o in enumerate(ranked)}
    return top_ids[:20], ranks[4321]


Trade = collections.namedtuple("Trade", "symbol price qty side")


def trades(n):
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "IBM"]
    return [Trade(symbols[(i * 5) % 8], 100 + ((i * 7) % 1000) / 10, 1 + (i * 3) % 100, "buy" if i % 3 else "sell")
            for i in range(n)]


@program(200_000, make=trades)
def namedtuple_vwap(ufora, trades):
    with ufora.remotely.downloadAll():
        notional = collections.defaultdict(float)
        volume = collections.defaultdict(int)
        for t in trades:
            notional[t.symbol] += t.price * t.qty
            volume[t.symbol] += t.qty
        vwap = {s: notional[s] / volume[s] for s in sorted(notional)}
        net = sum(t.qty if t.side == "buy" else -t.qty for t in trades)
    return vwap, net


class Item:
    def __init__(self, sku, price, stock):
        self.sku = sku
        self.price = price
        self.stock = stock

    @property
    def value(self):
        return self.price * self.stock

    def __repr__(self):
        return f"Item({self.sku!r}, {self.price}, {self.stock})"


@program(300_000)
def inventory_value(ufora, n):
    with ufora.remotely.downloadAll():
        items = [Item(f"sku-{i}", round(1 + (i % 97) * 0.5, 2), i % 40) for i in range(n)]
        total_value = sum(item.value for item in items)
        out_of_stock = [item.sku for item in items if item.stock == 0]
        priciest = max(items, key=lambda item: (item.price, item.sku))
    return total_value, len(out_of_stock), repr(priciest)


def grid_graph(n):
    """An n x n grid with some walls, as an adjacency dict."""
    graph = {}
    for i in range(n):
        for j in range(n):
            if (i * 7 + j * 3) % 11 == 0 and (i, j) != (0, 0):
                continue
            graph[(i, j)] = [(a, b) for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1))
                             if 0 <= a < n and 0 <= b < n and (a * 7 + b * 3) % 11 != 0]
    return graph


@program(300, quick=120, make=grid_graph)
def graph_shortest_paths(ufora, graph):
    with ufora.remotely.downloadAll():
        distance = {(0, 0): 0}
        queue = collections.deque([(0, 0)])
        while queue:
            node = queue.popleft()
            for nxt in graph[node]:
                if nxt not in distance:
                    distance[nxt] = distance[node] + 1
                    queue.append(nxt)
        farthest = max(distance.values())
        unreachable = len(graph) - len(distance)
    return farthest, unreachable


def weighted_graph(n):
    return {i: [((i * k + 1) % n, (i + k) % 17 + 1) for k in range(1, 6)] for i in range(n)}


@program(60_000, make=weighted_graph)
def dijkstra(ufora, graph):
    with ufora.remotely.downloadAll():
        best = {0: 0}
        heap = [(0, 0)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > best[node]:
                continue
            for nxt, w in graph[node]:
                if d + w < best.get(nxt, float("inf")):
                    best[nxt] = d + w
                    heapq.heappush(heap, (d + w, nxt))
        mean_distance = sum(best.values()) / len(best)
    return len(best), max(best.values()), mean_distance


@program(1_000_000)
def set_operations(ufora, n):
    with ufora.remotely.downloadAll():
        multiples_of_3 = {x for x in range(n) if x % 3 == 0}
        squares = {x * x % n for x in range(n)}
        both = multiples_of_3 & squares
        either = multiples_of_3 | squares
        lookup = {v: k for k, v in enumerate(sorted(both))}
    return len(both), len(either), lookup.get(max(both))


def scores(n) -> List[tuple]:
    return [(f"player{i}", (i * 7919) % 1000, (i * 104729) % 60) for i in range(n)]


@program(300_000, make=scores)
def leaderboard(ufora, scores):
    with ufora.remotely.downloadAll():
        board = sorted(scores, key=lambda s: (-s[1], s[2], s[0]))
        top = [f"{rank:>3}. {name} {points} pts in {minutes} min"
               for rank, (name, points, minutes) in enumerate(board[:100], start=1)]
        perfect = any(points == 999 and minutes == 0 for _, points, minutes in scores)
        everyone_played = all(minutes >= 0 for _, _, minutes in scores)
    return top[:3], perfect, everyone_played
