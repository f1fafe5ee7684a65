"""Next-best products (core.targeting.recommend) against by-hand matrix computations and planted data."""

from __future__ import annotations

import math
import time
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.targeting.recommend import (POPULAR_PREFIX, RecommendationCheck, item_similarity, next_best_products,
                                      offline_check, recommend)

ONLINE_RETAIL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "online_retail" / "online_retail.csv"


def random_lines(seed: int = 0, customers: int = 60, items: int = 15, lines: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # uneven popularity so that lift and cosine disagree
    p = rng.dirichlet(np.full(items, 0.7))
    return pd.DataFrame({"CustomerID": rng.integers(1000, 1000 + customers, lines),
                         "StockCode": [f"S{j:02d}" for j in rng.choice(items, lines, p=p)],
                         "Quantity": rng.integers(1, 12, lines)})


def by_hand_matrix(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Buyer indicator matrix (customers x items, pandas crosstab) and C = X'X (customers who bought both)."""
    x = (pd.crosstab(df["CustomerID"], df["StockCode"]) > 0).astype("int64")
    return x, x.to_numpy().T @ x.to_numpy()


def planted(seed: int = 0, customers: int = 600, groups: int = 5, per_group: int = 12, days: int = 4,
            basket: int = 3, noise: float = 0.1) -> pd.DataFrame:
    """Customers buy mostly within one of `groups` item groups, on `days` dates."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        g = int(rng.integers(groups))
        for d in range(days):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * d + int(rng.integers(3)))
            for _ in range(basket):
                it = int(rng.integers(groups * per_group)) if rng.random() < noise else g * per_group + int(
                    rng.integers(per_group))
                rows.append((f"c{c:04d}", f"item{it:03d}", day, int(rng.integers(1, 5))))
    return pd.DataFrame(rows, columns=["cust", "sku", "day", "qty"])


def by_hand_knn(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(buyer matrix, C = X'X, buyers per item, cosine with min_count 2 and no self-pairs, each customer's
    strength log(1 + quantity) per item): item-kNN by hand, for the scores' references."""
    x, both = by_hand_matrix(df)
    buyers = np.diag(both).astype(float)
    cos = both / np.sqrt(np.outer(buyers, buyers))
    cos[both < 2] = 0.0
    np.fill_diagonal(cos, 0.0)
    strength = np.log1p(pd.crosstab(df["CustomerID"], df["StockCode"], values=df["Quantity"], aggfunc="sum")
                        .reindex(index=x.index, columns=x.columns).fillna(0).to_numpy())
    return x, both, buyers, cos, strength


# --- co-occurrence, lift, cosine against a numpy matrix product ---------------------------------------------

def test_item_similarity_matches_matrix_product() -> None:
    df = random_lines()
    x, both = by_hand_matrix(df)
    n = len(x)
    buyers = np.diag(both)
    items = list(x.columns)
    got = item_similarity(df, "CustomerID", "StockCode", min_count=2, neighbours=1000)
    assert list(got.columns) == ["StockCode", "other_StockCode", "customers_both", "customers_item",
                                 "customers_other", "share", "lift", "cosine"]
    expected = {(items[a], items[b]) for a in range(len(items)) for b in range(len(items))
                if a != b and both[a, b] >= 2}
    assert set(zip(got["StockCode"], got["other_StockCode"])) == expected
    for row in got.itertuples(index=False):
        a, b = items.index(row.StockCode), items.index(row.other_StockCode)
        assert row.customers_both == both[a, b]
        assert row.customers_item == buyers[a] and row.customers_other == buyers[b]
        assert row.share == pytest.approx(both[a, b] / buyers[a])
        assert row.lift == pytest.approx(both[a, b] * n / (buyers[a] * buyers[b]))
        assert row.cosine == pytest.approx(both[a, b] / math.sqrt(buyers[a] * buyers[b]))


def test_min_count_and_neighbours_limit_pairs() -> None:
    df = random_lines(seed=3)
    _, both = by_hand_matrix(df)
    off = both[~np.eye(len(both), dtype=bool)]
    for min_count in (1, 3, 6):
        got = item_similarity(df, "CustomerID", "StockCode", min_count=min_count, neighbours=1000)
        assert len(got) == int((off >= min_count).sum())
    top = item_similarity(df, "CustomerID", "StockCode", min_count=1, neighbours=3)
    assert top.groupby("StockCode").size().max() == 3
    # each item's neighbours are its 3 highest-cosine items, best first
    full = item_similarity(df, "CustomerID", "StockCode", min_count=1, neighbours=1000)
    for item, g in full.groupby("StockCode"):
        best = g.sort_values(["cosine", "customers_both", "other_StockCode"], ascending=[False, False, True])
        assert list(top[top["StockCode"] == item]["other_StockCode"]) == list(best["other_StockCode"][:3])


def test_lift_keeps_only_positive_association() -> None:
    df = random_lines(seed=5)
    got = item_similarity(df, "CustomerID", "StockCode", measure="lift", min_count=1, neighbours=1000)
    assert (got["lift"] > 1).all()
    assert got.groupby("StockCode")["lift"].apply(lambda s: s.is_monotonic_decreasing).all()


# --- scores against a by-hand item-kNN ----------------------------------------------------------------------

def test_scores_match_by_hand_item_knn() -> None:
    df = random_lines(seed=1)
    x, both, buyers, cos, strength = by_hand_knn(df)
    scores = strength @ cos
    got = recommend(df, "CustomerID", "StockCode", k=4, weight="Quantity", min_count=2, neighbours=1000)
    items = list(x.columns)
    for ci, cust in enumerate(x.index):
        mine = got[got["CustomerID"] == cust]
        co = mine[~mine["reason"].str.startswith(POPULAR_PREFIX)]
        s = np.where(x.to_numpy()[ci] > 0, -np.inf, scores[ci])
        candidates = [j for j in np.argsort(-s, kind="stable") if s[j] > 0][:4]
        assert list(co["StockCode"]) == [items[j] for j in candidates]
        assert co["score"].to_numpy() == pytest.approx(s[candidates])
        assert list(mine["rank"]) == list(range(1, len(mine) + 1))
        # the reason names the single largest contribution
        for row in co.itertuples(index=False):
            j = items.index(row.StockCode)
            contrib = strength[ci] * cos[:, j]
            via = items[int(np.argmax(contrib))]
            share = both[items.index(via), j] / buyers[items.index(via)]
            assert row.reason == f"bought with {via} by {100 * share:.0f}% of {via}'s buyers"


def test_max_aggregate_uses_strongest_item() -> None:
    df = random_lines(seed=2)
    x, both = by_hand_matrix(df)
    buyers = np.diag(both).astype(float)
    cos = both / np.sqrt(np.outer(buyers, buyers))
    cos[both < 2] = 0.0
    np.fill_diagonal(cos, 0.0)
    got = recommend(df, "CustomerID", "StockCode", k=3, aggregate="max", min_count=2, neighbours=1000)
    xm = x.to_numpy()
    for ci, cust in enumerate(x.index[:20]):
        best = (xm[ci][:, None] * cos).max(axis=0)
        co = got[(got["CustomerID"] == cust) & ~got["reason"].str.startswith(POPULAR_PREFIX)]
        want = np.sort(np.where(xm[ci] > 0, 0, best))[::-1][:len(co)]
        assert co["score"].to_numpy() == pytest.approx(want)


# --- planted co-purchase groups -----------------------------------------------------------------------------

def test_planted_groups_beat_popularity() -> None:
    df = planted()
    check = offline_check(df, "cust", "sku", "day", k=5)
    assert isinstance(check, RecommendationCheck)
    assert check.customers == 600 and check.skipped_single_date == 0
    assert check.customers_evaluated + check.skipped_only_repeats == 600
    assert check.customers_evaluated > 300
    assert check.hit_rate > 0.7 and check.hit_rate > 4 * check.popular_hit_rate
    assert check.ndcg > 0.35 and check.ndcg > 4 * check.popular_ndcg
    assert check.recall > 3 * check.popular_recall
    assert "hit rate@5" in check.summary()


def test_planted_recommendations_stay_in_the_group() -> None:
    df = planted(seed=4, noise=0.0)
    group = df.groupby("cust")["sku"].first().str[4:].astype(int) // 12
    got = recommend(df, "cust", "sku", k=3)
    got_group = got["sku"].str[4:].astype(int) // 12
    assert (got_group.to_numpy() == group.loc[got["cust"]].to_numpy()).mean() > 0.95


# --- behaviour: exclude_bought, ties, reasons, names, fallback -----------------------------------------------

def test_never_recommends_bought_items_and_can_repeat_when_asked() -> None:
    df = planted(seed=1)
    got = recommend(df, "cust", "sku", k=10)
    bought = set(zip(df["cust"], df["sku"]))
    assert not any(pair in bought for pair in zip(got["cust"], got["sku"]))
    assert not got.duplicated(["cust", "sku"]).any()
    assert (got.groupby("cust").size() == 10).all()
    again = recommend(df, "cust", "sku", k=10, exclude_bought=False)
    assert any(pair in bought for pair in zip(again["cust"], again["sku"]))


def test_ties_are_broken_by_item_and_runs_repeat() -> None:
    # customer z bought a; b, c, d each bought with a by the same 3 other customers: equal scores
    rows = [("z", "a")] + [(f"u{j}", s) for j in range(3) for s in ("a", "d", "c", "b")]
    df = pd.DataFrame(rows, columns=["user", "product"])
    got = recommend(df, "user", "product", k=3)
    z = got[got["user"] == "z"]
    assert list(z["product"]) == ["b", "c", "d"]
    assert z["score"].nunique() == 1
    assert list(z["rank"]) == [1, 2, 3]
    pd.testing.assert_frame_equal(got, recommend(df.sample(frac=1, random_state=3), "user", "product", k=3))


def test_reason_text_with_label_and_popular_fallback() -> None:
    df = pd.DataFrame({
        "cust": [1, 1, 2, 2, 3, 3, 4, 5, 5, 6],
        "code": ["A", "B", "A", "B", "A", "C", "A", "D", "E", "E"],
        "desc": ["Mug ", "Tea", "Mug", "Tea", "Mug", "Pot", "Mug", "Jar", "Box", "Box"],
    })
    res = next_best_products(df, "cust", "code", k=2, label="desc", min_count=2)
    t = res.table
    assert list(t.columns) == ["cust", "code", "desc", "rank", "score", "reason"]
    # each product's most frequent description ("Mug", not the stray "Mug ")
    names = {"A": "Mug", "B": "Tea", "C": "Pot", "D": "Jar", "E": "Box"}
    assert all(names[c] == d for c, d in zip(t["code"], t["desc"])) and len(t)
    four = t[t["cust"] == 4]
    # 2 of Mug's 4 buyers also bought Tea
    assert four.iloc[0]["code"] == "B"
    assert four.iloc[0]["reason"] == "bought with Mug by 50% of Mug's buyers"
    assert four.iloc[1]["reason"] == "popular: bought by 2 customers"  # E (2 buyers) before C, D (1)
    assert four.iloc[1]["code"] == "E" and four.iloc[1]["score"] == 0.0
    six = t[t["cust"] == 6]  # E has no pair with 2 shared buyers: popular items only
    assert list(six["code"]) == ["A", "B"]
    assert list(six["reason"]) == ["popular: bought by 4 customers", "popular: bought by 2 customers"]
    assert res.customers_only_popular >= 1 and res.customers_with_popular_fill >= res.customers_only_popular


def test_input_column_names_kept_and_ibis_equals_pandas(ws) -> None:
    df = random_lines(seed=7)
    want = recommend(df, "CustomerID", "StockCode", k=5, weight="Quantity", min_count=2)
    assert list(want.columns) == ["CustomerID", "StockCode", "rank", "score", "reason"]
    con = ibis.duckdb.connect(threads=1)
    got = recommend(con.create_table("lines", df), "CustomerID", "StockCode", k=5, weight="Quantity",
                    min_count=2)
    pd.testing.assert_frame_equal(got, want)
    left = con.raw_sql("SELECT table_name FROM duckdb_tables()").fetchall()
    assert not [t for (t,) in left if t.startswith("_mw_")]  # the temporary tables are dropped
    ws.save_frame(df, "lines")
    from_ws = recommend(ws.table("lines"), "CustomerID", "StockCode", k=5, weight="Quantity", min_count=2)
    pd.testing.assert_frame_equal(from_ws, want, check_dtype=False)
    pd.testing.assert_frame_equal(
        item_similarity(ws.table("lines"), "CustomerID", "StockCode", min_count=2),
        item_similarity(df, "CustomerID", "StockCode", min_count=2), check_dtype=False)


# --- data hygiene ---------------------------------------------------------------------------------------------

def test_hygiene_counts() -> None:
    df = pd.DataFrame({
        "cust": [1, 1, 1, None, 2, 2, 2, 3, 3, 3],
        "item": ["a", "b", "b", "a", None, "a", "c", "a", "c", "c"],
        "qty": [1, 2, 2, 1, 1, -1, 0, 3, 1, 1],
        "inv": ["1", "1", "1", "2", "3", "C4", "5", "6", "7", "X8"],
        "when": pd.to_datetime(["2024-01-01"] * 3 + ["2024-01-02"] * 7),
    })
    res = next_best_products(df, "cust", "item", weight="qty", exclude=("inv", "X"), date="when", min_count=1)
    c = res.counts
    assert (c.rows, c.missing_customer_or_item, c.returns, c.zero_or_missing_weight, c.excluded) == (10, 2, 1, 1, 1)
    assert c.rows_used == 5 and c.duplicate_lines == 1  # (1, b, 2) twice on the same day
    assert (c.customers, c.items, c.customer_item_pairs) == (2, 3, 4)
    text = " ".join(c.lines())
    assert "2 lines without a customer or item" in text and "1 returns" in text and "exclude filter" in text
    # the weight sums duplicates unless they are dropped
    once = next_best_products(df, "cust", "item", weight="qty", date="when", drop_duplicates=True, min_count=1)
    assert once.counts.duplicate_lines == 2  # and (3, c, 1) twice once X8 is not excluded
    # without a weight a return line is a purchase: exclude cancellations by invoice prefix instead
    plain = next_best_products(df, "cust", "item", exclude=("inv", "C"), min_count=1)
    assert plain.counts.excluded == 1 and plain.counts.returns == 0


def test_heavy_customers_are_capped_and_counted() -> None:
    rows = [("big", f"i{j:02d}") for j in range(30)] + [(f"c{j}", f"i{j % 5:02d}") for j in range(20)]
    rows += [(f"c{j}", f"i{(j + 1) % 5:02d}") for j in range(20)]
    df = pd.DataFrame(rows, columns=["c", "i"])
    res = next_best_products(df, "c", "i", max_items=10, min_count=1)
    assert res.counts.heavy_customers == 1 and res.counts.pairs_left_out_by_cap == 20
    sim = item_similarity(df, "c", "i", max_items=10, min_count=1, neighbours=100)
    # the capped customer enters with 10 items (the first in item order: all bought on one line)
    assert set(sim["StockCode" if "StockCode" in sim else "i"]) <= {f"i{j:02d}" for j in range(10)}


# --- offline check by hand ------------------------------------------------------------------------------------

def test_offline_check_metrics_by_hand() -> None:
    # u1..u4 buy a+b on day 1; u5 buys a on day 1 and b on day 2 (hidden: b); u6 buys c then c (only repeats);
    # u7 buys once (single date); u8 buys a on day 1, then d on day 2 (never bought with a): a miss
    d1, d2 = pd.Timestamp("2024-01-01 10:00"), pd.Timestamp("2024-01-02 09:00")
    rows = [(f"u{j}", s, d1) for j in range(1, 5) for s in ("a", "b")]
    rows += [("u5", "a", d1), ("u5", "b", d2), ("u6", "c", d1), ("u6", "c", d2), ("u7", "a", d1),
             ("u8", "a", d1), ("u8", "d", d2)]
    df = pd.DataFrame(rows, columns=["who", "what", "when"])
    check = offline_check(df, "who", "what", "when", k=1, min_count=2)
    assert (check.customers, check.customers_evaluated, check.skipped_single_date,
            check.skipped_only_repeats) == (8, 2, 5, 1)
    assert check.hidden_items == 2
    # u5 gets b at rank 1 (hit, nDCG 1); u8 gets b (miss): hit rate 1/2, nDCG 1/2
    assert check.hit_rate == pytest.approx(0.5) and check.ndcg == pytest.approx(0.5)
    # popularity (buyers in the fitting data): a 7, b 4, c 1 ... u5 -> b (hit), u8 -> b (miss)
    assert check.popular_hit_rate == pytest.approx(0.5)
    k2 = offline_check(df, "who", "what", "when", k=2, min_count=2)
    # u8 at k=2: b, then the popular c (d has no other buyer): still a miss
    assert k2.hit_rate == pytest.approx(0.5) and k2.ndcg == pytest.approx(0.5)
    assert set(check.skipped) and sum(check.skipped.values()) == 6


def test_ndcg_position_discount() -> None:
    # one evaluated customer whose hidden item comes second: nDCG = 1 / log2(3)
    d1, d2 = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-05")
    rows = [(f"u{j}", s, d1) for j in range(6) for s in ("a", "b")] + [(f"v{j}", s, d1) for j in range(3)
                                                                        for s in ("a", "c")]
    rows += [("z", "a", d1), ("z", "c", d2)]
    df = pd.DataFrame(rows, columns=["who", "what", "when"])
    check = offline_check(df, "who", "what", "when", k=2, min_count=2)
    assert check.customers_evaluated == 1
    assert check.hit_rate == 1.0 and check.ndcg == pytest.approx(1 / math.log2(3))


# --- bad input ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"customer": "nope"}, "not in the data"),
    ({"item": "CustomerID"}, "both 'CustomerID'"),
    ({"weight": "StockCode"}, "also the customer or item"),
    ({"k": 0}, "k must be a whole number"),
    ({"min_count": 1.5}, "min_count must be"),
    ({"measure": "jaccard"}, "measure must be 'lift' or 'cosine'"),
    ({"aggregate": "mean"}, "aggregate must be"),
    ({"exclude": "C"}, "exclude must be (column, prefix)"),
])
def test_bad_input_messages(kwargs: dict, message: str) -> None:
    df = random_lines().assign(Note="x")
    args = {"customer": "CustomerID", "item": "StockCode"} | kwargs
    with pytest.raises(DataError, match=None) as err:
        recommend(df, args.pop("customer"), args.pop("item"), **args)
    assert message in str(err.value)


