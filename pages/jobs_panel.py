"""Sidebar panel on every page: this user's recent background jobs (kind, table, state, progress, queue place)."""

from __future__ import annotations

import time

import streamlit as st

from core.errors import DataError
from core.jobs import Job
from pages.common import job_runner

KIND_LABELS = {"train": "Training", "score": "Scoring", "kmeans": "K-means segments",
               "customers": "Building customer features", "mmm": "Marketing-mix model", "load": "Loading a CSV",
               "clv": "Customer lifetime value", "uplift": "Uplift model", "products": "Next-best products"}
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
