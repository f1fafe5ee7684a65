"""Descriptive segment names from each segment's most distinctive features ("Recent · frequent · high spend")."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# (pattern on the feature name, word when the segment is high, word when it is low); first match wins.
# Amounts and counts come before "products"/"range": MntMeatProducts is spend on meat, not a range.
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
    (r"kidhome|kids|children", "with children", "fewer children"),
    (r"teenhome|teens", "with teenagers", "fewer teenagers"),
    (r"year_?birth|birth_?year", "younger", "older"),
    (r"(^|_)age($|_)", "older", "younger"),
    (r"n_products|products|categories|sku", "broad range", "narrow range"),
    (r"n_channels|channels", "multichannel", "single channel"),
]
# Amount columns (iFood's Mnt*, *amount*, *spend*) read as spend, on what when the name says so.
_SPEND = re.compile(r"^mnt|amount|spend|monetary|revenue|sales|ltv|clv", re.IGNORECASE)
_SPEND_WORDS = re.compile(r"^(mnt|amount|amounts|spend|spent|spending|monetary|revenue|sales|ltv|clv|total|sum|"
                          r"value|products?|prods?|avg|mean|customer|lifetime|\d+d?|ytd|month|monthly|year|yearly|"
                          r"week|weekly|days?|last|per|of|on|in)$", re.IGNORECASE)
# Counts (iFood's Num*: NumWebPurchases, NumWebVisitsMonth) read as purchases or visits.
_COUNT = re.compile(r"^(Num(?=[A-Z])|num_|n_(?!products|channels|orders))")
_COUNT_WORDS = re.compile(r"^(num|n|month|monthly|per|last|\d+d?|days?|week|weekly|year)$", re.IGNORECASE)
MIN_EFFECT = 0.35  # standardised difference below which a feature is not called distinctive


def _words(name: str) -> list[str]:
    """CamelCase and snake_case split into lower-case words: MntMeatProducts -> [mnt, meat, products]."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[_\-\s.]+", " ", name)
    return [w.lower() for w in spaced.split() if w]


def _spend_words(feature: str, high: bool) -> str:
    subject = " ".join({"sweet": "sweets"}.get(w, w) for w in _words(feature) if not _SPEND_WORDS.match(w))
    level = "high spend" if high else "low spend"
    return f"{level} on {subject}" if subject else level


def _count_words(feature: str, high: bool) -> str | None:
    words = [{"deals": "deal"}.get(w, w) for w in _words(feature) if not _COUNT_WORDS.match(w)]
    if not words:
        return None
    if words[-1] in ("visit", "visits", "sessions", "pageviews"):
        words[-1] = "visits"
    elif words[-1] not in ("purchases", "orders", "transactions", "complaints", "returns", "clicks", "opens"):
        words.append("purchases")
    return f"{'many' if high else 'few'} {' '.join(words)}"


def describe_feature(feature: str, high: bool) -> str:
    """A word for a feature being high or low in a segment; one-hot features read "mostly <level>".

    Amounts read as spend ("high spend on meat" for MntMeatProducts), counts as purchases or visits
    ("many web purchases" for NumWebPurchases, "few web visits" for NumWebVisitsMonth).
    """
    if "=" in feature:
        column, level = feature.split("=", 1)
        return f"mostly {level}" if high else f"few {level}"
    if re.search(r"avg_order|aov|order_value|basket", feature, re.IGNORECASE):
        return "big baskets" if high else "small baskets"
    if _COUNT.match(feature):
        counted = _count_words(feature, high)
        if counted:
            return counted
    if _SPEND.search(feature):
        return _spend_words(feature, high)
    for pattern, up, down in VOCABULARY:
        if re.search(pattern, feature, re.IGNORECASE):
            return up if high else down
    readable = " ".join(_words(feature)) or feature.strip()
    return f"high {readable}" if high else f"low {readable}"


def _merge_spend(words: list[str], word: str) -> list[str] | None:
    """ "high spend on meat" then "high spend on wines" -> one term "high spend on meat, wines" (None: no merge)."""
    for level in ("high spend on ", "low spend on "):
        if word.startswith(level):
            for i, w in enumerate(words):
                if w.startswith(level):
                    return words[:i] + [f"{w}, {word[len(level):]}"] + words[i + 1:]
    return None


def _short(word: str, most: int = 3) -> str:
    """ "high spend on a, b, c, d, e" -> "high spend on a, b, c and 2 more"."""
    head, sep, subjects = word.partition(" spend on ")
    items = subjects.split(", ")
    if not sep or len(items) <= most:
        return word
    return f"{head}{sep}{', '.join(items[:most])} and {len(items) - most} more"


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
            merged = _merge_spend(words, word)
            if merged is not None:
                words = merged
            elif word not in words:
                words.append(word)
        ranked[int(seg)] = [_short(w) for w in words] or ["average customers"]
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
