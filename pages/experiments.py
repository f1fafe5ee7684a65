"""Experiments: A/B and campaign tests (coming soon)."""

from pages.coming_soon import render

render(
    "Experiments",
    "Analyse A/B tests and campaigns with correct significance statistics.",
    [
        "Lift with confidence intervals, p-values and multiple-testing correction for every variant and metric.",
        "Sample ratio mismatch check, CUPED variance reduction, winsorising and sequential testing.",
        "Bayesian chance to beat control, plain-language verdicts, and sample-size planning.",
        "Charts over time and by segment, downloadable results and an HTML report.",
    ],
)
