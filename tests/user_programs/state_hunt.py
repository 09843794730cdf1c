"""Programs from a user's trial (2026-12-07) whose element changes state the element's code does
not name as a change: an outside iterator read by ``islice`` or ``__next__``, a counter closure
reached through a list or a dict, a method reached through an attribute chain or ``getattr``, a
seeded generator in a list, ``np.add.at``, a zlib stream, a sqlite connection; and objects whose
state a plain call changes (a callable object, a function's attribute, a mutable default)."""
import datetime
import functools
import io
import itertools
import sqlite3
import zlib

import numpy as np

N = 300_000


def make_counter():
    n = 0

    def tick():
        nonlocal n
        n += 1
        return n
    return tick


class Model:
    def __init__(self):
        self.hist = []

    def step(self, i):
        self.hist.append(i)
        return len(self.hist)


class Holder:
    pass


def add_to(log, x):
    log.append(x)
    return x


# ---------------------------------------------------------------- outside iterators read in the element

def prog_islice_of_an_outside_iterator(ufora):
    it = iter(range(100))
    words = iter("abcdefghijkl")
    with ufora.remotely.downloadAll():
        chunks = [list(itertools.islice(it, 3)) for _ in range(3)]
        pairs = ["".join(itertools.islice(words, 2)) for _ in range(3)]
        following = next(it)
    return {"chunks": chunks, "pairs": pairs, "following": following}


def prog_dunder_next_and_readline_of_outside_objects(ufora):
    it = iter(range(100))
    text = io.StringIO("".join(f"l{i}\n" for i in range(20)))
    with ufora.remotely.downloadAll():
        firsts = [it.__next__() for _ in range(3)]
        lines = [text.readline().strip() for _ in range(3)]
        zipped = [list(zip(it, range(2))) for _ in range(2)]
    return {"firsts": firsts, "lines": lines, "zipped": zipped}


# ---------------------------------------------------------------- state reached through containers and attributes

def prog_counter_closure_in_a_list_and_a_dict(ufora):
    counters = [make_counter()]
    named = {"c": make_counter()}
    with ufora.remotely.downloadAll():
        values = [counters[0]() for i in range(N)]
        after = counters[0]()
        keyed = [named["c"]() for i in range(N)]
    return {"head": values[:3], "last": values[-1], "after": after, "keyed_last": keyed[-1]}


def prog_bound_append_in_a_list(ufora):
    log = []
    appenders = [log.append]
    with ufora.remotely.downloadAll():
        done = [appenders[0](i) for i in range(N)]
    return {"length": len(log), "head": log[:3], "done": len(done)}


def prog_seeded_generator_in_a_list(ufora):
    generators = [np.random.default_rng(3)]
    with ufora.remotely.downloadAll():
        xs = [generators[0].random() for _ in range(N)]
    return {"head": xs[:3], "sum": sum(xs)}


def prog_method_through_an_attribute_chain(ufora):
    holder = Holder()
    holder.model = Model()
    with ufora.remotely.downloadAll():
        steps = [holder.model.step(i) for i in range(N)]
    return {"head": steps[:3], "length": len(holder.model.hist)}


def prog_changing_method_by_getattr(ufora):
    d = {}
    with ufora.remotely.downloadAll():
        done = [getattr(d, "update")({i % 100: i}) for i in range(200_000)]
    return {"five": d[5], "size": len(d), "done": len(done)}


def prog_partial_made_in_the_block(ufora):
    log = []
    with ufora.remotely.downloadAll():
        record = functools.partial(add_to, log)
        done = [record(x) for x in range(200_000)]
    return {"length": len(log), "done": len(done)}


# ---------------------------------------------------------------- C objects whose calls change them

def prog_numpy_add_at_in_a_comprehension(ufora):
    counts = np.zeros(10)
    with ufora.remotely.downloadAll():
        done = [np.add.at(counts, i % 10, 1.0) for i in range(200_000)]
    return {"counts": counts, "done": len(done)}


def prog_zlib_stream_in_a_comprehension(ufora):
    chunks = [str(i).encode() for i in range(200_000)]
    with ufora.remotely.downloadAll():
        compressor = zlib.compressobj()
        parts = [compressor.compress(c) for c in chunks]
        blob = b"".join(parts) + compressor.flush()
        del compressor
        same = zlib.decompress(blob) == b"".join(chunks)
    return {"same": same, "size": len(blob)}


