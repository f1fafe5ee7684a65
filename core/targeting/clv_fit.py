"""BG/NBD (purchases, P(alive)) fitted by maximum likelihood with scipy.

Formulas: Fader, Hardie and Lee (2005) "Counting your customers the easy way" (eq. 6, 9, 10) and
Hardie's note 004. The log-likelihood is in log space (gammaln, betaln, logaddexp), so customers with
hundreds of purchases do not overflow; the hypergeometric term of E[X(t) | x, t_x, T] is guarded
(core.targeting.clv_math.hyp2f1_term, Hardie's note 027). The fit uses distinct (frequency, recency, T)
rows with counts, an analytic gradient and L-BFGS-B on log-parameters, with time rescaled internally so
the largest T is 10 (as lifetimes does). Gamma-Gamma is in clv_spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

from core.errors import DataError
from core.targeting.clv_math import _LOG_BOUND, MIN_REPEAT_BUYERS, UNIT_DAYS, _arrays, _minimise, \
    _scalar_or_array, dedupe, hyp2f1_term, periods_per

__all__ = ["BetaGeo", "MIN_REPEAT_BUYERS", "UNIT_DAYS", "bgnbd_log_likelihood", "dedupe", "fit_bgnbd",
           "hyp2f1_term", "periods_per"]

# ---------------------------------------------------------------- BG/NBD log-likelihood

def bgnbd_log_likelihood(params: dict[str, float], frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood ln L(r, alpha, a, b | x, t_x, T) (FHL 2005, eq. 6 in logs)."""
    x, tx, big_t = _arrays(frequency, recency, T)
    return _scalar_or_array(_bgnbd_ll_parts(params["r"], params["alpha"], params["a"], params["b"], x, tx, big_t)[0])


def _bgnbd_ll_parts(r: float, alpha: float, a: float, b: float, x: np.ndarray, tx: np.ndarray,
                    big_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-likelihood per row and the two terms' shares (s2: alive at T, s3: dropped after the last purchase)."""
    repeat = x > 0
    base = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    l2 = special.betaln(a, b + x) - (r + x) * np.log(alpha + big_t)
    l3 = np.where(repeat, special.betaln(a + 1, np.where(repeat, b + x - 1, b)) - (r + x) * np.log(alpha + tx), -np.inf)
    top = np.logaddexp(l2, l3)
    s2 = np.exp(l2 - top)
    s3 = np.where(repeat, np.exp(l3 - top), 0.0)
    return base + top, s2, s3


@dataclass(frozen=True, eq=False)
class _Rows:
    """Fit data as distinct values plus codes: the special functions run on distinct x, T and t_x only."""

    w: np.ndarray
    x: np.ndarray  # per row (float)
    ux: np.ndarray
    xi: np.ndarray
    ut: np.ndarray
    ti: np.ndarray
    utx: np.ndarray
    txi: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, tx: np.ndarray, big_t: np.ndarray, w: np.ndarray) -> "_Rows":
        xi, ux = pd.factorize(x)
        ti, ut = pd.factorize(big_t)
        txi, utx = pd.factorize(tx)
        return cls(w, x, np.asarray(ux, dtype="float64"), xi, np.asarray(ut, dtype="float64"), ti,
                   np.asarray(utx, dtype="float64"), txi)


