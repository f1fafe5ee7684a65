"""The Models page's Compare all, Feature selection and tree-rules sections (laid out here, computed in
core.models: comparison, selection, rules). Both heavy steps run as background jobs."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core.formatting import for_people
from core.models import charts
from core.models.estimators import LABELS
from core.models.training_job import compare_job, select_job
from core.wording import plural
from pages.common import download_buttons, job_runner, remember, result_store, settings_of_last_run
from pages.jobs_panel import job_result

COMPARE_KEYS = ("target", "task", "features", "cv", "class_weight")
TRAIN_REQUEST = "model-train-request"  # set by "Train this one": the Train tab trains on its next run


def compare_settings(settings: dict) -> dict:
    return {k: settings[k] for k in COMPARE_KEYS}


def _run(ws: Any, df: pd.DataFrame, table: str, version: int, kind: str, settings: dict, clicked: bool,
         function: Any, label: str, cancel_key: str, button: str) -> Any:
    key = (kind, str(ws.path), table, version, json.dumps(settings, sort_keys=True))
    found = result_store().get(key)
    if found is not None:
        return found
    job_settings = {"table_version": version, **settings}

    def submit() -> None:
        ws.require("train")
        job_runner().submit(kind, function, df, settings, owner=ws.user, table=table, settings=job_settings)

    outcome = job_result(user=ws.user, kind=kind, table=table, settings=job_settings, clicked=clicked, submit=submit,
                         label=label, cancel_key=cancel_key, button=button, stopped=f"{button} stopped")
    if outcome is None:
        return None
    return remember(key, outcome[0])


def _use_algorithm(algorithm: str) -> None:
    st.session_state["model-algorithm"] = algorithm
    st.session_state[TRAIN_REQUEST] = True


def compare_section(ws: Any, df: pd.DataFrame, table: str, version: int, settings: dict, clicked: bool) -> None:
    """Every algorithm cross-validated on the same folds: the leaderboard, its chart, and a button that
    trains the picked one with the Train settings (then Save it as usual)."""
    wanted = compare_settings(settings)
    ran = settings_of_last_run(clicked, "model-compare-settings", table, version, wanted, "Compare all algorithms")
    if ran is None:
        return
    st.subheader("All algorithms compared")
    out = _run(ws, df, table, version, "compare", ran, clicked, compare_job,
               f":material/leaderboard: Comparing every algorithm on `{table}`", "model-compare-cancel",
               "Compare all algorithms")
    if out is None:
        return
    board, attrs = out
    metric = attrs["metric"]
    best = board.iloc[0]
    close = [LABELS[a] for a, behind in zip(board["algorithm"][1:], board["clearly_behind"][1:]) if not behind]
    word = charts.METRIC_WORDS.get(metric, metric)
    st.success(f"Best: **{LABELS[best['algorithm']]}**, {word} {best[metric]:.3f} ± {best[metric + '_std']:.3f} over "
               f"{attrs['folds']} folds of {attrs['rows']:,} training rows."
               + (f" Within the fold-to-fold noise of it: {', '.join(close)}." if close else
                  " Every other algorithm is clearly behind it."), icon=":material/emoji_events:")
    st.caption("Every algorithm saw the same folds, so the gaps are paired: an algorithm is *clearly behind* when its "
               "mean gap to the best is more than twice the standard error of the per-fold gaps. Times are seconds "
               "per fold. The hold-out that Train sets aside was not used.")
    c1, c2 = st.columns([3, 2])
    shown = board.assign(algorithm=[LABELS[a] for a in board["algorithm"]],
                         verdict=["best" if b else ("clearly behind" if c else "within noise of the best")
                                  for b, c in zip(board["best"], board["clearly_behind"])])
    columns = ["algorithm", "verdict", metric, f"{metric}_std"] + [c for c in board.columns if c not in
                                                                   ("algorithm", "best", metric, f"{metric}_std",
                                                                    "clearly_behind", "behind_best")]
    c1.dataframe(for_people(shown[columns], {"fit_seconds": "number", "predict_seconds": "number"},
                            {metric: word, f"{metric}_std": f"{word} sd", "fit_seconds": "fit s",
                             "predict_seconds": "predict s"}), hide_index=True)
    c2.plotly_chart(charts.leaderboard_figure(board, metric, LABELS), key="model-compare-chart")
    download_buttons(lambda: board, f"{table}_{settings['target']}_algorithms", "model-compare-dl")
    p1, p2 = st.columns([3, 1])
    pick = p1.selectbox("Train this one (with the Train settings above), then save it", list(board["algorithm"]),
                        format_func=lambda a: LABELS[a], key="model-compare-pick")
    p2.button("Train this one", key="model-compare-train", on_click=_use_algorithm, args=(pick,),
              icon=":material/model_training:")


def _use_features(key: str, features: list[str]) -> None:
    st.session_state[key] = list(features)
    st.session_state[TRAIN_REQUEST] = True  # and train on them (the Train tab's next run)


def selection_section(ws: Any, df: pd.DataFrame, table: str, version: int, settings: dict, method: str,
                      clicked: bool) -> None:
    """LASSO or RFE on the chosen features: the ranking, its chart, and a button to use the chosen set."""
    wanted = {**compare_settings(settings), "method": method}
    ran = settings_of_last_run(clicked, "model-select-settings", table, version, wanted, "Select features")
    if ran is None:
        return
    st.subheader("Feature selection")
    chosen = _run(ws, df, table, version, "select", ran, clicked, select_job,
                  f":material/filter_list: Selecting features for `{settings['target']}` in `{table}`",
                  "model-select-cancel", "Select features")
    if chosen is None:
        return
    how = ("LASSO: the strongest penalty within one standard error of the best cross-validated score"
           f" (C = {chosen.penalty:.3g})" if chosen.method == "lasso" and settings["task"] == "classification" else
           f"LASSO: the strongest penalty within one standard error of the best (alpha = {chosen.penalty:.3g})"
           if chosen.method == "lasso" else
           f"recursive elimination with cross-validation ({plural(chosen.columns_kept or 0, 'model column')} kept)")
    st.success(f"Kept {len(chosen.selected)} of {len(chosen.ranking)} features by {how}; cross-validated "
               f"{chosen.metric} {chosen.score:.3f} on {chosen.rows:,} training rows.", icon=":material/filter_list:")
    for note in chosen.warnings:
        st.warning(note)
    c1, c2 = st.columns([2, 3])
    c1.dataframe(for_people(chosen.ranking, {"rank": "integer"} if "rank" in chosen.ranking else {}),
                 hide_index=True)
    c2.plotly_chart(charts.selection_figure(chosen.ranking), key="model-select-chart")
    download_buttons(lambda: chosen.ranking, f"{table}_{settings['target']}_feature_selection", "model-select-dl")
    st.button(f"Train on these {len(chosen.selected)} features", key="model-select-use", disabled=not chosen.selected,
              on_click=_use_features, args=(f"model-features-{table}-{settings['target']}", chosen.selected),
              icon=":material/check:")


def rules_section(model: Any) -> None:
    """A decision tree's rules: the table, a chart and the plain text."""
    from core.models.rules import rules_text, tree_rules

    rules = tree_rules(model)
    binary = any(c.startswith("p_") for c in rules.columns)
    what = (f"share of {charts.outcome_words(model.target, model.positive)[0]}" if binary else
            ("most likely class" if model.task == "classification" else f"mean {model.target}"))
    st.subheader("The tree's rules")
    st.caption(f"{plural(len(rules), 'rule')}, one per leaf of the tree (depth at most 4); each customer follows "
               "exactly one. Customers and shares are the training rows.")
    c1, c2 = st.columns([3, 2])
    table = rules[["number", "rule", "customers", "share", "outcome"]].rename(columns={"outcome": what})
    c1.dataframe(for_people(table, {"number": "integer", "customers": "integer", "share": "percent",
                                    **({what: "percent"} if binary else {})}, {"number": "#"}), hide_index=True,
                 column_config={"rule": st.column_config.TextColumn(width="large")})
    if binary or model.task == "regression":
        c2.plotly_chart(charts.rules_figure(rules, what, binary), key="model-rules-chart")
    with st.expander("The rules as text"):
        st.code(rules_text(rules, what=what), language=None, wrap_lines=True)
    download_buttons(lambda: rules.drop(columns=["conditions", "splits"]), f"{model.target}_tree_rules",
                     "model-rules-dl")
