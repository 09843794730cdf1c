"""engine.packed_scalars through engine.serialization: lists, tuples and dicts of numpy scalars
travel as typed arrays and come back as the same containers of the same scalar types, bits and
sharing; everything else pickles as before. Then end to end through pyfora.connect() and real
services: as free variables, arguments, results and remote objects, compared with the same code
run here."""
import struct
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

from ufora.engine import serialization


X87_PADDED = {np.dtype(np.longdouble), np.dtype(np.clongdouble)} if np.finfo(np.longdouble).nmant == 63 else set()


def bits(value):
    """A numpy scalar's bytes (its type apart; an x87 long double's 10, not its padding, which
    holds whatever was in memory); another value's repr."""
    if not isinstance(value, np.generic):
        return repr(value)
    raw = np.array([value]).tobytes()
    if value.dtype in X87_PADDED:
        step = len(raw) // (2 if value.dtype.kind == "c" else 1)
        return b"".join(raw[start:start + 10] for start in range(0, len(raw), step))
    return raw


def assert_same_items(got, expected):
    """Same length, and item by item the same type, dtype and bits (or equal, for Python objects)."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert type(a) is type(b), (a, b)
        if isinstance(b, np.generic):
            assert a.dtype == b.dtype and bits(a) == bits(b), (a, b)
        else:
            assert a == b or a is b


def packed(data: bytes) -> bool:
    return b"_Prelude" in data


def from_bits(kind, pattern: int):
    return np.frombuffer(np.array([pattern], dtype=f"u{np.dtype(kind).itemsize}").tobytes(), kind)[0]


EDGES = {
    "float64": [np.float64(-0.0), np.float64("inf"), from_bits(np.float64, 0x7FF0000000000001),
                from_bits(np.float64, 0xFFF8DEADBEEF0001), np.float64(5e-324)],
    "float32": [np.float32(-0.0), from_bits(np.float32, 0x7F800001), from_bits(np.float32, 0xFFC12345)],
    "float16": [np.float16(-0.0), from_bits(np.float16, 0x7C01), np.float16(65504)],
    "longdouble": [np.longdouble(1) / 3, np.longdouble("nan"), -np.longdouble(0)],
    "complex64": [np.complex64(complex(float("nan"), -0.0)), np.complex64(1 + 2j)],
    "complex128": [np.complex128(complex(-0.0, float("inf")))],
    "clongdouble": [np.clongdouble(1) / 3],
    "bool": [np.True_, np.False_],
    "int8": [np.int8(-128), np.int8(127)],
    "uint8": [np.uint8(255)],
    "int16": [np.int16(-32768)],
    "uint16": [np.uint16(65535)],
    "int32": [np.int32(-2**31)],
    "uint32": [np.uint32(2**32 - 1)],
    "int64": [np.int64(-2**63), np.int64(2**63 - 1)],
    "uint64": [np.uint64(2**64 - 1)],
    "longlong": [np.longlong(-7)],
    "ulonglong": [np.ulonglong(7)],
    "datetime64[D]": [np.datetime64("2020-02-29"), np.datetime64("NaT", "D")],
    "datetime64[ns]": [np.datetime64("2020-02-29T01:02:03.000000004")],
    "datetime64": [np.datetime64("NaT")],
    "timedelta64[s]": [np.timedelta64(-5, "s"), np.timedelta64("NaT", "s")],
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_a_list_of_one_numpy_type_comes_back_with_its_type_and_bits(name):
    values = (EDGES[name] * 40)[:100]
    data = serialization.dumps(values)
    got = serialization.loads(data)
    assert type(got) is list and packed(data)
    assert_same_items(got, values)
    if name == "datetime64":
        assert np.datetime_data(got[0].dtype)[0] == "generic"


def test_a_million_float64_take_eight_bytes_each():
    values = [np.float64(i) * 0.5 for i in range(10**6)]
    data = serialization.dumps(values)
    assert len(data) < 8.1e6  # one by one, each costs about 19 bytes
    got = serialization.loads(data)
    assert got == values and type(got[0]) is np.float64 and type(got[-1]) is np.float64


def test_mixed_types_each_come_back_as_their_own():
    row = [np.float64(1.5), np.float32(1.5), np.int64(3), 3, 2.5, np.bool_(True), True, None, "s",
           b"b", 1 + 2j, np.complex64(1j), np.datetime64("2020-01-01"), np.datetime64(7, "s"),
           np.timedelta64(1, "h"), np.float64(-0.0), from_bits(np.float64, 0x7FF0000000000001)]
    values = row * 5
    data = serialization.dumps(values)
    assert packed(data)
    assert_same_items(serialization.loads(data), values)


def test_tuples_and_dicts_stay_tuples_and_dicts():
    scalars = [np.float64(i) for i in range(50)]
    value = {"t": tuple(scalars), "by_name": {f"k{i}": x for i, x in enumerate(scalars)},
             "by_scalar": dict(zip(map(np.int32, range(50)), scalars))}
    data = serialization.dumps(value)
    got = serialization.loads(data)
    assert packed(data)
    assert type(got["t"]) is tuple and got["t"] == value["t"] and type(got["t"][0]) is np.float64
    for name in ("by_name", "by_scalar"):
        assert type(got[name]) is dict and list(got[name].items()) == list(value[name].items())
        assert_same_items(list(got[name]), list(value[name]))
        assert_same_items(list(got[name].values()), list(value[name].values()))


class Holder:
    def __init__(self, data):
        self.data = data


class Tagged(list):
    pass


class TaggedDict(dict):
    pass


def test_sharing_is_kept_wherever_the_container_is_held():
    xs = [np.float64(i) for i in range(100)]
    t = tuple(xs)
    value = {"xs": xs, "again": xs, "holder": Holder(xs), "nested": [[xs, t]], "t": t}
    got = serialization.loads(serialization.dumps(value))
    assert got["xs"] is got["again"] is got["holder"].data is got["nested"][0][0]
    assert got["t"] is got["nested"][0][1]
    got["xs"].append(np.float64(7))
    assert got["holder"].data[-1] == 7


def test_a_scalar_held_twice_comes_back_as_two_equal_objects():
    """numpy scalars are immutable: only ``is`` tells the difference (ordinary pickling keeps one)."""
    x = np.float64(0.1)
    got = serialization.loads(serialization.dumps([x] * 40))
    assert got[0] == got[1] and type(got[1]) is np.float64 and got[0] is not got[1]


def test_subclasses_and_lists_holding_other_objects_pickle_as_before():
    scalars = [np.float64(i) for i in range(40)]
    subclassed, tagged_dict = Tagged(scalars), TaggedDict(zip(range(40), scalars))
    subclassed.note = "kept"
    with_objects = [*scalars, Holder(1), [np.int64(1)]]
    looped = [*scalars]
    looped.append(looped)
    for value in (subclassed, tagged_dict, with_objects, looped, scalars[:31]):
        data = serialization.dumps(value)
        assert not packed(data)
        got = serialization.loads(data)
        assert type(got) is type(value) and type(got[0]) is np.float64
    assert got == scalars[:31]
    assert serialization.loads(serialization.dumps(subclassed)).note == "kept"
    got = serialization.loads(serialization.dumps(looped))
    assert got[-1] is got


def test_lists_of_rows_and_large_containers_are_found():
    rows = [[np.float32(i + j) for j in range(40)] for i in range(1000)]
    data = serialization.dumps({"rows": rows, "objects": Holder({"deep": (1, rows[5])})})
    got = serialization.loads(data)
    assert packed(data) and len(data) < 40 * 1000 * 6
    assert got["rows"] == rows and type(got["rows"][999][39]) is np.float32
    assert got["objects"].data["deep"][1] is got["rows"][5]


def test_values_with_nothing_to_pack_are_the_ordinary_pickle():
    for value in ([i * 0.5 for i in range(1000)], [{"a": i} for i in range(1000)], {"np": np, "f": bits},
                  np.arange(100.0), []):
        data = serialization.dumps(value)
        assert not packed(data)
    assert serialization.dumps([np.float64(1)] * 50) == serialization.dumps([np.float64(1)] * 50)


def test_out_of_band_buffers_read_only_as_remote_objects_are():
    values = [np.float64(i) for i in range(300_000)]
    data, buffers, _, _ = serialization.dumps_out_of_band({"v": values, "w": values}, 1 << 20)
    assert len(buffers) == 1
    read_only = [memoryview(bytes(buffer.raw())) for buffer in buffers]
    got = serialization.loads(data, buffers=read_only)
    assert got["v"] is got["w"] and got["v"] == values and type(got["v"][-1]) is np.float64


def test_a_fresh_interpreter_rebuilds_them():
    values = {"mix": [np.float32(2.5), np.int16(-3), 4, np.datetime64("2021-03-04", "D")] * 20,
              "t": tuple(np.uint8(i) for i in range(64))}
    echo = ("import sys; from ufora.engine import serialization as s; "
            "v = s.loads(sys.stdin.buffer.read()); sys.stdout.buffer.write(s.dumps(v))")
    done = subprocess.run([sys.executable, "-c", echo], input=serialization.dumps(values),
                          capture_output=True, timeout=60, check=True)
    got = serialization.loads(done.stdout)
    assert_same_items(got["mix"], values["mix"])
    assert type(got["t"]) is tuple
    assert_same_items(got["t"], values["t"])


# --- end to end ---------------------------------------------------------------------------------

def scalars(n: int) -> list:
    return [np.float64(i) * 0.5 for i in range(n)]


def mixed_list() -> list:
    return [np.float64(-0.0), np.float32(1.5), np.int64(3), 4, 4.5, np.bool_(False), None,
            np.datetime64("2020-01-01"), np.datetime64(5, "ms"), from_bits(np.float64, 0x7FF0000000000001)] * 10


def seen_by_a_block(xs, alias, mixed, holder):
    """What the block of the test below sees, and the changes it makes (run here too)."""
    kinds = sorted({type(x).__name__ for x in xs}), [type(x).__name__ for x in mixed[:10]]
    count, same, held = xs.count(xs[3]), alias is xs, holder.data is xs
    xs.append(np.float32(0.25))
    mixed[0] = np.int8(-1)
    return kinds, count, same, held, [bits(x) for x in mixed[:10]]


def test_free_variables_arrive_as_the_same_lists_and_changes_come_back(ufora):
    xs, mixed = scalars(200_000), mixed_list()
    here_xs, here_mixed = scalars(200_000), mixed_list()
    expected = seen_by_a_block(here_xs, here_xs, here_mixed, Holder(here_xs))
    alias, holder, before = xs, Holder(xs), id(xs)
    with ufora.remotely.downloadAll():
        kinds = sorted({type(x).__name__ for x in xs}), [type(x).__name__ for x in mixed[:10]]
        count, same, held = xs.count(xs[3]), alias is xs, holder.data is xs
        xs.append(np.float32(0.25))
        mixed[0] = np.int8(-1)
        mixed_bits = [bits(x) for x in mixed[:10]]
    assert (kinds, count, same, held, mixed_bits) == expected
    assert id(xs) == before and len(xs) == 200_001 and xs is holder.data
    assert_same_items(xs[-3:], here_xs[-3:])
    assert_same_items(mixed, here_mixed)


def test_results_arguments_and_remote_objects(ufora):
    array = np.arange(300_000, dtype=np.float32) / 7
    with ufora.remotely.downloadAll():
        values = list(array)
        pairs = tuple(zip(map(np.int32, range(1000)), array))
        table = {f"k{i}": x for i, x in enumerate(array[:1000])}
    assert type(values) is list and type(pairs) is tuple and type(table) is dict
    assert_same_items(values, list(array))
    assert pairs == tuple(zip(map(np.int32, range(1000)), array)) and type(pairs[5][1]) is np.float32
    assert_same_items(list(table.values()), list(array[:1000]))

    described = ufora.submit(lambda xs: (type(xs).__name__, type(xs[-1]).__name__, len(xs), sum(xs)),
                             values).result().toLocal().result()
    assert described == ("list", "float32", 300_000, sum(values))

    with ufora.remotely:  # 1.2 MB: kept in the worker's shared memory
        kept = list(array)
    with ufora.remotely.downloadAll():
        first = type(kept[0]).__name__, len(kept)
    assert first == ("float32", 300_000)
    assert_same_items(kept.toLocal().result(), values)


def test_a_class_or_function_pickled_by_name_does_not_make_the_next_one_go_by_name():
    made_here = {}
    exec("class Local:\n    pass\ndef local():\n    return 7\n", made_here)  # no module to import them from
    for importable, dynamic in [(OrderedDict, made_here["Local"]), (np.add.__class__, made_here["Local"]),
                                (subprocess.run, made_here["local"])]:
        serialization.dumps(importable)
        rebuilt = serialization.loads(serialization.dumps(dynamic))
        assert rebuilt.__name__ == dynamic.__name__
    assert serialization.loads(serialization.dumps(made_here["local"]))() == 7


def complex_bits(value: complex) -> bytes:
    return struct.pack("<dd", value.real, value.imag)


def test_python_complex_numbers_travel_as_an_array_and_come_back_with_their_bits():
    edges = [complex(-0.0, 0.0), complex(0.0, -0.0), complex(float("inf"), -float("inf")),
             complex(5e-324, -5e-324)]
    points = [complex(x / 100, y / 100) for x in range(-150, 50, 2) for y in range(-100, 100, 2)] + edges
    for value in (points, tuple(points), {i: c for i, c in enumerate(points)}, [*points, "a", 3, 2.5, None]):
        data = serialization.dumps(value)
        got = serialization.loads(data)
        assert packed(data) and type(got) is type(value)
        items = list(value.values()) if isinstance(value, dict) else list(value)
        back = list(got.values()) if isinstance(got, dict) else list(got)
        assert [type(c) for c in back] == [type(c) for c in items]
        assert [complex_bits(c) if type(c) is complex else c for c in back] == \
            [complex_bits(c) if type(c) is complex else c for c in items]


def test_complex_numbers_held_twice_or_with_a_nan_part_pickle_one_by_one():
    """Rebuilt one by one, they would no longer be found by identity: ``count``, ``index`` and
    ``in`` use it first, and a NaN equals only itself so."""
    nan_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8DEADBEEF0001))[0]
    shared = complex(float("nan"), 0.0)
    points = [complex(i, -i) for i in range(100)]
    for value in ([shared] * 40, [*points, points[3]], [*points, complex(nan_payload, 1.0)]):
        got = serialization.loads(serialization.dumps(value))
        assert got.count(got[-1]) == value.count(value[-1]) and got.index(got[-1]) == value.index(value[-1])
        assert complex_bits(got[-1]) == complex_bits(value[-1])
    # numpy scalars beside them are still packed
    mixed = [np.float64(i) for i in range(40)] + [shared, shared]
    data = serialization.dumps(mixed)
    got = serialization.loads(data)
    assert packed(data) and got[-1] is got[-2] and type(got[0]) is np.float64


def test_a_few_python_complex_numbers_pickle_one_by_one():
    data = serialization.dumps([1 + 2j] * 5 + ["x"] * 100)
    assert not packed(data) and serialization.loads(data) == [1 + 2j] * 5 + ["x"] * 100
