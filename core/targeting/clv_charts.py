"""Plotly figures for CLV (pure: data in, figure out; the page decides where to show them).

No template is set, so the app's light or dark theme styles them; colours are a sequential scale and one
neutral grey that read on both. Each figure draws a DataFrame the page can show as a table too:
- p_alive_figure / expected_purchases_figure: the frames of p_alive_matrix / expected_purchases_matrix
  (frequency, recency, value; the classic matrices of Fader, Hardie and Lee, as lifetimes plots them);
- holdout_figure: HoldoutCheck.by_frequency; tracking_figure: HoldoutCheck.tracking;
- top_customers_figure: CustomerValues.top(n).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.targeting.clv_data import UNIT_NAMES
from core.targeting.clv_fit import BetaGeo

GREY = "#888888"
MAX_GRID = 100  # at most this many frequency rows and recency columns


def _unit(unit: str | None) -> str:
    return UNIT_NAMES.get(unit or "", unit or "time units")


def _layout(fig: go.Figure, x: str, y: str, title: str, height: int = 380, **kw: object) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=x, yaxis_title=y,
                      title=title, **kw)
    return fig


def _grid(summary: pd.DataFrame | None, max_frequency: int | None, T: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    if T is None:
        T = float(summary["T"].max()) if summary is not None and len(summary) else 52.0
    if max_frequency is None:
        # the 99.5th percentile keeps one extreme customer from squeezing the interesting rows
        max_frequency = int(np.ceil(summary["frequency"].quantile(0.995))) if summary is not None and len(summary) else 20
    max_frequency = max(1, min(int(max_frequency), MAX_GRID - 1))
    frequency = np.arange(max_frequency + 1)
    recency = np.linspace(0.0, T, min(MAX_GRID, max(2, int(np.ceil(T)) + 1)))
    return frequency, recency, float(T)


def p_alive_matrix(bgnbd: BetaGeo, summary: pd.DataFrame | None = None, *, max_frequency: int | None = None,
                   T: float | None = None) -> pd.DataFrame:
    """P(alive) for a customer of age T (default: the oldest in the summary) on a frequency x recency grid.

    Columns frequency, recency, T, p_alive. Frequency 0 has recency 0 only (no repeat purchase).
    """
    frequency, recency, age = _grid(summary, max_frequency, T)
    f, r = np.meshgrid(frequency, recency, indexing="ij")
    value = bgnbd.p_alive(f, np.where(f > 0, r, 0.0), age)
    value = np.where((f == 0) & (r > 0), np.nan, value)
    return pd.DataFrame({"frequency": f.ravel(), "recency": r.ravel(), "T": age, "p_alive": value.ravel()})


def expected_purchases_matrix(bgnbd: BetaGeo, summary: pd.DataFrame | None = None, *, t: float = 1.0,
                              max_frequency: int | None = None, T: float | None = None) -> pd.DataFrame:
    """Expected purchases in the next t time units on the same grid: frequency, recency, T, t, expected_purchases."""
    frequency, recency, age = _grid(summary, max_frequency, T)
    f, r = np.meshgrid(frequency, recency, indexing="ij")
    value = bgnbd.expected_purchases(t, f, np.where(f > 0, r, 0.0), age)
    value = np.where((f == 0) & (r > 0), np.nan, value)
    return pd.DataFrame({"frequency": f.ravel(), "recency": r.ravel(), "T": age, "t": float(t),
                         "expected_purchases": value.ravel()})


def _heatmap(matrix: pd.DataFrame, value: str, colour_title: str, hover: str, **scale: object) -> go.Heatmap:
    grid = matrix.pivot(index="frequency", columns="recency", values=value)
    return go.Heatmap(z=grid.to_numpy(), x=grid.columns.to_numpy(), y=grid.index.to_numpy(), colorscale="Viridis",
                      colorbar=dict(title=colour_title), hovertemplate=hover, **scale)


def p_alive_figure(matrix: pd.DataFrame, time_unit: str | None = "W") -> go.Figure:
    """Heatmap of P(alive) against recency (x) and frequency (y), for customers of the matrix's age T."""
    unit = _unit(time_unit)
    age = float(matrix["T"].iloc[0]) if len(matrix) else float("nan")
    trace = _heatmap(matrix, "p_alive", "P(alive)",
                     f"recency %{{x:.1f}} {unit}<br>%{{y}} repeat purchases<br>P(alive) %{{z:.1%}}<extra></extra>",
                     zmin=0, zmax=1)
    return _layout(go.Figure(trace), f"recency: time from first to last purchase ({unit})",
                   "frequency: repeat purchase days",
                   f"Probability that a customer is still active (customers {age:.0f} {unit} old)")


