"""AppTest: every page renders without an exception; Home and Data flows work end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_jobs import finish_jobs, open_tab
from test_segments_jobs import finish_segment_jobs
from core.data.workspace import Workspace

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["pages/home.py", "pages/data.py", "pages/segments.py", "pages/models.py", "pages/experiments.py",
         "pages/campaigns.py"]


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_empty_workspace(app_env, page):
    at = _app().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception


def _with_demo() -> AppTest:
    at = _app().run()
    at.button(key="load-demo").click().run()
    assert not at.exception
    return at


def test_demo_button_loads_all_tables(app_env):
    at = _with_demo()
    assert "customers" in at.success[0].value and "campaign_daily" in at.success[0].value
    assert set(Workspace(app_env).tables()) == {"customers", "transactions", "order_lines", "email_campaign",
                                                "offer_test", "campaign_daily"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_sample_data(app_env, page):
    at = _with_demo()
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_data_page_browse_profile_and_exports(app_env):
    at = _with_demo()
    at.switch_page("pages/data.py").run()
    assert not at.get("download_button") and not at.dataframe  # lazy tabs: Browse tables has not run yet
    open_tab(at, "data", "Browse tables")
    at.selectbox(key="browse-table").select("customers").run()
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert {"Download CSV", "Download Parquet", "Download Excel (.xlsx)"} <= set(labels)
    frames = [df.value for df in at.dataframe]
    profile = next(f for f in frames if "top_values" in getattr(f, "columns", []))
    assert "customer_id" in profile["column"].tolist()
    assert any(m.value == "5,000" for m in at.metric)


def test_data_page_upload_and_load(app_env):
    at = _app().run()
    at.switch_page("pages/data.py").run()
    rows = ["customer_id;spend;signup", "1;1.234,50;31/01/2024", "2;12,75;01/02/2024"]
    rows += [f"{i};{i},5;0{i}/03/2024" for i in range(3, 10)] + ["10;x;y;z"]
    csv = ("\n".join(rows) + "\n").encode()
    at.get("file_uploader")[0].upload("EU Customers.csv", csv, "text/csv").run()
    assert not at.exception
    assert at.text_input(key="table-name-EU Customers.csv").value == "eu_customers"
    at.button(key="load-btn").click().run()
    assert not at.exception
    assert any("9 rows" in s.value and "eu_customers" in s.value for s in at.success)
    assert any("rejected" in w.value for w in list(at.warning) + list(at.error))
    df = Workspace(app_env).read("eu_customers")
    assert df["spend"].tolist()[:3] == [1234.5, 12.75, 3.5]


def test_data_page_names_the_uploaded_file_and_counts_rows_in_words(app_env):
    at = _app().run()
    at.switch_page("pages/data.py").run()
    at.get("file_uploader")[0].upload("Spring Promo.csv", b"id,spend\n1,2.5\n", "text/csv").run()
    at.button(key="load-btn").click().run()
    assert not at.exception
    done = [s.value for s in at.success]
    assert any("Loaded **1 row** into table **spring_promo** (2 columns)" in v for v in done), done
    assert Workspace(app_env).info("spring_promo").source == "Spring Promo.csv"
    open_tab(at, "data", "Browse tables")  # the new table is the one shown there
    assert at.selectbox(key="browse-table").value == "spring_promo"
    captions = [c.value for c in at.caption]
    assert "Source: Spring Promo.csv" in captions and not any("upload-" in c for c in captions)
    assert any("the only row" in m.value for m in at.markdown)
    open_tab(at, "data", "Load a CSV")
    at.get("file_uploader")[0].upload("Spring Promo.csv", b"id,spend\n1,2.5\n2,3\n", "text/csv").run()
    at.radio(key="mode-Spring Promo.csv").set_value("replace").run()
    at.button(key="load-btn").click().run()
    assert not at.exception
    assert any("Replaced table **spring_promo** with **2 rows**" in s.value for s in at.success)


def test_data_page_shows_wide_integers(app_env):
    ws = Workspace(app_env)
    csv = "id,v\n12345678901234567890123,1\n12345678901234567890124,2\n"
    ws.ingest_csv(__import__("io").BytesIO(csv.encode()), "wide", types={"id": "HUGEINT"})
    at = _app().run()
    at.switch_page("pages/data.py").run()
    open_tab(at, "data", "Browse tables")
    at.selectbox(key="browse-table").select("wide").run()
    assert not at.exception, at.exception
    open_tab(at, "data", "SQL console")
    at.text_area(key="sql-text").set_value("SELECT id FROM wide").run()
    at.button(key="sql-run").click().run()
    assert not at.exception, at.exception
    result = [df.value for df in at.dataframe if list(getattr(df.value, "columns", [])) == ["id"]]
    assert result and [str(v) for v in result[-1]["id"]] == ["12345678901234567890123", "12345678901234567890124"]
    assert any(c.value.startswith("2 rows in") for c in at.caption)


def test_data_page_bad_file_shows_message(app_env):
    at = _app().run()
    at.switch_page("pages/data.py").run()
    at.get("file_uploader")[0].upload("photo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "text/csv").run()
    assert not at.exception
    assert any("PNG image" in e.value for e in at.error)


def test_sql_console(app_env):
    at = _with_demo()
    at.switch_page("pages/data.py").run()
    open_tab(at, "data", "SQL console")
    at.text_area(key="sql-text").set_value("SELECT channel, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1").run()
    at.button(key="sql-run").click().run()
    assert not at.exception
    result = [df.value for df in at.dataframe if "n" in getattr(df.value, "columns", [])]
    assert result and result[-1]["n"].sum() == 5000
    at.text_area(key="sql-text").set_value("DROP TABLE customers").run()
    at.button(key="sql-run").click().run()
    assert any("read-only" in e.value for e in at.error)
    assert "customers" in Workspace(app_env).tables()


def test_drop_table_from_page(app_env):
    at = _with_demo()
    at.switch_page("pages/data.py").run()
    open_tab(at, "data", "Browse tables")
    at.selectbox(key="browse-table").select("campaign_daily").run()
    at.checkbox(key="drop-sure-campaign_daily").check().run()
    at.button(key="drop-campaign_daily").click().run()
    assert not at.exception
    assert "campaign_daily" not in Workspace(app_env).tables()


def _plotly_specs(at: AppTest) -> list[dict]:
    import json
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_segments_page_builds_customers_then_segments(app_env):
    at = _with_demo()
    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select("transactions").run()
    assert "looks like transactions" in at.info[0].value
    at.button(key="build-customers").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="seg-table").value == "transactions_customers"
    feats = Workspace(app_env).read("transactions_customers")
    assert len(feats) == 5000 and {"recency_days", "frequency", "monetary", "tenure_days"} <= set(feats.columns)
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "ranks best" in at.info[0].value
    open_tab(at, "segments", "Save and export")  # RFM scores are added though the RFM tab was not opened
    at.button(key="seg-save").click().run()
    saved = Workspace(app_env).read("transactions_customers_segments")
    assert list(saved.columns[:4]) == ["customer_id", "segment", "segment_name", "distance_to_centre"]
    assert "rfm_segment" in saved.columns and len(saved) == 5000


def test_segments_page_kmeans_views_rfm_and_export(app_env):
    at = _with_demo()
    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select("customers").run()
    assert "churned" not in at.multiselect(key="km-features-customers").value  # outcomes are not suggested
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    assert at.metric[0].value == "5"  # the five planted customer types
    specs = _plotly_specs(at)
    titles = {a.get("text") for s in specs for a in s.get("layout", {}).get("annotations", [])}
    assert any("Silhouette" in (t or "") for t in titles)
    axis_titles = [s["layout"].get("xaxis", {}).get("title", {}).get("text") for s in specs]
    assert all(axis_titles), axis_titles  # every chart labels its axes
    # a chart option does not refit: the stored result object stays the same
    from pages.common import result_store
    before = {k: id(v) for k, v in result_store().items()}
    at.radio(key="km-view").set_value("index (100 = average customer)").run()
    at.radio(key="km-stat").set_value("median").run()
    assert not at.exception
    assert {k: id(v) for k, v in result_store().items() if k in before} == before
    labels = [b.label for b in at.get("download_button")]
    # the RFM tab scores with the default rules (lazy tabs: once it is open)
    assert not [k for k in result_store() if k[0] == "rfm"]
    open_tab(at, "segments", "RFM segments")
    labels += [b.label for b in at.get("download_button")]
    rfm_keys = [k for k in result_store() if k[0] == "rfm"]
    assert rfm_keys
    scored = result_store()[rfm_keys[-1]]
    assert set(scored["r_score"].dropna().unique()) == {1, 2, 3, 4, 5}
    # export only one segment with chosen columns
    open_tab(at, "segments", "Save and export")
    at.multiselect(key="seg-export-segments").set_value([at.multiselect(key="seg-export-segments").options[0]]).run()
    at.multiselect(key="seg-export-columns").set_value(["customer_id", "segment", "total_spend"]).run()
    assert not at.exception
    export = at.dataframe[-1].value
    assert list(export.columns) == ["customer_id", "segment", "total_spend"] and set(export["segment"]) == {1}
    labels += [b.label for b in at.get("download_button")]  # every tab's tables download (K-means, RFM, export)
    assert labels.count("Download Excel (.xlsx)") >= 3


def test_segments_page_bad_settings_show_clear_error(app_env):
    at = _with_demo()
    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select("customers").run()
    at.multiselect(key="km-features-customers").set_value([]).run()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception
    assert "No usable numeric features" in at.error[0].value


def test_models_page_train_save_score(app_env):
    at = _with_demo()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="model-table").select("customers").run()
    assert at.selectbox(key="model-target-customers").value == "churned"
    feats = at.multiselect(key="model-features-customers-churned").value
    assert "customer_id" not in feats and "signup_date" not in feats
    finish_jobs(at.button(key="model-train").click().run())
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["ROC AUC", "PR AUC"] and float(at.metric[0].value) > 0.7
    # a chart option (the threshold) does not retrain: the stored model object stays the same
    from pages.common import result_store
    before = {k: id(v) for k, v in result_store().items() if k[0] == "model"}
    at.slider(key="model-threshold").set_value(0.3).run()
    assert {k: id(v) for k, v in result_store().items() if k[0] == "model"} == before
    specs = _plotly_specs(at)
    assert all(s["layout"].get("xaxis", {}).get("title", {}).get("text") for s in specs)
    at.button(key="model-save").click().run()
    assert "Saved as" in at.success[-1].value
    open_tab(at, "models", "Score customers")
    at.selectbox(key="score-table").select("customers").run()
    finish_jobs(at.button(key="score-run").click().run())
    assert not at.exception and not at.error
    at.button(key="score-save").click().run()
    scores = Workspace(app_env).read("customers_scores")
    assert {"customer_id", "score", "decile"} <= set(scores.columns) and len(scores) == 5000
    open_tab(at, "models", "Leaderboard and saved models")
    runs = at.dataframe  # leaderboard lists the run
    assert any("algorithm" in getattr(d.value, "columns", []) for d in runs)


def test_models_page_regression_and_errors(app_env):
    at = _with_demo()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="model-table").select("customers").run()
    at.selectbox(key="model-target-customers").select("total_spend").run()
    at.selectbox(key="model-algorithm").select("linear").run()
    finish_jobs(at.button(key="model-train").click().run())
    assert not at.exception and not at.error
    assert [m.label for m in at.metric][:3] == ["R²", "MAE", "RMSE"]
    at.multiselect(key="model-features-customers-total_spend").set_value([]).run()
    finish_jobs(at.button(key="model-train").click().run())
    assert not at.exception
    assert "No usable features" in at.error[0].value


def test_experiments_page_per_user_table(app_env):
    at = _with_demo()
    at.switch_page("pages/experiments.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "healthy" in at.success[0].value
    summary = at.info[0].value
    assert "variant_b raised converted by" in summary and "95% CI" in summary
    assert at.selectbox(key="exp-cov-email_campaign").value == "pre_revenue"
    assert any("CUPED on 'revenue'" in c.value for c in at.caption)
    labels = [b.label for b in at.get("download_button")]
    assert "Download report (HTML)" in labels and "Download results (CSV)" in labels
    at.toggle(key="exp-sequential").set_value(True).run()
    assert not at.exception and "Sequential mode" in at.info[0].value
    assert not any(m.label == "Users per arm" for m in at.metric)  # lazy tabs: Planning not computed yet
    specs = _plotly_specs(at)  # forest plot; then each tab's: timeline charts, breakdown, planning
    for tab, charts in (("Over time", 2), ("By segment", 1), ("Planning", 1)):
        open_tab(at, "experiments", tab)
        assert not at.error, (tab, [e.value for e in at.error])
        assert len(_plotly_specs(at)) == charts, tab
        specs += _plotly_specs(at)
    assert len(specs) >= 5
    assert all(s["layout"].get("xaxis", {}).get("title", {}).get("text") for s in specs)
    assert any(m.label == "Users per arm" for m in at.metric)
    open_tab(at, "experiments", "Results")  # back: the toggle set before the switch is still on
    assert at.toggle(key="exp-sequential").value and "Sequential mode" in at.info[0].value


def test_experiments_page_summary_input_and_bad_values(app_env):
    at = _app().run()
    at.switch_page("pages/experiments.py").run()
    at.radio(key="exp-source").set_value("Totals per variant (typed in or uploaded)").run()
    assert not at.exception and "variant_b" in at.info[0].value
    at.radio(key="exp-sum-kind").set_value("Mean and standard deviation per user").run()
    assert not at.exception and "revenue per user" in at.info[0].value
    bad = b"variant,n,conversions\ncontrol,1000,50\nnew_subject,1000,-3\n"
    at.file_uploader(key="exp-sum-upload").upload("summary.csv", bad, "text/csv").run()
    assert not at.exception
    assert "between 0 and the number of users" in at.error[0].value


def test_experiments_page_srm_warning(app_env):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    n = 4000
    variant = np.where(rng.uniform(size=n) < 0.56, "treatment", "control")  # planned 50/50, got 56/44
    Workspace(app_env).save_frame(pd.DataFrame({"variant": variant, "converted": rng.binomial(1, 0.1, n)}), "broken_test")
    at = _app().run()
    at.switch_page("pages/experiments.py").run()
    at.selectbox(key="exp-table").select("broken_test").run()
    assert not at.exception
    assert "Sample ratio mismatch" in at.error[0].value


def test_experiments_breakdown_by_saved_segments(app_env):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(1)
    n = 3000
    ws = Workspace(app_env)
    ws.save_frame(pd.DataFrame({"customer_id": np.arange(n), "variant": rng.choice(["control", "b"], n),
                                "converted": rng.binomial(1, 0.2, n)}), "promo_test")
    ws.save_frame(pd.DataFrame({"customer_id": np.arange(n), "segment": rng.integers(1, 4, n),
                                "segment_name": rng.choice(["Loyal", "New", "Lapsed"], n)}), "customers_segments")
    at = _app().run()
    at.switch_page("pages/experiments.py").run()
    at.selectbox(key="exp-table").select("promo_test").run()
    open_tab(at, "experiments", "By segment")
    options = at.selectbox(key="exp-by-promo_test").options
    assert any(o.startswith("segment_name from customers_segments") for o in options)
    assert not at.exception and not at.error
    frames = [d.value for d in at.dataframe if "p-value (unadjusted)" in getattr(d.value, "columns", [])]
    assert frames and set(frames[0]["segment_name"]) == {"Loyal", "New", "Lapsed"}  # the level column, named


def test_the_first_page_imports_the_heavy_libraries_in_the_background(app_env, tmp_path, monkeypatch):
    """pages.common.warm_up: once the first page's run has ended and the app is idle, what the Experiments
    page imports (SciPy, statsmodels) is imported on a thread of its own."""
    import sys

    import pages.common as common

    (tmp_path / "mw_warm_marker.py").write_text("import time\ntime.sleep(0.2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(common, "HEAVY_MODULES", common.HEAVY_MODULES + ("mw_warm_marker",))
    monkeypatch.delitem(sys.modules, "mw_warm_marker", raising=False)
    at = _app().run()
    assert not at.exception
    import time

    deadline = time.monotonic() + 120
    while "mw_warm_marker" not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "mw_warm_marker" in sys.modules, "Home started the warm-up"
    assert {"core.experiments", "scipy.stats", "statsmodels.stats.multitest"} <= set(sys.modules)
