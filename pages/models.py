"""Models: train a classifier or regressor on demand, read honest metrics, save it, score customers."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.columns import ColumnRoles, guess_roles
from core.errors import DataError
from core.models import TrainedModel, detect_task, suggest_features
from core.models import charts
from core.models.estimators import LABELS, MENU
from core.models.evaluate import HIGHER_IS_BETTER
from core.formatting import for_people, rows
from core.models.charts import outcome_words
from core.models.store import SEGMENT_COLUMNS, carry_candidates, segment_table_for
from core.models.trained import MAX_FEATURE_COLUMNS
from core.models.prepare import leakage_warnings
from core.segments.preprocess import suggest_id_column
from core.models.training_job import SCORE_IN_PROCESS_ROWS, load_trained, score_job, train_job
from core.wording import plural
from core.data.driver import driver_rows
from pages.common import (can, role_note, cached_frame, cached_rows, download_buttons, job_runner, lazy_tabs,
                          page_start, remember, result_store, settings_of_last_run, stored, table_picker, warm_up)
from pages.jobs_panel import job_result
from pages.models_compare import TRAIN_REQUEST, compare_section, rules_section, selection_section

METRIC_LABELS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "accuracy": "Accuracy", "precision": "Precision",
                 "recall": "Recall", "f1": "F1", "log_loss": "Log loss", "brier": "Brier score",
                 "r2": "R²", "mae": "MAE", "rmse": "RMSE"}

ws = page_start("Models",
                "Predict who will buy, churn or spend: train on demand, read honest hold-out metrics, then score customers.")
store = ws.model_store()
db = str(ws.path)

TRAIN, BOARD, SCORE = "Train", "Leaderboard and saved models", "Score customers"
TABS_KEY = "tabs-models"  # st.session_state[TABS_KEY] = SCORE opens that tab
# Lazy tabs: only the open tab runs; each tab's widgets keep their values while it is closed.
if can(ws, "train"):
    tabs = lazy_tabs([TRAIN, BOARD, SCORE], TABS_KEY, keep={TRAIN: ("model-",), BOARD: ("board-",), SCORE: ("score-",)})
else:
    role_note(ws, "train", "training and scoring")
    tabs = lazy_tabs([BOARD], TABS_KEY)


# ------------------------------------------------------------------ train
@st.cache_data(show_spinner=False, max_entries=32)
def advice_for(_df: pd.DataFrame, db: str, table: str, version: int, target: str) -> pd.DataFrame:
    """Feature advice, once per table version and target."""
    return suggest_features(_df, target).table


@st.cache_data(show_spinner=False, max_entries=32)
def leaks_for(_df: pd.DataFrame, db: str, table: str, version: int, target: str, task: str,
              features: tuple[str, ...]) -> list[dict]:
    return leakage_warnings(_df.dropna(subset=[target]), target, list(features), task)


@st.cache_data(show_spinner=False, max_entries=32)
def roles_for(_df: pd.DataFrame, db: str, table: str, version: int) -> ColumnRoles:
    """The column guesses (core.columns), once per table version."""
    return guess_roles(_df)


def settings_form(df: pd.DataFrame, table: str, version: int) -> dict | None:
    columns = [str(c) for c in df.columns]
    roles = roles_for(df, db, table, version)
    guess = roles.target.column if roles.target.column in columns else columns[-1]
    c1, c2 = st.columns([2, 1])
    target = c1.selectbox("Target: what to predict", columns, index=columns.index(guess), key=f"model-target-{table}",
                          help=f"Suggested: {guess} ({roles.target.reason}).")
    try:
        detected = detect_task(df[target])
    except DataError as e:
        st.error(str(e))
        return None
    task_choice = c2.selectbox("Task", [f"auto ({detected})", "classification", "regression"], key=f"model-task-{table}")
    task = detected if task_choice.startswith("auto") else task_choice
    advice = advice_for(df, db, table, version, target)
    suggested = advice.loc[advice["use"], "column"].tolist()
    features = st.multiselect("Features", [c for c in columns if c != target], default=suggested,
                              key=f"model-features-{table}-{target}")
    left_out = advice[~advice["use"]]
    for _, leak in left_out[left_out["reason"].str.startswith("leaks the target")].iterrows():
        st.info(f"`{leak['column']}` starts unselected: it {leak['reason']}. If it is known before the outcome, "
                "add it back.", icon=":material/block:")
    if not left_out.empty:
        with st.expander(f"{plural(len(left_out), 'column')} left out of the suggestion, and why"):
            st.dataframe(left_out[["column", "kind", "reason"]], hide_index=True)
    if features and task and len(features) <= MAX_FEATURE_COLUMNS:
        for leak in leaks_for(df, db, table, version, target, task, tuple(features)):
            st.warning(leak["message"], icon=":material/warning:")
    c1, c2, c3, c4, c5 = st.columns(5)
    algorithm = c1.selectbox("Algorithm", list(MENU), format_func=lambda a: LABELS[a], key="model-algorithm")
    cv = c2.number_input("Cross-validation folds", 2, 10, 5, key="model-cv")
    test_size = c3.slider("Hold-out share", 0.1, 0.4, 0.2, 0.05, key="model-test-size")
    how = c4.selectbox("Hyper-parameter search", ["off", "randomized", "grid"], key="model-search-method",
                       help="Randomized: the number of settings below, drawn at random; grid: every setting of a "
                            "small grid around the defaults (shown with the results).")
    search = c4.number_input("Settings tried (randomized)", 1, 30, 10, key="model-search",
                             disabled=how != "randomized")
    weighting = c5.selectbox("Class weighting", ["auto (when a class is under 20%)", "off"], key="model-weighting",
                             disabled=task != "classification")
    return {"target": target, "task": task, "features": features, "algorithm": algorithm, "cv": int(cv),
            "test_size": float(test_size), "search": int(search) if how == "randomized" else 0,
            "search_method": "grid" if how == "grid" else "random",
            "class_weight": "auto" if weighting.startswith("auto") else None}


def job_settings(version: int, settings: dict) -> dict:
    """What identifies a training job: the page's settings and the table version."""
    return {"table_version": version, **settings}


