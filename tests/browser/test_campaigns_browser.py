"""The Campaigns page in Chromium on the demo data: KPI cards, then the marketing-mix model fitted in
one click as a background job, the return per channel and the budget allocator shown.

Skips with a reason when Chromium or playwright is missing, unless REQUIRE_BROWSER_TESTS=1.
"""

from __future__ import annotations

import re
import time

from test_journeys import _idle, _load_demo, _running_app

DEMO_CHANNELS = ("display", "email", "search", "social", "video")


def test_campaigns_kpis_then_fit_the_model_and_see_roas_and_allocator(browser, tmp_path):
    with _running_app(tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _load_demo(page, url)
        page.goto(url + "/campaigns")
        _idle(page)
        cards = page.get_by_test_id("stMetric")
        for label in ("Spend", "Revenue", "ROAS", "CPA"):
            cards.filter(has_text=re.compile(rf"^{label}")).first.wait_for(timeout=30_000)

        page.get_by_role("tab", name="Marketing-mix model").click()
        page.get_by_text("5 channels found").wait_for(timeout=30_000)
        page.get_by_test_id("stExpander").filter(has_text="Options").locator("summary").click()
        page.get_by_text("Quick: 30 refits").click()  # keeps the test well under a minute on 2 busy cores
        _idle(page)
        started = time.monotonic()
        page.get_by_role("button", name="Fit the model").click()
        page.get_by_text("This runs in the background").wait_for(timeout=60_000)
        page.get_by_role("heading", name="Return per channel").wait_for(timeout=180_000)
        _idle(page)
        seconds = time.monotonic() - started

        # the table's cells are drawn on a canvas; its accessible copy exists once it is on screen
        page.get_by_role("heading", name="Return per channel").scroll_into_view_if_needed()
        page.mouse.wheel(0, 500)
        table = page.get_by_test_id("stDataFrame").filter(has_text="return (revenue per 1 spent)")
        table.first.wait_for(timeout=30_000)
        for ch in DEMO_CHANNELS:
            assert table.first.get_by_text(ch, exact=True).count() >= 1, ch
        page.get_by_role("heading", name="Budget allocator").wait_for(timeout=30_000)
        assert page.get_by_test_id("stMetric").filter(has_text="from the channels per week").count() == 1
        summary = page.get_by_test_id("stAlertContentSuccess").filter(has_text=" per 1 spent (")
        assert summary.count() == 1 and any(ch in summary.inner_text().lower() for ch in DEMO_CHANNELS)
        assert page.get_by_role("button", name="Download report (HTML)").count() == 1
        assert page.locator('[data-testid="stException"]').count() == 0
        assert seconds < 120, f"the quick fit took {seconds:.0f} s"
        page.close()
