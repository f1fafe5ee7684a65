"""Campaigns page, Marketing-mix model tab: return per channel with intervals, response curves and a
budget allocator, fitted as a background job. Logic: core.campaigns.mmm (the model), mmm_job (input,
checks, the job), mmm_charts (figures), report (tables for people, the HTML report)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core.campaigns import mmm_charts
from core.campaigns.mmm import MAX_CHANNELS, MIN_CHANNELS, MMMResult
from core.campaigns.mmm_job import (EFFORT_LABELS, LAYOUT_LABELS, ModelSettings, check, fit_job, guess_columns,
                                    model_input, target_kind)
from core.campaigns.report import (change_line, fit_judgement, mmm_report, params_table, plan_table, roas_table,
                                   signed_percent)
from core.columns import guess_roles
from core.data.workspace import Workspace
from core.errors import DataError
from core.formatting import for_people, format_value, percent
from core.wording import plural
from pages.common import (can, cached_profile, download_buttons, job_runner, kept_editor, remember, result_store,
                          role_note, session_workspace, settings_of_last_run, stored)
from pages.jobs_panel import job_result

KIND = "mmm"
STATE = "mmm-settings"  # the settings of the last click of "Fit the model" (pages.common.settings_of_last_run)
BUTTON = "Fit the model"
NUMERIC = ("INT", "DOUBLE", "DECIMAL", "FLOAT", "REAL", "NUMERIC")


# ------------------------------------------------------------------ widgets that survive leaving the page
def _kept(key: str, default: Any) -> Any:
    """A widget's last value in this session (Streamlit forgets widget values when the page is left)."""
    return st.session_state.get(f"keep:{key}", default)


def _keep(key: str, value: Any) -> Any:
    st.session_state[f"keep:{key}"] = value
    return value


def _index(options: list, value: Any, fallback: int = 0) -> int:
    return options.index(value) if value in options else fallback


def resume(ws: Workspace, table: str, version: int) -> None:
    """A new session (a reload): take the settings of the user's newest model job on this table
    version, so the running job or its result shows again with the widgets as they were."""
    if STATE in st.session_state:
        return
    last = next((j for j in job_runner().jobs(ws.user, kind=KIND) if j.table == table), None)
    if last is None or last.settings.get("table_version") != version:
        return
    ran = {k: v for k, v in last.settings.items() if k != "table_version"}
    st.session_state[STATE] = {"table": table, "version": version, **ran}
    s = ModelSettings.from_dict(ran)
    for name, value in (("layout", s.layout), ("date", s.date), ("target", s.target), ("kind", s.kind),
                        ("channel", s.channel_column), ("spend", s.spend_column), ("freq", s.freq),
                        ("channels", list(s.channels)), ("controls", list(s.controls)),
                        ("holdout", s.holdout or 0), ("effort", s.effort)):
        _keep(f"{name}-{table}", value)


# ------------------------------------------------------------------ settings
def column_kinds(table: str, version: int, ws: Workspace) -> tuple[list[str], list[str], list[str], list[str], Any]:
    """(columns, numeric, dates, labels, roles) of a table, from its cached profile."""
    db = str(ws.path)
    profile = cached_profile(db, table, version)
    types = dict(zip(profile["column"], profile["type"].astype(str)))
    columns = list(types)
    roles = stored(("roles", db, table, version), lambda: guess_roles(ws.table(table)))
    numeric = [c for c in columns if any(k in types[c].upper() for k in NUMERIC)]
    dates = [c for c in columns if "DATE" in types[c].upper() or "TIMESTAMP" in types[c].upper()]
    if roles.date.column in columns and roles.date.column not in dates:  # dates kept as text
        dates.append(str(roles.date.column))
    labels = [c for c in columns if c not in numeric and c not in dates]
    return columns, numeric, dates, labels, roles


