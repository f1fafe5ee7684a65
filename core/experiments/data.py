"""Per-variant sufficient statistics, aggregated in the database through Ibis.

Only a few numbers per variant (and per day or attribute level) come back to Python, so tables of
tens of millions of users stay fast. pandas input is wrapped in an in-memory DuckDB table.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from core.errors import DataError
from core.segments.features import _as_ibis, _execute

MAX_VARIANTS = 20


def as_table(data: pd.DataFrame | ibis.Table, columns: list[str]) -> tuple[ibis.Table, Any]:
    """The needed columns as an Ibis table plus the backend that runs it (None: the table's own)."""
    return _as_ibis(data, list(dict.fromkeys(c for c in columns if c)))


def check_numeric(t: ibis.Table, column: str, role: str) -> None:
    typ = t[column].type()
    if not (typ.is_numeric() or typ.is_boolean()):
        raise DataError(f"The {role} '{column}' holds {typ}, not numbers. Pick a numeric column "
                        "(0/1 for conversions, amounts for revenue).")


def numeric(t: ibis.Table, column: str) -> ibis.Value:
    col = t[column]
    return col.cast("float64") if not col.type().is_floating() else col


def summarize(data: pd.DataFrame | ibis.Table, variant: str, metric: str, *, covariate: str | None = None,
              denominator: str | None = None, date: str | None = None, by: str | None = None,
              winsorize_at: float | None = None) -> pd.DataFrame:
    """Sufficient statistics per variant (and per `date` day or `by` level when given).

    Columns: variant, n, sum, sum_sq (of the metric), plus x_sum, x_sum_sq, xy_sum for a covariate,
    d_sum, d_sum_sq, md_sum for a ratio denominator, and missing (rows whose metric is empty, left out).
    `winsorize_at` caps the metric at that value (see `metric_cap`).
    """
    t, backend = as_table(data, [variant, metric, covariate, denominator, date, by])
    check_numeric(t, metric, "metric")
    y = numeric(t, metric)
    if winsorize_at is not None:
        y = ibis.ifelse(y > winsorize_at, ibis.literal(float(winsorize_at)), y)
    keys: dict[str, ibis.Value] = {"variant": t[variant].cast("string")}
    if date:
        d = t[date]
        keys["date"] = d.date() if d.type().is_timestamp() else d.cast("date") if d.type().is_string() else d
    if by:
        keys["level"] = t[by].cast("string")
    base = t.mutate(__y=y, **{f"__k_{k}": v for k, v in keys.items()})
    ok = base.__y.notnull() & base[f"__k_variant"].notnull()
    metrics: dict[str, ibis.Value] = {
        "n": ok.sum(),
        "sum": base.__y.sum(),
        "sum_sq": (base.__y * base.__y).sum(),
        "missing": (base.__y.isnull() & base[f"__k_variant"].notnull()).sum(),
    }
    if covariate:
        check_numeric(t, covariate, "covariate")
        x = numeric(t, covariate)
        base = base.mutate(__x=x)
        metrics.update({"x_sum": base.__x.sum(), "x_sum_sq": (base.__x * base.__x).sum(),
                        "xy_sum": (base.__x * base.__y).sum(), "x_missing": (base.__x.isnull() & ok).sum()})
    if denominator:
        check_numeric(t, denominator, "denominator")
        dd = numeric(t, denominator)
        base = base.mutate(__d=dd)
        metrics.update({"d_sum": base.__d.sum(), "d_sum_sq": (base.__d * base.__d).sum(),
                        "md_sum": (base.__d * base.__y).sum()})
    group_cols = [f"__k_{k}" for k in keys]
    expr = base.group_by(group_cols).aggregate(**{k: v for k, v in metrics.items()})
    out = _execute(expr, backend).rename(columns={f"__k_{k}": k for k in keys})
    out = out[out["variant"].notna()]
    for c in out.columns:
        if c not in keys:
            out[c] = pd.to_numeric(out[c]).fillna(0).astype("float64")
    sort = [k for k in ("date", "level", "variant") if k in out.columns]
    return out.sort_values(sort).reset_index(drop=True)


def metric_profile(data: pd.DataFrame | ibis.Table, metric: str) -> dict[str, float]:
    """min, max, distinct-ish checks of a metric (to detect 0/1 metrics) in one query."""
    t, backend = as_table(data, [metric])
    check_numeric(t, metric, "metric")
    y = numeric(t, metric)
    row = _execute(t.aggregate(lo=y.min(), hi=y.max(), n=y.count(),
                               non01=((y != 0) & (y != 1)).sum()), backend).iloc[0]
    return {k: float(row[k]) if row[k] is not None and pd.notna(row[k]) else float("nan") for k in row.index}


def metric_cap(data: pd.DataFrame | ibis.Table, metric: str, percentile: float) -> float:
    """The value at `percentile` (e.g. 0.99) of the metric's non-zero values, for winsorising.

    Zeros are ignored (GrowthBook's "ignore zeros" capping): for a sparse metric such as spend,
    where most users spend nothing, a percentile over all users would be 0 and flatten everything.
    """
    if not (0.5 <= percentile < 1):
        raise DataError("Winsorising takes a percentile between 0.5 and 1 (e.g. 0.99 caps the top 1%).")
    t, backend = as_table(data, [metric])
    y = numeric(t, metric)
    cap = _execute(t.filter(y != 0).aggregate(cap=y.quantile(percentile)), backend).iloc[0]["cap"]
    if cap is None or pd.isna(cap):
        raise DataError(f"'{metric}' is 0 or empty for every user; there is nothing to winsorise.")
    return float(cap)


def variant_counts(data: pd.DataFrame | ibis.Table, variant: str) -> pd.Series:
    """Users per variant (rows with a variant)."""
    t, backend = as_table(data, [variant])
    out = _execute(t.group_by(v=t[variant].cast("string")).aggregate(n=t.count()), backend)
    out = out[out["v"].notna()]
    if len(out) > MAX_VARIANTS:
        raise DataError(f"'{variant}' has {len(out)} different values; an experiment has at most {MAX_VARIANTS} "
                        "variants. Pick the column that holds the variant (control, A, B ...).")
    return out.set_index("v")["n"].astype("int64").sort_index()


def read_summary_csv(path: str) -> pd.DataFrame:
    """A small per-variant summary file (variant, n, conversions | mean, std | sum, sum_sq), read by DuckDB."""
    import duckdb

    try:
        df = duckdb.read_csv(str(path)).df()
    except duckdb.Error as e:
        raise DataError(f"The summary file could not be read as CSV ({str(e).splitlines()[0]}).") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "variant" not in df.columns or "n" not in df.columns:
        raise DataError("The summary file needs a header with variant and n, plus conversions, or mean and std, "
                        "or sum and sum_sq.")
    return df