def run_training(df: pd.DataFrame, table: str, version: int, settings: dict, clicked: bool) -> TrainedModel | None:
    """The model for these settings: from memory, from a finished job, or a new job (progress shown meanwhile)."""
    key = ("model", db, table, version, json.dumps(settings, sort_keys=True))
    store_ = result_store()
    if key in store_:
        return store_[key]
    runner = job_runner()

    def submit() -> None:
        ws.require("train")
        runner.submit("train", train_job, df, settings, owner=ws.user, table=table,
                      settings=job_settings(version, settings))

    label = f"Training {LABELS[settings['algorithm']].lower()} on `{table}`"
    outcome = job_result(user=ws.user, kind="train", table=table, settings=job_settings(version, settings),
                         clicked=clicked, submit=submit, label=f":material/model_training: {label}",
                         cancel_key="model-cancel", button="Train model", stopped="Training stopped",
                         read=lambda job: load_trained(runner.job_dir(job.id), runner.result(job.id)))
    if outcome is None:
        return None
    model, picked_up = outcome
    if picked_up:  # once per job, whichever session sees it finish first
        store.record_run(model, table, version)
    st.session_state["model-current"] = key
    return remember(key, model)  # type: ignore[return-value]


def show_search(model: TrainedModel) -> None:
    """The hyper-parameter settings a search tried (and the grid of a grid search), best first."""
    results = getattr(model, "search_results", None)
    if results is None or results.empty:
        return
    grid = getattr(model, "search_grid", None)
    title = (f"Grid search: {len(results)} settings of the grid "
             + "; ".join(f"{k} in {v}" for k, v in grid.items()) if grid else
             f"Randomized search: {len(results)} settings")
    with st.expander(title + f" (3-fold on the training rows; best: {model.params})"):
        st.dataframe(for_people(results, {"rank": "integer"}, {"mean_score": "mean score", "std_score": "sd"}),
                     hide_index=True)


