"""AppTest of every page with MW_ENGINE=spark on the demo data: each page opens without an exception
and without an error message (the pages call the same workspace API on Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ["home", "data", "segments", "models", "experiments", "campaigns", "targeting"]


@pytest.fixture(scope="module")
def spark_app(spark, tmp_path_factory):
    import streamlit as st

    from core.data.spark import SparkWorkspace
    from core.demo import load_demo

    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("spark-app")
    mp.setenv("MW_ENGINE", "spark")
    mp.setenv("MW_SPARK_DATABASE", "t_pages")
    mp.setenv("MW_WORKSPACE", str(folder / "workbench.duckdb"))
    mp.setenv("MW_IMPORT_DIR", str(folder / "imports"))
    st.cache_resource.clear()
    st.cache_data.clear()
    load_demo(SparkWorkspace(spark, database="t_pages"))
    yield
    st.cache_resource.clear()
    st.cache_data.clear()
    spark.sql("DROP DATABASE IF EXISTS t_pages CASCADE")
    mp.undo()


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_on_spark(spark_app, page):
    at = AppTest.from_file(APP, default_timeout=300).run()
    if page != "home":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception][:1]
    assert not at.error, [e.value for e in at.error]
    if page == "home":
        assert any("Apache Spark" in c.value and "t_pages" in c.value for c in at.caption)
        shown = next(d.value for d in at.dataframe if "table" in d.value.columns)
        assert {"customers", "transactions", "email_campaign"} <= set(shown["table"])  # the demo, read from Spark


def test_journeys_on_spark(spark_app, spark):
    """SQL console, customer features and K-means segments, a model trained and scored: on Spark."""
    from apptest_jobs import finish_jobs, open_tab

    from core.data.spark import SparkWorkspace

    ws = SparkWorkspace(spark, database="t_pages")
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/data.py").run()
    open_tab(at, "data", "SQL console")
    at.text_area(key="sql-text").set_value("SELECT channel, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1").run()
    at.button(key="sql-run").click().run()
    assert not at.exception, [e.stack_trace[-6:] for e in at.exception][:1]
    result = [df.value for df in at.dataframe if "n" in getattr(df.value, "columns", [])]
    assert result and result[-1]["n"].sum() == 5000, [e.value for e in at.error]
    at.text_area(key="sql-text").set_value("DROP TABLE customers").run()
    at.button(key="sql-run").click().run()
    assert at.error and "customers" in ws.tables()

    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select("transactions").run()
    at.button(key="build-customers").click().run()
    at = finish_jobs(at)
    assert not at.exception, [e.value for e in at.exception][:1]
    assert len(ws.read("transactions_customers")) == 5000

    at.switch_page("pages/models.py").run()
    at.selectbox(key="model-table").select("customers").run()
    at = finish_jobs(at.button(key="model-train").click().run(), timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert float(at.metric[0].value) > 0.7


def _page_with_limits(spark, monkeypatch, page: str, key: str, table: str, **limits: str):
    """(Spark workspace, AppTest on `page` with `table` picked in the selectbox `key`), with the
    MW_SPARK_* row limits set and the cached table reads dropped (so they see the limits)."""
    import streamlit as st

    from core.data.spark import SparkWorkspace

    for name, value in limits.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(f"pages/{page}.py").run()
    at.selectbox(key=key).select(table).run()
    return SparkWorkspace(spark, database="t_pages"), at


def test_a_table_over_the_driver_limit_is_sampled_then_scored_and_segmented_on_spark(spark_app, spark, monkeypatch):
    """MW_SPARK_DRIVER_ROWS=1000 on the demo's 5,000 customers: Models trains on a stated sample and
    scores every row on Spark into a table; Segments finds segments on the sample and saves all customers."""
    from apptest_jobs import finish_jobs, open_tab

    ws, at = _page_with_limits(spark, monkeypatch, "models", "model-table", "customers", MW_SPARK_DRIVER_ROWS="1000")
    assert any("5,000 rows in Spark" in i.value and "1,000 rows" in i.value for i in at.info), [i.value for i in at.info]
    at = finish_jobs(at.button(key="model-train").click().run(), timeout=300)
    assert not at.error, [e.value for e in at.error]
    assert any("of a sample of 1,000 of 5,000 rows" in s.value for s in at.success), [s.value for s in at.success]
    at.button(key="model-save").click().run()
    open_tab(at, "models", "Score customers")
    at.selectbox(key="score-table").select("customers").run()
    at.button(key="score-run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Scored 5,000 rows of `customers` on Spark into the table `customers_scores`" in s.value
               for s in at.success), [s.value for s in at.success]
    scores = ws.read("customers_scores")
    assert len(scores) == 5000 and scores["customer_id"].is_unique and scores["decile"].between(1, 10).all()

    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select("customers").run()
    assert any("segments are found on a random sample of 1,000 rows" in i.value for i in at.info)
    at = finish_jobs(at.button(key="seg-run").click().run(), timeout=300)
    assert not at.error, [e.value for e in at.error]
    open_tab(at, "segments", "Save and export")
    at.button(key="seg-save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("(5,000 customers)" in s.value for s in at.success), [s.value for s in at.success]
    saved = ws.read("customers_segments")
    assert len(saved) == 5000 and set(saved.columns) == {"customer_id", "segment", "segment_name", "distance_to_centre"}


def test_segments_of_a_table_over_the_mllib_limit_are_fitted_again_with_mllib(spark_app, spark, monkeypatch):
    from apptest_jobs import finish_jobs, open_tab

    ws, at = _page_with_limits(spark, monkeypatch, "segments", "seg-table", "customers",
                               MW_SPARK_DRIVER_ROWS="1000", MW_SPARK_MLLIB_ROWS="2000")
    at = finish_jobs(at.button(key="seg-run").click().run(), timeout=300)
    open_tab(at, "segments", "Save and export")
    assert any("with Spark MLlib (k-means||" in c.value for c in at.caption), [c.value for c in at.caption]
    at.text_input(key="seg-save-name-customers").set_value("customers_mllib").run()
    at.button(key="seg-save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Saved `customers_mllib` (5,000 customers)" in s.value for s in at.success)
    assert any("MLlib converged in" in c.value for c in at.caption)
    assert len(ws.read("customers_mllib")) == 5000