def test_bad_weight_date_and_input_type() -> None:
    df = random_lines().assign(Note="x")
    with pytest.raises(DataError, match="not numbers"):
        recommend(df, "CustomerID", "StockCode", weight="Note")
    with pytest.raises(DataError, match="not dates"):
        offline_check(df, "CustomerID", "StockCode", "Quantity")
    with pytest.raises(DataError, match="pandas DataFrame or an Ibis table"):
        recommend(df.to_dict(), "CustomerID", "StockCode")
    with pytest.raises(DataError, match="'CustomerID' is empty"):
        recommend(df.assign(CustomerID=None), "CustomerID", "StockCode")
    with pytest.raises(DataError, match="No line can be used.*returns"):
        recommend(df.assign(Quantity=-1), "CustomerID", "StockCode", weight="Quantity")
    one_day = df.assign(day=pd.Timestamp("2024-01-01"))
    with pytest.raises(DataError, match="No customer can be evaluated"):
        offline_check(one_day, "CustomerID", "StockCode", "day")


# --- Online Retail read-out -----------------------------------------------------------------------------------

@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="../shared/data/online_retail is not here")
def test_online_retail_beats_popularity() -> None:
    df = pd.read_csv(ONLINE_RETAIL, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"},
                     parse_dates=["InvoiceDate"])
    start = time.perf_counter()
    check = offline_check(df, "CustomerID", "StockCode", "InvoiceDate", k=10, weight="Quantity")
    seconds = time.perf_counter() - start
    print(f"\nOnline Retail: {check.summary()} recall {check.recall:.3f} vs {check.popular_recall:.3f}; "
          f"{seconds:.1f} s")
    assert check.counts.missing_customer_or_item == 135_080
    assert check.counts.returns > 8_000
    assert check.customers_evaluated > 2_000
    assert check.hit_rate > 1.2 * check.popular_hit_rate
    assert check.ndcg > 1.5 * check.popular_ndcg


