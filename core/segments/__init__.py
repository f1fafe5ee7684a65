"""Customer segments: features from transactions, RFM scores and K-means segments."""

from core.columns import looks_like_id
from core.segments.features import customer_features, suggest_transaction_columns
from core.segments.kmeans import (KChoice, SegmentFit, SegmentMap, SegmentResult, Stability, choose_k, fit_segments,
                                  kmeans_segments, segment_assignments, segment_map, stability)
from core.segments.preprocess import FeatureSuggestion, Preprocessing, feature_suggestions
from core.segments.rfm import DEFAULT_RULES, rf_grid, rfm_scores, rfm_summary

__all__ = [
    "customer_features", "suggest_transaction_columns", "looks_like_id",
    "kmeans_segments", "SegmentResult", "segment_assignments",
    "choose_k", "KChoice", "fit_segments", "SegmentFit", "stability", "Stability", "segment_map", "SegmentMap",
    "Preprocessing", "feature_suggestions",
    "FeatureSuggestion",
    "rfm_scores", "rfm_summary", "rf_grid", "DEFAULT_RULES",
]
