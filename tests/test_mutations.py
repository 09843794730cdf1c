"""engine.mutations: which free variables a block's text could change, finding the ones it did,
and updating the caller's objects in place."""
import ast
import textwrap
from collections import OrderedDict, deque

import numpy as np
import pytest

from ufora.engine import array_digests, mutations, serialization
from tests.inline_block import variables_of


def touched(text: str) -> set:
    return mutations.touched(ast.parse(textwrap.dedent(text)).body)


@pytest.mark.parametrize("text,names", [
    ("xs.append(1)", {"xs"}),
    ("cfg.params['lr'] = 0.1", {"cfg"}),
    ("del d[k]", {"d"}),
    ("grid[0] += 1", {"grid"}),
    ("data += 1.5", {"data"}),
    ("helper(acc, x=data)", {"acc", "data"}),
    ("helper(*rows)", {"rows"}),
    ("for p in people:\n    p.birthday()", {"people", "p"}),
    ("total = sum(bump(p) for p in people)", {"people", "p"}),
    # through a name bound to part of the value (found by a user's trial: each came back unchanged)
    ("for it in items:\n    it.qty += 1", {"items"}),
    ("first = items[0]\nfirst.qty += 10", {"items"}),
    ("head = arr[:10]\nhead += 1.0", {"arr"}),
    ("for i, it in enumerate(items):\n    it.qty = i", {"items"}),
    ("for r in rows[:3]:\n    r[1] = 99", {"rows"}),
    ("pairs = [(k, v) for k, v in table.items()]\nfor k, v in pairs:\n    v.append(k)", {"table"}),
    ("with lock_holder as held:\n    held.count += 1", {"lock_holder"}),
    # a call's state (a user's trial: a callable object's count, a key's, a file= buffer's came back unchanged)
    ("y = counter(1)", {"counter"}),
    ("y = hooks[0](1)", {"hooks"}),
    ("ordered = sorted(xs, key=keyed)", {"keyed"}),
    ("print('x', file=buffer)", {"buffer"}),
    ("taken = list(iter(make, 3))", {"make"}),
])
def test_what_the_text_could_change(text, names):
    assert names <= touched(text)


@pytest.mark.parametrize("text", [
    "total = sum(x * x for x in big)",
    "n = len(big) + max(big)",
    "for x in big:\n    total = x",
    "first = big[0]",
    "values = sorted(big)",
    "n = len(big)\nn += 1",
    "for x in big:\n    total += x",
])
def test_what_the_text_only_reads(text):
    assert "big" not in touched(text)


def test_large_values_are_compared_only_when_touched_and_small_ones_always():
    big, small = list(range(mutations.CHEAP_ITEMS + 1)), [1, 2]
    namespace = {"big": big, "small": small, "n": 3, "f": len, "ro": np.zeros(3)}
    namespace["ro"].flags.writeable = False
    assert set(mutations.snapshot(namespace, list(namespace), set())) == {"small"}
    assert set(mutations.snapshot(namespace, list(namespace), {"big"})) == {"big", "small"}


def test_only_values_changed_in_place_are_found():
    namespace = {"a": [1], "b": {"k": 1}, "c": [5], "d": [7]}
    taken = mutations.snapshot(namespace, list(namespace), set())
    namespace["a"].append(2)
    namespace["b"]["k"] = 1  # the same contents
    namespace["c"] = [6]  # rebound: the block's own variable, sent back as such
    namespace["d"].append(8)
    assert mutations.changed(taken) == {"a": [1, 2], "d": [7, 8]}  # d: ``d += [8]``
    assert mutations.rebound(namespace, taken, ("c", "d", "new")) == ("c", "new")


def test_aliases_stay_aliases():
    row = [0, 0]
    targets = {"row": row, "grid": [row, row]}
    changed_row = [0, 5]
    values = {"row": changed_row, "grid": [changed_row, changed_row]}
    assert mutations.apply(targets, values) == []
    assert row == [0, 5] and targets["grid"][0] is row and targets["grid"][1] is row


