"""Model defaults on well-known data: the target is `y`, `contact` is a feature, `duration` starts unselected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.models import suggest_features

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _bank_like(n: int = 4000) -> pd.DataFrame:
    """Bank Marketing's shape: `contact` has three levels, `duration` is measured during the deciding call."""
    rng = np.random.default_rng(7)
    contact = rng.choice(["cellular", "telephone", "unknown"], n, p=[0.65, 0.07, 0.28])
    y = rng.random(n) < np.where(contact == "cellular", 0.15, 0.05)
    duration = np.where(y, rng.gamma(4, 150, n), rng.gamma(2, 100, n)).round()
    return pd.DataFrame({"age": rng.integers(18, 90, n), "contact": contact, "duration": duration,
                         "poutcome": rng.choice(["failure", "other", "success", "unknown"], n),
                         "y": np.where(y, "yes", "no")})


def test_contact_is_a_feature_and_duration_is_left_out_with_its_reason() -> None:
    advice = suggest_features(_bank_like(), "y")
    table = advice.table.set_index("column")
    assert bool(table.loc["contact", "use"]) and "contact" in advice.categorical
    assert bool(table.loc["poutcome", "use"])
    assert not bool(table.loc["duration", "use"])
    assert table.loc["duration", "reason"].startswith("leaks the target")
    assert "only known after the outcome" in table.loc["duration", "reason"]
    assert "duration" not in advice.suggested


def test_leakage_check_can_be_skipped_and_an_id_with_near_unique_values_is_left_out() -> None:
    df = _bank_like().assign(customer_id=lambda d: np.arange(len(d)))
    advice = suggest_features(df, "y", check_leakage=False)
    table = advice.table.set_index("column")
    assert bool(table.loc["duration", "use"])
    assert not bool(table.loc["customer_id", "use"]) and table.loc["customer_id", "reason"].startswith("an identifier")


@pytest.mark.skipif(not (SHARED / "bank_marketing" / "bank-full.csv").exists(), reason="../shared/data is absent")
def test_bank_marketing_defaults_leave_out_only_duration() -> None:
    df = pd.read_csv(SHARED / "bank_marketing" / "bank-full.csv", sep=";")
    advice = suggest_features(df, "y")
    assert advice.table.loc[~advice.table["use"], "column"].tolist() == ["duration"]
    assert "contact" in advice.suggested


def test_a_feature_far_ahead_of_the_others_stays_selected_but_a_near_perfect_one_is_left_out() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    tenure = rng.random(n)
    df = pd.DataFrame({"tenure": tenure, "noise": rng.random(n), "churned": (tenure + rng.random(n) > 1).astype(int)})
    df["refund_issued"] = df["churned"]  # the outcome itself under another name
    table = suggest_features(df, "churned").table.set_index("column")
    assert bool(table.loc["tenure", "use"])  # strong and legitimate: warned about on the page, not removed
    assert not bool(table.loc["refund_issued", "use"])
    assert "almost perfectly" in table.loc["refund_issued", "reason"]


def test_multiclass_with_integer_labels_trains() -> None:
    from core.models import train

    rng = np.random.default_rng(3)
    n = 900
    x = rng.normal(size=n)
    df = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "tier": np.digitize(x + rng.normal(0, 0.5, n), [-0.5, 0.5])})
    model = train(df, "tier", algorithm="linear", cv=3)
    assert model.task == "classification" and sorted(model.classes_) == [0, 1, 2]
    assert 0.6 < model.metrics["accuracy"] <= 1 and model.metrics["roc_auc"] > 0.7
