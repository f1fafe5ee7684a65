"""Campaigns: the manager's view of spend and return (KPI cards, trends, per-campaign table, pacing,
anomalies, incremental return from a test); the marketing-mix model in its own tab. Logic: core.campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from core.campaigns import (KPI_INFO, Columns, PeriodComparison, anomalies, check_inputs, compare_periods,
                            defined_kpis, incremental_return, kpis, pacing)
from core.campaigns import charts
from core.campaigns.kpis import FREQ_LABELS, between
from core.campaigns.pacing import TOLERANCE
from core.columns import ColumnRoles, guess_roles
from core.errors import DataError
from core.experiments import analyze, choose_control
from core.experiments.data import variant_counts
from core.formatting import Format, for_people, format_value, money, percent, points
from core.data.workspace import Workspace
from core.wording import plural
from pages.common import (can, cached_profile, download_buttons, lazy_expander, lazy_tabs, page_start, role_note,
                          stored, warm_up)

NONE = "(none)"
OPTIONAL = ("impressions", "clicks", "conversions", "revenue")
ROLE_LABELS = {"date": "Date", "spend": "Spend", "impressions": "Impressions", "clicks": "Clicks",
               "conversions": "Conversions", "revenue": "Revenue", "campaign": "Campaign", "channel": "Channel",
               "budget": "Budget (per month, per campaign line)"}
FREQ_NAMES = {"D": "Day", "W": "Week (Monday to Sunday)", "M": "Month"}
TABS = ("Dashboard", "Marketing-mix model")
TABS_KEY = "tabs-campaigns"  # st.session_state[TABS_KEY] = "Marketing-mix model" opens that tab
TABLE_KEY = "cmp-table"  # the dashboard's table, which the model tab uses too
LAST_TABLE_KEY = "cmp-table-last"  # the same, kept when the page is left (a widget's value is not)
OVER_TIME, PER_CAMPAIGN, PACING, UNUSUAL, INCREMENTAL = ("Over time", "Per campaign", "Pacing against budget",
                                                       "Unusual days", "Incremental return")
SECTIONS = (OVER_TIME, PER_CAMPAIGN, PACING, UNUSUAL, INCREMENTAL)
SECTIONS_KEY = "tabs-campaigns-dashboard"  # the dashboard's sections below the KPI cards
SECTION_KEYS = {OVER_TIME: ("cmp-freq", "cmp-trend-", "cmp-x-trend"), PER_CAMPAIGN: ("cmp-table-by", "cmp-table-kpi"),
                PACING: ("cmp-pace-", "cmp-x-pace"), UNUSUAL: ("cmp-anom-", "cmp-x-anom"), INCREMENTAL: ("cmp-inc-",)}

ws = page_start("Campaigns",
                "Spend and return by campaign and channel: KPI cards against the previous period, trends, pacing "
                "against budget, unusual days, and the incremental return measured by a test.")
db = str(ws.path)


def formats(frame: pd.DataFrame) -> dict[str, Format]:
    """Display formats of a kpis-like frame: sums and KPIs from KPI_INFO, dates as text."""
    out: dict[str, Format] = {k: info.format for k, info in KPI_INFO.items() if k in frame}
    out.update({c: "integer" for c in ("rows",) if c in frame})
    return out


def shown_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as yyyy-mm-dd text for people (downloads keep the raw frame)."""
    out = frame.copy()
    for c in ("period", "period_end", "day"):
        if c in out:
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    return out


def labels_for(frame: pd.DataFrame, names: dict[str, str]) -> dict[str, str]:
    """Column labels: KPI names (CTR, ROAS ...) and the roles' input columns under their own names."""
    out = {"period": "from", "period_end": "to", "rows": "rows"}
    out.update({k: info.label for k, info in KPI_INFO.items() if k in frame and k not in names.values()})
    return out