def settings_form(ws: Workspace, table: str, version: int) -> tuple[ModelSettings, pd.DataFrame] | None:
    """The model's columns (guessed, editable) and options, and the input they give; None after
    saying what is missing or wrong."""
    db = str(ws.path)
    columns, numeric, dates, labels, roles = column_kinds(table, version, ws)
    if not dates:
        st.warning(f"'{table}' has no date column: the model needs a date per row (a week or a day). Fix the "
                   "column's type on the Data page or pick another table on the Dashboard tab.", icon=":material/event:")
        return None
    if len(numeric) < 2:
        st.warning(f"'{table}' has fewer than two number columns: the model needs spend and a target (revenue or "
                   "conversions).", icon=":material/warning:")
        return None
    guess = guess_columns(columns, numeric, dates, labels, roles=roles)
    t = table
    # a wide table's spend columns are a guess from names: show them; a long table's guess is listed below
    with st.expander("Columns: what the model reads (guessed from the names; change any)",
                     expanded=guess.layout == "wide"):
        st.caption(" ".join(guess.reasons))
        layouts = ["long", "wide"] if labels else ["wide"]
        layout = _keep(f"layout-{t}", st.radio(
            "Table layout", layouts, index=_index(layouts, _kept(f"layout-{t}", guess.layout)),
            format_func=lambda v: LAYOUT_LABELS[v], key=f"mmm-layout-{t}"))
        c1, c2, c3 = st.columns(3)
        date = _keep(f"date-{t}", c1.selectbox("Date", dates, index=_index(dates, _kept(f"date-{t}", guess.date)),
                                               key=f"mmm-date-{t}"))
        target = _keep(f"target-{t}", c2.selectbox(
            "Target: what the channels bring", numeric, key=f"mmm-target-{t}",
            index=_index(numeric, _kept(f"target-{t}", guess.target), len(numeric) - 1),
            help="Revenue (money) or conversions (a count) per row, summed per week."))
        kinds = ["revenue", "conversions"]
        kind = _keep(f"kind-{t}", c3.selectbox(
            "The target is", kinds, index=_index(kinds, _kept(f"kind-{t}", target_kind(target))),
            format_func=lambda k: {"revenue": "money (return per 1 spent)",
                                   "conversions": "a count (results per 1,000 spent)"}[k], key=f"mmm-kind-{t}"))
        if layout == "long":
            c1, c2, c3 = st.columns(3)
            channel = _keep(f"channel-{t}", c1.selectbox(
                "Channel column", labels, index=_index(labels, _kept(f"channel-{t}", guess.channel_column)),
                key=f"mmm-channel-{t}"))
            spend_options = [c for c in numeric if c != target]
            spend = _keep(f"spend-{t}", c2.selectbox(
                "Spend column", spend_options, key=f"mmm-spend-{t}",
                index=_index(spend_options, _kept(f"spend-{t}", guess.spend_column))))
            freqs = ["W", "D"]
            freq = _keep(f"freq-{t}", c3.radio(
                "Model by", freqs, index=_index(freqs, _kept(f"freq-{t}", "W")), horizontal=True,
                format_func=lambda f: {"W": "week (Monday to Sunday)", "D": "day"}[f], key=f"mmm-freq-{t}",
                help="Weeks are steadier and need 52 of them; days need 364 and model the weekday too."))
            base = ModelSettings("long", date, target, (), kind, channel, spend, freq)
        else:
            options = [c for c in numeric if c != target]
            picked = [c for c in _kept(f"channels-{t}", list(guess.channels)) if c in options]
            chosen = _keep(f"channels-{t}", st.multiselect(
                f"Spend columns, one per channel ({MIN_CHANNELS} to {MAX_CHANNELS})", options, default=picked,
                key=f"mmm-channels-{t}"))
            rest = [c for c in options if c not in chosen]
            controls = _keep(f"controls-{t}", st.multiselect(
                "Controls (optional): prices, promotions, holidays, anything else that moves the target", rest,
                default=[c for c in _kept(f"controls-{t}", list(guess.controls)) if c in rest],
                key=f"mmm-controls-{t}"))
            base = ModelSettings("wide", date, target, tuple(chosen), kind, controls=tuple(controls))
    if base.layout == "long" and (base.channel_column is None or base.spend_column is None):
        st.warning("Pick the channel column and the spend column under **Columns**.")
        return None
    if base.layout == "wide" and target in base.channels:
        st.warning("The target cannot also be a spend column.")
        return None
    try:
        key = ("mmm-input", db, table, version, json.dumps({**base.as_dict(), "holdout": None, "effort": None},
                                                            sort_keys=True))
        wide = stored(key, lambda: model_input(ws.table(table), base))
    except DataError as e:
        st.warning(f"The model cannot read '{table}' with these columns. {e}", icon=":material/warning:")
        return None
    found = list(wide.attrs.get("found", []))
    if base.layout == "long":
        st.markdown(f"**{plural(len(found), 'channel')} found** in `{base.channel_column}`: {', '.join(found)}. "
                    f"Summed to {plural(len(wide), 'week' if base.freq == 'W' else 'day')}.")
        default = [c for c in _kept(f"channels-{t}", found) if c in found][:MAX_CHANNELS]
        chosen = _keep(f"channels-{t}", st.multiselect(
            f"Channels to model ({MIN_CHANNELS} to {MAX_CHANNELS})", found, default=default, key=f"mmm-channels-{t}",
            help="A channel left out keeps its revenue in the baseline; its spend is not modelled."))
        left_out = [c for c in found if c not in chosen]
        if left_out:
            st.caption(f"Left out: {', '.join(left_out)} (its effect stays in the baseline, unmeasured).")
        st.caption("Controls (prices, promotions, holidays) need a table with one row per week and a column each "
                   "(the wide layout); trend and yearly season are always in the model.")
        settings_channels = tuple(chosen)
    else:
        settings_channels = base.channels
    for note in wide.attrs.get("notes", []):
        st.caption(note)
    with st.expander("Options"):
        c1, c2 = st.columns(2)
        unit = "day" if base.layout == "long" and base.freq == "D" else "week"
        holdout = _keep(f"holdout-{t}", c1.number_input(
            f"Hold out the last … {unit}s for the check (0 = automatic, 10%)", 0, 200,
            int(_kept(f"holdout-{t}", 0)), key=f"mmm-holdout-{t}",
            help="The check fit never sees these; its forecast of them gives the hold-out MAPE."))
        efforts = list(EFFORT_LABELS)
        effort = _keep(f"effort-{t}", c2.radio(
            "Effort", efforts, index=_index(efforts, _kept(f"effort-{t}", "standard")),
            format_func=lambda e: EFFORT_LABELS[e], key=f"mmm-effort-{t}"))
    settings = ModelSettings(base.layout, base.date, base.target, settings_channels, base.kind, base.channel_column,
                             base.spend_column, base.freq, base.controls, int(holdout) or None, effort)
    try:
        notes = check(wide, settings)
    except DataError as e:
        st.warning(f"The model cannot be fitted on this table yet. {e}", icon=":material/warning:")
        return None
    for note in notes:
        st.caption(note)
    return settings, wide


