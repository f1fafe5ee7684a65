"""Marketing-mix model (core.campaigns.mmm): Robyn's transforms, recovery of planted data, the
allocator, response curves, the manager's summary, bad input and the long-to-wide helper."""

from __future__ import annotations

import pickle
from datetime import date

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter
from sklearn.metrics import mean_absolute_percentage_error, r2_score

from core.campaigns.mmm import (MMMResult, Settings, adstock_geometric, channel_table, fit_mmm,
                                saturation_hill, summary_text)
from core.campaigns.mmm_planted import planted_weekly
from core.errors import DataError
from sample_data import generate

SMALL = Settings(n_boot=30, popsize=8, maxiter=40, refine_steps=3)  # the quick config for several seeds
SEEDS = (0, 1, 2, 3)


# ------------------------------------------------------------------ transforms (Robyn's examples)
def test_adstock_matches_robyn():
    assert adstock_geometric([100] * 5, 0.5) == pytest.approx([100, 150, 175, 187.5, 193.75])
    assert adstock_geometric([3, 0, 0], 0.0) == pytest.approx([3, 0, 0])
    x = np.random.default_rng(1).gamma(2, 50, 30)
    by_hand = [x[0]]
    for v in x[1:]:
        by_hand.append(v + 0.3 * by_hand[-1])
    assert adstock_geometric(x, 0.3) == pytest.approx(by_hand)


def test_hill_matches_robyn():
    assert saturation_hill([100, 150, 170, 190, 200], 3, 0.5) == pytest.approx(
        [0.2286, 0.5, 0.5928, 0.6702, 0.7033], abs=5e-5)


@pytest.mark.parametrize("call, words", [
    (lambda: adstock_geometric([1, 2], 1.0), "theta"),
    (lambda: adstock_geometric([1, np.nan], 0.2), "missing"),
    (lambda: saturation_hill([1, 2], 0, 0.5), "alpha"),
    (lambda: saturation_hill([1, 2], 2, 1.5), "gamma"),
])
def test_transform_bad_input(call, words):
    with pytest.raises(DataError, match=words):
        call()


# ------------------------------------------------------------------ recovery of planted data
@pytest.fixture(scope="module")
def small_fits():
    out = []
    for seed in SEEDS:
        planted = planted_weekly(156, 3, seed=seed, noise=0.03)
        result = fit_mmm(planted.data, date="date", target="revenue", channels=list(planted.truth.channel),
                         seed=seed, settings=SMALL)
        out.append((planted, result))
    return out


@pytest.fixture(scope="module")
def realistic():
    """The bench's size: 208 weeks x 5 channels with the app's default settings."""
    planted = planted_weekly(208, 5, seed=0)
    return planted, fit_mmm(planted.data, date="date", target="revenue", channels=list(planted.truth.channel))


def test_roas_recovered_over_seeds(small_fits):
    inside, errors = 0, []
    for planted, result in small_fits:
        roas = result.roas.set_index("channel")
        for row in planted.truth.itertuples():
            low, high = roas.loc[row.channel, "roas_low"], roas.loc[row.channel, "roas_high"]
            assert low <= roas.loc[row.channel, "roas"] <= high
            inside += low <= row.roas <= high
            errors.append(abs(roas.loc[row.channel, "roas"] / row.roas - 1))
    # measured: 8 of 12 planted ROAS inside the 95% interval (this quick config; the default one on
    # 208 weeks x 5 channels: 20 of 20 over 4 seeds), median relative error 0.16, mean 0.24
    assert inside >= 7, f"only {inside} of 12 planted ROAS inside the interval"
    assert np.median(errors) < 0.25 and np.mean(errors) < 0.4


def test_carry_over_recovered(small_fits):
    # tv (planted theta 0.6, the channel with real carry-over) and search (0.1, little)
    for planted, result in small_fits:
        theta = result.params.set_index("channel")["theta"]
        assert abs(theta["tv"] - 0.6) < 0.15
        assert theta["search"] < 0.3


