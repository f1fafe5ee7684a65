"""Plotly figures for segments (pure: data in, figure out; the page decides where to show them).

Figures carry no template so the app theme (light or dark) styles them; axes say what and in which unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ACCENT = "#E4572E"


def selection_figure(selection: pd.DataFrame, k: int) -> go.Figure:
    """Inertia (elbow), silhouette, Calinski-Harabasz and Davies-Bouldin against k, recommended k marked."""
    panels = [("inertia", "Inertia (elbow; lower = tighter)"), ("silhouette", "Silhouette (higher = better)"),
              ("calinski_harabasz", "Calinski-Harabasz (higher = better)"),
              ("davies_bouldin", "Davies-Bouldin (lower = better)")]
    fig = make_subplots(rows=1, cols=4, subplot_titles=[t for _, t in panels], horizontal_spacing=0.07)
    for i, (col, title) in enumerate(panels, start=1):
        fig.add_trace(go.Scatter(x=selection["k"], y=selection[col], mode="lines+markers", name=title,
                                 showlegend=False, hovertemplate="k = %{x}<br>%{y:,.3f}<extra></extra>"),
                      row=1, col=i)
        chosen = selection[selection["k"] == k]
        fig.add_trace(go.Scatter(x=chosen["k"], y=chosen[col], mode="markers", showlegend=False,
                                 marker=dict(size=14, color=ACCENT, symbol="star"),
                                 hovertemplate=f"recommended k = {k}<br>%{{y:,.3f}}<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text="k (number of segments)", dtick=1, row=1, col=i)
        fig.update_yaxes(title_text=col.replace("_", "-") if col != "inertia" else "inertia (sum of squared distances)",
                         row=1, col=i)
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=12)
    return fig


def sizes_figure(table: pd.DataFrame) -> go.Figure:
    """Customers per segment (table with name, size, share)."""
    fig = go.Figure(go.Bar(
        x=table["size"], y=table["name"], orientation="h", text=[f"{s:.1%}" for s in table["share"]],
        textposition="auto", hovertemplate="%{y}<br>%{x:,} customers<extra></extra>"))
    fig.update_layout(height=max(220, 40 * len(table) + 60), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title="customers", yaxis=dict(autorange="reversed", title=""))
    return fig


def index_heatmap(index: pd.DataFrame) -> go.Figure:
    """Features x segments coloured by index (100 = average customer), numbers in the cells."""
    z = index.to_numpy(dtype="float64")
    capped = np.clip(np.log2(np.where(z > 0, z, np.nan) / 100), -2, 2)
    fig = go.Figure(go.Heatmap(
        z=capped, x=list(index.columns), y=list(index.index), text=np.where(np.isfinite(z), np.round(z), np.nan),
        texttemplate="%{text:.0f}", colorscale="RdBu", reversescale=True, zmid=0, zmin=-2, zmax=2,
        customdata=z, hovertemplate="%{y} in %{x}: index %{customdata:.0f}<extra></extra>",
        colorbar=dict(title="index", tickvals=[-2, -1, 0, 1, 2], ticktext=["25", "50", "100", "200", "400"])))
    short = [str(c).split(":", 1)[0] for c in index.columns]  # "3: New · infrequent" -> "3"; full name on hover
    fig.update_layout(height=max(280, 34 * len(index) + 90), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title="segment", tickvals=list(index.columns), ticktext=short, tickangle=0),
                      yaxis=dict(autorange="reversed", title="feature"))
    return fig


def _by_segment(points: pd.DataFrame, names: dict[int, str], x: str, y: str, hover: str) -> go.Figure:
    """One marker trace per segment (a legend entry each) of the points' `x` and `y` columns."""
    fig = go.Figure()
    for seg in sorted(points["segment"].unique()):
        p = points[points["segment"] == seg]
        fig.add_trace(go.Scattergl(x=p[x], y=p[y], mode="markers", name=f"{seg}: {names.get(int(seg), seg)}",
                                   marker=dict(size=4, opacity=0.6),
                                   hovertemplate=f"segment {seg}{hover}<extra></extra>"))
    return fig


