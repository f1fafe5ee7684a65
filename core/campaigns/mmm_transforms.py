"""Marketing-mix transforms with Robyn's definitions: geometric adstock and Hill saturation.

Adstock carries part of a period's spend into later periods: a_t = x_t + theta * a_{t-1}, so a
steady spend s per period settles at s / (1 - theta). Hill saturation turns the adstocked spend
into a share of the channel's maximum effect: a^alpha / (a^alpha + g^alpha), where g (the
inflexion, the spend level giving half the maximum effect) sits at the gamma-share of the
channel's adstocked range, g = min + gamma * (max - min). alpha > 1 gives an S-curve, alpha <= 1
a curve that bends from the start.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.signal import lfilter

from core.errors import DataError


def _vector(x: Sequence[float] | np.ndarray, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one series of numbers (got {arr.ndim} dimensions).")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} has missing or infinite values; fill them (0 for no spend) and try again.")
    return arr


def adstock_geometric(x: Sequence[float] | np.ndarray, theta: float) -> np.ndarray:
    """Geometric adstock a_t = x_t + theta * a_{t-1} (a_0 = x_0), theta in [0, 1).

    adstock_geometric([100] * 5, 0.5) -> 100, 150, 175, 187.5, 193.75 (Robyn's example).
    """
    arr = _vector(x)
    if not 0.0 <= float(theta) < 1.0:
        raise DataError(f"theta (the share of spend carried to the next period) must be in [0, 1); got {theta}.")
    if theta == 0.0 or arr.size == 0:
        return arr.copy()
    return np.asarray(lfilter([1.0], [1.0, -float(theta)], arr), dtype=float)


def hill(x: np.ndarray, alpha: float, inflexion: float) -> np.ndarray:
    """x^alpha / (x^alpha + inflexion^alpha) with a fixed inflexion (0 where both are 0)."""
    xa = np.power(np.maximum(x, 0.0), alpha)
    den = xa + float(inflexion) ** alpha
    return np.divide(xa, den, out=np.zeros_like(xa, dtype=float), where=den > 0)


def hill_derivative(x: np.ndarray, alpha: float, inflexion: float) -> np.ndarray:
    """d/dx of hill(x, alpha, inflexion): alpha x^(alpha-1) g^alpha / (x^alpha + g^alpha)^2."""
    x = np.maximum(np.asarray(x, dtype=float), 1e-12)
    ga = float(inflexion) ** alpha
    xa = np.power(x, alpha)
    return np.asarray(alpha * np.power(x, alpha - 1.0) * ga / (xa + ga) ** 2, dtype=float)


def inflexion_point(x: np.ndarray, gamma: float) -> float:
    """g = min + gamma * (max - min) of the (adstocked) series: Robyn's gamma as a share of the range."""
    return float(np.min(x) + gamma * (np.max(x) - np.min(x)))


def saturation_hill(x: Sequence[float] | np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """Hill saturation x^alpha / (x^alpha + g^alpha), g = min + gamma * (max - min) of x.

    Hill on (100, 150, 170, 190, 200) with alpha=3, gamma=0.5 -> 0.2286, 0.5, 0.5928, 0.6702, 0.7033.
    """
    arr = _vector(x)
    if alpha <= 0:
        raise DataError(f"alpha (the shape of the saturation curve) must be above 0; got {alpha}.")
    if not 0.0 <= float(gamma) <= 1.0:
        raise DataError(f"gamma (the inflexion as a share of the spend range) must be in [0, 1]; got {gamma}.")
    if arr.size == 0:
        return arr.copy()
    return hill(arr, float(alpha), inflexion_point(arr, float(gamma)))
