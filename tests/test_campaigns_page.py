"""Campaigns page (AppTest, issue 12 part 1): the default table, period change, breakdown by channel,
pacing, unusual days, incremental return, bad input shown as a message (never a traceback), roles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from core.auth import UsersFile
from core.campaigns.mmm_job import EFFORT_LABELS
from core.data.workspace import Workspace
from tests.test_campaigns_kpis import campaign_table

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _fill(path: Path, campaigns: pd.DataFrame | None = None) -> pd.DataFrame:
    ws = Workspace(path)
    df = campaign_table(120) if campaigns is None else campaigns
    ws.save_frame(pd.DataFrame({"a": [1, 2]}), "aaa_first")  # first in order: the page must still pick campaign_daily
    ws.save_frame(df, "campaign_daily")
    rng = np.random.default_rng(5)
    ws.save_frame(pd.DataFrame({"variant": ["control"] * 3000 + ["ads"] * 3000,
                                "revenue": np.r_[rng.gamma(2, 10, 3000), rng.gamma(2, 12, 3000)]}), "email_campaign")
    return df


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception, at.exception
    return at


def _card(value: float) -> str:
    """A money card as people read it: whole amounts from 1,000 up."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def _metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def test_default_table_cards_and_tabs(app_env):
    df = _fill(app_env)
    at = _page()
    assert at.selectbox(key="cmp-table").value == "campaign_daily"
    assert {"Dashboard", "Marketing-mix model"} <= {t.label for t in at.tabs}
    assert [t.label for t in at.tabs if t.label not in ("Dashboard", "Marketing-mix model")] == [
        "Over time", "Per campaign", "Pacing against budget", "Unusual days", "Incremental return"]
    for role in ("date", "spend", "impressions", "clicks", "conversions", "revenue", "campaign", "channel", "budget"):
        assert at.selectbox(key=f"cmp-col-{role}-campaign_daily").value == role
    assert not at.error
    # the default period: the last 28 days, against the 28 days before
    last = df["date"].max()
    now = df[df["date"] > last - pd.Timedelta(days=28)]
    before = df[(df["date"] <= last - pd.Timedelta(days=28)) & (df["date"] > last - pd.Timedelta(days=56))]
    spend = _metric(at, "Spend")
    assert spend.value == _card(now.spend.sum())
    assert spend.delta == f"{(now.spend.sum() / before.spend.sum() - 1) * 100:+.1f}%"
    ctr = _metric(at, "CTR")
    assert ctr.value == f"{now.clicks.sum() / now.impressions.sum() * 100:.1f}%" and ctr.delta.endswith(" pts")
    roas = _metric(at, "ROAS")
    assert roas.value == f"{now.revenue.sum() / now.spend.sum():,.2f}x"
    assert len(at.get("plotly_chart")) == 1  # the trend; each other section draws its chart once opened
    for name in ("Per campaign", "Pacing against budget", "Unusual days", "Incremental return"):
        _section(at, name)
        assert not at.exception and not at.error, (name, [e.value for e in at.error])
        assert len(at.get("plotly_chart")) == 1, name
        if name == "Pacing against budget":  # from the budget column, one line per campaign and channel
            assert any("spent" in m.value and "of the flight gone" in m.value for m in at.markdown)
    at.session_state["tabs-campaigns"] = "Marketing-mix model"  # the model tab (lazy: runs once opened)
    at.run()
    assert not at.exception
    assert any("at least 52 weeks" in w.value for w in at.warning)  # 120 days are too few


def _section(at: AppTest, name: str) -> AppTest:
    """Open a section of the dashboard (its lazy tabs below the KPI cards), as a click on it does."""
    at.session_state["tabs-campaigns-dashboard"] = name
    at.run()
    return at


def _keys(at: AppTest, prefix: str) -> set[str]:
    """Keys of the widgets drawn in the last run that start with `prefix`."""
    return {w.key for kind in ("selectbox", "multiselect", "radio", "number_input", "date_input", "slider", "toggle")
            for w in at.get(kind) if w.key and w.key.startswith(prefix)}


