"""What each column of a table is for: one place for every guess the pages make, each with its reason.

`guess_roles(data)` looks at names *and* values (how many levels, how unique, 0/1 or not) and returns
one `ColumnRoles`: the id, the target to predict, the variant and its control, the date, amount,
quantity, product, channel and order columns, the outcomes an experiment measures, the attributes to
break results down by, and the pre-period covariate. Every guess carries a reason a person can read
("exact name 'y', 2 levels"), so pages can say why a default was chosen.

Rules learnt from real files (tests/test_columns.py checks them on every data set in ../shared/data):
- a name looks like an id only when its values are near-unique (Bank Marketing's `contact` has three
  levels: a feature, not an identifier);
- an exact name beats a name that merely contains a word (Hillstrom's `segment` is the variant,
  `history_segment` a spend band; Bank's `y` is the target, `poutcome` the previous campaign's result);
- values name the control: psa, holdout, placebo, none, "No E-Mail".
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Collection, Literal, Sequence

import pandas as pd

Kind = Literal["number", "flag", "text", "date"]
MAX_LEVELS = 30  # levels are read for columns with at most this many distinct values
VARIANT_LEVELS = (2, 20)
BREAKDOWN_LEVELS = (2, 30)
ID_UNIQUE_SHARE = 0.9  # an id-named column is an identifier when this share of its values is unique ...
ID_MANY_VALUES = 1000  # ... or when it is a key with this many values (a customer id in transactions)

# ------------------------------------------------------------------------------------------ names
_ID_NAME = re.compile(
    r"(^|[_\s.-])(id|key|uuid|guid|no|number|code)$|^(id|uuid|guid)$"
    r"|^(customer|client|user|member|account|contact|visitor|subscriber|person)(_?(id|no|number|key|code))?$"
    r"|(customerid|userid|clientid|invoiceno|orderid|memberid|accountid|visitorid)$",
    re.IGNORECASE,
)
_CAMEL_ID = re.compile(r"[a-z](ID|Id)$")
_CUSTOMER_NAME = re.compile(r"customer|client|user|member|account|contact|visitor|buyer|subscriber", re.IGNORECASE)
_ORDER_NAME = re.compile(r"order|invoice|basket|receipt|transaction", re.IGNORECASE)
_AMOUNT_NAME = re.compile(r"amount|revenue|spend|sales|value|total|price|net|gmv|^mnt|dollar|turnover|income_from",
                          re.IGNORECASE)
_QUANTITY_NAME = re.compile(r"^(qty|quantity|units|number_of_\w+|items|num_items)$", re.IGNORECASE)
_PRODUCT_NAME = re.compile(r"product|sku|stock_?code|^stock$|item|category|article", re.IGNORECASE)
_CHANNEL_NAME = re.compile(r"channel|source|medium|platform|origin|utm|referr", re.IGNORECASE)
_DATE_NAME = re.compile(r"date|time|day|_at$|^created|^dt_|timestamp|month|week", re.IGNORECASE)
# campaign tables (core.campaigns): spend and its results per day, campaign and channel
_BUDGET_NAME = re.compile(r"budget", re.IGNORECASE)
_SPEND_NAME = re.compile(r"spend|spent|^costs?$|^cost_|_cost$|_costs$|media_?cost|ad_?cost", re.IGNORECASE)
_IMPRESSIONS_NAME = re.compile(r"impression|^imps?$|^impr", re.IGNORECASE)
_CLICKS_NAME = re.compile(r"click", re.IGNORECASE)
_CONVERSIONS_NAME = re.compile(r"conversion|^convs?$|purchases|^orders$|signups?$|^leads$|acquisitions", re.IGNORECASE)
_REVENUE_NAME = re.compile(r"revenue|sales|gmv|conv\w*\W*_?value|purchase_?value|turnover|income", re.IGNORECASE)
_CAMPAIGN_NAME = re.compile(r"campaign|ad_?set|ad_?group|^ad_?name$", re.IGNORECASE)
_RATE_NAME = re.compile(r"rate|ratio|^ctr|^cvr|^cpc|^cpm|^cpa|^roas|^roi|per_|share|pct|percent", re.IGNORECASE)

_TARGET_EXACT = {"y", "target", "label", "churn", "churned", "converted", "conversion", "response", "responded",
                 "purchased", "bought", "subscribed", "outcome", "exited", "attrition", "attritionflag", "class",
                 "won", "isconverted", "hasconverted"}
_OUTCOME_NAME = re.compile(r"churn|convert|purchas|_next_\d+d|target|label|respon|outcome|bought|subscri|exited|"
                           r"attrition|^y$", re.IGNORECASE)
_EARLIER = re.compile(r"^(p|prev|previous|prior|last|past|pre|old|hist|history)(_|\s|-|(?=[a-z]*outcome))|^accepted",
                      re.IGNORECASE)
_VALUE_NAME = re.compile(r"revenue|spend|value|sales|amount|profit|margin|ltv|clv", re.IGNORECASE)
_METRIC_NAME = re.compile(r"convert|conversion|revenue|spend|visit|order|click|open|purchas|sales|respon|signup|"
                          r"retain|retention|churn|bought|subscri|^y$", re.IGNORECASE)
_AFTER_THE_FACT = re.compile(r"duration|call_?length|talk_?time|call_?time|_after$|^after_|^post_|refund|"
                             r"cancell?ed|^days_to_|_outcome_date", re.IGNORECASE)

_VARIANT_EXACT = {"variant", "group", "testgroup", "abgroup", "arm", "treatment", "bucket", "cell", "experiment",
                  "segment", "promotion", "version", "condition", "recipe", "testcell", "variation", "offer",
                  "campaign", "testvariant", "experimentgroup", "abtest"}
# names that mean nothing but the arm of a test (campaign, segment, offer can be ordinary attributes)
_VARIANT_ONLY = {"variant", "variation", "group", "testgroup", "abgroup", "arm", "treatment", "bucket", "testcell",
                 "experimentgroup", "testvariant", "abtest", "abvariant"}
_VARIANT_NAME = re.compile(r"variant|variation|arm$|^arm|group|treatment|bucket|cell|experiment|recipe|"
                           r"promotion|test|condition|segment", re.IGNORECASE)
# values that mean "not treated", for every page and core.targeting.uplift (one rule)
_NO_TREATMENT = (
    r"control|ctrl|baseline|base|holdout|hold[ _-]?out|held[ _-]?out|original|default|psa|placebo|untreated|"
    r"not[ _-]?treated|unexposed|not[ _-]?exposed|none|"
    r"no[ _-]?(e[ _-]?mail|mail|sms|offer|treatment|promo\w*|contact|coupon|ads?|message|campaign|change|send|call)s?|"
    r"no[ _-]\w+"
)
_CONTROL_VALUE = re.compile(rf"^({_NO_TREATMENT}|a)([ _-].*|\d*|group|arm)$", re.IGNORECASE)
_CONTROL_STRICT = re.compile(rf"^({_NO_TREATMENT})([ _-].*|\d*|group|arm)$", re.IGNORECASE)
_CONTROL_FLAG = re.compile(r"^(no|n|false|0|0\.0)$", re.IGNORECASE)
# levels that name a control even in a column whose name says nothing ("No phone service" does not)
_STRONG_CONTROL = re.compile(
    r"^(control|ctrl|baseline|holdout|hold[ _-]?out|psa|placebo|untreated|"
    r"no[ _-]?(e[ _-]?mail|mail|offer|treatment|promo\w*|ads?|message|campaign|send))([ _-].*|\d*)$", re.IGNORECASE)
_COVARIATE_NAME = re.compile(r"^pre[_ -]|^pre(period|test|experiment)|_pre$|^baseline_|_before$", re.IGNORECASE)


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def looks_like_id(name: str) -> bool:
    """True for names that identify rows (customer_id, InvoiceNo, user id, customerID), by the name alone.

    Names alone mislead (`contact` is a channel in Bank Marketing): `is_identifier` also wants the
    values near-unique, and it is what the guesses use."""
    name = name.strip()
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


def looks_like_outcome(name: str) -> bool:
    """True for names of results a campaign or model predicts (churned, converted, purchased_next_30d, y),
    not of earlier results that are known beforehand (poutcome, previous_response, AcceptedCmp1)."""
    name = name.strip()
    return bool(_OUTCOME_NAME.search(name)) and not _EARLIER.search(name)


def looks_like_customer(name: str) -> bool:
    """True for names of a customer column (customer, client, user, member, buyer ...)."""
    return bool(_CUSTOMER_NAME.search(name.strip()))


def known_after_the_fact(name: str) -> bool:
    """True for names of things measured only once the outcome happens (call duration, refund, post_*)."""
    return bool(_AFTER_THE_FACT.search(name.strip()))


def is_control_name(value: Any, *, letters: bool = True, flags: bool = False) -> bool:
    """True for variant names that mean 'no treatment': control, holdout, psa, placebo, none, No E-Mail,
    untreated, and (letters) A of an A/B test, or (flags) 0 / False / no of a treated flag."""
    text = str(value).strip()
    if flags and _CONTROL_FLAG.match(text):
        return True
    return bool((_CONTROL_VALUE if letters else _CONTROL_STRICT).match(text))


# ------------------------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class ColumnFacts:
    """What the guesses need to know about one column, computed once per table version."""

    name: str
    kind: Kind  # flag: true/false or only 0 and 1
    rows: int  # rows in the table
    distinct: int  # distinct non-missing values
    missing: int
    levels: tuple[str, ...] = ()  # the values, most frequent first, when there are at most MAX_LEVELS

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def unique_share(self) -> float:
        """Distinct values per non-missing row: 1.0 when every value differs."""
        return self.distinct / self.present if self.present else 0.0


def _kind_of(dtype: Any, levels: Sequence[Any], distinct: int, sample: pd.Series | None) -> Kind:
    text = str(dtype).lower()
    if "bool" in text:
        return "flag"
    if any(k in text for k in ("date", "time")):
        return "date"
    if any(k in text for k in ("int", "float", "double", "decimal", "numeric", "real")):
        if distinct <= 2 and {str(v).rstrip("0").rstrip(".") if "." in str(v) else str(v) for v in levels} <= {"0", "1"}:
            return "flag"
        return "number"
    if sample is not None and reads_as_dates(sample):
        return "date"
    return "text"


def reads_as_dates(sample: pd.Series) -> bool:
    """Text whose first 50 values all read as dates ('2024-03-01', '01/03/2024'); numbers never do."""
    if pd.api.types.is_numeric_dtype(sample) or pd.api.types.is_bool_dtype(sample):
        return False
    values = sample.dropna().astype(str).head(50)
    if values.empty or not values.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def _level_strings(values: Sequence[Any]) -> tuple[str, ...]:
    out = []
    for v in values:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(str(v))
    return tuple(out)


def describe_columns(data: Any, *, sample_rows: int = 50) -> tuple[ColumnFacts, ...]:
    """Facts about every column of a pandas DataFrame or an Ibis table (the latter computed in the
    database: one aggregate for counts, one query per column with few levels)."""
    if isinstance(data, pd.DataFrame):
        return tuple(_describe_frame(data))
    return tuple(_describe_ibis(data, sample_rows))


def _describe_frame(df: pd.DataFrame) -> list[ColumnFacts]:
    out = []
    rows = len(df)
    for c in df.columns:
        s = df[c]
        distinct = int(s.nunique(dropna=True))
        levels: tuple[str, ...] = ()
        if distinct <= MAX_LEVELS:
            levels = _level_strings(s.value_counts(dropna=True).index.tolist())
        kind = _kind_of(s.dtype, levels, distinct, s if s.dtype == object or pd.api.types.is_string_dtype(s) else None)
        out.append(ColumnFacts(str(c), kind, rows, distinct, int(s.isna().sum()), levels))
    return out


def _describe_ibis(table: Any, sample_rows: int) -> list[ColumnFacts]:
    import ibis  # here, not at the top: a training job's worker imports this module and never needs Ibis

    schema = table.schema()
    names = list(schema.names)
    rows = int(table.count().execute())
    big = rows > 2_000_000
    aggs = {}
    for i, name in enumerate(names):
        col = table[name]
        aggs[f"d{i}"] = col.approx_nunique() if big else col.nunique()
        aggs[f"m{i}"] = col.isnull().sum()
    counts = table.aggregate(**aggs).execute().iloc[0] if names else {}
    sample = table.limit(sample_rows).execute() if names else pd.DataFrame()
    out = []
    for i, name in enumerate(names):
        distinct, missing = int(counts[f"d{i}"] or 0), int(counts[f"m{i}"] or 0)
        levels: tuple[str, ...] = ()
        if 0 < distinct <= MAX_LEVELS:
            col = table[name]
            vc = (table.filter(col.notnull()).group_by(name).aggregate(n=col.count())
                  .order_by([ibis.desc("n"), name]).limit(MAX_LEVELS).execute())
            levels = _level_strings(vc[name].tolist())
        dtype = schema[name]
        text = dtype.is_string()
        kind = _kind_of(dtype, levels, distinct, sample[name] if text and name in sample else None)
        out.append(ColumnFacts(name, kind, rows, distinct, missing, levels))
    return out


# ------------------------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class Guess:
    """One guessed column (or, for the control, one level of the variant) and why it was chosen.

    A Guess compares equal to its column's name, so `roles.target == "y"` reads naturally."""

    column: str | None
    reason: str

    @property
    def value(self) -> str | None:
        return self.column

    def __bool__(self) -> bool:
        return self.column is not None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Guess):
            return (self.column, self.reason) == (other.column, other.reason)
        return self.column == other

    def __hash__(self) -> int:
        return hash(self.column)

    def __str__(self) -> str:
        return "" if self.column is None else self.column


