"""Experiments: A/B and campaign tests with correct statistics, plain-language verdicts and planning."""

from __future__ import annotations

import json
from typing import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.columns import guess_roles
from core.errors import DataError
from core.experiments import (ExperimentResult, analyze, check_assignment, dedupe_users, analyze_summary, breakdown, choose_control, combine,
                              detectable_effect, duration_days, sample_size, timeline)
from core.experiments import charts
from core.experiments.assignment import AssignmentCheck, equal_split, parse_split, split_text
from core.experiments.data import check_levels, read_summary_csv, variant_counts, with_segments
from core.formatting import for_people, p_value
from core.data.export import frame_to_bytes
from core.data.workspace import Workspace
from core.wording import plural
from pages.common import (can, cached_distinct, kept_editor, lazy_tabs, page_start, remember, result_store, role_note,
                          stored, warm_up)

CORRECTIONS = {"Holm (default)": "holm", "Bonferroni": "bonferroni", "Benjamini-Hochberg (false discovery rate)": "bh",
               "None": "none"}
CHANCE_NOTE = ("**Chance to beat control** is the probability, given these data, that the variant's true effect is "
               "better than control's (conversions: each arm's rate has a Beta posterior from a uniform prior; averages: "
               "the difference has a Gaussian posterior). It is not 1 − p: a p-value is how surprising the data would be "
               "if there were no difference. **Expected loss** is how much you give up on average, as a share of the "
               "control's value, if you ship the variant and it is in fact worse.")

RESULTS, TIME, SEGMENTS, PLAN = "Results", "Over time", "By segment", "Planning"
TABS_KEY = "tabs-experiments"  # st.session_state[TABS_KEY] = TIME opens that tab
SETUP_KEY = "exp-test"  # the test picked on the Results tab (table, variant, metrics, options), for the others

ws = page_start("Experiments",
                "Read A/B and campaign tests correctly: lifts with intervals, corrected p-values, sample split "
                "checks, CUPED, safe peeking, and a verdict in plain words.")
db = str(ws.path)

analyst = can(ws, "analyze")
if analyst:
    source = st.radio("Data", ["Per-user table from the workspace", "Totals per variant (typed in or uploaded)"],
                      horizontal=True, key="exp-source")
    # Lazy tabs: only the open tab runs; each tab's widgets keep their values while it is closed (a key
    # belongs to the tab of its longest prefix: "exp-date-..." to Over time, other "exp-..." to Results).
    tabs = lazy_tabs([RESULTS, TIME, SEGMENTS, PLAN], TABS_KEY,
                     keep={RESULTS: ("exp-",), TIME: ("exp-date-", "exp-time-"), SEGMENTS: ("exp-by-",),
                           PLAN: ("plan-",)})
else:
    role_note(ws, "analyze", "analysing a test")
    source = ""
    tabs = lazy_tabs([PLAN], TABS_KEY)


def options_form(variants: list[str], key: str) -> dict:
    """Shared options: control, alpha, correction, sequential (the planned split sits next to the variants)."""
    with st.expander("Test options: control, confidence, correction, safe peeking"):
        c1, c2, c3 = st.columns(3)
        control = c1.selectbox("Control", variants, index=variants.index(choose_control(variants)), key=f"{key}-control")
        confidence = c2.select_slider("Confidence level", [0.8, 0.9, 0.95, 0.99], value=0.95, key=f"{key}-confidence",
                                      format_func=lambda v: f"{v:.0%}")
        correction = c3.selectbox("Multiple-comparison correction", list(CORRECTIONS), key=f"{key}-correction")
        c4, c5 = st.columns(2)
        sequential = c4.toggle("Sequential mode: safe to look at results every day", key=f"{key}-sequential")
        tuning = c5.number_input("Expected total users at the end of the test (sequential tuning)", 100, 10**9, 5000,
                                 step=1000, key=f"{key}-tuning", disabled=not sequential)
    return {"control": control, "alpha": round(1 - confidence, 4), "correction": CORRECTIONS[correction],
            "sequential_tuning": float(tuning) if sequential else None}


