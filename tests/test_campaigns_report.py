"""The marketing-mix model's HTML report and tables for people (core.campaigns.report) and its
figures (core.campaigns.mmm_charts): every channel in it, valid HTML, plotly.js once, a size bound,
numbers against the result they come from, the fit's judgement at its thresholds."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from core.campaigns import mmm_charts
from core.campaigns.mmm import FitQuality, MMMResult, Settings, fit_mmm
from core.campaigns.mmm_planted import planted_weekly
from core.campaigns.report import change_line, fit_judgement, mmm_report, plan_table, roas_table

CHANNELS = ["search", "social", "tv", "display"]
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


@pytest.fixture(scope="module")
def fitted() -> tuple[MMMResult, pd.DataFrame]:
    planted = planted_weekly(80, len(CHANNELS), seed=3)
    result = fit_mmm(planted.data, date="date", target="revenue", channels=CHANNELS,
                     settings=Settings(n_boot=12, maxiter=12, popsize=6))
    return result, planted.data


class _Checker(HTMLParser):
    """Every element closed in order (void elements aside); collects the text outside scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if not self.stack or self.stack[-1] not in ("script", "style"):
            self.text.append(data)


def test_report_has_every_channel_valid_html_plotly_once_and_a_size_bound(fitted):
    from plotly.offline import get_plotlyjs
    result, _ = fitted
    plan = result.optimize_budget()
    text = mmm_report(result, plan, title="Marketing-mix model: <planted>", source="table planted",
                      notes=["The week of 2022-01-03 has only 3 days of data and was left out."])
    assert isinstance(text, str)
    assert len(text.encode("utf-8")) < 2_500_000  # plotly.js compressed once (~1.5 MB) plus 5 charts
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert text.startswith("<!doctype html>") and not checker.errors and checker.stack == []
    assert checker.tags.count("html") == checker.tags.count("body") == 1
    words = " ".join(checker.text)
    assert "Marketing-mix model: <planted>" in words and "<planted>" not in text  # escaped
    for ch in CHANNELS:
        assert words.count(ch) >= 3, ch  # summary or tables: return, plan, parameters
    assert result.summary(plan) in words
    assert fit_judgement(result)[1] in words and "left out" in words
    packed = re.findall(r"<script type='application/gzip' id='mw-plotlyjs'>([^<]+)</script>", text)
    assert len(packed) == 1 and gzip.decompress(base64.b64decode(packed[0])).decode("utf-8") == get_plotlyjs()
    assert "cdn.plot.ly" not in text and "<script src" not in text
    specs = re.findall(r"<script type='application/json' id='mw-chart-(\d)-spec'>(.+?)</script>", text, re.S)
    assert [int(i) for i, _ in specs] == [0, 1, 2, 3, 4] and text.count("class='mw-chart'") == 5
    for _, spec in specs:
        layout = json.loads(spec)["layout"]
        assert layout["xaxis"]["automargin"] and layout["yaxis"]["automargin"] and layout["title"]["text"]


def test_roas_table_matches_the_result_and_hand_sums(fitted):
    result, data = fitted
    shown = roas_table(result)
    assert list(shown["channel"]) == list(result.roas.sort_values("roas", ascending=False)["channel"])
    contributions = result.contributions
    for _, row in shown.iterrows():
        ch = row["channel"]
        spend = data[ch].sum()
        assert row["spend (whole period)"] == f"{spend:,.2f}"
        roas = contributions[ch].sum() / spend  # contribution over the period / spend, by hand
        r = result.roas.set_index("channel").loc[ch]
        assert roas == pytest.approx(r["roas"], rel=1e-9)
        assert row["return (revenue per 1 spent)"] == f"{roas:.{max(0, 2 - int(np.floor(np.log10(roas))))}f}"
        assert row["95% interval"].count(" to ") == 1
    assert sum(float(v.rstrip("%")) for v in shown["share of spend"]) == pytest.approx(100, abs=0.3)


def test_plan_table_and_change_line(fitted):
    result, _ = fitted
    plan = result.optimize_budget(bounds=(0.7, 1.3))
    shown = plan_table(result, plan)
    assert list(shown["channel"]) == CHANNELS
    assert list(shown["spend per week today"]) == [f"{v:,.2f}" for v in result.current_spend]
    assert "low" not in shown and list(plan["low"]) == pytest.approx(list(0.7 * result.current_spend))
    assert list(shown["recommended per week"]) == [f"{v:,.2f}" for v in plan["recommended_spend"]]
    assert all(v.endswith("%") for v in shown["change"])
    change = result.expected_change(plan)
    line = change_line(result, change)
    assert line.startswith("Expected change: ") and " revenue per week " in line and "interval" in line
    assert f"{abs(change.change):,.0f}" in line


