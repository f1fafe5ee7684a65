"""Per-variant sufficient statistics, aggregated in the database through Ibis.

Only a few numbers per variant (and per day or attribute level) come back to Python, so tables of
tens of millions of users stay fast. pandas input is wrapped in an in-memory DuckDB table.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import ibis
import pandas as pd

from core.errors import DataError
from core.query import as_ibis, execute

MAX_VARIANTS = 20


def as_table(data: pd.DataFrame | ibis.Table, columns: Sequence[str | None]) -> tuple[ibis.Table, Any]:
    """The needed columns (None or "" for a role not given) as an Ibis table plus its backend (None: the table's own)."""
    return as_ibis(data, list(dict.fromkeys(c for c in columns if c)))


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
    keys: dict[str, ibis.Value] = {"variant": variant_label(t, variant)}
    if date:
        keys["date"] = _day(t, date)
    if by:
        keys["level"] = t[by].cast("string")
    if denominator:
        check_numeric(t, denominator, "denominator")
    if covariate:
        check_numeric(t, covariate, "covariate")
    base = t.mutate(__y=y, **{f"__k_{k}": v for k, v in keys.items()},
                    **({"__d": numeric(t, denominator)} if denominator else {}),
                    **({"__x": numeric(t, covariate)} if covariate else {}))
    has_variant = base["__k_variant"].notnull()
    # A user counts for a metric when the metric (and, for a ratio, the denominator) is present;
    # every sum below uses exactly those users, so n and the sums always describe the same people.
    ok = has_variant & base.__y.notnull() & (base.__d.notnull() if denominator else ibis.literal(True))

    def kept(v: ibis.Value) -> ibis.Value:
        return ibis.ifelse(ok, v, ibis.null("float64"))

    yk = kept(base.__y)
    metrics: dict[str, ibis.Value] = {
        "n": ok.sum(),
        "sum": yk.sum(),
        "sum_sq": (yk * yk).sum(),
        "missing": (has_variant & ~ok).sum(),
    }
    if covariate:
        xk = kept(base.__x)
        metrics.update({"x_sum": xk.sum(), "x_sum_sq": (xk * xk).sum(), "xy_sum": (xk * yk).sum(),
                        "x_missing": (base.__x.isnull() & ok).sum()})
    if denominator:
        dk = kept(base.__d)
        metrics.update({"d_sum": dk.sum(), "d_sum_sq": (dk * dk).sum(), "md_sum": (dk * yk).sum()})
    group_cols = [f"__k_{k}" for k in keys]
    expr = base.group_by(group_cols).aggregate(**{k: v for k, v in metrics.items()})
    out = execute(expr, backend).rename(columns={f"__k_{k}": k for k in keys})
    out = out[out["variant"].notna()]
    for c in out.columns:
        if c not in keys:
            out[c] = pd.to_numeric(out[c]).fillna(0).astype("float64")
    sort = [k for k in ("date", "level", "variant") if k in out.columns]
    return out.sort_values(sort).reset_index(drop=True)


def variant_label(t: ibis.Table, variant: str) -> ibis.Value:
    """Variant names as text; whole-number floats (an int column with gaps read by pandas) lose the '.0'."""
    col = t[variant]
    if col.type().is_floating():
        return ibis.ifelse(col == col.round(0), col.cast("int64").cast("string"), col.cast("string"))
    return col.cast("string")


def _day(t: ibis.Table, date: str) -> ibis.Value:
    d = t[date]
    if d.type().is_timestamp():
        return d.date()
    if d.type().is_date():
        return d
    if d.type().is_string():
        return d.try_cast("timestamp").date()  # unreadable text dates become missing, not an error
    raise DataError(f"The date column '{date}' holds {d.type()}, not dates. Pick the exposure date column.")


def metric_profile(data: pd.DataFrame | ibis.Table, metric: str) -> dict[str, float]:
    """min, max, distinct-ish checks of a metric (to detect 0/1 metrics) in one query."""
    t, backend = as_table(data, [metric])
    check_numeric(t, metric, "metric")
    y = numeric(t, metric)
    row = execute(t.aggregate(lo=y.min(), hi=y.max(), n=y.count(),
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
    cap = execute(t.filter(y != 0).aggregate(cap=y.quantile(percentile)), backend).iloc[0]["cap"]
    if cap is None or pd.isna(cap):
        raise DataError(f"'{metric}' is 0 or empty for every user; there is nothing to winsorise.")
    return float(cap)


def variant_counts(data: pd.DataFrame | ibis.Table, variant: str) -> pd.Series:
    """Users per variant (rows with a variant)."""
    t, backend = as_table(data, [variant])
    out = execute(t.group_by(v=variant_label(t, variant)).aggregate(n=t.count()), backend)
    out = out[out["v"].notna()]
    if len(out) > MAX_VARIANTS:
        raise DataError(f"'{variant}' has {len(out)} different values; an experiment has at most {MAX_VARIANTS} "
                        "variants. Pick the column that holds the variant (control, A, B ...).")
    counts = out.set_index("v")["n"].astype("int64")
    return counts.reindex(sort_names(counts.index))


def check_levels(counts: pd.Series, variant: str) -> None:
    """An experiment needs a control and at least one variant (the same message for the page and analyze)."""
    if len(counts) < 2:
        raise DataError(f"'{variant}' has {len(counts)} variant(s); an experiment needs a control and at least one "
                        "variant. Pick the column that holds the variant (control, A, B ...).")


def sort_names(names: Iterable[object]) -> list[str]:
    """Variant names in order: numerically when all are numbers (2 before 10), else alphabetically."""
    labels = [str(n) for n in names]
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


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


def with_segments(experiment: ibis.Table, segments: ibis.Table, key: str,
                  columns: tuple[str, ...] = ("segment_name", "rfm_segment")) -> ibis.Table:
    """The experiment's users with their segment columns (left join on `key`; users without one get none).

    Lets a test be broken down by the K-means or RFM segments saved on the Segments page.
    """
    if key not in experiment.columns or key not in segments.columns:
        raise DataError(f"Both tables need the id column '{key}' to join segments.")
    keep = [c for c in columns if c in segments.columns]
    if not keep:
        raise DataError("The segments table has no segment_name or rfm_segment column.")
    seg = segments.select(key, *keep).distinct(on=key)  # one segment per user, even if the table repeats ids
    seg = seg.rename({f"__seg_{key}": key})
    joined = experiment.left_join(seg, experiment[key] == seg[f"__seg_{key}"])
    return joined.drop(f"__seg_{key}")
