"""CSV loads into a Spark workspace (core.data.spark.SparkWorkspace.ingest_csv).

Two paths, both returning the DuckDB loader's `IngestReport`:
- **A local file** (an upload, or a file in the server's import folder) is read by the workbench's own
  loader (core.data.csv_detect and core.data.ingest: detection, every bad row rejected and reported)
  into a staging Parquet file in a temporary folder, which Spark then reads and saves as the table
  (through Spark Connect the file's Arrow batches are sent to the cluster instead: it cannot see
  this server's disk).
  The rows, types, rejects and warnings are exactly what the DuckDB workspace reports for that file.
- **A folder or a lake URI** (s3a://, abfss://, hdfs://, a directory of part files) is read by Spark
  itself: header and delimiter as given (default: a header, a comma), types inferred by Spark on a
  sample (`sampling_ratio`, default 0.1) or given (`types={column: Spark SQL type}`), and PERMISSIVE mode with a corrupt-record column: a line whose values do not fit the
  inferred types is counted and listed as a reject, never loaded silently. Spark's reader cannot
  see lines with too few or too many fields (it pads or drops fields): the report says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from core.data.ingest import IngestReport
from core.errors import DataError

CORRUPT = "_mw_corrupt_record"
REJECTS_SHOWN = 1000
SAMPLING_RATIO = 0.1  # Spark's type inference on a folder or URI reads this share of the lines


def is_local_file(source: str) -> bool:
    """A path on this machine's disk to one file (not a folder, not a URI with a scheme)."""
    text = str(source)
    if "://" in text and not text.startswith("file://"):
        return False
    path = Path(text.removeprefix("file://"))
    return path.is_file()


def stage_local_csv(path: Path, table: str, mode: str, options: dict[str, Any],
                    folder: Path, *, progress: Any = None) -> tuple[IngestReport, Path]:
    """The workbench's loader on a local file, into `folder`/staged.parquet: (report, the Parquet file)."""
    from core.data.load_job import STAGED_FILE, stage_csv

    report, _ = stage_csv(path, folder, table, mode, options, allowed=[folder, path.parent.resolve()],
                          threads=max(1, min(2, os.cpu_count() or 1)), progress=progress)
    return report, folder / STAGED_FILE


def staged_frame(session: Any, staged: Path) -> Any:
    """The staging Parquet file as a Spark DataFrame: read by Spark from this machine's disk, or, through
    Spark Connect (whose cluster cannot see this server's folders), sent as Arrow record batches."""
    from core.data.spark import is_connect

    if is_connect(session):
        import pyarrow.parquet as pq

        return session.createDataFrame(pq.read_table(staged))
    return session.read.parquet(str(staged))


def read_with_spark(session: Any, source: str, options: dict[str, Any]) -> tuple[Any, int, pd.DataFrame, list[str]]:
    """(good rows as a Spark DataFrame, rejected lines, up to REJECTS_SHOWN of them, warnings)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DataType, StringType, StructField, StructType

    reader_options = {"header": str(bool(options.get("header", True))).lower(),
                      "sep": str(options.get("delimiter") or options.get("sep") or ","),
                      "encoding": str(options.get("encoding") or "UTF-8"),
                      "quote": str(options.get("quote") or '"'),
                      "escape": str(options.get("escape") or '"'),
                      "multiLine": "true"}
    if options.get("nullstr"):
        reader_options["nullValue"] = str(options["nullstr"])
    inferred = session.read.options(**reader_options).option("inferSchema", "true") \
        .option("samplingRatio", str(options.get("sampling_ratio", SAMPLING_RATIO))).csv(source).schema
    fields = list(inferred.fields)
    types = dict(options.get("types") or {})
    unknown = [c for c in types if c not in {f.name for f in fields}]
    if unknown:
        raise DataError(f"types names columns the file does not have: {', '.join(unknown)}.")
    for i, f in enumerate(fields):
        if f.name in types:
            try:
                fields[i] = StructField(f.name, DataType.fromDDL(str(types[f.name])), True)
            except Exception:  # noqa: BLE001 - Spark's parser raises its own exception types
                raise DataError(f"'{types[f.name]}' is not a Spark SQL type (e.g. bigint, double, date, "
                                "string, decimal(12,2)).") from None
    schema = StructType([*fields, StructField(CORRUPT, StringType(), True)])
    frame = session.read.options(**reader_options).schema(schema).option("mode", "PERMISSIVE") \
        .option("columnNameOfCorruptRecord", CORRUPT).csv(source).cache()
    bad = frame.filter(F.col(CORRUPT).isNotNull())
    rejected = int(bad.count())
    rejects = bad.select(F.col(CORRUPT).alias("raw_line")).limit(REJECTS_SHOWN).toPandas()
    good = frame.filter(F.col(CORRUPT).isNull()).drop(CORRUPT)
    warnings = ["Read by Spark: types were inferred from a sample of the lines; lines whose values do not fit "
                "them are rejected. Spark does not report lines with too few or too many fields (it fills "
                "missing fields with empty values and drops extra ones): check the row count."]
    return good, rejected, rejects, warnings


def ingest(ws: Any, source: str, target: str, mode: str, options: dict[str, Any], *,
           progress: Any = None) -> IngestReport:
    """Load `source` into the Spark workspace `ws` as `target` (its stored name, checked for `mode`
    by SparkWorkspace._target; see the module docstring)."""
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="mw-spark-load-"))
    try:
        if is_local_file(source):
            report, staged = stage_local_csv(Path(str(source).removeprefix("file://")), target, mode, options, folder,
                                             progress=progress)
            frame = staged_frame(ws.session, staged)
            rows, rejected, rejects, warnings = report.rows, report.rejected_rows, report.rejects, report.warnings
            detected = {**report.detected, "engine": "spark (read by the workbench's loader)"}
        else:
            frame, rejected, rejects, warnings = read_with_spark(ws.session, source, options)
            rows = int(frame.count())
            detected = {"engine": "spark", "header": options.get("header", True),
                        "delimiter": options.get("delimiter") or ","}
        columns = {f.name: f.dataType.simpleString().upper() for f in frame.schema.fields}
        ws._write(frame, target, mode)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = int(ws.session.table(ws._qualified(target)).count())
    return IngestReport(table=target, rows=int(rows), columns=columns, rejected_rows=int(rejected),
                        rejects=rejects, detected=detected, warnings=list(warnings), mode=mode, total_rows=total,
                        seconds=time.perf_counter() - started)
