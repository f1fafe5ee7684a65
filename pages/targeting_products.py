"""Targeting page, Next-best products tab: what to offer each customer, from what customers buy together.

Pick purchase lines (customer, product; guessed), compute item-to-item scores in the database as a
background job, check offline against popularity (hide each customer's last purchase), read the
"bought together" table, and save each customer's top products for the Audience tab.
Logic: core.targeting.recommend and recommend_check (the model), core.targeting.jobs (the job).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.workspace import Workspace
from core.formatting import for_people
from core.targeting.guess import product_columns
from core.targeting.jobs import ProductResult, ProductSettings, products_job
from core.targeting.recommend import settings_note
from pages.common import can, download_buttons, role_note, settings_of_last_run, stored
from pages.targeting_common import NONE, TableColumns, keep, kept, optional, pick, pick_table, run_job, save_table

KIND = "products"
STATE = "products-settings"
BUTTON = "Find next-best products"


def _event_reading(ws: Workspace, table: str, version: int, column: str) -> str:
    """How the event column's values are read (purchase, add-to-cart, view, or left out), in one line."""
    from core.targeting.recommend_steps import classify_event

    def read() -> list:
        t = ws.table(table)
        return t.select(v=t[column].cast("string")).distinct().order_by("v").limit(30).execute()["v"].tolist()
    values = stored(("event-values", str(ws.path), table, version, column), read)
    words = {"purchase": "purchase", "cart": "add-to-cart", "view": "view", None: "left out"}
    shown = ", ".join(f"{v} → {words[classify_event(v)]}" for v in values[:12])
    return f"Events read as: {shown}{' …' if len(values) > 12 else ''}."


def settings_form(ws: Workspace, table: str) -> ProductSettings | None:
    tc = TableColumns(ws, table)
    guess = product_columns(tc.roles, tc.columns).columns
    t = table
    c1, c2, c3 = st.columns(3)
    customer = pick("Customer column", tc.columns, f"prd-customer-{t}", guess["customer"], c1)
    items = [c for c in tc.columns if c != customer]
    item = pick("Product column", items, f"prd-item-{t}", guess["item"], c2)
    k = keep(f"prd-k-{t}", c3.number_input("Products per customer", 1, 50, int(kept(f"prd-k-{t}", 10)),
                                           key=f"prd-k-{t}"))
    with st.expander("More columns (optional): description, quantity, date, event"):
        c1, c2, c3 = st.columns(3)
        rest = [NONE] + [c for c in tc.columns if c not in (customer, item)]
        label = pick("Description (used in the reasons)", rest, f"prd-label-{t}", guess["label"] or NONE, c1)
        weight = pick("Quantity or spend (negative = a return, left out)", [NONE] + [c for c in tc.numeric
                                                                                 if c not in (customer, item)],
                      f"prd-weight-{t}", guess["weight"] or NONE, c2)
        date = pick("Date (for the offline check)", [NONE] + tc.dates, f"prd-date-{t}", guess["date"] or NONE, c3)
        c1, c2, c3 = st.columns(3)
        exclude_column = pick("Leave out lines whose …", [NONE] + tc.labels, f"prd-excol-{t}", NONE, c1)
        exclude_prefix = keep(f"prd-expre-{t}", c2.text_input("… starts with (e.g. C for cancelled invoices)",
                                                              kept(f"prd-expre-{t}", ""), key=f"prd-expre-{t}"))
        event = pick("Event (view / add-to-cart / purchase)", [NONE] + [c for c in tc.labels if c not in (customer, item)],
                     f"prd-event-{t}", guess["event"] or NONE, c3,
                     help="Views and add-to-carts make similar products score for the customer (weaker than a "
                          "purchase) and can be offered themselves; only purchases count as bought together.")
    if optional(event):
        st.caption(_event_reading(ws, table, tc.version, str(event)))
    if customer is None or item is None or customer == item:
        st.warning("Pick a customer column and a different product column.")
        return None
    if item in tc.dates:
        st.warning(f"`{item}` holds dates, not products: pick the column that names what was bought "
                   "(a product name, SKU or stock code).")
        return None
    return ProductSettings(customer, item, optional(label), optional(weight), optional(date), int(k),
                           optional(exclude_column), exclude_prefix.strip() or None, optional(event))