def p_text(p: float) -> str:
    """ "p < 0.001" or "p = 0.003" (core.formatting's p-value with its sign)."""
    shown = p_value(p)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def planned_split(container: object, variants: list[str], key: str) -> list[float] | None:
    """The planned split, typed next to the variant picker (equal by default); None after showing a bad entry."""
    text = container.text_input(  # type: ignore[attr-defined]
        f"Planned split ({' / '.join(variants)})", equal_split(variants), key=f"{key}-split-{'|'.join(variants)}",
        help="The share of users each variant was meant to get, in this order: 50/50, 96/4, 1/1/1, or by name "
             f"({variants[0]}=96, ...). The sample ratio mismatch check compares the users per variant with it.")
    try:
        return parse_split(text, variants)
    except DataError as e:
        st.error(str(e))
        return None


def assignment_message(check: AssignmentCheck, user: str, cleaning: object = None) -> None:
    """The one-row-per-user check, shown next to the sample ratio check."""
    if cleaning is not None:
        st.success(cleaning.message(), icon=":material/cleaning_services:")  # type: ignore[attr-defined]
    elif check.ok:
        st.success(check.message(user), icon=":material/check_circle:")
    else:
        st.warning(check.message(user) + " Choose a cleaning under **Repeated users** above.", icon=":material/group:")


def show_result(res: ExperimentResult, title: str, figures_extra: Callable[[], list] | None = None,
                user: str | None = None) -> None:
    """SRM and one-row-per-user checks, summary, forest plot, table, Bayesian view and downloads."""
    counts = res.counts
    planned = split_text(res.expected_weights) if res.expected_weights else "equal"
    srm_box, user_box = st.columns(2) if res.assignment is not None else (st.container(), None)
    with srm_box:
        if not res.srm_ok:
            st.error(f"**Sample ratio mismatch ({p_text(res.srm_p_value)}).** The users per variant ({', '.join(f'{k}: {int(v):,}' for k, v in counts.items())}) do not "
                     f"match the planned split ({planned}). That almost always means broken assignment or tracking (a "
                     "variant that crashes, bots, a redirect that loses users), so the lifts below are not trustworthy "
                     "until the cause is found. If the split was planned unequal (for example 96/4), type it in "
                     "**Planned split** under the variant column.", icon=":material/report:")
        else:
            st.success(f"Sample split looks healthy against the planned {planned} (sample ratio mismatch check "
                       f"{p_text(res.srm_p_value)}; {', '.join(f'{k}: {int(v):,}' for k, v in counts.items())}).",
                       icon=":material/check_circle:")
    if user_box is not None and res.assignment is not None:
        with user_box:
            assignment_message(res.assignment, user or "user", res.cleaning)
    st.markdown("**Summary**")
    st.info(res.summary_text)
    with st.expander("Copy the summary"):
        st.code(res.summary_text, language=None, wrap_lines=True)
    for w in res.warnings:
        st.warning(w)
    for metric, reduction in res.cuped.items():
        if reduction >= 0.02:
            st.caption(f"CUPED on '{metric}': variance reduced by {reduction:.0%} (narrower intervals, same expected lift).")
        else:
            st.caption(f"CUPED on '{metric}': variance reduced by {reduction:.1%}; the covariate barely predicts this metric.")
    if res.sequential:
        st.caption("Sequential mode: intervals are confidence sequences, valid at every look; they are wider than "
                   "fixed-horizon intervals early on.")
    fig = charts.forest_figure(res.table, res.alpha)
    st.plotly_chart(fig, key=f"{title}-forest")
    st.dataframe(charts.results_for_people(res.table, res.correction, res.alpha), hide_index=True)
    disagree = res.table[(res.table["significant"]) & (res.table["rel_ci_low"] < 0) & (res.table["rel_ci_high"] > 0)]
    if not disagree.empty:
        st.caption("For " + ", ".join(disagree["variant"]) + " the relative (lift) interval includes 0 although the test "
                   "is significant: the control has few conversions (or a small mean), so the lift, which divides by "
                   "it, is very uncertain. Read the **difference** and its interval instead.")
    st.caption(CHANCE_NOTE)
    c1, c2 = st.columns(2)
    c1.download_button("Download results (CSV)", data=lambda: frame_to_bytes(res.table, "csv"),
                       file_name=f"{title}_results.csv", mime="text/csv", key=f"{title}-csv", on_click="ignore",
                       icon=":material/download:", width="stretch")
    c2.download_button("Download report (HTML)", key=f"{title}-html", on_click="ignore", icon=":material/description:",
                       data=lambda: charts.html_report(f"Experiment read-out: {title}", res.summary_text, res.table,
                                                       [fig] + (figures_extra() if figures_extra else []),
                                                       [f"Control: {res.control}. Correction: {res.correction}. "
                                                        f"Planned split {planned}; sample ratio mismatch "
                                                        f"{p_text(res.srm_p_value)}."],
                                                       correction=res.correction, alpha=res.alpha),
                       file_name=f"{title}_report.html", mime="text/html", width="stretch")


