"""Experiment statistics from sufficient statistics (n, sums, sums of squares), GrowthBook-style.

Pure functions, no data access: the database returns per-arm sums and everything here works on
those. Conventions follow ../shared/notes/statistics.md: Welch t-test with Welch-Satterthwaite
degrees of freedom, variance p(1-p) for 0/1 metrics, delta-method relative lift, delta-method
ratio metrics, pooled-theta CUPED, asymptotic confidence sequences for safe peeking, and a
Bayesian view that agrees with the test: Beta posteriors per arm for 0/1 metrics, a Gaussian
posterior of the difference for means (GrowthBook's Gaussian on the relative lift on request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special, stats


@dataclass
class Arm:
    """One arm's sufficient statistics for one metric (means and variances derived on demand)."""

    n: float
    sum: float
    sum_sq: float
    binary: bool = False
    x_sum: float = 0.0  # pre-period covariate (CUPED)
    x_sum_sq: float = 0.0
    xy_sum: float = 0.0
    d_sum: float = 0.0  # ratio metric denominator
    d_sum_sq: float = 0.0
    md_sum: float = 0.0

    @property
    def mean(self) -> float:
        return self.sum / self.n

    @property
    def var(self) -> float:
        """Per-user variance: p(1-p) for 0/1 metrics, the sample variance (n-1) otherwise."""
        if self.binary:
            p = self.mean
            return max(p * (1 - p), 0.0)
        if self.n < 2:
            return float("nan")
        return max((self.sum_sq - self.sum ** 2 / self.n) / (self.n - 1), 0.0)

    @property
    def x_mean(self) -> float:
        return self.x_sum / self.n

    @property
    def x_var(self) -> float:
        return max((self.x_sum_sq - self.x_sum ** 2 / self.n) / (self.n - 1), 0.0)

    @property
    def xy_cov(self) -> float:
        return (self.xy_sum - self.sum * self.x_sum / self.n) / (self.n - 1)

    # ratio metrics: M / D with M = the metric, D = the denominator
    @property
    def d_mean(self) -> float:
        return self.d_sum / self.n

    @property
    def d_var(self) -> float:
        return max((self.d_sum_sq - self.d_sum ** 2 / self.n) / (self.n - 1), 0.0)

    @property
    def md_cov(self) -> float:
        return (self.md_sum - self.sum * self.d_sum / self.n) / (self.n - 1)

    @property
    def ratio(self) -> float:
        return self.sum / self.d_sum

    @property
    def ratio_var_of_mean(self) -> float:
        """Delta-method variance of the ratio of means M/D (already divided by n)."""
        m, d = self.mean, self.d_mean
        return (self.var / d ** 2 + m ** 2 * self.d_var / d ** 4 - 2 * m * self.md_cov / d ** 3) / self.n


@dataclass
class Comparison:
    """One treatment arm against control for one metric."""

    mean_t: float
    mean_c: float
    abs_lift: float
    abs_se: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_se: float
    rel_ci: tuple[float, float]
    credible: tuple[float, float]  # Bayesian (flat prior, Gaussian) interval of the relative lift
    df: float
    p_value: float
    chance_to_beat: float
    expected_loss: float
    variance_reduction: float = 0.0


def welch_df(v_t: float, n_t: float, v_c: float, n_c: float) -> float:
    """Welch-Satterthwaite degrees of freedom from per-user variances and sizes."""
    a, b = v_t / n_t, v_c / n_c
    denom = (a ** 2 / (n_t - 1) if n_t > 1 else 0) + (b ** 2 / (n_c - 1) if n_c > 1 else 0)
    return (a + b) ** 2 / denom if denom > 0 else float("inf")


