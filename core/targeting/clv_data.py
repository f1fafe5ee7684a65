"""Transactions to the per-customer CLV summary (lifetimes' conventions), computed in the database with Ibis.

Conventions (lifetimes' `summary_data_from_transaction_data` with freq="D" and freq_multiplier = days of
the unit, which is how Fader, Hardie and Lee measure CDNOW in weeks):
- purchases on one day count once (that day's amounts are summed); timestamps are cut to the day;
- frequency = repeat purchase days (days with a purchase after the first one);
- recency = last minus first purchase day, T = calibration end minus first purchase day, both in days
  divided by the unit's days (D = 1, W = 7, M = 30), so fractions of a week are kept (30.43 weeks);
- monetary_value = mean spend of the repeat days (the first day's spend left out; 0 when frequency is 0);
- purchases after the calibration end (inclusive end, default: the last purchase date) are left out, and
  customers whose first purchase comes later are not in the summary (counted).
Rows that cannot be used are never dropped silently: missing customer, date or amount and negative
amounts (refunds) are counted and left out; zero amounts stay purchases (as in lifetimes) and are counted.
"""

from __future__ import annotations

import datetime as _dt
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from core.errors import DataError
from core.query import as_ibis, execute
from core.targeting.clv_math import UNIT_DAYS

Freq = Literal["D", "W", "M"]
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months (30 days)"}


@dataclass(frozen=True, eq=False)
class Prepared:
    """Usable transactions as one row per customer and day (__c, __d, __a), with the row counts."""

    days: Any  # ibis.Table
    backend: Any
    customer: str
    counts: dict[str, int]
    first_date: _dt.date
    last_date: _dt.date
    temp_name: str | None = None

    def release(self) -> None:
        """Drop the temporary day table (a workspace connection lives as long as the app)."""
        try:
            if hasattr(self.days, "release"):
                self.days.release()
            elif self.temp_name is not None and self.backend is not None:
                self.backend.drop_table(self.temp_name, force=True)
        except Exception:  # noqa: BLE001 - freeing memory early is best effort; the table goes with its connection
            pass


def check_freq(freq: str) -> str:
    if freq not in UNIT_DAYS:
        raise DataError(f"freq must be 'D' (days), 'W' (weeks) or 'M' (30-day months), not {freq!r}.")
    return freq


