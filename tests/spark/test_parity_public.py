"""DuckDB vs Spark on the public files in ../shared/data (skipped when they are absent): each file
loaded with `ingest_csv` into both workspaces, then the same core call on each; integers and text
equal, floats within 1e-9 relative (tests/spark/test_parity.py's rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_parity import assert_same

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CDNOW = DATA / "cdnow" / "cdnow_master_transactions.csv"
HILLSTROM = DATA / "hillstrom" / "hillstrom_email_2008.csv"


@pytest.mark.skipif(not HILLSTROM.exists(), reason=f"{HILLSTROM} is not on this machine")
def test_hillstrom_test_read_out_on_both_engines(sws, dws):
    from core.experiments import analyze

    for ws in (sws, dws):
        report = ws.ingest_csv(HILLSTROM, "hillstrom")
        assert report.rows == 64_000 and report.rejected_rows == 0
    kw = dict(control="No E-Mail")
    got = analyze(sws.table("hillstrom"), "segment", ["visit", "conversion", "spend"], **kw)
    want = analyze(dws.table("hillstrom"), "segment", ["visit", "conversion", "spend"], **kw)
    assert_same(got.table, want.table, "hillstrom analyze")
    assert got.srm_p_value == pytest.approx(want.srm_p_value, rel=1e-9)


@pytest.mark.skipif(not CDNOW.exists(), reason=f"{CDNOW} is not on this machine")
def test_cdnow_customer_features_and_clv_summary_on_both_engines(sws, dws):
    from core.segments.features import customer_features
    from core.targeting.clv import customer_summary

    for ws in (sws, dws):
        report = ws.ingest_csv(CDNOW, "cdnow")
        assert report.rows == 69_659 and report.rejected_rows == 0
    got = customer_features(sws.table("cdnow"), "customer_id", "date", "dollar_value")
    want = customer_features(dws.table("cdnow"), "customer_id", "date", "dollar_value")
    assert len(want) == 23_570
    assert_same(got, want, "cdnow customer_features", sort=["customer_id"])
    got = customer_summary(sws.table("cdnow"), "customer_id", "date", "dollar_value", freq="W")
    want = customer_summary(dws.table("cdnow"), "customer_id", "date", "dollar_value", freq="W")
    assert_same(got.reset_index(drop=True), want.reset_index(drop=True), "cdnow customer_summary")
