"""Next-best products: item-to-item co-occurrence in the database, each customer's top-k with a reason.

How it works (Ibis expressions, so it runs where the data lives; the intermediate steps are kept as
temporary tables on that backend and dropped at the end):
1. Clean lines (counted, see `DataCounts`): lines without customer or item, returns (negative weight),
   zero or missing weight, lines hit by the `exclude` filter are left out; duplicate lines are counted
   and, with `drop_duplicates=True`, used once.
2. Customer-item pairs: one row per customer and item (buying an item twice is one buyer). Strength =
   log(1 + total weight) with a weight column (quantity or spend: more units count, with diminishing
   returns, so 500 cheap pens do not outweigh everything else), 1 without.
3. Co-occurrence: a self-join of the pairs on the customer (customers who bought both), counted per item
   pair; pairs with fewer than `min_count` shared buyers are dropped. A customer with more than
   `max_items` distinct items enters the co-occurrence with their `max_items` most-bought items only
   (counted: `heavy_customers`, `pairs_left_out_by_cap`). When the self-join would still count more
   than `max_pairs` item pairs (default 40M; 10M synthetic lines need ~106M), it uses 1 in m customers
   (every m-th in customer order), counted in `sample_every`; on Online Retail 1 in 2 customers gave
   nDCG 0.078 instead of 0.079, 1 in 3 0.073. Every customer still gets recommendations.
4. Similarity: cosine = n_ab / sqrt(n_a n_b) (default) or lift = n_ab n / (n_a n_b) (pairs with lift > 1
   only); each item keeps its `neighbours` most similar items.
5. Score of an unbought item for a customer = sum over the items they bought of strength x similarity
   (items similar to several of the customer's items rank first); the reason names the item with the
   largest single contribution: "bought with X by 34% of X's buyers" (34% = customers who bought X and
   the recommended item / customers who bought X).
6. Customers with fewer than k candidates are filled up with the most popular items they have not
   bought, with the reason "popular: bought by N customers" and score 0 (customers whose items have no
   co-occurring items get popular items only).

Defaults, chosen on Online Retail with `offline_check` (hit rate / nDCG at 10; docs/targeting_online_retail.md):
cosine (lift with a small min_count fell below popularity: one shared buyer of two rare items makes lift
huge); min_count 3 for cosine (1, 3 and 5 gave the same nDCG) and 1% of customers for lift (lift matched
cosine only from ~50 shared buyers on 4,339 customers); neighbours 20 (nDCG 0.079; 50: 0.069, 100: 0.063);
sum over the customer's items (max: 0.062); max_items 300 (100: 0.075).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import ibis
import pandas as pd

from core.targeting import recommend_data as data
from core.targeting import recommend_steps as steps
from core.targeting.recommend_check import RecommendationCheck, offline_check
from core.targeting.recommend_data import DataCounts
from core.targeting.recommend_steps import Aggregate, Measure

from core.targeting.recommend_steps import (DEFAULT_MAX_ITEMS, DEFAULT_MEASURE, DEFAULT_MIN_COUNT,
                                            DEFAULT_NEIGHBOURS, DEFAULT_MAX_PAIRS)

POPULAR_PREFIX = "popular: "


@dataclass(frozen=True)
class Recommendations:
    """`table`: customer, item, [label], rank, score, reason (input's column names; the label, when one was
    given, is each product's most frequent description); counts and settings used."""

    table: pd.DataFrame
    counts: DataCounts
    measure: Measure
    min_count: int
    k: int
    customers_with_popular_fill: int
    customers_only_popular: int


def _percent(share: float) -> str:
    pct = 100 * share
    return f"{pct:.0f}" if pct >= 1 else f"{pct:.1g}"


def _reasons(frame: pd.DataFrame) -> pd.Series:
    """'bought with X by 34% of X's buyers' for co-occurrence rows, 'in the cart, not bought yet' or
    'viewed, not bought yet' when the product's own view or add-to-cart weighs most, and 'popular:
    bought by N customers' else."""
    reason = pd.Series("", index=frame.index, dtype="string")
    seen = frame["seen"].notna() if "seen" in frame.columns else pd.Series(False, index=frame.index)
    if seen.any():
        reason[seen] = frame.loc[seen, "seen"].map({"cart": "in the cart, not bought yet",
                                                     "view": "viewed, not bought yet"}).astype("string")
    co = frame["via_text"].notna() & ~seen
    if co.any():
        pct = frame.loc[co, "share"].map(_percent).astype("string")
        via = frame.loc[co, "via_text"].astype("string")
        reason[co] = "bought with " + via + " by " + pct + "% of " + via + "'s buyers"
    pop = ~co & ~seen
    if pop.any():
        reason[pop] = frame.loc[pop, "buyers"].map(
            lambda n: f"{POPULAR_PREFIX}bought by {int(n):,} customer{'s' if int(n) != 1 else ''}")
    return reason


def next_best_products(transactions: pd.DataFrame | ibis.Table, customer: str, item: str, *, k: int = 10,
                       weight: str | None = None, exclude_bought: bool = True, label: str | None = None,
                       measure: Measure = DEFAULT_MEASURE, min_count: int | None = DEFAULT_MIN_COUNT,
                       neighbours: int = DEFAULT_NEIGHBOURS, max_items: int = DEFAULT_MAX_ITEMS,
                       max_pairs: int | None = DEFAULT_MAX_PAIRS,
                       aggregate: Aggregate = "sum", exclude: tuple[str, str] | None = None,
                       date: str | None = None, drop_duplicates: bool = False,
                       customers: Sequence[Any] | pd.Series | None = None, event: str | None = None,
                       event_weights: Mapping[str, float] | None = None) -> Recommendations:
    """Each customer's top-k items with the reason, plus the data counts (see the module docstring).

    transactions: pandas DataFrame or Ibis table of purchase lines. weight: quantity or spend column
    (negative values are returns and left out). label: a description column used in the reasons.
    exclude: (column, prefix) leaves out lines whose column starts with the prefix, e.g.
    ('InvoiceNo', 'C') for cancellation invoices. date: the order time, used only to tell duplicate
    lines (same customer, item, time, weight) from repeat purchases; drop_duplicates=True uses such lines
    once. exclude_bought=False lets bought items be recommended again (replenishment). customers: only
    these customers get recommendations (e.g. an audience); the co-occurrence still uses everyone.
    event: a column saying what each line is (purchase, add-to-cart, view: read from its text, e.g.
    "transaction", "addtocart", "view"); purchases make the co-occurrence, views and add-to-carts only
    seed the customer's scores with event_weights' strength (default cart 0.5, view 0.2; a purchase 1),
    are never excluded, and give customers who only browsed recommendations too. Lines whose event
    reads as none of the three are counted and left out.
    """
    data.check_settings(k, min_count, neighbours, max_items, measure, aggregate, max_pairs)
    weights = data.check_event_weights(event_weights)
    t, backend = data.inputs(transactions, customer, item, weight=weight, label=label, date=date,
                             exclude=exclude, event=event)
    with steps.Scratch(backend, t) as scratch:
        t = scratch.source(t)
        lines = steps.clean(t, drop_duplicates=drop_duplicates)
        fitted = steps.fit(steps.purchases(lines), scratch, measure=measure, min_count=min_count,
                           neighbours=neighbours, max_items=max_items, max_pairs=max_pairs,
                           browse=steps.browse_items(lines, weights))
        counts = data.data_counts(t, fitted, scratch, max_items)
        data.require_lines(counts)
        texts = steps.item_texts(lines, fitted.items, label is not None)
        expr = steps.recommendations(fitted, texts, scratch, k=k, aggregate=aggregate,
                                     exclude_bought=exclude_bought, customers=data.customer_list(customers, t))
        frame = scratch.execute(expr)
        names = scratch.execute(texts.select("i", "text")) if label is not None else None
    frame = frame.sort_values(["c", "rank"], kind="stable").reset_index(drop=True)
    table = pd.DataFrame({customer: frame["c"], item: frame["i"], "rank": frame["rank"].astype("int64"),
                          "score": frame["score"].astype("float64"), "reason": _reasons(frame)})
    if names is not None and label not in (customer, item):
        # each product's description (its most frequent label) beside its code: what an e-mail shows
        table.insert(2, str(label), table[item].map(dict(zip(names["i"], names["text"]))).astype("object"))
    popular = table["reason"].str.startswith(POPULAR_PREFIX)
    per_customer = popular.groupby(table[customer]).agg(["any", "all"])
    return Recommendations(table=table, counts=counts, measure=measure, min_count=fitted.min_count, k=k,
                           customers_with_popular_fill=int(per_customer["any"].sum()),
                           customers_only_popular=int(per_customer["all"].sum()))


def recommend(transactions: pd.DataFrame | ibis.Table, customer: str, item: str, *, k: int = 10,
              weight: str | None = None, exclude_bought: bool = True, **options: Any) -> pd.DataFrame:
    """Each customer's top-k products: columns (customer, item, rank, score, reason), the input's names.

    See `next_best_products` for the options (label, measure, min_count, neighbours, max_items,
    aggregate, exclude, date, drop_duplicates, customers) and for the data counts, which this leaves out.
    """
    return next_best_products(transactions, customer, item, k=k, weight=weight, exclude_bought=exclude_bought,
                              **options).table


def item_similarity(transactions: pd.DataFrame | ibis.Table, customer: str, item: str, *,
                    measure: Measure = DEFAULT_MEASURE, min_count: int | None = DEFAULT_MIN_COUNT,
                    neighbours: int = DEFAULT_NEIGHBOURS, max_items: int = DEFAULT_MAX_ITEMS,
                    max_pairs: int | None = DEFAULT_MAX_PAIRS,
                    label: str | None = None, weight: str | None = None,
                    exclude: tuple[str, str] | None = None, event: str | None = None) -> pd.DataFrame:
    """The "bought together" table: for each item its `neighbours` most similar items by `measure`.

    Columns: <item>, other_<item>, [<label>, other_<label>], customers_both, customers_item,
    customers_other, share (= customers_both / customers_item), lift, cosine; sorted by item, then
    similarity (best first). Counts are distinct customers after the same cleaning and cap as
    `recommend` (the weight only serves to leave returns out here); with an event column, purchases only.
    """
    data.check_settings(1, min_count, neighbours, max_items, measure, "sum", max_pairs)
    t, backend = data.inputs(transactions, customer, item, weight=weight, label=label, exclude=exclude, event=event)
    with steps.Scratch(backend, t) as scratch:
        t = scratch.source(t)
        lines = steps.purchases(steps.clean(t))
        fitted = steps.fit(lines, scratch, measure=measure, min_count=min_count, neighbours=neighbours,
                           max_items=max_items, max_pairs=max_pairs)
        texts = steps.item_texts(lines, fitted.items, label is not None)
        sim = fitted.sim
        a = texts.select(aid="iid", ai="i", at="text")
        b = texts.select(bid="iid", bi="i", bt="text")
        j = sim.join(a, sim.a == a.aid).join(b, sim.b == b.bid)
        frame = scratch.execute(j.select("ai", "bi", "at", "bt", "n_ab", "n_a", "n_b", "share", "lift",
                                         "cosine", "sim", "a", "b"))
    frame = frame.sort_values(["a", "sim", "n_ab", "b"], ascending=[True, False, False, True], kind="stable")
    out = pd.DataFrame({item: frame["ai"], f"other_{item}": frame["bi"]})
    if label is not None:
        out[label] = frame["at"]
        out[f"other_{label}"] = frame["bt"]
    for new, old in (("customers_both", "n_ab"), ("customers_item", "n_a"), ("customers_other", "n_b")):
        out[new] = frame[old].astype("int64")
    for col in ("share", "lift", "cosine"):
        out[col] = frame[col].astype("float64")
    return out.reset_index(drop=True)


def settings_note(result: Recommendations) -> str:
    """One line on how the scores were made, for the page."""
    return (f"Top {result.k} per customer by {result.measure} similarity (items bought by at least "
            f"{result.min_count} same customers); {result.customers_with_popular_fill:,} customers filled up "
            f"with popular items, {result.customers_only_popular:,} of them with popular items only.")


__all__ = ["DataCounts", "Recommendations", "RecommendationCheck", "recommend", "next_best_products",
           "item_similarity", "offline_check", "settings_note"]
