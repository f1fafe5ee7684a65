"""The Segments page's heavy work as background jobs (AppTest and core.segments.jobs).

K-means (recommend k or a chosen k) always runs as a job; building customers from transactions runs
as a job over CUSTOMERS_IN_PROCESS_ROWS. A job survives navigation and a new session of the same
user, Cancel stops it, a failing job shows its error, and the first render imports no scikit-learn.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from apptest_jobs import finish_jobs, running_job

from core.errors import DataError
from core.jobs import JobRunner
from core.segments import kmeans_segments
from core.segments.jobs import (CustomerBuild, build_customers, customer_columns, customers_job, kmeans_job,
                                kmeans_options)

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SETTINGS = {"id": "customer_id", "features": ["orders", "total_spend", "tenure_days"], "categorical": [],
            "impute": "median", "log": "auto", "scale": "standard", "clip": 0.01, "k": None}


# the shared poller (tests/apptest_jobs.py), under the names the segment tests use
segment_job_running = running_job
finish_segment_jobs = finish_jobs


def _segments_page(table: str = "customers") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="load-demo").click().run()
    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select(table).run()
    return at


def _sidebar_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


# ------------------------------------------------------------------ the job functions alone
def _progress_log() -> tuple[list[tuple[float, str]], object]:
    seen: list[tuple[float, str]] = []
    return seen, lambda share, message: seen.append((share, message))


def test_kmeans_job_gives_kmeans_segments_result(tmp_path):
    rng = np.random.default_rng(1)
    centres = np.array([[1, 100, 30], [8, 900, 400], [3, 300, 1500]])
    rows = centres[rng.integers(0, 3, 900)] * rng.normal(1, 0.08, (900, 3))
    df = pd.DataFrame(rows, columns=["orders", "total_spend", "tenure_days"]).assign(customer_id=np.arange(900))
    seen, progress = _progress_log()
    got = kmeans_job(df, SETTINGS, progress=progress)
    want = kmeans_segments(df, SETTINGS["features"], None, id_column="customer_id", clip=0.01)
    assert got.k == want.k == 3 and (got.labels == want.labels).all()
    assert got.reason == want.reason and got.stability == pytest.approx(want.stability)
    assert seen[-1] == (1.0, "Done") and any(m.startswith("Trying k = ") for _, m in seen)
    assert kmeans_options({**SETTINGS, "clip": 0.0})["clip"] is None  # 0 % = clipping off
    with pytest.raises(DataError, match="settings miss k"):
        kmeans_job(df, {k: v for k, v in SETTINGS.items() if k != "k"}, progress=progress)


def test_customers_job_matches_the_in_process_build():
    tx = pd.DataFrame({"cust": [1, 1, 2, 3, 3, 3], "day": pd.to_datetime(
        ["2024-01-01", "2024-01-05", "2024-01-03", "2024-01-02", "2024-01-04", "2024-01-06"]),
        "amount": [10.0, 20.0, 5.0, -3.0, 7.0, 8.0], "note": list("abcdef")})
    settings = {"customer": "cust", "date": "day", "amount": "amount", "as_of": None, "order": None,
                "quantity": None, "product": None, "channel": None, "positive": True}
    assert customer_columns(settings) == ["cust", "day", "amount"]  # only these travel to the worker
    seen, progress = _progress_log()
    build = customers_job(tx[customer_columns(settings)], settings, progress=progress)
    assert isinstance(build, CustomerBuild) and build.customers == 3 and build.as_of == "2024-01-07"
    assert build.frame.set_index("cust")["monetary"].to_dict() == {1: 30.0, 2: 5.0, 3: 15.0}  # the return left out
    assert build.frame.set_index("cust")["frequency"].to_dict() == {1: 2, 2: 1, 3: 2}
    assert build.notes == ("1 of 6 rows was skipped: missing customer, unreadable date or missing amount or "
                           "amount <= 0.",)
    assert seen[-1] == (1.0, "Built 3 customers")
    same = build_customers(tx, settings)
    pd.testing.assert_frame_equal(same.frame, build.frame)


def test_kmeans_job_runs_in_a_worker_on_one_thread(tmp_path):
    """Inside a JobRunner worker: same result as in-process; the small-sample steps run on one thread."""
    df = pd.read_csv(ROOT / "sample_data" / "customers.csv")
    runner = JobRunner(tmp_path / "jobs", workers=1)
    try:
        job_id = runner.submit("kmeans", kmeans_job, df, SETTINGS, owner="maria", table="customers",
                               settings={"table_version": 1, **SETTINGS})
        job = runner.wait(job_id, timeout=180)
        assert job.state == "done", job.error
        got = runner.result(job_id)
    finally:
        runner.shutdown()
    want = kmeans_job(df, SETTINGS, progress=lambda share, message: None)
    assert got.k == want.k and (got.labels == want.labels).all()
    assert runner.latest("maria", "kmeans", "customers", {"table_version": 1, **SETTINGS}).id == job_id


def test_small_sample_steps_use_one_native_thread(monkeypatch):
    """The sweep's K-means fits on a sample see one OpenMP thread (two made them 10-40x slower here)."""
    from threadpoolctl import threadpool_info

    import core.segments.kmeans as km

    seen: list[int] = []
    real = km.KMeans.fit

    def spy(self, X, *args, **kwargs):
        seen.append(max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"), default=1))
        return real(self, X, *args, **kwargs)

    monkeypatch.setattr(km.KMeans, "fit", spy)
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1, (300, 3)) for c in (0, 6, 12)])
    km.choose_k(X, range(2, 6))
    km.stability(X, np.repeat([1, 2, 3], 300), 3, runs=2)
    assert seen and set(seen) == {1}