# ------------------------------------------------------------------ columns
def pick_columns(table: str, version: int, roles: ColumnRoles) -> dict[str, str | None] | None:
    """The role -> column choices (guessed, editable), or None after saying what is missing."""
    profile = cached_profile(db, table, version)
    types = dict(zip(profile["column"], profile["type"]))
    columns = list(types)
    numeric = [c for c in columns if any(k in types[c].upper() for k in ("INT", "DOUBLE", "DECIMAL", "FLOAT",
                                                                           "REAL", "NUMERIC"))]
    dates = [c for c in columns if "DATE" in types[c].upper() or "TIMESTAMP" in types[c].upper()]
    if roles.date.column in columns and roles.date.column not in dates:  # dates kept as text ('2026-11-03')
        dates.append(str(roles.date.column))
    labels = [c for c in columns if c not in numeric and c not in dates]
    if not dates:
        st.error(f"'{table}' has no date column: the dashboard needs one date per row (a day). Load a table with "
                 "a date, or fix the column's type on the Data page.")
        return None
    if not numeric:
        st.error(f"'{table}' has no number column to use as spend. Pick a table with spend per day.")
        return None
    chosen: dict[str, str | None] = {}
    with st.expander("Columns: what each one holds (guessed from the names; change any)", expanded=not roles.spend):
        cols = st.columns(3)

        def pick(i: int, role: str, options: list[str], required: bool) -> None:
            guess = getattr(roles, role)
            opts = options if required else [NONE, *options]
            default = guess.column if guess.column in opts else (opts[0] if required else NONE)
            value = cols[i % 3].selectbox(
                ROLE_LABELS[role], opts, index=opts.index(default), key=f"cmp-col-{role}-{table}",
                help=(f"Suggested: {guess.column} ({guess.reason})." if guess else f"Nothing suggested: "
                      f"{guess.reason}."))
            chosen[role] = None if value == NONE else value

        pick(0, "date", dates, True)
        pick(1, "spend", numeric, True)
        for i, role in enumerate(OPTIONAL, start=2):
            pick(i, role, numeric, False)
        pick(6, "campaign", labels, False)
        pick(7, "channel", labels, False)
        pick(8, "budget", numeric, False)
    if not roles.spend:
        st.warning(f"No column is named like spend or cost ({roles.spend.reason}): **{chosen['spend']}** is only a "
                   "first pick. Choose the spend column under **Columns**.", icon=":material/help:")
    used = [c for r, c in chosen.items() if c is not None and r not in ("campaign", "channel")]
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        st.error(f"{', '.join(twice)} is picked for more than one role. Give each role its own column.")
        return None
    return chosen


def kpi_args(chosen: dict[str, str | None]) -> dict[str, Any]:
    return {"date": chosen["date"], "spend": chosen["spend"], **{r: chosen[r] for r in OPTIONAL}}


def group_options(chosen: dict[str, str | None]) -> dict[str, list[str]]:
    """Breakdown label -> columns (campaign, channel, both), for the columns the table has."""
    out: dict[str, list[str]] = {"All campaigns": []}
    camp, chan = chosen.get("campaign"), chosen.get("channel")
    if chan:
        out["Channel"] = [chan]
    if camp:
        out["Campaign"] = [camp]
    if camp and chan:
        out["Campaign and channel"] = [camp, chan]
    return out


# ------------------------------------------------------------------ sections
def cards(cmp: PeriodComparison) -> None:
    """One st.metric per KPI: value, change against the previous period (points for rates)."""
    st.caption(f"{cmp.start:%Y-%m-%d} to {cmp.end:%Y-%m-%d} ({plural(cmp.days, 'day')}) against the previous "
               f"{plural(cmp.days, 'day')}, {cmp.previous_start:%Y-%m-%d} to {cmp.previous_end:%Y-%m-%d}. "
               "Every rate is a ratio of sums over the period (CTR = all clicks / all impressions).")
    if cmp.previous_rows == 0:
        st.info("No rows in the previous period: changes are not shown.", icon=":material/info:")
    per_row = 4
    for i in range(0, len(cmp.cards), per_row):
        row = st.columns(per_row)
        for col, c in zip(row, cmp.cards[i:i + per_row]):
            info = KPI_INFO[c.kpi]
            if info.rate:
                delta = points(c.points) if pd.notna(c.points) else None
            else:
                delta = f"{c.change * 100:+.1f}%" if pd.notna(c.change) else None
            col.metric(info.label, card_value(c.value, info.format), delta,
                       delta_color="off" if c.kpi == "spend" else "normal" if info.higher_is_better else "inverse",
                       help=f"{info.meaning}. Previous period: {format_value(c.previous, info.format) or 'no data'}.",
                       border=True)


