"""Campaign roles of core.columns.guess_roles (issue 12): date, spend, impressions, clicks, conversions,
revenue, campaign, channel and budget, on the demo table's names and on common ad-platform exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.columns import guess_roles

CAMPAIGN_ROLES = ("date", "spend", "impressions", "clicks", "conversions", "revenue", "campaign", "channel", "budget")


def _frame(columns: dict[str, str], rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """A table with the given column -> kind ("date", "text", "number", "count")."""
    rng = np.random.default_rng(seed)
    data = {}
    for name, kind in columns.items():
        if kind == "date":
            data[name] = pd.date_range("2026-01-01", periods=rows, freq="D")
        elif kind == "text":
            data[name] = rng.choice(["Spring Sale", "Brand", "Retargeting"], rows)
        elif kind == "channel":
            data[name] = rng.choice(["search", "social", "video"], rows)
        elif kind == "count":
            data[name] = rng.integers(0, 10_000, rows)
        else:
            data[name] = rng.gamma(3, 100, rows).round(2)
    return pd.DataFrame(data)


DEMO = {"date": "date", "campaign": "text", "channel": "channel", "spend": "number", "impressions": "count",
        "clicks": "count", "conversions": "count", "revenue": "number", "budget": "number"}
GOOGLE_ADS = {"Day": "date", "Campaign": "text", "Network": "channel", "Cost": "number", "Impr.": "count",
              "Clicks": "count", "CTR": "number", "Avg. CPC": "number", "Conversions": "count",
              "Conv. value": "number", "Cost / conv.": "number"}
META_ADS = {"Reporting starts": "date", "Campaign name": "text", "Platform": "channel",
            "Amount spent (USD)": "number", "Impressions": "count", "Link clicks": "count",
            "CTR (link click-through rate)": "number", "Cost per result": "number", "Purchases": "count",
            "Purchases conversion value": "number", "Campaign budget": "number"}

CASES = [
    (DEMO, dict(zip(CAMPAIGN_ROLES, ["date", "spend", "impressions", "clicks", "conversions", "revenue", "campaign",
                                     "channel", "budget"]))),
    (GOOGLE_ADS, {"date": "Day", "spend": "Cost", "impressions": "Impr.", "clicks": "Clicks",
                  "conversions": "Conversions", "revenue": "Conv. value", "campaign": "Campaign", "budget": None}),
    (META_ADS, {"date": "Reporting starts", "spend": "Amount spent (USD)", "impressions": "Impressions",
                "clicks": "Link clicks", "conversions": "Purchases", "revenue": "Purchases conversion value",
                "campaign": "Campaign name", "channel": "Platform", "budget": "Campaign budget"}),
]


@pytest.mark.parametrize("columns, expected", CASES, ids=["demo campaign_daily", "Google Ads", "Meta Ads"])
def test_campaign_roles(columns: dict, expected: dict) -> None:
    roles = guess_roles(_frame(columns))
    for role, column in expected.items():
        assert getattr(roles, role) == column, (role, getattr(roles, role))
        if column is not None:
            assert getattr(roles, role).reason.startswith(("name reads like", "holds dates"))


def test_rates_are_never_taken_as_sums_and_each_column_has_one_role() -> None:
    roles = guess_roles(_frame({"day": "date", "ctr": "number", "cost_per_click": "number", "conversion_rate": "number",
                                "roas": "number", "spend": "number"}))
    assert roles.spend == "spend"
    assert not roles.clicks and not roles.conversions and not roles.revenue and not roles.impressions
    assert "no column named like clicks" in roles.clicks.reason
    values_first = guess_roles(_frame({"date": "date", "conversion_value": "number", "conversions": "count"}))
    assert values_first.conversions == "conversions" and values_first.revenue == "conversion_value"
    # the budget is never the spend, even when it is the only money column
    only_budget = guess_roles(_frame({"date": "date", "budget": "number"}))
    assert only_budget.budget == "budget" and not only_budget.spend


def test_roles_table_lists_the_campaign_roles(ws) -> None:
    ws.save_frame(_frame(DEMO), "campaign_daily")
    roles = guess_roles(ws.table("campaign_daily"))  # Ibis: facts computed in the database
    shown = roles.table().set_index("role")["column"]
    assert {r: shown[r] for r in CAMPAIGN_ROLES} == {r: r for r in CAMPAIGN_ROLES}