def show_metrics(model: TrainedModel) -> None:
    keys = [k for k in model.metrics if k in METRIC_LABELS][:8]
    cols = st.columns(len(keys))
    for col, k in zip(cols, keys):
        base = model.baseline_metrics.get(k)
        delta = None if base is None else model.metrics[k] - base
        col.metric(METRIC_LABELS[k], f"{model.metrics[k]:.3f}", None if delta is None else f"{delta:+.3f}",
                   delta_color="normal" if HIGHER_IS_BETTER[k] else "inverse",
                   help=None if base is None else f"Hold-out; the arrow shows the change against the baseline ({base:.3f}).")
    cv = model.cv_metrics.drop(columns="fold")
    summary = pd.DataFrame({"hold-out": pd.Series(model.metrics), "baseline (hold-out)": pd.Series(model.baseline_metrics),
                            "cross-validation mean": cv.mean(), "cross-validation sd": cv.std(ddof=1)}).loc[list(cv.columns)]
    st.caption(f"Hold-out: {model.info['holdout_rows']:,} rows never seen in training. Cross-validation: "
               f"{model.info['cv_folds']} folds on {model.info['cv_rows']:,} training rows (spread = how much the "
               "score moves with the data).")
    st.dataframe(for_people(summary.rename(index=METRIC_LABELS), {}))
    download_buttons(lambda: summary.rename_axis("metric").reset_index(), f"metrics_{model.target}", "model-metrics-dl")
    if model.info.get("class_weight"):
        st.caption("Classes were weighted because one is rare: the model ranks customers well (AUC, lift), but its "
                   "probabilities run high for the rare class, so log loss, Brier score and calibration look worse. "
                   "Set class weighting to off for probabilities you can read as rates.")


def show_classification(model: TrainedModel) -> None:
    if model.holdout is None:
        return
    st.subheader("Decision threshold")
    threshold = st.slider("Flag a customer when the predicted probability is at least", 0.01, 0.99, 0.5, 0.01,
                          key="model-threshold")
    c1, c2 = st.columns([1, 2])
    confusion = model.confusion(threshold)
    c1.dataframe(for_people(confusion, {c: "integer" for c in confusion.columns}))
    at = model.metrics_at(threshold)
    c2.dataframe(for_people(pd.DataFrame({k: [at[k]] for k in ("accuracy", "precision", "recall", "f1")}),
                            {"accuracy": "percent", "precision": "percent", "recall": "percent"}, METRIC_LABELS),
                 hide_index=True)
    flagged = (model.holdout["proba"] >= threshold).mean()
    c2.caption(f"At {threshold:.2f}, {flagged:.1%} of hold-out customers are flagged.")
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(charts.roc_figure(model.curves["roc"], model.metrics["roc_auc"], model.target, model.positive),
                    key="model-roc")
    c2.plotly_chart(charts.pr_figure(model.curves["pr"], float(model.holdout["y"].mean()), model.metrics["pr_auc"],
                                     model.target, model.positive), key="model-pr")
    c3.plotly_chart(charts.calibration_figure(model.curves["calibration"]), key="model-calibration")
    with st.expander("Numbers behind the curves"):
        c1, c2, c3 = st.columns(3)
        shares = {c: "percent" for c in ("false_positive_rate", "true_positive_rate", "recall", "precision",
                                         "mean_predicted", "observed_rate")}
        names = {c: c.replace("_", " ") for c in shares}
        c1.dataframe(for_people(model.curves["roc"], shares, names), hide_index=True)
        c2.dataframe(for_people(model.curves["pr"], shares, names), hide_index=True)
        c3.dataframe(for_people(model.curves["calibration"], shares, names), hide_index=True)


def show_lift(model: TrainedModel) -> None:
    if model.lift is None:
        return
    st.subheader("Targeting: lift and gains on the hold-out")
    lift = model.lift
    top = lift.iloc[0]
    classify = model.task == "classification"
    noun = outcome_words(model.target, model.positive)[0] if classify else f"the total {model.target}"
    label = f"rate of {noun}" if classify else f"mean {model.target}"
    st.markdown(f"Targeting the top 10% by score reaches **{top['cumulative_capture']:.0%}** of "
                f"{noun} "
                f"(**{top['lift']:.1f}x** the average {label}); the top 30% reaches "
                f"**{lift.iloc[min(2, len(lift) - 1)]['cumulative_capture']:.0%}**.")
    if model.info.get("ks") is not None:
        negatives = outcome_words(model.target, model.positive)[1]
        st.caption(f"KS statistic {model.info['ks']:.3f}: the largest gap between the shares of {noun} and of "
                   f"{negatives} reached at any cut-off (0 = no separation, 1 = perfect).")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.gains_figure(lift, noun.removeprefix("the ")), key="model-gains")
    c2.plotly_chart(charts.lift_figure(lift, label), key="model-lift")
    st.dataframe(for_people(lift, {"decile": "integer", "customers": "integer",
                                   "responders": "integer" if classify else "number",
                                   "response_rate": "percent" if classify else "number", "lift": "ratio",
                                   "cumulative_capture": "percent", "cumulative_lift": "ratio"},
                            {"responders": noun if classify else f"sum of {model.target}", "response_rate": label,
                             "cumulative_capture": f"cumulative share of {noun.removeprefix('the ')}",
                             "cumulative_lift": "cumulative lift"}), hide_index=True)
    download_buttons(lambda: lift, f"lift_{model.target}", "model-lift-dl")


