"""The Targeting page's heavy work as background jobs (core.jobs): CLV, uplift and next-best products.

Each job function is the worker's top-level function: it gets a DataFrame (the columns it needs, read
by the page from the workspace) and the settings as a plain dict (as stored in the job record, so the
record says what ran), never opens the workspace database, and returns a small picklable result that
the page shows and, on the user's click, saves to the workspace.

    settings = ClvSettings("customer_id", "order_date", "amount").as_dict()
    runner.submit("clv", clv_job, ws.table("transactions").select(...).execute(), settings, owner=...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Mapping

import pandas as pd

from core.errors import DataError
from core.jobs import Progress

if TYPE_CHECKING:  # the models are imported by the job that runs them: a page that only shows its
    # settings form (or the jobs panel that unpickles a settings dict) does not pay for SciPy and sklearn
    from core.targeting.clv import CustomerValues, HoldoutCheck
    from core.targeting.recommend import Recommendations
    from core.targeting.recommend_check import RecommendationCheck
    from core.targeting.uplift import UpliftModel

Freq = Literal["D", "W", "M"]
Method = Literal["two_model", "class_transformation"]
Learner = Literal["gradient_boosting", "logistic"]


def _known(cls: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The dataclass's fields found in `values` (unknown keys, such as the table version, ignored)."""
    return {k: values[k] for k in cls.__dataclass_fields__ if k in values}


@dataclass(frozen=True)
class ClvSettings:
    """What the Customer value tab asks for: the columns, the calibration end (ISO date or None: the
    last date in the data, so no hold-out), the model's time unit, and the CLV horizon in months with
    a monthly discount rate. The CLV table comes from a fit on every day (calibration_end None); the
    hold-out check is a second fit calibrated to holdout_from that predicts the days after it."""

    customer: str
    date: str
    amount: str
    calibration_end: str | None = None
    freq: Freq = "W"
    horizon: int = 12
    discount_rate: float = 0.01
    quantity: str | None = None  # amount is a unit price: a line is worth quantity x amount
    holdout_from: str | None = None  # ISO date: a second fit calibrated to it checks the next days

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClvSettings:
        return cls(**_known(cls, values))

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c for c in (self.customer, self.date, self.amount, self.quantity) if c))


@dataclass(frozen=True)
class ClvResult:
    """The customer values (fitted on every day) and the hold-out check (None when not asked or
    impossible; check_error then says why)."""

    values: CustomerValues
    holdout: HoldoutCheck | None
    check_error: str | None = None


def line_amounts(transactions: pd.DataFrame, settings: ClvSettings) -> pd.DataFrame:
    """The transactions with the amount column as each line's worth (quantity x unit price when a
    quantity column is set), so CLV sums what customers paid."""
    if not settings.quantity:
        return transactions
    out = transactions.copy()
    out[settings.amount] = pd.to_numeric(out[settings.amount], errors="coerce") * pd.to_numeric(
        out[settings.quantity], errors="coerce")
    return out


def clv_job(transactions: pd.DataFrame, settings: Mapping[str, Any], *, progress: Progress) -> ClvResult:
    """customer_values on every day (horizon in months), then the hold-out check calibrated to holdout_from."""
    from core.targeting.clv import customer_values, holdout_check

    s = ClvSettings.from_dict(settings)
    data = line_amounts(transactions, s)

    def first_part(share: float, message: str) -> None:
        progress(share * (0.7 if s.holdout_from else 1.0), message)

    values = customer_values(data, s.customer, s.date, s.amount, calibration_end=s.calibration_end,
                             freq=s.freq, horizon=int(s.horizon), horizon_unit="M",
                             discount_rate=float(s.discount_rate), holdout=False, progress=first_part)
    check: HoldoutCheck | None = None
    error: str | None = None
    if s.holdout_from:
        progress(0.75, f"Hold-out check: calibrating to {s.holdout_from}, predicting the days after")
        try:
            check = holdout_check(data, s.customer, s.date, s.amount, calibration_end=s.holdout_from, freq=s.freq)
        except DataError as e:  # the values stand; say why the check could not run
            error = str(e)
    progress(1.0, "Customer values ready")
    return ClvResult(values, check, error)


