"""BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend) fitted by maximum likelihood with scipy.

Formulas: Fader, Hardie and Lee (2005) "Counting your customers the easy way" (BG/NBD, eq. 6, 10 and
Hardie's note 004) and Fader, Hardie and Lee (2005) "RFM and CLV" / Colombo and Jiang (1999) (Gamma-Gamma).
Everything is in log space (gammaln, betaln, logaddexp), so customers with hundreds of purchases do not
overflow. The Gaussian hypergeometric term of the conditional expectation, (1-z)^(r+x) 2F1(r+x, b+x;
a+b+x-1; z), is the quantity that overflows in Hardie's spreadsheet (note 027, "#NUM!"): it is computed
here in Pfaff's transformed form 2F1(r+x, a-1; a+b+x-1; -t/(alpha+T)), whose terms stay small, and rows
where scipy's value is not finite or has the wrong sign fall back to a log-space series of the original
form. Fits use unique (frequency, recency, T) rows with counts, an analytic gradient and L-BFGS-B on
log-parameters, with time rescaled internally so the largest T is 10 (as lifetimes does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from core.errors import DataError

TimeUnit = Literal["D", "W", "M"]
UNIT_DAYS: dict[str, int] = {"D": 1, "W": 7, "M": 30}
# Model time units per period of the CLV horizon, as lifetimes' customer_lifetime_value uses them for months
# (W: 4.345 weeks a month, D: 30 days a month); the other pairs follow from these.
_PER_MONTH: dict[str, float] = {"D": 30.0, "W": 4.345, "M": 1.0}
_PER_WEEK: dict[str, float] = {"D": 7.0, "W": 1.0, "M": 1.0 / 4.345}
_PER_DAY: dict[str, float] = {"D": 1.0, "W": 1.0 / 7.0, "M": 1.0 / 30.0}
MIN_REPEAT_BUYERS = 20
_LOG_BOUND = 18.0  # log-parameters stay within exp(+-18) (1.5e-8 .. 6.6e7)


def periods_per(horizon_unit: str, model_unit: str) -> float:
    """Model time units in one period of `horizon_unit` (lifetimes' factors: 4.345 weeks or 30 days a month)."""
    table = {"M": _PER_MONTH, "W": _PER_WEEK, "D": _PER_DAY}
    if horizon_unit not in table or model_unit not in UNIT_DAYS:
        raise DataError(f"Time units must be 'D', 'W' or 'M' (got {horizon_unit!r} and {model_unit!r}).")
    return table[horizon_unit][model_unit]


def _arrays(*values: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype="float64") for v in np.broadcast_arrays(*[np.asarray(v, dtype="float64") for v in values])]


