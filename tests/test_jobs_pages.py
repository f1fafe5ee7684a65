"""Training as a background job on the Models page (AppTest): it survives navigation and new sessions."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from apptest_jobs import finish_jobs, open_tab, running_job

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _models_with_demo() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="load-demo").click().run()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="model-table").select("customers").run()
    return at


def _sidebar_text(at: AppTest) -> str:
    """The captions of the sidebar (the jobs panel)."""
    return " ".join(c.value for c in at.sidebar.caption)


def test_training_survives_navigation_and_a_new_session(app_env):
    at = _models_with_demo()
    at.selectbox(key="model-algorithm").select("linear").run()  # non-default settings come back too
    at.button(key="model-train").click().run()
    assert not at.exception, at.exception
    assert running_job(at), "the page shows the job's progress and a Cancel button"
    assert not at.metric
    at.switch_page("pages/home.py").run()  # leave while it trains
    assert not at.exception
    from pages.common import job_runner
    assert [j.state for j in job_runner().jobs("local")] in (["queued"], ["running"], ["done"])
    at.switch_page("pages/models.py").run()  # and come back: progress or result, never nothing
    assert not at.exception
    assert at.selectbox(key="model-table").value == "customers"
    finish_jobs(at)
    assert not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric][:2] == ["ROC AUC", "PR AUC"]
    assert any("Trained in" in s.value for s in at.success)
    from core.data.workspace import Workspace
    store = Workspace(app_env).model_store()
    assert len(store.runs("customers")) == 1 and store.runs("customers")["algorithm"].iloc[0] == "linear"

    # a reload is a new session of the same user: the finished result shows without training again
    from pages.common import result_store
    result_store().clear()
    again = AppTest.from_file(APP, default_timeout=120).run()
    # (AppTest shows sidebar elements of a session's first run only; the browser test checks the panel live)
    assert "Training on `customers`: done in" in _sidebar_text(again)
    again.switch_page("pages/models.py").run()
    assert not again.exception and not running_job(again)
    assert again.selectbox(key="model-table").value == "customers"
    assert [m.label for m in again.metric][:2] == ["ROC AUC", "PR AUC"]
    assert len(store.runs("customers")) == 1, "the run is recorded once"


def test_cancel_from_the_page(app_env):
    at = _models_with_demo()
    at.selectbox(key="model-search-method").select("randomized").run()
    at.number_input(key="model-search").set_value(20).run()  # long enough to cancel
    at.button(key="model-train").click().run()
    assert running_job(at)
    at.button(key="model-cancel").click().run()
    assert not at.exception and not running_job(at)
    assert any("cancelled" in i.value for i in at.info)
    from pages.common import job_runner
    (job,) = job_runner().jobs("local")
    assert job.state == "cancelled" and not job_runner().job_dir(job.id).exists()


def test_a_queued_training_shows_its_place(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MW_WORKERS", "1")
    from test_jobs import wait_for
    from pages.common import job_runner
    at = _models_with_demo()
    release = tmp_path / "release"
    other = job_runner().submit("wait", wait_for, str(release), owner="tom")  # takes the only worker
    # one worker means 2 OpenMP threads per job on 2 cores: on a busy machine gradient boosting then
    # crawls (105 s measured), so this test trains the linear model
    at.selectbox(key="model-algorithm").select("linear").run()
    at.button(key="model-train").click().run()
    texts = [p.proto.text for p in at.get("progress")]
    assert any("place 1 in the queue" in t for t in texts), texts
    (mine,) = job_runner().jobs("local")
    assert mine.state == "queued" and mine.place == 1
    release.write_text("go")
    assert job_runner().wait(other, timeout=30).state == "done"
    finish_jobs(at)
    assert [m.label for m in at.metric][:2] == ["ROC AUC", "PR AUC"]


def test_jobs_panel_lines():
    from core.jobs import Job
    from pages.jobs_panel import _describe
    queued = Job(id="a", owner="x", kind="train", table="customers", state="queued", place=2)
    assert _describe(queued).endswith("Training on `customers`: waiting, place 2 in the queue")
    running = Job(id="b", owner="x", kind="score", table="orders", state="running", progress=0.4,
                  step="Cross-validation: fold 2 of 5")
    assert _describe(running).endswith("Scoring on `orders`: 40% · Cross-validation: fold 2 of 5")
    done = Job(id="c", owner="x", kind="train", table="t", state="done", started=10.0, ended=14.2)
    assert _describe(done).endswith("done in 4 s")
    assert _describe(Job(id="d", owner="x", kind="train", state="failed")).endswith("Training: failed")


def test_scoring_a_large_table_runs_as_a_job(app_env, monkeypatch):
    import core.models.training_job as training_job
    monkeypatch.setattr(training_job, "SCORE_IN_PROCESS_ROWS", 0)  # every table counts as large here
    at = _models_with_demo()
    at.selectbox(key="model-algorithm").select("linear").run()
    finish_jobs(at.button(key="model-train").click().run())
    at.button(key="model-save").click().run()
    open_tab(at, "models", "Score customers")
    at.selectbox(key="score-table").select("customers").run()
    at.button(key="score-run").click().run()
    from pages.common import job_runner
    # a job was submitted (it may already be done: a worker forked from the fork server starts in ms)
    assert job_runner().jobs("local")[0].kind == "score"
    finish_jobs(at)
    assert not at.exception and not at.error
    assert any("Scored 5,000 rows" in s.value for s in at.success)
    assert [(j.kind, j.state) for j in job_runner().jobs("local")] == [("score", "done"), ("train", "done")]
