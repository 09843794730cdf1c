"""State: closures made in comprehensions, the walrus operator, an outside iterator, helpers that
append to outside lists, global and nonlocal counters, objects and containers defined before the
block and changed in it, memo caches, what the block prints."""
import random

import numpy as np

N = 40_000

CALLS = 0
LOG = []
_CACHE = {}


def counted_square(x):
    global CALLS
    CALLS += 1
    return x * x


def logged_double(x):
    LOG.append(x % 10)
    return x * 2


def process(x, sink):
    sink.append(x % 10)
    return x * 2


def slow_fib(n):
    if n in _CACHE:
        return _CACHE[n]
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    _CACHE[n] = a
    return a


def make_counter():
    n = 0

    def next_id(x):
        nonlocal n
        n += 1
        return n

    return next_id


def prog_late_binding_lambdas(ufora):
    with ufora.remotely.downloadAll():
        fs = [lambda: k for k in range(N)]
        late = [f() for f in fs[:5]]
        bound = [lambda k=k: k for k in range(N)]
        total = sum(f() for f in bound)
        late_total = sum(f() for f in fs)
    return {"late": late, "total": total, "late_total": late_total, "n": len(fs)}


def prog_walrus_last_value(ufora):
    with ufora.remotely.downloadAll():
        doubled = [(y := x * 2) for x in range(N)]
        big = [z for x in range(N) if (z := x * x % 1000) > 990]
    return {"y": y, "z": z, "doubled_tail": doubled[-2:], "big_n": len(big)}


def prog_walrus_running_total(ufora):
    with ufora.remotely.downloadAll():
        running = 0
        prefix = [running := running + x for x in range(N)]
    return {"running": running, "prefix_tail": prefix[-3:], "prefix_sum": sum(prefix)}


def prog_next_on_outside_iterator(ufora):
    it = iter(range(10 ** 6))
    with ufora.remotely.downloadAll():
        pairs = [(x, next(it)) for x in range(N)]
    after = next(it)
    return {"pairs_tail": pairs[-3:], "after": after}


def prog_outside_generator_consumed(ufora):
    gen = (x * 2 for x in range(N))
    total = error = None
    try:
        with ufora.remotely.downloadAll():
            total = sum(gen)
    except Exception as e:
        error = type(e).__name__
    left = list(gen)
    return {"total": total, "error": error, "left": len(left)}


def prog_helper_appends_to_sink(ufora):
    seen = []
    with ufora.remotely.downloadAll():
        doubled = [process(x, seen) for x in range(N)]
    return {"seen_len": len(seen), "seen_tail": seen[-5:], "doubled_tail": doubled[-2:]}


def prog_helper_appends_to_module_list(ufora):
    LOG.clear()
    with ufora.remotely.downloadAll():
        total = sum(logged_double(x) for x in range(N))
    return {"total": total, "log_len": len(LOG), "log_head": LOG[:5]}


def prog_global_counter_in_helper(ufora):
    global CALLS
    CALLS = 0
    with ufora.remotely.downloadAll():
        total = sum(counted_square(x) for x in range(N))
    return {"total": total, "calls": CALLS}


def prog_nonlocal_counter_ids(ufora):
    next_id = make_counter()
    with ufora.remotely.downloadAll():
        ids = [next_id(x) for x in range(N)]
    return {"ids_tail": ids[-3:], "ids_sum": sum(ids), "next": next_id(None)}


def prog_mutate_free_list_in_block(ufora):
    results = []
    with ufora.remotely.downloadAll():
        for x in range(N):
            if x % 1000 == 0:
                results.append(x * x)
        results.extend(x for x in range(5))
    return {"results": results}


def prog_mutate_free_dict_update(ufora):
    table = {"existing": -1}
    with ufora.remotely.downloadAll():
        table.update({k: k * k for k in range(N)})
    return {"size": len(table), "first": list(table.items())[:3], "last": table[N - 1]}


class Config:
    def __init__(self):
        self.name = "run"
        self.total = None


def prog_set_attribute_on_outside_object(ufora):
    cfg = Config()
    with ufora.remotely.downloadAll():
        cfg.total = sum(x * 0.5 for x in range(N))
        cfg.name = cfg.name.upper()
    return {"cfg": cfg}


def prog_fill_outside_numpy_array(ufora):
    out = np.zeros(N)
    with ufora.remotely.downloadAll():
        for i in range(0, N, 100):
            out[i] = i * 0.5
        count = sum(1 for v in out if v > 0)
    return {"out_sum": out.sum(), "count": count}


def prog_augmented_assignment_of_outer_total(ufora):
    total = 100
    label = "sum"
    with ufora.remotely.downloadAll():
        total += sum(x for x in range(N) if x % 3 == 0)
        label += "!"
    return {"total": total, "label": label}


def prog_memo_cache_in_module(ufora):
    _CACHE.clear()
    with ufora.remotely.downloadAll():
        values = [slow_fib(x % 90) for x in range(N)]
    return {"values_sum": sum(values), "cache_size": len(_CACHE)}


def report(x):
    if x % 10_000 == 0:
        print("processed", x)
    return x


def prog_prints_progress(ufora):
    with ufora.remotely.downloadAll():
        total = sum(report(x) for x in range(N))
        print("total", total)
    return {"total": total}


def prog_shared_list_aliases(ufora):
    row = [0] * 3
    grid = [row, row]
    with ufora.remotely.downloadAll():
        grid[0][1] = sum(1 for x in range(N) if x % 7 == 0)
        same = grid[0] is grid[1]
    return {"grid": grid, "row": row, "same": same, "still_aliased": (grid[0] is row, grid[1] is row)}


def prog_function_defined_in_block(ufora):
    weights = {0: 0.5, 1: 2.0, 2: -1.0}
    with ufora.remotely.downloadAll():
        def score(x):
            return weights[x % 3] * x

        scores = [score(x) for x in range(N)]
        best = max(range(N), key=score)
        scale = lambda v, k=3: v * k
        scaled = sum(scale(x) for x in range(N))
    return {"scores_tail": scores[-3:], "best": best, "scaled": scaled}


def prog_mutation_before_error_kept(ufora):
    done = []
    error = None
    try:
        with ufora.remotely.downloadAll():
            for batch in range(5):
                done.append(sum(x for x in range(batch * N, (batch + 1) * N)))
                if batch == 2:
                    raise RuntimeError(f"batch {batch} failed")
    except Exception as e:
        error = e
    return {"done": done, "error": error}


def prog_sort_and_set_add_in_place(ufora):
    scores = [(i * 7919) % 10_007 for i in range(N)]
    seen = set()
    with ufora.remotely.downloadAll():
        scores.sort(reverse=True)
        for s in scores[:100]:
            seen.add(s % 10)
        top = [s for s in scores if s > 10_000]
    return {"scores_head": scores[:5], "seen": seen, "top": top}


def prog_shuffle_outside_deck(ufora):
    deck = list(range(N))
    random.seed(99)
    with ufora.remotely.downloadAll():
        random.shuffle(deck)
        hand = [card % 52 for card in deck[:30_000]]
    return {"deck_head": deck[:10], "hand_sum": sum(hand), "next": random.random()}


def prog_augmented_assignment_keeps_aliases(ufora):
    data = np.arange(N, dtype=np.float64)
    view = data
    history = [0]
    alias = history
    with ufora.remotely.downloadAll():
        data += 1.5
        history += [sum(x for x in range(N))]
    return {"view_sum": view.sum(), "data_is_view": data is view, "alias": alias, "history_is_alias": history is alias}
