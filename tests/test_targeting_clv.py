"""CLV (core.targeting.clv) against independent references.

- Fader, Hardie and Lee (2005) "Counting your customers the easy way": published parameters of the CDNOW
  1/10 sample r, alpha, a, b = 0.243, 4.414, 0.793, 2.426 and E[X(39) | x=2, t_x=30.43, T=38.86] = 1.226;
- the BG/NBD quantities with those parameters by numerical integration over the individual-level model
  (lambda ~ Gamma(r, alpha), p ~ Beta(a, b)), written here without the closed forms;
- the hypergeometric term against mpmath (60 digits, computed once outside the project);
- parameter recovery on data simulated from BG/NBD and Gamma-Gamma with known parameters (seeded);
- lifetimes 0.11.3 (summary_data_from_transaction_data, BetaGeoFitter, GammaGammaFitter,
  customer_lifetime_value) on a hand-made table and on the full CDNOW file (figures as constants).
"""

from __future__ import annotations

import math
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import integrate, stats

from core.errors import DataError
from core.targeting import clv
from core.targeting.clv import BetaGeo, GammaGamma

PUBLISHED = BetaGeo(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW = Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow" / "cdnow_master_transactions.csv"


# ---------------------------------------------------------------- independent BG/NBD by integration

def _integrate(params: BetaGeo, fn) -> float:
    """Double integral of fn(lam, p) over lambda ~ Gamma(r, rate alpha) and p ~ Beta(a, b) (scipy quad)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_norm_lam = r * math.log(alpha) - math.lgamma(r)
    log_norm_p = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)

    def inner(p: float) -> float:
        return integrate.quad(lambda lam: fn(lam, p) * math.exp(log_norm_lam + (r - 1) * math.log(lam) - alpha * lam),
                              0, np.inf, limit=200, epsabs=0, epsrel=1e-9)[0]

    def outer(p: float) -> float:
        return inner(p) * math.exp(log_norm_p + (a - 1) * math.log(p) + (b - 1) * math.log1p(-p))

    return integrate.quad(outer, 0, 1, limit=200, epsabs=0, epsrel=1e-8)[0]


def _alive_likelihood(x: int, T: float):
    return lambda lam, p: (1 - p) ** x * lam ** x * math.exp(-lam * T)


def _likelihood(x: int, tx: float, T: float):
    def f(lam: float, p: float) -> float:
        alive = (1 - p) ** x * lam ** x * math.exp(-lam * T)
        dead = p * (1 - p) ** (x - 1) * lam ** x * math.exp(-lam * tx) if x > 0 else 0.0
        return alive + dead
    return f


def test_published_conditional_expectation_cdnow():
    # Fader, Hardie and Lee (2005), section 5: E[X(39) | x=2, t_x=30.43, T=38.86] = 1.226
    assert PUBLISHED.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


@pytest.mark.parametrize("t, x, tx, T", [(39, 2, 30.43, 38.86), (10, 5, 20.0, 38.86), (52, 10, 35.0, 38.86),
                                         (39, 1, 1.71, 38.86), (1, 3, 5.0, 30.0)])
def test_conditional_expectation_and_p_alive_by_integration(t, x, tx, T):
    # alive at T: X(t) of a customer with (lambda, p) has mean (1 - exp(-lambda p t)) / p
    evidence = _integrate(PUBLISHED, _likelihood(x, tx, T))
    alive = _integrate(PUBLISHED, _alive_likelihood(x, T))
    future = _integrate(PUBLISHED, lambda lam, p: _alive_likelihood(x, T)(lam, p) * -math.expm1(-lam * p * t) / p)
    assert PUBLISHED.p_alive(x, tx, T) == pytest.approx(alive / evidence, rel=1e-6)
    assert PUBLISHED.expected_purchases(t, x, tx, T) == pytest.approx(future / evidence, rel=1e-6)
    assert PUBLISHED.log_likelihood_of(x, tx, T) == pytest.approx(math.log(evidence), abs=1e-6)


def test_unconditional_expectation_by_integration():
    for t in (1.0, 39.0, 78.0):
        ref = _integrate(PUBLISHED, lambda lam, p: -math.expm1(-lam * p * t) / p)
        assert PUBLISHED.expected_purchases_unconditional(t) == pytest.approx(ref, rel=1e-6)


def test_p_alive_without_repeat_is_one_and_horizon_zero_gives_zero():
    assert PUBLISHED.p_alive(0, 0, 38.86) == 1.0
    assert PUBLISHED.expected_purchases(0, 3, 10, 20) == 0.0


def test_log_likelihood_closed_form_term_by_term():
    # FHL (2005) eq. 6 written with math.lgamma (Beta functions from Gammas), no logs-of-sums trick
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426

    def beta(u: float, v: float) -> float:
        return math.exp(math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v))

    for x, tx, T in [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 12.0, 30.0), (25, 36.5, 37.0)]:
        a1 = beta(a, b + x) / beta(a, b) * math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha ** r / (alpha + T) ** (r + x)
        a2 = (beta(a + 1, b + x - 1) / beta(a, b) * math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha ** r
              / (alpha + tx) ** (r + x)) if x > 0 else 0.0
        assert clv.bgnbd_log_likelihood(PUBLISHED.params, x, tx, T) == pytest.approx(math.log(a1 + a2), rel=1e-12)


# mpmath 1.3 with 60 digits: (1-z)^A * hyp2f1(A, B, C, z)
HYP_REFERENCE = [
    (2.243, 4.426, 4.219, 0.4, 1.063786079952545),
    (500.243, 502.426, 502.219, 0.55, 1.1792073389206421),
    (0.243, 2.426, 2.219, 0.97, 1.2452383677432954),
    (80.243, 82.426, 82.219, 0.9, 1.6033396461432714),
    (3.5, 1.2, 1.5, 0.8, 0.46065280055225033),
    (1200.5, 1201.2, 1201.0, 0.6, 1.201064409779589),
    (20.0, 2.5, 3.0, 0.95, 0.07849766222601272),
]


def test_hypergeometric_term_against_mpmath():
    A, B, C, z, ref = (np.array(col) for col in zip(*HYP_REFERENCE))
    got = clv.hyp2f1_term(A, B, C, z)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_expected_purchases_of_heavy_buyers_by_beta_integral():
    # customers with hundreds of purchases, where (alpha+T)^(r+x) and 2F1 overflow (Hardie's note 027).
    # Given alive, lambda | data ~ Gamma(r+x, alpha+T) and p | data ~ Beta(a, b+x), so
    # E[X(t) | alive] = E_p[(1 - ((alpha+T) / (alpha+T+p t))^(r+x)) / p], a one-dimensional integral.
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    T, t = 38.86, 52.0
    for x, tx in [(100, 38.0), (500, 38.5), (2000, 38.8), (5000, 38.86)]:
        beta = stats.beta(a, b + x)
        lo, hi = beta.ppf(1e-14), beta.ppf(1 - 1e-14)
        given_alive = integrate.quad(lambda p: -math.expm1(-(r + x) * math.log1p(p * t / (alpha + T))) / p * beta.pdf(p),
                                     lo, hi, epsabs=0, epsrel=1e-10, limit=400, points=[beta.mean()])[0]
        want = given_alive * PUBLISHED.p_alive(x, tx, T)
        got = PUBLISHED.expected_purchases(t, x, tx, T)
        assert np.isfinite(got) and got == pytest.approx(want, rel=1e-7), x


# ---------------------------------------------------------------- parameter recovery

def _simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int) -> pd.DataFrame:
    """Customers observed for T in [26, 52] weeks: Poisson purchases, drop-out with p after each repeat purchase."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(26, 52, n)
    x = np.zeros(n, dtype=int)
    tx = np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1 / lam[idx])
        bought = now[idx] <= T[idx]
        done = idx[~bought]
        active[done] = False
        buy = idx[bought]
        x[buy] += 1
        tx[buy] = now[buy]
        active[buy[rng.uniform(size=buy.size) < p[buy]]] = False
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


