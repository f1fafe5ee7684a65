"""Experiment statistics from sufficient statistics (n, sums, sums of squares), GrowthBook-style.

Pure functions, no data access: the database returns per-arm sums and everything here works on
those. Conventions follow ../shared/notes/statistics.md: Welch t-test with Welch-Satterthwaite
degrees of freedom, variance p(1-p) for 0/1 metrics, delta-method relative lift, delta-method
ratio metrics, pooled-theta CUPED, asymptotic confidence sequences for safe peeking, and a
Gaussian posterior (flat prior) on the relative lift for the Bayesian view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


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


def compare(t: Arm, c: Arm, *, alpha: float = 0.05, ratio: bool = False, cuped: bool = False,
            theta: float | None = None, sequential_tuning: float | None = None) -> Comparison:
    """Treatment vs control: Welch test of the difference, delta-method relative lift, Bayesian view."""
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
    if np.isfinite(rel) and np.isfinite(rel_se):
        chance, loss = _gaussian_decision(rel, rel_se)
    else:  # control mean 0: no relative lift; decide on the absolute difference instead
        chance, loss = _gaussian_decision(d, abs_se)
    z = stats.norm.ppf(1 - alpha / 2)
    return Comparison(mean_t=mt, mean_c=mc, abs_lift=d, abs_se=abs_se, abs_ci=(d - abs_half, d + abs_half),
                      rel_lift=rel, rel_se=rel_se, rel_ci=(rel - rel_half, rel + rel_half),
                      credible=(rel - z * rel_se, rel + z * rel_se), df=df, p_value=p,
                      chance_to_beat=chance, expected_loss=loss, variance_reduction=reduction)


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
