"""Segmentation speed: the whole recommended-k kmeans_segments vs one plain scikit-learn KMeans fit.

    python bench/segments.py [--rows 1000000] [--features 10] [--clusters 5] [--repeats 3]
    python bench/segments.py --blobs    # issue 11: make_blobs(1_000_000, 10, centers=6, cluster_std=2.0)
    python bench/segments.py --blobs --steps    # also: seconds per step, and KMeans on the sweep sample
                                                # with the default threads against one thread

Both run in this process on the same generated customers (planted clusters, skewed spend-like
columns). The baseline is `KMeans(n_clusters=<chosen k>, random_state=0).fit(X)` on the raw array;
the contender does everything the Segments page shows: preprocessing, the k = 2..10 sweep with
silhouette / Calinski-Harabasz / Davies-Bouldin, the final fit on all rows, stability resamples,
profiles, names, surrogate tree and the PCA map. Medians of `--repeats` runs are printed as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from core.segments import kmeans_segments  # noqa: E402


def make_customers(rows: int, features: int, clusters: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Planted clusters; half the features are log-normal (spend-like), half Gaussian."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, clusters, size=rows)
    centres = rng.normal(0, 3, size=(clusters, features))
    X = centres[truth] + rng.normal(0, 1, size=(rows, features))
    cols = {}
    for j in range(features):
        cols[f"f{j}"] = np.exp(X[:, j] / 2 + 3) if j % 2 == 0 else X[:, j]
    return pd.DataFrame(cols), truth


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def make_blobs_customers(rows: int = 1_000_000, features: int = 10, centers: int = 6,
                         seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Issue 11's auto-k data: make_blobs(1_000_000, 10, centers=6, cluster_std=2.0)."""
    X, truth = make_blobs(rows, features, centers=centers, cluster_std=2.0, random_state=seed)
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(features)]), truth


def compare(df: pd.DataFrame, truth: np.ndarray, repeats: int = 3, label: str = "") -> float:
    """kmeans_segments(k=None) vs one plain KMeans fit at the chosen k, median of `repeats`; prints, returns the ratio."""
    features = list(df.columns)
    X = df.to_numpy()
    print(f"{label or 'customers'}: {len(df):,} x {len(features)}, {len(set(truth))} planted clusters")
    whole, plain = [], []
    result = None
    for r in range(repeats):
        t, result = timed(lambda: kmeans_segments(df, features, random_state=0))
        whole.append(t)
        k = result.k
        t, _ = timed(lambda: KMeans(n_clusters=k, random_state=0).fit(X))
        plain.append(t)
        print(f"  run {r + 1}: kmeans_segments {whole[-1]:.2f} s (k = {k}), plain KMeans {plain[-1]:.2f} s")
    assert result is not None
    w, p = statistics.median(whole), statistics.median(plain)
    print(f"recommended k = {result.k} (planted {len(set(truth))}); ARI vs planted = "
          f"{adjusted_rand_score(truth, result.labels):.3f}; stability = {result.stability:.3f}")
    print(f"baseline plain KMeans fit at k = {result.k}: {p:.2f} s (median of {repeats})")
    print(f"kmeans_segments, whole recommended-k segmentation: {w:.2f} s = {w / p:.2f}x baseline "
          f"(target <= 3x and < 30 s: {'met' if w / p <= 3 and w < 30 else 'NOT met'})")
    return w / p


def step_times(df: pd.DataFrame) -> dict[str, float]:
    """Seconds per step of one kmeans_segments(k=None) run, from its progress messages (k sweep summed)."""
    times: dict[str, float] = {}
    last = [time.perf_counter(), "start"]

    def progress(share: float, message: str) -> None:
        now = time.perf_counter()
        step = "k sweep" if last[1].startswith("Trying k") else last[1].split(" on all")[0]
        times[step] = times.get(step, 0.0) + now - float(last[0])
        last[0], last[1] = now, message

    kmeans_segments(df, list(df.columns), random_state=0, progress=progress)
    return times


def sample_threads(df: pd.DataFrame, rows: int = 10_000) -> tuple[float, float]:
    """Seconds of KMeans(k = 3..10, n_init=2) on a `rows` sample: default native threads, then one thread."""
    from threadpoolctl import threadpool_limits

    X = df.sample(min(rows, len(df)), random_state=0).to_numpy()

    def sweep() -> float:
        start = time.perf_counter()
        for k in range(3, 11):
            KMeans(n_clusters=k, n_init=2, random_state=0).fit(X)
        return time.perf_counter() - start

    default = sweep()
    with threadpool_limits(limits=1):
        one = sweep()
    return default, one


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--clusters", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", action="store_true", help="also print seconds per step and the thread comparison")
    ap.add_argument("--blobs", action="store_true",
                    help="issue 11's data instead: make_blobs(rows, features, centers=6, cluster_std=2.0)")
    args = ap.parse_args()
    if args.blobs:
        df, truth = make_blobs_customers(args.rows, args.features)
        compare(df, truth, repeats=args.repeats,
                label=f"make_blobs({args.rows:_}, {args.features}, centers=6, cluster_std=2.0)")
    else:
        df, truth = make_customers(args.rows, args.features, args.clusters)
        compare(df, truth, repeats=args.repeats, label="planted clusters, half the features log-normal")
    if args.steps:
        print("seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in step_times(df).items() if k != "start"))
        default, one = sample_threads(df)
        print(f"KMeans k = 3..10 (n_init=2) on a 10,000-row sample: {default:.2f} s with the default threads, "
              f"{one:.2f} s on one thread")


if __name__ == "__main__":
    main()
