"""Sidebar panel on every page: this user's recent background jobs (kind, table, state, progress, queue place)."""

from __future__ import annotations

import time
from typing import Any, Callable

import streamlit as st

from core.errors import DataError
from core.jobs import Job
from pages.common import job_runner

KIND_LABELS = {"train": "Training", "score": "Scoring", "kmeans": "K-means segments",
               "customers": "Building customer features", "mmm": "Marketing-mix model", "load": "Loading a CSV",
               "clv": "Customer lifetime value", "uplift": "Uplift model", "products": "Next-best products",
               "uplift-score": "Uplift scoring", "compare": "Comparing algorithms", "select": "Selecting features"}
STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:",
               "interrupted": ":material/warning:"}
RECENT = 5


def _describe(job: Job) -> str:
    what = KIND_LABELS.get(job.kind, job.kind.capitalize())
    on = f" on `{job.table}`" if job.table else ""
    if job.state == "queued":
        status = f"waiting, place {job.place} in the queue" if job.place else "waiting"
    elif job.state == "running":
        status = f"{job.progress:.0%} · {job.step}"
    elif job.state == "done":
        status = f"done in {job.seconds:.0f} s" if job.seconds is not None else "done"
    else:
        status = job.state
    return f"{STATE_ICONS.get(job.state, '')} {what}{on}: {status}"


def _recent(user: str) -> list[Job]:
    try:
        return job_runner().jobs(user, limit=RECENT)
    except DataError:
        return []


def _list(user: str) -> None:
    jobs = _recent(user)
    if not jobs:
        st.caption("No background jobs yet.")
        return
    for job in jobs:
        st.caption(_describe(job), help=job.error if job.state == "failed" else
                   time.strftime("started %Y-%m-%d %H:%M", time.localtime(job.created)))


def sidebar(user: str) -> None:
    """The panel; it refreshes itself every 2 s while one of the user's jobs is queued or running."""
    active = any(not j.finished for j in _recent(user))
    with st.sidebar:
        st.markdown("**Your jobs**")
        if active:
            st.fragment(_list, run_every=2)(user)
        else:
            _list(user)


@st.fragment(run_every=1)
def job_progress(job_id: str, label: str, cancel_key: str) -> None:
    """A running job's progress, refreshed every second, with Cancel; the page reruns once it has finished."""
    runner = job_runner()
    try:
        job = runner.get(job_id)
    except DataError as e:
        st.error(str(e))
        return
    if job.finished:
        st.rerun()
    with st.container(border=True):
        st.markdown(label)
        if job.state == "queued":
            st.progress(0.0, text=f"Waiting for a free worker: place {job.place or 1} in the queue")
        else:
            st.progress(job.progress, text=f"{job.step} ({job.seconds or 0:.0f} s)")
        st.caption("This runs in the background: you can open other pages and come back.")
        if st.button("Cancel", key=cancel_key, icon=":material/cancel:"):
            runner.cancel(job_id)
            st.rerun()


RETRY_STATES = ("failed", "cancelled", "interrupted")


def job_result(*, user: str, kind: str, table: str, settings: dict, clicked: bool, submit: Callable[[], None],
               label: str, cancel_key: str, button: str, expected: type | tuple[type, ...] | None = None,
               stopped: str = "It stopped", read: Callable[[Job], Any] | None = None) -> tuple[Any, bool] | None:
    """The outcome of this user's latest `kind` job on `table` with these `settings`, for a page:

    - no such job yet, or a click after it failed, was cancelled or interrupted: `submit()` starts one
      (a DataError from it is shown) and the page reruns, so the sidebar lists the job;
    - still queued or running: its progress with Cancel (None);
    - failed: "<stopped>: <error>"; cancelled or interrupted: how to start it again (None);
    - done: (result, picked_up), picked_up True the first time this result is read (for the activity
      log or the model store), after checking it is an instance of `expected`. `read(job)` gets the
      result when it needs more than runner.result (a model's files in the job's folder).
    """
    runner = job_runner()
    job = runner.latest(user, kind, table, settings)
    if job is None or (clicked and job.state in RETRY_STATES):
        try:
            submit()
        except DataError as e:
            st.error(str(e))
            return None
        st.rerun()
    assert job is not None
    if not job.finished:
        job_progress(job.id, label, cancel_key)
        return None
    if job.state == "failed":
        st.error(f"{stopped}: {job.error}", icon=":material/error:")
        return None
    if job.state != "done":
        st.info(f"The last run with these settings was {job.state}: click **{button}** to start it again.",
                icon=":material/info:")
        return None
    try:
        result = read(job) if read is not None else runner.result(job.id)
    except DataError as e:
        st.error(str(e))
        return None
    if expected is not None and not isinstance(result, expected):
        st.error(f"The job's result is not what this page shows; click **{button}** to run it again.")
        return None
    return result, runner.pick_up(job.id)