def test_bgnbd_recovers_simulated_parameters():
    true = {"r": 0.5, "alpha": 3.0, "a": 0.8, "b": 3.0}
    summary = _simulate_bgnbd(60_000, **true, seed=7)
    model = clv.fit_bgnbd(summary)
    for name, value in true.items():  # tolerance 15% (60,000 customers; about 3 standard errors for a, b)
        assert model.params[name] == pytest.approx(value, rel=0.15), name
    # the fitted likelihood is at least that of the true parameters
    assert model.log_likelihood >= clv.bgnbd_log_likelihood(true, summary["frequency"], summary["recency"], summary["T"]).sum()


def test_gamma_gamma_recovers_simulated_parameters_and_likelihood_by_integration():
    p, q, v = 6.0, 4.0, 15.0
    rng = np.random.default_rng(3)
    n = 20_000
    nu = rng.gamma(q, 1 / v, n)
    x = rng.poisson(2.0, n) + 1
    m = rng.gamma(p * x, 1 / (x * nu)) / 1.0  # mean of x Gamma(p, nu) spends is Gamma(px, rate x nu)
    model = clv.fit_gamma_gamma(x, m)
    assert model.params == pytest.approx({"p": p, "q": q, "v": v}, rel=0.1)  # tolerance 10%
    # the marginal density of the mean spend, integrated over nu ~ Gamma(q, rate v)
    for xi, mi in [(1, 20.0), (4, 35.5), (9, 12.0)]:
        dens = integrate.quad(lambda u: stats.gamma(p * xi, scale=1 / (xi * u)).pdf(mi) * stats.gamma(q, scale=1 / v).pdf(u),
                              0, np.inf, epsrel=1e-11, limit=200)[0]
        assert clv.gamma_gamma_log_likelihood({"p": p, "q": q, "v": v}, xi, mi) == pytest.approx(math.log(dens), abs=1e-7)


