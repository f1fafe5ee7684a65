"""Steps of the audience builder: the filters in order, the joined table, and the funnel.

Pure Ibis expressions plus the one aggregate that counts the funnel; core.targeting.audience puts
them together. Column names follow the Targeting tables' contract (see that module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from core.errors import DataError
from core.targeting.guess import looks_like_label
from core.targeting.audience_query import KeyedTable, bool_sum, require_columns, run
from core.wording import plural

if TYPE_CHECKING:
    from core.targeting.audience import AudienceFilters, AudienceSources

KEY = "__mw_key"
PRODUCT_SEPARATOR = "; "
# Source slot -> what users call it; customer tables make up the starting customers.
NAMES = {"base": "base table", "segments": "segments table", "clv": "CLV table", "uplift": "uplift table",
         "revenue_uplift": "revenue uplift table", "propensity": "propensity table",
         "control": "assignment (control group) table", "products": "products table"}
SHORT = {"base": "base", "segments": "segment", "clv": "CLV", "uplift": "uplift", "revenue_uplift": "revenue uplift",
         "propensity": "propensity score", "control": "assignment", "products": "product"}
CUSTOMER_TABLES = ("base", "segments", "clv", "uplift", "revenue_uplift", "propensity")
# Columns brought from each table when present: input name -> audience name.
BRING = {
    "segments": {"segment": "segment", "segment_name": "segment_name", "rfm_segment": "rfm_segment"},
    "clv": {"clv": "clv", "p_alive": "p_alive", "expected_purchases": "expected_purchases",
            "expected_spend": "expected_spend"},
    "uplift": {"uplift": "uplift", "uplift_decile": "uplift_decile", "group": "uplift_group", "arm": "arm"},
    "revenue_uplift": {"uplift": "revenue_uplift"},
    "propensity": {"score": "propensity_score", "decile": "propensity_decile"},
}


def _num(x: float) -> str:
    """A filter's number as users typed it: 100 -> '100', 1500 -> '1,500', 0.35 -> '0.35'."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.10g}"


def _listing(values: tuple[Any, ...]) -> str:
    return ", ".join(map(str, values))


@dataclass(frozen=True)
class Step:
    """One active filter: its label in the funnel, the source slot it reads, and the columns."""

    label: str
    slot: str
    columns: tuple[str, ...]  # audience columns the filter reads (checked on the table)
    inputs: tuple[str, ...]  # the same columns as the input table names them


def filter_steps(sources: AudienceSources, f: AudienceFilters) -> list[Step]:
    """The active filters in order, each naming the table and columns it needs."""
    steps: list[Step] = []
    if f.in_base and sources.base is not None:
        steps.append(Step("In the base table", "base", (), ()))
    if f.segments:
        cols, inputs = [], []
        if any(isinstance(v, str) for v in f.segments):
            col = sources.segment_column or "segment_name"
            cols.append(col)
            inputs.append(col)
        if any(not isinstance(v, str) for v in f.segments) and sources.segment_column is None:
            cols.append("segment")
            inputs.append("segment")
        steps.append(Step(f"Segment in ({_listing(f.segments)})", "segments", tuple(cols), tuple(inputs)))
    if f.min_p_alive is not None:
        steps.append(Step(f"P(alive) ≥ {_num(f.min_p_alive)}", "clv", ("p_alive",), ("p_alive",)))
    if f.min_clv is not None:
        steps.append(Step(f"CLV ≥ {_num(f.min_clv)}", "clv", ("clv",), ("clv",)))
    if f.top_uplift_deciles is not None:
        n = f.top_uplift_deciles
        label = "Uplift decile 1 (top 10%)" if n == 1 else f"Uplift deciles 1-{n} (top {n * 10}%)"
        steps.append(Step(label, "uplift", ("uplift_decile",), ("uplift_decile",)))
    if f.min_uplift is not None:
        steps.append(Step(f"Uplift ≥ {_num(f.min_uplift)}", "uplift", ("uplift",), ("uplift",)))
    if f.uplift_groups:
        steps.append(Step(f"Uplift group in ({_listing(f.uplift_groups)})", "uplift", ("uplift_group",),
                           ("group",)))
    if f.min_propensity is not None:
        steps.append(Step(f"Propensity score ≥ {_num(f.min_propensity)}", "propensity",
                           ("propensity_score",), ("score",)))
    if f.top_propensity_deciles is not None:
        n = f.top_propensity_deciles
        steps.append(Step(f"Propensity deciles 1-{n} (top {n * 10}%)" if n > 1 else
                           "Propensity decile 1 (top 10%)", "propensity", ("propensity_decile",), ("decile",)))
    if f.exclude_control:
        steps.append(Step(f"Not in the control group ({_listing(sources.control_values)})", "control",
                           (), ()))
    for step in steps:
        if getattr(sources, step.slot) is None:
            raise DataError(f"The filter '{step.label}' needs a {NAMES[step.slot]}: choose one in the "
                            "sources, or clear the filter.")
    return steps