def card_value(value: float, kind: Format) -> str:
    """A card's value: whole amounts from 1,000 up (80,690 rather than 80,690.26), else the usual format."""
    if kind == "money" and pd.notna(value) and abs(value) >= 1000:
        return money(value, 0)
    return format_value(value, kind)


def trends(ws: Workspace, table: str, version: int, args: dict, groups: dict[str, list[str]], period: tuple) -> None:
    st.subheader("Over time")
    c1, c2, c3 = st.columns(3)
    freq = c1.radio("By", ["D", "W", "M"], index=1, format_func=lambda f: FREQ_NAMES[f], horizontal=True,
                    key="cmp-freq")
    shown = ["spend", *[r for r in OPTIONAL if args.get(r)], *defined_kpis(**{r: args[r] for r in OPTIONAL})]
    default = "roas" if "roas" in shown else "spend"
    kpi = c2.selectbox("KPI", shown, index=shown.index(default), key="cmp-trend-kpi",
                       format_func=lambda k: f"{KPI_INFO[k].label}: {KPI_INFO[k].meaning}")
    split = c3.selectbox("Lines for", list(groups), key="cmp-trend-by")
    by = groups[split]
    whole = c1.toggle("Whole history (not only the chosen period)", key="cmp-trend-whole")
    lo, hi = period
    frame = stored(("cmp-trend", db, table, version, freq, tuple(by), tuple(sorted(args.items())),
                    None if whole else (lo, hi)),
                   lambda: kpis(ws.table(table) if whole else between(ws.table(table), args["date"], lo, hi),
                                by=by or None, freq=freq, **args))
    if frame.empty:
        st.info("No rows in this period.")
        return
    sums = {r: args[r] for r in ("spend", *OPTIONAL) if args.get(r)}
    plot = frame.rename(columns={v: k for k, v in sums.items()})  # the figure reads sums by role
    st.plotly_chart(charts.trend_figure(plot, kpi, group=by, freq=freq), key="cmp-trend-chart")
    if freq != "D":
        st.caption(f"Each point is a {FREQ_LABELS[freq]}, dated by its first day; the first and last can hold fewer "
                   "days than a whole one (see the numbers behind the chart: rows).")
    numbers = lazy_expander("The numbers behind the chart", "cmp-x-trend")  # (a fixed label: it stays open)
    if numbers.open:
        with numbers:
            st.caption(f"{plural(len(frame), 'row')}.")
            fmt = {**formats(frame), **{v: KPI_INFO[k].format for k, v in sums.items()}}
            st.dataframe(for_people(shown_dates(frame), fmt, labels_for(frame, sums)), hide_index=True)
            download_buttons(lambda: frame, f"{table}_kpis_by_{FREQ_LABELS[freq].split()[0]}", key="cmp-dl-trend")


def per_campaign(ws: Workspace, table: str, version: int, args: dict, groups: dict[str, list[str]],
                 period: tuple) -> None:
    st.subheader("Per campaign")
    options = [g for g in groups if g != "All campaigns"]
    if not options:
        st.info("Pick the campaign or channel column under **Columns** to compare campaigns.")
        return
    default = "Campaign and channel" if "Campaign and channel" in options else options[0]
    split = st.selectbox("Rows for", options, index=options.index(default), key="cmp-table-by")
    by = groups[split]
    lo, hi = period
    totals = stored(("cmp-totals", db, table, version, tuple(by), tuple(sorted(args.items())), lo, hi),
                    lambda: kpis(between(ws.table(table), args["date"], lo, hi), by=by, freq="total", **args))
    if totals.empty:
        st.info("No rows in this period.")
        return
    sums = {r: args[r] for r in ("spend", *OPTIONAL) if args.get(r)}
    best = "roas" if args.get("revenue") else "cpa" if args.get("conversions") else "spend"
    c1, c2 = st.columns([2, 3])
    kpi = c1.selectbox("Compare on", [*sums, *defined_kpis(**{r: args[r] for r in OPTIONAL})],
                       index=[*sums, *defined_kpis(**{r: args[r] for r in OPTIONAL})].index(best),
                       format_func=lambda k: KPI_INFO[k].label, key="cmp-table-kpi")
    plot = totals.rename(columns={v: k for k, v in sums.items()})
    st.plotly_chart(charts.breakdown_figure(plot, kpi, by), key="cmp-breakdown-chart")
    display = totals.drop(columns=["period", "period_end"])
    fmt = {**formats(display), **{v: KPI_INFO[k].format for k, v in sums.items()}}
    st.dataframe(for_people(display.sort_values(sums["spend"], ascending=False), fmt, labels_for(display, sums)),
                 hide_index=True)
    download_buttons(lambda: totals, f"{table}_per_{'_'.join(by)}", key="cmp-dl-table")


