"""Targeting page, Audience tab: one audience from the saved segments, CLV, uplift scores, propensity scores
and next-best products, with filters, its size and what it is expected to bring, exported for the
e-mail or ads tool. Logic: core.targeting.audience (joins and filters in the database, the funnel,
export), core.targeting.guess (which table is which)."""

from __future__ import annotations

import json

import streamlit as st

from core.data.workspace import Workspace
from core.errors import DataError
from core.formatting import for_people, format_value
from core.targeting.audience import Audience, AudienceFilters, AudienceSources, audience_summary, build_audience
from core.targeting.audience import export_audience, save_audience
from core.targeting.guess import guess_sources, result_tables
from core.targeting.uplift_report import GROUPS
from pages.common import FORMAT_LABELS, can, stored
from pages.targeting_common import NONE, TableColumns, keep, kept, optional, pick, pick_table, table_columns

SLOTS = {"segments": "Segments (Segments page: Save)", "clv": "Customer value (Customer value tab)",
         "uplift": "Uplift scores (Uplift tab)", "propensity": "Propensity scores (Models page: Score customers)",
         "products": "Next-best products (Next-best products tab)"}
MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _versions(ws: Workspace, names: list[str | None]) -> tuple:
    return tuple((n, ws.info(n).version) for n in names if n)


def sources_form(ws: Workspace, tables: dict[str, list[str]]) -> tuple[AudienceSources, dict] | None:
    guesses = guess_sources(tables)
    names = list(tables)
    st.markdown("**Who**")
    c1, c2, c3 = st.columns(3)
    base = pick_table(ws, "Customer table (everyone the audience is drawn from)", "aud-base", "audience",
                      "customers", names, c1)
    if base is None:
        return None
    tc = TableColumns(ws, base)
    id_column = pick("Customer id column", tc.columns, f"aud-id-{base}", tc.roles.id.column, c2)
    if id_column is None:
        st.warning(f"Pick the column of `{base}` that identifies a customer.")
        return None
    carry = keep(f"aud-carry-{base}", c3.multiselect(
        "Columns to carry (e-mail, name …)", [c for c in tc.columns if c != id_column],
        default=[c for c in kept(f"aud-carry-{base}", []) if c in tc.columns], key=f"aud-carry-{base}"))
    chosen: dict[str, str | None] = {}
    st.markdown("**Results to combine** (found by their columns; pick *(none)* to leave one out)")
    cols = st.columns(len(SLOTS))
    for col, (slot, label) in zip(cols, SLOTS.items()):
        options = [NONE] + result_tables(tables, slot)  # type: ignore[arg-type]
        chosen[slot] = optional(pick(label, options, f"aud-src-{slot}", guesses[slot] or NONE, col))  # type: ignore[index]
    with st.expander("Leave out a control group (a test's assignment table)"):
        c1, c2, c3 = st.columns(3)
        control = optional(pick("Assignment table", [NONE] + names, "aud-control", NONE, c1))
        control_column = control_values = None
        if control:
            ctc = TableColumns(ws, control)
            control_column = pick("Variant column", ctc.columns, f"aud-control-col-{control}",
                                  ctc.roles.variant.column, c2)
            control_values = keep(f"aud-control-val-{control}", c3.text_input(
                "Control value(s), comma-separated", kept(f"aud-control-val-{control}",
                                                           str(ctc.roles.control.column or "control")),
                key=f"aud-control-val-{control}"))
    ids = {slot: _id_in(ws, name, id_column) for slot, name in chosen.items() if name}
    sources = AudienceSources(
        id_column=id_column, base=base, base_columns=tuple(carry),
        segments=chosen["segments"], segments_id=ids.get("segments"),
        clv=chosen["clv"], clv_id=ids.get("clv"), uplift=chosen["uplift"], uplift_id=ids.get("uplift"),
        propensity=chosen["propensity"], propensity_id=ids.get("propensity"),
        products=chosen["products"], products_id=ids.get("products"),
        control=control, control_id=_id_in(ws, control, id_column) if control else None,
        control_column=control_column or "variant",
        control_values=tuple(v.strip() for v in (control_values or "control").split(",") if v.strip()),
    )
    key = {"sources": {**chosen, "base": base, "control": control}, "id": id_column, "carry": carry,
           "control_column": control_column, "control_values": control_values,
           "versions": _versions(ws, [base, control, *chosen.values()])}
    return sources, key