def test_realistic_fit(realistic):
    planted, result = realistic
    roas = result.roas.set_index("channel")
    inside = sum(roas.loc[r.channel, "roas_low"] <= r.roas <= roas.loc[r.channel, "roas_high"]
                 for r in planted.truth.itertuples())
    assert inside >= 4  # measured: 5 of 5
    assert result.freq == "W" and result.fit["r2"] == result.fit.r2 > 0.8
    assert result.fit.holdout_mape < 0.05 and result.fit.holdout_periods == 21


def test_decomposition_and_metrics_by_hand(realistic):
    planted, result = realistic
    contrib, fitted = result.contributions, result.fitted
    channels = list(planted.truth.channel)
    assert list(contrib.columns) == ["date", *channels, "baseline"]
    assert contrib[channels + ["baseline"]].sum(axis=1).to_numpy() == pytest.approx(fitted["fitted"].to_numpy())
    # ROAS = modelled contribution / spend, summed by hand
    for ch in channels:
        assert result.roas.set_index("channel").loc[ch, "roas"] == pytest.approx(
            contrib[ch].sum() / planted.data[ch].sum())
    # each channel's contribution = coef * Hill(adstock(spend)) from the reported parameters
    p = result.params.set_index("channel")
    for ch in channels:
        a = lfilter([1.0], [1.0, -p.loc[ch, "theta"]], planted.data[ch].to_numpy())
        g = a.min() + p.loc[ch, "gamma"] * (a.max() - a.min())
        assert p.loc[ch, "inflexion"] == pytest.approx(g)
        hill = a ** p.loc[ch, "alpha"] / (a ** p.loc[ch, "alpha"] + g ** p.loc[ch, "alpha"])
        assert contrib[ch].to_numpy() == pytest.approx(p.loc[ch, "coef"] * hill, rel=1e-9, abs=1e-6)
        assert p.loc[ch, "coef"] >= 0
    # fit metrics against sklearn on the check fit's training and held-out periods
    train, held = fitted[~fitted.holdout], fitted[fitted.holdout]
    assert result.fit.r2 == pytest.approx(r2_score(train.actual, train.check_fitted))
    assert result.fit.mape == pytest.approx(mean_absolute_percentage_error(train.actual, train.check_fitted))
    assert result.fit.holdout_mape == pytest.approx(mean_absolute_percentage_error(held.actual, held.check_fitted))
    rmse = np.sqrt(np.mean((train.actual - train.check_fitted) ** 2))
    assert result.fit.nrmse == pytest.approx(rmse / (train.actual.max() - train.actual.min()))
    assert dict(result.fit).keys() >= {"r2", "nrmse", "mape", "holdout_mape"}


def test_result_is_picklable_and_small(realistic):
    _, result = realistic
    blob = pickle.dumps(result)
    assert len(blob) < 200_000
    back = pickle.loads(blob)
    assert isinstance(back, MMMResult)
    assert back.optimize_budget()["recommended_spend"].to_numpy() == pytest.approx(
        result.optimize_budget()["recommended_spend"].to_numpy())


# ------------------------------------------------------------------ allocator and curves
def test_allocator_keeps_total_respects_bounds_never_loses(small_fits, realistic):
    for _, result in [*small_fits, realistic]:
        plan = result.optimize_budget()
        assert list(plan.columns[:3]) == ["channel", "current_spend", "recommended_spend"]
        assert plan.recommended_spend.sum() == pytest.approx(plan.current_spend.sum(), rel=1e-9)
        assert (plan.recommended_spend >= 0.5 * plan.current_spend * (1 - 1e-9)).all()
        assert (plan.recommended_spend <= 1.5 * plan.current_spend * (1 + 1e-9)).all()
        assert plan.recommended_revenue.sum() >= plan.current_revenue.sum() - 1e-6
        tight = result.optimize_budget(bounds=(0.9, 1.1))
        assert (tight.recommended_spend.between(0.9 * tight.current_spend * (1 - 1e-9),
                                                1.1 * tight.current_spend * (1 + 1e-9))).all()
        assert tight.recommended_revenue.sum() <= plan.recommended_revenue.sum() + 1e-6
        more = result.optimize_budget(plan.current_spend.sum() * 1.2)
        assert more.recommended_spend.sum() == pytest.approx(plan.current_spend.sum() * 1.2)