# ------------------------------------------------------------------ per-user table
def per_user_setup(ws: Workspace, tables: list[str]) -> dict | None:
    """The test as picked with the Results tab's widgets (table, variant, metrics, options), or None
    after saying what is missing. The other tabs read it from session state (SETUP_KEY)."""
    default = tables.index("email_campaign") if "email_campaign" in tables else 0
    table = st.selectbox("Per-user table (one row per user)", tables, index=default, key="exp-table")
    info = ws.info(table)
    profile = cached_distinct(db, table, info.version)  # (not the full profile: 1 query, not 3+)
    types = dict(zip(profile["column"], profile["type"]))
    distinct = dict(zip(profile["column"], profile["distinct"]))
    columns = list(types)
    numeric = [c for c in columns if any(k in types[c].upper() for k in ("INT", "DOUBLE", "DECIMAL", "FLOAT", "BOOL"))]
    dates = [c for c in columns if "DATE" in types[c].upper() or "TIMESTAMP" in types[c].upper()]
    roles = stored(("roles", db, table, info.version), lambda: guess_roles(ws.table(table)))
    small = [c for c in roles.breakdowns if c in distinct]
    dates.sort(key=lambda c: c != roles.date.column)  # the guessed date first
    c1, c2 = st.columns(2)
    v_default = roles.variant.column or next((c for c in columns if 2 <= (distinct.get(c) or 0) <= 20), columns[0])
    variant = c1.selectbox("Variant column", columns, key=f"exp-variant-{table}", index=columns.index(v_default),
                           help=f"Suggested: {v_default} ({roles.variant.reason})." if roles.variant else
                           f"Nothing is named like a variant ({roles.variant.reason}): pick the column "
                           "that says which version each user saw.")
    if not roles.variant.column:  # say so rather than silently analyse a stand-in column
        c1.warning(f"No column looks like the variant: {roles.variant.reason}. **{variant}** is only a first "
                   "pick: choose the column that says which version each user saw.", icon=":material/help:")
    metric_defaults = [c for c in roles.outcomes if c in numeric][:3]
    metrics = c2.multiselect("Metrics", numeric, default=metric_defaults, key=f"exp-metrics-{table}")
    c3, c4, c5 = st.columns(3)
    mtype = c3.selectbox("Metric type", ["auto", "binary", "continuous"], key="exp-mtype",
                         help="auto: 0/1 columns are conversions (binary), anything else continuous.")
    cov_options = ["(none)"] + numeric
    cov_guess = roles.covariate.column if roles.covariate.column in numeric else "(none)"
    covariate = c4.selectbox("Pre-period covariate (CUPED)", cov_options, index=cov_options.index(cov_guess),
                             key=f"exp-cov-{table}")
    winsor = c5.select_slider("Winsorise continuous metrics at", ["off", 0.95, 0.99, 0.995, 0.999], value="off",
                              key="exp-winsor", format_func=lambda v: v if v == "off" else f"{v:.1%} percentile")
    with st.expander("Ratio metric (e.g. revenue per order = sum of revenue / sum of orders)"):
        r1, r2 = st.columns(2)
        numerator = r1.selectbox("Numerator", ["(none)"] + numeric, key=f"exp-num-{table}")
        denominator = r2.selectbox("Denominator", ["(none)"] + numeric, key=f"exp-den-{table}")
    try:
        counts = stored(("variants", db, table, info.version, variant),
                        lambda: variant_counts(ws.table(table), variant))
        check_levels(counts, variant)  # the core's own message for 1 level (and variant_counts' for > 20)
        variants = [str(v) for v in counts.index]
    except DataError as e:
        st.error(str(e))
        return None
    weights = planned_split(c1, variants, f"exp-{table}-v{info.version}")
    if weights is None:
        return None
    u1, u2 = st.columns(2)
    user_options = ["(none)"] + [c for c in columns if c != variant]
    user_default = roles.id.column if roles.id.column in user_options else "(none)"
    user_col = u1.selectbox("User id column (checks one row per user)", user_options,
                            index=user_options.index(user_default), key=f"exp-user-{table}",
                            help="Each user should appear once, in one variant. Repeated users are counted twice "
                                 "and users in both arms blur the difference.")
    user = None if user_col == "(none)" else user_col
    time_col = dates[0] if dates else None
    first_label = (f"first exposure per user (earliest {time_col})" if time_col
                   else "first exposure per user (first row in the table)")
    cleanings = {"keep every row": None, first_label: "first", "drop users seen in several variants": "drop_multi"}
    check = None
    if user:
        try:
            check = stored(("assignment", db, table, info.version, variant, user),
                           lambda: check_assignment(ws.table(table), variant, user))
        except DataError as e:
            st.error(str(e))
            return None
    cleaning_label = u2.radio("Repeated users", list(cleanings), key=f"exp-dedupe-{table}", horizontal=True,
                              disabled=user is None or (check is not None and check.ok),
                              help="First exposure: each user's earliest row decides the variant and the outcome. "
                                   "Drop: users seen in more than one variant are left out entirely.")
    dedupe = cleanings[cleaning_label] if user and check is not None and not check.ok else None
    opts = options_form(variants, "exp")
    opts["weights"] = dict(zip(variants, weights))
    settings = {"table": table, "version": info.version, "variant": variant, "metrics": metrics, "mtype": mtype,
                "user": user, "dedupe": dedupe, "time": time_col if dedupe == "first" else None,
                "covariate": None if covariate == "(none)" else covariate,
                "winsorize": None if winsor == "off" else float(winsor),
                "numerator": None if numerator == "(none)" else numerator,
                "denominator": None if denominator == "(none)" else denominator, **opts}
    if not metrics and not (settings["numerator"] and settings["denominator"]):
        st.info("Pick at least one metric.")
        return None
    return {"table": table, "version": info.version, "variant": variant, "metrics": metrics, "mtype": mtype,
            "user": user, "dedupe": dedupe, "check": check, "opts": opts, "settings": settings, "types": types,
            "distinct": distinct, "numeric": numeric, "dates": dates, "small": small}


