"""Monte Carlo with seeded generators: the random module, random.Random, numpy's legacy seed and
default_rng, inside the comprehension or through a function."""
import random

import numpy as np

N = 50_000


def throw_dart(rng):
    x, y = rng.random(), rng.random()
    return x * x + y * y <= 1.0


def prog_pi_random_seed_inside_block(ufora):
    with ufora.remotely.downloadAll():
        random.seed(1)
        hits = sum(1 for _ in range(N) if random.random() ** 2 + random.random() ** 2 < 1.0)
        pi = 4 * hits / N
    return {"hits": hits, "pi": pi}


def prog_random_state_after_block(ufora):
    # what the program draws next, after a block that seeded and used the random module
    with ufora.remotely.downloadAll():
        random.seed(7)
        draws = [random.randint(1, 6) for _ in range(N)]
    next_draw = random.random()
    return {"sum": sum(draws), "head": draws[:10], "next_draw": next_draw}


def prog_gauss_seeded_before_block(ufora):
    random.seed(42)
    with ufora.remotely.downloadAll():
        samples = [random.gauss(0.0, 1.0) for _ in range(N)]
        mean = sum(samples) / len(samples)
    return {"head": samples[:5], "mean": mean}


def prog_random_instance_in_comprehension(ufora):
    rng = random.Random(1)
    with ufora.remotely.downloadAll():
        xs = [rng.random() for _ in range(N)]
    return {"head": xs[:5], "tail": xs[-5:], "rng_after": rng.random()}


def prog_random_instance_through_function(ufora):
    rng = random.Random(2024)
    with ufora.remotely.downloadAll():
        inside = sum(throw_dart(rng) for _ in range(N))
        estimate = 4.0 * inside / N
    return {"inside": inside, "estimate": estimate, "rng": rng}


def prog_numpy_legacy_seed_in_block(ufora):
    with ufora.remotely.downloadAll():
        np.random.seed(0)
        values = [np.random.rand() for _ in range(N)]
        above = sum(1 for v in values if v > 0.5)
    return {"head": values[:3], "above": above, "global_after": np.random.rand()}


def prog_default_rng_normal_draws(ufora):
    rng = np.random.default_rng(0)
    with ufora.remotely.downloadAll():
        draws = [rng.normal() for _ in range(N)]
        positives = sum(1 for d in draws if d > 0)
    return {"head": draws[:3], "positives": positives, "rng": rng}


def prog_default_rng_array_made_in_block(ufora):
    with ufora.remotely.downloadAll():
        u = np.random.default_rng(7).random(N)
        below = sum(1 for x in u if x < 0.3)
        biggest = max(x for x in u)
    return {"below": below, "biggest": biggest}


def prog_random_choice_names(ufora):
    names = ["ann", "bob", "cid", "dee", "eve"]
    with ufora.remotely.downloadAll():
        random.seed(3)
        picks = [random.choice(names) for _ in range(N)]
        counts = {name: picks.count(name) for name in names}
    return {"counts": counts, "head": picks[:8]}


def prog_per_item_seeded_random(ufora):
    with ufora.remotely.downloadAll():
        noise = [random.Random(i).random() for i in range(30_000)]
        total = sum(noise)
    return {"total": total, "tail": noise[-3:]}


def prog_random_walk_positions(ufora):
    with ufora.remotely.downloadAll():
        random.seed(11)
        steps = [random.choice((-1, 1)) for _ in range(N)]
        final = sum(steps)
        farthest = max(abs(sum(steps[:k])) for k in range(0, N, 5_000))
    return {"final": final, "farthest": farthest}