def test_allocator_matches_brute_force_on_two_channels():
    planted = planted_weekly(104, 2, seed=5, noise=0.02)
    result = fit_mmm(planted.data, date="date", target="revenue", channels=["search", "social"], seed=5,
                     settings=Settings(n_boot=5, popsize=6, maxiter=20, refine_steps=2))
    plan = result.optimize_budget(bounds={"search": (0.2, 2.0), "social": (0.2, 2.0)})
    cur = result.current_spend.to_numpy()
    total = cur.sum()
    grid = np.linspace(0.2 * cur[0], min(2.0 * cur[0], total - 0.2 * cur[1]), 4001)
    revenue = [result.curves.revenue(np.array([s, total - s])).sum() for s in grid
               if 0.2 * cur[1] <= total - s <= 2.0 * cur[1]]
    assert plan.recommended_revenue.sum() == pytest.approx(max(revenue), rel=1e-5)
    assert plan.recommended_revenue.sum() >= max(revenue) - 1e-6 * max(revenue)


def test_allocator_bad_bounds(small_fits):
    result = small_fits[0][1]
    with pytest.raises(DataError, match="Widen the bounds"):
        result.optimize_budget(result.current_spend.sum() * 3)
    with pytest.raises(DataError, match="low <= high"):
        result.optimize_budget(bounds=(1.5, 0.5))
    with pytest.raises(DataError, match="does not have"):
        result.optimize_budget(bounds={"radio": (0.5, 1.5)})
    with pytest.raises(DataError, match="positive"):
        result.optimize_budget(-5)


def test_response_curve_monotone(small_fits):
    result = small_fits[0][1]
    for ch in result.channels:
        curve = result.response_curve(ch)
        assert list(curve.columns) == ["channel", "spend", "revenue", "roas", "marginal_roas", "current"]
        assert (np.diff(curve.revenue) >= -1e-9).all() and (curve.marginal_roas >= 0).all()
        assert curve.current.sum() == 1
        now = curve[curve.current].iloc[0]
        assert now.spend == pytest.approx(result.current_spend[ch])
        # marginal return = numerical derivative of the curve
        s = float(now.spend)
        num = (result.response_curve(ch, [s * 1.001]).revenue.iloc[0]
               - result.response_curve(ch, [s * 0.999]).revenue.iloc[0]) / (0.002 * s)
        assert now.marginal_roas == pytest.approx(num, rel=1e-3)
    with pytest.raises(DataError, match="not a channel"):
        result.response_curve("radio")


def test_expected_change_and_summary(realistic):
    _, result = realistic
    plan = result.optimize_budget()
    change = result.expected_change(plan)
    assert change.change_low <= change.change <= change.change_high
    assert change.change == pytest.approx(plan.recommended_revenue.sum() - plan.current_revenue.sum())
    assert change.share == pytest.approx(change.change / result.fitted.actual.mean())
    same = plan.assign(recommended_spend=plan.current_spend)
    assert result.expected_change(same).change == pytest.approx(0.0, abs=1e-6)
    text = summary_text(result, plan)
    best = result.roas.sort_values("roas").iloc[-1]
    assert text.startswith(best.channel.capitalize() + " returns ") and "per 1 spent (" in text
    assert "budget to" in text and "revenue (" in text and text == result.summary(plan)
    assert "already close" in result.summary(same)


