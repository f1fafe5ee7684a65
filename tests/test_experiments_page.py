"""Experiments page (AppTest), issue 10: one row per user, planned split, core messages for bad variant
columns, results per table version, tables for people, the marketing_AB read-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from core.data.workspace import Workspace
from tests.test_experiments_checks import ab_data_like

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _page(table: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/experiments.py").run()
    at.selectbox(key="exp-table").select(table).run()
    assert not at.exception, at.exception
    return at


def _results(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "chance to beat control" in getattr(d.value, "columns", []))


def test_repeated_users_are_shown_and_cleaned(app_env):
    Workspace(app_env).save_frame(ab_data_like(), "ab_data")
    at = _page("ab_data")
    assert at.selectbox(key="exp-variant-ab_data").value == "group"
    assert at.selectbox(key="exp-user-ab_data").value == "user_id"  # the id-like column by default
    warning = next(w.value for w in at.warning if "Not one row per user_id" in w.value)
    assert "60 of 1,060 rows" in warning and "35 of 1,000 users" in warning
    radio = at.radio(key="exp-dedupe-ab_data")
    first = next(o for o in radio.options if o.startswith("first exposure"))
    assert "earliest timestamp" in first
    radio.set_value(first).run()
    assert not at.exception and not at.error
    assert any("first exposure (earliest timestamp)" in s.value and "60 rows and 0 users removed" in s.value for s in at.success)
    assert "first exposure" in at.info[0].value  # the summary says what was analysed
    at.radio(key="exp-dedupe-ab_data").set_value("drop users seen in several variants").run()
    assert not at.exception and any("35 users removed" in s.value for s in at.success)


def test_planned_split_next_to_the_variant_picker(app_env):
    rng = np.random.default_rng(0)
    n = 5000
    variant = np.where(rng.uniform(size=n) < 0.96, "ad", "psa")
    Workspace(app_env).save_frame(pd.DataFrame({"test group": variant, "converted": rng.binomial(1, 0.02, n)}), "planned")
    at = _page("planned")
    alarm = next(e.value for e in at.error if "Sample ratio mismatch" in e.value)
    assert "planned split (50/50)" in alarm and "**Planned split**" in alarm and "96/4" in alarm
    split = next(t for t in at.text_input if t.label.startswith("Planned split"))
    assert split.value == "50/50"
    split.set_value("96/4").run()
    assert not at.exception and not [e.value for e in at.error]
    assert "looks healthy against the planned 96/4" in at.success[0].value
    next(t for t in at.text_input if t.label.startswith("Planned split")).set_value("96/4/1").run()
    assert any("3 share(s) for 2 variants" in e.value for e in at.error)


def test_bad_variant_columns_show_the_core_message(app_env):
    rng = np.random.default_rng(1)
    n = 2000
    ws = Workspace(app_env)
    ws.save_frame(pd.DataFrame({"variant": ["B"] * n, "converted": rng.binomial(1, 0.1, n)}), "one_level")
    ws.save_frame(pd.DataFrame({"variant": [f"v{i % 500}" for i in range(n)], "converted": rng.binomial(1, 0.1, n)}),
                  "many_levels")
    at = _page("one_level")
    # the guess (core.columns) picks the column named `variant`, not `converted`, and the core says what is wrong
    assert at.selectbox(key="exp-variant-one_level").value == "variant"
    assert any("'variant' has 1 variant(s); an experiment needs a control" in e.value for e in at.error)
    at.selectbox(key="exp-table").select("many_levels").run()
    assert not at.exception
    assert at.selectbox(key="exp-variant-many_levels").value == "variant"
    assert any("'variant' has 500 different values" in e.value for e in at.error)


def test_a_replaced_table_never_shows_old_results(app_env):
    rng = np.random.default_rng(2)
    n = 4000
    ws = Workspace(app_env)
    arms = rng.choice(["control", "b"], n)
    ws.save_frame(pd.DataFrame({"variant": arms, "converted": rng.binomial(1, np.where(arms == "b", 0.3, 0.1))}), "promo")
    at = _page("promo")
    before = at.info[0].value
    assert "b raised converted" in before
    arms = rng.choice(["control", "b"], n)
    ws.save_frame(pd.DataFrame({"variant": arms, "converted": rng.binomial(1, 0.1, n)}), "promo", mode="replace")
    at.run()
    assert not at.exception
    after = at.info[0].value
    assert after != before and "not significant" in after


def test_results_table_for_people_and_marketing_ab_slice(app_env):
    # the marketing_AB slice behind issue 10: ad 285 of 10,970 converted, psa 5 of 463
    rows = ([("ad", 1)] * 285 + [("ad", 0)] * (10970 - 285) + [("psa", 1)] * 5 + [("psa", 0)] * 458)
    df = pd.DataFrame(rows, columns=["test group", "converted"])
    df.insert(0, "user id", np.arange(len(df)) + 900000)
    Workspace(app_env).save_frame(df, "marketing_ab")
    at = _page("marketing_ab")
    at.selectbox(key="exp-control").select("psa").run()
    assert not at.exception
    shown = _results(at)
    assert list(shown.columns)[:6] == ["metric", "variant", "lift", "difference", "p-value", "adjusted p (holm)"]
    assert not any("_" in c for c in shown.columns)
    row = shown.iloc[0]
    assert row["p-value"] == "0.003" and row["verdict"] == "significant"
    assert row["difference 95% interval"] == "+0.53 pts to +2.51 pts"
    assert row["chance to beat control"] == "98.0%"  # was 90.4% (Gaussian on the relative lift)
    assert row["lift 95% interval"].startswith("-71.4%")
    summary = at.info[0].value
    assert "only 5 conversions" in summary and "Read the absolute difference instead" in summary
    assert any("Read the **difference**" in c.value for c in at.caption)


def _widget_keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("selectbox", "multiselect", "radio", "number_input", "toggle", "select_slider",
                               "text_input") for w in at.get(kind) if w.key}


def test_lazy_tabs_compute_only_the_open_tab_and_keep_the_choices(app_env):
    n = 2000
    rng = np.random.default_rng(3)
    Workspace(app_env).save_frame(pd.DataFrame({
        "user_id": np.arange(n), "variant": rng.choice(["control", "b"], n), "converted": rng.binomial(1, 0.2, n),
        "revenue": rng.gamma(2, 10, n), "device": rng.choice(["mobile", "desktop"], n),
        "exposed_at": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, 14, n), unit="D")}), "promo")
    at = _page("promo")
    keys = _widget_keys(at)
    assert "exp-metrics-promo" in keys and "plan-kind" not in keys  # the Planning tab has not run
    assert not any(k.startswith(("exp-date-", "exp-by-")) for k in keys)
    assert len(at.get("plotly_chart")) == 1  # the forest plot only: no timeline or breakdown computed
    at.multiselect(key="exp-metrics-promo").set_value(["revenue"]).run()
    at.selectbox(key="exp-mtype").select("continuous").run()
    at.select_slider(key="exp-winsor").set_value(0.99).run()
    assert not at.exception and not at.error
    at.session_state["tabs-experiments"] = "Over time"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "exp-metrics-promo" not in _widget_keys(at)  # the Results tab's widgets are not drawn
    assert at.selectbox(key="exp-time-metric-promo").options == ["revenue"]  # its test: the metric picked there
    at.session_state["tabs-experiments"] = "Planning"
    at.run()
    at.number_input(key="plan-daily").set_value(500).run()
    at.session_state["tabs-experiments"] = "Results"
    at.run()
    assert not at.exception and not at.error
    assert at.multiselect(key="exp-metrics-promo").value == ["revenue"]  # as they were before the switches
    assert at.selectbox(key="exp-mtype").value == "continuous"
    assert at.select_slider(key="exp-winsor").value == 0.99
    assert _results(at)["metric"].tolist() == ["revenue"]
    at.session_state["tabs-experiments"] = "Planning"
    at.run()
    assert at.number_input(key="plan-daily").value == 500
