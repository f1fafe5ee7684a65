"""Experiments, issue 10: one row per user (check and cleaning), a Bayesian view that agrees with the
test, the note on relative intervals, and the HTML report (size, plotly.js once, readable layout)."""

from __future__ import annotations

import base64
import gzip
import re


import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from core.errors import DataError
from core.experiments import AssignmentCheck, analyze, analyze_summary, check_assignment, dedupe_users
from core.experiments.stats import Arm, beta_decision, compare


# ----------------------------------------------------------------- one row per user
def ab_data_like() -> pd.DataFrame:
    """Udacity ab_data's shape (user_id, timestamp, group, landing_page, converted) with known problems:
    1,000 users; 30 get a second row in the other arm (10 of those earlier than their first row), 20 a
    second row in the same arm, 5 two extra rows (same arm, then the other arm).
    rows 1,060; users 1,000; rows beyond a user's first 60; users in both arms 35."""
    n = 1000
    group = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    base = pd.DataFrame({"user_id": np.arange(n), "timestamp": pd.Timestamp("2017-01-02") + pd.to_timedelta(np.arange(n), "min"),
                         "group": group, "landing_page": np.where(group == "control", "old_page", "new_page"),
                         "converted": (np.arange(n) % 7 == 0).astype(int)})
    other = {"control": "treatment", "treatment": "control"}
    extra = []
    for u in range(30):
        extra.append((u, base.timestamp[u] + pd.Timedelta(-1 if u < 10 else 1, "D"), other[base.group[u]]))
    for u in range(100, 120):
        extra.append((u, base.timestamp[u] + pd.Timedelta(1, "D"), base.group[u]))
    for u in range(200, 205):
        extra.append((u, base.timestamp[u] + pd.Timedelta(1, "D"), base.group[u]))
        extra.append((u, base.timestamp[u] + pd.Timedelta(2, "D"), other[base.group[u]]))
    ex = pd.DataFrame(extra, columns=["user_id", "timestamp", "group"])
    ex["landing_page"] = np.where(ex.group == "control", "old_page", "new_page")
    ex["converted"] = 1
    return pd.concat([base, ex], ignore_index=True)


def test_check_assignment_counts_exactly(ws):
    df = ab_data_like()
    expected = AssignmentCheck(rows=1060, users=1000, duplicate_rows=60, multi_variant_users=35, missing_user_rows=0)
    assert check_assignment(df, "group", "user_id") == expected
    ws.save_frame(df, "ab_data")
    assert check_assignment(ws.table("ab_data"), "group", "user_id") == expected  # the same in the workspace
    # independent count with pandas
    assert df.duplicated("user_id").sum() == 60 and (df.groupby("user_id")["group"].nunique() > 1).sum() == 35
    clean = df.drop_duplicates("user_id")
    ok = check_assignment(clean, "group", "user_id")
    assert ok.ok and "One row per user" in ok.message()
    bad = check_assignment(df, "group", "user_id")
    assert not bad.ok and "60 of 1,060 rows" in bad.message() and "35 of 1,000 users" in bad.message()
    holes = df.astype({"user_id": "float"}).assign(user_id=lambda d: d.user_id.where(d.index % 100 != 5))
    assert check_assignment(holes, "group", "user_id").missing_user_rows == (df.index % 100 == 5).sum()
    with pytest.raises(DataError, match="different columns"):
        check_assignment(df, "group", "group")


