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
- Tables join on one key (see core.targeting.audience_query): the id as int64 when every table's id
  column is numeric (whole floats such as 17.0 included; a fractional id is refused), else the id as
  text, so int 17 and text " 17" match. The audience's id column is named `id_column` and holds that
  key (an int64 or text column). The joined table is built once as a temporary table for the funnel
  and the audience, and dropped at the end.
- The starting customers are everyone in any of base, segments, CLV, uplift and propensity tables; a
  base table is then the first filter ("In the base table"), so customers outside it are counted.
- Segments, CLV, uplift and propensity tables need one row per customer: an id on several rows raises
  DataError (which row to keep is the user's call, not a silent dedupe). The control (assignment)
  and products tables may hold several rows per customer: a customer is in the control group if any
  of their rows has a control value.
- A filter on a customer without a row in its table removes them (no CLV row: not "CLV >= 100"), and
  the funnel says how many. Customers absent from the assignment table are not in the control group.
- Products come as columns product_1 .. product_n (best first), the form e-mail tools take as merge
  fields ({{product_1}}), each followed by product_i_name when the products table has a description
  (the code is for the shop's links, the name for the e-mail's text); products_format="joined" gives
  one `products` text column "A; B; C" instead (and `product_names` "Mug; Tea; Pot").
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from core.errors import DataError
from core.targeting.audience_output import (AudienceSummary, audience_summary, export_audience,
                                            save_audience)
from core.targeting.audience_query import (KeyedTable, TableLike, as_table, backend_for, keyed, materialised,
                                           require_columns, run, whole_number_ids)
from core.targeting.audience_steps import (CUSTOMER_TABLES, KEY, NAMES, PRODUCT_SEPARATOR, check_numeric,
                                           filter_steps, funnel, join_tables, product_item,
                                           products_pivot)
from core.wording import plural

if TYPE_CHECKING:
    from core.data.workspace import Workspace

__all__ = ["Audience", "AudienceFilters", "AudienceSources", "AudienceSummary", "audience_summary",
           "build_audience", "export_audience", "save_audience"]

UpliftOutcome = Literal["conversion", "revenue"]
ProductsFormat = Literal["columns", "joined"]


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
    `base_columns` are base-table columns carried into the audience right after the id (e.g.
    email, first_name: what the e-mail tool sends to). The control table is an assignment: `control_column` holds the variant, `control_values` the
    value(s) of the control group. `products_item` names the item column (default: the one column
    besides the id, rank, score, reason and a description), `products_label` the description column
    (default: the one other column named like one, e.g. Description), which the audience carries as
    product_1_name ...
    """

    id_column: str = "customer_id"
    base: TableLike | None = None
    base_id: str | None = None
    base_columns: tuple[str, ...] = ()
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
    products_label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "control_values", _values(self.control_values, "Control values") or ())
        cols = self.base_columns
        object.__setattr__(self, "base_columns", (cols,) if isinstance(cols, str) else tuple(map(str, cols or ())))
        if self.base_columns and self.base is None:
            raise DataError("base_columns are carried from a base table: choose the base table too.")

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
    An empty tuple of segments or groups leaves that filter off, like None. Setting a filter whose
    table is not among the sources raises DataError when the audience is built.
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
            if v is not None:
                object.__setattr__(self, name, float(v))  # NumPy scalars from a widget become plain floats
        for name in ("min_p_alive", "min_propensity"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise DataError(f"{name} is a probability: give a number from 0 to 1 (got {v}).")
        for name in ("top_uplift_deciles", "top_propensity_deciles"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= int(v) <= 10):
                raise DataError(f"{name} is a number of deciles from 1 to 10 (got {v!r}).")
            if v is not None:
                object.__setattr__(self, name, int(v))


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
    filter_steps(sources, filters)  # a filter on a table not given fails before any query
    backend = backend_for([getattr(sources, s) for s in given], workspace)
    messages: list[str] = []
    tables = _keyed_tables(sources, given, workspace, backend, messages)
    if sources.segment_column is None and "segments" in tables:  # an RFM table: its segment names
        seg = tables["segments"].table.columns
        if "segment_name" not in seg and "rfm_segment" in seg:
            sources = replace(sources, segment_column="rfm_segment")
    steps = filter_steps(sources, filters)
    for step in steps:
        if step.inputs:
            require_columns(tables[step.slot].table, tables[step.slot].name, list(step.inputs),
                            f"needed for '{step.label}'")
            check_numeric(tables[step.slot], step)
    if "products" in tables:
        product_item(tables["products"], sources)
    joined, brought, customer_slots = join_tables(tables, sources, backend, messages)
    with materialised(joined, backend) as j:
        counts, passed = funnel(j, steps, filters, sources, tables, customer_slots, backend, messages)
        customers, product_cols = _customers(j.filter(passed) if steps else j, brought, tables, sources,
                                             int(top_products), products_format, backend, messages)
    conversions, revenue = _expected(customers, "uplift" in tables, uplift_outcome, value_per_conversion, messages)
    total_clv = mean_clv = None
    if "clv" in customers.columns:
        clv = pd.to_numeric(customers["clv"], errors="coerce")
        total_clv = float(clv.sum())
        mean_clv = float(clv.mean()) if clv.notna().any() else None
        missing = int(clv.isna().sum())
        if missing:
            messages.append(f"{plural(missing, 'audience customer')} {'has' if missing == 1 else 'have'} "
                            "no CLV: total and mean CLV cover the others.")
    if customers.empty:
        messages.insert(0, _empty_message(counts))
    return Audience(customers, sources.id_column, counts, conversions, revenue, total_clv, mean_clv,
                    tuple(messages), tuple(product_cols))


def _keyed_tables(sources: AudienceSources, given: list[str], workspace: Workspace | None, backend: Any,
                  messages: list[str]) -> dict[str, KeyedTable]:
    """Every given table with its join key (int64 when all ids are numbers, else text), checked."""
    raw = {slot: as_table(getattr(sources, slot), NAMES[slot], workspace) for slot in given}
    for slot, table in raw.items():
        require_columns(table, NAMES[slot], [sources.id_of(slot)], "the customer id column")
    as_text = not all(whole_number_ids(table, sources.id_of(slot)) for slot, table in raw.items())
    tables: dict[str, KeyedTable] = {}
    for slot in given:
        t = keyed(raw[slot], NAMES[slot], sources.id_of(slot), backend, unique=slot in CUSTOMER_TABLES, key=KEY,
                  as_text=as_text)
        tables[slot] = t
        if t.no_id:
            messages.append(f"{plural(t.no_id, 'row')} of the {t.name} {'has' if t.no_id == 1 else 'have'} no "
                            f"customer id in '{t.id_column}' and {'was' if t.no_id == 1 else 'were'} left out.")
    return tables


def _customers(audience: Any, brought: list[str], tables: dict[str, KeyedTable], sources: AudienceSources,
               top_products: int, products_format: ProductsFormat, backend: Any,
               messages: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The audience's rows (with their top products), best first, as a DataFrame."""
    product_cols: list[str] = []
    if "products" in tables:
        wanted = audience.select(**{"__key_products": audience[KEY]})
        pivot, product_cols = products_pivot(tables["products"], sources, top_products, wanted)
        pivot = pivot.rename({"__key_products": KEY})
        audience = audience.left_join(pivot, audience[KEY] == pivot["__key_products"]).drop("__key_products")
    out_id = sources.id_column
    if out_id in brought or out_id in product_cols:
        raise DataError(f"The audience's id column '{out_id}' has the name of a joined column: choose another id_column.")
    order = [audience[c].desc() for c in ("uplift", "clv", "propensity_score") if c in brought] + [audience[KEY].asc()]
    expr = audience.order_by(order).select(**{out_id: audience[KEY]}, **{c: audience[c] for c in brought + product_cols})
    if "in_control" in brought:
        expr = expr.mutate(in_control=expr["in_control"].fill_null(False))
    customers = _integers(run(expr, backend).reset_index(drop=True), expr.schema())
    if product_cols and products_format == "joined":
        codes = [c for c in product_cols if not c.endswith("_name")]
        names = [c for c in product_cols if c.endswith("_name")]
        joined = {"products": _joined(customers, codes)}
        if names:
            joined["product_names"] = _joined(customers, names)
        customers = customers.drop(columns=product_cols).assign(**joined)
        product_cols = list(joined)
    if product_cols and len(customers):
        none = int(customers[product_cols[0]].isna().sum() if products_format == "columns"
                   else (customers["products"] == "").sum())
        if none:
            messages.append(f"{plural(none, 'audience customer')} {'has' if none == 1 else 'have'} no product "
                            "recommendation (the product columns are empty).")
    return customers, product_cols


def _joined(customers: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's values of `columns`, missing ones skipped, as one text "A; B; C"."""
    if not len(customers):
        return pd.Series([], dtype="object")
    return customers[columns].apply(
        lambda r: PRODUCT_SEPARATOR.join(str(v) for v in r if v is not None and not pd.isna(v)), axis=1
    ).astype("object")


def _expected(customers: pd.DataFrame, has_uplift: bool, outcome: UpliftOutcome, value: float | None,
              messages: list[str]) -> tuple[float | None, float | None]:
    """(expected incremental conversions, revenue): sums of predicted uplift over the audience."""
    conversions: float | None = None
    revenue: float | None = None
    if has_uplift and "uplift" in customers.columns:
        total = float(pd.to_numeric(customers["uplift"], errors="coerce").sum())
        if outcome == "conversion":
            conversions = total
            revenue = total * float(value) if value is not None else None
        else:
            revenue = total
        scored = int(customers["uplift"].notna().sum())
        if scored < len(customers):
            messages.append(f"The expected figures cover the {scored:,} of {plural(len(customers), 'audience customer')} "
                            "with an uplift score; the others count as no change.")
    if "revenue_uplift" in customers.columns:
        revenue = float(pd.to_numeric(customers["revenue_uplift"], errors="coerce").sum())
    return conversions, revenue


def _integers(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Integer columns that came back as floats (because of empty values) as nullable integers."""
    for name, typ in schema.items():
        if typ.is_integer() and name in frame.columns and frame[name].dtype.kind == "f":
            frame[name] = frame[name].astype("Int64")
    return frame


def _empty_message(funnel: pd.DataFrame) -> str:
    """Why the audience is empty, naming the filter that removed the last customers."""
    if int(funnel["customers_left"].iloc[0]) == 0:
        return "The audience is empty: the given tables hold no customers with an id."
    last = funnel[(funnel["customers_left"] == 0) & (funnel["removed"] > 0)].iloc[0]
    return (f"The audience is empty: no customer passes every filter. '{last['step']}' removed the last "
            f"{plural(int(last['removed']), 'customer')}; loosen that filter (or an earlier one).")