def map_figure(points: pd.DataFrame, names: dict[int, str], variance: tuple[float, float]) -> go.Figure:
    """Customers on the first two principal components, coloured by segment."""
    fig = _by_segment(points, names, "pc1", "pc2", "<br>PC1 %{x:.2f}<br>PC2 %{y:.2f}")
    v1, v2 = variance
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), legend=dict(title="segment"),
                      xaxis_title=f"principal component 1 ({v1:.0%} of variance)" if np.isfinite(v1) else "component 1",
                      yaxis_title=f"principal component 2 ({v2:.0%} of variance)" if np.isfinite(v2) else "component 2")
    return fig


def stability_figure(runs: list[float], mean: float) -> go.Figure:
    """Adjusted Rand index of each resample against the segmentation, with the mean."""
    fig = go.Figure(go.Bar(x=[f"resample {i + 1}" for i in range(len(runs))], y=runs,
                           hovertemplate="%{x}: ARI %{y:.3f}<extra></extra>"))
    fig.add_hline(y=mean, line_dash="dash", line_color=ACCENT, annotation_text=f"mean {mean:.2f}")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(title="adjusted Rand index (1 = identical)", range=[min(0, min(runs or [0])), 1.05]),
                      xaxis_title="refit on a random 80% of customers")
    return fig


def importance_figure(importance: pd.DataFrame) -> go.Figure:
    """Share of the surrogate tree's splitting power per feature."""
    top = importance.head(15)
    fig = go.Figure(go.Bar(x=top["importance"], y=top["feature"], orientation="h",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_layout(height=max(220, 28 * len(top) + 60), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title="importance (share of the tree's separation)", tickformat=".0%"),
                      yaxis=dict(autorange="reversed", title=""))
    return fig


def rfm_sizes_figure(summary: pd.DataFrame) -> go.Figure:
    """Customers per RFM segment."""
    fig = go.Figure(go.Bar(x=summary["customers"], y=summary.index, orientation="h",
                           text=[f"{s:.1%}" for s in summary["share"]], textposition="auto",
                           hovertemplate="%{y}<br>%{x:,} customers<extra></extra>"))
    fig.update_layout(height=max(240, 30 * len(summary) + 60), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title="customers", yaxis=dict(autorange="reversed", title=""))
    return fig


def rf_grid_figure(grid: pd.DataFrame) -> go.Figure:
    """Recency score x frequency score: customers per cell (colour) and mean spend (hover)."""
    counts = grid.pivot(index="f_score", columns="r_score", values="customers").sort_index(ascending=False)
    spend = grid.pivot(index="f_score", columns="r_score", values="avg_monetary").reindex(counts.index)
    fig = go.Figure(go.Heatmap(
        z=counts.to_numpy(), x=[str(c) for c in counts.columns], y=[str(i) for i in counts.index],
        text=counts.to_numpy(), texttemplate="%{text:,}", colorscale="Blues", customdata=spend.to_numpy(),
        hovertemplate="R %{x}, F %{y}<br>%{z:,} customers<br>mean spend %{customdata:,.2f}<extra></extra>",
        colorbar=dict(title="customers")))
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title="recency score (5 = bought most recently)",
                      yaxis_title="frequency score (5 = buys most often)")
    return fig


def tsne_figure(points: pd.DataFrame, names: dict[int, str]) -> go.Figure:
    """Customers laid out by t-SNE (core.segments.kmeans.tsne_map), coloured by segment; the axes have no
    units (only who is near whom means something)."""
    fig = _by_segment(points, names, "tsne1", "tsne2", "")
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), legend=dict(title="segment"),
                      xaxis=dict(title="t-SNE 1 (no unit: nearness only)", showticklabels=False),
                      yaxis=dict(title="t-SNE 2 (no unit: nearness only)", showticklabels=False))
    return fig