def check_section(result: ProductResult) -> None:
    c = result.check
    if c is None:
        st.caption(result.check_error or "Pick a date column (under **More columns**) for the offline check.")
        return
    st.markdown("**Offline check** (hide each customer's last purchase, recommend from the rest)")
    m = st.columns(3)
    m[0].metric(f"Hit rate@{c.k}", f"{c.hit_rate:.1%}", f"{(c.hit_rate - c.popular_hit_rate) * 100:+.1f} pts vs popular",
                help="Share of customers whose hidden purchase is among their recommendations.", border=True)
    m[1].metric(f"nDCG@{c.k}", f"{c.ndcg:.3f}", f"{c.ndcg - c.popular_ndcg:+.3f} vs popular",
                help="Rank-weighted hits (1 = every hidden item first).", border=True)
    m[2].metric("Customers evaluated", f"{c.customers_evaluated:,}", border=True)
    st.caption(c.summary())
    table = pd.DataFrame({"method": ["bought together (this model)", "most popular products"],
                          "hit_rate": [c.hit_rate, c.popular_hit_rate], "ndcg": [c.ndcg, c.popular_ndcg],
                          "recall": [c.recall, c.popular_recall]})
    st.dataframe(for_people(table, {"hit_rate": "percent", "recall": "percent", "ndcg": "number"},
                            {"hit_rate": f"hit rate@{c.k}", "ndcg": f"nDCG@{c.k}", "recall": f"recall@{c.k}"}),
                 hide_index=True)
    skipped = {k: v for k, v in c.skipped.items() if v}
    if skipped:
        st.caption("Not evaluated: " + "; ".join(f"{v:,} {k}" for k, v in skipped.items()) + ".")


def together_section(result: ProductResult, settings: ProductSettings) -> None:
    together = result.together
    st.markdown("**Bought together**")
    if together.empty:
        st.caption("No two products share enough buyers to score them.")
        return
    item = settings.item
    products = sorted(together[item].astype(str).unique())
    chosen = st.selectbox("Product", products, key="prd-together-item")
    rows = together[together[item].astype(str) == chosen]
    st.dataframe(for_people(rows, {"share": "percent", "lift": "ratio", "cosine": "number",
                                   "customers_both": "integer", "customers_item": "integer",
                                   "customers_other": "integer"},
                            {"share": f"share of {chosen}'s buyers", "customers_both": "bought both"}),
                 hide_index=True)
    download_buttons(lambda: together, "bought_together", key="prd-dl-together")


def render(ws: Workspace) -> None:
    st.caption("From purchase lines: for each customer the products they have not bought yet that customers like "
               "them bought, each with its reason, checked against simply offering the most popular products.")
    tables = ws.tables()
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home** (it has `order_lines`).")
        return
    table = pick_table(ws, "Purchase lines (one row per product bought)", "prd-table", "products", "order_lines",
                       tables)
    if table is None:
        return
    if not can(ws, "train"):
        role_note(ws, "train", "computing recommendations")
        return
    settings = settings_form(ws, table)
    clicked = st.button(BUTTON, type="primary", key="prd-fit", disabled=settings is None)
    if settings is None:
        return
    version = ws.info(table).version
    ran = settings_of_last_run(clicked, STATE, table, version, settings.as_dict(), BUTTON)
    if ran is None:
        return
    s = ProductSettings.from_dict(ran)
    result = run_job(ws, kind=KIND, func=products_job, make_input=lambda: ws.table(table).select(s.columns).execute(),
                     table=table, version=version, ran=ran, clicked=clicked, button=BUTTON,
                     label=f":material/shopping_cart: Finding next-best products in `{table}`", cancel_key="prd-cancel",
                     expected=ProductResult)
    if result is None:
        return
    recs = result.recommendations
    for line in recs.counts.lines():
        st.caption(line)
    st.caption(settings_note(recs))
    check_section(result)
    together_section(result, s)
    st.markdown("**Each customer's next-best products**")
    customers = recs.table[s.customer].nunique()
    st.caption(f"{len(recs.table):,} recommendations for {customers:,} customers; rank 1 = the best.")
    st.dataframe(for_people(recs.table.head(300), {"rank": "integer", "score": "number"}), hide_index=True)
    download_buttons(lambda: recs.table, f"{table}_next_products", key="prd-dl-recs")
    if can(ws, "save"):
        save_table(ws, recs.table, f"{table}_next_products", "prd-recs", f"next-best products from {table}")
