"""DuckDB vs Spark: every analysis that aggregates through Ibis gives the same answer on both engines
over the same data (integers and text equal, floats within 1e-9 relative: only summation order may
differ). The fixtures are the demo tables (sample_data/), loaded into both workspaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def assert_same(got: pd.DataFrame, want: pd.DataFrame, what: str, sort: list[str] | None = None) -> None:
    """Equal frames: same columns; integers, text and dates equal; floats to 1e-9 relative."""
    assert list(got.columns) == list(want.columns), what
    if sort:
        got = got.sort_values(sort, kind="stable").reset_index(drop=True)
        want = want.sort_values(sort, kind="stable").reset_index(drop=True)
    assert len(got) == len(want), what
    for col in want.columns:
        w, g = want[col], got[col]
        if pd.api.types.is_float_dtype(w) or pd.api.types.is_float_dtype(g):
            np.testing.assert_allclose(g.astype(float), w.astype(float), rtol=1e-9, atol=1e-9,
                                       err_msg=f"{what}: {col}")
        elif pd.api.types.is_datetime64_any_dtype(w) or pd.api.types.is_datetime64_any_dtype(g):
            assert pd.to_datetime(g).tolist() == pd.to_datetime(w).tolist(), f"{what}: {col}"
        else:
            assert [None if pd.isna(v) else v for v in g.tolist()] == \
                [None if pd.isna(v) else v for v in w.tolist()], f"{what}: {col}"


@pytest.fixture
def both(sws, dws):
    """(spark workspace, duckdb workspace) with the demo tables each test asks for."""
    def load(*names: str):
        for name in names:
            df = pd.read_csv(SAMPLE / f"{name}.csv")
            for c in ("order_date", "date", "exposure_date", "signup_date"):
                if c in df.columns:
                    df[c] = pd.to_datetime(df[c])
            sws.save_frame(df, name)
            dws.save_frame(df, name)
        return sws, dws
    return load


def test_customer_features(both):
    from core.segments.features import customer_features

    sws, dws = both("transactions")
    kw = dict(order="order_id", channel="channel", product="category")
    got = customer_features(sws.table("transactions"), "customer_id", "order_date", "amount", **kw)
    want = customer_features(dws.table("transactions"), "customer_id", "order_date", "amount", **kw)
    assert_same(got, want, "customer_features", sort=["customer_id"])


def test_rfm_on_the_features(both):
    from core.segments.features import customer_features
    from core.segments.rfm import rfm_scores

    sws, dws = both("transactions")
    got = rfm_scores(customer_features(sws.table("transactions"), "customer_id", "order_date", "amount"),
                     customer="customer_id")
    want = rfm_scores(customer_features(dws.table("transactions"), "customer_id", "order_date", "amount"),
                      customer="customer_id")
    assert_same(got, want, "rfm_scores", sort=["customer_id"])


def test_experiment_timeline_and_breakdown(both):
    from core.experiments.analysis import breakdown, timeline

    sws, dws = both("email_campaign")
    got = timeline(sws.table("email_campaign"), "variant", "converted", "exposure_date")
    want = timeline(dws.table("email_campaign"), "variant", "converted", "exposure_date")
    assert_same(got, want, "timeline")
    got = breakdown(sws.table("email_campaign"), "variant", "revenue", "device")
    want = breakdown(dws.table("email_campaign"), "variant", "revenue", "device")
    assert_same(got, want, "breakdown")


@pytest.mark.parametrize("freq", ["D", "W", "M", "total"])
def test_campaign_kpis(both, freq):
    from core.campaigns.kpis import kpis

    sws, dws = both("campaign_daily")
    kw = dict(date="date", spend="spend", impressions="impressions", clicks="clicks", conversions="conversions",
              revenue="revenue", by=["campaign", "channel"], freq=freq)
    assert_same(kpis(sws.table("campaign_daily"), **kw), kpis(dws.table("campaign_daily"), **kw), f"kpis {freq}")


def test_clv_summary(both):
    from core.targeting.clv import customer_summary

    sws, dws = both("transactions")
    for freq in ("D", "W"):
        got = customer_summary(sws.table("transactions"), "customer_id", "order_date", "amount", freq=freq)
        want = customer_summary(dws.table("transactions"), "customer_id", "order_date", "amount", freq=freq)
        assert_same(got.reset_index(drop=True), want.reset_index(drop=True), f"customer_summary {freq}")


def test_cooccurrence_counts(both):
    from core.targeting.recommend import item_similarity

    sws, dws = both("order_lines")
    # the first 1,500 of the demo's 5,000 customers (Spark runs each scratch table of the steps as a job)
    def lines(ws):
        t = ws.table("order_lines")
        return t.filter(t.customer_id < 101_501)
    got = item_similarity(lines(sws), "customer_id", "product", weight="quantity")
    want = item_similarity(lines(dws), "customer_id", "product", weight="quantity")
    assert len(want) > 100
    assert_same(got, want, "item_similarity")
