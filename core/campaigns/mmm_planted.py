"""Planted marketing-mix data: weekly spend and revenue with known adstock, saturation and ROAS.

Used by the tests and bench/campaigns.py to check that fit_mmm recovers what was planted. Every
planted value is returned in `Planted.truth` (channel, theta, alpha, gamma, coef, roas), where
roas = the channel's planted contribution summed over the weeks / its spend over the weeks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.campaigns.mmm_transforms import adstock_geometric, saturation_hill

# name, mean weekly spend, planted ROAS, theta, alpha, gamma, share of weeks with no spend (flights)
CHANNELS: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("search", 12_000.0, 2.4, 0.10, 1.2, 0.50, 0.00),
    ("social", 8_000.0, 1.1, 0.30, 2.0, 0.55, 0.10),
    ("tv", 15_000.0, 0.8, 0.60, 2.5, 0.45, 0.30),
    ("display", 4_000.0, 0.5, 0.20, 1.0, 0.60, 0.15),
    ("email", 2_500.0, 3.0, 0.05, 1.5, 0.40, 0.20),
    ("radio", 5_000.0, 0.9, 0.50, 2.0, 0.50, 0.25),
    ("affiliate", 3_000.0, 1.6, 0.15, 1.3, 0.50, 0.05),
)


@dataclass(frozen=True)
class Planted:
    """The weekly frame (date, one spend column per channel, revenue) and the planted truth."""

    data: pd.DataFrame
    truth: pd.DataFrame
    baseline: np.ndarray


def planted_weekly(weeks: int = 208, n_channels: int = 5, *, seed: int = 0, noise: float = 0.04,
                   start: str = "2022-01-03") -> Planted:
    """`weeks` Monday-dated weeks of spend for the first `n_channels` of CHANNELS and revenue =
    baseline (120,000 a week, +15% linear trend over the period, yearly seasonality of +-8%) +
    sum of coef * hill(adstock(spend)) + Gaussian noise of `noise` x the mean baseline."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=weeks, freq="W-MON")
    t = np.arange(weeks)
    base_level = 120_000.0
    baseline = base_level * (1 + 0.15 * t / max(1, weeks - 1)) * (1 + 0.08 * np.sin(2 * np.pi * t / 52.18 + 0.7))
    data = {"date": dates}
    rows = []
    revenue = baseline.copy()
    for name, mean, roas, theta, alpha, gamma, off in CHANNELS[:n_channels]:
        season = 1 + 0.25 * np.sin(2 * np.pi * t / 52.18 + rng.uniform(0, 2 * np.pi))
        spend = mean * season * rng.gamma(4.0, 0.25, weeks)
        spend[rng.random(weeks) < off] = 0.0
        spend = np.round(spend, 2)
        shape = saturation_hill(adstock_geometric(spend, theta), alpha, gamma)
        coef = roas * spend.sum() / shape.sum()
        revenue += coef * shape
        data[name] = spend
        rows.append((name, theta, alpha, gamma, coef, roas))
    revenue += rng.normal(0, noise * base_level, weeks)
    data["revenue"] = np.round(revenue, 2)
    truth = pd.DataFrame(rows, columns=["channel", "theta", "alpha", "gamma", "coef", "roas"])
    return Planted(pd.DataFrame(data), truth, baseline)
