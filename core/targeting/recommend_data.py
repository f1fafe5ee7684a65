"""Input and data hygiene for core.targeting.recommend: column checks, internal names, and the counts of
lines left out (missing customer or item, returns, zero weight, the exclude filter, duplicates, the cap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import ibis
import pandas as pd

from core.errors import DataError
from core.query import as_ibis
from core.targeting import recommend_steps as steps


@dataclass(frozen=True)
class DataCounts:
    """What happened to the input lines (each line is counted under the first reason that applies)."""

    rows: int
    missing_customer_or_item: int
    missing_date: int
    returns: int
    zero_or_missing_weight: int
    excluded: int
    duplicate_lines: int
    duplicates_with_date: bool
    rows_used: int
    customers: int
    items: int
    customer_item_pairs: int
    heavy_customers: int
    pairs_left_out_by_cap: int
    max_items: int
    item_pairs: int = 0
    sample_every: int = 1
    cooccurrence_customers: int = 0
    unknown_event: int = 0  # lines whose event is neither a purchase, an add-to-cart nor a view
    browse_lines: int = 0  # view and add-to-cart lines used as signals

    def lines(self) -> list[str]:
        """Plain sentences for the page, only for the counts that are not zero."""
        out = [f"{self.rows_used:,} of {self.rows:,} lines used: {self.customers:,} customers, "
               f"{self.items:,} items, {self.customer_item_pairs:,} customer-item pairs."]
        notes = [
            (self.missing_customer_or_item, "lines without a customer or item left out"),
            (self.missing_date, "lines without a date left out"),
            (self.returns, "returns or cancellations (negative weight) left out"),
            (self.zero_or_missing_weight, "lines with zero or missing weight left out"),
            (self.excluded, "lines left out by the exclude filter"),
            (self.unknown_event, "lines whose event reads as neither a purchase, an add-to-cart nor a view left "
                                 "out"),
        ]
        if self.duplicate_lines:
            out.append(f"{self.duplicate_lines:,} duplicate lines (same customer, item, time and weight): "
                       "buyers are counted once anyway; they add to the weight unless duplicates are dropped."
                       if self.duplicates_with_date else
                       f"{self.duplicate_lines:,} lines repeat the same customer, item and weight (without a "
                       "date column these may be repeat purchases).")
        out += [f"{n:,} {text}." for n, text in notes if n]
        if self.browse_lines:
            out.append(f"{self.browse_lines:,} view and add-to-cart lines are signals: they make similar products "
                       "score for the customer (weaker than a purchase), and a viewed product can still be "
                       "recommended.")
        if self.heavy_customers:
            out.append(f"{self.heavy_customers:,} customers bought more than {self.max_items:,} items: "
                       f"their {self.max_items:,} most-bought items enter the co-occurrence "
                       f"({self.pairs_left_out_by_cap:,} customer-item pairs left out of it).")
        if self.sample_every > 1:
            out.append(f"{self.item_pairs:,} item pairs were too many to count: the co-occurrence uses 1 in "
                       f"{self.sample_every} customers ({self.cooccurrence_customers:,} of {self.customers:,}); "
                       "every customer still gets recommendations.")
        return out



def inputs(transactions: pd.DataFrame | ibis.Table, customer: str, item: str, *, weight: str | None = None,
            label: str | None = None, date: str | None = None,
            exclude: tuple[str, str] | None = None, event: str | None = None) -> tuple[ibis.Table, Any]:
    """The input as an Ibis table with the internal names c, i, [w, lbl, d, x, e] and its backend."""
    for name, value in (("customer", customer), ("item", item)):
        if not isinstance(value, str) or not value:
            raise DataError(f"Give the {name} column's name (got {value!r}).")
    if customer == item:
        raise DataError(f"The customer and item columns are both '{customer}'; pick two different columns.")
    if weight is not None and weight in (customer, item):
        raise DataError(f"The weight column '{weight}' is also the customer or item column; pick the "
                        "quantity or spend column, or no weight.")
    if exclude is not None and (not isinstance(exclude, tuple) or len(exclude) != 2):
        raise DataError("exclude must be (column, prefix), e.g. ('InvoiceNo', 'C') for cancellations.")
    if event is not None and event in (customer, item):
        raise DataError(f"The event column '{event}' is also the customer or item column; pick the column "
                        "that says view, add-to-cart or purchase, or no event column.")
    wanted = [customer, item] + [c for c in (weight, label, date, event) if c] + ([exclude[0]] if exclude else [])
    t, backend = as_ibis(transactions, list(dict.fromkeys(wanted)))
    for name, role in ((customer, "customer"), (item, "item")):
        if t[name].type().is_null():
            raise DataError(f"The column '{name}' is empty (no values at all); pick the {role} column.")
    cols: dict[str, Any] = {"c": t[customer], "i": t[item]}
    if weight:
        if not t[weight].type().is_numeric():
            raise DataError(f"The weight column '{weight}' holds {t[weight].type()}, not numbers; "
                            "pick the quantity or spend column.")
        cols["w"] = t[weight]
    if label:
        cols["lbl"] = t[label]
    if date:
        cols["d"] = steps.as_day(t[date], date)
        cols["ts"] = t[date]  # the time as given: duplicates are lines equal to the second
    if exclude:
        cols["x"] = t[exclude[0]].cast("string").startswith(str(exclude[1]))
    if event:
        cols["e"] = steps.event_kind(t[event])
    return t.select(**cols), backend


def check_event_weights(weights: Mapping[str, float] | None) -> dict[str, float] | None:
    """event_weights as given, checked: keys cart and view, values in (0, 1] (a purchase is 1)."""
    if weights is None:
        return None
    unknown = [k for k in weights if k not in ("cart", "view")]
    if unknown:
        raise DataError(f"event_weights takes 'cart' and 'view' (a purchase always weighs 1); not {', '.join(map(repr, unknown))}.")
    bad = {k: v for k, v in weights.items() if not isinstance(v, (int, float)) or not 0 < float(v) <= 1}
    if bad:
        raise DataError(f"Event weights must be between 0 and 1 (a purchase weighs 1): {bad}.")
    return {k: float(v) for k, v in weights.items()}


def require_lines(counts: DataCounts) -> None:
    """Raise DataError when no line can be used, saying why the lines were left out."""
    if counts.rows_used == 0:
        reasons = " ".join(counts.lines()[1:]) or "The table has no lines."
        raise DataError(f"No line can be used for recommendations. {reasons} Check the customer, item and "
                        "weight columns (the weight must be a positive quantity or spend).")
    if counts.rows_used == counts.browse_lines and counts.browse_lines:
        raise DataError(f"None of the {counts.rows_used:,} usable lines is a purchase: every event reads as a view "
                        "or an add-to-cart. Co-occurrence needs purchases; check the event column (a purchase "
                        "reads as purchase, order, transaction, buy or sale).")


def customer_list(customers: Sequence[Any] | pd.Series | None, t: ibis.Table) -> ibis.Table | None:
    """The chosen customers as a one-column table (tc) of the customer column's type, or None for all."""
    if customers is None:
        return None
    if isinstance(customers, (str, bytes)) or not hasattr(customers, "__iter__"):
        raise DataError("customers must be a list of customer ids (or left out for everyone).")
    values = pd.Series(list(customers)).dropna().drop_duplicates()
    if values.empty:
        raise DataError("The list of customers is empty; pick at least one customer or leave it out.")
    table = ibis.memtable(pd.DataFrame({"tc": values.reset_index(drop=True)}))
    return table.select(tc=table.tc.cast(t.c.type()))