def test_customers_subset_equals_the_full_run() -> None:
    df = random_lines(seed=8)
    full = recommend(df, "CustomerID", "StockCode", k=4, weight="Quantity", min_count=2)
    some = [1003, 1010, 1011, 99999]  # 99999 bought nothing: no rows
    got = recommend(df, "CustomerID", "StockCode", k=4, weight="Quantity", min_count=2, customers=some)
    want = full[full["CustomerID"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    con = ibis.duckdb.connect(threads=1)
    on_ibis = recommend(con.create_table("lines", df), "CustomerID", "StockCode", k=4, weight="Quantity",
                        min_count=2, customers=np.array(some))
    pd.testing.assert_frame_equal(on_ibis, want)
    with pytest.raises(DataError, match="list of customer ids"):
        recommend(df, "CustomerID", "StockCode", customers="1003")


def test_default_min_count_depends_on_the_measure() -> None:
    df = planted(seed=2, customers=800)
    assert next_best_products(df, "cust", "sku").min_count == 3
    lift = next_best_products(df, "cust", "sku", measure="lift")
    assert lift.min_count == 8  # 1% of 800 customers
    sim = item_similarity(df, "cust", "sku", measure="lift", neighbours=1000)
    assert sim["customers_both"].min() >= 8 and (sim["lift"] > 1).all()
    assert offline_check(df, "cust", "sku", "day", measure="lift").min_count == 8


def test_pair_budget_counts_every_mth_customer() -> None:
    df = random_lines(seed=9, customers=90, lines=900)
    x, _ = by_hand_matrix(df)
    d = x.sum(axis=1).to_numpy()
    total = int((d * (d - 1) // 2).sum())
    budget = total // 3 + 1  # needs every 3rd customer
    res = next_best_products(df, "CustomerID", "StockCode", min_count=2, max_pairs=budget)
    c = res.counts
    assert (c.item_pairs, c.sample_every) == (total, 3)
    assert c.cooccurrence_customers == len(x.index[::3])
    assert "uses 1 in 3 customers" in " ".join(c.lines())
    assert res.table["CustomerID"].nunique() == len(x)  # everyone still gets recommendations
    # the sampled counts equal a by-hand count on customers 0, 3, 6, ... in customer order
    sample = df[df["CustomerID"].isin(x.index[::3])]
    xs, both = by_hand_matrix(sample)
    items = list(xs.columns)
    got = item_similarity(df, "CustomerID", "StockCode", min_count=2, max_pairs=budget, neighbours=1000)
    want = {(items[a], items[b]): both[a, b] for a in range(len(items)) for b in range(len(items))
            if a != b and both[a, b] >= 2}
    assert dict(zip(zip(got["StockCode"], got["other_StockCode"]), got["customers_both"])) == want
    assert got["lift"].to_numpy() == pytest.approx((got["customers_both"] * len(xs)
                                                    / (got["customers_item"] * got["customers_other"])).to_numpy())
    assert next_best_products(df, "CustomerID", "StockCode", max_pairs=None).counts.sample_every == 1


def test_charts() -> None:
    from core.targeting.recommend_charts import bought_together_chart, check_chart

    df = planted(seed=3)
    fig = check_chart(offline_check(df, "cust", "sku", "day", k=5))
    assert [tr.name for tr in fig.data] == ["co-occurrence (cosine)", "popular items"]
    assert list(fig.data[0].x) == ["hit rate@5", "nDCG@5", "recall@5"]
    sim = item_similarity(df.assign(name="N" + df["sku"]), "cust", "sku", label="name")
    bars = bought_together_chart(sim, "item001", item_column="sku", label="name", top=5)
    assert len(bars.data[0].y) == 5 and bars.layout.title.text == "Bought with Nitem001"
    # the most similar item at the top of the chart (plotly draws the last bar on top)
    assert bars.data[0].x[-1] == sim[sim["sku"] == "item001"]["share"].iloc[0]


# --- view and add-to-cart lines ------------------------------------------------------------------------------

def test_event_values_are_read_from_their_text() -> None:
    from core.targeting.recommend_steps import classify_event

    for value, kind in (("transaction", "purchase"), ("Purchase", "purchase"), ("order_completed", "purchase"),
                        ("addtocart", "cart"), ("add_to_basket", "cart"), ("view", "view"),
                        ("page_view", "view"), ("product_click", "view"), ("refund", None), ("", None)):
        assert classify_event(value) == kind, value
    df = pd.DataFrame({"c": [1, 1], "i": ["a", "b"], "e": ["addtocart", "refund"]})
    t = ibis.memtable(df)
    from core.targeting.recommend_steps import event_kind

    con = ibis.duckdb.connect()
    assert con.execute(t.select(k=event_kind(t.e)))["k"].tolist()[0] == "cart"


def _with_views(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planted purchases, plus views: every buyer viewed two unbought items of their group, and 50 new
    customers only viewed (three items of group 0), with a few lines of an unknown event."""
    lines = planted(seed=seed, customers=400, groups=4, per_group=10).assign(event="transaction")
    rng = np.random.default_rng(seed)
    views = []
    for cust, mine in lines.groupby("cust"):
        group = int(mine["sku"].str[4:].astype(int).mode().iloc[0]) // 10
        unbought = [f"item{group * 10 + j:03d}" for j in range(10) if f"item{group * 10 + j:03d}" not in set(mine["sku"])]
        for sku in unbought[:2]:
            views.append((cust, sku, mine["day"].min(), np.nan, "view"))
    for n in range(50):
        for j in rng.choice(10, 3, replace=False):
            views.append((f"new{n:02d}", f"item{j:03d}", pd.Timestamp("2024-02-01"), np.nan, "page_view"))
    views += [("c0000", "item001", pd.Timestamp("2024-02-01"), 1, "refund")] * 3
    frame = pd.concat([lines, pd.DataFrame(views, columns=["cust", "sku", "day", "qty", "event"])], ignore_index=True)
    return lines, frame


def test_views_seed_scores_but_never_the_cooccurrence() -> None:
    lines, frame = _with_views()
    # the "bought together" table is the purchases' own: views add nothing to it
    alone = item_similarity(lines.drop(columns="event"), "cust", "sku", weight="qty")
    with_views = item_similarity(frame, "cust", "sku", weight="qty", event="event")
    pd.testing.assert_frame_equal(alone, with_views)
    res = next_best_products(frame, "cust", "sku", k=5, weight="qty", event="event")
    t = res.table
    # customers who only viewed group 0 get group 0's products, from co-occurrence, not popularity
    new = t[t["cust"].str.startswith("new")]
    assert new["cust"].nunique() == 50
    assert (new["sku"].str[4:].astype(int) < 10).mean() > 0.9
    assert not new["reason"].str.startswith(POPULAR_PREFIX).any()
    # a product viewed but not bought can be recommended; a bought one never is
    bought = set(zip(lines["cust"], lines["sku"]))
    assert not any((c, s) in bought for c, s in zip(t["cust"], t["sku"]))
    viewed = frame[frame["event"] == "view"]
    assert len(set(zip(viewed["cust"], viewed["sku"])) & set(zip(t["cust"], t["sku"]))) > 100
    c = res.counts
    assert c.unknown_event == 3 and c.browse_lines == (frame["event"].isin(["view", "page_view"])).sum()
    text = " ".join(c.lines())
    assert "3 lines whose event reads as neither" in text and "view and add-to-cart lines are signals" in text


def test_view_scores_are_weighted_sums_by_hand() -> None:
    """Scores with views = sum over bought items of log(1+qty) x cosine + sum over viewed (not bought)
    items of 0.2 x cosine, + 0.2 for the viewed item itself, against a numpy computation."""
    df = random_lines(seed=4)
    rng = np.random.default_rng(4)
    views = df.sample(120, random_state=4).assign(Quantity=np.nan)
    views["StockCode"] = [f"S{j:02d}" for j in rng.integers(0, 15, len(views))]
    frame = pd.concat([df.assign(kind="purchase"), views.assign(kind="view")], ignore_index=True)
    x, both, buyers, cos, strength = by_hand_knn(df)
    seen = (pd.crosstab(views["CustomerID"], views["StockCode"]) > 0).reindex(index=x.index, columns=x.columns,
                                                                              fill_value=False).to_numpy()
    browsed = 0.2 * (seen & (strength == 0))  # viewed, not bought
    scores = (strength + browsed) @ cos + browsed  # a viewed item also scores for itself (similarity 1)
    got = recommend(frame, "CustomerID", "StockCode", k=4, weight="Quantity", min_count=2, neighbours=1000,
                    event="kind")
    items = list(x.columns)
    for ci, cust in enumerate(x.index):
        co = got[(got["CustomerID"] == cust) & ~got["reason"].str.startswith(POPULAR_PREFIX)]
        s = np.where(x.to_numpy()[ci] > 0, -np.inf, scores[ci])
        candidates = [j for j in np.argsort(-s, kind="stable") if s[j] > 0][:4]
        assert list(co["StockCode"]) == [items[j] for j in candidates]
        assert co["score"].to_numpy() == pytest.approx(s[candidates])
    weaker = recommend(frame, "CustomerID", "StockCode", k=4, weight="Quantity", min_count=2, neighbours=1000,
                       event="kind", event_weights={"view": 0.05})
    assert not weaker.equals(got)


def test_views_before_the_hidden_day_help_the_offline_check() -> None:
    """Planted: every other customer viewed, on their first day, one item they buy on their last day.
    Hidden last days are then easier to hit; a view on the hidden day itself is not used (leak)."""
    lines = planted(seed=5, customers=400, groups=4, per_group=10, noise=0.5).assign(event="purchase")
    last = lines[lines["day"] == lines.groupby("cust")["day"].transform("max")]
    first = lines.groupby("cust")["day"].min()
    early = last.groupby("cust").head(1).iloc[::2]
    views = early.assign(day=early["cust"].map(first), qty=np.nan, event="view")
    leak = last.groupby("cust").head(1).iloc[1::2].assign(qty=np.nan, event="view")  # on the hidden day
    plain = offline_check(lines, "cust", "sku", "day", k=5, weight="qty", event="event")
    seen = offline_check(pd.concat([lines, views, leak]), "cust", "sku", "day", k=5, weight="qty", event="event")
    leak_only = offline_check(pd.concat([lines, leak]), "cust", "sku", "day", k=5, weight="qty", event="event")
    strong = offline_check(pd.concat([lines, views]), "cust", "sku", "day", k=5, weight="qty", event="event",
                           event_weights={"view": 1.0})
    assert seen.customers_evaluated == plain.customers_evaluated
    assert seen.hit_rate > plain.hit_rate, (seen.hit_rate, plain.hit_rate)
    assert strong.hit_rate > seen.hit_rate + 0.05, (strong.hit_rate, seen.hit_rate)
    assert leak_only.hit_rate == pytest.approx(plain.hit_rate)  # views on the hidden day are left out
    assert seen.popular_hit_rate == plain.popular_hit_rate


def test_a_carted_product_is_offered_with_its_reason() -> None:
    lines, frame = _with_views()
    carted = pd.DataFrame({"cust": ["new00"], "sku": ["item035"], "day": [pd.Timestamp("2024-02-02")],
                           "qty": [np.nan], "event": ["add_to_cart"]})
    t = recommend(pd.concat([frame, carted]), "cust", "sku", k=5, weight="qty", event="event")
    row = t[(t["cust"] == "new00") & (t["sku"] == "item035")]
    assert len(row) == 1 and row["reason"].iloc[0] == "in the cart, not bought yet"
    viewed = t[t["reason"] == "viewed, not bought yet"]
    views = frame[frame["event"].isin(["view", "page_view"])]
    assert len(viewed) and set(zip(viewed["cust"], viewed["sku"])) <= set(zip(views["cust"], views["sku"]))


def test_event_input_errors() -> None:
    lines, frame = _with_views()
    with pytest.raises(DataError, match="event_weights takes"):
        recommend(frame, "cust", "sku", event="event", event_weights={"purchase": 0.5})
    with pytest.raises(DataError, match="between 0 and 1"):
        recommend(frame, "cust", "sku", event="event", event_weights={"view": 2})
    with pytest.raises(DataError, match="is a purchase"):
        recommend(frame.assign(event="view"), "cust", "sku", event="event")
    with pytest.raises(DataError, match="event column"):
        recommend(frame, "cust", "sku", event="sku")