_NONE = Guess(None, "")


@dataclass(frozen=True)
class ColumnRoles:
    """Every guess about a table's columns, each with its reason (see `table()`)."""

    id: Guess
    target: Guess
    variant: Guess
    control: Guess  # a level of the variant column
    date: Guess
    amount: Guess
    quantity: Guess
    product: Guess
    channel: Guess
    outcome: Guess  # the first of `outcomes`
    order: Guess = _NONE
    covariate: Guess = _NONE
    spend: Guess = _NONE  # campaign tables: money spent on ads
    impressions: Guess = _NONE
    clicks: Guess = _NONE
    conversions: Guess = _NONE
    revenue: Guess = _NONE
    campaign: Guess = _NONE
    budget: Guess = _NONE  # a budget per row (e.g. the campaign's budget for the row's month)
    outcomes: tuple[str, ...] = ()  # metrics an experiment on this table would measure
    breakdowns: tuple[str, ...] = ()  # attributes with few levels to break results down by
    identifiers: tuple[str, ...] = ()  # every column that identifies rows (not a feature)
    is_transactions: bool = False  # several rows per customer, with a date and an amount
    facts: tuple[ColumnFacts, ...] = field(default=(), repr=False)

    ROLES = ("id", "target", "variant", "control", "date", "amount", "quantity", "product", "channel",
             "outcome", "order", "covariate", "spend", "impressions", "clicks", "conversions", "revenue", "campaign",
             "budget")

    def reason(self, role: str) -> str:
        return getattr(self, role).reason

    def table(self) -> pd.DataFrame:
        """role, column, reason: what was guessed and why, for a page to show."""
        return pd.DataFrame([{"role": r, "column": getattr(self, r).column, "reason": getattr(self, r).reason}
                             for r in self.ROLES], columns=["role", "column", "reason"])

    def fact(self, name: str) -> ColumnFacts | None:
        return next((f for f in self.facts if f.name == name), None)


