"""Fitted models applied to every row of a Spark table, on the cluster.

A model or segmentation is fitted on the driver (scikit-learn, on a sample: core.data.driver); this
module ships the fitted object to the executors and applies it to each partition with
`mapInPandas`, so a table of any size is scored or assigned without coming to the app server. The
per-batch code is the same as on DuckDB (core.models.score_table, SegmentResult.predict/distance),
so the numbers are the same; only what needs the whole table is done by Spark itself:

- score deciles: cut points from Spark's quantile sketch (`approxQuantile`, relative error 1e-4);
  decile 1 = the highest scores, as core.models.evaluate.score_deciles (a row at a cut point can land
  in the neighbouring decile where pandas ranks ties by input order, which Spark does not have);
- the segment table of a score run is joined in Spark on the id.

The executors import `core` (the pickled model refers to its classes): `ship_core` adds a zip of the
package to the session once (addPyFile, or addArtifacts on Spark Connect). Executors need the same
Python libraries as the app server (requirements.txt).
"""

from __future__ import annotations

import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from core.errors import DataError

CORE = Path(__file__).resolve().parents[1]
RELATIVE_ERROR = 1e-4
_SHIPPED: set[int] = set()
_SHIP_LOCK = threading.Lock()


@dataclass(frozen=True)
class SparkScores:
    """A score run on Spark: the saved table, its rows, and customers / score range per decile."""

    table: str
    rows: int
    by_decile: pd.DataFrame  # decile, count, min, mean, max
    cut_points: list[float]


@dataclass(frozen=True)
class SparkAssignment:
    """Segments assigned to every row of a Spark table: the saved table, its rows, customers per segment."""

    table: str
    rows: int
    sizes: pd.DataFrame  # segment, segment_name, customers


def ship_core(session: Any) -> None:
    """Make `core` importable on the executors of `session` (once per session)."""
    with _SHIP_LOCK:
        if id(session) in _SHIPPED:
            return
        folder = Path(tempfile.mkdtemp(prefix="mw-spark-core-"))
        archive = folder / "core.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(CORE.rglob("*.py")):
                zf.write(path, path.relative_to(CORE.parent).as_posix())
        from core.data.spark import is_connect

        if is_connect(session):
            session.addArtifacts(str(archive), pyfile=True)
        else:
            session.sparkContext.addPyFile(str(archive))
        _SHIPPED.add(id(session))


def _spark_type(dtype: Any, name: str) -> Any:
    from pyspark.sql import types as T

    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return T.TimestampType()
    return T.StringType()


def _output_schema(example: pd.DataFrame, source: Any, kept: list[str]) -> Any:
    """The Spark schema of the per-batch output: kept source columns with their Spark types, the
    computed ones from the example batch's dtypes."""
    from pyspark.sql import types as T

    fields = {f.name: f for f in source.schema.fields}
    out = []
    for col in example.columns:
        if col in kept and col in fields:
            out.append(T.StructField(col, fields[col].dataType, True))
        else:
            out.append(T.StructField(col, _spark_type(example[col].dtype, col), True))
    return T.StructType(out)


