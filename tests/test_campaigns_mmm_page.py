"""Campaigns page, Marketing-mix model tab (issue 12 part 3): the model's input from a table (long
tables summed per week against pandas, wide tables as they are, column guesses), and the tab in
AppTest: the demo data fitted in one click as a background job, the ROAS table and the allocator,
leaving and coming back (and a new session) shows the result, a failed job's error, too few weeks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from core.auth import UsersFile

from core.campaigns.mmm_job import ModelSettings, check, guess_columns, model_input, target_kind
from core.campaigns.mmm_planted import planted_weekly
from core.data.workspace import Workspace
from core.demo import SAMPLE_DIR, load_demo
from core.errors import DataError
from tests.apptest_jobs import finish_jobs

APP = str(Path(__file__).resolve().parent.parent / "app.py")
DEMO_CHANNELS = ("display", "email", "search", "social", "video")


def _demo() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "campaign_daily.csv", parse_dates=["date"])


# ------------------------------------------------------------------ the model's input (core.campaigns.mmm_job)
def test_long_table_summed_per_week_and_channel_like_pandas():
    df = _demo()
    s = ModelSettings("long", "date", "revenue", DEMO_CHANNELS, channel_column="channel", spend_column="spend")
    wide = model_input(df, s)
    assert wide.attrs["found"] == list(DEMO_CHANNELS)
    week = df["date"] - pd.to_timedelta(df["date"].dt.weekday, unit="D")
    expected = df.assign(week=week).pivot_table(index="week", columns="channel", values="spend", aggfunc="sum",
                                                fill_value=0.0)
    revenue = df.assign(week=week).groupby("week")["revenue"].sum()
    assert len(wide) == len(expected) == 104  # 728 days from a Monday: whole weeks, nothing dropped
    np.testing.assert_allclose(wide[list(DEMO_CHANNELS)].to_numpy(), expected[list(DEMO_CHANNELS)].to_numpy(),
                               rtol=1e-9)
    np.testing.assert_allclose(wide["revenue"].to_numpy(), revenue.to_numpy(), rtol=1e-9)
    assert check(wide, s) == []


def test_partial_weeks_are_left_out_and_said():
    df = _demo()
    df = df[df["date"] >= df["date"].min() + pd.Timedelta(days=3)]  # the first week starts on a Thursday
    s = ModelSettings("long", "date", "revenue", DEMO_CHANNELS, channel_column="channel", spend_column="spend")
    wide = model_input(df, s)
    assert len(wide) == 103 and any("only 4 days" in n and "left out" in n for n in wide.attrs["notes"])


def test_guesses_for_a_long_and_a_wide_table():
    df = _demo()
    numeric = [c for c in df.columns if df[c].dtype.kind in "if"]
    g = guess_columns(list(df.columns), numeric, ["date"], ["campaign", "channel"])
    assert (g.layout, g.date, g.target, g.channel_column, g.spend_column, g.kind) == \
        ("long", "date", "revenue", "channel", "spend", "revenue")
    wide = planted_weekly(60, 3).data.assign(price_index=1.0, promo=0)
    cols = list(wide.columns)
    g = guess_columns(cols, [c for c in cols if c != "date"], ["date"], [])
    assert g.layout == "wide" and g.target == "revenue" and g.channels == ("search", "social", "tv")
    assert g.controls == ("price_index", "promo")
    assert target_kind("conversions") == "conversions" and target_kind("total_orders") == "conversions"
    assert target_kind("net_revenue") == "revenue"


def test_wide_input_and_clear_checks():
    data = planted_weekly(60, 3).data
    s = ModelSettings("wide", "date", "revenue", ("search", "social", "tv"))
    wide = model_input(data, s)
    pd.testing.assert_frame_equal(wide, data[["date", "search", "social", "tv", "revenue"]], check_like=True)
    with pytest.raises(DataError, match=r"Only 40 weeks of data: the model needs at least 52 weeks"):
        check(wide.head(40), s)
    with pytest.raises(DataError, match="never spends"):
        check(wide.assign(tv=0.0), s)
    with pytest.raises(DataError, match="not in the table"):
        model_input(data, ModelSettings("wide", "date", "revenue", ("search", "radio")))
    assert any("hold-out is capped" in n for n in check(wide, ModelSettings(
        "wide", "date", "revenue", ("search", "social", "tv"), holdout=30)))
    # settings travel through the job record as JSON and come back the same
    s2 = ModelSettings("long", "date", "revenue", ("a", "b"), "revenue", "channel", "spend", "W", (), 8, "quick")
    assert ModelSettings.from_dict({**s2.as_dict(), "table_version": 3}) == s2
    assert s2.fit_settings().n_boot == 30 and s2.fit_settings().holdout == 8


# ------------------------------------------------------------------ the tab (AppTest)
def _open(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception, at.exception
    at.session_state["tabs-campaigns"] = "Marketing-mix model"  # lazy tabs: the model tab runs once opened
    at.run()
    assert not at.exception, at.exception
    return at


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _fit_demo(at: AppTest) -> AppTest:
    at.radio(key="mmm-effort-campaign_daily").set_value("quick").run()
    at.button(key="mmm-fit").click().run()
    assert not at.exception, at.exception
    return finish_jobs(at, timeout=300)


def _mmm_jobs() -> list:
    from pages.common import job_runner
    return job_runner().jobs(kind="mmm")


def _assert_result_shown(at: AppTest, df: pd.DataFrame) -> None:
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    roas = _frame(at, "return (revenue per 1 spent)")
    assert sorted(roas["channel"]) == sorted(DEMO_CHANNELS)
    # the spend column is the hand sum of campaign_daily per channel (all 104 weeks are modelled)
    by_hand = df.groupby("channel")["spend"].sum()
    for _, row in roas.iterrows():
        assert row["spend (whole period)"] == f"{by_hand[row['channel']]:,.2f}"
    assert all(" to " in v for v in roas["95% interval"])
    plan = _frame(at, "recommended per week")
    assert sorted(plan["channel"]) == sorted(DEMO_CHANNELS)
    today = sum(float(v.replace(",", "")) for v in plan["spend per week today"])
    recommended = sum(float(v.replace(",", "")) for v in plan["recommended per week"])
    assert recommended == pytest.approx(today, rel=1e-6)  # the same total by default
    assert today == pytest.approx(df["spend"].sum() / 104, rel=1e-6)
    assert any(m.label == "Hold-out MAPE" for m in at.metric)
    assert any(m.label == "Revenue from the channels per week, recommended" for m in at.metric)
    assert any(" per 1 spent (" in s.value for s in at.success)  # the manager's summary with intervals
    assert any(s.value.startswith(("Good fit", "Fair fit")) for s in [*at.success, *at.info])
    assert any(b.key == "mmm-report" for b in at.get("download_button"))


def test_demo_fit_in_one_click_then_leave_and_come_back(app_env):
    load_demo(Workspace(app_env))
    df = _demo()
    at = _open()
    assert [t.label for t in at.tabs][:2] == ["Dashboard", "Marketing-mix model"]
    assert at.radio(key="mmm-layout-campaign_daily").value == "long"
    assert at.selectbox(key="mmm-channel-campaign_daily").value == "channel"
    assert at.selectbox(key="mmm-spend-campaign_daily").value == "spend"
    assert at.selectbox(key="mmm-target-campaign_daily").value == "revenue"
    assert at.multiselect(key="mmm-channels-campaign_daily").value == list(DEMO_CHANNELS)
    assert any("5 channels found" in m.value for m in at.markdown)
    at = _fit_demo(at)
    _assert_result_shown(at, df)
    assert len(_mmm_jobs()) == 1 and _mmm_jobs()[0].state == "done"

    # a new total and a tighter bound: the plan keeps the new total and the bound
    at.radio(key="mmm-total-mode-campaign_daily").set_value("A new total").run()
    at.number_input(key="mmm-total-campaign_daily").set_value(15_000.0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    plan = _frame(at, "recommended per week")
    assert sum(float(v.replace(",", "")) for v in plan["recommended per week"]) == pytest.approx(15_000, rel=1e-6)

    at.switch_page("pages/home.py").run()  # leave and come back: the result, no new job
    at = _open(at)
    _assert_result_shown(at, df)
    assert len(_mmm_jobs()) == 1

    fresh = AppTest.from_file(APP, default_timeout=120).run()  # a new session (a reload)
    # the jobs panel names the kind (AppTest shows sidebar elements of a session's first run only)
    assert any("Marketing-mix model on `campaign_daily`: done in" in c.value for c in fresh.sidebar.caption)
    fresh = _open(fresh)  # the user's last fit comes back with its settings
    assert fresh.radio(key="mmm-effort-campaign_daily").value == "quick"
    _assert_result_shown(fresh, df)
    assert len(_mmm_jobs()) == 1


def test_a_failed_fit_shows_its_error_and_can_run_again(app_env):
    load_demo(Workspace(app_env))
    from core.campaigns.mmm_job import fit_job
    from pages.common import job_runner
    ws = Workspace(app_env)
    version = ws.info("campaign_daily").version
    s = ModelSettings("long", "date", "revenue", DEMO_CHANNELS, "revenue", "channel", "spend", "W", (), None, "quick")
    runner = job_runner()
    bad = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3, freq="W-MON")})
    job_id = runner.submit("mmm", fit_job, bad, s.as_dict(), owner="local", table="campaign_daily",
                           settings={"table_version": version, **s.as_dict()})
    assert runner.wait(job_id, timeout=120).state == "failed"
    at = _open()  # the page resumes the user's last job: its error, never a traceback
    assert not at.exception
    assert any(e.value.startswith("The model stopped:") and "not in the data" in e.value for e in at.error)
    at.button(key="mmm-fit").click().run()  # Fit again starts a new job
    at = finish_jobs(at, timeout=300)
    _assert_result_shown(at, _demo())


def test_too_few_weeks_is_a_clear_message(app_env):
    df = _demo()
    short = df[df["date"] < df["date"].min() + pd.Timedelta(weeks=30)]
    Workspace(app_env).save_frame(short, "campaign_daily")
    at = _open()
    assert not at.exception
    assert any("Only 30 weeks of data: the model needs at least 52 weeks" in w.value for w in at.warning)
    assert at.button(key="mmm-fit").disabled


def test_a_wide_weekly_table_with_a_control(app_env):
    planted = planted_weekly(60, 3, seed=2)
    weekly = planted.data.assign(promo=(np.arange(60) % 9 == 0).astype(float))
    Workspace(app_env).save_frame(weekly, "weekly_mix")
    at = _open()
    assert not at.exception
    assert at.radio(key="mmm-layout-weekly_mix").value == "wide"
    assert at.multiselect(key="mmm-channels-weekly_mix").value == ["search", "social", "tv"]
    assert at.multiselect(key="mmm-controls-weekly_mix").value == ["promo"]
    at.radio(key="mmm-effort-weekly_mix").set_value("quick").run()
    at.button(key="mmm-fit").click().run()
    at = finish_jobs(at, timeout=300)
    # (the Dashboard tab's test read-out says this table is no test: its own message, not the model's)
    assert not at.exception and not any("experiment" not in e.value for e in at.error), [e.value for e in at.error]
    roas = _frame(at, "return (revenue per 1 spent)")
    assert sorted(roas["channel"]) == ["search", "social", "tv"]
    for _, row in roas.iterrows():  # spend over the 60 weeks, by hand
        assert row["spend (whole period)"] == f"{weekly[row['channel']].sum():,.2f}"
    job = _mmm_jobs()[0]
    assert job.settings["controls"] == ["promo"] and job.settings["layout"] == "wide"


def test_cancel_stops_the_fit_and_says_how_to_start_again(app_env):
    load_demo(Workspace(app_env))
    at = _open()
    at.button(key="mmm-fit").click().run()
    assert any(b.key == "mmm-cancel" for b in at.button)
    at.button(key="mmm-cancel").click().run()
    assert not at.exception
    at = finish_jobs(at, timeout=60)
    assert _mmm_jobs()[0].state == "cancelled"
    assert any("was cancelled: click **Fit the model** to start it again" in i.value for i in at.info)


def test_a_viewer_reads_why_the_model_is_not_offered(app_env, tmp_path, monkeypatch):
    users = UsersFile(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    users.add("vera", "s3cret-pass", "viewer")
    monkeypatch.setenv("MW_USERS_FILE", str(users.path))
    load_demo(Workspace(app_env))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="login-name").input("vera")
    at.text_input(key="login-password").input("s3cret-pass")
    at.button[0].click().run()
    at = _open(at)
    assert not at.exception
    assert any("fitting a marketing-mix model needs the analyst role" in i.value for i in at.info)
    assert not any(b.key == "mmm-fit" for b in at.button)