# ------------------------------------------------------------------------------------------ rules
def is_identifier(f: ColumnFacts) -> bool:
    """An id-like name whose values are near-unique, or a key with very many values (a customer id
    repeated in transactions). `contact` with three levels is not one."""
    if not looks_like_id(f.name) or f.kind in ("flag", "date") or f.present == 0:
        return False
    return f.unique_share >= ID_UNIQUE_SHARE or f.distinct >= ID_MANY_VALUES or \
        (f.unique_share >= 0.5 and f.kind == "text")


def guess_id(facts: Sequence[ColumnFacts]) -> Guess:
    """The column that identifies a customer (or row): an id-like name with near-unique values first,
    then a customer key that repeats (transactions)."""
    ids = [f for f in facts if is_identifier(f)]
    if not ids:
        return Guess(None, "no column has an id-like name with near-unique values")
    customer = [f for f in ids if _CUSTOMER_NAME.search(f.name)]
    best = max(customer or ids, key=lambda f: f.unique_share)
    share = f"{best.unique_share:.0%} of its values are unique" if best.unique_share >= 0.5 else \
        f"{best.distinct:,} different values over {best.present:,} rows"
    return Guess(best.name, f"id-like name and {share}")


def _target_score(f: ColumnFacts) -> tuple[float, str]:
    squashed = _squash(f.name)
    if squashed in _TARGET_EXACT:
        score, why = 3.0, f"named '{f.name}'"
    elif looks_like_outcome(f.name):
        score, why = 2.0, f"name contains an outcome word ('{f.name}')"
    else:
        return 0.0, ""
    if _EARLIER.search(f.name):
        return 0.0, ""
    if f.kind == "flag" or f.distinct == 2:
        score, why = score + 2, why + ", yes/no"
    elif 2 < f.distinct <= 10:
        score, why = score + 1, why + f", {f.distinct} classes"
    elif f.kind != "number":
        score -= 2
    return score, why


