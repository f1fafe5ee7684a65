"""AppTest: the Targeting page on the demo data, each tab with its defaults, as a new user would click.

Customer value, uplift and next-best products each fit as a background job (finish_jobs polls),
save their table, and the Audience tab finds those tables by their columns, filters and saves an
audience. A viewer reads why fitting is not offered; a job that fails shows its error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from apptest_jobs import finish_jobs
from core.data.workspace import Workspace
from core.demo import load_demo

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TAB = "tgt-tab"


def _open(tab: str, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/targeting.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.session_state[TAB] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return finish_jobs(at, timeout=300)


def _metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def _save(at: AppTest, key: str) -> None:
    at.button(key=f"{key}-save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Saved") for s in at.success), [e.value for e in at.error]


def test_each_tab_with_its_defaults_then_an_audience_from_what_they_saved(app_env):
    ws = Workspace()
    load_demo(ws)
    # Customer value: the transactions table and its columns are guessed; one click fits
    at = _open("Customer value")
    assert at.selectbox(key="clv-customer-transactions").value == "customer_id"
    assert at.selectbox(key="clv-amount-transactions").value == "amount"
    _click(at, "clv-fit")
    assert _metric(at, "Customers") == "5,000"
    assert any(c.value.startswith("Hold-out") for c in at.caption)  # the hold-out check ran with the defaults
    _save(at, "clv-table")
    clv = ws.read("transactions_clv")
    assert list(clv.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value", "expected_purchases",
                                 "p_alive", "expected_spend", "clv"]
    assert clv["p_alive"].between(0, 1).all() and (clv["clv"] >= 0).all()

    # Uplift: offer_test, group / control / converted guessed; score the whole customer base
    at = _open("Uplift", at)
    assert at.selectbox(key="upl-treat-offer_test").value == "group"
    assert at.selectbox(key="upl-outcome-offer_test").value == "converted"
    _click(at, "upl-fit")
    assert float(_metric(at, "Qini AUC")) > 0
    assert not [d for d in at.dataframe if "uplift_decile" in d.value.columns]  # nothing scored before asked
    at.selectbox(key="upl-score-table-offer_test").set_value("customers").run()
    at.button(key="upl-score").click().run()
    assert not at.exception
    _save(at, "upl-scores")
    scores = ws.read("customers_uplift")
    assert {"customer_id", "uplift", "uplift_decile", "p_treated", "p_control", "group"} <= set(scores.columns)
    assert len(scores) == 5000 and sorted(scores["uplift_decile"].unique()) == list(range(1, 11))
    # the planted persuadables (bargain hunters) come before the do-not-disturbs (window shoppers)
    types = ws.read("customers")[["customer_id", "customer_type"]]
    mean = scores.merge(types).groupby("customer_type")["uplift"].mean()
    assert mean["Bargain hunters"] > mean["Window shoppers"]

    # Next-best products: order_lines; the offline check beats popularity
    at = _open("Next-best products", at)
    _click(at, "prd-fit")
    assert float(_metric(at, "Hit rate@10").rstrip("%")) > 50
    _save(at, "prd-recs")
    recs = ws.read("order_lines_next_products")
    assert list(recs.columns) == ["customer_id", "product", "rank", "score", "reason"]

    # Audience: the three saved tables are found by their columns; filters narrow it; save it
    at = _open("Audience", at)
    assert at.selectbox(key="aud-src-clv").value == "transactions_clv"
    assert at.selectbox(key="aud-src-uplift").value == "customers_uplift"
    assert at.selectbox(key="aud-src-products").value == "order_lines_next_products"
    assert _metric(at, "Customers in the audience") == "5,000"
    at.slider(key="aud-f-updec").set_value(3).run()
    at.slider(key="aud-f-palive").set_value(0.5).run()
    assert not at.exception, [e.value for e in at.exception]
    size = int(_metric(at, "Customers in the audience").replace(",", ""))
    expected = scores[scores["uplift_decile"] <= 3].merge(clv[clv["p_alive"] >= 0.5], on="customer_id")
    assert size == len(expected) > 0
    extra = float(_metric(at, "Expected extra conversions").replace(",", ""))
    assert extra == round(expected["uplift"].sum())
    _save(at, "aud")
    audience = ws.read("audience")
    assert len(audience) == size and {"customer_id", "clv", "uplift", "product_1"} <= set(audience.columns)


def test_a_failing_fit_shows_its_error(app_env):
    ws = Workspace()
    ws.save_frame(pd.DataFrame({"customer_id": [1, 2, 3], "order_date": ["2024-01-01", "2024-01-02", "2024-01-03"],
                                "amount": [10.0, 20.0, 30.0]}), "tiny")
    at = _open("Customer value")
    at.selectbox(key="clv-table").set_value("tiny").run()
    _click(at, "clv-fit")
    assert at.error, "a fit on three one-off buyers must say why it stopped"
    assert at.error[0].value.startswith("It stopped:"), at.error[0].value


def test_a_viewer_reads_why_fitting_is_not_offered(app_env, tmp_path, monkeypatch):
    from argon2 import PasswordHasher

    from core.auth import UsersFile

    users = UsersFile(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    users.add("vera", "a-long-password-1", "viewer")
    monkeypatch.setenv("MW_USERS_FILE", str(users.path))
    load_demo(Workspace())
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="login-name").input("vera")
    at.text_input(key="login-password").input("a-long-password-1")
    at.button[0].click().run()
    for tab, key in (("Customer value", "clv-fit"), ("Uplift", "upl-fit"), ("Next-best products", "prd-fit")):
        at = _open(tab, at)
        assert not [b for b in at.button if b.key == key]
        assert any("role (viewer)" in i.value for i in at.info)


SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def test_each_tab_opens_on_a_table_that_fits_it_whatever_the_names(app_env):
    """Own names, in an order where the first table fits no tab: each tab opens on the table its guesses
    fit (not simply the first), with the guessed columns; the uplift outcome says why it was chosen."""
    ws = Workspace()
    ws.save_frame(pd.DataFrame({"session": range(60), "started": pd.date_range("2024-01-01", periods=60),
                                "pages": [i % 7 for i in range(60)]}), "web_sessions")
    for name, file in (("people", "customers"), ("purchases", "transactions"), ("lines", "order_lines"),
                       ("promo", "offer_test")):
        ws.save_frame(pd.read_csv(SAMPLE / f"{file}.csv"), name)
    at = _open("Customer value")
    # the first in the workspace's (sorted) list that fits: order lines carry customer, date and amount too
    clv_table = at.selectbox(key="clv-table").value
    assert clv_table == "lines"
    assert at.selectbox(key=f"clv-date-{clv_table}").value == "order_date"
    at = _open("Uplift", at)
    assert at.selectbox(key="upl-table").value == "promo"
    assert at.selectbox(key="upl-outcome-promo").value == "converted"
    assert any(c.value.startswith("Guessed: Treatment: group") for c in at.caption)
    at = _open("Next-best products", at)
    assert at.selectbox(key="prd-table").value == "lines"
    assert at.selectbox(key="prd-item-lines").value == "product"
    at = _open("Audience", at)
    assert at.selectbox(key="aud-base").value == "people"


def test_nothing_is_preselected_that_was_not_guessed(app_env):
    ws = Workspace()
    ws.save_frame(pd.DataFrame({"session": range(60), "started": pd.date_range("2024-01-01", periods=60),
                                "pages": [i % 7 for i in range(60)]}), "web_sessions")
    for tab, key in (("Customer value", "clv-table"), ("Uplift", "upl-table"), ("Next-best products", "prd-table")):
        at = _open(tab)
        assert at.selectbox(key=key).value is None, tab
        assert any(c.value.startswith("No table here looks like it fits") for c in at.caption), tab
        assert not [b for b in at.button if b.key.endswith("-fit")], tab  # no button until a table is picked
    # picked by hand: the product column is not guessed, so it is not preselected; a date is refused
    at = _open("Next-best products")
    at.selectbox(key="prd-table").set_value("web_sessions").run()
    assert at.selectbox(key="prd-item-web_sessions").value is None
    at.selectbox(key="prd-item-web_sessions").set_value("started").run()
    assert not at.exception
    at.selectbox(key="prd-customer-web_sessions").set_value("session").run()
    assert any("holds dates, not products" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_large_table_is_scored_as_a_background_job(app_env, monkeypatch):
    import pages.targeting_uplift as uplift_tab

    monkeypatch.setattr(uplift_tab, "SCORE_IN_PROCESS_ROWS", 0)  # every table counts as large
    load_demo(Workspace())
    at = _open("Uplift")
    _click(at, "upl-fit")
    at.button(key="upl-score").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at = finish_jobs(at, timeout=300)
    assert any(c.value.startswith("5,000 customers scored") for c in at.caption), [e.value for e in at.error]
    from pages.common import job_runner

    jobs = [j for j in job_runner().jobs("local", limit=10) if j.kind == "uplift-score"]
    assert jobs and jobs[0].state == "done" and jobs[0].table == "offer_test"


def test_a_test_without_an_id_is_scored_by_row_number(app_env):
    ws = Workspace()
    ws.save_frame(pd.read_csv(SAMPLE / "offer_test.csv").drop(columns="customer_id"), "promo")
    at = _open("Uplift")
    _click(at, "upl-fit")
    assert at.selectbox(key="upl-score-id-promo").value == "(row number)"
    at.button(key="upl-score").click().run()
    assert not at.exception, [e.value for e in at.exception]
    scored = next(d.value for d in at.dataframe if "uplift_decile" in d.value.columns)
    assert list(scored.columns)[0] == "row_number" and scored["row_number"].between(1, 5000).all()


def test_a_table_that_fits_later_is_preselected_after_an_empty_visit(app_env):
    ws = Workspace()
    ws.save_frame(pd.DataFrame({"session": range(60), "started": pd.date_range("2024-01-01", periods=60)}),
                  "web_sessions")
    at = _open("Audience")
    assert at.selectbox(key="aud-base").value is None
    ws.save_frame(pd.read_csv(SAMPLE / "customers.csv"), "people")
    at = _open("Customer value", at)
    at = _open("Audience", at)
    assert at.selectbox(key="aud-base").value == "people"


def test_products_from_purchase_and_view_lines(app_env):
    """An event column (transaction / view / addtocart, as in web-shop exports) is guessed, its values'
    reading is shown, views seed the scores and a viewed product can be offered with its reason."""
    import numpy as np

    rng = np.random.default_rng(1)
    rows = []
    for c in range(300):
        group = c % 3
        for day in range(3):
            for _ in range(2):
                rows.append((c, f"p{group * 8 + int(rng.integers(8))}", f"2024-0{day + 1}-05", "transaction"))
        rows.append((c, f"p{group * 8 + int(rng.integers(8))}", "2024-03-20", "view"))
        rows.append((c, f"p{group * 8 + int(rng.integers(8))}", "2024-03-21", "addtocart"))
    for c in range(300, 330):  # visitors who only looked
        rows.append((c, f"p{int(rng.integers(8))}", "2024-03-22", "view"))
    ws = Workspace()
    ws.save_frame(pd.DataFrame(rows, columns=["visitorid", "itemid", "timestamp", "event"]), "events")
    at = _open("Next-best products")
    assert at.selectbox(key="prd-item-events").value == "itemid"
    assert at.selectbox(key="prd-event-events").value == "event"
    assert any("addtocart → add-to-cart" in c.value and "transaction → purchase" in c.value for c in at.caption)
    _click(at, "prd-fit")
    assert not at.error, [e.value for e in at.error]
    assert any("view and add-to-cart lines are signals" in c.value for c in at.caption)
    shown = next(d.value for d in at.dataframe if "reason" in d.value.columns and "rank" in d.value.columns)
    assert shown["reason"].isin(["viewed, not bought yet", "in the cart, not bought yet"]).any()
    _save(at, "prd-recs")
    saved = ws.read("events_next_products")
    assert set(range(300, 330)) <= set(saved["visitorid"])  # visitors who only looked get offers too