def _conform(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Cast a batch's computed columns to the declared types (class labels may be numbers or text)."""
    from pyspark.sql import types as T

    for field in schema.fields:
        if isinstance(field.dataType, T.StringType) and field.name in frame.columns:
            col = frame[field.name]
            frame[field.name] = col.where(col.isna(), col.astype(str))
    return frame


def _refuse_overwrite(out_table: str, *inputs: str | None) -> None:
    """Spark reads the inputs while it writes the output: they must be different tables."""
    for name in inputs:
        if name and str(out_table).lower() == str(name).lower():
            raise DataError(f"The result cannot replace `{name}`, which it is computed from: choose another table "
                            "name (e.g. with _scores or _segments at the end).")


def _frame(ws: Any, table: str) -> Any:
    return ws.session.table(ws._qualified(ws._resolve(table)))


def _batch_frame(pdf: pd.DataFrame, source_types: dict[str, str]) -> pd.DataFrame:
    """A batch as the driver would have read it (dates as datetime64, as SparkWorkspace.read)."""
    for name, kind in source_types.items():
        if kind == "date" and name in pdf.columns:
            pdf[name] = pd.to_datetime(pdf[name])
    return pdf


def score_on_spark(ws: Any, model: Any, table: str, out_table: str, *, id_column: str | None = None,
                   carry: list[str] | None = None, segments: str | None = None, mode: str = "replace",
                   relative_error: float = RELATIVE_ERROR) -> SparkScores:
    """Score every row of the Spark table `table` with `model` (a core.models TrainedModel) and save
    the scores as `out_table`: the columns of core.models.score_table (id, carried columns,
    predicted_class / p_<class> or prediction, score, decile, and segment columns from `segments`)."""
    from pyspark.sql import functions as F

    from core.models.store import SEGMENT_COLUMNS, score_table

    ws.require("score")
    _refuse_overwrite(out_table, table, segments)
    source = _frame(ws, table)
    carry = [carry] if isinstance(carry, str) else list(dict.fromkeys(carry or []))
    needed = list(dict.fromkeys(([id_column] if id_column else []) + carry + list(model.features)))
    absent = [c for c in needed if c not in source.columns]
    if absent:
        raise DataError(f"`{table}` lacks column(s) the scoring needs: {', '.join(absent)}. Pick a table with the "
                        "training table's columns.")
    source = source.select(*needed)
    types = {f.name: f.dataType.simpleString() for f in source.schema.fields}
    example_rows = _batch_frame(source.limit(20).toPandas(), types)
    if example_rows.empty:
        raise DataError(f"`{table}` has no rows to score.")
    example = score_table(model, example_rows, id_column, None, carry=carry).drop(columns="decile")
    kept = ([id_column] if id_column else []) + carry
    schema = _output_schema(example, source, kept)
    ship_core(ws.session)

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if len(pdf):
                scored = score_table(model, _batch_frame(pdf, types), id_column, None, carry=carry)
                yield _conform(scored.drop(columns="decile"), schema)

    scored = source.mapInPandas(score_batches, schema).persist()
    try:
        probabilities = [1 - j / 10 for j in range(1, 10)]  # 0.9 .. 0.1: the top decile's cut first
        cuts = [float(c) for c in scored.approxQuantile("score", probabilities, float(relative_error))]
        decile = F.lit(1)
        for cut in cuts:  # decile 1 = above the 90% point, ..., 10 = at or below the 10% point
            decile = decile + (F.col("score") <= F.lit(cut)).cast("int")
        columns = [c for c in example.columns] + ["decile"]
        out = scored.withColumn("decile", decile.cast("long")).select(*columns)
        if segments:
            if not id_column:
                raise DataError("Adding segments needs the customer id column.")
            segs = _frame(ws, segments)
            keep = [c for c in SEGMENT_COLUMNS if c in segs.columns]
            if id_column not in segs.columns or not keep:
                raise DataError(f"`{segments}` has no '{id_column}' and segment columns to join.")
            out = out.join(segs.select(id_column, *keep).dropDuplicates([id_column]), on=id_column, how="left")
        target = ws._target(out_table, mode)
        ws._write(out, target, mode)
    finally:
        scored.unpersist()
    saved = _frame(ws, target)
    by_decile = (saved.groupBy("decile").agg(F.count(F.lit(1)).alias("count"), F.min("score").alias("min"),
                                              F.mean("score").alias("mean"), F.max("score").alias("max"))
                 .orderBy("decile").toPandas())
    rows = int(by_decile["count"].sum()) if len(by_decile) else 0
    ws.record("score", table=target, rows=rows, detail=f"on Spark from {table}")
    return SparkScores(table=target, rows=rows, by_decile=by_decile, cut_points=cuts)


def segment_source(ws: Any, result: Any, table: str, customer: str, out_table: str) -> tuple[Any, dict[str, str], Any]:
    """For saving a segmentation's assignments of every row of `table` as `out_table`: the role and
    overwrite checks, the Spark frame of the columns needed (customer and features; DataError naming
    any that are missing), their Spark types, and the output schema (customer, segment, segment_name,
    distance_to_centre); `core` shipped to the executors."""
    from pyspark.sql import types as T

    ws.require("save")
    _refuse_overwrite(out_table, table)
    source = _frame(ws, table)
    needed = list(dict.fromkeys([customer] + list(result.features) + list(result.categorical)))
    absent = [c for c in needed if c not in source.columns]
    if absent:
        raise DataError(f"`{table}` lacks column(s) the segments need: {', '.join(absent)}.")
    source = source.select(*needed)
    types = {f.name: f.dataType.simpleString() for f in source.schema.fields}
    id_type = next(f.dataType for f in source.schema.fields if f.name == customer)
    schema = T.StructType([T.StructField(customer, id_type, True), T.StructField("segment", T.LongType(), True),
                           T.StructField("segment_name", T.StringType(), True),
                           T.StructField("distance_to_centre", T.DoubleType(), True)])
    ship_core(ws.session)
    return source, types, schema


def assign_segments_on_spark(ws: Any, result: Any, table: str, customer: str, out_table: str, *,
                             names: dict[int, str] | None = None, mode: str = "replace") -> SparkAssignment:
    """Assign every row of the Spark table `table` to the nearest segment of `result` (a
    core.segments SegmentResult, fitted on a sample) and save customer, segment, segment_name and
    distance_to_centre as `out_table` (the columns of core.segments.segment_assignments)."""
    from pyspark.sql import functions as F

    source, types, schema = segment_source(ws, result, table, customer, out_table)
    all_names = {int(k): str(v) for k, v in {**result.names, **(names or {})}.items()}

    def assign_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if len(pdf):
                pdf = _batch_frame(pdf, types)
                labels = np.asarray(result.predict(pdf), dtype="int64")
                yield pd.DataFrame({customer: pdf[customer].to_numpy(), "segment": labels,
                                    "segment_name": [all_names.get(int(s), f"Segment {s}") for s in labels],
                                    "distance_to_centre": np.asarray(result.distance(pdf), dtype="float64")})

    target = ws._target(out_table, mode)
    ws._write(source.mapInPandas(assign_batches, schema), target, mode)
    sizes = (_frame(ws, target).groupBy("segment", "segment_name").agg(F.count(F.lit(1)).alias("customers"))
             .orderBy("segment").toPandas())
    rows = int(sizes["customers"].sum()) if len(sizes) else 0
    ws.record("segments", table=target, rows=rows, detail=f"assigned on Spark from {table}")
    return SparkAssignment(table=target, rows=rows, sizes=sizes)
