"""A pandas Series of numbers is a source the engine splits (``engine.sources``): its items are
what iterating it yields in CPython (Python ints, floats and bools), in CPython partitions and
compiled ones alike; any other Series runs serially. Each snippet runs as plain CPython and as a
block through the engine (tests.test_shapes' harness)."""
import pandas as pd
import numpy as np
import pytest

from ufora.engine.sources import source_for
from tests.test_shapes import assert_cpythons, cpython, engine

N = 50_000
# Rows for the snippets that make a pandas object per row or value (a Series returned, iterrows'
# rows): 0.3-0.8 ms each in pandas, twice (CPython's run and the engine's), where 5,000 rows split
# as 50,000 do
FEW = 5_000

SPLIT = [
    f"s = pd.Series(np.arange({N}, dtype=np.int32) * 3)\nresult = sum(x * x for x in s)",
    f"s = pd.Series(np.arange({N}, dtype=np.int64))\nresult = [x * 0.5 for x in s if x % 7 == 0]",
    f"s = pd.Series(np.linspace(0, 1, {N}, dtype=np.float32))\nresult = [x * 3 for x in s]",
    f"s = pd.Series(np.arange({N}) % 5 == 0)\nresult = sum(1 for b in s if b)",
    f"df = pd.DataFrame({{'a': np.arange({N}), 'b': np.arange({N}) * 0.25}})\n"
    "result = sum(a * b for a, b in zip(df['a'], df['b']))",
    f"s = pd.Series(np.arange({N}, dtype=np.uint8))\nresult = max(x * 1000 for x in s)",
    f"s = pd.Series([float(i) if i % 11 else float('nan') for i in range({N})])\nresult = max(x for x in s)",
    f"s = pd.Series(np.arange({N}, dtype=np.int64))\nresult = [i * x for i, x in enumerate(s)][-3:]",
]

# Series.map and Series.apply of a plain function: the function's values as a split comprehension,
# the result pandas' own (dtype, index, name; a DataFrame of Series values)
MAPPED = [
    f"s = pd.Series(np.arange({N}) * 0.5, name='half')\nr = s.map(lambda v: round(v))\n"
    "result = (str(r.dtype), r.name, r.index.tolist()[-2:], r.tolist()[-3:])",
    f"s = pd.Series(np.arange({N}), index=np.arange({N}) * 2)\nr = s.apply(lambda v: 'n%d' % v)\n"
    "result = (str(r.dtype), r.index[-1], r.tolist()[-2:])",
    f"s = pd.Series(np.arange({N}) % 7 == 0)\nr = s.map(lambda b: 1.5 if b else None)\n"
    "result = (str(r.dtype), r.tolist()[:8])",
    f"s = pd.Series(np.arange({FEW}))\nr = s.apply(lambda v: pd.Series([v, v * 2]))\n"
    "result = (type(r).__name__, r.shape, r.iloc[-1].tolist())",
    f"s = pd.Series(np.arange({N}))\nr = s.map(lambda v: 1 / (v - {N - 50}))",
    # compiled partitions' values of one number type: the array pandas would make of them
    f"s = pd.Series(np.arange({N}) * 0.5, name='half')\nr = s.map(lambda v: v * 3.0)\n"
    "result = (str(r.dtype), r.name, r.tolist()[-3:], r.index[-1])",
    f"s = pd.Series(np.arange({N}), index=np.arange({N}) + 7)\nr = s.apply(lambda v: v * 2)\n"
    "result = (str(r.dtype), r.name, r.tolist()[-3:], r.index[-1])",
    f"s = pd.Series(np.arange({N}) * 0.25)\nr = s.map(lambda v: v > 3)\nresult = (str(r.dtype), r.tolist()[10:15])",
    # CPython partitions' Python values of one type (text made on the way: no kernel): the array
    # pandas infers from them, without pandas calling a function per value again
    f"s = pd.Series(np.arange({N}) * 0.5, name='h', index=np.arange({N}) + 3)\nr = s.map(lambda v: float(str(v)[:4]))\n"
    "result = (str(r.dtype), r.name, r.index[-1], r.tolist()[-3:], r.attrs)",
    f"s = pd.Series(np.arange({N}))\nr = s.apply(lambda v: int(str(v)[::-1]))\nresult = (str(r.dtype), r.tolist()[-3:])",
    f"s = pd.Series(np.arange({N}))\nr = s.map(lambda v: str(v).endswith('5'))\nresult = (str(r.dtype), r.tolist()[:6])",
    f"s = pd.Series(np.arange({N}))\nr = s.map(lambda v: int(str(v)) * 2 ** 70)\nresult = (str(r.dtype), r.tolist()[-1])",
    f"s = pd.Series(np.arange({N}))\nr = s.map(lambda v: int(str(v)) + 2 ** 63)\nresult = (str(r.dtype), r.tolist()[-1])",
    f"s = pd.Series(np.arange({N}))\nr = s.map(lambda v: int(str(v)) if v % 2 else float(v))\n"
    "result = (str(r.dtype), r.tolist()[-4:])",
    f"s = pd.Series(np.arange({N}))\nr = s.map(lambda v: float(str(v)) if v % 9 else float('nan'))\n"
    "result = (str(r.dtype), r.isna().sum(), r.tolist()[:3])",
]