def test_gamma_gamma_expected_spend_is_posterior_mean():
    # Fader, Hardie and Lee (2005) "RFM and CLV", CDNOW sample: p, q, gamma = 6.25, 3.74, 15.44
    model = GammaGamma(6.25, 3.74, 15.44)
    assert model.population_mean_spend == pytest.approx(6.25 * 15.44 / 2.74)
    for x, m in [(1, 10.0), (2, 22.35), (10, 80.0)]:
        # E[p / nu] under the posterior nu | x, m ~ Gamma(p x + q, rate v + x m), by integration
        post = stats.gamma(6.25 * x + 3.74, scale=1 / (15.44 + x * m))
        ref = integrate.quad(lambda u: 6.25 / u * post.pdf(u), 0, np.inf, epsrel=1e-11)[0]
        assert model.expected_spend(x, m) == pytest.approx(ref, rel=1e-8)
    assert model.expected_spend(0, 0.0) == pytest.approx(model.population_mean_spend)


def test_gamma_gamma_counts_excluded_customers():
    rng = np.random.default_rng(0)
    x = np.r_[rng.integers(1, 5, 200), np.zeros(50, dtype=int), np.ones(3, dtype=int)]
    m = np.r_[rng.gamma(5, 6, 200), np.zeros(50), np.zeros(3)]
    model = clv.fit_gamma_gamma(x, m)
    assert model.n_customers == 200 and model.excluded == 53


# ---------------------------------------------------------------- summary conventions (lifetimes)

SMALL = pd.DataFrame(
    [("a", "2024-01-01 09:00", 10.0), ("a", "2024-01-01 18:30", 5.0), ("a", "2024-01-04", 20.0),
     ("a", "2024-01-15", 0.0), ("a", "2024-02-20", 7.5), ("b", "2024-01-10", 50.0),
     ("c", "2024-01-02", 3.0), ("c", "2024-01-09", 4.0), ("c", "2024-01-09 23:59", 6.0), ("c", "2024-01-30", 8.0),
     ("d", "2024-02-01", 12.0), ("d", "2024-02-25", 30.0), ("e", "2024-02-27", 9.0)],
    columns=["cust", "when", "spend"])
SMALL["when"] = pd.to_datetime(SMALL["when"], format="ISO8601")

# lifetimes 0.11.3 summary_data_from_transaction_data(freq="D", freq_multiplier=1 / 7 / 30)
LIFETIMES_SMALL = {
    ("D", None): dict(frequency=[3, 0, 2, 1, 0], recency=[50, 0, 28, 24, 0], T=[57, 48, 56, 26, 0],
                      monetary_value=[9.166666666667, 0, 9, 30, 0]),
    ("D", "2024-02-10"): dict(frequency=[2, 0, 2, 0], recency=[14, 0, 28, 0], T=[40, 31, 39, 9],
                              monetary_value=[10, 0, 9, 0]),
    ("W", None): dict(frequency=[3, 0, 2, 1, 0], recency=[7.142857142857, 0, 4, 3.428571428571, 0],
                      T=[8.142857142857, 6.857142857143, 8, 3.714285714286, 0],
                      monetary_value=[9.166666666667, 0, 9, 30, 0]),
    ("W", "2024-02-10"): dict(frequency=[2, 0, 2, 0], recency=[2, 0, 4, 0],
                              T=[5.714285714286, 4.428571428571, 5.571428571429, 1.285714285714],
                              monetary_value=[10, 0, 9, 0]),
    ("M", None): dict(frequency=[3, 0, 2, 1, 0], recency=[1.666666666667, 0, 0.933333333333, 0.8, 0],
                      T=[1.9, 1.6, 1.866666666667, 0.866666666667, 0], monetary_value=[9.166666666667, 0, 9, 30, 0]),
    ("M", "2024-02-10"): dict(frequency=[2, 0, 2, 0], recency=[0.466666666667, 0, 0.933333333333, 0],
                              T=[1.333333333333, 1.033333333333, 1.3, 0.3], monetary_value=[10, 0, 9, 0]),
}


