"""What people read about a marketing-mix model: the fit's judgement, tables for people, the HTML report.

    plan = result.optimize_budget()
    html = mmm_report(result, plan, title="Marketing-mix model: campaign_daily")

The report is self-contained like the Experiments read-out (core.experiments.charts.html_report):
the summary for the manager, the fit and its judgement, the model's notes, every chart (plotly.js
embedded once, gzip-compressed, drawn by the browser's DecompressionStream: no CDN, works offline)
and the tables formatted for people. The page shows the same tables (roas_table, plan_table).
"""

from __future__ import annotations

import datetime as _dt
import html
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.campaigns import mmm_charts
from core.campaigns.mmm import BudgetChange, MMMResult
from core.experiments.charts import _LOADER, _REPORT_CSS, _plotlyjs_packed
from core.formatting import Format, for_people, format_value, percent, significant
from core.wording import plural

GOOD_HOLDOUT_MAPE, FAIR_HOLDOUT_MAPE = 0.10, 0.20


def fit_judgement(result: MMMResult) -> tuple[str, str]:
    """(level, one line) on how far to trust the model: level is "good", "fair" or "weak", from the
    hold-out MAPE (the error on periods the check fit never saw: under 10% good, under 20% fair)
    and R² on the training periods."""
    f = result.fit
    held = plural(int(f.holdout_periods), result.period)
    if not np.isfinite(f.holdout_mape):
        return "weak", f"The hold-out error could not be measured (the target is 0 in the {held} held out)."
    error = percent(f.holdout_mape, 1)
    if f.holdout_mape <= GOOD_HOLDOUT_MAPE and f.r2 >= 0.7:
        level, line = "good", (f"Good fit: the model forecast the last {held}, which it had not seen, within {error} "
                               "on average; its returns are a sound basis for budget decisions.")
    elif f.holdout_mape <= FAIR_HOLDOUT_MAPE and f.r2 >= 0.5:
        level, line = "fair", (f"Fair fit: the forecast of the last {held} (not seen in fitting) is off by {error} on "
                               "average; read the returns as directions and check big moves with a test.")
    else:
        level, line = "weak", (f"Weak fit: the forecast of the last {held} (not seen in fitting) is off by {error} on "
                               f"average (R² {f.r2:.2f} on the other {result.period}s); do not move budget on "
                               "these numbers alone: add controls (promotions, prices, holidays) or more history.")
    if np.isfinite(f.mape) and f.holdout_mape > max(2 * f.mape, f.mape + 0.05):
        line += (f" The error on unseen {result.period}s is much larger than on the fitted ones ({percent(f.mape, 1)}):"
                 " the model may follow noise.")
    return level, line


def roas_table(result: MMMResult) -> pd.DataFrame:
    """The return per channel for people: spend, modelled contribution, return with its interval,
    shares of spend and of effect (best return first). Conversions read per 1,000 spent."""
    scale, words = mmm_charts.per_unit(result)
    r = result.roas.sort_values("roas", ascending=False)
    level = f"{result.level:.0%}"
    shown = pd.DataFrame({
        "channel": r["channel"].to_numpy(),
        "spend (whole period)": [format_value(v, "money") for v in r["spend"]],
        f"modelled {result.target}": [format_value(v, "integer") for v in r["contribution"]],
        f"return ({words})": [significant(v * scale, 3) for v in r["roas"]],
        f"{level} interval": [f"{significant(lo * scale, 2)} to {significant(hi * scale, 2)}"
                              if np.isfinite(lo) and np.isfinite(hi) else "" for lo, hi in zip(r["roas_low"], r["roas_high"])],
        "share of spend": [percent(v, 1) for v in r["share_of_spend"]],
        "share of effect": [percent(v, 1) for v in r["share_of_effect"]]})
    return shown


def plan_table(result: MMMResult, plan: pd.DataFrame) -> pd.DataFrame:
    """The allocator's plan for people: spend per period today and recommended, the change and the
    channel's modelled target per period (the bounds are in the download and the bounds editor)."""
    period = result.period
    plan = plan.drop(columns=[c for c in ("low", "high") if c in plan])
    fmt: dict[str, Format] = {"current_spend": "money", "recommended_spend": "money", "change": "text",
                              "current_revenue": "integer", "recommended_revenue": "integer"}
    shown = plan.copy()
    shown["change"] = [("+" if v > 0 else "−" if v < 0 else "") + percent(abs(v), 0) if np.isfinite(v) else ""
                       for v in plan["change"]]
    what = result.target
    return for_people(shown, fmt, {
        "current_spend": f"spend per {period} today", "recommended_spend": f"recommended per {period}",
        "change": "change", "current_revenue": f"{what} per {period} today",
        "recommended_revenue": f"{what} per {period} recommended"})


def params_table(result: MMMResult) -> pd.DataFrame:
    """Carry-over and saturation per channel for people (short headers: the page's caption and the
    report explain them; amounts are per period)."""
    p = result.params
    return pd.DataFrame({
        "channel": p["channel"].to_numpy(),
        "carry-over (theta)": [significant(v, 2) for v in p["theta"]],
        "shape (alpha)": [significant(v, 2) for v in p["alpha"]],
        "half-effect point (gamma)": [significant(v, 2) for v in p["gamma"]],
        f"{result.target} at saturation": [format_value(v, "integer") for v in p["coef"]],
        "half-effect spend": [format_value(v, "integer") for v in p["inflexion"]]})


