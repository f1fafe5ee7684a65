"""core.campaigns (issue 12, part 1): KPIs against hand sums, pandas against the database, period cards,
pacing, anomaly flags against an independent rolling median / MAD, incremental return against a hand
computation and scipy's Welch interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.campaigns import (anomalies, compare_periods, flag_daily, incremental_return, kpis, pacing, robust_scores,
                            status_of)
from core.campaigns import charts
from core.errors import DataError
from core.experiments import analyze

ALL = dict(date="date", spend="spend", impressions="impressions", clicks="clicks", conversions="conversions",
           revenue="revenue")


def two_days() -> pd.DataFrame:
    """A small day and a big day: the mean of daily ratios is far from the ratio of sums."""
    return pd.DataFrame({
        "date": pd.to_datetime(["2026-11-02", "2026-11-03"]),
        "spend": [5.0, 200.0], "impressions": [100, 10_000], "clicks": [10, 100], "conversions": [1, 10],
        "revenue": [20.0, 300.0]})


def campaign_table(days: int = 120, seed: int = 3) -> pd.DataFrame:
    """Daily rows for 3 campaign lines with a monthly `budget` column (same value on every day of a month)."""
    rng = np.random.default_rng(seed)
    rows = []
    lines = [("Spring", "search", 900.0), ("Spring", "social", 600.0), ("Brand", "video", 300.0)]
    for day in pd.date_range("2026-06-01", periods=days, freq="D"):
        for campaign, channel, budget in lines:
            spend = float(rng.gamma(20, budget / 20 / 30))
            imp = int(spend * rng.uniform(80, 120))
            clicks = int(rng.binomial(imp, 0.02))
            conv = int(rng.binomial(clicks, 0.05))
            rows.append((day, campaign, channel, round(spend, 2), imp, clicks, conv, round(conv * 40.0, 2),
                         budget * (1 + (day.month % 2) * 0.5)))
    return pd.DataFrame(rows, columns=["date", "campaign", "channel", "spend", "impressions", "clicks",
                                       "conversions", "revenue", "budget"])


# ------------------------------------------------------------------------------------------ kpis
def test_kpis_are_ratios_of_sums_not_means_of_daily_ratios():
    df = two_days()
    out = kpis(df, freq="total", **ALL)
    assert len(out) == 1
    r = out.iloc[0]
    assert r["spend"] == 205 and r["impressions"] == 10_100 and r["clicks"] == 110 and r["conversions"] == 11
    assert r["revenue"] == 320 and r["rows"] == 2
    assert r["ctr"] == pytest.approx(110 / 10_100)
    assert r["cpc"] == pytest.approx(205 / 110)
    assert r["cpm"] == pytest.approx(1000 * 205 / 10_100)
    assert r["cvr"] == pytest.approx(11 / 110)
    assert r["cpa"] == pytest.approx(205 / 11)
    assert r["roas"] == pytest.approx(320 / 205)
    assert r["roi"] == pytest.approx((320 - 205) / 205)
    # the mean of the daily CTRs (10% and 1%) is 5.5%: far from the ratio of sums (1.09%)
    daily = kpis(df, freq="D", **ALL)
    assert daily["ctr"].tolist() == pytest.approx([0.1, 0.01])
    assert daily["ctr"].mean() == pytest.approx(0.055)
    assert abs(daily["ctr"].mean() - r["ctr"]) > 0.04
    assert daily["roas"].mean() == pytest.approx((4 + 1.5) / 2) and r["roas"] == pytest.approx(1.5610, abs=1e-4)
    assert r["period"] == pd.Timestamp("2026-11-02") and r["period_end"] == pd.Timestamp("2026-11-03")
    assert list(out.columns) == ["period", "period_end", "rows", "spend", "impressions", "clicks", "conversions",
                                 "revenue", "ctr", "cpc", "cpm", "cvr", "cpa", "roas", "roi"]


def test_undefined_kpis_are_nan():
    df = pd.DataFrame({"date": ["2026-01-01"], "spend": [0.0], "impressions": [0], "clicks": [0],
                       "conversions": [0], "revenue": [10.0]})
    r = kpis(df, **ALL).iloc[0]
    for k in ("ctr", "cpc", "cpm", "cvr", "cpa", "roas", "roi"):
        assert math.isnan(r[k]), k
    only_spend = kpis(df, date="date", spend="spend").iloc[0]
    assert math.isnan(only_spend["ctr"]) and math.isnan(only_spend["roas"]) and "clicks" not in only_spend


def test_weeks_start_on_monday_and_months_on_the_first():
    df = pd.DataFrame({"date": pd.to_datetime(["2026-11-01", "2026-11-02", "2026-11-08", "2026-11-09",
                                               "2026-12-01"]),  # Sun, Mon, Sun, Mon, Tue
                       "spend": [1.0, 2.0, 3.0, 4.0, 5.0]})
    weeks = kpis(df, date="date", spend="spend", freq="W")
    assert weeks["period"].dt.strftime("%Y-%m-%d").tolist() == ["2026-10-26", "2026-11-02", "2026-11-09",
                                                                 "2026-11-30"]
    assert (weeks["period"].dt.weekday == 0).all()
    assert weeks["spend"].tolist() == [1.0, 5.0, 4.0, 5.0]
    assert weeks["period_end"].iloc[0] == pd.Timestamp("2026-11-01")  # a Sunday
    months = kpis(df, date="date", spend="spend", freq="M")
    assert months["period"].dt.strftime("%Y-%m-%d").tolist() == ["2026-11-01", "2026-12-01"]
    assert months["spend"].tolist() == [10.0, 5.0]
    assert months["period_end"].tolist() == [pd.Timestamp("2026-11-30"), pd.Timestamp("2026-12-31")]


@pytest.mark.parametrize("freq", ["D", "W", "M", "total"])
@pytest.mark.parametrize("by", [None, "channel", ["campaign", "channel"]])
def test_pandas_and_the_database_agree(ws, freq, by):
    df = campaign_table(70)
    ws.save_frame(df, "campaign_daily")
    a = kpis(df, by=by, freq=freq, **ALL)
    b = kpis(ws.table("campaign_daily"), by=by, freq=freq, **ALL)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-12)
    # and the database's sums equal pandas' own groupby
    groups = [by] if isinstance(by, str) else list(by or [])
    if freq == "total" and groups:
        hand = df.groupby(groups)[["spend", "clicks", "impressions"]].sum().reset_index()
        merged = b.merge(hand, on=groups, suffixes=("", "_hand"))
        assert np.allclose(merged["spend"], merged["spend_hand"])
        assert np.allclose(merged["ctr"], merged["clicks_hand"] / merged["impressions_hand"])


def test_the_database_returns_only_the_aggregate(ws):
    df = campaign_table(30)
    ws.save_frame(df, "c")
    out = kpis(ws.table("c"), by="channel", freq="W", **ALL)
    assert len(out) == df["channel"].nunique() * df["date"].dt.to_period("W").nunique()


def test_timestamps_and_text_dates_and_rows_without_a_date():
    df = two_days()
    df["date"] = ["2026-11-02 10:30:00", "2026-11-03 23:59:00"]
    out = kpis(df, date="date", spend="spend", freq="D")
    assert out["period"].tolist() == [pd.Timestamp("2026-11-02"), pd.Timestamp("2026-11-03")]
    df.loc[1, "date"] = None
    out = kpis(df, date="date", spend="spend", freq="total")
    assert out["rows"].iloc[0] == 1 and out["spend"].iloc[0] == 5.0


def test_negative_spend_or_counts_raise_naming_column_and_rows(ws):
    df = campaign_table(10)
    df.loc[[0, 5, 7], "spend"] = -1.0
    df.loc[[2], "clicks"] = -3
    for data in (df, None):
        if data is None:
            ws.save_frame(df, "bad")
            data = ws.table("bad")
        with pytest.raises(DataError, match=r"'spend' is below zero in 3 rows; 'clicks' is below zero in 1 row"):
            kpis(data, **ALL)
    ok = df.assign(spend=1.0, clicks=1, revenue=-5.0)  # refunds: negative revenue is allowed
    assert kpis(ok, **ALL)["revenue"].sum() == pytest.approx(-5.0 * len(ok))


def test_bad_columns_and_freq_say_what_to_do():
    df = two_days()
    with pytest.raises(DataError, match=r"not in the table: spend 'cost'"):
        kpis(df, date="date", spend="cost")
    with pytest.raises(DataError, match="freq must be one of D, W, M, total"):
        kpis(df, date="date", spend="spend", freq="Q")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="Sums need number columns"):
        kpis(df.assign(spend="a lot"), date="date", spend="spend")
    with pytest.raises(DataError, match="Break down by a label"):
        kpis(df, date="date", spend="spend", by="spend")


# ------------------------------------------------------------------------------------------ cards
def test_period_comparison_against_the_previous_period_of_the_same_length(ws):
    df = campaign_table(40)
    ws.save_frame(df, "c")
    for data in (df, ws.table("c")):
        cmp = compare_periods(data, start="2026-06-15", end="2026-06-28", **ALL)
        assert cmp.previous_start == pd.Timestamp("2026-06-01") and cmp.previous_end == pd.Timestamp("2026-06-14")
        assert cmp.days == 14 and cmp.rows == 14 * 3 and cmp.previous_rows == 14 * 3
        now = df[(df.date >= "2026-06-15") & (df.date <= "2026-06-28")]
        before = df[(df.date >= "2026-06-01") & (df.date <= "2026-06-14")]
        spend = cmp.card("spend")
        assert spend.value == pytest.approx(now.spend.sum()) and spend.previous == pytest.approx(before.spend.sum())
        assert spend.change == pytest.approx(now.spend.sum() / before.spend.sum() - 1)
        ctr = cmp.card("ctr")
        assert ctr.value == pytest.approx(now.clicks.sum() / now.impressions.sum())
        assert ctr.points == pytest.approx(ctr.value - before.clicks.sum() / before.impressions.sum())
        assert math.isnan(cmp.card("cpa").points)  # money, not a rate: no points
        assert cmp.card("cpa").better == (cmp.card("cpa").value < cmp.card("cpa").previous)
        assert list(cmp.table()["kpi"]) == ["spend", "impressions", "clicks", "conversions", "revenue", "ctr",
                                            "cpc", "cpm", "cvr", "cpa", "roas", "roi"]
    empty_before = compare_periods(df, start="2026-06-01", end="2026-06-07", **ALL)
    assert empty_before.previous_rows == 0 and math.isnan(empty_before.card("spend").change)
    with pytest.raises(DataError, match="ends .* before it starts"):
        compare_periods(df, start="2026-06-10", end="2026-06-01", **ALL)


# ------------------------------------------------------------------------------------------ pacing
def test_pacing_with_a_plain_budget_by_hand():
    df = pd.DataFrame({"date": pd.date_range("2026-11-01", periods=10, freq="D"), "spend": 100.0})
    p = pacing(df, date="date", spend="spend", budget=3000.0)  # November: 30 days, 10 elapsed
    r = p.table.iloc[0]
    assert p.start == pd.Timestamp("2026-11-01") and p.end == pd.Timestamp("2026-11-30")
    assert p.as_of == pd.Timestamp("2026-11-10")
    assert r["elapsed_share"] == pytest.approx(10 / 30)
    assert r["expected_spend"] == pytest.approx(1000.0) and r["spend"] == 1000.0
    assert r["pace"] == pytest.approx(1.0) and r["status"] == "on track"
    assert r["projected_spend"] == pytest.approx(3000.0)
    assert "spent 1,000 of 3,000 with 33% of the flight gone (1,000 expected): on track" in r["explanation"]
    low = pacing(df, date="date", spend="spend", budget=4000.0).table.iloc[0]
    assert low["pace"] == pytest.approx(1000 / (4000 / 3)) and low["status"] == "under"
    high = pacing(df, date="date", spend="spend", budget=2000.0).table.iloc[0]
    assert high["status"] == "over"
    assert status_of(0.9) == "on track" and status_of(0.8999) == "under" and status_of(1.1) == "on track"
    assert status_of(1.1001) == "over" and status_of(float("nan")) is None


def test_pacing_with_a_monthly_budget_column_per_line(ws):
    df = campaign_table(100)  # June to early September
    ws.save_frame(df, "c")
    for data in (df, ws.table("c")):
        p = pacing(data, date="date", spend="spend", budget="budget", by="campaign",
                   budget_by=["campaign", "channel"], as_of="2026-07-20")
        assert p.start == pd.Timestamp("2026-07-01") and p.end == pd.Timestamp("2026-07-31")
        t = p.table.set_index("campaign")
        july = df[df.date.dt.month == 7]
        spring_budget = july[july.campaign == "Spring"].groupby("channel")["budget"].first().sum()
        assert t.loc["Spring", "budget"] == pytest.approx(spring_budget)  # 1,350 + 900
        spent = july[(july.date <= "2026-07-20") & (july.campaign == "Spring")].spend.sum()
        assert t.loc["Spring", "spend"] == pytest.approx(spent)
        assert t.loc["Spring", "pace"] == pytest.approx(spent / (spring_budget * 20 / 31))
        assert list(p.table["campaign"]) == ["Brand", "Spring"]


def test_pacing_across_months_prorates_each_month():
    days = pd.date_range("2026-06-01", "2026-07-31", freq="D")
    df = pd.DataFrame({"date": days, "spend": 10.0, "budget": np.where(days.month == 6, 300.0, 620.0)})
    p = pacing(df, date="date", spend="spend", budget="budget", start="2026-06-16", end="2026-07-15",
               as_of="2026-07-05")
    r = p.table.iloc[0]
    assert r["budget"] == pytest.approx(300 * 15 / 30 + 620 * 15 / 31)  # 150 + 300
    assert r["expected_spend"] == pytest.approx(300 * 15 / 30 + 620 * 5 / 31)  # 150 + 100
    assert r["spend"] == pytest.approx(20 * 10.0)
    assert r["elapsed_share"] == pytest.approx(20 / 30)


def test_pacing_refuses_a_budget_that_changes_within_a_month():
    df = campaign_table(40)
    with pytest.raises(DataError, match="changes within a month"):
        pacing(df, date="date", spend="spend", budget="budget", by="campaign")  # lines are campaign + channel
    with pytest.raises(DataError, match="positive number"):
        pacing(df, date="date", spend="spend", budget=0)
    with pytest.raises(DataError, match="outside the flight"):
        pacing(df, date="date", spend="spend", budget=10.0, start="2026-06-01", end="2026-06-30", as_of="2026-07-02")


# ------------------------------------------------------------------------------------------ anomalies
def _hand_scores(series: pd.Series, window: int) -> pd.DataFrame:
    """Median and normal-scaled MAD of the previous `window` days, with pandas' time-based rolling window
    and scipy's median_abs_deviation (independent of core.campaigns.anomalies)."""
    med = series.rolling(f"{window}D", closed="left").median()
    mad = series.rolling(f"{window}D", closed="left").apply(
        lambda v: stats.median_abs_deviation(v, scale="normal"), raw=True)
    count = series.rolling(f"{window}D", closed="left").count()
    return pd.DataFrame({"median": med, "scale": mad, "history": count})