def confidence_sequence_factor(n_total: float, tuning: float, alpha: float) -> float:
    """Half-width multiplier (per unit of SE) of the asymptotic confidence sequence (Waudby-Smith et al.).

    Half-width = SE * sqrt(N) * sqrt(2 (N rho^2 + 1) / (N^2 rho^2) * ln(sqrt(N rho^2 + 1) / alpha)),
    rho = sqrt((-2 ln(alpha) + ln(1 - 2 ln(alpha))) / N*), N* = the tuning (expected total users).
    """
    rho = math.sqrt((-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning)
    n = n_total
    return math.sqrt(n) * math.sqrt(2 * (n * rho ** 2 + 1) / (n ** 2 * rho ** 2) * math.log(math.sqrt(n * rho ** 2 + 1) / alpha))


def _gaussian_decision(rel: float, rel_se: float) -> tuple[float, float]:
    """Chance to beat control and expected loss (relative units) under a Gaussian posterior, flat prior."""
    if not np.isfinite(rel) or not np.isfinite(rel_se):
        return (float("nan"), float("nan"))
    if rel_se == 0:  # no uncertainty left: the outcome is certain
        return (1.0 if rel > 0 else 0.0 if rel < 0 else 0.5, max(0.0, -rel))
    z = rel / rel_se
    chance = float(stats.norm.cdf(z))
    loss = float(rel_se * stats.norm.pdf(z) - rel * stats.norm.cdf(-z))  # E[max(0, -lift)]
    return chance, loss


# ----------------------------------------------------------------------------- Bayesian view
BayesMethod = Literal["auto", "gaussian_relative", "none"]
"""How chance to beat control, expected loss and the credible interval are computed.

- "auto" (default): for 0/1 metrics the Beta posterior of each arm's rate (uniform Beta(1, 1) prior),
  computed by numerical integration; for means, ratios and CUPED the Gaussian posterior of the
  (adjusted) difference, flat prior. Both agree with the Welch test in direction and strength
  (chance = 1 - p/2 on large samples).
- "gaussian_relative": GrowthBook's flat-prior Gaussian on the delta-method relative lift (its
  published numbers, statistics.md reference 5). With few conversions in the control the relative
  standard error explodes and this view can say 90% while the test says p = 0.003.
- "none": skip it (NaN), for callers that only need the test (timelines, simulations).
"""
BETA_PRIOR = (1.0, 1.0)
_GRID = 1501  # integration points per arm (trapezoid on the union of both arms' grids)
_TAIL = 1e-12  # the grids cover each posterior from this quantile to 1 minus it


@dataclass(frozen=True)
class Decision:
    """Bayesian read-out of one comparison: chance the variant beats control, expected loss (as a
    share of the control's value, like the relative lift), and the credible interval of the relative lift."""

    chance_to_beat: float
    expected_loss: float
    credible: tuple[float, float]
    method: str


@dataclass(frozen=True)
class _Beta:
    """A Beta(a, b) posterior with the few functions the integrals need (scipy.special, vectorised)."""

    a: float
    b: float

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            logf = (self.a - 1) * np.log(x) + (self.b - 1) * np.log1p(-x) - special.betaln(self.a, self.b)
        return np.where((x > 0) & (x < 1), np.exp(logf), 0.0)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return special.betainc(self.a, self.b, np.clip(x, 0.0, 1.0))

    def grid(self) -> np.ndarray:
        lo, hi = special.betaincinv(self.a, self.b, _TAIL), special.betaincinv(self.a, self.b, 1 - _TAIL)
        return np.linspace(lo, hi, _GRID)

    def log_moments(self) -> tuple[float, float]:
        """Mean and variance of log(X) (for a starting bracket of the ratio's quantiles)."""
        return (float(special.digamma(self.a) - special.digamma(self.a + self.b)),
                float(special.polygamma(1, self.a) - special.polygamma(1, self.a + self.b)))


def beta_decision(conv_t: float, n_t: float, conv_c: float, n_c: float, *, alpha: float = 0.05,
                  prior: tuple[float, float] = BETA_PRIOR) -> Decision:
    """Chance to beat control, expected relative loss and credible interval of the relative lift
    from Beta posteriors of two conversion rates (independent arms; prior Beta(a, b), uniform by default).

    P(T > C) = integral of f_C(x) * S_T(x) dx; E[max(0, 1 - T/C)] = integral of
    f_C(x) * (F_T(x) - E[T]/x * F_T+(x)) dx with T+ ~ Beta(a_T + 1, b_T) (since t * f_T(t) = E[T] f_T+(t));
    the relative lift T/C - 1 has CDF P(T <= r C) = integral of f_C(x) F_T(r x) dx, inverted by root finding.
    Integrals use the trapezoid rule on a grid dense over both posteriors.
    """
    a0, b0 = prior
    post_t = _Beta(conv_t + a0, n_t - conv_t + b0)
    post_c = _Beta(conv_c + a0, n_c - conv_c + b0)
    plus_t = _Beta(conv_t + a0 + 1, n_t - conv_t + b0)
    grid_t, grid_c = post_t.grid(), post_c.grid()
    x = np.unique(np.concatenate([grid_c, grid_t]))
    fc = post_c.pdf(x)
    chance = float(np.clip(np.trapezoid(fc * (1 - post_t.cdf(x)), x), 0.0, 1.0))
    inner = post_t.cdf(x) - post_t.mean / np.maximum(x, 1e-300) * plus_t.cdf(x)
    loss = float(max(np.trapezoid(fc * np.maximum(inner, 0.0), x), 0.0))
    fxc = post_c.pdf(grid_c)

    def rel_cdf(r: float) -> float:  # P(T / C - 1 <= r), integrated over the control's posterior
        extra = grid_t / (1 + r)
        extra = extra[(extra > grid_c[0]) & (extra < grid_c[-1])]
        if extra.size:
            xs = np.concatenate([grid_c, extra])
            order = np.argsort(xs)
            xs = xs[order]
            fs = np.concatenate([fxc, post_c.pdf(extra)])[order]
        else:
            xs, fs = grid_c, fxc
        return float(np.trapezoid(fs * post_t.cdf((1 + r) * xs), xs))

    (mt, vt), (mc, vc) = post_t.log_moments(), post_c.log_moments()
    centre, spread = mt - mc, math.sqrt(vt + vc)
    q = alpha / 2
    bounds = []
    for target in (q, 1 - q):
        guess = centre + stats.norm.ppf(target) * spread
        lo_log, hi_log = guess - 2 * spread, guess + 2 * spread
        for _ in range(20):  # widen until the bracket holds the quantile (rarely needed)
            if rel_cdf(math.expm1(lo_log)) <= target:
                break
            lo_log -= 2 * spread
        for _ in range(20):
            if rel_cdf(math.expm1(hi_log)) >= target:
                break
            hi_log += 2 * spread
        try:
            bounds.append(optimize.brentq(lambda u: rel_cdf(math.expm1(u)) - target, lo_log, hi_log,
                                          xtol=1e-9, rtol=1e-9))
        except ValueError:
            bounds.append(float("nan"))
    low, high = (math.expm1(b) if np.isfinite(b) else float("nan") for b in bounds)
    return Decision(chance, loss, (float(low), float(high)), "beta")


def gaussian_decision(lift: float, se: float, *, scale: float = 1.0, alpha: float = 0.05,
                      rel_lift: float = float("nan"), rel_se: float = float("nan"),
                      method: str = "gaussian_difference") -> Decision:
    """Gaussian posterior (flat prior) of `lift` with standard error `se`: chance it is above 0 and
    E[max(0, -lift)] / `scale` (scale = |control mean| expresses the loss as a share of control).
    The credible interval is the Gaussian one of the relative lift (`rel_lift`, `rel_se`)."""
    chance, loss = _gaussian_decision(lift, se)
    z = stats.norm.ppf(1 - alpha / 2)
    credible = (rel_lift - z * rel_se, rel_lift + z * rel_se)
    if scale and np.isfinite(scale) and scale != 0:
        loss = loss / abs(scale)
    return Decision(chance, loss, credible, method)


def compare(t: Arm, c: Arm, *, alpha: float = 0.05, ratio: bool = False, cuped: bool = False,
            theta: float | None = None, sequential_tuning: float | None = None,
            bayes: BayesMethod = "auto") -> Comparison:
    """Treatment vs control: Welch test of the difference, delta-method relative lift, Bayesian view
    (see `BayesMethod`: Beta posteriors for 0/1 metrics, Gaussian on the difference otherwise)."""
    reduction = 0.0
    if ratio:
        mt, mc = t.ratio, c.ratio
        vt_n, vc_n = t.ratio_var_of_mean, c.ratio_var_of_mean  # variances of the arm means
        d = mt - mc
        abs_var = vt_n + vc_n
        rel = d / abs(mc) if mc != 0 else float("nan")
        rel_var = vt_n / mc ** 2 + vc_n * mt ** 2 / mc ** 4 if mc != 0 else float("nan")
        df = welch_df(vt_n * t.n, t.n, vc_n * c.n, c.n)
    elif cuped:
        th = theta if theta is not None else 0.0
        mt, mc = t.mean, c.mean
        adj_t, adj_c = t.mean - th * t.x_mean, c.mean - th * c.x_mean
        s2t = max(t.var + th ** 2 * t.x_var - 2 * th * t.xy_cov, 0.0)
        s2c = max(c.var + th ** 2 * c.x_var - 2 * th * c.xy_cov, 0.0)
        d = adj_t - adj_c
        abs_var = s2t / t.n + s2c / c.n
        raw_var = t.var / t.n + c.var / c.n
        reduction = 1 - abs_var / raw_var if raw_var > 0 else 0.0
        rel = d / abs(mc) if mc != 0 else float("nan")
        rel_var = (s2t / (t.n * mc ** 2)
                   + (c.var * mt ** 2 / mc ** 2 - 2 * th * c.xy_cov * mt / mc + th ** 2 * c.x_var) / (c.n * mc ** 2)
                   ) if mc != 0 else float("nan")
        df = welch_df(s2t, t.n, s2c, c.n)
    else:
        mt, mc = t.mean, c.mean
        d = mt - mc
        abs_var = t.var / t.n + c.var / c.n
        rel = d / abs(mc) if mc != 0 else float("nan")
        rel_var = t.var / (t.n * mc ** 2) + c.var * mt ** 2 / (c.n * mc ** 4) if mc != 0 else float("nan")
        df = welch_df(t.var, t.n, c.var, c.n)
    abs_se, rel_se = math.sqrt(max(abs_var, 0.0)), math.sqrt(max(rel_var, 0.0)) if np.isfinite(rel_var) else float("nan")
    if sequential_tuning is not None:
        # always-valid intervals: the confidence-sequence half-width replaces the t quantile
        k = confidence_sequence_factor(t.n + c.n, float(sequential_tuning), alpha)
        abs_half, rel_half = k * abs_se, k * rel_se
        # the p-value that matches the interval: the largest alpha whose sequence still excludes 0
        p = _sequential_p(abs(d) / abs_se if abs_se > 0 else float("inf"), t.n + c.n, float(sequential_tuning))
    else:
        q = stats.t.ppf(1 - alpha / 2, df)
        abs_half, rel_half = q * abs_se, q * rel_se
        p = float(2 * stats.t.sf(abs(d) / abs_se, df)) if abs_se > 0 else (0.0 if d != 0 else 1.0)
    decision = bayesian_view(t, c, d=d, abs_se=abs_se, rel=rel, rel_se=rel_se, mc=mc, alpha=alpha,
                             plain=not (ratio or cuped), bayes=bayes)
    return Comparison(mean_t=mt, mean_c=mc, abs_lift=d, abs_se=abs_se, abs_ci=(d - abs_half, d + abs_half),
                      rel_lift=rel, rel_se=rel_se, rel_ci=(rel - rel_half, rel + rel_half),
                      credible=decision.credible, df=df, p_value=p,
                      chance_to_beat=decision.chance_to_beat, expected_loss=decision.expected_loss,
                      variance_reduction=reduction)


def bayesian_view(t: Arm, c: Arm, *, d: float, abs_se: float, rel: float, rel_se: float, mc: float, alpha: float,
                  plain: bool, bayes: BayesMethod) -> Decision:
    """The Bayesian read-out for `compare` (method chosen as `BayesMethod` describes)."""
    if bayes not in ("auto", "gaussian_relative", "none"):
        raise ValueError(f"bayes must be 'auto', 'gaussian_relative' or 'none', not {bayes!r}")
    if bayes == "none":
        nan = float("nan")
        return Decision(nan, nan, (nan, nan), "none")
    relative_ok = bool(np.isfinite(rel) and np.isfinite(rel_se))
    if bayes == "gaussian_relative" and relative_ok:
        return gaussian_decision(rel, rel_se, alpha=alpha, rel_lift=rel, rel_se=rel_se, method="gaussian_relative")
    if bayes == "auto" and plain and t.binary and c.binary and relative_ok:
        return beta_decision(t.sum, t.n, c.sum, c.n, alpha=alpha)
    # means, ratios, CUPED (and a control at 0, where there is no relative lift): the difference
    return gaussian_decision(d, abs_se, scale=abs(mc) if mc != 0 else 1.0, alpha=alpha,
                             rel_lift=rel, rel_se=rel_se)


def _sequential_p(z: float, n_total: float, tuning: float) -> float:
    """Smallest alpha at which the confidence sequence excludes zero (1 when it never does)."""
    if not np.isfinite(z):
        return 0.0

    def excludes(alpha: float) -> bool:
        return confidence_sequence_factor(n_total, tuning, alpha) < z

    lo, hi = 1e-12, 0.999
    if not excludes(hi):
        return 1.0
    if excludes(lo):
        return lo
    for _ in range(80):  # bisection on log alpha
        mid = math.sqrt(lo * hi)
        if excludes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def pooled_theta(arms: list[Arm]) -> float:
    """CUPED theta = Cov(Y, X) / Var(X), pooled over all arms."""
    n = sum(a.n for a in arms)
    sy, sx = sum(a.sum for a in arms), sum(a.x_sum for a in arms)
    sxx, sxy = sum(a.x_sum_sq for a in arms), sum(a.xy_sum for a in arms)
    var_x = (sxx - sx ** 2 / n) / (n - 1)
    cov = (sxy - sy * sx / n) / (n - 1)
    return cov / var_x if var_x > 0 else 0.0


def srm_p_value(counts: list[float], weights: list[float] | None = None) -> float:
    """Sample ratio mismatch: chi-square goodness of fit of the arm sizes to the expected split."""
    obs = np.asarray(counts, dtype="float64")
    w = np.ones_like(obs) if weights is None else np.asarray(weights, dtype="float64")
    keep = w > 0
    obs, w = obs[keep], w[keep]
    if len(obs) < 2 or obs.sum() <= 0:
        return 1.0
    expected = obs.sum() * w / w.sum()
    return float(stats.chisquare(obs, expected).pvalue)


def holm_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order (the same algorithm and numbers as
    statsmodels' ``multipletests(p, method="holm")``, which tests/test_experiments.py compares).

    Own code rather than statsmodels' only because that branch of ``multipletests`` calls
    ``gc.collect()`` on every call: 0.15-0.3 s in the app's server process (a large heap), paid by
    every read-out; the other corrections still come from statsmodels.
    """
    p = np.asarray(p_values, dtype="float64")
    order = np.argsort(p)
    ranked = p[order] * np.arange(len(p), 0, -1)
    adjusted_sorted = np.minimum(np.maximum.accumulate(ranked), 1.0)
    adjusted = np.empty_like(adjusted_sorted)
    adjusted[order] = adjusted_sorted
    return adjusted