def show_importance(model: TrainedModel) -> None:
    st.subheader("What drives the prediction")
    metric = "ROC AUC" if "roc_auc" in model.metrics else "R²" if model.task == "regression" else "log loss"
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(charts.importance_figure(model.importance, metric), key="model-importance")
    with c2:
        st.caption("Permutation importance: how much the hold-out score drops when a column is shuffled "
                   f"(mean and spread over {model.info.get('importance_repeats', 5)} shuffles, on "
                   f"{model.info.get('importance_rows', 3000):,} hold-out rows).")
        table = model.importance.copy()
        if model.model_importance is not None:
            own = model.model_importance.set_index("feature")["importance"]
            table["model's own importance"] = table["feature"].map(own)
        st.dataframe(for_people(table, {"model's own importance": "percent"},
                                {"importance": f"drop in {metric}", "std": "spread (sd)"}), hide_index=True)
        download_buttons(lambda: table, f"importance_{model.target}", "model-importance-dl")
    if model.pdp:
        y_label = (f"predicted probability ({model.target} = {model.positive})" if model.task == "classification"
                   else f"predicted {model.target}")
        cols = st.columns(len(model.pdp))
        for col, (feature, frame) in zip(cols, model.pdp.items()):
            col.plotly_chart(charts.pdp_figure(frame, feature, y_label), key=f"model-pdp-{feature}")
            with col.expander("Numbers"):
                st.dataframe(for_people(frame, {"average": "percent" if model.task == "classification" else "number"},
                                        {"value": feature, "average": y_label}), hide_index=True)


def resume_last_training() -> None:
    """Coming back (another page, a reload): show the user's last training job again, running or finished.

    The page's widgets are reset when it is left; the settings of the last run are kept (or, in a new
    session, taken from the user's newest training job) and its table is picked again.
    """
    if "model-settings" not in st.session_state:
        last = next(iter(job_runner().jobs(ws.user, kind="train", limit=1)), None)
        if last is not None and last.table and "table_version" in last.settings:
            rest = {k: v for k, v in last.settings.items() if k != "table_version"}
            st.session_state["model-settings"] = {"table": last.table, "version": last.settings["table_version"],
                                                  **rest}
    ran = st.session_state.get("model-settings")
    if ran and "model-table" not in st.session_state and ws.exists(ran["table"]):
        st.session_state["model-table"] = ran["table"]