def test_updates_keep_the_callers_objects():
    class Point:
        def __init__(self, x):
            self.x = x

    targets = {"l": [1], "d": OrderedDict(a=1), "s": {1}, "q": deque([1]), "b": bytearray(b"x"),
               "a": np.zeros(2), "p": Point(1), "t": (1,), "shape": np.zeros(2)}
    before = {name: id(value) for name, value in targets.items()}
    values = {"l": [2, 3], "d": OrderedDict(b=2), "s": {4}, "q": deque([5]), "b": bytearray(b"yz"),
              "a": np.ones(2), "p": Point(9), "t": (2,), "shape": np.ones(3), "gone": [1]}
    assert sorted(mutations.apply(targets, values)) == ["gone", "shape", "t"]
    assert {name: id(value) for name, value in targets.items()} == before
    assert targets["l"] == [2, 3] and targets["d"] == {"b": 2} and targets["s"] == {4}
    assert targets["q"] == deque([5]) and targets["b"] == b"yz" and targets["a"].tolist() == [1, 1]
    assert targets["p"].x == 9 and targets["shape"].tolist() == [0, 0]


def test_dict_subclasses_are_set_item_by_item_not_by_their_own_update():
    """Counter.update adds counts: a Counter changed by a block came back as
    Counter({('the', 3): 1, ...}) (found by a user's trial)."""
    from collections import Counter, defaultdict
    targets = {"c": Counter(the=1), "dd": defaultdict(list, a=[1]), "od": OrderedDict(z=1)}
    values = {"c": Counter(the=3, cat=1), "dd": defaultdict(list, b=[2]), "od": OrderedDict([("y", 2), ("x", 3)])}
    assert mutations.apply(targets, values) == []
    assert targets["c"] == Counter(the=3, cat=1) and list(targets["c"].elements()).count("the") == 3
    assert targets["dd"] == {"b": [2]} and targets["dd"]["new"] == [] and list(targets["od"]) == ["y", "x"]


class Record:
    def __init__(self, x):
        self.x, self.tags = x, [x]


def _records():
    return [Record(i) for i in range(6)]


# (what the block does to the value, whether an object the caller holds moves): each taken
# with its layout made before the block and with the one made only after, from the pickle
_CHANGES = [
    (lambda v: v.sort(key=lambda r: -r.x), True),
    (lambda v: setattr(v[1], "x", 9), False),
    (lambda v: v[2].tags.append(5), False),
    (lambda v: v.pop(), True),
    (lambda v: v.append(Record(7)), False),
    (lambda v: v.insert(0, Record(-1)), True),
    (lambda v: v.__setitem__(3, Record(30)), True),
    (lambda v: setattr(v[0], "tags", [0, 1]), True),
    (lambda v: setattr(v[4], "other", v[5]), False),
]


@pytest.mark.parametrize("laid_out_before", [True, False])
@pytest.mark.parametrize("change,moves", _CHANGES)
def test_objects_that_moved_are_found_with_either_layout(change, moves, laid_out_before):
    namespace = {"v": _records()}
    taken = mutations.snapshot(namespace, ["v"], {"v"}, {"v"} if laid_out_before else set())
    change(namespace["v"])
    assert mutations.changed(taken) == {"v": namespace["v"]}
    assert mutations.moved(taken, ["v"]) == (["v"] if moves else [])


def test_a_graph_of_tuples_in_lists_that_only_grows_has_nothing_moved():
    graph = {(i, 0): [(i + 1, 0), (i, 1)] for i in range(50)}
    namespace = {"graph": graph}
    taken = mutations.snapshot(namespace, ["graph"], {"graph"})
    graph[(0, 0)].append((7, 7))
    graph[(99, 0)] = []
    assert mutations.changed(taken) == {"graph": graph}
    assert mutations.moved(taken, ["graph"]) == []


