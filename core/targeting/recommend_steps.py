"""The Ibis steps behind core.targeting.recommend: clean lines, customer-item pairs, co-occurrence, scores.

Every step takes and returns an Ibis expression with short internal column names (c = customer,
i = item, w = weight, lbl = label, d = day, ts = the date as given, x = the exclude flag, e = the
line's event: purchase, cart or view), so it runs
where the data lives (DuckDB here; a distributed engine later). Steps used more than once are kept as
temporary tables (`Scratch`), so shared parts are computed once. Customers and items get dense integer
ids (`cid`, `iid`, in value order) before the self-join, which keeps the join and the counts on integers.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from core.errors import DataError
from core.query import drop_temporary, store_temporary

Measure = Literal["lift", "cosine"]
Aggregate = Literal["sum", "max"]

# Chosen on Online Retail with offline_check (docs/targeting_online_retail.md)
DEFAULT_MEASURE: Measure = "cosine"
DEFAULT_MIN_COUNT: int | None = None  # see default_min_count
DEFAULT_NEIGHBOURS = 20
DEFAULT_MAX_ITEMS = 300
# Item pairs the self-join may count (sum over customers of d(d-1)/2 after the cap); above it the
# co-occurrence is counted on every m-th customer. 10M synthetic lines need ~106M (30 s of CPU for the
# join alone on this 2-core machine); Online Retail 16M.
DEFAULT_MAX_PAIRS = 40_000_000
LIFT_MIN_SHARE = 0.01

# Lines of other events than purchases (an event column: view, add-to-cart) are signals of interest:
# they seed a customer's scores with this strength (a purchase's is 1, or log(1 + quantity) with a
# weight), never enter the co-occurrence (whose reasons say "bought with X by 34% of X's buyers"),
# and are never excluded from the recommendations (a product viewed but not bought is a good offer).
EventKind = Literal["purchase", "cart", "view"]
EVENT_WEIGHTS: dict[str, float] = {"cart": 0.5, "view": 0.2}
_EVENT_WORDS: tuple[tuple[EventKind, str], ...] = (  # in this order: the first match names the event
    ("purchase", r"purchase|transaction|order|buy|bought|sale|checkout|paid|payment"),
    ("cart", r"cart|basket|bag|wish"),
    ("view", r"view|click|visit|impression|detail|browse|seen"),
)


def event_kind(col: Any) -> Any:
    """The event of a line from its text (case-insensitive): purchase, cart or view; NULL when none fits."""
    text = col.cast("string").lower()
    return ibis.cases(*[(text.re_search(pattern), kind) for kind, pattern in _EVENT_WORDS], else_=ibis.null("string"))


def classify_event(value: Any) -> EventKind | None:
    """event_kind for one value, in Python (the page shows how each event value is read)."""
    import re

    text = str(value).lower()
    return next((kind for kind, pattern in _EVENT_WORDS if re.search(pattern, text)), None)


def default_min_count(measure: Measure, customers: int) -> int:
    """The fewest shared buyers for an item pair to count: 3 for cosine; for lift 1% of customers (at
    least 3), since lift rewards rare pairs: on Online Retail lift needed ~50 shared buyers (1% of 4,339
    customers ~ 43) to match cosine, and with 3 it fell below popularity."""
    if measure == "lift":
        return max(3, round(LIFT_MIN_SHARE * customers))
    return 3


def as_day(col: Any, name: str) -> Any:
    """A date column as days (timestamps lose their time: purchases on one day are one purchase)."""
    typ = col.type()
    if typ.is_date():
        return col
    if typ.is_timestamp():
        return col.date()
    if typ.is_string():
        return col.try_cast(dt.timestamp).date()
    raise DataError(f"The date column '{name}' holds {typ}, not dates. Pick the column with the order date.")


def usable(t: ibis.Table) -> Any:
    """The condition a line must meet to be used: customer and item present, weight positive, not excluded."""
    cond = t.c.notnull() & t.i.notnull()
    if "e" in t.columns:
        cond &= t.e.notnull()
    if "w" in t.columns:  # a purchase needs a positive weight; a view or add-to-cart line has none
        positive = t.w.notnull() & (t.w > 0)
        cond &= (t.e != "purchase") | positive if "e" in t.columns else positive
    if "x" in t.columns:
        cond &= ~t.x.fill_null(False)
    if "d" in t.columns:
        cond &= t.d.notnull()
    return cond


def hygiene_counts(t: ibis.Table) -> ibis.Table:
    """One row: lines in, lines left out by each reason (first reason that applies), duplicates, lines used."""
    missing = t.c.isnull() | t.i.isnull()
    aggs: dict[str, Any] = {"rows": t.count(), "missing_customer_or_item": missing.sum()}
    rest = ~missing
    if "e" in t.columns:
        aggs["unknown_event"] = (rest & t.e.isnull()).sum()
        rest &= t.e.notnull()
    if "d" in t.columns:
        aggs["missing_date"] = (rest & t.d.isnull()).sum()
        rest &= t.d.notnull()
    if "w" in t.columns:
        bought = rest & (t.e == "purchase") if "e" in t.columns else rest
        aggs["returns"] = (bought & (t.w < 0)).sum()
        aggs["zero_or_missing_weight"] = (bought & (t.w.isnull() | (t.w == 0))).sum()
        rest &= ((t.e != "purchase") | (t.w.notnull() & (t.w > 0))) if "e" in t.columns else \
            (t.w.notnull() & (t.w > 0))
    if "x" in t.columns:
        aggs["excluded"] = (rest & t.x.fill_null(False)).sum()
    aggs["rows_used"] = usable(t).sum()
    if "e" in t.columns:
        aggs["browse_lines"] = (usable(t) & (t.e != "purchase")).sum()
    return t.aggregate(**aggs)


def duplicate_lines(t: ibis.Table) -> ibis.Table:
    """One row: used lines minus distinct used lines (lines identical in every column given)."""
    used = t.filter(usable(t))
    unique = used.distinct()
    both = used.aggregate(n=used.count()).cross_join(unique.aggregate(n_unique=unique.count()))
    return both.select(duplicate_lines=both.n - both.n_unique)


def clean(t: ibis.Table, *, drop_duplicates: bool = False) -> ibis.Table:
    """The usable lines (see `usable`), optionally without exact duplicates."""
    used = t.filter(usable(t))
    return used.distinct() if drop_duplicates else used


def purchases(lines: ibis.Table) -> ibis.Table:
    """The purchase lines (all lines when there is no event column)."""
    return lines.filter(lines.e == "purchase") if "e" in lines.columns else lines


def browse_items(lines: ibis.Table, weights: dict[str, float] | None = None) -> ibis.Table | None:
    """(c, i, s, cart): each customer's viewed or carted items with the strength of their strongest
    event (EVENT_WEIGHTS unless `weights`) and whether it was in the cart; None without an event column."""
    if "e" not in lines.columns:
        return None
    w = {**EVENT_WEIGHTS, **(weights or {})}
    seen = lines.filter(lines.e != "purchase")
    seen = seen.mutate(s=ibis.cases(*[(seen.e == kind, float(value)) for kind, value in w.items()], else_=0.0))
    grouped = seen.group_by(["c", "i"]).aggregate(s=seen.s.max(), cart=(seen.e == "cart").any())
    return grouped.filter(grouped.s > 0)


def customer_items(lines: ibis.Table) -> ibis.Table:
    """One row per customer and item: lines, and strength s = log(1 + total weight) (1 without a weight)."""
    aggs: dict[str, Any] = {"lines": lines.count()}
    if "w" in lines.columns:
        aggs["total"] = lines.w.sum()
    pairs = lines.group_by(["c", "i"]).aggregate(**aggs)
    strength = (pairs.total.cast("float64") + 1).ln() if "w" in lines.columns else ibis.literal(1.0)
    return pairs.mutate(s=strength.cast("float64")).select("c", "i", "lines", "s")


class Scratch:
    """Intermediate results kept as temporary tables on the backend that runs the query.

    Each stored step is computed once (a chain of CTEs would recompute shared parts); `close()` drops
    them. pandas input runs on its own in-memory DuckDB (`backend`); an Ibis table's own backend
    (the workspace) gets the temporary tables of its connection.
    """

    def __init__(self, backend: Any, table: ibis.Table) -> None:
        self.local = backend is not None
        self.backend = backend if backend is not None else table.get_backend()
        self.names: list[str] = []

    def source(self, table: ibis.Table) -> ibis.Table:
        """pandas input copied once into a table of its DuckDB (a pandas frame is otherwise re-read on
        every query: Online Retail took 23-34 s instead of 6 s); an Ibis table as it is."""
        return self.keep(table) if self.local else table

    def keep(self, expr: ibis.Table) -> ibis.Table:
        name = f"_mw_recommend_{uuid.uuid4().hex[:16]}"
        stored = store_temporary(self.backend, name, expr)
        self.names.append(name)
        return stored

    def execute(self, expr: Any) -> Any:
        return self.backend.execute(expr)

    def close(self) -> None:
        for name in reversed(self.names):
            try:
                drop_temporary(self.backend, name)
            except Exception:  # noqa: BLE001 - a temporary table goes with its connection anyway
                pass
        self.names.clear()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Fitted:
    """Stored tables of one fit: pairs (cid, iid, lines, s), items (iid, i, buyers, pop_rank),
    customers (cid, c, d = distinct items) and sim (a, b, n_ab, n_a, n_b, share, lift, cosine, sim)."""

    pairs: ibis.Table
    items: ibis.Table
    customers: ibis.Table
    sim: ibis.Table
    min_count: int
    item_pairs: int
    sample_every: int
    cooccurrence_customers: int
    browse: ibis.Table | None = None  # (cid, iid, lines, s, cart) of viewed or carted, unbought items


def fit(lines: ibis.Table, scratch: Scratch, *, measure: Measure, min_count: int | None, neighbours: int,
        max_items: int, max_pairs: int | None = DEFAULT_MAX_PAIRS, browse: ibis.Table | None = None) -> Fitted:
    """Customer-item pairs with integer ids, co-occurrence and each item's nearest items, stored.

    min_count None: `default_min_count` for the measure and the customers in the co-occurrence. When
    the self-join would count more than `max_pairs` item pairs, the co-occurrence uses every m-th
    customer (customer order; m = the smallest that fits the budget); counts, shares, lift and cosine
    are then those of the sample, and every customer still gets recommendations.

    `lines` are purchases; `browse` (browse_items: c, i, s) adds customers who only viewed or carted
    (d = 0 bought items) and their seeds, on items someone bought (others have no similarity)."""
    raw = scratch.keep(customer_items(lines))
    items = scratch.keep(raw.group_by("i").aggregate(buyers=raw.count()).mutate(
        iid=ibis.row_number().over(order_by="i"),
        pop_rank=ibis.row_number().over(order_by=[ibis.desc("buyers"), "i"])))
    bought = raw.group_by("c").aggregate(d=raw.count())
    if browse is not None:
        browse = scratch.keep(browse)
        extra = browse.select("c").distinct().anti_join(bought, "c").mutate(d=ibis.literal(0, "int64"))
        bought = bought.union(extra)
    customers = scratch.keep(bought.mutate(cid=ibis.row_number().over(order_by="c")))
    j = raw.join(items, raw.i == items.i).join(customers, raw.c == customers.c)
    pairs = scratch.keep(j.select(cid=customers.cid, iid=items.iid, lines=raw.lines, s=raw.s))
    kept = ibis.least(customers.d, max_items)
    total = scratch.execute(customers.aggregate(n=(kept * (kept - 1) / 2).sum().cast("int64")))
    item_pairs = int(total.iloc[0]["n"]) if not total.empty and not pd.isna(total.iloc[0]["n"]) else 0
    every = max(1, math.ceil(item_pairs / max_pairs)) if max_pairs else 1
    ids = capped(pairs, customers, max_items)
    sampled = customers.filter(customers.d > 0)  # the buyers: lift's n counts them only
    if every > 1:
        ids = ids.filter(ids.cid % every == 0)
        sampled = sampled.filter(sampled.cid % every == 0)
    ids = scratch.keep(ids)
    n_sampled = int(scratch.execute(sampled.count()))
    if min_count is None:
        min_count = default_min_count(measure, n_sampled)
    buyers = scratch.keep(ids.group_by("iid").aggregate(n_i=ids.count()))
    both = scratch.keep(pair_counts(ids, buyers, min_count=min_count))
    sim = scratch.keep(similarity(cooccurrence(both, buyers, sampled), measure=measure,
                                  neighbours=neighbours))
    seeds = None
    if browse is not None:
        jb = browse.join(items, browse.i == items.i).join(customers, browse.c == customers.c)
        jb = jb.select(cid=customers.cid, iid=items.iid, lines=ibis.literal(0, "int64"), s=browse.s, cart=browse.cart)
        owned = pairs.select(oc="cid", oi="iid")  # an item viewed and bought counts once, as bought
        seeds = scratch.keep(jb.anti_join(owned, [jb.cid == owned.oc, jb.iid == owned.oi]).select(jb.columns))
    return Fitted(pairs=pairs, items=items, customers=customers, sim=sim, min_count=min_count,
                  item_pairs=item_pairs, sample_every=every, cooccurrence_customers=n_sampled, browse=seeds)


def capped(pairs: ibis.Table, customers: ibis.Table, max_items: int) -> ibis.Table:
    """(cid, iid) for co-occurrence: a customer with more than `max_items` items keeps the `max_items`
    bought on the most lines (ties: item order), so one wholesaler's thousand items do not add half a
    million item pairs."""
    heavy = customers.filter(customers.d > max_items).select(hc="cid")
    light = pairs.anti_join(heavy, pairs.cid == heavy.hc).select("cid", "iid")
    top = ibis.row_number().over(group_by="cid", order_by=[ibis.desc("lines"), "iid"])
    kept = pairs.semi_join(heavy, pairs.cid == heavy.hc).select(pairs.columns).mutate(r=top)
    return light.union(kept.filter(kept.r < max_items).select("cid", "iid"))


def cap_counts(customers: ibis.Table, max_items: int) -> ibis.Table:
    """One row: customers, customer-item pairs, customers over the cap and the pairs the cap leaves out."""
    return customers.aggregate(customers=customers.count(), customer_item_pairs=customers.d.sum(),
                               heavy_customers=(customers.d > max_items).sum(),
                               pairs_left_out_by_cap=ibis.greatest(customers.d - max_items, 0).sum())


def pair_counts(ids: ibis.Table, buyers: ibis.Table, *, min_count: int) -> ibis.Table:
    """(a, b, n_ab), a < b: item pairs bought by at least `min_count` same customers, from `ids`
    (cid, iid) and `buyers` (iid, n_i). Items with fewer than `min_count` buyers cannot reach the
    threshold and stay out of the self-join, which counts each unordered pair once."""
    common = buyers.filter(buyers.n_i >= min_count).select(ci="iid")
    kept = ids.semi_join(common, ids.iid == common.ci).select("cid", "iid")
    left = kept.select(c1="cid", a="iid")
    right = kept.select(c2="cid", b="iid")
    joined = left.join(right, [left.c1 == right.c2, left.a < right.b])
    both = joined.group_by(["a", "b"]).aggregate(n_ab=joined.count())
    return both.filter(both.n_ab >= min_count)


def cooccurrence(both: ibis.Table, buyers: ibis.Table, customers: ibis.Table) -> ibis.Table:
    """(a, b, n_ab, n_a, n_b, n): the pairs of `pair_counts` in both directions with each item's buyers
    and the number of customers n (the cap keeps every customer)."""
    mirrored = both.union(both.select(a="b", b="a", n_ab="n_ab"))
    na = buyers.select(ia="iid", n_a="n_i")
    nb = buyers.select(ib="iid", n_b="n_i")
    n_all = customers.aggregate(n=customers.count())
    out = mirrored.join(na, mirrored.a == na.ia).join(nb, mirrored.b == nb.ib).cross_join(n_all)
    return out.select("a", "b", "n_ab", "n_a", "n_b", "n")


def similarity(co: ibis.Table, *, measure: Measure, neighbours: int) -> ibis.Table:
    """Each item's `neighbours` most similar items: share = n_ab / n_a, lift = n_ab n / (n_a n_b),
    cosine = n_ab / sqrt(n_a n_b), sim = the chosen measure. With lift only pairs with lift > 1 are
    kept (bought together more often than chance). Ties: more shared buyers, then item order."""
    f = co.mutate(share=co.n_ab.cast("float64") / co.n_a,
                  lift=(co.n_ab.cast("float64") * co.n) / (co.n_a.cast("float64") * co.n_b),
                  cosine=co.n_ab.cast("float64") / (co.n_a.cast("float64") * co.n_b).sqrt())
    f = f.mutate(sim=f[measure])
    if measure == "lift":
        f = f.filter(f.lift > 1)
    order = [ibis.desc(f.sim.round(12)), ibis.desc("n_ab"), "b"]
    ranked = f.mutate(r=ibis.row_number().over(group_by="a", order_by=order))
    return ranked.filter(ranked.r < neighbours).drop("r")


def scores(pairs: ibis.Table, own: ibis.Table, sim: ibis.Table, *, k: int, aggregate: Aggregate,
           exclude_bought: bool, direct: ibis.Table | None = None) -> ibis.Table:
    """(cid, b, r, score, best): top-k items from co-occurrence for the customers in `pairs` (cid, iid, s).

    score = sum (or max) over the items the customer bought of strength x similarity, best = the largest
    single contribution; `own` = the pairs whose items are not recommended (exclude_bought); r = 0 for
    the best (ties: item order). The bought items are removed after the sum, on the smaller table.
    `direct` (cid, iid, s): viewed or carted items, which score for themselves too (strength x 1, as an
    item is fully similar to itself): a product left in the cart is an offer to make."""
    contrib = pairs.join(sim, pairs.iid == sim.a).select("cid", "b", v=pairs.s * sim.sim)
    if direct is not None:
        contrib = contrib.union(direct.select("cid", b="iid", v="s"))
    agg = contrib.v.sum() if aggregate == "sum" else contrib.v.max()
    grouped = contrib.group_by(["cid", "b"]).aggregate(score=agg, best=contrib.v.max())
    if exclude_bought:
        mine = own.select(c2="cid", o2="iid")
        grouped = grouped.anti_join(mine, [grouped.cid == mine.c2, grouped.b == mine.o2]).select(
            grouped.columns)
    order = [ibis.desc(grouped.score.round(9)), "b"]
    top = grouped.mutate(r=ibis.row_number().over(group_by="cid", order_by=order))
    return top.filter(top.r < k)


def reasons(top: ibis.Table, pairs: ibis.Table, sim: ibis.Table, direct: ibis.Table | None = None) -> ibis.Table:
    """(cid, b, rank, score, via, share, seen) for `top` (from `scores`): via = the item with the largest
    contribution (ties: item order), share = its buyers' share who also bought b; when the largest is
    the item itself (viewed or carted: `direct`), seen = 'cart' or 'view' and share is NULL. Recomputes
    the contributions of the k recommended items only (k x items bought rows, not items x neighbours)."""
    j = top.join(pairs, top.cid == pairs.cid).select("cid", "b", "best", "iid", "s")
    j = j.join(sim, [j.iid == sim.a, j.b == sim.b]).select(
        "cid", "b", "best", via=j.iid, share=sim.share, v=j.s * sim.sim, seen=ibis.null("string"))
    if direct is not None:
        d = direct.select(dc="cid", di="iid", ds="s", dcart="cart")
        own = top.join(d, [top.cid == d.dc, top.b == d.di])
        j = j.union(own.select("cid", "b", "best", via=own.di, share=ibis.null("float64"), v=own.ds,
                               seen=ibis.ifelse(own.dcart, "cart", "view")))
    j = j.filter(j.v == j.best)
    first = ibis.row_number().over(group_by=["cid", "b"], order_by="via")
    best = j.mutate(q=first).filter(lambda t: t.q == 0).select(bc="cid", bb="b", via="via", share="share",
                                                               seen="seen")
    out = top.join(best, [top.cid == best.bc, top.b == best.bb])
    return out.select("cid", "b", rank=out.r + 1, score="score", via="via", share="share", seen="seen")


def popular_fill(customers: ibis.Table, own: ibis.Table, items: ibis.Table, top: ibis.Table | None, *,
                 k: int, exclude_bought: bool) -> ibis.Table:
    """(cid, b, rank, buyers) for customers (cid, d) with fewer than k items in `top` (cid, b): the most
    popular items they have not bought (with exclude_bought) and that `top` does not hold yet."""
    if top is None:
        need = customers.select("cid", "d", m=ibis.literal(0, "int64"))
    else:
        have = top.group_by("cid").aggregate(m=top.count()).rename(hc="cid")
        joined = customers.left_join(have, customers.cid == have.hc)
        need = joined.select("cid", "d", m=ibis.coalesce(joined.m, 0))
    need = need.filter(need.m < k)
    # enough popular items to fill k after skipping those bought or recommended already
    need = need.mutate(lim=need.m + k + (need.d if exclude_bought else 0))
    pop = items.select(pb="iid", pop_rank="pop_rank", buyers="buyers")
    cand = need.join(pop, need.lim > pop.pop_rank).select("cid", "m", b="pb", pop_rank="pop_rank",
                                                          buyers="buyers")
    if exclude_bought:
        mine = own.select(c2="cid", o2="iid")
        cand = cand.anti_join(mine, [cand.cid == mine.c2, cand.b == mine.o2]).select(cand.columns)
    if top is not None:
        done = top.select(c3="cid", b3="b")
        cand = cand.anti_join(done, [cand.cid == done.c3, cand.b == done.b3]).select(cand.columns)
    cand = cand.mutate(r=ibis.row_number().over(group_by="cid", order_by="pop_rank"))
    cand = cand.filter(cand.r + cand.m < k)
    return cand.select("cid", "b", rank=cand.r + cand.m + 1, buyers="buyers")


def labels(lines: ibis.Table) -> ibis.Table:
    """Each item's most frequent label (ties: the first in order), stripped of surrounding spaces."""
    t = lines.filter(lines.lbl.notnull()).mutate(lbl=lambda s: s.lbl.cast("string").strip())
    counted = t.group_by(["i", "lbl"]).aggregate(n=t.count())
    first = ibis.row_number().over(group_by="i", order_by=[ibis.desc("n"), "lbl"])
    return counted.mutate(r=first).filter(lambda s: s.r == 0).select(li="i", lbl="lbl")