# ------------------------------------------------------------------ the page
def test_recommend_k_survives_navigation_and_a_new_session(app_env):
    at = _segments_page()
    at.button(key="seg-run").click().run()
    assert not at.exception, at.exception
    assert segment_job_running(at), "the page shows the job's progress and a Cancel button"
    assert not at.metric
    at.switch_page("pages/home.py").run()  # leave while it runs
    assert not at.exception
    from pages.common import job_runner
    assert [j.state for j in job_runner().jobs("local", kind="kmeans")] in (["queued"], ["running"], ["done"])
    at.switch_page("pages/segments.py").run()  # and come back: progress or result, never nothing
    assert not at.exception
    assert at.selectbox(key="seg-table").value == "customers"
    finish_segment_jobs(at)
    assert not at.error, [e.value for e in at.error]
    assert at.metric[0].value == "5" and at.metric[1].value == "5,000"
    assert "ranks best" in at.info[0].value
    (job,) = job_runner().jobs("local", kind="kmeans")
    assert job.state == "done" and job.picked_up and job.settings["k"] is None
    from core.data.workspace import Workspace
    audit = Workspace(app_env).as_user("local", "admin").audit()
    assert (audit["action"] == "segments").sum() == 1, "the segmentation is recorded once"

    # a reload is a new session of the same user: the finished result shows without running again
    from pages.common import result_store
    result_store().clear()
    again = AppTest.from_file(APP, default_timeout=120).run()
    assert "K-means segments on `customers`: done in" in _sidebar_text(again)
    again.switch_page("pages/segments.py").run()
    assert not again.exception and not segment_job_running(again)
    assert again.selectbox(key="seg-table").value == "customers"
    assert again.metric[0].value == "5"
    assert len(job_runner().jobs("local", kind="kmeans")) == 1, "no second job"
    audit = Workspace(app_env).as_user("local", "admin").audit()
    assert (audit["action"] == "segments").sum() == 1


def test_a_chosen_k_fit_runs_as_a_job_and_rerun_never_refits(app_env):
    at = _segments_page()
    at.radio(key="km-mode").set_value("Choose k").run()
    at.slider(key="km-k").set_value(3).run()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception and not at.error
    assert at.metric[0].value == "3"
    from pages.common import job_runner
    (job,) = job_runner().jobs("local", kind="kmeans")
    assert job.settings["k"] == 3 and job.settings["table_version"] >= 1
    at.radio(key="km-stat").set_value("median").run()  # chart options: no new job
    at.button(key="seg-run").click().run()  # the same settings again: the stored result, no new job
    assert not segment_job_running(at) and at.metric[0].value == "3"
    assert len(job_runner().jobs("local", kind="kmeans")) == 1