SERIAL = [
    f"s = pd.Series(np.array(['w%d' % i for i in range({N})]))\nresult = [w.upper() for w in s][-2:]",
    f"s = pd.Series(np.arange({N}), dtype='Int64')\nresult = sum(x for x in s)",
    f"s = pd.Series(pd.date_range('2024-01-01', periods={N}, freq='min'))\nresult = max(t.hour for t in s)",
]


def _with_pandas(code: str) -> str:
    return "import pandas as pd\n" + code


def _cpythons_reports(code: str) -> list:
    """The engine's reports for ``code``, having checked that it gives CPython's result exactly."""
    expected = cpython(_with_pandas(code))
    got, reports = engine(_with_pandas(code))
    assert_cpythons(got, expected, reports, exact=True)
    return reports


@pytest.mark.parametrize("code", SPLIT)
def test_a_numeric_series_splits_and_gives_cpythons_result(code):
    expected = cpython(_with_pandas(code))
    got, reports = engine(_with_pandas(code))
    assert_cpythons(got, expected, reports, exact=True)
    assert any(r.parallel for r in reports) or any(r.reason.endswith("added in order") for r in reports), reports


@pytest.mark.parametrize("code", MAPPED)
def test_series_map_and_apply_of_a_function_split_with_pandas_result(code):
    expected = cpython(_with_pandas(code))
    got, reports = engine(_with_pandas(code))
    assert_cpythons(got, expected, reports, exact=True)
    assert got[0] == "error" or any(r.parallel for r in reports), reports


@pytest.mark.parametrize("code", [
    "class Box:\n    def map(self, f):\n        return f(3)\nresult = Box().map(lambda v: v + 1)",
    "calls = []\ndef make():\n    calls.append(1)\n    return abs\ntry:\n    (5).map(make())\n"
    "except AttributeError as error:\n    result = (str(error), calls)",
    f"s = pd.Series(np.arange({N}))\nresult = s.map({{1: 'one'}}).tolist()[:3]",
    f"s = pd.Series(['a%d' % i for i in range({N})])\nresult = s.map(str.upper).tolist()[-1]",
])
def test_other_map_and_apply_calls_run_as_written(code):
    """Another object's ``map``, a dict or builtin given, a Series of text: as written, the
    argument evaluated after the method (an object without one raises before it is)."""
    expected = cpython(_with_pandas(code))
    got, reports = engine(_with_pandas(code))
    assert_cpythons(got, expected, reports, exact=True)


@pytest.mark.parametrize("code", SERIAL)
def test_another_series_runs_serially_with_cpythons_result(code):
    expected = cpython(_with_pandas(code))
    got, reports = engine(_with_pandas(code))
    assert_cpythons(got, expected, reports, exact=True)
    assert not any(r.parallel for r in reports if "Series" in r.source), reports
    assert any(r.reason == "Series is not a source the engine splits" for r in reports), reports


@pytest.mark.parametrize("series", [
    pd.Series([1, -2, 3], dtype=np.int16), pd.Series([2 ** 63 + 1, 5], dtype=np.uint64),
    pd.Series([0.1, np.nan], dtype=np.float32), pd.Series([True, False]), pd.Series([], dtype=np.float64),
], ids=["int16", "uint64-past-int64", "float32", "bool", "empty"])
def test_a_series_items_are_what_iterating_it_yields(series):
    source = source_for(series)
    items = list(source.items(0, source.length))
    assert repr(items) == repr(list(series)) and [type(i) for i in items] == [type(i) for i in series]


def test_a_series_subclass_is_not_split():
    class Tagged(pd.Series):
        pass

    assert source_for(Tagged([1, 2, 3])) is None


def frame(rows: int) -> str:
    return (f"df = pd.DataFrame({{'a': np.arange({rows}), 'b': np.arange({rows}) * 0.5}}, "
            f"index=np.arange({rows}) * 3)\n")