def test_lazy_tabs_run_only_the_open_tab_and_keep_its_choices(app_env):
    ws = Workspace(app_env)
    _fill(app_env)
    ws.save_frame(campaign_table(400), "campaign_long")
    at = _page()
    assert _keys(at, "cmp-") and not _keys(at, "mmm-")  # the model tab's widgets are not drawn yet
    assert len(at.get("plotly_chart")) == 1  # the trend only: the other sections run once opened
    assert not _keys(at, "cmp-pace-") and not _keys(at, "cmp-inc-")
    at.selectbox(key="cmp-table").select("campaign_long").run()
    at.selectbox(key="cmp-trend-by").select("Channel").run()
    at.radio(key="cmp-freq").set_value("M").run()
    assert not at.exception and not at.error
    at.session_state["tabs-campaigns"] = "Marketing-mix model"
    at.run()
    assert not at.exception
    assert not _keys(at, "cmp-") and not at.metric  # the dashboard (cards, charts) is not computed
    assert _keys(at, "mmm-") and all(k.endswith("-campaign_long") for k in _keys(at, "mmm-layout"))  # its table
    effort = next(o for o in at.radio(key="mmm-effort-campaign_long").options
                  if o != at.radio(key="mmm-effort-campaign_long").value)  # not the default
    at.radio(key="mmm-effort-campaign_long").set_value(
        next(k for k, v in EFFORT_LABELS.items() if v == effort)).run()
    at.session_state["tabs-campaigns"] = "Dashboard"
    at.run()
    assert not at.exception and not _keys(at, "mmm-")
    assert at.selectbox(key="cmp-table").value == "campaign_long"  # the choices made before the switch
    assert at.selectbox(key="cmp-trend-by").value == "Channel"
    assert at.radio(key="cmp-freq").value == "M"
    _section(at, "Unusual days")  # a section and back: its choices too
    at.slider(key="cmp-anom-threshold").set_value(5.0).run()
    _section(at, "Over time")
    assert at.radio(key="cmp-freq").value == "M" and at.selectbox(key="cmp-trend-by").value == "Channel"
    _section(at, "Unusual days")
    assert at.slider(key="cmp-anom-threshold").value == 5.0
    at.session_state["tabs-campaigns"] = "Marketing-mix model"
    at.run()
    value = next(k for k, v in EFFORT_LABELS.items() if v == effort)
    assert at.radio(key="mmm-effort-campaign_long").value == value
    at.switch_page("pages/home.py").run()  # another page and back: the tab that was open, as it was
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception and not _keys(at, "cmp-")
    assert at.radio(key="mmm-effort-campaign_long").value == value


def test_period_change_updates_the_cards(app_env):
    df = _fill(app_env)
    at = _page()
    period = next(d for d in at.date_input if d.key.startswith("cmp-period-campaign_daily"))
    period.set_value((dt.date(2026, 7, 1), dt.date(2026, 7, 10))).run()
    assert not at.exception and not at.error
    july = df[(df.date >= "2026-07-01") & (df.date <= "2026-07-10")]
    june = df[(df.date >= "2026-06-21") & (df.date <= "2026-06-30")]
    assert _metric(at, "Spend").value == _card(july.spend.sum())
    assert _metric(at, "Spend").delta == f"{(july.spend.sum() / june.spend.sum() - 1) * 100:+.1f}%"
    assert any("2026-06-21 to 2026-06-30" in c.value for c in at.caption)
    assert _metric(at, "CPA").value == _card(july.spend.sum() / july.conversions.sum())


def test_a_replaced_table_with_other_dates_starts_a_fresh_period(app_env):
    _fill(app_env)
    at = _page()
    at.date_input(key=next(d.key for d in at.date_input if d.key.startswith("cmp-period-"))).set_value(
        (dt.date(2026, 7, 1), dt.date(2026, 7, 10))).run()
    later = campaign_table(60).assign(date=lambda d: d["date"] + pd.Timedelta(days=400))
    Workspace(app_env).save_frame(later, "campaign_daily", mode="replace")
    at.run()
    assert not at.exception and not at.error
    last = later["date"].max()
    assert _metric(at, "Spend").value == _card(later[later["date"] > last - pd.Timedelta(days=28)].spend.sum())


