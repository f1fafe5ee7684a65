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
- order_lines.csv     the products of each order in transactions.csv (customer_id, order_id, order_date,
                      product, category, quantity, line_amount; the lines of an order sum to its amount),
                      drawn from five planted shopping styles (products bought together) for next-best products;
- offer_test.csv      a randomised discount-offer test on every customer (group offer / control, 50/50),
                      features known before the send, converted and revenue; the uplift by customer type
                      is planted (UPLIFT): persuadables, sure things, lost causes and do-not-disturbs;
- campaign_daily.csv  daily spend, impressions, clicks, conversions, revenue and the month's budget by
                      campaign and channel over 2 years, revenue from a planted marketing mix (adstock,
                      saturation and ROAS per channel: see MIX and campaign_daily's docstring).
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


# Products by category, and five planted shopping styles: a customer of a style buys 80% of their
# lines from the style's products, so "bought together" is real and beats plain popularity.
PRODUCTS = {
    "apparel": ["linen shirt", "denim jacket", "wool jumper", "rain coat", "silk scarf", "chinos"],
    "shoes": ["running shoes", "leather boots", "sandals", "trail shoes", "loafers", "canvas sneakers"],
    "beauty": ["face serum", "sun cream", "lip balm", "perfume", "hair oil", "night cream"],
    "home": ["scented candle", "linen sheets", "coffee mug", "throw blanket", "plant pot", "desk lamp"],
    "electronics": ["earbuds", "phone charger", "smart watch", "speaker", "e-reader", "power bank"],
    "sports": ["yoga mat", "water bottle", "sports socks", "gym bag", "resistance bands", "cycling gloves"],
}
STYLES = {
    "runner": ["running shoes", "sports socks", "water bottle", "earbuds", "trail shoes", "sun cream"],
    "home maker": ["scented candle", "linen sheets", "throw blanket", "plant pot", "coffee mug", "night cream"],
    "office": ["loafers", "chinos", "linen shirt", "desk lamp", "phone charger", "power bank"],
    "outdoor": ["rain coat", "leather boots", "trail shoes", "cycling gloves", "gym bag", "wool jumper"],
    "glamour": ["perfume", "silk scarf", "face serum", "lip balm", "hair oil", "smart watch"],
}
# offer_test's planted conversion rates by customer type: (control, offer). Bargain hunters and new
# customers are persuadables, champions sure things, lapsed customers lost causes, window shoppers
# do-not-disturbs (the offer annoys them).
UPLIFT = {"Champions": (0.30, 0.32), "Bargain hunters": (0.08, 0.24), "New customers": (0.10, 0.18),
          "Lapsed": (0.03, 0.035), "Window shoppers": (0.14, 0.07)}


def order_lines(cust: pd.DataFrame, orders: pa.Table, seed: int = 47) -> pd.DataFrame:
    """The products of each order: 1 + Poisson(0.6) lines, 80% from the customer's planted style
    (the style is drawn per customer, not stored), the rest from the order's category; line amounts
    split the order's amount (Dirichlet), so they sum to it (to the cent, the last line takes the rest)."""
    rng = np.random.default_rng(seed)
    o = orders.select(["customer_id", "order_id", "order_date", "amount", "category"]).to_pandas()
    styles = list(STYLES)
    style_of = dict(zip(cust["customer_id"], rng.integers(0, len(styles), len(cust))))
    n_lines = 1 + rng.poisson(0.6, len(o))
    rows = o.loc[o.index.repeat(n_lines)].reset_index(drop=True)
    style = np.array([style_of[c] for c in rows["customer_id"]])
    in_style = rng.random(len(rows)) < 0.8
    pick = rng.integers(0, 6, len(rows))
    style_products = np.array([STYLES[s] for s in styles])[style, pick]
    category_products = np.array([PRODUCTS[c][i] for c, i in zip(rows["category"], pick)])
    product = np.where(in_style, style_products, category_products)
    category_of = {p: c for c, ps in PRODUCTS.items() for p in ps}
    share = np.concatenate([rng.dirichlet(np.full(k, 4.0)) for k in n_lines])
    amount = (rows["amount"].to_numpy() * share).round(2)
    last = np.cumsum(n_lines) - 1
    first = last - n_lines + 1
    sums = np.add.reduceat(amount, first)
    amount[last] = (amount[last] + (o["amount"].to_numpy() - sums)).round(2)
    return pd.DataFrame({
        "customer_id": rows["customer_id"], "order_id": rows["order_id"], "order_date": rows["order_date"],
        "product": product, "category": [category_of[p] for p in product],
        "quantity": 1 + rng.poisson(0.3, len(rows)), "line_amount": amount,
    })


def offer_test(cust: pd.DataFrame, seed: int = 48) -> pd.DataFrame:
    """A randomised discount offer on every customer: features known before the send (from the
    customers table), group (offer / control, 50/50), converted (planted by customer type: UPLIFT)
    and revenue in the 30 days after the send."""
    rng = np.random.default_rng(seed)
    n = len(cust)
    group = np.where(rng.random(n) < 0.5, "offer", "control")
    rates = np.array([UPLIFT[t] for t in cust["customer_type"]])
    rate = np.where(group == "offer", rates[:, 1], rates[:, 0])
    converted = (rng.random(n) < rate).astype(int)
    revenue = np.where(converted == 1, rng.gamma(3.0, cust["avg_order_value"].to_numpy() / 3.0), 0.0).round(2)
    features = ["customer_id", "region", "channel", "tenure_days", "recency_days", "orders", "avg_order_value",
                "sessions_30d", "email_open_rate", "discount_share"]
    out = cust[features].copy()
    out["group"] = group
    out["converted"] = converted
    out["revenue"] = revenue
    return out


# campaign_daily's planted marketing mix, per channel (weekly level; the model page should recover it):
# (channel, ROAS over the whole period, weekly adstock theta, Hill alpha, Hill gamma). ROAS = the
# channel's planted revenue over the period / its spend over the period.
MIX = {"search": (2.8, 0.10, 1.3, 0.50), "social": (1.4, 0.25, 1.8, 0.55), "email": (5.0, 0.05, 1.2, 0.40),
       "display": (0.4, 0.35, 2.2, 0.60), "video": (0.9, 0.55, 2.5, 0.50)}
# (campaign, channel, mean spend per day, share of weeks paused, spend seasonality amplitude, campaign quality)
CAMPAIGNS = [("Spring Sale", "search", 540.0, 0.00, 0.35, 1.2), ("Spring Sale", "social", 420.0, 0.10, 0.35, 0.9),
             ("Loyalty Push", "email", 160.0, 0.20, 0.10, 1.8), ("Brand Awareness", "display", 540.0, 0.25, 0.15, 0.5),
             ("Brand Awareness", "video", 600.0, 0.30, 0.20, 0.6), ("Retargeting", "social", 380.0, 0.05, 0.10, 1.5)]
CAMPAIGN_END = date(2026, 6, 21)  # a Sunday: 728 days = 104 whole weeks from Monday 2024-06-24
PACE_LAST_MONTH = {"Retargeting": 1.35, "Loyalty Push": 0.65}  # over / under in the last, partial month


def _planted_weeks(rng: np.random.Generator, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Week starts, weekly spend per campaign (weeks x campaigns), planted revenue per channel
    (weeks x channels, in MIX order) and the baseline per week: the first draws of `rng`."""
    weeks = int(np.ceil(days / 7))
    start = CAMPAIGN_END - timedelta(days=days - 1)
    t = np.arange(weeks)
    week_start = np.array([start + timedelta(days=7 * w) for w in range(weeks)])
    doy = np.array([d.timetuple().tm_yday for d in week_start])
    # weekly spend per campaign row
    spend_w = np.zeros((weeks, len(CAMPAIGNS)))
    for j, (_, _, mean, paused, amp, _) in enumerate(CAMPAIGNS):
        season = 1 + amp * np.sin(2 * np.pi * (doy / 365.25 + rng.uniform(0, 1)))
        spend_w[:, j] = 7 * mean * season * rng.gamma(4.0, 0.25, weeks) * (rng.random(weeks) >= paused)
    # planted channel revenue per week (in paused weeks too: the carry-over of earlier spend)
    names = list(MIX)
    chan_of = np.array([names.index(c[1]) for c in CAMPAIGNS])
    chan_rev_w = np.zeros((weeks, len(names)))
    for k, ch in enumerate(names):
        roas, theta, alpha, gamma = MIX[ch]
        x = spend_w[:, chan_of == k].sum(axis=1)
        a = np.zeros(weeks)
        for w in range(weeks):
            a[w] = x[w] + (theta * a[w - 1] if w else 0.0)
        g = a.min() + gamma * (a.max() - a.min())
        shape = a ** alpha / (a ** alpha + g ** alpha)
        chan_rev_w[:, k] = roas * x.sum() / shape.sum() * shape
    baseline_w = 60_000 * (1 + 0.20 * t / max(1, weeks - 1)) * (1 + 0.12 * np.cos(2 * np.pi * (doy - 350) / 365.25))
    baseline_w = baseline_w + rng.normal(0, 0.02 * 60_000, weeks)
    return week_start, spend_w, chan_rev_w, baseline_w


def campaign_planted(days: int = 728, seed: int = 45) -> pd.DataFrame:
    """What campaign_daily(days, seed) plants, per week (Monday): spend per channel, the planted
    revenue per channel (`<channel>_revenue`, carry-over in paused weeks included) and the baseline
    (with its noise); channel_table(campaign_daily(...)) sums to these (to rounding)."""
    week_start, spend_w, chan_rev_w, baseline_w = _planted_weeks(np.random.default_rng(seed), days)
    names = list(MIX)
    chan_of = np.array([names.index(c[1]) for c in CAMPAIGNS])
    out = {"date": pd.to_datetime(week_start)}
    out.update({ch: spend_w[:, chan_of == k].sum(axis=1) for k, ch in enumerate(names)})
    out.update({f"{ch}_revenue": chan_rev_w[:, k] for k, ch in enumerate(names)})
    out["baseline"] = baseline_w
    return pd.DataFrame(out)


def campaign_daily(days: int = 728, seed: int = 45) -> pd.DataFrame:
    """Daily spend and outcomes by campaign and channel with a planted marketing mix and monthly budgets.

    Planted (weekly level): revenue per week = baseline + sum over channels of coef * Hill(geometric
    adstock of the channel's weekly spend), with MIX above (search ROAS 2.8, theta 0.10, alpha 1.3,
    gamma 0.50; social 1.4, 0.25, 1.8, 0.55; email 5.0, 0.05, 1.2, 0.40; display 0.4, 0.35, 2.2, 0.60;
    video 0.9, 0.55, 2.5, 0.50), coef set so each channel's revenue / spend over the period is its
    ROAS. Baseline: 60,000 a week, +20% linear trend over the period, yearly season of +-12% peaking
    in December, Gaussian noise of 2% of 60,000 a week. Spend per campaign: its mean per day x a
    yearly spend season x gamma(4, 1/4) weekly noise, paused in a share of weeks (CAMPAIGNS above).
    Days: weekly spend and channel revenue spread over the days by spend; the baseline by a weekday
    pattern (weekends +10%); baseline revenue is split over the rows by clicks (as last-click reports
    do, weighted by a typical conversion rate per channel and the campaign's quality),
    channel revenue over the channel's campaigns by spend (in a week a channel is paused, its
    carry-over revenue goes to its campaigns evenly over the days, so every channel delivers exactly
    its stated ROAS; campaign_planted returns the weekly pieces). conversions ~ Poisson(revenue / 64)
    capped at clicks. budget: the campaign's budget for the row's calendar month, about its spend
    (x 0.95-1.08, scaled up to a whole month in the partial first month); in the last, partial
    month Retargeting paces over (spend to date = 1.35 x budget x elapsed share) and Loyalty Push
    under (0.65 x).
    """
    rng = np.random.default_rng(seed)
    end = CAMPAIGN_END
    week_start, spend_w, chan_rev_w, baseline_w = _planted_weeks(rng, days)
    weeks = len(week_start)
    names = list(MIX)
    chan_of = np.array([names.index(c[1]) for c in CAMPAIGNS])
    # spread over days
    rows = []
    weekday_pattern = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.1])
    cpm = {"search": 9, "social": 6, "email": 0.5, "display": 3, "video": 11}
    ctr = {"search": 0.035, "social": 0.012, "email": 0.04, "display": 0.004, "video": 0.006}
    cvr = np.array([{"search": 0.03, "social": 0.015, "email": 0.002, "display": 0.01, "video": 0.01}[c[1]]
                    for c in CAMPAIGNS])
    quality = np.array([c[5] for c in CAMPAIGNS])
    # who gets a channel's carry-over revenue in a week it is paused: its campaigns, by their spend
    # over the channel's last week with spend
    carry_share = np.zeros((weeks, len(CAMPAIGNS)))
    for k in range(len(names)):
        mine = chan_of == k
        last = np.full(int(mine.sum()), 1.0 / mine.sum())
        for w in range(weeks):
            total = spend_w[w, mine].sum()
            if total > 0:
                last = spend_w[w, mine] / total
            carry_share[w, mine] = last
    for w in range(weeks):
        day_share = rng.dirichlet(np.full(7, 30.0), size=len(CAMPAIGNS))  # each campaign's spend over the week
        base_share = weekday_pattern * rng.uniform(0.95, 1.05, 7)
        base_share /= base_share.sum()
        for d in range(7):
            day = week_start[w] + timedelta(days=d)
            if day > end:
                break
            spend = spend_w[w] * day_share[:, d]
            impressions = (spend / np.array([cpm[c[1]] for c in CAMPAIGNS]) * 1000
                           * rng.uniform(0.85, 1.15, len(CAMPAIGNS))).astype(int)
            lift = 1.1 if d >= 5 else 1.0
            clicks = rng.binomial(impressions, np.array([ctr[c[1]] for c in CAMPAIGNS]) * lift)
            weight = clicks * cvr * quality  # last-click style: baseline revenue follows likely converters
            revenue = baseline_w[w] * base_share[d] * weight / max(1e-9, weight.sum())
            for k in range(len(names)):
                mine = chan_of == k
                week_spend = spend_w[w, mine].sum()
                if week_spend > 0:  # the channel's revenue that day, split over its campaigns by spend
                    revenue[mine] += chan_rev_w[w, k] * spend[mine] / week_spend
                else:  # a paused week still brings the carry-over (adstock) of earlier weeks' spend
                    revenue[mine] += chan_rev_w[w, k] / 7 * carry_share[w, mine]
            conversions = np.minimum(clicks, rng.poisson(revenue / 64.0))
            for j, (name, channel, *_rest) in enumerate(CAMPAIGNS):
                rows.append((day, name, channel, round(float(spend[j]), 2), int(impressions[j]), int(clicks[j]),
                             int(conversions[j]), round(float(revenue[j]), 2)))
    df = pd.DataFrame(rows, columns=["date", "campaign", "channel", "spend", "impressions", "clicks",
                                     "conversions", "revenue"])
    # monthly budgets per campaign and channel
    month = pd.to_datetime(df["date"]).dt.to_period("M")
    key = [df["campaign"], df["channel"], month]
    spent = df.groupby(key)["spend"].transform("sum")
    covered = df.groupby(key)["date"].transform("nunique")
    in_month = month.dt.days_in_month
    full_month = spent * in_month / covered
    factor = pd.Series(rng.uniform(0.95, 1.08, len(df)), index=df.index).groupby(key).transform("first")
    budget = full_month * factor
    last = month == month.max()
    for name, pace in PACE_LAST_MONTH.items():
        budget[last & (df["campaign"] == name)] = full_month[last & (df["campaign"] == name)] / pace
    df["budget"] = (budget / 100).round() * 100
    return df


FILES = ("customers", "transactions", "order_lines", "email_campaign", "offer_test", "campaign_daily")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_data/)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--transactions", type=int, default=None, help="exact number of order lines")
    ap.add_argument("--campaign-users", type=int, default=30000)
    ap.add_argument("--days", type=int, default=728)
    ap.add_argument("--only", choices=list(FILES), action="append", help="write only these files (repeatable)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    want = set(args.only or FILES)
    cust = customers(args.customers, args.seed)
    if "customers" in want:
        _write(cust, args.out / "customers.csv")
    if want & {"transactions", "order_lines"}:
        orders = transactions(cust, args.seed + 1, args.transactions)
        if "transactions" in want:
            _write(orders, args.out / "transactions.csv")
        if "order_lines" in want:
            _write(order_lines(cust, orders, args.seed + 5), args.out / "order_lines.csv")
    if "offer_test" in want:
        _write(offer_test(cust, args.seed + 7), args.out / "offer_test.csv")
    if "email_campaign" in want:
        _write(email_campaign(args.campaign_users, args.seed + 6), args.out / "email_campaign.csv")
    if "campaign_daily" in want:
        _write(campaign_daily(args.days, args.seed + 3), args.out / "campaign_daily.csv")
    for name in sorted(want):
        path = args.out / f"{name}.csv"
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
