"""Pacing: is each campaign spending its budget at the right speed?

pace = spend to date / (budget x elapsed share of the flight)   (marketing-conventions.md, "Campaign KPIs")

The flight runs from `start` to `end` (both days included; by default the calendar month of `as_of`),
`as_of` is the last day counted (by default the last date with data in the flight) and the elapsed
share is (as_of - start + 1) / flight days. The status uses a stated tolerance (10% by default):
pace below 1 - tolerance is "under", above 1 + tolerance is "over", else "on track".

The budget is either
- a plain number: the budget of the whole flight for each group (for the whole table without `by`), or
- a column holding, on every row, the budget of that row's budget line (e.g. campaign + channel, the
  `budget_by` columns) for the row's calendar month, the same value on every day of the month. The
  flight's budget of a line is the sum over its months of month budget x (flight days in that month /
  days in the month), and the expected spend to date is the same sum over the elapsed days only; a
  group (`by`) adds up its lines. For a flight inside one month this is budget x elapsed share exactly.
  A month of the flight with no row for a line has no known budget: it counts as 0 and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import ibis
import numpy as np
import pandas as pd

from core.campaigns.kpis import Columns, _by_list, _columns_of, _day, _is_numeric, between, check_inputs
from core.errors import DataError
from core.formatting import money, percent
from core.wording import plural

Status = Literal["under", "on track", "over"]
TOLERANCE = 0.10
STATUS_WORDS: dict[str, str] = {"under": "under-spending", "on track": "on track", "over": "over-spending"}
TABLE_COLUMNS = ["budget", "spend", "expected_spend", "elapsed_share", "pace", "projected_spend", "status",
                 "explanation"]


@dataclass(frozen=True)
class Pacing:
    """Pacing per group: `table` has the `by` columns, then budget (of the whole flight), spend (to date),
    expected_spend (budget x elapsed share), elapsed_share, pace (spend / expected), projected_spend
    (spend / elapsed share: where the flight ends at this speed), status and a one-line explanation."""

    table: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    tolerance: float
    by: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what could not be counted (months without a budget ...)

    @property
    def elapsed_share(self) -> float:
        return ((self.as_of - self.start).days + 1) / ((self.end - self.start).days + 1)

    def counts(self) -> dict[str, int]:
        """How many groups are under, on track and over."""
        return {s: int((self.table["status"] == s).sum()) for s in ("under", "on track", "over")}


def status_of(pace: float, tolerance: float = TOLERANCE) -> Status | None:
    """under / on track / over for a pace (spend / expected spend); None when the pace is undefined."""
    if not np.isfinite(pace):
        return None
    if pace < 1 - tolerance:
        return "under"
    if pace > 1 + tolerance:
        return "over"
    return "on track"


def _days(data: pd.DataFrame | ibis.Table, date: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last date in `data` (None when it has none)."""
    if isinstance(data, pd.DataFrame):
        d = pd.to_datetime(data[date], errors="coerce").dropna()
        return (d.min().normalize(), d.max().normalize()) if len(d) else None
    row = data.aggregate(lo=data[date].min(), hi=data[date].max()).execute().iloc[0]
    if pd.isna(row["lo"]):
        return None
    return pd.Timestamp(row["lo"]).normalize(), pd.Timestamp(row["hi"]).normalize()


def _group_sums(data: pd.DataFrame | ibis.Table, keys: list[str], column: str) -> pd.DataFrame:
    """Sum of `column` per `keys` (in the database for Ibis)."""
    if isinstance(data, pd.DataFrame):
        if not keys:
            return pd.DataFrame({column: [float(data[column].sum())]})
        return data.groupby(keys, dropna=False)[column].sum().reset_index()
    agg = {column: data[column].sum()}
    out = (data.group_by(keys).aggregate(**agg) if keys else data.aggregate(**agg)).execute()
    return out


