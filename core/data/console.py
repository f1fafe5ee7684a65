"""Run one read-only console query with a time limit, a cancel switch and an honest truncation flag.

The query runs on a worker thread with its own cursor; the calling thread waits in short steps,
so it can interrupt the query (DuckDB's `cursor.interrupt()`) when the time limit passes, when
`cancel` is set, or when `on_wait` raises (a Streamlit page whose session ended or whose user
clicked Cancel raises inside its own element updates). The cursor keeps working afterwards.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Sequence, TypedDict

import duckdb
import pandas as pd

from core.data.export import beyond_int64
from core.data.identifiers import quote_ident
from core.data.sql_guard import check_read_only
from core.errors import DataError

WAIT_STEP_S = 0.1
FLOAT_EXACT_INT = 2**53  # integers up to this size survive a float64 exactly
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


# ---------------------------------------------------------------- exact wide numbers
# pandas (DuckDB's .df()) turns HUGEINT, UHUGEINT and DECIMAL(19..38, s) into float64: three ids
# 12345678901234567890123, ...124 and ...125 become one number. Such columns are fetched as text and
# rebuilt exactly: Python ints (or Decimals), or int64/float64 when every value fits them exactly.

def wide_columns(description: Sequence[Sequence[Any]] | None) -> list[tuple[int, str, int]]:
    """(position, name, scale) of the result columns that a float64 cannot hold exactly."""
    out = []
    for i, d in enumerate(description or []):
        typ = str(d[1]).upper()
        if typ in ("HUGEINT", "UHUGEINT"):
            out.append((i, str(d[0]), 0))
            continue
        m = _DECIMAL.fullmatch(typ)
        if m and int(m.group(1)) > 18:
            out.append((i, str(d[0]), int(m.group(2))))
    return out


def _statement_body(query: str) -> str:
    """The query without trailing comments and semicolons (so that it can sit inside parentheses)."""
    end = len(query)
    for pos, kind in reversed(duckdb.tokenize(query)):
        if kind == duckdb.token_type.comment or (kind == duckdb.token_type.operator and query[pos] == ";"):
            end = pos
            continue
        break
    return query[:end].rstrip().rstrip(";")


def exact_sql(query: str, description: Sequence[Sequence[Any]] | None) -> str | None:
    """The query with its wide numeric columns cast to text, or None when nothing needs it."""
    wide = wide_columns(description)
    names = [str(d[0]) for d in description or []]
    if not wide or len(set(n.lower() for n in names)) != len(names):
        return None  # duplicate names cannot be addressed; the caller keeps the plain result
    casts = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS {quote_ident(n)}" for _, n, _ in wide)
    return f"SELECT * REPLACE ({casts}) FROM (\n{_statement_body(query)}\n) AS __mw_exact"


def restore_exact(df: pd.DataFrame, wide: list[tuple[int, str, int]]) -> pd.DataFrame:
    """Turn the text columns made by exact_sql back into exact numbers.

    Integers: int64 (float64 with missing values) when every value is within +-2**53, else Python
    ints (object). Decimals: float64 when every value has at most 15 significant digits before the
    point, else decimal.Decimal (object).
    """
    for pos, _, scale in wide:
        s = df.iloc[:, pos]
        raw = [v if isinstance(v, str) else None for v in s.tolist()]
        if scale == 0:
            values: list[Any] = [int(v) if v is not None else None for v in raw]
            present = [v for v in values if v is not None]
            if all(abs(v) <= FLOAT_EXACT_INT for v in present):
                col = pd.Series(values, index=s.index, dtype="float64" if len(present) < len(values) else "int64")
            else:
                col = pd.Series(values, index=s.index, dtype=object)
        else:
            values = [Decimal(v) if v is not None else None for v in raw]
            if all(abs(v) < Decimal(10) ** 15 for v in values if v is not None):
                col = pd.Series([float(v) if v is not None else float("nan") for v in values], index=s.index,
                                dtype="float64")
            else:
                col = pd.Series(values, index=s.index, dtype=object)
        df.isetitem(pos, col)
    return df


def for_display(df: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy that a table widget (Arrow) can show: Python ints beyond int64 become text."""
    out = df.copy(deep=False)
    for position in range(out.shape[1]):
        s = out.iloc[:, position]
        if s.dtype == object and s.map(beyond_int64).any():
            out.isetitem(position, s.map(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v))
    return out


