"""The Targeting page in Debian's Chromium: from the demo data to an exported audience.

One journey as a new user clicks it: load the demo, then on /targeting compute customer values,
fit uplift and score the `customers` table, find next-best products (each a background job, each
saved as a table), and in the Audience tab see the three tables picked, narrow the audience with a
filter, download it as CSV (checked against the size shown) and save it. Each step's seconds are
printed (`-s`). Skips with a reason when Chromium or playwright is missing, unless
REQUIRE_BROWSER_TESTS=1.
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest

from test_journeys import _idle, _load_demo, _running_app

FIT_TIMEOUT = 300_000  # ms; a fit on 2 cores shared with other users


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with _running_app(tmp_path_factory.mktemp("targeting")) as url:
        yield url


class _Steps:
    """Prints each step's seconds, so a slow step shows in the test's output."""

    def __init__(self) -> None:
        self.last = self.start = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        print(f"  {step}: {now - self.last:.1f} s")
        self.last = now

    def total(self) -> None:
        print(f"  total: {time.perf_counter() - self.start:.1f} s")


def _no_exception(page, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{where}: {errors.first.inner_text()[:500]}"


def _tab(page, name: str) -> None:
    """Open a lazy tab (a click reruns the script and renders only that tab)."""
    page.get_by_role("tab", name=name).click()
    _idle(page)
    _no_exception(page, name)


def _run_job(page, button: str, done_text: str, heading: bool = True) -> None:
    """Click a tab's fit button, see the background-job box, then wait for the result."""
    page.get_by_role("button", name=button).click()
    page.get_by_text("This runs in the background").first.wait_for(timeout=60_000)
    done = page.get_by_role("heading", name=done_text) if heading else page.get_by_text(done_text)
    done.first.wait_for(timeout=FIT_TIMEOUT)
    _idle(page)
    _no_exception(page, button)


def _save(page, table: str, button: str = "Save as a table") -> None:
    page.get_by_role("button", name=button).click()
    page.get_by_text(re.compile(rf"Saved {re.escape(table)} \(")).first.wait_for(timeout=60_000)
    _idle(page)


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (scrolled into view first; tries again if the list closed)."""
    for attempt in range(3):
        _idle(page)
        box = page.get_by_test_id("stSelectbox").filter(has_text=label).locator("visible=true").first
        box.scroll_into_view_if_needed()  # the list closes when the click first has to scroll the page
        page.wait_for_timeout(500)
        box.locator("input").first.click()
        choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.wait_for(timeout=5_000)
            choice.click()
            if attempt:
                print(f"  ({label!r}: the list opened on try {attempt + 1})")
            break
        except Exception:  # noqa: BLE001 - the list closed under a rerun: open it again
            page.keyboard.press("Escape")
    else:
        pytest.fail(f"could not pick {option!r} in {label!r}")
    _idle(page)


def _picked(page, label: str) -> str:
    """The value shown in the selectbox whose label contains `label`."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    return box.locator("input").first.input_value()


def _audience_size(page) -> int:
    metric = page.get_by_test_id("stMetric").filter(has_text="Customers in the audience").first
    return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))


def test_demo_data_to_an_exported_audience(browser, app_url):
    steps = _Steps()
    page = browser.new_page(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    _load_demo(page, app_url)
    steps.done("load the demo")

    page.goto(app_url + "/targeting")
    _idle(page)
    _no_exception(page, "/targeting")
    steps.done("open /targeting")

    # Customer value: transactions, guessed columns, one click
    _tab(page, "Customer value")
    assert _picked(page, "Transactions (one row per purchase)") == "transactions"
    assert _picked(page, "Customer column") == "customer_id"
    assert _picked(page, "Amount") == "amount"
    _run_job(page, "Compute customer values", "Every customer's value")
    customers = page.get_by_test_id("stMetric").filter(has_text="Customers").first
    assert customers.get_by_test_id("stMetricValue").inner_text() == "5,000"
    page.get_by_role("heading", name="Hold-out check").wait_for()  # the check runs with the defaults
    steps.done("customer values (fit)")
    _save(page, "transactions_clv")
    steps.done("customer values (save)")

    # Uplift: offer_test, fit, score the customers table, save the scores
    _tab(page, "Uplift")
    assert _picked(page, "Test table") == "offer_test"
    assert _picked(page, "Treatment column") == "group"
    assert _picked(page, "Outcome") == "converted"
    _run_job(page, "Fit the uplift model", "Score customers")
    qini = page.get_by_test_id("stMetric").filter(has_text="Qini AUC").first
    assert float(qini.get_by_test_id("stMetricValue").inner_text()) > 0
    steps.done("uplift (fit)")
    _choose(page, "Table to score", "customers")
    assert _picked(page, "Table to score") == "customers"
    _idle(page)
    page.get_by_role("button", name="Score customers").click()  # scoring is asked for, not run on every fit
    page.get_by_text("5,000 customers scored").wait_for(timeout=120_000)
    _idle(page)
    _no_exception(page, "uplift scoring")
    steps.done("uplift (score customers)")
    _save(page, "customers_uplift")
    steps.done("uplift (save)")

    # Next-best products: order_lines, fit, save
    _tab(page, "Next-best products")
    assert _picked(page, "Purchase lines") == "order_lines"
    _run_job(page, "Find next-best products", "Each customer's next-best products", heading=False)
    hit = page.get_by_test_id("stMetric").filter(has_text="Hit rate@10").first
    assert float(hit.get_by_test_id("stMetricValue").inner_text().rstrip("%")) > 50
    steps.done("next-best products (fit)")
    _save(page, "order_lines_next_products")
    steps.done("next-best products (save)")

    # Audience: the three saved tables are picked by their columns
    _tab(page, "Audience")
    assert _picked(page, "Customer table") == "customers"
    assert _picked(page, "Customer value (Customer value tab)") == "transactions_clv"
    assert _picked(page, "Uplift scores (Uplift tab)") == "customers_uplift"
    assert _picked(page, "Next-best products (Next-best products tab)") == "order_lines_next_products"
    everyone = _audience_size(page)
    assert everyone == 5000
    steps.done("audience (open)")

    # a filter narrows it: CLV at least 100
    box = page.get_by_label("CLV at least")
    box.fill("100")
    box.press("Enter")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .some(m => m.innerText.includes('Customers in the audience')
                            && !m.innerText.includes('5,000'))""", timeout=60_000)
    _idle(page)
    _no_exception(page, "audience filter")
    size = _audience_size(page)
    assert 0 < size < everyone
    steps.done(f"audience (filter: {size:,} of {everyone:,})")

    with page.expect_download(timeout=60_000) as d:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(d.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert "customer_id" in header, header
    assert len(body) == size, (len(body), size)
    clv = [float(r[header.index("clv")]) for r in body]
    assert min(clv) >= 100  # the filter is in the file too
    unneutralised = [cell for r in body for cell in r if cell[:1] in ("=", "+", "@")]
    assert not unneutralised, unneutralised[:5]
    steps.done("audience (download CSV)")

    _save(page, "audience", button="Save the audience")
    page.get_by_text(f"({size:,} customers)").first.wait_for()
    _no_exception(page, "save the audience")
    steps.done("audience (save)")
    steps.total()
    page.close()
