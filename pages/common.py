"""Small UI helpers shared by the pages: the workspace handle, cached reads and download buttons."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import threading
import time
from typing import Any, Callable, Sequence

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.errors import DataError
from core.data.driver import DriverFrame, driver_frame
from core.data.export import FORMATS, MIME, frame_to_bytes
from core.data.workspace import Workspace
from core.jobs import JobRunner
from core.roles import REQUIRED_ROLE, allowed
from pages.account import current, ensure_entry

FORMAT_LABELS = {"csv": "CSV", "parquet": "Parquet", "xlsx": "Excel (.xlsx)"}
# What the Experiments page imports (SciPy's statistics, statsmodels' multiple-testing corrections,
# plotly): 1.5-2 s on first use in a server process, most of its first render after a server start.
# scikit-learn is left to the pages that use it (Segments warms up its own): two threads importing
# scikit-learn at once is what the Segments page had to guard against.
# The Campaigns page's core (its package imports SciPy and statsmodels, its charts plotly) comes next,
# then Targeting's (SciPy; its uplift model, which needs scikit-learn, is left to the Uplift tab).
HEAVY_MODULES = ("scipy.stats", "statsmodels.stats.multitest", "plotly.graph_objects", "core.experiments",
                 "core.experiments.charts", "core.campaigns", "core.campaigns.charts", "core.targeting.clv",
                 "core.targeting.clv_charts", "core.targeting.uplift_charts", "core.targeting.recommend",
                 "core.targeting.audience")
WARM_UP_GIVE_UP_S = 120.0  # a server whose scripts never pause for this long is not warmed up
SCRIPT_THREAD = "ScriptRunner.scriptThread"  # the name Streamlit gives the thread of a script run


def _wait_for_idle_scripts(timeout: float, quiet: float = 0.3) -> None:
    """Wait until no session's script has run for `quiet` seconds (at most `timeout` s in all).

    A script that starts during one module's import is not waited for; the import lock keeps the
    two consistent (the page waits for the module, never imports it twice)."""
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    while time.monotonic() < deadline:
        running = [t for t in threading.enumerate() if t.name == SCRIPT_THREAD and t is not threading.current_thread()]
        if running:
            try:
                running[0].join(max(0.0, min(0.2, deadline - time.monotonic())))
            except RuntimeError:  # listed while it starts: not joinable for a moment yet
                time.sleep(0.05)
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet:
            return
        else:
            time.sleep(0.05)


def _import_heavy(script_run: threading.Thread) -> None:
    # Imports hold the GIL (pure-Python module set-up) and would slow a script running beside them
    # about twofold; a page importing the same package at the same moment is a needless risk. So
    # start once no script has run for a second (a first click usually comes sooner), and import
    # each module only while no session's script runs.
    with contextlib.suppress(RuntimeError):  # (a thread cannot join itself)
        script_run.join(WARM_UP_GIVE_UP_S)
    _wait_for_idle_scripts(WARM_UP_GIVE_UP_S, quiet=1.0)
    for name in HEAVY_MODULES:
        _wait_for_idle_scripts(WARM_UP_GIVE_UP_S)
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a page that needs it reports the problem itself
            logging.getLogger(__name__).warning("warm-up import of %s failed", name, exc_info=True)


@st.cache_resource(show_spinner=False)
def _warm_up_thread() -> threading.Thread:
    thread = threading.Thread(target=_import_heavy, args=(threading.current_thread(),), name="mw-warm-up",
                              daemon=True)
    thread.start()
    return thread


def warm_up() -> None:
    """Import the Experiments page's libraries once per server process in the background, while idle.

    Called at the end of a page's script; the imports start when that script run has ended. The
    page the user opens next finds them imported (or waits on Python's import lock for the rest,
    never importing twice) instead of paying seconds.
    """
    with contextlib.suppress(RuntimeError):  # no threads left: the pages import on first use instead
        _warm_up_thread()


@st.cache_resource(show_spinner=False)
def workspace() -> Workspace:
    """The process-wide workspace for shared cached reads (it hands out its own cursors per call):
    DuckDB (the default), or a Spark database with MW_ENGINE=spark (MW_SPARK_REMOTE, MW_SPARK_DATABASE)."""
    from core.data.spark import engine_name

    if engine_name() == "spark":
        return Workspace.spark()  # type: ignore[return-value]
    return Workspace()


@st.cache_resource(show_spinner=False)
def job_runner() -> JobRunner:
    """The process-wide job runner (one per server process; records under <workspace folder>/jobs)."""
    return JobRunner(workspace().folder / "jobs")


def session_workspace() -> Workspace:
    """The workspace as this session's signed-in user and role (roles are enforced in core)."""
    visitor = current()
    if visitor is None:  # app.py stops before any page for visitors who have not signed in
        raise DataError("Sign in first.")
    return workspace().as_user(visitor.user, visitor.role)