def _month_budgets(data: pd.DataFrame | ibis.Table, date: str, budget: str, lines: list[str]) -> pd.DataFrame:
    """One row per budget line and month: month (first day), low, high (min and max of the budget column)."""
    if isinstance(data, pd.DataFrame):
        frame = pd.DataFrame({c: data[c] for c in lines})
        frame["month"] = pd.to_datetime(data[date], errors="coerce").dt.to_period("M").dt.to_timestamp()
        frame["value"] = pd.to_numeric(data[budget], errors="coerce")
        frame = frame[frame["month"].notna()]
        out = frame.groupby([*lines, "month"], dropna=False)["value"].agg(low="min", high="max").reset_index()
    else:
        d = data[date]
        dtype = data.schema()[date]
        day = d.cast("timestamp").cast("date") if dtype.is_string() else d.cast("date") if dtype.is_timestamp() else d
        t = data.filter(day.notnull()).mutate(month=day.truncate("M"))
        out = t.group_by([*lines, "month"]).aggregate(low=t[budget].min(), high=t[budget].max()).execute()
    out["month"] = pd.to_datetime(out["month"]).astype("datetime64[ns]")
    return out


def _overlap_share(month: pd.Timestamp, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """Share of `month`'s days that fall in lo..hi (both included)."""
    first = month
    last = month + pd.offsets.MonthEnd(0)
    a, b = max(first, lo), min(last, hi)
    if b < a:
        return 0.0
    return ((b - a).days + 1) / ((last - first).days + 1)


def pacing(data: pd.DataFrame | ibis.Table, *, date: str, spend: str, budget: float | str,
           by: str | Sequence[str] | None = None, budget_by: str | Sequence[str] | None = None,
           start: Any = None, end: Any = None, as_of: Any = None, tolerance: float = TOLERANCE) -> Pacing:
    """Pacing of each group of `by` against its budget over the flight `start`..`end` (see the module docstring).

    budget: a number (the flight's budget per group) or the name of a monthly budget column; budget_by:
    the columns of one budget line in that column (default: `by`)."""
    groups = _by_list(by)
    lines = _by_list(budget_by) if budget_by is not None else list(groups)
    present = set(_columns_of(data))
    missing = [c for c in [date, spend, *groups, *lines] if c not in present]
    if isinstance(budget, str) and budget not in present:
        missing.append(budget)
    if missing:
        raise DataError(f"Column(s) not in the table: {', '.join(missing)}. Pick columns the table has.")
    if not set(groups) <= set(lines):
        raise DataError("Budget lines (budget_by) must include the columns you group by, so that each group adds "
                        f"up whole lines: add {', '.join(c for c in groups if c not in lines)} to them.")
    if not (0 <= tolerance < 1):
        raise DataError("The pacing tolerance is a share between 0 and 1 (0.1: within 10% of the planned pace).")
    if not _is_numeric(data, spend):
        raise DataError(f"'{spend}' holds no numbers: pick the spend column.")
    span = _days(data, date)
    if span is None:
        raise DataError("The table has no dated rows to pace. Check the date column.")
    last_day = span[1]
    as_of_day = _day(as_of, "as-of date") if as_of is not None else None
    ref = as_of_day or last_day
    lo = _day(start, "flight start") if start is not None else ref.replace(day=1)
    hi = _day(end, "flight end") if end is not None else lo + pd.offsets.MonthEnd(0)
    if hi < lo:
        raise DataError(f"The flight ends ({hi:%Y-%m-%d}) before it starts ({lo:%Y-%m-%d}).")
    if as_of_day is None:
        inside = _days(between(data, date, lo, hi), date)
        if inside is None:
            raise DataError(f"No spend is recorded between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}: pick a flight that "
                            "overlaps the data, or give the as-of date.")
        as_of_day = inside[1]
    if not lo <= as_of_day <= hi:
        raise DataError(f"The as-of date {as_of_day:%Y-%m-%d} is outside the flight ({lo:%Y-%m-%d} to "
                        f"{hi:%Y-%m-%d}).")
    flight_days = (hi - lo).days + 1
    elapsed = ((as_of_day - lo).days + 1) / flight_days
    spent = _group_sums(between(data, date, lo, as_of_day), groups, spend).rename(columns={spend: "spend"})
    check_inputs(data, Columns(date, spend)).raise_for_negatives()
    notes: list[str] = []
    if isinstance(budget, str):
        plan = _column_budgets(data, date, budget, groups, lines, lo, hi, as_of_day, notes)
    else:
        try:
            amount = float(budget)
        except (TypeError, ValueError):
            raise DataError("The budget is a number (the flight's budget) or a budget column.") from None
        if not np.isfinite(amount) or amount <= 0:
            raise DataError("The budget must be a positive number: the money planned for the whole flight.")
        keys = spent[groups] if groups else pd.DataFrame(index=[0])
        plan = keys.copy()
        plan["budget"] = amount
        plan["expected_spend"] = amount * elapsed
    table = plan.merge(spent, on=groups, how="outer") if groups else pd.concat([plan, spent], axis=1)
    table["spend"] = pd.to_numeric(table["spend"], errors="coerce").fillna(0.0).astype(float)
    for c in ("budget", "expected_spend"):
        table[c] = pd.to_numeric(table[c], errors="coerce").fillna(0.0).astype(float)
    table["elapsed_share"] = elapsed
    expected = table["expected_spend"].where(table["expected_spend"] > 0)
    table["pace"] = (table["spend"] / expected).astype(float)
    table["projected_spend"] = table["spend"] / elapsed
    table["status"] = [status_of(p, tolerance) for p in table["pace"]]
    table["explanation"] = [_explain(r, groups, tolerance) for _, r in table.iterrows()]
    table = table[[*groups, *TABLE_COLUMNS]].sort_values(groups or ["spend"], kind="stable").reset_index(drop=True)
    return Pacing(table, lo, hi, as_of_day, tolerance, tuple(groups), tuple(notes))


def _column_budgets(data: pd.DataFrame | ibis.Table, date: str, budget: str, groups: list[str], lines: list[str],
                    lo: pd.Timestamp, hi: pd.Timestamp, as_of: pd.Timestamp, notes: list[str]) -> pd.DataFrame:
    """budget and expected_spend per group from a monthly budget column (module docstring)."""
    if not _is_numeric(data, budget):
        raise DataError(f"'{budget}' holds no numbers: pick the budget column, or type the budget in.")
    months = _month_budgets(between(data, date, lo.replace(day=1), hi + pd.offsets.MonthEnd(0)), date, budget, lines)
    negative = months[months["low"] < 0]
    if len(negative):
        raise DataError(f"'{budget}' is below zero for {plural(len(negative), 'budget line-month')}: budgets cannot "
                        "be negative.")
    mixed = months[(months["high"] - months["low"]).abs() > 1e-9 * months["high"].abs().clip(lower=1)]
    if len(mixed):
        first = mixed.iloc[0]
        where = " · ".join(str(first[c]) for c in lines) or "the table"
        raise DataError(f"'{budget}' changes within a month ({where}, {first['month']:%Y-%m}: {first['low']:,.2f} to "
                        f"{first['high']:,.2f}). The column should hold the month's budget of one budget line on "
                        "every day of that month: pick the columns that identify a budget line (e.g. campaign and "
                        "channel), or type the budget in.")
    months["budget"] = [b * _overlap_share(m, lo, hi) for m, b in zip(months["month"], months["high"])]
    months["expected_spend"] = [b * _overlap_share(m, lo, as_of) for m, b in zip(months["month"], months["high"])]
    # months of the flight in which a line has no row: its budget there is not known
    wanted = pd.period_range(lo, hi, freq="M").to_timestamp()
    seen = months.groupby(lines, dropna=False)["month"].apply(set) if lines else pd.Series({(): set(months["month"])})
    gaps = sum(len([m for m in wanted if m not in have]) for have in seen)
    if gaps:
        notes.append(f"{plural(gaps, 'budget line-month')} of the flight {'has' if gaps == 1 else 'have'} no row and "
                     "so no known budget; counted as 0.")
    if groups:
        return months.groupby(groups, dropna=False)[["budget", "expected_spend"]].sum().reset_index()
    return pd.DataFrame({"budget": [months["budget"].sum()], "expected_spend": [months["expected_spend"].sum()]})


def _explain(row: pd.Series, groups: list[str], tolerance: float) -> str:
    name = " · ".join(str(row[c]) for c in groups) or "All campaigns"
    if row["budget"] <= 0:
        return f"{name}: spent {money(row['spend'], 0)} with no budget for this flight."
    status = row["status"]
    pace = row["pace"]
    return (f"{name}: spent {money(row['spend'], 0)} of {money(row['budget'], 0)} with {percent(row['elapsed_share'], 0)}"
            f" of the flight gone ({money(row['expected_spend'], 0)} expected): {STATUS_WORDS.get(str(status), '')} at "
            f"{percent(pace, 0)} of plan (within ±{percent(tolerance, 0)} is on track); at this pace the flight ends "
            f"at {money(row['projected_spend'], 0)}.")
