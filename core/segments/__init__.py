"""Customer segments: features from transactions, RFM scores and K-means segments.

Names are imported on first use (PEP 562), so `from core.segments import rfm_scores` does not load
scikit-learn (~2 s on the 2-core server): the Segments page's first render needs only pandas and
DuckDB; K-means loads scikit-learn when it runs (in a job's worker) or when its result is read.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.columns import looks_like_id
    from core.segments.features import customer_features, suggest_transaction_columns
    from core.segments.kmeans import (KChoice, SegmentFit, SegmentMap, SegmentResult, Stability, choose_k,
                                      fit_segments, kmeans_segments, segment_assignments, segment_map, stability)
    from core.segments.preprocess import Preprocessing
    from core.segments.rfm import DEFAULT_RULES, rf_grid, rfm_scores, rfm_summary
    from core.segments.suggest import FeatureSuggestion, feature_suggestions

_WHERE = {
    "looks_like_id": "core.columns",
    "customer_features": "core.segments.features", "suggest_transaction_columns": "core.segments.features",
    **{name: "core.segments.kmeans" for name in (
        "KChoice", "SegmentFit", "SegmentMap", "SegmentResult", "Stability", "choose_k", "fit_segments",
        "kmeans_segments", "segment_assignments", "segment_map", "stability")},
    "Preprocessing": "core.segments.preprocess",
    "FeatureSuggestion": "core.segments.suggest", "feature_suggestions": "core.segments.suggest",
    **{name: "core.segments.rfm" for name in ("DEFAULT_RULES", "rf_grid", "rfm_scores", "rfm_summary")},
}

__all__ = [
    "customer_features", "suggest_transaction_columns", "looks_like_id",
    "kmeans_segments", "SegmentResult", "segment_assignments",
    "choose_k", "KChoice", "fit_segments", "SegmentFit", "stability", "Stability", "segment_map", "SegmentMap",
    "Preprocessing", "feature_suggestions",
    "FeatureSuggestion",
    "rfm_scores", "rfm_summary", "rf_grid", "DEFAULT_RULES",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (then it is a plain attribute)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'core.segments' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
