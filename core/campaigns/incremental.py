"""Incremental return of a campaign from a finished experiment (a holdout or A/B test of the campaign).

incremental revenue = (treatment mean - control mean) x treated users
iROAS               = incremental revenue / campaign spend          (marketing-conventions.md)

The interval is the test's interval of the absolute difference (core.experiments.analyze, `abs_ci_low`
and `abs_ci_high`, at the test's confidence level, sequential when the test was) times the treated
users, and that divided by spend: spend is known, so it scales the interval and adds no uncertainty.
The treated users are the variant's users in the test unless given (e.g. when the test measured a
sample of everyone the campaign reached).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.experiments.analysis import ExperimentResult
from core.formatting import money, ratio
from core.wording import plural

_REVENUE_WORDS = ("revenue", "sales", "value", "spend", "amount", "gmv")


@dataclass(frozen=True)
class IncrementalReturn:
    """Incremental revenue and iROAS of one variant against control, with the test's interval carried over."""

    metric: str
    variant: str
    control: str
    treated_users: int
    treatment_mean: float
    control_mean: float
    lift: float  # treatment mean - control mean, per user
    lift_low: float
    lift_high: float
    incremental_revenue: float
    incremental_low: float
    incremental_high: float
    spend: float
    iroas: float
    iroas_low: float
    iroas_high: float
    confidence: float  # 0.95 for a test read at alpha 0.05
    significant: bool

    def table(self) -> pd.DataFrame:
        """One row with every field (raw values, for downloads)."""
        return pd.DataFrame([self.__dict__])

    @property
    def summary(self) -> str:
        """The result in plain words for a manager."""
        level = f"{self.confidence:.0%}"
        more = "more" if self.lift >= 0 else "less"
        head = (f"Against {self.control}, {self.variant} brought {money(abs(self.lift))} {more} {self.metric} per user "
                f"({level} interval {money(self.lift_low)} to {money(self.lift_high)}). Over "
                f"{plural(self.treated_users, 'treated user')} that is {money(self.incremental_revenue, 0)} of "
                f"incremental {self.metric} ({money(self.incremental_low, 0)} to {money(self.incremental_high, 0)}); "
                f"for a spend of {money(self.spend, 0)}, an iROAS of {ratio(self.iroas)} ({ratio(self.iroas_low)} to "
                f"{ratio(self.iroas_high)}): each 1 spent returned {self.iroas:,.2f} in incremental {self.metric}.")
        if self.lift_low <= 0 <= self.lift_high:
            return head + " The interval includes zero: the test cannot tell the campaign's return from no return."
        return head + " The interval excludes zero: the campaign made a difference."


def revenue_metrics(result: ExperimentResult) -> list[str]:
    """The test's metrics, money-like names (revenue, sales, value ...) first, then other averages."""
    metrics = list(dict.fromkeys(result.table["metric"].astype(str)))
    types = dict(zip(result.table["metric"].astype(str), result.table.get("metric_type", pd.Series(dtype=str))))
    money_like = [m for m in metrics if any(w in m.lower() for w in _REVENUE_WORDS)]
    rest = [m for m in metrics if m not in money_like and types.get(m) != "binary"]
    others = [m for m in metrics if m not in money_like and m not in rest]
    return money_like + rest + others


def incremental_return(result: ExperimentResult, spend: float, *, metric: str | None = None,
                       variant: str | None = None, treated_users: int | None = None) -> IncrementalReturn:
    """Incremental revenue and iROAS of `variant` (default: the first non-control) on `metric` (default: a
    revenue-like metric of the test), with the test's difference interval carried over (module docstring)."""
    table = result.table
    if table is None or table.empty:
        raise DataError("The experiment has no results to read the incremental return from. Analyse the test first.")
    try:
        cost = float(spend)
    except (TypeError, ValueError):
        raise DataError("The campaign's spend must be a number.") from None
    if not np.isfinite(cost) or cost <= 0:
        raise DataError("The campaign's spend must be above zero: iROAS is incremental revenue per 1 spent.")
    metrics = revenue_metrics(result)
    chosen = metric if metric is not None else metrics[0]
    rows = table[table["metric"].astype(str) == str(chosen)]
    if rows.empty:
        raise DataError(f"The test has no metric '{chosen}'. Pick one of: {', '.join(metrics)}.")
    variants = [str(v) for v in rows["variant"]]
    pick = variant if variant is not None else variants[0]
    row_match = rows[rows["variant"].astype(str) == str(pick)]
    if row_match.empty:
        raise DataError(f"'{pick}' is not a treated variant of this test. Pick one of: {', '.join(variants)} "
                        f"(the control is {result.control}).")
    row = row_match.iloc[0]
    users = int(row["n"]) if treated_users is None else treated_users
    if isinstance(users, bool) or not isinstance(users, (int, np.integer)) or users <= 0:
        raise DataError("The number of treated users must be a positive whole number.")
    lift, low, high = float(row["abs_lift"]), float(row["abs_ci_low"]), float(row["abs_ci_high"])
    return IncrementalReturn(
        metric=str(chosen), variant=str(pick), control=str(result.control), treated_users=int(users),
        treatment_mean=float(row["mean"]), control_mean=float(row["control_mean"]),
        lift=lift, lift_low=low, lift_high=high,
        incremental_revenue=lift * users, incremental_low=low * users, incremental_high=high * users,
        spend=cost, iroas=lift * users / cost, iroas_low=low * users / cost, iroas_high=high * users / cost,
        confidence=1 - float(result.alpha), significant=bool(row.get("significant", False)))
