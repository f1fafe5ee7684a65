"""RFM scores (quintiles, 5 = best) and named RFM segments from an editable, ordered rule table."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from core.errors import DataError
from core.segments.features import require_one_row_per_customer

# Ordered rules: the first that matches names the customer; anything else is "Others".
# Score ranges are inclusive (R / F / M). A common table; tools differ, so users can edit it.
DEFAULT_RULES = pd.DataFrame(
    [
        ("Champions", 4, 5, 4, 5, 4, 5),
        ("Potential Loyalist", 3, 5, 3, 5, 2, 5),
        ("Loyal Customers", 2, 4, 2, 4, 2, 4),
        ("Promising", 3, 4, 1, 3, 3, 5),
        ("New Customers", 4, 5, 1, 3, 1, 5),
        ("Can't Lose Them", 1, 2, 3, 4, 4, 5),
        ("At Risk", 1, 2, 2, 5, 4, 5),
        ("Need Attention", 1, 3, 3, 5, 3, 5),
        ("About To Sleep", 2, 3, 1, 3, 1, 4),
        ("Lost", 1, 1, 1, 5, 1, 5),
    ],
    columns=["segment", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max"],
)
RULE_COLUMNS = list(DEFAULT_RULES.columns)
OTHERS = "Others"
NOT_SCORED = "Not scored (missing values)"


def quintile_score(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..5 by quintile of the mid-rank percentile; equal values always share a score.

    Each customer's percentile is (number of worse values + half the number of equal values) / n,
    i.e. the middle of its tie group, and the score is the fifth it falls in (0-20% -> 1, ...,
    80-100% -> 5; 5 is the best). Without ties the five scores have equal counts (+-1); a tie group
    stays whole, so 300 identical customers all get 3, and a value shared by 40% of customers gets
    one score (some scores may then be empty). Missing values get no score (<NA>).
    """
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    ranked = x.rank(method="average", ascending=higher_is_better, na_option="keep")
    score = pd.Series(pd.NA, index=values.index, dtype="Int64")
    ok = ranked.notna()
    n = int(ok.sum())
    if n > 0:
        # percentile = (rank - 1/2) / n; its fifth floor(5 * percentile) in exact integers (average ranks are halves)
        twice_rank = np.rint(ranked[ok].to_numpy() * 2).astype("int64")
        score[ok] = np.clip((5 * (twice_rank - 1)) // (2 * n) + 1, 1, 5)
    return score


def normalise_rules(rules: pd.DataFrame | Iterable[dict[str, Any]] | None) -> pd.DataFrame:
    """Validate a rule table (segment, r_min, r_max, f_min, f_max, m_min, m_max), keeping its order."""
    if rules is None:
        return DEFAULT_RULES.copy()
    table = rules.copy() if isinstance(rules, pd.DataFrame) else pd.DataFrame(list(rules))
    missing = [c for c in RULE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"The RFM rule table misses column(s) {', '.join(missing)}; each rule needs "
                        "segment, r_min, r_max, f_min, f_max, m_min and m_max.")
    table = table[RULE_COLUMNS].dropna(how="all").reset_index(drop=True)
    table["segment"] = table["segment"].astype("string").str.strip()
    if table["segment"].isna().any() or (table["segment"] == "").any():
        raise DataError("Every RFM rule needs a segment name; fill in or delete the empty rule.")
    for col in RULE_COLUMNS[1:]:
        vals = pd.to_numeric(table[col], errors="coerce")
        if vals.isna().any() or not vals.between(1, 5).all() or (vals != vals.round()).any():
            raise DataError(f"RFM rule column {col} must hold whole scores from 1 to 5; fix the rule table.")
        table[col] = vals.astype("int64")
    for letter in "rfm":
        bad = table[table[f"{letter}_min"] > table[f"{letter}_max"]]
        if not bad.empty:
            raise DataError(f"Rule '{bad.iloc[0]['segment']}': {letter}_min is above {letter}_max; swap them.")
    return table


def name_rfm_segments(r: pd.Series, f: pd.Series, m: pd.Series, rules: pd.DataFrame | None = None) -> pd.Series:
    """The first matching rule's segment for each R/F/M score triple; "Others" when none matches."""
    table = normalise_rules(rules)
    out = pd.Series(OTHERS, index=r.index, dtype="object")
    done = pd.Series(False, index=r.index)
    missing = r.isna() | f.isna() | m.isna()
    out[missing] = NOT_SCORED
    done |= missing
    rv, fv, mv = (s.fillna(0).astype("int64") for s in (r, f, m))
    for rule in table.itertuples(index=False):
        hit = (~done & rv.between(rule.r_min, rule.r_max) & fv.between(rule.f_min, rule.f_max)
               & mv.between(rule.m_min, rule.m_max))
        out[hit] = rule.segment
        done |= hit
    return out


def rfm_scores(
    features: pd.DataFrame,
    *,
    recency: str = "recency_days",
    frequency: str = "frequency",
    monetary: str = "monetary",
    rules: pd.DataFrame | Iterable[dict[str, Any]] | None = None,
    customer: str | None = None,
) -> pd.DataFrame:
    """Add r_score, f_score, m_score (1..5, 5 best), rfm_code ("545") and rfm_segment to a customer table.

    Recency is reversed (fewest days since the last purchase scores 5). Customers with a missing
    R, F or M value get no scores and the segment "Not scored (missing values)".
    """
    if not isinstance(features, pd.DataFrame):
        raise DataError("RFM scores need a pandas DataFrame with one row per customer.")
    for role, col in (("recency", recency), ("frequency", frequency), ("monetary", monetary)):
        if col not in features.columns:
            raise DataError(f"The {role} column '{col}' is not in the table. Pick the column that holds {role} "
                            "(or build customer features from transactions first).")
        if not (pd.api.types.is_numeric_dtype(features[col]) or pd.api.types.is_bool_dtype(features[col])):
            raise DataError(f"The {role} column '{col}' is not numeric; pick a numeric column.")
    if features.empty:
        raise DataError("The table has no customers to score.")
    require_one_row_per_customer(features, customer, exclude=(recency, frequency, monetary))
    out = features.copy()
    out["r_score"] = quintile_score(out[recency], higher_is_better=False)
    out["f_score"] = quintile_score(out[frequency])
    out["m_score"] = quintile_score(out[monetary])
    scored = out[["r_score", "f_score", "m_score"]].notna().all(axis=1)
    code = pd.Series(pd.NA, index=out.index, dtype="string")
    code[scored] = (out.loc[scored, "r_score"].astype(str) + out.loc[scored, "f_score"].astype(str)
                    + out.loc[scored, "m_score"].astype(str))
    out["rfm_code"] = code
    out["rfm_segment"] = name_rfm_segments(out["r_score"], out["f_score"], out["m_score"], rules)
    return out


def rfm_summary(scored: pd.DataFrame, *, recency: str = "recency_days", frequency: str = "frequency",
                monetary: str = "monetary") -> pd.DataFrame:
    """Per RFM segment: customers, share, mean recency/frequency/monetary and share of total spend."""
    g = scored.groupby("rfm_segment", dropna=False)
    out = g.agg(customers=("rfm_segment", "size"), recency_days=(recency, "mean"),
                frequency=(frequency, "mean"), monetary=(monetary, "mean"), spend=(monetary, "sum"))
    out["share"] = out["customers"] / out["customers"].sum()
    total = out["spend"].sum()
    out["spend_share"] = out["spend"] / total if total else np.nan
    out = out.drop(columns="spend").sort_values("customers", ascending=False)
    return out[["customers", "share", "recency_days", "frequency", "monetary", "spend_share"]]


def rf_grid(scored: pd.DataFrame, *, monetary: str = "monetary") -> pd.DataFrame:
    """R x F grid: customers and mean monetary value for every (r_score, f_score) cell, 5 x 5."""
    full = pd.MultiIndex.from_product([range(1, 6), range(1, 6)], names=["r_score", "f_score"])
    data = scored.dropna(subset=["r_score", "f_score"])
    g = data.groupby([data["r_score"].astype(int), data["f_score"].astype(int)])
    grid = pd.DataFrame({"customers": g.size(), "avg_monetary": g[monetary].mean()}).reindex(full)
    grid["customers"] = grid["customers"].fillna(0).astype(int)
    return grid.reset_index()
