"""Numerics shared by the CLV models: time units, distinct-row codes, the guarded hypergeometric term, the optimiser.

The Gaussian hypergeometric term of the BG/NBD's conditional expectation, (1-z)^(r+x) 2F1(r+x, b+x;
a+b+x-1; z), is what overflows in Hardie's spreadsheet (note 027, "#NUM!"); hyp2f1_term sums it in
Euler's transformed form, whose terms stay small, or in log space (see its docstring).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize

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
    """(1-z)^A 2F1(A, B; C; z) for A, B > 0 and 0 <= z < 1, without the overflow of Hardie's note 027.

    In the BG/NBD A = r+x and B = b+x grow with the customer's purchases, so (1-z)^A underflows while
    2F1(A, B; C; z) overflows (Excel's #NUM!). Euler's transformation turns the product into
    (1-z)^(C-B) 2F1(C-A, C-B; C; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose upper parameters
    stay small, so its series' terms are small and shrink at least like z^k. Where that series would lose
    digits to cancellation (C-A well below 0, i.e. r much larger than a+b-1), the original series is summed
    in log space instead (all its terms are positive). No scipy hyp2f1: its transformations for z > 1/2 were
    off by orders of magnitude on some BG/NBD arguments. Equal argument rows are computed once.
    C <= 0 (customers without a repeat purchase when a + b < 1) goes to _no_repeat_term.
    """
    A, B, C, z = _arrays(A, B, C, z)
    shape = A.shape
    # C <= 0 happens for x = 0 when a + b < 1 (C = a + b - 1): allowed when a = C - B + 1 > 0 (see _no_repeat_term)
    if np.any((z < 0) | (z >= 1)) or np.any((A <= 0) | (B <= 0) | (C - B + 1 <= 0)):
        raise DataError("The hypergeometric term needs A, B > 0, C > B - 1 and 0 <= z < 1.")
    codes, (ua, ub, uc, uz) = dedupe(A.ravel(), B.ravel(), C.ravel(), z.ravel())
    out = np.empty(len(ua))
    low = uc <= 0
    if low.any():
        out[low] = _no_repeat_term(ua[low], ub[low], uc[low], uz[low])
    high = ~low
    ua, ub, uc, uz = ua[high], ub[high], uc[high], uz[high]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        series, biggest = _euler_series(uc - ua, uc - ub, uc, uz, max_terms)
        prefactor = np.exp((uc - ub) * np.log1p(-uz))
        part = prefactor * series
        bad = ~np.isfinite(part) | (prefactor * biggest * 1e-16 * 1e3 > 1e-12) | (part <= 0)
        if bad.any():
            part[bad] = _log_series(ua[bad], ub[bad], uc[bad], uz[bad], max_terms)
    out[high] = part
    return out[codes].reshape(shape)


_JACOBI_POINTS = 64
_NEAR_ZERO_C = 1e-9


def _no_repeat_term(A: np.ndarray, B: np.ndarray, C: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The term for C <= 0, which only a customer without repeat purchases meets (x = 0, a + b < 1).

    Then A = r, B = b, C = a + b - 1, and the series of 2F1 with a lower parameter <= 0 is not the
    function (its analytic continuation is). The BG/NBD gives the expectation it stands for directly:
    for x = 0 the customer is alive, so E[X(t)] = E_p[(1 - (1 + p u)^-r) / p] with p ~ Beta(a, b) and
    u = t / (alpha + T) = z / (1 - z) (Fader, Hardie and Lee 2005, eq. 7 before integrating over p),
    a smooth integrand against the Beta weight, summed by Gauss-Jacobi quadrature. The term is then
    1 - E (a - 1) / C, so that the callers' (C / (a - 1)) (1 - term) is E. C within 1e-9 of 0 is moved
    to -1e-9 (E is continuous there; the term is not defined at C = 0 itself).
    """
    from scipy.special import roots_jacobi

    C = np.where(np.abs(C) < _NEAR_ZERO_C, -_NEAR_ZERO_C, C)
    a, b, r = C - B + 1, B, A
    u = z / (1 - z)
    out = np.empty(len(A))
    for i in range(len(A)):
        # weight (1 - x)^(b - 1) (1 + x)^(a - 1) on [-1, 1], p = (1 + x) / 2
        x, w = roots_jacobi(_JACOBI_POINTS, b[i] - 1, a[i] - 1)
        p = (1 + x) / 2
        h = -np.expm1(-r[i] * np.log1p(p * u[i])) / p
        expectation = float(np.sum(w * h) / np.sum(w))
        out[i] = 1 - expectation * (a[i] - 1) / C[i]
    return out


def _minimise(fun: Any, start: np.ndarray, args: tuple[Any, ...]) -> Any:
    """L-BFGS-B on log-parameters (fun returns value and gradient), then BFGS from there if it did not converge."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    res = optimize.minimize(fun, start, args=args, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9})
    if not res.success:  # one restart from where it stopped, without bounds' line search quirks
        res2 = optimize.minimize(fun, res.x, args=args, jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-7})
        if res2.fun <= res.fun:
            res2.nit += res.nit
            res = res2
    return res
