"""numpy as users write it: loops over the rows of 2-D arrays, element-wise Python over array
items, k-means steps (with numpy and with lists), vectorised code, data kept on the cluster
between two blocks, and pandas: loops over a DataFrame's columns, Series.map, and the original
pyfora's CSV reader."""
from __future__ import annotations

import math

import numpy as np

from perf.realistic.catalog import program


def table(n):
    """n rows of 4 float columns, as a CSV loaded with numpy would give."""
    rng = np.random.default_rng(11)
    return rng.normal(loc=[10.0, 0.0, 5.0, -2.0], scale=[2.0, 1.0, 3.0, 0.5], size=(n, 4))


def blobs(n):
    """n 2-D points around five centres."""
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 7.0], [-5.0, 4.0], [8.0, 8.0]])
    return centres[rng.integers(0, 5, size=n)] + rng.normal(scale=1.2, size=(n, 2))


@program(200_000, make=table)
def numpy_row_norms(ufora, data):
    with ufora.remotely.downloadAll():
        norms = []
        for row in data:
            norms.append(math.sqrt(row[0] ** 2 + row[1] ** 2 + row[2] ** 2 + row[3] ** 2))
        longest = max(norms)
        mean_norm = sum(norms) / len(norms)
    return longest, mean_norm


@program(100_000, make=table)
def numpy_row_methods(ufora, data):
    with ufora.remotely.downloadAll():
        ranges = [row.max() - row.min() for row in data]
        widest = max(ranges)
        positive_rows = sum(1 for row in data if (row > 0).all())
    return widest, positive_rows, ranges[:3]


@program(300_000, make=table)
def numpy_row_filter(ufora, data):
    with ufora.remotely.downloadAll():
        selected = [i for i, row in enumerate(data) if row[0] > 12 and row[2] < 4]
        scores = {i: float(data[i, 0] - data[i, 2]) for i in selected}
        best = max(scores, key=scores.get)
    return len(selected), best, scores[best]


@program(2_000_000, quick=400_000, make=lambda n: np.random.default_rng(3).random(n))
def numpy_elements_python(ufora, values):
    with ufora.remotely.downloadAll():
        above = sum(1 for v in values if v > 0.75)
        total = sum(v * v for v in values)
        peak = max(values)
    return above, total, peak


@program(300_000, make=blobs)
def kmeans_step_numpy(ufora, points):
    with ufora.remotely.downloadAll():
        centres = points[:5].copy()
        for step in range(10):
            distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            labels = distances.argmin(axis=1)
            centres = np.array([points[labels == k].mean(axis=0) for k in range(5)])
        inertia = float(((points - centres[labels]) ** 2).sum())
    return centres, inertia, np.bincount(labels, minlength=5)


def closest(point, centres):
    best, best_distance = 0, float("inf")
    for k, (cx, cy) in enumerate(centres):
        d = (point[0] - cx) ** 2 + (point[1] - cy) ** 2
        if d < best_distance:
            best, best_distance = k, d
    return best


@program(100_000, make=lambda n: [tuple(p) for p in blobs(n).tolist()])
def kmeans_step_lists(ufora, points):
    with ufora.remotely.downloadAll():
        centres = [(1.0, 1.0), (5.0, 0.0), (1.0, 6.0), (-4.0, 3.0), (7.0, 7.0)]
        for step in range(3):
            labels = [closest(p, centres) for p in points]
            new_centres = []
            for k in range(len(centres)):
                members = [p for p, label in zip(points, labels) if label == k]
                new_centres.append((sum(p[0] for p in members) / len(members),
                                    sum(p[1] for p in members) / len(members)))
            centres = new_centres
    return centres, labels[:10]


@program(1500, quick=600)
def numpy_vectorised_stats(ufora, n):
    with ufora.remotely.downloadAll():
        rng = np.random.default_rng(42)
        a = rng.normal(size=(n, n))
        b = a @ a.T
        eigen_max = float(np.linalg.eigvalsh(b[:300, :300]).max())
        column_means = a.mean(axis=0)
        z = (a - column_means) / a.std(axis=0)
        extremes = int((np.abs(z) > 3).sum())
    return eigen_max, extremes, float(np.trace(b))


@program(300, quick=120)
def heat_diffusion(ufora, n):
    with ufora.remotely.downloadAll():
        grid = np.zeros((n, n))
        grid[n // 2 - 5:n // 2 + 5, n // 2 - 5:n // 2 + 5] = 100.0
        for step in range(500):
            grid[1:-1, 1:-1] = grid[1:-1, 1:-1] + 0.2 * (
                grid[2:, 1:-1] + grid[:-2, 1:-1] + grid[1:-1, 2:] + grid[1:-1, :-2] - 4 * grid[1:-1, 1:-1])
        heat = float(grid.sum())
        hottest = float(grid.max())
    return heat, hottest


@program(400, quick=160, make=lambda n: np.random.default_rng(8).integers(0, 256, size=(n, n)).astype(np.uint8))
def image_blur_loops(ufora, image):
    with ufora.remotely.downloadAll():
        h, w = image.shape
        blurred = np.zeros((h, w))
        for i in range(1, h - 1):
            for j in range(1, w - 1):
                blurred[i, j] = image[i - 1:i + 2, j - 1:j + 2].mean()
        bright = int((blurred > 128).sum())
    return bright, float(blurred[h // 2, w // 2])


@program(1_000_000, make=table)
def keep_on_cluster_then_summarise(ufora, data):
    with ufora.remotely:
        centred = data - data.mean(axis=0)
        weights = np.exp(-np.abs(centred[:, 1]))
    with ufora.remotely.downloadAll():
        weighted_mean = float((centred[:, 0] * weights).sum() / weights.sum())
        heavy = sum(1 for w in weights if w > 0.9)
    return weighted_mean, heavy


def orders_frame(n):
    """n orders as a pandas DataFrame: a price and a quantity column."""
    import pandas as pd

    rng = np.random.default_rng(29)
    return pd.DataFrame({"price": rng.uniform(1, 100, n).round(2), "qty": rng.integers(1, 20, n)})


def _discounted(price):
    if price > 80:
        return price * 0.85
    if price > 40:
        return price * 0.95
    return price


@program(1_000_000, make=orders_frame)
def pandas_column_loops(ufora, orders):
    with ufora.remotely.downloadAll():
        revenue = sum(p * q for p, q in zip(orders["price"], orders["qty"]))
        big = sum(1 for p, q in zip(orders["price"], orders["qty"]) if p * q > 1000)
    return revenue, big


@program(2_000_000, make=orders_frame)
def pandas_series_map(ufora, orders):
    with ufora.remotely.downloadAll():
        discounted = orders["price"].map(_discounted)
        total = discounted.sum()
    return total, discounted.iloc[-3:].tolist()


def csv_text(n):
    """A CSV of n lines of three float columns, as the original pyfora's reader takes it."""
    rng = np.random.default_rng(31)
    return "x,y,z\n" + "\n".join(f"{x!r},{y!r},{z!r}" for x, y, z in rng.normal(size=(n, 3)).tolist())


@program(150_000, make=csv_text)
def pyfora_read_csv_from_string(ufora, text):
    import pyfora

    with ufora.remotely.downloadAll():
        frame = pyfora.pandas_util.read_csv_from_string(text)
        means = [frame[column].mean() for column in frame.columns]
    return means, frame.shape
