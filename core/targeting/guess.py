"""The Targeting page's first guesses: which table plays which part, and which column is which.

Every guess here is a rule on column names and core.columns' role guesses, with a reason people can
read, so the page only shows them (editable) and tests pin the rules down:

- a saved result table is recognised by the columns the workbench writes (CLV: clv and p_alive;
  uplift scores: uplift and uplift_decile; propensity scores: score and decile; segments:
  segment_name or rfm_segment; recommendations: rank and reason);
- a transactions table (customer, date, amount) for CLV, purchase lines (customer, product, quantity)
  for next-best products, and a randomised test (treatment column, control value, outcome) for uplift
  come from core.columns.guess_roles.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from core.columns import ColumnRoles, is_control_name, looks_like_customer

ResultKind = Literal["clv", "uplift", "propensity", "segments", "products"]
RESULT_KINDS: tuple[ResultKind, ...] = ("segments", "clv", "uplift", "propensity", "products")
HOLDOUT_SHARE = 0.25  # the hold-out check's default: the last quarter of the data's days
_LABEL_WORDS = ("description", "desc", "product_name", "item_name", "title", "name")


def result_kind(columns: Sequence[str]) -> ResultKind | None:
    """What kind of saved result a table is, from the columns the workbench writes (None: not one)."""
    names = {c.lower() for c in columns}
    if {"clv", "p_alive"} <= names:
        return "clv"
    if {"uplift", "uplift_decile"} <= names:
        return "uplift"
    if {"rank", "reason"} <= names:
        return "products"
    if "segment_name" in names or "rfm_segment" in names:
        return "segments"
    if {"score", "decile"} <= names:
        return "propensity"
    return None


def guess_sources(tables: Mapping[str, Sequence[str]]) -> dict[ResultKind, str | None]:
    """For each kind of result, the table that holds it (the last such table in `tables`' order,
    so with the workspace's list in order of creation the newest; None when there is none)."""
    out: dict[ResultKind, str | None] = {k: None for k in RESULT_KINDS}
    for name, columns in tables.items():
        kind = result_kind(columns)
        if kind is not None:
            out[kind] = name
    return out


def result_tables(tables: Mapping[str, Sequence[str]], kind: ResultKind) -> list[str]:
    """Every table holding results of this kind, in `tables`' order."""
    return [name for name, columns in tables.items() if result_kind(columns) == kind]


@dataclass(frozen=True)
class ColumnPick:
    """Columns guessed for one tab, each None when there is no good guess, with the reasons."""

    columns: dict[str, str | None]
    reasons: tuple[str, ...]


def _column(guess: Any, columns: Sequence[str]) -> str | None:
    col = getattr(guess, "column", None)
    return str(col) if col is not None and col in columns else None


def customer_column(roles: ColumnRoles, columns: Sequence[str]) -> str | None:
    """The customer of a transactions or lines table: an identifier named like a customer (CustomerID,
    user_id), else any column so named, else the id guess (a table's own row id, e.g. InvoiceNo, only
    when nothing is named like a customer)."""
    named = [c for c in columns if looks_like_customer(c)]
    return next((c for c in roles.identifiers if c in named), None) or next(iter(named), None) or \
        _column(roles.id, columns)


def transaction_columns(roles: ColumnRoles, columns: Sequence[str]) -> ColumnPick:
    """customer, date and amount of a transactions table (for CLV)."""
    customer = customer_column(roles, columns)
    date = _column(roles.date, columns)
    amount = _column(roles.amount, columns) or _column(roles.revenue, columns)
    reasons = [f"Customer: {customer}."] if customer else []
    reasons += [f"{what}: {col} ({getattr(g, 'reason', '')})." for what, col, g in
                (("Date", date, roles.date), ("Amount", amount, roles.amount)) if col]
    # a unit price (Online Retail's UnitPrice) is not what a line is worth: times its quantity it is
    quantity = _column(roles.quantity, columns) if amount and "price" in amount.lower() else None
    if quantity:
        reasons.append(f"{amount} is a unit price: each line is worth {quantity} x {amount}.")
    return ColumnPick({"customer": customer, "date": date, "amount": amount, "quantity": quantity}, tuple(reasons))


def product_columns(roles: ColumnRoles, columns: Sequence[str]) -> ColumnPick:
    """customer, item, label (a description), weight (a quantity) and date of purchase lines."""
    customer = customer_column(roles, columns)
    item = _column(roles.product, columns)
    label = next((c for c in columns if c != item and c.lower() in _LABEL_WORDS), None)
    if item is not None and label is None and item.lower() in _LABEL_WORDS:
        label = None
    weight = _column(roles.quantity, columns)
    date = _column(roles.date, columns)
    reasons = [f"{what}: {col}" for what, col in (("Customer", customer), ("Product", item), ("Label", label),
                                                   ("Quantity", weight), ("Date", date)) if col]
    return ColumnPick({"customer": customer, "item": item, "label": label, "weight": weight, "date": date},
                      tuple(reasons))


def test_columns(roles: ColumnRoles, columns: Sequence[str]) -> ColumnPick:
    """treatment column, control value and outcome of a randomised test (for uplift)."""
    treatment = _column(roles.variant, columns)
    control = roles.control.column if treatment else None
    # the target guess first (converted, churned, visit ...): roles.outcomes also lists metrics measured
    # before a test (orders, avg_order_value), which are features of an uplift model, not its outcome
    target = _column(roles.target, columns)
    outcome = target if target != treatment else None
    outcome = outcome or next((c for c in roles.outcomes if c in columns and c != treatment), None)
    reasons = [f"Treatment: {treatment} ({roles.variant.reason})"] if treatment else []
    if control is not None:
        reasons.append(f"Control: {control} ({roles.control.reason})")
    if outcome:
        reasons.append(f"Outcome: {outcome}")
    return ColumnPick({"treatment": treatment, "control": control, "outcome": outcome, "id": _column(roles.id, columns)},
                      tuple(reasons))


def control_levels(levels: Sequence[Any]) -> list[Any]:
    """The levels of a variant column that mean 'not treated' (control, holdout, No E-Mail ...)."""
    return [v for v in levels if is_control_name(str(v))]


def default_holdout_start(first: _dt.date, last: _dt.date, share: float = HOLDOUT_SHARE) -> _dt.date:
    """The calibration end that leaves the last `share` of the days for the hold-out check."""
    days = (last - first).days
    return first + _dt.timedelta(days=int(round(days * (1 - share))))