def test_dedupe_first_and_drop_multi_against_pandas(ws):
    df = ab_data_like()
    ws.save_frame(df, "ab_data")
    by_rows = df.drop_duplicates("user_id", keep="first")
    by_time = df.sort_values(["timestamp"], kind="stable").drop_duplicates("user_id", keep="first")
    multi = df.groupby("user_id")["group"].transform("nunique") > 1
    single = df[~multi]
    for data in (df, ws.table("ab_data")):
        out, cleaning = dedupe_users(data, "group", "user_id", "first")
        out = out if isinstance(out, pd.DataFrame) else out.execute()
        assert (cleaning.rows_removed, cleaning.users_removed, cleaning.order) == (60, 0, "row order")
        got = out.set_index("user_id")["group"].sort_index()
        assert got.equals(by_rows.set_index("user_id")["group"].sort_index())
        out, cleaning = dedupe_users(data, "group", "user_id", "first", time="timestamp")
        out = out if isinstance(out, pd.DataFrame) else out.execute()
        assert cleaning.order == "earliest timestamp"
        got = out.set_index("user_id")["group"].sort_index()
        assert got.equals(by_time.set_index("user_id")["group"].sort_index())
        assert (got != by_rows.set_index("user_id")["group"].sort_index()).sum() == 10  # the 10 earlier rows
        out, cleaning = dedupe_users(data, "group", "user_id", "drop_multi")
        out = out if isinstance(out, pd.DataFrame) else out.execute()
        assert (cleaning.rows_removed, cleaning.users_removed) == (75, 35)
        assert sorted(out["user_id"]) == sorted(single["user_id"])
    t = ws.table("ab_data")
    with pytest.raises(DataError, match="no fixed row order"):
        dedupe_users(t.filter(t.converted == 1), "group", "user_id", "first")
    with pytest.raises(DataError, match="'first'"):
        dedupe_users(df, "group", "user_id", "last")  # type: ignore[arg-type]


def test_analyze_with_user_and_dedupe(ws):
    df = ab_data_like()
    plain = analyze(df, "group", "converted", user="user_id")
    assert plain.assignment is not None and plain.assignment.duplicate_rows == 60
    assert any("Not one row per user_id" in w for w in plain.warnings)
    first = analyze(df, "group", "converted", user="user_id", dedupe="first", time="timestamp")
    ref = analyze(df.sort_values("timestamp", kind="stable").drop_duplicates("user_id"), "group", "converted")
    pd.testing.assert_frame_equal(first.table, ref.table)
    assert int(first.counts.sum()) == 1000 and first.cleaning is not None and first.cleaning.rows_removed == 60
    assert "first exposure" in first.summary_text and "60 rows and 0 users removed" in first.summary_text
    ws.save_frame(df, "ab_data")
    dropped = analyze(ws.table("ab_data"), "group", "converted", user="user_id", dedupe="drop_multi")
    single = df[df.groupby("user_id")["group"].transform("nunique") == 1]
    pd.testing.assert_frame_equal(dropped.table, analyze(single, "group", "converted").table)
    assert dropped.cleaning.users_removed == 35
    with pytest.raises(DataError, match="user id column"):
        analyze(df, "group", "converted", dedupe="first")


# ----------------------------------------------------------------- Bayesian view agrees with the test
def miller_exact(a_t: int, b_t: int, a_c: int, b_c: int) -> float:
    """P(T > C) for T ~ Beta(a_t, b_t), C ~ Beta(a_c, b_c), Evan Miller's closed form (integer a_t)."""
    i = np.arange(a_t)
    terms = special.betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - special.betaln(1 + i, b_t) - special.betaln(a_c, b_c)
    return float(np.exp(terms).sum())


@pytest.mark.parametrize("conv_t, n_t, conv_c, n_c", [
    (51, 100, 49, 100),  # statistics.md reference 5
    (285, 10970, 5, 463),  # the marketing_AB slice of issue 10 (psa = control)
    (14423, 564577, 420, 23524),  # all of marketing_AB
    (3, 40, 0, 35),  # a control without conversions
    (180, 2000, 200, 2000),  # a variant that is worse
])
def test_beta_posterior_against_monte_carlo_and_closed_form(conv_t, n_t, conv_c, n_c):
    d = beta_decision(conv_t, n_t, conv_c, n_c)
    a_t, b_t, a_c, b_c = conv_t + 1, n_t - conv_t + 1, conv_c + 1, n_c - conv_c + 1
    assert d.chance_to_beat == pytest.approx(miller_exact(a_t, b_t, a_c, b_c), abs=1e-5)
    rng = np.random.default_rng(42)
    t = stats.beta.rvs(a_t, b_t, size=2_000_000, random_state=rng)
    c = stats.beta.rvs(a_c, b_c, size=2_000_000, random_state=rng)
    assert d.chance_to_beat == pytest.approx((t > c).mean(), abs=1e-3)
    loss = np.maximum(0, 1 - t / c).mean()
    assert d.expected_loss == pytest.approx(loss, rel=0.02, abs=1e-6)
    lo, hi = np.quantile(t / c - 1, [0.025, 0.975])
    assert d.credible[0] == pytest.approx(lo, rel=0.01, abs=2e-3)
    assert d.credible[1] == pytest.approx(hi, rel=0.01, abs=2e-3)


