"""Anomaly flags: days far outside their recent range, robust to the outliers they look for.

For each day, the reference is the previous `window` calendar days (28 by default; the day itself is
not in it): their median and their MAD (median absolute deviation from that median). The robust
deviation is (value - median) / (1.4826 x MAD); 1.4826 makes the MAD estimate the standard deviation
of normal data, so the number reads like a z-score that a few extreme days cannot inflate. A day is
flagged when |deviation| > `threshold` (3.5 by default, Iglewicz and Hoaglin's cut-off for modified
z-scores) and its window holds at least `min_history` days with data (14 by default).

When more than half of the window's values are equal the MAD is 0; the scale then falls back to
1.2533 x the mean absolute deviation from the median (which estimates the standard deviation of normal
data too); when that is 0 as well (a constant history) no deviation is defined and the day is not flagged.
Days without rows are not in the series (they are not taken as 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.campaigns.kpis import KPI_INFO, KPIS, _by_list, kpis
from core.errors import DataError
from core.formatting import format_value, significant

WINDOW = 28
THRESHOLD = 3.5
MIN_HISTORY = 14
MAD_SCALE = 1.4826  # 1 / Phi^-1(3/4)
MEAN_AD_SCALE = 1.2533  # sqrt(pi / 2)
COLUMNS = ["day", "metric", "value", "median", "scale", "deviation", "history", "direction", "explanation"]


@dataclass(frozen=True)
class Anomalies:
    """Flagged days: `flags` has the `by` columns, then day, metric, value, median (of the window), scale
    (robust standard deviation), deviation, history (days in the window), direction (above/below) and a
    one-line explanation; `scores` the same for every day that had enough history (flagged or not)."""

    flags: pd.DataFrame
    scores: pd.DataFrame
    window: int
    threshold: float
    min_history: int
    by: tuple[str, ...]

    def rule(self) -> str:
        """The rule in one sentence, for a page caption."""
        return (f"A day is flagged when it is more than {significant(self.threshold, 2)} robust deviations from the "
                f"median of the previous {self.window} days (scale: 1.4826 x their median absolute deviation; at "
                f"least {self.min_history} days of history).")


def robust_scores(values: pd.Series, days: pd.Series, *, window: int = WINDOW, min_history: int = MIN_HISTORY
                  ) -> pd.DataFrame:
    """For each day: median and robust scale of the previous `window` calendar days, deviation, history.

    `days` are dates (one per value, any order); rows with too little history get NaN deviation."""
    order = np.argsort(pd.to_datetime(days).to_numpy(), kind="stable")
    d = pd.to_datetime(days).to_numpy()[order].astype("datetime64[D]")
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)[order]
    n = len(x)
    med = np.full(n, np.nan)
    scale = np.full(n, np.nan)
    hist = np.zeros(n, dtype=int)
    for i in range(n):
        lo = np.searchsorted(d, d[i] - np.timedelta64(window, "D"), side="left")
        hi = np.searchsorted(d, d[i], side="left")
        past = x[lo:hi]
        past = past[np.isfinite(past)]
        hist[i] = len(past)
        if len(past) < max(min_history, 1) or not np.isfinite(x[i]):
            continue
        m = float(np.median(past))
        mad = float(np.median(np.abs(past - m)))
        s = MAD_SCALE * mad
        if s == 0:
            s = MEAN_AD_SCALE * float(np.mean(np.abs(past - m)))
        med[i] = m
        scale[i] = s if s > 0 else np.nan
    dev = (x - med) / scale
    out = pd.DataFrame({"day": d.astype("datetime64[ns]"), "value": x, "median": med, "scale": scale,
                        "deviation": dev, "history": hist})
    out.index = order
    return out.sort_index()


def _label(metric: str) -> str:
    info = KPI_INFO.get(metric)
    return info.label if info else metric


def _shown(metric: str, value: float) -> str:
    info = KPI_INFO.get(metric)
    if info is not None and info.format == "percent":
        return format_value(value, "percent")
    if info is not None and info.format == "ratio":
        return format_value(value, "ratio")
    return significant(value, 3)


def explain(metric: str, day: pd.Timestamp, value: float, median: float, deviation: float, window: int,
            group: str = "") -> str:
    """ "Spend on 2026-11-03 was 4,210, 3.8 robust deviations above the previous 28 days' median of 1,950"."""
    where = f"{group}: " if group else ""
    side = "above" if deviation > 0 else "below"
    return (f"{where}{_label(metric)} on {pd.Timestamp(day):%Y-%m-%d} was {_shown(metric, value)}, "
            f"{abs(deviation):.1f} robust deviations {side} the previous {window} days' median of "
            f"{_shown(metric, median)}")


def flag_daily(daily: pd.DataFrame, metrics: Sequence[str], *, day: str = "period",
               by: str | Sequence[str] | None = None, window: int = WINDOW, threshold: float = THRESHOLD,
               min_history: int = MIN_HISTORY) -> Anomalies:
    """Flag days of a daily frame (one row per day and group, e.g. `kpis(..., freq="D")`) on each metric."""
    groups = _by_list(by)
    if window < 3:
        raise DataError("The anomaly window needs at least 3 days.")
    if not threshold > 0:
        raise DataError("The anomaly threshold is a positive number of robust deviations (3.5 is usual).")
    if not 1 <= min_history <= window:
        raise DataError(f"The minimum history is between 1 and the window ({window} days).")
    missing = [c for c in [day, *groups, *metrics] if c not in daily.columns]
    if missing:
        raise DataError(f"Column(s) not in the daily table: {', '.join(missing)}.")
    parts = []
    keyed = daily.groupby(groups, dropna=False, sort=True) if groups else [((), daily)]
    for key, frame in keyed:
        key = key if isinstance(key, tuple) else (key,)
        name = " · ".join(str(k) for k in key)
        if frame[day].duplicated().any():
            raise DataError("The daily table has several rows for one day in a group: aggregate it by day first "
                            "(kpis with freq='D' and the same breakdown).")
        for metric in metrics:
            s = robust_scores(frame[metric].reset_index(drop=True), frame[day].reset_index(drop=True), window=window,
                              min_history=min_history)
            s = s[s["deviation"].notna()].copy()
            s.insert(1, "metric", metric)
            for c, v in zip(groups, key):
                s[c] = v
            s["direction"] = np.where(s["deviation"] > 0, "above", "below")
            s["explanation"] = [explain(metric, r.day, r.value, r.median, r.deviation, window, name)
                                for r in s.itertuples()]
            parts.append(s)
    cols = [*groups, *COLUMNS]
    scores = pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
    flags = scores[scores["deviation"].abs() > threshold]
    flags = flags.assign(_size=flags["deviation"].abs()).sort_values(["day", "_size"], ascending=[False, False])
    flags = flags.drop(columns="_size").reset_index(drop=True)
    return Anomalies(flags, scores.reset_index(drop=True), window, float(threshold), min_history, tuple(groups))


def anomalies(data: Any, *, date: str, spend: str, impressions: str | None = None, clicks: str | None = None,
              conversions: str | None = None, revenue: str | None = None, by: str | Sequence[str] | None = None,
              metrics: Sequence[str] | None = None, window: int = WINDOW, threshold: float = THRESHOLD,
              min_history: int = MIN_HISTORY) -> Anomalies:
    """Daily KPIs (`kpis(freq="D")`, per group of `by`) flagged on `metrics` (default: spend, revenue when
    given, and the KPIs the columns define). Metrics are named by role (spend, clicks ...) or KPI (ctr ...)."""
    named = dict(spend=spend, impressions=impressions, clicks=clicks, conversions=conversions, revenue=revenue)
    daily = kpis(data, date=date, by=by, freq="D", **named)  # type: ignore[arg-type]
    by_role = {role: col for role, col in named.items() if col is not None}
    if metrics is None:
        from core.campaigns.kpis import defined_kpis
        metrics = ["spend", *(["revenue"] if revenue else []),
                   *defined_kpis(impressions=impressions, clicks=clicks, conversions=conversions, revenue=revenue)]
    unknown = [m for m in metrics if m not in by_role and m not in KPIS]
    if unknown:
        raise DataError(f"Unknown metric(s) {', '.join(unknown)}: use {', '.join([*by_role, *KPIS])}.")
    renamed = daily.rename(columns={col: role for role, col in by_role.items() if col != role})
    return flag_daily(renamed, list(metrics), by=by, window=window, threshold=threshold, min_history=min_history)