def test_lists_of_numpy_scalars_inside_a_value_keep_their_place():
    namespace = {"d": {"a": [np.float64(1.5)] * 3, "b": [Record(1)]}}
    taken = mutations.snapshot(namespace, ["d"], set())
    namespace["d"]["a"].append(np.float64(2))
    assert mutations.moved(taken, list(mutations.changed(taken))) == []
    namespace = {"d": {"a": [np.float64(1.5)] * 3, "b": [Record(1)]}}
    taken = mutations.snapshot(namespace, ["d"], set())
    namespace["d"]["b"] = [Record(2)]
    assert mutations.moved(taken, list(mutations.changed(taken))) == ["d"]


@pytest.mark.parametrize("text,names", [
    ("for e in staff:\n    e.pay = 1", {"staff", "e"}),
    ("xs.append(1)", {"xs"}),
    ("d[k] += 1", {"d"}),
    ("[r.bump() for r in rows]", {"rows", "r"}),
])
def test_what_the_text_writes_into(text, names):
    assert mutations.written(ast.parse(text).body) == names


def test_reading_loops_write_nothing():
    text = "for o in orders:\n    if o['s'] != 'x':\n        groups[o['c']].append(o['p'])"
    assert mutations.written(ast.parse(text).body) == {"groups"}
    assert "orders" in touched(text)  # compared all the same, as the call could reach its items


def test_records_of_atoms_are_compared_by_identity_and_tuples_with_state_are_not():
    from collections import namedtuple

    Trade = namedtuple("Trade", "symbol qty")

    class Tagged(tuple):  # has a __dict__: an attribute can change in place
        pass

    namespace = {"trades": [Trade("A", 1), Trade("B", 2)], "pairs": {("a", 1): (2.5, "x")},
                 "tagged": [Tagged((1, 2))]}
    taken = mutations.snapshot(namespace, list(namespace), set())
    assert type(taken["trades"][1]).__name__ == type(taken["pairs"][1]).__name__ == "_Flat"
    assert type(taken["tagged"][1]).__name__ == "_Pickled"
    namespace["trades"][1] = Trade("B", 3)
    namespace["tagged"][0].note = "changed"
    assert set(mutations.changed(taken)) == {"trades", "tagged"}


class Tally:
    def __init__(self):
        self.count = 0

    def add(self, x):
        self.count += 1
        return x


def test_what_bound_methods_are_bound_to_is_compared_under_their_name():
    import math

    log, seen, tally = [], set(), Tally()
    free = {"record": log.append, "remember": seen.add, "forget": seen.discard, "add": tally.add,
            "root": math.sqrt, "size": len, "also_seen": seen.copy, "table": {}, "lookup": None}
    free["lookup"] = free["table"].get
    owned = mutations.owners(free)
    # a module's functions are bound to the module; ``table`` is compared under its own name
    assert owned == {"record.__self__": log, "remember.__self__": seen, "add.__self__": tally}
    assert mutations.changing(owned, free) == set(owned)  # append, add: names of methods that change
    namespace = {**free, **owned}
    taken = mutations.snapshot(namespace, list(namespace), set(owned))
    free["record"](1)
    free["add"](2)
    assert mutations.changed(taken) == {"record.__self__": [1], "add.__self__": tally}
    theirs_log, theirs_tally = [], Tally()  # the caller's, bound the same way
    targets = mutations.targets({"record": theirs_log.append, "add": theirs_tally.add},
                                ["record.__self__", "add.__self__"])
    assert targets == {"record.__self__": theirs_log, "add.__self__": theirs_tally}
    assert mutations.apply(targets, {"record.__self__": [1], "add.__self__": tally}) == []
    assert theirs_log == [1] and theirs_tally.count == 1


