"""Segments: customer features from transactions, K-means segments, RFM segments, save and export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

# Only pandas/DuckDB/plotly modules here: scikit-learn (~2 s to import on this server) loads in the
# job's worker, and in the app only once a result is read (warmed up in the background meanwhile).
from core.errors import DataError
from core.jobs import Job
from core.query import execute
from core.segments import charts
from core.segments.features import suggest_transaction_columns
from core.segments.jobs import (CUSTOMERS_IN_PROCESS_ROWS, CustomerBuild, build_customers, customer_columns,
                                customers_job, kmeans_job, warm_up, warmed)
from core.segments.rfm import DEFAULT_RULES, rf_grid, rfm_scores, rfm_summary
from core.segments.suggest import feature_suggestions, suggest_id_column
from core.formatting import for_people
from core.wording import plural
from core.data.workspace import Workspace
from pages.common import (can, role_note, cached_distinct, cached_rows, download_buttons, job_runner, kept_editor,
                          lazy_tabs, page_start, remember, result_store, settings_of_last_run, stored, table_picker)
from pages.jobs_panel import job_progress, job_result

if TYPE_CHECKING:
    from core.segments.kmeans import SegmentResult

NONE = "(none)"
LOG_CHOICES = {"Skewed features (auto)": "auto", "All numeric features": True, "None": False}
SCALE_CHOICES = {"Standard (mean 0, sd 1)": "standard", "Robust (median 0, IQR 1)": "robust", "None": "none"}

ws = page_start("Segments",
                "Group customers who behave alike, read each group in words, and export them to your email or ads tool.")

if not can(ws, "segment"):
    role_note(ws, "segment", "building segments")
    st.caption("Saved segment tables (`*_segments`) can be read and downloaded on the **Data** page.")
    st.stop()


def pick_up_customer_builds() -> None:
    """Save the customer tables of this user's finished build jobs (once per job, whichever session sees it
    first), and select the newest one; the page may have been left while the job ran."""
    runner = job_runner()
    for job in reversed(runner.jobs(ws.user, kind="customers")):  # oldest first: the newest is selected last
        if job.state != "done" or job.picked_up or not runner.pick_up(job.id):
            continue
        try:
            build: CustomerBuild = runner.result(job.id)
            saved = ws.save_frame(build.frame, str(job.settings["out"]), mode="replace",
                                  source=f"customer features of {job.table}")
        except DataError as e:
            st.error(f"The customer table built from `{job.table}` could not be saved: {e}")
            continue
        announce_build(saved, build)


def announce_build(saved: str, build: CustomerBuild) -> None:
    """Select the built table and say so on the next run."""
    st.session_state["seg-table-next"] = saved
    st.session_state["seg-built"] = f"Built `{saved}`: {plural(build.customers, 'customer')} as of {build.as_of}."
    st.session_state["seg-built-notes"] = list(build.notes)


def resume_last_segments() -> None:
    """Coming back (another page, a reload): show the user's last K-means job again, running or finished.

    The settings of the last run stay in the session; a new session takes them from the user's newest
    K-means job, and its table is picked again.
    """
    if "km-settings" not in st.session_state:
        last = next(iter(job_runner().jobs(ws.user, kind="kmeans", limit=1)), None)
        if last is not None and last.table and "table_version" in last.settings:
            rest = {k: v for k, v in last.settings.items() if k != "table_version"}
            st.session_state["km-settings"] = {"table": last.table, "version": last.settings["table_version"], **rest}
    ran = st.session_state.get("km-settings")
    if ran and "seg-table" not in st.session_state and ws.exists(ran["table"]):
        st.session_state["seg-table"] = ran["table"]


pick_up_customer_builds()
if "seg-table" not in st.session_state and st.session_state.get("seg-table-last") in ws.tables():
    st.session_state["seg-table"] = st.session_state["seg-table-last"]  # back from another page: the same table
resume_last_segments()
if "seg-table-next" in st.session_state:  # a table was just built: select it before the picker exists
    st.session_state["seg-table"] = st.session_state.pop("seg-table-next")
table = table_picker(ws, "Customer table (or transactions to build one from)", key="seg-table")
if table is None:
    st.stop()
st.session_state["seg-table-last"] = table
info = ws.info(table)
db = str(ws.path)


def forget_older_versions(table: str, version: int) -> None:
    """Results and choices belong to one version of a table: a replaced table (same name, new version)
    starts with fresh suggestions, no old segments, names or export choices."""
    seen = st.session_state.setdefault("seg-versions", {})
    if seen.get(table, version) != version:
        for key in [k for k in st.session_state if isinstance(k, str) and k.endswith(f"-{table}")
                    and k.startswith(("km-", "rfm-"))]:
            del st.session_state[key]
        for key in ("seg-current", "seg-names", "rfm-current", "seg-export-for"):
            st.session_state.pop(key, None)
    seen[table] = version


forget_older_versions(table, info.version)


# ------------------------------------------------------------------ transactions -> customers
def build_customers_form(ws: Workspace, table: str, roles: dict) -> None:
    """Offer to aggregate a transactions table into one row per customer, saved as a new table."""
    columns = list(ws.columns(table))
    optional = [NONE] + columns

    def pick(label: str, role: str, options: list[str], help: str | None = None) -> str:
        guess = roles.get(role)
        return st.selectbox(label, options, index=options.index(guess) if guess in options else 0,
                            key=f"tx-{role}-{table}-{ws.version(table)}", help=help)

    with st.form(f"build-customers-form-{table}"):
        st.markdown("**Build one row per customer**: recency, frequency, monetary, tenure, average order value, "
                    "days between orders and distinct products/channels, computed in the database.")
        c1, c2, c3 = st.columns(3)
        with c1:
            customer = pick("Customer id", "customer", columns)
            order = pick("Order / invoice id (frequency counts distinct orders)", "order", optional,
                         "Leave at (none) to count every row as one purchase.")
        with c2:
            date = pick("Purchase date", "date", columns)
            product = pick("Product or category (optional)", "product", optional)
        with c3:
            amount = pick("Amount (spend per row, or unit price)", "amount", columns)
            quantity = pick("Quantity (multiplies the amount; optional)", "quantity", optional)
        c4, c5, c6 = st.columns(3)
        channel = c4.selectbox("Channel (optional)", optional, key=f"tx-channel-{table}-{ws.version(table)}",
                               index=optional.index(roles["channel"]) if roles.get("channel") in optional else 0)
        use_as_of = c5.checkbox("Measure as of a date (default: the day after the last purchase)", key="tx-use-asof")
        as_of = c5.date_input("As-of date", value=dt.date.today(), key="tx-asof", disabled=not use_as_of)
        positive = c6.checkbox("Leave out returns and zero amounts (amount ≤ 0)", value=True, key="tx-positive")
        out_name = st.text_input("Save as table", value=f"{table}_customers", key=f"tx-out-{table}")
        submitted = st.form_submit_button("Build customer table", type="primary", key="build-customers")
    version = ws.version(table)
    if submitted:
        settings = {"customer": customer, "date": date, "amount": amount,
                    "as_of": str(as_of) if use_as_of else None, "order": None if order == NONE else order,
                    "quantity": None if quantity == NONE else quantity,
                    "product": None if product == NONE else product,
                    "channel": None if channel == NONE else channel, "positive": bool(positive)}
        if ws.info(table).rows < CUSTOMERS_IN_PROCESS_ROWS:  # small: faster here than a worker's start
            with st.status("Building customer features in the database ...", expanded=False) as status:
                try:
                    build = build_customers(ws.table(table), settings)
                    saved = ws.save_frame(build.frame, out_name, mode="replace", source=f"customer features of {table}")
                except DataError as e:
                    status.update(label="Could not build the customer table", state="error")
                    st.error(str(e))
                    return
                status.update(label=f"Built {plural(build.customers, 'customer')} into `{saved}`", state="complete")
            announce_build(saved, build)
            st.rerun()
        try:
            ws.require("save")
            frame = execute(ws.table(table).select(*customer_columns(settings)), None)
            job_runner().submit("customers", customers_job, frame, settings, owner=ws.user, table=table,
                                settings={"table_version": version, "out": out_name, **settings})
        except DataError as e:
            st.error(str(e))
            return
        st.rerun()  # once more, so the progress below and the sidebar's jobs panel show the new job
    last = next((j for j in job_runner().jobs(ws.user, kind="customers")
                 if j.table == table and j.settings.get("table_version") == version), None)
    if last is not None and not last.finished:
        job_progress(last.id, f":material/receipt_long: Building customers from `{table}` "
                              f"({plural(ws.info(table).rows, 'transaction')})", "seg-build-cancel")
    elif last is not None and last.state == "failed":
        st.error(f"Building the customer table stopped: {last.error}")
    elif last is not None and last.state == "done" and not last.picked_up:
        st.rerun()  # it finished during this run: the next run saves the table and selects it


if st.session_state.get("seg-built"):
    st.success(st.session_state.pop("seg-built"))
    for note in st.session_state.pop("seg-built-notes", []):
        st.warning(note)

counts = cached_distinct(db, table, info.version)  # distinct counts only: the full profile took 2.7 s here
distinct = {str(c): int(d) for c, d in zip(counts["column"], counts["distinct"]) if pd.notna(d)}
roles = suggest_transaction_columns(ws.columns(table), distinct, info.rows)
if roles.get("is_transactions"):
    st.info(f"`{table}` has several rows per customer (`{roles['customer']}` repeats): it looks like transactions. "
            "Build a customer table from it first; segments need one row per customer.", icon=":material/receipt_long:")
    build_customers_form(ws, table, roles)
    st.stop()
elif roles.get("customer") and roles.get("date") and roles.get("amount"):
    with st.expander("This table holds transactions? Build one row per customer from it"):
        build_customers_form(ws, table, roles)

driver = cached_rows(db, table, info.version)
df = driver.frame
if df.empty:
    st.warning(f"`{table}` has no rows. Load data on the Data page first.")
    st.stop()
if driver.sampled:
    st.info(driver.note(table, "segments are found on"), icon=":material/filter_alt:")


@st.cache_data(show_spinner=False, max_entries=32)
def suggestions(_df: pd.DataFrame, db: str, table: str, version: int) -> tuple:
    """Id column and feature suggestions, computed once per table version (they scan every column)."""
    guess = suggest_id_column(_df)
    found = feature_suggestions(_df, guess)
    return guess, found.suggested, found.numeric, found.categorical, found.left_out_table()


id_guess, suggested, numeric_cols, categorical_cols, left_out = suggestions(df, db, table, info.version)

KMEANS, RFM, SAVE = "K-means segments", "RFM segments", "Save and export"
TABS_KEY = "tabs-segments"  # st.session_state[TABS_KEY] = RFM opens that tab
# Lazy tabs: only the open tab runs (a closed tab's charts are neither computed nor sent); each tab's
# widgets keep their values while it is closed.
tabs = lazy_tabs([KMEANS, RFM, SAVE], TABS_KEY,
                 keep={KMEANS: ("km-",), RFM: ("rfm-",), SAVE: ("seg-save-", "seg-export-")})


# ------------------------------------------------------------------ K-means
def settings_form() -> dict:
    """Features, preprocessing and k, as plain settings."""
    id_options = [NONE] + [str(c) for c in df.columns]
    c1, c2 = st.columns([1, 2])
    id_col = c1.selectbox("Customer id column", id_options, key=f"km-id-{table}",
                          index=id_options.index(id_guess) if id_guess in id_options else 0,
                          help="Must be unique: one row per customer. It is kept for saving, never used as a feature.")
    features = c2.multiselect("Features", [c for c in numeric_cols if c != id_col], default=suggested,
                              key=f"km-features-{table}", help="Suggested: numeric behaviour columns, without ids, "
                              "constant columns and 0/1 flags or outcomes.")
    if not left_out.empty:
        with c2.expander(f"Not suggested ({len(left_out)}): why"):
            st.dataframe(for_people(left_out, {}), hide_index=True, key=f"km-left-out-{table}")
    categorical = st.multiselect("Categorical features to one-hot encode (optional)", categorical_cols, default=[],
                                 key=f"km-categorical-{table}")
    with st.expander("Preprocessing"):
        p1, p2, p3, p4 = st.columns(4)
        impute = p1.selectbox("Missing values", ["median", "mean", "zero"], key="km-impute",
                              help="Replaced by the feature's median (default), mean or zero.")
        log = p2.selectbox("Log transform", list(LOG_CHOICES), key="km-log",
                           help="log(1 + x) tames long-tailed amounts; auto picks non-negative features with skew > 1.")
        scale = p3.selectbox("Scaling", list(SCALE_CHOICES), key="km-scale")
        clip = p4.slider("Clip extremes at each end (%)", 0.0, 5.0, 1.0, 0.5, key="km-clip",
                         help="Winsorise: values beyond the 1st/99th percentile are set to those percentiles.")
    c3, c4 = st.columns([1, 2])
    mode = c3.radio("Number of segments", ["Recommend k (tries 2 to 10, prefers 3 to 8)", "Choose k"],
                    key="km-mode", help="k = 2 is recommended only when its silhouette is clearly higher "
                    "(at least 0.5, and 0.1 above the best of 3 to 8): two segments are rarely actionable.")
    k = c4.slider("k", 2, 15, 5, key="km-k", disabled=mode.startswith("Recommend"))
    return {"id": None if id_col == NONE else id_col, "features": features, "categorical": categorical,
            "impute": impute, "log": LOG_CHOICES[log], "scale": SCALE_CHOICES[scale], "clip": clip / 100,
            "k": None if mode.startswith("Recommend") else int(k)}


def result_key(settings: dict) -> tuple:
    """Where the segmentation of this table version with these settings is kept."""
    return ("kmeans", db, table, info.version, json.dumps(settings, sort_keys=True))


def digest(key: tuple) -> str:
    """A short, stable name for a result key (widget keys that belong to one result)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:12]