def test_chance_to_beat_agrees_with_the_test_on_marketing_ab():
    # issue 10: "significant, p = 0.003", +0.53 to +2.50 points, but chance to beat control 90.4%
    summary = pd.DataFrame({"variant": ["ad", "psa"], "n": [10970, 463], "conversions": [285, 5]})
    before = analyze_summary(summary, control="psa", bayes="gaussian_relative").table.iloc[0]
    assert before["chance_to_beat"] == pytest.approx(0.904, abs=1e-3)  # what the page showed
    row = analyze_summary(summary, control="psa").table.iloc[0]
    assert row["significant"] and row["p_value"] == pytest.approx(0.0027, abs=1e-4)
    assert (row["abs_ci_low"], row["abs_ci_high"]) == (pytest.approx(0.00529, abs=1e-5), pytest.approx(0.02508, abs=1e-5))
    assert row["rel_ci_low"] < 0 < row["rel_ci_high"]  # the delta-method interval stays as it is
    assert row["chance_to_beat"] == pytest.approx(0.98017, abs=1e-4) and row["chance_to_beat"] > 0.97
    assert row["rel_credible_low"] > 0  # the credible interval of the Beta posterior agrees too
    full = analyze_summary(pd.DataFrame({"variant": ["ad", "psa"], "n": [564577, 23524], "conversions": [14423, 420]}))
    assert full.control == "psa" or full.control == "ad"  # the guess is core/columns' business; read both ways
    for control, direction in (("psa", 1), ("ad", -1)):
        r = analyze_summary(pd.DataFrame({"variant": ["ad", "psa"], "n": [564577, 23524], "conversions": [14423, 420]}),
                            control=control).table.iloc[0]
        assert r["p_value"] < 1e-10
        assert r["chance_to_beat"] > 1 - 1e-9 if direction > 0 else r["chance_to_beat"] < 1e-9


def test_direction_and_strength_agree_on_many_random_tests():
    rng = np.random.default_rng(3)
    for _ in range(40):
        n_t, n_c = rng.integers(200, 20000, 2)
        p = rng.uniform(0.02, 0.3)
        conv_t, conv_c = rng.binomial(n_t, p * rng.uniform(0.8, 1.25)), rng.binomial(n_c, p)
        c = compare(Arm(n_t, conv_t, conv_t, True), Arm(n_c, conv_c, conv_c, True))
        one_sided = c.p_value / 2
        worse = c.chance_to_beat if c.abs_lift < 0 else 1 - c.chance_to_beat
        assert (c.chance_to_beat > 0.5) == (c.abs_lift > 0)
        assert worse == pytest.approx(one_sided, abs=0.02 + 0.3 * one_sided)  # same strength, not just direction


def test_means_use_the_gaussian_on_the_difference():
    rng = np.random.default_rng(5)
    y_c, y_t = rng.gamma(2, 10, 4000), rng.gamma(2, 10.4, 4000)
    df = pd.DataFrame({"variant": ["control"] * 4000 + ["B"] * 4000, "revenue": np.concatenate([y_c, y_t])})
    row = analyze(df, "variant", "revenue").table.iloc[0]
    welch = stats.ttest_ind(y_t, y_c, equal_var=False, alternative="greater")  # one-sided: B better
    assert row["chance_to_beat"] == pytest.approx(1 - welch.pvalue, abs=2e-4)
    se = np.sqrt(y_t.var(ddof=1) / 4000 + y_c.var(ddof=1) / 4000)
    d = y_t.mean() - y_c.mean()
    assert row["chance_to_beat"] == pytest.approx(stats.norm.cdf(d / se), rel=1e-9)
    z = d / se
    assert row["expected_loss"] == pytest.approx((se * stats.norm.pdf(z) - d * stats.norm.cdf(-z)) / y_c.mean(), rel=1e-9)


