"""What a data scientist writes around pandas: loops and comprehensions over a DataFrame's
columns, a Series of every numpy dtype, rows by itertuples, Series.map and read_csv inside a
block, and the original pyfora's ``pyfora.pandas_util.read_csv_from_string``. Run split too
(tests.test_user_programs' split services). A pandas value is compared by its parts: values,
dtype, index and name."""
import io

import numpy as np
import pandas as pd

import pyfora
from pyfora.pandas_util import read_csv_from_string

N = 60_000


def _series(s):
    return {"values": s.tolist(), "dtype": str(s.dtype), "index": s.index.tolist(), "name": s.name}


def _orders():
    rng = np.random.default_rng(17)
    return pd.DataFrame({"price": rng.uniform(1, 100, N).round(2), "qty": rng.integers(1, 20, N),
                         "city": rng.choice(["Oslo", "Lima", "Pune"], N), "rush": rng.random(N) < 0.1})


def prog_revenue_from_columns(ufora):
    orders = _orders()
    with ufora.remotely.downloadAll():
        revenue = [p * q for p, q in zip(orders["price"], orders["qty"])]
        total = sum(revenue)
        biggest = max(p * q for p, q in zip(orders["price"], orders["qty"]))
        rush_count = sum(1 for r in orders["rush"] if r)
    return {"revenue_head": revenue[:5], "total": total, "biggest": biggest, "rush_count": rush_count}


def prog_int32_column_squares_past_its_range(ufora):
    counts = pd.Series(np.arange(N, dtype=np.int32) * 7, name="counts")
    with ufora.remotely.downloadAll():
        squares = sum(c * c for c in counts)
        largest = max(counts)
        as_list = [c * 50_000 for c in counts]
    return {"squares": squares, "largest": largest, "tail": as_list[-3:], "type": type(as_list[0]).__name__}


def prog_float32_column_mean(ufora):
    temps = pd.Series(np.linspace(-20, 40, N, dtype=np.float32), name="celsius")
    with ufora.remotely.downloadAll():
        mean = sum(t for t in temps) / len(temps)
        fahrenheit = [t * 9 / 5 + 32 for t in temps]
        hottest = max(temps)
    return {"mean": mean, "fahrenheit_tail": fahrenheit[-2:], "hottest": hottest}


def prog_column_with_missing_values(ufora):
    readings = pd.Series([float(i % 97) if i % 13 else np.nan for i in range(N)])
    with ufora.remotely.downloadAll():
        total = sum(r for r in readings if r == r)
        missing = sum(1 for r in readings if r != r)
        highest = max(readings)  # CPython's answer depends on where the first NaN lies
    return {"total": total, "missing": missing, "highest": highest}


def prog_uint64_ids_past_int64(ufora):
    ids = pd.Series(np.array([2 ** 63 + i for i in range(N)], dtype=np.uint64))
    with ufora.remotely.downloadAll():
        total = sum(i % 1000 for i in ids)
        top = max(ids)
    return {"total": total, "top": top}


def prog_text_column_stays_text(ufora):
    orders = _orders()
    with ufora.remotely.downloadAll():
        oslo = sum(q for c, q in zip(orders["city"], orders["qty"]) if c == "Oslo")
        labels = [f"{c}:{q}" for c, q in zip(orders["city"], orders["qty"])]
    return {"oslo": oslo, "labels": labels[:4], "count": len(labels)}


def prog_rows_by_itertuples(ufora):
    orders = _orders().head(5_000)
    with ufora.remotely.downloadAll():
        totals = [row.price * row.qty for row in orders.itertuples()]
        first = next(orders.itertuples())
    return {"totals": totals[:3], "first": tuple(first), "fields": first._fields}


def prog_series_map_and_apply(ufora):
    orders = _orders().head(5_000)
    with ufora.remotely.downloadAll():
        rounded = orders["price"].map(lambda p: round(p))
        doubled = orders["qty"].apply(lambda q: q * 2.5)
        labelled = orders["city"].map(str.upper)
    return {"rounded": _series(rounded), "doubled": _series(doubled), "labelled": _series(labelled)}


def prog_read_csv_then_loop(ufora):
    text = "a,b\n" + "\n".join(f"{i},{i * 0.25}" for i in range(5_000))
    with ufora.remotely.downloadAll():
        frame = pd.read_csv(io.StringIO(text))
        weighted = sum(a * b for a, b in zip(frame["a"], frame["b"]))
    return {"weighted": weighted, "columns": list(frame.columns), "dtypes": [str(d) for d in frame.dtypes]}


def prog_index_labels_in_a_loop(ufora):
    prices = pd.Series(np.arange(N, dtype=np.float64) / 8, index=[f"sku{i}" for i in range(N)])
    with ufora.remotely.downloadAll():
        expensive = [label for label, price in prices.items() if price > N / 8 - 3]
        cheapest = min(prices)
    return {"expensive": expensive, "cheapest": cheapest}


def prog_read_csv_from_string_then_revenue(ufora):
    rng = np.random.default_rng(23)
    text = "price,qty\n" + "\n".join(f"{p!r},{q}" for p, q in zip(rng.uniform(1, 50, 30_000).tolist(),
                                                                   rng.integers(1, 9, 30_000).tolist()))
    with ufora.remotely.downloadAll():
        frame = pyfora.pandas_util.read_csv_from_string(text)
        revenue = sum(p * q for p, q in zip(frame["price"], frame["qty"]))
    return {"columns": frame.to_dict("list"), "dtypes": [str(d) for d in frame.dtypes], "revenue": revenue}


def prog_read_csv_from_string_with_a_bad_line(ufora):
    text = "a,b\n" + "\n".join(f"{i},{i / 4}" for i in range(20_000)) + "\n5,five\n"
    frame = None
    with ufora.remotely.downloadAll():
        try:
            frame = read_csv_from_string(text)
        except ValueError as error:
            problem = str(error)
    return {"frame": frame, "problem": problem}


def _band(price):
    return "cheap" if price < 20 else "mid" if price < 70 else "dear"


def prog_column_map_with_a_named_function(ufora):
    orders = _orders()
    with ufora.remotely.downloadAll():
        bands = orders["price"].map(_band)
        counts = bands.value_counts().to_dict()
        taxed = orders["price"].apply(lambda p: p * 1.2)
        flags = orders["qty"].map(lambda q: q > 10)
    return {"bands": _series(bands), "counts": counts, "taxed": _series(taxed), "flags": _series(flags)}