def job_settings(settings: dict) -> dict:
    """What identifies a K-means job: the page's settings and the table version."""
    return {"table_version": info.version, **settings}


def latest_segments(settings: dict) -> Job | None:
    """This user's newest K-means job on this table version with these settings (survives reloads)."""
    return job_runner().latest(ws.user, "kmeans", table, job_settings(settings))


def fit(settings: dict, clicked: bool) -> SegmentResult | None:
    """The segmentation for these settings: from memory, from a finished job, or a new job (progress meanwhile)."""
    key = result_key(settings)
    store = result_store()
    if key in store:
        return store[key]
    if not settings["features"] and not settings["categorical"]:  # said at once, without starting a job
        st.error("No usable numeric features: pick at least one feature (such as recency, orders or spend) to build "
                 "segments from.")
        return None
    runner = job_runner()

    def submit() -> None:
        ws.require("segment")
        runner.submit("kmeans", kmeans_job, df, settings, owner=ws.user, table=table, settings=job_settings(settings))

    def read(job: Job) -> SegmentResult:
        warmed()  # the background import of scikit-learn has finished before the result is unpickled
        return runner.result(job.id)  # type: ignore[no-any-return]

    warm_up()  # reading the result needs scikit-learn: load it while the job runs
    what = "Recommending k and finding segments" if settings["k"] is None else f"Finding {settings['k']} segments"
    outcome = job_result(user=ws.user, kind="kmeans", table=table, settings=job_settings(settings), clicked=clicked,
                         submit=submit, label=f":material/groups: {what} in `{table}` ({plural(len(df), 'customer')})",
                         cancel_key="seg-cancel", button="Find segments", stopped="Segmenting stopped", read=read)
    if outcome is None:
        return None
    result, picked_up = outcome
    if picked_up:  # once per job, whichever session sees it finish first
        ws.record("segments", table=table, rows=len(result.labels),
                  detail=f"k = {result.k} ({'recommended' if settings['k'] is None else 'chosen'}), "
                         f"features {', '.join(result.features)}")
    return remember(key, result)  # type: ignore[return-value]


