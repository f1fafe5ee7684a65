"""Audience builder: hand-made tables whose audience is known, funnels, figures, exports, bad input.

Expected audiences are written out by hand (small tables) or computed with plain pandas merges
(a random case), never with the builder's own Ibis code.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.targeting.audience import (AudienceFilters, AudienceSources, audience_summary, build_audience,
                                     export_audience, save_audience)

# Six customers. Segments by int CustomerID; CLV by text customer_id (customer 6 has no CLV row);
# uplift by int id; propensity by int customer_id (customer 5 has no score).
SEGMENTS = pd.DataFrame({"CustomerID": [1, 2, 3, 4, 5, 6], "segment": [0, 0, 1, 1, 2, 2],
                         "segment_name": ["Champions", "Champions", "At Risk", "At Risk", "Lost", "Lost"],
                         "distance_to_centre": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
CLV = pd.DataFrame({"customer_id": ["1", "2", "3", "4", "5"], "frequency": [3, 1, 4, 0, 2],
                    "clv": [50.0, 150.0, 250.0, 80.0, 300.0], "p_alive": [0.9, 0.3, 0.7, 0.6, 0.1],
                    "expected_purchases": [1.0, 0.5, 2.0, 0.2, 0.1], "expected_spend": [20.0, 30.0, 40.0, 10.0, 50.0]})
UPLIFT = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "uplift": [0.10, 0.05, 0.20, -0.10, 0.30, 0.02],
                       "uplift_decile": [3, 4, 2, 10, 1, 6], "p_treated": [0.3] * 6, "p_control": [0.2] * 6,
                       "group": ["persuadable", "persuadable", "persuadable", "do not disturb", "persuadable",
                                 "sure thing"]})
PROPENSITY = pd.DataFrame({"customer_id": [1, 2, 3, 4, 6], "score": [0.8, 0.4, 0.6, 0.2, 0.9],
                           "decile": [2, 6, 4, 9, 1]})
CONTROL = pd.DataFrame({"user": [2, 2, 4, 5], "variant": ["email", "control", "email", "holdout"]})
PRODUCTS = pd.DataFrame({"customer_id": [1, 1, 1, 3, 3, 5], "StockCode": ["B", "A", "C", "=HYPERLINK(1)", "E", "F"],
                         "rank": [2, 1, 3, 1, 2, 1], "score": [0.4, 0.5, 0.3, 0.9, 0.1, 0.7],
                         "reason": ["r"] * 6})


def sources(**kw) -> AudienceSources:
    base = dict(id_column="customer_id", segments=SEGMENTS, segments_id="CustomerID", clv=CLV, uplift=UPLIFT,
                uplift_id="id", propensity=PROPENSITY)
    base.update(kw)
    return AudienceSources(**base)


def ids(audience) -> set[int]:
    return set(int(v) for v in audience.customers[audience.id_column])


def indexed(audience) -> pd.DataFrame:
    """The customers indexed by their id as an int (the fixture's CLV ids are text, so the audience's are)."""
    c = audience.customers
    return c.set_index(c[audience.id_column].astype(int))


def funnel_row(audience, step: str) -> dict:
    rows = audience.funnel[audience.funnel["step"] == step]
    assert len(rows) == 1, audience.funnel
    return rows.iloc[0].to_dict()


# ---------------------------------------------------------------- each filter alone
@pytest.mark.parametrize("filters, expected", [
    (AudienceFilters(), {1, 2, 3, 4, 5, 6}),
    (AudienceFilters(segments=("Champions",)), {1, 2}),
    (AudienceFilters(segments=("Lost", 1)), {3, 4, 5, 6}),  # a name and a segment number
    (AudienceFilters(segments=[0]), {1, 2}),
    (AudienceFilters(min_p_alive=0.6), {1, 3, 4}),
    (AudienceFilters(min_clv=150), {2, 3, 5}),
    (AudienceFilters(top_uplift_deciles=3), {1, 3, 5}),
    (AudienceFilters(top_uplift_deciles=1), {5}),
    (AudienceFilters(min_uplift=0.05), {1, 2, 3, 5}),
    (AudienceFilters(uplift_groups=("persuadable",)), {1, 2, 3, 5}),
    (AudienceFilters(uplift_groups="sure thing"), {6}),
    (AudienceFilters(min_propensity=0.6), {1, 3, 6}),
    (AudienceFilters(top_propensity_deciles=4), {1, 3, 6}),
])
def test_each_filter_alone(filters, expected):
    assert ids(build_audience(sources(), filters)) == expected


def test_rfm_segments_and_a_chosen_segment_column():
    rfm = pd.DataFrame({"customer_id": [1, 2, 3], "rfm_segment": ["Champions", "Lost", "At Risk"],
                        "r_score": [5, 1, 2]})
    a = build_audience(AudienceSources(segments=rfm), AudienceFilters(segments=("Champions", "At Risk")))
    assert ids(a) == {1, 3}  # no segment_name: the RFM names are matched
    assert "rfm_segment" in a.customers.columns
    assert audience_summary(a).by_segment.set_index("rfm_segment")["customers"].to_dict() == {"At Risk": 1,
                                                                                             "Champions": 1}
    b = build_audience(sources(segments=rfm, segments_id=None, segment_column="r_score"), AudienceFilters(segments=(5, 2)))
    assert ids(b) == {1, 3}
    with pytest.raises(DataError, match="holds numbers"):
        build_audience(sources(segments=rfm, segments_id=None, segment_column="r_score"),
                       AudienceFilters(segments=("Champions",)))


def test_several_arms_one_row_per_customer():
    arms = UPLIFT.assign(arm=["email", "sms", "email", "sms", "email", "sms"])
    a = build_audience(sources(uplift=arms), AudienceFilters(top_uplift_deciles=2))
    assert indexed(a)["arm"].to_dict() == {5: "email", 3: "email"}
    long = pd.concat([arms, arms.assign(arm="push")])  # one row per customer and arm: not the saved table
    with pytest.raises(DataError, match="uplift table has 6 customer ids on more than one row"):
        build_audience(sources(uplift=long), AudienceFilters())


def test_numpy_values_from_widgets():
    f = AudienceFilters(segments=np.array([0, 1]), min_clv=np.float64(100), top_uplift_deciles=np.int64(5),
                        uplift_groups=["persuadable"])
    assert f.segments == (0, 1) and type(f.min_clv) is float and type(f.top_uplift_deciles) is int
    assert f.uplift_groups == ("persuadable",)
    assert ids(build_audience(sources(), f)) == {2, 3}  # segments 0-1, CLV >= 100, deciles 1-5, persuadable
    assert ids(build_audience(sources(), AudienceFilters(segments=()))) == {1, 2, 3, 4, 5, 6}  # empty: off


def test_filters_combined_and_funnel():
    a = build_audience(sources(control=CONTROL, control_id="user"),
                       AudienceFilters(segments=("Champions", "At Risk", "Lost"), min_clv=60, top_uplift_deciles=4,
                                       exclude_control=True))
    # min_clv 60 removes 1 (50) and 6 (no CLV row); deciles 1-4 remove 4 (10); control removes 2.
    assert ids(a) == {3, 5}
    assert a.size == 2
    f = a.funnel
    assert f["step"].tolist() == ["All customers in the given tables", "Segment in (Champions, At Risk, Lost)",
                                  "CLV ≥ 60", "Uplift deciles 1-4 (top 40%)", "Not in the control group (control)"]
    assert f["customers_before"].tolist() == [6, 6, 6, 4, 3]
    assert f["removed"].tolist() == [0, 0, 2, 1, 1]
    assert f["no_row"].tolist() == [0, 0, 1, 0, 0]
    assert f["customers_left"].tolist() == [6, 6, 4, 3, 2]
    assert (f["customers_before"] - f["removed"] == f["customers_left"]).all()
    assert "1 customer has no CLV row and was removed by 'CLV ≥ 60'." in a.messages


def test_missing_rows_counted_in_every_table():
    a = build_audience(sources(), AudienceFilters(min_clv=0, min_propensity=0))
    assert ids(a) == {1, 2, 3, 4}
    assert funnel_row(a, "CLV ≥ 0")["no_row"] == 1  # customer 6
    assert funnel_row(a, "Propensity score ≥ 0")["no_row"] == 1  # customer 5
    assert "1 customer has no propensity score row and was removed by 'Propensity score ≥ 0'." in a.messages


def test_empty_value_counted_apart_from_missing_row():
    clv = CLV.assign(clv=[50.0, None, 250.0, 80.0, 300.0])
    a = build_audience(sources(clv=clv), AudienceFilters(min_clv=60))
    row = funnel_row(a, "CLV ≥ 60")
    assert (row["removed"], row["no_row"], row["no_value"]) == (3, 1, 1)  # 1 (50), 6 (no row), 2 (empty)
    assert ids(a) == {3, 4, 5}
    assert any("empty clv" in m for m in a.messages)


def test_base_table_keeps_its_customers_and_counts_the_others():
    base = pd.DataFrame({"email_id": [" 2", "3 ", "5", "9"]})  # text ids with blanks; 9 is only in the base
    a = build_audience(sources(base=base, base_id="email_id"), AudienceFilters())
    assert ids(a) == {2, 3, 5, 9}
    row = funnel_row(a, "In the base table")
    assert row["customers_before"] == 7 and row["removed"] == 3 and row["no_row"] == 3
    assert a.funnel.iloc[0]["customers_left"] == 7
    off = build_audience(sources(base=base, base_id="email_id"), AudienceFilters(in_base=False))
    assert ids(off) == {1, 2, 3, 4, 5, 6, 9}


def test_base_columns_carried_for_the_email_tool():
    base = pd.DataFrame({"customer_id": [1, 2, 3], "email": ["a@x.io", "=cmd|' /C calc'!A0", "c@x.io"],
                         "first_name": ["Ann", "Bo", "Cy"], "clv": [1, 2, 3]})
    a = build_audience(sources(base=base, base_columns=["email", "first_name"]), AudienceFilters(min_clv=100))
    assert list(a.customers.columns[:3]) == ["customer_id", "email", "first_name"]
    assert indexed(a)["email"].to_dict() == {3: "c@x.io", 2: "=cmd|' /C calc'!A0"}
    back = pd.read_csv(io.BytesIO(export_audience(a, ["email", "first_name"], "csv")))
    assert sorted(back["email"]) == ["'=cmd|' /C calc'!A0", "c@x.io"]
    with pytest.raises(DataError, match="another table brings too"):
        build_audience(sources(base=base, base_columns=["clv"]), AudienceFilters())
    with pytest.raises(DataError, match=r"base table has no column 'phone'"):
        build_audience(sources(base=base, base_columns=["phone"]), AudienceFilters())
    with pytest.raises(DataError, match="choose the base table too"):
        sources(base_columns=["email"])


# ---------------------------------------------------------------- control group
def test_control_exclusion_any_control_row():
    ctl = sources(control=CONTROL, control_id="user")
    a = build_audience(ctl, AudienceFilters(exclude_control=True))
    assert ids(a) == {1, 3, 4, 5, 6}  # 2 has a control row (and an email row)
    assert indexed(a)["in_control"].to_dict() == {1: False, 3: False, 4: False,
                                                                           5: False, 6: False}
    two = build_audience(sources(control=CONTROL, control_id="user", control_values=("control", "holdout")),
                         AudienceFilters(exclude_control=True))
    assert ids(two) == {1, 3, 4, 6}
    kept = build_audience(ctl, AudienceFilters())  # not excluded: shown
    assert indexed(kept)["in_control"].to_dict()[2]


def test_control_with_numeric_variant_and_unmatched_value():
    ctl = pd.DataFrame({"customer_id": [1, 3], "arm": [0, 1]})
    a = build_audience(sources(control=ctl, control_column="arm", control_values=0),
                       AudienceFilters(exclude_control=True))
    assert ids(a) == {2, 3, 4, 5, 6}
    none = build_audience(sources(control=CONTROL, control_id="user", control_values="Control group"),
                          AudienceFilters(exclude_control=True))
    assert ids(none) == {1, 2, 3, 4, 5, 6}
    assert any("No row of the assignment" in m and "control, email, holdout" in m for m in none.messages)
    with pytest.raises(DataError, match="holds numbers"):
        build_audience(sources(control=ctl, control_column="arm", control_values="control"),
                       AudienceFilters(exclude_control=True))


# ---------------------------------------------------------------- products
def test_top_products_as_columns_in_rank_order():
    a = build_audience(sources(products=PRODUCTS), AudienceFilters(), top_products=2)
    c = indexed(a)
    assert a.product_columns == ("product_1", "product_2")
    assert c.loc[1, ["product_1", "product_2"]].tolist() == ["A", "B"]
    assert c.loc[3, ["product_1", "product_2"]].tolist() == ["=HYPERLINK(1)", "E"]
    assert c.loc[5, "product_1"] == "F" and pd.isna(c.loc[5, "product_2"])
    assert pd.isna(c.loc[2, "product_1"])
    assert "3 audience customers have no product recommendation (the product columns are empty)." in a.messages


def test_top_products_joined_and_ranked_by_score_without_rank():
    products = PRODUCTS.drop(columns="rank")
    a = build_audience(sources(products=products), AudienceFilters(segments=("Champions",)),
                       products_format="joined", top_products=3)
    c = indexed(a)
    assert c.loc[1, "products"] == "A; B; C"  # score 0.5, 0.4, 0.3
    assert c.loc[2, "products"] == ""
    assert a.product_columns == ("products",)


def test_products_item_column_must_be_clear():
    with pytest.raises(DataError, match="products_item"):
        build_audience(sources(products=PRODUCTS.assign(category="x")), AudienceFilters())
    a = build_audience(sources(products=PRODUCTS.assign(category="x"), products_item="category"),
                       AudienceFilters(), top_products=1)
    assert indexed(a).loc[1, "product_1"] == "x"


def test_a_description_beside_the_code_is_carried_as_the_products_name():
    """Next-best products saved with a description (Online Retail's Description beside StockCode): the
    audience carries product_i (the code, for the shop's links) and product_i_name (for the e-mail text)."""
    described = PRODUCTS.assign(Description=PRODUCTS["StockCode"].map(lambda c: f"name of {c}"))
    a = build_audience(sources(products=described), AudienceFilters(), top_products=2)
    c = indexed(a)
    assert a.product_columns == ("product_1", "product_1_name", "product_2", "product_2_name")
    assert c.loc[1, ["product_1", "product_1_name", "product_2", "product_2_name"]].tolist() == \
        ["A", "name of A", "B", "name of B"]
    assert pd.isna(c.loc[5, "product_2_name"]) and pd.isna(c.loc[2, "product_1_name"])
    joined = indexed(build_audience(sources(products=described), AudienceFilters(), products_format="joined",
                                    top_products=3))
    assert joined.loc[1, "products"] == "A; B; C" and joined.loc[1, "product_names"] == "name of A; name of B; name of C"
    # named explicitly, or with the item named and the description found
    again = build_audience(sources(products=described.rename(columns={"Description": "blurb"}),
                                   products_item="StockCode", products_label="blurb"), AudienceFilters(), top_products=1)
    assert indexed(again).loc[1, "product_1_name"] == "name of A"
    with pytest.raises(DataError, match="description column"):
        build_audience(sources(products=described, products_label="nope"), AudienceFilters())


# ---------------------------------------------------------------- expected figures
def test_expected_incremental_conversions_and_revenue_by_hand():
    a = build_audience(sources(), AudienceFilters(top_uplift_deciles=4), value_per_conversion=40.0)
    # deciles 1-4: customers 1, 2, 3, 5 with uplift 0.10 + 0.05 + 0.20 + 0.30
    assert a.expected_incremental_conversions == pytest.approx(0.65)
    assert a.expected_incremental_revenue == pytest.approx(0.65 * 40.0)
    assert a.total_clv == pytest.approx(50 + 150 + 250 + 300)
    assert a.mean_clv == pytest.approx((50 + 150 + 250 + 300) / 4)
    no_value = build_audience(sources(), AudienceFilters(top_uplift_deciles=4))
    assert no_value.expected_incremental_revenue is None


def test_revenue_uplift_table_and_revenue_outcome():
    revenue = pd.DataFrame({"customer_id": [1, 2, 3, 5], "uplift": [5.0, 1.0, 2.5, 4.0]})
    a = build_audience(sources(revenue_uplift=revenue), AudienceFilters(segments=("Champions", "At Risk")),
                       value_per_conversion=1000.0)
    assert ids(a) == {1, 2, 3, 4}
    assert a.expected_incremental_conversions == pytest.approx(0.10 + 0.05 + 0.20 - 0.10)
    assert a.expected_incremental_revenue == pytest.approx(5.0 + 1.0 + 2.5)  # the table's, not conversions x value
    r = build_audience(sources(uplift=revenue, uplift_id=None), AudienceFilters(), uplift_outcome="revenue")
    assert r.expected_incremental_conversions is None
    assert r.expected_incremental_revenue == pytest.approx(12.5)


def test_no_uplift_no_clv_gives_none():
    a = build_audience(AudienceSources(segments=SEGMENTS, segments_id="CustomerID"), AudienceFilters())
    assert a.size == 6
    assert a.expected_incremental_conversions is None and a.expected_incremental_revenue is None
    assert a.total_clv is None and a.mean_clv is None


def test_audience_sorted_by_uplift_then_clv():
    a = build_audience(sources(), AudienceFilters())
    assert a.customers["customer_id"].tolist() == ["5", "3", "1", "2", "6", "4"]  # text: the CLV ids are text
    assert list(a.customers.columns[:3]) == ["customer_id", "segment", "segment_name"]
    for col in ("clv", "p_alive", "uplift", "uplift_decile", "uplift_group", "propensity_score",
                "propensity_decile"):
        assert col in a.customers.columns


# ---------------------------------------------------------------- ids
def test_id_types_mismatch_join_right():
    """int ids, text ids (with blanks), float ids with gaps (pandas NaN) and Int64 all meet on the digits."""
    seg = SEGMENTS.assign(CustomerID=SEGMENTS["CustomerID"].astype("Int64"))
    clv = CLV.assign(customer_id=[" 1", "2 ", "3", "4", "5"])
    up = UPLIFT.assign(id=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    prop = pd.DataFrame({"customer_id": [1.0, np.nan, 3.0], "score": [0.8, 0.5, 0.6], "decile": [1, 2, 3]})
    a = build_audience(sources(segments=seg, clv=clv, uplift=up, propensity=prop), AudienceFilters(min_clv=100))
    assert ids(a) == {2, 3, 5}
    assert a.customers["customer_id"].dtype.kind == "O" or str(a.customers["customer_id"].dtype) in ("string", "str")
    assert indexed(a).loc[3, "propensity_score"] == 0.6
    assert "1 row of the propensity table has no customer id in 'customer_id' and was left out." in a.messages
    ints = build_audience(sources(clv=CLV.assign(customer_id=range(1, 6)), propensity=prop), AudienceFilters())
    assert ints.customers["customer_id"].dtype == "int64"  # every table's ids are whole numbers


def test_id_not_unique_raises_with_examples():
    dup = pd.concat([CLV, CLV.iloc[[1]]])
    with pytest.raises(DataError, match=r"CLV table has 1 customer id on more than one row \(e.g. 2\)"):
        build_audience(sources(clv=dup), AudienceFilters())


def test_fractional_and_boolean_ids_refused():
    with pytest.raises(DataError, match="decimals"):
        build_audience(sources(uplift=UPLIFT.assign(id=[1.5, 2, 3, 4, 5, 6])), AudienceFilters())
    with pytest.raises(DataError, match="true/false"):
        build_audience(AudienceSources(base=pd.DataFrame({"customer_id": [True, False]})), AudienceFilters())


def test_low_overlap_says_so():
    padded = CLV.assign(customer_id=["001", "002", "003", "004", "005"])
    a = build_audience(sources(clv=padded), AudienceFilters())
    assert any("None of the 5 ids in the CLV table appear in the other tables" in m for m in a.messages)


# ---------------------------------------------------------------- bad input
def test_bad_input_messages():
    with pytest.raises(DataError, match=r"segments table has no column 'cust'.*CustomerID"):
        build_audience(sources(segments_id="cust"), AudienceFilters())
    with pytest.raises(DataError, match=r"CLV table has no column 'p_alive' \(needed for 'P\(alive\) ≥ 0.5'\)"):
        build_audience(sources(clv=CLV.drop(columns="p_alive")), AudienceFilters(min_p_alive=0.5))
    with pytest.raises(DataError, match=r"The filter 'CLV ≥ 100' needs a CLV table"):
        build_audience(sources(clv=None), AudienceFilters(min_clv=100))
    with pytest.raises(DataError, match="needs a assignment|needs an? assignment"):
        build_audience(sources(), AudienceFilters(exclude_control=True))
    with pytest.raises(DataError, match="at least one customer table"):
        build_audience(AudienceSources(products=PRODUCTS), AudienceFilters())
    with pytest.raises(DataError, match="no workspace was passed"):
        build_audience(AudienceSources(clv="clv"), AudienceFilters())
    with pytest.raises(DataError, match="not numbers"):
        build_audience(sources(clv=CLV.assign(clv="a lot")), AudienceFilters(min_clv=1))
    with pytest.raises(DataError, match="probability"):
        AudienceFilters(min_p_alive=5)
    with pytest.raises(DataError, match="deciles from 1 to 10"):
        AudienceFilters(top_uplift_deciles=0)
    with pytest.raises(DataError, match="must be a number"):
        AudienceFilters(min_clv="100")
    with pytest.raises(DataError, match="uplift_outcome"):
        build_audience(sources(), uplift_outcome="visits")


def test_empty_audience_is_a_message_not_an_error():
    a = build_audience(sources(products=PRODUCTS), AudienceFilters(min_clv=100, min_p_alive=0.8))
    assert a.size == 0 and a.customers.empty
    assert "clv" in a.customers.columns and "product_1" in a.customers.columns
    assert a.messages[0] == ("The audience is empty: no customer passes every filter. 'CLV ≥ 100' removed the "
                             "last 1 customer; loosen that filter (or an earlier one).")
    assert a.expected_incremental_conversions == 0.0
    assert a.mean_clv is None
    assert export_audience(a, ["customer_id", "clv"], "csv") == b"customer_id,clv\r\n"
    summary = audience_summary(a)
    assert summary.by_segment.empty and summary.clv_distribution.empty


def test_tables_without_customers():
    a = build_audience(AudienceSources(clv=CLV.iloc[:0], uplift=UPLIFT.iloc[:0], uplift_id="id"),
                       AudienceFilters(min_clv=10))
    assert a.size == 0 and a.funnel["customers_left"].tolist() == [0, 0]
    assert a.messages[0] == "The audience is empty: the given tables hold no customers with an id."
    assert a.expected_incremental_conversions == 0.0 and a.total_clv == 0.0 and a.mean_clv is None


# ---------------------------------------------------------------- against pandas on random tables
def test_random_tables_match_a_pandas_reference():
    rng = np.random.default_rng(7)
    n = 400
    seg = pd.DataFrame({"cid": np.arange(n), "segment": rng.integers(0, 4, n)})
    seg["segment_name"] = seg["segment"].map({0: "a", 1: "b", 2: "c", 3: "d"})
    keep = rng.random(n) < 0.8
    clv = pd.DataFrame({"customer_id": np.arange(n)[keep].astype(str), "clv": rng.gamma(2, 50, keep.sum()),
                        "p_alive": rng.random(keep.sum())})
    up_ids = rng.choice(n + 50, 350, replace=False)  # some ids only in the uplift table
    up = pd.DataFrame({"customer_id": up_ids, "uplift": rng.normal(0.02, 0.05, 350)})
    up["uplift_decile"] = pd.qcut(-up["uplift"], 10, labels=False) + 1
    ctl = pd.DataFrame({"customer_id": rng.choice(n, 120), "variant": rng.choice(["control", "treat"], 120)})
    a = build_audience(AudienceSources(segments=seg, segments_id="cid", clv=clv, uplift=up, control=ctl),
                       AudienceFilters(segments=("a", "c"), min_p_alive=0.3, min_clv=60, top_uplift_deciles=5,
                                       exclude_control=True), value_per_conversion=10)
    # Reference: outer-merge everything in pandas, then filter with boolean masks.
    every = pd.DataFrame({"k": sorted(set(seg["cid"]) | set(clv["customer_id"].astype(int)) | set(up["customer_id"]))})
    m = (every.merge(seg.rename(columns={"cid": "k"}), on="k", how="left")
         .merge(clv.assign(k=clv["customer_id"].astype(int)).drop(columns="customer_id"), on="k", how="left")
         .merge(up.rename(columns={"customer_id": "k"}), on="k", how="left"))
    control_ids = set(ctl.loc[ctl["variant"] == "control", "customer_id"])
    masks = [m["segment_name"].isin(["a", "c"]), m["p_alive"] >= 0.3, m["clv"] >= 60, m["uplift_decile"] <= 5,
             ~m["k"].isin(control_ids)]
    left, counts = np.ones(len(m), bool), [len(m)]
    for mask in masks:
        left &= mask.fillna(False).to_numpy(bool)
        counts.append(int(left.sum()))
    expected = m[left]
    assert a.funnel["customers_left"].tolist() == counts
    assert sorted(a.customers["customer_id"].astype(int).tolist()) == sorted(expected["k"].tolist())
    assert a.expected_incremental_conversions == pytest.approx(expected["uplift"].sum())
    assert a.expected_incremental_revenue == pytest.approx(10 * expected["uplift"].sum())
    assert a.total_clv == pytest.approx(expected["clv"].sum())
    no_clv_row = (m["segment_name"].isin(["a", "c"]) & m["p_alive"].isna()).sum()
    assert a.funnel.loc[2, "no_row"] == no_clv_row


# ---------------------------------------------------------------- exports
@pytest.fixture
def audience():
    return build_audience(sources(products=PRODUCTS), AudienceFilters(), top_products=2)


def test_export_csv_round_trip(audience):
    data = export_audience(audience, fmt="csv")
    back = pd.read_csv(io.BytesIO(data))
    c = audience.customers
    assert list(back.columns) == list(c.columns)
    assert back["customer_id"].astype(str).tolist() == c["customer_id"].tolist()
    pd.testing.assert_series_equal(back["clv"], c["clv"].astype(float), check_dtype=False)
    assert back["segment_name"].tolist() == c["segment_name"].tolist()
    # the formula-like product is neutralised in CSV
    assert "'=HYPERLINK(1)" in back["product_1"].tolist()


def test_export_chosen_columns_in_chosen_order(audience):
    back = pd.read_csv(io.BytesIO(export_audience(audience, ["product_1", "customer_id"], "csv")))
    assert list(back.columns) == ["product_1", "customer_id"]
    with pytest.raises(DataError, match=r"no column 'email'.*customer_id"):
        export_audience(audience, ["customer_id", "email"], "csv")
    with pytest.raises(DataError, match="Unknown export format"):
        export_audience(audience, None, "json")


def test_export_xlsx_has_no_formulas(audience):
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(export_audience(audience, ["customer_id", "product_1"], "xlsx"))).active
    assert sheet.title == "audience"
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == ["customer_id", "product_1"]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert "'=HYPERLINK(1)" in [cell.value for cell in cells]
    assert [row[0] for row in values[1:]] == audience.customers["customer_id"].tolist()


def test_export_parquet_keeps_dtypes(audience):
    back = pd.read_parquet(io.BytesIO(export_audience(audience, fmt="parquet")))
    c = audience.customers
    assert list(back.columns) == list(c.columns)
    for col in c.columns:
        if c[col].dtype == object or str(c[col].dtype) in ("str", "string"):
            assert back[col].tolist() == c[col].tolist() or back[col].isna().equals(c[col].isna())
        else:
            assert back[col].dtype == c[col].dtype, col
    assert back["product_1"].iloc[c.index[c["customer_id"] == "3"][0]] == "=HYPERLINK(1)"  # kept as stored


def test_summary_by_segment_and_clv_distribution():
    a = build_audience(sources(), AudienceFilters(min_uplift=0))
    s = audience_summary(a)
    seg = s.by_segment.set_index("segment_name")
    assert seg["customers"].to_dict() == {"Champions": 2, "Lost": 2, "At Risk": 1}
    assert seg.loc["Champions", "total_clv"] == pytest.approx(200.0)
    assert seg.loc["Lost", "mean_clv"] == pytest.approx(300.0)  # customer 6 has no CLV
    assert seg.loc["At Risk", "expected_incremental_conversions"] == pytest.approx(0.20)
    assert seg["share"].sum() == pytest.approx(1.0)
    assert s.by_uplift_group.set_index("uplift_group")["customers"].to_dict() == {"persuadable": 4, "sure thing": 1}
    dist = s.clv_distribution.set_index("quantile")["clv"]
    assert dist[0.0] == 50.0 and dist[1.0] == 300.0 and dist[0.5] == pytest.approx(np.median([50, 150, 250, 300]))


# ---------------------------------------------------------------- a real workspace (DuckDB through Ibis)
def test_workspace_tables_by_name_and_as_ibis(ws):
    ws.save_frame(SEGMENTS, "segments")
    ws.save_frame(CLV, "clv")
    ws.save_frame(UPLIFT, "uplift_scores")
    ws.save_frame(CONTROL, "assignments")
    ws.save_frame(PRODUCTS, "recommendations")
    by_name = AudienceSources(segments="segments", segments_id="CustomerID", clv="clv", uplift="uplift_scores",
                              uplift_id="id", control="assignments", control_id="user", products="recommendations")
    filters = AudienceFilters(segments=("Champions", "At Risk"), min_clv=60, exclude_control=True)
    a = build_audience(by_name, filters, workspace=ws, value_per_conversion=10.0)
    assert ids(a) == {3, 4}
    assert a.expected_incremental_conversions == pytest.approx(0.20 - 0.10)
    assert a.funnel["customers_left"].tolist() == [6, 4, 3, 2]
    assert indexed(a).loc[3, "product_1"] == "=HYPERLINK(1)"
    # Ibis tables of the workspace, mixed with a pandas table (a memtable run in the workspace's DuckDB)
    mixed = AudienceSources(segments=ws.table("segments"), segments_id="CustomerID", clv=ws.table("clv"),
                            uplift=UPLIFT, uplift_id="id", control=ws.table("assignments"), control_id="user")
    b = build_audience(mixed, filters)
    assert ids(b) == {3, 4}
    assert b.funnel.equals(a.funnel)
    left = ws.ibis.con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, '__mw_audience')")
    assert left.fetchall() == []  # the temporary join table is dropped
    name = save_audience(ws, a, "Audience May", columns=["customer_id", "clv", "product_1"])
    saved = ws.read(name)
    assert list(saved.columns) == ["customer_id", "clv", "product_1"]
    assert sorted(saved["customer_id"].tolist()) == ["3", "4"]


# ---------------------------------------------------------------- the same audience on Spark (optional)
@pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime for a local Spark session")
def test_same_audience_on_pyspark(tmp_path):
    """The Ibis path on a local Spark session gives DuckDB's funnel, customers and figures.

    Skips unless pyspark is importable (not a project dependency; measured with pyspark 4.0.5 on
    PYTHONPATH: four filter sets identical, 20-50 s each on local[1])."""
    pytest.importorskip("pyspark")
    import ibis
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").config("spark.sql.warehouse.dir", str(tmp_path / "wh"))
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        con = ibis.pyspark.connect(spark)
        frames = dict(segments=SEGMENTS, clv=CLV, uplift=UPLIFT, propensity=PROPENSITY, control=CONTROL,
                      products=PRODUCTS)
        on_spark = {k: con.create_table(f"audience_test_{k}", v, overwrite=True) for k, v in frames.items()}
        kw = dict(id_column="customer_id", segments_id="CustomerID", uplift_id="id", control_id="user")
        f = AudienceFilters(segments=("Champions", "At Risk", "Lost"), min_clv=60, top_uplift_deciles=4,
                            exclude_control=True)
        duck = build_audience(AudienceSources(**frames, **kw), f, top_products=2)
        spark_a = build_audience(AudienceSources(**on_spark, **kw), f, top_products=2)
        assert spark_a.funnel.equals(duck.funnel)
        assert spark_a.customers.astype(str).equals(duck.customers.astype(str))
        assert spark_a.expected_incremental_conversions == pytest.approx(duck.expected_incremental_conversions)
        assert spark_a.messages == duck.messages
    finally:
        spark.stop()