def check_settings(k: int, min_count: int | None, neighbours: int, max_items: int, measure: str,
                   aggregate: str, max_pairs: int | None = None) -> None:
    """Raise DataError for a setting out of range (min_count None means the measure's default,
    max_pairs None no budget)."""
    for name, value, low in (("k", k, 1), ("min_count", 3 if min_count is None else min_count, 1),
                             ("neighbours", neighbours, 1), ("max_items", max_items, 2),
                             ("max_pairs", 1 if max_pairs is None else max_pairs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DataError(f"{name} must be a whole number of at least {low} (got {value!r}).")
    if measure not in ("lift", "cosine"):
        raise DataError(f"measure must be 'lift' or 'cosine' (got {measure!r}).")
    if aggregate not in ("sum", "max"):
        raise DataError(f"aggregate must be 'sum' or 'max' (got {aggregate!r}).")


def data_counts(t: ibis.Table, fitted: steps.Fitted, scratch: steps.Scratch, max_items: int) -> DataCounts:
    """Count the input lines by what happened to them, and the customer-item pairs and the cap."""
    row = scratch.execute(steps.hygiene_counts(t)).iloc[0]
    dup = scratch.execute(steps.duplicate_lines(t)).iloc[0]
    cap = scratch.execute(steps.cap_counts(fitted.customers, max_items)).iloc[0]
    items = int(scratch.execute(fitted.items.count()))

    def get(series: pd.Series, key: str) -> int:
        value = series.get(key, 0)
        return 0 if pd.isna(value) else int(value)

    return DataCounts(
        rows=get(row, "rows"), missing_customer_or_item=get(row, "missing_customer_or_item"),
        missing_date=get(row, "missing_date"), returns=get(row, "returns"),
        zero_or_missing_weight=get(row, "zero_or_missing_weight"), excluded=get(row, "excluded"),
        duplicate_lines=get(dup, "duplicate_lines"), duplicates_with_date="d" in t.columns,
        rows_used=get(row, "rows_used"), customers=get(cap, "customers"), items=items,
        customer_item_pairs=get(cap, "customer_item_pairs"), heavy_customers=get(cap, "heavy_customers"),
        pairs_left_out_by_cap=get(cap, "pairs_left_out_by_cap"), max_items=max_items,
        item_pairs=fitted.item_pairs, sample_every=fitted.sample_every,
        cooccurrence_customers=fitted.cooccurrence_customers, unknown_event=get(row, "unknown_event"),
        browse_lines=get(row, "browse_lines"))
