"""Monte Carlo with seeded ``random.Random`` and ``numpy.random.default_rng``, and small
simulations: random walks, dice, a queue, the game of life, an epidemic, particles, bootstrap."""
from __future__ import annotations

import collections
import heapq
import random

import numpy as np

from perf.realistic.catalog import program


@program(1_000_000, quick=200_000)
def monte_carlo_pi_random(ufora, n):
    with ufora.remotely.downloadAll():
        rng = random.Random(12345)
        inside = 0
        for _ in range(n):
            x, y = rng.random(), rng.random()
            if x * x + y * y <= 1.0:
                inside += 1
        pi = 4 * inside / n
    return pi


@program(1_000_000, quick=200_000)
def monte_carlo_pi_generator(ufora, n):
    with ufora.remotely.downloadAll():
        rng = random.Random(7)
        hits = sum(1 for _ in range(n) if rng.random() ** 2 + rng.random() ** 2 < 1)
        pi = 4 * hits / n
    return pi


@program(2_000_000, quick=400_000)
def monte_carlo_numpy_loop(ufora, n):
    with ufora.remotely.downloadAll():
        rng = np.random.default_rng(2024)
        xs = rng.random(n)
        ys = rng.random(n)
        hits = sum(1 for x, y in zip(xs, ys) if x * x + y * y < 1.0)
        pi = 4 * hits / n
    return pi


@program(4_000_000, quick=800_000)
def monte_carlo_numpy_vectorised(ufora, n):
    with ufora.remotely.downloadAll():
        rng = np.random.default_rng(99)
        points = rng.random((n, 2))
        pi = 4 * np.mean((points ** 2).sum(axis=1) < 1)
        error = abs(pi - np.pi)
    return pi, error


@program(2000, quick=500)
def random_walkers(ufora, n):
    with ufora.remotely.downloadAll():
        rng = random.Random(3)
        finals = []
        for walker in range(n):
            x = y = 0
            for step in range(250):
                dx, dy = rng.choice(((1, 0), (-1, 0), (0, 1), (0, -1)))
                x += dx
                y += dy
            finals.append((x, y))
        mean_distance = sum(abs(x) + abs(y) for x, y in finals) / len(finals)
        far = sum(1 for x, y in finals if abs(x) + abs(y) > 30)
    return mean_distance, far


@program(300_000, quick=60_000)
def dice_distribution(ufora, n):
    with ufora.remotely.downloadAll():
        rng = random.Random(2)
        counts = collections.Counter(rng.randint(1, 6) + rng.randint(1, 6) + rng.randint(1, 6) for _ in range(n))
        most_likely = counts.most_common(1)[0][0]
        p_18 = counts[18] / n
    return sorted(counts.items()), most_likely, p_18


@program(200_000, quick=40_000)
def bank_queue_simulation(ufora, n):
    with ufora.remotely.downloadAll():
        rng = random.Random(11)
        tellers = [0.0] * 3  # when each teller is free again
        heapq.heapify(tellers)
        clock = 0.0
        waits = []
        for customer in range(n):
            clock += rng.expovariate(1.0)
            free_at = heapq.heappop(tellers)
            start = max(clock, free_at)
            waits.append(start - clock)
            heapq.heappush(tellers, start + rng.expovariate(0.4))
        mean_wait = sum(waits) / len(waits)
        long_waits = sum(1 for w in waits if w > 5)
    return mean_wait, long_waits


def life_step(cells, size):
    counts = collections.Counter((x + dx, y + dy) for x, y in cells
                                 for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy)
    return {cell for cell, c in counts.items()
            if (c == 3 or (c == 2 and cell in cells)) and 0 <= cell[0] < size and 0 <= cell[1] < size}


@program(60, quick=20)
def game_of_life(ufora, generations):
    with ufora.remotely.downloadAll():
        rng = random.Random(1)
        size = 120
        cells = {(x, y) for x in range(size) for y in range(size) if rng.random() < 0.3}
        history = []
        for g in range(generations):
            cells = life_step(cells, size)
            history.append(len(cells))
    return history[-5:], len(cells)


@program(400, quick=100)
def epidemic_sir(ufora, days):
    with ufora.remotely.downloadAll():
        rng = random.Random(5)
        population = 5000
        state = ["S"] * population
        for i in range(10):
            state[i] = "I"
        curve = []
        for day in range(days):
            infected = [i for i, s in enumerate(state) if s == "I"]
            for i in infected:
                for _ in range(2):
                    other = rng.randrange(population)
                    if state[other] == "S" and rng.random() < 0.3:
                        state[other] = "I"
                if rng.random() < 0.1:
                    state[i] = "R"
            curve.append(len(infected))
        peak_day = curve.index(max(curve))
    return peak_day, max(curve), state.count("R")


@program(50_000, quick=10_000)
def particles_in_a_box(ufora, n):
    with ufora.remotely.downloadAll():
        rng = np.random.default_rng(17)
        pos = rng.random((n, 2))
        vel = rng.normal(scale=0.01, size=(n, 2))
        bounces = 0
        for step in range(400):
            pos += vel
            out = (pos < 0) | (pos > 1)
            bounces += int(out.sum())
            vel[out] *= -1
            pos = np.clip(pos, 0, 1)
        spread = float(pos.std())
    return bounces, spread


@program(5000, quick=1000, make=lambda n: np.random.default_rng(21).exponential(scale=3.0, size=n))
def bootstrap_confidence(ufora, sample):
    with ufora.remotely.downloadAll():
        rng = np.random.default_rng(0)
        means = [rng.choice(sample, size=len(sample)).mean() for _ in range(2000)]
        means.sort()
        low, high = means[int(0.025 * len(means))], means[int(0.975 * len(means))]
    return low, high


@program(100_000, quick=20_000)
def stock_price_paths(ufora, n):
    with ufora.remotely.downloadAll():
        rng = random.Random(8)
        finals = []
        for path in range(n // 100):
            price = 100.0
            for day in range(100):
                price *= 1 + rng.gauss(0.0005, 0.02)
            finals.append(price)
        expected = sum(finals) / len(finals)
        losses = sum(1 for p in finals if p < 100)
        worst = min(finals)
    return expected, losses, worst
