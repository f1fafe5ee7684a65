"""Segments work as background jobs (core.jobs): the top-level functions a worker process runs.

`kmeans_job` runs the whole K-means segmentation (`kmeans_segments`: the k sweep when k is not
given, the final fit on every customer, stability resamples, profiles, rules and map) and returns
the `SegmentResult`. `customers_job` builds one row per customer from a transactions frame
(`customer_features`) and returns a `CustomerBuild`. Both take a DataFrame and the page's plain
settings, report `progress`, and never open the workspace database: the app process records what
they return (audits the segmentation, saves the customer table) when it picks the job up.

Building customers from a table under CUSTOMERS_IN_PROCESS_ROWS transactions stays in the app
process (`customer_features` on the workspace table: an aggregation DuckDB runs in well under a
second there), because a job first has to read the columns into pandas and send them to a worker
that starts Python, pandas and DuckDB again: seconds more than the work on a small table.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.errors import DataError
from core.jobs import Progress

if TYPE_CHECKING:
    from core.segments.kmeans import SegmentResult

# Transactions below this many rows are aggregated in the app process. Measured on the 2-core
# machine (load ~6): Online Retail's 541,909 rows took 0.34-0.73 s in DuckDB in the app process and
# 4.8-5.9 s as a job (0.55 s reading the columns into pandas, pickling them to a worker, the
# worker's start and imports, 1.5-1.9 s of work there). Past a million rows the aggregation itself
# takes seconds and a worker keeps it off the app's cores and out of its memory.
CUSTOMERS_IN_PROCESS_ROWS = 1_000_000

KMEANS_KEYS = ("features", "categorical", "k", "id", "impute", "log", "scale", "clip")
CUSTOMER_KEYS = ("customer", "date", "amount", "as_of", "order", "quantity", "product", "channel", "positive")


@dataclass(frozen=True, eq=False)
class CustomerBuild:
    """One row per customer built from transactions: the frame, the as-of date used, and notes on skipped rows."""

    frame: pd.DataFrame
    as_of: str
    notes: tuple[str, ...]

    @property
    def customers(self) -> int:
        """How many customers (rows) were built."""
        return len(self.frame)


def _missing(settings: dict[str, Any], keys: tuple[str, ...]) -> None:
    absent = [k for k in keys if k not in settings]
    if absent:
        raise DataError(f"The job's settings miss {', '.join(absent)}; start it again from the Segments page.")


def kmeans_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `kmeans_segments` for the page's settings (features, categorical, k, id,
    impute, log, scale, clip as a share)."""
    _missing(settings, KMEANS_KEYS)
    categorical = list(settings["categorical"] or [])
    return {"features": list(settings["features"] or []) + categorical, "k": settings["k"],
            "id_column": settings["id"], "categorical": categorical, "impute": settings["impute"],
            "log_transform": settings["log"], "scale": settings["scale"], "clip": settings["clip"] or None}


def kmeans_job(df: pd.DataFrame, settings: dict[str, Any], *, progress: Progress) -> SegmentResult:
    """K-means segments of `df` (one row per customer) with the page's settings; see kmeans_options."""
    from core.segments.kmeans import kmeans_segments

    options = kmeans_options(settings)
    return kmeans_segments(df, options.pop("features"), options.pop("k"), progress=progress, **options)


def customer_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `customer_features` for the page's settings (None or "" = not used)."""
    _missing(settings, CUSTOMER_KEYS)
    return {"customer": settings["customer"], "date": settings["date"], "amount": settings["amount"],
            "as_of": settings["as_of"] or None, "order": settings["order"] or None,
            "quantity": settings["quantity"] or None, "product": settings["product"] or None,
            "channel": settings["channel"] or None, "exclude_non_positive": bool(settings["positive"])}


def customer_columns(settings: dict[str, Any]) -> list[str]:
    """The transaction columns a customer build reads (only these travel to the worker)."""
    options = customer_options(settings)
    names = [options[k] for k in ("customer", "date", "amount", "order", "quantity", "product", "channel")]
    return list(dict.fromkeys(n for n in names if n))


def build_customers(transactions: Any, settings: dict[str, Any]) -> CustomerBuild:
    """`customer_features` of a transactions frame or Ibis table with the page's settings."""
    from core.segments.features import customer_features

    options = customer_options(settings)
    feats = customer_features(transactions, options.pop("customer"), options.pop("date"), options.pop("amount"),
                              **options)
    return CustomerBuild(frame=feats, as_of=str(feats.attrs.get("as_of", "")),
                         notes=tuple(feats.attrs.get("notes", [])))


def customers_job(transactions: pd.DataFrame, settings: dict[str, Any], *, progress: Progress) -> CustomerBuild:
    """One row per customer from a transactions frame (the columns of customer_columns), as a job."""
    progress(0.1, f"Aggregating {len(transactions):,} transactions by customer")
    build = build_customers(transactions, settings)
    progress(1.0, f"Built {build.customers:,} customers")
    return build


_WARM_LOCK = threading.Lock()
_WARM_THREADS: list[threading.Thread] = []
WARM_MODULES = ("sklearn.cluster", "core.segments.kmeans")


def warm_up(modules: tuple[str, ...] = WARM_MODULES) -> None:
    """Import what a segmentation result needs (scikit-learn: ~2 s here) in a background thread, once.

    The page keeps scikit-learn out of its first render; while a job runs, the app process loads it
    so that reading the job's result (which unpickles scikit-learn objects) does not wait for it.
    """
    with _WARM_LOCK:
        if _WARM_THREADS:
            return
        thread = threading.Thread(target=lambda: [importlib.import_module(m) for m in modules], name="mw-warm-up",
                                  daemon=True)
        _WARM_THREADS.append(thread)
        thread.start()


def warmed(timeout: float = 60.0) -> None:
    """Wait for warm_up's imports (started now if needed) before unpickling a result in another thread:
    one thread finishes importing scikit-learn, the other never imports half of it at the same time."""
    warm_up()
    for thread in list(_WARM_THREADS):
        thread.join(timeout)
