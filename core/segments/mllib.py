"""K-means on every row of a large Spark table with MLlib (k-means||), from a segmentation of a sample.

scikit-learn finds the segments on a sample brought to the driver (core.data.driver): it recommends
k with the sweep and learns the preprocessing (imputation, log, clipping, scaling). For a table over
MW_SPARK_MLLIB_ROWS rows (2,000,000 by default) the final fit then runs on the cluster:

1. every row is preprocessed with the sample's fitted pipeline (mapInPandas);
2. Spark ML's KMeans (k-means|| start, seeded) fits k centres on all rows;
3. the MLlib clusters are matched to the sample's segments (the pairing of centres with the least
   total distance, scipy's linear_sum_assignment), so segment numbers and names carry over;
4. k-means ends in a local optimum, so the within-segment sum of squares of every row is computed for
   MLlib's centres and for the sample's, and the lower one is kept (`used`);
5. each row is assigned to its nearest centre with its distance (mapInPandas again) and saved as
   customer, segment, segment_name, distance_to_centre (core.segments.segment_assignments' columns).

Below the threshold core.data.spark_apply.assign_segments_on_spark assigns every row to the
sample's centres instead: on a sample of hundreds of thousands the centres barely move.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd

from core.errors import DataError

MLLIB_ROWS_ENV = "MW_SPARK_MLLIB_ROWS"
DEFAULT_MLLIB_ROWS = 2_000_000
MAX_ITER = 30


@dataclass(frozen=True)
class MllibSegments:
    """The MLlib fit on every row: the saved table, its rows, customers per segment, and how the
    final centres compare with the sample's (`shift`: each segment's centre moved by this many
    scaled units, i.e. standard deviations of the features)."""

    table: str
    rows: int
    k: int
    sizes: pd.DataFrame  # segment, segment_name, customers
    shift: pd.Series  # per segment
    iterations: int
    cost: float  # within-segment sum of squared distances on every row, scaled units (of the centres used)
    centres: np.ndarray  # row s - 1 = segment s's centre, in the scaled inputs of the sample's pipeline
    used: str = "mllib"  # whose centres assign the rows: "mllib", or "sample" when those fit every row better
    mllib_cost: float = float("nan")
    sample_cost: float = float("nan")


def mllib_rows() -> int:
    """Tables with more rows than this get their final K-means fit from MLlib (MW_SPARK_MLLIB_ROWS)."""
    try:
        return max(1, int(os.environ.get(MLLIB_ROWS_ENV, DEFAULT_MLLIB_ROWS)))
    except ValueError:
        return DEFAULT_MLLIB_ROWS


def match_clusters(sample_centres: np.ndarray, mllib_centres: np.ndarray) -> np.ndarray:
    """For each MLlib cluster, the row of `sample_centres` it is paired with (least total distance)."""
    from scipy.optimize import linear_sum_assignment

    cost = np.linalg.norm(mllib_centres[:, None, :] - sample_centres[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    pairing = np.empty(len(mllib_centres), dtype=np.int64)
    pairing[rows] = cols
    return pairing


def total_cost(scaled: Any, centres: np.ndarray) -> float:
    """Within-segment sum of squared distances of every row (a Spark frame with an array column `x`) to
    its nearest centre: one pass on the cluster, one number per batch summed."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def batch_costs(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if len(pdf):
                X = np.vstack(pdf["x"].to_numpy())
                gaps = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
                yield pd.DataFrame({"cost": [float(gaps.min(axis=1).sum())]})

    schema = T.StructType([T.StructField("cost", T.DoubleType(), True)])
    total = scaled.mapInPandas(batch_costs, schema).agg(F.sum("cost").alias("cost")).collect()[0]["cost"]
    return float(total or 0.0)


def mllib_segments(ws: Any, result: Any, table: str, customer: str, out_table: str, *,
                   names: dict[int, str] | None = None, seed: int = 0, max_iter: int = MAX_ITER,
                   mode: str = "replace") -> MllibSegments:
    """Fit `result.k` segments on every row of the Spark table `table` with MLlib, starting from the
    preprocessing and the k of `result` (a SegmentResult of a sample), and save the assignments as
    `out_table` (see the module docstring)."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from core.data.spark_apply import _batch_frame, _frame, segment_source

    source, types, out_schema = segment_source(ws, result, table, customer, out_table)
    id_type = out_schema.fields[0].dataType

    def inputs(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if len(pdf):
                X = result._transform(_batch_frame(pdf, types))
                yield pd.DataFrame({customer: pdf[customer].to_numpy(), "x": list(X)})

    scaled_schema = T.StructType([T.StructField(customer, id_type, True),
                                  T.StructField("x", T.ArrayType(T.DoubleType(), False), True)])
    scaled = source.mapInPandas(inputs, scaled_schema).withColumn("features", array_to_vector("x")).persist()
    try:
        rows = int(scaled.count())
        if rows < result.k:
            raise DataError(f"`{table}` has {rows:,} rows, fewer than the {result.k} segments.")
        model = KMeans(k=int(result.k), initMode="k-means||", seed=int(seed), maxIter=int(max_iter),
                       featuresCol="features").fit(scaled.select("features"))
        mllib_centres = np.asarray(model.clusterCenters(), dtype="float64")
        iterations, mllib_cost = int(model.summary.numIter), float(model.summary.trainingCost)
        sample_centres = np.asarray(result._model.cluster_centers_, dtype="float64")
        sample_cost = total_cost(scaled.select("x"), sample_centres)
        pairing = match_clusters(sample_centres, mllib_centres)  # MLlib cluster -> the sample's (sklearn's) one
        shift = pd.Series(np.linalg.norm(mllib_centres - sample_centres[pairing], axis=1),
                          index=np.asarray(result._relabel, dtype="int64")[pairing], name="shift")
        # k-means ends in a local optimum: keep whichever centres fit every row better (lower cost)
        used = "mllib" if mllib_cost <= sample_cost else "sample"
        centres = mllib_centres if used == "mllib" else sample_centres
        segment_of = np.asarray(result._relabel, dtype="int64")[pairing if used == "mllib" else np.arange(len(centres))]
        cost = min(mllib_cost, sample_cost)
        all_names = {int(k): str(v) for k, v in {**result.names, **(names or {})}.items()}

        def assign(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for pdf in batches:
                if len(pdf):
                    X = np.vstack(pdf["x"].to_numpy())
                    gaps = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
                    nearest = gaps.argmin(axis=1)
                    segments = segment_of[nearest]
                    yield pd.DataFrame({customer: pdf[customer].to_numpy(), "segment": segments,
                                        "segment_name": [all_names.get(int(s), f"Segment {s}") for s in segments],
                                        "distance_to_centre": np.sqrt(gaps[np.arange(len(X)), nearest])})

        target = ws._target(out_table, mode)
        ws._write(scaled.select(customer, "x").mapInPandas(assign, out_schema), target, mode)
    finally:
        scaled.unpersist()
    sizes = (_frame(ws, target).groupBy("segment", "segment_name").agg(F.count(F.lit(1)).alias("customers"))
             .orderBy("segment").toPandas())
    ws.record("segments", table=target, rows=rows,
              detail=f"MLlib k-means|| on {table}: k = {result.k}, {iterations} iterations")
    by_segment = centres[np.argsort(segment_of)]
    return MllibSegments(table=target, rows=rows, k=int(result.k), sizes=sizes, shift=shift.sort_index(),
                         iterations=iterations, cost=cost, centres=by_segment, used=used, mllib_cost=mllib_cost,
                         sample_cost=sample_cost)