@pytest.mark.parametrize("freq, end", list(LIFETIMES_SMALL))
def test_summary_matches_lifetimes(freq, end):
    got = clv.customer_summary(SMALL, "cust", "when", "spend", calibration_end=end, freq=freq)
    want = LIFETIMES_SMALL[(freq, end)]
    assert list(got.columns) == ["cust", "frequency", "recency", "T", "monetary_value"]
    assert list(got["cust"]) == list("abcde"[: len(want["frequency"])])
    for col, values in want.items():
        np.testing.assert_allclose(got[col].to_numpy(dtype=float), values, atol=1e-9, err_msg=col)
    assert got.attrs["freq"] == freq
    if end:
        # e (first purchase 2024-02-27) is not in the summary; a, d have purchases after the end
        assert got.attrs["counts"]["customers_first_buying_after_calibration_end"] == 1
        assert got.attrs["counts"]["purchase_days_after_calibration_end"] == 3


def test_summary_counts_and_leaves_out_unusable_rows():
    bad = pd.concat([SMALL, pd.DataFrame({"cust": [None, "a", "b", "c"],
                                          "when": pd.to_datetime(["2024-01-05", None, "2024-01-20", "2024-01-20"]),
                                          "spend": [5.0, 5.0, np.nan, -4.0]})], ignore_index=True)
    got = clv.customer_summary(bad, "cust", "when", "spend", freq="D")
    counts = got.attrs["counts"]
    assert (counts["missing_customer"], counts["missing_date"], counts["missing_amount"], counts["negative_amount"]) == (1, 1, 1, 1)
    assert counts["zero_amount"] == 1 and counts["rows"] == len(bad) and counts["usable"] == len(SMALL)
    np.testing.assert_allclose(got["frequency"], LIFETIMES_SMALL[("D", None)]["frequency"])


