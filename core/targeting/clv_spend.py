"""Gamma-Gamma spend model (Fader, Hardie and Lee 2005 "RFM and CLV"; Colombo and Jiang 1999) and CLV.

Spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v) across customers; fitted on repeat buyers by maximum
likelihood (L-BFGS-B on log-parameters, analytic gradient). GammaGamma.clv is lifetimes'
customer_lifetime_value: discounted expected spend over a horizon, with a BG/NBD for the purchases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

from core.errors import DataError
from core.targeting.clv_fit import BetaGeo, _summary_columns
from core.targeting.clv_math import MIN_REPEAT_BUYERS, _arrays, _minimise, _scalar_or_array, periods_per

def gamma_gamma_log_likelihood(params: dict[str, float], frequency: Any, monetary_value: Any) -> np.ndarray:
    """Each repeat buyer's Gamma-Gamma log-likelihood of the mean spend m over x purchases."""
    x, m = _arrays(frequency, monetary_value)
    return _scalar_or_array(_gg_ll(params["p"], params["q"], params["v"], x, m))


def _gg_ll(p: float, q: float, v: float, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    px = p * x
    return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(v)
            + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(v + m * x))


def _gg_objective(logp: np.ndarray, x: np.ndarray, m: np.ndarray, w: np.ndarray, xi: np.ndarray,
                  ux: np.ndarray, const: float) -> tuple[float, np.ndarray]:
    """Mean negative Gamma-Gamma log-likelihood and gradient in log-parameters (per distinct x: the Gamma terms).

    const = sum over rows of w (log m) (the p x log m + p x log x - log m part is folded in per row below).
    """
    p, q, v = np.exp(logp)
    psi = special.digamma
    pux = p * ux
    g_x = special.gammaln(pux + q) - special.gammaln(pux)
    dp_x = ux * (psi(pux + q) - psi(pux))
    dq_x = psi(pux + q)
    log_vmx = np.log(v + m * x)
    total = w.sum()
    sum_w_x = np.bincount(xi, weights=w, minlength=len(ux))
    log_mx = np.log(m * x)
    ll_sum = (np.dot(sum_w_x, g_x) + total * (q * np.log(v) - special.gammaln(q)) - const
              + p * np.dot(w * x, log_mx) - np.dot(w * (p * x + q), log_vmx))
    d_p = np.dot(sum_w_x, dp_x) + np.dot(w * x, log_mx - log_vmx)
    d_q = np.dot(sum_w_x, dq_x) - total * psi(q) + total * np.log(v) - np.dot(w, log_vmx)
    d_v = total * q / v - np.dot(w * (p * x + q), 1.0 / (v + m * x))
    params = np.array([p, q, v])
    grad = -np.array([d_p, d_q, d_v]) / total * params
    return -float(ll_sum) / total, grad