def test_lru_cache_functions_called_are_named_and_never_compared_as_values():
    import functools

    @functools.lru_cache(maxsize=None)
    def square(x):
        return x * x

    @functools.lru_cache(maxsize=None)
    def unused(x):
        return x

    def helper(n):  # reaches square through its closure
        return square(n)

    from ufora.engine import serialization

    free = serialization.loads(serialization.dumps({"helper": helper, "unused": unused}))  # as the block has them
    taken = mutations.caches(mutations.reached(free.values()))
    assert {function.__name__ for function, _ in taken.values()} == {"square", "unused"}
    assert mutations.snapshot(free, list(free), set(free)) == {}  # a function, a cache: not values
    free["helper"](3)
    assert mutations.used_caches(taken) == ["square"]


def _large(dtype="f8", shape=(300, 300)):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("change", [
    lambda a: a.__setitem__((1, 1), 7.0),
    lambda a: a.__setitem__((299, 299), -0.0),  # the same value by ==, other bytes
    lambda a: setattr(a, "shape", (900, 100)),
    lambda a: a.__iadd__(1.0),
    lambda a: a.sort(axis=0) or a.__setitem__((0, 0), float("nan")),
])
def test_large_arrays_compared_by_digest_still_show_every_change(change):
    """Large arrays are compared by a digest of their bytes (engine.array_digests), not a copy."""
    array = _large()
    assert array.nbytes >= array_digests.DIGEST_FROM
    namespace = {"a": array, "held": {"w": _large(), "f": np.asfortranarray(_large()), "view": _large()[::2]}}
    taken = mutations.snapshot(namespace, list(namespace), {"a", "held"})
    assert mutations.changed(taken) == {}
    change(namespace["a"])
    for inner in namespace["held"].values():
        change(inner) if inner.flags.c_contiguous else inner.__setitem__((3, 3), 2.0)
    assert set(mutations.changed(taken)) == {"a", "held"}


def test_digested_arrays_keep_their_place_in_a_layout_and_arrays_of_objects_are_pickled():
    objects = np.empty(10_000, dtype=object)
    objects[:] = [[n] for n in range(10_000)]
    held = {"w": _large(), "objects": objects}
    taken = mutations.snapshot({"held": held}, ["held"], {"held"})
    assert mutations.moved(taken, ["held"]) == []
    held["objects"][0].append(3)  # inside an item: only a pickle of the items sees it
    assert set(mutations.changed(taken)) == {"held"}
    held["w"] = held["w"].copy()  # another object where the array was
    assert mutations.moved(taken, ["held"]) == ["held"]


def test_a_digest_tells_dtypes_and_orders_apart():
    base = np.arange(20_000, dtype="<i8")
    pairs = [(base, base.astype(">i8")), (base, base.view("<f8")), (base.reshape(100, 200),
             np.asfortranarray(base.reshape(100, 200))), (base.reshape(100, 200), base.reshape(200, 100))]
    for one, other in pairs:
        assert serialization.dumps_compared(one) != serialization.dumps_compared(other)
    assert serialization.dumps_compared(base) == serialization.dumps_compared(base.copy())
    dates = np.arange(20_000).astype("datetime64[s]")
    assert serialization.dumps_compared(dates) != serialization.dumps_compared(dates + 1)


def test_tuples_holding_what_can_change_are_compared_and_updated_item_by_item():
    pair, atoms = (np.zeros(3), [1]), (1, "a", (2.5, None))
    namespace = {"pair": pair, "atoms": atoms}
    taken = mutations.snapshot(namespace, list(namespace), set())
    assert set(taken) == {"pair"}  # a tuple of atoms cannot change
    pair[0][1] = 4.0
    pair[1].append(2)
    changed = mutations.changed(taken)
    assert set(changed) == {"pair"}
    caller = (np.zeros(3), [1])
    held = caller[0], caller[1]
    assert mutations.apply({"pair": caller}, changed) == []
    assert caller[0].tolist() == [0.0, 4.0, 0.0] and caller[1] == [1, 2]
    assert caller[0] is held[0] and caller[1] is held[1]


class _Box:
    def __init__(self, value):
        self.value = value


