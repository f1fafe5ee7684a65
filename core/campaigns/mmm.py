"""Marketing-mix model: return on spend per channel, response curves and budget advice.

    wide = channel_table(campaign_daily, date="date", channel="channel", spend="spend", target="revenue")
    result = fit_mmm(wide, date="date", target="revenue", channels=["display", "email", "search"])
    result.roas            # channel, roas, roas_low, roas_high (95% bootstrap interval)
    plan = result.optimize_budget()          # same total, each channel within 50%-150% of today
    result.expected_change(plan)             # the plan's revenue change with its interval
    result.summary(plan)                     # one paragraph for the manager

The model (core/campaigns/mmm_fit.py has the details): target = baseline (trend, yearly
seasonality, day of week for daily data, controls) + per channel coef * Hill(geometric adstock of
spend), coef >= 0; hyper-parameters by time-series cross-validation with differential evolution;
ROAS = the channel's modelled contribution over the period / its spend over the period; intervals
from a moving-block bootstrap of residuals with refitted hyper-parameters and coefficients.
Transforms: core/campaigns/mmm_transforms.py; allocator and curves: core/campaigns/mmm_optimizer.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from core.campaigns import mmm_fit
from core.campaigns.mmm_fit import Frequency, Replicates, Settings
from core.campaigns.mmm_optimizer import Curves, allocate
from core.campaigns.mmm_transforms import adstock_geometric, saturation_hill
from core.errors import DataError
from core.formatting import percent, significant
from core.wording import plural

__all__ = ["BudgetChange", "FitQuality", "MMMResult", "Settings", "adstock_geometric", "channel_table",
           "fit_mmm", "saturation_hill", "summary_text"]

TargetKind = Literal["revenue", "conversions"]
Progress = Callable[[float, str], None]
MIN_CHANNELS, MAX_CHANNELS = 2, 10
MIN_WEEKS = 52
MIN_DAYS = 364
PERIOD_WORD: dict[str, str] = {"W": "week", "D": "day"}


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class FitQuality(Mapping[str, float]):
    """How well the model fits. r2, nrmse, mape: on the training periods of the check fit (every
    period but the held-out last ones); holdout_mape: that fit's forecast of the held-out periods.
    nrmse = RMSE / (max - min of the target) as in Robyn; mape skips periods where the target is 0.
    Reads as a mapping too: fit["r2"] == fit.r2."""

    r2: float
    nrmse: float
    mape: float
    holdout_mape: float
    holdout_periods: int

    def __getitem__(self, key: str) -> float:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @staticmethod
    def _keys() -> tuple[str, ...]:
        return ("r2", "nrmse", "mape", "holdout_mape", "holdout_periods")


@dataclass(frozen=True)
class BudgetChange:
    """The modelled change of the target per period from the current split to a plan, with its
    bootstrap interval; `share*` divide by the mean target per period (e.g. 0.03 = +3%)."""

    change: float
    change_low: float
    change_high: float
    share: float
    share_low: float
    share_high: float
    level: float


@dataclass(frozen=True)
class MMMResult:
    """A fitted marketing-mix model (small and picklable: the per-period inputs and summaries only).

    params: channel, theta, alpha, gamma, coef (target units per period at full saturation), inflexion
      (adstocked spend per period at half saturation).
    roas: channel, spend, contribution (over the period), roas, roas_low, roas_high (the bootstrap
      interval at `level`), share_of_spend, share_of_effect.
    contributions: date, one column per channel, baseline (intercept, trend, seasonality, controls);
      they sum to the fitted target.
    fitted: date, actual, fitted (the final model), check_fitted (the model fitted without the held-out
      periods, forecasting them), holdout (True for the held-out periods).
    current_spend: mean spend per period over the modelled period, the allocator's "today".
    """

    target: str
    kind: TargetKind
    freq: Frequency
    channels: tuple[str, ...]
    params: pd.DataFrame
    roas: pd.DataFrame
    contributions: pd.DataFrame
    fitted: pd.DataFrame
    fit: FitQuality
    current_spend: pd.Series
    curves: Curves
    replicates: Replicates
    mean_target: float
    level: float
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def period(self) -> str:
        """'week' or 'day'."""
        return PERIOD_WORD[self.freq]

    def _channel_index(self, channel: str) -> int:
        if channel not in self.channels:
            raise DataError(f"'{channel}' is not a channel of this model; choose one of {', '.join(self.channels)}.")
        return self.channels.index(channel)

    def response_curve(self, channel: str, spend: float | Sequence[float] | np.ndarray | None = None
                       ) -> pd.DataFrame:
        """Modelled revenue per period against spend per period for one channel (steady state: the
        same spend every period). Columns: channel, spend (per period), revenue (the channel's
        modelled target per period), roas (revenue / spend), marginal_roas (the return of the next
        unit spent), current (True on the row at today's spend, added when `spend` is None).
        Without `spend`: 61 points from 0 to 3x the current spend, plus today's spend."""
        c = self._channel_index(channel)
        now = float(self.current_spend.iloc[c])
        if spend is None:
            grid = np.linspace(0.0, 3.0 * now, 61)
            values = np.sort(np.r_[grid[~np.isclose(grid, now, rtol=1e-9)], now])
        else:
            values = np.atleast_1d(np.asarray(spend, dtype=float))
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise DataError("Spend values for a response curve must be numbers of 0 or more.")
        revenue, marginal = self.curves.curve(c, values)
        with np.errstate(divide="ignore", invalid="ignore"):
            roas = np.where(values > 0, revenue / np.where(values > 0, values, 1.0), np.nan)
        return pd.DataFrame({"channel": channel, "spend": values, "revenue": revenue, "roas": roas,
                             "marginal_roas": marginal, "current": values == now})

    def optimize_budget(self, total: float | None = None, *,
                        bounds: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None
                        ) -> pd.DataFrame:
        """The per-period split of `total` (default: today's total) that maximises modelled revenue.

        bounds: (low, high) shares of each channel's current spend, one pair for all channels or a
        mapping channel -> pair (missing channels get the default (0.5, 1.5)). Columns: channel,
        current_spend, recommended_spend, change (recommended / current - 1), current_revenue,
        recommended_revenue (steady-state modelled target per period), low, high (the spend bounds).
        With today's total the recommendation never has lower modelled revenue than today's split.
        """
        current = self.current_spend.to_numpy(dtype=float)
        total_now = float(current.sum())
        goal = total_now if total is None else float(total)
        if not math.isfinite(goal) or goal <= 0:
            raise DataError(f"The total budget per {self.period} must be a positive number; got {total}.")
        shares = _bounds(bounds, self.channels)
        low, high = current * shares[:, 0], current * shares[:, 1]
        recommended = allocate(self.curves, current, goal, low, high)
        now_rev, rec_rev = self.curves.revenue(current), self.curves.revenue(recommended)
        return pd.DataFrame({
            "channel": list(self.channels), "current_spend": current, "recommended_spend": recommended,
            "change": recommended / current - 1.0, "current_revenue": now_rev, "recommended_revenue": rec_rev,
            "low": low, "high": high})

    def expected_change(self, plan: pd.DataFrame) -> BudgetChange:
        """The plan's modelled change per period (recommended vs current spend) with its bootstrap
        interval: every bootstrap refit evaluates the same two splits."""
        rec, cur = _plan_spend(plan, self.channels)
        point = float(self.curves.revenue(rec).sum() - self.curves.revenue(cur).sum())
        r = self.replicates
        draws = np.array([
            Curves(r.theta[b], r.alpha[b], r.inflexion[b], r.coef[b]).revenue(rec).sum()
            - Curves(r.theta[b], r.alpha[b], r.inflexion[b], r.coef[b]).revenue(cur).sum()
            for b in range(len(r.coef))])
        tail = (1 - self.level) / 2
        low, high = (np.quantile(draws, [tail, 1 - tail]) if len(draws) else (np.nan, np.nan))
        base = self.mean_target if self.mean_target else np.nan
        return BudgetChange(point, float(low), float(high), point / base, float(low) / base,
                            float(high) / base, self.level)

    def summary(self, plan: pd.DataFrame | None = None) -> str:
        """The manager's paragraph (see summary_text)."""
        return summary_text(self, plan)


# ------------------------------------------------------------------ input checks
def _bounds(bounds: tuple[float, float] | Mapping[str, tuple[float, float]] | None,
            channels: Sequence[str]) -> np.ndarray:
    default = (0.5, 1.5)
    if bounds is None:
        pairs = [default] * len(channels)
    elif isinstance(bounds, Mapping):
        unknown = [k for k in bounds if k not in channels]
        if unknown:
            raise DataError(f"Bounds name channels the model does not have: {', '.join(map(str, unknown))}.")
        pairs = [tuple(bounds.get(c, default)) for c in channels]  # type: ignore[misc]
    else:
        pairs = [tuple(bounds)] * len(channels)  # type: ignore[list-item]
    out = np.array(pairs, dtype=float)
    if out.shape != (len(channels), 2) or not np.all(np.isfinite(out)):
        raise DataError("Bounds must be (low, high) shares of current spend, e.g. (0.5, 1.5).")
    if np.any(out[:, 0] < 0) or np.any(out[:, 0] > out[:, 1]):
        raise DataError("Each bound needs 0 <= low <= high (shares of current spend, e.g. (0.5, 1.5)).")
    return out


def _plan_spend(plan: pd.DataFrame, channels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    needed = {"channel", "current_spend", "recommended_spend"}
    if not needed <= set(plan.columns):
        raise DataError("The plan needs the columns channel, current_spend and recommended_spend "
                        "(the table optimize_budget returns).")
    by = plan.set_index("channel")
    missing = [c for c in channels if c not in by.index]
    if missing:
        raise DataError(f"The plan has no row for {', '.join(missing)}.")
    return (by.loc[list(channels), "recommended_spend"].to_numpy(dtype=float),
            by.loc[list(channels), "current_spend"].to_numpy(dtype=float))


def _dates_list(values: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(pd.Timestamp(v).strftime("%Y-%m-%d") for v in list(values)[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _numeric(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    s = frame[column]
    if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
        converted = pd.to_numeric(s, errors="coerce")
        bad = int((converted.isna() & s.notna()).sum())
        if bad:
            raise DataError(f"{role} '{column}' has {plural(bad, 'value')} that are not numbers "
                            f"(e.g. {s[converted.isna() & s.notna()].iloc[0]!r}). Choose a numeric column.")
        s = converted
    return s.to_numpy(dtype=float, na_value=np.nan)


def _prepare(data: Any, date: str, target: str, channels: Sequence[str], controls: Sequence[str] | None
             ) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray | None, Frequency]:
    """Checked inputs: dates (sorted), target, spend (T x C), controls, frequency."""
    if not isinstance(data, pd.DataFrame):
        if hasattr(data, "execute"):
            data = data.execute()
        else:
            raise DataError("The data must be a pandas DataFrame or an Ibis table, one row per week or day.")
    channels, controls = list(channels), list(controls or [])
    if len(channels) < MIN_CHANNELS or len(channels) > MAX_CHANNELS:
        raise DataError(f"The model needs {MIN_CHANNELS} to {MAX_CHANNELS} channels; got {len(channels)}. "
                        "Choose between 2 and 10 spend columns.")
    if len(set(channels)) < len(channels):
        raise DataError("A channel is listed twice; list each spend column once.")
    used = [date, target, *channels, *controls]
    missing = [c for c in dict.fromkeys(used) if c not in data.columns]
    if missing:
        raise DataError(f"Column(s) {', '.join(map(repr, missing))} are not in the data. "
                        f"Available: {', '.join(map(str, list(data.columns)[:30]))}.")
    if target in channels or target in controls or date in channels or date in controls:
        raise DataError("The date, the target, the channels and the controls must be different columns.")
    overlap = set(channels) & set(controls)
    if overlap:
        raise DataError(f"{', '.join(sorted(overlap))} is both a channel and a control; use it as one of them.")
    frame = data[list(dict.fromkeys(used))].copy()
    when = pd.to_datetime(frame[date], errors="coerce")
    if when.isna().any():
        raise DataError(f"{plural(int(when.isna().sum()), 'row')} have no readable date in '{date}'. "
                        "Fill or remove them so every week (or day) has one row.")
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_localize(None)
    when = when.dt.normalize()
    frame = frame.assign(**{date: when}).sort_values(date, kind="stable").reset_index(drop=True)
    dup = frame[date][frame[date].duplicated()]
    if len(dup):
        raise DataError(f"{plural(len(dup), 'date')} appear more than once (e.g. {_dates_list(dup.unique(), 3)}). "
                        "The model needs one row per week or day: sum per date first (channel_table does).")
    if len(frame) < 14:
        raise DataError(f"Only {plural(len(frame), 'row')}: the model needs at least {MIN_WEEKS} weeks "
                        f"(or {MIN_DAYS} days) of data.")
    steps = frame[date].diff().dt.days.dropna()
    step = int(steps.median())
    if step not in (1, 7):
        raise DataError(f"The dates are {step} days apart in the middle of the data; the model needs weekly "
                        "or daily rows. Aggregate to weeks first (channel_table).")
    freq: Frequency = "W" if step == 7 else "D"
    unit = PERIOD_WORD[freq]
    expected = pd.date_range(frame[date].iloc[0], frame[date].iloc[-1], freq=f"{step}D")
    absent = expected.difference(pd.DatetimeIndex(frame[date]))
    if len(absent) or (steps % step != 0).any():
        what = (f"{plural(len(absent), unit)} missing between the first and last date "
                f"(e.g. {_dates_list(absent)})" if len(absent) else f"dates that are not whole {unit}s apart")
        raise DataError(f"The series has gaps: {what}. Add a row for every {unit} (0 spend where nothing was "
                        "spent) so carry-over is computed over the right time.")
    needed = MIN_WEEKS if freq == "W" else MIN_DAYS
    if len(frame) < needed:
        raise DataError(f"Only {plural(len(frame), unit)} of data: the model needs at least {plural(needed, unit)} "
                        "to separate the channels from the trend and the yearly season.")
    y = _numeric(frame, target, "The target")
    gaps = np.isnan(y)
    if gaps.any():
        raise DataError(f"The target '{target}' has gaps: {plural(int(gaps.sum()), unit)} without a value "
                        f"(e.g. {_dates_list(frame[date][gaps])}). Fill them (0 if there truly was none) "
                        "or model a shorter period.")
    if np.nanstd(y) == 0:
        raise DataError(f"The target '{target}' is the same every {unit}; there is nothing to explain.")
    spend = np.column_stack([_numeric(frame, c, "The channel") for c in channels])
    for i, c in enumerate(channels):
        col = spend[:, i]
        if np.isnan(col).any():
            raise DataError(f"Channel '{c}' has no spend value in {plural(int(np.isnan(col).sum()), unit)} "
                            f"(e.g. {_dates_list(frame[date][np.isnan(col)])}). Fill them with 0 if nothing was spent.")
        if (col < 0).any():
            raise DataError(f"Channel '{c}' has negative spend in {plural(int((col < 0).sum()), unit)} "
                            f"(e.g. {_dates_list(frame[date][col < 0])}). Spend must be 0 or more: fix refunds "
                            "or corrections at the source.")
        if col.sum() == 0:
            raise DataError(f"Channel '{c}' never spends in this period; remove it from the channels.")
    ctrl = None
    if controls:
        ctrl = np.column_stack([_numeric(frame, c, "The control") for c in controls])
        bad = np.isnan(ctrl).any(axis=0)
        if bad.any():
            names = [c for c, b in zip(controls, bad) if b]
            raise DataError(f"Control(s) {', '.join(names)} have missing values; fill them (e.g. 0 for no "
                            "promotion) or leave the control out.")
    return pd.DatetimeIndex(frame[date]), y, spend, ctrl, freq


def _kind(target: str, kind: TargetKind | None) -> TargetKind:
    if kind is not None:
        return kind
    return "conversions" if any(w in target.lower() for w in ("conversion", "order", "sale_count", "lead")) \
        else "revenue"


# ------------------------------------------------------------------ fitting
def _quality(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    resid = y - pred
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    spread = float(y.max() - y.min())
    nrmse = float(np.sqrt(np.mean(resid ** 2))) / spread if spread > 0 else float("nan")
    return r2, nrmse, _mape(y, pred)


def _mape(y: np.ndarray, pred: np.ndarray) -> float:
    ok = y != 0
    return float(np.mean(np.abs((y[ok] - pred[ok]) / y[ok]))) if ok.any() else float("nan")


def fit_mmm(data: pd.DataFrame | Any, *, date: str, target: str, channels: Sequence[str],
            controls: Sequence[str] | None = None, seed: int = 0, settings: Settings | None = None,
            kind: TargetKind | None = None, progress: Progress | None = None) -> MMMResult:
    """Fit the marketing-mix model on one row per week (or day): spend per channel, the target.

    settings: how hard to search and how many bootstrap refits (Settings(); tests use smaller).
    kind: "revenue" or "conversions" (default: guessed from the target's name), for the wording.
    progress(share, step) is called as the search and the bootstrap advance (the jobs' progress).
    """
    import time

    start = time.perf_counter()
    settings = settings or Settings()
    if settings.n_boot < 0 or settings.folds < 1 or not 0 < settings.level < 1:
        raise DataError("Settings need n_boot >= 0, folds >= 1 and a level between 0 and 1.")
    dates, y, spend, ctrl, freq = _prepare(data, date, target, channels, controls)
    channels = list(channels)
    n, c = spend.shape
    days = dates.values.astype("datetime64[D]").astype(np.int64).astype(float)
    free = mmm_fit.baseline_block(days, freq, settings.fourier, ctrl)
    theta_max = mmm_fit.THETA_MAX_WEEKLY if freq == "W" else mmm_fit.THETA_MAX_WEEKLY ** (1 / 7)
    design = mmm_fit.Design(y, spend, free, freq, theta_max)
    hold = settings.holdout if settings.holdout is not None else mmm_fit.holdout_length(n, freq)
    hold = int(min(max(1, hold), n // 4))
    n_train = n - hold
    report = progress or (lambda share, step: None)

    # 1. hyper-parameters by cross-validation on the training periods
    report(0.0, "Choosing carry-over and saturation by cross-validation")
    generations = [0]

    def on_generation(*_: Any) -> None:
        generations[0] += 1
        report(0.6 * min(1.0, generations[0] / max(1, settings.maxiter)), "Choosing carry-over and saturation")

    found = mmm_fit.search(design, n_train, settings, seed, callback=on_generation)
    h = found.x
    theta, alpha, gamma = mmm_fit.unpack(h, c)
    sat, g = mmm_fit.saturated(spend, theta, alpha, gamma)

    # 2. the check fit (training periods) and the final fit (all periods)
    check = mmm_fit.LinearPart(free, slice(0, n_train))
    coef_c, base_c = check.fit(sat, y)
    check_pred = free @ base_c + sat @ coef_c
    r2, nrmse, mape = _quality(y[:n_train], check_pred[:n_train])
    quality = FitQuality(r2, nrmse, mape, _mape(y[n_train:], check_pred[n_train:]), hold)
    final = mmm_fit.LinearPart(free, slice(0, n))
    coef, base = final.fit(sat, y)
    effects = sat * coef
    baseline = free @ base
    fitted = baseline + effects.sum(axis=1)

    # 3. bootstrap
    report(0.6, "Bootstrap refits for the intervals")
    boot = mmm_fit.bootstrap(design, found, fitted, n_train, settings, seed + 1,
                             progress=lambda s: report(0.6 + 0.4 * s, "Bootstrap refits for the intervals"))
    total_spend = spend.sum(axis=0)
    contribution = effects.sum(axis=0)
    roas = contribution / total_spend
    tail = (1 - settings.level) / 2
    if settings.n_boot:
        draws = boot.contribution / total_spend
        low, high = np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)
    else:
        low = high = np.full(c, np.nan)
    effect_total = contribution.sum()
    roas_frame = pd.DataFrame({
        "channel": channels, "spend": total_spend, "contribution": contribution, "roas": roas,
        "roas_low": low, "roas_high": high, "share_of_spend": total_spend / total_spend.sum(),
        "share_of_effect": contribution / effect_total if effect_total > 0 else np.nan})
    params = pd.DataFrame({"channel": channels, "theta": theta, "alpha": alpha, "gamma": gamma, "coef": coef,
                           "inflexion": g})
    contributions = pd.DataFrame({"date": dates, **{ch: effects[:, i] for i, ch in enumerate(channels)},
                                  "baseline": baseline})
    fitted_frame = pd.DataFrame({"date": dates, "actual": y, "fitted": fitted, "check_fitted": check_pred,
                                 "holdout": np.arange(n) >= n_train})
    current = pd.Series(total_spend / n, index=channels, name="current_spend")
    notes = _notes(channels, spend, coef, roas_frame, PERIOD_WORD[freq])
    report(1.0, "Done")
    return MMMResult(target=target, kind=_kind(target, kind), freq=freq, channels=tuple(channels), params=params,
                     roas=roas_frame, contributions=contributions, fitted=fitted_frame, fit=quality,
                     current_spend=current, curves=Curves(theta, alpha, g, coef), replicates=boot,
                     mean_target=float(np.mean(y)), level=settings.level,
                     seconds=time.perf_counter() - start, notes=tuple(notes))


def _notes(channels: Sequence[str], spend: np.ndarray, coef: np.ndarray, roas: pd.DataFrame, unit: str) -> list[str]:
    """Plain warnings about what the data cannot tell apart."""
    out = []
    for i, ch in enumerate(channels):
        col = spend[:, i]
        median = float(np.median(col))
        if median > 0 and float(col.min()) > 0.3 * median:
            out.append(f"{ch} never spent less than {percent(col.min() / median, 0)} of its usual {unit}ly spend, "
                       "so its return at low spend is an extrapolation; a pause or a test would pin it down.")
        if coef[i] == 0:
            out.append(f"{ch} shows no measurable effect in this period (its modelled return is 0).")
        low, high = roas["roas_low"].iloc[i], roas["roas_high"].iloc[i]
        if np.isfinite(low) and np.isfinite(high) and roas["roas"].iloc[i] > 0 and \
                high - low > 2 * roas["roas"].iloc[i]:
            out.append(f"{ch}'s return is uncertain (interval {significant(low, 2)} to {significant(high, 2)}).")
    return out


# ------------------------------------------------------------------ the manager's summary
def _return_phrase(result: MMMResult, i: int, with_interval: bool) -> str:
    row = result.roas.iloc[i]
    name = str(row["channel"])
    interval = ""
    if with_interval and np.isfinite(row["roas_low"]):
        scale = 1000.0 if result.kind == "conversions" else 1.0
        interval = f" ({significant(row['roas_low'] * scale, 2)} to {significant(row['roas_high'] * scale, 2)})"
    if result.kind == "conversions":
        return f"{name} brings {significant(row['roas'] * 1000, 2)} conversions per 1,000 spent{interval}"
    return f"{name} returns {significant(row['roas'], 2)} per 1 spent{interval}"


def summary_text(result: MMMResult, plan: pd.DataFrame | None = None) -> str:
    """One paragraph for a manager: the best and the weakest channel's return with intervals, and the
    plan's main move with its modelled change, e.g. "Search returns 1.8 per 1 spent (1.4 to 2.2);
    social returns 0.4 per 1 spent (0.1 to 0.7): moving 20% of social's budget to search adds about
    3% revenue (1% to 5%)." plan: an optimize_budget() table (default: the same total, default bounds)."""
    order = np.argsort(-result.roas["roas"].to_numpy())
    best, worst = int(order[0]), int(order[-1])
    first = _return_phrase(result, best, True)
    text = first[0].upper() + first[1:] + "; " + _return_phrase(result, worst, True)
    plan = result.optimize_budget() if plan is None else plan
    change = result.expected_change(plan)
    what = "revenue" if result.kind == "revenue" else "conversions"
    delta = plan["recommended_spend"].to_numpy(dtype=float) - plan["current_spend"].to_numpy(dtype=float)
    total_now = float(plan["current_spend"].sum())
    if np.abs(delta).sum() < 0.005 * total_now or abs(change.share) < 0.0005:
        return text + ". The current split is already close to the best the model finds within the bounds."
    give, take = int(np.argmin(delta)), int(np.argmax(delta))
    names = plan["channel"].astype(str).tolist()
    moved = -delta[give] / float(plan["current_spend"].iloc[give])
    others = int(np.sum(np.abs(delta) > 0.005 * total_now)) - 2
    move = (f"moving {percent(moved, 0)} of {names[give]}'s budget to {names[take]}"
            + (f" (and {plural(others, 'smaller shift')})" if others > 0 else ""))
    interval = ""
    if np.isfinite(change.share_low):
        interval = f" ({_signed_percent(change.share_low)} to {_signed_percent(change.share_high)})"
    verb = "adds" if change.share >= 0 else "changes"
    return text + f": {move} {verb} about {percent(abs(change.share), 0 if abs(change.share) >= 0.01 else 1)} " \
        f"{what}{interval}."


def _signed_percent(value: float) -> str:
    digits = 0 if abs(value) >= 0.01 else 1
    return ("−" if value < 0 else "") + percent(abs(value), digits)


# ------------------------------------------------------------------ long table -> one row per period
def channel_table(data: pd.DataFrame | Any, *, date: str, channel: str, spend: str, target: str,
                  freq: Literal["W", "D"] = "W") -> pd.DataFrame:
    """A long table (one row per date and channel, e.g. campaign_daily with campaigns too) as the
    wide frame fit_mmm takes: one row per week (starting Monday) or day, the spend summed per
    channel in one column each (0 where a channel has no rows that period), the target summed over
    all rows. Aggregated in the database through Ibis (pandas input runs on in-memory DuckDB).
    Weekly: a first or last week with fewer than 7 days of data is dropped (a partial week would
    look like a slump); what was dropped is said in `frame.attrs["notes"]`."""
    from core.query import as_ibis, execute

    if freq not in ("W", "D"):
        raise DataError("freq must be 'W' (weeks starting Monday) or 'D' (days).")
    if isinstance(data, pd.DataFrame) and date in data.columns:
        parsed = pd.to_datetime(data[date], errors="coerce")
        bad = int((parsed.isna() & data[date].notna()).sum())
        if bad:
            raise DataError(f"{plural(bad, 'value')} in '{date}' are not dates (e.g. "
                            f"{data[date][parsed.isna() & data[date].notna()].iloc[0]!r}).")
        data = data.assign(**{date: parsed})
    t, backend = as_ibis(data, list(dict.fromkeys([date, channel, spend, target])))
    day_col = t[date]
    if day_col.type().is_string():
        day_col = day_col.cast("date")
    elif day_col.type().is_timestamp():
        day_col = day_col.date()
    for col in (spend, target):
        if not t[col].type().is_numeric():
            raise DataError(f"'{col}' must be numeric (got {t[col].type()}).")
    checks = t.aggregate(
        no_date=day_col.isnull().sum(), no_channel=t[channel].isnull().sum(),
        no_spend=t[spend].isnull().sum(), negative=(t[spend] < 0).sum(), rows=t.count())
    counts = execute(checks, backend).iloc[0]
    if int(counts["rows"]) == 0:
        raise DataError("The table has no rows.")
    for key, what, fix in (("no_date", f"no date in '{date}'", "fill or remove them"),
                           ("no_channel", f"no channel in '{channel}'", "fill them (e.g. 'other')"),
                           ("no_spend", f"no spend in '{spend}'", "fill them with 0 if nothing was spent"),
                           ("negative", f"negative spend in '{spend}'", "fix refunds or corrections at the source")):
        k = int(counts[key] or 0)
        if k:
            raise DataError(f"{plural(k, 'row')} have {what}; {fix} and try again.")
    period = day_col.truncate("W") if freq == "W" else day_col
    m = t.mutate(mmm_period=period, mmm_day=day_col)
    grouped = m.group_by(["mmm_period", channel]).aggregate(
        mmm_spend=m[spend].sum(), mmm_target=m[target].sum(), mmm_days=m.mmm_day.nunique())
    long = execute(grouped.order_by(["mmm_period", channel]), backend)
    long["mmm_period"] = pd.to_datetime(long["mmm_period"])
    long[channel] = long[channel].astype(str)
    names = sorted(long[channel].unique())
    clash = [n for n in names if n in (date, target)]
    if clash:
        raise DataError(f"A channel is called {clash[0]!r}, like the date or target column; rename it first.")
    wide = long.pivot_table(index="mmm_period", columns=channel, values="mmm_spend", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=names, fill_value=0.0)
    wide[target] = long.groupby("mmm_period")["mmm_target"].sum()
    days = long.groupby("mmm_period")["mmm_days"].max()
    notes: list[str] = []
    if freq == "W" and len(wide) > 2:
        drop = [p for p in (wide.index[0], wide.index[-1]) if days.loc[p] < 7]
        for p in drop:
            notes.append(f"The week of {p:%Y-%m-%d} has only {plural(int(days.loc[p]), 'day')} of data and was left out.")
        wide = wide.drop(index=drop)
    out = wide.rename_axis(None, axis=1).reset_index().rename(columns={"mmm_period": date})
    out.attrs["notes"] = notes
    return out
