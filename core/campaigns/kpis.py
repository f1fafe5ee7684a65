"""Campaign KPIs: sums per period and group, and every KPI as a ratio of those sums.

`kpis()` aggregates a pandas DataFrame in pandas, or an Ibis table in the database (only one row per
period and group comes back). Every KPI of a group is a ratio of its sums (CTR = Σclicks / Σimpressions),
never a mean of daily ratios: a day with 10 impressions must not weigh as much as a day with 10 million
(/work/shared/notes/marketing-conventions.md, "Campaign KPIs").

Result columns, in this order:
- `period`: the first day of the period (a pandas Timestamp at midnight). Days are calendar days;
  weeks start on Monday (ISO weeks, as DuckDB's date_trunc('week')); months on the 1st. For
  freq="total" it is the first date with data in the group;
- `period_end`: the last day of the period (Sunday for weeks, the month's last day); for "total" the
  last date with data in the group;
- the `by` columns, under their own names;
- `rows`: input rows summed into the row;
- the sums, under the input column names (`spend`, and those of impressions, clicks, conversions
  and revenue that were given);
- ctr, cpc, cpm, cvr, cpa, roas, roi (always present; NaN when an input is not given or its
  denominator is zero).

Rows without a date are left out (`check_inputs` counts them, so a page can say so); missing values
in a sum column count as nothing spent or counted (SQL's SUM), and are counted by `check_inputs` too.
Negative spend, impressions, clicks or conversions raise DataError; negative revenue (refunds) is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import ibis
import numpy as np
import pandas as pd

from core.errors import DataError
from core.formatting import Format
from core.wording import plural

Freq = Literal["D", "W", "M", "total"]
FREQS: tuple[Freq, ...] = ("D", "W", "M", "total")
FREQ_LABELS: dict[str, str] = {"D": "day", "W": "week (from Monday)", "M": "month", "total": "whole period"}
KPIS = ("ctr", "cpc", "cpm", "cvr", "cpa", "roas", "roi")
SUMS = ("spend", "impressions", "clicks", "conversions", "revenue")
# sums that are counts or money spent: negative values are an error (revenue may be negative: refunds)
NON_NEGATIVE = ("spend", "impressions", "clicks", "conversions")


@dataclass(frozen=True)
class KpiInfo:
    """How people read one KPI or sum: its label, what it is, its format, and which way is good."""

    name: str
    label: str
    meaning: str
    format: Format
    axis: str  # axis title with its unit
    higher_is_better: bool = True
    rate: bool = False  # a share: its change is shown in percentage points


KPI_INFO: dict[str, KpiInfo] = {k.name: k for k in (
    KpiInfo("spend", "Spend", "money spent", "money", "spend (currency)", True),
    KpiInfo("impressions", "Impressions", "times an ad was shown", "integer", "impressions (count)"),
    KpiInfo("clicks", "Clicks", "clicks on ads", "integer", "clicks (count)"),
    KpiInfo("conversions", "Conversions", "purchases, sign-ups or other goals", "integer", "conversions (count)"),
    KpiInfo("revenue", "Revenue", "revenue attributed to the campaigns", "money", "revenue (currency)"),
    KpiInfo("ctr", "CTR", "clicks per impression", "percent", "CTR: clicks / impressions (%)", rate=True),
    KpiInfo("cpc", "CPC", "spend per click", "money", "CPC: spend / clicks (currency per click)", False),
    KpiInfo("cpm", "CPM", "spend per 1,000 impressions", "money", "CPM: spend per 1,000 impressions (currency)",
            False),
    KpiInfo("cvr", "CVR", "conversions per click", "percent", "CVR: conversions / clicks (%)", rate=True),
    KpiInfo("cpa", "CPA", "spend per conversion", "money", "CPA: spend / conversions (currency per conversion)",
            False),
    KpiInfo("roas", "ROAS", "revenue per 1 spent", "ratio", "ROAS: revenue / spend (x)"),
    KpiInfo("roi", "ROI", "profit over spend: (revenue - spend) / spend", "percent",
            "ROI: (revenue - spend) / spend (%)", rate=True),
)}


@dataclass(frozen=True)
class Columns:
    """Which input column holds what (None: not in this table)."""

    date: str
    spend: str
    impressions: str | None = None
    clicks: str | None = None
    conversions: str | None = None
    revenue: str | None = None

    def sums(self) -> dict[str, str]:
        """role -> input column, for the sums that are given (spend first)."""
        return {role: col for role in SUMS if (col := getattr(self, role)) is not None}


@dataclass(frozen=True)
class InputCheck:
    """What `kpis` would use and leave out: rows, rows without a date, missing and negative values per column."""

    rows: int
    missing_dates: int
    missing: Mapping[str, int]  # column -> rows with no value (summed as nothing)
    negative: Mapping[str, int]  # column -> rows below zero (an error for spend and counts)

    def problems(self) -> list[str]:
        """Plain-language notes on what is left out or counted as nothing (empty when all is well)."""
        notes = []
        if self.missing_dates:
            notes.append(f"{plural(self.missing_dates, 'row')} of {self.rows:,} have no date and are left out.")
        for col, n in self.missing.items():
            if n:
                notes.append(f"{plural(n, 'row')} have no value in '{col}'; they count as 0 in its sums.")
        return notes

    def raise_for_negatives(self) -> None:
        bad = {c: n for c, n in self.negative.items() if n}
        if bad:
            listed = "; ".join(f"'{c}' is below zero in {plural(n, 'row')}" for c, n in bad.items())
            raise DataError(f"Spend and counts cannot be negative: {listed}. Correct or filter those rows (refunds "
                            "belong in revenue), or pick the right columns.")


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return [str(b) for b in by]


def _columns_of(data: Any) -> list[str]:
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    return list(data.schema().names)


def _is_numeric(data: Any, column: str) -> bool:
    if isinstance(data, pd.DataFrame):
        return bool(pd.api.types.is_numeric_dtype(data[column]) and not pd.api.types.is_bool_dtype(data[column]))
    return bool(data.schema()[column].is_numeric())


def validate(data: Any, cols: Columns, by: Sequence[str] = ()) -> None:
    """DataError unless every named column exists, sums are numbers and `by` does not reuse them."""
    if not isinstance(data, pd.DataFrame) and not isinstance(data, ibis.Table):
        raise DataError("Campaign KPIs need a table: a pandas DataFrame or a workspace (Ibis) table.")
    present = set(_columns_of(data))
    named = {"date": cols.date, **cols.sums()}
    missing = [f"{role} '{col}'" for role, col in named.items() if col not in present]
    missing += [f"breakdown '{col}'" for col in by if col not in present]
    if missing:
        raise DataError(f"Column(s) not in the table: {', '.join(missing)}. Pick columns the table has "
                        f"({', '.join(sorted(present)[:12])}{' ...' if len(present) > 12 else ''}).")
    text = [f"'{col}' ({role})" for role, col in cols.sums().items() if not _is_numeric(data, col)]
    if text:
        raise DataError(f"Sums need number columns: {', '.join(text)} holds text or dates. Pick a number column, "
                        "or fix its type on the Data page.")
    clash = [c for c in by if c in cols.sums().values() or c == cols.date]
    if clash:
        raise DataError(f"Break down by a label such as campaign or channel, not by {', '.join(clash)} (a date or a "
                        "column that is summed).")


def check_inputs(data: pd.DataFrame | ibis.Table, cols: Columns) -> InputCheck:
    """Rows, rows without a date, and missing and negative values per sum column (one aggregate in the database)."""
    sums = cols.sums()
    if isinstance(data, pd.DataFrame):
        dates = data[cols.date]
        return InputCheck(
            rows=len(data), missing_dates=int(dates.isna().sum()),
            missing={c: int(data[c].isna().sum()) for c in sums.values()},
            negative={c: int((data[c] < 0).sum()) for role, c in sums.items() if role in NON_NEGATIVE})
    t = data
    aggs: dict[str, Any] = {"rows": t.count(), "missing_dates": t[cols.date].isnull().sum()}
    for i, c in enumerate(sums.values()):
        aggs[f"m{i}"] = t[c].isnull().sum()
        aggs[f"n{i}"] = (t[c] < 0).sum()
    row = t.aggregate(**aggs).execute().iloc[0]
    return InputCheck(
        rows=int(row["rows"]), missing_dates=int(row["missing_dates"] or 0),
        missing={c: int(row[f"m{i}"] or 0) for i, c in enumerate(sums.values())},
        negative={c: int(row[f"n{i}"] or 0) for i, (role, c) in enumerate(sums.items()) if role in NON_NEGATIVE})


def _ratio(num: pd.Series | None, den: pd.Series | None, scale: float = 1.0) -> pd.Series | float:
    """num / den, NaN where either is not given or den is zero (or missing)."""
    if num is None or den is None:
        return np.nan
    n = pd.to_numeric(num, errors="coerce").astype(float)
    d = pd.to_numeric(den, errors="coerce").astype(float)
    return (scale * n / d.where(d != 0)).astype(float)


def add_kpis(sums: pd.DataFrame, cols: Columns) -> pd.DataFrame:
    """`sums` with ctr, cpc, cpm, cvr, cpa, roas and roi computed from its sum columns (NaN where undefined)."""
    out = sums.copy()

    def col(role: str) -> pd.Series | None:
        name = getattr(cols, role)
        return out[name] if name is not None and name in out else None

    spend, imp, clk, conv, rev = col("spend"), col("impressions"), col("clicks"), col("conversions"), col("revenue")
    out["ctr"] = _ratio(clk, imp)
    out["cpc"] = _ratio(spend, clk)
    out["cpm"] = _ratio(spend, imp, 1000.0)
    out["cvr"] = _ratio(conv, clk)
    out["cpa"] = _ratio(spend, conv)
    out["roas"] = _ratio(rev, spend)
    out["roi"] = _ratio(None if rev is None or spend is None else rev - spend, spend)
    for k in KPIS:
        out[k] = out[k].astype(float)
    return out


def _period_end(start: pd.Series, freq: Freq) -> pd.Series:
    if freq == "D":
        return start
    if freq == "W":
        return start + pd.Timedelta(days=6)
    return start + pd.offsets.MonthEnd(0)


def _aggregate_pandas(df: pd.DataFrame, cols: Columns, by: list[str], freq: Freq) -> pd.DataFrame:
    sums = cols.sums()
    dates = pd.to_datetime(df[cols.date], errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    frame = pd.DataFrame({c: df[c] for c in dict.fromkeys([*by, *sums.values()])})
    frame["__day"] = dates.dt.normalize()
    frame = frame[frame["__day"].notna()]
    if freq == "D":
        frame["period"] = frame["__day"]
    elif freq == "W":
        frame["period"] = frame["__day"] - pd.to_timedelta(frame["__day"].dt.weekday, unit="D")
    elif freq == "M":
        frame["period"] = frame["__day"].dt.to_period("M").dt.to_timestamp()
    keys = (["period"] if freq != "total" else []) + by
    spec: dict[str, tuple[str, str]] = {"rows": ("__day", "size")}
    spec.update({c: (c, "sum") for c in sums.values()})
    if freq == "total":
        spec.update({"period": ("__day", "min"), "period_end": ("__day", "max")})
    if keys:
        out = frame.groupby(keys, dropna=False, sort=False).agg(**spec).reset_index()  # type: ignore[call-overload]
    else:
        agg = {name: len(frame) if how == "size" else getattr(frame[c], how)() for name, (c, how) in spec.items()}
        out = pd.DataFrame([agg]) if len(frame) else pd.DataFrame(columns=list(spec))
    if freq != "total":
        out["period_end"] = _period_end(out["period"], freq)
    return out


def _aggregate_ibis(t: ibis.Table, cols: Columns, by: list[str], freq: Freq) -> pd.DataFrame:
    sums = cols.sums()
    d = t[cols.date]
    dtype = t.schema()[cols.date]
    if dtype.is_string():
        day = d.cast("timestamp").cast("date")
    elif dtype.is_timestamp():
        day = d.cast("date")
    elif dtype.is_date():
        day = d
    else:
        raise DataError(f"'{cols.date}' does not hold dates ({dtype}). Pick the date column.")
    t = t.filter(day.notnull()).mutate(__day=day)
    if freq != "total":
        t = t.mutate(period=t["__day"].truncate(freq))
    aggs: dict[str, Any] = {"rows": t.count()}
    aggs.update({c: t[c].sum() for c in sums.values()})
    # negative spend and counts are counted in the same scan (kpis raises on them)
    aggs.update({f"__neg_{role}": (t[c] < 0).sum() for role, c in sums.items() if role in NON_NEGATIVE})
    if freq == "total":
        aggs.update(period=t["__day"].min(), period_end=t["__day"].max())
        grouped = t.group_by(by).aggregate(**aggs) if by else t.aggregate(**aggs)
    else:
        grouped = t.group_by(["period", *by]).aggregate(**aggs)
    out = grouped.execute()
    out["period"] = pd.to_datetime(out["period"])
    if freq == "total":
        out["period_end"] = pd.to_datetime(out["period_end"])
    else:
        out["period_end"] = _period_end(out["period"], freq)
    return out


def kpis(data: pd.DataFrame | ibis.Table, *, date: str, spend: str, impressions: str | None = None,
         clicks: str | None = None, conversions: str | None = None, revenue: str | None = None,
         by: str | Sequence[str] | None = None, freq: Freq = "D") -> pd.DataFrame:
    """One row per period (freq "D", "W" from Monday, "M", or "total") and group of `by`, with the sums and
    ctr, cpc, cpm, cvr, cpa, roas, roi as ratios of those sums.

    Columns: `period` (the period's first day; for "total" the group's first date), `period_end`, the `by`
    columns, `rows`, the sums under the input column names (floats), then the seven KPIs (NaN where a
    column is not given or a denominator is zero). Rows are sorted by period, then group. More in the
    module docstring.

    An Ibis table is aggregated in the database. Negative spend or counts raise DataError naming the
    column and the number of rows."""
    if freq not in FREQS:
        raise DataError(f"freq must be one of {', '.join(FREQS)} (day, week from Monday, month, whole period); "
                        f"got {freq!r}.")
    cols = Columns(date, spend, impressions, clicks, conversions, revenue)
    groups = _by_list(by)
    validate(data, cols, groups)
    if isinstance(data, pd.DataFrame):
        check_inputs(data, cols).raise_for_negatives()
        raw = _aggregate_pandas(data, cols, groups, freq)
    else:  # one scan in the database: the sums and the count of negative values together
        raw = _aggregate_ibis(data, cols, groups, freq)
        negative = {c: int(pd.to_numeric(raw.pop(f"__neg_{role}")).fillna(0).sum())
                    for role, c in cols.sums().items() if role in NON_NEGATIVE}
        InputCheck(rows=0, missing_dates=0, missing={}, negative=negative).raise_for_negatives()
    raw = raw[pd.to_numeric(raw["rows"]) > 0]  # an empty table gives no rows (not one row of zeros)
    sum_cols = list(dict.fromkeys(cols.sums().values()))
    for c in sum_cols:
        raw[c] = pd.to_numeric(raw[c], errors="coerce").astype(float).fillna(0.0)
    raw["rows"] = pd.to_numeric(raw["rows"]).astype("int64")
    for c in ("period", "period_end"):
        raw[c] = pd.to_datetime(raw[c]).astype("datetime64[ns]")
    out = add_kpis(raw, cols)
    order = ["period", "period_end", *groups, "rows", *sum_cols, *KPIS]
    out = out[order].sort_values(["period", *groups], kind="stable", na_position="last").reset_index(drop=True)
    return out


def total_row(frame: pd.DataFrame, cols: Columns) -> dict[str, float]:
    """Sums and KPIs of a whole `kpis` result (ratios of the summed sums): for cards and table footers."""
    sums = {c: float(frame[c].sum()) for c in cols.sums().values() if c in frame}
    one = add_kpis(pd.DataFrame([sums]), cols).iloc[0]
    return {k: float(v) for k, v in one.items()}


# ------------------------------------------------------------------------------------------ cards
@dataclass(frozen=True)
class KpiChange:
    """One KPI card: the value in the chosen period, in the previous one, and the change.

    `change` is relative ((now - before) / before; NaN when before is 0 or missing); for rates (CTR, CVR,
    ROI) `points` is the difference in percentage points as a share (0.004 = +0.4 pts), NaN otherwise."""

    kpi: str
    label: str
    value: float
    previous: float
    change: float
    points: float
    higher_is_better: bool

    @property
    def better(self) -> bool | None:
        """Whether the change is good news (None when there is no change to judge)."""
        delta = self.value - self.previous
        if not np.isfinite(delta) or delta == 0:
            return None
        return (delta > 0) == self.higher_is_better


@dataclass(frozen=True)
class PeriodComparison:
    """The chosen period against the previous period of the same length (the days just before it)."""

    start: pd.Timestamp
    end: pd.Timestamp
    previous_start: pd.Timestamp
    previous_end: pd.Timestamp
    rows: int  # input rows in the chosen period
    previous_rows: int
    cards: tuple[KpiChange, ...]

    @property
    def days(self) -> int:
        return int((self.end - self.start).days) + 1

    def card(self, kpi: str) -> KpiChange:
        return next(c for c in self.cards if c.kpi == kpi)

    def table(self) -> pd.DataFrame:
        """kpi, label, value, previous, change, points: the cards as a table (raw numbers, for downloads)."""
        return pd.DataFrame([{"kpi": c.kpi, "label": c.label, "value": c.value, "previous": c.previous,
                              "change": c.change, "points": c.points} for c in self.cards],
                            columns=["kpi", "label", "value", "previous", "change", "points"])


def _day(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(f"The {what} '{value}' is not a date. Use a date such as 2026-11-01.") from None
    if pd.isna(ts):
        raise DataError(f"Give the {what} as a date such as 2026-11-01.")
    return ts.tz_localize(None).normalize() if ts.tzinfo else ts.normalize()


def between(data: pd.DataFrame | ibis.Table, date: str, start: Any, end: Any) -> pd.DataFrame | ibis.Table:
    """The rows of `data` dated from `start` to `end`, both days included (filtered in the database for Ibis)."""
    lo, hi = _day(start, "start date"), _day(end, "end date")
    if isinstance(data, pd.DataFrame):
        days = pd.to_datetime(data[date], errors="coerce")
        if getattr(days.dt, "tz", None) is not None:
            days = days.dt.tz_localize(None)
        days = days.dt.normalize()
        return data[(days >= lo) & (days <= hi)]
    col = data[date]
    dtype = data.schema()[date]
    day = col.cast("timestamp").cast("date") if dtype.is_string() else col.cast("date") if dtype.is_timestamp() else col
    return data.filter(day.between(lo.date(), hi.date()))


def compare_periods(data: pd.DataFrame | ibis.Table, *, date: str, spend: str, start: Any, end: Any,
                    impressions: str | None = None, clicks: str | None = None, conversions: str | None = None,
                    revenue: str | None = None) -> PeriodComparison:
    """KPI cards for `start`..`end` (days included) against the same number of days just before `start`.

    Each card: spend, the sums given, and every KPI that the given columns define, each with its change."""
    lo, hi = _day(start, "start date"), _day(end, "end date")
    if hi < lo:
        raise DataError(f"The period ends ({hi:%Y-%m-%d}) before it starts ({lo:%Y-%m-%d}). Pick the start first.")
    length = (hi - lo).days + 1
    prev_hi = lo - pd.Timedelta(days=1)
    prev_lo = prev_hi - pd.Timedelta(days=length - 1)
    named = dict(date=date, spend=spend, impressions=impressions, clicks=clicks, conversions=conversions,
                 revenue=revenue)
    cols = Columns(date, spend, impressions, clicks, conversions, revenue)
    now = kpis(between(data, date, lo, hi), freq="total", **named)  # type: ignore[arg-type]
    before = kpis(between(data, date, prev_lo, prev_hi), freq="total", **named)  # type: ignore[arg-type]

    def values(frame: pd.DataFrame) -> dict[str, float]:
        if frame.empty:
            return {}
        row = frame.iloc[0]
        return {k: float(row[c]) for k, c in [*cols.sums().items(), *((k, k) for k in KPIS)]}

    v_now, v_before = values(now), values(before)
    cards = []
    for kpi in [*cols.sums(), *_defined_kpis(cols)]:
        info = KPI_INFO[kpi]
        value, prev = v_now.get(kpi, np.nan), v_before.get(kpi, np.nan)
        change = (value - prev) / abs(prev) if np.isfinite(prev) and prev != 0 and np.isfinite(value) else np.nan
        pts = value - prev if info.rate else np.nan
        cards.append(KpiChange(kpi, info.label, value, prev, float(change), float(pts), info.higher_is_better))
    return PeriodComparison(lo, hi, prev_lo, prev_hi, int(now["rows"].sum()), int(before["rows"].sum()), tuple(cards))


def _defined_kpis(cols: Columns) -> list[str]:
    """The KPIs that the given columns can define (ctr needs clicks and impressions ...)."""
    has = {role for role in cols.sums()}
    need = {"ctr": {"clicks", "impressions"}, "cpc": {"clicks"}, "cpm": {"impressions"},
            "cvr": {"conversions", "clicks"}, "cpa": {"conversions"}, "roas": {"revenue"}, "roi": {"revenue"}}
    return [k for k in KPIS if need[k] <= has]


def defined_kpis(*, impressions: str | None = None, clicks: str | None = None, conversions: str | None = None,
                 revenue: str | None = None) -> list[str]:
    """The KPIs a table with these columns (and spend) can show, in the usual order."""
    return _defined_kpis(Columns("date", "spend", impressions, clicks, conversions, revenue))
