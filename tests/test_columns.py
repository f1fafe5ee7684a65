"""One place guesses what each column is for: checked on the column names (and values) of every
public data set in ../shared/data, and on synthetic copies of other well-known marketing files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.columns import (ColumnRoles, Guess, describe_columns, guess_control, guess_roles, is_control_name,
                          is_identifier, known_after_the_fact, looks_like_id, looks_like_outcome)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# file, separator, and the guesses a marketer would make (None: no such column)
EXPECTED = [
    ("bank_marketing/bank-full.csv", ";", {"target": "y", "id": None, "variant": None}),
    ("bank_marketing/bank-additional-full.csv", ";", {"target": "y", "id": None, "variant": None}),
    ("telco_churn/Telco-Customer-Churn.csv", ",", {"target": "Churn", "id": "customerID", "variant": None}),
    ("hillstrom/hillstrom_email_2008.csv", ",",
     {"variant": "segment", "control": "No E-Mail", "target": "conversion", "channel": "channel", "id": None}),
    ("fastfood_promotion/WA_Marketing-Campaign.csv", ",",
     {"variant": "Promotion", "outcome": "SalesInThousands", "target": "SalesInThousands"}),
    ("online_retail/online_retail.csv", ",",
     {"id": "CustomerID", "date": "InvoiceDate", "amount": "UnitPrice", "quantity": "Quantity",
      "product": "StockCode", "order": "InvoiceNo", "variant": None}),
    ("cdnow/cdnow_master_transactions.csv", ",",
     {"id": "customer_id", "date": "date", "amount": "dollar_value", "quantity": "number_of_cds", "variant": None}),
    ("olist_funnel/olist_marketing_qualified_leads_dataset.csv", ",",
     {"id": "mql_id", "date": "first_contact_date", "channel": "origin", "variant": None}),
    ("olist_funnel/olist_closed_deals_dataset.csv", ",", {"id": "mql_id", "date": "won_date", "variant": None}),
]


@pytest.mark.parametrize("path, sep, expected", EXPECTED, ids=[e[0].split("/")[-1] for e in EXPECTED])
def test_guesses_on_the_public_data_sets(path: str, sep: str, expected: dict) -> None:
    file = SHARED / path
    if not file.exists():
        pytest.skip(f"{file} is absent (the public data sets live in ../shared/data)")
    roles = guess_roles(pd.read_csv(file, sep=sep, low_memory=False))
    for role, column in expected.items():
        guess = getattr(roles, role)
        assert guess.column == column, f"{role}: {guess.column!r} ({guess.reason}), wanted {column!r}"
        assert guess.reason, f"{role} has no reason"


@pytest.mark.skipif(not (SHARED / "bank_marketing" / "bank-full.csv").exists(), reason="../shared/data is absent")
def test_bank_marketing_contact_is_a_feature_and_poutcome_an_earlier_result() -> None:
    roles = guess_roles(pd.read_csv(SHARED / "bank_marketing" / "bank-full.csv", sep=";"))
    assert "contact" not in roles.identifiers
    assert not is_identifier(roles.fact("contact"))
    assert "contact" in roles.breakdowns
    assert not looks_like_outcome("poutcome")
    assert known_after_the_fact("duration")


@pytest.mark.skipif(not (SHARED / "hillstrom" / "hillstrom_email_2008.csv").exists(), reason="../shared/data is absent")
def test_hillstrom_breaks_down_by_newbie_and_measures_the_three_outcomes() -> None:
    roles = guess_roles(pd.read_csv(SHARED / "hillstrom" / "hillstrom_email_2008.csv"))
    assert {"newbie", "history_segment", "channel", "zip_code"} <= set(roles.breakdowns)
    assert "segment" not in roles.breakdowns and "visit" not in roles.breakdowns
    assert roles.outcomes == ("visit", "conversion", "spend")


def _marketing_ab(n: int = 4000) -> pd.DataFrame:
    """Kaggle's marketing_AB: 'test group' is ad or psa (the public-service ad is the control)."""
    rng = np.random.default_rng(1)
    group = np.where(rng.random(n) < 0.96, "ad", "psa")
    return pd.DataFrame({"Unnamed: 0": np.arange(n), "user id": rng.permutation(n) + 900_000,
                         "test group": group, "converted": rng.random(n) < 0.025,
                         "total ads": rng.integers(1, 500, n),
                         "most ads day": rng.choice(["Monday", "Tuesday", "Friday"], n),
                         "most ads hour": rng.integers(0, 24, n)})


def _ab_data(n: int = 4000) -> pd.DataFrame:
    """Udacity's ab_data: user_id, timestamp, group (control / treatment), landing_page, converted."""
    rng = np.random.default_rng(2)
    group = rng.choice(["control", "treatment"], n)
    return pd.DataFrame({"user_id": rng.permutation(n) + 600_000,
                         "timestamp": pd.Timestamp("2017-01-02") + pd.to_timedelta(rng.integers(0, 10**6, n), "s"),
                         "group": group, "landing_page": np.where(group == "control", "old_page", "new_page"),
                         "converted": rng.integers(0, 2, n)})


