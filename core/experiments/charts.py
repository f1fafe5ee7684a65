"""Plotly figures and the self-contained HTML report for experiment read-outs (pure: no UI)."""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import gzip
import html
from typing import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.formatting import for_people, percent, points, significant

GREY = "#888888"
WIN, LOSS, FLAT = "#2A9D8F", "#E4572E", "#8D99AE"


def _colour(row: pd.Series) -> str:
    if not row.get("significant", False):
        return FLAT
    return WIN if row["rel_lift"] > 0 else LOSS


def forest_figure(table: pd.DataFrame, alpha: float = 0.05, title: str = "Lift against control") -> go.Figure:
    """Relative lift with its interval, one line per (metric, variant); green/red when significant."""
    t = table.reset_index(drop=True)
    labels = [f"{r.variant} · {r.metric}" for r in t.itertuples()]
    fig = go.Figure()
    for i, r in t.iterrows():
        fig.add_trace(go.Scatter(
            x=[r["rel_lift"] * 100], y=[labels[i]], mode="markers", marker=dict(size=11, color=_colour(r)),
            error_x=dict(type="data", symmetric=False, array=[(r["rel_ci_high"] - r["rel_lift"]) * 100],
                         arrayminus=[(r["rel_lift"] - r["rel_ci_low"]) * 100], color=_colour(r), thickness=2),
            showlegend=False,
            hovertemplate=(f"{labels[i]}<br>lift %{{x:.1f}}% ({(1 - alpha):.0%} CI {r['rel_ci_low'] * 100:.1f}% to "
                           f"{r['rel_ci_high'] * 100:.1f}%)<br>adjusted p {r['p_adjusted']:.4f}<extra></extra>")))
    fig.add_vline(x=0, line_dash="dash", line_color=GREY)
    fig.update_layout(height=max(260, 60 * len(t) + 140), title=dict(text=title, x=0, xanchor="left"),
                      xaxis=dict(title=dict(text=f"relative lift against control (%; bars = {(1 - alpha):.0%} interval)",
                                            standoff=12)),
                      yaxis=dict(autorange="reversed", title=""))
    return readable(fig)


def readable(fig: go.Figure) -> go.Figure:
    """Margins that grow to fit tick labels and axis titles (no clipped labels, no overlapping titles)."""
    fig.update_layout(margin=dict(l=20, r=30, t=90 if "<br>" in str(fig.layout.title.text or "") else 60, b=20,
                                  autoexpand=True))
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def timeline_figures(tl: pd.DataFrame, metric: str, control: str) -> tuple[go.Figure, go.Figure]:
    """(metric per arm, cumulative) and (cumulative relative lift with its interval), by exposure date."""
    per_arm = go.Figure()
    for v, g in tl.groupby("variant"):
        per_arm.add_trace(go.Scatter(x=g["date"], y=g["mean"], mode="lines+markers", name=str(v),
                                     line=dict(dash="dash" if v == control else "solid")))
    per_arm.update_layout(height=340, title=dict(text=f"{metric} per arm, cumulative", x=0, xanchor="left"),
                          xaxis_title="exposure date", yaxis_title=f"{metric} (mean per user, cumulative)")
    readable(per_arm)
    lift = go.Figure()
    for v, g in tl[tl["variant"] != control].groupby("variant"):
        if "rel_lift" not in g or g["rel_lift"].isna().all():
            continue
        g = g.dropna(subset=["rel_lift"])
        x = list(g["date"]) + list(g["date"])[::-1]
        y = list(g["rel_ci_high"] * 100) + list(g["rel_ci_low"] * 100)[::-1]
        lift.add_trace(go.Scatter(x=x, y=y, fill="toself", opacity=0.2, line=dict(width=0), showlegend=False,
                                  hoverinfo="skip", name=f"{v} interval"))
        lift.add_trace(go.Scatter(x=g["date"], y=g["rel_lift"] * 100, mode="lines+markers", name=str(v)))
    lift.add_hline(y=0, line_dash="dash", line_color=GREY)
    lift.update_layout(height=340, title=dict(text="Cumulative lift against control", x=0, xanchor="left"),
                       xaxis_title="exposure date", yaxis_title="relative lift (%), with interval")
    return per_arm, readable(lift)