def tsne_section(res: SegmentResult, names: dict[int, str], settings: dict) -> None:
    """The t-SNE layout of the map's customers, drawn on a click (seconds of work) and kept."""
    from core.segments.kmeans import TSNE_SAMPLE, tsne_map

    shown = min(len(res.map), TSNE_SAMPLE) if res.map is not None else 0
    st.caption(f"t-SNE places {shown:,} of the mapped customers (a seeded sample) so that neighbours stay "
               "neighbours: separate segments show as islands. Unlike PCA, distances between islands and their "
               "sizes mean little.")
    key = ("tsne",) + result_key(settings)
    points = result_store().get(key)
    if points is None:
        if not st.button("Draw the t-SNE map", key="km-tsne", icon=":material/scatter_plot:"):
            return
        try:
            with st.spinner(f"Laying out {shown:,} customers with t-SNE ..."):
                points = remember(key, tsne_map(res, df).points)
        except DataError as e:
            st.error(str(e))
            return
    st.plotly_chart(charts.tsne_figure(points, names), key="km-tsne-map")
    download_buttons(lambda: points.assign(segment_name=points["segment"].map(names)), "segment_tsne_map",
                     "km-tsne-dl")


def show_result(res: SegmentResult, settings: dict) -> dict[int, str]:
    """Every view of a fitted segmentation; returns the (possibly edited) segment names."""
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Segments", res.k)
    m2.metric("Customers", f"{len(res.labels):,}")
    m3.metric("Stability (adjusted Rand)", f"{res.stability:.2f}",
              help="Agreement of the segmentation with refits on resamples: 1 = identical, above 0.8 = stable.")
    m4.metric("Rules reproduce", f"{res.fidelity:.0%}", help="Share of customers the simple rules below assign correctly.")
    st.info(res.reason, icon=":material/lightbulb:")
    for w in res.warnings:
        st.warning(w)
    if not res.selection.empty:
        st.subheader("Choosing k")
        st.plotly_chart(charts.selection_figure(res.selection, res.k), key="km-selection-chart")
        with st.expander("Numbers behind the chart"):
            numbers = res.selection.assign(smallest_segment_share=res.smallest_share)
            st.dataframe(for_people(numbers, {"k": "integer", "smallest_segment_share": "percent"},
                                    {"calinski_harabasz": "Calinski-Harabasz", "davies_bouldin": "Davies-Bouldin",
                                     "smallest_segment_share": "smallest segment"}), hide_index=True)

    st.subheader("Segments")
    table = res.segment_table().reset_index()
    edited = kept_editor(  # keyed by this result: names edited for another table or version never carry over
        for_people(table, {"size": "integer", "share": "percent"}), f"km-names-{digest(result_key(settings))}",
        hide_index=True, disabled=["segment", "size", "share"],
        column_config={"name": st.column_config.TextColumn("name (edit me)", width="large"),
                       "size": st.column_config.TextColumn("customers"),
                       "share": st.column_config.TextColumn("share")})
    names = {int(r.segment): (str(r.name).strip() or f"Segment {r.segment}") for r in edited.itertuples()}
    st.plotly_chart(charts.sizes_figure(table.assign(name=[f"{s}: {names[s]}" for s in table["segment"]])),
                    key="km-sizes-chart")

    st.subheader("Profiles")
    c1, c2 = st.columns(2)
    stat = c1.radio("Statistic", ["mean", "median"], horizontal=True, key="km-stat")
    view = c2.radio("Show", ["values", "index (100 = average customer)"], horizontal=True, key="km-view")
    detail = res.profile_detail
    value_col = "index" if view.startswith("index") else stat
    pivot = detail.pivot(index="feature", columns="segment", values=value_col)
    pivot = pivot.reindex([f for f in detail["feature"].unique()])
    pivot.columns = [f"{s}: {names[s]}" for s in pivot.columns]
    if value_col != "index":
        pivot.insert(0, "all customers", detail.groupby("feature", sort=False)[f"overall_{stat}"].first())
    st.dataframe(for_people(pivot.rename_axis("feature").reset_index(), {}), hide_index=True, key="km-profile-table")
    index = detail.pivot(index="feature", columns="segment", values="index").reindex(pivot.index)
    index.columns = [f"{s}: {names[s]}" for s in index.columns]
    st.plotly_chart(charts.index_heatmap(index), key="km-heatmap")
    download_buttons(lambda: detail.assign(segment_name=detail["segment"].map(names)), "segment_profiles", "km-profile-dl")

    c1, c2 = st.columns([3, 2])
    with c1:
        st.subheader("Segment map")
        pca_tab, tsne_tab = st.tabs(["PCA", "t-SNE"])
        with pca_tab:
            st.caption(f"{len(res.map):,} customers (a sample) on the two directions that spread them most (PCA).")
            st.plotly_chart(charts.map_figure(res.map, names, res.map_variance), key="km-map")
        with tsne_tab:
            tsne_section(res, names, settings)
    with c2:
        st.subheader("Stability")
        st.caption("Each bar refits K-means on 80% of customers and compares it with these segments.")
        st.plotly_chart(charts.stability_figure(res.stability_runs, res.stability), key="km-stability")
    with st.expander("Numbers behind the map and the stability chart"):
        c1, c2 = st.columns([3, 2])
        c1.dataframe(for_people(res.map.assign(segment_name=res.map["segment"].map(names)), {}), hide_index=True)
        c2.dataframe(for_people(pd.DataFrame({"resample": range(1, len(res.stability_runs) + 1),
                                              "adjusted_rand_index": res.stability_runs}), {},
                                {"adjusted_rand_index": "adjusted Rand index"}), hide_index=True)

    st.subheader("What separates the segments")
    st.caption(f"A shallow decision tree predicts each customer's segment from the raw features; it gets "
               f"{res.fidelity:.0%} right. Importance is each feature's share of its splits; the rules are its "
               "clearest paths to each segment.")
    c1, c2 = st.columns([2, 3])
    with c1:
        st.plotly_chart(charts.importance_figure(res.importance), key="km-importance")
        with st.expander("Importance as a table"):
            st.dataframe(for_people(res.importance, {"importance": "percent"}), hide_index=True)
    with c2:
        rules = res.rules.assign(segment_name=res.rules["segment"].map(names))
        rules = rules[["segment", "segment_name", "rule", "customers", "coverage", "precision"]]
        st.dataframe(for_people(rules, {"customers": "integer", "coverage": "percent", "precision": "percent"},
                                {"segment_name": "name", "coverage": "covers (of segment)"}), hide_index=True,
                     column_config={"rule": st.column_config.TextColumn("rule", width="large")})
    return names


