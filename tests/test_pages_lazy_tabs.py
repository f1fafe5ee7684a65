"""Lazy tabs (issue 11, first render under 2 s): on every page only the open tab's content runs, and the
widgets of a closed tab keep their values when the user switches tabs and back (pages.common.lazy_tabs).
The Campaigns and Experiments pages have their own such tests (test_campaigns_page, test_experiments_page)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from apptest_jobs import TAB_KEYS, finish_jobs, open_tab, running_job
from core.data.workspace import Workspace

APP = str(Path(__file__).resolve().parent.parent / "app.py")
WIDGETS = ("selectbox", "multiselect", "radio", "number_input", "slider", "select_slider", "toggle", "checkbox",
           "text_input", "text_area", "button", "file_uploader")


def _keys(at: AppTest) -> set[str]:
    """The keys of the widgets drawn in the last run."""
    return {w.key for kind in WIDGETS for w in at.get(kind) if getattr(w, "key", None)}


def _demo_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="load-demo").click().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


# ------------------------------------------------------------------ the shared helpers (pages.common)
def test_a_key_belongs_to_the_tab_of_its_longest_prefix():
    from pages.common import tab_of
    keep = {"Results": ("exp-",), "Over time": ("exp-date-", "exp-time-"), "By segment": ("exp-by-",)}
    assert tab_of("exp-metrics-t", keep) == "Results"
    assert tab_of("exp-date-t", keep) == "Over time" and tab_of("exp-time-metric-t", keep) == "Over time"
    assert tab_of("exp-by-metric-t", keep) == "By segment"
    assert tab_of("plan-kind", keep) is None


def test_only_plain_values_are_written_back():
    import datetime as dt
    from pages.common import _plain
    assert all(_plain(v) for v in ("a", 3, 0.5, True, None, dt.date(2026, 1, 1), ["a", "b"], (dt.date(2026, 1, 1),)))
    assert not any(_plain(v) for v in ({"edited_rows": {}}, pd.DataFrame(), [pd.DataFrame()], b"bytes"))


# ------------------------------------------------------------------ Models
def test_models_tabs_run_one_at_a_time_and_keep_their_choices(app_env):
    at = _demo_page("pages/models.py")
    keys = _keys(at)
    assert "model-table" in keys and not {"board-table", "score-table", "score-model"} & keys
    at.selectbox(key="model-table").select("customers").run()
    at.selectbox(key="model-algorithm").select("linear").run()
    at.number_input(key="model-cv").set_value(3).run()
    at.slider(key="model-test-size").set_value(0.3).run()
    open_tab(at, "models", "Leaderboard and saved models")
    assert "board-table" in _keys(at) and not any(k.startswith("model-") for k in _keys(at))
    at.selectbox(key="board-table").select("customers").run()
    open_tab(at, "models", "Score customers")
    assert not any(k.startswith(("model-", "board-")) for k in _keys(at))
    open_tab(at, "models", "Train")
    assert at.selectbox(key="model-table").value == "customers"
    assert at.selectbox(key="model-algorithm").value == "linear"
    assert at.number_input(key="model-cv").value == 3 and at.slider(key="model-test-size").value == 0.3
    open_tab(at, "models", "Leaderboard and saved models")
    assert at.selectbox(key="board-table").value == "customers"


def test_models_training_shows_again_after_a_visit_to_another_tab(app_env):
    at = _demo_page("pages/models.py")
    at.selectbox(key="model-table").select("customers").run()
    at.selectbox(key="model-algorithm").select("linear").run()
    at.button(key="model-train").click().run()
    open_tab(at, "models", "Leaderboard and saved models")  # while it runs (or just after)
    assert not running_job(at) and not at.metric  # the Train tab's progress and result are not drawn here
    open_tab(at, "models", "Train")
    finish_jobs(at)
    assert not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric][:2] == ["ROC AUC", "PR AUC"]  # the same run's result, no new job
    from pages.common import job_runner
    assert [j.kind for j in job_runner().jobs("local")] == ["train"]


# ------------------------------------------------------------------ Segments
def test_segments_tabs_run_one_at_a_time_and_keep_their_choices(app_env):
    from pages.common import result_store
    at = _demo_page("pages/segments.py")
    at.selectbox(key="seg-table").select("customers").run()
    assert "km-features-customers" in _keys(at) and not any(k.startswith("rfm-") for k in _keys(at))
    assert not [k for k in result_store() if k[0] == "rfm"]  # the RFM tab's scores are not computed
    at.selectbox(key="km-scale").select(at.selectbox(key="km-scale").options[-1]).run()
    scale = at.selectbox(key="km-scale").value
    at.slider(key="km-clip").set_value(2.5).run()
    open_tab(at, "segments", "RFM segments")
    assert not any(k.startswith("km-") for k in _keys(at)) and [k for k in result_store() if k[0] == "rfm"]
    monetary = at.selectbox(key="rfm-monetary-customers")
    other = next(o for o in monetary.options if o != monetary.value)
    monetary.select(other).run()
    open_tab(at, "segments", "Save and export")
    open_tab(at, "segments", "K-means segments")
    assert at.selectbox(key="km-scale").value == scale and at.slider(key="km-clip").value == 2.5
    open_tab(at, "segments", "RFM segments")
    assert at.selectbox(key="rfm-monetary-customers").value == other
    assert not at.exception and not at.error


# ------------------------------------------------------------------ Data
def test_data_tabs_run_one_at_a_time_and_keep_their_choices(app_env):
    at = _demo_page("pages/data.py")
    assert [t.label for t in at.tabs] == ["Load a CSV", "Browse tables", "SQL console", "Audit log",
                                          "Backup and restore"]
    assert not {"browse-table", "sql-text", "audit-user", "backup-key"} & _keys(at)
    assert not at.metric and not at.dataframe  # no preview or profile read for the Browse tab
    open_tab(at, "data", "Browse tables")
    at.selectbox(key="browse-table").select("transactions").run()
    assert any(m.label == "Rows" for m in at.metric)
    open_tab(at, "data", "SQL console")
    at.text_area(key="sql-text").set_value("SELECT count(*) AS n FROM transactions").run()
    open_tab(at, "data", "Browse tables")
    assert at.selectbox(key="browse-table").value == "transactions"
    open_tab(at, "data", "SQL console")
    assert at.text_area(key="sql-text").value == "SELECT count(*) AS n FROM transactions"
    assert not at.exception and not at.error


def test_data_an_upload_survives_a_visit_to_another_tab(app_env):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    at.get("file_uploader")[0].upload("Spring Promo.csv", b"id,spend\n1,2.5\n2,4\n", "text/csv").run()
    at.radio(key="mode-Spring Promo.csv").set_value("replace").run()
    open_tab(at, "data", "Browse tables")
    open_tab(at, "data", "Load a CSV")
    # the uploader itself comes back empty (Streamlit drops its file); the page keeps using the file
    assert any("Using **Spring Promo.csv**" in c.value for c in at.caption)
    assert at.radio(key="mode-Spring Promo.csv").value == "replace"
    at.button(key="load-btn").click().run()
    assert not at.exception
    assert Workspace(app_env).read("spring_promo")["spend"].tolist() == [2.5, 4.0]
    at.button(key="upload-clear").click().run()  # Clear forgets it
    assert not any("Using **" in c.value for c in at.caption) and "load-btn" not in _keys(at)


def test_every_page_with_tabs_has_a_tab_key():
    """tests.apptest_jobs.TAB_KEYS names the keys the pages give their tabs."""
    pages = Path(APP).parent / "pages"
    for name, key in TAB_KEYS.items():
        assert f'"{key}"' in (pages / f"{name}.py").read_text(), name
