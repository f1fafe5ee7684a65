"""Run the same Ibis query on pandas input (in-memory DuckDB) or on a workspace/backend table."""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from core.data.engine import scratch_backend
from core.errors import DataError


def as_ibis(transactions: pd.DataFrame | ibis.Table, columns: list[str]) -> tuple[ibis.Table, Any]:
    """The needed columns as an Ibis table plus the backend that runs it (None: the table's own).

    pandas input becomes an in-memory DuckDB table (object columns mixing ints and strings become text).
    """
    if isinstance(transactions, pd.DataFrame):
        missing = [c for c in columns if c not in transactions.columns]
        if missing:
            raise DataError(f"Column(s) {', '.join(map(repr, missing))} are not in the data. "
                            f"Available: {', '.join(map(str, transactions.columns[:30]))}.")
        frame = transactions[columns].copy()
        for c in frame.columns:
            s = frame[c]
            if s.dtype == object:
                kinds = {type(v) for v in s.dropna().head(1000)}
                if len(kinds) > 1:  # mixed ints and strings (e.g. ids): compare them as text
                    frame[c] = s.astype("string")
        return ibis.memtable(frame), scratch_backend()
    if isinstance(transactions, ibis.Table):
        missing = [c for c in columns if c not in transactions.columns]
        if missing:
            raise DataError(f"Column(s) {', '.join(map(repr, missing))} are not in the table. "
                            f"Available: {', '.join(list(transactions.columns)[:30])}.")
        return transactions.select(*columns), None
    raise DataError("The data must be a pandas DataFrame or an Ibis table.")


def execute(expr: Any, backend: Any) -> Any:
    return backend.execute(expr) if backend is not None else expr.execute()


def store_temporary(backend: Any, name: str, expr: ibis.Table) -> ibis.Table:
    """`expr` computed once and kept under `name` for this connection (or Spark session), as a table.

    DuckDB: a temporary table. Spark (Ibis' PySpark backend has no temporary tables): a cached
    temporary view, filled at once (`CACHE TABLE name AS SELECT ...`), so a step used several times
    is computed once there too. `drop_temporary` removes either."""
    if getattr(backend, "name", "") == "pyspark":
        sql = backend.compile(expr)
        backend.raw_sql(f"CACHE TABLE `{name}` AS {sql}")
        return backend.table(name)
    return backend.create_table(name, expr, temp=True)


def drop_temporary(backend: Any, name: str) -> None:
    """Drop what `store_temporary` made (no error when it is gone)."""
    if getattr(backend, "name", "") == "pyspark":
        backend.raw_sql(f"UNCACHE TABLE IF EXISTS `{name}`")
        backend.raw_sql(f"DROP VIEW IF EXISTS `{name}`")
        return
    backend.drop_table(name, force=True)
