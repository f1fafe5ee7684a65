"""Descriptive segment names from each segment's most distinctive features ("Recent · frequent · high spend")."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# (pattern on the feature name, word when the segment is high, word when it is low); first match wins.
VOCABULARY: list[tuple[str, str, str]] = [
    (r"between_orders|inter_?purchase|gap", "long gaps between orders", "short gaps between orders"),
    (r"recen|days_since|since_last", "lapsed", "recent"),
    (r"avg_order|aov|order_value|basket", "big baskets", "small baskets"),
    (r"freq|orders|purchases|transactions|invoices|n_orders", "frequent", "infrequent"),
    (r"monetary|spend|revenue|sales|amount|ltv|clv|value", "high spend", "low spend"),
    (r"tenure|customer_since|age_days|account_age", "long-standing", "new"),
    (r"open_rate|opens", "opens emails", "ignores emails"),
    (r"click", "clicks a lot", "rarely clicks"),
    (r"session|visit|pageview|logins", "active online", "rarely online"),
    (r"discount|coupon|promo|voucher", "deal seekers", "full-price buyers"),
    (r"return|refund", "many returns", "few returns"),
    (r"n_products|products|categories|sku", "broad range", "narrow range"),
    (r"n_channels|channels", "multichannel", "single channel"),
]
MIN_EFFECT = 0.35  # standardised difference below which a feature is not called distinctive


def describe_feature(feature: str, high: bool) -> str:
    """A word for a feature being high or low in a segment; one-hot features read "mostly <level>"."""
    if "=" in feature:
        column, level = feature.split("=", 1)
        return f"mostly {level}" if high else f"few {level}"
    for pattern, up, down in VOCABULARY:
        if re.search(pattern, feature, re.IGNORECASE):
            return up if high else down
    readable = feature.replace("_", " ").strip()
    return f"high {readable}" if high else f"low {readable}"


def segment_names(effects: pd.DataFrame, max_terms: int = 3) -> dict[int, str]:
    """Names from a segment x feature table of standardised differences from the average customer.

    The largest absolute differences (at least MIN_EFFECT) become words; one-hot levels only
    count when over-represented. Duplicate names get the next distinctive feature, then a number.
    """
    names: dict[int, str] = {}
    ranked: dict[int, list[str]] = {}
    for seg, row in effects.iterrows():
        words: list[str] = []
        order = row.abs().sort_values(ascending=False)
        for feat in order.index:
            value = float(row[feat])
            if not np.isfinite(value) or abs(value) < MIN_EFFECT:
                break
            if "=" in str(feat) and value < 0:
                continue
            word = describe_feature(str(feat), value > 0)
            if word not in words:
                words.append(word)
        ranked[int(seg)] = words or ["average customers"]
    for seg, words in ranked.items():
        names[seg] = " · ".join(words[:max_terms])
    # make names unique: extend with further words, then number the rest
    for seg, words in ranked.items():
        clash = [s for s, n in names.items() if n == names[seg]]
        if len(clash) > 1:
            for s in clash:
                if len(ranked[s]) > max_terms:
                    names[s] = " · ".join(ranked[s][: max_terms + 1])
    seen: dict[str, int] = {}
    for seg in sorted(names):
        base = names[seg]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            names[seg] = f"{base} ({seen[base]})"
    return {seg: name[:1].upper() + name[1:] for seg, name in names.items()}
