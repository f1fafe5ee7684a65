"""The Spark workspace's API (core.data.spark) and the first parity checks against DuckDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def test_catalog_read_version_and_roles(sws):
    df = pd.DataFrame({"customer_id": [1, 2, 3], "amount": [1.5, 2.0, None], "region": ["N", None, "S"]})
    assert sws.tables() == []
    assert sws.save_frame(df, "Q3 Sales (EU)") == "q3_sales_eu"
    assert sws.tables() == ["q3_sales_eu"] and sws.exists("Q3_SALES_EU")
    assert sws.columns("q3_sales_eu") == {"customer_id": "BIGINT", "amount": "DOUBLE", "region": "STRING"}
    back = sws.read("q3_sales_eu").sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert len(sws.read("q3_sales_eu", limit=2)) == 2
    v1 = sws.version("q3_sales_eu")
    assert sws.version("q3_sales_eu") == v1  # a cache key: stable while the data is
    with pytest.raises(DataError, match="already exists"):
        sws.save_frame(df, "q3_sales_eu")
    sws.save_frame(df.head(1), "q3_sales_eu", mode="append")
    assert sws.info("q3_sales_eu").rows == 4 and sws.version("q3_sales_eu") != v1
    sws.save_frame(df.head(2), "q3_sales_eu", mode="replace")
    assert sws.info("q3_sales_eu").rows == 2
    with pytest.raises(DataError, match="same columns"):
        sws.save_frame(df[["customer_id"]], "q3_sales_eu", mode="append")
    viewer = sws.as_user("vera", "viewer")
    with pytest.raises(DataError, match="role"):
        viewer.save_frame(df, "other")
    with pytest.raises(DataError, match="role"):
        viewer.drop("q3_sales_eu")
    sws.drop("q3_sales_eu")
    assert sws.tables() == []
    with pytest.raises(DataError, match="There is no table"):
        sws.read("q3_sales_eu")
    actions = sws.audit()["action"].tolist()
    assert {"load", "append", "replace", "drop", "refused"} <= set(actions)


@pytest.mark.parametrize("query", [
    "DROP TABLE x", "INSERT INTO x VALUES (1)", "CREATE TABLE y AS SELECT 1", "SELECT 1; SELECT 2",
    "SET spark.sql.ansi.enabled=false", "SELECT * FROM csv.`/etc/passwd`", "SELECT * FROM parquet.`/tmp`",
    "SELECT reflect('java.lang.System', 'exit', 0)", "", "DELETE FROM x", "CACHE TABLE x",
])
def test_sql_console_refuses_anything_but_one_select(sws, query):
    with pytest.raises(DataError):
        sws.sql(query)


def test_sql_console_reads_and_stops_at_its_time_limit(sws):
    sws.save_frame(pd.DataFrame({"x": range(10)}), "numbers")
    out = sws.sql(f"SELECT sum(x) AS s FROM {sws.database}.numbers")
    assert int(out["s"].iloc[0]) == 45
    assert len(sws.sql(f"SELECT * FROM {sws.database}.numbers", limit=3)) == 3
    slow = "SELECT sum(a.id * b.id) AS s FROM range(0, 300000) a CROSS JOIN range(0, 300000) b"
    with pytest.raises(DataError, match="longer than"):
        sws.sql(slow, timeout_s=2)
    assert int(sws.sql(f"SELECT count(*) AS n FROM {sws.database}.numbers")["n"].iloc[0]) == 10  # still works


def test_experiment_statistics_equal_duckdb(sws, dws):
    """analyze() through Ibis on Spark gives DuckDB's numbers (integers equal, floats to 1e-9)."""
    from core.experiments import analyze

    df = pd.read_csv(SAMPLE / "email_campaign.csv")
    sws.save_frame(df, "email_campaign")
    dws.save_frame(df, "email_campaign")
    for metric in ("converted", "revenue"):
        got = analyze(sws.table("email_campaign"), "variant", metric).table
        want = analyze(dws.table("email_campaign"), "variant", metric).table
        assert list(got.columns) == list(want.columns)
        for col in want.columns:
            if pd.api.types.is_numeric_dtype(want[col]) and not pd.api.types.is_bool_dtype(want[col]):
                np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-9, atol=1e-12,
                                           err_msg=f"{metric}: {col}")
            else:
                assert got[col].tolist() == want[col].tolist(), (metric, col)


def test_profile_equals_duckdb(sws, dws):
    df = pd.read_csv(SAMPLE / "customers.csv").head(2000)
    sws.save_frame(df, "customers")
    dws.save_frame(df, "customers")
    got, want = sws.profile("customers"), dws.profile("customers")
    assert got["column"].tolist() == want["column"].tolist()
    for col in ("non_null", "missing", "distinct"):
        if col in want.columns:
            assert got[col].tolist() == want[col].tolist(), col