def test_by_channel(app_env):
    df = _fill(app_env)
    at = _page()
    at.selectbox(key="cmp-trend-by").select("Channel").run()
    _section(at, "Per campaign")
    at.selectbox(key="cmp-table-by").select("Channel").run()
    assert not at.exception and not at.error
    per = next(d.value for d in at.dataframe if "channel" in d.value.columns and "ROAS" in d.value.columns
               and "from" not in d.value.columns)  # the per-campaign table (the trend table has dates)
    assert sorted(per["channel"]) == sorted(df["channel"].unique())
    last = df["date"].max()
    now = df[df["date"] > last - pd.Timedelta(days=28)]
    search = now[now.channel == "search"]
    row = per.set_index("channel").loc["search"]
    assert row["ROAS"] == f"{search.revenue.sum() / search.spend.sum():,.2f}x"  # a ratio of sums, for people
    assert row["spend"] == f"{search.spend.sum():,.2f}"


def test_negative_spend_shows_a_clear_message(app_env):
    df = campaign_table(60)
    df.loc[[3, 4], "spend"] = -10.0
    _fill(app_env, df)
    at = _page()
    assert not at.exception
    assert any("'spend' is below zero in 2 rows" in e.value for e in at.error)
    assert not at.metric


def test_picking_a_text_column_as_spend_or_a_table_without_dates(app_env):
    ws = Workspace(app_env)
    _fill(app_env)
    ws.save_frame(pd.DataFrame({"channel": ["a", "b"], "spend": [1.0, 2.0]}), "no_dates")
    at = _page()
    at.selectbox(key="cmp-col-revenue-campaign_daily").select("spend").run()
    assert not at.exception and any("picked for more than one role" in e.value for e in at.error)
    at.selectbox(key="cmp-table").select("no_dates").run()
    assert not at.exception and any("has no date column" in e.value for e in at.error)


def test_incremental_return_section(app_env):
    _fill(app_env)
    at = _page()
    _section(at, "Incremental return")
    at.number_input(key=next(n.key for n in at.number_input if n.key.startswith("cmp-inc-spend"))).set_value(10_000.0).run()
    assert not at.exception and not at.error
    assert _metric(at, "Treated users").value == "3,000"
    assert any("iROAS of" in m.value for m in [*at.success, *at.info])


@pytest.fixture
def viewer(app_env, tmp_path, monkeypatch):
    users = UsersFile(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    users.add("vera", "s3cret-pass", "viewer")
    monkeypatch.setenv("MW_USERS_FILE", str(users.path))
    _fill(app_env)
    return app_env


def test_a_viewer_sees_the_dashboard(viewer):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="login-name").input("vera")
    at.text_input(key="login-password").input("s3cret-pass")
    at.button[0].click().run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception and not at.error
    assert _metric(at, "Spend")
    _section(at, "Incremental return")
    assert any("reading a test needs the analyst role" in i.value for i in at.info)  # the test read-out only


def test_tables_behind_the_charts_are_built_once_opened(app_env):
    _fill(app_env)
    at = _page()
    closed = len(at.dataframe), len(at.get("download_button"))
    at.session_state["cmp-x-trend"] = True  # as a click on "The numbers behind the chart" does
    at.run()
    assert not at.exception
    assert (len(at.dataframe), len(at.get("download_button"))) == (closed[0] + 1, closed[1] + 3)
    trend = next(d.value for d in at.dataframe if "from" in d.value.columns)  # the trend's numbers, by week
    at.radio(key="cmp-freq").set_value("M").run()  # another setting: the expander stays open, by month now
    assert at.session_state["cmp-x-trend"] and len(at.dataframe) == closed[0] + 1
    assert len(next(d.value for d in at.dataframe if "from" in d.value.columns)) < len(trend)
    for section, key in (("Pacing against budget", "cmp-x-pace"), ("Unusual days", "cmp-x-anom")):
        _section(at, section)
        shown = len(at.dataframe)
        at.session_state[key] = True
        at.run()
        assert not at.exception and len(at.dataframe) == shown + 1, section
