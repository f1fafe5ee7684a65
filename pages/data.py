"""Data: load CSVs (upload or server-side file), browse and profile tables, export, read-only SQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from core import config
from core.data.console import for_display
from core.data.csv_detect import CsvPlan
from core.data.export import frame_to_bytes
from core.errors import DataError
from core.data.identifiers import sanitize_table_name
from core.data.ingest import IngestReport
from core.data.load_job import KIND as LOAD_KIND, finish_load, load_job_mb, runs_as_job, submit_load
from core.data.workspace import Workspace
from core.wording import plural
from pages.common import cached_profile, can, download_buttons, job_runner, kept_editor, lazy_tabs, page_start, warm_up
from pages.jobs_panel import job_progress

TYPE_CHOICES = ["auto", "text", "integer", "number", "date", "timestamp", "boolean"]
DELIMITERS = {"auto": None, ", (comma)": ",", "; (semicolon)": ";", "tab": "\t", "| (pipe)": "|"}
ENCODINGS = ["auto", "utf-8", "latin-1", "windows-1252", "utf-16", "iso-8859-15", "mac-roman"]
PREVIEW_ROWS = 1000
SQL_PREVIEW_ROWS = 10_000
RECENT_LOAD_S = 3600  # a new session (a reload) shows the user's last load job if it ended this recently

ws = page_start("Data")


# ------------------------------------------------------------------ load
HELD_KEY = "upload-held"  # (spilled path, file name) of an upload the uploader dropped while its tab was closed


def _held_upload() -> tuple[Path, str] | None:
    """The file uploaded before another tab was opened: an uploader's file cannot be kept like other
    widget values (Streamlit drops it with the widget), but its spilled copy can; Clear forgets it."""
    held = st.session_state.get(HELD_KEY)
    if not held or not Path(held[0]).exists():
        st.session_state.pop(HELD_KEY, None)
        return None
    c1, c2 = st.columns([5, 1])
    if c2.button("Clear", key="upload-clear", icon=":material/close:"):
        st.session_state.pop(HELD_KEY, None)
        st.rerun()  # the page without the file (nor this button)
    c1.caption(f"Using **{held[1]}**, uploaded before another tab was opened. Upload a file above to load "
               "another one instead.")
    return Path(held[0]), str(held[1])


def _source(ws: Workspace) -> tuple[Path, str] | None:
    """The file chosen by the user (spilled to the workspace temp folder) and its display name."""
    how = st.radio("Source", ["Upload from this computer", "File on the server"], horizontal=True,
                   key="source-kind", label_visibility="collapsed")
    if how == "Upload from this computer":
        up = st.file_uploader(
            "CSV file (also .tsv, .txt and gzip-compressed .csv.gz)", type=["csv", "tsv", "txt", "gz"],
            key="upload",
        )
        if up is None:
            return _held_upload()
        st.session_state.pop(HELD_KEY, None)
        st.session_state["upload-name"] = up.name
        if st.session_state.get("upload-id") != up.file_id:
            old = st.session_state.get("upload-path")
            if old:
                Path(old).unlink(missing_ok=True)
            st.session_state["upload-path"] = str(ws.spill_upload(up))
            st.session_state["upload-id"] = up.file_id
        path = Path(st.session_state["upload-path"])
        if not path.exists():  # removed at restart: spill again
            st.session_state["upload-path"] = str(ws.spill_upload(up))
            path = Path(st.session_state["upload-path"])
        return path, up.name
    files = ws.import_files()
    if not files:
        st.info(
            f"Put files too large to upload into **{ws.import_dir}** on the server "
            "(set `MW_IMPORT_DIR` to use another folder), then pick them here."
        )
        return None
    rel = st.selectbox("File in the import folder", files, key="import-file")
    try:
        return ws.resolve_import(rel), Path(rel).name
    except DataError as e:
        st.error(str(e))
        return None


def _overrides() -> dict[str, object]:
    """Reading options the user set (only those not left on auto)."""
    opts: dict[str, object] = {}
    with st.expander("Correct the detection (delimiter, header, encoding, dates, decimals)"):
        c1, c2, c3 = st.columns(3)
        delim = c1.selectbox("Delimiter", list(DELIMITERS), key="opt-delim")
        if DELIMITERS[delim]:
            opts["delimiter"] = DELIMITERS[delim]
        header = c2.selectbox("First row holds column names", ["auto", "yes", "no"], key="opt-header")
        if header != "auto":
            opts["header"] = header == "yes"
        enc = c3.selectbox("Encoding", ENCODINGS, key="opt-encoding")
        if enc != "auto":
            opts["encoding"] = enc
        c4, c5, c6 = st.columns(3)
        dec = c4.selectbox("Decimal separator", ["auto", ".", ","], key="opt-decimal")
        if dec != "auto":
            opts["decimal_separator"] = dec
        datefmt = c5.text_input("Date format (e.g. %d/%m/%Y)", key="opt-datefmt",
                                help="strftime codes: %d day, %m month, %Y year, %b month name")
        if datefmt.strip():
            opts["dateformat"] = datefmt.strip()
        skip = c6.number_input("Lines to skip before the header", 0, 1000, 0, key="opt-skip")
        if skip:
            opts["skip"] = int(skip)
        nulls = st.text_input("Values that mean 'missing' (comma-separated; blank = default list)",
                              key="opt-nulls", placeholder="NA, N/A, null, -")
        if nulls.strip():
            opts["nullstr"] = [""] + [v.strip() for v in nulls.split(",") if v.strip()]
        if st.checkbox("Fill short rows with missing values instead of rejecting them", key="opt-pad"):
            opts["null_padding"] = True
    return opts


def _inspect(ws: Workspace, path: Path, opts: dict[str, object]) -> CsvPlan:
    key = json.dumps([str(path), path.stat().st_mtime, opts], sort_keys=True, default=str)
    cache = st.session_state.setdefault("inspect-cache", {})
    if key not in cache:
        cache.clear()
        cache[key] = ws.inspect_csv(path, **opts)
    return cache[key]


def _show_plan(plan: CsvPlan) -> dict[str, str]:
    """Show what was detected; returns the column types the user changed."""
    d = plan.detected()
    delim = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(d["delimiter"], repr(d["delimiter"]))
    st.markdown("**Detected**")
    st.dataframe(
        pd.DataFrame([{
            "delimiter": delim, "header": "yes" if d["header"] else "no", "encoding": d["encoding"],
            "compression": d["compression"], "quote": d["quote"] or "none",
            "date format": d["dateformat"] or "-", "decimal": d["decimal_separator"],
            "columns": len(d["columns"]),
        }]),
        hide_index=True, width="stretch",
    )
    for w in plan.warnings:
        st.warning(w, icon=":material/info:")
    for col, note in d["conversions"].items():
        st.caption(f"Column **{col}** will be read as {d['columns'][col]}: {note} (it stays text, with a "
                   "message, if a value further down does not fit).")
    st.markdown("**Preview** (first rows as written in the file)")
    st.dataframe(plan.preview, hide_index=True, width="stretch", height=240)
    st.markdown("**Column types**: change *load as* to override the detection.")
    types = pd.DataFrame({"column": list(d["columns"]), "detected": list(d["columns"].values()),
                          "load as": ["auto"] * len(d["columns"])})
    edited = kept_editor(  # the overrides survive a visit to another tab
        types, "types-editor", hide_index=True, width="stretch", disabled=["column", "detected"],
        column_config={"load as": st.column_config.SelectboxColumn(options=TYPE_CHOICES, required=True)},
    )
    return {r["column"]: r["load as"] for _, r in edited.iterrows() if r["load as"] != "auto"}


def report_headline(report: IngestReport) -> str:
    """What the load did, in one sentence: 'Replaced table **t** with **7,032 rows** ...'."""
    rows = f"**{plural(report.rows, 'row')}**"
    table = f"table **{report.table}**"
    columns = plural(len(report.columns), "column")
    if report.mode == "replace":
        what = f"Replaced {table} with {rows} ({columns})"
    elif report.mode == "append":
        what = f"Appended {rows} to {table} ({columns}, {plural(report.total_rows, 'row')} in the table now)"
    else:
        what = f"Loaded {rows} into {table} ({columns})"
    return f"{what} in {report.seconds:.1f} s."


def _show_report(report: IngestReport) -> None:
    st.success(report_headline(report))
    for w in report.warnings:
        st.info(w)
    if report.rejected_rows:
        share = report.rejected_share
        msg = (f"{plural(report.rejected_rows, 'row')} ({share:.1%} of the file) "
               f"{'was' if report.rejected_rows == 1 else 'were'} rejected and not loaded. "
               f"{'It is' if report.rejected_rows == 1 else 'Each is'} listed below with its line number, "
               "the column, the error and the raw line.")
        if share > config.reject_warn_share():
            st.error(msg + f" That is more than {config.reject_warn_share():.0%}: check the delimiter and "
                     "column types, then reload with 'replace'.", icon=":material/warning:")
        else:
            st.warning(msg)
        st.dataframe(report.rejects.head(PREVIEW_ROWS), hide_index=True, width="stretch")
        st.download_button("Download rejected rows (CSV)", frame_to_bytes(report.rejects, "csv"),
                           file_name=f"{report.table}_rejected_rows.csv", mime="text/csv",
                           on_click="ignore", key="dl-rejects")


def _tabs(ws: Workspace) -> dict[str, object]:
    """The tabs this role may use: viewers browse and download; analysts also load and query;
    admins also read the audit log and back up or restore."""
    names = (["Load a CSV"] if can(ws, "load") else []) + ["Browse tables"]
    names += ["SQL console"] if can(ws, "sql") else []
    names += ["Audit log", "Backup and restore"] if can(ws, "audit") else []
    # Lazy tabs: only the open tab runs (Browse tables reads a preview and the column profile); each
    # tab's widgets keep their values while it is closed.
    return lazy_tabs(names, TABS_KEY, keep={
        "Load a CSV": ("source-kind", "import-file", "opt-", "table-name-", "mode-"),
        "Browse tables": ("browse-", "drop-", "export-"), "SQL console": ("sql-",), "Audit log": ("audit-",),
        "Backup and restore": ("backup-", "restore-")})


TABS_KEY = "tabs-data"  # st.session_state[TABS_KEY] = "SQL console" opens that tab
tabs = _tabs(ws)
tab_load = tabs.get("Load a CSV")
if tab_load is not None and not tab_load.open and st.session_state.get("upload-path") and \
        Path(st.session_state["upload-path"]).exists():  # the uploader drops its file while its tab is closed
    st.session_state[HELD_KEY] = (st.session_state["upload-path"], st.session_state.get("upload-name", "the file"))


def _load_tab() -> None:
    chosen = _source(ws)
    if chosen is not None:
        path, label = chosen
        opts = _overrides()
        try:
            plan = _inspect(ws, path, opts)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            plan = None
        if plan is not None:
            type_overrides = _show_plan(plan)
            st.markdown("**Save as**")
            c1, c2 = st.columns([2, 1])
            try:
                default_name = sanitize_table_name(label)
            except DataError:
                default_name = "uploaded"
            name = c1.text_input("Table name", value=default_name, key=f"table-name-{label}")
            exists = bool(name.strip()) and ws.exists(name.strip())
            mode = c2.radio("If the table exists", ["create", "replace", "append"], horizontal=True,
                            index=1 if exists else 0, key=f"mode-{label}",
                            format_func={"create": "stop", "replace": "replace it", "append": "append rows"}.get)
            if st.button("Load into workspace", type="primary", icon=":material/upload:", key="load-btn"):
                options = {**opts, **({"types": type_overrides} if type_overrides else {})}
                if _as_job(path):
                    _start_load_job(ws, path, name, mode, label, options)
                    return
                st.session_state["load-job"] = None  # this load replaces any job's result on the page
                bar = st.progress(0.0, text="Starting")
                try:
                    report = ws.ingest_csv(
                        path, name, mode=mode, progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m),
                        source_name=label, **options,
                    )
                except DataError as e:
                    bar.empty()
                    st.error(str(e), icon=":material/error:")
                    st.session_state.pop("last-report", None)
                else:
                    bar.empty()
                    st.session_state["last-report"] = report
                    st.session_state["browse-table"] = report.table
    if _load_job_section(ws):
        return
    report = st.session_state.get("last-report")
    if report is not None:
        _show_report(report)


def _as_job(path: Path) -> bool:
    """Whether this file loads as a background job (MW_LOAD_JOB_MB; a bad setting is said, and loads here)."""
    try:
        return runs_as_job(path)
    except DataError as e:
        st.warning(str(e))
        return False


def _start_load_job(ws: Workspace, path: Path, name: str, mode: str, label: str, options: dict) -> None:
    try:
        job_id = submit_load(job_runner(), ws, path, name, mode=mode, source_name=label, **options)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    st.session_state["load-job"] = job_id
    st.session_state.pop("last-report", None)
    st.rerun()  # once more, so the sidebar's jobs panel lists the new job too


def _current_load_job(ws: Workspace) -> str | None:
    """This session's load job; in a new session (a reload), the user's last one if running, recent, or
    finished but not yet saved into the workspace (it is saved when its owner opens this page)."""
    if "load-job" in st.session_state:
        return st.session_state["load-job"]
    last = next(iter(job_runner().jobs(ws.user, kind=LOAD_KIND, limit=1)), None)
    waiting = last is not None and last.state == "done" and not last.picked_up  # finished, not yet in the workspace
    if last is not None and (not last.finished or waiting or time.time() - (last.ended or 0) < RECENT_LOAD_S):
        st.session_state["load-job"] = last.id
        return last.id
    return None


def _load_job_section(ws: Workspace) -> bool:
    """The load job's progress (with Cancel) or its outcome; False when there is no job to show."""
    job_id = _current_load_job(ws)
    if not job_id:
        return False
    runner = job_runner()
    try:
        job = runner.get(job_id)
    except DataError:
        st.session_state["load-job"] = None
        return False
    what = f"`{job.settings.get('file', 'the file')}` into table `{job.table}`"
    if not job.finished:
        st.caption(f"Files of {load_job_mb():g} MB or more load in the background (MW_LOAD_JOB_MB).")
        job_progress(job.id, f":material/upload: Loading {what}", "load-cancel")
        return True
    if job.state == "failed":
        st.error(f"Loading stopped: {job.error}", icon=":material/error:")
        return True
    if job.state == "cancelled":
        st.info(f"Loading {what} was cancelled: the workspace is as it was.", icon=":material/cancel:")
        return True
    if job.state != "done":
        st.warning(f"Loading {what} was {job.state}: {job.error or 'load the file again.'}")
        return True
    outcome = finish_load(ws, runner, job.id)
    deadline = time.monotonic() + 10
    while outcome is None and time.monotonic() < deadline:  # another session is saving it right now
        time.sleep(0.25)
        outcome = finish_load(ws, runner, job.id)
    if outcome is None:
        st.info("The loaded rows are being saved as a table; reload the page in a moment.")
    elif outcome.report is None:
        st.error(f"Loading stopped: {outcome.error}", icon=":material/error:")
    else:
        if st.session_state.get("load-job-shown") != job.id:  # once: browse the new table
            st.session_state["load-job-shown"] = job.id
            st.session_state["browse-table"] = outcome.report.table
        _show_report(outcome.report)
    return True


