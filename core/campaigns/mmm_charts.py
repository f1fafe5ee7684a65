"""Plotly figures of the marketing-mix model (pure: no UI), and the frames behind them.

No template or background is set, so the figures follow the app's light or dark theme (shading and
the baseline use semi-transparent greys that read on both); every axis names its unit ("revenue per
week", "spend per week"). Each figure is drawn from a frame that the page also shows as a table
with downloads: result.fitted, result.contributions, result.roas, curves_frame(result) and the
allocator's plan.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.campaigns.mmm import MMMResult
from core.experiments.charts import readable

GREY = "#8D99AE"
SHADE = "rgba(141, 153, 174, 0.22)"
ACTUAL, FITTED, FORECAST = "#888888", "#2A9D8F", "#E76F51"
CURRENT, RECOMMENDED = "#8D99AE", "#2A9D8F"
# one colour per channel, set explicitly so the app (either theme) and the HTML report agree
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D",
           "#79706E")


def per_unit(result: MMMResult) -> tuple[float, str]:
    """(scale, words) of a return: revenue per 1 spent, or conversions per 1,000 spent."""
    if result.kind == "conversions":
        return 1000.0, "conversions per 1,000 spent"
    return 1.0, f"{result.target} per 1 spent"


def _target_axis(result: MMMResult) -> str:
    return f"{result.target} per {result.period}"


def fit_figure(result: MMMResult) -> go.Figure:
    """Actual and fitted target per period; the held-out periods shaded, with the forecast the check
    fit (trained without them) made for them."""
    f = result.fitted
    period = result.period
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=f["date"], y=f["actual"], name="actual", mode="lines+markers",
                             line=dict(color=ACTUAL, width=1), marker=dict(size=4),
                             hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra>actual</extra>"))
    fig.add_trace(go.Scatter(x=f["date"], y=f["fitted"], name="fitted (all periods)", mode="lines",
                             line=dict(color=FITTED, width=2),
                             hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra>fitted</extra>"))
    held = f[f["holdout"]]
    if len(held):
        fig.add_trace(go.Scatter(x=held["date"], y=held["check_fitted"], name="forecast of the held-out periods",
                                 mode="lines", line=dict(color=FORECAST, width=2, dash="dash"),
                                 hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra>forecast</extra>"))
        step = pd.Timedelta(days=7 if result.freq == "W" else 1)
        fig.add_vrect(x0=held["date"].iloc[0] - step / 2, x1=held["date"].iloc[-1] + step / 2, fillcolor=SHADE,
                      line_width=0, layer="below", annotation_text=f"held out ({len(held)} {period}s)",
                      annotation_position="top left")
    fig.update_layout(title=dict(text=f"Actual and modelled {result.target} per {period}", x=0, xanchor="left"),
                      xaxis=dict(title=dict(text=f"{period} (start date)" if period == "week" else "day")),
                      yaxis=dict(title=dict(text=_target_axis(result)), tickformat=",.0f"),
                      legend=dict(orientation="h", y=-0.2), height=420, hovermode="x unified")
    return readable(fig)


def contributions_figure(result: MMMResult) -> go.Figure:
    """Stacked areas: the baseline at the bottom, then each channel's modelled contribution per period."""
    c = result.contributions
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=c["date"], y=c["baseline"], name="baseline (trend, season, controls)", mode="lines",
                             stackgroup="one", line=dict(width=0.5, color=GREY), fillcolor=SHADE.replace("0.22", "0.45"),
                             hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra>baseline</extra>"))
    for i, ch in enumerate(result.channels):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=c["date"], y=c[ch], name=ch, mode="lines", stackgroup="one",
                                 line=dict(width=0.5, color=colour), fillcolor=colour,
                                 hovertemplate=f"%{{x|%Y-%m-%d}}: %{{y:,.0f}}<extra>{ch}</extra>"))
    fig.update_layout(title=dict(text=f"What made up {result.target} each {result.period}", x=0, xanchor="left"),
                      xaxis=dict(title=dict(text=f"{result.period} (start date)" if result.freq == "W" else "day")),
                      yaxis=dict(title=dict(text=_target_axis(result)), tickformat=",.0f"),
                      legend=dict(orientation="h", y=-0.2), height=440, hovermode="x unified")
    return readable(fig)


