"""Segments core: customer features vs pandas, RFM quintiles and rules, K-means on planted clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from core.demo import SAMPLE_DIR
from core.errors import DataError
from core.segments import (DEFAULT_RULES, customer_features, kmeans_segments, rf_grid, rfm_scores, rfm_summary,
                           segment_assignments, suggest_transaction_columns)
from core.segments.rfm import quintile_score
from apptest_jobs import open_tab
from test_segments_jobs import finish_segment_jobs


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "transactions.csv", parse_dates=["order_date"])


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "customers.csv")


def pandas_rfm(tx: pd.DataFrame, as_of: pd.Timestamp, order: str | None = None) -> pd.DataFrame:
    """Independent reference: plain pandas groupby."""
    tx = tx[tx["order_date"] < as_of]
    g = tx.groupby("customer_id")
    last, first = g["order_date"].max().dt.normalize(), g["order_date"].min().dt.normalize()
    out = pd.DataFrame({
        "recency_days": (as_of - last).dt.days,
        "frequency": g[order].nunique() if order else g.size(),
        "monetary": g["amount"].sum(),
        "tenure_days": (as_of - first).dt.days,
    })
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    return out


# ----------------------------------------------------------------- customer features
def test_customer_features_match_pandas(transactions: pd.DataFrame) -> None:
    feats = customer_features(transactions, "customer_id", "order_date", "amount")
    as_of = transactions["order_date"].max().normalize() + pd.Timedelta(days=1)
    assert feats.attrs["as_of"] == str(as_of.date())
    ref = pandas_rfm(transactions, as_of)
    got = feats.set_index("customer_id").loc[ref.index]
    assert len(feats) == transactions["customer_id"].nunique()
    for col in ("recency_days", "frequency", "tenure_days"):
        assert (got[col].to_numpy() == ref[col].to_numpy()).all(), col
    np.testing.assert_allclose(got["monetary"], ref["monetary"], rtol=1e-9)
    np.testing.assert_allclose(got["avg_order_value"], ref["avg_order_value"], rtol=1e-9)
    assert got["recency_days"].min() == 1  # the last day in the data is one day before as_of


def test_customer_features_hand_example() -> None:
    tx = pd.DataFrame({
        "cust": ["a", "a", "a", "b", None, "c"],
        "day": ["2024-01-01", "2024-01-11 15:30:00", "2024-01-31", "2024-01-20", "2024-01-05", "2024-02-10"],
        "order": [1, 2, 2, 3, 4, 5],
        "value": [10.0, 20.0, 5.0, 7.5, 99.0, -4.0],
        "sku": ["x", "y", "x", "x", "x", "z"],
    })
    f = customer_features(tx, "cust", "day", "value", as_of="2024-02-01", order="order", product="sku")
    a = f.set_index("cust").loc["a"]
    assert a["recency_days"] == 1 and a["tenure_days"] == 31 and a["frequency"] == 2
    assert a["monetary"] == pytest.approx(35.0) and a["avg_order_value"] == pytest.approx(17.5)
    assert a["days_between_orders"] == pytest.approx(30.0) and a["n_products"] == 2
    assert set(f["cust"]) == {"a", "b"}  # c bought after as_of; the row without customer is skipped
    assert pd.isna(f.set_index("cust").loc["b", "days_between_orders"])
    assert any("skipped" in n for n in f.attrs["notes"])
    g = customer_features(tx, "cust", "day", "value", exclude_non_positive=True)
    assert set(g["cust"]) == {"a", "b"}


def test_customer_features_from_workspace_table_equals_pandas(ws, transactions: pd.DataFrame) -> None:
    ws.ingest_csv(SAMPLE_DIR / "transactions.csv", "tx")
    from_db = customer_features(ws.table("tx"), "customer_id", "order_date", "amount", order="order_id",
                                channel="channel")
    from_pd = customer_features(transactions, "customer_id", "order_date", "amount", order="order_id",
                                channel="channel")
    pd.testing.assert_frame_equal(from_db.reset_index(drop=True), from_pd.reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-9)
    ref = pandas_rfm(transactions, pd.Timestamp(from_db.attrs["as_of"]), order="order_id")
    assert (from_db.set_index("customer_id").loc[ref.index, "frequency"].to_numpy() == ref["frequency"]).all()


def test_customer_features_quantity_times_price() -> None:
    tx = pd.DataFrame({"c": [1, 1, 2], "d": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02"]),
                       "price": [2.5, 1.0, 3.0], "qty": [4, 2, 1]})
    f = customer_features(tx, "c", "d", "price", quantity="qty").set_index("c")
    assert f.loc[1, "monetary"] == pytest.approx(12.0) and f.loc[2, "monetary"] == pytest.approx(3.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"customer": "nope"}, "not in the data"),
    ({"amount": "channel"}, "not numbers"),
    ({"date": "order_id"}, "not dates"),
    ({"date": "channel"}, "readable date"),
    ({"as_of": "not a date"}, "not a date"),
    ({"as_of": "2000-01-01"}, "No transactions fall before"),
])
def test_customer_features_bad_input(transactions: pd.DataFrame, kwargs: dict, match: str) -> None:
    args = {"customer": "customer_id", "date": "order_date", "amount": "amount"}
    as_of = kwargs.pop("as_of", None)
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        customer_features(transactions, args["customer"], args["date"], args["amount"], as_of=as_of)


def test_suggest_transaction_columns() -> None:
    cols = {"InvoiceNo": "VARCHAR", "StockCode": "VARCHAR", "Quantity": "BIGINT", "InvoiceDate": "TIMESTAMP",
            "UnitPrice": "DOUBLE", "CustomerID": "BIGINT", "Country": "VARCHAR"}
    roles = suggest_transaction_columns(cols, {"CustomerID": 4372}, 541_909)
    assert roles["customer"] == "CustomerID" and roles["date"] == "InvoiceDate"
    assert roles["amount"] == "UnitPrice" and roles["quantity"] == "Quantity"
    assert roles["order"] == "InvoiceNo" and roles["product"] == "StockCode" and roles["is_transactions"]
    roles = suggest_transaction_columns({"customer_id": "BIGINT", "order_date": "DATE", "amount": "DOUBLE",
                                         "order_id": "BIGINT", "channel": "VARCHAR"}, {"customer_id": 10}, 10)
    assert roles["is_transactions"] is None  # one row per customer: not transactions


# ----------------------------------------------------------------- RFM
def reference_quintiles(values: pd.Series, higher_is_better: bool = True) -> list[int]:
    """Independent reference: count worse and equal values, exact fractions, no ranking code."""
    from fractions import Fraction
    x = values.tolist()
    n = len(x)
    out = []
    for v in x:
        worse = sum(1 for w in x if (w < v if higher_is_better else w > v))
        equal = sum(1 for w in x if w == v)
        percentile = Fraction(2 * worse + equal, 2 * n)  # middle of the tie group
        out.append(min(5, int(percentile * 5) + 1))
    return out


def test_quintile_scores_without_ties_are_equal_count_and_monotonic() -> None:
    x = pd.Series(np.random.default_rng(1).permutation(1000).astype(float))
    s = quintile_score(x)
    assert s.value_counts().sort_index().tolist() == [200] * 5
    assert s.astype(int).tolist() == reference_quintiles(x)
    assert s[x.sort_values().index].is_monotonic_increasing
    r = quintile_score(x, higher_is_better=False)
    assert (r.astype(int) == 6 - s.astype(int)).all()


def test_quintile_scores_equal_values_share_a_score() -> None:
    rng = np.random.default_rng(1)
    x = pd.Series(rng.integers(1, 4, size=1000))  # heavy ties: only three distinct values
    s = quintile_score(x)
    assert s.groupby(x).nunique().eq(1).all()  # every tie group has one score
    assert s.astype(int).tolist() == reference_quintiles(x)
    order = x.sort_values(kind="stable").index
    assert s[order].is_monotonic_increasing  # a larger value never gets a lower score
    r = quintile_score(x, higher_is_better=False)
    assert r.astype(int).tolist() == reference_quintiles(x, higher_is_better=False)
    assert (r[x == 1] > r[x == 3].max()).all()
    # a mixed case: a big tie at the bottom (one purchase), a few ties elsewhere, a missing value
    mixed = pd.Series([1] * 40 + [2] * 15 + [3, 3, 4, 5, 6, 7, 7, 7, 8, 9] * 3 + [20, 50, np.nan], dtype="float64")
    got = quintile_score(mixed)
    assert pd.isna(got.iloc[-1])
    ok = mixed.notna()
    assert got[ok].astype(int).tolist() == reference_quintiles(mixed[ok])
    assert got[ok].groupby(mixed[ok]).nunique().eq(1).all()
    # 40 of 87 share the lowest value: their middle is the 23rd percentile, so all get 2 and no one gets 1
    assert set(got[mixed == 1]) == {2} and 1 not in set(got[ok]) and got[mixed == 50].iloc[0] == 5


def test_rfm_identical_customers_are_one_segment() -> None:
    same = pd.DataFrame({"customer_id": range(300), "recency_days": 30, "frequency": 2, "monetary": 99.5})
    scored = rfm_scores(same, customer="customer_id")
    assert scored["rfm_segment"].nunique() == 1 and scored["rfm_code"].nunique() == 1
    assert set(scored["rfm_code"]) == {"333"}  # the middle of one tie group
    one_differs = same.assign(monetary=[99.5] * 299 + [1000.0])
    scored = rfm_scores(one_differs, customer="customer_id")
    assert scored["r_score"].nunique() == 1 and scored["f_score"].nunique() == 1
    assert scored["m_score"].iloc[:-1].nunique() == 1 and scored["m_score"].iloc[-1] == 5


def test_rfm_mixed_ties_match_independent_scores() -> None:
    rng = np.random.default_rng(5)
    n = 250
    df = pd.DataFrame({"id": range(n), "recency_days": rng.integers(1, 30, n),
                       "frequency": rng.choice([1, 1, 1, 2, 2, 3, 5, 8], n),
                       "monetary": np.round(rng.gamma(1.5, 40, n), 0)})
    scored = rfm_scores(df, customer="id")
    assert scored["r_score"].astype(int).tolist() == reference_quintiles(df["recency_days"], higher_is_better=False)
    assert scored["f_score"].astype(int).tolist() == reference_quintiles(df["frequency"])
    assert scored["m_score"].astype(int).tolist() == reference_quintiles(df["monetary"])
    same = scored.groupby(["recency_days", "frequency", "monetary"])["rfm_segment"].nunique()
    assert (same == 1).all()  # customers with equal R, F and M always land in the same segment


def test_rfm_scores_and_segments(transactions: pd.DataFrame) -> None:
    feats = customer_features(transactions, "customer_id", "order_date", "amount")
    scored = rfm_scores(feats, customer="customer_id")
    for col, source in (("r_score", "recency_days"), ("f_score", "frequency"), ("m_score", "monetary")):
        assert scored.groupby(source)[col].nunique().eq(1).all()  # ties share a score
    counts = scored["m_score"].value_counts()  # spend has (almost) no ties: five near-equal fifths
    assert set(counts.index) == {1, 2, 3, 4, 5} and counts.max() - counts.min() <= 0.02 * len(scored)
    best = scored.loc[scored["recency_days"].idxmin()]
    worst = scored.loc[scored["recency_days"].idxmax()]
    assert best["r_score"] == 5 and worst["r_score"] == 1
    row = scored.iloc[0]
    assert row["rfm_code"] == f"{row['r_score']}{row['f_score']}{row['m_score']}"
    # segment names follow the ordered rules: the first match wins
    for _, r in scored.sample(300, random_state=0).iterrows():
        expected = "Others"
        for rule in DEFAULT_RULES.itertuples():
            if (rule.r_min <= r.r_score <= rule.r_max and rule.f_min <= r.f_score <= rule.f_max
                    and rule.m_min <= r.m_score <= rule.m_max):
                expected = rule.segment
                break
        assert r["rfm_segment"] == expected
    assert set(scored.loc[scored["rfm_code"] == "555", "rfm_segment"]) <= {"Champions"}
    assert set(scored.loc[scored["rfm_code"] == "111", "rfm_segment"]) <= {"Lost"}
    grid = rf_grid(scored)
    assert len(grid) == 25 and grid["customers"].sum() == len(scored)
    cell = scored[(scored.r_score == 5) & (scored.f_score == 4)]
    row = grid[(grid.r_score == 5) & (grid.f_score == 4)].iloc[0]
    assert row["customers"] == len(cell) and row["avg_monetary"] == pytest.approx(cell["monetary"].mean())
    summary = rfm_summary(scored)
    ref = scored.groupby("rfm_segment").agg(customers=("monetary", "size"), monetary=("monetary", "mean"),
                                            spend=("monetary", "sum"))
    assert (summary["customers"] == ref.loc[summary.index, "customers"]).all()
    np.testing.assert_allclose(summary["monetary"], ref.loc[summary.index, "monetary"])
    np.testing.assert_allclose(summary["spend_share"], ref.loc[summary.index, "spend"] / scored["monetary"].sum())


def test_rfm_custom_rules_and_errors() -> None:
    df = pd.DataFrame({"id": range(10), "recency_days": range(10), "frequency": range(10, 20),
                       "monetary": np.linspace(1, 100, 10)})
    rules = [{"segment": "VIP", "r_min": 5, "r_max": 5, "f_min": 1, "f_max": 5, "m_min": 1, "m_max": 5}]
    out = rfm_scores(df, rules=rules)
    assert set(out["rfm_segment"]) == {"VIP", "Others"} and (out["rfm_segment"] == "VIP").sum() == 2
    with pytest.raises(DataError, match="whole scores from 1 to 5"):
        rfm_scores(df, rules=[{**rules[0], "r_min": 7}])
    with pytest.raises(DataError, match="misses column"):
        rfm_scores(df, rules=[{"segment": "x"}])
    with pytest.raises(DataError, match="recency column"):
        rfm_scores(df, recency="nope")
    with pytest.raises(DataError, match="one row per customer"):
        rfm_scores(pd.concat([df, df]), customer="id")
    df.loc[3, "monetary"] = np.nan
    out = rfm_scores(df)
    assert out.loc[3, "rfm_segment"].startswith("Not scored") and pd.isna(out.loc[3, "m_score"])


# ----------------------------------------------------------------- K-means
@pytest.mark.parametrize("k, n_features, seed", [(3, 4, 0), (4, 6, 1), (5, 3, 2), (6, 8, 3)])
def test_planted_clusters_are_recovered(k: int, n_features: int, seed: int) -> None:
    X, y = make_blobs(n_samples=2400, n_features=n_features, centers=k, cluster_std=1.0,
                      center_box=(-12, 12), random_state=seed)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(n_features)])
    res = kmeans_segments(df, list(df.columns), random_state=seed)
    assert res.k == k, res.selection
    assert adjusted_rand_score(y, res.labels) >= 0.95
    assert res.stability >= 0.9
    assert list(res.selection.columns[:5]) == ["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]
    assert res.selection["k"].tolist() == list(range(2, 11))
    assert res.profile["size"].sum() == len(df) and res.profile["share"].sum() == pytest.approx(1.0)
    assert set(res.names) == set(range(1, k + 1)) == set(np.unique(res.labels))
    assert res.importance["importance"].is_monotonic_decreasing
    assert (res.predict(df) == res.labels).all()


def test_selection_metrics_match_sklearn() -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
    from sklearn.preprocessing import StandardScaler
    X, _ = make_blobs(n_samples=1500, n_features=3, centers=4, random_state=7)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    res = kmeans_segments(df, ["a", "b", "c"], log_transform=False, clip=None, k_range=[4])
    Z = StandardScaler().fit_transform(X)
    km = KMeans(4, n_init=4, random_state=0).fit(Z)
    row = res.selection.iloc[0]
    assert row["inertia"] == pytest.approx(km.inertia_, rel=1e-6)
    assert row["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(Z, km.labels_), rel=1e-6)
    assert row["davies_bouldin"] == pytest.approx(davies_bouldin_score(Z, km.labels_), rel=1e-6)


def test_reproducible_with_seed_and_profiles(customers: pd.DataFrame) -> None:
    feats = ["recency_days", "orders", "total_spend", "avg_order_value", "sessions_30d", "email_open_rate",
             "email_click_rate", "discount_share", "tenure_days"]
    a = kmeans_segments(customers, feats, random_state=3)
    b = kmeans_segments(customers, feats, random_state=3)
    assert (a.labels == b.labels).all() and a.names == b.names
    # the five planted customer types come back as five segments
    assert a.k == 5
    assert adjusted_rand_score(customers["customer_type"], a.labels) >= 0.9
    detail = a.profile_detail
    spend = detail[detail["feature"] == "total_spend"].set_index("segment")
    ref = customers.groupby(a.labels)["total_spend"].agg(["mean", "median"])
    np.testing.assert_allclose(spend.loc[ref.index, "mean"], ref["mean"])
    np.testing.assert_allclose(spend.loc[ref.index, "median"], ref["median"])
    np.testing.assert_allclose(spend["index"], 100 * spend["mean"] / customers["total_spend"].mean())
    champions = customers.groupby(a.labels)["total_spend"].mean().idxmax()
    assert "spend" in a.names[champions].lower()
    assert a.rules is not None and set(a.rules["segment"]) == set(range(1, 6))
    assert 0.0 < a.fidelity <= 1.0
    out = segment_assignments(customers, a, "customer_id", names={1: "My name"},
                              rfm=rfm_scores(customers, frequency="orders", monetary="total_spend"))
    assert list(out.columns[:4]) == ["customer_id", "segment", "segment_name", "distance_to_centre"]
    assert "rfm_segment" in out.columns and (out.loc[out["segment"] == 1, "segment_name"] == "My name").all()
    assert (out["distance_to_centre"] >= 0).all()


def test_given_k_and_categorical(customers: pd.DataFrame) -> None:
    res = kmeans_segments(customers, ["orders", "total_spend", "channel"], k=3, categorical=["channel"],
                          scale="robust")
    assert res.k == 3 and res.selection.empty and len(res.labels) == len(customers)
    assert any(c.startswith("channel=") for c in res.profile.columns)
    assert "channel" in set(res.importance["feature"])


def test_missing_values_are_imputed() -> None:
    X, y = make_blobs(n_samples=900, n_features=3, centers=3, random_state=4)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df.loc[::17, "b"] = np.nan
    res = kmeans_segments(df, ["a", "b", "c"])
    assert res.k == 3 and adjusted_rand_score(y, res.labels) > 0.9


@pytest.mark.parametrize("make, kwargs, match", [
    (lambda d: d.assign(t="x"), {"features": ["t"]}, "not numeric"),
    (lambda d: d, {"features": []}, "No usable numeric features"),
    (lambda d: d.assign(c=1.0), {"features": ["a", "c"]}, "same value for every customer"),
    (lambda d: d.assign(c=np.nan), {"features": ["a", "c"]}, "missing for every customer"),
    (lambda d: d.head(3), {"features": ["a", "b"], "k": 5}, "fewer than the 5 segments"),
    (lambda d: d.assign(a=d["a"] - 100), {"features": ["a", "b"], "log_transform": ["a"]}, "non-finite"),
    (lambda d: d.assign(b=np.where(np.arange(len(d)) == 3, np.inf, d["b"])), {"features": ["a", "b"]}, "infinite"),
    (lambda d: d.assign(city=[f"c{i}" for i in range(len(d))]), {"features": ["a", "city"], "categorical": ["city"]},
     "levels"),
    (lambda d: d.assign(customer_id=np.arange(len(d)) // 2), {"features": ["a", "b"]}, "one row per customer"),
    (lambda d: d.assign(cid=0), {"features": ["a", "b"], "id_column": "cid"}, "one row per customer"),
    (lambda d: d, {"features": ["a", "nope"]}, "not in the table"),
])
def test_kmeans_bad_input(make, kwargs: dict, match: str) -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"a": rng.gamma(2, 10, 400), "b": rng.normal(size=400)})
    df = make(base)
    features = kwargs.pop("features")
    with pytest.raises(DataError, match=match):
        kmeans_segments(df, features, **kwargs)


def test_unknown_preprocessing_option() -> None:
    df = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 2})
    with pytest.raises(DataError, match="Unknown preprocessing"):
        kmeans_segments(df, ["a", "b"], k=2, scaling="standard")


# ----------------------------------------------------------------- edge cases found in review
def test_two_very_clear_groups_recommend_two_with_the_reason():
    rng = np.random.default_rng(0)
    one = pd.DataFrame({"spend": np.r_[rng.normal(10, 1, 200), rng.normal(50, 1, 200)]})
    res = kmeans_segments(one, ["spend"], log_transform=False)
    assert res.k == 2 and "margin" in res.reason, res.reason
    X, y = make_blobs(1000, centers=2, n_features=3, cluster_std=0.5, random_state=4)
    res = kmeans_segments(pd.DataFrame(X, columns=list("abc")), list("abc"))
    assert res.k == 2 and adjusted_rand_score(y, res.labels) == 1.0
    sil = res.selection.set_index("k")["silhouette"]
    assert sil[2] >= sil.loc[3:8].max() + 0.1 and sil[2] >= 0.5  # the documented margin
    assert f"{sil[2]:.3f}" in res.reason and f"{sil.loc[3:8].max():.3f}" in res.reason
    assert list(res.selection.columns) == ["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]


def test_three_clear_groups_recommend_three():
    X, y = make_blobs(1200, centers=3, n_features=3, cluster_std=1.0, center_box=(-10, 10), random_state=1)
    res = kmeans_segments(pd.DataFrame(X, columns=list("abc")), list("abc"))
    assert res.k == 3 and adjusted_rand_score(y, res.labels) >= 0.95
    assert res.reason.startswith("k = 3 ranks best among k = 3..8"), res.reason


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_recommends_within_three_to_eight(seed: int):
    rng = np.random.default_rng(seed)
    noise = pd.DataFrame(rng.normal(size=(1000, 4)), columns=list("abcd"))
    res = kmeans_segments(noise, list(noise.columns))
    assert 3 <= res.k <= 8, res.selection
    assert res.selection["k"].tolist() == list(range(2, 11))  # the whole sweep is still shown


def test_continuum_does_not_get_two_segments_for_a_small_silhouette_lead():
    """Spend-like, correlated, skewed columns (like real retail): k = 2 scores highest but not clearly."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=(1500, 1))
    spend = pd.DataFrame(np.exp(z + 0.7 * rng.normal(size=(1500, 3)) + 3), columns=["monetary", "orders", "aov"])
    res = kmeans_segments(spend, list(spend.columns))
    sil = res.selection.set_index("k")["silhouette"]
    assert sil[2] > sil.loc[3:8].max()  # the coarsest cut scores best ...
    assert 3 <= res.k <= 8  # ... but not by the margin, so a k that can be acted on is recommended
    assert "k = 2 has a higher silhouette" in res.reason and "not clearly" in res.reason, res.reason
    assert "rarely actionable" in res.reason


