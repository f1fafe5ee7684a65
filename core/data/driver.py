"""The rows a model is fitted on, brought to the app server (the "driver") as pandas.

scikit-learn fits in one process, so on Spark a model is trained on a seeded random sample of the
table (at most MW_SPARK_DRIVER_ROWS rows, 500,000 by default: about 0.5 GB as pandas for 100
columns), while scoring and segment assignment of the whole table run on the cluster
(core.data.spark_apply). On DuckDB the table already is on this machine: the whole table is read.

    rows = driver_frame(ws, "customers")
    rows.frame, rows.rows, rows.total_rows, rows.sampled, rows.note()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.wording import plural

DRIVER_ROWS_ENV = "MW_SPARK_DRIVER_ROWS"
DEFAULT_DRIVER_ROWS = 500_000


@dataclass(frozen=True)
class DriverFrame:
    """A table's rows as pandas: all of them, or a seeded random sample of `rows` of `total_rows`."""

    frame: pd.DataFrame
    total_rows: int
    seed: int = 0

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def sampled(self) -> bool:
        return self.rows < self.total_rows

    def note(self, table: str, purpose: str = "the model is fitted on") -> str | None:
        """A sentence for the page when the frame is a sample, else None."""
        if not self.sampled:
            return None
        return (f"`{table}` has {plural(self.total_rows, 'row')} in Spark; {purpose} a random sample of "
                f"{self.rows:,} rows ({self.rows / self.total_rows:.1%}, seed {self.seed}) brought to this server "
                f"(set {DRIVER_ROWS_ENV} for more). Scoring and segment assignment run on every row in Spark.")


def driver_rows() -> int:
    """The most rows brought to the driver (MW_SPARK_DRIVER_ROWS, default 500,000; at least 1,000)."""
    try:
        return max(1_000, int(os.environ.get(DRIVER_ROWS_ENV, DEFAULT_DRIVER_ROWS)))
    except ValueError:
        return DEFAULT_DRIVER_ROWS


def driver_frame(ws: Any, table: str, *, max_rows: int | None = None, seed: int = 0) -> DriverFrame:
    """`table` as pandas: on Spark a seeded sample of at most `max_rows` (default `driver_rows()`) when
    the table is larger; on DuckDB, and for a Spark table that fits, every row."""
    if getattr(ws, "engine", "duckdb") != "spark":
        frame = ws.read(table)
        return DriverFrame(frame, len(frame), seed)
    limit = driver_rows() if max_rows is None else max(1, int(max_rows))
    frame, total = ws.sample(table, limit, seed=seed)
    return DriverFrame(frame, total, seed)