def analysis(ws: Workspace, test: dict) -> ExperimentResult | None:
    """The read-out of the test picked on the Results tab, kept per table version and settings."""
    settings, opts, table = test["settings"], test["opts"], test["table"]
    key = ("experiment", db, json.dumps(settings, sort_keys=True, default=str))
    res = result_store().get(key)
    if res is not None:
        return res
    try:
        with st.spinner("Aggregating per variant in the database ..."):
            parts = []
            common = dict(control=opts["control"], alpha=opts["alpha"], correction=opts["correction"],
                          sequential_tuning=opts["sequential_tuning"], weights=opts["weights"], user=test["user"],
                          dedupe=test["dedupe"], time=settings["time"])
            if test["metrics"]:
                parts.append(analyze(ws.table(table), test["variant"], test["metrics"], metric_type=test["mtype"],
                                     covariate=settings["covariate"], winsorize=settings["winsorize"], **common))
            if settings["numerator"] and settings["denominator"]:
                parts.append(analyze(ws.table(table), test["variant"], settings["numerator"], metric_type="ratio",
                                     denominator=settings["denominator"], **common))
            res = parts[0] if len(parts) == 1 else combine(parts, alpha=opts["alpha"], correction=opts["correction"])
        remember(key, res)
    except DataError as e:
        st.error(str(e))
        return None
    return res


def analysed(ws: Workspace, test: dict) -> object:
    """The table as analysed: with the chosen cleaning of repeated users (a lazy query in the database)."""
    if not test["dedupe"] or not test["user"]:
        return ws.table(test["table"])
    return dedupe_users(ws.table(test["table"]), test["variant"], test["user"], test["dedupe"],
                        time=test["settings"]["time"], check=test["check"])[0]


