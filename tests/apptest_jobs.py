"""AppTest helper: background jobs (core.jobs) finish outside the script run, so poll with at.run()."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest


# the Cancel buttons of every page's job progress (pages.jobs_panel.job_progress)
CANCEL_KEYS = ("model-cancel", "score-cancel", "mmm-cancel", "seg-cancel", "seg-build-cancel", "load-cancel",
               "clv-cancel", "upl-cancel", "prd-cancel", "upl-score-cancel", "model-compare-cancel",
               "model-select-cancel")


def running_job(at: AppTest) -> bool:
    """Whether the page shows a job in progress (its Cancel button)."""
    return any(b.key in CANCEL_KEYS for b in at.button)


def finish_jobs(at: AppTest, timeout: float = 180.0, poll: float = 0.25) -> AppTest:
    """Rerun the app until no job progress is shown (the result or error is then on the page)."""
    deadline = time.monotonic() + timeout
    while running_job(at) and not at.exception:
        if time.monotonic() > deadline:
            raise AssertionError(f"the job did not finish within {timeout:.0f} s")
        time.sleep(poll)
        at.run()
    assert not at.exception, [e.value for e in at.exception]  # the page's traceback, if any, in the failure
    return at


# the keys of the pages' lazy tabs (pages.common.lazy_tabs): only the open tab's content runs
TAB_KEYS = {"data": "tabs-data", "segments": "tabs-segments", "models": "tabs-models",
            "experiments": "tabs-experiments", "campaigns": "tabs-campaigns"}


def open_tab(at: AppTest, page: str, name: str) -> AppTest:
    """Open the tab `name` of `page` (a key of TAB_KEYS), as a click on it does, and run the page."""
    at.session_state[TAB_KEYS[page]] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