def test_cancel_from_the_page(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MW_WORKERS", "1")
    from test_jobs import wait_for
    from pages.common import job_runner
    at = _segments_page()
    release = tmp_path / "release"
    other = job_runner().submit("wait", wait_for, str(release), owner="tom")  # holds the only worker
    at.button(key="seg-run").click().run()
    assert segment_job_running(at)
    texts = [p.proto.text for p in at.get("progress")]
    assert any("place 1 in the queue" in t for t in texts), texts
    at.button(key="seg-cancel").click().run()
    assert not at.exception and not segment_job_running(at)
    assert any("cancelled" in i.value for i in at.info)
    (job,) = job_runner().jobs("local", kind="kmeans")
    assert job.state == "cancelled" and not job_runner().job_dir(job.id).exists()
    release.write_text("go")
    assert job_runner().wait(other, timeout=30).state == "done"
    finish_segment_jobs(at.button(key="seg-run").click().run())  # a click starts it again
    assert at.metric[0].value == "5"


def test_a_failing_job_shows_its_error(app_env):
    at = _segments_page()
    at.selectbox(key="km-id-customers").select("churned").run()  # repeats: not one row per customer
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception
    assert any(e.value.startswith("Segmenting stopped: 'churned' repeats") for e in at.error), \
        [e.value for e in at.error]
    from pages.common import job_runner
    (job,) = job_runner().jobs("local", kind="kmeans")
    assert job.state == "failed" and "one row per customer" in job.error
    assert "seg-current" not in at.session_state  # nothing to save or export


def test_no_features_is_said_at_once_without_a_job(app_env):
    at = _segments_page()
    at.multiselect(key="km-features-customers").set_value([]).run()
    at.button(key="seg-run").click().run()
    assert not at.exception and not segment_job_running(at)
    assert "No usable numeric features" in at.error[0].value
    from pages.common import job_runner
    assert job_runner().jobs("local", kind="kmeans") == []


def test_a_large_transactions_table_builds_customers_as_a_job(app_env, monkeypatch):
    import core.segments.jobs as jobs
    monkeypatch.setattr(jobs, "CUSTOMERS_IN_PROCESS_ROWS", 0)  # every table counts as large here
    at = _segments_page("transactions")
    at.button(key="build-customers").click().run()
    assert not at.exception, at.exception
    assert segment_job_running(at)
    at.switch_page("pages/home.py").run()  # leave while it builds; coming back saves the table once
    at.switch_page("pages/segments.py").run()
    finish_segment_jobs(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="seg-table").value == "transactions_customers"
    assert any("Built `transactions_customers`: 5,000 customers" in s.value for s in at.success)
    from core.data.workspace import Workspace
    feats = Workspace(app_env).read("transactions_customers")
    assert len(feats) == 5000 and {"recency_days", "frequency", "monetary"} <= set(feats.columns)
    from pages.common import job_runner
    (job,) = job_runner().jobs("local", kind="customers")
    assert job.state == "done" and job.picked_up and job.settings["out"] == "transactions_customers"
    assert "Building customer features on `transactions`: done in" in " ".join(
        __import__("pages.jobs_panel", fromlist=["_describe"])._describe(j) for j in [job])


def test_first_render_imports_no_scikit_learn():
    """What pages/segments.py imports at its top needs pandas/DuckDB/plotly only: scikit-learn (~2 s to
    import on this server) made most of the page's 3.9 s first render after a server start (issue 11)."""
    import ast

    tree = ast.parse((ROOT / "pages" / "segments.py").read_text())
    modules = [node.module for node in tree.body if isinstance(node, ast.ImportFrom)
               and node.module and node.module.startswith("core")]
    assert "core.segments.jobs" in modules and "core.segments.kmeans" not in modules
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              + "".join(f"import {m}\n" for m in modules)
              + "import core.segments as s; s.rfm_scores, s.customer_features, s.feature_suggestions\n"
              + "print('sklearn' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


def test_a_failing_customer_build_job_shows_its_error(app_env, monkeypatch):
    import core.segments.jobs as jobs
    monkeypatch.setattr(jobs, "CUSTOMERS_IN_PROCESS_ROWS", 0)
    at = _segments_page("transactions")
    amount = next(s.key for s in at.selectbox if (s.key or "").startswith("tx-amount-"))
    at.selectbox(key=amount).select("channel")  # also the channel: refused in the job (the choice goes with the submit)
    finish_segment_jobs(at.button(key="build-customers").click().run())
    assert not at.exception
    assert any(e.value.startswith("Building the customer table stopped: ") and "must be different columns" in e.value
               for e in at.error), [e.value for e in at.error]
    from core.data.workspace import Workspace
    assert "transactions_customers" not in Workspace(app_env).tables()
    from pages.common import job_runner
    (job,) = job_runner().jobs("local", kind="customers")
    assert job.state == "failed" and not job.picked_up
