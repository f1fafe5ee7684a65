"""core.targeting.guess (which table and column is which) and core.targeting.jobs (the page's jobs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.columns import guess_roles
from core.jobs import JobRunner
from core.targeting import guess, jobs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "data"


def _pick(frame: pd.DataFrame, how) -> dict:
    return how(guess_roles(frame), list(frame.columns)).columns


def test_result_tables_are_told_apart_by_the_columns_the_workbench_writes():
    tables = {
        "customers": ["customer_id", "region", "orders"],
        "customers_segments": ["customer_id", "segment", "segment_name", "distance_to_centre"],
        "transactions_clv": ["customer_id", "frequency", "recency", "T", "monetary_value", "expected_purchases",
                             "p_alive", "expected_spend", "clv"],
        "offer_test_uplift": ["customer_id", "uplift", "uplift_decile", "p_treated", "p_control", "group"],
        "customers_scores": ["customer_id", "score", "decile"],
        "order_lines_next_products": ["customer_id", "product", "rank", "score", "reason"],
        "old_clv": ["customer_id", "clv", "p_alive"],
    }
    found = guess.guess_sources(tables)
    assert found == {"segments": "customers_segments", "clv": "old_clv", "uplift": "offer_test_uplift",
                     "propensity": "customers_scores", "products": "order_lines_next_products"}
    assert guess.result_tables(tables, "clv") == ["transactions_clv", "old_clv"]
    assert guess.result_kind(["customer_id", "rfm_segment", "r_score"]) == "segments"
    assert guess.result_kind(["customer_id", "region"]) is None


def test_demo_tables_guess_the_columns_each_tab_needs():
    tx = pd.read_csv(SAMPLE / "transactions.csv")
    assert _pick(tx, guess.transaction_columns) == {"customer": "customer_id", "date": "order_date",
                                                    "amount": "amount", "quantity": None}
    lines = pd.read_csv(SAMPLE / "order_lines.csv")
    got = _pick(lines, guess.product_columns)
    assert (got["customer"], got["item"], got["weight"], got["date"]) == ("customer_id", "product", "quantity",
                                                                          "order_date")
    test = pd.read_csv(SAMPLE / "offer_test.csv")
    got = _pick(test, guess.test_columns)
    # the outcome is the result of the test (converted), not `orders` (known before the send)
    assert (got["treatment"], got["control"], got["outcome"]) == ("group", "control", "converted")


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (public datasets) is not on this machine")
def test_public_files_guess_right():
    retail = pd.read_csv(SHARED / "online_retail" / "online_retail.csv", nrows=20_000)
    got = _pick(retail, guess.product_columns)
    assert (got["customer"], got["item"], got["label"], got["weight"]) == ("CustomerID", "StockCode", "Description",
                                                                           "Quantity")
    # UnitPrice is a price, not what a line is worth: the CLV amount is Quantity x UnitPrice
    assert _pick(retail, guess.transaction_columns) == {"customer": "CustomerID", "date": "InvoiceDate",
                                                        "amount": "UnitPrice", "quantity": "Quantity"}
    hill = pd.read_csv(SHARED / "hillstrom" / "hillstrom_email_2008.csv")
    got = _pick(hill, guess.test_columns)
    assert (got["treatment"], got["control"], got["outcome"]) == ("segment", "No E-Mail", "conversion")
    # with the rates read, conversion (0.9%) is too rare to rank customers by: visit (14.7%) is chosen
    roles = guess_roles(hill)
    flags = guess.flag_columns(roles, list(hill.columns))
    assert {"visit", "conversion"} <= set(flags)
    rates = {c: float(hill[c].mean()) for c in flags}
    pick = guess.test_columns(roles, list(hill.columns), rates)
    assert pick.columns["outcome"] == "visit"
    assert any("Not conversion: it is 1 for only 0.9%" in r for r in pick.reasons), pick.reasons
    cdnow = pd.read_csv(SHARED / "cdnow" / "cdnow_master_transactions.csv")
    assert _pick(cdnow, guess.transaction_columns)["amount"] == "dollar_value"


def _describe(frames: dict[str, pd.DataFrame]):
    return lambda name: (guess_roles(frames[name]), list(frames[name].columns))


def test_each_tab_opens_on_the_first_table_that_fits_it():
    frames = {name: pd.read_csv(SAMPLE / f"{name}.csv") for name in
              ("customers", "transactions", "order_lines", "offer_test")}
    frames = {"web_sessions": pd.DataFrame({"session": range(50), "started": pd.date_range("2024-01-01", periods=50),
                                             "pages": np.arange(50) % 7}), **frames}
    order = list(frames)
    describe = _describe(frames)
    assert guess.first_fitting("clv", order, describe) == "transactions"
    assert guess.first_fitting("products", order, describe) == "order_lines"
    assert guess.first_fitting("uplift", order, describe) == "offer_test"
    assert guess.first_fitting("audience", order, describe) == "customers"
    # the demo's own name wins when it is there; nothing that fits gives None (the page asks)
    assert guess.first_fitting("clv", order, describe, preferred="order_lines") == "order_lines"
    assert guess.first_fitting("products", ["web_sessions"], describe) is None
    assert guess.test_columns(*describe("transactions")).columns["outcome"] is None  # no test, no outcome
    assert guess.first_fitting("uplift", ["web_sessions", "transactions"], describe) is None
    # a result table the workbench wrote is never the input of a model, though it has one row per customer
    frames["offer_test_uplift"] = pd.DataFrame({"customer_id": range(10), "uplift": 0.1, "uplift_decile": 1})
    assert not guess.fits("uplift", *describe("offer_test_uplift"))
    assert guess.first_fitting("audience", ["offer_test_uplift", "customers"], describe) == "customers"
    # ... but with no customer table, a saved result (one row per customer) is the audience's base
    assert guess.first_fitting("audience", ["web_sessions", "transactions", "offer_test_uplift"], describe) == \
        "offer_test_uplift"


def test_a_rare_outcome_is_named_even_when_nothing_better_exists():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"customer_id": range(2000), "group": rng.choice(["offer", "control"], 2000),
                       "converted": (rng.random(2000) < 0.005).astype(int)})
    roles = guess_roles(df)
    pick = guess.test_columns(roles, list(df.columns), {"converted": float(df["converted"].mean())})
    assert pick.columns["outcome"] == "converted"
    assert any("too rare" in r for r in pick.reasons)


def test_default_holdout_start_leaves_the_last_quarter():
    assert guess.default_holdout_start(dt.date(2020, 1, 1), dt.date(2020, 12, 31)) == dt.date(2020, 10, 1)
    assert guess.control_levels(["offer", "control", "No E-Mail", "Mens E-Mail"]) == ["control", "No E-Mail"]


def test_settings_round_trip_through_a_job_record():
    for s in (jobs.ClvSettings("c", "d", "a", freq="D", quantity="q", holdout_from="2020-01-01"),
              jobs.UpliftSettings("group", "converted", "control", ("offer",), ("x", "y"), "class_transformation"),
              jobs.ProductSettings("c", "i", label="l", weight="w", date="d", k=5, exclude_column="inv",
                                   exclude_prefix="C", event="action")):
        assert type(s).from_dict({**s.as_dict(), "table_version": 3}) == s
    assert jobs.ProductSettings("c", "i", exclude_column="inv", exclude_prefix="C").exclude == ("inv", "C")
    assert jobs.ProductSettings("c", "i", exclude_column="inv").exclude is None


def test_line_amounts_multiply_a_unit_price_by_its_quantity():
    df = pd.DataFrame({"c": [1, 2], "d": ["2020-01-01"] * 2, "price": [2.5, 4.0], "qty": [2, -1]})
    out = jobs.line_amounts(df, jobs.ClvSettings("c", "d", "price", quantity="qty"))
    assert out["price"].tolist() == [5.0, -4.0]
    assert df["price"].tolist() == [2.5, 4.0]  # the input is not changed
    assert jobs.line_amounts(df, jobs.ClvSettings("c", "d", "price")) is df


def _progress(share: float, message: str) -> None:
    pass


def test_jobs_compute_the_same_as_the_core_calls():
    tx = pd.read_csv(SAMPLE / "transactions.csv")
    s = jobs.ClvSettings("customer_id", "order_date", "amount", holdout_from="2026-01-01")
    result = jobs.clv_job(tx, s.as_dict(), progress=_progress)
    from core.targeting.clv import customer_values, holdout_check

    direct = customer_values(tx, "customer_id", "order_date", "amount", horizon=12, horizon_unit="M", holdout=False)
    # rtol 1e-3, not exact: the demo's Gamma-Gamma optimum lies on a flat ridge (p in the millions: spend
    # barely varies within a customer), where numpy's alignment-dependent sums move L-BFGS-B's end point
    # by a few 1e-5 between two identical fits in one process (seen in CI)
    pd.testing.assert_frame_equal(result.values.table, direct.table, rtol=1e-3)
    assert result.holdout is not None and result.check_error is None
    check = holdout_check(tx, "customer_id", "order_date", "amount", calibration_end="2026-01-01")
    assert result.holdout.predicted_total == pytest.approx(check.predicted_total)
    assert result.holdout.actual_total == check.actual_total

    lines = pd.read_csv(SAMPLE / "order_lines.csv")
    p = jobs.products_job(lines, jobs.ProductSettings("customer_id", "product", weight="quantity", date="order_date",
                                                      k=5).as_dict(), progress=_progress)
    assert p.check is not None and p.check.hit_rate > p.check.popular_hit_rate
    assert set(p.recommendations.table.columns) == {"customer_id", "product", "rank", "score", "reason"}
    assert {"product", "other_product", "share"} <= set(p.together.columns)


def _worker_threads(frame: pd.DataFrame, settings: dict, *, progress) -> tuple[int, int]:
    """Inside a worker: DuckDB threads of the scratch backend the targeting modules query with."""
    from core.data.engine import scratch_backend

    con = scratch_backend()
    threads = int(con.raw_sql("SELECT current_setting('threads')").fetchone()[0])
    from core import config

    return threads, config.duckdb_threads()


def test_duckdb_in_a_job_uses_the_jobs_thread_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("MW_WORKERS", "2")
    runner = JobRunner(tmp_path / "jobs", workers=2, per_user=2)
    try:
        job_id = runner.submit("test", _worker_threads, pd.DataFrame({"x": np.arange(3)}), {}, owner="t")
        job = runner.wait(job_id, timeout=120)
        assert job.state == "done", job.error
        threads, configured = runner.result(job_id)
    finally:
        runner.shutdown()
    assert threads == configured == 1  # 2 cores / 2 workers: one thread each, never every core