def dedupe(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes of each row's distinct value combination and the distinct rows (hash-based, no sorting of rows)."""
    key = np.zeros(len(columns[0]), dtype="int64")
    for col in columns:
        codes, uniques = pd.factorize(col)
        key = key * len(uniques) + codes
        key = pd.factorize(key)[0].astype("int64")  # keep the mixed-radix key small
    codes, _ = pd.factorize(key)
    first = np.zeros(codes.max() + 1 if len(codes) else 0, dtype="int64")
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return codes, [np.asarray(col)[first] for col in columns]


def _scalar_or_array(value: np.ndarray) -> np.ndarray:
    """Scalars in, a numpy float out (0-d arrays print and compare awkwardly); arrays stay arrays."""
    return value[()] if value.ndim == 0 else value


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


# ---------------------------------------------------------------- hypergeometric term (note 027)

def _euler_series(a1: np.ndarray, b1: np.ndarray, c: np.ndarray, z: np.ndarray,
                  max_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """2F1(a1, b1; c; z) by its power series for 0 <= z < 1, and the largest |term| (for the rounding error).

    NaN where it has not converged within max_terms.
    """
    total = np.ones(a1.shape)
    term = np.ones(a1.shape)
    biggest = np.ones(a1.shape)
    active = z > 0
    for k in range(max_terms):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        ratio = (a1[idx] + k) * (b1[idx] + k) / ((c[idx] + k) * (k + 1.0)) * z[idx]
        term[idx] *= ratio
        total[idx] += term[idx]
        biggest[idx] = np.maximum(biggest[idx], np.abs(term[idx]))
        # converged: the terms shrink and the geometric bound on the tail is below 1e-16 of the largest term
        shrink = np.abs(ratio) < 1
        tail = np.abs(term[idx]) / np.where(shrink, 1 - np.abs(ratio), 1.0)
        active[idx[shrink & (tail <= 1e-16 * np.maximum(np.abs(total[idx]), 1e-300))]] = False
    total[active] = np.nan
    return total, biggest


def _log_series(A: np.ndarray, B: np.ndarray, C: np.ndarray, z: np.ndarray, max_terms: int) -> np.ndarray:
    """(1-z)^A 2F1(A, B; C; z) from the series of the original form in log space (all terms positive)."""
    log_term = A * np.log1p(-z)
    log_sum = log_term.copy()
    active = z > 0
    log_z = np.log(np.where(z > 0, z, 1.0))
    for k in range(max_terms):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        step = np.log((A[idx] + k) * (B[idx] + k) / ((C[idx] + k) * (k + 1.0))) + log_z[idx]
        log_term[idx] += step
        log_sum[idx] = np.logaddexp(log_sum[idx], log_term[idx])
        tail = log_term[idx] - np.log1p(-np.exp(np.minimum(step, -1e-12)))
        active[idx[(step < 0) & (tail - log_sum[idx] < -37)]] = False
    log_sum[active] = np.nan
    return np.exp(log_sum)


def hyp2f1_term(A: Any, B: Any, C: Any, z: Any, *, max_terms: int = 1_000_000) -> np.ndarray:
    """(1-z)^A 2F1(A, B; C; z) for A, B, C > 0 and 0 <= z < 1, without the overflow of Hardie's note 027.

    In the BG/NBD A = r+x and B = b+x grow with the customer's purchases, so (1-z)^A underflows while
    2F1(A, B; C; z) overflows (Excel's #NUM!). Euler's transformation turns the product into
    (1-z)^(C-B) 2F1(C-A, C-B; C; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose upper parameters
    stay small, so its series' terms are small and shrink at least like z^k. Where that series would lose
    digits to cancellation (C-A well below 0, i.e. r much larger than a+b-1), the original series is summed
    in log space instead (all its terms are positive). No scipy hyp2f1: its transformations for z > 1/2 were
    off by orders of magnitude on some BG/NBD arguments. Equal argument rows are computed once.
    """
    A, B, C, z = _arrays(A, B, C, z)
    shape = A.shape
    if np.any((z < 0) | (z >= 1)) or np.any((A <= 0) | (B <= 0) | (C <= 0)):
        raise DataError("The hypergeometric term needs A, B, C > 0 and 0 <= z < 1.")
    codes, (ua, ub, uc, uz) = dedupe(A.ravel(), B.ravel(), C.ravel(), z.ravel())
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        series, biggest = _euler_series(uc - ua, uc - ub, uc, uz, max_terms)
        prefactor = np.exp((uc - ub) * np.log1p(-uz))
        out = prefactor * series
        bad = ~np.isfinite(out) | (prefactor * biggest * 1e-16 * 1e3 > 1e-12) | (out <= 0)
        if bad.any():
            out[bad] = _log_series(ua[bad], ub[bad], uc[bad], uz[bad], max_terms)
    return out[codes].reshape(shape)


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


def _minimise(fun: Any, start: np.ndarray, args: tuple[Any, ...]) -> Any:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    res = optimize.minimize(fun, start, args=args, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9})
    if not res.success:  # one restart from where it stopped, without bounds' line search quirks
        res2 = optimize.minimize(fun, res.x, args=args, jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-7})
        if res2.fun <= res.fun:
            res2.nit += res.nit
            res = res2
    return res


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


# ---------------------------------------------------------------- Gamma-Gamma

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
    model = GammaGamma(float(p), float(q), float(v_scaled / scale), n_customers=n, excluded=int(len(x) - n),
                       iterations=int(res.nit))
    ll = float(np.sum(gamma_gamma_log_likelihood(model.params, xu, mu)))
    return GammaGamma(**{**model.__dict__, "log_likelihood": ll})
