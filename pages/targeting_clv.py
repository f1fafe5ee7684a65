"""Targeting page, Customer value tab: expected purchases, P(alive), expected spend and CLV per customer.

Pick a transactions table (customer, date, amount: guessed), fit BG/NBD and Gamma-Gamma as a
background job, read the hold-out check (a second fit calibrated to an earlier date predicts the
days after it), the P(alive) matrix and the top customers, and save the CLV table for the Audience
tab. Logic: core.targeting.clv (the models), clv_charts (figures), core.targeting.jobs (the job).
"""

from __future__ import annotations

import datetime as _dt

import pandas as pd
import streamlit as st

from core.data.workspace import Workspace
from core.formatting import for_people, format_value
from core.targeting.guess import default_holdout_start, transaction_columns
from core.targeting.jobs import ClvResult, ClvSettings, clv_job
from pages.common import can, download_buttons, role_note, settings_of_last_run, stored
from pages.targeting_common import NONE, TableColumns, keep, kept, optional, pick, pick_table, run_job, save_table

KIND = "clv"
STATE = "clv-settings"
BUTTON = "Compute customer values"
FREQS = {"W": "weeks", "D": "days", "M": "months (30 days)"}


def _date_range(ws: Workspace, table: str, version: int, date: str) -> tuple[_dt.date, _dt.date] | None:
    def read() -> tuple[_dt.date, _dt.date] | None:
        t = ws.table(table)
        col = t[date].cast("date") if not t[date].type().is_date() else t[date]
        row = t.aggregate(first=col.min(), last=col.max()).execute().iloc[0]
        if pd.isna(row["first"]) or pd.isna(row["last"]):
            return None
        return pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()
    try:
        return stored(("date-range", str(ws.path), table, version, date), read)
    except Exception:  # noqa: BLE001 - a text column that does not read as dates: say so below
        return None


def settings_form(ws: Workspace, table: str) -> ClvSettings | None:
    tc = TableColumns(ws, table)
    pick_ = transaction_columns(tc.roles, tc.columns)
    guess = pick_.columns
    t = table
    c1, c2, c3 = st.columns(3)
    customer = pick("Customer column", tc.columns, f"clv-customer-{t}", guess["customer"], c1)
    date = pick("Purchase date", tc.dates or tc.columns, f"clv-date-{t}", guess["date"], c2)
    amount = pick("Amount (what the line is worth)", tc.numeric, f"clv-amount-{t}", guess["amount"], c3)
    if not tc.numeric or amount is None:
        st.warning(f"`{table}` has no number column for the amount spent.")
        return None
    if len({customer, date, amount}) < 3:
        st.warning("Pick three different columns: customer, date and amount.")
        return None
    span = _date_range(ws, table, tc.version, date)
    if span is None:
        st.warning(f"`{date}` does not hold dates: pick the purchase date column (or fix its type on the Data page).")
        return None
    first, last = span
    with st.expander("Options: quantity, time unit, horizon, hold-out check"):
        c1, c2, c3 = st.columns(3)
        quantity = pick("Quantity (when the amount is a unit price)", [NONE] + [c for c in tc.numeric if c != amount],
                        f"clv-qty-{t}", guess["quantity"] or NONE, c1)
        freq = keep(f"clv-freq-{t}", c2.radio("Model time in", list(FREQS), format_func=FREQS.get, horizontal=True,
                                              index=list(FREQS).index(kept(f"clv-freq-{t}", "W")), key=f"clv-freq-{t}"))
        horizon = keep(f"clv-horizon-{t}", c3.number_input("CLV horizon (months)", 1, 120,
                                                           int(kept(f"clv-horizon-{t}", 12)), key=f"clv-horizon-{t}"))
        c1, c2 = st.columns(2)
        rate = keep(f"clv-rate-{t}", c1.number_input("Discount rate per month (%)", 0.0, 10.0,
                                                     float(kept(f"clv-rate-{t}", 1.0)), 0.1, key=f"clv-rate-{t}"))
        default_from = default_holdout_start(first, last)
        check = keep(f"clv-check-{t}", c2.checkbox("Hold-out check", kept(f"clv-check-{t}", True), key=f"clv-check-{t}",
                                                   help="A second fit on the days up to a date predicts the days after "
                                                        "it; compare with what customers actually bought."))
        holdout_from = None
        if check:
            holdout_from = keep(f"clv-from-{t}", c2.date_input(
                "Calibrate up to", kept(f"clv-from-{t}", default_from), min_value=first, max_value=last,
                key=f"clv-from-{t}"))
    st.caption(f"{first} to {last}. " + " ".join(pick_.reasons))
    return ClvSettings(customer, date, amount, None, freq, int(horizon), float(rate) / 100, optional(quantity),
                       holdout_from.isoformat() if holdout_from else None)


