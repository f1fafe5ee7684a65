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
from typing import Any, Callable, Literal, Mapping, Sequence

from core.columns import ColumnRoles, is_control_name, looks_like_customer

ResultKind = Literal["clv", "uplift", "propensity", "segments", "products"]
Tab = Literal["clv", "uplift", "products", "audience"]
RESULT_KINDS: tuple[ResultKind, ...] = ("segments", "clv", "uplift", "propensity", "products")
HOLDOUT_SHARE = 0.25  # the hold-out check's default: the last quarter of the data's days
_EVENT_NAMES = ("event", "event_type", "eventtype", "action", "interaction", "interaction_type", "behavior",
                "behaviour", "event_name")
_LABEL_WORDS = ("description", "desc", "product_name", "item_name", "title", "name")
MIN_OUTCOME_RATE = 0.02  # a 0/1 outcome rarer than this leaves too few events per arm to rank customers
ONE_ROW_PER_CUSTOMER = 0.99  # a base table's id: at least this share of its values unique


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


def looks_like_label(name: str) -> bool:
    """A column named like a product's description (Description, product_name, title ...)."""
    return str(name).lower() in _LABEL_WORDS


def product_columns(roles: ColumnRoles, columns: Sequence[str]) -> ColumnPick:
    """customer, item, label (a description), weight (a quantity), date and event (view, add-to-cart,
    purchase: a column named event, event_type, action ...) of purchase lines."""
    customer = customer_column(roles, columns)
    item = _column(roles.product, columns)
    label = next((c for c in columns if c != item and c.lower() in _LABEL_WORDS), None)
    if item is not None and label is None and item.lower() in _LABEL_WORDS:
        label = None
    weight = _column(roles.quantity, columns)
    date = _column(roles.date, columns)
    event = next((c for c in columns if c.lower() in _EVENT_NAMES and c not in (customer, item)), None)
    reasons = [f"{what}: {col}" for what, col in (("Customer", customer), ("Product", item), ("Label", label),
                                                   ("Quantity", weight), ("Date", date), ("Event", event)) if col]
    return ColumnPick({"customer": customer, "item": item, "label": label, "weight": weight, "date": date,
                       "event": event}, tuple(reasons))


def test_columns(roles: ColumnRoles, columns: Sequence[str], rates: Mapping[str, float] | None = None) -> ColumnPick:
    """treatment column, control value and outcome of a randomised test (for uplift).

    `rates` (each 0/1 column's share of ones, when the page has read them) steers the outcome away from
    one too rare to model: Hillstrom's `conversion` (0.9%) gives about 190 conversions per arm, too few
    to rank 21,000 customers by; `visit` (14.7%) is the campaign's response that can be modelled."""
    treatment = _column(roles.variant, columns)
    control = roles.control.column if treatment else None
    # the target guess first (converted, churned, visit ...): roles.outcomes also lists metrics measured
    # before a test (orders, avg_order_value), which are features of an uplift model, not its outcome
    target = _column(roles.target, columns)
    # no treatment column, no test: an outcome guessed on its own (Online Retail's Country) would mislead
    candidates = [] if treatment is None else \
        list(dict.fromkeys(c for c in [target, *roles.outcomes] if c and c in columns and c != treatment))
    outcome = next(iter(candidates), None)
    reasons = [f"Treatment: {treatment} ({roles.variant.reason})."] if treatment else []
    if control is not None:
        reasons.append(f"Control: {control} ({roles.control.reason}).")
    rare = ""
    if outcome and rates and rates.get(outcome, 1.0) < MIN_OUTCOME_RATE:
        usable = next((c for c in candidates if c in rates and rates[c] >= MIN_OUTCOME_RATE), None)
        rare = f"Not {outcome}: it is 1 for only {rates[outcome]:.1%} of customers, too rare to rank them by"
        if usable:
            rare += f"; {usable} ({rates[usable]:.1%}) is a response that can be modelled"
            outcome = usable
    if outcome:
        rate = f", 1 for {rates[outcome]:.1%} of customers" if rates and outcome in rates else ""
        reasons.append(f"Outcome: {outcome} ({'the target guess' if outcome == target else 'a measured result'}"
                       f"{rate}).")
    if rare:
        reasons.append(rare + ".")
    return ColumnPick({"treatment": treatment, "control": control, "outcome": outcome, "id": _column(roles.id, columns)},
                      tuple(reasons))