if tab_load is not None and tab_load.open:
    with tab_load:
        _load_tab()


# ------------------------------------------------------------------ browse
def _browse_tab() -> None:
    tables = ws.tables()
    if not tables:
        st.info("No tables yet: load a CSV above, or the demo data on the Home page.")
    else:
        if st.session_state.get("browse-table") not in tables:
            st.session_state["browse-table"] = tables[0]
        table = st.selectbox("Table", tables, key="browse-table")
        info = ws.info(table)
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Rows", f"{info.rows:,}")
        m2.metric("Columns", f"{info.columns:,}")
        m3.metric("Version", info.version)
        m4.metric("Loaded", info.updated_at.strftime("%Y-%m-%d %H:%M") if info.updated_at else "-")
        if info.source:
            st.caption(f"Source: {info.source}")
        shown = min(PREVIEW_ROWS, info.rows)
        preview_of = "the only row" if shown == 1 else "first " + plural(shown, "row")
        st.markdown(f"**Preview** ({preview_of})")
        st.dataframe(for_display(ws.read(table, limit=PREVIEW_ROWS)), hide_index=True, width="stretch", height=320)
        st.markdown("**Column profile** (computed in the database)")
        with st.spinner("Profiling columns...", show_time=True):
            prof = cached_profile(str(ws.path), table, info.version)
        st.dataframe(
            prof, hide_index=True, width="stretch",
            column_config={
                "missing_pct": st.column_config.ProgressColumn("missing %", min_value=0, max_value=100, format="%.1f%%"),
                "mean": st.column_config.NumberColumn(format="%.4g"),
            },
        )
        st.markdown("**Download the whole table**")
        download_buttons(None, table, key=f"export-{table}", make_bytes=lambda fmt, t=table: ws.export(t, fmt))
        if can(ws, "drop"):
            with st.expander("Delete this table"):
                sure = st.checkbox(f"Yes, delete '{table}' from the workspace", key=f"drop-sure-{table}")
                if st.button("Delete table", disabled=not sure, key=f"drop-{table}", icon=":material/delete:"):
                    try:
                        ws.drop(table)
                    except DataError as e:
                        st.error(str(e), icon=":material/error:")
                    else:
                        st.session_state.pop("browse-table", None)
                        st.rerun()