def test_anomalies_match_a_hand_rolling_median_and_mad():
    rng = np.random.default_rng(7)
    days = pd.date_range("2026-09-01", periods=70, freq="D")
    spend = pd.Series(rng.normal(2000, 100, len(days)).round(2), index=days)
    spend.iloc[40] = 4210.0  # planted spike
    spend.iloc[20] = 9000.0  # an earlier outlier that must not hide the later one (robust)
    df = pd.DataFrame({"date": days, "spend": spend.to_numpy()}).drop(index=[30, 31])  # two days without rows
    series = df.set_index("date")["spend"]
    hand = _hand_scores(series, 28)
    res = anomalies(df, date="date", spend="spend", metrics=["spend"])
    got = res.scores.set_index("day")
    both = hand.loc[got.index]
    assert np.allclose(got["median"], both["median"])
    assert np.allclose(got["scale"], both["scale"], rtol=1e-4)  # 1.4826 vs scipy's exact 1/Phi^-1(3/4)
    assert (got["history"] == both["history"]).all() and got["history"].min() >= 14
    dev = (series.loc[got.index] - both["median"]) / both["scale"]
    assert np.allclose(got["deviation"], dev, rtol=1e-4)
    spike = res.flags[res.flags["day"] == days[40]].iloc[0]
    m = hand.loc[days[40], "median"]
    expected = (4210.0 - m) / (1.4826 * stats.median_abs_deviation(series[days[40] - pd.Timedelta(days=28):
                                                                          days[40] - pd.Timedelta(days=1)]))
    assert spike["deviation"] == pytest.approx(expected)
    assert spike["explanation"] == (f"Spend on 2026-10-11 was 4,210, {expected:.1f} robust deviations above the "
                                    f"previous 28 days' median of {m:,.0f}")
    assert set(res.flags["day"]) == {days[20], days[40]}  # nothing else in plain noise at 3.5
    assert "3.5 robust deviations" in res.rule()