def over_time(ws: Workspace, test: dict, metric: str, date: str) -> pd.DataFrame:
    """Cumulative read-out by day, kept per table version and settings (charts and report share it)."""
    opts, mtype = test["opts"], test["mtype"]
    return stored(("timeline", db, test["table"], test["version"], test["variant"], metric, date, mtype,
                   opts["control"], opts["alpha"], opts["sequential_tuning"], test["user"], test["dedupe"]),
                  lambda: timeline(analysed(ws, test), test["variant"], metric, date, control=opts["control"],
                                   alpha=opts["alpha"], sequential_tuning=opts["sequential_tuning"],
                                   metric_type=mtype))


def results_tab(ws: Workspace, tables: list[str]) -> None:
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home** (it has `email_campaign`).")
        return
    test = per_user_setup(ws, tables)
    st.session_state[SETUP_KEY] = test  # what the Over time and By segment tabs read
    if test is None:
        return
    res = analysis(ws, test)
    if res is None:
        return
    dates, metrics = test["dates"], test["metrics"]

    def report_figures() -> list:
        """Over-time charts of the first metric for the report (built only when it is downloaded)."""
        if not dates or not metrics:
            return []
        try:
            tl = over_time(ws, test, metrics[0], dates[0])
        except DataError:
            return []
        return list(charts.timeline_figures(tl, metrics[0], test["opts"]["control"]))

    show_result(res, test["table"], report_figures, user=test["user"])


def is_binary(res: ExperimentResult | None, test: dict, metric: str) -> bool:
    binary = set(res.table.loc[res.table["metric_type"] == "binary", "metric"]) if res is not None else set()
    return metric in binary or (metric in test["numeric"] and (test["distinct"].get(metric) or 0) <= 2)


def time_tab(ws: Workspace, test: dict) -> None:
    table, dates, metrics = test["table"], test["dates"], test["metrics"]
    if not dates:
        st.info(f"`{table}` has no date column: add the exposure date per user to see results over time.")
        return
    c1, c2 = st.columns(2)
    date = c1.selectbox("Exposure date", dates, key=f"exp-date-{table}")
    metric = c2.selectbox("Metric", metrics or test["numeric"], key=f"exp-time-metric-{table}")
    try:
        tl = over_time(ws, test, metric, date)
        per_arm, lift = charts.timeline_figures(tl, metric, test["opts"]["control"])
        st.plotly_chart(per_arm, key="exp-time-arms")
        st.plotly_chart(lift, key="exp-time-lift")
        st.caption("Early days swing: a lift that shrinks over time often is a novelty effect. Without "
                   "sequential mode, stopping the first day the interval clears 0 inflates false positives.")
        with st.expander("Numbers behind the charts"):
            st.dataframe(charts.timeline_for_people(tl, is_binary(analysis(ws, test), test, metric)),
                         hide_index=True)
    except DataError as e:
        st.error(str(e))


def segments_tab(ws: Workspace, test: dict, tables: list[str]) -> None:
    table, variant, metrics, types, opts = test["table"], test["variant"], test["metrics"], test["types"], test["opts"]
    # attributes of the table itself, plus saved segments that share an id column with it
    sources: dict[str, tuple[str | None, str | None, str]] = {c: (None, None, c) for c in test["small"]
                                                              if c != variant}
    for seg_table in (t for t in tables if t.endswith("_segments") and t != table):
        seg_cols = ws.columns(seg_table)
        shared = [c for c in seg_cols if c in types and c.lower().endswith("id")]
        for col in ("segment_name", "rfm_segment"):
            if shared and col in seg_cols:
                sources[f"{col} from {seg_table} (joined on {shared[0]})"] = (seg_table, shared[0], col)
    if not sources:
        st.info("No attribute with 2 to 30 levels (such as device, channel or segment) to break results down "
                "by; saved segments (Segments page) are offered here when they share an id column with the test.")
        return
    c1, c2 = st.columns(2)
    label = c1.selectbox("Break down by", list(sources), key=f"exp-by-{table}")
    metric = c2.selectbox("Metric", metrics or test["numeric"], key=f"exp-by-metric-{table}")
    seg_table, key_col, by = sources[label]
    try:
        base = analysed(ws, test)
        data = base if seg_table is None else with_segments(base, ws.table(seg_table), key_col)
        bd = stored(("breakdown", db, table, test["version"], variant, metric, label, opts["control"], opts["alpha"],
                     ws.version(seg_table) if seg_table else None, test["user"], test["dedupe"]),
                    lambda: breakdown(data, variant, metric, by, control=opts["control"], alpha=opts["alpha"]))
        st.warning(f"Looking at {bd['level'].nunique()} levels x {bd['variant'].nunique()} variants means "
                   f"{len(bd)} extra comparisons: at a 5% level about {len(bd) * 0.05:.1f} of them can look "
                   "significant by chance. Treat differences between segments as ideas to test, not results.",
                   icon=":material/warning:")
        st.plotly_chart(charts.breakdown_figure(bd, by), key="exp-breakdown")
        st.dataframe(charts.breakdown_for_people(bd, by, is_binary(analysis(ws, test), test, metric), opts["alpha"]),
                     hide_index=True)
    except DataError as e:
        st.error(str(e))