def test_summary_text_dates_and_ibis_input_give_the_same():
    want = clv.customer_summary(SMALL, "cust", "when", "spend", calibration_end="2024-02-10")
    text = SMALL.assign(when=SMALL["when"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    pd.testing.assert_frame_equal(clv.customer_summary(text, "cust", "when", "spend", calibration_end="2024-02-10"), want)
    con = ibis.duckdb.connect(threads=1)
    table = con.create_table("tx", SMALL)
    got = clv.customer_summary(table, "cust", "when", "spend", calibration_end="2024-02-10")
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs == want.attrs
    got_text = clv.customer_summary(con.create_table("tx_text", text), "cust", "when", "spend", calibration_end="2024-02-10")
    pd.testing.assert_frame_equal(got_text, want)
    # whole numbers written YYYYMMDD (as in the CDNOW files)
    numbers = SMALL.assign(when=SMALL["when"].dt.strftime("%Y%m%d").astype("int64"))
    pd.testing.assert_frame_equal(clv.customer_summary(numbers, "cust", "when", "spend", calibration_end="2024-02-10"), want)
    with pytest.raises(DataError, match="not dates"):
        clv.customer_summary(SMALL.assign(when=np.arange(len(SMALL))), "cust", "when", "spend")


# ---------------------------------------------------------------- bad input

def test_bad_input_says_what_is_wrong():
    with pytest.raises(DataError, match="empty"):
        clv.customer_summary(SMALL.iloc[:0], "cust", "when", "spend")
    with pytest.raises(DataError, match="not numbers"):
        clv.customer_summary(SMALL.assign(spend=SMALL["spend"].astype(str)), "cust", "when", "spend")
    with pytest.raises(DataError, match="before the first purchase"):
        clv.customer_summary(SMALL, "cust", "when", "spend", calibration_end="2023-12-31")
    with pytest.raises(DataError, match="freq"):
        clv.customer_summary(SMALL, "cust", "when", "spend", freq="Y")
    with pytest.raises(DataError, match="not in the data"):
        clv.customer_summary(SMALL, "customer", "when", "spend")
    with pytest.raises(DataError, match="at least 20 repeat buyers"):
        clv.fit_bgnbd(clv.customer_summary(SMALL, "cust", "when", "spend"))
    with pytest.raises(DataError, match="at least 20"):
        clv.customer_values(SMALL, "cust", "when", "spend")
    with pytest.raises(DataError, match="Gamma-Gamma needs at least 20"):
        clv.fit_gamma_gamma([1, 2, 3], [10.0, 20.0, 5.0])
    with pytest.raises(DataError, match="recency must lie between 0 and T"):
        clv.fit_bgnbd(pd.DataFrame({"frequency": [1] * 30, "recency": [5.0] * 30, "T": [3.0] * 30}))


# ---------------------------------------------------------------- spend check

def test_spend_check_against_numpy_and_messages():
    rng = np.random.default_rng(5)
    n = 5000
    x = rng.integers(1, 20, n)
    m_indep = rng.gamma(5, 8, n)
    m_corr = 5 * x + rng.normal(0, 10, n).clip(-4, None) + 5
    for m in (m_indep, m_corr):
        check = clv.spend_frequency_check(x, m)
        assert check.r == pytest.approx(np.corrcoef(x, m)[0, 1], rel=1e-12) and check.n == n
    assert clv.spend_frequency_check(x, m_indep).level == "independent"
    corr = clv.spend_frequency_check(x, m_corr)
    assert corr.correlated and "correlated (r = " in corr.message and "biased" in corr.message
    # one-time buyers are not part of the check
    assert clv.spend_frequency_check(np.r_[x, [0, 0]], np.r_[m_indep, [0, 0]]).n == n


# ---------------------------------------------------------------- composed entry on simulated transactions

def _transactions(n: int, seed: int) -> pd.DataFrame:
    summary = _simulate_bgnbd(n, 0.6, 4.0, 0.7, 2.5, seed)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for i, (x, tx, T) in enumerate(summary[["frequency", "recency", "T"]].itertuples(index=False)):
        first = start + pd.Timedelta(days=int((52 - T) * 7))
        days = np.sort(rng.choice(np.arange(1, max(int(tx * 7), 1) + 1), size=min(x, max(int(tx * 7), 1)), replace=False)) if x else []
        for d in [0, *days]:
            rows.append((i, first + pd.Timedelta(days=int(d)), float(rng.gamma(4, 10))))
    return pd.DataFrame(rows, columns=["id", "day", "amount"])


def test_customer_values_table_schema_progress_and_top():
    data = _transactions(3000, 11)
    seen: list[tuple[float, str]] = []
    result = clv.customer_values(data, "id", "day", "amount", calibration_end="2024-10-31",
                                 progress=lambda f, msg: seen.append((f, msg)))
    assert list(result.table.columns) == ["id", "frequency", "recency", "T", "monetary_value", "expected_purchases",
                                          "p_alive", "expected_spend", "clv"]
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    t = result.table
    assert ((t.p_alive > 0) & (t.p_alive <= 1)).all() and (t.clv >= 0).all()
    # the fast CLV equals GammaGamma.clv (lifetimes' loop)
    slow = result.gamma_gamma.clv(result.bgnbd, t, horizon=12, freq="M", discount_rate=0.01)
    np.testing.assert_allclose(t.clv, slow, rtol=1e-10)
    np.testing.assert_allclose(t.expected_purchases,
                               result.bgnbd.expected_purchases(12 * 4.345, t["frequency"], t["recency"], t["T"]), rtol=1e-10)
    top = result.top(10)
    assert len(top) == 10 and top.clv.is_monotonic_decreasing and top.clv.iloc[0] == t.clv.max()
    h = result.holdout
    assert h is not None and h.by_frequency["customers"].sum() == len(t) == h.customers
    assert h.actual_total == int(data[data.day > "2024-10-31"].groupby("id").day.nunique().sum())
    # the tracking plot's hold-out part adds up to the same actual purchases
    tr = h.tracking
    assert tr.actual_cumulative.iloc[-1] - tr[~tr.in_holdout].actual_cumulative.iloc[-1] == h.actual_total


def test_clv_discounting_follows_lifetimes():
    model = PUBLISHED
    gg = GammaGamma(6.25, 3.74, 15.44)
    summary = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86],
                            "monetary_value": [22.35, 0.0]})
    summary.attrs["freq"] = "W"
    got = gg.clv(model, summary, horizon=3, freq="M", discount_rate=0.1)
    spend = gg.expected_spend(summary.frequency, summary.monetary_value)
    e = [model.expected_purchases(k * 4.345, summary["frequency"], summary["recency"], summary["T"]) for k in range(4)]
    want = sum(spend * (e[k] - e[k - 1]) / 1.1 ** k for k in range(1, 4))
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---------------------------------------------------------------- full CDNOW against lifetimes