def _train_tab() -> None:
    resume_last_training()
    table = table_picker(ws, "Training table", key="model-table")
    if table is not None:
        info = ws.info(table)
        driver = cached_rows(db, table, info.version)
        df = driver.frame
        note = driver.note(table, "the model is trained on")
        if note:
            st.info(note, icon=":material/filter_alt:")
        settings = settings_form(df, table, info.version) if not df.empty else None
        if df.empty:
            st.warning(f"`{table}` has no rows.")
        if settings is not None:
            b1, b2, b3, b4 = st.columns([1, 1, 1, 1])
            clicked = b1.button("Train model", type="primary", key="model-train", icon=":material/model_training:",
                                width="stretch")
            clicked = clicked or bool(st.session_state.pop(TRAIN_REQUEST, False))  # "Train this one" (Compare all)
            compare_clicked = b2.button("Compare all algorithms", key="model-compare", icon=":material/leaderboard:",
                                        width="stretch", help="Cross-validates every algorithm on the same folds "
                                        "(a background job) and ranks them; pick one to train and save.")
            method = b4.radio("Selection method", ["lasso", "rfe"], horizontal=True, key="model-select-method",
                              format_func=lambda m: {"lasso": "LASSO", "rfe": "RFE"}[m], label_visibility="collapsed")
            select_clicked = b3.button("Select features", key="model-select", icon=":material/filter_list:",
                                       width="stretch", help="LASSO (L1 path, one-standard-error rule) or "
                                       "recursive feature elimination, both cross-validated on the training rows.")
            compare_section(ws, df, table, info.version, settings, compare_clicked)
            selection_section(ws, df, table, info.version, settings, method, select_clicked)
            ran_settings = settings_of_last_run(clicked, "model-settings", table, info.version, settings, "Train model")
            if ran_settings is not None:
                model = run_training(df, table, info.version, ran_settings, clicked)
                if model is not None:
                    st.success(f"Trained in {model.info['seconds']:.1f} s on {model.info['train_rows']:,} rows"
                               + (f" (of a sample of {driver.rows:,} of {driver.total_rows:,} rows)." if driver.sampled
                                  else "."), icon=":material/check_circle:")
                    for w in model.warnings:
                        st.warning(w)
                    st.markdown(f"**{LABELS[model.algorithm]}** predicting **{model.target}** ({model.task}"
                                + (f", positive class {model.positive!r}" if model.positive is not None else "")
                                + (", classes weighted" if model.info.get("class_weight") else "") + ")"
                                + (f"; tuned: {model.params}" if model.params else ""))
                    show_metrics(model)
                    show_search(model)
                    if model.task == "classification" and len(model.classes_) == 2:
                        show_classification(model)
                    elif model.task == "regression" and model.holdout is not None:
                        c1, c2 = st.columns(2)
                        c1.plotly_chart(charts.predicted_vs_actual(model.holdout, model.target), key="model-pva")
                        c2.plotly_chart(charts.residual_figure(model.holdout, model.target), key="model-residuals")
                        download_buttons(lambda: model.holdout, f"holdout_{model.target}", "model-holdout-dl")
                    show_lift(model)
                    show_importance(model)
                    if model.algorithm == "tree":
                        rules_section(model)
                    st.subheader("Save this model")
                    c1, c2 = st.columns([3, 1])
                    name = c1.text_input("Model name", value=f"{table} {model.target} {model.algorithm}",
                                         key=f"model-name-{table}-{info.version}")
                    if c2.button("Save model", key="model-save", icon=":material/save:"):
                        try:
                            model_id = store.save(model, name, table=table)
                        except DataError as e:
                            st.error(str(e))
                        else:
                            store.mark_saved(model.info["trained_at"], model_id)
                            st.success(f"Saved as `{model_id}`. Use it on **Score customers**.")


if TRAIN in tabs and tabs[TRAIN].open:
    with tabs[TRAIN]:
        _train_tab()


# ------------------------------------------------------------------ leaderboard and saved models
def _board_tab() -> None:
    tables = ws.tables()
    board_table = st.selectbox("Runs on table", ["(all tables)"] + tables, key="board-table")
    runs = store.runs(None if board_table == "(all tables)" else board_table)
    if runs.empty:
        st.info("No training runs yet: train a model on the first tab.")
    else:
        st.dataframe(for_people(runs, {c: "integer" for c in ("table_version", "features", "rows") if c in runs}),
                     hide_index=True)
        download_buttons(lambda: runs, "model_runs", "board-dl")
    st.subheader("Saved models")
    saved = store.list()
    if saved.empty:
        st.caption("No saved models yet.")
    else:
        st.dataframe(for_people(saved, {"features": "integer"}), hide_index=True)
        if can(ws, "delete_model"):
            c1, c2, c3 = st.columns([3, 1, 1])
            victim = c1.selectbox("Model", saved["id"], key="board-delete-id")
            sure = c2.checkbox("Yes, delete it", key="board-delete-sure")
            if c3.button("Delete model", key="board-delete", disabled=not sure):
                store.delete(victim)
                st.rerun()


if tabs[BOARD].open:
    with tabs[BOARD]:
        _board_tab()