def test_workspace_spark_is_the_same_call(spark):
    from core.data.spark import SparkWorkspace
    from core.data.workspace import Workspace

    ws = Workspace.spark(database="t_same_call")
    try:
        assert isinstance(ws, SparkWorkspace) and ws.engine == "spark" and ws.database == "t_same_call"
        assert ws.session is spark  # one local session per process
    finally:
        spark.sql("DROP DATABASE IF EXISTS t_same_call CASCADE")


def _bad_file(folder: Path) -> Path:
    lines = ["id,amount,day"] + [f"{i},{i * 1.5},2024-01-{(i % 28) + 1:02d}" for i in range(1, 60)]
    lines[40] = "40,1.0"  # too few fields
    lines[45] = "45,2.0,2024-01-01,extra"  # too many
    path = folder / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_local_csv_loads_with_the_duckdb_loaders_rows_types_and_rejects(sws, dws, tmp_path):
    path = _bad_file(tmp_path)
    got = sws.ingest_csv(path, "orders")
    want = dws.ingest_csv(path, "orders")
    assert (got.rows, got.rejected_rows) == (want.rows, want.rejected_rows) == (57, 2)
    assert got.rejects["line"].tolist() == want.rejects["line"].tolist() == [41, 46]
    assert sws.columns("orders") == {"id": "BIGINT", "amount": "DOUBLE", "day": "DATE"}
    a = sws.read("orders").sort_values("id").reset_index(drop=True)
    b = dws.read("orders").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    again = sws.ingest_csv(path, "orders", mode="append")
    assert again.total_rows == 114
    with pytest.raises(DataError, match="already exists"):
        sws.ingest_csv(path, "orders")
    with pytest.raises(DataError, match="role"):
        sws.as_user("vera", "viewer").ingest_csv(path, "other")


def test_the_data_pages_load_calls_and_a_load_jobs_file_reach_spark(sws, tmp_path):
    """What the Data page passes (progress, source_name) and what a load job leaves (staged Parquet, saved
    by finish_load through load_staged) work on Spark as on DuckDB."""
    from core.data.load_job import STAGED_FILE, stage_csv

    path = _bad_file(tmp_path)
    steps = []
    report = sws.ingest_csv(path, "orders", progress=lambda share, message: steps.append(message),
                            source_name="Orders 2026.csv")
    assert report.rows == 57 and steps and sws.audit().iloc[-1]["detail"].startswith("Orders 2026.csv")
    folder = tmp_path / "job"
    folder.mkdir()
    staged, _ = stage_csv(path, folder, "orders", "append", {}, allowed=[folder, path.parent], threads=1)
    total = sws.load_staged(folder / STAGED_FILE, "orders", "append", dict(staged.columns), source_name="big.csv",
                            loaded_rows=staged.rows, rejected_rows=staged.rejected_rows)
    assert total == 114 and not (folder / STAGED_FILE).exists()
    with pytest.raises(DataError, match="already exists"):
        sws.load_staged(folder / STAGED_FILE, "orders", "create", {}, source_name="x.csv")


def test_a_folder_is_read_by_spark_with_type_misfits_rejected(sws, spark, tmp_path):
    folder = tmp_path / "lake" / "orders"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text("id,amount\n" + "".join(f"{i},{i}.5\n" for i in range(1, 200)))
    (folder / "part-1.csv").write_text("id,amount\n" + "".join(f"{i},{i}.25\n" for i in range(200, 400)) +
                                       "400,not a number\n")
    report = sws.ingest_csv(str(folder), "lake_orders", sampling_ratio=1.0)
    # with every line sampled, 'not a number' makes amount a text column: nothing is rejected, and nothing lost
    assert report.rows == 400 and report.rejected_rows == 0 and sws.columns("lake_orders")["amount"] == "STRING"
    assert any("Spark does not report lines with too few" in w for w in report.warnings)
    typed = sws.ingest_csv(str(folder), "lake_typed", types={"amount": "double"})
    assert (typed.rows, typed.rejected_rows) == (399, 1)  # the misfit line is rejected, and shown
    assert typed.rejects["raw_line"].tolist() == ["400,not a number"]
    assert sws.columns("lake_typed") == {"id": "INT", "amount": "DOUBLE"}
    assert float(sws.sql(f"SELECT sum(amount) AS s FROM {sws.database}.lake_typed")["s"].iloc[0]) == pytest.approx(
        sum(i + 0.5 for i in range(1, 200)) + sum(i + 0.25 for i in range(200, 400)))
    with pytest.raises(DataError, match="not a Spark SQL type"):
        sws.ingest_csv(str(folder), "lake_bad", types={"amount": "dubble"})


def test_the_launcher_starts_the_spark_session_before_the_first_page(spark, monkeypatch):
    import serve

    from core.data import spark as engine

    monkeypatch.setenv("MW_ENGINE", "spark")
    monkeypatch.delenv("MW_SPARK_REMOTE", raising=False)
    serve.start_engine()
    assert engine._SESSIONS.get(engine.LOCAL_MASTER) is spark  # the one session the pages then use