def per_user(ws: Workspace) -> None:
    """The per-user read-out: only the open tab runs; Over time and By segment use the Results tab's test."""
    tables = ws.tables()
    if tabs[RESULTS].open:
        with tabs[RESULTS]:
            results_tab(ws, tables)
        return
    name = TIME if tabs[TIME].open else SEGMENTS if tabs[SEGMENTS].open else None
    if name is None:
        return
    with tabs[name]:
        test = st.session_state.get(SETUP_KEY)
        if not tables or test is None or not ws.exists(test["table"]) or ws.version(test["table"]) != test["version"]:
            st.info("Pick the test on the **Results** tab first: the table, the variant column and the metrics.")
            return
        if name == TIME:
            time_tab(ws, test)
        else:
            segments_tab(ws, test, tables)


# ------------------------------------------------------------------ summary input
def summary_input(ws: Workspace) -> None:
    if tabs[TIME].open:
        with tabs[TIME]:
            st.info("Results over time need a per-user table with an exposure date.")
    if tabs[SEGMENTS].open:
        with tabs[SEGMENTS]:
            st.info("Breakdowns need a per-user table with attributes such as device or segment.")
    if not tabs[RESULTS].open:
        return
    with tabs[RESULTS]:
        kind = st.radio("Metric", ["Conversions (users and conversions)", "Mean and standard deviation per user"],
                        horizontal=True, key="exp-sum-kind")
        up = st.file_uploader("Upload a summary CSV (optional)", type=["csv"], key="exp-sum-upload",
                              help="Columns: variant, n, and conversions, or mean and std, or sum and sum_sq.")
        if up is not None:
            try:
                path = ws.spill_upload(up)
                try:
                    base = read_summary_csv(str(path))
                finally:
                    path.unlink(missing_ok=True)
            except DataError as e:
                st.error(str(e))
                return
        elif kind.startswith("Conversions"):
            base = pd.DataFrame({"variant": ["control", "variant_b"], "n": [10000, 10000], "conversions": [500, 560]})
        else:
            base = pd.DataFrame({"variant": ["control", "variant_b"], "n": [5000, 5000], "mean": [24.0, 25.1],
                                 "std": [30.0, 31.0]})
        summary = kept_editor(base, f"exp-sum-{kind[:4]}-{up.file_id if up else ''}", num_rows="dynamic",
                              hide_index=True)  # the edits survive a visit to another tab
        summary = summary.dropna(subset=["variant"])
        variants = sorted(summary["variant"].astype(str))
        if len(variants) < 2:
            st.info("Enter a control and at least one variant.")
            return
        metric = st.text_input("Metric name (for the summary text)", "conversion" if "conversions" in summary else "revenue per user",
                               key=f"exp-sum-metric-{kind[:4]}")
        weights = planned_split(st, variants, "exp-sum")
        if weights is None:
            return
        opts = options_form(variants, "exp-sum")
        try:
            res = analyze_summary(summary, control=opts["control"], alpha=opts["alpha"], correction=opts["correction"],
                                  sequential_tuning=opts["sequential_tuning"], metric=metric,
                                  weights=dict(zip(variants, weights)))
        except DataError as e:
            st.error(str(e))
            return
        show_result(res, "summary")


if not analyst:
    pass