class _ArrayEquals:
    """An item with no state to update, whose == gives an array (so bool() of it raises)."""
    __slots__ = ()

    def __eq__(self, other):
        return np.zeros(2) == 0
    __hash__ = object.__hash__


@pytest.mark.parametrize("caller,new", [
    ((np.zeros(3), 1), (np.zeros(4), 1)),  # another shape
    (([1], 1), ([1], 1, 2)),
    (([1], {_Box(1)}), ([2], {_Box(2)})),  # a set of objects cannot be updated: nor the list beside it
    (([1], _ArrayEquals()), ([2], _ArrayEquals())),  # an item that cannot be updated nor compared
])
def test_a_tuple_whose_items_cannot_all_be_made_so_in_place_is_left_whole(caller, new):
    """A tuple is updated whole or not at all: never a list in it changed and a set beside it not,
    without a word (a review found that partial update)."""
    before = serialization.dumps_compared(caller)
    assert mutations.apply({"t": caller}, {"t": new}) == ["t"]
    assert serialization.dumps_compared(caller) == before


def test_tuples_with_values_that_cannot_change_beside_ones_that_did_are_updated():
    import datetime
    import decimal
    import fractions
    items = [1]
    caller = (datetime.date(2026, 1, 2), decimal.Decimal("1.5"), fractions.Fraction(1, 3), frozenset({1}), items)
    new = (datetime.date(2026, 1, 2), decimal.Decimal("1.5"), fractions.Fraction(1, 3), frozenset({1}), [1, 2])
    assert mutations.apply({"t": caller}, {"t": new}) == []
    assert items == [1, 2] and caller[4] is items


def test_tuples_inside_lists_and_objects_keep_the_callers_objects():
    inner = [1]
    rows, box = [("a", inner), ("b", [5])], _Box((np.zeros(2), inner))
    new_rows, new_box = [("a", [1, 2]), ("b", [5])], _Box((np.ones(2), [1, 2]))
    held = box.value
    assert mutations.apply({"rows": rows, "box": box}, {"rows": new_rows, "box": new_box}) == []
    assert rows[0][1] is inner and inner == [1, 2] and box.value is held and held[0].tolist() == [1.0, 1.0]


def _recorder(pair: tuple):
    def record(x):
        pair[0].append(x)
    return record


def test_a_tuple_in_a_closure_cell_is_updated_in_place():
    """The cells' path updates shallowly: the tuple must still take what its list holds (a review
    found it lost, silently)."""
    record = _recorder(([], 0))
    taken = mutations.closures({"record": record})
    assert ("record", "pair") in taken
    record(1)
    changed = mutations.changed_cells(taken)
    assert changed == {"record": {"pair": ([1], 0)}}
    caller_log = []
    caller_pair = (caller_log, 0)
    caller_record = _recorder(caller_pair)
    assert mutations.apply_cells({"record": caller_record}, changed) == []
    assert caller_record.__closure__[0].cell_contents is caller_pair and caller_log == [1]


class _Account:
    def __init__(self):
        self.balance = 0


def test_module_globals_that_are_tuples_holding_objects_are_still_taken():
    """A helper's global ``CFG = (Account(), "x")`` is compared like the object alone (a review
    found it no longer taken once tuples were sized)."""
    namespace = {"CFG": (_Account(), "x"), "BIG": (list(range(200_000)), 1), "ATOMS": tuple(range(200_000))}
    taken: dict = {}
    for name in namespace:
        mutations._take_global(namespace, "helpers", name, taken)
    assert set(taken) == {("helpers", "CFG"), ("helpers", "ATOMS")}  # (ATOMS: taken to see it rebound)


def test_which_tuples_are_compared():
    assert not mutations._compared((((1, 2),), "a"))  # tuples in tuples of atoms: nothing can change
    assert not mutations._compared(tuple(range(1_000_000)))
    assert mutations._compared(((1, [2]),)) and mutations._compared((np.zeros(2),))
    assert mutations._compared((_Box(1),)) and not mutations._compared((np.float64(1.0), None))


