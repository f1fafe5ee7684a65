"""Plotly figures for the uplift read-out (pure: data in, figure out).

No template is set, so the app's light or dark theme styles them; the random and perfect lines use a
neutral grey and dashes that read on both. Each figure draws a DataFrame the page can also show as a table:
`qini_figure` the frame of `qini_curve()` (UpliftModel.curve), `decile_figure` that of `uplift_by_decile()`
(UpliftModel.deciles), `importance_figure` UpliftModel.importance, `groups_figure` UpliftModel.groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

GREY = "#888888"


def _layout(fig: go.Figure, x: str, y: str, title: str, height: int = 360, **kw: object) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=x, yaxis_title=y,
                      title=title, **kw)
    return fig


def _empty(fig: go.Figure, frame: pd.DataFrame) -> go.Figure:
    """A note instead of an empty plot when there is nothing to draw."""
    if frame.empty:
        fig.add_annotation(text="nothing to show: too few hold-out rows", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def _unit(outcome_kind: str) -> str:
    return "extra revenue" if outcome_kind == "numeric" else "extra responders"


def qini_figure(curve: pd.DataFrame, qini: float | None = None, *, outcome_kind: str = "binary") -> go.Figure:
    """Qini curve: extra responders (or revenue) from treating the top share ranked by predicted uplift,
    with the random-targeting line and the perfect ranking."""
    model_name = "model" if qini is None or not np.isfinite(qini) else f"model (Qini AUC {qini:.3f})"
    styles: dict[str, dict[str, Any]] = {"model": dict(name=model_name),
              "random": dict(name="random targeting", line=dict(dash="dash", color=GREY)),
              "perfect": dict(name="perfect ranking", line=dict(dash="dot", color=GREY))}
    traces = []
    for line in ("perfect", "model", "random"):
        part = curve[curve["line"] == line] if "line" in curve else curve
        if not part.empty:
            traces.append(go.Scatter(x=part["share"], y=part["incremental"], mode="lines", **styles[line]))
    return _layout(_empty(go.Figure(traces), curve), "share of customers targeted (ranked by predicted uplift)",
                   f"{_unit(outcome_kind)} vs. treating nobody (hold-out)", "Qini curve",
                   xaxis_tickformat=".0%", legend=dict(x=0.01, y=0.99))


def decile_figure(deciles: pd.DataFrame, *, outcome_kind: str = "binary") -> go.Figure:
    """Observed uplift (treated minus control) per decile of predicted uplift, with the predicted mean."""
    pct = outcome_kind != "numeric"
    factor = 100.0 if pct else 1.0
    unit = "points" if pct else "per customer"
    if deciles.empty:
        deciles = pd.DataFrame(columns=["decile", "uplift", "predicted_uplift", "treated", "control"], dtype=float)
    fig = go.Figure([
        go.Bar(x=deciles["decile"], y=deciles["uplift"] * factor, name="observed uplift",
               customdata=np.c_[deciles["treated"], deciles["control"]],
               hovertemplate="decile %{x}<br>observed %{y:.2f}<br>treated %{customdata[0]:,}, "
                             "control %{customdata[1]:,}<extra></extra>"),
        go.Scatter(x=deciles["decile"], y=deciles["predicted_uplift"] * factor, mode="lines+markers",
                   name="predicted uplift", line=dict(color=GREY)),
    ])
    return _layout(_empty(fig, deciles), "decile of predicted uplift (1 = highest)",
                   f"uplift: treated minus control ({unit})", "Uplift by decile (hold-out)",
                   xaxis=dict(tickmode="linear", dtick=1), legend=dict(x=0.7, y=0.99))


def importance_figure(importance: pd.DataFrame, *, outcome_kind: str = "binary", top: int = 15) -> go.Figure:
    """Features that drive the predicted uplift: how far shuffling each one moves it, largest on top."""
    if importance.empty:
        importance = pd.DataFrame(columns=["feature", "importance"])
    t = importance.head(top).iloc[::-1]
    factor = 100.0 if outcome_kind != "numeric" else 1.0
    unit = "points" if outcome_kind != "numeric" else "outcome units"
    fig = go.Figure(go.Bar(x=t["importance"] * factor, y=t["feature"], orientation="h",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    return _layout(_empty(fig, t), f"mean change in predicted uplift when shuffled ({unit})", "feature",
                   "What drives the uplift", height=max(240, 28 * len(t) + 100))


def groups_figure(groups: pd.DataFrame) -> go.Figure:
    """Customers per group (UpliftModel.groups / group_summary()), the explanation on hover."""
    fig = go.Figure(go.Bar(x=groups["group"], y=groups["customers"], customdata=np.c_[groups["share"],
                                                                                       groups["explanation"]],
                           hovertemplate="%{x}: %{y:,} (%{customdata[0]:.0%})<br>%{customdata[1]}<extra></extra>"))
    return _layout(fig, "group (from predicted response if contacted and if not)", "customers",
                   "Persuadables, sure things, lost causes, do-not-disturbs", height=320)