def kmeans_tab() -> None:
    settings = settings_form()
    clicked = st.button("Find segments", type="primary", key="seg-run", icon=":material/play_arrow:")
    ran_settings = settings_of_last_run(clicked, "km-settings", table, info.version, settings, "Find segments")
    if ran_settings is not None:
        result = fit(ran_settings, clicked)
        if result is not None:
            current_key = result_key(ran_settings)
            st.session_state["seg-names"] = {"for": current_key, "names": show_result(result, ran_settings)}
            st.session_state["seg-current"] = current_key
        else:  # the last run failed: nothing to save or export (never the previous run's segments)
            st.session_state.pop("seg-current", None)
    else:
        st.session_state.pop("seg-current", None)
        st.caption("Pick features and click **Find segments**.")


if tabs[KMEANS].open:
    with tabs[KMEANS]:
        kmeans_tab()


# ------------------------------------------------------------------ RFM
def default_column(patterns: list[str]) -> str | None:
    for p in patterns:
        for c in numeric_cols:
            if c.lower() == p:
                return c
    return None


RFM_GUESSES = [("recency", ["recency_days", "recency", "days_since_last_purchase"]),
               ("frequency", ["frequency", "orders", "n_orders", "purchases"]),
               ("monetary", ["monetary", "total_spend", "spend", "revenue"])]