# lifetimes 0.11.3 on the same data (calibration to 1997-09-30, freq="D", freq_multiplier=7, hold-out to 1998-06-30)
LIFETIMES_CDNOW = {"r": 0.251624011424104, "alpha": 4.788945170327031, "a": 0.7234330357288045, "b": 2.1610869813723355}
LIFETIMES_CDNOW_GG = {"p": 6.2753585928372715, "q": 3.6244502103908856, "v": 14.983688961947642}
LIFETIMES_CDNOW_HOLDOUT = (16873.737004341732, 19684)
LIFETIMES_CDNOW_GROUPS_PRED = [0.23085730703559545, 0.5198027232627295, 1.0372464375333916, 1.5791164674621958,
                               2.2669424673269467, 2.8915905924650627, 3.5327335579920858, 6.4685264859916405]
LIFETIMES_CDNOW_GROUPS_ACTUAL = [0.25072597209434094, 0.7841062584421432, 1.4026162790697674, 1.8367158671586716,
                                 2.4512396694214877, 3.0632183908045976, 3.801470588235294, 6.591194968553459]
LIFETIMES_CDNOW_CLV = {1: 8.731188734800675, 3: 16.967261989492773, 7592: 7217.308219146592,
                       14048: 3493.5211150362948, 23570: 13.845996860720925}
LIFETIMES_CDNOW_CLV_SUM = 768044.8554747473
# lifetimes' expected_cumulative_transactions(t=546, freq="D", freq_multiplier=7), weeks 1, 12, 26, 39, 52, 65, 78
LIFETIMES_CDNOW_TRACKING_ACTUAL = [37, 6796, 17142, 24337, 31701, 38357, 44021]
LIFETIMES_CDNOW_TRACKING_PREDICTED = [45.717611, 6051.346313, 16921.185398, 24527.566432, 30879.384614,
                                      36411.083796, 41352.798069]


@pytest.mark.skipif(not CDNOW.exists(), reason="../shared/data/cdnow is not on this machine")
def test_full_cdnow_matches_lifetimes():
    data = pd.read_csv(CDNOW)
    result = clv.customer_values(data, "customer_id", "date", "dollar_value", calibration_end="1997-09-30", freq="W")
    assert result.bgnbd.params == pytest.approx(LIFETIMES_CDNOW, rel=1e-4)
    assert result.gamma_gamma.params == pytest.approx(LIFETIMES_CDNOW_GG, rel=1e-4)
    assert len(result.table) == 23570 and result.counts["zero_amount"] == 80
    h = result.holdout
    assert h.predicted_total == pytest.approx(LIFETIMES_CDNOW_HOLDOUT[0], rel=1e-4)
    assert h.actual_total == LIFETIMES_CDNOW_HOLDOUT[1]
    np.testing.assert_allclose(h.by_frequency.predicted, LIFETIMES_CDNOW_GROUPS_PRED, rtol=1e-4)
    np.testing.assert_allclose(h.by_frequency.actual, LIFETIMES_CDNOW_GROUPS_ACTUAL, rtol=1e-12)
    clv_by_id = result.table.set_index("customer_id")["clv"]
    for cid, value in LIFETIMES_CDNOW_CLV.items():
        assert clv_by_id[cid] == pytest.approx(value, rel=1e-4), cid
    assert clv_by_id.sum() == pytest.approx(LIFETIMES_CDNOW_CLV_SUM, rel=1e-5)
    assert result.spend_check.level == "independent" and result.spend_check.r == pytest.approx(0.0802, abs=1e-4)
    weeks = h.tracking.iloc[[0, 11, 25, 38, 51, 64, 77]]
    assert weeks.actual_cumulative.tolist() == LIFETIMES_CDNOW_TRACKING_ACTUAL
    assert weeks.in_holdout.tolist() == [False] * 4 + [True] * 3
    # lifetimes evaluates E[X(t)] at the end of a week's last day (t = days + 1), this module at the day itself,
    # as the summary counts T to the calibration end day: 0.3% lower at week 39, 0.1% at week 78
    np.testing.assert_allclose(weeks.predicted_cumulative.iloc[3:], LIFETIMES_CDNOW_TRACKING_PREDICTED[3:], rtol=5e-3)
    assert (weeks.predicted_cumulative.to_numpy() < LIFETIMES_CDNOW_TRACKING_PREDICTED).all()


# ---------------------------------------------------------------- gradients and charts