def expected_purchases_figure(matrix: pd.DataFrame, time_unit: str | None = "W") -> go.Figure:
    """Heatmap of expected purchases in the next t time units against recency and frequency."""
    unit = _unit(time_unit)
    t = float(matrix["t"].iloc[0]) if len(matrix) else float("nan")
    trace = _heatmap(matrix, "expected_purchases", "purchases",
                     f"recency %{{x:.1f}} {unit}<br>%{{y}} repeat purchases<br>%{{z:.2f}} expected purchases"
                     "<extra></extra>", zmin=0)
    return _layout(go.Figure(trace), f"recency: time from first to last purchase ({unit})",
                   "frequency: repeat purchase days", f"Expected purchases in the next {t:g} {unit}")


def holdout_figure(by_frequency: pd.DataFrame) -> go.Figure:
    """Mean purchases in the hold-out per calibration frequency group: predicted (line) and actual (bars)."""
    fig = go.Figure([
        go.Bar(x=by_frequency["frequency_group"], y=by_frequency["actual"], name="actual",
               customdata=by_frequency["customers"],
               hovertemplate="%{x} repeat purchases before<br>actual %{y:.2f}<br>%{customdata:,} customers"
                             "<extra></extra>"),
        go.Scatter(x=by_frequency["frequency_group"], y=by_frequency["predicted"], name="predicted (BG/NBD)",
                   mode="lines+markers", line=dict(color=GREY, dash="dash"),
                   hovertemplate="%{x} repeat purchases before<br>predicted %{y:.2f}<extra></extra>"),
    ])
    return _layout(fig, "repeat purchase days in the calibration period",
                   "mean purchase days per customer in the hold-out", "Hold-out: predicted vs actual purchases",
                   legend=dict(x=0.01, y=0.99))


def tracking_figure(tracking: pd.DataFrame, time_unit: str | None = "W") -> go.Figure:
    """Cumulative repeat purchase days, predicted vs actual, with the calibration end marked."""
    fig = go.Figure([
        go.Scatter(x=tracking["period_end"], y=tracking["actual_cumulative"], name="actual", mode="lines"),
        go.Scatter(x=tracking["period_end"], y=tracking["predicted_cumulative"], name="predicted (BG/NBD)",
                   mode="lines", line=dict(color=GREY, dash="dash")),
    ])
    calibration = tracking.loc[~tracking["in_holdout"], "period_end"]
    if len(calibration) and tracking["in_holdout"].any():
        # a shape, not add_vline: add_vline's annotation cannot place itself on a date axis
        x = pd.Timestamp(calibration.iloc[-1])
        fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(color=GREY, dash="dot"))
        fig.add_annotation(x=x, y=1, yref="paper", text="calibration end", showarrow=False, yanchor="bottom")
    period = {"D": "day", "W": "week", "M": "30-day period"}.get(time_unit or "", "period")
    return _layout(fig, f"date (end of each {period})", "cumulative repeat purchase days",
                   "Tracking: cumulative repeat purchases", legend=dict(x=0.01, y=0.99))


def top_customers_figure(top: pd.DataFrame, customer: str, *, currency: str = "") -> go.Figure:
    """Horizontal bars of the customers with the highest CLV (CustomerValues.top(n))."""
    labels = top[customer].astype(str)
    fig = go.Figure(go.Bar(
        x=top["clv"], y=labels, orientation="h",
        customdata=np.c_[top["expected_purchases"], top["p_alive"], top["expected_spend"]],
        hovertemplate=(f"{customer} %{{y}}<br>CLV {currency}%{{x:,.2f}}<br>%{{customdata[0]:.1f}} expected purchases"
                       f"<br>P(alive) %{{customdata[1]:.0%}}<br>spend per purchase {currency}%{{customdata[2]:,.2f}}"
                       "<extra></extra>")))
    return _layout(fig, f"customer lifetime value{f' ({currency})' if currency else ''} over the horizon, discounted",
                   customer, "Top customers by CLV", height=max(260, 22 * len(top) + 80),
                   yaxis=dict(autorange="reversed", type="category", title=customer))