def _id_in(ws: Workspace, table: str | None, wanted: str) -> str | None:
    """The table's id column: the audience's id name when the table has it, else its guessed id."""
    if not table:
        return None
    tc = TableColumns(ws, table)
    if wanted in tc.columns:
        return None
    return str(tc.roles.id.column) if tc.roles.id.column else tc.columns[0]


def filters_form(ws: Workspace, sources: AudienceSources) -> tuple[AudienceFilters, float | None, dict]:
    st.markdown("**Filters**")
    values: dict = {}
    c1, c2, c3 = st.columns(3)
    if sources.segments:
        segs = _segment_names(ws, str(sources.segments))
        values["segments"] = keep("aud-f-segments", c1.multiselect(
            "Segments (empty: all)", segs, default=[s for s in kept("aud-f-segments", []) if s in segs],
            key="aud-f-segments"))
    if sources.clv:
        values["min_p_alive"] = keep("aud-f-palive", c2.slider("P(alive) at least", 0.0, 1.0,
                                                              float(kept("aud-f-palive", 0.0)), 0.05,
                                                              key="aud-f-palive"))
        values["min_clv"] = keep("aud-f-clv", c3.number_input("CLV at least", 0.0, value=float(kept("aud-f-clv", 0.0)),
                                                              step=10.0, key="aud-f-clv"))
    c1, c2, c3 = st.columns(3)
    value_per_conversion = None
    if sources.uplift:
        values["top_uplift_deciles"] = keep("aud-f-updec", c1.slider(
            "Uplift deciles (1 = the tenth with the highest uplift)", 1, 10, int(kept("aud-f-updec", 10)),
            key="aud-f-updec"))
        values["uplift_groups"] = keep("aud-f-groups", c2.multiselect(
            "Uplift groups (empty: all)", list(GROUPS), default=kept("aud-f-groups", []), key="aud-f-groups",
            help="Persuadables respond only if contacted; do-not-disturbs respond less when contacted."))
        value_per_conversion = keep("aud-f-value", c3.number_input(
            "Value of one conversion (for the expected revenue; 0 = not known)", 0.0,
            value=float(kept("aud-f-value", 0.0)), step=5.0, key="aud-f-value")) or None
    if sources.propensity:
        values["min_propensity"] = keep("aud-f-prop", st.slider("Propensity score at least", 0.0, 1.0,
                                                                float(kept("aud-f-prop", 0.0)), 0.05,
                                                                key="aud-f-prop"))
    if sources.control:
        values["exclude_control"] = True
    f = AudienceFilters(
        segments=tuple(values.get("segments") or ()) or None,
        min_p_alive=values.get("min_p_alive") or None, min_clv=values.get("min_clv") or None,
        top_uplift_deciles=values["top_uplift_deciles"] if values.get("top_uplift_deciles", 10) < 10 else None,
        uplift_groups=tuple(values.get("uplift_groups") or ()) or None,
        min_propensity=values.get("min_propensity") or None, exclude_control=bool(values.get("exclude_control")))
    return f, value_per_conversion, {**values, "value": value_per_conversion}


def _segment_names(ws: Workspace, table: str) -> list:
    cols = ws.columns(table)
    column = "segment_name" if "segment_name" in cols else "rfm_segment" if "rfm_segment" in cols else "segment"
    version = ws.info(table).version

    def read() -> list:
        t = ws.table(table)
        return sorted(str(v) for v in t.select(column).distinct().execute()[column].dropna().tolist())
    return stored(("segment-names", str(ws.path), table, version, column), read)


