"""Plotly figures for next-best products (pure: results in, figure out). No template: the app theme styles them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.targeting.recommend_check import RecommendationCheck

GREY = "#888888"


def check_chart(check: RecommendationCheck) -> go.Figure:
    """Hit rate, nDCG and recall at k: co-occurrence next to the popularity baseline (same customers)."""
    metrics = [f"hit rate@{check.k}", f"nDCG@{check.k}", f"recall@{check.k}"]
    model = [check.hit_rate, check.ndcg, check.recall]
    popular = [check.popular_hit_rate, check.popular_ndcg, check.popular_recall]
    fig = go.Figure([
        go.Bar(name=f"co-occurrence ({check.measure})", x=metrics, y=model,
               text=[f"{v:.1%}" if i != 1 else f"{v:.3f}" for i, v in enumerate(model)], textposition="outside"),
        go.Bar(name="popular items", x=metrics, y=popular, marker_color=GREY,
               text=[f"{v:.1%}" if i != 1 else f"{v:.3f}" for i, v in enumerate(popular)], textposition="outside"),
    ])
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=40, b=10), yaxis_title="",
                      title=f"Last purchase hidden: {check.customers_evaluated:,} customers evaluated",
                      legend=dict(orientation="h", y=-0.15))
    return fig


def bought_together_chart(similarity: pd.DataFrame, item: object, *, item_column: str,
                          label: str | None = None, top: int = 10) -> go.Figure:
    """Horizontal bars: the share of `item`'s buyers who also bought each of its most similar items
    (rows of `item_similarity` for that item, in its order)."""
    rows = similarity[similarity[item_column] == item].head(top)
    names = rows[f"other_{label}"] if label else rows[f"other_{item_column}"].astype(str)
    fig = go.Figure(go.Bar(x=rows["share"][::-1], y=list(names)[::-1], orientation="h",
                           text=[f"{s:.0%} ({n:,})" for s, n in zip(rows["share"][::-1], rows["customers_both"][::-1])],
                           textposition="auto",
                           hovertemplate="%{y}: %{x:.1%} of the item's buyers<extra></extra>"))
    title = rows[label].iloc[0] if label and not rows.empty else str(item)
    fig.update_layout(height=max(240, 32 * len(rows) + 80), margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="share of the item's buyers who also bought", xaxis_tickformat=".0%",
                      title=f"Bought with {title}")
    return fig