def rfm_key(picks: dict[str, str], rules: pd.DataFrame) -> tuple:
    """Where the RFM scores of this table version with these columns and rules are kept."""
    return ("rfm", db, table, info.version, json.dumps(picks, sort_keys=True), rules.to_json())


def rfm_of(picks: dict[str, str], rules: pd.DataFrame) -> pd.DataFrame:
    """RFM scores (quintiles and named segments), computed once per table version, columns and rules."""
    return stored(rfm_key(picks, rules), lambda: rfm_scores(df, recency=picks["recency"], frequency=picks["frequency"],
                                                            monetary=picks["monetary"], rules=rules,
                                                            customer=id_guess))


def rfm_as_set() -> tuple | None:
    """The RFM scores as the RFM tab has them set, without drawing it (the Save tab added them to the
    segment table before the tabs were lazy): its picks and edited rules if it was opened, else the
    defaults it starts with. None when the table has no numeric columns or the scores fail."""
    if not numeric_cols:
        return None
    picks = {}
    for role, guesses in RFM_GUESSES:
        kept = st.session_state.get(f"rfm-{role}-{table}")
        picks[role] = kept if kept in numeric_cols else (default_column(guesses) or numeric_cols[0])
    edited = st.session_state.get("rfm-rules--kept")  # pages.common.kept_editor: (data, start, edited)
    rules = edited[2] if edited is not None else st.session_state.get("rfm-rules-base", DEFAULT_RULES)
    try:
        rfm_of(picks, rules)
    except DataError:
        return None
    return rfm_key(picks, rules)