def flag_columns(roles: ColumnRoles, columns: Sequence[str]) -> list[str]:
    """The 0/1 columns among a test's possible outcomes (their rates steer `test_columns`)."""
    names = {c for c in [roles.target.column, *roles.outcomes] if c in columns}
    return [f.name for f in roles.facts if f.name in names and f.kind == "flag"]


def fits(tab: Tab, roles: ColumnRoles, columns: Sequence[str]) -> bool:
    """Whether a table can be what a Targeting tab reads, by the same guesses the tab makes:
    CLV: transactions (several rows per customer, with a date and an amount); uplift: a test (treatment and outcome); products:
    purchase lines (customer and a product that is not a date); audience: one row per customer (a
    saved CLV or uplift table too, though first_fitting prefers a customer table)."""
    if result_kind(columns) is not None and tab != "audience":
        return False
    if tab == "clv":
        c = transaction_columns(roles, columns).columns
        return roles.is_transactions and bool(c["customer"] and c["date"] and c["amount"])
    if tab == "uplift":
        c = test_columns(roles, columns).columns
        return bool(c["treatment"] and c["outcome"])
    if tab == "products":
        c = product_columns(roles, columns).columns
        item = roles.fact(c["item"]) if c["item"] else None
        return bool(c["customer"] and c["item"]) and c["customer"] != c["item"] and \
            (item is None or item.kind != "date")
    if roles.is_transactions:
        return False
    key = roles.fact(roles.id.column) if roles.id.column else None
    return key is not None and key.unique_share >= ONE_ROW_PER_CUSTOMER


_PRODUCT_WORDS = ("product", "item", "sku", "stock", "article", "asin")


def _strength(tab: Tab, roles: ColumnRoles, columns: Sequence[str]) -> int:
    """How well a fitting table fits: 2 = as well as can be, 1 = it will do (purchase lines whose
    product guess is a category, such as transactions' `category`, lose to lines of products; a saved
    result loses to a customer table as the audience's base)."""
    if tab == "audience":  # a customer table first; a saved result (one row per customer) will do
        return 1 if result_kind(columns) is not None else 2
    if tab != "products":
        return 2
    item = str(product_columns(roles, columns).columns["item"] or "").lower()
    return 2 if any(w in item for w in _PRODUCT_WORDS) else 1


def first_fitting(tab: Tab, tables: Sequence[str], describe: Callable[[str], tuple[ColumnRoles, Sequence[str]]],
                  preferred: str | None = None) -> str | None:
    """The table a tab opens on: `preferred` (the demo's name for it) when present, else the first of
    `tables` that fits the tab best (describe(name) -> its roles and columns, asked in order until a
    table fits as well as can be), else None (the page then asks the user to pick)."""
    if preferred in tables:
        return preferred
    best: tuple[int, str | None] = (0, None)
    for name in tables:
        roles, columns = describe(name)
        if fits(tab, roles, columns):
            strength = _strength(tab, roles, columns)
            if strength > best[0]:
                best = (strength, name)
            if strength == 2:
                break
    return best[1]


def control_levels(levels: Sequence[Any]) -> list[Any]:
    """The levels of a variant column that mean 'not treated' (control, holdout, No E-Mail ...)."""
    return [v for v in levels if is_control_name(str(v))]


def default_holdout_start(first: _dt.date, last: _dt.date, share: float = HOLDOUT_SHARE) -> _dt.date:
    """The calibration end that leaves the last `share` of the days for the hold-out check."""
    days = (last - first).days
    return first + _dt.timedelta(days=int(round(days * (1 - share))))