def pacing_section(ws: Workspace, table: str, version: int, chosen: dict, groups: dict[str, list[str]],
                   period: tuple) -> None:
    st.subheader("Pacing against budget")
    lo, hi = period
    c1, c2, c3 = st.columns(3)
    budget_column = chosen.get("budget")
    source = c1.radio("Budget", (["From the budget column"] if budget_column else []) + ["Type it in"],
                      key=f"cmp-pace-source-{table}", horizontal=True)
    flight = c2.date_input("Flight (from, to)", (hi.replace(day=1), (pd.Timestamp(hi) + pd.offsets.MonthEnd(0)).date()),
                           key=f"cmp-pace-flight-{table}",
                           help="The dates the budget covers; by default the month of the chosen period's end.")
    tolerance = c3.slider("On track within", 0.0, 0.5, TOLERANCE, 0.05, key="cmp-pace-tol",
                          format="%.2f", help="0.10: a pace between 90% and 110% of plan is on track.")
    if not isinstance(flight, (tuple, list)) or len(flight) != 2:
        st.info("Pick the flight's last day too.")
        return
    lines = [c for c in (chosen.get("campaign"), chosen.get("channel")) if c]
    options = [g for g in groups if set(groups[g]) <= set(lines)] if lines else ["All campaigns"]
    split = st.selectbox("Pace for", options, index=len(options) - 1, key="cmp-pace-by")
    by = groups[split]
    if source == "Type it in":
        amount = st.number_input(f"Budget of the whole flight{' for each ' + split.lower() if by else ''}",
                                 min_value=0.0, value=0.0, step=1000.0, key=f"cmp-pace-amount-{table}")
        if amount <= 0:
            st.info("Type the flight's budget to see the pacing.")
            return
        budget: float | str = float(amount)
    else:
        budget = str(budget_column)
    as_of = min(flight[1], hi)
    try:
        result = stored(("cmp-pace", db, table, version, chosen["date"], chosen["spend"], budget, tuple(by),
                         tuple(lines), flight[0], flight[1], as_of, tolerance),
                        lambda: pacing(ws.table(table), date=chosen["date"], spend=chosen["spend"], budget=budget,
                                       by=by or None, budget_by=lines or None, start=flight[0], end=flight[1],
                                       as_of=as_of if as_of >= flight[0] else None, tolerance=tolerance))
    except DataError as e:
        st.error(str(e))
        return
    counts = result.counts()
    st.caption(f"Pace = spend to date / (budget x elapsed share of the flight), on {result.as_of:%Y-%m-%d}: "
               f"{counts['under']} under, {counts['on track']} on track, {counts['over']} over "
               f"(on track within ±{percent(result.tolerance, 0)}).")
    for note in result.notes:
        st.warning(note)
    st.plotly_chart(charts.pacing_figure(result), key="cmp-pace-chart")
    for line in result.table["explanation"]:
        st.markdown(f"- {line}")
    fmt: dict[str, Format] = {"budget": "money", "spend": "money", "expected_spend": "money", "projected_spend": "money",
                              "elapsed_share": "percent", "pace": "percent"}
    numbers = lazy_expander("Pacing table", "cmp-x-pace")
    if numbers.open:
        with numbers:
            st.dataframe(for_people(result.table.drop(columns="explanation"), fmt,
                                    {"expected_spend": "expected to date", "projected_spend": "at this pace",
                                     "elapsed_share": "flight gone"}), hide_index=True)
            download_buttons(lambda: result.table, f"{table}_pacing", key="cmp-dl-pace")