def rfm_tab() -> None:
    if not numeric_cols:
        st.info("RFM needs numeric recency, frequency and monetary columns; build a customer table from transactions.")
    else:
        c1, c2, c3 = st.columns(3)
        picks = {}
        for col, (role, guesses) in zip((c1, c2, c3), RFM_GUESSES):
            guess = default_column(guesses)
            picks[role] = col.selectbox(f"{role.title()} column", numeric_cols, key=f"rfm-{role}-{table}",
                                        index=numeric_cols.index(guess) if guess else 0)
        st.caption("Scores are quintiles (1-5, 5 = best; recency reversed; equal values always share a score, so "
                   "a value many customers share can leave a score empty). "
                   "Segments come from the rules below, in order: the first rule that matches names the customer.")
        if "rfm-rules-base" not in st.session_state:
            st.session_state["rfm-rules-base"] = DEFAULT_RULES.copy()
        if st.button("Reset rules to the default table", key="rfm-reset"):
            st.session_state["rfm-rules-base"] = DEFAULT_RULES.copy()
            st.session_state.pop("rfm-rules", None)
            st.session_state.pop("rfm-rules--kept", None)
        rules = kept_editor(st.session_state["rfm-rules-base"], "rfm-rules", num_rows="dynamic",  # edits kept
                            hide_index=True, column_config={
                                   c: st.column_config.NumberColumn(c, min_value=1, max_value=5, step=1)
                                   for c in DEFAULT_RULES.columns[1:]})
        key = rfm_key(picks, rules)
        try:
            scored = rfm_of(picks, rules)
        except DataError as e:
            st.error(str(e))
            scored = None
        if scored is not None:
            st.session_state["rfm-current"] = key
            summary, grid = stored(("rfm-views",) + key[1:], lambda: (
                rfm_summary(scored, recency=picks["recency"], frequency=picks["frequency"], monetary=picks["monetary"]),
                rf_grid(scored, monetary=picks["monetary"])))
            c1, c2 = st.columns(2)
            with c1:
                st.markdown("**Customers per RFM segment**")
                st.plotly_chart(charts.rfm_sizes_figure(summary), key="rfm-sizes")
            with c2:
                st.markdown("**Recency x frequency grid**")
                st.plotly_chart(charts.rf_grid_figure(grid), key="rfm-grid")
                with st.expander("Grid as a table"):
                    st.dataframe(for_people(grid, {"r_score": "integer", "f_score": "integer", "customers": "integer"},
                                            {"avg_monetary": "mean monetary"}), hide_index=True)
            st.dataframe(for_people(summary.reset_index(), {"customers": "integer", "share": "percent",
                                                            "spend_share": "percent"},
                                    {"rfm_segment": "RFM segment", "spend_share": "share of spend",
                                     "recency_days": "mean recency", "frequency": "mean frequency",
                                     "monetary": "mean monetary"}), hide_index=True, key="rfm-summary")
            download_buttons(lambda: scored, f"{table}_rfm", "rfm-dl")
        else:
            st.session_state.pop("rfm-current", None)