def roas_figure(result: MMMResult) -> go.Figure:
    """Return per channel (bars, best first) with the bootstrap interval (error bars); break-even
    marked for revenue."""
    scale, words = per_unit(result)
    r = result.roas.sort_values("roas", ascending=False)
    value = r["roas"].to_numpy() * scale
    low, high = r["roas_low"].to_numpy() * scale, r["roas_high"].to_numpy() * scale
    has_interval = bool(np.isfinite(low).all() and np.isfinite(high).all())
    level = f"{result.level:.0%}"
    fig = go.Figure(go.Bar(
        x=r["channel"], y=value, marker_color=FITTED,
        error_y=dict(type="data", symmetric=False, array=np.clip(high - value, 0, None),
                     arrayminus=np.clip(value - low, 0, None), thickness=1.5, width=8, color=GREY)
        if has_interval else None,
        customdata=np.column_stack([low, high]),
        hovertemplate=(f"%{{x}}: %{{y:,.2f}} {words}" + (f"<br>{level} interval %{{customdata[0]:,.2f}} to "
                                                            "%{customdata[1]:,.2f}" if has_interval else "")
                       + "<extra></extra>")))
    if result.kind == "revenue":
        fig.add_hline(y=1.0, line_dash="dash", line_color=GREY, annotation_text="break-even (1 back per 1 spent)",
                      annotation_position="top right")
    fig.update_layout(title=dict(text=f"Return on spend per channel ({level} bootstrap interval)", x=0,
                                 xanchor="left"),
                      xaxis=dict(title=dict(text="channel")),
                      yaxis=dict(title=dict(text=words), tickformat=",.2f", rangemode="tozero"),
                      height=400, showlegend=False)
    return readable(fig)


def curves_frame(result: MMMResult) -> pd.DataFrame:
    """Every channel's response curve (MMMResult.response_curve: 0 to 3x today's spend per period)."""
    return pd.concat([result.response_curve(ch) for ch in result.channels], ignore_index=True)


def curves_figure(result: MMMResult, curves: pd.DataFrame | None = None, plan: pd.DataFrame | None = None
                  ) -> go.Figure:
    """One panel per channel: modelled target per period against spend per period (steady state),
    today's spend marked (and the plan's recommended spend, when a plan is given)."""
    curves = curves_frame(result) if curves is None else curves
    n = len(result.channels)
    cols = 2 if n > 1 else 1
    rows = int(np.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(result.channels), horizontal_spacing=0.12,
                        vertical_spacing=min(0.5 / max(rows, 1), 0.16))
    recommended = plan.set_index("channel")["recommended_spend"] if plan is not None else None
    for i, ch in enumerate(result.channels):
        row, col = i // cols + 1, i % cols + 1
        part = curves[curves["channel"] == ch]
        fig.add_trace(go.Scatter(x=part["spend"], y=part["revenue"], mode="lines", line=dict(color=FITTED, width=2),
                                 name=ch, showlegend=False,
                                 hovertemplate=f"{ch}: spend %{{x:,.0f}} per {result.period} → %{{y:,.0f}}<extra></extra>"),
                      row=row, col=col)
        now = float(result.current_spend.iloc[i])
        now_rev = float(result.response_curve(ch, [now])["revenue"].iloc[0])
        fig.add_trace(go.Scatter(x=[now], y=[now_rev], mode="markers", marker=dict(size=10, color=FORECAST,
                                                                                     symbol="circle"),
                                 name="today's spend", showlegend=i == 0, legendgroup="now",
                                 hovertemplate=f"{ch} today: %{{x:,.0f}} per {result.period} → %{{y:,.0f}}"
                                               "<extra></extra>"), row=row, col=col)
        if recommended is not None and ch in recommended.index:
            rec = float(recommended[ch])
            rec_rev = float(result.response_curve(ch, [rec])["revenue"].iloc[0])
            fig.add_trace(go.Scatter(x=[rec], y=[rec_rev], mode="markers",
                                     marker=dict(size=11, color=RECOMMENDED, symbol="diamond",
                                                 line=dict(width=1, color=GREY)),
                                     name="recommended spend", showlegend=i == 0, legendgroup="rec",
                                     hovertemplate=f"{ch} recommended: %{{x:,.0f}} → %{{y:,.0f}}<extra></extra>"),
                          row=row, col=col)
        fig.update_xaxes(title_text=f"spend per {result.period}", tickformat=",.0f", row=row, col=col)
        fig.update_yaxes(title_text=_target_axis(result), tickformat=",.0f", rangemode="tozero", row=row, col=col)
    height = max(360, 300 * rows + 110)
    fig.update_layout(title=dict(text=f"Response curves: {result.target} per {result.period} at a steady spend",
                                 x=0, xanchor="left"),
                      height=height, legend=dict(orientation="h", yanchor="top", y=-90 / (height - 150), x=0))
    return readable(fig)


def allocation_figure(result: MMMResult, plan: pd.DataFrame) -> go.Figure:
    """Spend per period per channel: today's split against the recommended one."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=plan["channel"], y=plan["current_spend"], name="today", marker_color=CURRENT,
                         hovertemplate="%{x} today: %{y:,.0f}<extra></extra>"))
    fig.add_trace(go.Bar(x=plan["channel"], y=plan["recommended_spend"], name="recommended",
                         marker_color=RECOMMENDED, hovertemplate="%{x} recommended: %{y:,.0f}<extra></extra>"))
    fig.update_layout(title=dict(text=f"Budget per {result.period}: today and recommended", x=0, xanchor="left"),
                      barmode="group", xaxis=dict(title=dict(text="channel")),
                      yaxis=dict(title=dict(text=f"spend per {result.period}"), tickformat=",.0f"),
                      legend=dict(orientation="h", y=-0.2), height=380)
    return readable(fig)