def _bgnbd_objective(logp: np.ndarray, rows: _Rows, penalizer: float) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood (+ penalizer * sum of squared parameters) and its gradient in log-parameters.

    The same formula as _bgnbd_ll_parts with the analytic derivatives; per distinct x the Gamma/Beta terms,
    per distinct T and t_x the logs, per row only the mixture of the two likelihood terms.
    """
    r, alpha, a, b = np.exp(logp)
    ux, w = rows.ux, rows.w
    rep = ux > 0
    psi = special.digamma
    bx1 = np.where(rep, b + ux - 1, b)
    # per distinct x
    base_x = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    l2_x = special.betaln(a, b + ux)
    l3_x = np.where(rep, special.betaln(a + 1, bx1), -np.inf)
    psi_abx = psi(a + b + ux)
    dr_x = psi(r + ux) - psi(r) + np.log(alpha)
    da2_x, da3_x = psi(a) - psi_abx, psi(a + 1) - psi_abx
    db2_x, db3_x = psi(b + ux) - psi_abx, np.where(rep, psi(bx1) - psi_abx, 0.0)
    da0, db0 = psi(a) - psi(a + b), psi(b) - psi(a + b)
    # per distinct T / t_x
    log_at, log_atx = np.log(alpha + rows.ut), np.log(alpha + rows.utx)
    inv_at, inv_atx = 1.0 / (alpha + rows.ut), 1.0 / (alpha + rows.utx)
    # per row
    xi, ti, txi = rows.xi, rows.ti, rows.txi
    rx = r + rows.x
    l2 = l2_x[xi] - rx * log_at[ti]
    l3 = l3_x[xi] - rx * log_atx[txi]
    top = np.logaddexp(l2, l3)
    s2 = np.exp(l2 - top)
    s3 = 1.0 - s2
    ll = base_x[xi] + top
    total = w.sum()
    ws2, ws3 = w * s2, w * s3
    # sums over rows of w * derivative, grouped by the per-x pieces
    sum_w_x = np.bincount(xi, weights=w, minlength=len(ux))
    sum_s2_x = np.bincount(xi, weights=ws2, minlength=len(ux))
    sum_s3_x = np.bincount(xi, weights=ws3, minlength=len(ux))
    d_r = np.dot(sum_w_x, dr_x) - np.dot(ws2, log_at[ti]) - np.dot(ws3, log_atx[txi])
    d_alpha = (r / alpha * total - np.dot(ws2 * rx, inv_at[ti]) - np.dot(ws3 * rx, inv_atx[txi]))
    d_a = np.dot(sum_s2_x, da2_x) + np.dot(sum_s3_x, da3_x) - total * da0
    d_b = np.dot(sum_s2_x, db2_x) + np.dot(sum_s3_x, db3_x) - total * db0
    params = np.array([r, alpha, a, b])
    value = -float(np.dot(w, ll)) / total + penalizer * float(np.sum(params ** 2))
    grad = -np.array([d_r, d_alpha, d_a, d_b]) / total * params + penalizer * 2 * params ** 2
    return value, grad


# ---------------------------------------------------------------- BG/NBD model

@dataclass(frozen=True, eq=False)
class BetaGeo:
    """A fitted BG/NBD model: purchase rate lambda ~ Gamma(r, alpha), drop-out p ~ Beta(a, b) after each purchase.

    Times are in the summary's unit (`time_unit`, e.g. weeks); alpha is in that unit too.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    n_unique_rows: int = 0
    iterations: int = 0
    converged: bool = True
    penalizer: float = 0.0
    time_unit: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def params(self) -> dict[str, float]:
        """r, alpha, a, b."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))."""
        x, tx, big_t = _arrays(frequency, recency, T)
        return _scalar_or_array(np.exp(-np.logaddexp(0.0, self._log_odds_dead(x, tx, big_t))))

    def _log_odds_dead(self, x: np.ndarray, tx: np.ndarray, big_t: np.ndarray) -> np.ndarray:
        repeat = x > 0
        safe = np.where(repeat, self.b + x - 1, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (np.log(self.a) - np.log(safe)
                    + (self.r + x) * (np.log(self.alpha + big_t) - np.log(self.alpha + tx)))
        return np.where(repeat, odds, -np.inf)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[X(t) | x, t_x, T]: expected purchases in the next t time units of each customer (FHL 2005, eq. 10)."""
        t_, x, tx, big_t = _arrays(t, frequency, recency, T)
        if np.any(t_ < 0):
            raise DataError("The prediction horizon t must not be negative.")
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t_ / (alpha + big_t + t_)
        term = hyp2f1_term(r + x, b + x, a + b + x - 1, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            head = (a + b + x - 1) / (a - 1) * (1.0 - term)
        out = head * np.exp(-np.logaddexp(0.0, self._log_odds_dead(x, tx, big_t)))
        return _scalar_or_array(np.where(t_ == 0, 0.0, out))

    def expected_purchases_unconditional(self, t: Any) -> np.ndarray:
        """E[X(t)] for a new customer over t time units since the first purchase (FHL 2005, eq. 9)."""
        t_ = np.asarray(t, dtype="float64")
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        term = hyp2f1_term(np.full(t_.shape, r), b, a + b - 1, t_ / (alpha + t_))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (a + b - 1) / (a - 1) * (1.0 - term)
        return _scalar_or_array(np.where(t_ == 0, 0.0, out))

    def log_likelihood_of(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Each customer's log-likelihood under these parameters."""
        return bgnbd_log_likelihood(self.params, frequency, recency, T)


def _summary_columns(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(summary, pd.DataFrame):
        raise DataError("The BG/NBD fit needs the customer summary table (customer_summary's result).")
    missing = [c for c in ("frequency", "recency", "T") if c not in summary.columns]
    if missing:
        raise DataError(f"The summary misses column(s) {', '.join(missing)}; build it with customer_summary.")
    if summary.empty:
        raise DataError("The summary has no customers; there is nothing to fit.")
    cols = []
    for c in ("frequency", "recency", "T"):
        v = pd.to_numeric(summary[c], errors="coerce").to_numpy(dtype="float64")
        if not np.isfinite(v).all():
            raise DataError(f"The summary's {c} column has missing or non-numeric values; rebuild the summary.")
        cols.append(v)
    x, tx, big_t = cols
    if (x < 0).any() or (x != np.round(x)).any():
        raise DataError("frequency must be whole numbers >= 0 (repeat purchase days).")
    if (tx < 0).any() or (tx > big_t + 1e-9).any():
        raise DataError("recency must lie between 0 and T for every customer (the last purchase falls "
                        "between the first purchase and the calibration end).")
    if ((x == 0) & (tx > 0)).any():
        raise DataError("Customers with frequency 0 must have recency 0 (no repeat purchase).")
    return x, tx, big_t


def fit_bgnbd(summary: pd.DataFrame, *, penalizer: float = 0.0, time_unit: str | None = None) -> BetaGeo:
    """Fit BG/NBD by maximum likelihood on the summary's frequency, recency and T (unique rows with counts).

    `penalizer` adds penalizer * (r^2 + alpha^2 + a^2 + b^2) to the mean negative log-likelihood (0: none;
    note lifetimes applies its penalty to alpha in rescaled time, so equal values are not equal penalties).
    The time unit is the summary's (attrs["freq"] from customer_summary, or `time_unit`).
    Raises DataError with fewer than 20 repeat buyers or when the optimiser does not converge.
    """
    x, tx, big_t = _summary_columns(summary)
    if int((x > 0).sum()) < MIN_REPEAT_BUYERS:
        raise DataError(f"Only {int((x > 0).sum())} customer(s) bought again; BG/NBD needs at least "
                        f"{MIN_REPEAT_BUYERS} repeat buyers. Use a longer period or more customers.")
    if penalizer < 0:
        raise DataError("The penalizer must be >= 0.")
    keys = pd.DataFrame({"x": x, "tx": tx, "T": big_t})
    grouped = keys.groupby(["x", "tx", "T"], sort=False).size().reset_index(name="w")
    ux, utx, ut, w = (grouped[c].to_numpy(dtype="float64") for c in ("x", "tx", "T", "w"))
    scale = 10.0 / float(ut.max()) if ut.max() > 0 else 1.0
    args = (_Rows.build(ux, utx * scale, ut * scale, w), penalizer)
    with threadpool_limits(1):
        res = _minimise(_bgnbd_objective, np.zeros(4), args)
    r, alpha_scaled, a, b = np.exp(res.x)
    grad_norm = float(np.max(np.abs(res.jac))) if res.jac is not None else np.inf
    if not np.isfinite(res.fun) or grad_norm > 1e-3:
        raise DataError("The BG/NBD fit did not converge (" + str(res.message) + "). The data may not fit the "
                        "model (e.g. almost nobody buys again, or everyone buys every period); try a longer "
                        "calibration period, or a small penalizer such as 0.001.")
    notes = []
    at_bound = [name for name, v in zip(("r", "alpha", "a", "b"), res.x) if abs(v) > _LOG_BOUND - 1e-3]
    if at_bound:
        notes.append(f"Parameter(s) {', '.join(at_bound)} reached the search limit (exp(+-{_LOG_BOUND:.0f})): "
                     "the data barely identify them (e.g. hardly any drop-out).")
    alpha = alpha_scaled / scale
    model = BetaGeo(float(r), float(alpha), float(a), float(b), n_customers=int(w.sum()), n_unique_rows=len(w),
                    iterations=int(res.nit), converged=True, penalizer=float(penalizer),
                    time_unit=time_unit or summary.attrs.get("freq"), notes=tuple(notes))
    ll = float(np.dot(w, bgnbd_log_likelihood(model.params, ux, utx, ut)))
    return BetaGeo(**{**model.__dict__, "log_likelihood": ll})