# ------------------------------------------------------------------ the job
def job_settings(version: int, settings: dict) -> dict:
    """What identifies a model job: the table version and the settings."""
    return {"table_version": version, **settings}


def run_fit(ws: Workspace, table: str, version: int, ran: dict, wide: pd.DataFrame | None,
            clicked: bool) -> MMMResult | None:
    """The model for these settings: from memory, from a finished job, or a new job (progress meanwhile)."""
    key = ("mmm", str(ws.path), table, version, json.dumps(ran, sort_keys=True))
    if key in result_store():
        return result_store()[key]  # type: ignore[no-any-return]

    def submit() -> None:
        if wide is None:
            raise DataError(f"The last fit with these settings is gone: click {BUTTON} to run it again.")
        ws.require("train")
        job_runner().submit(KIND, fit_job, wide, ran, owner=ws.user, table=table, settings=job_settings(version, ran))

    outcome = job_result(user=ws.user, kind=KIND, table=table, settings=job_settings(version, ran), clicked=clicked,
                         submit=submit, label=f":material/insights: Fitting the marketing-mix model on `{table}`",
                         cancel_key="mmm-cancel", button=BUTTON, expected=MMMResult, stopped="The model stopped")
    return None if outcome is None else remember(key, outcome[0])  # type: ignore[return-value]