def anomaly_section(ws: Workspace, table: str, version: int, args: dict, groups: dict[str, list[str]],
                    period: tuple) -> None:
    st.subheader("Unusual days")
    c1, c2, c3 = st.columns(3)
    choices = ["spend", *[r for r in OPTIONAL if args.get(r)], *defined_kpis(**{r: args[r] for r in OPTIONAL})]
    default = [m for m in ("spend", "revenue", "conversions", "roas", "cpa") if m in choices][:4]
    metrics = c1.multiselect("Watch", choices, default=default, key="cmp-anom-metrics",
                             format_func=lambda k: KPI_INFO[k].label)
    split = c2.selectbox("For each", list(groups), key="cmp-anom-by")
    threshold = c3.slider("Flag beyond (robust deviations)", 2.0, 8.0, 3.5, 0.5, key="cmp-anom-threshold")
    if not metrics:
        st.info("Pick at least one KPI to watch.")
        return
    by = groups[split]
    result = stored(("cmp-anom", db, table, version, tuple(metrics), tuple(by), tuple(sorted(args.items())), threshold),
                    lambda: anomalies(ws.table(table), by=by or None, metrics=metrics, threshold=threshold, **args))
    lo, hi = (pd.Timestamp(d) for d in period)
    flags = result.flags[(result.flags["day"] >= lo) & (result.flags["day"] <= hi)]
    st.caption(result.rule() + f" Shown: days from {lo:%Y-%m-%d} to {hi:%Y-%m-%d}.")
    if flags.empty:
        st.success(f"No unusual day between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}.")
    else:
        st.warning(f"{plural(len(flags), 'unusual day-metric')} in the chosen period (largest first):",
                   icon=":material/warning:")
        top = flags.reindex(flags["deviation"].abs().sort_values(ascending=False).index)
        for line in top["explanation"].head(15):
            st.markdown(f"- {line}.")
        if len(top) > 15:
            st.caption(f"... and {plural(len(top) - 15, 'more')} in the table below.")
    first = flags.iloc[0] if not flags.empty else None
    metric = str(first["metric"]) if first is not None else metrics[0]
    group = [first[c] for c in by] if first is not None else []
    if by and not group:
        values = result.scores[list(by)].drop_duplicates()
        group = list(values.iloc[0]) if len(values) else []
    if not result.scores.empty:
        st.plotly_chart(charts.anomaly_figure(result, metric, group), key="cmp-anom-chart")
    numbers = lazy_expander("Flagged days (table)", "cmp-x-anom")
    if numbers.open:
        with numbers:
            st.dataframe(for_people(shown_dates(flags.drop(columns="explanation")), {"deviation": "number"}),
                         hide_index=True)
            download_buttons(lambda: flags, f"{table}_unusual_days", key="cmp-dl-anom")