def change_line(result: MMMResult, change: BudgetChange) -> str:
    """The plan's modelled change per period with its interval, in one sentence."""
    what = result.target
    sign = "+" if change.change >= 0 else "−"
    interval = ""
    if np.isfinite(change.change_low) and np.isfinite(change.change_high):
        interval = (f" ({change.level:.0%} interval {format_value(change.change_low, 'integer')} to "
                    f"{format_value(change.change_high, 'integer')}, {_signed(change.share_low)} to "
                    f"{_signed(change.share_high)})")
    return (f"Expected change: {sign}{format_value(abs(change.change), 'integer')} {what} per {result.period} "
            f"({_signed(change.share)} of the average {result.period}){interval}.")


def signed_percent(share: float) -> str:
    """A share as a signed percent, one decimal under 10%: 0.051 -> "+5.1%", -0.2 -> "−20%"."""
    return _signed(share)


def _signed(share: float) -> str:
    if not np.isfinite(share):
        return ""
    digits = 1 if abs(share) < 0.1 else 0
    return ("+" if share >= 0 else "−") + percent(abs(share), digits)


def _table_html(frame: pd.DataFrame) -> str:
    return "<div class='table-wrap'>" + frame.to_html(index=False, na_rep="", escape=True) + "</div>"


def _figure_html(i: int, fig: go.Figure) -> str:
    height = int(fig.layout.height or 400)
    spec = fig.to_json().replace("</", "<\\/")
    return (f"<div class='mw-chart' id='mw-chart-{i}' style='height:{height}px'></div>"
            f"<script type='application/json' id='mw-chart-{i}-spec'>{spec}</script>")


def mmm_report(result: MMMResult, plan: pd.DataFrame | None = None, *, title: str = "Marketing-mix model",
               source: str | None = None, notes: Sequence[str] = ()) -> str:
    """The self-contained HTML report of a fitted model and a budget plan (default: the same total,
    each channel within 50%-150% of today). source: where the data came from (e.g. the table);
    notes: extra lines (what was aggregated or left out)."""
    plan = result.optimize_budget() if plan is None else plan
    change = result.expected_change(plan)
    level, judgement = fit_judgement(result)
    f = result.fit
    figures = [mmm_charts.fit_figure(result), mmm_charts.contributions_figure(result), mmm_charts.roas_figure(result),
               mmm_charts.curves_figure(result, plan=plan), mmm_charts.allocation_figure(result, plan)]
    span = (f"{pd.Timestamp(result.fitted['date'].iloc[0]):%Y-%m-%d} to "
            f"{pd.Timestamp(result.fitted['date'].iloc[-1]):%Y-%m-%d}")
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<style>{_REPORT_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f"<p><small>Generated {_dt.datetime.now():%Y-%m-%d %H:%M} by Marketing Workbench"
             + (f" from {e(source)}" if source else "") + f": {plural(len(result.fitted), result.period)} "
             f"({e(span)}), {plural(len(result.channels), 'channel')}, target {e(result.target)}.</small></p>",
             f"<div class='summary'>{e(result.summary(plan))}</div>",
             "<h2>How well the model fits</h2>",
             f"<p>{e(judgement)}</p>",
             f"<p>R² {f.r2:.3f}, NRMSE {percent(f.nrmse, 1)}, MAPE {percent(f.mape, 1)} on the fitted "
             f"{result.period}s; hold-out MAPE {percent(f.holdout_mape, 1)} on the last "
             f"{plural(int(f.holdout_periods), result.period)}.</p>"]
    for n in [*notes, *result.notes]:
        parts.append(f"<p>{e(n)}</p>")
    parts += [_figure_html(0, figures[0]), "<h2>What drives the target</h2>", _figure_html(1, figures[1]),
              "<h2>Return per channel</h2>", _figure_html(2, figures[2]), _table_html(roas_table(result)),
              "<h2>Response curves</h2>", _figure_html(3, figures[3]),
              "<h2>Budget plan</h2>", f"<p>{e(change_line(result, change))}</p>", _figure_html(4, figures[4]),
              _table_html(plan_table(result, plan)),
              "<h2>Model details</h2>",
              "<p>Per channel: geometric carry-over (adstock) and Hill saturation (Robyn's definitions), "
              "non-negative effects, a free baseline (trend, yearly season, controls), carry-over and saturation "
              f"chosen by time-series cross-validation; intervals from {plural(len(result.replicates.coef), 'bootstrap refit')}"
              f". Fitted in {result.seconds:.0f} s. Carry-over (theta): the share of a {result.period}'s effect still "
              f"working the next {result.period}; shape (alpha): above 1 an S-curve; half-effect point (gamma): where "
              "in the channel's range of carried-over spend half the effect is reached (that spend per "
              f"{result.period} is the half-effect spend); {e(result.target)} at saturation: the most the channel "
              f"can bring per {result.period}.</p>",
              _table_html(params_table(result)),
              f"<script type='application/gzip' id='mw-plotlyjs'>{_plotlyjs_packed()}</script>", _LOADER,
              "</body></html>"]
    return "\n".join(parts)
