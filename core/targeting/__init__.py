"""Targeting: whom to reach, with what, and what each customer is worth.

One module per model, imported by name (`core.targeting.clv`, `core.targeting.uplift`,
`core.targeting.recommend`, `core.targeting.audience`), so importing this package loads nothing heavy:
the Targeting page's first render needs only pandas and DuckDB.

- clv: per-customer summary (frequency, recency, T, monetary value), BG/NBD for purchases and P(alive),
  Gamma-Gamma for spend, CLV over a horizon, hold-out check (all fitted with scipy).
- uplift: two-model and class-transformation learners from a randomised campaign, Qini curve and
  normalised Qini AUC, uplift@k, an uplift score per customer.
- recommend: item-to-item co-occurrence in the database, each customer's next-best products with the reason,
  and an offline hit-rate / nDCG check against popularity.
- audience: one audience from segments, CLV, uplift, propensity scores and filters, ready to export.
"""