# ------------------------------------------------------------------ other inputs
def test_daily_data_and_controls():
    planted = planted_weekly(60, 2, seed=3, noise=0.02)
    days = pd.date_range("2023-01-02", periods=60 * 7, freq="D")
    rng = np.random.default_rng(3)
    daily = pd.DataFrame({"day": days, "search": np.repeat(planted.data.search.to_numpy() / 7, 7),
                          "social": np.repeat(planted.data.social.to_numpy() / 7, 7)})
    promo = (rng.random(len(days)) < 0.1).astype(float)
    daily["sales"] = np.repeat(planted.data.revenue.to_numpy() / 7, 7) + 4000 * promo + rng.normal(0, 300, len(days))
    daily["promo"] = promo
    quick = Settings(n_boot=3, popsize=5, maxiter=8, refine_steps=1)
    with_promo = fit_mmm(daily, date="day", target="sales", channels=["search", "social"], controls=["promo"],
                         settings=quick)
    without = fit_mmm(daily, date="day", target="sales", channels=["search", "social"], settings=quick)
    assert with_promo.freq == "D" and with_promo.period == "day"
    assert with_promo.fit.r2 > without.fit.r2
    assert with_promo.response_curve("search").spend.max() == pytest.approx(3 * daily.search.mean())


def _weekly(n=60, seed=0):
    return planted_weekly(n, 3, seed=seed).data


@pytest.mark.parametrize("change, kwargs, words", [
    (lambda d: d.head(40), {}, "Only 40 weeks of data: the model needs at least 52 weeks"),
    (lambda d: d.assign(tv=0.0), {}, "Channel 'tv' never spends"),
    (lambda d: d.drop(index=[10, 11]), {}, "gaps: 2 weeks missing .*2022-03-14"),
    (lambda d: d.assign(revenue=d.revenue.where(d.index != 5)), {}, "target 'revenue' has gaps: 1 week"),
    (lambda d: d.assign(social=d.social.where(d.index != 5, -10.0)), {}, "Channel 'social' has negative spend"),
    (lambda d: d.assign(social=d.social.where(d.index != 7)), {}, "Fill them with 0"),
    (lambda d: pd.concat([d, d.tail(1)]), {}, "appear more than once"),
    (lambda d: d, {"channels": ["search"]}, "2 to 10 channels; got 1"),
    (lambda d: d.assign(**{f"c{i}": 1.0 for i in range(9)}), {"channels": [f"c{i}" for i in range(9)] + ["tv", "search"]},
     "2 to 10 channels; got 11"),
    (lambda d: d, {"channels": ["search", "radio"]}, "'radio' are not in the data"),
    (lambda d: d.assign(date=d.date.where(d.index != 3)), {}, "no readable date"),
    (lambda d: d.assign(social=d.social.astype(str).where(d.index != 2, "n/a")), {}, "not numbers"),
    (lambda d: d.iloc[::2], {}, "14 days apart"),
])
def test_bad_input(change, kwargs, words):
    args = {"date": "date", "target": "revenue", "channels": ["search", "social", "tv"], **kwargs}
    with pytest.raises(DataError, match=words):
        fit_mmm(change(_weekly()), settings=Settings(n_boot=0, popsize=3, maxiter=1), **args)


# ------------------------------------------------------------------ long table -> weekly frame
def _long():
    rng = np.random.default_rng(7)
    days = pd.date_range("2024-01-03", "2024-03-20", freq="D")  # a Wednesday to a Wednesday: partial edges
    rows = []
    for d in days:
        for camp, ch in (("A", "search"), ("B", "search"), ("C", "social")):
            rows.append((d.date(), camp, ch, round(rng.gamma(3, 50), 2), round(rng.gamma(3, 200), 2)))
    return pd.DataFrame(rows, columns=["date", "campaign", "channel", "spend", "revenue"])