# ------------------------------------------------------------------ scoring
def scoring_result(sdf: pd.DataFrame, table: str, version: int, seg_version: int | None, ran: dict,
                   clicked: bool) -> tuple[pd.DataFrame, list[str]] | None:
    """The scores for these settings: computed here for a small table, else from this user's scoring job
    (a new job when there is none yet)."""
    if len(sdf) < SCORE_IN_PROCESS_ROWS:
        try:
            ws.require("score")
            model = store.load(ran["model"])
            segs = ws.read(ran["segments"]) if ran["segments"] else None
            with st.spinner("Scoring ..."):
                scored, warnings = score_job(model, sdf, ran["id"], segs, ran["carry"], progress=lambda *_: None)
        except DataError as e:
            st.error(str(e))
            return None
        ws.record("score", table=table, rows=len(scored), detail=ran["model"])
        return scored, warnings
    settings = {"table_version": version, "segments_version": seg_version, **ran}

    def submit() -> None:
        ws.require("score")
        model = store.load(ran["model"])
        segs = ws.read(ran["segments"]) if ran["segments"] else None
        job_runner().submit("score", score_job, model, sdf, ran["id"], segs, ran["carry"], owner=ws.user, table=table,
                            settings=settings)

    outcome = job_result(user=ws.user, kind="score", table=table, settings=settings, clicked=clicked, submit=submit,
                         label=f":material/scoreboard: Scoring `{table}`", cancel_key="score-cancel", button="Score",
                         expected=tuple, stopped="Scoring stopped")
    if outcome is None:
        return None
    (scored, warnings), picked_up = outcome
    if picked_up:
        ws.record("score", table=table, rows=len(scored), detail=ran["model"])
    return scored, warnings


def spark_scores(table: str, version: int, seg_version: int | None, ran: dict) -> object | None:
    """Every row of a Spark table scored on the cluster into the table `ran["out"]` (once per settings)."""
    from core.data.spark_apply import score_on_spark

    key = ("spark-score", db, table, version, seg_version, json.dumps(ran, sort_keys=True))
    result = result_store().get(key)
    if result is None:
        try:
            model = store.load(ran["model"])
            with st.spinner(f"Scoring every row of `{table}` on Spark ..."):
                result = score_on_spark(ws, model, table, ran["out"], id_column=ran["id"], carry=ran["carry"],
                                        segments=ran["segments"])
        except DataError as e:
            st.error(str(e))
            return None
        remember(key, result)
    return result


def show_spark_scores(result: object, table: str) -> None:
    """The by-decile summary, a preview and (when it fits the driver) a download of a Spark score table."""
    st.success(f"Scored {rows(result.rows)} of `{table}` on Spark into the table `{result.table}`.")
    c1, c2 = st.columns([1, 2])
    c1.dataframe(for_people(result.by_decile, {"decile": "integer", "count": "integer"},
                            {"count": "customers", "min": "lowest score", "mean": "mean score",
                             "max": "highest score"}), hide_index=True)
    # kept with this score run (its table, rows and cut points name it): no Spark query on a rerun
    preview = stored(("spark-score-preview", db, result.table, result.rows, tuple(result.cut_points)),
                     lambda: ws.read(result.table, limit=200))
    c2.dataframe(for_people(preview, {"decile": "integer"}), hide_index=True)
    st.caption("Deciles come from Spark's quantile sketch (relative error 0.01%): a customer whose score sits at a "
               "cut point can be in the neighbouring decile.")
    if result.rows <= driver_rows():
        download_buttons(lambda: ws.read(result.table), f"{table}_scores", "score-dl")
    else:
        st.caption(f"{rows(result.rows)} are too many to download here: export `{result.table}` from the Data page "
                   "or query it with SQL.")