@dataclass(frozen=True, eq=False)
class GammaGamma:
    """A fitted Gamma-Gamma spend model: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v) across customers."""

    p: float
    q: float
    v: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    excluded: int = 0  # customers given but not used (no repeat purchase, or mean spend <= 0 / missing)
    iterations: int = 0
    notes: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, float]:
        """p, q, v (v is gamma in Fader, Hardie and Lee's notation)."""
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per purchase across customers, p v / (q - 1)."""
        return self.p * self.v / (self.q - 1)

    def expected_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[spend per purchase | x, m] = (q-1)/(px+q-1) * p v/(q-1) + px/(px+q-1) * m (population mean at x = 0)."""
        x, m = _arrays(frequency, monetary_value)
        m = np.where(x > 0, np.nan_to_num(m, nan=0.0), 0.0)
        return _scalar_or_array(self.p * (self.v + m * x) / (self.p * x + self.q - 1))

    def clv(self, bgnbd: BetaGeo, summary: pd.DataFrame, *, horizon: int = 12, freq: str = "M",
            discount_rate: float = 0.01, time_unit: str | None = None) -> pd.Series:
        """Discounted value over `horizon` periods of `freq` (default 12 months), as lifetimes computes it.

        For each period i = 1..horizon: (E[X(i f)] - E[X((i-1) f)]) * expected spend / (1 + discount_rate)^i,
        where f = model time units per period (lifetimes' factors: 4.345 weeks or 30 days a month) and
        discount_rate is per period of `freq` (1% a month by default). The model's time unit comes from
        `time_unit`, the summary's attrs["freq"], the BG/NBD fit, or else weeks (customer_summary's default).
        """
        if horizon < 1 or int(horizon) != horizon:
            raise DataError("The CLV horizon must be a whole number of periods >= 1.")
        if discount_rate <= -1:
            raise DataError("The discount rate must be above -100%.")
        x, tx, big_t = _summary_columns(summary)
        if "monetary_value" not in summary.columns:
            raise DataError("The summary misses monetary_value; build it with customer_summary and an amount column.")
        unit = time_unit or summary.attrs.get("freq") or bgnbd.time_unit or "W"
        factor = periods_per(freq, unit)
        spend = self.expected_spend(x, summary["monetary_value"].to_numpy(dtype="float64"))
        total = np.zeros(len(x))
        previous = np.zeros(len(x))
        for i in range(1, int(horizon) + 1):
            cumulative = bgnbd.expected_purchases(i * factor, x, tx, big_t)
            total += spend * (cumulative - previous) / (1 + discount_rate) ** i
            previous = cumulative
        return pd.Series(total, index=summary.index, name="clv")


def fit_gamma_gamma(frequency: Any, monetary_value: Any) -> GammaGamma:
    """Fit Gamma-Gamma on repeat buyers (frequency > 0 and mean spend > 0); the others are counted in .excluded."""
    x, m = _arrays(frequency, monetary_value)
    if x.ndim != 1:
        x, m = x.ravel(), m.ravel()
    use = (x > 0) & np.isfinite(m) & (m > 0)
    n = int(use.sum())
    if n < MIN_REPEAT_BUYERS:
        raise DataError(f"Only {n} repeat buyer(s) with a positive mean spend; Gamma-Gamma needs at least "
                        f"{MIN_REPEAT_BUYERS}. Use a longer period or more customers.")
    xu, mu = x[use], m[use]
    scale = 1.0 / float(np.mean(mu))
    ms = mu * scale
    xi, ux = pd.factorize(xu)
    w = np.ones(len(xu))
    args = (xu, ms, w, xi, np.asarray(ux, dtype="float64"), float(np.sum(np.log(ms))))
    with threadpool_limits(1):
        res = _minimise(_gg_objective, np.zeros(3), args)
    grad_norm = float(np.max(np.abs(res.jac))) if res.jac is not None else np.inf
    if not np.isfinite(res.fun) or grad_norm > 1e-3:
        raise DataError("The Gamma-Gamma fit did not converge (" + str(res.message) + "). Spend may be nearly "
                        "constant or extremely spread; check the amount column.")
    p, q, v_scaled = np.exp(res.x)
    if q <= 1:
        raise DataError(f"The Gamma-Gamma fit gives q = {q:.2f} <= 1: spend is so heavy-tailed that the mean "
                        "spend is not defined. Check for extreme amounts (e.g. wholesale orders) and exclude them.")
    notes: list[str] = []
    if q > 1000:  # nu ~ Gamma(q, v) has a coefficient of variation 1/sqrt(q): customers hardly differ
        notes.append(f"Spend per purchase hardly differs between customers (Gamma-Gamma q = {q:,.0f}): everyone's "
                     "expected spend is close to the average; the customers' own means carry little information.")
    model = GammaGamma(float(p), float(q), float(v_scaled / scale), n_customers=n, excluded=int(len(x) - n),
                       iterations=int(res.nit), notes=tuple(notes))
    ll = float(np.sum(gamma_gamma_log_likelihood(model.params, xu, mu)))
    return GammaGamma(**{**model.__dict__, "log_likelihood": ll})