# ------------------------------------------------------------------ results
def fit_section(result: MMMResult, table: str) -> None:
    st.subheader("How well the model fits")
    f = result.fit
    m = st.columns(4)
    m[0].metric("R²", f"{f.r2:.3f}", help=f"Share of the {result.period}-to-{result.period} variation explained "
                f"(on the {result.period}s the check fit was trained on).", border=True)
    m[1].metric("NRMSE", percent(f.nrmse, 1), help="Root mean squared error / (largest - smallest target): "
                "Robyn's fit measure, lower is better.", border=True)
    m[2].metric("MAPE", percent(f.mape, 1), help=f"Mean absolute % error on the fitted {result.period}s.",
                border=True)
    m[3].metric("Hold-out MAPE", percent(f.holdout_mape, 1),
                help=f"Mean absolute % error of the forecast of the last {plural(f.holdout_periods, result.period)},"
                     " made by a fit that never saw them.", border=True)
    level, line = fit_judgement(result)
    {"good": st.success, "fair": st.info, "weak": st.warning}[level](line)
    st.plotly_chart(mmm_charts.fit_figure(result), key="mmm-fit-chart")
    with st.expander(f"The numbers behind the chart ({plural(len(result.fitted), result.period)})"):
        shown = result.fitted.assign(date=pd.to_datetime(result.fitted["date"]).dt.strftime("%Y-%m-%d"))
        st.dataframe(for_people(shown, {"actual": "integer", "fitted": "integer", "check_fitted": "integer"},
                                {"check_fitted": "forecast (fit without the held-out periods)",
                                 "holdout": "held out"}), hide_index=True)
        download_buttons(lambda: result.fitted, f"{table}_mmm_fit", key="mmm-dl-fit")


def contributions_section(result: MMMResult, table: str) -> None:
    st.subheader("What each channel brought over time")
    c = result.contributions
    total = c[[*result.channels, "baseline"]].sum()
    st.caption("Baseline (trend, yearly season and any controls): "
               f"{percent(total['baseline'] / total.sum(), 0)} of the modelled {result.target}; the channels "
               f"{percent(1 - total['baseline'] / total.sum(), 0)}.")
    st.plotly_chart(mmm_charts.contributions_figure(result), key="mmm-contrib-chart")
    with st.expander("The numbers behind the chart"):
        shown = c.assign(date=pd.to_datetime(c["date"]).dt.strftime("%Y-%m-%d"))
        st.dataframe(for_people(shown, {k: "integer" for k in [*result.channels, "baseline"]}), hide_index=True)
        download_buttons(lambda: c, f"{table}_mmm_contributions", key="mmm-dl-contrib")


def roas_section(result: MMMResult, table: str) -> None:
    scale, words = mmm_charts.per_unit(result)
    st.subheader("Return per channel")
    st.caption(f"Return = the channel's modelled {result.target} over the period / its spend ({words}); the interval "
               f"comes from {plural(len(result.replicates.coef), 'bootstrap refit')} of the model.")
    st.plotly_chart(mmm_charts.roas_figure(result), key="mmm-roas-chart")
    st.dataframe(roas_table(result), hide_index=True, key="mmm-roas-table")
    download_buttons(lambda: result.roas, f"{table}_mmm_roas", key="mmm-dl-roas")