# df.apply(f, axis=1) of a plain function: f of every row (a Series as pandas makes it: the
# frame's common dtype, the columns as its index, the row's label as iterating the index gives
# it) as a split comprehension, then pandas' own result from those values
FRAME = frame(N)
ROWS = [
    FRAME + "r = df.apply(lambda row: row['a'] * row['b'] + row.name, axis=1)\n"
            "result = (str(r.dtype), r.index[-1], r.tolist()[-3:])",
    FRAME + "r = df.apply(lambda row: (row.name, type(row.name).__name__, row.dtype.name, list(row.index),"
            " type(row['a']).__name__), axis='columns')\nresult = r.tolist()[-2:]",
    frame(FEW) + "r = df.apply(lambda row: pd.Series({'s': row['a'] + row['b'], 'd': row['a'] - row['b']}), axis=1)\n"
            "result = (type(r).__name__, r.shape, list(r.columns), r.iloc[-1].tolist(), str(r.dtypes.tolist()))",
    FRAME + "r = df.apply(lambda row: 1 / (row['a'] - 40000), axis=1)",
    f"df = pd.DataFrame({{'w': np.arange({N}, dtype=np.int32), 'v': np.arange({N}) * 0.5}})\n"
    "r = df.apply(lambda row: str(row['w']) + ':' + repr(row['v']), axis=1)\nresult = (str(r.dtype), r.tolist()[-2:])",
    f"df = pd.DataFrame({{'a': np.arange({N}) * 1.5}}, index=pd.date_range('2024-01-01', periods={N}, freq='min'))\n"
    "r = df.apply(lambda row: (row.name.hour, row['a']), axis=1)\nresult = (r.index[-1], r.tolist()[-2:])",
]
ROWS_AS_WRITTEN = [  # pandas hands every row in one Series it changes: a function that keeps its row sees that
    # a frame whose rows pandas takes from an object array of Python values (found by a review: a
    # row made otherwise held numpy's, and row['v'] ** 7 wrapped in int64)
    f"df = pd.DataFrame({{'w': ['x'] * {N}, 'v': np.arange({N})}})\n"
    "r = df.apply(lambda row: row['v'] ** 7, axis=1)\nresult = (str(r.dtype), r.tolist()[-2:])",
    f"df = pd.DataFrame({{'b': np.arange({N}) % 2 == 0, 'v': np.arange({N})}})\n"
    "r = df.apply(lambda row: (type(row['v']).__name__, type(row['b']).__name__), axis=1)\nresult = r.tolist()[-1]",
    FRAME + "seen = []\nr = df.apply(lambda row: seen.append(row) or row['a'], axis=1)\n"
            "result = (len(seen), seen[0] is seen[-1], r.tolist()[-2:])",
    FRAME + "r = df.apply(lambda row: row['a'], axis=0)\nresult = r.tolist()[:3]",
    FRAME + "r = df.apply(lambda row: row.sum(), axis=1, raw=True)\nresult = r.tolist()[-2:]",
    FRAME + "name = 'Dyn'\nresult = [t.a for t in df.itertuples(name=name)][-2:]",
    frame(FEW) + "seen = []\nr = [seen.append(row) or row['a'] for _, row in df.iterrows()]\n"
                 "result = (len(seen), r[-1])",
    FRAME + "result = [t for t in df.itertuples(index='no')][:1]",
]


# iterating df.itertuples(...) of constant arguments, or df.iterrows(), in a shape: split, each
# partition making its rows as pandas does (the namedtuple class made once; plain tuples for
# name=None; (label, Series) pairs)
ITERATED = [
    FRAME + "result = sum(row.a * row.b for row in df.itertuples())",
    FRAME + "r = [(t.Index, t.a, type(t).__name__, t._fields) for t in df.itertuples()]\nresult = r[-2:]",
    FRAME + "result = [t for t in df.itertuples(index=False, name=None) if t[0] % 1000 == 0][-2:]",
    FRAME + "r = [t for t in df.itertuples(False, 'Row')]\nresult = (type(r[0]).__name__, r[0]._fields, r[-1])",
    # the class's module as pandas' (a user's trial: ufora.engine.sources, in its repr and pickle errors)
    FRAME + "r = [(type(t).__module__, repr(type(t))) for t in df.itertuples()]\nresult = r[-1]",
    f"df = pd.DataFrame({{'my col': np.arange({N}), 'class': np.arange({N}) * 2.0, 'w': ['x'] * {N}}})\n"
    "result = [t for t in df.itertuples() if t.Index % 9999 == 0]",
    frame(FEW) + "result = sum(row['a'] * 2 + row['b'] for _, row in df.iterrows())",
    frame(FEW) + "r = [(label, row.name, row.dtype.name, list(row.index)) for label, row in df.iterrows()]\n"
                 "result = r[-2:]",
]


@pytest.mark.parametrize("code,sources", [(code, ("rows(",)) for code in ROWS]
                         + [(code, ("itertuples(", "iterrows(")) for code in ITERATED])
def test_a_frames_rows_split_with_pandas_result(code, sources):
    reports = _cpythons_reports(code)
    assert any((r.parallel or r.reason.endswith("added in order")) and r.source.startswith(sources)
               for r in reports), reports


@pytest.mark.parametrize("code", ROWS_AS_WRITTEN)
def test_frame_rows_a_function_keeps_or_other_calls_run_as_written(code):
    """A frame pandas makes an object array of, a function that keeps its row, another axis or
    argument, an itertuples name not constant, or not pandas' arguments: as written."""
    reports = _cpythons_reports(code)
    assert not any(r.parallel for r in reports), reports
