"""Run one read-only console query with a time limit, a cancel switch and an honest truncation flag.

The query runs on a worker thread with its own cursor; the calling thread waits in short steps,
so it can interrupt the query (DuckDB's `cursor.interrupt()`) when the time limit passes, when
`cancel` is set, or when `on_wait` raises (a Streamlit page whose session ended or whose user
clicked Cancel raises inside its own element updates). The cursor keeps working afterwards.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import duckdb
import pandas as pd

from core.data.sql_guard import check_read_only
from core.errors import DataError

WAIT_STEP_S = 0.1


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


def run_read_only(cur: duckdb.DuckDBPyConnection, query: str, *, limit: int | None, timeout_s: float,
                  cancel: threading.Event | None = None,
                  on_wait: Callable[[float], None] | None = None) -> QueryResult:
    """Check `query` (one SELECT on workspace tables), run it in a read-only transaction, time-limited."""
    check_read_only(cur, query)
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["value"] = _fetch(cur.execute(query), limit)
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
    frame, truncated = outcome["value"]  # type: ignore[misc]
    return QueryResult(frame, truncated, elapsed)
