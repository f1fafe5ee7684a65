"""Plotly figures of the campaign dashboard (pure: no UI). No template or background is set, so the
figures follow the app's light or dark theme; every axis names its unit; the numbers behind each
figure are the frames passed in (pages show them as tables with downloads)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.campaigns.anomalies import Anomalies
from core.campaigns.incremental import IncrementalReturn
from core.campaigns.kpis import FREQ_LABELS, KPI_INFO
from core.campaigns.pacing import Pacing
from core.experiments.charts import readable

GREY = "#888888"
STATUS_COLOURS = {"under": "#E9C46A", "on track": "#2A9D8F", "over": "#E4572E"}
FLAG = "#E4572E"


def _axis(kpi: str) -> dict:
    """Axis title (with unit) and tick format of a KPI or sum: rates as percent, counts with separators."""
    info = KPI_INFO.get(kpi)
    if info is None:
        return {"title": {"text": kpi}}
    fmt = {"percent": ".1%", "integer": ",.0f", "money": ",.2f", "ratio": ",.2f"}.get(info.format, ",")
    return {"title": {"text": info.axis}, "tickformat": fmt}


def _group_label(frame: pd.DataFrame, group: Sequence[str]) -> pd.Series:
    return frame[list(group)].astype(str).agg(" · ".join, axis=1) if group else pd.Series("All", index=frame.index)


def trend_figure(table: pd.DataFrame, kpi: str, *, group: Sequence[str] = (), freq: str = "D") -> go.Figure:
    """A KPI over time from a `kpis` result: one line per group (or one line for all)."""
    fig = go.Figure()
    labels = _group_label(table, group)
    label = KPI_INFO[kpi].label if kpi in KPI_INFO else kpi
    for name in sorted(labels.unique()):
        part = table[labels == name].sort_values("period")
        fig.add_trace(go.Scatter(x=part["period"], y=part[kpi], mode="lines+markers" if len(part) < 60 else "lines",
                                 name=name, hovertemplate=f"{name}<br>%{{x|%Y-%m-%d}}: %{{y}}<extra></extra>"))
    fig.update_layout(title=dict(text=f"{label} by {FREQ_LABELS.get(freq, freq)}", x=0, xanchor="left"),
                      xaxis=dict(title=dict(text=f"{FREQ_LABELS.get(freq, freq)} (start date)")), yaxis=_axis(kpi),
                      legend=dict(title=dict(text=" · ".join(group) if group else "")),
                      height=420, showlegend=bool(group))
    return readable(fig)


def breakdown_figure(totals: pd.DataFrame, kpi: str, group: Sequence[str]) -> go.Figure:
    """A KPI per group over the whole period (from `kpis(freq="total", by=group)`), best at the top."""
    labels = _group_label(totals, group)
    info = KPI_INFO.get(kpi)
    frame = pd.DataFrame({"label": labels, "value": totals[kpi]}).dropna()
    frame = frame.sort_values("value", ascending=not (info.higher_is_better if info else True))
    fig = go.Figure(go.Bar(x=frame["value"], y=frame["label"], orientation="h",
                           hovertemplate="%{y}: %{x}<extra></extra>"))
    axis = _axis(kpi)
    fig.update_layout(title=dict(text=f"{info.label if info else kpi} by {' · '.join(group)} (whole period)", x=0,
                                 xanchor="left"),
                      xaxis=axis, yaxis=dict(title=dict(text=" · ".join(group)), autorange="reversed"),
                      height=max(260, 40 * len(frame) + 140))
    return readable(fig)


def pacing_figure(p: Pacing) -> go.Figure:
    """Pace per group (spend to date / expected spend) as bars, with the on-track band around 100%."""
    t = p.table
    labels = _group_label(t, p.by)
    colours = [STATUS_COLOURS.get(str(s), GREY) for s in t["status"]]
    fig = go.Figure(go.Bar(x=t["pace"], y=labels, orientation="h", marker_color=colours,
                           customdata=np.stack([t["spend"], t["expected_spend"], t["status"].astype(str)], axis=1),
                           hovertemplate="%{y}: %{x:.0%} of plan<br>spent %{customdata[0]:,.0f} of "
                                         "%{customdata[1]:,.0f} expected<br>%{customdata[2]}<extra></extra>"))
    fig.add_vrect(x0=1 - p.tolerance, x1=1 + p.tolerance, fillcolor=STATUS_COLOURS["on track"], opacity=0.15,
                  line_width=0)
    fig.add_vline(x=1, line_dash="dash", line_color=GREY)
    fig.update_layout(title=dict(text=f"Pacing on {p.as_of:%Y-%m-%d} ({p.elapsed_share:.0%} of the flight "
                                      f"{p.start:%Y-%m-%d} to {p.end:%Y-%m-%d})", x=0, xanchor="left"),
                      xaxis=dict(title=dict(text=f"spend to date / expected spend (%; band = on track, "
                                                 f"±{p.tolerance:.0%})"), tickformat=".0%"),
                      yaxis=dict(title=dict(text=" · ".join(p.by) if p.by else ""), autorange="reversed"),
                      height=max(260, 40 * len(t) + 140))
    return readable(fig)


def anomaly_figure(result: Anomalies, metric: str, group: Sequence[object] = ()) -> go.Figure:
    """One metric of one group by day, with the rolling median, the flagged band and the flagged days."""
    s = result.scores[result.scores["metric"] == metric]
    for col, value in zip(result.by, group):
        s = s[s[col].astype(str) == str(value)]
    s = s.sort_values("day")
    low = s["median"] - result.threshold * s["scale"]
    high = s["median"] + result.threshold * s["scale"]
    flagged = s[s["deviation"].abs() > result.threshold]
    info = KPI_INFO.get(metric)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s["day"], y=s["value"], mode="lines", name=info.label if info else metric,
                             hovertemplate="%{x|%Y-%m-%d}: %{y}<extra></extra>"))
    fig.add_trace(go.Scatter(x=s["day"], y=s["median"], mode="lines", line=dict(dash="dot", color=GREY),
                             name=f"median of the previous {result.window} days"))
    # the usual range as one closed band (upper edge forward, lower edge back), drawn under the lines
    fig.add_trace(go.Scatter(x=[*s["day"], *s["day"][::-1]], y=[*high, *low[::-1]], mode="lines", line=dict(width=0),
                             fill="toself", fillcolor="rgba(136,136,136,0.2)", hoverinfo="skip",
                             name=f"usual range (±{result.threshold:g} robust deviations)"))
    fig.add_trace(go.Scatter(x=flagged["day"], y=flagged["value"], mode="markers", name="flagged day",
                             marker=dict(color=FLAG, size=10, symbol="circle-open", line=dict(width=2)),
                             text=flagged["explanation"], hovertemplate="%{text}<extra></extra>"))
    name = " · ".join(str(g) for g in group)
    fig.update_layout(title=dict(text=f"{info.label if info else metric} by day{': ' + name if name else ''}", x=0,
                                 xanchor="left"),
                      xaxis=dict(title=dict(text="day")), yaxis=_axis(metric), height=420,
                      legend=dict(orientation="h", y=-0.25))
    return readable(fig)


def incremental_figure(inc: IncrementalReturn) -> go.Figure:
    """iROAS with the test's interval, against 0 (no effect) and 1 (the campaign pays for itself)."""
    fig = go.Figure(go.Scatter(
        x=[inc.iroas], y=[f"{inc.variant} vs {inc.control}"], mode="markers", marker=dict(size=12),
        error_x=dict(type="data", symmetric=False, array=[inc.iroas_high - inc.iroas],
                     arrayminus=[inc.iroas - inc.iroas_low], thickness=2),
        hovertemplate=(f"iROAS %{{x:.2f}} ({inc.confidence:.0%} interval {inc.iroas_low:.2f} to "
                       f"{inc.iroas_high:.2f})<extra></extra>"), showlegend=False))
    fig.add_vline(x=0, line_dash="dash", line_color=GREY, annotation_text="no effect",
                  annotation_position="top left")
    fig.add_vline(x=1, line_dash="dot", line_color=GREY, annotation_text="breaks even",
                  annotation_position="top right")
    fig.update_layout(title=dict(text=f"Incremental {inc.metric} per 1 spent (iROAS)", x=0, xanchor="left"),
                      xaxis=dict(title=dict(text=f"iROAS: incremental {inc.metric} / spend (x; bar = "
                                                 f"{inc.confidence:.0%} interval)")),
                      yaxis=dict(title=dict(text="")), height=260)
    return readable(fig)
