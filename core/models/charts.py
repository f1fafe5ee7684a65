"""Plotly figures for model evaluation (pure: data in, figure out). No template: the app theme styles them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.models.evaluate import in_natural_order

GREY = "#888888"


def _layout(fig: go.Figure, x: str, y: str, height: int = 340, **kw: object) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=x, yaxis_title=y, **kw)
    return fig


# Target names that say what a positive row is: (pattern, positives, negatives).
_OUTCOME_NOUNS = (
    (re.compile(r"churn|attrit|exited|cancel|leav|\bleft\b|lapse", re.IGNORECASE), "churners", "non-churners"),
    (re.compile(r"convert", re.IGNORECASE), "converters", "non-converters"),
    (re.compile(r"buy|bought|purchas|order", re.IGNORECASE), "buyers", "non-buyers"),
    (re.compile(r"respon", re.IGNORECASE), "responders", "non-responders"),
    (re.compile(r"subscri", re.IGNORECASE), "subscribers", "non-subscribers"),
    (re.compile(r"click", re.IGNORECASE), "clickers", "non-clickers"),
    (re.compile(r"default", re.IGNORECASE), "defaulters", "non-defaulters"),
)


def outcome_words(target: str | None = None, positive: object = None) -> tuple[str, str]:
    """What to call the positive and negative rows on axes: (positives, negatives).

    From the target's name when it says what happened ('churned' -> churners / non-churners,
    'purchased' -> buyers / non-buyers, 'converted', 'responded', 'subscribed', 'clicked', 'default');
    otherwise generic, naming the positive class: 'positives (y = yes)' / 'negatives (y ≠ yes)'.
    """
    name = "" if target is None else str(target)
    for pattern, pos, neg in _OUTCOME_NOUNS:
        if pattern.search(name) or (positive is not None and pattern.search(str(positive))
                                    and not str(positive).strip().isdigit()):
            return pos, neg
    if not name:
        return "positives", "negatives"
    shown = "" if positive is None else f" = {positive}"
    return f"positives ({name}{shown})", f"negatives ({name} ≠ {positive})" if positive is not None else \
        f"negatives ({name})"


def roc_figure(roc: pd.DataFrame, auc: float, target: str | None = None, positive: object = None) -> go.Figure:
    pos, neg = outcome_words(target, positive)
    fig = go.Figure([
        go.Scatter(x=roc["false_positive_rate"], y=roc["true_positive_rate"], mode="lines", name=f"model (AUC {auc:.3f})"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GREY), name="random (AUC 0.5)"),
    ])
    return _layout(fig, f"false positive rate (share of {neg} flagged)", f"true positive rate (share of {pos} found)",
                   title="ROC curve", legend=dict(x=0.45, y=0.05), xaxis_tickformat=".0%", yaxis_tickformat=".0%")


def pr_figure(pr: pd.DataFrame, base_rate: float, ap: float, target: str | None = None,
              positive: object = None) -> go.Figure:
    pos, _ = outcome_words(target, positive)
    fig = go.Figure([
        go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name=f"model (PR AUC {ap:.3f})"),
        go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", line=dict(dash="dash", color=GREY),
                   name=f"random ({base_rate:.1%})"),
    ])
    return _layout(fig, f"recall (share of {pos} found)", f"precision (share of flagged that are {pos})",
                   title="Precision-recall curve", yaxis_range=[0, 1.02], xaxis_tickformat=".0%",
                   yaxis_tickformat=".0%")


def calibration_figure(cal: pd.DataFrame) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=cal["mean_predicted"], y=cal["observed_rate"], mode="lines+markers", name="model"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GREY), name="perfectly calibrated"),
    ])
    return _layout(fig, "predicted probability (mean per tenth of customers)", "observed rate",
                   title="Calibration", xaxis_tickformat=".0%", yaxis_tickformat=".0%")


def gains_figure(lift: pd.DataFrame, captured: str = "positives") -> go.Figure:
    """Cumulative gains: % of customers targeted (by score) vs % of `captured` (churners, buyers, total spend ...)."""
    total = lift["customers"].sum()
    x = np.concatenate([[0], lift["customers"].cumsum() / total])
    y = np.concatenate([[0], lift["cumulative_capture"]])
    fig = go.Figure([
        go.Scatter(x=x, y=y, mode="lines+markers", name="model",
                   hovertemplate="target top %{x:.0%}: capture %{y:.0%}<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GREY), name="random targeting"),
    ])
    return _layout(fig, "customers targeted (highest scores first)", f"share of {captured} captured",
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
    """Partial dependence: a line for numbers, bars for levels in their natural order (months jan..dec)."""
    numeric = pd.api.types.is_numeric_dtype(pdp["value"])
    if numeric:
        return _layout(go.Figure(go.Scatter(x=pdp["value"], y=pdp["average"], mode="lines+markers")), feature, y_label,
                       height=280, title=f"Partial dependence: {feature}")
    ordered = in_natural_order(pdp, "value")
    levels = ordered["value"].astype(str).tolist()
    return _layout(go.Figure(go.Bar(x=levels, y=ordered["average"])), feature, y_label, height=280,
                   title=f"Partial dependence: {feature}", xaxis_type="category", xaxis_categoryorder="array",
                   xaxis_categoryarray=levels)


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


METRIC_WORDS = {"roc_auc": "ROC AUC", "r2": "R²"}


def leaderboard_figure(board: pd.DataFrame, metric: str, labels: dict[str, str]) -> go.Figure:
    """Each algorithm's cross-validated main metric with its fold-to-fold spread (± 1 sd), best first;
    the best and the ones not clearly behind it in one colour, the clearly worse ones grey."""
    names = [labels.get(a, a) for a in board["algorithm"]]
    colours = [GREY if behind else "#4C78A8" for behind in board["clearly_behind"]]
    # dots with whiskers, not bars: the differences that matter are a few hundredths of the scale
    fig = go.Figure(go.Scatter(x=board[metric], y=names, mode="markers", marker=dict(color=colours, size=11),
                               error_x=dict(type="data", array=board[f"{metric}_std"], color=GREY),
                               hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    word = METRIC_WORDS.get(metric, metric)
    return _layout(fig, f"{word}, mean ± sd over folds", "", height=max(240, 34 * len(board) + 90),
                   title=f"Algorithms on the same folds ({word})", yaxis_autorange="reversed")


def selection_figure(ranking: pd.DataFrame) -> go.Figure:
    """LASSO scores (largest |standardised coefficient|) or RFE ranks, kept features coloured."""
    colours = ["#4C78A8" if kept else GREY for kept in ranking["kept"]]
    if "score" in ranking:
        fig = go.Figure(go.Bar(x=ranking["score"], y=ranking["feature"], orientation="h", marker_color=colours,
                               hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
        x_label, title = "largest |coefficient| (standardised inputs, at the chosen penalty)", "LASSO: features kept"
    else:
        fig = go.Figure(go.Bar(x=ranking["rank"], y=ranking["feature"], orientation="h", marker_color=colours,
                               hovertemplate="%{y}: rank %{x}<extra></extra>"))
        x_label, title = "elimination rank (1 = kept; higher = dropped earlier)", "Recursive elimination: features kept"
    return _layout(fig, x_label, "", height=max(240, 26 * len(ranking) + 90), title=title,
                   yaxis_autorange="reversed")


def rules_figure(rules: pd.DataFrame, outcome_label: str, percent: bool) -> go.Figure:
    """One bar per rule (leaf) of a decision tree: its outcome, with the customers it covers on hover."""
    shown = rules.sort_values("outcome", ascending=False, kind="stable") if percent or \
        pd.api.types.is_numeric_dtype(rules["outcome"]) else rules
    names = [f"rule {n}" for n in shown["number"]] if "number" in shown else [f"rule {i + 1}" for i in range(len(shown))]
    fig = go.Figure(go.Bar(x=shown["outcome"], y=names, orientation="h", customdata=np.stack(
        [shown["rule"], shown["customers"]], axis=1),
        hovertemplate="%{customdata[0]}<br>%{customdata[1]:,} customers: %{x" + (":.1%" if percent else ":.4g")
                      + "}<extra></extra>"))
    return _layout(fig, outcome_label, "", height=max(240, 28 * len(shown) + 90), title="Decision tree rules",
                   yaxis_autorange="reversed", xaxis_tickformat=".0%" if percent else None)
