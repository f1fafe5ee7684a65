"""Load a planned CSV into a staging table, convert columns, collect rejects, then swap atomically.

A load never touches existing tables until the very end, where one transaction renames the
staging table into place (or appends it). A failure anywhere before that leaves the workspace
exactly as it was.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb
import pandas as pd

from core.data.csv_detect import CsvPlan, _duckdb_message
from core.errors import DataError
from core.data.identifiers import quote_ident

Progress = Callable[[float, str], None]
MODES = ("create", "replace", "append")
MAX_REJECTS_KEPT = 100_000
STAGING_PREFIX = "__mw_staging_"


@dataclass
class IngestReport:
    """What a load did: the table, the rows loaded and rejected, what was detected, and warnings."""

    table: str
    rows: int
    columns: dict[str, str]
    rejected_rows: int
    rejects: pd.DataFrame
    detected: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    mode: str = "create"
    total_rows: int = 0  # rows in the table after the load (differs from rows when appending)
    seconds: float = 0.0

    @property
    def rejected_share(self) -> float:
        """Rejected rows as a share of all data rows read."""
        seen = self.rows + self.rejected_rows
        return self.rejected_rows / seen if seen else 0.0


def run_with_progress(cur: duckdb.DuckDBPyConnection, sql: str, progress: Progress | None,
                      message: str, span: tuple[float, float] = (0.0, 1.0)) -> None:
    """Run one statement; while it runs, report DuckDB's own query progress through `progress`.

    `cur` should be one of the workspace's progress cursors (core.data.engine); on another cursor
    DuckDB reports no progress and only the step names are shown.
    """
    if progress is None:
        cur.execute(sql).fetchall()
        return
    outcome: dict[str, BaseException] = {}

    def work() -> None:
        try:
            cur.execute(sql).fetchall()
        except BaseException as e:  # re-raised in the calling thread
            outcome["error"] = e

    worker = threading.Thread(target=work, name="mw-ingest", daemon=True)
    worker.start()
    lo, hi = span
    while worker.is_alive():
        worker.join(0.25)
        try:
            pct = cur.query_progress()
        except duckdb.Error:
            pct = -1
        if pct is not None and pct >= 0:
            progress(lo + (hi - lo) * min(pct, 100.0) / 100.0, message)
    if "error" in outcome:
        raise outcome["error"]


def _rejects(cur: duckdb.DuckDBPyConnection, table: str) -> tuple[int, pd.DataFrame]:
    count = cur.execute(f"SELECT count(DISTINCT line) FROM {table}").fetchall()[0][0]
    df = cur.execute(
        f"SELECT line, column_name AS \"column\", error_type || ': ' || error_message AS error, "
        f"csv_line AS raw_line FROM {table} ORDER BY line LIMIT {MAX_REJECTS_KEPT}"
    ).df()
    df["column"] = df["column"].astype("object").where(df["column"].notna(), None)
    return int(count), df


def _apply_conversions(cur: duckdb.DuckDBPyConnection, staging: str, plan: CsvPlan) -> list[str]:
    """Convert planned text columns when every value fits; otherwise keep text and say why."""
    warnings = []
    for name, conv in plan.conversions.items():
        col = quote_ident(name)
        misfits = cur.execute(
            f"SELECT count(*) FILTER (WHERE {col} IS NOT NULL AND ({conv.expr}) IS NULL) FROM {staging}"
        ).fetchall()[0][0]
        if misfits:
            example = cur.execute(
                f"SELECT {col} FROM {staging} WHERE {col} IS NOT NULL AND ({conv.expr}) IS NULL LIMIT 1"
            ).fetchall()[0][0]
            warnings.append(
                f"Column '{name}' looks like {conv.note}, but {misfits:,} value(s) such as {example!r} "
                f"do not fit, so it was kept as text. Set its type explicitly to convert it anyway."
            )
            plan.columns[name] = "VARCHAR"
            continue
        cur.execute(f"ALTER TABLE {staging} ALTER {col} SET DATA TYPE {conv.target} USING ({conv.expr})").fetchall()
        warnings.append(f"Column '{name}' was read as {conv.target}: {conv.note}.")
    return warnings


def load_plan(cur: duckdb.DuckDBPyConnection, plan: CsvPlan, table: str, mode: str,
              commit: Callable[[duckdb.DuckDBPyConnection, str, str, str, dict[str, str]], int],
              progress: Progress | None = None) -> IngestReport:
    """Read the file into a staging table and hand it to `commit` (which swaps it in atomically).

    commit(cursor, staging_table, target_table, mode, columns) -> rows in target after the load.
    """
    started = time.perf_counter()
    token = uuid.uuid4().hex[:12]
    staging = quote_ident(STAGING_PREFIX + token)
    rejects_table, rejects_scan = f"__mw_rejects_{token}", f"__mw_rejects_scan_{token}"
    warnings = list(plan.warnings)
    careful = plan.read_csv_sql(rejects_table=rejects_table, rejects_scan=rejects_scan)
    lean = plan.read_csv_sql(rejects_table=rejects_table, rejects_scan=rejects_scan, lean=True)
    try:
        rejected, rejects = -1, pd.DataFrame()
        if lean != careful:
            # Fast path for clean files; any reject or error means a careful re-read decides.
            try:
                run_with_progress(cur, f"CREATE TABLE {staging} AS SELECT * FROM {lean}", progress,
                                  "Reading the file", (0.0, 0.9))
                rejected, rejects = _rejects(cur, rejects_table)
            except duckdb.Error:
                rejected = -1
            if rejected != 0:
                for stmt in (f"DROP TABLE IF EXISTS {staging}", f"DROP TABLE IF EXISTS {rejects_table}",
                             f"DROP TABLE IF EXISTS {rejects_scan}"):
                    cur.execute(stmt).fetchall()
        if rejected != 0:
            try:
                run_with_progress(cur, f"CREATE TABLE {staging} AS SELECT * FROM {careful}", progress,
                                  "Reading the file" if lean == careful else "Re-reading the file carefully",
                                  (0.0, 0.9))
            except duckdb.Error as e:
                raise DataError(
                    f"The file could not be loaded: {_duckdb_message(e)}. Check the delimiter, quote, "
                    "encoding and column types in the load options and try again."
                ) from None
            rejected, rejects = _rejects(cur, rejects_table)
        rows = cur.execute(f"SELECT count(*) FROM {staging}").fetchall()[0][0]
        if rows == 0:
            if rejected:
                first = rejects.iloc[0]
                raise DataError(
                    f"None of the rows could be read ({rejected:,} rejected). The first problem is on "
                    f"line {first['line']}: {first['error']}. Check the delimiter and column types in "
                    "the load options."
                )
            raise DataError("The file has no data rows. Export the data again including the rows.")
        if progress:
            progress(0.9, "Checking column types")
        warnings += _apply_conversions(cur, staging, plan)
        if rejected:
            warnings.append(
                f"{rejected:,} row(s) did not fit and were not loaded; see the rejected rows "
                "(line number, column, error and the raw line)."
            )
        columns = {
            r[0]: r[1]
            for r in cur.execute(f"DESCRIBE {staging}").fetchall()
        }
        if progress:
            progress(0.95, "Saving the table")
        total = commit(cur, STAGING_PREFIX + token, table, mode, columns)
        if progress:
            progress(1.0, "Done")
        return IngestReport(
            table=table, rows=int(rows), columns=columns, rejected_rows=rejected, rejects=rejects,
            detected=plan.detected(), warnings=warnings, mode=mode, total_rows=int(total),
            seconds=time.perf_counter() - started,
        )
    finally:
        for stmt in (f"DROP TABLE IF EXISTS {staging}", f"DROP TABLE IF EXISTS {rejects_table}",
                     f"DROP TABLE IF EXISTS {rejects_scan}"):
            try:
                cur.execute(stmt).fetchall()
            except duckdb.Error:
                pass