def test_anomalies_per_group_and_rates(ws):
    df = campaign_table(60)
    hit = df.index[(df.date == "2026-07-20") & (df.channel == "social")][0]
    df.loc[hit, "clicks"] = df.loc[hit, "impressions"] // 2  # CTR of 50% on one day
    ws.save_frame(df, "c")
    res = anomalies(ws.table("c"), by="channel", metrics=["ctr"], **ALL)
    flagged = res.flags[(res.flags["channel"] == "social") & (res.flags["day"] == pd.Timestamp("2026-07-20"))]
    assert len(flagged) == 1
    line = flagged.iloc[0]["explanation"]
    assert line.startswith("social: CTR on 2026-07-20 was 50.0%") and "above the previous 28 days' median of 2." in line
    assert set(res.scores["channel"]) == {"search", "social", "video"}


def test_constant_history_uses_the_mean_deviation_or_flags_nothing():
    days = pd.date_range("2026-01-01", periods=40)
    flat = pd.DataFrame({"period": days, "spend": 100.0})
    flat.loc[39, "spend"] = 500.0
    assert flag_daily(flat, ["spend"]).flags.empty  # a constant history: no deviation is defined
    mostly = flat.copy()
    mostly.loc[[5, 15], "spend"] = [110.0, 90.0]  # day 39 looks back at days 11-38: MAD 0, mean abs. dev. 10/28
    s = robust_scores(mostly["spend"], mostly["period"])
    assert s["scale"].iloc[39] == pytest.approx(1.2533 * 10 / 28)
    # day 15 (90 against fourteen 100s and one 110) stands out too; newest first
    assert flag_daily(mostly, ["spend"]).flags["day"].tolist() == [days[39], days[15]]


