"""Targeting page, Uplift tab: whom a campaign changes, from a randomised test.

Pick the test table (treatment column, control value, outcome: guessed), fit as a background job,
read the hold-out (Qini curve, uplift by decile, the four groups, what drives uplift), then score any
table with the same feature columns and save the uplift scores for the Audience tab.
Logic: core.targeting.uplift (the model), core.targeting.jobs (the job), core.targeting.guess (guesses).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from core.data.workspace import Workspace
from core.errors import DataError
from core.formatting import for_people
from core.targeting.guess import flag_columns, test_columns
from core.targeting.jobs import UpliftSettings, uplift_job, uplift_score_job
from core.targeting.uplift_report import GROUP_TEXT, GROUPS_CAUTION, counts_text, ranks_customers, readout_text
from pages.common import (can, download_buttons, job_runner, remember, result_store, role_note, settings_of_last_run,
                          stored)
from pages.jobs_panel import job_result
from pages.targeting_common import TableColumns, keep, kept, pick, pick_table, run_job, save_table

if TYPE_CHECKING:
    from core.targeting.uplift import UpliftModel

KIND = "uplift"
STATE = "uplift-settings"
BUTTON = "Fit the uplift model"
METHODS = {"two_model": "Two models (one per arm and one for the control; uplift = the difference)",
           "class_transformation": "Class transformation (one classifier of the transformed outcome; 0/1 outcomes)"}
LEARNERS = {"gradient_boosting": "Gradient boosting (non-linear, the default)", "logistic": "Logistic / linear regression"}


def _levels(ws: Workspace, table: str, version: int, column: str) -> list:
    """The treatment column's values, most frequent first (at most 20)."""
    def read() -> list:
        t = ws.table(table)
        counts = t.group_by(column).aggregate(n=t.count()).order_by([t.count().desc()]).limit(21).execute()
        return [v for v in counts[column].tolist() if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return stored(("levels", str(ws.path), table, version, column), read)


def _rates(ws: Workspace, table: str, version: int, columns: list[str]) -> dict[str, float]:
    """Each 0/1 column's share of ones (one query, kept by table version): steers the outcome guess."""
    def read() -> dict[str, float]:
        if not columns:
            return {}
        t = ws.table(table)
        row = t.aggregate([t[c].cast("float64").mean().name(c) for c in columns]).execute().iloc[0]
        return {c: float(row[c]) for c in columns if pd.notna(row[c])}
    return stored(("rates", str(ws.path), table, version, tuple(columns)), read)


def settings_form(ws: Workspace, table: str) -> UpliftSettings | None:
    tc = TableColumns(ws, table)
    rates = _rates(ws, table, tc.version, flag_columns(tc.roles, tc.columns))
    pick_ = test_columns(tc.roles, tc.columns, rates)
    guess = pick_.columns
    t = table
    c1, c2, c3 = st.columns(3)
    treatment = pick("Treatment column (the arm each customer was randomised to)", tc.columns, f"upl-treat-{t}",
                     guess["treatment"], c1)
    levels = _levels(ws, table, tc.version, treatment) if treatment else []
    if treatment is None:
        st.warning("Pick the treatment column: the one that says which arm each customer was randomised to.")
        return None
    if len(levels) < 2:
        st.warning(f"`{treatment}` has fewer than two values: pick the column that says who got the campaign.")
        return None
    if len(levels) > 20:
        st.warning(f"`{treatment}` has more than 20 values: it is not a test's arms. Pick another column.")
        return None
    control = pick("Control value (not contacted)", levels, f"upl-control-{t}-{treatment}",
                   guess["control"] if guess["treatment"] == treatment else None, c2)
    outcomes = [c for c in tc.numeric if c != treatment]
    outcome = pick("Outcome (0/1 such as converted, or revenue)", outcomes, f"upl-outcome-{t}", guess["outcome"], c3)
    if outcome is None:
        st.warning("The test table has no number column for the outcome (converted 0/1, or revenue).")
        return None
    if pick_.reasons and guess["treatment"] == treatment:
        st.caption("Guessed: " + " ".join(pick_.reasons))
    arms = [v for v in levels if v != control]
    treated = keep(f"upl-arms-{t}-{treatment}", st.multiselect(
        "Treated arms (one model per arm against the control; an arm is never folded into the control)", arms,
        default=[a for a in kept(f"upl-arms-{t}-{treatment}", arms) if a in arms], key=f"upl-arms-{t}-{treatment}"))
    if not treated:
        st.warning("Pick at least one treated arm.")
        return None
    with st.expander("Features and method"):
        others = [c for c in tc.columns if c not in (treatment, outcome)]
        features = keep(f"upl-features-{t}", st.multiselect(
            "Features known before the send (empty: the default rule leaves out ids, dates, other results and "
            "anything that differs between the arms)", others,
            default=[c for c in kept(f"upl-features-{t}", []) if c in others], key=f"upl-features-{t}"))
        c1, c2 = st.columns(2)
        method = keep(f"upl-method-{t}", c1.radio("Method", list(METHODS), format_func=METHODS.get,
                                                   index=list(METHODS).index(kept(f"upl-method-{t}", "two_model")),
                                                   key=f"upl-method-{t}"))
        learner = keep(f"upl-learner-{t}", c2.radio("Learner", list(LEARNERS), format_func=LEARNERS.get,
                                                     index=list(LEARNERS).index(kept(f"upl-learner-{t}",
                                                                                     "gradient_boosting")),
                                                     key=f"upl-learner-{t}"))
    return UpliftSettings(treatment, outcome, control, tuple(treated), tuple(features), method, learner)


def holdout_section(model: UpliftModel, arm: object) -> None:
    from core.targeting import uplift_charts

    report = model.reports[arm]
    binary = model.outcome_kind == "binary"
    m = st.columns(3)
    m[0].metric("Qini AUC (normalised)", "n/a" if not np.isfinite(report.qini) else f"{report.qini:.3f}",
                help="Model area minus random over perfect minus random, on the hold-out (scikit-uplift's "
                     "qini_auc_score): 0 = random, 1 = perfect.", border=True)
    k = model.k
    top = f"{k:.0%}" if isinstance(k, float) else f"{k:,}"
    fmt = (lambda v: f"{v * 100:+.1f} pts") if binary else (lambda v: f"{v:+,.2f}")
    m[1].metric(f"Uplift in the top {top}", "n/a" if not np.isfinite(report.uplift_at_k) else fmt(report.uplift_at_k),
                help="Treated minus control outcome among the hold-out customers the model ranks highest.",
                border=True)
    m[2].metric("Average effect (hold-out)", fmt(report.ate), help="Treated minus control, everyone.", border=True)
    st.plotly_chart(uplift_charts.qini_figure(report.curve, report.qini, outcome_kind=model.outcome_kind),
                    key=f"upl-qini-{arm}")
    st.plotly_chart(uplift_charts.decile_figure(report.deciles, outcome_kind=model.outcome_kind),
                    key=f"upl-deciles-{arm}")
    with st.expander("The numbers behind the charts"):
        st.dataframe(for_people(report.deciles, {c: "percent" for c in report.deciles.columns
                                                 if "rate" in c or (binary and c == "uplift")}), hide_index=True)
        download_buttons(lambda: report.deciles, "uplift_deciles", key=f"upl-dl-deciles-{arm}")
        download_buttons(lambda: report.curve, "qini_curve", key=f"upl-dl-curve-{arm}")
    if len(report.importance):
        st.markdown("**What drives the predicted uplift**")
        st.plotly_chart(uplift_charts.importance_figure(report.importance, outcome_kind=model.outcome_kind),
                        key=f"upl-importance-{arm}")
        with st.expander("Importance table"):
            st.dataframe(for_people(report.importance, {"share": "percent"}), hide_index=True)


def groups_section(model: UpliftModel) -> None:
    st.markdown("**The four groups** (from the predicted outcome with and without the campaign)")
    g = model.groups
    if len(g) and not ranks_customers(model):
        st.warning(GROUPS_CAUTION, icon=":material/warning:")
    if len(g):
        if len(model.arms) > 1:
            st.caption("With several arms each customer's group is for their best arm (the one with the highest "
                       "predicted uplift for them).")
        st.dataframe(for_people(g, {"customers": "integer", "share": "percent"}), hide_index=True)
    else:
        for line in GROUP_TEXT.values():
            st.caption(line)


SCORE_IN_PROCESS_ROWS = 100_000  # larger tables are scored as a background job
SCORE_ASKED = "upl-score-asked"
ROW_NUMBER = "(row number)"


def _customers(ws: Workspace, model: UpliftModel, table: str, id_column: str) -> tuple[Any, str]:
    """The rows to score (the id and the model's features) and the id's name; with ROW_NUMBER the rows
    are read in the table's order and numbered 1..n as `row_number` (as the Segments page does)."""
    if id_column == ROW_NUMBER:
        frame = ws.table(table).select(list(model.features)).execute()
        frame.insert(0, "row_number", range(1, len(frame) + 1))
        return frame, "row_number"
    return ws.table(table).select(list(dict.fromkeys([id_column, *model.features]))), id_column


def _score(ws: Workspace, model: UpliftModel, table: str, id_column: str, settings: dict) -> pd.DataFrame | None:
    """The uplift scores of `table`: in this process for a small table, else as a background job."""
    from core.targeting.uplift import uplift_scores

    if ws.info(table).rows < SCORE_IN_PROCESS_ROWS:
        try:
            with st.spinner(f"Scoring `{table}`"):
                return uplift_scores(model, *_customers(ws, model, table, id_column))
        except DataError as e:
            st.error(str(e))
            return None

    def submit() -> None:
        ws.require("score")
        data, name = _customers(ws, model, table, id_column)
        frame = data if isinstance(data, pd.DataFrame) else data.execute()
        job_runner().submit("uplift-score", uplift_score_job, model, frame, name, owner=ws.user, table=table,
                            settings=settings)

    outcome = job_result(user=ws.user, kind="uplift-score", table=table, settings=settings, clicked=True,
                         submit=submit, label=f":material/scoreboard: Scoring `{table}` with the uplift model",
                         cancel_key="upl-score-cancel", button="Score", expected=pd.DataFrame,
                         stopped="Scoring stopped")
    return None if outcome is None else outcome[0]


def scoring_section(ws: Workspace, model: UpliftModel, test_table: str, fit: dict) -> None:
    """Score any table with the model's features, on a click (kept for the session, by table version)."""
    st.subheader("Score customers")
    st.caption(f"Any table with the model's features ({', '.join(model.features)}) can be scored: the test itself, "
               "or the whole customer base the next campaign goes to.")
    tables = [t for t in ws.tables() if set(model.features) <= set(ws.columns(t))]
    if not tables:
        st.info("No table has all of the model's feature columns.")
        return
    c1, c2 = st.columns(2)
    table = pick("Table to score", tables, f"upl-score-table-{test_table}", test_table, c1)
    if table is None:
        return
    tc = TableColumns(ws, table)
    ids = [c for c in tc.columns if c not in model.features]
    id_column = pick("Customer id column", [*ids, ROW_NUMBER], f"upl-score-id-{table}",
                     tc.roles.id.column or ROW_NUMBER, c2)
    if id_column is None:
        st.warning(f"Pick the column of `{table}` that identifies a customer.")
        return
    if id_column == ROW_NUMBER:
        st.caption(f"No column of `{table}` is guessed as a customer id: the scores carry `row_number`, the "
                   "row's place in the table (1, 2, ...), to join them back by.")
    settings = {"table_version": tc.version, "id": id_column, "model": fit}
    key = ("uplift-scores", str(ws.path), table, json.dumps(settings, sort_keys=True, default=str))
    scores = result_store().get(key)
    if scores is None:
        clicked = st.button(f"Score `{table}`", key="upl-score", icon=":material/scoreboard:")
        if not clicked and st.session_state.get(SCORE_ASKED) != key:
            return
        st.session_state[SCORE_ASKED] = key  # a scoring job's progress stays on screen across reruns
        scores = _score(ws, model, table, id_column, settings)
        if scores is None:
            return
        remember(key, scores)
    st.caption(f"{len(scores):,} customers scored; decile 1 = the tenth with the highest predicted uplift.")
    by_group = scores.groupby("group").agg(customers=("uplift", "size"), mean_uplift=("uplift", "mean")).reset_index()
    st.dataframe(for_people(by_group, {"customers": "integer",
                                       "mean_uplift": "points" if model.outcome_kind == "binary" else "number"}),
                 hide_index=True)
    st.dataframe(for_people(scores.head(200), {"p_treated": "percent", "p_control": "percent"}), hide_index=True)
    download_buttons(lambda: scores, f"{table}_uplift", key="upl-dl-scores")
    if can(ws, "save"):
        save_table(ws, scores, f"{table}_uplift", "upl-scores", f"uplift scores of {table} ({test_table} model)")


def render(ws: Workspace) -> None:
    st.caption("From a randomised campaign (some customers contacted, a control group not): who responds *because* "
               "of the campaign. Pick the test, fit, read the hold-out, then score customers for the Audience tab.")
    tables = ws.tables()
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home** (it has `offer_test`).")
        return
    table = pick_table(ws, "Test table (one row per customer)", "upl-table", "uplift", "offer_test", tables)
    if table is None:
        return
    if not can(ws, "train"):
        role_note(ws, "train", "fitting uplift models")
        return
    settings = settings_form(ws, table)
    clicked = st.button(BUTTON, type="primary", key="upl-fit", disabled=settings is None)
    if settings is None:
        return
    version = ws.info(table).version
    ran = settings_of_last_run(clicked, STATE, table, version, settings.as_dict(), BUTTON)
    if ran is None:
        return
    s = UpliftSettings.from_dict(ran)
    columns = list(dict.fromkeys([s.treatment, s.outcome, *s.features])) if s.features else None

    def make_input() -> pd.DataFrame:
        t = ws.table(table)
        return (t.select(columns) if columns else t).execute()

    # the model's module imports scikit-learn: only once a fit was asked for (the form stays light)
    from core.targeting.uplift import UpliftModel

    model = run_job(ws, kind=KIND, func=uplift_job, make_input=make_input, table=table, version=version, ran=ran,
                    clicked=clicked, button=BUTTON, label=f":material/target: Fitting the uplift model on `{table}`",
                    cancel_key="upl-cancel", expected=UpliftModel)
    if model is None:
        return
    for w in model.warnings:
        st.warning(w)
    for line in readout_text(model):
        if line != GROUPS_CAUTION:  # shown as a warning above the groups
            st.markdown(line)
    st.caption(counts_text(model.counts))
    arm = model.arms[0]
    if len(model.arms) > 1:
        arm = st.radio("Arm", list(model.arms), horizontal=True, key="upl-arm")
    holdout_section(model, arm)
    groups_section(model)
    with st.expander("Which columns the model used, and why"):
        st.dataframe(model.feature_table, hide_index=True)
    scoring_section(ws, model, table, {"table": table, "table_version": version, **ran})