def execute_exact(cur: duckdb.DuckDBPyConnection, query: str
                  ) -> tuple[duckdb.DuckDBPyConnection, list[tuple[int, str, int]]]:
    """Execute `query`; when it returns wide numbers, re-issue it with those columns as text.

    Returns the open result and the columns to pass to restore_exact once fetched.
    """
    result = cur.execute(query)
    wide_sql = exact_sql(query, result.description)
    if wide_sql is None:
        return result, []
    wide = wide_columns(result.description)
    return cur.execute(wide_sql), wide  # ends the first (still unfetched) result


def frame_exact(cur: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    """The whole result of `query` as a DataFrame, wide numbers kept exact."""
    result, wide = execute_exact(cur, query)
    return restore_exact(result.df(), wide)


@dataclass(frozen=True)
class QueryResult:
    """A console result: the rows (at most the limit), whether more rows existed, and the run time."""

    frame: pd.DataFrame
    truncated: bool
    elapsed_s: float


def _fetch(result: duckdb.DuckDBPyConnection, limit: int | None) -> tuple[pd.DataFrame, bool]:
    if limit is None:
        return result.df(), False
    limit = max(0, int(limit))
    chunks, got = [], 0
    while got <= limit:  # one row past the limit tells whether the result was cut
        chunk = result.fetch_df_chunk()
        if chunk.empty:
            break
        chunks.append(chunk)
        got += len(chunk)
    truncated = got > limit
    if truncated:
        result.abort()  # stop the query: the rest is not needed
    else:
        result.fetchall()
    if not chunks:
        return pd.DataFrame(columns=[d[0] for d in result.description or []]), False
    return pd.concat(chunks, ignore_index=True).head(limit), truncated


class _Outcome(TypedDict, total=False):
    """What the query thread hands back: the rows and whether they were cut, or the exception."""

    value: tuple[pd.DataFrame, bool]
    error: BaseException


def run_read_only(cur: duckdb.DuckDBPyConnection, query: str, *, limit: int | None, timeout_s: float,
                  cancel: threading.Event | None = None,
                  on_wait: Callable[[float], None] | None = None) -> QueryResult:
    """Check `query` (one SELECT on workspace tables), run it in a read-only transaction, time-limited."""
    check_read_only(cur, query)
    outcome: _Outcome = {}

    def work() -> None:
        try:
            result, wide = execute_exact(cur, query)
            frame, truncated = _fetch(result, limit)
            outcome["value"] = (restore_exact(frame, wide), truncated)
        except BaseException as e:  # handed to the calling thread
            outcome["error"] = e

    started = time.perf_counter()
    cur.execute("BEGIN TRANSACTION READ ONLY").fetchall()
    worker = threading.Thread(target=work, name="mw-console", daemon=True)
    stopped: str | None = None
    try:
        worker.start()
        while worker.is_alive():
            worker.join(WAIT_STEP_S)
            elapsed = time.perf_counter() - started
            if not worker.is_alive():
                break
            if elapsed > timeout_s:
                stopped = "timeout"
            elif cancel is not None and cancel.is_set():
                stopped = "cancel"
            if stopped:
                cur.interrupt()
                worker.join()
                break
            if on_wait is not None:
                on_wait(elapsed)
    except BaseException:
        cur.interrupt()  # the caller went away (session ended, rerun): never leave the query running
        worker.join()
        raise
    finally:
        try:
            cur.execute("ROLLBACK").fetchall()
        except duckdb.Error:
            pass
    elapsed = time.perf_counter() - started
    if stopped == "timeout":
        raise DataError(
            f"The query took too long: it was stopped after {timeout_s:g} s. Narrow it down (a WHERE "
            "filter, fewer joins, an aggregate) or ask an admin to raise MW_SQL_TIMEOUT_S."
        )
    if stopped == "cancel":
        raise DataError(f"The query was cancelled after {elapsed:.1f} s.")
    error = outcome.get("error")
    if isinstance(error, duckdb.Error):
        raise DataError(f"The query failed: {str(error).splitlines()[0]}") from None
    if isinstance(error, BaseException):
        raise error
    frame, truncated = outcome["value"]
    return QueryResult(frame, truncated, elapsed)
