"""One audience from the saved targeting tables and a few filters, ready for an e-mail or ads tool.

`build_audience(AudienceSources(...), AudienceFilters(...))` joins any of: a base table, the Segments
page's segments, the CLV table, uplift scores (and a revenue-uplift table), propensity scores, an
experiment assignment (to leave the control group out) and next-best products; it filters in a fixed
order and returns an `Audience` with the customers, a funnel (each filter with the customers it
removed, and how many of them had no row in the filter's table), the expected incremental
conversions and revenue, the audience's CLV and plain-language messages. Nothing is dropped
silently: rows without an id are counted, every removal is in the funnel.

Design decisions (documented for the page and the e-mail tool):
- The joins and filters run in Ibis on one backend: the workspace's when tables come from it, else an
  in-memory DuckDB (pandas inputs are memtables), so the same code can run on Spark later.
- Tables join on the id as text (see core.targeting.audience_query): int 17 and text "17" match. The
  audience's id column is named `id_column`; it is an integer when every table's ids are whole
  numbers, else text.
- The starting customers are everyone in any of base, segments, CLV, uplift and propensity tables; a
  base table is then the first filter ("In the base table"), so customers outside it are counted.
- Segments, CLV, uplift and propensity tables need one row per customer: an id on several rows raises
  DataError (which row to keep is the user's call, not a silent dedupe). The control (assignment)
  and products tables may hold several rows per customer: a customer is in the control group if any
  of their rows has a control value.
- A filter on a customer without a row in its table removes them (no CLV row: not "CLV >= 100"), and
  the funnel says how many. Customers absent from the assignment table are not in the control group.
- Products come as columns product_1 .. product_n (best first), the form e-mail tools take as merge
  fields ({{product_1}}); products_format="joined" gives one `products` text column "A; B; C" instead.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pandas as pd

from core.errors import DataError
from core.targeting.audience_output import (AudienceSummary, audience_summary, export_audience,
                                            save_audience)
from core.targeting.audience_query import (KeyedTable, TableLike, backend_for, bool_sum, keyed,
                                           require_columns, run)
from core.wording import plural

if TYPE_CHECKING:
    from core.data.workspace import Workspace

__all__ = ["Audience", "AudienceFilters", "AudienceSources", "AudienceSummary", "audience_summary",
           "build_audience", "export_audience", "save_audience"]

UpliftOutcome = Literal["conversion", "revenue"]
ProductsFormat = Literal["columns", "joined"]
KEY = "__mw_key"
PRODUCT_SEPARATOR = "; "
# Source slot -> what users call it; customer tables make up the starting customers.
NAMES = {"base": "base table", "segments": "segments table", "clv": "CLV table", "uplift": "uplift table",
         "revenue_uplift": "revenue uplift table", "propensity": "propensity table",
         "control": "assignment (control group) table", "products": "products table"}
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


def _values(values: Any, what: str) -> tuple[Any, ...] | None:
    if values is None:
        return None
    items = (values,) if isinstance(values, (str, numbers.Number)) else tuple(values)
    out: list[Any] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (str, numbers.Integral)):
            raise DataError(f"{what} must be names (text) or numbers (whole): got {v!r}.")
        out.append(v if isinstance(v, str) else int(v))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class AudienceSources:
    """Which tables to combine, and their id columns.

    Each table is a workspace table name (pass `workspace=` to build_audience), an Ibis table or a
    pandas DataFrame. `id_column` names the id in the audience and in every table whose own `*_id`
    is None. Tables follow the Targeting contract: segments (segment, segment_name), CLV (clv,
    p_alive, ...), uplift (uplift, uplift_decile, group, arm), propensity (score, decile), products
    (the item column, rank, score, reason). `segment_column` is the column the segment filter
    matches text values against (default segment_name; whole numbers match `segment`).
    The control table is an assignment: `control_column` holds the variant, `control_values` the
    value(s) of the control group. `products_item` names the item column (default: the one column
    besides the id, rank, score and reason).
    """

    id_column: str = "customer_id"
    base: TableLike | None = None
    base_id: str | None = None
    segments: TableLike | None = None
    segments_id: str | None = None
    segment_column: str | None = None
    clv: TableLike | None = None
    clv_id: str | None = None
    uplift: TableLike | None = None
    uplift_id: str | None = None
    revenue_uplift: TableLike | None = None
    revenue_uplift_id: str | None = None
    propensity: TableLike | None = None
    propensity_id: str | None = None
    control: TableLike | None = None
    control_id: str | None = None
    control_column: str = "variant"
    control_values: tuple[str | int, ...] = ("control",)
    products: TableLike | None = None
    products_id: str | None = None
    products_item: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "control_values", _values(self.control_values, "Control values") or ())

    def given(self) -> list[str]:
        """The slots that hold a table, in NAMES order."""
        return [slot for slot in NAMES if getattr(self, slot) is not None]

    def id_of(self, slot: str) -> str:
        """The id column of one table."""
        own = getattr(self, f"{slot}_id")
        return str(own) if own else self.id_column


@dataclass(frozen=True, eq=False)
class AudienceFilters:
    """Filters, applied in this order; None (or False) leaves a filter off.

    in_base: keep only customers of the base table (when one is given). segments: segment names
    and/or numbers to keep. min_p_alive / min_clv: lower bounds on the CLV table. top_uplift_deciles:
    3 keeps uplift deciles 1-3 (1 = highest uplift). min_uplift: e.g. 0 keeps positive predicted
    uplift only. uplift_groups: e.g. ("persuadable",). min_propensity / top_propensity_deciles: on
    the propensity scores. exclude_control: leave out customers assigned to the control group.
    """

    in_base: bool = True
    segments: tuple[str | int, ...] | None = None
    min_p_alive: float | None = None
    min_clv: float | None = None
    top_uplift_deciles: int | None = None
    min_uplift: float | None = None
    uplift_groups: tuple[str, ...] | None = None
    min_propensity: float | None = None
    top_propensity_deciles: int | None = None
    exclude_control: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", _values(self.segments, "Segments"))
        groups = self.uplift_groups
        if groups is not None:
            object.__setattr__(self, "uplift_groups", (groups,) if isinstance(groups, str)
                               else tuple(str(g) for g in groups))
        for name in ("min_p_alive", "min_clv", "min_uplift", "min_propensity"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or v != v):
                raise DataError(f"{name} must be a number (got {v!r}).")
        for name in ("min_p_alive", "min_propensity"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise DataError(f"{name} is a probability: give a number from 0 to 1 (got {v}).")
        for name in ("top_uplift_deciles", "top_propensity_deciles"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= int(v) <= 10):
                raise DataError(f"{name} is a number of deciles from 1 to 10 (got {v!r}).")


@dataclass(frozen=True, eq=False)
class Audience:
    """The customers who pass every filter, how they were chosen, and what they are expected to bring.

    customers: the id, then the joined columns (segment_name, clv, p_alive, uplift, uplift_decile,
    propensity_score, product_1 ...), highest uplift first (then CLV, then propensity, then id).
    funnel: step, table, customers_before, removed, no_row (removed because the customer has no row in
    that table), no_value (removed because the row's value is empty), customers_left; the first row
    is everyone in the given tables. Expected figures are None when there is no uplift table (and
    revenue also when there is no value per conversion); total_clv / mean_clv None without CLV.
    """

    customers: pd.DataFrame
    id_column: str
    funnel: pd.DataFrame
    expected_incremental_conversions: float | None
    expected_incremental_revenue: float | None
    total_clv: float | None
    mean_clv: float | None
    messages: tuple[str, ...]
    product_columns: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        """Customers in the audience."""
        return len(self.customers)


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.4g}"


def _listing(values: tuple[Any, ...]) -> str:
    return ", ".join(map(str, values))


@dataclass(frozen=True)
class _Step:
    label: str
    slot: str
    columns: tuple[str, ...]  # audience columns the filter reads (checked on the table)
    inputs: tuple[str, ...]  # the same columns as the input table names them


def _steps(sources: AudienceSources, f: AudienceFilters) -> list[_Step]:
    """The active filters in order, each naming the table and columns it needs."""
    steps: list[_Step] = []
    if f.in_base and sources.base is not None:
        steps.append(_Step("In the base table", "base", (), ()))
    if f.segments:
        cols, inputs = [], []
        if any(isinstance(v, str) for v in f.segments):
            col = sources.segment_column or "segment_name"
            cols.append(col)
            inputs.append(col)
        if any(not isinstance(v, str) for v in f.segments) and sources.segment_column is None:
            cols.append("segment")
            inputs.append("segment")
        steps.append(_Step(f"Segment in ({_listing(f.segments)})", "segments", tuple(cols), tuple(inputs)))
    if f.min_p_alive is not None:
        steps.append(_Step(f"P(alive) ≥ {_num(f.min_p_alive)}", "clv", ("p_alive",), ("p_alive",)))
    if f.min_clv is not None:
        steps.append(_Step(f"CLV ≥ {_num(f.min_clv)}", "clv", ("clv",), ("clv",)))
    if f.top_uplift_deciles is not None:
        n = f.top_uplift_deciles
        label = "Uplift decile 1 (top 10%)" if n == 1 else f"Uplift deciles 1-{n} (top {n * 10}%)"
        steps.append(_Step(label, "uplift", ("uplift_decile",), ("uplift_decile",)))
    if f.min_uplift is not None:
        steps.append(_Step(f"Uplift ≥ {_num(f.min_uplift)}", "uplift", ("uplift",), ("uplift",)))
    if f.uplift_groups:
        steps.append(_Step(f"Uplift group in ({_listing(f.uplift_groups)})", "uplift", ("uplift_group",),
                           ("group",)))
    if f.min_propensity is not None:
        steps.append(_Step(f"Propensity score ≥ {_num(f.min_propensity)}", "propensity",
                           ("propensity_score",), ("score",)))
    if f.top_propensity_deciles is not None:
        n = f.top_propensity_deciles
        steps.append(_Step(f"Propensity deciles 1-{n} (top {n * 10}%)" if n > 1 else
                           "Propensity decile 1 (top 10%)", "propensity", ("propensity_decile",), ("decile",)))
    if f.exclude_control:
        steps.append(_Step(f"Not in the control group ({_listing(sources.control_values)})", "control",
                           (), ()))
    for step in steps:
        if getattr(sources, step.slot) is None:
            raise DataError(f"The filter '{step.label}' needs a {NAMES[step.slot]}: choose one in the "
                            "sources, or clear the filter.")
    return steps


def _condition(step: _Step, j: Any, f: AudienceFilters, sources: AudienceSources) -> Any:
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


def _check_numeric(table: KeyedTable, step: _Step) -> None:
    for column in step.inputs:
        if step.slot in ("segments",):
            continue
        typ = table.table[column].type()
        if column != "group" and not typ.is_numeric():
            raise DataError(f"The {table.name}'s column '{column}' holds {typ} values, not numbers, so "
                            f"'{step.label}' cannot be applied. Pick the table the Targeting page saved.")


def _selection(slot: str, t: KeyedTable, sources: AudienceSources) -> tuple[Any, list[str]]:
    """The table reduced to its key and the columns the audience brings from it (renamed)."""
    bring = dict(BRING.get(slot, {}))
    if slot == "segments" and sources.segment_column:
        bring.setdefault(sources.segment_column, sources.segment_column)
    cols = {out: t.table[src] for src, out in bring.items() if src in t.table.columns}
    return t.table.select(**{t.key: t.table[t.key]}, **cols), list(cols)


def _control_selection(t: KeyedTable, sources: AudienceSources, backend: Any, messages: list[str]) -> Any:
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


def _products(t: KeyedTable, sources: AudienceSources, n: int) -> tuple[Any, list[str]]:
    """Each customer's top n products as columns product_1..product_n (Ibis)."""
    table = t.table
    if sources.products_item:
        require_columns(table, t.name, [sources.products_item], "the item column")
        item = sources.products_item
    else:
        others = [c for c in table.columns if c not in (t.key, t.id_column, "rank", "score", "reason")]
        if len(others) != 1:
            raise DataError(f"Say which column of the {t.name} holds the products (products_item): "
                            f"candidates {', '.join(others) or 'none'}.")
        item = others[0]
    order = ([table["rank"].asc()] if "rank" in table.columns else []) + \
        ([table["score"].desc()] if "score" in table.columns else []) + [table[item].asc()]
    ranked = table.mutate(__rn=ibis.row_number().over(group_by=table[t.key], order_by=order))
    ranked = ranked.filter(ranked["__rn"] < n)
    names = [f"product_{i + 1}" for i in range(n)]
    pivot = ranked.group_by(t.key).aggregate(
        **{name: ranked[item].max(where=ranked["__rn"] == i) for i, name in enumerate(names)})
    return pivot, names


def build_audience(sources: AudienceSources, filters: AudienceFilters | None = None, *,
                   workspace: Workspace | None = None, top_products: int = 3,
                   products_format: ProductsFormat = "columns", uplift_outcome: UpliftOutcome = "conversion",
                   value_per_conversion: float | None = None) -> Audience:
    """The audience: customers of the given tables that pass every filter, with the funnel and figures.

    uplift_outcome: "conversion" when the uplift table's uplift is a change in P(convert) (its sum over
    the audience is the expected incremental conversions; revenue = conversions x value_per_conversion
    when given), "revenue" when it is a change in revenue (its sum is the revenue; no conversions).
    A revenue_uplift table, when given, supplies the revenue instead. top_products: products per
    customer from the products table; products_format: "columns" (product_1..n) or "joined" (one
    `products` column "A; B; C").
    """
    filters = filters or AudienceFilters()
    if uplift_outcome not in ("conversion", "revenue"):
        raise DataError(f"uplift_outcome is 'conversion' or 'revenue' (got {uplift_outcome!r}).")
    if products_format not in ("columns", "joined"):
        raise DataError(f"products_format is 'columns' or 'joined' (got {products_format!r}).")
    if isinstance(top_products, bool) or not isinstance(top_products, numbers.Integral) or not 1 <= top_products <= 20:
        raise DataError(f"top_products is a number of products from 1 to 20 (got {top_products!r}).")
    if value_per_conversion is not None and (not isinstance(value_per_conversion, numbers.Real)
                                             or value_per_conversion < 0):
        raise DataError(f"value_per_conversion must be a number of 0 or more (got {value_per_conversion!r}).")
    given = sources.given()
    if not any(slot in CUSTOMER_TABLES for slot in given):
        raise DataError("Choose at least one customer table (base, segments, CLV, uplift or propensity scores) "
                        "to build an audience from.")
    steps = _steps(sources, filters)
    backend = backend_for([getattr(sources, s) for s in given], workspace)
    messages: list[str] = []
    tables: dict[str, KeyedTable] = {}
    for slot in given:
        t = keyed(getattr(sources, slot), NAMES[slot], sources.id_of(slot), workspace, backend,
                  unique=slot in CUSTOMER_TABLES, key=KEY)
        tables[slot] = t
        if t.no_id:
            messages.append(f"{plural(t.no_id, 'row')} of the {t.name} {'has' if t.no_id == 1 else 'have'} no "
                            f"customer id in '{t.id_column}' and {'was' if t.no_id == 1 else 'were'} left out.")
    for step in steps:
        if step.inputs:
            require_columns(tables[step.slot].table, tables[step.slot].name, list(step.inputs),
                            f"needed for '{step.label}'")
            _check_numeric(tables[step.slot], step)

    # Everyone in any customer table, then each table joined on the key with a "has a row" flag.
    customer_slots = [s for s in CUSTOMER_TABLES if s in tables]
    keys = [tables[s].table.select(**{KEY: tables[s].table[KEY]}) for s in customer_slots]
    j = keys[0].distinct() if len(keys) == 1 else ibis.union(*keys, distinct=True)
    brought: list[str] = []
    for slot in customer_slots + (["control"] if "control" in tables else []):
        if slot == "control":
            sel = _control_selection(tables[slot], sources, backend, messages)
            cols = ["in_control"]
        else:
            sel, cols = _selection(slot, tables[slot], sources)
        side = f"__key_{slot}"
        sel = sel.rename({side: KEY})
        clash = [c for c in cols if c in brought]
        if clash:
            raise DataError(f"The {tables[slot].name} brings column(s) {', '.join(clash)} that another table "
                            "brings too. Rename them or set segment_column to another column.")
        j = j.left_join(sel, j[KEY] == sel[side])
        j = j.mutate(**{f"__has_{slot}": j[side].notnull()}).drop(side)
        brought += cols

    # The funnel in one aggregate: customers left after each step, and why the removed ones went.
    conditions = [_condition(s, j, filters, sources).fill_null(False) for s in steps]
    agg: dict[str, Any] = {"start": j.count()}
    passed: Any = ibis.literal(True)
    for i, (step, cond) in enumerate(zip(steps, conditions)):
        before = passed
        passed = passed & cond
        agg[f"left_{i}"] = bool_sum(passed)
        if step.slot not in ("base", "control"):
            agg[f"no_row_{i}"] = bool_sum(before & ~j[f"__has_{step.slot}"])
            agg[f"no_value_{i}"] = bool_sum(before & j[f"__has_{step.slot}"]
                                            & ibis.or_(*[j[c].isnull() for c in step.columns]))
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
        no_row = int(counts.get(f"no_row_{i}", 0) or 0)
        no_value = int(counts.get(f"no_value_{i}", 0) or 0)
        if step.slot == "base":
            no_row = left - now
        rows.append({"step": step.label, "table": NAMES[step.slot], "customers_before": left,
                     "removed": left - now, "no_row": no_row, "no_value": no_value, "customers_left": now})
        short = NAMES[step.slot].removesuffix(" table")
        if no_row and step.slot != "base":
            messages.append(f"{plural(no_row, 'customer')} {'has' if no_row == 1 else 'have'} no {short} row "
                            f"and {'was' if no_row == 1 else 'were'} removed by '{step.label}'.")
        if no_value:
            messages.append(f"{plural(no_value, 'customer')} with an empty {', '.join(step.columns)} "
                            f"{'was' if no_value == 1 else 'were'} removed by '{step.label}'.")
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
    funnel = pd.DataFrame(rows)

    # The audience itself, with its products, best first.
    audience = j.filter(passed) if steps else j
    product_cols: list[str] = []
    if "products" in tables:
        pivot, product_cols = _products(tables["products"], sources, int(top_products))
        pivot = pivot.rename({"__key_products": KEY})
        audience = audience.left_join(pivot, audience[KEY] == pivot["__key_products"]).drop("__key_products")
    integer_ids = all(tables[s].integer_ids for s in customer_slots)
    out_id = sources.id_column
    if out_id in brought or out_id in product_cols:
        raise DataError(f"The audience's id column '{out_id}' has the name of a joined column: choose another id_column.")
    order = [audience[c].desc() for c in ("uplift", "clv", "propensity_score") if c in brought] + [audience[KEY].asc()]
    ident = audience[KEY].cast("int64") if integer_ids else audience[KEY]
    expr = audience.order_by(order).select(**{out_id: ident}, **{c: audience[c] for c in brought + product_cols})
    if "in_control" in brought:
        expr = expr.mutate(in_control=expr["in_control"].fill_null(False))
    customers = _integers(run(expr, backend).reset_index(drop=True), expr.schema())
    if product_cols and products_format == "joined":
        joined = customers[product_cols].apply(
            lambda r: PRODUCT_SEPARATOR.join(str(v) for v in r if v is not None and not pd.isna(v)), axis=1)
        customers = customers.drop(columns=product_cols).assign(products=joined.astype("object") if len(joined)
                                                                else pd.Series([], dtype="object"))
        product_cols = ["products"]
    if product_cols and len(customers):
        none = int(customers[product_cols[0]].isna().sum() if products_format == "columns"
                   else (customers["products"] == "").sum())
        if none:
            messages.append(f"{plural(none, 'audience customer')} {'has' if none == 1 else 'have'} no product "
                            "recommendation (the product columns are empty).")

    # Expected figures: the sum of predicted uplift over the audience.
    conversions: float | None = None
    revenue: float | None = None
    if "uplift" in tables and "uplift" in customers.columns:
        total = float(pd.to_numeric(customers["uplift"], errors="coerce").sum())
        if uplift_outcome == "conversion":
            conversions = total
            if value_per_conversion is not None:
                revenue = total * float(value_per_conversion)
        else:
            revenue = total
        scored = int(customers["uplift"].notna().sum())
        if scored < len(customers):
            messages.append(f"The expected figures cover the {scored:,} of {plural(len(customers), 'audience customer')} "
                            "with an uplift score; the others count as no change.")
    if "revenue_uplift" in customers.columns:
        revenue = float(pd.to_numeric(customers["revenue_uplift"], errors="coerce").sum())
    total_clv = mean_clv = None
    if "clv" in customers.columns:
        clv = pd.to_numeric(customers["clv"], errors="coerce")
        total_clv = float(clv.sum())
        mean_clv = float(clv.mean()) if clv.notna().any() else None
        if clv.notna().sum() < len(customers):
            messages.append(f"{plural(int(clv.isna().sum()), 'audience customer')} {'has' if clv.isna().sum() == 1 else 'have'} "
                            "no CLV: total and mean CLV cover the others.")
    if customers.empty:
        messages.insert(0, _empty_message(funnel, start))
    return Audience(customers, out_id, funnel, conversions, revenue, total_clv, mean_clv, tuple(messages),
                    tuple(product_cols))


def _integers(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Integer columns that came back as floats (because of empty values) as nullable integers."""
    for name, typ in schema.items():
        if typ.is_integer() and name in frame.columns and frame[name].dtype.kind == "f":
            frame[name] = frame[name].astype("Int64")
    return frame


def _empty_message(funnel: pd.DataFrame, start: int) -> str:
    """Why the audience is empty, naming the filter that removed the last customers."""
    if start == 0:
        return "The audience is empty: the given tables hold no customers with an id."
    last = funnel[(funnel["customers_left"] == 0) & (funnel["removed"] > 0)].iloc[0]
    return (f"The audience is empty: no customer passes every filter. '{last['step']}' removed the last "
            f"{plural(int(last['removed']), 'customer')}; loosen that filter (or an earlier one).")