def guess_target(facts: Sequence[ColumnFacts], exclude: Collection[str] = frozenset()) -> Guess:
    """What a model would predict: an outcome name (exact names first, yes/no preferred; earlier results
    like `poutcome` are not outcomes), else a value column (revenue, spend), else the last column."""
    candidates = [f for f in facts if f.name not in exclude and f.distinct >= 2 and not is_identifier(f)]
    if not candidates:
        return Guess(None, "no column with at least two values")
    scored = [(s + (0.5 if f is candidates[-1] else 0.0), -i, f, why)
              for i, f in enumerate(candidates) for s, why in [_target_score(f)] if s > 0]
    if scored:
        _, _, best, why = max(scored, key=lambda t: (t[0], t[1]))
        return Guess(best.name, why)
    values = [f for f in candidates if f.kind == "number" and _VALUE_NAME.search(f.name)]
    if values:
        return Guess(values[0].name, f"no outcome-like name; '{values[0].name}' is a value to predict")
    return Guess(candidates[-1].name, "no outcome-like name; the last column, by convention")


def _variant_score(f: ColumnFacts) -> tuple[float, str]:
    lo, hi = VARIANT_LEVELS
    if not lo <= f.distinct <= hi or f.kind == "date" or looks_like_outcome(f.name) or is_identifier(f):
        return 0.0, ""
    squashed = _squash(f.name)
    if squashed in _VARIANT_EXACT:
        score, why = 3.0, f"named '{f.name}'"
    elif _VARIANT_NAME.search(f.name):
        score, why = 1.0, f"name contains a variant word ('{f.name}')"
    else:
        score, why = 0.0, ""
    control = [v for v in f.levels if (is_control_name(v) if score else _STRONG_CONTROL.match(v.strip()))]
    if control:
        score, why = score + 2, (why + ", " if why else "") + f"has a control-like level '{control[0]}'"
    if score and f.kind == "flag" and not control:
        score -= 0.5  # a 0/1 column is more often a flag than a test arm
    return score, why