if tabs["Browse tables"].open:
    with tabs["Browse tables"]:
        _browse_tab()


# ------------------------------------------------------------------ SQL
def _run_console(ws: Workspace, query: str) -> None:
    """Run the query with a live elapsed time; leaving the page or pressing Cancel interrupts it."""
    status = st.empty()
    st.session_state["sql-running"] = True
    started = {"s": 0.0}

    def tick(elapsed: float) -> None:
        started["s"] = elapsed
        status.caption(f":material/hourglass_top: Running for {elapsed:.1f} s. Press **Cancel** to stop it.")

    try:
        result = ws.query(query, limit=SQL_PREVIEW_ROWS, on_wait=tick)
        st.session_state["sql-result"] = (query, result)
        st.session_state.pop("sql-error", None)
    except DataError as e:
        st.session_state.pop("sql-result", None)
        st.session_state["sql-error"] = str(e)
    finally:
        # Reached also when Streamlit stops this run (Cancel clicked, page left, tab closed):
        # core has already interrupted the query by then.
        if st.session_state.pop("sql-running", False) and "sql-result" not in st.session_state \
                and "sql-error" not in st.session_state:
            st.session_state["sql-error"] = f"The query was stopped after {started['s']:.1f} s."
        status.empty()


if "SQL console" in tabs and tabs["SQL console"].open:
    with tabs["SQL console"]:
        st.caption("Read-only SQL (DuckDB dialect) over the workspace tables: one SELECT at a time, no "
                   f"file access, at most {config.sql_timeout_s():g} s per query (MW_SQL_TIMEOUT_S). "
                   "Quote names with spaces or capitals in double quotes.")
        default_sql = f'SELECT * FROM "{ws.tables()[0]}" LIMIT 100' if ws.tables() else "SELECT 42 AS answer"
        query = st.text_area("Query", value=default_sql, height=140, key="sql-text")
        c_run, c_cancel, _ = st.columns([1, 1, 4])
        run = c_run.button("Run query", type="primary", icon=":material/play_arrow:", key="sql-run")
        if c_cancel.button("Cancel", icon=":material/stop:", key="sql-cancel",
                           help="Stops the running query (it is also stopped when you leave the page)."):
            # The click itself stopped the running script (and so the query, in core); the stopped
            # run may still be finishing on its own thread, so say it here too.
            if st.session_state.get("sql-running") and not st.session_state.get("sql-error"):
                st.session_state["sql-error"] = "The query was cancelled."
        if run:
            st.session_state.pop("sql-result", None)
            st.session_state.pop("sql-error", None)
            _run_console(ws, query)
        if st.session_state.get("sql-error"):
            st.error(st.session_state["sql-error"], icon=":material/error:")
        result = st.session_state.get("sql-result")
        if result is not None:
            ran, res = result
            note = (f" (the first {SQL_PREVIEW_ROWS:,} are shown; downloads hold every row)" if res.truncated
                    else "")
            counted = f"{len(res.frame):,}+ rows" if res.truncated else plural(len(res.frame), "row")
            st.caption(f"{counted} in {res.elapsed_s:.2f} s{note}")
            st.dataframe(for_display(res.frame), hide_index=True, width="stretch")
            download_buttons(lambda q=ran: ws.sql(q), "query_result", key="sql-dl")


