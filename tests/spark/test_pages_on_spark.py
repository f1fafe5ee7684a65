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
        assert any("Apache Spark" in c.value for c in at.caption)