def get_workspace() -> Workspace | None:
    """This session's workspace, or None after showing why it cannot be opened."""
    ensure_entry()
    try:
        return session_workspace()
    except DataError as e:
        st.error(str(e))
        return None


def can(ws: Workspace, action: str) -> bool:
    """Whether this session's role may perform `action` (pages show only what the role may do)."""
    return allowed(ws.role, action)


def role_note(ws: Workspace, action: str, what: str) -> None:
    """Say, once, why a part of the page is not shown to this role."""
    st.info(f"Your role ({ws.role}) can read results here; {what} needs the "
            f"{REQUIRED_ROLE[action]} role. Ask an admin of this workbench for access.",
            icon=":material/lock:")


def page_start(title: str, caption: str | None = None) -> Workspace:
    """Title and one-line purpose of a page, then the workspace; stops the page (saying why) if it cannot open."""
    st.title(title)
    if caption:
        st.caption(caption)
    ws = get_workspace()
    if ws is None:
        st.stop()
    assert ws is not None
    return ws


@st.cache_data(show_spinner=False, max_entries=64)
def cached_profile(db_path: str, table: str, version: int) -> pd.DataFrame:
    """Column profile, cached by table version (recomputed only when the table changes)."""
    return workspace().profile(table)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_distinct(db_path: str, table: str, version: int) -> pd.DataFrame:
    """Column types and distinct counts (core.data.profile.column_types_and_distinct), cached by table version."""
    from core.data.profile import column_types_and_distinct

    return column_types_and_distinct(workspace().table(table))


def table_picker(ws: Workspace, label: str = "Table", key: str = "table") -> str | None:
    """A table selector; shows how to get data when the workspace is empty."""
    tables = ws.tables()
    if not tables:
        st.info("The workspace has no tables yet. Load the demo data on **Home** or upload a CSV on **Data**.")
        return None
    return st.selectbox(label, tables, key=key)


def download_buttons(make_frame: Callable[[], pd.DataFrame] | None, basename: str, key: str,
                     make_bytes: Callable[[str], bytes] | None = None) -> None:
    """One download button per format; bytes are produced only when a button is clicked.

    Every download is written to the audit log (table exports record themselves in core).
    CSV and Excel bytes cannot carry live spreadsheet formulas (core.data.export).
    """
    cols = st.columns(len(FORMATS))
    ws = get_workspace()
    for col, fmt in zip(cols, FORMATS):
        def payload(fmt: str = fmt) -> bytes:
            if make_bytes is not None:
                return make_bytes(fmt)
            assert make_frame is not None
            frame = make_frame()
            if ws is not None:
                ws.record("download", table=basename, rows=len(frame), detail=fmt)
            return frame_to_bytes(frame, fmt, sheet_name=basename)

        col.download_button(
            f"Download {FORMAT_LABELS[fmt]}", data=payload, file_name=f"{basename}.{fmt}",
            mime=MIME[fmt], key=f"{key}-{fmt}", on_click="ignore", icon=":material/download:",
            width="stretch",
        )


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_rows(db_path: str, table: str, version: int) -> DriverFrame:
    """The table's rows as pandas, shared read-only across reruns and sessions until the table changes:
    the whole table on DuckDB; on Spark a seeded sample when it is larger than MW_SPARK_DRIVER_ROWS
    (core.data.driver), whose `note` the page shows."""
    return driver_frame(workspace(), table)


def cached_frame(db_path: str, table: str, version: int) -> pd.DataFrame:
    """The frame of `cached_rows` (the whole table on DuckDB)."""
    return cached_rows(db_path, table, version).frame


@st.cache_resource(show_spinner=False)
def result_store() -> dict:
    """Process-wide store of heavy results (fitted segmentations, scores), keyed by table version and settings."""
    return {}


_MISSING = object()
RESULTS_KEPT = 64  # one Campaigns visit alone keeps ~15 results: a smaller store evicted them on every run


def remember(key: tuple, value: object, limit: int = RESULTS_KEPT) -> object:
    """Keep a heavy result under its key; the least recently used entries go first once `limit` is reached."""
    store = result_store()
    store.pop(key, None)
    store[key] = value
    while len(store) > limit:
        store.pop(next(iter(store)))
    return value


def stored(key: tuple, compute: Callable[[], Any]) -> Any:
    """The result kept under `key` (table version and settings in it), computed on first use only."""
    store = result_store()
    value = store.get(key, _MISSING)
    if value is not _MISSING:
        store.pop(key, None)  # most recently used last: eviction takes the least recently used
        store[key] = value
        return value
    return remember(key, compute())


