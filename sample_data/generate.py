"""Generate realistic marketing sample data with planted structure (deterministic for a seed).

    python sample_data/generate.py                      # the small committed files
    python sample_data/generate.py --customers 1000000 --out bench/data   # large, for benchmarks
    python sample_data/generate.py --only transactions --transactions 10000000 --out bench/data

Files:
- customers.csv       one row per customer, drawn from five customer types (the planted segments),
                      with targets for the Models page (churned, purchased_next_30d) and some gaps;
- transactions.csv    order lines (customer_id, order_id, order_date, amount, channel, category);
- email_campaign.csv  a randomised e-mail test: control, variant_a (no effect), variant_b
                      (+20% relative conversion, planted), exposure over 3 weeks, pre-period revenue;
- campaign_daily.csv  daily spend, impressions, clicks, conversions, revenue by campaign and channel.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

HERE = Path(__file__).resolve().parent
AS_OF = date(2026, 6, 30)  # "today" for the sample data
CHANNELS = np.array(["web", "app", "store", "marketplace"])
REGIONS = np.array(["North", "South", "East", "West", "Central"])
CATEGORIES = np.array(["apparel", "shoes", "beauty", "home", "electronics", "sports"])

# The planted customer types: (name, share, recency mean days, orders mean, order value mean,
# sessions mean, email open rate, tenure mean days, churn probability, purchase probability)
TYPES = [
    ("Champions", 0.15, 12, 18.0, 95.0, 40, 0.55, 1400, 0.03, 0.80),
    ("Bargain hunters", 0.25, 35, 8.0, 28.0, 22, 0.35, 900, 0.12, 0.45),
    ("New customers", 0.20, 20, 1.6, 55.0, 15, 0.45, 60, 0.25, 0.35),
    ("Lapsed", 0.25, 260, 3.0, 45.0, 2, 0.06, 1100, 0.70, 0.05),
    ("Window shoppers", 0.15, 90, 1.2, 35.0, 30, 0.20, 500, 0.35, 0.12),
]


def _write(df: pd.DataFrame | pa.Table, path: Path) -> None:
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def customers(n: int, seed: int = 42) -> pd.DataFrame:
    """One row per customer; the `customer_type` column is the planted truth (kept for checking)."""
    rng = np.random.default_rng(seed)
    shares = np.array([t[1] for t in TYPES])
    kind = rng.choice(len(TYPES), size=n, p=shares / shares.sum())
    p = {name: np.array([t[i] for t in TYPES])[kind] for i, name in enumerate(
        ["name", "share", "recency", "orders", "aov", "sessions", "open", "tenure", "churn", "buy"])}
    orders = 1 + rng.poisson(np.maximum(p["orders"] - 1, 0.1))
    aov = rng.lognormal(np.log(p["aov"]), 0.35)
    recency = np.minimum(rng.gamma(2.0, p["recency"] / 2.0).round(), 720).astype(int)
    tenure = np.maximum(recency + 1, rng.gamma(3.0, p["tenure"] / 3.0).round()).astype(int)
    open_rate = np.clip(rng.normal(p["open"], 0.08), 0, 1).round(3)
    click_rate = np.clip(open_rate * rng.uniform(0.1, 0.35, n), 0, 1).round(3)
    df = pd.DataFrame({
        "customer_id": np.arange(100001, 100001 + n),
        "signup_date": [AS_OF - timedelta(days=int(t)) for t in tenure],
        "region": rng.choice(REGIONS, n, p=[0.22, 0.2, 0.2, 0.23, 0.15]),
        "channel": rng.choice(CHANNELS, n, p=[0.45, 0.3, 0.15, 0.1]),
        "tenure_days": tenure,
        "recency_days": recency,
        "orders": orders,
        "total_spend": (orders * aov).round(2),
        "avg_order_value": aov.round(2),
        "sessions_30d": rng.poisson(p["sessions"]),
        "email_open_rate": open_rate,
        "email_click_rate": click_rate,
        "discount_share": np.clip(rng.beta(2, 5, n) + (kind == 1) * 0.35, 0, 1).round(3),
        "customer_type": p["name"],
        "churned": (rng.random(n) < p["churn"]).astype(int),
        "purchased_next_30d": (rng.random(n) < p["buy"]).astype(int),
    })
    # Some gaps, as in real exports.
    df.loc[rng.random(n) < 0.04, "email_open_rate"] = np.nan
    df.loc[rng.random(n) < 0.04, "email_click_rate"] = np.nan
    df["region"] = df["region"].astype(object)
    df.loc[rng.random(n) < 0.02, "region"] = None
    return df


def transactions(cust: pd.DataFrame, seed: int = 43, max_rows: int | None = None) -> pa.Table:
    """Order lines consistent with the customers' recency, tenure, orders and order value."""
    rng = np.random.default_rng(seed)
    orders = cust["orders"].to_numpy()
    if max_rows is not None and orders.sum() < max_rows:
        orders = np.maximum(1, np.round(orders * max_rows / orders.sum())).astype(int)
    cid = np.repeat(cust["customer_id"].to_numpy(), orders)
    recency = np.repeat(cust["recency_days"].to_numpy(), orders)
    tenure = np.repeat(cust["tenure_days"].to_numpy(), orders)
    aov = np.repeat(cust["avg_order_value"].to_numpy(), orders)
    first = np.r_[0, np.cumsum(orders)[:-1]]
    is_last = np.zeros(len(cid), bool)
    is_last[first] = True  # the first line of each customer is the most recent order
    span = np.maximum(tenure - recency, 0)
    days_ago = np.where(is_last, recency, recency + (rng.random(len(cid)) * (span + 1)).astype(int))
    base = np.datetime64(AS_OF.isoformat())
    order_date = base - days_ago.astype("timedelta64[D]")
    amount = np.maximum(1.0, rng.lognormal(np.log(aov), 0.4)).round(2)
    t = pa.table({
        "customer_id": cid,
        "order_id": np.arange(5_000_001, 5_000_001 + len(cid)),
        "order_date": order_date,
        "amount": amount,
        "channel": rng.choice(CHANNELS, len(cid), p=[0.45, 0.3, 0.15, 0.1]),
        "category": rng.choice(CATEGORIES, len(cid)),
    })
    if max_rows is not None:
        t = t.slice(0, max_rows)
    return t