def item_texts(lines: ibis.Table, items: ibis.Table, has_label: bool) -> ibis.Table:
    """(iid, i, text): each item's text for reasons (the label's most frequent value, or the item)."""
    if not has_label:
        return items.select("iid", "i", text=items.i.cast("string"))
    lab = labels(lines)
    joined = items.left_join(lab, items.i == lab.li)
    return joined.select("iid", "i", text=ibis.coalesce(joined.lbl, joined.i.cast("string")))


def recommendations(fitted: Fitted, texts: ibis.Table, scratch: Scratch, *, k: int, aggregate: Aggregate,
                    exclude_bought: bool, customers: ibis.Table | None = None) -> ibis.Table:
    """(c, i, rank, score, via_text, share, buyers) for all customers, or those in `customers` (tc = c):
    co-occurrence items first, then popular items up to k (via_text null, buyers set)."""
    who = fitted.customers
    if customers is not None:
        who = who.semi_join(customers, who.c == customers.tc).select(who.columns)
    pairs = fitted.pairs
    if customers is not None:
        pairs = scratch.keep(pairs.semi_join(who, pairs.cid == who.cid).select(pairs.columns))
    seeds, browse = pairs, None  # what the scores start from: bought items, and viewed or carted ones
    if fitted.browse is not None:
        browse = fitted.browse
        if customers is not None:
            browse = scratch.keep(browse.semi_join(who, browse.cid == who.cid).select(browse.columns))
        seeds = scratch.keep(pairs.select("cid", "iid", "s").union(browse.select("cid", "iid", "s")))
    ranked = scratch.keep(scores(seeds, pairs, fitted.sim, k=k, aggregate=aggregate,
                                 exclude_bought=exclude_bought, direct=browse))
    top = scratch.keep(reasons(ranked, seeds, fitted.sim, direct=browse))
    fill = popular_fill(who, pairs, fitted.items, top, k=k, exclude_bought=exclude_bought)
    via = texts.select(viid="iid", via_text="text")
    co = top.join(via, top.via == via.viid).select("cid", "b", "rank", "score", "via_text", "share",
                                                   buyers=ibis.null("int64"), seen="seen")
    pop = fill.select("cid", "b", "rank", score=ibis.literal(0.0), via_text=ibis.null("string"),
                      share=ibis.null("float64"), buyers=fill.buyers.cast("int64"), seen=ibis.null("string"))
    both = co.union(pop)
    names = texts.select(tid="iid", i="i")
    out = both.join(names, both.b == names.tid).join(who, both.cid == who.cid)
    return out.select(c=who.c, i=names.i, rank=both.rank, score=both.score, via_text=both.via_text,
                      share=both.share, buyers=both.buyers, seen=both.seen)