elif source.startswith("Per-user"):
    per_user(ws)
else:
    summary_input(ws)


# ------------------------------------------------------------------ planning
def planning() -> None:
    st.subheader("How many users do I need?")
    c1, c2, c3 = st.columns(3)
    kind = c1.radio("Metric", ["Conversion rate", "Average per user (e.g. revenue)"], key="plan-kind")
    if kind == "Conversion rate":
        baseline = c2.number_input("Baseline conversion rate (%)", 0.01, 99.0, 5.0, 0.5, key="plan-base") / 100
        std = None
    else:
        baseline = c2.number_input("Baseline mean per user", 0.0001, 1e9, 25.0, key="plan-mean")
        std = c2.number_input("Standard deviation per user", 0.0001, 1e9, 40.0, key="plan-std")
    relative = c3.radio("Effect as", ["relative (%)", "absolute"], horizontal=True, key="plan-rel") == "relative (%)"
    unit = " (%)" if relative else (" (percentage points)" if std is None else " (per user)")
    mde = c3.number_input("Minimum detectable effect" + unit, 0.0001, 1e9,
                          10.0 if relative else (0.5 if std is None else 2.0), key=f"plan-mde-{relative}-{std is None}")
    c4, c5, c6, c7 = st.columns(4)
    alpha = c4.select_slider("Significance level", [0.01, 0.05, 0.1], value=0.05, key="plan-alpha")
    power = c5.select_slider("Power", [0.7, 0.8, 0.9, 0.95], value=0.8, key="plan-power")
    arms = c6.number_input("Arms (control + variants)", 2, 20, 2, key="plan-arms")
    daily = c7.number_input("Users entering the test per day", 1, 10**9, 2000, key="plan-daily")
    try:
        effect = mde / 100 if (relative or std is None) else mde
        n = sample_size(baseline, effect, relative=relative, alpha=alpha, power=power, std=std, arms=int(arms))
        days = duration_days(n, int(arms), daily)
        m1, m2, m3 = st.columns(3)
        m1.metric("Users per arm", f"{n:,}")
        m2.metric("Users in total", f"{n * int(arms):,}")
        m3.metric("Days at this traffic", f"{days:,}")
        st.caption("Two-sided test; with more than two arms the significance level is split across the comparisons "
                   "with control (Bonferroni).")
        st.subheader("What can I detect with my traffic?")
        weeks = st.slider("Test length (weeks)", 1, 12, 2, key="plan-weeks")
        per_arm = daily * 7 * weeks / int(arms)
        detect = detectable_effect(baseline, per_arm, relative=True, alpha=alpha, power=power, std=std, arms=int(arms))
        st.markdown(f"With {per_arm:,.0f} users per arm ({plural(weeks, 'week')}), the smallest lift you can reliably detect is "
                    f"**{detect:.1%}** relative ({baseline * detect:.4g} absolute).")
        grid = pd.DataFrame({"weeks": range(1, 13)})
        grid["users_per_arm"] = (daily * 7 * grid["weeks"] / int(arms)).round()
        grid["detectable_lift_pct"] = [100 * detectable_effect(baseline, u, relative=True, alpha=alpha, power=power,
                                                               std=std, arms=int(arms)) for u in grid["users_per_arm"]]
        fig = go.Figure(go.Scatter(x=grid["weeks"], y=grid["detectable_lift_pct"], mode="lines+markers"))
        fig.update_layout(height=320, title=dict(text="Detectable lift by test length", x=0, xanchor="left"),
                          xaxis_title="test length (weeks)", yaxis_title="smallest detectable relative lift (%)")
        st.plotly_chart(charts.readable(fig), key="plan-chart")
        st.dataframe(for_people(grid.assign(detectable=grid["detectable_lift_pct"] / 100)[["weeks", "users_per_arm", "detectable"]],
                                {"weeks": "integer", "users_per_arm": "integer", "detectable": "percent"},
                                {"weeks": "test length (weeks)", "users_per_arm": "users per arm",
                                 "detectable": "smallest detectable lift"}), hide_index=True)
    except DataError as e:
        st.error(str(e))


if tabs[PLAN].open:
    with tabs[PLAN]:
        planning()

warm_up()  # SciPy and statsmodels imported in the background for the Experiments page (pages.common.warm_up)