def email_campaign(n: int, seed: int = 44) -> pd.DataFrame:
    """A randomised e-mail test, one row per user; variant_b lifts conversion by 25% (relative).

    revenue is each user's total spend in the test window: campaign orders plus ordinary spend that
    tracks the user's pre-period revenue, so CUPED on pre_revenue has real variance to remove.
    """
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "variant_a", "variant_b"], n)
    start = np.datetime64("2026-05-04")
    exposure = start + rng.integers(0, 21, n).astype("timedelta64[D]")
    segment = rng.choice(["new", "active", "lapsed"], n, p=[0.3, 0.5, 0.2])
    base_rate = np.select([segment == "new", segment == "active"], [0.05, 0.09], 0.03)
    pre_revenue = np.where(rng.random(n) < 0.6, rng.gamma(2.0, 30.0, n), 0.0).round(2)
    propensity = base_rate * (1 + 0.004 * np.minimum(pre_revenue, 150))
    lift = np.where(variant == "variant_b", 1.25, 1.0)
    converted = (rng.random(n) < propensity * lift).astype(int)
    orders = converted * (1 + rng.poisson(0.3, n))
    ordinary = 0.5 * pre_revenue * rng.gamma(4.0, 0.25, n)  # habitual spend, mean half the pre-period
    revenue = (np.where(converted == 1, rng.gamma(3.0, 20.0, n) * orders, 0.0) + ordinary).round(2)
    return pd.DataFrame({
        "user_id": np.arange(1, n + 1),
        "variant": variant,
        "exposure_date": pd.Series(exposure).dt.date,
        "converted": converted,
        "orders": orders,
        "revenue": revenue,
        "pre_revenue": pre_revenue,
        "device": rng.choice(["mobile", "desktop", "tablet"], n, p=[0.6, 0.33, 0.07]),
        "region": rng.choice(REGIONS, n),
        "segment": segment,
    })


def campaign_daily(days: int = 90, seed: int = 45) -> pd.DataFrame:
    """Daily spend and outcomes by campaign and channel; one campaign is clearly better."""
    rng = np.random.default_rng(seed)
    campaigns = [("Spring Sale", "search", 1.2), ("Spring Sale", "social", 0.9), ("Loyalty Push", "email", 1.8),
                 ("Brand Awareness", "display", 0.5), ("Brand Awareness", "video", 0.6),
                 ("Retargeting", "social", 1.5)]
    rows = []
    start = AS_OF - timedelta(days=days)
    for d in range(days):
        day = start + timedelta(days=d)
        weekend = day.weekday() >= 5
        for name, channel, quality in campaigns:
            spend = round(float(rng.gamma(9, 60 if channel != "email" else 8)), 2)
            cpm = {"search": 9, "social": 6, "email": 0.5, "display": 3, "video": 11}[channel]
            impressions = int(spend / cpm * 1000 * rng.uniform(0.85, 1.15))
            ctr = {"search": 0.035, "social": 0.012, "email": 0.04, "display": 0.004, "video": 0.006}[channel]
            clicks = int(rng.binomial(impressions, ctr * (1.1 if weekend else 1.0)))
            conversions = int(rng.binomial(clicks, min(0.2, 0.025 * quality)))
            revenue = round(float(conversions * rng.gamma(4, 16)), 2)
            rows.append((day, name, channel, spend, impressions, clicks, conversions, revenue))
    return pd.DataFrame(rows, columns=["date", "campaign", "channel", "spend", "impressions", "clicks",
                                       "conversions", "revenue"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_data/)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--transactions", type=int, default=None, help="exact number of order lines")
    ap.add_argument("--campaign-users", type=int, default=30000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--only", choices=["customers", "transactions", "email_campaign", "campaign_daily"],
                    action="append", help="write only these files (repeatable)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    want = set(args.only or ["customers", "transactions", "email_campaign", "campaign_daily"])
    cust = customers(args.customers, args.seed)
    if "customers" in want:
        _write(cust, args.out / "customers.csv")
    if "transactions" in want:
        _write(transactions(cust, args.seed + 1, args.transactions), args.out / "transactions.csv")
    if "email_campaign" in want:
        _write(email_campaign(args.campaign_users, args.seed + 6), args.out / "email_campaign.csv")
    if "campaign_daily" in want:
        _write(campaign_daily(args.days, args.seed + 3), args.out / "campaign_daily.csv")
    for name in sorted(want):
        path = args.out / f"{name}.csv"
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