def guess_variant(facts: Sequence[ColumnFacts]) -> Guess:
    """The column that says which arm each user saw: 2 to 20 levels, a variant-like name (exact names
    first) or a level named like a control."""
    scored = [(s, -i, f, why) for i, f in enumerate(facts) for s, why in [_variant_score(f)] if s > 0]
    if not scored:
        named = next((f for f in facts if _squash(f.name) in _VARIANT_ONLY and f.kind != "date"), None)
        if named is not None:  # the column is there but unusable: pick it so the page shows what is wrong
            lo, hi = VARIANT_LEVELS
            return Guess(named.name, f"named '{named.name}', but it has {named.distinct:,} level(s) where a test "
                                     f"needs {lo} to {hi}: check the column")
        return Guess(None, "no column with 2 to 20 levels is named like a variant (variant, group, arm, "
                           "treatment...) or has a level named like a control")
    _, _, best, why = max(scored, key=lambda t: (t[0], t[1]))
    return Guess(best.name, f"{why}; {best.distinct} levels")


def guess_control(levels: Sequence[Any]) -> Guess:
    """Which variant is the control: one named control, holdout, psa, placebo, none, No E-Mail, A, ...;
    else the first in order (numbers numerically)."""
    names = [str(v) for v in levels]
    if not names:
        return Guess(None, "no variants")
    for v in names:
        if is_control_name(v):
            return Guess(v, f"'{v}' is named like a control")
    try:
        ordered = sorted(names, key=float)
    except ValueError:
        ordered = sorted(names)
    return Guess(ordered[0], "no level is named like a control (control, holdout, psa, none...); "
                             "the first in order: pick the right one")


