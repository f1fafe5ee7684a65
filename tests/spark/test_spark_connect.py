"""The workspace through Spark Connect: a local Spark Connect server (pyspark's own spark-submit with
SparkConnectServer, on 127.0.0.1) and `SparkWorkspace.connect("sc://127.0.0.1:<port>")`, the call a
cluster gets. Catalog, reads, read-only SQL, an analysis equal to DuckDB's, and scoring and segment
assignment whose model and `core` reach the server as artifacts.

pyspark switches a whole process to Spark Connect once a Connect session exists (it sets
SPARK_CONNECT_MODE_ENABLED: functions, ML and new sessions then go through Connect), so the checks
marked `connect_child` run in a pytest process of their own, started by
`test_spark_connect_in_its_own_process`; tests/spark/conftest.py leaves them out of the parent run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
CHILD_ENV = "MW_SPARK_CONNECT_CHILD"


def test_spark_connect_in_its_own_process():
    if os.environ.get(CHILD_ENV) == "1":
        pytest.skip("the child run itself")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "connect_child",
                          __file__], env={**os.environ, CHILD_ENV: "1"}, capture_output=True, text=True,
                         timeout=900, cwd=Path(__file__).resolve().parents[2])
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0 and " passed" in summary and "failed" not in summary, \
        run.stdout[-6000:] + run.stderr[-3000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    import pyspark

    folder = tmp_path_factory.mktemp("spark-connect")
    port = _free_port()
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_HOME=str(Path(pyspark.__file__).parent))
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(
        [str(submit), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", "local[2]",
         "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", f"spark.sql.warehouse.dir={folder / 'warehouse'}", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.sql.session.timeZone=UTC", "--conf", "spark.sql.shuffle.partitions=4",
         "--conf", f"spark.driver.extraJavaOptions=-Duser.timezone=UTC -Dderby.system.home={folder}",
         "spark-internal"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def cws(connect_url):
    from core.data.spark import SparkWorkspace, is_connect

    ws = SparkWorkspace.connect(connect_url, database="t_connect")
    assert is_connect(ws.session)
    yield ws
    ws.session.sql("DROP DATABASE IF EXISTS t_connect CASCADE")


@pytest.mark.connect_child
def test_catalog_reads_and_read_only_sql_through_spark_connect(cws):
    from core.errors import DataError

    customers = pd.read_csv(SAMPLE / "customers.csv", parse_dates=["signup_date"])
    cws.save_frame(customers, "customers")
    assert cws.tables() == ["customers"] and cws.info("customers").rows == len(customers)
    version = cws.version("customers")
    assert cws.version("customers") == version
    head = cws.read("customers", limit=3)
    assert head.shape == (3, customers.shape[1]) and str(head["signup_date"].dtype).startswith("datetime64")
    counts = cws.sql("WITH c AS (SELECT channel FROM customers) SELECT channel, count(*) AS n FROM c GROUP BY 1")
    assert counts["n"].sum() == len(customers)
    with pytest.raises(DataError, match="Only SELECT"):
        cws.sql("DROP TABLE customers")
    cws.save_frame(customers.head(10), "customers", mode="replace")
    assert cws.version("customers") != version and cws.info("customers").rows == 10


@pytest.mark.connect_child
def test_a_csv_load_and_an_analysis_through_spark_connect_equal_duckdb(cws, dws, tmp_path):
    from core.experiments import analyze

    source = tmp_path / "email_campaign.csv"  # with two ragged lines, which both loaders reject
    lines = (SAMPLE / "email_campaign.csv").read_text().splitlines()
    source.write_text("\n".join(lines[:50] + ["1,2", lines[50] + ",extra,fields"] + lines[51:]) + "\n")
    got_load, want_load = cws.ingest_csv(source, "email_campaign"), dws.ingest_csv(source, "email_campaign")
    assert (got_load.rows, got_load.rejected_rows) == (want_load.rows, want_load.rejected_rows) \
        == (len(lines) - 2, 2)
    assert got_load.columns.keys() == want_load.columns.keys()
    got = analyze(cws.table("email_campaign"), "variant", ["converted", "revenue"]).table
    want = analyze(dws.table("email_campaign"), "variant", ["converted", "revenue"]).table
    assert got["n"].tolist() == want["n"].tolist()
    np.testing.assert_allclose(got[["mean", "p_value", "abs_lift"]].to_numpy(float),
                               want[["mean", "p_value", "abs_lift"]].to_numpy(float), rtol=1e-9)


@pytest.mark.connect_child
def test_scoring_and_segments_run_on_the_server_through_spark_connect(cws):
    from core.data.driver import driver_frame
    from core.data.spark_apply import assign_segments_on_spark, score_on_spark
    from core.models import score_table, train
    from core.segments import kmeans_segments

    customers = pd.read_csv(SAMPLE / "customers.csv", parse_dates=["signup_date"])
    cws.save_frame(customers, "customers")
    rows = driver_frame(cws, "customers", max_rows=1_500)
    assert rows.sampled and rows.rows == 1_500
    model = train(rows.frame, "churned", ["orders", "total_spend", "tenure_days", "region"], algorithm="linear",
                  cv=2)
    scored = score_on_spark(cws, model, "customers", "customers_scores", id_column="customer_id")
    saved = cws.read("customers_scores").sort_values("customer_id")
    want = score_table(model, customers, "customer_id").sort_values("customer_id")
    assert scored.rows == len(customers)
    np.testing.assert_allclose(saved["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-12)
    result = kmeans_segments(rows.frame, ["orders", "total_spend", "tenure_days"], 3)
    assigned = assign_segments_on_spark(cws, result, "customers", "customer_id", "customers_segments")
    seg = cws.read("customers_segments").set_index("customer_id").loc[customers["customer_id"], "segment"]
    assert assigned.rows == len(customers)
    np.testing.assert_array_equal(seg.to_numpy(), result.predict(customers))