def test_summary_explains_a_relative_interval_that_includes_zero():
    r = analyze_summary(pd.DataFrame({"variant": ["ad", "psa"], "n": [10970, 463], "conversions": [285, 5]}),
                        control="psa", metric="converted")
    text = r.summary_text
    assert "includes 0 although the test is significant" in text
    assert "only 5 conversions" in text and "Read the absolute difference instead: +1.52 pts" in text
    assert "+0.53 pts to +2.51 pts" in text


# ----------------------------------------------------------------- tables for people and the HTML report
def _read_out() -> tuple:
    from core.experiments import timeline
    from core.experiments import charts
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"variant": rng.choice(["control", "variant_b", "variant_c"], n),
                       "converted": rng.binomial(1, 0.1, n), "revenue": rng.gamma(2, 10, n),
                       "day": pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 14, n), "D")})
    res = analyze(df, "variant", ["converted", "revenue"])
    figures = [charts.forest_figure(res.table, res.alpha),
               *charts.timeline_figures(timeline(df, "variant", "converted", "day"), "converted", res.control)]
    return res, figures


def test_results_for_people_labels_order_and_no_cut_strings():
    from core.experiments.charts import results_for_people
    res, _ = _read_out()
    table = res.table.copy()
    table.loc[0, "expected_loss"] = 0.0000000000006
    table.loc[0, "p_value"] = 0.0000000000006
    shown = results_for_people(table, "holm")
    cols = list(shown.columns)
    assert cols[:6] == ["metric", "variant", "lift", "difference", "p-value", "adjusted p (holm)"]
    assert not any("_" in c for c in cols)  # no abs_ci_low next to "lift CI low"
    assert shown.loc[0, "p-value"] == "< 0.001" and shown.loc[0, "expected loss (share of control)"] == "0.0%"
    assert not shown.astype(str).apply(lambda c: c.str.contains("0000000")).any().any()
    binary = shown[shown["metric"] == "converted"].iloc[0]
    assert binary["difference"].endswith(" pts") and binary["variant value"].endswith("%")
    assert " to " in binary["lift 95% interval"] and binary["chance to beat control"].endswith("%")
    # the raw table (downloads) is unchanged
    assert table.loc[0, "expected_loss"] == 0.0000000000006


def test_html_report_embeds_plotlyjs_once_compressed_and_fits_the_page():
    from plotly.offline import get_plotlyjs
    from core.experiments import charts
    res, figures = _read_out()
    report = charts.html_report("Experiment read-out", res.summary_text, res.table, figures, ["Control: control."],
                                correction="holm")
    text = report.decode("utf-8")
    assert len(report) < 2_500_000  # was 4.85 MB with plotly.js inlined as text
    packed = re.findall(r"<script type='application/gzip' id='mw-plotlyjs'>([^<]+)</script>", text)
    assert len(packed) == 1 and gzip.decompress(base64.b64decode(packed[0])).decode("utf-8") == get_plotlyjs()
    assert "cdn.plot.ly" not in text and "<script src" not in text and "plotly.js v" not in text
    assert text.count("class='mw-chart'") == len(figures) == 3
    specs = re.findall(r"<script type='application/json' id='mw-chart-\d-spec'>(.+?)</script>", text, re.S)
    assert len(specs) == 3
    import json
    for spec in specs:
        layout = json.loads(spec)["layout"]
        assert layout["yaxis"]["automargin"] and layout["xaxis"]["automargin"]
    assert "max-width:100%" in text and "overflow-wrap:break-word" in text and "class='table-wrap'" in text
    assert "adjusted p (holm)" in text and "abs_ci_low" not in text


# ----------------------------------------------------------------- planned split as people type it
@pytest.mark.parametrize("text, expected", [
    ("96/4", [96, 4]), ("96:4", [96, 4]), ("96, 4", [96, 4]), ("96% 4%", [96, 4]), ("", [1, 1]),
    ("psa=4, ad=96", [96, 4]), ("0.96/0.04", [0.96, 0.04]), ("1/3", [1, 3]),
])
def test_parse_split(text, expected):
    from core.experiments.assignment import parse_split
    assert parse_split(text, ["ad", "psa"]) == pytest.approx(expected)