def incremental_section(ws: Workspace, args: dict, spend_by: dict[str, float]) -> None:
    """Incremental revenue and iROAS from a test table; `spend_by`: label -> spend in the chosen period."""
    st.subheader("Incremental return from a test")
    st.caption("From a finished holdout or A/B test of a campaign: incremental revenue = (treated mean - control "
               "mean) x treated users; iROAS = incremental revenue / the campaign's spend, with the test's interval.")
    if not can(ws, "analyze"):
        role_note(ws, "analyze", "reading a test")
        return
    tables = ws.tables()
    default = tables.index("email_campaign") if "email_campaign" in tables else 0
    c1, c2, c3 = st.columns(3)
    test_table = c1.selectbox("Test table (one row per user)", tables, index=default, key="cmp-inc-table")
    info = ws.info(test_table)
    roles = stored(("roles", db, test_table, info.version), lambda: guess_roles(ws.table(test_table)))
    profile = cached_profile(db, test_table, info.version)
    columns = list(profile["column"])
    numeric = [c for c, t in zip(profile["column"], profile["type"])
               if any(k in str(t).upper() for k in ("INT", "DOUBLE", "DECIMAL", "FLOAT", "REAL"))]
    v_default = roles.variant.column if roles.variant.column in columns else columns[0]
    variant_col = c2.selectbox("Variant column", columns, index=columns.index(v_default),
                               key=f"cmp-inc-variant-{test_table}")
    money_like = [c for c in numeric if c != variant_col]
    if not money_like:
        st.error(f"'{test_table}' has no number column to measure revenue with.")
        return
    preferred = next((c for c in money_like if "revenue" in c.lower() or "sales" in c.lower()), money_like[0])
    metric = c3.selectbox("Revenue per user", money_like, index=money_like.index(preferred),
                          key=f"cmp-inc-metric-{test_table}")
    try:
        counts = stored(("variants", db, test_table, info.version, variant_col),
                        lambda: variant_counts(ws.table(test_table), variant_col))
        variants = [str(v) for v in counts.index]
        if len(variants) < 2:
            raise DataError(f"'{variant_col}' has {len(variants)} variant(s); a test needs a control and a treatment.")
        c4, c5, c6 = st.columns(3)
        control = c4.selectbox("Control (not shown the campaign)", variants,
                               index=variants.index(choose_control(variants)), key=f"cmp-inc-control-{test_table}")
        treated = [v for v in variants if v != control]
        variant = c5.selectbox("Treated variant", treated, key=f"cmp-inc-treated-{test_table}")
        words = {w for w in test_table.lower().replace("-", "_").split("_") if len(w) > 2}
        names = list(spend_by)
        guess = next((n for n in names if words & set(n.lower().replace("·", " ").split())), names[0])
        source = c6.selectbox("Spend of (in the chosen period)", names, index=names.index(guess),
                              key=f"cmp-inc-source-{test_table}",
                              help="The campaign the test measured; its spend in the dashboard's chosen period fills "
                                   "the spend below. Type the test's own spend there when you know it.")
        spend = st.number_input("Campaign spend on the treated users", min_value=0.0,
                                value=float(round(spend_by[source], 2)), step=100.0,
                                key=f"cmp-inc-spend-{test_table}-{source}")
        result = stored(("cmp-inc", db, test_table, info.version, variant_col, metric, control),
                        lambda: analyze(ws.table(test_table), variant_col, metric, control=control,
                                        metric_type="continuous"))
        inc = incremental_return(result, spend, metric=metric, variant=variant)
    except DataError as e:
        st.error(str(e))
        return
    m1, m2, m3 = st.columns(3)
    m1.metric("Incremental revenue", format_value(inc.incremental_revenue, "money"),
              help=f"{inc.confidence:.0%} interval {format_value(inc.incremental_low, 'money')} to "
                   f"{format_value(inc.incremental_high, 'money')}", border=True)
    m2.metric("iROAS", format_value(inc.iroas, "ratio"),
              help=f"{inc.confidence:.0%} interval {format_value(inc.iroas_low, 'ratio')} to "
                   f"{format_value(inc.iroas_high, 'ratio')}", border=True)
    m3.metric("Treated users", format_value(inc.treated_users, "integer"), border=True)
    (st.success if inc.significant else st.info)(inc.summary)
    st.plotly_chart(charts.incremental_figure(inc), key="cmp-inc-chart")
    download_buttons(lambda: inc.table(), f"{test_table}_incremental_return", key="cmp-dl-inc")


def spend_choices(ws: Workspace, table: str, version: int, args: dict, groups: dict[str, list[str]], period: tuple,
                  total: float) -> dict[str, float]:
    """'All campaigns (spend)' and each campaign line's spend in the chosen period, for the iROAS spend."""
    out = {f"All campaigns ({format_value(total, 'money')})": total}
    by = groups.get("Campaign and channel") or groups.get("Campaign") or groups.get("Channel") or []
    if by:
        lo, hi = period
        totals = stored(("cmp-totals", db, table, version, tuple(by), tuple(sorted(args.items())), lo, hi),
                        lambda: kpis(between(ws.table(table), args["date"], lo, hi), by=by, freq="total", **args))
        for _, r in totals.iterrows():
            spent = float(r[args["spend"]])
            out[f"{' · '.join(str(r[c]) for c in by)} ({format_value(spent, 'money')})"] = spent
    return out


