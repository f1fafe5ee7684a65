"""Test planning: users per arm for a minimum detectable effect, the effect detectable with given
traffic, and how long that takes. Two-sided normal approximation, Bonferroni across treatment arms."""

from __future__ import annotations

import math

from scipy import optimize, stats

from core.errors import DataError


def _variances(baseline: float, delta: float, std: float | None) -> tuple[float, float]:
    if std is None:
        p_c, p_t = baseline, baseline + delta
        if not (0 < p_c < 1):
            raise DataError("A conversion baseline must be a rate between 0 and 1 (e.g. 0.05 for 5%).")
        if not (0 < p_t < 1):
            raise DataError(f"The effect takes the rate to {p_t:.4f}, outside 0..1; pick a smaller effect.")
        return p_c * (1 - p_c), p_t * (1 - p_t)
    if std <= 0:
        raise DataError("The standard deviation must be positive.")
    return std ** 2, std ** 2


def _z(alpha: float, power: float, arms: int) -> float:
    if not (0 < alpha < 1) or not (0 < power < 1):
        raise DataError("alpha and power are probabilities between 0 and 1 (e.g. 0.05 and 0.8).")
    if int(arms) != arms or arms < 2:
        raise DataError("A test has at least 2 arms (control and one variant).")
    a = alpha / (arms - 1)  # Bonferroni: each variant is compared with control
    return stats.norm.ppf(1 - a / 2) + stats.norm.ppf(power)


def sample_size(baseline: float, mde: float, *, relative: bool = True, alpha: float = 0.05, power: float = 0.8,
                std: float | None = None, arms: int = 2) -> int:
    """Users per arm to detect `mde` (relative to the baseline, or absolute) with the given power.

    Binary metric (conversion rate `baseline`) when std is None; otherwise a continuous metric with
    mean `baseline` and standard deviation `std`. n = (z_{1-a/2} + z_{power})^2 (var_C + var_T) / delta^2.
    """
    if mde == 0:
        raise DataError("The minimum detectable effect cannot be 0.")
    delta = baseline * mde if relative else mde
    if delta == 0:
        raise DataError("A relative effect on a baseline of 0 is 0; give the effect as an absolute change.")
    var_c, var_t = _variances(baseline, delta, std)
    z = _z(alpha, power, arms)
    return int(math.ceil(z ** 2 * (var_c + var_t) / delta ** 2))


def detectable_effect(baseline: float, n_per_arm: float, *, relative: bool = True, alpha: float = 0.05,
                      power: float = 0.8, std: float | None = None, arms: int = 2) -> float:
    """The smallest (upward) effect detectable with `n_per_arm` users per arm: relative or absolute."""
    if n_per_arm < 2:
        raise DataError("Give at least 2 users per arm.")
    if relative and baseline == 0:
        raise DataError("A relative effect needs a non-zero baseline; ask for the absolute effect instead.")
    z = _z(alpha, power, arms)

    def gap(delta: float) -> float:
        var_c, var_t = _variances(baseline, delta, std)
        return z * math.sqrt((var_c + var_t) / n_per_arm) - delta

    upper = (1 - baseline) * 0.999999 if std is None else 1e12
    if gap(upper) > 0:
        raise DataError("Even the largest effect cannot be detected with this traffic; add users.")
    delta = optimize.brentq(gap, 1e-12, upper)
    return delta / baseline if relative else delta


def duration_days(n_per_arm: float, arms: int, daily_users: float) -> int:
    """Days to reach `n_per_arm` users in every arm with `daily_users` entering the test per day."""
    if daily_users <= 0:
        raise DataError("Daily users must be positive.")
    if int(arms) != arms or arms < 2:
        raise DataError("A test has at least 2 arms (control and one variant).")
    return int(math.ceil(n_per_arm * arms / daily_users))