@pytest.mark.parametrize("text, match", [
    ("96/4/1", "3 share"), ("ninety/ten", "not a number"), ("ad=96", "psa too"), ("x=1, ad=2", "not a variant"),
    ("0/0", "not all zero"), ("-1/2", "not a number|zero or positive"),
])
def test_parse_split_errors(text, match):
    from core.experiments.assignment import parse_split
    with pytest.raises(DataError, match=match):
        parse_split(text, ["ad", "psa"])


def test_planned_split_feeds_the_srm_check():
    from core.experiments.assignment import parse_split, split_text
    counts = pd.DataFrame({"variant": ["ad", "psa"], "n": [564577, 23524], "conversions": [14423, 420]})
    assert analyze_summary(counts).srm_p_value < 1e-100  # against 50/50
    w = parse_split("96/4", ["ad", "psa"])
    r = analyze_summary(counts, weights=dict(zip(["ad", "psa"], w)))
    expected = stats.chisquare([564577, 23524], np.array([0.96, 0.04]) * (564577 + 23524)).pvalue
    assert r.srm_p_value == pytest.approx(expected, rel=1e-9)
    assert split_text(r.expected_weights) == "96/4"  # the page says which split it checked against
    assert split_text([96, 4]) == "96/4" and split_text([1, 1, 1]) == "33.3/33.3/33.3"


def test_beta_posterior_on_a_huge_test_is_fast_and_agrees():
    import time
    start = time.perf_counter()
    d = beta_decision(1_001_000, 10_000_000, 1_000_000, 10_000_000)
    assert time.perf_counter() - start < 1.0
    c = compare(Arm(1e7, 1_001_000, 1_001_000, True), Arm(1e7, 1_000_000, 1_000_000, True))
    assert d.chance_to_beat == pytest.approx(1 - c.p_value / 2, abs=2e-3)


def test_analyze_passes_the_bayes_setting_through():
    df = ab_data_like().drop_duplicates("user_id")
    auto = analyze(df, "group", "converted").table.iloc[0]
    gbstats = analyze(df, "group", "converted", bayes="gaussian_relative").table.iloc[0]
    counts = df.groupby("group")["converted"].agg(["sum", "size"])
    d = beta_decision(counts.loc["treatment", "sum"], counts.loc["treatment", "size"],
                      counts.loc["control", "sum"], counts.loc["control", "size"])
    assert auto["chance_to_beat"] == pytest.approx(d.chance_to_beat, abs=1e-9)
    assert gbstats["chance_to_beat"] == pytest.approx(stats.norm.cdf(gbstats["rel_lift"] / (
        (gbstats["rel_ci_high"] - gbstats["rel_ci_low"]) / 2 / stats.t.ppf(0.975, 1e9))), abs=1e-3)
    assert auto["chance_to_beat"] != gbstats["chance_to_beat"]


def test_breakdown_and_timeline_tables_for_people():
    from core.experiments import breakdown, timeline
    from core.experiments.charts import breakdown_for_people, timeline_for_people
    df = ab_data_like().drop_duplicates("user_id")
    df["device"] = np.where(df.user_id % 3 == 0, "mobile", "desktop")
    bd = breakdown(df, "group", "converted", "device")
    assert len(bd) == 2
    bd.loc[:, "p_value"] = 0.0000000000006
    shown = breakdown_for_people(bd, "device", binary=True)
    assert list(shown.columns)[:4] == ["device", "variant", "lift", "p-value (unadjusted)"]
    assert set(shown["p-value (unadjusted)"]) == {"< 0.001"}
    assert shown["variant value"].str.endswith("%").all() and not any("_" in c for c in shown.columns)
    tl = timeline(df.assign(day=df.timestamp.dt.floor("h")), "group", "converted", "day")
    shown = timeline_for_people(tl, binary=True)
    assert {"date", "users so far", "lift so far", "p-value"} <= set(shown.columns)
    assert not shown.astype(str).apply(lambda c: c.str.contains("0000000")).any().any()