# ------------------------------------------------------------------ the dashboard
def dashboard(ws: Workspace) -> str | None:
    """The KPI dashboard tab; returns the table it shows (for the model tab), or None."""
    tables = ws.tables()
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home** (it has `campaign_daily`) or "
                "upload a CSV with a date, spend and results per day on **Data**.")
        return None
    table = st.selectbox("Campaign table (one row per day, campaign and channel)", tables,
                         index=tables.index(default_table(tables)), key=TABLE_KEY)
    st.session_state[LAST_TABLE_KEY] = table  # for the model tab, and for the next visit of this page
    info = ws.info(table)
    roles = stored(("roles", db, table, info.version), lambda: guess_roles(ws.table(table)))
    chosen = pick_columns(table, info.version, roles)
    if chosen is None:
        return table
    args = kpi_args(chosen)
    cols = Columns(**args)
    try:
        check = stored(("cmp-check", db, table, info.version, tuple(sorted(args.items()))),
                       lambda: check_inputs(ws.table(table), cols))
        check.raise_for_negatives()
        whole = stored(("cmp-whole", db, table, info.version, tuple(sorted(args.items()))),
                       lambda: kpis(ws.table(table), freq="total", **args))
    except DataError as e:
        st.error(str(e))
        return table
    for note in check.problems():
        st.warning(note, icon=":material/warning:")
    if whole.empty:
        st.error(f"'{table}' has no rows with a date in '{args['date']}'. Pick the date column under **Columns**.")
        return table
    first, last = whole["period"].iloc[0].date(), whole["period_end"].iloc[0].date()
    start = max(first, last - dt.timedelta(days=27))
    period = st.date_input("Period", (start, last), min_value=first, max_value=last,
                           key=f"cmp-period-{table}-{info.version}",  # a replaced table may have other dates
                           help="KPI cards compare this period with the same number of days just before it.")
    if not isinstance(period, (tuple, list)) or len(period) != 2:
        st.info("Pick the last day of the period too.")
        return table
    lo, hi = period
    groups = group_options(chosen)
    try:
        cmp = stored(("cmp-cards", db, table, info.version, tuple(sorted(args.items())), lo, hi),
                     lambda: compare_periods(ws.table(table), start=lo, end=hi, **args))
        cards(cmp)
        # One chart per section, each in a lazy tab: the browser drew all five plotly charts on every
        # first render (2.9-3.5 s at load ~5; 1-1.9 s with no chart), now only the open one.
        sections = lazy_tabs(SECTIONS, SECTIONS_KEY, keep=SECTION_KEYS)
        with sections[OVER_TIME]:
            if sections[OVER_TIME].open:
                trends(ws, table, info.version, args, groups, (lo, hi))
        with sections[PER_CAMPAIGN]:
            if sections[PER_CAMPAIGN].open:
                per_campaign(ws, table, info.version, args, groups, (lo, hi))
        with sections[PACING]:
            if sections[PACING].open:
                pacing_section(ws, table, info.version, chosen, groups, (lo, hi))
        with sections[UNUSUAL]:
            if sections[UNUSUAL].open:
                anomaly_section(ws, table, info.version, args, groups, (lo, hi))
        with sections[INCREMENTAL]:
            if sections[INCREMENTAL].open:
                incremental_section(ws, args, spend_choices(ws, table, info.version, args, groups, (lo, hi),
                                                            cmp.card("spend").value))
    except DataError as e:
        st.error(str(e))
    return table


def default_table(tables: list[str]) -> str:
    """The table the dashboard starts with: the one picked last in this session, else `campaign_daily`."""
    last = st.session_state.get(LAST_TABLE_KEY)
    if last in tables:
        return str(last)
    return "campaign_daily" if "campaign_daily" in tables else tables[0]


def chosen_table(ws: Workspace) -> str | None:
    """The dashboard's table without drawing the dashboard (the model tab open): its picker's value,
    kept while the dashboard tab is closed, else the table the dashboard would start with."""
    tables = ws.tables()
    if not tables:
        return None
    picked = st.session_state.get(TABLE_KEY)
    return str(picked) if picked in tables else default_table(tables)


def main() -> None:
    # Lazy tabs: only the open tab runs (the dashboard alone draws about ten charts); the dashboard's
    # widgets ("cmp-...") and the model's ("mmm-...") keep their values while their tab is closed.
    tabs = lazy_tabs(TABS, TABS_KEY, keep={"Dashboard": ("cmp-",), "Marketing-mix model": ("mmm-",)})
    if tabs["Dashboard"].open:
        with tabs["Dashboard"]:
            dashboard(ws)
    elif tabs["Marketing-mix model"].open:
        with tabs["Marketing-mix model"]:
            render_mmm_tab(chosen_table(ws))


# MMM tab: wired by pages/campaigns_mmm.py
def render_mmm_tab(table: str | None) -> None:
    """The marketing-mix model tab (pages/campaigns_mmm.py)."""
    from pages.campaigns_mmm import render

    render(table)


main()
warm_up()  # the other pages' libraries imported in the background once the app is idle (pages.common.warm_up)