def to_date(value: Any, name: str) -> _dt.date:
    """A date from a string, date or timestamp (cut to the day)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(f"{name}={value!r} is not a date; give it as YYYY-MM-DD.") from None
    if pd.isna(ts):
        raise DataError(f"{name} is empty; give a date as YYYY-MM-DD or leave it out.")
    return ts.date()


def _day(col: Any, name: str, backend: Any) -> Any:
    """The column as a date: dates, timestamps (cut to the day), text, or whole numbers written YYYYMMDD."""
    typ = col.type()
    if typ.is_date():
        return col
    if typ.is_timestamp():
        return col.date()
    if typ.is_string():
        return col.try_cast(dt.timestamp).date()
    if typ.is_integer():
        # 19970101: how CDNOW and other exports write dates; anything else is not a date
        span = execute(col.name("v").as_table().aggregate(lo=col.min(), hi=col.max()), backend).iloc[0]
        if pd.notna(span["lo"]) and 19000101 <= int(span["lo"]) and int(span["hi"]) <= 21001231:
            return col.cast("string").as_date("%Y%m%d")
    raise DataError(f"The date column '{name}' holds {typ}, not dates (nor whole numbers written YYYYMMDD). "
                    "Pick the column with the purchase date.")


def _materialise(expr: Any, backend: Any) -> tuple[Any, str | None]:
    """The expression as a temporary table (the summary and hold-out queries all start from it), else itself."""
    try:
        if backend is not None:
            name = f"__mw_clv_days_{uuid.uuid4().hex[:12]}"
            return backend.create_table(name, expr, temp=True), name
        return expr.cache(), None
    except Exception:  # noqa: BLE001 - a backend without temporary tables: each query recomputes the days
        return expr, None


def prepare(transactions: pd.DataFrame | ibis.Table, customer: str, date: str, amount: str) -> Prepared:
    """Count unusable rows and reduce the rest to one row per customer and purchase day (amounts summed)."""
    for role, col in (("customer", customer), ("date", date), ("amount", amount)):
        if not isinstance(col, str) or not col.strip():
            raise DataError(f"Pick the {role} column (customer, date and amount are all needed for CLV).")
    if len({customer, date, amount}) != 3:
        raise DataError("Customer, date and amount must be three different columns.")
    if customer in SUMMARY_COLUMNS:
        raise DataError(f"The customer column is called '{customer}', a name the CLV summary uses itself; "
                        "rename it (e.g. customer_id).")
    if isinstance(transactions, pd.DataFrame):
        if amount in transactions.columns and not (pd.api.types.is_numeric_dtype(transactions[amount])
                                                   and not pd.api.types.is_bool_dtype(transactions[amount])):
            raise DataError(f"The amount column '{amount}' holds {transactions[amount].dtype}, not numbers. "
                            "Pick the spend column (convert text amounts to numbers on the Data page).")
        if date in transactions.columns:
            col = transactions[date]
            if pd.api.types.is_string_dtype(col) or col.dtype == object:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    parsed = pd.to_datetime(col, errors="coerce", format="mixed")
                transactions = transactions.assign(**{date: parsed})
    t, backend = as_ibis(transactions, [customer, date, amount])
    amt = t[amount]
    if not amt.type().is_numeric() or amt.type().is_boolean():
        raise DataError(f"The amount column '{amount}' holds {amt.type()}, not numbers. Pick the spend column.")
    base = t.select(__c=t[customer], __d=_day(t[date], date, backend), __a=amt.cast("float64"))
    no_c, no_d, no_a = base.__c.isnull(), base.__d.isnull(), base.__a.isnull()
    usable = ~no_c & ~no_d & ~no_a & (base.__a >= 0)
    stats = execute(base.aggregate(
        rows=base.count(),
        missing_customer=no_c.sum(),
        missing_date=(~no_c & no_d).sum(),
        missing_amount=(~no_c & ~no_d & no_a).sum(),
        negative_amount=(~no_c & ~no_d & ~no_a & (base.__a < 0)).sum(),
        zero_amount=(usable & (base.__a == 0)).sum(),
        usable=usable.sum(),
        first=base.__d.min(where=usable),
        last=base.__d.max(where=usable),
    ), backend).iloc[0]
    counts = {k: int(stats[k] or 0) for k in ("rows", "missing_customer", "missing_date", "missing_amount",
                                              "negative_amount", "zero_amount", "usable")}
    if counts["rows"] == 0:
        raise DataError("The transactions table is empty; load transactions first.")
    if counts["usable"] == 0:
        raise DataError(f"No usable transactions: every row misses the customer, a readable date in '{date}' "
                        f"or the amount, or has a negative amount (refund). Check the column choice.")
    days, name = _materialise(base.filter(usable).group_by(["__c", "__d"]).aggregate(__a=base.__a.sum()), backend)
    return Prepared(days, backend, customer, counts, pd.Timestamp(stats["first"]).date(),
                    pd.Timestamp(stats["last"]).date(), name)


def summarise(prep: Prepared, calibration_end: Any, freq: str) -> pd.DataFrame:
    """The summary table to calibration_end (inclusive) in units of freq; attrs hold freq, dates and counts."""
    check_freq(freq)
    end = prep.last_date if calibration_end is None else to_date(calibration_end, "calibration_end")
    if end < prep.first_date:
        raise DataError(f"calibration_end {end} is before the first purchase ({prep.first_date}); "
                        f"pick a date between {prep.first_date} and {prep.last_date}.")
    days = prep.days
    inside = days.filter(days.__d <= ibis.literal(end))
    agg = inside.group_by("__c").aggregate(
        __first=inside.__d.min(), __last=inside.__d.max(), __n=inside.count(), __total=inside.__a.sum(),
        __first_amount=inside.__a.argmin(inside.__d))
    end_lit = ibis.literal(end)
    agg = agg.select(
        "__c", __n="__n",
        __span=agg.__last.delta(agg.__first, unit="day"),
        __age=end_lit.delta(agg.__first, unit="day"),
        __repeat_total=agg.__total - agg.__first_amount,
    )
    later = days.filter(days.__d > end_lit)
    after = execute(later.aggregate(days=later.count()), prep.backend).iloc[0]
    out = execute(agg.order_by("__c"), prep.backend)
    unit = UNIT_DAYS[freq]
    n = out["__n"].to_numpy(dtype="int64")
    repeat = n - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(repeat > 0, out["__repeat_total"].to_numpy(dtype="float64") / np.maximum(repeat, 1), 0.0)
    summary = pd.DataFrame({
        prep.customer: out["__c"].to_numpy(),
        "frequency": repeat,
        "recency": out["__span"].to_numpy(dtype="float64") / unit,
        "T": out["__age"].to_numpy(dtype="float64") / unit,
        "monetary_value": np.maximum(monetary, 0.0),  # rounding of the repeat total can leave -1e-13
    })
    counts = dict(prep.counts)
    counts["purchase_days_after_calibration_end"] = int(after["days"] or 0)
    counts["customers"] = len(summary)
    counts["repeat_buyers"] = int((repeat > 0).sum())
    counts["customers_first_buying_after_calibration_end"] = 0  # not in the summary
    if counts["purchase_days_after_calibration_end"]:
        late = later.select("__c").distinct()
        early = inside.select("__c").distinct()
        counts["customers_first_buying_after_calibration_end"] = int(execute(
            late.anti_join(early, "__c").count(), prep.backend))
    summary.attrs.update({"freq": freq, "calibration_end": str(end), "first_date": str(prep.first_date),
                          "last_date": str(prep.last_date), "counts": counts})
    return summary


def holdout_counts(prep: Prepared, calibration_end: _dt.date, holdout_end: _dt.date) -> pd.DataFrame:
    """Purchase days per customer after calibration_end up to holdout_end (inclusive): __c, actual."""
    days = prep.days
    window = days.filter((days.__d > ibis.literal(calibration_end)) & (days.__d <= ibis.literal(holdout_end)))
    return execute(window.group_by("__c").aggregate(actual=window.count()), prep.backend)


def repeat_days_by_period(prep: Prepared, calibration_end: _dt.date, holdout_end: _dt.date,
                          origin: _dt.date, unit_days: int) -> pd.DataFrame:
    """Repeat purchase days per period (0: the unit_days days after `origin`, ...) of the customers whose
    first purchase is by calibration_end, up to holdout_end: period, actual."""
    days = prep.days
    first = days.group_by("__c").aggregate(__first=days.__d.min())
    first = first.filter(first.__first <= ibis.literal(calibration_end))
    joined = days.inner_join(first, "__c")
    repeat = joined.filter((joined.__d > joined.__first) & (joined.__d <= ibis.literal(holdout_end)))
    offset = repeat.__d.delta(ibis.literal(origin), unit="day")  # >= 1
    per = repeat.select(period=((offset - 1) // unit_days).cast("int64"))
    return execute(per.group_by("period").aggregate(actual=per.count()).order_by("period"), prep.backend)
