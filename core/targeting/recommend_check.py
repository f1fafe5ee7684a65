"""Offline check of next-best products: hide each customer's last purchase, recommend from the rest.

For every customer with purchases on two or more days, the items of their last purchase day that they
had not bought before are hidden; the recommendations are fitted on everything else (other customers'
later purchases included: this is the usual leave-last-out check, not a strict time split) and scored
with hit rate@k (share of customers with at least one hidden item in their top k), nDCG@k (binary
relevance, 1 / log2(rank + 1), divided by the best possible for min(hidden, k) items) and recall@k
(hidden items found / hidden items). The same run scores a popularity baseline: the k items with the
most buyers in the fitting data that the customer has not bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import ibis
import numpy as np
import pandas as pd

from core.errors import DataError
from core.targeting import recommend_data as data
from core.targeting import recommend_steps as steps
from core.targeting.recommend_data import DataCounts
from core.targeting.recommend_steps import (DEFAULT_MAX_ITEMS, DEFAULT_MEASURE, DEFAULT_MIN_COUNT,
                                            DEFAULT_NEIGHBOURS, DEFAULT_MAX_PAIRS, Aggregate, Measure)


@dataclass(frozen=True)
class RecommendationCheck:
    """Hit rate, nDCG and recall at k for the recommendations and for popularity, on the same customers."""

    k: int
    measure: Measure
    min_count: int
    customers: int
    customers_evaluated: int
    skipped_single_date: int
    skipped_only_repeats: int
    hidden_items: int
    hit_rate: float
    ndcg: float
    recall: float
    popular_hit_rate: float
    popular_ndcg: float
    popular_recall: float
    counts: DataCounts

    @property
    def skipped(self) -> dict[str, int]:
        """Customers not evaluated, by reason."""
        return {"bought on a single date (nothing left to fit on)": self.skipped_single_date,
                "last purchase only repeats items bought before": self.skipped_only_repeats}

    def summary(self) -> str:
        """One sentence for the page."""
        return (f"Hiding each customer's last purchase ({self.customers_evaluated:,} customers evaluated, "
                f"{self.skipped_single_date + self.skipped_only_repeats:,} skipped): hit rate@{self.k} "
                f"{self.hit_rate:.1%} vs {self.popular_hit_rate:.1%} for popular items, nDCG@{self.k} "
                f"{self.ndcg:.3f} vs {self.popular_ndcg:.3f}.")


def _metrics(recs: pd.DataFrame, hidden: pd.DataFrame, k: int) -> tuple[float, float, float]:
    """Hit rate, nDCG and recall at k; `recs` (c, i, rank) and `hidden` (c, i), one row per pair."""
    per = hidden.groupby("c").size().rename("h")
    hits = recs[recs["rank"] <= k].merge(hidden, on=["c", "i"], how="inner")
    gain = (1.0 / np.log2(hits["rank"].to_numpy(dtype="float64") + 1.0))
    dcg = pd.Series(gain, index=hits["c"].to_numpy()).groupby(level=0).sum()
    found = hits.groupby("c").size()
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, k + 2, dtype="float64")))
    ideal = pd.Series(discounts[np.minimum(per.to_numpy(), k) - 1], index=per.index)
    dcg = dcg.reindex(per.index, fill_value=0.0)
    found = found.reindex(per.index, fill_value=0)
    n = len(per)
    return (float((found > 0).sum() / n), float((dcg / ideal).sum() / n), float(found.sum() / per.sum()))


def offline_check(transactions: pd.DataFrame | ibis.Table, customer: str, item: str, date: str, *,
                  k: int = 10, weight: str | None = None, measure: Measure = DEFAULT_MEASURE,
                  min_count: int | None = DEFAULT_MIN_COUNT, neighbours: int = DEFAULT_NEIGHBOURS,
                  max_items: int = DEFAULT_MAX_ITEMS, max_pairs: int | None = DEFAULT_MAX_PAIRS,
                  aggregate: Aggregate = "sum",
                  exclude: tuple[str, str] | None = None, event: str | None = None,
                  event_weights: Mapping[str, float] | None = None) -> RecommendationCheck:
    """Hide each customer's last purchase day, recommend from the rest, and compare with popularity.

    Dates are taken as days (two invoices on one day are one purchase). Customers with a single
    purchase day cannot be evaluated, nor can customers whose last day only repeats earlier items (the
    recommendations never repeat a bought item); both are counted. The options are `recommend`'s.
    With an event column the last purchase day is hidden as before, and views and add-to-carts dated
    before it seed the scores (on that day or later they would give the purchase away).
    """
    data.check_settings(k, min_count, neighbours, max_items, measure, aggregate, max_pairs)
    weights = data.check_event_weights(event_weights)
    t, backend = data.inputs(transactions, customer, item, weight=weight, date=date, exclude=exclude, event=event)
    with steps.Scratch(backend, t) as scratch:
        t = scratch.source(t)
        every = steps.clean(t)
        lines = steps.purchases(every)
        span = lines.group_by("c").aggregate(first=lines.d.min(), last=lines.d.max()).rename(sc="c")
        dated = lines.join(span, lines.c == span.sc).select(*lines.columns, "first", "last")
        held = (dated.d == dated.last) & (dated.first < dated.last)
        fit = scratch.keep(dated.filter(~held).select(*lines.columns))
        fit_pairs = fit.select("c", "i").distinct().rename(fc="c", fi="i")
        last = dated.filter(held).select("c", "i").distinct()
        hidden = scratch.keep(last.anti_join(fit_pairs, [last.c == fit_pairs.fc, last.i == fit_pairs.fi])
                              .select("c", "i"))
        row = scratch.execute(span.aggregate(customers=span.count(),
                                             single=(span.first == span.last).sum())).iloc[0]
        hidden_df = scratch.execute(hidden)
        if hidden_df.empty:
            raise DataError("No customer can be evaluated: each bought on one date only, or their last "
                            "purchase only repeats items they bought before. The check needs customers "
                            "with new items on a later date.")
        browse = None
        if "e" in every.columns:
            seen = every.filter(every.e != "purchase")
            seen = seen.join(span, seen.c == span.sc).filter(lambda j: j.d < j.last).select(*every.columns)
            browse = steps.browse_items(seen, weights)
        fitted = steps.fit(fit, scratch, measure=measure, min_count=min_count, neighbours=neighbours,
                           max_items=max_items, max_pairs=max_pairs, browse=browse)
        counts = data.data_counts(t, fitted, scratch, max_items)
        who = hidden.select(tc="c").distinct()
        texts = steps.item_texts(fit, fitted.items, False)
        recs = steps.recommendations(fitted, texts, scratch, k=k, aggregate=aggregate, exclude_bought=True,
                                     customers=who)
        recs_df = scratch.execute(recs.select("c", "i", "rank"))
        popular_df = scratch.execute(_popular(fitted, who, k))
    customers, single = int(row["customers"]), int(row["single"] or 0)
    evaluated = int(hidden_df["c"].nunique())
    hit, ndcg, recall = _metrics(recs_df, hidden_df, k)
    p_hit, p_ndcg, p_recall = _metrics(popular_df, hidden_df, k)
    return RecommendationCheck(
        k=k, measure=measure, min_count=fitted.min_count, customers=customers, customers_evaluated=evaluated,
        skipped_single_date=single, skipped_only_repeats=customers - single - evaluated,
        hidden_items=len(hidden_df), hit_rate=hit, ndcg=ndcg, recall=recall, popular_hit_rate=p_hit,
        popular_ndcg=p_ndcg, popular_recall=p_recall, counts=counts)


def _popular(fitted: steps.Fitted, who: ibis.Table, k: int) -> Any:
    """The popularity baseline (c, i, rank): the k items with most buyers each customer has not bought."""
    cust = fitted.customers.semi_join(who, fitted.customers.c == who.tc).select(fitted.customers.columns)
    own = fitted.pairs.semi_join(cust, fitted.pairs.cid == cust.cid).select(fitted.pairs.columns)
    fill = steps.popular_fill(cust, own, fitted.items, None, k=k, exclude_bought=True)
    j = fill.join(fitted.items, fill.b == fitted.items.iid).join(cust, fill.cid == cust.cid)
    return j.select(c=cust.c, i=fitted.items.i, rank=fill.rank)
