"""Plotly figures and the self-contained HTML report for experiment read-outs (pure: no UI)."""

from __future__ import annotations

import datetime as _dt
import html

import pandas as pd
import plotly.graph_objects as go

GREY = "#888888"
WIN, LOSS, FLAT = "#2A9D8F", "#E4572E", "#8D99AE"


def _colour(row: pd.Series) -> str:
    if not row.get("significant", False):
        return FLAT
    return WIN if row["rel_lift"] > 0 else LOSS


def forest_figure(table: pd.DataFrame, alpha: float = 0.05, title: str = "Lift against control") -> go.Figure:
    """Relative lift with its interval, one line per (metric, variant); green/red when significant."""
    t = table.reset_index(drop=True)
    labels = [f"{r.variant} · {r.metric}" for r in t.itertuples()]
    fig = go.Figure()
    for i, r in t.iterrows():
        fig.add_trace(go.Scatter(
            x=[r["rel_lift"] * 100], y=[labels[i]], mode="markers", marker=dict(size=11, color=_colour(r)),
            error_x=dict(type="data", symmetric=False, array=[(r["rel_ci_high"] - r["rel_lift"]) * 100],
                         arrayminus=[(r["rel_lift"] - r["rel_ci_low"]) * 100], color=_colour(r), thickness=2),
            showlegend=False,
            hovertemplate=(f"{labels[i]}<br>lift %{{x:.1f}}% ({(1 - alpha):.0%} CI {r['rel_ci_low'] * 100:.1f}% to "
                           f"{r['rel_ci_high'] * 100:.1f}%)<br>adjusted p {r['p_adjusted']:.4f}<extra></extra>")))
    fig.add_vline(x=0, line_dash="dash", line_color=GREY)
    fig.update_layout(height=max(220, 60 * len(t) + 90), margin=dict(l=10, r=10, t=40, b=10), title=title,
                      xaxis_title=f"relative lift against control (%; bars = {(1 - alpha):.0%} interval)",
                      yaxis=dict(autorange="reversed", title=""))
    return fig


def timeline_figures(tl: pd.DataFrame, metric: str, control: str) -> tuple[go.Figure, go.Figure]:
    """(metric per arm, cumulative) and (cumulative relative lift with its interval), by exposure date."""
    per_arm = go.Figure()
    for v, g in tl.groupby("variant"):
        per_arm.add_trace(go.Scatter(x=g["date"], y=g["mean"], mode="lines+markers", name=str(v),
                                     line=dict(dash="dash" if v == control else "solid")))
    per_arm.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title=f"{metric} per arm, cumulative",
                          xaxis_title="exposure date", yaxis_title=f"{metric} (mean per user, cumulative)")
    lift = go.Figure()
    for v, g in tl[tl["variant"] != control].groupby("variant"):
        if "rel_lift" not in g or g["rel_lift"].isna().all():
            continue
        g = g.dropna(subset=["rel_lift"])
        x = list(g["date"]) + list(g["date"])[::-1]
        y = list(g["rel_ci_high"] * 100) + list(g["rel_ci_low"] * 100)[::-1]
        lift.add_trace(go.Scatter(x=x, y=y, fill="toself", opacity=0.2, line=dict(width=0), showlegend=False,
                                  hoverinfo="skip", name=f"{v} interval"))
        lift.add_trace(go.Scatter(x=g["date"], y=g["rel_lift"] * 100, mode="lines+markers", name=str(v)))
    lift.add_hline(y=0, line_dash="dash", line_color=GREY)
    lift.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title="Cumulative lift against control",
                       xaxis_title="exposure date", yaxis_title="relative lift (%), with interval")
    return per_arm, lift


def breakdown_figure(bd: pd.DataFrame, by: str) -> go.Figure:
    """Lift per attribute level (forest plot)."""
    t = bd.assign(metric=bd["level"].astype(str), significant=False, p_adjusted=bd["p_value"])
    fig = forest_figure(t, title=f"Lift by {by} (unadjusted: many looks, so expect some chance findings)")
    fig.update_yaxes(title=by)
    return fig


def results_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The results table with readable column names and percentages (for display and CSV)."""
    out = table.copy()
    for c in ("rel_lift", "rel_ci_low", "rel_ci_high", "chance_to_beat", "rel_credible_low", "rel_credible_high"):
        if c in out:
            out[c] = out[c] * 100
    return out.rename(columns={"rel_lift": "rel_lift_pct", "rel_ci_low": "rel_ci_low_pct",
                               "rel_ci_high": "rel_ci_high_pct", "chance_to_beat": "chance_to_beat_pct",
                               "rel_credible_low": "rel_credible_low_pct", "rel_credible_high": "rel_credible_high_pct"})


def html_report(title: str, summary: str, table: pd.DataFrame, figures: list[go.Figure], notes: list[str]) -> bytes:
    """A self-contained HTML report (plotly.js inlined once) with the summary, charts and the table."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "th{background:#f4f4f4}.summary{font-size:17px;line-height:1.5;background:#f6f8fa;padding:1em;border-radius:6px}"
             "</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p><small>Generated {_dt.datetime.now():%Y-%m-%d %H:%M} by Marketing Workbench.</small></p>",
             f"<div class='summary'>{html.escape(summary)}</div>"]
    for n in notes:
        parts.append(f"<p>{html.escape(n)}</p>")
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    shown = results_frame(table).round(4)
    parts.append("<h2>Results</h2>" + shown.to_html(index=False, na_rep="", escape=True))
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")