def curves_section(result: MMMResult, table: str, plan: pd.DataFrame | None) -> None:
    st.subheader("Response curves")
    st.caption(f"The {result.target} a channel brings per {result.period} if it spends the same amount every "
               f"{result.period} (carry-over settled); the dot is today's average spend, the diamond the "
               "recommended one. Where a curve flattens, more spend buys little.")
    curves = mmm_charts.curves_frame(result)
    st.plotly_chart(mmm_charts.curves_figure(result, curves, plan), key="mmm-curves-chart")
    with st.expander(f"The numbers behind the curves ({plural(len(curves), 'point')})"):
        st.dataframe(for_people(curves, {"spend": "money", "revenue": "integer", "roas": "ratio",
                                         "marginal_roas": "ratio"},
                                {"revenue": f"{result.target} per {result.period}", "roas": "return per 1 spent",
                                 "marginal_roas": "return of the next 1 spent", "current": "today"}),
                     hide_index=True)
        download_buttons(lambda: curves, f"{table}_mmm_response_curves", key="mmm-dl-curves")


def allocator(result: MMMResult, key: tuple, table: str) -> tuple[pd.DataFrame | None, Any]:
    """The budget allocator; returns (plan, its expected change), or (None, None) after an error."""
    st.subheader("Budget allocator")
    period = result.period
    now = float(result.current_spend.sum())
    c1, c2 = st.columns([1, 1])
    same = f"Same as today ({format_value(now, 'money')} per {period})"
    mode = c1.radio(f"Total budget per {period}", [same, "A new total"], key=f"mmm-total-mode-{table}")
    total = now
    if mode != same:
        total = float(c2.number_input(f"New total per {period}", min_value=0.0, value=round(now, 2),
                                      step=max(1.0, round(now / 20, -1)), key=f"mmm-total-{table}"))
    st.caption(f"Per-channel bounds as shares of today's spend per {period} (0.5 = half, 1.5 = 50% more); the "
               "recommendation maximises the modelled target within them.")
    defaults = pd.DataFrame({"channel": list(result.channels),
                             f"today per {period}": [format_value(v, "money") for v in result.current_spend],
                             "lowest (share)": 0.5, "highest (share)": 1.5})
    edited = kept_editor(  # its edits survive a visit to the dashboard tab
        defaults, hide_index=True, key=f"mmm-bounds-{table}-{'|'.join(result.channels)}", disabled=["channel", f"today per {period}"],
        column_config={"lowest (share)": st.column_config.NumberColumn(min_value=0.0, max_value=10.0, step=0.05,
                                                                       format="%.2f"),
                       "highest (share)": st.column_config.NumberColumn(min_value=0.0, max_value=10.0, step=0.05,
                                                                        format="%.2f")})
    bounds = {str(r["channel"]): (float(r["lowest (share)"]), float(r["highest (share)"]))
              for _, r in edited.iterrows()}
    if any(pd.isna(lo) or pd.isna(hi) for lo, hi in bounds.values()):
        st.warning("Fill in every bound (empty cells are not allowed).")
        return None, None
    try:
        plan, change = stored((*key, "plan", round(total, 6), tuple(sorted(bounds.items()))),
                              lambda: _plan(result, total, bounds))
    except DataError as e:
        st.error(str(e))
        return None, None
    m1, m2 = st.columns(2)
    m1.metric(f"{result.target.capitalize()} from the channels per {period}, recommended",
              format_value(plan["recommended_revenue"].sum(), "integer"),
              f"{'+' if change.change >= 0 else '−'}{format_value(abs(change.change), 'integer')} against today",
              border=True, help=f"Modelled, at a steady spend; today's split brings "
                                f"{format_value(plan['current_revenue'].sum(), 'integer')} per {period}.")
    m2.metric(f"Change of the total {result.target} per {period}", signed_percent(change.share), border=True,
              help=f"Against the average {period} ({format_value(result.mean_target, 'integer')}); {change.level:.0%} "
                   f"interval {signed_percent(change.share_low)} to {signed_percent(change.share_high)}.")
    st.markdown(change_line(result, change))
    st.dataframe(plan_table(result, plan), hide_index=True, key="mmm-plan-table")
    download_buttons(lambda: plan, f"{table}_mmm_budget_plan", key="mmm-dl-plan")
    st.plotly_chart(mmm_charts.allocation_figure(result, plan), key="mmm-plan-chart")
    return plan, change


