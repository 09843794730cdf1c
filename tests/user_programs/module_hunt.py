"""Programs from a user's trial (2026-12-07, the second) whose element changes state through code
the shape's own text does not show: a function of another module of the user's called as
``user_helpers.bump(i)`` (a global counter, an append, output, a class attribute, random draws
that must follow the caller's seed), numpy functions that write into an argument (``out=``,
``np.copyto``, ``np.put``), an ``operator.methodcaller``, and a bound method held in a global of
a function the block calls (``ADD = SEEN.add``). Each was split, or its change lost, before."""
import collections
import operator
import random

import numpy as np

from tests.user_programs import user_helpers

N = 300_000

SEEN = set()
ADD = SEEN.add
TALLY = collections.Counter()
COUNT_IN = TALLY.update


def add_all(n):
    return [ADD(i % 100) for i in range(n)]


def tally_all(n):
    return [COUNT_IN([i % 5]) for i in range(n)]


class Box:
    def __init__(self):
        self.items = []

    def add(self, x):
        self.items.append(x)
        return len(self.items)


# ---------------------------------------------------------------- functions of another module of the user's

def prog_a_global_counter_of_another_module(ufora):
    user_helpers.COUNT = 0
    with ufora.remotely.downloadAll():
        values = [user_helpers.bump(i) for i in range(N)]
    return {"count": user_helpers.COUNT, "sum": sum(values)}


def prog_an_append_through_another_modules_function(ufora):
    acc = []
    with ufora.remotely.downloadAll():
        values = [user_helpers.add_to(acc, i) for i in range(N)]
    return {"appended": len(acc), "first": acc[:5], "last": acc[-3:], "values": values[-3:]}


def prog_output_through_another_modules_function(ufora):
    with ufora.remotely.downloadAll():
        values = [user_helpers.shout(i) for i in range(3000)]
    return {"values": values[-3:]}


def prog_instances_counted_by_a_class_of_another_module(ufora):
    user_helpers.Tracker.created = 0
    with ufora.remotely.downloadAll():
        made = [user_helpers.Tracker() for i in range(N)]
    return {"created": user_helpers.Tracker.created, "made": len(made)}


def prog_random_draws_through_another_module_follow_the_seed(ufora):
    random.seed(1)
    np.random.seed(3)
    with ufora.remotely.downloadAll():
        first = user_helpers.draw(0)
        draws = [user_helpers.draw(i) for i in range(2000)]
        numpy_first = user_helpers.numpy_draw()
    return {"first": first, "draws": draws[-3:], "numpy": numpy_first, "after": random.random(),
            "numpy_after": float(np.random.rand())}


# ---------------------------------------------------------------- numpy functions that write into an argument

def prog_numpy_out_argument_of_an_outside_array(ufora):
    acc = np.zeros(4)
    with ufora.remotely.downloadAll():
        firsts = [float(np.add(acc, i % 3, out=acc)[0]) for i in range(N)]
    return {"firsts": firsts[-3:], "acc": acc}


def prog_numpy_copyto_and_put_into_outside_arrays(ufora):
    dst = np.zeros(3)
    slots = np.zeros(10)
    with ufora.remotely.downloadAll():
        copied = [np.copyto(dst, np.full(3, float(i))) for i in range(N)]
        put = [np.put(slots, i % 10, i) for i in range(N)]
    return {"dst": dst, "slots": slots, "copied": copied[-1], "put": put[-1]}


def prog_numpy_out_argument_of_the_elements_own_array(ufora):
    with ufora.remotely.downloadAll():
        totals = [float(np.add(np.arange(3.0), i, out=np.empty(3)).sum()) for i in range(N)]
    return {"totals": totals[-3:], "n": len(totals)}


# ---------------------------------------------------------------- calls that change an object the code does not name

def prog_operator_methodcaller_changing_an_outside_object(ufora):
    box = Box()
    add_one = operator.methodcaller("add", 1)
    with ufora.remotely.downloadAll():
        sizes = [add_one(box) for i in range(N)]
    return {"sizes": sizes[-3:], "items": len(box.items)}


def prog_bound_methods_in_the_globals_of_a_called_function(ufora):
    SEEN.clear()
    TALLY.clear()
    with ufora.remotely.downloadAll():
        added = add_all(N)
        tallied = tally_all(N)
    return {"seen": sorted(SEEN), "tally": dict(TALLY), "added": added[-1], "tallied": tallied[-1]}
