"""Customer lifetime value: summary, BG/NBD, Gamma-Gamma, CLV, spend check and hold-out check (issue 13, point 1).

The steps, each a small function (BG/NBD in clv_fit, Gamma-Gamma in clv_spend, shared numerics in clv_math,
the database work in clv_data, figures in clv_charts):
1. customer_summary: transactions -> frequency, recency, T, monetary_value per customer (lifetimes' conventions,
   computed in the database with Ibis);
2. fit_bgnbd: purchases and P(alive) (Fader, Hardie and Lee 2005);
3. spend_frequency_check, then fit_gamma_gamma on repeat buyers: expected spend per purchase;
4. GammaGamma.clv: discounted expected spend over a horizon (lifetimes' customer_lifetime_value);
5. holdout_check: calibrate to a date, predict the next period, compare with what happened;
and customer_values, which runs them all for the Targeting page (optionally reporting progress).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from core.errors import DataError
from core.targeting.clv_data import UNIT_NAMES, Freq, Prepared, check_freq, holdout_counts, prepare, \
    repeat_days_by_period, summarise, to_date
from core.targeting.clv_fit import BetaGeo, bgnbd_log_likelihood, fit_bgnbd
from core.targeting.clv_math import MIN_REPEAT_BUYERS, UNIT_DAYS, dedupe, hyp2f1_term, periods_per
from core.targeting.clv_spend import GammaGamma, fit_gamma_gamma, gamma_gamma_log_likelihood

__all__ = [
    "BetaGeo", "CustomerValues", "GammaGamma", "HoldoutCheck", "SpendCheck", "bgnbd_log_likelihood",
    "customer_summary", "customer_values", "fit_bgnbd", "fit_gamma_gamma", "gamma_gamma_log_likelihood",
    "holdout_check", "hyp2f1_term", "periods_per", "spend_frequency_check", "MIN_REPEAT_BUYERS",
]

Progress = Callable[[float, str], None]
ALL_ALIVE = 0.97  # mean P(alive) at or above this: the data show (almost) no drop-out; the page says so
FREQUENCY_GROUPS = 7  # hold-out groups 0, 1, ..., 6, "7+" as in Fader, Hardie and Lee's figure


def customer_summary(transactions: pd.DataFrame | ibis.Table, customer: str, date: str, amount: str, *,
                     calibration_end: Any = None, freq: Freq = "W") -> pd.DataFrame:
    """One row per customer: <customer>, frequency, recency, T, monetary_value (lifetimes' conventions).

    Purchases on one day count once (amounts summed); frequency = repeat purchase days; recency = first
    to last purchase; T = first purchase to calibration_end (inclusive; default the last purchase date);
    recency and T in units of freq (D = 1 day, W = 7 days, M = 30 days, fractions kept); monetary_value =
    mean spend of the repeat days (0 without repeats). Missing values and negative amounts are left out
    and counted in attrs["counts"]; attrs also hold freq and calibration_end. pandas or Ibis input.
    """
    check_freq(freq)
    prep = prepare(transactions, customer, date, amount)
    try:
        return summarise(prep, calibration_end, freq)
    finally:
        prep.release()


# ---------------------------------------------------------------- spend check

@dataclass(frozen=True)
class SpendCheck:
    """Pearson correlation of frequency and mean spend among repeat buyers (Gamma-Gamma assumes none)."""

    r: float
    p_value: float
    n: int
    level: Literal["independent", "weak", "correlated", "unknown"]
    message: str

    @property
    def correlated(self) -> bool:
        return self.level == "correlated"


def spend_frequency_check(frequency: Any, monetary_value: Any, *, strong: float = 0.3,
                          weak: float = 0.1) -> SpendCheck:
    """Is spend per purchase correlated with frequency among repeat buyers (frequency > 0, spend > 0)?

    Correlated: |r| >= `strong` and p < 0.05; weak: |r| >= `weak` and p < 0.05; otherwise independent.
    With very many customers tiny correlations are significant, hence the thresholds on r itself.
    """
    x = np.asarray(frequency, dtype="float64")
    m = np.asarray(monetary_value, dtype="float64")
    use = (x > 0) & np.isfinite(m) & (m > 0)
    n = int(use.sum())
    if n < 3 or np.ptp(x[use]) == 0 or np.ptp(m[use]) == 0:
        return SpendCheck(float("nan"), float("nan"), n, "unknown",
                          f"Spend and frequency cannot be compared ({n} repeat buyer(s), or no variation).")
    res = stats.pearsonr(x[use], m[use])
    r, p = float(res.statistic), float(res.pvalue)
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    facts = f"(r = {r:.2f}, {p_text}, {n:,} repeat buyers)"
    if abs(r) >= strong and p < 0.05:
        return SpendCheck(r, p, n, "correlated", (
            f"Spend and frequency are correlated {facts}: Gamma-Gamma assumes they are independent, so its "
            "spend estimates are biased (each customer's spend is pulled toward an average that does not fit "
            f"{'frequent' if r > 0 else 'rare'} buyers). Treat expected spend and CLV as rough; rank by "
            "expected purchases or P(alive) instead, or use the customers' own mean spend."))
    if abs(r) >= weak and p < 0.05:
        return SpendCheck(r, p, n, "weak", (
            f"Spend and frequency are weakly correlated {facts}: Gamma-Gamma's independence assumption holds "
            "roughly; expected spend is slightly biased."))
    if p < 0.05:  # significant only because there are many buyers: say so, "not correlated (p < 0.001)" reads wrong
        return SpendCheck(r, p, n, "independent", (
            f"Spend and frequency are barely correlated (r = {r:.2f}; detectable with {n:,} repeat buyers, too "
            "weak to matter): Gamma-Gamma's assumption holds."))
    return SpendCheck(r, p, n, "independent",
                      f"Spend and frequency are not correlated {facts}: Gamma-Gamma's assumption holds.")


# ---------------------------------------------------------------- CLV on many customers

def clv_values(bgnbd: BetaGeo, gamma_gamma: GammaGamma, frequency: np.ndarray, recency: np.ndarray,
               T: np.ndarray, monetary_value: np.ndarray, *, horizon: int, factor: float,
               discount_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(CLV, expected purchases over the horizon) per customer; the same sum as GammaGamma.clv, faster.

    E[X(t) | x, t_x, T] = P(alive) (a+b+x-1)/(a-1) (1 - term(x, T, t)), so P(alive) is computed once and
    the hypergeometric term once per distinct (x, T) and month.
    """
    x, tx, big_t = (np.asarray(v, dtype="float64") for v in (frequency, recency, T))
    alive = bgnbd.p_alive(x, tx, big_t)
    codes, (ux, ut) = dedupe(x, big_t)
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    discounted = np.zeros(len(ux))
    previous = np.ones(len(ux))
    for i in range(1, int(horizon) + 1):
        t = i * factor
        term = hyp2f1_term(r + ux, b + ux, a + b + ux - 1, t / (alpha + ut + t))
        discounted += (previous - term) / (1 + discount_rate) ** i
        previous = term
    scale = (a + b + ux - 1) / (a - 1)
    spend = gamma_gamma.expected_spend(x, monetary_value)
    value = alive * spend * (scale * discounted)[codes]
    purchases = alive * (scale * (1 - previous))[codes]
    return value, purchases


# ---------------------------------------------------------------- hold-out check

@dataclass(frozen=True, eq=False)
class HoldoutCheck:
    """Calibrate to a date, predict the following period, compare with what customers actually did.

    by_frequency: frequency_group ("0".."6", "7+" calibration repeat days), customers, predicted and actual
    mean purchase days in the hold-out. tracking: per period since the first purchase date, cumulative
    repeat purchase days predicted (unconditional expectation summed over first-purchase cohorts) and
    actual, for customers who first bought by the calibration end. per_customer: <customer>, frequency,
    predicted, actual.
    """

    calibration_end: _dt.date
    holdout_end: _dt.date
    duration: float  # hold-out length in the summary's units
    freq: str
    bgnbd: BetaGeo
    by_frequency: pd.DataFrame
    tracking: pd.DataFrame
    per_customer: pd.DataFrame
    predicted_total: float
    actual_total: int
    customers: int

    @property
    def error(self) -> float:
        """(predicted - actual) / actual repeat purchase days in the hold-out."""
        return (self.predicted_total - self.actual_total) / self.actual_total if self.actual_total else float("nan")

    @property
    def message(self) -> str:
        unit = UNIT_NAMES.get(self.freq, self.freq)
        return (f"Hold-out {self.calibration_end} to {self.holdout_end} ({self.duration:.1f} {unit}): predicted "
                f"{self.predicted_total:,.0f} repeat purchase days, actual {self.actual_total:,} "
                f"({self.error:+.1%}).")


def _holdout(prep: Prepared, summary: pd.DataFrame, bgnbd: BetaGeo, holdout_end: _dt.date) -> HoldoutCheck:
    freq = str(summary.attrs["freq"])
    unit = UNIT_DAYS[freq]
    cal_end = to_date(summary.attrs["calibration_end"], "calibration_end")
    if holdout_end <= cal_end:
        raise DataError(f"The hold-out must end after the calibration end ({cal_end}); there are no later "
                        "purchases to compare with. Pick an earlier calibration end.")
    duration = (holdout_end - cal_end).days / unit
    x, tx, big_t = (summary[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
    predicted = bgnbd.expected_purchases(duration, x, tx, big_t)
    actual_df = holdout_counts(prep, cal_end, holdout_end)
    customer = prep.customer
    actual = (pd.Series(actual_df["actual"].to_numpy(dtype="int64"), index=actual_df["__c"].to_numpy())
              .reindex(summary[customer].to_numpy()).fillna(0).to_numpy(dtype="int64"))
    per_customer = pd.DataFrame({customer: summary[customer].to_numpy(), "frequency": x.astype("int64"),
                                 "predicted": predicted, "actual": actual})
    group = np.minimum(x, FREQUENCY_GROUPS).astype("int64")
    labels = [str(g) for g in range(FREQUENCY_GROUPS)] + [f"{FREQUENCY_GROUPS}+"]
    by = (per_customer.assign(group=group).groupby("group")
          .agg(customers=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean"))
          .reindex(range(FREQUENCY_GROUPS + 1)))
    by.insert(0, "frequency_group", labels)
    by["customers"] = by["customers"].fillna(0).astype("int64")
    by = by.reset_index(drop=True)

    # tracking: periods end on the calibration end (and every unit before and after it); cohorts by first
    # purchase day; cumulative unconditional expectation at each period end
    before = -(-((cal_end - prep.first_date).days + 1) // unit)  # periods up to the calibration end
    origin = cal_end - _dt.timedelta(days=before * unit)  # the day before the first period
    first_offset = np.rint((cal_end - origin).days - big_t * unit).astype("int64")
    cohort_codes, (cohorts,) = dedupe(first_offset)
    sizes = np.bincount(cohort_codes)
    last_offset = (holdout_end - origin).days
    periods = -(-last_offset // unit)
    ends = np.minimum((np.arange(periods) + 1) * unit, last_offset)
    t = np.clip((ends[:, None] - cohorts[None, :]) / unit, 0, None)
    expected = bgnbd.expected_purchases_unconditional(t.ravel()).reshape(t.shape)
    predicted_cum = expected @ sizes
    actual_by = repeat_days_by_period(prep, cal_end, holdout_end, origin, unit)
    actual_per = np.zeros(periods)
    index = actual_by["period"].to_numpy(dtype="int64")
    actual_per[index] = actual_by["actual"].to_numpy()
    tracking = pd.DataFrame({
        "period": np.arange(1, periods + 1),
        "period_end": [origin + _dt.timedelta(days=int(e)) for e in ends],
        "predicted": np.diff(predicted_cum, prepend=0.0), "actual": actual_per,
        "predicted_cumulative": predicted_cum, "actual_cumulative": np.cumsum(actual_per),
    })
    tracking["in_holdout"] = tracking["period_end"] > cal_end
    return HoldoutCheck(cal_end, holdout_end, duration, freq, bgnbd, by, tracking, per_customer,
                        float(predicted.sum()), int(actual.sum()), len(summary))


def holdout_check(transactions: pd.DataFrame | ibis.Table, customer: str, date: str, amount: str, *,
                  calibration_end: Any, holdout_end: Any = None, freq: Freq = "W", penalizer: float = 0.0,
                  bgnbd: BetaGeo | None = None) -> HoldoutCheck:
    """Fit BG/NBD on purchases up to calibration_end and compare its prediction for the days after it.

    The hold-out runs from the day after calibration_end to holdout_end (default: the last purchase date).
    Only customers who first bought by calibration_end are compared (the model knows nothing of the others).
    """
    check_freq(freq)
    prep = prepare(transactions, customer, date, amount)
    try:
        summary = summarise(prep, calibration_end, freq)
        model = bgnbd or fit_bgnbd(summary, penalizer=penalizer, time_unit=freq)
        end = prep.last_date if holdout_end is None else to_date(holdout_end, "holdout_end")
        return _holdout(prep, summary, model, end)
    finally:
        prep.release()


# ---------------------------------------------------------------- the page's one call

@dataclass(frozen=True, eq=False)
class CustomerValues:
    """Everything the Targeting page shows for CLV; .table is the CLV table saved to the workspace.

    table: <customer>, frequency, recency, T, monetary_value, expected_purchases (over the horizon),
    p_alive, expected_spend, clv. counts: rows read and left out (missing_customer, missing_date,
    missing_amount, negative_amount), zero_amount (kept as purchases), purchase days after the calibration end
    (left out), customers, repeat_buyers, customers_first_buying_after_calibration_end (not in the table),
    gamma_gamma_excluded (repeat buyers with zero mean spend, not used to fit spend).
    """

    table: pd.DataFrame
    bgnbd: BetaGeo
    gamma_gamma: GammaGamma
    spend_check: SpendCheck
    counts: dict[str, int]
    calibration_end: _dt.date
    freq: str
    horizon: int
    horizon_unit: str
    discount_rate: float
    holdout: HoldoutCheck | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def customer(self) -> str:
        return str(self.table.columns[0])

    def top(self, n: int = 20) -> pd.DataFrame:
        """The n customers with the highest CLV (ties: more expected purchases first)."""
        return self.table.sort_values(["clv", "expected_purchases"], ascending=False, kind="stable").head(n) \
            .reset_index(drop=True)


def _notes(counts: dict[str, int], spend: SpendCheck) -> list[str]:
    notes = []
    left_out = {"missing_customer": "missing customer", "missing_date": "missing or unreadable date",
                "missing_amount": "missing amount", "negative_amount": "negative amount (refunds)"}
    parts = [f"{counts[k]:,} {label}" for k, label in left_out.items() if counts.get(k)]
    if parts:
        notes.append(f"{sum(counts[k] for k in left_out):,} of {counts['rows']:,} rows were left out: "
                     + ", ".join(parts) + ".")
    if counts.get("zero_amount"):
        n = counts["zero_amount"]
        notes.append(f"{n:,} purchase{'s' if n != 1 else ''} with amount 0 count{'' if n != 1 else 's'} as "
                     "purchase days (as in lifetimes).")
    if counts.get("purchase_days_after_calibration_end"):
        notes.append(f"{counts['purchase_days_after_calibration_end']:,} purchase days after the calibration end "
                     "are not in the fit (they are the hold-out).")
    if counts.get("customers_first_buying_after_calibration_end"):
        n = counts["customers_first_buying_after_calibration_end"]
        notes.append(f"{n:,} customer{'s' if n != 1 else ''} first bought after the calibration end and "
                     f"{'have' if n != 1 else 'has'} no CLV (not in the table).")
    if counts.get("gamma_gamma_excluded"):
        n = counts["gamma_gamma_excluded"]
        notes.append(f"{n:,} repeat buyer{'s' if n != 1 else ''} spent 0 on the repeat days and "
                     f"{'were' if n != 1 else 'was'} not used to fit spend (the expected spend is still estimated).")
    notes.append(spend.message)
    return notes


def customer_values(transactions: pd.DataFrame | ibis.Table, customer: str, date: str, amount: str, *,
                    calibration_end: Any = None, freq: Freq = "W", horizon: int = 12,
                    horizon_unit: Freq = "M", discount_rate: float = 0.01, penalizer: float = 0.0,
                    holdout: bool = True, progress: Progress | None = None) -> CustomerValues:
    """Summary, BG/NBD, spend check, Gamma-Gamma and CLV for every customer, plus the hold-out check.

    CLV = sum over the horizon's periods (12 months by default) of expected purchases in the period x expected
    spend / (1 + discount_rate)^period, as lifetimes' customer_lifetime_value (discount_rate per period of
    horizon_unit; 1% a month by default). When the data go on after calibration_end, the hold-out check
    compares the model's prediction for those days with the actual purchases (holdout=False skips it).
    progress(fraction, message) is called between steps (for a background job).
    """
    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    check_freq(freq)
    periods_per(horizon_unit, freq)
    if horizon < 1 or int(horizon) != horizon:
        raise DataError("The CLV horizon must be a whole number of periods >= 1.")
    if discount_rate <= -1:
        raise DataError("The discount rate must be above -100%.")
    step(0.0, "Reading transactions")
    prep = prepare(transactions, customer, date, amount)
    try:
        return _customer_values(prep, calibration_end=calibration_end, freq=freq, horizon=int(horizon),
                                horizon_unit=horizon_unit, discount_rate=float(discount_rate),
                                penalizer=penalizer, holdout=holdout, step=step)
    finally:
        prep.release()


def _customer_values(prep: Prepared, *, calibration_end: Any, freq: str, horizon: int, horizon_unit: str,
                     discount_rate: float, penalizer: float, holdout: bool,
                     step: Callable[[float, str], None]) -> CustomerValues:
    """customer_values' steps on prepared purchase days (the caller releases them)."""
    step(0.15, "Summarising customers")
    summary = summarise(prep, calibration_end, freq)
    counts = dict(summary.attrs["counts"])
    step(0.35, "Fitting BG/NBD (purchases and P(alive))")
    bgnbd = fit_bgnbd(summary, penalizer=penalizer, time_unit=freq)
    x, tx, big_t, m = (summary[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T", "monetary_value"))
    step(0.5, "Checking spend against frequency")
    spend = spend_frequency_check(x, m)
    step(0.55, "Fitting Gamma-Gamma (spend)")
    gg = fit_gamma_gamma(x, m)
    counts["gamma_gamma_excluded"] = int(((x > 0) & ~(m > 0)).sum())
    step(0.65, "Computing CLV")
    factor = periods_per(horizon_unit, freq)
    value, purchases = clv_values(bgnbd, gg, x, tx, big_t, m, horizon=int(horizon), factor=factor,
                                  discount_rate=discount_rate)
    table = summary.copy()
    table["expected_purchases"] = purchases
    table["p_alive"] = bgnbd.p_alive(x, tx, big_t)
    table["expected_spend"] = gg.expected_spend(x, m)
    table["clv"] = value
    table.attrs["counts"] = counts
    check = None
    cal_end = to_date(summary.attrs["calibration_end"], "calibration_end")
    if holdout and prep.last_date > cal_end:
        step(0.85, "Checking the hold-out period")
        check = _holdout(prep, summary, bgnbd, prep.last_date)
    notes = _notes(counts, spend) + list(bgnbd.notes) + list(gg.notes)
    alive = float(table["p_alive"].mean()) if len(table) else float("nan")
    if alive >= ALL_ALIVE:
        notes.append(f"Almost no customer looks gone (mean P(alive) {alive:.0%}; the drop-out parameter a = "
                     f"{bgnbd.a:.3g}): these purchases show little sign of customers leaving, so each CLV rests "
                     "on the customer's purchase rate alone. A longer history, or a hold-out check, tells "
                     "whether that holds.")
    if check is not None:
        notes.append(check.message)
    step(1.0, "Done")
    return CustomerValues(table, bgnbd, gg, spend, counts, cal_end, freq, int(horizon), horizon_unit,
                          float(discount_rate), check, tuple(notes))