def test_channel_table_by_hand():
    long = _long()
    wide = channel_table(long, date="date", channel="channel", spend="spend", target="revenue")
    week = pd.to_datetime(long.date).dt.to_period("W-SUN").dt.start_time  # weeks from Monday
    hand = long.assign(week=week).pivot_table(index="week", columns="channel", values="spend", aggfunc="sum")
    target = long.assign(week=week).groupby("week").revenue.sum()
    full = hand.index[1:-1]  # the first (from Wednesday) and last (to Wednesday) weeks are partial
    assert list(wide.columns) == ["date", "search", "social", "revenue"]
    assert (wide.date.dt.dayofweek == 0).all() and list(wide.date) == list(full)
    assert wide.search.to_numpy() == pytest.approx(hand.loc[full, "search"].to_numpy())
    assert wide.revenue.to_numpy() == pytest.approx(target.loc[full].to_numpy())
    assert len(wide.attrs["notes"]) == 2 and "2024-01-01 has only 5 days" in wide.attrs["notes"][0]
    ibis_wide = channel_table(ibis.memtable(long.assign(date=pd.to_datetime(long.date))), date="date",
                              channel="channel", spend="spend", target="revenue")
    pd.testing.assert_frame_equal(ibis_wide, wide, check_dtype=False)
    daily = channel_table(long, date="date", channel="channel", spend="spend", target="revenue", freq="D")
    assert len(daily) == long.date.nunique()


def test_channel_table_bad_input():
    long = _long()
    with pytest.raises(DataError, match="1 row have negative spend"):
        channel_table(long.assign(spend=long.spend.where(long.index != 4, -1.0)), date="date", channel="channel",
                      spend="spend", target="revenue")
    with pytest.raises(DataError, match="no channel"):
        channel_table(long.assign(channel=long.channel.where(long.index != 4)), date="date", channel="channel",
                      spend="spend", target="revenue")


# ------------------------------------------------------------------ the demo table
def test_demo_campaign_daily():
    demo = generate.campaign_daily()
    assert list(demo.columns) == ["date", "campaign", "channel", "spend", "impressions", "clicks", "conversions",
                                  "revenue", "budget"]
    assert demo.date.nunique() == 728 and demo.channel.nunique() >= 5
    assert demo.date.min() == date(2024, 6, 24) and demo.date.max() == date(2026, 6, 21)
    month = pd.to_datetime(demo.date).dt.to_period("M")
    assert (demo.groupby([demo.campaign, demo.channel, month]).budget.nunique() == 1).all()
    last = demo[month == month.max()]
    elapsed = last.date.nunique() / 30
    pace = last.groupby(["campaign", "channel"]).apply(
        lambda g: g.spend.sum() / (g.budget.iloc[0] * elapsed), include_groups=False)
    assert pace.loc[("Retargeting", "social")] > 1.2 and pace.loc[("Loyalty Push", "email")] < 0.8
    assert (demo[["spend", "impressions", "clicks", "conversions", "revenue"]] >= 0).all().all()
    assert (demo.conversions <= demo.clicks).all()
    wide = channel_table(demo, date="date", channel="channel", spend="spend", target="revenue")
    assert len(wide) == 104 and wide.attrs["notes"] == []


def test_demo_delivers_its_planted_mix():
    """The weekly demo is exactly baseline + the planted channel revenue, carry-over in paused weeks
    included (it was once dropped there, so video delivered ~18% less than its stated ROAS)."""
    demo = generate.campaign_daily()
    planted = generate.campaign_planted()
    wide = channel_table(demo, date="date", channel="channel", spend="spend", target="revenue")
    names = list(generate.MIX)
    assert (wide["date"].to_numpy() == planted["date"].to_numpy()).all()
    np.testing.assert_allclose(wide[names].to_numpy(), planted[names].to_numpy(), atol=0.05)
    effects = planted[[f"{c}_revenue" for c in names]].to_numpy()
    np.testing.assert_allclose(wide["revenue"], planted["baseline"] + effects.sum(axis=1), atol=1.0)
    for k, c in enumerate(names):
        paused = planted[c] == 0
        assert effects[paused.to_numpy(), k].sum() >= 0
        assert effects[:, k].sum() / planted[c].sum() == pytest.approx(generate.MIX[c][0], rel=1e-9)
    # the planted revenue of a paused week shows up in the daily rows of that channel's campaigns
    video_paused = planted.loc[planted["video"] == 0, "date"]
    rows = demo[(demo.channel == "video") & pd.to_datetime(demo.date).dt.to_period("W-SUN").dt.start_time
                .isin(video_paused)]
    assert rows.revenue.sum() > 0