# ------------------------------------------------------------------------------------------ incremental
def test_incremental_return_by_hand_and_against_welch():
    rng = np.random.default_rng(11)
    n_c, n_t = 4000, 6000
    test = pd.DataFrame({"variant": ["control"] * n_c + ["ads"] * n_t,
                         "revenue": np.r_[rng.gamma(2, 10, n_c), rng.gamma(2, 11, n_t)]})
    res = analyze(test, "variant", "revenue")
    inc = incremental_return(res, 15_000.0)
    t_mean = test.loc[test.variant == "ads", "revenue"].mean()
    c_mean = test.loc[test.variant == "control", "revenue"].mean()
    assert inc.treated_users == n_t and inc.control == "control" and inc.variant == "ads"
    assert inc.incremental_revenue == pytest.approx((t_mean - c_mean) * n_t)
    assert inc.iroas == pytest.approx((t_mean - c_mean) * n_t / 15_000.0)
    welch = stats.ttest_ind(test.loc[test.variant == "ads", "revenue"], test.loc[test.variant == "control", "revenue"],
                            equal_var=False).confidence_interval(0.95)
    assert inc.lift_low == pytest.approx(welch.low, rel=1e-6) and inc.lift_high == pytest.approx(welch.high, rel=1e-6)
    assert inc.incremental_low == pytest.approx(welch.low * n_t, rel=1e-6)
    assert inc.iroas_high == pytest.approx(welch.high * n_t / 15_000.0, rel=1e-6)
    assert inc.confidence == pytest.approx(0.95)
    assert "iROAS of" in inc.summary and "6,000 treated users" in inc.summary
    scaled = incremental_return(res, 15_000.0, treated_users=60_000)  # the test was a 10% sample
    assert scaled.incremental_revenue == pytest.approx(10 * inc.incremental_revenue)