def _first(facts: Sequence[ColumnFacts], pattern: re.Pattern[str], used: Collection[str | None],
           kinds: tuple[Kind, ...] | None = None, what: str = "") -> Guess:
    for f in facts:
        if f.name not in used and (kinds is None or f.kind in kinds) and pattern.search(f.name):
            return Guess(f.name, f"name reads like {what}" + (f" ({f.kind})" if kinds else ""))
    return Guess(None, f"no column named like {what}")


def guess_date(facts: Sequence[ColumnFacts], used: Collection[str] = frozenset()) -> Guess:
    """A date or timestamp column; one with a date-like name first."""
    dates = [f for f in facts if f.kind == "date" and f.name not in used]
    if not dates:
        return Guess(None, "no date or timestamp column")
    named = [f for f in dates if _DATE_NAME.search(f.name)]
    best = (named or dates)[0]
    return Guess(best.name, "holds dates" + (" and is named like one" if named else ""))


def _outcomes(facts: Sequence[ColumnFacts], exclude: Collection[str]) -> list[str]:
    return [f.name for f in facts if f.name not in exclude and f.kind in ("number", "flag")
            and _METRIC_NAME.search(f.name) and not _EARLIER.search(f.name) and not _COVARIATE_NAME.search(f.name)
            and not is_identifier(f)]