def test_a_tuple_nested_deeper_than_the_recursion_limit_is_looked_at_without_recursion():
    chain: tuple = ()
    for i in range(5_000):
        chain = (i, chain)
    assert not mutations._compared(chain) and mutations._cheap(chain)
    assert mutations._compared(([], chain)) and mutations._compared((chain, ([],)))


def test_records_and_numpy_scalars_in_a_tuple_are_not_compared():
    assert not mutations._compared(tuple((i, str(i)) for i in range(1_000)))
    assert not mutations._compared(tuple(np.arange(1_000.0)))  # (numpy's scalars)


def test_module_globals_holding_values_with_no_state_beside_a_list_are_taken():
    """A review found ``DAYLOG = (date(2024, 1, 1), inner)`` no longer taken: a helper's
    ``DAYLOG[1].append(x)`` came back lost, silently."""
    import datetime
    import decimal
    namespace = {"DAYLOG": (datetime.date(2024, 1, 1), []), "D": (decimal.Decimal(1), (((([],),),),))}
    taken: dict = {}
    for name in namespace:
        mutations._take_global(namespace, "helpers", name, taken)
    assert set(taken) == {("helpers", "DAYLOG"), ("helpers", "D")}


def test_a_global_or_cell_rebound_to_another_tuple_is_bound_not_merged_into_the_old_one():
    """A review found ``global RUNS; RUNS = ([2], "x")`` changed the caller's old list to [2]."""
    import sys
    import types
    old_list = [1]
    module = types.ModuleType("rebinding_helpers")
    module.RUNS = (old_list, "x")
    sys.modules[module.__name__] = module
    try:
        taken = {(module.__name__, "RUNS"): (vars(module), module.RUNS, serialization.dumps_compared(module.RUNS))}
        module.RUNS = ([2], "x")
        changed = mutations.changed_globals(taken)
        assert mutations.apply_globals(changed) == []
        assert module.RUNS == ([2], "x") and old_list == [1]
        taken = {(module.__name__, "RUNS"): (vars(module), module.RUNS, serialization.dumps_compared(module.RUNS))}
        caller_runs = module.RUNS
        module.RUNS[0].append(3)
        module.RUNS = [module.RUNS[0], [5]]  # changed, then bound anew holding what it held: the same list
        changed = serialization.loads(serialization.dumps(mutations.changed_globals(taken)))  # as it travels
        module.RUNS = caller_runs
        assert mutations.apply_globals(changed) == []
        assert module.RUNS == [[2, 3], [5]] and module.RUNS[0] is caller_runs[0]
    finally:
        del sys.modules[module.__name__]
    record = _recorder(([1], 0))
    cells = mutations.closures({"record": record})
    record.__closure__[0].cell_contents = ([2], 0)
    caller_list = [1]
    caller_record = _recorder((caller_list, 0))
    assert mutations.apply_cells({"record": caller_record}, mutations.changed_cells(cells)) == []
    assert caller_record.__closure__[0].cell_contents == ([2], 0) and caller_list == [1]


class _Keyed:
    """Equal by key only: a change of ``hits`` is not seen by ==."""
    def __init__(self, key):
        self.key, self.hits = key, 0

    def __eq__(self, other):
        return self.key == other.key

    def __hash__(self):
        return hash(self.key)


def test_a_value_that_changed_but_compares_equal_still_refuses_the_tuple():
    """A review found ``({Keyed("a")}, [])`` half updated: the set's object's hits lost, silently."""
    caller, new = ({_Keyed("a")}, []), ({_Keyed("a")}, [1])
    next(iter(new[0])).hits = 1
    assert mutations.apply({"t": caller}, {"t": new}) == ["t"] and caller[1] == []
    shaped = (np.zeros(1), [])
    assert mutations.apply({"t": shaped}, {"t": (np.zeros((1, 1)), [1])}) == ["t"] and shaped[1] == []