def test_incremental_return_bad_input():
    test = pd.DataFrame({"variant": ["A"] * 50 + ["B"] * 50, "revenue": np.arange(100.0),
                         "converted": [0, 1] * 50})
    res = analyze(test, "variant", ["converted", "revenue"])
    assert incremental_return(res, 10.0).metric == "revenue"  # the money-like metric by default
    with pytest.raises(DataError, match="above zero"):
        incremental_return(res, 0)
    with pytest.raises(DataError, match="no metric 'orders'"):
        incremental_return(res, 10.0, metric="orders")
    with pytest.raises(DataError, match="not a treated variant"):
        incremental_return(res, 10.0, variant="A")


# ------------------------------------------------------------------------------------------ charts
def test_charts_have_labelled_axes():
    df = campaign_table(60)
    daily = kpis(df, by="channel", freq="W", **ALL)
    fig = charts.trend_figure(daily, "ctr", group=["channel"], freq="W")
    assert "CTR" in fig.layout.yaxis.title.text and "%" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis.title.text and len(fig.data) == 3 and fig.layout.yaxis.tickformat == ".1%"
    totals = kpis(df, by="channel", freq="total", **ALL)
    bar = charts.breakdown_figure(totals, "roas", ["channel"])
    assert "ROAS" in bar.layout.xaxis.title.text
    p = pacing(df, date="date", spend="spend", budget="budget", by="channel", budget_by=["campaign", "channel"])
    assert "expected spend" in charts.pacing_figure(p).layout.xaxis.title.text
    an = anomalies(df, by="channel", metrics=["spend"], **ALL)
    assert charts.anomaly_figure(an, "spend", ["search"]).layout.yaxis.title.text == "spend (currency)"
    for f in (fig, bar):
        assert f.layout.paper_bgcolor is None and f.layout.plot_bgcolor is None  # follows light and dark themes


def test_text_dates_in_the_database_read_as_days(ws):
    df = two_days().assign(date=["2026-11-02", "2026-11-03"])
    ws.save_frame(df, "text_dates", source="python")
    t = ws.table("text_dates")
    if not t.schema()["date"].is_string():
        pytest.skip("the workspace stored the text dates as dates")
    out = kpis(t, freq="W", **ALL)
    assert out["period"].tolist() == [pd.Timestamp("2026-11-02")] and out["rows"].tolist() == [2]
    cmp = compare_periods(t, start="2026-11-03", end="2026-11-03", **ALL)
    assert cmp.card("spend").value == 200.0 and cmp.card("spend").previous == 5.0
