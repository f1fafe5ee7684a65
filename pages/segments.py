"""Segments: K-means and RFM customer segments (coming soon)."""

from pages.coming_soon import render

render(
    "Segments",
    "Find groups of customers who behave alike, name them in words, and export them.",
    [
        "Build one row per customer from transactions (recency, frequency, monetary, tenure ...).",
        "K-means with a recommended number of segments (elbow, silhouette, Calinski-Harabasz, Davies-Bouldin).",
        "Segment profiles, a PCA map, stability across resamples and the features that separate segments.",
        "RFM scores and named RFM segments (Champions, At Risk, Lost ...).",
        "Save assignments to the workspace and export chosen segments as CSV, Parquet or Excel.",
    ],
)