if tabs[RFM].open:
    with tabs[RFM]:
        rfm_tab()


# ------------------------------------------------------------------ save and export
def of_this_table(key: tuple | None) -> tuple | None:
    """A result key of the K-means or RFM tab if it belongs to the table picked now (the tabs are drawn
    one at a time, so the key may still be of the table picked before)."""
    return key if key and key[2] == table and key[3] == info.version else None


def last_kmeans() -> tuple | None:
    """The K-means result for the settings of the last "Find segments" on this table version: the one
    the K-means tab shows (kept in memory, or a finished job's, read here), else None."""
    ran = st.session_state.get("km-settings")
    if not ran or ran["table"] != table or ran["version"] != info.version:
        return None
    settings = {k: v for k, v in ran.items() if k not in ("table", "version")}
    key = result_key(settings)
    if key not in result_store():
        job = latest_segments(settings)
        if job is None or job.state != "done":
            return None
        fit(settings, False)  # reads the finished job's result into memory
    return key if key in result_store() else None


def spark_save(res: SegmentResult, id_col: str | None, out_name: str, names: dict[int, str]) -> None:
    """Save the segments of every customer of a Spark table (assigned on the cluster)."""
    if id_col is None:
        st.warning("Pick the customer id column on the K-means tab: the segments of every customer are saved by "
                   "their id on Spark.")
        return
    from core.segments.mllib import mllib_rows

    refit = driver.total_rows > mllib_rows()
    st.caption(f"Segments were found on a sample of {driver.rows:,} customers; saving "
               + (f"fits the {res.k} segments again on all {driver.total_rows:,} customers of `{table}` with Spark "
                  "MLlib (k-means||, the sample's preprocessing and k; segments keep their numbers and names)"
                  if refit else f"assigns all {driver.total_rows:,} customers of `{table}` to the nearest segment "
                  "on Spark")
               + ". RFM scores are not included: they were computed on the sample.")
    if st.button("Save segment table", key="seg-save", icon=":material/save:"):
        from core.data.spark_apply import assign_segments_on_spark
        from core.segments.mllib import mllib_segments

        try:
            with st.spinner(f"{'Fitting' if refit else 'Assigning'} every customer of `{table}` on Spark ..."):
                done = (mllib_segments(ws, res, table, id_col, out_name, names=names) if refit
                        else assign_segments_on_spark(ws, res, table, id_col, out_name, names=names))
        except DataError as e:
            st.error(str(e))
            return
        st.success(f"Saved `{done.table}` ({done.rows:,} customers).")
        if refit and done.used == "mllib":
            st.caption(f"MLlib converged in {done.iterations} iterations; each segment's centre is within "
                       f"{done.shift.max():.2f} standard deviations of the sample's.")
        elif refit:
            st.caption(f"MLlib's k-means|| ended in a worse fit than the sample's segments (within-segment sum of "
                       f"squares {done.mllib_cost:,.0f} against {done.sample_cost:,.0f} on every customer), so "
                       "every customer was assigned to the sample's segments.")
        st.dataframe(for_people(done.sizes, {"segment": "integer", "customers": "integer"}), hide_index=True)


