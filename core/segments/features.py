"""One row per customer from transactions (RFM and behaviour features), computed in the database.

The aggregation is an Ibis expression, so it runs where the data lives (DuckDB by default, a
distributed engine later); pandas input is wrapped in an in-memory DuckDB table.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import Any, Iterable

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from core.columns import ColumnFacts, Kind, guess_roles, looks_like_customer, looks_like_id
from core.errors import DataError
from core.query import as_ibis, execute


def require_one_row_per_customer(df: pd.DataFrame, id_column: str | None = None, *,
                                 exclude: Iterable[str] = ()) -> None:
    """Raise DataError when the customer id column (given, or an obvious one such as customer_id) repeats."""
    skip = set(exclude)
    candidates = [id_column] if id_column else [
        c for c in df.columns if c not in skip and looks_like_id(str(c))
        and (str(c).strip().lower() in ("id", "cust", "cust_id", "custid")
             or any(word in str(c).lower() for word in ("customer", "client", "user", "member", "account")))]
    for col in candidates:
        if col not in df.columns:
            raise DataError(f"The customer id column '{col}' is not in the table.")
        dupes = int(df[col].duplicated().sum())
        if dupes:
            raise DataError(
                f"'{col}' repeats {dupes:,} time(s), but this needs one row per customer. "
                "Build customer features from the transactions first (one row per customer), "
                "or aggregate the table by customer.")


def _as_date(col: ibis.Value, name: str) -> ibis.Value:
    typ = col.type()
    if typ.is_date():
        return col
    if typ.is_timestamp():
        return col.date()
    if typ.is_string():
        return col.try_cast(dt.timestamp).date()
    raise DataError(f"The date column '{name}' holds {typ}, not dates. Pick the column with the order date.")


def _to_date(value: Any) -> _dt.date:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(f"as_of={value!r} is not a date; give it as YYYY-MM-DD.") from None
    if pd.isna(ts):
        raise DataError("as_of is empty; give a date as YYYY-MM-DD or leave it out.")
    return ts.date()


def customer_features(
    transactions: pd.DataFrame | ibis.Table,
    customer: str,
    date: str,
    amount: str,
    *,
    as_of: Any = None,
    order: str | None = None,
    quantity: str | None = None,
    product: str | None = None,
    channel: str | None = None,
    exclude_non_positive: bool = False,
) -> pd.DataFrame:
    """One row per customer: recency, frequency, monetary, tenure and order habits.

    - recency_days: as_of minus the last purchase date, in whole days (as_of defaults to the day
      after the last date in the data; purchases on or after as_of are left out);
    - frequency: number of purchases: rows, or distinct `order` values when an order column is given;
    - monetary: total spend (amount, times `quantity` when given); avg_order_value = monetary / frequency;
    - tenure_days: as_of minus the first purchase; days_between_orders: (last - first) / (frequency - 1);
    - n_products / n_channels: distinct values of `product` / `channel` when given.
    Rows with a missing customer, date or amount are skipped; `attrs["notes"]` says how many.
    """
    if any(c is None or (isinstance(c, str) and not c.strip()) for c in (customer, date, amount)):
        raise DataError("Pick the customer, date and amount columns to build customer features.")
    names = [customer, date, amount] + [c for c in (order, quantity, product, channel) if c]
    if len(set(names)) != len(names):
        raise DataError("Customer, date, amount, order, quantity, product and channel must be different columns.")
    if isinstance(transactions, pd.DataFrame) and date in transactions.columns:
        col = transactions[date]
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            # text dates from a CSV read by pandas: parse them here (any common format), not in the database
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(col, errors="coerce", format="mixed")
            transactions = transactions.copy()
            transactions[date] = parsed
    t, backend = as_ibis(transactions, list(dict.fromkeys(names)))

    amt = t[amount]
    if not amt.type().is_numeric():
        raise DataError(f"The amount column '{amount}' holds {amt.type()}, not numbers. Pick a numeric spend column.")
    if quantity:
        q = t[quantity]
        if not q.type().is_numeric():
            raise DataError(f"The quantity column '{quantity}' holds {q.type()}, not numbers.")
        amt = amt * q
    day = _as_date(t[date], date)
    base = t.mutate(__customer=t[customer], __day=day, __amount=amt.cast("float64"))
    keep = base.__customer.notnull() & base.__day.notnull() & base.__amount.notnull()
    if exclude_non_positive:
        keep = keep & (base.__amount > 0)
    counts = execute(
        base.aggregate(total=base.count(), kept=keep.sum(), last=base.__day.max()), backend
    ).iloc[0]
    total, kept = int(counts["total"]), int(counts["kept"] or 0)
    if total == 0:
        raise DataError("The transactions table is empty; load transactions first.")
    if kept == 0:
        raise DataError(f"No usable transactions: every row misses the customer, a readable date in '{date}' "
                        "(text dates must look like YYYY-MM-DD; load the file on the Data page to detect other formats) "
                        "or the amount" + (", or has an amount <= 0" if exclude_non_positive else "") + ".")
    if as_of is None:
        as_of_date = pd.Timestamp(counts["last"]).date() + _dt.timedelta(days=1)
    else:
        as_of_date = _to_date(as_of)
    keep = keep & (base.__day < ibis.literal(as_of_date))
    rows = base.filter(keep)

    frequency = rows[order].nunique() if order else rows.count()
    metrics: dict[str, Any] = {
        "first_purchase": rows.__day.min(),
        "last_purchase": rows.__day.max(),
        "frequency": frequency,
        "monetary": rows.__amount.sum(),
    }
    if product:
        metrics["n_products"] = rows[product].nunique()
    if channel:
        metrics["n_channels"] = rows[channel].nunique()
    agg = rows.group_by(rows.__customer).aggregate(**metrics)
    as_of_lit = ibis.literal(as_of_date)
    span = agg.last_purchase.delta(agg.first_purchase, unit="day")
    agg = agg.mutate(
        recency_days=as_of_lit.delta(agg.last_purchase, unit="day"),
        tenure_days=as_of_lit.delta(agg.first_purchase, unit="day"),
        avg_order_value=agg.monetary / agg.frequency,
        days_between_orders=ibis.ifelse(agg.frequency > 1, span.cast("float64") / (agg.frequency - 1), ibis.null()),
    )
    order_cols = ["__customer", "recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
                  "days_between_orders"] + [c for c in ("n_products", "n_channels") if c in metrics] + \
                 ["first_purchase", "last_purchase"]
    out = execute(agg.select(*order_cols).order_by("__customer"), backend)
    out = out.rename(columns={"__customer": customer}).reset_index(drop=True)
    for col in ("recency_days", "frequency", "tenure_days") + tuple(c for c in ("n_products", "n_channels") if c in metrics):
        out[col] = out[col].astype("int64")
    for col in ("first_purchase", "last_purchase"):
        out[col] = pd.to_datetime(out[col])
    if out.empty:
        raise DataError(f"No transactions fall before as_of={as_of_date}; pick a later date.")
    notes = []
    if kept < total:
        skipped = total - kept
        notes.append(f"{skipped:,} of {total:,} rows {'was' if skipped == 1 else 'were'} skipped: missing customer, "
                     "unreadable date or missing amount"
                     + (" or amount <= 0" if exclude_non_positive else "") + ".")
    out.attrs["notes"] = notes
    out.attrs["as_of"] = str(as_of_date)
    return out


def suggest_transaction_columns(columns: dict[str, str], distinct: dict[str, int] | None = None,
                                rows: int | None = None) -> dict[str, str | None]:
    """Guess which columns hold the customer, date, amount, order, quantity, product and channel.

    `columns` maps name -> type string (as in Workspace.columns); `distinct` counts per column (missing
    ones count as all different). The guesses come from core.columns (one place for every page);
    "is_transactions" is "yes" when a customer column repeats and a date and an amount column exist.
    """
    n = rows or 0
    facts = [ColumnFacts(name, _kind_of_type(typ), n, int((distinct or {}).get(name, n)), 0)
             for name, typ in columns.items()]
    guessed = guess_roles(facts)
    roles: dict[str, str | None] = {role: getattr(guessed, role).column
                                    for role in ("date", "order", "quantity", "amount", "product", "channel")}
    customer = guessed.id.column
    if customer is None:  # a customer column without an id-like name (buyer, client): it must have many values
        customer = next((f.name for f in facts if looks_like_customer(f.name) and f.distinct > 50), None)
    roles["customer"] = customer
    if roles["amount"] and roles["quantity"] and "price" not in roles["amount"].lower():
        roles["quantity"] = None  # an amount that is already a line total must not be multiplied again
    repeats = False
    if customer and distinct is not None and rows:
        repeats = distinct.get(customer, rows) < rows
    roles["is_transactions"] = "yes" if (repeats and roles["date"] and roles["amount"]) else None
    return roles


def _kind_of_type(typ: str) -> Kind:
    t = typ.upper()
    if "BOOL" in t:
        return "flag"
    if "DATE" in t or "TIMESTAMP" in t:
        return "date"
    if any(k in t for k in ("INT", "DOUBLE", "DECIMAL", "FLOAT", "REAL", "NUMERIC")):
        return "number"
    return "text"