def test_fit_judgement_thresholds(fitted):
    result, _ = fitted

    def judged(r2: float, mape: float, holdout: float) -> tuple[str, str]:
        fit = FitQuality(r2=r2, nrmse=0.05, mape=mape, holdout_mape=holdout, holdout_periods=8)
        return fit_judgement(dataclasses.replace(result, fit=fit))

    assert judged(0.9, 0.04, 0.06)[0] == "good" and "within 6.0%" in judged(0.9, 0.04, 0.06)[1]
    assert judged(0.9, 0.04, 0.15)[0] == "fair" and "may follow noise" in judged(0.9, 0.04, 0.15)[1]
    assert judged(0.6, 0.08, 0.09)[0] == "fair"  # a low R² is not good even with a small error
    assert judged(0.9, 0.05, 0.35)[0] == "weak" and "last 8 weeks" in judged(0.9, 0.05, 0.35)[1]
    assert judged(0.9, 0.05, float("nan"))[0] == "weak"


def test_figures_label_axes_and_draw_the_numbers(fitted):
    result, _ = fitted
    fit = mmm_charts.fit_figure(result)
    assert fit.layout.yaxis.title.text == "revenue per week" and "week" in fit.layout.xaxis.title.text
    assert list(fit.data[0].y) == list(result.fitted["actual"])
    assert len(fit.layout.shapes) == 1  # the held-out weeks shaded
    held = result.fitted[result.fitted["holdout"]]
    assert list(fit.data[2].y) == list(held["check_fitted"])
    contrib = mmm_charts.contributions_figure(result)
    assert [t.name for t in contrib.data][1:] == CHANNELS and all(t.stackgroup == "one" for t in contrib.data)
    roas = mmm_charts.roas_figure(result)
    order = result.roas.sort_values("roas", ascending=False)
    assert list(roas.data[0].x) == list(order["channel"])
    np.testing.assert_allclose(roas.data[0].y, order["roas"])
    np.testing.assert_allclose(np.asarray(roas.data[0].y) + np.asarray(roas.data[0].error_y.array), order["roas_high"])
    assert roas.layout.yaxis.title.text == "revenue per 1 spent"
    plan = result.optimize_budget()
    curves = mmm_charts.curves_figure(result, plan=plan)
    assert curves.layout.xaxis.title.text == "spend per week" and curves.layout.yaxis.title.text == "revenue per week"
    now = [t for t in curves.data if t.name == "today's spend"]
    np.testing.assert_allclose([t.x[0] for t in now], result.current_spend.to_numpy())
    alloc = mmm_charts.allocation_figure(result, plan)
    np.testing.assert_allclose(alloc.data[1].y, plan["recommended_spend"])
    for fig in (fit, contrib, roas, curves, alloc):  # the app's theme, light or dark, is not overridden
        assert fig.layout.paper_bgcolor is None and fig.layout.plot_bgcolor is None and fig.layout.font.color is None


def test_conversions_read_per_thousand_spent(fitted):
    result, _ = fitted
    conv = dataclasses.replace(result, kind="conversions", target="conversions")
    shown = roas_table(conv)
    assert "return (conversions per 1,000 spent)" in shown.columns
    top = conv.roas.sort_values("roas", ascending=False).iloc[0]
    assert float(shown.iloc[0]["return (conversions per 1,000 spent)"].replace(",", "")) == \
        pytest.approx(top["roas"] * 1000, rel=0.01)
    assert mmm_charts.roas_figure(conv).layout.yaxis.title.text == "conversions per 1,000 spent"


def test_fit_numbers_in_the_report_match_sklearn(fitted):
    from sklearn.metrics import mean_absolute_percentage_error, r2_score
    result, _ = fitted
    f = result.fitted
    train, held = f[~f["holdout"]], f[f["holdout"]]
    r2 = r2_score(train["actual"], train["check_fitted"])
    mape = mean_absolute_percentage_error(train["actual"], train["check_fitted"])
    holdout = mean_absolute_percentage_error(held["actual"], held["check_fitted"])
    nrmse = np.sqrt(np.mean((train["actual"] - train["check_fitted"]) ** 2)) / np.ptp(train["actual"])
    text = mmm_report(result)
    assert (f"R² {r2:.3f}, NRMSE {nrmse * 100:.1f}%, MAPE {mape * 100:.1f}% on the fitted weeks; hold-out MAPE "
            f"{holdout * 100:.1f}% on the last {len(held)} weeks") in text
    # the contributions stack up to the fitted target (the chart's areas sum to the fitted line)
    stacked = result.contributions[[*CHANNELS, "baseline"]].sum(axis=1)
    np.testing.assert_allclose(stacked, f["fitted"], rtol=1e-9)