def results_section(ws: Workspace, audience: Audience) -> None:
    m = st.columns(4)
    m[0].metric("Customers in the audience", f"{audience.size:,}", border=True)
    if audience.expected_incremental_conversions is not None:
        m[1].metric("Expected extra conversions", f"{audience.expected_incremental_conversions:,.0f}",
                    help="The sum of the customers' predicted uplift: conversions the campaign adds over not "
                         "contacting them.", border=True)
    if audience.expected_incremental_revenue is not None:
        m[2].metric("Expected extra revenue", format_value(audience.expected_incremental_revenue, "money"),
                    border=True)
    if audience.total_clv is not None:
        m[3].metric("Their CLV", format_value(audience.total_clv, "money"),
                    help=f"Mean {format_value(audience.mean_clv, 'money')} per customer.", border=True)
    for line in audience.messages:
        st.caption(line)
    st.markdown("**How the filters narrowed it down**")
    st.dataframe(for_people(audience.funnel, {c: "integer" for c in audience.funnel.columns if c not in
                                              ("step", "table")}), hide_index=True)
    summary = audience_summary(audience)
    if len(summary.by_segment):
        st.dataframe(for_people(summary.by_segment, {"share": "percent", "customers": "integer",
                                                     "total_clv": "money", "mean_clv": "money"}), hide_index=True)
    st.dataframe(for_people(audience.customers.head(200), {}), hide_index=True)


def export_section(ws: Workspace, audience: Audience) -> None:
    st.markdown("**Export for the e-mail or ads tool**")
    columns = list(audience.customers.columns)
    chosen = keep("aud-columns", st.multiselect("Columns", columns, default=[c for c in kept("aud-columns", columns)
                                                                             if c in columns] or columns,
                                               key="aud-columns"))
    if not chosen:
        st.warning("Choose at least one column.")
        return
    cols = st.columns(len(FORMAT_LABELS))
    for col, fmt in zip(cols, FORMAT_LABELS):
        def payload(fmt: str = fmt) -> bytes:
            ws.record("download", table="audience", rows=audience.size, detail=fmt)
            return export_audience(audience, chosen, fmt)  # type: ignore[arg-type]
        col.download_button(f"Download {FORMAT_LABELS[fmt]}", data=payload, file_name=f"audience.{fmt}",
                            mime=MIME[fmt], key=f"aud-dl-{fmt}", on_click="ignore", icon=":material/download:",
                            width="stretch")
    if can(ws, "save"):
        c1, c2 = st.columns([3, 1])
        name = c1.text_input("Save as table", value="audience", key="aud-save-name")
        if c2.button("Save the audience", key="aud-save", icon=":material/save:"):
            try:
                saved = save_audience(ws, audience, name, columns=chosen)
                st.success(f"Saved `{saved}` ({audience.size:,} customers).")
            except DataError as e:
                st.error(str(e))


def render(ws: Workspace) -> None:
    st.caption("Combine what the other tabs (and the Segments and Models pages) saved into one list of customers: "
               "filter, see its size and what it should bring, export it.")
    tables = table_columns(ws)
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home**.")
        return
    formed = sources_form(ws, tables)
    if formed is None:
        return
    sources, key = formed
    if not sources.given() or sources.given() == ["base"]:
        st.info("Save at least one result first: customer values (Customer value tab), uplift scores (Uplift tab), "
                "next-best products, segments (Segments page) or propensity scores (Models page).",
                icon=":material/info:")
    filters, value, fkey = filters_form(ws, sources)
    k = ("audience", str(ws.path), json.dumps({**key, **fkey}, sort_keys=True, default=str))
    try:
        with st.spinner("Building the audience"):
            audience = stored(k, lambda: build_audience(sources, filters, workspace=ws,
                                                         value_per_conversion=value))
    except DataError as e:
        st.error(str(e))
        return
    if audience.size == 0:
        st.warning("No customer passes every filter: loosen one (the table below says which removed them).")
    results_section(ws, audience)
    if audience.size:
        export_section(ws, audience)

