"""The job runner (core.jobs): results, progress on disk, cancel, errors, thread limits, fair sharing, restarts.

The job functions below are top-level so spawned worker processes can import them; they block on a
"release" file so a test decides when they end (and never waits on timing alone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core import jobs as jobs_module
from core.errors import DataError
from core.jobs import Job, JobRunner, current_job_dir, limit_threads, threads_per_job

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ job functions (run in workers)
def add(a: int, b: int, *, progress) -> int:
    progress(0.5, "Adding")
    return a + b


def wait_for(release: str, *, progress, step: str = "Halfway", timeout: float = 30.0) -> str:
    """Report progress, then wait until the file `release` exists."""
    progress(0.5, step)
    deadline = time.monotonic() + timeout
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "released"


def write_forever(*, progress) -> None:
    """Keep writing a partial file into the job folder until stopped."""
    folder = current_job_dir()
    assert folder is not None
    progress(0.1, "Writing")
    with open(folder / "partial.bin", "wb") as f:
        while True:
            f.write(b"x" * 1024)
            f.flush()
            time.sleep(0.01)


def fail_with(kind: str, *, progress) -> None:
    progress(0.2, "About to fail")
    if kind == "data":
        raise DataError("The column 'spend' has no values: pick another target.")
    raise ValueError("boom\nsecond line")


def thread_report(release_after: float, *, progress) -> dict:
    """The native thread limits as seen inside the worker, with when the job ran."""
    import numpy  # noqa: F401  (loads the BLAS)
    import sklearn.ensemble  # noqa: F401  (loads OpenMP)
    from threadpoolctl import threadpool_info

    started = time.time()
    progress(0.5, "Measuring")
    con = jobs_module.duckdb_connect()  # how workers open DuckDB: its `threads` is the job's limit
    duck = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    con.close()
    import duckdb

    plain = duckdb.connect()  # DuckDB's own default (one thread per core), for comparison
    duck_default = int(plain.execute("SELECT current_setting('threads')").fetchall()[0][0])
    plain.close()
    time.sleep(release_after)
    return {"pools": [(p["internal_api"], p["num_threads"]) for p in threadpool_info()],
            "env": {k: os.environ.get(k) for k in jobs_module.THREAD_ENV}, "started": started, "ended": time.time(),
            "pid": os.getpid(), "duckdb": duck, "duckdb_default": duck_default,
            "job_threads": jobs_module.job_threads()}


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def runner(tmp_path: Path):
    r = JobRunner(tmp_path / "jobs", workers=2, per_user=2)
    yield r
    r.shutdown()


def _until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ tests
def test_job_runs_and_returns_its_result(runner):
    job_id = runner.submit("add", add, 2, 3, owner="maria", table="customers", settings={"x": 1})
    job = runner.wait(job_id, timeout=30)
    assert job.state == "done" and job.progress == 1.0 and job.error is None
    assert job.started is not None and job.ended is not None and job.created <= job.started <= job.ended
    assert runner.result(job_id) == 5
    record = json.loads((runner.folder / f"{job_id}.json").read_text())
    assert record["owner"] == "maria" and record["kind"] == "add" and record["table"] == "customers"
    assert record["settings"] == {"x": 1} and record["state"] == "done"
    assert runner.latest("maria", "add", "customers", {"x": 1}).id == job_id
    assert runner.latest("maria", "add", "customers", {"x": 2}) is None
    assert not list(runner.folder.glob("**/*.tmp"))


def test_progress_is_visible_from_another_reader(runner, tmp_path):
    release = tmp_path / "release"
    job_id = runner.submit("wait", wait_for, str(release), owner="maria", step="Cross-validation: fold 2 of 5")
    reader = JobRunner(runner.folder)  # another runner on the same folder, e.g. a page in another session
    try:
        job = _until(lambda: (j := reader.get(job_id)).step.startswith("Cross") and j, what="progress on disk")
        assert job.state == "running" and job.progress == 0.5 and job.pid is not None
        assert reader.jobs("maria")[0].id == job_id and reader.jobs("tom") == []
        release.write_text("go")
        assert reader.wait(job_id, timeout=30).state == "done"
        assert reader.result(job_id) == "released"
    finally:
        reader.shutdown()


def test_cancel_stops_a_running_job_quickly_and_leaves_no_files(runner):
    job_id = runner.submit("write", write_forever, owner="maria")
    _until(lambda: (runner.job_dir(job_id) / "partial.bin").exists(), what="the partial file")
    pid = runner.get(job_id).pid
    started = time.monotonic()
    job = runner.cancel(job_id)
    assert time.monotonic() - started < 5
    assert job.state == "cancelled" and job.ended is not None
    assert not runner.job_dir(job_id).exists()
    assert not jobs_module._pid_alive(pid) or _until(lambda: not jobs_module._pid_alive(pid), 5, "the worker to end")
    with pytest.raises(DataError, match="cancelled"):
        runner.result(job_id)
    assert runner.cancel(job_id).state == "cancelled"  # twice: nothing happens


def test_cancel_of_a_queued_job_and_from_another_reader(tmp_path):
    runner = JobRunner(tmp_path / "jobs", workers=1, per_user=1)
    reader = JobRunner(tmp_path / "jobs")
    try:
        first = runner.submit("write", write_forever, owner="maria")
        second = runner.submit("add", add, 1, 1, owner="maria")
        _until(lambda: runner.get(first).state == "running", what="the first job to start")
        assert runner.get(second).place == 1
        assert runner.cancel(second).state == "cancelled"
        reader.cancel(first)  # asks the owning runner through a flag file
        job = runner.wait(first, timeout=10)
        assert job.state == "cancelled" and not runner.job_dir(first).exists()
    finally:
        reader.shutdown()
        runner.shutdown()


def test_failing_job_shows_its_error(runner):
    data = runner.submit("fail", fail_with, "data", owner="maria")
    other = runner.submit("fail", fail_with, "other", owner="maria")
    job = runner.wait(data, timeout=30)
    assert job.state == "failed" and job.error == "The column 'spend' has no values: pick another target."
    job = runner.wait(other, timeout=30)
    assert job.state == "failed" and job.error == "ValueError: boom"
    assert "Traceback" not in job.error
    with pytest.raises(DataError, match="ValueError: boom"):
        runner.result(other)


def test_a_nested_function_is_refused_clearly(runner):
    def local(*, progress):
        return 1

    with pytest.raises(DataError, match="top-level function"):
        runner.submit("x", local, owner="maria")


def test_two_jobs_run_at_once_with_limited_threads(runner):
    expected = threads_per_job(2)
    assert expected == max(1, len(os.sched_getaffinity(0)) // 2)
    ids = [runner.submit("threads", thread_report, 1.5, owner=owner) for owner in ("maria", "tom")]
    results = []
    for job_id in ids:
        assert runner.wait(job_id, timeout=60).state == "done"
        results.append(runner.result(job_id))
    for res in results:
        assert res["env"] == {k: str(expected) for k in jobs_module.THREAD_ENV}
        assert res["pools"], "threadpoolctl saw no native thread pools"
        assert {api for api, _ in res["pools"]} >= {"openmp"}
        assert all(n == expected for _, n in res["pools"]), res["pools"]
        assert res["job_threads"] == expected
        assert res["duckdb"] == expected, "DuckDB inside the worker runs with the job's thread limit"
        assert res["duckdb_default"] == len(os.sched_getaffinity(0)), "the limit is ours, not DuckDB's default"
    assert results[0]["pid"] != results[1]["pid"]
    assert max(r["started"] for r in results) < min(r["ended"] for r in results), "the two jobs did not overlap"


def test_duckdb_connect_outside_a_job_uses_the_per_job_share(monkeypatch):
    monkeypatch.delenv(jobs_module.JOB_THREADS_ENV, raising=False)
    con = jobs_module.duckdb_connect(config={"enable_external_access": False})
    try:
        assert int(con.execute("SELECT current_setting('threads')").fetchall()[0][0]) == threads_per_job()
        assert con.execute("SELECT current_setting('enable_external_access')").fetchall()[0][0] is False
    finally:
        con.close()
    monkeypatch.setenv(jobs_module.JOB_THREADS_ENV, "1")
    assert jobs_module.job_threads() == 1


def test_inputs_are_linked_into_the_job_folder_and_go_with_it(runner, tmp_path):
    src = tmp_path / "upload-1.csv"
    src.write_text("a,b\n1,2\n")
    release = tmp_path / "release"
    job_id = runner.submit("x", wait_for, str(release), owner="maria", inputs=[src])
    assert (runner.job_dir(job_id) / "upload-1.csv").read_text() == "a,b\n1,2\n"
    runner.cancel(job_id)
    assert not runner.job_dir(job_id).exists()
    assert src.exists(), "the caller's file stays"


def test_a_job_started_from_a_streamlit_script_run_does_not_run_the_script_again(runner, tmp_path, monkeypatch):
    """Streamlit installs the script (app.py) as __main__; spawn would run it first in every worker
    (with login on, app.py stops at the sign-in check and the worker died before its job)."""
    import types

    script = tmp_path / "app.py"
    script.write_text("raise SystemExit('the app script ran inside a worker')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    job_id = runner.submit("add", add, 2, 3, owner="maria")
    job = runner.wait(job_id, timeout=60)
    assert job.state == "done", job.error
    assert runner.result(job_id) == 5
    assert sys.modules["__main__"] is fake_main, "the script's __main__ is back once the worker has started"
    assert not (runner.job_dir(job_id) / jobs_module.PAYLOAD_FILE).exists(), "the input file is read and removed"


def test_limit_threads_restores_the_environment():
    before = os.environ.get("OMP_NUM_THREADS")
    with limit_threads(1):
        assert os.environ["OMP_NUM_THREADS"] == "1"
        from threadpoolctl import threadpool_info

        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert os.environ.get("OMP_NUM_THREADS") == before


def test_one_users_jobs_cannot_take_every_worker(tmp_path):
    release = tmp_path / "release"
    runner = JobRunner(tmp_path / "jobs", workers=2, per_user=1)
    try:
        first = runner.submit("wait", wait_for, str(release), owner="maria")
        second = runner.submit("wait", wait_for, str(release), owner="maria")
        third = runner.submit("wait", wait_for, str(release), owner="tom")
        _until(lambda: runner.get(third).state == "running", what="tom's job to start")
        assert runner.get(first).state == "running"
        queued = runner.get(second)
        assert queued.state == "queued" and queued.place == 1 and queued.step.startswith("Waiting")
        assert [j.place for j in runner.jobs("maria")] == [1, None]
        release.write_text("go")
        assert all(runner.wait(j, timeout=30).state == "done" for j in (first, second, third))
    finally:
        runner.shutdown()


def test_default_limits_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MW_WORKERS", "4")
    monkeypatch.delenv("MW_JOBS_PER_USER", raising=False)
    r = JobRunner(tmp_path / "a")
    assert (r.workers, r.per_user) == (4, 3)
    r.shutdown()
    monkeypatch.setenv("MW_WORKERS", "1")
    r = JobRunner(tmp_path / "b")
    assert (r.workers, r.per_user) == (1, 1)
    r.shutdown()
    monkeypatch.setenv("MW_WORKERS", "lots")  # malformed: the default (the usable cores)
    monkeypatch.setenv("MW_JOBS_PER_USER", "2")
    r = JobRunner(tmp_path / "c")
    assert (r.workers, r.per_user) == (len(os.sched_getaffinity(0)), 2)
    r.shutdown()


def test_restart_marks_a_record_of_a_dead_runner_interrupted(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for state in ("running", "queued"):
        job = Job(id=f"old-{state}", owner="maria", kind="train", state=state, created=time.time(),
                  runner={"pid": dead.pid, "start": None, "token": "gone"}, pid=dead.pid)
        (folder / f"{job.id}.json").write_text(job.to_json())
        (folder / job.id).mkdir()
        (folder / job.id / ".result.joblib.tmp").write_bytes(b"half")
    runner = JobRunner(folder)
    try:
        for state in ("running", "queued"):
            job = runner.get(f"old-{state}")
            assert job.state == "interrupted" and "restarted" in job.error
            assert not (folder / job.id).exists()
    finally:
        runner.shutdown()


def test_restart_after_the_app_process_dies(tmp_path):
    """A real runner process is killed while its job runs: the next runner marks the job interrupted
    and the orphaned worker stops by itself."""
    folder = tmp_path / "jobs"
    release = tmp_path / "release"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        from core.jobs import JobRunner
        from test_jobs import wait_for
        r = JobRunner({str(folder)!r}, workers=1)
        job_id = r.submit("wait", wait_for, {str(release)!r}, owner="maria")
        while r.get(job_id).state != "running" or r.get(job_id).progress < 0.5:
            time.sleep(0.05)
        print(job_id, flush=True)
        time.sleep(60)
    """)
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        job_id = app.stdout.readline().strip()
        assert job_id, "the app process did not start its job"
        worker = json.loads((folder / f"{job_id}.json").read_text())["pid"]
        assert JobRunner(folder).get(job_id).state == "running"  # its runner is alive: left alone
    finally:
        app.kill()
        app.wait()
    runner = JobRunner(folder)
    try:
        job = runner.get(job_id)
        assert job.state == "interrupted" and job.state != "done"
        _until(lambda: not jobs_module._pid_alive(worker) or _zombie(worker), 10, "the orphaned worker to stop")
    finally:
        runner.shutdown()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def test_shutdown_interrupts_running_and_queued_jobs(tmp_path):
    runner = JobRunner(tmp_path / "jobs", workers=1)
    running = runner.submit("write", write_forever, owner="maria")
    queued = runner.submit("add", add, 1, 2, owner="maria")
    _until(lambda: runner.get(running).state == "running", what="the job to start")
    runner.shutdown()
    assert runner.get(running).state == "interrupted" and runner.get(queued).state == "interrupted"
    assert not runner.job_dir(running).exists()
    with pytest.raises(DataError, match="stopped"):
        runner.submit("add", add, 1, 2, owner="maria")


def test_old_finished_jobs_are_pruned_per_owner(tmp_path):
    runner = JobRunner(tmp_path / "jobs", workers=2, keep=2)
    try:
        ids = []
        for i in range(3):
            ids.append(runner.submit("add", add, i, 1, owner="maria"))
            assert runner.wait(ids[-1], timeout=30).state == "done"
        tom = runner.submit("add", add, 0, 0, owner="tom")
        runner.wait(tom, timeout=30)
        assert [j.id for j in runner.jobs("maria")] == ids[::-1]  # pruned only when maria submits
        newest = runner.submit("add", add, 9, 1, owner="maria")
        assert [j.id for j in runner.jobs("maria")] == [newest, ids[2], ids[1]]
        assert not runner.job_dir(ids[0]).exists() and runner.result(ids[1]) == 2
        assert [j.id for j in runner.jobs("tom")] == [tom]
    finally:
        runner.shutdown()
