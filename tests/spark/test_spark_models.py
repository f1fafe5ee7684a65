"""Models on Spark: samples brought to the driver, scoring and segment assignment of every row on the
cluster (mapInPandas), checked against the same fitted objects applied with pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
FEATURES = ["tenure_days", "recency_days", "orders", "total_spend", "sessions_30d", "email_open_rate"]


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    df = pd.read_csv(SAMPLE / "customers.csv")
    df["signup_date"] = pd.to_datetime(df["signup_date"])
    return df


def test_driver_frame_is_a_seeded_sample_of_a_large_spark_table(sws, dws, customers):
    from core.data.driver import driver_frame

    sws.save_frame(customers, "customers")
    first = driver_frame(sws, "customers", max_rows=1_000, seed=3)
    again = driver_frame(sws, "customers", max_rows=1_000, seed=3)
    assert first.sampled and first.rows == 1_000 and first.total_rows == len(customers)
    assert first.frame["customer_id"].tolist() == again.frame["customer_id"].tolist()
    assert first.frame["customer_id"].is_unique and set(first.frame["customer_id"]) <= set(customers["customer_id"])
    assert str(first.frame["signup_date"].dtype).startswith("datetime64")  # as SparkWorkspace.read gives dates
    assert f"{len(customers):,} rows in Spark" in first.note("customers") and "1,000 rows" in first.note("customers")
    whole = driver_frame(sws, "customers", max_rows=len(customers))
    assert not whole.sampled and whole.rows == len(customers) and whole.note("customers") is None
    dws.save_frame(customers, "customers")
    local = driver_frame(dws, "customers", max_rows=10)  # DuckDB: the table is on this machine already
    assert not local.sampled and local.rows == len(customers)


def test_scores_on_spark_equal_the_pandas_scores(sws, customers):
    from core.data.spark_apply import score_on_spark
    from core.models import score_table, train

    sws.save_frame(customers, "customers")
    model = train(customers.sample(2_000, random_state=0), "churned", FEATURES + ["region", "channel"],
                  algorithm="linear", cv=2)
    got = score_on_spark(sws, model, "customers", "customers_scores", id_column="customer_id", carry=["signup_date"])
    assert got.table == "customers_scores" and got.rows == len(customers)
    saved = sws.read("customers_scores").sort_values("customer_id").reset_index(drop=True)
    want = score_table(model, customers, "customer_id", carry=["signup_date"]).sort_values("customer_id") \
        .reset_index(drop=True)
    assert list(saved.columns) == list(want.columns)
    np.testing.assert_allclose(saved["score"], want["score"], rtol=1e-12)
    assert saved["predicted_class"].astype(str).tolist() == want["predicted_class"].astype(str).tolist()
    assert saved["signup_date"].tolist() == want["signup_date"].tolist()
    # deciles from Spark's quantile sketch: the pandas deciles but for rows at a cut point
    assert (saved["decile"] != want["decile"]).sum() <= 9
    assert got.by_decile["count"].tolist() == saved.groupby("decile").size().tolist()
    assert got.by_decile["decile"].tolist() == list(range(1, 11))


def test_scoring_joins_the_segments_and_refuses_missing_columns(sws, customers):
    from core.data.spark_apply import score_on_spark
    from core.errors import DataError
    from core.models import train

    sws.save_frame(customers, "customers")
    segs = pd.DataFrame({"customer_id": customers["customer_id"], "segment": np.arange(len(customers)) % 3 + 1,
                         "segment_name": "Group"})
    sws.save_frame(segs, "customers_segments")
    model = train(customers.head(1_500), "total_spend", ["tenure_days", "orders", "sessions_30d"], algorithm="linear",
                  cv=2)
    got = score_on_spark(sws, model, "customers", "spend_scores", id_column="customer_id",
                         segments="customers_segments")
    saved = sws.read("spend_scores").set_index("customer_id").sort_index()
    assert got.rows == len(customers) and {"prediction", "score", "decile", "segment", "segment_name"} <= set(saved)
    assert (saved["segment"] == segs.set_index("customer_id").sort_index()["segment"]).all()
    sws.save_frame(customers.drop(columns="orders"), "without_orders")
    with pytest.raises(DataError, match="orders"):
        score_on_spark(sws, model, "without_orders", "x_scores", id_column="customer_id")


def test_segments_assigned_on_spark_equal_predict(sws, customers):
    from core.data.spark_apply import assign_segments_on_spark
    from core.segments import kmeans_segments

    sws.save_frame(customers, "customers")
    fitted_on = customers.sample(2_500, random_state=1)
    result = kmeans_segments(fitted_on, FEATURES, 4, categorical=["region"])
    got = assign_segments_on_spark(sws, result, "customers", "customer_id", "customers_segments",
                                   names={1: "Our best"})
    saved = sws.read("customers_segments").set_index("customer_id").loc[customers["customer_id"]]
    assert got.rows == len(customers) and list(saved.columns) == ["segment", "segment_name", "distance_to_centre"]
    np.testing.assert_array_equal(saved["segment"].to_numpy(), result.predict(customers))
    np.testing.assert_allclose(saved["distance_to_centre"].to_numpy(), result.distance(customers), rtol=1e-12)
    assert set(saved.loc[saved["segment"] == 1, "segment_name"]) == {"Our best"}
    assert got.sizes["customers"].sum() == len(customers)
    assert got.sizes.set_index("segment")["customers"].to_dict() == saved["segment"].value_counts().to_dict()


def test_a_result_never_replaces_the_table_it_is_computed_from(sws, customers):
    from core.data.spark_apply import assign_segments_on_spark, score_on_spark
    from core.errors import DataError
    from core.models import train

    sws.save_frame(customers, "customers")
    model = train(customers.head(500), "churned", ["orders", "total_spend"], algorithm="linear", cv=2)
    with pytest.raises(DataError, match="cannot replace `customers`"):
        score_on_spark(sws, model, "customers", "Customers", id_column="customer_id")
    with pytest.raises(DataError, match="cannot replace"):
        assign_segments_on_spark(sws, object(), "customers", "customer_id", "customers")
    assert sws.read("customers").shape == customers.shape


def test_mllib_kmeans_on_every_row_finds_the_segments_of_the_sample(sws):
    """Planted clusters: MLlib's k-means|| on all rows ends at scikit-learn's optimum on all rows (the same
    centres after pairing), keeps the sample's segment numbers and names, and assigns like predict."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    from core.segments import kmeans_segments
    from core.segments.mllib import match_clusters, mllib_segments

    X, planted = make_blobs(6_000, 3, centers=[[0, 0, 0], [8, 0, 0], [0, 8, 0], [0, 0, 8]], cluster_std=1.0,
                           random_state=2)
    df = pd.DataFrame(X * 10 + 200, columns=["spend", "orders", "visits"]).assign(customer=np.arange(6_000))
    sws.save_frame(df, "big_customers")
    result = kmeans_segments(df.sample(1_500, random_state=0), ["spend", "orders", "visits"], 4)
    got = mllib_segments(sws, result, "big_customers", "customer", "big_customers_segments",
                         names={2: "Second"})
    saved = sws.read("big_customers_segments").set_index("customer").loc[df["customer"]]
    assert got.rows == 6_000 and got.k == 4 and got.iterations >= 1
    assert list(saved.columns) == ["segment", "segment_name", "distance_to_centre"]
    assert adjusted_rand_score(planted, saved["segment"]) > 0.99
    assert (saved["segment"].to_numpy() == result.predict(df)).mean() > 0.995  # the sample's numbering carried over
    assert set(saved.loc[saved["segment"] == 2, "segment_name"]) == {"Second"}
    assert (got.shift < 0.1).all()  # centres moved by under 0.1 standard deviation from the sample's
    # an independent reference: scikit-learn on every row of the same scaled inputs
    scaled = result._transform(df)
    full = KMeans(4, n_init=4, random_state=0).fit(scaled)
    pairing = match_clusters(full.cluster_centers_, got.centres)
    np.testing.assert_allclose(got.centres, full.cluster_centers_[pairing], atol=1e-3)
    labels = saved["segment"].to_numpy()
    np.testing.assert_allclose(saved["distance_to_centre"], np.linalg.norm(scaled - got.centres[labels - 1], axis=1),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.cost, ((scaled - got.centres[labels - 1]) ** 2).sum(), rtol=1e-6)
    sample_sse = ((scaled - result._model.cluster_centers_[result._model.predict(scaled)]) ** 2).sum()
    np.testing.assert_allclose(got.sample_cost, sample_sse, rtol=1e-9)  # the sample's centres on every row
    assert got.cost == min(got.mllib_cost, got.sample_cost) and got.used in ("mllib", "sample")
    assert got.sizes["customers"].sum() == 6_000