def _plan(result: MMMResult, total: float, bounds: dict) -> tuple[pd.DataFrame, Any]:
    plan = result.optimize_budget(total if abs(total - float(result.current_spend.sum())) > 1e-9 else None,
                                  bounds=bounds)
    return plan, result.expected_change(plan)


def show(result: MMMResult, key: tuple, table: str, notes: list[str]) -> None:
    """Everything about a fitted model; the manager's summary on top (it reads the allocator's plan)."""
    top = st.container()
    fit_section(result, table)
    contributions_section(result, table)
    roas_section(result, table)
    curves_box = st.container()
    plan, _change = allocator(result, key, table)
    with curves_box:
        curves_section(result, table, plan)
    with top:
        st.success(result.summary(plan), icon=":material/lightbulb:")
        for note in result.notes:
            st.info(note, icon=":material/info:")
        st.download_button(
            "Download report (HTML)", key="mmm-report", on_click="ignore", icon=":material/description:",
            data=lambda: mmm_report(result, plan, title=f"Marketing-mix model: {table}", source=f"table {table}",
                                    notes=notes).encode("utf-8"),
            file_name=f"{table}_marketing_mix_report.html", mime="text/html")
    with st.expander("Model details: carry-over and saturation per channel"):
        st.caption(f"Fitted in {result.seconds:.0f} s. Carry-over (theta): the share of a {result.period}'s "
                   f"effect still working the next {result.period}. Shape (alpha): above 1 an S-curve, up to 1 a "
                   "curve that bends from the first unit spent. Half-effect point (gamma): where in the channel's "
                   f"range of (carried-over) spend per {result.period} half the effect is reached; that spend is "
                   f"the half-effect spend. {result.target.capitalize()} at saturation: per {result.period}, "
                   "the most the channel can bring.")
        st.dataframe(params_table(result), hide_index=True)
        download_buttons(lambda: result.params, f"{table}_mmm_parameters", key="mmm-dl-params")


# ------------------------------------------------------------------ the tab
def render(table: str | None) -> None:
    """The marketing-mix model tab for `table` (the dashboard's table; None: nothing to model yet)."""
    st.caption("Which channels pay back, with honest intervals, and where to move budget: a marketing-mix model "
               "(carry-over and saturation per channel, trend and yearly season) fitted on spend and results per "
               "week.")
    if table is None:
        st.info("Pick a campaign table on the **Dashboard** tab first (the demo data has `campaign_daily`).")
        return
    ws = session_workspace()
    if not can(ws, "train"):
        role_note(ws, "train", "fitting a marketing-mix model")
        return
    try:
        info = ws.info(table)
    except DataError as e:
        st.error(str(e))
        return
    resume(ws, table, info.version)
    picked = settings_form(ws, table, info.version)
    settings, wide = picked if picked is not None else (None, None)
    clicked = st.button(BUTTON, type="primary", key="mmm-fit", icon=":material/insights:", disabled=settings is None)
    current = settings.as_dict() if settings is not None else {}
    ran = settings_of_last_run(clicked and settings is not None, STATE, table, info.version, current, BUTTON)
    if ran is None:
        if settings is not None:
            st.caption("The fit runs in the background (about half a minute for two years of weeks): you can open "
                       "other pages meanwhile.")
        return
    same = ran == current
    result = run_fit(ws, table, info.version, ran, wide if same else None, clicked and same)
    if result is None:
        return
    key = ("mmm", str(ws.path), table, info.version, json.dumps(ran, sort_keys=True))
    show(result, key, table, list(wide.attrs.get("notes", [])) if wide is not None and same else [])
