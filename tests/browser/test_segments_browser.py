"""Segments as a background job in Chromium: start a K-means fit on the demo customers, open another
page while it runs, come back and see the segments (and the sidebar panel's line for the job).

Skips with a reason when Chromium or playwright is missing, unless REQUIRE_BROWSER_TESTS=1.
"""

from __future__ import annotations

import re
import time

from test_journeys import _idle, _load_demo, _pick, _running_app


def _nav(page, title: str) -> None:
    """Open a page through the sidebar navigation (the same browser session)."""
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).first.click()
    _idle(page)


def test_segment_fit_survives_another_page(browser, tmp_path):
    started = time.monotonic()
    with _running_app(tmp_path) as url:
        page = browser.new_page()
        _load_demo(page, url)
        page.goto(url + "/segments")
        _idle(page)
        _pick(page, "Customer table", "customers")
        page.get_by_role("button", name="Find segments").click()
        page.get_by_text("This runs in the background").wait_for(timeout=60_000)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text(re.compile(r"K-means segments on customers: (waiting|\d+%|done)")).wait_for(timeout=30_000)

        _nav(page, "Home")  # leave while it runs: the panel still lists the job
        sidebar.get_by_text(re.compile(r"K-means segments on customers: ")).first.wait_for(timeout=30_000)

        _nav(page, "Segments")  # come back: the same table, progress, then the segments
        page.get_by_text(re.compile("ranks best.* over the quality measures")).first.wait_for(timeout=120_000)
        _idle(page)
        assert page.get_by_test_id("stMetric").filter(has_text="Segments").first.inner_text().strip().endswith("5")
        assert page.get_by_text("Segment map").count() >= 1
        sidebar.get_by_text(re.compile(r"K-means segments on customers: done in")).wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.close()
    assert time.monotonic() - started < 120, "the journey takes ~30-40 s on a quiet machine"