def holdout_section(result: ClvResult, unit: str) -> None:
    from core.targeting import clv_charts

    h = result.holdout
    if h is None:
        if result.check_error:
            st.info(f"The hold-out check could not run: {result.check_error}")
        return
    st.subheader("Hold-out check")
    st.caption(h.message)
    st.plotly_chart(clv_charts.holdout_figure(h.by_frequency), key="clv-holdout-chart")
    st.plotly_chart(clv_charts.tracking_figure(h.tracking, h.freq), key="clv-tracking-chart")
    with st.expander("The numbers behind the charts"):
        st.dataframe(for_people(h.by_frequency, {"customers": "integer", "predicted": "number", "actual": "number"},
                                {"frequency_group": f"repeat purchase days up to {h.calibration_end}",
                                 "predicted": "predicted purchase days (mean)", "actual": "actual (mean)"}),
                     hide_index=True)
        download_buttons(lambda: h.by_frequency, "clv_holdout_by_frequency", key="clv-dl-holdout")
        download_buttons(lambda: h.tracking, "clv_holdout_tracking", key="clv-dl-tracking")


def render(ws: Workspace) -> None:
    st.caption("From transactions: how many purchases each customer will make, whether they are still a customer "
               "(P(alive)), what they will spend, and their value over the next months (BG/NBD and Gamma-Gamma).")
    tables = ws.tables()
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home** (it has `transactions`).")
        return
    table = pick_table(ws, "Transactions (one row per purchase)", "clv-table", "clv", "transactions", tables)
    if table is None:
        return
    if not can(ws, "train"):
        role_note(ws, "train", "computing customer values")
        return
    settings = settings_form(ws, table)
    clicked = st.button(BUTTON, type="primary", key="clv-fit", disabled=settings is None)
    if settings is None:
        return
    version = ws.info(table).version
    ran = settings_of_last_run(clicked, STATE, table, version, settings.as_dict(), BUTTON)
    if ran is None:
        return
    s = ClvSettings.from_dict(ran)
    result = run_job(ws, kind=KIND, func=clv_job, make_input=lambda: ws.table(table).select(s.columns).execute(),
                     table=table, version=version, ran=ran, clicked=clicked, button=BUTTON,
                     label=f":material/savings: Computing customer values from `{table}`", cancel_key="clv-cancel",
                     expected=ClvResult)
    if result is None:
        return
    # the charts and unit names import SciPy: only once there is a result (the form's render stays light)
    from core.targeting import clv_charts
    from core.targeting.clv_data import UNIT_NAMES

    v = result.values
    unit = UNIT_NAMES.get(v.freq, v.freq)
    table_ = v.table
    m = st.columns(4)
    m[0].metric("Customers", f"{len(table_):,}", border=True)
    m[1].metric("Still active (mean P(alive))", f"{table_['p_alive'].mean():.0%}", border=True)
    m[2].metric(f"Expected purchases, next {v.horizon} months", f"{table_['expected_purchases'].sum():,.0f}",
                border=True)
    m[3].metric(f"CLV, next {v.horizon} months", format_value(float(table_["clv"].sum()), "money"),
                help=f"Discounted at {v.discount_rate:.1%} a month.", border=True)
    {"correlated": st.warning, "weak": st.info}.get(v.spend_check.level, st.caption)(v.spend_check.message)
    for note in v.notes:
        if note != v.spend_check.message:  # shown just above, as a warning when it matters
            st.caption(note)
    b, g = v.bgnbd, v.gamma_gamma
    st.caption(f"BG/NBD (time in {unit}): r = {b.r:.3f}, α = {b.alpha:.3f}, a = {b.a:.3f}, b = {b.b:.3f}, "
               f"log-likelihood {b.log_likelihood:,.1f}. Gamma-Gamma: p = {g.p:.2f}, q = {g.q:.2f}, "
               f"γ = {g.v:.2f} on {g.n_customers:,} repeat buyers.")
    st.subheader("Who is still a customer")
    st.caption(f"P(alive) of a customer as old as the oldest ({unit}), by repeat purchases and the time of the last one: "
               "the longer since a frequent buyer's last purchase, the likelier they have gone.")
    matrix = stored(("clv-palive", id(v)), lambda: clv_charts.p_alive_matrix(v.bgnbd, v.table))
    st.plotly_chart(clv_charts.p_alive_figure(matrix, v.freq), key="clv-palive-chart")
    with st.expander("The numbers behind the chart"):
        download_buttons(lambda: matrix, "p_alive_matrix", key="clv-dl-palive")
    st.subheader("Top customers by CLV")
    top = v.top(20)
    st.plotly_chart(clv_charts.top_customers_figure(top, v.customer), key="clv-top-chart")
    st.dataframe(for_people(top, {"p_alive": "percent", "monetary_value": "money", "expected_spend": "money",
                                  "clv": "money", "expected_purchases": "number", "frequency": "integer"}),
                 hide_index=True)
    holdout_section(result, unit)
    st.subheader("Every customer's value")
    download_buttons(lambda: table_, f"{table}_clv", key="clv-dl-table")
    if can(ws, "save"):
        save_table(ws, table_, f"{table}_clv", "clv-table", f"customer values from {table}")
    if s.quantity:
        st.caption(f"Amounts: {s.quantity} x {s.amount} per line.")