@pytest.mark.parametrize("nan", [float("nan"), np.float64("nan"), np.datetime64("NaT")])
def test_nan_beside_a_list_does_not_refuse_the_tuple(nan):
    import decimal
    for atom in (nan, decimal.Decimal("NaN")):
        items: list = []
        caller = (atom, items)
        copy = serialization.loads(serialization.dumps(atom))  # as it comes back: another object
        assert copy is not atom and mutations.apply({"t": caller}, {"t": (copy, [1])}) == []
        assert items == [1]


def test_a_tuple_replaced_in_a_list_by_one_holding_the_same_object_keeps_the_callers_object():
    """A review found ``rows[0] = (rows[0][0], "b")`` lost the caller's inner list: a tuple that
    cannot be updated whole is made anew, of the caller's objects where they can be updated."""
    from collections import namedtuple
    Row = namedtuple("Row", "items label")
    inner, other = [1], [2]
    rows = [(inner, "a"), Row(other, "a")]
    assert mutations.apply({"rows": rows}, {"rows": [([1, 5], "b"), Row([2, 6], "b")]}) == []
    assert rows == [([1, 5], "b"), Row([2, 6], "b")] and rows[0][0] is inner and rows[1].items is other
    assert type(rows[1]) is Row


class _Log:
    def __init__(self):
        self.lines = []

    def log(self, line):
        self.lines.append(line)


def _relu(x):
    return max(x, 0.0)


def test_code_and_tuples_of_atoms_beside_what_changed_do_not_refuse_the_tuple():
    """A user's trial found ``Layer(W=np.zeros(3), act=relu)`` refused (and warned): the function
    came back a copy, and ``(nan, 1) == (nan, 1)`` is False."""
    from collections import namedtuple
    Layer = namedtuple("Layer", "W act bounds")
    weights, lines = np.zeros(3), _Log()
    caller = Layer(weights, _relu, (float("nan"), 1.0))
    copy = serialization.loads(serialization.dumps(caller))
    copy.W[:] += 3.0
    assert mutations.apply({"layer": caller}, {"layer": copy}) == [] and weights.tolist() == [3.0, 3.0, 3.0]
    pair = (lines.log, [], lambda v: v + 1)
    copy = serialization.loads(serialization.dumps(pair))
    copy[0]("x")
    copy[1].append(1)
    assert mutations.apply({"pair": pair}, {"pair": copy}) == [] and pair[1] == [1] and lines.lines == ["x"]


def test_what_calls_change_through_partials_defaults_and_bound_methods_in_lists_is_the_callers():
    """The owned parts (``_owned_parts``): each came back as the worker's copies, or not at all
    (a user's trial and a review); the caller's objects are updated and keep their identity."""
    import functools

    from ufora.engine.block import Block, run_block
    from ufora.engine.runtime import InlineRunner
    from tests.user_programs.state_hunt import add_to, memo

    kept, log = [], []
    memo.__defaults__[0].clear()
    hooks, record = [kept.append], functools.partial(add_to, log)
    free = {"hooks": hooks, "record": record, "memo": memo}
    pickled, _, written = serialization.dumps_written(free)
    result = run_block(Block("with cluster:\n    hooks[0](5)\n    record(7)\n    y = memo(3)\n", "<block>", 1, pickled),
                       InlineRunner(processes=1))
    result.take_over()
    changed = variables_of(result, written)[mutations.MUTATED]
    assert {"hooks[0].__self__", "record.args[0]", "memo.__defaults__[0]"} <= set(changed["free"])
    assert mutations.apply(mutations.targets(free, changed["free"]), changed["free"], shallow=changed["moved"]) == []
    assert kept == [5] and hooks[0].__self__ is kept and log == [7] and record.args[0] is log
    assert record.func is add_to and memo.__defaults__[0] == {3: 9}
    hooks[0](6)
    record(8)
    assert kept == [5, 6] and log == [7, 8]