def breakdown_figure(bd: pd.DataFrame, by: str) -> go.Figure:
    """Lift per attribute level (forest plot)."""
    t = bd.assign(metric=bd["level"].astype(str), significant=False, p_adjusted=bd["p_value"])
    fig = forest_figure(t, title=f"Lift by {by}<br><sup>unadjusted p-values: many looks, so expect some chance "
                                 "findings</sup>")
    fig.update_yaxes(title=by)
    return readable(fig)


def _signed_percent(value: float, digits: int = 1) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value * 100:+,.{digits}f}%"


def _signed(value: float) -> str:
    if value is None or not np.isfinite(value):
        return ""
    text = significant(value)
    return text if text.startswith("-") or text == "0" else "+" + text


def _interval(low: float, high: float, fmt: Callable[[float], str]) -> str:
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"{fmt(low)} to {fmt(high)}"


def _value(v: float, binary: bool) -> str:
    return percent(v, 2) if binary else significant(v)


def _difference(v: float, binary: bool) -> str:
    return points(v) if binary else _signed(v)


def results_for_people(table: pd.DataFrame, correction: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """The results table as people read it: human column names, p-values next to the effect, lifts in
    percent, differences of rates in points, intervals as "low to high". Downloads keep `table` itself."""
    level = f"{(1 - alpha):.0%}"
    rows = []
    for r in table.itertuples():
        binary = r.metric_type == "binary"
        rows.append({
            "metric": r.metric, "variant": r.variant, "lift": _signed_percent(r.rel_lift),
            "difference": _difference(r.abs_lift, binary), "p_value": r.p_value, "p_adjusted": r.p_adjusted,
            "verdict": "significant" if r.significant else "not significant",
            "lift_ci": _interval(r.rel_ci_low, r.rel_ci_high, _signed_percent),
            "difference_ci": _interval(r.abs_ci_low, r.abs_ci_high, functools.partial(_difference, binary=binary)),
            "value": _value(r.mean, binary), "control_value": _value(r.control_mean, binary),
            "n": r.n, "control_n": r.control_n, "chance_to_beat": r.chance_to_beat,
            "expected_loss": r.expected_loss,
            "credible": _interval(r.rel_credible_low, r.rel_credible_high, _signed_percent)})
    frame = pd.DataFrame(rows, columns=list(RESULT_LABELS))
    labels = dict(RESULT_LABELS)
    labels["p_adjusted"] = f"adjusted p ({correction})" if correction and correction != "none" else "adjusted p"
    labels["lift_ci"] = f"lift {level} interval"
    labels["difference_ci"] = f"difference {level} interval"
    return for_people(frame, {"p_value": "p_value", "p_adjusted": "p_value", "n": "integer", "control_n": "integer",
                              "chance_to_beat": "percent", "expected_loss": "percent"}, labels)


RESULT_LABELS = {"metric": "metric", "variant": "variant", "lift": "lift", "difference": "difference",
                 "p_value": "p-value", "p_adjusted": "adjusted p", "verdict": "verdict", "lift_ci": "lift interval",
                 "difference_ci": "difference interval", "value": "variant value", "control_value": "control value",
                 "n": "users", "control_n": "control users", "chance_to_beat": "chance to beat control",
                 "expected_loss": "expected loss (share of control)", "credible": "credible interval of the lift"}


def breakdown_for_people(bd: pd.DataFrame, by: str, binary: bool = False, alpha: float = 0.05) -> pd.DataFrame:
    """The per-level breakdown as people read it (p-values unadjusted, next to the lift)."""
    level = f"{(1 - alpha):.0%}"
    frame = pd.DataFrame({
        "level": bd["level"].astype(str), "variant": bd["variant"],
        "lift": [_signed_percent(v) for v in bd["rel_lift"]], "p_value": bd["p_value"],
        "lift_ci": [_interval(lo, hi, _signed_percent) for lo, hi in zip(bd["rel_ci_low"], bd["rel_ci_high"])],
        "value": [_value(v, binary) for v in bd["mean"]], "control_value": [_value(v, binary) for v in bd["control_mean"]],
        "n": bd["n"], "control_n": bd["control_n"]})
    return for_people(frame, {"p_value": "p_value", "n": "integer", "control_n": "integer"},
                      {"level": by, "variant": "variant", "lift": "lift", "p_value": "p-value (unadjusted)",
                       "lift_ci": f"lift {level} interval", "value": "variant value", "control_value": "control value",
                       "n": "users", "control_n": "control users"})


def timeline_for_people(tl: pd.DataFrame, binary: bool = False) -> pd.DataFrame:
    """The cumulative read-out by day as people read it."""
    frame = pd.DataFrame({"date": pd.to_datetime(tl["date"]).dt.strftime("%Y-%m-%d"), "variant": tl["variant"],
                          "n": tl["n"], "value": [_value(v, binary) for v in tl["mean"]]})
    if "rel_lift" in tl:
        frame["lift"] = [_signed_percent(v) for v in tl["rel_lift"]]
        frame["p_value"] = tl["p_value"] if "p_value" in tl else np.nan
        frame["lift_ci"] = [_interval(lo, hi, _signed_percent) for lo, hi in zip(tl["rel_ci_low"], tl["rel_ci_high"])]
    return for_people(frame, {"n": "integer", "p_value": "p_value"},
                      {"date": "date", "variant": "variant", "n": "users so far", "value": "value so far",
                       "lift": "lift so far", "p_value": "p-value", "lift_ci": "lift interval"})


# ---------------------------------------------------------------------------------- HTML report
_REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    ".summary{font-size:17px;line-height:1.5;background:#f6f8fa;padding:1em;border-radius:6px}"
    ".mw-chart{width:100%;max-width:100%;margin:1em 0}"
    ".table-wrap{max-width:100%;overflow-x:auto}"
    "table{border-collapse:collapse;font-size:12px;width:100%;max-width:100%;table-layout:auto}"
    "td,th{border:1px solid #ccc;padding:4px 6px;text-align:right;white-space:normal;overflow-wrap:break-word;"
    "vertical-align:top}th{background:#f4f4f4}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}"
)
# plotly.js is embedded once per report, gzip-compressed (1.5 MB instead of 4.8 MB) and unpacked by the
# browser's own DecompressionStream; the charts are drawn from their JSON once it has loaded. No CDN:
# the report works offline.
_LOADER = """<script>
(function () {
  function charts() { return Array.prototype.slice.call(document.querySelectorAll('div.mw-chart')); }
  function fail(message) { charts().forEach(function (el) { el.textContent = message; }); }
  if (!('DecompressionStream' in window)) {
    fail('The charts need a current browser (Chrome 80, Firefox 113, Safari 16.4 or newer).'); return;
  }
  var packed = atob(document.getElementById('mw-plotlyjs').textContent.trim());
  var bytes = new Uint8Array(packed.length);
  for (var i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(stream).text().then(function (code) {
    var script = document.createElement('script');
    script.textContent = code;
    document.head.appendChild(script);
    charts().forEach(function (el) {
      var spec = JSON.parse(document.getElementById(el.id + '-spec').textContent);
      Plotly.newPlot(el, spec.data, spec.layout, {responsive: true, displaylogo: false});
    });
  }).catch(function (e) { fail('The charts could not be drawn (' + e + ').'); });
})();
</script>"""