def guess_roles(data: Any) -> ColumnRoles:
    """Every guess for a table (pandas DataFrame, Ibis table, or facts from `describe_columns`)."""
    facts = tuple(data) if isinstance(data, (list, tuple)) else describe_columns(data)
    identifiers = tuple(f.name for f in facts if is_identifier(f))
    ident = guess_id(facts)
    variant = guess_variant(facts)
    vf = next((f for f in facts if f.name == variant.column), None)
    control = guess_control(vf.levels) if vf is not None and vf.levels else Guess(None, "no variant column")
    date = guess_date(facts)
    order = _first(facts, _ORDER_NAME, {ident.column, date.column}, what="an order or invoice")
    used: set[str | None] = {*identifiers, date.column, order.column}
    quantity = _first(facts, _QUANTITY_NAME, used, ("number",), "a quantity")
    used |= {quantity.column} if quantity else set()
    amount = _first(facts, _AMOUNT_NAME, used, ("number",), "an amount")
    used |= {amount.column} if amount else set()
    product = _first([f for f in facts if f.kind in ("text", "number") and f.distinct > 1], _PRODUCT_NAME, used,
                     what="a product")
    used |= {product.column} if product else set()
    channel = _first([f for f in facts if f.kind == "text" and 1 < f.distinct <= 200], _CHANNEL_NAME, used,
                     what="a channel")
    taken = {variant.column} if variant.column is not None else set()  # what `if variant` tests
    target = guess_target(facts, exclude=taken)
    outcomes = _outcomes(facts, taken)
    outcome = Guess(outcomes[0], "numeric with a metric-like name") if outcomes else \
        Guess(None, "no numeric column named like a metric (conversion, revenue, visit...)")
    covariate = next((Guess(f.name, "named like a pre-period measure") for f in facts
                      if f.kind in ("number", "flag") and _COVARIATE_NAME.search(f.name)),
                     Guess(None, "no column named like a pre-period measure (pre_...)"))
    lo, hi = BREAKDOWN_LEVELS
    skip = {variant.column, date.column, target.column, *outcomes, *identifiers}
    breakdowns = tuple(f.name for f in facts if f.name not in skip and lo <= f.distinct <= hi and f.kind != "date")
    customer = next((f for f in facts if f.name == ident.column), None)
    repeats = customer is not None and customer.distinct < customer.present
    return ColumnRoles(id=ident, target=target, variant=variant, control=control, date=date, amount=amount,
                       quantity=quantity, product=product, channel=channel, outcome=outcome, order=order,
                       covariate=covariate, outcomes=tuple(outcomes), breakdowns=breakdowns, identifiers=identifiers,
                       is_transactions=bool(repeats and date and amount), facts=facts,
                       **guess_campaign_columns(facts, exclude={*identifiers, date.column}))


def guess_campaign_columns(facts: Sequence[ColumnFacts], exclude: Collection[str | None] = frozenset()) -> dict[str, Guess]:
    """The columns of a campaign table (core.campaigns): budget, spend, impressions, clicks, conversions and
    revenue (numbers; names of rates such as ctr or conversion_rate are skipped, they are not sums) and the
    campaign (text). Each column takes one role at most, in that order, so `budget` never becomes the spend."""
    counts = [f for f in facts if f.kind == "number" and not _RATE_NAME.search(f.name)]
    used: set[str | None] = set(exclude)
    out: dict[str, Guess] = {}
    for role, pattern, what in (("budget", _BUDGET_NAME, "a budget"), ("spend", _SPEND_NAME, "ad spend or cost"),
                                ("impressions", _IMPRESSIONS_NAME, "impressions"), ("clicks", _CLICKS_NAME, "clicks"),
                                ("conversions", _CONVERSIONS_NAME, "conversions"),
                                ("revenue", _REVENUE_NAME, "revenue")):
        pool = [f for f in counts if not _REVENUE_NAME.search(f.name)] if role == "conversions" else counts
        out[role] = _first(pool, pattern, used, ("number",), what)  # conversion_value is revenue, not a count
        used.add(out[role].column)
    texts = [f for f in facts if f.kind == "text" and f.distinct >= 1]
    out["campaign"] = _first(texts, _CAMPAIGN_NAME, used, ("text",), "a campaign")
    return out

