"""Is a "per-user" table really one row per user? Checks and cleaning of the assignment, in the database.

Real exports often repeat users: a page reload logs a second exposure, a user is bucketed twice, a
tracking bug puts one person in both arms (Udacity's ab_data: 294,478 rows, 3,894 rows repeat a
user and 1,895 users appear in both arms). `check_assignment` counts this with one grouped query
per table; `dedupe_users` returns the table with either each user's first exposure only ("first")
or without the users seen in several arms ("drop_multi"), plus what was removed.

"First" means the earliest value of the time column when one is given (ties broken by row order);
without one, the first row in the table's order: the row order of a pandas frame, or the order the
rows were loaded into a workspace table (DuckDB's rowid). A derived Ibis expression (a join, a
filter) has no dependable row order, so it needs a time column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import math
import re

import ibis
import ibis.expr.operations as ops
import pandas as pd

from core.errors import DataError
from core.query import as_ibis, execute
from core.wording import plural

Dedupe = Literal["first", "drop_multi"]
DEDUPE: tuple[str, ...] = ("first", "drop_multi")
_ROW = "__mw_row"


@dataclass(frozen=True)
class AssignmentCheck:
    """How a table's rows map to users and variants.

    rows: all rows; users: distinct non-empty user ids; duplicate_rows: rows beyond each user's first
    (rows with a user id minus users); multi_variant_users: users seen in more than one variant;
    missing_user_rows: rows without a user id; multi_variant_rows: the rows of the multi-variant users.
    """

    rows: int
    users: int
    duplicate_rows: int
    multi_variant_users: int
    missing_user_rows: int = 0
    multi_variant_rows: int = field(default=0, compare=False)

    @property
    def ok(self) -> bool:
        return self.duplicate_rows == 0 and self.multi_variant_users == 0 and self.missing_user_rows == 0

    def message(self, user: str = "user") -> str:
        """One plain sentence for people."""
        if self.ok:
            return f"One row per {user}: {self.users:,} users, none repeated, nobody in two variants."
        parts = []
        if self.duplicate_rows:
            parts.append(f"{self.duplicate_rows:,} of {plural(self.rows, 'row')} {'repeats' if self.duplicate_rows == 1 else 'repeat'} a {user} already seen")
        if self.multi_variant_users:
            parts.append(f"{self.multi_variant_users:,} of {self.users:,} users appear in more than one variant")
        if self.missing_user_rows:
            parts.append(f"{plural(self.missing_user_rows, 'row')} {'has' if self.missing_user_rows == 1 else 'have'} no {user}")
        return ("Not one row per " + user + ": " + "; ".join(parts) + ". A per-user analysis counts such users "
                "twice (or in both arms): analyse first exposures only, or drop the users seen in several variants.")


@dataclass(frozen=True)
class Cleaning:
    """What `dedupe_users` removed."""

    how: str
    order: str  # what "first" was decided by: "earliest <time column>" or "row order"
    rows_removed: int
    users_removed: int
    rows_left: int
    users_left: int

    def message(self) -> str:
        if self.how == "first":
            what = f"Only each user's first exposure ({self.order}) is analysed"
        else:
            what = "Users seen in more than one variant are left out"
        return (f"{what}: {plural(self.rows_removed, 'row')} and {plural(self.users_removed, 'user')} removed, "
                f"{plural(self.rows_left, 'row')} of {plural(self.users_left, 'user')} analysed.")


def _full_table(data: pd.DataFrame | ibis.Table, needed: list[str]) -> tuple[ibis.Table, Any, bool]:
    """All columns as an Ibis table with a row-order column when one is known; (table, backend, has_row)."""
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
        frame[_ROW] = range(len(frame))
        t, backend = as_ibis(frame, list(frame.columns))
        return t, backend, True
    t, backend = as_ibis(data, needed)  # checks that the columns exist
    if isinstance(data.op(), ops.DatabaseTable):
        return data.mutate(**{_ROW: data.rowid()}), backend, True
    return data, backend, False


def check_assignment(data: pd.DataFrame | ibis.Table, variant: str, user: str) -> AssignmentCheck:
    """Rows, users, repeated rows and users in several variants, counted in the database."""
    if variant == user:
        raise DataError("The user column and the variant column must be different columns.")
    t, backend = as_ibis(data, [variant, user])
    totals = execute(t.aggregate(rows=t.count(), missing=t[user].isnull().sum()), backend).iloc[0]
    known = t.filter(t[user].notnull())
    label = known[variant].cast("string")  # min != max: cheaper than counting distinct variants per user
    per_user = known.group_by(__u=known[user]).aggregate(__k=known.count(), __lo=label.min(), __hi=label.max())
    multi = per_user["__lo"] != per_user["__hi"]
    users = execute(per_user.aggregate(users=per_user.count(), with_user=per_user["__k"].sum(), multi=multi.sum(),
                                       multi_rows=ibis.ifelse(multi, per_user["__k"], 0).sum()), backend).iloc[0]

    def whole(x: Any) -> int:
        return int(x) if x is not None and pd.notna(x) else 0

    n_users = whole(users["users"])
    return AssignmentCheck(rows=whole(totals["rows"]), users=n_users,
                           duplicate_rows=whole(users["with_user"]) - n_users,
                           multi_variant_users=whole(users["multi"]), missing_user_rows=whole(totals["missing"]),
                           multi_variant_rows=whole(users["multi_rows"]))


def _order_key(t: ibis.Table, time: str) -> ibis.Value:
    col = t[time]
    typ = col.type()
    if typ.is_string():
        return col.try_cast("timestamp")
    if typ.is_timestamp() or typ.is_date() or typ.is_numeric():
        return col
    raise DataError(f"The time column '{time}' holds {typ}; pick the exposure time (a date, timestamp or number).")


def dedupe_users(data: pd.DataFrame | ibis.Table, variant: str, user: str, how: Dedupe, *,
                 time: str | None = None, check: AssignmentCheck | None = None
                 ) -> tuple[pd.DataFrame | ibis.Table, Cleaning]:
    """The data with one exposure per user ("first") or without users in several variants ("drop_multi").

    Returns data of the same kind (a pandas frame for pandas input, a lazy Ibis expression for a
    table) and what was removed (from `check`, the data's `check_assignment`, computed when not given).
    Rows without a user id are left out (they cannot be attributed).
    """
    if how not in DEDUPE:
        raise DataError(f"dedupe must be 'first' (first exposure per user) or 'drop_multi' (drop users seen in "
                        f"several variants), not {how!r}.")
    if variant == user:
        raise DataError("The user column and the variant column must be different columns.")
    needed = [c for c in (variant, user, time) if c]
    t, backend, has_row = _full_table(data, needed)
    known = t.filter(t[user].notnull())
    if how == "first":
        order: list[ibis.Value] = []
        if time:
            order.append(_order_key(known, time))
        elif not has_row:
            raise DataError("This table has no fixed row order; give the exposure time column so that "
                            "'first exposure' is well defined.")
        if has_row:
            order.append(known[_ROW])
        rank = ibis.row_number().over(group_by=known[user], order_by=order)
        cleaned = known.mutate(__rank=rank).filter(lambda r: r["__rank"] == 0).drop("__rank")
        described = f"earliest {time}" if time else "row order"
    else:
        label = known[variant].cast("string")
        lo = label.min().over(group_by=known[user])
        hi = label.max().over(group_by=known[user])
        cleaned = known.mutate(__lo=lo, __hi=hi).filter(lambda r: r["__lo"].isnull() | (r["__lo"] == r["__hi"]))
        cleaned = cleaned.drop("__lo", "__hi")
        described = ""
    if _ROW in cleaned.columns:
        cleaned = cleaned.drop(_ROW)
    out: pd.DataFrame | ibis.Table = execute(cleaned, backend) if isinstance(data, pd.DataFrame) else cleaned
    before = check if check is not None else check_assignment(data, variant, user)
    if how == "first":  # one row per user is left
        rows_removed, users_removed = before.duplicate_rows + before.missing_user_rows, 0
    else:
        rows_removed = before.multi_variant_rows + before.missing_user_rows
        users_removed = before.multi_variant_users
    return out, Cleaning(how=how, order=described, rows_removed=rows_removed, users_removed=users_removed,
                         rows_left=before.rows - rows_removed, users_left=before.users - users_removed)


_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?%?$", re.IGNORECASE)


def equal_split(variants: list[str]) -> str:
    """The text of an equal planned split for `variants` ("50/50", "1/1/1")."""
    return "50/50" if len(variants) == 2 else "/".join(["1"] * len(variants))


def parse_split(text: str, variants: list[str]) -> list[float]:
    """Planned split as typed by a person, one weight per variant in `variants`' order.

    "96/4", "96:4", "96, 4", "96% 4%" give weights in the order of `variants`; "psa=4, ad=96" names
    them. Empty text means equal. Weights need not add up to 100 (1/3 is 25%/75%).
    """
    text = (text or "").strip()
    if not text:
        return [1.0] * len(variants)
    order = ", ".join(variants)
    if "=" in text:
        by_name: dict[str, float] = {}
        for part in re.split(r"[,;\n]+", text):
            if not part.strip():
                continue
            name, _, value = part.partition("=")
            name, value = name.strip(), value.strip().rstrip("%")
            if name not in variants:
                raise DataError(f"Planned split: '{name}' is not a variant (the variants are {order}).")
            try:
                by_name[name] = float(value)
            except ValueError:
                raise DataError(f"Planned split: '{value}' for {name} is not a number.") from None
        missing = [v for v in variants if v not in by_name]
        if missing:
            raise DataError(f"Planned split: give a share for {', '.join(missing)} too (e.g. {equal_split(variants)}).")
        weights = [by_name[v] for v in variants]
    else:
        parts = [p for p in re.split(r"[\s/:;,]+", text) if p]
        bad = [p for p in parts if not _NUMBER.match(p)]
        if bad:
            raise DataError(f"Planned split: '{bad[0]}' is not a number. Type shares in the order {order}, "
                            f"e.g. {equal_split(variants)} or 96/4, or name them: {variants[0]}=50, ...")
        weights = [float(p.rstrip("%")) for p in parts]
        if len(weights) != len(variants):
            raise DataError(f"Planned split: {len(weights)} share(s) for {len(variants)} variants ({order}). "
                            f"Type one share per variant, e.g. {equal_split(variants)}.")
    if any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
        raise DataError("Planned split: shares must be zero or positive, and not all zero.")
    return weights


def split_text(weights: list[float]) -> str:
    """Weights as percent shares for people: [96, 4] -> "96/4", [1, 1, 1] -> "33.3/33.3/33.3"."""
    total = sum(weights) or 1.0
    return "/".join(f"{100 * w / total:.3g}" for w in weights)