def test_analytic_gradients_match_finite_differences():
    from scipy import optimize

    from core.targeting.clv_fit import _bgnbd_objective, _Rows
    from core.targeting.clv_spend import _gg_objective
    s = _simulate_bgnbd(3000, 0.5, 3.0, 0.8, 3.0, seed=2)
    x, tx, T = (s[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    rows = _Rows.build(x, tx / 5, T / 5, np.ones(len(x)))
    for point in ([0.1, -0.3, 0.2, 0.5], [-1.0, 1.0, -0.5, 1.5]):
        err = optimize.check_grad(lambda p: _bgnbd_objective(p, rows, 0.01)[0],
                                  lambda p: _bgnbd_objective(p, rows, 0.01)[1], np.array(point), epsilon=1e-7)
        assert err < 1e-5
    rng = np.random.default_rng(1)
    xg = rng.integers(1, 6, 500).astype(float)
    mg = rng.gamma(3, 0.5, 500)
    codes, ux = pd.factorize(xg)
    args = (xg, mg, np.ones(500), codes, np.asarray(ux, dtype=float), float(np.log(mg).sum()))
    err = optimize.check_grad(lambda p: _gg_objective(p, *args)[0], lambda p: _gg_objective(p, *args)[1],
                              np.array([0.5, 0.8, 0.1]), epsilon=1e-7)
    assert err < 1e-5
    # the objective equals the mean of the per-customer log-likelihood (written once more, row by row)
    params = dict(zip(("r", "alpha", "a", "b"), np.exp([0.1, -0.3, 0.2, 0.5])))
    want = -clv.bgnbd_log_likelihood(params, x, tx / 5, T / 5).mean()
    assert _bgnbd_objective(np.array([0.1, -0.3, 0.2, 0.5]), rows, 0.0)[0] == pytest.approx(want, rel=1e-12)


def test_charts_have_labelled_axes_and_their_data():
    from core.targeting import clv_charts

    data = _transactions(1500, 4)
    result = clv.customer_values(data, "id", "day", "amount", calibration_end="2024-10-31")
    matrix = clv_charts.p_alive_matrix(result.bgnbd, result.table)
    repeat = matrix[matrix.frequency > 0]
    np.testing.assert_allclose(repeat.p_alive, result.bgnbd.p_alive(repeat.frequency, repeat.recency, repeat["T"]))
    assert matrix.loc[(matrix.frequency == 0) & (matrix.recency > 0), "p_alive"].isna().all()
    expected = clv_charts.expected_purchases_matrix(result.bgnbd, result.table, t=4)
    figures = [clv_charts.p_alive_figure(matrix, "W"), clv_charts.expected_purchases_figure(expected, "W"),
               clv_charts.holdout_figure(result.holdout.by_frequency),
               clv_charts.tracking_figure(result.holdout.tracking, "W"),
               clv_charts.top_customers_figure(result.top(15), "id", currency="$")]
    for fig in figures:
        assert fig.data and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
        # plotly's default (which Streamlit's theme replaces), no white template or background of our own
        assert fig.layout.template == go.Figure().layout.template
        assert fig.layout.paper_bgcolor is None and fig.layout.plot_bgcolor is None
    assert "weeks" in figures[0].layout.xaxis.title.text
    assert len(figures[-1].data[0].y) == 15


def test_ibis_input_leaves_no_temporary_tables():
    con = ibis.duckdb.connect(threads=1)
    data = _transactions(800, 9)
    table = con.create_table("tx", data)
    from_ibis = clv.customer_values(table, "id", "day", "amount", calibration_end="2024-10-31")
    from_pandas = clv.customer_values(data, "id", "day", "amount", calibration_end="2024-10-31")
    pd.testing.assert_frame_equal(from_ibis.table, from_pandas.table)
    assert from_ibis.holdout.actual_total == from_pandas.holdout.actual_total
    assert con.raw_sql("SELECT table_name FROM duckdb_tables()").fetchall() == [("tx",)]


def test_time_unit_only_rescales_alpha():
    data = _transactions(1500, 21)
    week = clv.customer_values(data, "id", "day", "amount", freq="W", holdout=False)
    day = clv.customer_values(data, "id", "day", "amount", freq="D", holdout=False)
    month = clv.customer_values(data, "id", "day", "amount", freq="M", holdout=False)
    for other, days in ((day, 1), (month, 30)):
        for name in ("r", "a", "b"):
            assert other.bgnbd.params[name] == pytest.approx(week.bgnbd.params[name], rel=1e-5)
        assert other.bgnbd.params["alpha"] == pytest.approx(week.bgnbd.params["alpha"] * 7 / days, rel=1e-5)
        np.testing.assert_allclose(other.table.p_alive, week.table.p_alive, rtol=1e-5, atol=1e-9)
    # lifetimes' months: 30 days, but 4.345 weeks (30.4 days), so weekly CLV is slightly larger
    np.testing.assert_allclose(month.table.clv, day.table.clv, rtol=1e-5)
    assert week.table.clv.sum() > day.table.clv.sum()


def test_fit_that_does_not_converge_says_so(monkeypatch):
    from scipy.optimize import OptimizeResult

    import core.targeting.clv_fit as clv_fit
    import core.targeting.clv_spend as clv_spend

    def stuck(fun, start, args):
        return OptimizeResult(x=start, fun=float(fun(start, *args)[0]), jac=np.ones(len(start)), nit=2000,
                              success=False, message="ABNORMAL_TERMINATION_IN_LNSRCH")

    monkeypatch.setattr(clv_fit, "_minimise", stuck)
    monkeypatch.setattr(clv_spend, "_minimise", stuck)
    summary = _simulate_bgnbd(2000, 0.5, 3.0, 0.8, 3.0, seed=1)
    with pytest.raises(DataError, match="BG/NBD fit did not converge .*ABNORMAL"):
        clv.fit_bgnbd(summary)
    with pytest.raises(DataError, match="Gamma-Gamma fit did not converge"):
        clv.fit_gamma_gamma(np.arange(1, 101), np.linspace(5, 50, 100))


def test_term_for_customers_without_repeats_when_a_plus_b_is_below_one():
    """C = a + b - 1 <= 0 (x = 0, a + b < 1: fitted on data with little drop-out) is the analytic
    continuation of 2F1, not its series: against scipy's hyp2f1 (which continues it) and a Monte Carlo
    of the BG process, E[X(t)] = E[(1 - exp(-lambda p t)) / p] for a fresh customer."""
    from scipy.special import hyp2f1

    from core.targeting.clv_math import hyp2f1_term

    rng = np.random.default_rng(1)
    for _ in range(20):
        r, a, z = rng.uniform(0.2, 2), rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6)
        b = rng.uniform(0.05, 0.99 - a)
        got = float(hyp2f1_term(r, b, a + b - 1, z))
        assert got == pytest.approx((1 - z) ** r * hyp2f1(r, b, a + b - 1, z), rel=1e-9, abs=1e-12)
    r, alpha, a, b, T, t = 0.8, 3.0, 0.3, 0.4, 10.0, 20.0
    model = BetaGeo(r=r, alpha=alpha, a=a, b=b)
    expected = float(model.expected_purchases(t, 0, 0, T))
    lam, p = rng.gamma(r, 1 / (alpha + T), 400_000), rng.beta(a, b, 400_000)
    simulated = np.mean(-np.expm1(-lam * p * t) / p)
    assert expected == pytest.approx(simulated, rel=0.01)
    # and CLV over many customers goes through (it raised "needs C > 0" before)
    summary = pd.DataFrame({"frequency": [0, 0, 3], "recency": [0.0, 0.0, 20.0], "T": [30.0, 5.0, 40.0],
                            "monetary_value": [0.0, 0.0, 25.0]})
    values = GammaGamma(p=6.0, q=4.0, v=15.0).clv(model, summary, horizon=12, freq="M", time_unit="W")
    assert np.isfinite(values).all() and (values >= 0).all()


def test_a_fit_that_sees_no_drop_out_says_so():
    """Customers who all keep buying (Poisson purchases all year, nobody leaves): a goes to ~0 and every
    P(alive) to ~1, which the page must not present as a finding about who is still a customer."""
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2024-01-01")
    rows = [(i, start + pd.Timedelta(days=int(d)), 20.0 + rng.gamma(4, 5))
            for i in range(1500) for d in np.unique(rng.integers(0, 365, rng.poisson(6) + 1))]
    data = pd.DataFrame(rows, columns=["id", "day", "amount"])
    result = clv.customer_values(data, "id", "day", "amount", holdout=False)
    assert result.table["p_alive"].mean() >= clv.ALL_ALIVE
    assert any(n.startswith("Almost no customer looks gone") for n in result.notes), result.notes
    churny = clv.customer_values(_transactions(3000, 11), "id", "day", "amount", holdout=False)
    assert churny.table["p_alive"].mean() < clv.ALL_ALIVE
    assert not any(n.startswith("Almost no customer looks gone") for n in churny.notes)
