"""The marketing-mix model as a background job (core.jobs), and the model's input from a workspace table.

The Campaigns page's model tab works in three steps, all here so the page stays thin:

    guess = guess_columns(facts)                       # long or wide table, date, target, channels
    wide = model_input(ws.table(name), settings)       # one row per week (or day), a spend column per channel
    check(wide, settings)                              # fit_mmm's input checks, instantly, before a job starts
    runner.submit("mmm", fit_job, wide, settings.as_dict(), owner=..., table=name, settings=...)

A long table (one row per date and channel, maybe per campaign too, such as the demo's
campaign_daily) is summed per week and channel in the database (core.campaigns.mmm.channel_table);
a wide table (one row per week with one spend column per channel, the usual MMM export) is used as
it is. `fit_job` is the worker's top-level function: it gets the wide frame and the settings, never
opens the workspace database, and returns the (small, picklable) MMMResult.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping, Sequence

import pandas as pd

from core.campaigns import mmm
from core.campaigns.mmm import MAX_CHANNELS, MMMResult, Settings, TargetKind, channel_table, fit_mmm
from core.errors import DataError
from core.jobs import Progress
from core.wording import plural

Layout = Literal["long", "wide"]
Effort = Literal["standard", "quick"]
PeriodFreq = Literal["W", "D"]

LAYOUT_LABELS: dict[str, str] = {
    "long": "One row per date and channel (campaign reports): summed per week and channel",
    "wide": "One row per week or day, a spend column per channel (used as it is)"}
EFFORT_LABELS: dict[str, str] = {
    "standard": "Standard: 100 bootstrap refits for the intervals",
    "quick": "Quick: 30 refits and a shorter search (rougher intervals, faster)"}
# What each effort means for fit_mmm (core.campaigns.mmm_fit.Settings).
EFFORTS: dict[str, dict[str, int]] = {"standard": {"n_boot": 100, "maxiter": 60},
                                      "quick": {"n_boot": 30, "maxiter": 25}}

_SPEND_WORDS = re.compile(r"spend|cost|invest|budget|media|_eur$|_usd$", re.I)
_CHANNEL_WORDS = re.compile(r"search|social|tv|display|email|e_mail|radio|video|affiliate|print|ooh|outdoor|"
                            r"facebook|meta|google|youtube|tiktok|programmatic|podcast|sem|seo|direct_mail", re.I)
_CONTROL_WORDS = re.compile(r"price|promo|holiday|discount|event|competitor|temperature|weather|covid|stock",
                            re.I)
_TARGET_WORDS = (("revenue", "revenue"), ("sales", "revenue"), ("conversion_value", "revenue"),
                 ("income", "revenue"), ("conversions", "conversions"), ("orders", "conversions"),
                 ("leads", "conversions"), ("conversion", "conversions"))


@dataclass(frozen=True)
class ModelSettings:
    """What the page asks the model for; stored as JSON in the job record (so it identifies the job).

    layout: "long" (channel_column and spend_column name the channel and spend of each row, freq the
    period they are summed to) or "wide" (`channels` name the spend columns). channels: the channels
    modelled (long: values of channel_column; wide: columns). controls: wide tables only. holdout:
    last periods held out for the hold-out check (None: fit_mmm's default, 10%). effort: "standard"
    or "quick" (EFFORTS). kind: "revenue" or "conversions", for the wording.
    """

    layout: Layout
    date: str
    target: str
    channels: tuple[str, ...]
    kind: TargetKind = "revenue"
    channel_column: str | None = None
    spend_column: str | None = None
    freq: PeriodFreq = "W"
    controls: tuple[str, ...] = field(default_factory=tuple)
    holdout: int | None = None
    effort: Effort = "standard"
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists, not tuples), as the job record stores them."""
        out = asdict(self)
        out["channels"], out["controls"] = list(self.channels), list(self.controls)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelSettings:
        """The settings back from a job record (unknown keys, such as the table version, ignored)."""
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        known["channels"] = tuple(known.get("channels") or ())
        known["controls"] = tuple(known.get("controls") or ())
        return cls(**known)

    def fit_settings(self) -> Settings:
        """fit_mmm's Settings for this effort and hold-out."""
        return Settings(holdout=self.holdout, **EFFORTS[self.effort])


@dataclass(frozen=True)
class ColumnGuess:
    """The page's first guess at a table's columns, each with a reason people can read."""

    layout: Layout
    date: str | None
    target: str | None
    kind: TargetKind
    channel_column: str | None
    spend_column: str | None
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    reasons: tuple[str, ...]


def target_kind(name: str) -> TargetKind:
    """'conversions' for a count-like target name (conversions, orders, leads), else 'revenue'."""
    low = name.lower()
    for word, kind in _TARGET_WORDS:
        if word in low:
            return kind  # type: ignore[return-value]
    return "revenue"


def guess_columns(columns: Sequence[str], numeric: Sequence[str], dates: Sequence[str], labels: Sequence[str],
                  *, roles: Any = None) -> ColumnGuess:
    """Long or wide, and which column is which, from the column names and types.

    roles: a core.columns.ColumnRoles for the table (its date, spend, channel, revenue and
    conversions guesses are used first). A table with a text channel column and one spend column is
    long; otherwise the numeric columns named like spend or like a channel are the channels of a
    wide table. The target: revenue (or sales) first, conversions (or orders) next.
    """
    def role(name: str) -> str | None:
        guess = getattr(roles, name, None) if roles is not None else None
        col = getattr(guess, "column", None)
        return str(col) if col is not None and col in columns else None

    reasons: list[str] = []
    date = role("date") if role("date") in dates else (dates[0] if dates else None)
    target = role("revenue") if role("revenue") in numeric else None
    if target is None:
        target = next((c for c in numeric if target_kind(c) == "revenue" and re.search(
            r"revenue|sales|conversion_value|income", c, re.I)), None)
    if target is None:
        target = role("conversions") if role("conversions") in numeric else next(
            (c for c in numeric if re.search(r"conversion|order|lead", c, re.I)), None)
    if target is not None:
        reasons.append(f"Target: {target} (named like {'revenue' if target_kind(target) == 'revenue' else 'a count of results'}).")
    channel = role("channel") if role("channel") in labels else next(
        (c for c in labels if re.search(r"channel|medium|source|platform", c, re.I)), None)
    spend = role("spend") if role("spend") in numeric else next((c for c in numeric if _SPEND_WORDS.search(c)), None)
    if channel is not None and spend is not None:
        reasons.append(f"Long table: '{channel}' names the channel of each row and '{spend}' its spend.")
        return ColumnGuess("long", date, target, target_kind(target or ""), channel, spend, (), (), tuple(reasons))
    others = [c for c in numeric if c != target]
    named = [c for c in others if (_SPEND_WORDS.search(c) or _CHANNEL_WORDS.search(c)) and not _CONTROL_WORDS.search(c)]
    controls = tuple(c for c in others if _CONTROL_WORDS.search(c) and c not in named)
    channels = tuple(named or [c for c in others if c not in controls])[:MAX_CHANNELS]
    if named:
        reasons.append(f"Wide table: {plural(len(channels), 'column')} named like spend or a channel.")
    else:
        reasons.append("Wide table: no column is named like spend; every number column is a first pick.")
    return ColumnGuess("wide", date, target, target_kind(target or ""), None, None, channels, controls,
                       tuple(reasons))


def model_input(data: Any, settings: ModelSettings) -> pd.DataFrame:
    """The table as fit_mmm takes it: date, one spend column per channel (wide) or per channel value
    (long, summed per period by channel_table), the target, the controls. `attrs["notes"]` says what
    was left out (partial first/last weeks); `attrs["found"]` lists every channel the table has."""
    s = settings
    if s.layout == "long":
        if not s.channel_column or not s.spend_column:
            raise DataError("Pick the channel column and the spend column of the long table.")
        wide = channel_table(data, date=s.date, channel=s.channel_column, spend=s.spend_column, target=s.target,
                             freq=s.freq)
        found = [c for c in wide.columns if c not in (s.date, s.target)]
        out = wide[[s.date, *[c for c in found], s.target]]
        out.attrs["notes"] = list(wide.attrs.get("notes", []))
        out.attrs["found"] = found
        return out
    used = list(dict.fromkeys([s.date, *s.channels, s.target, *s.controls]))
    columns = list(data.columns)
    missing = [c for c in used if c not in columns]
    if missing:
        raise DataError(f"Column(s) {', '.join(map(repr, missing))} are not in the table; pick others.")
    frame = data.select(used).execute() if hasattr(data, "execute") and not isinstance(data, pd.DataFrame) \
        else data[used].copy()
    frame.attrs["notes"] = []
    frame.attrs["found"] = list(s.channels)
    return frame


def check(wide: pd.DataFrame, settings: ModelSettings) -> list[str]:
    """fit_mmm's input checks without the fit (DataError saying what to fix), then plain notes on what
    the data can support (a hold-out too short, few periods per channel)."""
    channels = list(settings.channels)
    mmm._prepare(wide, settings.date, settings.target, channels, list(settings.controls) or None)
    notes: list[str] = []
    n = len(wide)
    unit = mmm.PERIOD_WORD["D" if _step_days(wide, settings.date) == 1 else "W"]
    if settings.holdout is not None and settings.holdout > n // 4:
        notes.append(f"The hold-out is capped at a quarter of the data: {plural(n // 4, unit)}, not "
                     f"{plural(settings.holdout, unit)}.")
    for c in channels:
        active = int((pd.to_numeric(wide[c], errors="coerce") > 0).sum())
        if active < max(8, n // 10):
            notes.append(f"{c} spends in only {plural(active, unit)} of {n:,}: its return will be uncertain.")
    return notes


def _step_days(frame: pd.DataFrame, date: str) -> int:
    steps = pd.to_datetime(frame[date], errors="coerce").sort_values().diff().dt.days.dropna()
    return int(steps.median()) if len(steps) else 0


def fit_job(wide: pd.DataFrame, settings: Mapping[str, Any], *, progress: Progress) -> MMMResult:
    """The worker's function: fit_mmm on the wide frame with the page's settings (a dict, as stored in
    the job record); returns the MMMResult, which the runner saves in the job folder."""
    s = ModelSettings.from_dict(settings)
    progress(0.0, f"Fitting {plural(len(s.channels), 'channel')} on {plural(len(wide), 'row')}")
    return fit_mmm(wide, date=s.date, target=s.target, channels=list(s.channels), controls=list(s.controls) or None,
                   seed=s.seed, settings=s.fit_settings(), kind=s.kind, progress=progress)