def save_tab() -> None:
    current = of_this_table(st.session_state.get("seg-current")) or last_kmeans()
    res: SegmentResult | None = result_store().get(current) if current else None  # sklearn is loaded then
    rfm_current = of_this_table(st.session_state.get("rfm-current")) or rfm_as_set()
    rfm = result_store().get(rfm_current) if rfm_current else None
    if res is None:
        st.info("Find K-means segments first (first tab); RFM scores are added when computed.")
    else:
        edited_names = st.session_state.get("seg-names") or {}
        names = edited_names["names"] if edited_names.get("for") == current else res.names
        id_col = json.loads(current[-1]).get("id")
        frame = df if id_col else df.assign(row_number=range(1, len(df) + 1))
        id_col = id_col or "row_number"
        st.subheader("Save the segment table")
        st.caption("Customer id, segment number and name, distance to the segment centre"
                   + (", plus RFM scores" if rfm is not None else "") + ": join it in Models and Experiments.")
        c1, c2 = st.columns([2, 1])
        # keyed by table / result: a name typed for another table never overwrites that table's segments
        out_name = c1.text_input("Table name", value=f"{table}_segments", key=f"seg-save-name-{table}")
        with_rfm = c2.checkbox("Include RFM scores", value=rfm is not None, disabled=rfm is None,
                               key=f"seg-save-rfm-{digest(current)}")
        if driver.sampled:  # on Spark: every customer of the table is assigned there, not the sample
            spark_save(res, id_col if json.loads(current[-1]).get("id") else None, out_name, names)
            st.subheader("Export segments")
            st.caption("Save the segment table first (every customer, on Spark), then export it from the Data page; "
                       "the sample here is not the whole table.")
            return
        from core.segments.kmeans import segment_assignments  # already loaded: a result exists

        assigned = stored(("assignments", current, rfm_current if with_rfm else None, json.dumps(names, sort_keys=True)),
                          lambda: segment_assignments(frame, res, id_col, names=names, rfm=rfm if with_rfm else None))
        if st.button("Save segment table", key="seg-save", icon=":material/save:"):
            try:
                saved = ws.save_frame(assigned, out_name, mode="replace", source=f"segments of {table}")
                st.success(f"Saved `{saved}` ({len(assigned):,} customers).")
            except DataError as e:
                st.error(str(e))

        st.subheader("Export segments")
        options = [f"{s}: {n}" for s, n in sorted(names.items())]
        if st.session_state.get("seg-export-for") != current:  # a new segmentation: every segment, default columns
            st.session_state["seg-export-for"] = current
            st.session_state["seg-export-segments"] = options
            st.session_state.pop("seg-export-columns", None)
        else:  # names edited: keep the chosen segment numbers under their new names
            kept = {o.split(":", 1)[0] for o in st.session_state.get("seg-export-segments", options)}
            st.session_state["seg-export-segments"] = [o for o in options if o.split(":", 1)[0] in kept]
        chosen = st.multiselect("Segments", options, key="seg-export-segments")
        full = frame.assign(segment=assigned["segment"].to_numpy(), segment_name=assigned["segment_name"].to_numpy())
        if with_rfm and rfm is not None:
            for c in ("r_score", "f_score", "m_score", "rfm_code", "rfm_segment"):
                if c in assigned.columns:
                    full[c] = assigned[c].to_numpy()
        all_columns = [str(c) for c in full.columns]
        default_cols = [id_col, "segment", "segment_name"] + [c for c in ("rfm_segment",) if c in all_columns]
        if "seg-export-columns" in st.session_state:
            st.session_state["seg-export-columns"] = [c for c in st.session_state["seg-export-columns"]
                                                      if c in all_columns]
        else:
            st.session_state["seg-export-columns"] = default_cols
        cols = st.multiselect("Columns", all_columns, key="seg-export-columns")
        picked = {int(o.split(":", 1)[0]) for o in chosen}
        export = full.loc[full["segment"].isin(picked), cols or default_cols]
        if not picked:
            st.warning("No segment is chosen: the export would hold only a header. Pick the segments to export.")
        st.caption(f"{len(export):,} customers, {export.shape[1]} columns (the preview rounds numbers for reading; "
                   "downloads keep the raw values).")
        st.dataframe(for_people(export.head(200), {}), hide_index=True)
        download_buttons(lambda: export, f"{table}_segment_export", "seg-export")


if tabs[SAVE].open:
    with tabs[SAVE]:
        save_tab()