@functools.lru_cache(maxsize=1)
def _plotlyjs_packed() -> str:
    """plotly.js (the copy shipped with the plotly package), gzip-compressed and base64-encoded."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9, mtime=0)).decode("ascii")


def html_report(title: str, summary: str, table: pd.DataFrame, figures: list[go.Figure], notes: list[str],
                correction: str | None = None, alpha: float = 0.05) -> bytes:
    """A self-contained HTML report: summary, charts (plotly.js embedded once, compressed) and the
    results table formatted for people (wrapping, never wider than the page)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<style>{_REPORT_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p><small>Generated {_dt.datetime.now():%Y-%m-%d %H:%M} by Marketing Workbench.</small></p>",
             f"<div class='summary'>{html.escape(summary)}</div>"]
    for n in notes:
        parts.append(f"<p>{html.escape(n)}</p>")
    for i, fig in enumerate(figures):
        height = int(fig.layout.height or 400)
        spec = fig.to_json().replace("</", "<\\/")
        parts.append(f"<div class='mw-chart' id='mw-chart-{i}' style='height:{height}px'></div>"
                     f"<script type='application/json' id='mw-chart-{i}-spec'>{spec}</script>")
    shown = results_for_people(table, correction, alpha)
    parts.append("<h2>Results</h2><div class='table-wrap'>" + shown.to_html(index=False, na_rep="", escape=True)
                 + "</div>")
    if figures:
        parts.append(f"<script type='application/gzip' id='mw-plotlyjs'>{_plotlyjs_packed()}</script>")
        parts.append(_LOADER)
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")
