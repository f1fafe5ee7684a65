"""DuckDB against local Spark on the same core calls: `python bench/spark.py [--rows 1000000 10000000]`.

For each size, generated data is stored in both engines (a DuckDB workspace; a Spark database of
Parquet tables), then the same core functions run on each through Ibis, timed separately from the
Spark session's start:
  experiment  core.experiments.analyze(table, "variant", ["converted", "revenue"]) on one row per user
  features    core.segments.features.customer_features(transactions, ...) on purchase lines
              (one customer per 10 lines)
  kmeans      K-means segments of a customer table of the same size (4 spend-like features, 5 planted
              groups), k = 5: on DuckDB `kmeans_segments` on the whole table read to pandas; on Spark
              what the Segments page does for a large table, a seeded sample on the driver
              (core.data.driver, at most 500,000 rows) segmented with scikit-learn, then the final
              fit on every row with MLlib k-means|| and the assignments saved
              (core.segments.mllib.mllib_segments); run once (--repeat does not apply)
Each figure is the median of --repeat runs; the ratio is Spark's time over DuckDB's. Needs
requirements-spark.txt and Java 17 (`make test-spark` installs them); prints the reason and stops
when they are absent. On one machine DuckDB wins (no shuffle, no JVM, no task scheduling); Spark
is for tables that do not fit on one machine: see bench/README.md for the estimate at 1B rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def users(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "variant_a", "variant_b"], n)
    rate = np.where(variant == "control", 0.10, np.where(variant == "variant_a", 0.11, 0.12))
    converted = (rng.random(n) < rate).astype("int64")
    return pd.DataFrame({"user_id": np.arange(n, dtype="int64"), "variant": variant, "converted": converted,
                         "revenue": np.round(converted * rng.gamma(2.0, 30.0, n), 2)})


def lines(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    return pd.DataFrame({"customer_id": rng.integers(0, max(n // 10, 1), n, dtype="int64"),
                         "order_id": np.arange(n, dtype="int64"), "order_date": days,
                         "amount": np.round(rng.gamma(2.0, 25.0, n), 2),
                         "channel": rng.choice(["web", "app", "store"], n)})


def customers(n: int, seed: int = 2) -> pd.DataFrame:
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, 4, centers=5, cluster_std=1.5, random_state=seed)
    return pd.DataFrame(np.exp(X / 4) * 50, columns=["spend", "orders", "visits", "tenure"]).assign(
        customer_id=np.arange(n, dtype="int64"))


def kmeans_step(n: int, dws, sws) -> tuple[str, str, float, float]:  # type: ignore[no-untyped-def]
    """K-means segments on DuckDB (scikit-learn on the whole table) and on Spark (sample + MLlib)."""
    from sklearn.metrics import adjusted_rand_score

    from core.data.driver import driver_frame
    from core.segments import kmeans_segments
    from core.segments.mllib import mllib_segments

    feats = ["spend", "orders", "visits", "tenure"]
    t = time.perf_counter()
    frame = dws.read("customers")
    local = kmeans_segments(frame, feats, 5, id_column="customer_id")
    d = time.perf_counter() - t
    t = time.perf_counter()
    sample = driver_frame(sws, "customers")
    fitted = kmeans_segments(sample.frame, feats, 5, id_column="customer_id")
    on_spark = mllib_segments(sws, fitted, "customers", "customer_id", "customers_segments")
    s = time.perf_counter() - t
    check = 200_000  # agreement on the first customers: never all of a large table to the driver
    saved = (sws.session.table(f"`{sws.database}`.`customers_segments`").filter(f"customer_id < {check}")
             .toPandas().set_index("customer_id")["segment"])
    mine = pd.Series(local.labels, index=frame["customer_id"].to_numpy()).loc[saved.index]
    agree = adjusted_rand_score(mine.to_numpy(), saved.to_numpy())
    print(f"{n:>12,} rows  kmeans      DuckDB {d:7.2f} s   Spark {s:7.2f} s   Spark/DuckDB {s / d:5.1f}x   "
          f"(Spark: sample {sample.rows:,} rows, MLlib {on_spark.iterations} iterations; adjusted Rand index "
          f"against DuckDB's segments on {len(saved):,} customers {agree:.3f})", flush=True)
    return f"{n:,}", "kmeans", d, s


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=["experiment", "features", "kmeans"],
                    default=["experiment", "features", "kmeans"], help="the steps to time")
    args = ap.parse_args()
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("skipped: pyspark is not installed (pip install -r requirements-spark.txt; Java 17 needed)")
        return
    from core.data.spark import SparkWorkspace, spark_session
    from core.data.workspace import Workspace, close_all
    from core.experiments import analyze
    from core.segments.features import customer_features

    t = time.perf_counter()
    session = spark_session()
    print(f"Spark session start (local[2]): {time.perf_counter() - t:.1f} s (not in the figures below)")
    rows_out = []
    for n in args.rows:
        folder = Path(tempfile.mkdtemp(prefix="bench-spark-"))
        dws = Workspace(folder / "w.duckdb")
        sws = SparkWorkspace(session, database=f"bench_{n}")
        u, tx, cu = users(n), lines(n), customers(n)
        t = time.perf_counter()
        dws.save_frame(u, "users")
        dws.save_frame(tx, "lines")
        dws.save_frame(cu, "customers")
        d_load = time.perf_counter() - t
        t = time.perf_counter()
        for name, frame in (("users", u), ("lines", tx), ("customers", cu)):  # through Parquet, as a lake table
            path = folder / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            session.read.parquet(str(path)).write.mode("overwrite").format("parquet").saveAsTable(
                f"`{sws.database}`.`{name}`")
        s_load = time.perf_counter() - t
        del u, tx, cu
        checks = {
            "experiment": lambda ws: analyze(ws.table("users"), "variant", ["converted", "revenue"]),
            "features": lambda ws: customer_features(ws.table("lines"), "customer_id", "order_date", "amount",
                                                     order="order_id", channel="channel"),
        }
        for what, fn in checks.items():
            if what not in args.only:
                continue
            fn(dws), fn(sws)  # warm: first-query costs (Spark's code generation, DuckDB's catalog)
            d = timed(lambda: fn(dws), args.repeat)
            s = timed(lambda: fn(sws), args.repeat)
            rows_out.append((f"{n:,}", what, d, s))
            print(f"{n:>12,} rows  {what:<11} DuckDB {d:7.2f} s   Spark {s:7.2f} s   Spark/DuckDB {s / d:5.1f}x",
                  flush=True)
        if "kmeans" in args.only:
            rows_out.append(kmeans_step(n, dws, sws))
        print(f"{n:>12,} rows  store the tables: DuckDB {d_load:.1f} s, Spark {s_load:.1f} s (via Parquet)")
        session.sql(f"DROP DATABASE IF EXISTS `{sws.database}` CASCADE")
        close_all()
    print("\nrows          step         DuckDB s   Spark s   ratio")
    for n, what, d, s in rows_out:
        print(f"{n:<13} {what:<12} {d:8.2f} {s:9.2f} {s / d:7.1f}x")


if __name__ == "__main__":
    main()
