"""Customer segments: features from transactions, RFM scores and K-means segments."""

from core.columns import looks_like_id
from core.segments.features import customer_features, suggest_transaction_columns
from core.segments.kmeans import SegmentResult, kmeans_segments, segment_assignments
from core.segments.preprocess import FeatureSuggestion, Preprocessing, feature_suggestions
from core.segments.rfm import DEFAULT_RULES, rf_grid, rfm_scores, rfm_summary

__all__ = [
    "customer_features", "suggest_transaction_columns", "looks_like_id",
    "kmeans_segments", "SegmentResult", "segment_assignments", "Preprocessing", "feature_suggestions",
    "FeatureSuggestion",
    "rfm_scores", "rfm_summary", "rf_grid", "DEFAULT_RULES",
]