def prog_sqlite_inserts_in_a_comprehension(ufora):
    with ufora.remotely.downloadAll():
        db = sqlite3.connect(":memory:")
        db.execute("create table t (x int)")
        done = [db.execute("insert into t values (?)", (x,)) is None for x in range(3000)]
        rows = db.execute("select count(*), sum(x) from t").fetchone()
        db.close()
        del db
    return {"rows": rows, "done": len(done)}


# ---------------------------------------------------------------- a value's type

def prog_iso_calendar_keeps_its_type(ufora):
    with ufora.remotely.downloadAll():
        iso = datetime.date(2023, 3, 1).isocalendar()
        week = iso.week
    return {"iso": iso, "week": week}


# ---------------------------------------------------------------- state a plain call changes, the block naming no change

class CallCounter:
    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return x


def counted(x):
    counted.calls += 1
    return x


def memo(x, cache={}):  # noqa: B006 - the mutable default is the program's point
    if x not in cache:
        cache[x] = x * x
    return cache[x]


def prog_callable_object_called_in_the_block(ufora):
    calls = CallCounter()
    keyed = CallCounter()
    xs = list(range(2000, 0, -1))
    with ufora.remotely.downloadAll():
        y = calls(1) + calls(2)
        inside = calls.calls
        ordered = sorted(xs, key=keyed)
    return {"y": y, "inside": inside, "after": calls.calls, "keyed": keyed.calls, "first": ordered[0]}


def prog_function_attribute_counter(ufora):
    counted.calls = 0
    with ufora.remotely.downloadAll():
        y = counted(1) + counted(2)
    return {"y": y, "calls": counted.calls}


def tally(xs):
    tally.calls += 1
    return sum(x * 2 for x in xs)


def prog_function_attribute_of_a_function_with_a_shape(ufora):
    tally.calls = 0
    with ufora.remotely.downloadAll():
        a = tally(range(300_000))
        b = tally(range(5))
        inside = tally.calls
    return {"a": a, "b": b, "inside": inside, "calls": tally.calls}


def prog_mutable_default_cache(ufora):
    memo.__defaults__[0].clear()
    with ufora.remotely.downloadAll():
        y = memo(3) + memo(4)
    return {"y": y, "cache": dict(memo.__defaults__[0])}


def prog_partial_made_outside_the_block(ufora):
    log = []
    record = functools.partial(add_to, log)
    with ufora.remotely.downloadAll():
        ys = [record(x) for x in range(5)]
    return {"ys": ys, "log": log}


# ---------------------------------------------------------------- a review's cases: state behind a bound C method,
# a default, a class attribute; writes through print(file=) and iter(f, stop)

NEXT_OF_SOURCE = None  # set by the program: a bound C method held as a module global


class Compressing:
    stream = None

    def feed(self, chunk):
        return self.stream.compress(chunk)


def prog_bound_next_of_an_outside_iterator(ufora):
    global NEXT_OF_SOURCE
    NEXT_OF_SOURCE = iter(range(10_000_000)).__next__
    with ufora.remotely.downloadAll():
        firsts = [NEXT_OF_SOURCE() for _ in range(N)]
    NEXT_OF_SOURCE = None
    return {"head": firsts[:3], "last": firsts[-1]}


def prog_iterator_as_a_default_argument(ufora):
    source = iter(range(1000))

    def take(x, it=source):
        return x + next(itertools.islice(it, 1))
    with ufora.remotely.downloadAll():
        taken = [take(x) for x in range(300)]
    return {"taken": taken[:5], "last": taken[-1]}


def prog_compressor_as_a_class_attribute(ufora):
    feeder = Compressing()
    chunks = [str(i).encode() for i in range(200_000)]
    with ufora.remotely.downloadAll():
        Compressing.stream = zlib.compressobj()
        parts = [feeder.feed(c) for c in chunks]
        blob = b"".join(parts) + Compressing.stream.flush()
        Compressing.stream = None
        same = zlib.decompress(blob) == b"".join(chunks)
        del parts, blob
    return {"same": same}


def prog_writes_through_print_file_and_iter_sentinel(ufora):
    buffer = io.StringIO()
    calls = CallCounter()
    with ufora.remotely.downloadAll():
        print("to the buffer", file=buffer)
        taken = list(iter(lambda: calls(calls.calls), 3))
    return {"buffer": buffer.getvalue(), "taken": taken, "calls": calls.calls}