@dataclass(frozen=True)
class UpliftSettings:
    """What the Uplift tab asks for: the test's treatment column, its control value and the treated
    arms (empty: every other value), the outcome, the features (empty: the default rule of
    core.targeting.uplift_features.default_features), the method and the learner."""

    treatment: str
    outcome: str
    control: Any = None
    treated: tuple[Any, ...] = field(default_factory=tuple)
    features: tuple[str, ...] = field(default_factory=tuple)
    method: Method = "two_model"
    learner: Learner = "gradient_boosting"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["treated"], out["features"] = list(self.treated), list(self.features)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> UpliftSettings:
        known = _known(cls, values)
        known["treated"] = tuple(known.get("treated") or ())
        known["features"] = tuple(known.get("features") or ())
        return cls(**known)


def uplift_job(test: pd.DataFrame, settings: Mapping[str, Any], *, progress: Progress) -> UpliftModel:
    """fit_uplift on the test table with the page's settings."""
    from core.targeting.uplift import fit_uplift

    s = UpliftSettings.from_dict(settings)
    progress(0.05, f"Fitting the {s.method.replace('_', '-')} uplift model on {len(test):,} customers")
    treated: Any = list(s.treated) if len(s.treated) > 1 else (s.treated[0] if s.treated else None)
    model = fit_uplift(test, s.treatment, s.outcome, features=list(s.features) or None, treated=treated,
                       control=s.control, method=s.method, learner=s.learner)
    progress(1.0, "Uplift model fitted and checked on the hold-out")
    return model


@dataclass(frozen=True)
class ProductSettings:
    """What the Next-best products tab asks for: the customer and product columns, an optional label
    (description) for the reasons, an optional weight (quantity or spend; negatives are returns), an
    optional date (for the offline check and duplicate lines), k, and an optional (column, prefix) to
    leave out, e.g. ("InvoiceNo", "C") for cancellations, and an optional event column (view,
    add-to-cart, purchase: views and add-to-carts seed the scores, purchases make the co-occurrence)."""

    customer: str
    item: str
    label: str | None = None
    weight: str | None = None
    date: str | None = None
    k: int = 10
    exclude_column: str | None = None
    exclude_prefix: str | None = None
    event: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ProductSettings:
        return cls(**_known(cls, values))

    @property
    def exclude(self) -> tuple[str, str] | None:
        return (self.exclude_column, self.exclude_prefix) if self.exclude_column and self.exclude_prefix else None

    @property
    def columns(self) -> list[str]:
        wanted = [self.customer, self.item, self.label, self.weight, self.date, self.exclude_column, self.event]
        return list(dict.fromkeys(c for c in wanted if c))


@dataclass(frozen=True)
class ProductResult:
    """Each customer's next-best products and, when a date was given, the offline check against popularity."""

    recommendations: Recommendations
    together: pd.DataFrame  # item_similarity(): each product's most similar products ("bought together")
    check: RecommendationCheck | None
    check_error: str | None = None


def products_job(lines: pd.DataFrame, settings: Mapping[str, Any], *, progress: Progress) -> ProductResult:
    """next_best_products, then (with a date column) offline_check: hide each customer's last purchase."""
    from core.targeting.recommend import item_similarity, next_best_products
    from core.targeting.recommend_check import offline_check

    s = ProductSettings.from_dict(settings)
    progress(0.05, f"Counting products bought together in {len(lines):,} lines")
    recs = next_best_products(lines, s.customer, s.item, k=int(s.k), weight=s.weight, label=s.label,
                              exclude=s.exclude, date=s.date, event=s.event)
    progress(0.4, "Listing the products bought together")
    together = item_similarity(lines, s.customer, s.item, label=s.label, weight=s.weight, exclude=s.exclude,
                               event=s.event)
    check: RecommendationCheck | None = None
    error: str | None = None
    if s.date:
        progress(0.55, "Checking offline: hiding each customer's last purchase")
        try:
            check = offline_check(lines, s.customer, s.item, s.date, k=int(s.k), weight=s.weight, exclude=s.exclude,
                                  event=s.event)
        except DataError as e:  # the recommendations stand; say why the check could not run
            error = str(e)
    progress(1.0, "Recommendations ready")
    return ProductResult(recs, together, check, error)


def uplift_score_job(model: UpliftModel, customers: pd.DataFrame, id_column: str, *,
                     progress: Progress) -> pd.DataFrame:
    """uplift_scores of a large table as a background job (the page scores small ones in process)."""
    from core.targeting.uplift import uplift_scores

    progress(0.05, f"Scoring {len(customers):,} customers")
    scores = uplift_scores(model, customers, id_column)
    progress(1.0, "Uplift scores ready")
    return scores