# ------------------------------------------------------------------ admin
def _audit_tab(ws: Workspace) -> None:
    st.caption("Every load, replace, append, delete, export, download, model change, scoring, backup, "
               "restore, sign-in and console query, newest first.")
    log = ws.audit()
    c1, c2 = st.columns(2)
    who = c1.multiselect("User", sorted(log["user"].dropna().unique()), key="audit-user")
    what = c2.multiselect("Action", sorted(log["action"].dropna().unique()), key="audit-action")
    mask = pd.Series(True, index=log.index)
    if who:
        mask &= log["user"].isin(who)
    if what:
        mask &= log["action"].isin(what)
    shown = log[mask]
    st.caption(f"{len(shown):,} of {plural(len(log), 'entry', 'entries')}")
    st.dataframe(shown.head(5000), hide_index=True, width="stretch",
                 column_config={"when": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    download_buttons(lambda: shown, "audit_log", key="audit-dl")


def _backup_tab(ws: Workspace) -> None:
    st.markdown("**Back up** every table, the saved models and the metadata into one file.")
    key = st.text_input("Passphrase (leave empty for an unencrypted backup)", type="password", key="backup-key",
                        help="AES-GCM encryption; without the passphrase the backup cannot be restored.")
    if st.button("Create backup", icon=":material/backup:", key="backup-run"):
        try:
            with st.spinner("Writing a consistent snapshot...", show_time=True):
                out = ws.backup(ws.tmp_dir / "backups", key=key or None)
            st.session_state["backup-file"] = (out.name, out.read_bytes())
            out.unlink(missing_ok=True)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    made = st.session_state.get("backup-file")
    if made:
        name, data = made
        st.download_button(f"Download {name} ({len(data) / 1e6:,.1f} MB)", data, file_name=name,
                           mime="application/octet-stream", on_click="ignore", key="backup-dl",
                           icon=":material/download:")
    st.divider()
    st.markdown("**Restore** a backup: the workspace then holds exactly the backup's tables and models. "
                "Tables not in the backup are removed. The backup is checked completely first; a wrong "
                "passphrase or a damaged file changes nothing.")
    up = st.file_uploader("Backup file", key="restore-file")
    rkey = st.text_input("Passphrase of this backup (if encrypted)", type="password", key="restore-key")
    sure = st.checkbox("Yes, replace the workspace's tables and models with the backup", key="restore-sure")
    if st.button("Restore", disabled=up is None or not sure, icon=":material/restore:", key="restore-run"):
        assert up is not None
        try:
            with st.spinner("Checking and restoring...", show_time=True):
                names = ws.restore(up, key=rkey or None)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
        else:
            st.success(f"Restored {plural(len(names), 'table')}: {', '.join(names) or 'none'}.")


if "Audit log" in tabs and tabs["Audit log"].open:
    with tabs["Audit log"]:
        _audit_tab(ws)
if "Backup and restore" in tabs and tabs["Backup and restore"].open:
    with tabs["Backup and restore"]:
        _backup_tab(ws)

warm_up()  # SciPy and statsmodels imported in the background for the Experiments page (pages.common.warm_up)
