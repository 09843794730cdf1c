"""What a partition gives back that came with its task is the driver's own object (engine.tasks:
``made_task``, ``outcome_bytes``, ``load_outcome``): a filter keeps the caller's records, a
2-D array's rows stay views of the caller's matrix; new objects stay new."""
import pickle

import numpy as np

from ufora.engine import reducers, serialization, tasks
from ufora.engine.sources import source_for


def _round_trip(items, element, condition=None):
    """The partial of one partition over all of ``items``, as the driver receives it."""
    source = source_for(items)
    reducer = reducers.COLLECTIONS["list"]
    with tasks.made_task(reducer, element, condition, None, source, (), None, False) as payload:
        outcome = tasks.run_partition(payload, 0, source.length)
        data = tasks.outcome_bytes(payload, outcome)
        status, partial, _, _ = tasks.load_outcome(payload, data)
    assert status == "ok" and partial[0] == "values"  # a list's CPython partial: its values
    return partial[1], data


def test_kept_items_are_the_callers_objects():
    records = [{"id": i, "v": i % 5} for i in range(1000)]
    kept, _ = _round_trip(records, lambda r: r, lambda r: r["v"] == 3)
    assert len(kept) == 200 and all(k is records[k["id"]] for k in kept)


def test_new_objects_equal_to_items_stay_new():
    records = [{"id": i} for i in range(100)]
    copies, _ = _round_trip(records, dict)
    assert copies == records and not any(c is r for c, r in zip(copies, records))


def test_items_inside_new_tuples_are_the_callers():
    records = [[i] for i in range(100)]
    pairs, _ = _round_trip(records, lambda r: (r, len(r)))
    assert all(pair[0] is record for pair, record in zip(pairs, records))


def test_an_outside_sentinel_is_one_object_with_the_items():
    skip = object()
    items = [skip if i % 3 == 0 else i for i in range(300)]
    kept, _ = _round_trip(items, lambda i: i, lambda i: i is not skip)
    assert kept == [i for i in range(300) if i % 3]


def test_rows_of_a_matrix_are_views_of_the_callers_matrix():
    matrix = np.arange(400.0).reshape(-1, 4)
    rows, _ = _round_trip(matrix, lambda r: r, lambda r: r[0] % 8 == 0)
    rows[1][2] = -1.0
    assert matrix[2, 2] == -1.0 and len(rows) == 50


def test_numbers_and_strings_pickle_as_usual():
    """No referring pickle (a Python call per object) for an outcome of atoms."""
    words, data = _round_trip(list(range(500)), str)
    assert words == [str(i) for i in range(500)]
    assert pickle.loads(data)[1] == ("values", words)  # no persistent ids in it
    assert data == serialization.dumps(("ok", ("values", words), False, False))


def test_new_records_of_numbers_pickle_as_usual():
    records = [{"id": i} for i in range(300)]
    pairs, data = _round_trip(records, lambda r: (r["id"], {"half": r["id"] / 2}))
    assert pairs[7] == (7, {"half": 3.5})
    assert data == serialization.dumps(("ok", ("values", pairs), False, False))


def test_a_record_that_came_with_the_task_is_referred_to():
    records = [{"id": i} for i in range(300)]
    kept, data = _round_trip(records, lambda r: r, lambda r: r["id"] % 100 == 0)
    assert [k is records[k["id"]] for k in kept] == [True, True, True]
    assert data != serialization.dumps(("ok", ("values", kept), False, False))


def test_tuples_of_numbers_pickle_as_usual_even_when_they_came_with_the_task():
    """A tuple cannot be changed: its identity is not worth a lookup among the task's objects."""
    pairs = [(i, "x") for i in range(300)]
    kept, data = _round_trip(pairs, lambda p: p, lambda p: p[0] % 100 == 0)
    assert kept == [(0, "x"), (100, "x"), (200, "x")]
    assert data == serialization.dumps(("ok", ("values", kept), False, False))


def test_new_lists_of_numbers_pickle_as_usual():
    """A parsed line's fields (pyfora.pandas_util's rows): new lists of atoms, no referring pickle."""
    lines = [f"{i},{i / 4}" for i in range(300)]
    rows, data = _round_trip(lines, lambda line: [float(field) for field in line.split(",")])
    assert rows[5] == [5.0, 1.25]
    assert data == serialization.dumps(("ok", ("values", rows), False, False))


def test_a_list_that_came_with_the_task_is_still_referred_to():
    rows = [[i, i * 2] for i in range(300)]
    kept, data = _round_trip(rows, lambda r: r, lambda r: r[0] % 100 == 0)
    assert [k is rows[k[0]] for k in kept] == [True, True, True]
    assert data != serialization.dumps(("ok", ("values", kept), False, False))
