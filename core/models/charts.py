"""Plotly figures for model evaluation (pure: data in, figure out). No template: the app theme styles them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

GREY = "#888888"


def _layout(fig: go.Figure, x: str, y: str, height: int = 340, **kw: object) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=x, yaxis_title=y, **kw)
    return fig


def roc_figure(roc: pd.DataFrame, auc: float) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=roc["false_positive_rate"], y=roc["true_positive_rate"], mode="lines", name=f"model (AUC {auc:.3f})"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GREY), name="random (AUC 0.5)"),
    ])
    return _layout(fig, "false positive rate (share of non-buyers flagged)", "true positive rate (share of buyers found)",
                   title="ROC curve", legend=dict(x=0.45, y=0.05))


def pr_figure(pr: pd.DataFrame, base_rate: float, ap: float) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name=f"model (PR AUC {ap:.3f})"),
        go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", line=dict(dash="dash", color=GREY),
                   name=f"random ({base_rate:.1%})"),
    ])
    return _layout(fig, "recall (share of buyers found)", "precision (share of flagged who buy)",
                   title="Precision-recall curve", yaxis_range=[0, 1.02])


def calibration_figure(cal: pd.DataFrame) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=cal["mean_predicted"], y=cal["observed_rate"], mode="lines+markers", name="model"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GREY), name="perfectly calibrated"),
    ])
    return _layout(fig, "predicted probability (mean per tenth of customers)", "observed rate",
                   title="Calibration", xaxis_tickformat=".0%", yaxis_tickformat=".0%")


def gains_figure(lift: pd.DataFrame) -> go.Figure:
    """Cumulative gains: % of customers targeted (by score) vs % of responders captured."""
    total = lift["customers"].sum()
    x = np.concatenate([[0], lift["customers"].cumsum() / total])
    y = np.concatenate([[0], lift["cumulative_capture"]])
    fig = go.Figure([
        go.Scatter(x=x, y=y, mode="lines+markers", name="model",
                   hovertemplate="target top %{x:.0%}: capture %{y:.0%}<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GREY), name="random targeting"),
    ])
    return _layout(fig, "customers targeted (highest scores first)", "responders captured",
                   title="Cumulative gains", xaxis_tickformat=".0%", yaxis_tickformat=".0%")


def lift_figure(lift: pd.DataFrame, value_label: str = "response rate") -> go.Figure:
    fig = go.Figure(go.Bar(x=lift["decile"], y=lift["lift"], text=[f"{v:.2f}x" for v in lift["lift"]],
                           textposition="outside", customdata=lift["response_rate"],
                           hovertemplate="decile %{x}: lift %{y:.2f}x<br>" + value_label + " %{customdata:.3g}<extra></extra>"))
    fig.add_hline(y=1, line_dash="dash", line_color=GREY)
    return _layout(fig, "decile (1 = highest scores)", f"lift ({value_label} / average)", title="Lift by decile",
                   xaxis_dtick=1)


def importance_figure(importance: pd.DataFrame, metric: str) -> go.Figure:
    top = importance.head(15)
    fig = go.Figure(go.Bar(x=top["importance"], y=top["feature"], orientation="h",
                           error_x=dict(type="data", array=top["std"]) if "std" in top else None,
                           hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    return _layout(fig, f"drop in hold-out {metric} when the feature is shuffled", "", height=max(240, 26 * len(top) + 80),
                   title="Permutation importance", yaxis_autorange="reversed")


def pdp_figure(pdp: pd.DataFrame, feature: str, y_label: str) -> go.Figure:
    numeric = pd.api.types.is_numeric_dtype(pdp["value"])
    trace = go.Scatter(x=pdp["value"], y=pdp["average"], mode="lines+markers") if numeric else \
        go.Bar(x=pdp["value"].astype(str), y=pdp["average"])
    return _layout(go.Figure(trace), feature, y_label, height=280, title=f"Partial dependence: {feature}")


def predicted_vs_actual(holdout: pd.DataFrame, target: str) -> go.Figure:
    h = holdout.sample(min(len(holdout), 3000), random_state=0)
    lo, hi = float(min(h["y"].min(), h["prediction"].min())), float(max(h["y"].max(), h["prediction"].max()))
    fig = go.Figure([
        go.Scattergl(x=h["prediction"], y=h["y"], mode="markers", marker=dict(size=4, opacity=0.5), name="customers"),
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dash", color=GREY), name="perfect"),
    ])
    return _layout(fig, f"predicted {target}", f"actual {target}", title="Predicted vs actual (hold-out)")


def residual_figure(holdout: pd.DataFrame, target: str) -> go.Figure:
    h = holdout.sample(min(len(holdout), 3000), random_state=0)
    fig = go.Figure(go.Scattergl(x=h["prediction"], y=h["y"] - h["prediction"], mode="markers",
                                 marker=dict(size=4, opacity=0.5)))
    fig.add_hline(y=0, line_dash="dash", line_color=GREY)
    return _layout(fig, f"predicted {target}", "residual (actual - predicted)", title="Residuals (hold-out)")
