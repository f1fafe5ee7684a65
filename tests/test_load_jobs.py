"""Large CSV loads as background jobs (core.data.load_job): same result as a load in the page process,
rejects with their lines, the job's DuckDB limits and sandbox, cancel, failures, and the Data page."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from apptest_jobs import finish_jobs, running_job

from core.data import load_job as lj
from core.data.workspace import Workspace
from core.errors import DataError
from core.jobs import JobRunner, threads_per_job

APP = str(Path(__file__).resolve().parent.parent / "app.py")

MESSY = (
    "id,amount,day,big,name\n"
    "1,10.5,2024-01-02,100000000000000000000000000001,Ann\n"
    "2,11.0,2024-01-03,100000000000000000000000000002,\"Bo, Jr\"\n"
    "3,oops,2024-01-04,100000000000000000000000000003,Cy\n"
    "4,12.25,2024-01-05,100000000000000000000000000004,Di\n"
    "5,13.0,2024-01-06\n"
    "6,,2024-01-07,100000000000000000000000000006,Ed\n"
)
TYPES = {"amount": "number", "big": "HUGEINT"}  # explicit types: "oops" is a rejected row, with its line


@pytest.fixture
def runner(ws: Workspace):
    r = JobRunner(ws.folder / "jobs", workers=2, per_user=2)
    yield r
    r.shutdown()


def _job_load(ws: Workspace, runner: JobRunner, path: Path, table: str, mode: str = "create",
              **options) -> lj.LoadOutcome:
    job_id = lj.submit_load(runner, ws, ws._stage(path), table, mode=mode, source_name=path.name, **options)
    job = runner.wait(job_id, timeout=120)
    assert job.state == "done", job.error
    outcome = lj.finish_load(ws, runner, job_id)
    assert outcome is not None
    return outcome


def _table(ws: Workspace, name: str) -> pd.DataFrame:
    return ws.sql(f'SELECT * FROM "{name}" ORDER BY ALL')


def test_a_job_load_gives_the_same_table_and_report_as_a_load_in_the_page(ws, runner, write, tmp_path):
    path = write("messy.csv", MESSY)
    here = ws.ingest_csv(path, "here", types=TYPES)
    outcome = _job_load(ws, runner, path, "there", types=TYPES)
    assert outcome.error is None
    job = outcome.report
    assert (job.rows, job.rejected_rows, job.total_rows) == (here.rows, here.rejected_rows, here.total_rows) == (4, 2, 4)
    assert job.columns == here.columns == ws.columns("there")
    assert ws.columns("there")["big"] == "HUGEINT", "128-bit integers keep their type through the Parquet file"
    pd.testing.assert_frame_equal(job.rejects, here.rejects)
    assert sorted(set(job.rejects["line"])) == [4, 6], "every reject with its line (a short row has one per missing column)"
    assert job.warnings == here.warnings
    pd.testing.assert_frame_equal(_table(ws, "there"), _table(ws, "here"))
    assert _table(ws, "there")["big"].astype(str).tolist()[0] == "100000000000000000000000000001"
    log = ws.audit()
    log = log[(log["action"] == "load") & (log["table"] == "there")]
    assert len(log) == 1 and log.iloc[0]["rows"] == 4
    log = log.iloc[0]
    assert "background job" in log["detail"] and "2 rejected" in log["detail"]
    again = lj.finish_load(ws, runner, runner.jobs("local", kind="load")[0].id)
    assert again is not None and again.report is not None and again.report.rows == 4, "later visits see the result"
    assert ws.tables() == ["here", "there"], "picked up once: no second swap"
    assert not (ws.tmp_dir.exists() and any(ws.tmp_dir.glob("*.parquet"))), "no staged file left"


def test_replace_and_append_follow_the_same_rules(ws, runner, write):
    first = write("a.csv", "id,v\n1,x\n2,y\n")
    more = write("b.csv", "id,v\n3,z\n")
    other = write("c.csv", "id,w\n9,q\n")
    ws.ingest_csv(first, "t")
    appended = _job_load(ws, runner, more, "t", mode="append")
    assert appended.report is not None and (appended.report.rows, appended.report.total_rows) == (1, 3)
    assert _table(ws, "t")["id"].tolist() == [1, 2, 3]
    version = ws.version("t")
    mismatch = _job_load(ws, runner, other, "t", mode="append")
    assert mismatch.report is None and "columns differ" in (mismatch.error or "")
    assert ws.version("t") == version and _table(ws, "t")["id"].tolist() == [1, 2, 3], "the table is as it was"
    replaced = _job_load(ws, runner, other, "t", mode="replace")
    assert replaced.report is not None and replaced.report.mode == "replace"
    assert list(ws.columns("t")) == ["id", "w"]
    with pytest.raises(DataError, match="already exists"):
        lj.submit_load(runner, ws, ws._stage(first), "t", mode="create")


def test_the_worker_uses_the_job_thread_limit_and_the_sandbox(ws, runner, write, tmp_path):
    path = write("d.csv", "a,b\n1,2\n")
    job_id = lj.submit_load(runner, ws, ws._stage(path), "d")
    assert runner.wait(job_id, timeout=120).state == "done"
    staged = runner.result(job_id)
    assert staged.threads == runner.threads == threads_per_job(2), "DuckDB in the worker runs with the job's limit"
    secret = write("secret.csv", "x\n1\n")
    outside = runner.submit("load", lj.load_job, str(secret), "s", "create", {}, owner="local")
    job = runner.wait(outside, timeout=120)
    assert job.state == "failed" and "outside the job's folder" in (job.error or "")


def test_a_file_in_the_import_folder_is_read_where_it_is(ws, runner):
    ws.import_dir.mkdir(parents=True, exist_ok=True)
    src = ws.import_dir / "big.csv.gz"
    with gzip.open(src, "wt") as f:
        f.write("id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(5000)))
    job_id = lj.submit_load(runner, ws, src, "big")
    assert runner.wait(job_id, timeout=120).state == "done"
    outcome = lj.finish_load(ws, runner, job_id)
    assert outcome is not None and outcome.report is not None and outcome.report.rows == 5000
    assert src.exists(), "a server-side file is never moved"
    assert lj.text_bytes(src) == len("id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(5000)))


def test_a_failing_load_shows_its_error_and_changes_nothing(ws, runner, write):
    ws.ingest_csv(write("t.csv", "id\n1\n"), "t")
    png = write("image.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    job_id = lj.submit_load(runner, ws, ws._stage(png), "t", mode="replace")
    job = runner.wait(job_id, timeout=120)
    assert job.state == "failed"
    assert job.error and "Traceback" not in job.error and len(job.error) < 400
    assert lj.finish_load(ws, runner, job_id) is None
    assert _table(ws, "t")["id"].tolist() == [1]
    assert not runner.job_dir(job_id).exists()


def test_cancel_leaves_the_table_as_it_was_and_nothing_half_written(ws, runner, tmp_path):
    ws.ingest_csv(Path(_write_rows(tmp_path / "small.csv", 3)), "t")
    version = ws.version("t")
    big = _write_rows(tmp_path / "big.csv", 3_000_000)
    job_id = lj.submit_load(runner, ws, ws._stage(big), "t", mode="replace")
    deadline = time.monotonic() + 60
    while runner.get(job_id).state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    cancelled = runner.cancel(job_id)
    assert cancelled.state == "cancelled", cancelled.state
    assert lj.finish_load(ws, runner, job_id) is None
    assert not runner.job_dir(job_id).exists(), "the job folder (upload copy, partial Parquet) is gone"
    assert ws.version("t") == version and ws.info("t").rows == 3
    assert ws.tables() == ["t"]


def _write_rows(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        f.write("id,amount,segment\n")
        for start in range(0, n, 100_000):
            f.write("".join(f"{i},{i % 997 * 1.25},s{i % 7}\n" for i in range(start, min(n, start + 100_000))))
    return path


def test_threshold(monkeypatch, tmp_path):
    small = tmp_path / "s.csv"
    small.write_text("a\n1\n")
    assert lj.load_job_mb() == 50.0 and not lj.runs_as_job(small)
    monkeypatch.setenv(lj.LOAD_JOB_MB_ENV, "0")
    assert lj.runs_as_job(small)
    monkeypatch.setenv(lj.LOAD_JOB_MB_ENV, "lots")
    with pytest.raises(DataError, match="MW_LOAD_JOB_MB"):
        lj.load_job_mb()


# ------------------------------------------------------------------ the Data page (AppTest)
_running, _finish = running_job, finish_jobs  # the shared poller (tests/apptest_jobs.py)


def _data_page_with_import(app_env: Path, tmp_path: Path, text: str, name: str = "big.csv") -> AppTest:
    imports = tmp_path / "imports"
    imports.mkdir(exist_ok=True)
    (imports / name).write_text(text)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    at.radio(key="source-kind").set_value("File on the server").run()
    assert not at.exception, at.exception
    return at


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.success, *at.error, *at.warning, *at.info])


def test_page_a_big_load_runs_as_a_job_survives_navigation_and_shows_the_report(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv(lj.LOAD_JOB_MB_ENV, "0")  # every file counts as large here
    at = _data_page_with_import(app_env, tmp_path, MESSY)
    at.button(key="load-btn").click().run()
    assert not at.exception, at.exception
    at.switch_page("pages/home.py").run()  # leave while it loads
    assert not at.exception
    at.switch_page("pages/data.py").run()  # come back: progress or the result
    _finish(at)
    assert not at.exception, at.exception
    text = _messages(at)
    assert "Loaded **5 rows** into table **big**" in text, text
    assert "rejected" in text
    ws = Workspace(app_env)
    assert ws.info("big").rows == 5
    fresh = AppTest.from_file(APP, default_timeout=120).run()  # a reload (new session) shows it too
    fresh.switch_page("pages/data.py").run()
    assert "Loaded **5 rows** into table **big**" in _messages(fresh)
    assert len(ws.audit()[lambda d: d["action"] == "load"]) == 1, "swapped in once"


def test_page_cancel_keeps_the_old_table(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv(lj.LOAD_JOB_MB_ENV, "0")
    _write_rows(tmp_path / "rows.csv", 1)
    at = _data_page_with_import(app_env, tmp_path, (tmp_path / "rows.csv").read_text(), "rows.csv")
    at.button(key="load-btn").click().run()
    _finish(at)
    assert Workspace(app_env).info("rows").rows == 1
    _write_rows(tmp_path / "imports" / "rows.csv", 3_000_000)
    at.run()
    at.radio(key="mode-rows.csv").set_value("replace").run()
    at.button(key="load-btn").click().run()
    assert _running(at), "a progress bar with Cancel"
    at.button(key="load-cancel").click().run()
    assert not at.exception, at.exception
    assert "cancelled" in _messages(at)
    assert Workspace(app_env).info("rows").rows == 1, "the table is as it was"


def test_page_a_failing_load_shows_its_error(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv(lj.LOAD_JOB_MB_ENV, "0")
    at = _data_page_with_import(app_env, tmp_path, "a,b\n1,2\n")
    monkeypatch.setenv("MW_DUCKDB_MEMORY", "lots")  # the worker's DuckDB refuses it (the app's is open already)
    at.button(key="load-btn").click().run()
    _finish(at)
    assert not at.exception, at.exception
    assert at.error and at.error[0].value.startswith("Loading stopped: The DuckDB settings are not valid"), _messages(at)
    assert "Traceback" not in at.error[0].value
    assert not Workspace(app_env).tables()


def test_page_a_load_that_cannot_be_saved_shows_why_and_keeps_the_table(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv(lj.LOAD_JOB_MB_ENV, "0")
    at = _data_page_with_import(app_env, tmp_path, "a,b\n1,2\n")
    Workspace(app_env).save_frame(pd.DataFrame({"x": [7]}), "big")
    at.run()
    at.radio(key="mode-big.csv").set_value("append").run()
    at.button(key="load-btn").click().run()
    _finish(at)
    assert not at.exception, at.exception
    assert at.error and "Loading stopped: Cannot append to 'big': the columns differ" in at.error[0].value
    assert Workspace(app_env).read("big")["x"].tolist() == [7]


# ------------------------------------------------------------------ the Experiments page's cheap column facts
def test_types_and_distinct_agree_with_the_profile_and_pandas(ws):
    from core.data.profile import column_types_and_distinct, profile_table

    df = pd.DataFrame({"variant": ["A", "B", "C", "A", None] * 20, "converted": [0, 1, 0, 0, 1] * 20,
                       "revenue": [float(i) for i in range(100)], "day": pd.date_range("2024-01-01", periods=100)})
    ws.save_frame(df, "exp")
    facts = column_types_and_distinct(ws.table("exp"))
    full = profile_table(ws.table("exp"))
    pd.testing.assert_frame_equal(facts, full[["column", "type", "distinct"]])
    assert facts.set_index("column")["distinct"].to_dict() == {c: df[c].nunique() for c in df.columns}