def settings_of_last_run(clicked: bool, state_key: str, table: str, version: int, settings: dict,
                         button: str) -> dict | None:
    """The settings of the last click of `button` on this table version (None before the first click).

    Heavy work runs only for these stored settings, so moving a widget never starts it by itself;
    a caption says when the widgets no longer match what is shown.
    """
    if clicked:
        st.session_state[state_key] = {"table": table, "version": version, **settings}
    ran = st.session_state.get(state_key)
    if not ran or ran["table"] != table or ran["version"] != version:
        return None
    ran_settings = {k: v for k, v in ran.items() if k not in ("table", "version")}
    if ran_settings != settings:
        st.caption(f"Settings changed since the results below: click **{button}** to update them.")
    return ran_settings


# ------------------------------------------------------------------ lazy tabs
_PLAIN = (str, int, float, bool, dt.date, dt.time, dt.timedelta, type(None))


def _plain(value: object) -> bool:
    """A widget value that can be written back as is (not an upload, a data editor's edits or a frame)."""
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, _PLAIN) for v in value)
    return isinstance(value, _PLAIN)


def keep_widget_values(keys: Sequence[str]) -> int:
    """Keep the values of these widgets through a run that does not draw them; returns how many were kept.

    Streamlit forgets a widget's value at the end of a run that did not draw the widget, so a closed
    lazy tab's widgets would be back at their defaults when the user returns. Writing each value back
    to session state, before the widget is drawn again, is Streamlit's documented way to keep it
    ("Widget behavior": `st.session_state.key = st.session_state.key`). Only plain values (text,
    numbers, dates, lists of them) are written back: uploads and data editors' edits are not
    (see `kept_editor`). Widgets already drawn in this run (above the tabs) are left alone.
    """
    kept = 0
    for key in keys:
        value = st.session_state.get(key)
        if key not in st.session_state or not _plain(value):
            continue
        with contextlib.suppress(StreamlitAPIException):  # drawn above the tabs in this run: kept anyway
            st.session_state[key] = value
            kept += 1
    return kept


def tab_of(key: str, keep: dict[str, tuple[str, ...]]) -> str | None:
    """The tab whose widget `key` is: the one with the longest matching key prefix (None: no tab's)."""
    best, length = None, 0
    for name, prefixes in keep.items():
        for prefix in prefixes:
            if key.startswith(prefix) and len(prefix) > length:
                best, length = name, len(prefix)
    return best


def lazy_tabs(names: Sequence[str], key: str, keep: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Tabs whose content runs only while the tab is selected: name -> tab, and `tab.open` says which.

    `st.tabs(..., on_change="rerun")`: a click on a tab reruns the page, and the page draws only the
    open tab's content (`if tabs[name].open:`), so a first render computes and sends one tab, not all
    of them (the Campaigns page's two tabs held about ten charts). `keep` maps a tab to the key
    prefixes of its widgets (a key belongs to the tab of its longest matching prefix): while that tab
    is closed their values are kept (`keep_widget_values`), so switching tabs and back shows the same
    choices. Back from another page, the tab that was open last opens again (its running job or result
    shows as before), kept under `<key>--open`.
    """
    last = f"{key}--open"
    if key not in st.session_state and st.session_state.get(last) in names:
        st.session_state[key] = st.session_state[last]  # back from another page: the tab that was open
    tabs = dict(zip(names, st.tabs(list(names), key=key, on_change="rerun")))
    opened = next((n for n, t in tabs.items() if t.open), None)
    st.session_state[last] = opened
    if keep:
        closed = [k for k in list(st.session_state.keys())
                  if isinstance(k, str) and k != key and tab_of(k, keep) not in (None, opened)]
        keep_widget_values(closed)
    return tabs


def kept_editor(data: pd.DataFrame, key: str, **kwargs: Any) -> pd.DataFrame:
    """`st.data_editor` whose edits survive runs that do not draw it (a closed lazy tab).

    An editor's state is its edits against `data`; Streamlit drops it with the widget (and it cannot
    be written back like a plain value), so the edited frame is kept under `<key>--kept` with the
    `data` it was edited from. When the editor comes back without state on the same `data`, it starts
    from the edited frame; other data starts afresh. Pop `key` and `<key>--kept` to reset it."""
    kept = f"{key}--kept"
    entry = st.session_state.get(kept)
    start = data
    if entry is not None and entry[0].equals(data):
        # with state: the frame the edits were made on; without (dropped): the edited frame
        start = entry[1] if key in st.session_state else entry[2]
    out = st.data_editor(start, key=key, **kwargs)
    st.session_state[kept] = (data, start, out)
    return out


def lazy_expander(label: str, key: str, expanded: bool = False) -> Any:
    """An expander whose content runs only while it is open: `box = lazy_expander(...); if box.open:
    with box: ...` (st.expander with on_change="rerun"). For tables behind a chart: a collapsed
    expander's dataframe and download buttons were built and sent on every run, read or not."""
    return st.expander(label, expanded=expanded, key=key, on_change="rerun")
