"""Response curves and the budget allocator of a fitted marketing-mix model (arrays in, arrays out).

Both use the steady state: spending s in every period settles the adstock at s / (1 - theta), so a
channel's modelled revenue per period at spend s is coef * hill(s / (1 - theta); alpha, g). That is
the answer to "what does this channel bring per week if we keep spending s a week", which is what a
budget plan asks; it is not the contribution of any particular past week.

The allocator maximises the summed steady-state revenue over the per-period split with scipy's
SLSQP (the equality constraint keeps the total; per-channel bounds; analytic gradients), started
from the current split and from a few seeded feasible points because S-shaped curves (alpha > 1)
can have several local optima. The current split, when feasible, is a candidate too, so the
recommendation never has lower modelled revenue than keeping things as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from core.campaigns.mmm_transforms import hill, hill_derivative
from core.errors import DataError


@dataclass(frozen=True)
class Curves:
    """Per channel arrays: theta, alpha, inflexion g (adstocked spend units) and coef (target units)."""

    theta: np.ndarray
    alpha: np.ndarray
    inflexion: np.ndarray
    coef: np.ndarray

    def revenue(self, spend: np.ndarray) -> np.ndarray:
        """Steady-state revenue per period of each channel at per-period spend `spend` (C,) or (B, C)."""
        s = np.asarray(spend, dtype=float)
        out = np.empty(s.shape)
        for c in range(len(self.coef)):
            a = s[..., c] / (1.0 - self.theta[c])
            out[..., c] = self.coef[c] * hill(a, float(self.alpha[c]), float(self.inflexion[c]))
        return out

    def marginal(self, spend: np.ndarray) -> np.ndarray:
        """d revenue / d spend per channel (the return of the next unit spent)."""
        s = np.asarray(spend, dtype=float)
        out = np.empty(s.shape)
        for c in range(len(self.coef)):
            a = s[..., c] / (1.0 - self.theta[c])
            out[..., c] = self.coef[c] * hill_derivative(a, float(self.alpha[c]), float(self.inflexion[c])) \
                / (1.0 - self.theta[c])
        return out

    def curve(self, c: int, spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(revenue, marginal return) of channel c at the per-period spend values."""
        a = np.asarray(spend, dtype=float) / (1.0 - self.theta[c])
        alpha, g = float(self.alpha[c]), float(self.inflexion[c])
        return (self.coef[c] * hill(a, alpha, g),
                self.coef[c] * hill_derivative(a, alpha, g) / (1.0 - self.theta[c]))


def allocate(curves: Curves, current: np.ndarray, total: float, low: np.ndarray, high: np.ndarray,
             seed: int = 0, starts: int = 6) -> np.ndarray:
    """The per-period split of `total` within [low, high] that maximises modelled revenue."""
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if lo.sum() > total * (1 + 1e-9) or hi.sum() < total * (1 - 1e-9):
        raise DataError(f"The bounds allow a total between {lo.sum():,.2f} and {hi.sum():,.2f} per period, "
                        f"not {total:,.2f}. Widen the bounds or choose a total in that range.")
    scale = max(float(total), 1e-9)

    def negative(x: np.ndarray) -> float:
        return -float(curves.revenue(x * scale).sum())

    def gradient(x: np.ndarray) -> np.ndarray:
        return -curves.marginal(x * scale) * scale

    rng = np.random.default_rng(seed)
    candidates = [np.clip(current, lo, hi)]
    width = hi - lo
    for _ in range(starts):
        w = rng.dirichlet(np.ones(len(lo)))
        spare = total - lo.sum()
        candidates.append(lo + np.minimum(width, w * spare))
    best = current.astype(float) if _feasible(current, total, lo, hi) else None
    best_value = -negative(best / scale) if best is not None else -np.inf
    box = list(zip(lo / scale, hi / scale))
    constraint = {"type": "eq", "fun": lambda x: float(x.sum() - 1.0), "jac": lambda x: np.ones_like(x)}
    for x0 in candidates:
        res = minimize(negative, x0 / scale, jac=gradient, method="SLSQP", bounds=box, constraints=[constraint],
                       options={"maxiter": 300, "ftol": 1e-12})
        x = _repair(np.asarray(res.x, dtype=float) * scale, total, lo, hi)
        value = float(curves.revenue(x).sum())
        if best is None or value > best_value + 1e-9 * max(1.0, abs(best_value)):  # -inf + inf is nan
            best, best_value = x, value
    if best is None:
        raise DataError("No split within the bounds was found; widen the bounds and try again.")
    return best


def _feasible(x: np.ndarray, total: float, lo: np.ndarray, hi: np.ndarray) -> bool:
    tol = 1e-9 * max(1.0, total)
    return bool(abs(x.sum() - total) <= tol * len(x) and np.all(x >= lo - tol) and np.all(x <= hi + tol))


def _repair(x: np.ndarray, total: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Clip to the bounds and spread any rounding gap over channels with room, so the total is exact."""
    x = np.clip(x, lo, hi)
    for _ in range(5):
        gap = total - x.sum()
        if abs(gap) <= 1e-12 * max(1.0, total):
            break
        room = (hi - x) if gap > 0 else (x - lo)
        if room.sum() <= 0:
            break
        x = np.clip(x + gap * room / room.sum(), lo, hi)
    return x