def condition(step: Step, j: Any, f: AudienceFilters, sources: AudienceSources) -> Any:
    """The step's filter as an Ibis boolean on the joined table (a missing value fails it)."""
    slot = step.slot
    if slot == "base":
        return j["__has_base"]
    if slot == "control":
        return ~j["in_control"].fill_null(False)
    if slot == "segments":
        assert f.segments is not None
        texts = [v for v in f.segments if isinstance(v, str)]
        ints = [v for v in f.segments if not isinstance(v, str)]
        if sources.segment_column is not None:
            col = j[sources.segment_column]
            if col.type().is_numeric():
                if texts:
                    raise DataError(f"The segment column '{sources.segment_column}' holds numbers; "
                                    f"{_listing(tuple(texts))} are not numbers.")
                return col.isin(ints)
            return col.cast("string").isin([str(v) for v in f.segments])
        cond = None
        if texts:
            cond = j["segment_name"].cast("string").isin(texts)
        if ints:
            num = j["segment"].isin(ints) if j["segment"].type().is_numeric() else \
                j["segment"].cast("string").isin([str(v) for v in ints])
            cond = num if cond is None else (cond | num)
        return cond
    column = step.columns[0]
    value = j[column]
    limit = {"p_alive": f.min_p_alive, "clv": f.min_clv, "uplift": f.min_uplift,
             "propensity_score": f.min_propensity}.get(column)
    if limit is not None:
        return value >= limit
    if column == "uplift_decile":
        return value <= f.top_uplift_deciles
    if column == "propensity_decile":
        return value <= f.top_propensity_deciles
    if column == "uplift_group":
        return value.cast("string").isin(list(f.uplift_groups or ()))
    raise AssertionError(column)


def check_numeric(table: KeyedTable, step: Step) -> None:
    """Raise DataError when a bound (>=, top deciles) would compare a column that holds no numbers."""
    for column in step.inputs:
        if step.slot in ("segments",):
            continue
        typ = table.table[column].type()
        if column != "group" and not typ.is_numeric():
            raise DataError(f"The {table.name}'s column '{column}' holds {typ} values, not numbers, so "
                            f"'{step.label}' cannot be applied. Pick the table the Targeting page saved.")


def selection(slot: str, t: KeyedTable, sources: AudienceSources) -> tuple[Any, list[str]]:
    """The table reduced to its key and the columns the audience brings from it (renamed)."""
    bring = dict(BRING.get(slot, {}))
    if slot == "segments" and sources.segment_column:
        bring.setdefault(sources.segment_column, sources.segment_column)
    if slot == "base" and sources.base_columns:
        require_columns(t.table, t.name, list(sources.base_columns), "the base columns to carry")
        bring.update({c: c for c in sources.base_columns})
    cols = {out: t.table[src] for src, out in bring.items() if src in t.table.columns}
    return t.table.select(**{t.key: t.table[t.key]}, **cols), list(cols)