def test_fast_nnls_matches_scipy():
    from scipy.optimize import nnls

    from core.campaigns.mmm_fit import _nnls

    rng = np.random.default_rng(11)
    for k in range(300):
        a = rng.random((80, 5))
        if k % 3 == 0:
            a[:, 4] = a[:, 3] + 1e-9 * rng.random(80)  # nearly collinear columns
        r = a @ rng.normal(0.3, 1.0, 5) + rng.normal(0, 0.1, 80)
        ours, ref = _nnls(a, r), nnls(a, r)[0]
        assert (ours >= 0).all()
        assert np.linalg.norm(a @ ours - r) == pytest.approx(np.linalg.norm(a @ ref - r), rel=1e-9)


def test_demo_roas_inside_intervals():
    """The demo (2 years, 5 channels, noisy) with the app's settings: the planted returns inside the
    95% intervals. Measured 5 of 5; before the bootstrap chose among spread-out near-optimal
    settings (it chose among the search's converged final population) 2 of 5 (search 1.91
    (1.57-2.45) against a planted 2.8), and 18 of 30 over the demo seeds 45-50 (26 of 30 now)."""
    wide = channel_table(generate.campaign_daily(), date="date", channel="channel", spend="spend",
                         target="revenue")
    names = list(generate.MIX)
    result = fit_mmm(wide, date="date", target="revenue", channels=names)
    roas = result.roas.set_index("channel")
    inside = [c for c in names if roas.loc[c, "roas_low"] <= generate.MIX[c][0] <= roas.loc[c, "roas_high"]]
    assert len(inside) >= 4, roas[["roas", "roas_low", "roas_high"]]
    assert (roas["roas_low"] <= roas["roas"]).all() and (roas["roas"] <= roas["roas_high"]).all()


def test_near_optimal_pool_spread_and_within_noise():
    from core.campaigns.mmm_fit import near_optimal

    rng = np.random.default_rng(4)
    xs = rng.random((2000, 3)) * [0.8, 2.5, 0.7] + [0.0, 0.5, 0.3]
    fs = 1.0 + ((xs - [0.3, 1.5, 0.5]) ** 2).sum(axis=1)
    box = [(0.0, 0.8), (0.5, 3.0), (0.3, 1.0)]
    best = int(np.argmin(fs))
    pool, energies = near_optimal(xs, fs, xs[best], float(fs[best]), box, scored=30, size=25)
    assert len(pool) == 25 and np.array_equal(pool[0], xs[best])
    limit = fs[best] * (1 + np.sqrt(2 / 30))
    assert (energies <= limit).all() and np.allclose(energies, 1.0 + ((pool - [0.3, 1.5, 0.5]) ** 2).sum(axis=1))
    # farthest-point thinning: spread over the near-optimal region, wider than the 25 best points
    unit = (pool - [0.0, 0.5, 0.3]) / [0.8, 2.5, 0.7]
    top = (xs[np.argsort(fs)[:25]] - [0.0, 0.5, 0.3]) / [0.8, 2.5, 0.7]
    assert unit.std(axis=0).sum() > 2 * top.std(axis=0).sum()
    # nothing near-optimal but the best itself: a pool of one
    one, _ = near_optimal(xs[:1], fs[:1], xs[0], float(fs[0]), box, scored=30, size=25)
    assert len(one) == 1