def test_small_tables_and_impossible_k():
    X, _ = make_blobs(10, centers=3, n_features=2, random_state=1)
    small = kmeans_segments(pd.DataFrame(X, columns=["a", "b"]), ["a", "b"])
    assert small.k <= 2  # at least ~5 customers per recommended segment
    repeated = pd.DataFrame({"a": [1, 2, 3] * 20, "b": [1, 5, 9] * 20})
    with pytest.raises(DataError, match="segments get customers"):
        kmeans_segments(repeated, ["a", "b"], k=5)


def test_predict_refuses_bad_input(customers: pd.DataFrame):
    import ibis
    res = kmeans_segments(customers, ["orders", "total_spend"], k=3)
    with pytest.raises(DataError, match="pandas DataFrame"):
        res.predict(ibis.memtable(customers[["orders", "total_spend"]]))
    with pytest.raises(DataError, match="infinite"):
        res.predict(customers.assign(orders=np.inf))
    with pytest.raises(DataError, match="one row per customer"):
        kmeans_segments(customers.assign(id=customers.index // 2), ["orders", "total_spend"], k=3)


def test_customer_features_text_dates_and_mixed_ids():
    tx = pd.DataFrame({"cust": [1, "a", 1, "a"], "when": ["12/1/2010 8:26", "12/2/2010 9:00", "12/5/2010 10:00", "12/6/2010"],
                       "amount": [1.0, 2.0, 3.0, 4.0]})
    f = customer_features(tx, "cust", "when", "amount").set_index("cust")
    assert f.loc["1", "frequency"] == 2 and f.loc["1", "recency_days"] == 2  # as of 2010-12-07
    assert f.loc["a", "monetary"] == pytest.approx(6.0)


# ----------------------------------------------------------------- real and real-looking data (issue 10)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ONLINE_RETAIL = SHARED / "online_retail" / "online_retail.csv"


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="../shared/data is absent")
def test_online_retail_recommends_three_to_eight_and_says_why_not_two(ws) -> None:
    ws.ingest_csv(ONLINE_RETAIL, "online_retail")
    feats = customer_features(ws.table("online_retail"), "CustomerID", "InvoiceDate", "UnitPrice",
                              quantity="Quantity", order="InvoiceNo", product="StockCode", exclude_non_positive=True)
    assert len(feats) == 4338
    res = kmeans_segments(feats, ["recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
                                  "n_products"], id_column="CustomerID")
    sil = res.selection.set_index("k")["silhouette"]
    assert sil[2] > sil.loc[3:8].max() and sil[2] < 0.5  # k = 2 leads a little: a continuum
    assert 3 <= res.k <= 8 and "k = 2 has a higher silhouette" in res.reason, res.reason


def ifood_like(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Synthetic data with the columns of Kaggle's iFood "marketing_campaign" file (values invented)."""
    rng = np.random.default_rng(seed)
    kids, teens = rng.choice([0, 1, 2], n, p=[0.58, 0.4, 0.02]), rng.choice([0, 1, 2], n, p=[0.52, 0.46, 0.02])
    wealth = rng.normal(size=n)
    income = np.round(np.exp(10.8 + 0.35 * wealth), 0)
    income[rng.choice(n, 24, replace=False)] = np.nan
    appetite = np.exp(0.9 * wealth - 0.6 * kids - 0.3 * teens + 0.5 * rng.normal(size=n))
    df = pd.DataFrame({
        "ID": rng.permutation(11_000)[:n],
        "Year_Birth": rng.integers(1940, 2000, n),
        "Education": rng.choice(["Graduation", "PhD", "Master", "Basic", "2n Cycle"], n),
        "Marital_Status": rng.choice(["Married", "Together", "Single", "Divorced", "Widow"], n),
        "Income": income, "Kidhome": kids, "Teenhome": teens,
        "Dt_Customer": pd.to_datetime("2012-07-30") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "Recency": rng.integers(0, 100, n),
    })
    for col, scale in (("MntWines", 300), ("MntFruits", 25), ("MntMeatProducts", 160), ("MntFishProducts", 35),
                       ("MntSweetProducts", 25), ("MntGoldProds", 40)):
        df[col] = np.round(scale * appetite * rng.gamma(2, 0.5, n))
    for col, lam in (("NumDealsPurchases", 2), ("NumWebPurchases", 4), ("NumCatalogPurchases", 2.5),
                     ("NumStorePurchases", 5)):
        df[col] = rng.poisson(lam * np.sqrt(appetite))
    df["NumWebVisitsMonth"] = rng.poisson(5 / np.sqrt(appetite).clip(0.3))
    for col in ("AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2"):
        df[col] = rng.binomial(1, (0.05 * appetite).clip(0, 0.6))
    df["Complain"] = rng.binomial(1, 0.01, n)
    df["Z_CostContact"], df["Z_Revenue"] = 3, 11
    df["Response"] = rng.binomial(1, (0.1 * appetite).clip(0, 0.8))
    return df


FLAGS = ["AcceptedCmp1", "AcceptedCmp2", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "Response", "Complain"]


def test_ifood_default_features_leave_out_flags_ids_and_constants() -> None:
    from core.segments.preprocess import feature_suggestions, suggest_features, suggest_id_column
    df = ifood_like()
    id_column = suggest_id_column(df)
    found = feature_suggestions(df, id_column)
    assert not set(FLAGS + ["ID", "Z_CostContact", "Z_Revenue"]) & set(found.suggested)
    assert set(found.suggested) == {"Year_Birth", "Income", "Kidhome", "Teenhome", "Recency", "MntWines", "MntFruits",
                                    "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds",
                                    "NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases",
                                    "NumStorePurchases", "NumWebVisitsMonth"}
    for flag in FLAGS:  # still offered, with the reason they are not suggested
        assert flag in found.numeric and "0/1" in found.left_out[flag]
    assert "outcome" in found.left_out["Response"] and "flag" in found.left_out["AcceptedCmp1"]
    assert "same value" in found.left_out["Z_CostContact"] and "same value" in found.left_out["Z_Revenue"]
    assert id_column == "ID" or "identifier" in found.left_out["ID"]
    assert {"Education", "Marital_Status"} <= set(found.categorical)
    table = found.left_out_table()
    assert list(table.columns) == ["column", "reason"] and set(FLAGS) <= set(table["column"])
    assert suggest_features(df, id_column) == (found.suggested, found.numeric, found.categorical)
    # a 0/1 column of any name is a flag; a count with three levels is not
    extra = feature_suggestions(pd.DataFrame({"has_app": [0, 1] * 50, "kids": [0, 1, 2, 1] * 25,
                                              "vip": [True, False] * 50, "spend": np.arange(100.0)}))
    assert extra.suggested == ["kids", "spend"] and set(extra.left_out) == {"has_app", "vip"}


@pytest.mark.parametrize("feature, high, low", [
    ("MntMeatProducts", "high spend on meat", "low spend on meat"),
    ("MntWines", "high spend on wines", "low spend on wines"),
    ("MntGoldProds", "high spend on gold", "low spend on gold"),
    ("total_spend", "high spend", "low spend"),
    ("amount_electronics", "high spend on electronics", "low spend on electronics"),
    ("monetary", "high spend", "low spend"),
    ("NumWebPurchases", "many web purchases", "few web purchases"),
    ("NumDealsPurchases", "many deal purchases", "few deal purchases"),
    ("NumWebVisitsMonth", "many web visits", "few web visits"),
    ("n_products", "broad range", "narrow range"),
    ("avg_order_value", "big baskets", "small baskets"),
    ("Recency", "lapsed", "recent"),
    ("Income", "high income", "low income"),
])
def test_feature_words(feature: str, high: str, low: str) -> None:
    from core.segments.naming import describe_feature
    assert describe_feature(feature, True) == high and describe_feature(feature, False) == low


def test_ifood_segments_call_amounts_spend_and_counts_purchases() -> None:
    from core.segments.naming import segment_names
    from core.segments.preprocess import feature_suggestions
    df = ifood_like()
    found = feature_suggestions(df, "ID")
    res = kmeans_segments(df, found.suggested, id_column="ID")
    assert 3 <= res.k <= 8, res.reason
    names = " | ".join(res.names.values()).lower()
    assert "range" not in names, names
    assert "spend" in names, names
    # the biggest meat spenders are named for spend, not for a product range
    meat = res.effects["MntMeatProducts"].idxmax()
    assert "spend" in res.names[meat].lower() and "range" not in res.names[meat].lower()
    # hand-made effects: every amount reads as spend, every count as purchases or visits
    effects = pd.DataFrame({"MntMeatProducts": [1.5, -1.2], "MntWines": [1.2, -1.0], "NumWebVisitsMonth": [-0.9, 1.1],
                            "NumCatalogPurchases": [0.5, -0.2]}, index=[1, 2])
    named = segment_names(effects)
    assert named[1] == "High spend on meat, wines · few web visits · many catalog purchases"
    assert named[2] == "Low spend on meat, wines · many web visits"


# ----------------------------------------------------------------- Segments page (issue 10)
def _segments_page(table: str = "customers"):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120).run()
    at.button(key="load-demo").click().run()
    at.switch_page("pages/segments.py").run()
    at.selectbox(key="seg-table").select(table).run()
    return at


def _frame_with(at, *columns: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _names_editor_key(at) -> str:
    return next(d.key for d in at.dataframe if (d.key or "").startswith("km-names-"))


def _export_caption(at) -> str:
    return next(c.value for c in at.caption if "customers," in c.value)


def test_segments_page_export_starts_with_every_segment(app_env) -> None:
    at = _segments_page()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    open_tab(at, "segments", "Save and export")
    chosen = at.multiselect(key="seg-export-segments")
    assert len(chosen.value) == 5 == len(chosen.options)
    assert _export_caption(at).startswith("5,000 customers")
    # a second segmentation (other k): its segments all start selected, not none
    open_tab(at, "segments", "K-means segments")
    at.radio(key="km-mode").set_value("Choose k").run()
    at.slider(key="km-k").set_value(3).run()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    open_tab(at, "segments", "Save and export")
    chosen = at.multiselect(key="seg-export-segments")
    assert len(chosen.value) == 3 == len(chosen.options) and all(v.startswith(("1:", "2:", "3:")) for v in chosen.value)
    assert _export_caption(at).startswith("5,000 customers")
    assert not at.warning or not any("only a header" in w.value for w in at.warning)
    # a choice the user makes stays; choosing none says what the file would hold
    at.multiselect(key="seg-export-segments").set_value([chosen.options[0]]).run()
    assert at.multiselect(key="seg-export-segments").value == [chosen.options[0]]
    at.multiselect(key="seg-export-segments").set_value([]).run()
    assert any("only a header" in w.value for w in at.warning)


def test_segments_page_results_belong_to_one_table_version(app_env, tmp_path) -> None:
    from core.data.workspace import Workspace
    from pages.common import result_store
    at = _segments_page()
    at.multiselect(key="km-features-customers").set_value(["orders", "total_spend", "tenure_days"]).run()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert at.metric[1].value == "5,000"
    old_keys = {k for k in result_store() if k[0] == "kmeans"}
    old_editor = _names_editor_key(at)
    # the same name, a new file: no old segments, names, export or feature choice on the page
    rng = np.random.default_rng(0)
    new = pd.DataFrame({"customer_id": np.arange(300) + 1, "orders": rng.poisson(3, 300),
                        "total_spend": rng.gamma(2, 50, 300), "visits": rng.poisson(8, 300)})
    new.to_csv(tmp_path / "customers.csv", index=False)
    Workspace(app_env).ingest_csv(tmp_path / "customers.csv", "customers", mode="replace")
    at.run()
    assert not at.exception, at.exception
    assert not at.metric  # nothing from the previous file
    open_tab(at, "segments", "Save and export")
    assert any("Find K-means segments first" in i.value for i in at.info)
    open_tab(at, "segments", "K-means segments")
    assert at.multiselect(key="km-features-customers").value == ["orders", "total_spend", "visits"]
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    assert at.metric[1].value == "300"
    new_keys = {k for k in result_store() if k[0] == "kmeans"} - old_keys
    assert len(new_keys) == 1 and next(iter(new_keys))[3] == Workspace(app_env).info("customers").version
    assert _names_editor_key(at) != old_editor  # names edited for the old file do not carry over
    open_tab(at, "segments", "Save and export")
    assert _export_caption(at).startswith("300 customers")
    open_tab(at, "segments", "RFM segments")
    rfm_key = at.session_state["rfm-current"]
    assert rfm_key[3] == Workspace(app_env).info("customers").version
    open_tab(at, "segments", "Save and export")
    at.text_input(key="seg-save-name-customers").input("my_segments").run()
    # another table shows nothing of this one, and saving it does not reuse the name typed for this one
    at.selectbox(key="seg-table").select("campaign_daily").run()
    assert not at.exception and not at.metric
    assert any("Find K-means segments first" in i.value for i in at.info)  # not the other table's segments
    open_tab(at, "segments", "K-means segments")
    assert not at.metric
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    open_tab(at, "segments", "Save and export")
    assert at.text_input(key="seg-save-name-campaign_daily").value == "campaign_daily_segments"


def test_segments_page_tables_are_formatted_for_people(app_env) -> None:
    at = _segments_page()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    sizes = _frame_with(at, "segment", "name", "size", "share")
    assert sizes["share"].str.fullmatch(r"\d+\.\d%").all() and sizes["size"].str.fullmatch(r"[\d,]+").all()
    assert sum(int(v.replace(",", "")) for v in sizes["size"]) == 5000
    profile = _frame_with(at, "feature", "all customers")
    assert profile["feature"].tolist()[:2] == ["tenure_days", "recency_days"]
    assert all(isinstance(v, str) for v in profile["all customers"])
    spend = profile.set_index("feature").loc["total_spend", "all customers"]
    raw = pd.read_csv(SAMPLE_DIR / "customers.csv")["total_spend"].mean()
    assert float(spend.replace(",", "")) == pytest.approx(raw, rel=5e-3)  # 3 significant digits
    rules = _frame_with(at, "rule", "covers (of segment)", "precision")
    assert rules["precision"].str.endswith("%").all()
    left_out = _frame_with(at, "column", "reason")
    assert set(left_out["column"]) == {"churned", "purchased_next_30d"}
    open_tab(at, "segments", "RFM segments")  # lazy tabs: RFM runs once its tab is open
    rfm = _frame_with(at, "RFM segment", "customers", "share", "share of spend")
    assert rfm["share"].str.endswith("%").all() and rfm["share of spend"].str.endswith("%").all()
    # the stored results (what downloads are made from) keep raw numbers
    from pages.common import result_store
    res = next(v for k, v in result_store().items() if k[0] == "kmeans")
    assert res.profile_detail["mean"].dtype == "float64" and res.profile["share"].dtype == "float64"


def test_segments_page_draws_the_tsne_map_on_a_click_and_keeps_it(app_env) -> None:
    at = _segments_page()
    finish_segment_jobs(at.button(key="seg-run").click().run())
    assert not at.exception, at.exception
    assert any("t-SNE places 2,000 of the mapped customers" in c.value for c in at.caption)
    at.button(key="km-tsne").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    drawn = [c for c in at.get("plotly_chart") if "t-SNE 1" in c.proto.spec]
    assert len(drawn) == 1
    at.run()  # a rerun shows the kept layout without the button
    assert not [b for b in at.button if b.key == "km-tsne"]