def control_selection(t: KeyedTable, sources: AudienceSources, backend: Any, messages: list[str]) -> Any:
    """One row per customer of the assignment table: in_control is true when any of their rows has a
    control value (numbers compare as numbers, text stripped). Says so when no row matches at all."""
    require_columns(t.table, t.name, [sources.control_column], "the variant column")
    col = t.table[sources.control_column]
    values = sources.control_values
    if not values:
        raise DataError("Name the control group's value(s) in control_values, e.g. ('control',).")
    if col.type().is_numeric():
        try:
            numbers_ = [float(v) for v in values]
        except ValueError:
            raise DataError(f"The variant column '{sources.control_column}' holds numbers; the control "
                            f"value(s) {_listing(values)} are not numbers.") from None
        is_control = col.isin(numbers_)
    else:
        is_control = col.cast("string").strip().isin([str(v) for v in values])
    matched = int(run(bool_sum(is_control), backend))
    if matched == 0:
        seen = run(t.table.select(v=col.cast("string")).distinct().order_by("v").limit(6), backend)["v"]
        messages.append(f"No row of the {t.name} has '{sources.control_column}' in ({_listing(values)}), so no "
                        f"one is left out as control. Values there: {', '.join(map(str, seen.tolist()[:5]))}.")
    return t.table.group_by(t.key).aggregate(in_control=is_control.fill_null(False).any())


def product_item(t: KeyedTable, sources: AudienceSources) -> str:
    """The products table's item column: products_item, else the one column besides id, rank, score,
    reason and a description (a column named like one, e.g. the Targeting tab's Description)."""
    return product_columns_of(t, sources)[0]


def product_columns_of(t: KeyedTable, sources: AudienceSources) -> tuple[str, str | None]:
    """(item column, description column or None) of the products table. The description is
    products_label, else the one other column named like a description (Description, product_name)."""
    others = [str(c) for c in t.table.columns if c not in (t.key, t.id_column, "rank", "score", "reason")]
    if sources.products_label:
        require_columns(t.table, t.name, [sources.products_label], "the description column")
    label = sources.products_label
    if sources.products_item:
        require_columns(t.table, t.name, [sources.products_item], "the item column")
        rest = [c for c in others if c != sources.products_item]
        if label is None and len(rest) == 1 and looks_like_label(rest[0]):
            label = rest[0]
        return sources.products_item, label
    if label is None:
        named = [c for c in others if looks_like_label(c)]
        label = named[0] if len(named) == 1 and len(others) == 2 else None
    items = [c for c in others if c != label]
    if len(items) != 1:
        raise DataError(f"Say which column of the {t.name} holds the products (products_item): "
                        f"candidates {', '.join(items) or 'none'}.")
    return items[0], label


def products_pivot(t: KeyedTable, sources: AudienceSources, n: int, wanted: Any) -> tuple[Any, list[str]]:
    """The top n products of the customers in `wanted` (a table of their keys as `__key_products`)
    as columns product_1..product_n: best rank first, then highest score, then item (Ibis)."""
    item, label = product_columns_of(t, sources)
    table = t.table.semi_join(wanted, t.table[t.key] == wanted["__key_products"])
    order = ([table["rank"].asc()] if "rank" in table.columns else []) + \
        ([table["score"].desc()] if "score" in table.columns else []) + [table[item].asc()]
    ranked = table.mutate(__rn=ibis.row_number().over(group_by=table[t.key], order_by=order))
    ranked = ranked.filter(ranked["__rn"] < n)
    columns: dict[str, Any] = {}
    for i in range(n):  # product_1, product_1_name, product_2 ...: the code for the shop, the name for the text
        columns[f"product_{i + 1}"] = ranked[item].max(where=ranked["__rn"] == i)
        if label is not None:
            columns[f"product_{i + 1}_name"] = ranked[label].cast("string").max(where=ranked["__rn"] == i)
    pivot = ranked.group_by(t.key).aggregate(**columns)
    return pivot, list(columns)


