"""k-means / nearest-centroid steps, with numpy and with plain lists."""
import math

import numpy as np

N = 40_000


def make_points(n, seed=5):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
    return centres[np.arange(n) % 3] + rng.normal(size=(n, 2))


def nearest(p, centroids):
    best, best_d = 0, math.inf
    for i, (cx, cy) in enumerate(centroids):
        d = (p[0] - cx) ** 2 + (p[1] - cy) ** 2
        if d < best_d:
            best, best_d = i, d
    return best


def prog_numpy_rows_argmin_labels(ufora):
    points = make_points(N)
    centroids = np.array([[1.0, 1.0], [4.0, 4.0], [-1.0, 5.0]])
    with ufora.remotely.downloadAll():
        labels = [int(np.argmin(((centroids - p) ** 2).sum(axis=1))) for p in points]
        new_centroids = np.array([points[np.array(labels) == k].mean(axis=0) for k in range(3)])
    return {"counts": [labels.count(k) for k in range(3)], "labels_head": labels[:20],
            "new_centroids": new_centroids}


def prog_list_points_nearest_function(ufora):
    points = [tuple(p) for p in make_points(N).tolist()]
    centroids = [(1.0, 1.0), (4.0, 4.0), (-1.0, 5.0)]
    with ufora.remotely.downloadAll():
        labels = [nearest(p, centroids) for p in points]
        sums = [(sum(p[0] for p, l in zip(points, labels) if l == k),
                 sum(p[1] for p, l in zip(points, labels) if l == k)) for k in range(3)]
    return {"labels_tail": labels[-20:], "sums": sums, "n0": labels.count(0)}


def prog_one_d_inertia(ufora):
    xs = [((i * 7919) % 10_007) / 100.0 for i in range(N)]
    centres = [10.0, 45.5, 80.25]
    with ufora.remotely.downloadAll():
        inertia = sum(min((x - c) ** 2 for c in centres) for x in xs)
    return {"inertia": inertia}


def prog_numpy_distances_elements(ufora):
    points = make_points(N, seed=9)
    c0 = np.array([0.5, 0.5])
    with ufora.remotely.downloadAll():
        dists = [np.sqrt(((p - c0) ** 2).sum()) for p in points]
        closest = min(range(len(dists)), key=lambda i: dists[i])
    return {"head": dists[:10], "types": sorted({type(d).__name__ for d in dists}), "closest": closest}


def prog_three_lloyd_iterations(ufora):
    points = make_points(N, seed=1)
    xs, ys = points[:, 0].tolist(), points[:, 1].tolist()
    with ufora.remotely.downloadAll():
        cents = [(0.0, 1.0), (3.0, 3.0), (1.0, 5.0)]
        for iteration in range(3):
            labels = [nearest((x, y), cents) for x, y in zip(xs, ys)]
            cents = []
            for k in range(3):
                members = [i for i, l in enumerate(labels) if l == k]
                cents.append((sum(xs[i] for i in members) / len(members),
                              sum(ys[i] for i in members) / len(members)))
    return {"cents": cents, "labels_head": labels[:30]}


def prog_closest_to_target_ties(ufora):
    xs = [(i % 200) * 0.5 for i in range(N)]
    target = 37.25
    with ufora.remotely.downloadAll():
        closest = min(range(N), key=lambda i: abs(xs[i] - target))
        farthest_value = max(xs, key=lambda v: abs(v - target))
    return {"closest": closest, "farthest_value": farthest_value}
