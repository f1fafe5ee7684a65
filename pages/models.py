"""Models: propensity, churn and spend models (coming soon)."""

from pages.coming_soon import render

render(
    "Models",
    "Train classifiers and regressors on demand and score customers.",
    [
        "Pick a table and a target (purchased, churned, spend); the task is detected.",
        "Baseline, regularised linear, random forest and gradient boosting, with cross-validation.",
        "Honest hold-out metrics, lift and gains tables, calibration, feature importance.",
        "Save models, score any table and download the scored list.",
    ],
)