def join_tables(tables: dict[str, KeyedTable], sources: AudienceSources, backend: Any,
                messages: list[str]) -> tuple[Any, list[str], list[str]]:
    """Everyone in any customer table, each table left-joined on the key with a `__has_<slot>` flag.

    Returns (joined table, the audience columns brought, the customer tables' slots in order).
    """
    customer_slots = [s for s in CUSTOMER_TABLES if s in tables]
    keys = [tables[s].table.select(**{KEY: tables[s].table[KEY]}) for s in customer_slots]
    j = keys[0].distinct() if len(keys) == 1 else ibis.union(*keys, distinct=True)
    brought: list[str] = []
    for slot in customer_slots + (["control"] if "control" in tables else []):
        if slot == "control":
            sel, cols = control_selection(tables[slot], sources, backend, messages), ["in_control"]
        else:
            sel, cols = selection(slot, tables[slot], sources)
        side = f"__key_{slot}"
        sel = sel.rename({side: KEY})
        clash = [c for c in cols if c in brought]
        if clash:
            raise DataError(f"The {tables[slot].name} brings column(s) {', '.join(clash)} that another table "
                            "brings too. Rename them or set segment_column to another column.")
        j = j.left_join(sel, j[KEY] == sel[side])
        j = j.mutate(**{f"__has_{slot}": j[side].notnull()}).drop(side)
        brought += cols
    return j, brought, customer_slots


def _they(n: int, singular: str, many: str) -> str:
    return singular if n == 1 else many


def funnel(j: Any, steps: list[Step], filters: AudienceFilters, sources: AudienceSources,
           tables: dict[str, KeyedTable], customer_slots: list[str], backend: Any,
           messages: list[str]) -> tuple[pd.DataFrame, Any]:
    """The funnel in one aggregate, and the audience's filter (every step passed) as an Ibis boolean.

    Per step: customers left, and of those removed how many had no row in the step's table (no_row)
    or an empty value there (no_value); per customer table, how many of its ids meet another table.
    """
    agg: dict[str, Any] = {"start": j.count()}
    passed: Any = ibis.literal(True)
    for i, step in enumerate(steps):
        before = passed
        passed = passed & condition(step, j, filters, sources).fill_null(False)
        agg[f"left_{i}"] = bool_sum(passed)
        if step.slot not in ("base", "control"):
            has = j[f"__has_{step.slot}"]
            agg[f"no_row_{i}"] = bool_sum(before & ~has)
            agg[f"no_value_{i}"] = bool_sum(before & has & ibis.or_(*[j[c].isnull() for c in step.columns]))
    for slot in customer_slots:
        others = [j[f"__has_{s}"] for s in customer_slots if s != slot]
        if others:
            agg[f"overlap_{slot}"] = bool_sum(j[f"__has_{slot}"] & ibis.or_(*others))
    counts = run(j.aggregate(**agg), backend).iloc[0]
    start = int(counts["start"])
    rows = [{"step": "All customers in the given tables", "table": ", ".join(NAMES[s] for s in customer_slots),
             "customers_before": start, "removed": 0, "no_row": 0, "no_value": 0, "customers_left": start}]
    left = start
    for i, step in enumerate(steps):
        now = int(counts[f"left_{i}"] or 0)
        no_row = left - now if step.slot == "base" else int(counts.get(f"no_row_{i}", 0) or 0)
        no_value = int(counts.get(f"no_value_{i}", 0) or 0)
        rows.append({"step": step.label, "table": NAMES[step.slot], "customers_before": left,
                     "removed": left - now, "no_row": no_row, "no_value": no_value, "customers_left": now})
        if no_row and step.slot != "base":
            messages.append(f"{plural(no_row, 'customer')} {_they(no_row, 'has', 'have')} no {SHORT[step.slot]} "
                            f"row and {_they(no_row, 'was', 'were')} removed by '{step.label}'.")
        if no_value:
            messages.append(f"{plural(no_value, 'customer')} with an empty {', '.join(step.columns)} "
                            f"{_they(no_value, 'was', 'were')} removed by '{step.label}'.")
        left = now
    for slot in customer_slots:
        distinct = tables[slot].distinct
        if f"overlap_{slot}" not in counts or distinct == 0:
            continue
        overlap = int(counts[f"overlap_{slot}"])
        if overlap == 0:
            messages.append(f"None of the {plural(distinct, 'id')} in the {tables[slot].name} appear in the other "
                            "tables: check that the id columns hold the same customers (text '00017' does not "
                            "match the number 17).")
        elif overlap < 0.5 * distinct:
            messages.append(f"Only {overlap:,} of the {plural(distinct, 'id')} in the {tables[slot].name} appear in "
                            "another table: check that the tables describe the same customers.")
    return pd.DataFrame(rows), passed