def _ifood(n: int = 2240) -> pd.DataFrame:
    """The iFood customer file: amounts (Mnt*), counts (Num*), earlier campaign flags and the Response."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"ID": rng.permutation(n), "Year_Birth": rng.integers(1940, 2000, n),
                          "Education": rng.choice(["Graduation", "PhD", "Master", "Basic"], n),
                          "Marital_Status": rng.choice(["Married", "Single", "Together"], n),
                          "Income": rng.normal(52000, 20000, n), "Kidhome": rng.integers(0, 3, n),
                          "Teenhome": rng.integers(0, 3, n),
                          "Dt_Customer": pd.Timestamp("2012-07-30") + pd.to_timedelta(rng.integers(0, 700, n), "D"),
                          "Recency": rng.integers(0, 100, n)})
    for c in ("MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"):
        frame[c] = rng.gamma(1.0, 100, n).round()
    for c in ("NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumWebVisitsMonth"):
        frame[c] = rng.integers(0, 15, n)
    for c in ("AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2", "Complain"):
        frame[c] = (rng.random(n) < 0.07).astype(int)
    frame["Z_CostContact"], frame["Z_Revenue"] = 3, 11
    frame["Response"] = (rng.random(n) < 0.15).astype(int)
    return frame


def test_marketing_ab_psa_is_the_control() -> None:
    roles = guess_roles(_marketing_ab())
    assert roles.variant == "test group" and roles.control == "psa"
    assert roles.id == "user id" and roles.target == "converted" and "converted" in roles.outcomes
    assert "Unnamed: 0" not in roles.breakdowns


def test_ab_data_group_is_the_variant_and_timestamp_the_date() -> None:
    roles = guess_roles(_ab_data())
    assert roles.variant == "group" and roles.control == "control"
    assert roles.id == "user_id" and roles.date == "timestamp" and roles.outcomes == ("converted",)


def test_ifood_response_is_the_target_not_an_earlier_campaign_flag() -> None:
    roles = guess_roles(_ifood())
    assert roles.target == "Response" and roles.id == "ID"
    assert roles.date == "Dt_Customer"
    assert all(not looks_like_outcome(f"AcceptedCmp{i}") for i in range(1, 6))


@pytest.mark.parametrize("name", ["psa", "PSA", "holdout", "Hold-out", "control", "Control group", "no e-mail",
                                  "No E-Mail", "none", "placebo", "baseline", "A", "no_offer", "ctrl"])
def test_control_names(name: str) -> None:
    assert is_control_name(name)


@pytest.mark.parametrize("name", ["ad", "treatment", "Mens E-Mail", "B", "variant_1", "no", "yes", "nonexistent"])
def test_not_control_names(name: str) -> None:
    assert not is_control_name(name)


def test_control_guess_says_when_it_only_took_the_first() -> None:
    assert guess_control(["ad", "psa"]) == Guess("psa", "'psa' is named like a control")
    first = guess_control(["3", "10", "2"])
    assert first.column == "2" and "pick the right one" in first.reason


def test_an_id_name_needs_near_unique_values() -> None:
    n = 3000
    frame = pd.DataFrame({"contact": np.resize(["cellular", "telephone", "unknown"], n),
                          "customer_id": np.arange(n), "zip_code": np.resize(["Rural", "Urban"], n),
                          "store_id": np.resize(np.arange(20), n)})
    roles = guess_roles(frame)
    assert roles.identifiers == ("customer_id",) and roles.id == "customer_id"
    assert looks_like_id("contact") and looks_like_id("customerID") and looks_like_id("user id")
    assert not looks_like_id("paid") and not looks_like_id("Liquid")


def test_a_variant_name_inside_another_word_loses_to_the_exact_name() -> None:
    n = 600
    frame = pd.DataFrame({"history_segment": np.resize([f"{i}) ${i}00" for i in range(1, 8)], n),
                          "segment": np.resize(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n),
                          "visit": np.resize([0, 1], n)})
    roles = guess_roles(frame)
    assert roles.variant == "segment" and "exact" not in roles.variant.reason and "named 'segment'" in roles.variant.reason


def test_yes_no_columns_are_not_taken_for_variants() -> None:
    n = 500
    frame = pd.DataFrame({"Partner": np.resize(["Yes", "No"], n), "default": np.resize(["no", "yes", "unknown"], n),
                          "spend": np.arange(n, dtype=float)})
    assert guess_roles(frame).variant.column is None


def test_a_variant_column_with_one_level_or_hundreds_is_picked_with_what_is_wrong() -> None:
    n = 1000
    frame = pd.DataFrame({"variant": ["A"] * n, "converted": np.resize([0, 1], n)})
    one = guess_roles(frame).variant
    assert one.column == "variant" and "1 level(s)" in one.reason  # not `converted`
    frame["variant"] = [f"v{i % 500}" for i in range(n)]
    many = guess_roles(frame).variant
    assert many.column == "variant" and "500 level(s)" in many.reason
    frame = frame.rename(columns={"variant": "colour"})
    assert guess_roles(frame).variant.column is None


def test_the_ibis_path_agrees_with_the_pandas_path(ws) -> None:
    frame = _ab_data(2000)
    ws.save_frame(frame, "ab")
    from_db = describe_columns(ws.table("ab"))
    from_pandas = describe_columns(frame)
    assert [(f.name, f.distinct, f.missing) for f in from_db] == [(f.name, f.distinct, f.missing) for f in from_pandas]
    assert [f.kind for f in from_db] == [f.kind for f in from_pandas]
    roles = guess_roles(ws.table("ab"))
    assert isinstance(roles, ColumnRoles) and roles.variant == "group" and roles.date == "timestamp"
    assert set(roles.table()["role"]) >= {"id", "target", "variant", "control", "date", "amount", "quantity",
                                          "product", "channel", "outcome"}