def _score_tab() -> None:
    saved = store.list()
    if saved.empty:
        st.info("Save a trained model first (Train tab); then apply it to any table with the same columns.")
    else:
        labels = {r.id: f"{r.name} · {r.target} · {r.algorithm} · {r.metric} {r.value:.3f}" for r in saved.itertuples()}
        model_id = st.selectbox("Model", list(labels), format_func=labels.get, key="score-model")
        score_table_name = table_picker(ws, "Table to score", key="score-table")
        if score_table_name is not None:
            sinfo = ws.info(score_table_name)
            sdf = cached_frame(db, score_table_name, sinfo.version)
            columns = [str(c) for c in sdf.columns]
            id_guess = suggest_id_column(sdf)
            c1, c2 = st.columns(2)
            id_col = c1.selectbox("Customer id column", ["(none)"] + columns, key=f"score-id-{score_table_name}",
                                  index=(columns.index(id_guess) + 1) if id_guess in columns else 0)
            key_col = None if id_col == "(none)" else id_col
            carry_default = [c for c in stored(("model-carry", db, score_table_name, sinfo.version),
                                                lambda: carry_candidates(sdf)) if c != key_col]
            carry = st.multiselect("Columns to carry along (to join the scores back)", columns, default=carry_default,
                                   key=f"score-carry-{score_table_name}-{sinfo.version}",
                                   help="Copied unchanged next to each score, e.g. an order id or a customer and "
                                        "a date. Id-like columns (unique per row) start selected.")
            seg_columns = {t: list(ws.columns(t)) for t in ws.tables() if t != score_table_name}
            seg_tables = [t for t, cols in seg_columns.items()
                          if t.endswith("_segments") or any(c in cols for c in SEGMENT_COLUMNS)]
            seg_default = segment_table_for({t: seg_columns[t] for t in seg_tables}, key_col)
            options = ["(none)"] + seg_tables
            seg_table = c2.selectbox("Add segments from", options, key=f"score-segments-{score_table_name}-{id_col}",
                                     index=options.index(seg_default) if seg_default else 0,
                                     help="A table with segment columns and the same customer id column; only a "
                                          "table that shares the id is suggested.")
            settings = {"model": model_id, "id": key_col, "segments": None if seg_table == "(none)" else seg_table,
                        "carry": carry}
            on_spark = getattr(ws, "engine", "duckdb") == "spark"
            if on_spark:  # the scores of every row are written by Spark: name the table first
                settings["out"] = st.text_input("Save the scores as table", value=f"{score_table_name}_scores",
                                                key=f"score-spark-out-{score_table_name}",
                                                help="Spark scores every row of the table on the cluster and "
                                                     "writes them here (replacing a table of that name).")
            clicked = st.button("Score", type="primary", key="score-run")
            ran = settings_of_last_run(clicked, "score-settings", score_table_name, sinfo.version, settings, "Score")
            result = None
            if ran is not None and on_spark:
                seg_version = ws.version(ran["segments"]) if ran["segments"] and ws.exists(ran["segments"]) else None
                spark_result = spark_scores(score_table_name, sinfo.version, seg_version, ran)
                if spark_result is not None:
                    show_spark_scores(spark_result, score_table_name)
                return
            if ran is not None:
                seg_version = ws.version(ran["segments"]) if ran["segments"] and ws.exists(ran["segments"]) else None
                key = ("score", db, score_table_name, sinfo.version, seg_version, json.dumps(ran, sort_keys=True))

                result = result_store().get(key)
                if result is None:
                    result = scoring_result(sdf, score_table_name, sinfo.version, seg_version, ran, clicked)
                    if result is not None:
                        remember(key, result)
            if result is not None:
                scored, model_warnings = result
                for w in model_warnings:
                    st.warning(w)
                st.success(f"Scored {rows(len(scored))} of `{score_table_name}` (version {sinfo.version}).")
                by_decile = scored.groupby("decile")["score"].agg(["count", "min", "mean", "max"]).reset_index()
                c1, c2 = st.columns([1, 2])
                c1.dataframe(for_people(by_decile, {"decile": "integer", "count": "integer"},
                                        {"count": "customers", "min": "lowest score", "mean": "mean score",
                                         "max": "highest score"}), hide_index=True)
                preview = scored.head(200)
                c2.dataframe(for_people(preview, {"decile": "integer"}), hide_index=True)
                if not ran["id"] and not ran["carry"]:
                    st.caption("The scores carry no id: pick a customer id column or columns to carry along to join "
                               "them back to the table.")
                c1, c2 = st.columns([3, 1])
                out_name = c1.text_input("Save as table", value=f"{score_table_name}_scores",
                                         key=f"score-save-name-{score_table_name}")
                if c2.button("Save scores", key="score-save"):
                    try:
                        saved_name = ws.save_frame(scored, out_name, mode="replace", source=f"scores of {ran['model']}")
                        st.success(f"Saved `{saved_name}`.")
                    except DataError as e:
                        st.error(str(e))
                download_buttons(lambda: scored, f"{score_table_name}_scores", "score-dl")


if SCORE in tabs and tabs[SCORE].open:
    with tabs[SCORE]:
        _score_tab()

warm_up()  # SciPy and statsmodels imported in the background for the Experiments page (pages.common.warm_up)
