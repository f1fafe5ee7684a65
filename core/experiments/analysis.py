"""Analyse A/B and campaign tests: per-variant lifts, intervals, corrections, SRM, CUPED, plain words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import ibis
import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from core.columns import guess_control
from core.errors import DataError
from core.formatting import points, significant
from core.experiments.assignment import AssignmentCheck, Cleaning, Dedupe, check_assignment, dedupe_users
from core.experiments.data import MAX_VARIANTS, check_levels, metric_cap, metric_profile, sort_names, summarize, variant_counts
from core.experiments.stats import Arm, BayesMethod, compare, holm_adjusted, pooled_theta, srm_p_value

CORRECTIONS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh", "benjamini-hochberg": "fdr_bh",
               "benjamini_hochberg": "fdr_bh", "fdr_bh": "fdr_bh", "none": None}
METRIC_TYPES = ("binary", "continuous", "ratio")
SRM_ALPHA = 0.001
TABLE_COLUMNS = ["metric", "metric_type", "variant", "n", "mean", "control_n", "control_mean", "abs_lift",
                 "abs_ci_low", "abs_ci_high", "rel_lift", "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted",
                 "significant", "chance_to_beat", "expected_loss", "rel_credible_low", "rel_credible_high"]


@dataclass
class ExperimentResult:
    """The read-out of one experiment: one table row per (metric, non-control variant)."""

    table: pd.DataFrame
    srm_p_value: float
    summary_text: str
    control: str = ""
    counts: pd.Series | None = None
    expected_weights: list[float] = field(default_factory=list)
    alpha: float = 0.05
    correction: str = "holm"
    sequential: bool = False
    arms: pd.DataFrame | None = None  # per metric and variant: n, mean (and missing)
    cuped: dict[str, float] = field(default_factory=dict)  # metric -> variance reduction achieved
    warnings: list[str] = field(default_factory=list)
    assignment: AssignmentCheck | None = None  # one row per user? (when analyze() was given the user column)
    cleaning: Cleaning | None = None  # what dedupe removed

    @property
    def srm_ok(self) -> bool:
        return not (self.srm_p_value < SRM_ALPHA)


def _check_alpha(alpha: float) -> None:
    if not (0 < alpha < 0.5):
        raise DataError("alpha must be between 0 and 0.5 (0.05 gives 95% intervals).")


def choose_control(variants: Iterable[str], control: str | None = None) -> str:
    """The given control, else a variant named like control/baseline/A/no e-mail, else the first sorted."""
    names = sort_names(variants)
    if control is not None:
        if str(control) not in names and isinstance(control, (int, float)) and float(control).is_integer():
            control = str(int(control))
        if str(control) not in names:
            raise DataError(f"The control '{control}' is not among the variants ({', '.join(names)}). Pick one of them.")
        return str(control)
    return str(guess_control(names).column)


def srm_test(counts: Any, weights: Any = None) -> float:
    """Sample ratio mismatch p-value (chi-square goodness of fit to the expected split; equal by default)."""
    keys = list(counts.keys()) if isinstance(counts, (dict, pd.Series)) else None
    raw = list(counts.values()) if isinstance(counts, dict) else list(counts)
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        raise DataError("Counts must be numbers of users per variant.") from None
    if any(v < 0 for v in values):
        raise DataError("Counts cannot be negative.")
    if isinstance(weights, (dict, pd.Series)):
        if keys is None:
            raise DataError("Expected weights by variant name need counts by variant name (a dict or Series).")
        missing = [k for k in keys if k not in weights]
        if missing:
            raise DataError(f"Expected split misses variant(s) {', '.join(map(str, missing))}.")
        weights = [weights[k] for k in keys]
    if weights is not None:
        weights = _check_weights(list(weights), len(values))
    return srm_p_value(values, weights)


def _check_weights(weights: list, n: int) -> list[float]:
    try:
        w = [float(x) for x in weights]
    except (TypeError, ValueError):
        raise DataError("Expected weights must be numbers (e.g. 50, 50 or 1, 1).") from None
    if len(w) != n:
        raise DataError(f"Give one expected weight per variant ({n}).")
    if any(x < 0 or not np.isfinite(x) for x in w) or sum(w) <= 0:
        raise DataError("Expected weights must be zero or positive, and not all zero.")
    return w


def _check_tuning(sequential_tuning: float | None) -> float | None:
    if sequential_tuning is None:
        return None
    try:
        value = float(sequential_tuning)
    except (TypeError, ValueError):
        raise DataError("sequential_tuning is the expected total number of users: a positive number.") from None
    if not value > 0:
        raise DataError("sequential_tuning is the expected total number of users: a positive number.")
    return value


def _weights_for(names: list[str], weights: Any) -> list[float] | None:
    if weights is None:
        return None
    if isinstance(weights, (dict, pd.Series)):
        by_name = {str(k): v for k, v in weights.items()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(f"Expected split misses variant(s) {', '.join(missing)}.")
        return _check_weights([by_name[n] for n in names], len(names))
    return _check_weights(list(weights), len(names))


def _arm(row: pd.Series, binary: bool) -> Arm:
    return Arm(n=row["n"], sum=row["sum"], sum_sq=row["sum_sq"], binary=binary,
               x_sum=row.get("x_sum", 0.0), x_sum_sq=row.get("x_sum_sq", 0.0), xy_sum=row.get("xy_sum", 0.0),
               d_sum=row.get("d_sum", 0.0), d_sum_sq=row.get("d_sum_sq", 0.0), md_sum=row.get("md_sum", 0.0))


def _rows_for(metric: str, mtype: str, arms: dict[str, Arm], control: str, *, alpha: float, covariate: bool,
              sequential_tuning: float | None, bayes: BayesMethod = "auto") -> tuple[list[dict], float]:
    """Compare every arm with control for one metric; returns table rows and the CUPED reduction."""
    small = [v for v, a in arms.items() if a.n < 2]
    if small:
        raise DataError(f"Variant(s) {', '.join(small)} have fewer than 2 users with a value of '{metric}'; "
                        "each variant needs at least 2 to estimate a spread.")
    ratio = mtype == "ratio"
    if ratio:
        zero = [v for v, a in arms.items() if a.d_sum == 0]
        if zero:
            raise DataError(f"The denominator sums to 0 in variant(s) {', '.join(zero)}; a ratio needs a non-zero denominator.")
    spread = [a.ratio_var_of_mean if ratio else a.var for a in arms.values()]
    if all((s == 0 or not np.isfinite(s)) for s in spread):
        raise DataError(f"'{metric}' has the same value for every user in every variant (zero variance); "
                        "there is nothing to test.")
    theta = pooled_theta(list(arms.values())) if covariate else None
    c = arms[control]
    rows, reductions = [], []
    for v, a in arms.items():
        if v == control:
            continue
        cmp = compare(a, c, alpha=alpha, ratio=ratio, cuped=covariate, theta=theta, sequential_tuning=sequential_tuning,
                      bayes=bayes)
        reductions.append(cmp.variance_reduction)
        rows.append({"metric": metric, "metric_type": mtype, "variant": v, "n": int(a.n), "mean": cmp.mean_t,
                     "control_n": int(c.n), "control_mean": cmp.mean_c, "abs_lift": cmp.abs_lift,
                     "abs_ci_low": cmp.abs_ci[0], "abs_ci_high": cmp.abs_ci[1], "rel_lift": cmp.rel_lift,
                     "rel_ci_low": cmp.rel_ci[0], "rel_ci_high": cmp.rel_ci[1], "p_value": cmp.p_value,
                     "chance_to_beat": cmp.chance_to_beat, "expected_loss": cmp.expected_loss,
                     "rel_credible_low": cmp.credible[0], "rel_credible_high": cmp.credible[1]})
    return rows, float(np.mean(reductions)) if reductions else 0.0


def _finish(rows: list[dict], *, alpha: float, correction: str) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    method = CORRECTIONS.get(str(correction).lower(), "missing")
    if method == "missing":
        raise DataError(f"correction must be one of holm, bonferroni, bh (Benjamini-Hochberg) or none, not {correction!r}.")
    p = table["p_value"].to_numpy(dtype="float64")
    if not method or len(p) < 2:
        table["p_adjusted"] = p
    elif method == "holm":
        table["p_adjusted"] = holm_adjusted(p)
    else:
        table["p_adjusted"] = multipletests(p, alpha=alpha, method=method)[1]
    table["significant"] = table["p_adjusted"] < alpha
    return table[TABLE_COLUMNS]


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%" if np.isfinite(x) else "n/a"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def relative_interval_note(r: Any, control: str, level: str = "95%") -> str:
    """Why a significant result can have a relative interval that includes 0, and which number to read.

    The relative lift divides by the control's value; with few conversions in the control (or a control
    mean that is small next to its uncertainty) the delta-method interval of that ratio becomes very wide
    and even crosses 0 while the absolute difference is clearly away from 0.
    """
    rel = f"{_pct(r.rel_ci_low)} to {_pct(r.rel_ci_high)}"
    if r.metric_type == "binary":
        conversions = int(round(r.control_mean * r.control_n))
        why = (f"the control ({control}) has only {conversions:,} conversion{'' if conversions == 1 else 's'}, so the "
               "relative lift, which divides by the control's rate, is very uncertain")
        absolute = f"{points(r.abs_lift)} ({level} CI {points(r.abs_ci_low)} to {points(r.abs_ci_high)})"
    else:
        why = (f"the control's ({control}) value ({significant(r.control_mean)}) is small next to its uncertainty, "
               "so the relative lift, which divides by it, is very uncertain")
        absolute = (f"{significant(r.abs_lift)} ({level} CI {significant(r.abs_ci_low)} to "
                    f"{significant(r.abs_ci_high)})")
    return (f"The relative interval for {r.variant} ({rel}) includes 0 although the test is significant: {why}. "
            f"Read the absolute difference instead: {absolute}.")


def summary_text(table: pd.DataFrame, srm_p: float, alpha: float, control: str, sequential: bool = False) -> str:
    """Plain words a manager can paste into an email."""
    level = f"{(1 - alpha) * 100:g}%"
    parts = []
    for r in table.itertuples():
        what = r.metric.replace("_", " ")
        relative = bool(np.isfinite(r.rel_lift))
        if relative:
            interval = f"{level} CI {_pct(r.rel_ci_low)} to {_pct(r.rel_ci_high)}, {_p(r.p_adjusted)}"
            size, change = f"{abs(r.rel_lift) * 100:.1f}%", _pct(r.rel_lift)
        else:  # control at 0: no relative lift, say it in the metric's own units
            interval = f"{level} CI {r.abs_ci_low:+.4g} to {r.abs_ci_high:+.4g}, {_p(r.p_adjusted)}"
            size, change = f"{abs(r.abs_lift):.4g}", f"{r.abs_lift:+.4g}"
        if r.significant:
            verb = "raised" if r.abs_lift > 0 else "lowered"
            parts.append(f"{r.variant} {verb} {what} by {size} against {control} ({interval}).")
        else:
            parts.append(f"{r.variant} changed {what} by {change} against {control} ({interval}): "
                         "not significant, the difference may be chance.")
        if r.significant and np.isfinite(r.rel_ci_low) and (r.rel_ci_low < 0 < r.rel_ci_high):
            parts.append(relative_interval_note(r, control, level))
    if srm_p < SRM_ALPHA:
        parts.append(f"Warning: the sample split does not match the planned split ({_p(srm_p)}); something in "
                     "the assignment or tracking is broken, so these results should not be trusted until it is fixed.")
    else:
        parts.append("The sample split looks healthy.")
    if sequential:
        parts.append("Sequential mode: intervals stay valid however often you look.")
    return " ".join(parts)


def analyze(data: pd.DataFrame | ibis.Table, variant: str, metric: str | list[str], *, control: str | None = None,
            metric_type: str = "auto", covariate: str | None = None, denominator: str | None = None,
            alpha: float = 0.05, correction: str = "holm", sequential_tuning: float | None = None,
            winsorize: float | None = None, weights: Any = None, user: str | None = None,
            dedupe: Dedupe | None = None, time: str | None = None, bayes: BayesMethod = "auto") -> ExperimentResult:
    """Analyse a per-user table: every metric, every variant against control.

    metric_type: "binary" (0/1 conversions), "continuous" (per-user values such as revenue), "ratio"
    (metric / denominator summed per arm, delta method) or "auto". covariate: pre-period value for
    CUPED. winsorize: cap continuous metrics at this percentile (e.g. 0.99). weights: expected split
    for the sample ratio mismatch check (equal by default). sequential_tuning: expected total users
    for always-valid (sequential) intervals. user: the user id column; the result's `assignment` says
    whether the table is one row per user (a warning when not). dedupe: "first" keeps each user's first
    exposure (earliest `time` when given, else row order; see core.experiments.assignment),
    "drop_multi" drops users seen in several variants; `cleaning` says what was removed.
    bayes: how chance to beat control is computed (see core.experiments.stats.BayesMethod).
    """
    _check_alpha(alpha)
    assignment, cleaning = None, None
    if dedupe is not None and not user:
        raise DataError("Removing repeated users needs the user id column (user=...).")
    if user:
        assignment = check_assignment(data, variant, user)
        if dedupe is not None:
            data, cleaning = dedupe_users(data, variant, user, dedupe, time=time, check=assignment)
    sequential_tuning = _check_tuning(sequential_tuning)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not metrics:
        raise DataError("Pick at least one metric to analyse.")
    if metric_type not in ("auto",) + METRIC_TYPES:
        raise DataError(f"metric_type must be auto, binary, continuous or ratio, not {metric_type!r}.")
    if metric_type == "ratio" and not denominator:
        raise DataError("A ratio metric needs a denominator column (e.g. orders for revenue per order).")
    counts = variant_counts(data, variant)
    check_levels(counts, variant)
    names = [str(v) for v in counts.index]
    ctrl = choose_control(names, control)
    w = _weights_for(names, weights)
    rows: list[dict] = []
    arms_rows: list[dict] = []
    cuped: dict[str, float] = {}
    warnings: list[str] = []
    if assignment is not None and not assignment.ok and cleaning is None:
        warnings.append(assignment.message(user or "user"))
    for m in metrics:
        mtype = metric_type
        if mtype == "auto":
            if denominator:
                mtype = "ratio"
            else:
                prof = metric_profile(data, m)
                mtype = "binary" if prof["n"] > 0 and prof["non01"] == 0 else "continuous"
        elif mtype == "binary":
            prof = metric_profile(data, m)
            if prof["non01"] > 0:
                raise DataError(f"'{m}' is set as a 0/1 (binary) metric but has values other than 0 and 1 "
                                f"(from {prof['lo']:g} to {prof['hi']:g}). Use continuous, or a 0/1 column.")
        cap = None
        if winsorize and mtype != "binary":
            cap = metric_cap(data, m, float(winsorize))
        s = summarize(data, variant, m, covariate=covariate if mtype != "ratio" else None,
                      denominator=denominator if mtype == "ratio" else None, winsorize_at=cap)
        if covariate and mtype != "ratio" and s.get("x_missing", pd.Series([0])).sum() > 0:
            k = int(s["x_missing"].sum())
            raise DataError(f"The covariate '{covariate}' is missing for {k:,} user(s). CUPED needs it for everyone: "
                            "fill it (e.g. 0 for no pre-period activity) or turn CUPED off.")
        if s["missing"].sum() > 0:
            warnings.append(f"'{m}' is empty for {int(s['missing'].sum()):,} user(s); they are left out of that metric.")
        if cap is not None:
            warnings.append(f"'{m}' was capped at {cap:,.2f} (the {winsorize:.0%} percentile) to tame outliers.")
        arms = {str(r["variant"]): _arm(r, mtype == "binary") for _, r in s.iterrows()}
        missing_arms = [v for v in names if v not in arms]
        if missing_arms:
            raise DataError(f"Variant(s) {', '.join(missing_arms)} have no users with a value of '{m}'.")
        m_rows, reduction = _rows_for(m, mtype, arms, ctrl, alpha=alpha, covariate=bool(covariate) and mtype != "ratio",
                                      sequential_tuning=sequential_tuning, bayes=bayes)
        rows += m_rows
        if covariate and mtype != "ratio":
            cuped[m] = reduction
        for v, a in arms.items():
            arms_rows.append({"metric": m, "variant": v, "n": int(a.n),
                              "mean": a.ratio if mtype == "ratio" else a.mean, "is_control": v == ctrl})
    table = _finish(rows, alpha=alpha, correction=correction)
    srm = srm_p_value([float(counts[v]) for v in names], w)
    text = summary_text(table, srm, alpha, ctrl, bool(sequential_tuning))
    if cleaning is not None:
        text += " " + cleaning.message()
    return ExperimentResult(table=table, srm_p_value=srm, summary_text=text,
                            control=ctrl, counts=counts, expected_weights=w or [1.0] * len(names), alpha=alpha,
                            correction=correction, sequential=bool(sequential_tuning), arms=pd.DataFrame(arms_rows),
                            cuped=cuped, warnings=warnings, assignment=assignment, cleaning=cleaning)


def analyze_summary(summary: pd.DataFrame, *, control: str | None = None, metric_type: str = "auto",
                    alpha: float = 0.05, correction: str = "holm", sequential_tuning: float | None = None,
                    metric: str = "metric", weights: Any = None, bayes: BayesMethod = "auto") -> ExperimentResult:
    """Analyse per-variant totals: columns variant, n and either conversions, or mean and std, or sum and sum_sq."""
    _check_alpha(alpha)
    sequential_tuning = _check_tuning(sequential_tuning)
    if not isinstance(summary, pd.DataFrame) or "variant" not in summary or "n" not in summary:
        raise DataError("The summary needs columns variant and n, plus conversions, or mean and std, or sum and sum_sq.")
    s = summary.dropna(subset=["variant"]).copy()
    s["variant"] = s["variant"].astype(str).str.strip()
    if s["variant"].duplicated().any():
        raise DataError("Each variant must appear once in the summary.")
    if len(s) < 2:
        raise DataError("The summary needs a control and at least one variant (two rows or more).")
    if len(s) > MAX_VARIANTS:
        raise DataError(f"At most {MAX_VARIANTS} variants.")
    n = pd.to_numeric(s["n"], errors="coerce")
    if n.isna().any() or (n <= 0).any():
        raise DataError("Users (n) must be a positive number for every variant.")
    s["n"] = n
    if "conversions" in s:
        conv = pd.to_numeric(s["conversions"], errors="coerce")
        if conv.isna().any() or (conv < 0).any() or (conv > n).any():
            raise DataError("Conversions must be between 0 and the number of users for every variant.")
        s["sum"], s["sum_sq"] = conv, conv
        mtype = "binary" if metric_type in ("auto", "binary") else metric_type
    elif {"mean", "std"} <= set(s.columns):
        mean, std = pd.to_numeric(s["mean"], errors="coerce"), pd.to_numeric(s["std"], errors="coerce")
        if mean.isna().any() or std.isna().any() or (std < 0).any():
            raise DataError("Mean and std must be numbers (std zero or positive) for every variant.")
        s["sum"] = mean * n
        s["sum_sq"] = (n - 1) * std ** 2 + n * mean ** 2
        mtype = "continuous" if metric_type == "auto" else metric_type
    elif {"sum", "sum_sq"} <= set(s.columns):
        s["sum"], s["sum_sq"] = pd.to_numeric(s["sum"], errors="coerce"), pd.to_numeric(s["sum_sq"], errors="coerce")
        if s[["sum", "sum_sq"]].isna().any().any() or (s["sum_sq"] < 0).any():
            raise DataError("sum and sum_sq must be numbers (sum_sq zero or positive) for every variant.")
        mtype = "continuous" if metric_type == "auto" else metric_type
    else:
        raise DataError("The summary needs conversions, or mean and std, or sum and sum_sq next to variant and n.")
    if mtype not in ("binary", "continuous"):
        raise DataError("A summary can be analysed as binary or continuous.")
    if mtype == "binary" and ((s["sum"] < 0) | (s["sum"] > s["n"])).any():
        raise DataError("A conversion (binary) summary needs a rate between 0 and 1 for every variant: "
                        "conversions between 0 and users, or a mean between 0 and 1.")
    impossible = s["sum_sq"] < s["sum"] ** 2 / s["n"] * (1 - 1e-9) - 1e-9
    if mtype == "continuous" and impossible.any():
        bad = ", ".join(s.loc[impossible, "variant"])
        raise DataError(f"sum_sq is smaller than sum^2 / n for {bad}, which no data can produce; check the totals.")
    names = sort_names(s["variant"])
    ctrl = choose_control(names, control)
    arms = {r["variant"]: _arm(r, mtype == "binary") for _, r in s.iterrows()}
    rows, _ = _rows_for(metric, mtype, arms, ctrl, alpha=alpha, covariate=False, sequential_tuning=sequential_tuning,
                        bayes=bayes)
    table = _finish(rows, alpha=alpha, correction=correction)
    counts = s.set_index("variant")["n"].reindex(names)
    w = _weights_for(names, weights)
    srm = srm_p_value(counts.tolist(), w)
    arms_df = pd.DataFrame([{"metric": metric, "variant": v, "n": int(a.n), "mean": a.mean, "is_control": v == ctrl}
                            for v, a in arms.items()])
    return ExperimentResult(table=table, srm_p_value=srm, summary_text=summary_text(table, srm, alpha, ctrl, bool(sequential_tuning)),
                            control=ctrl, counts=counts.astype("int64"), expected_weights=w or [1.0] * len(names),
                            alpha=alpha, correction=correction,
                            sequential=bool(sequential_tuning), arms=arms_df)


# ---------------------------------------------------------------------------- over time and by segment
def timeline(data: pd.DataFrame | ibis.Table, variant: str, metric: str, date: str, *, control: str | None = None,
             metric_type: str = "auto", alpha: float = 0.05, sequential_tuning: float | None = None,
             denominator: str | None = None) -> pd.DataFrame:
    """Cumulative read-out by exposure day: per day and variant, users and mean so far, and for each
    non-control variant the cumulative relative lift with its interval."""
    prof_binary = metric_type == "binary" or (metric_type == "auto" and not denominator
                                              and metric_profile(data, metric)["non01"] == 0)
    ratio = bool(denominator)
    daily = summarize(data, variant, metric, date=date, denominator=denominator).dropna(subset=["date"])
    if daily.empty:
        raise DataError(f"No rows with a readable date in '{date}'.")
    ctrl = choose_control(daily["variant"].unique(), control)
    sums = [c for c in daily.columns if c not in ("variant", "date")]
    days = sorted(daily["date"].unique())
    full = (daily.set_index(["variant", "date"])[sums]
            .reindex(pd.MultiIndex.from_product([sorted(daily["variant"].unique()), days], names=["variant", "date"]))
            .fillna(0).groupby(level="variant").cumsum().reset_index())
    rows = []
    for day, g in full.groupby("date"):
        arms = {str(r["variant"]): _arm(r, prof_binary) for _, r in g.iterrows()}
        c = arms.get(ctrl)
        for v, a in arms.items():
            try:
                value = (a.ratio if ratio else a.mean) if a.n else np.nan
            except ZeroDivisionError:
                value = np.nan
            row = {"date": day, "variant": v, "n": int(a.n), "mean": value}
            if v != ctrl and c is not None and a.n >= 2 and c.n >= 2:
                try:
                    cmp = compare(a, c, alpha=alpha, ratio=ratio, sequential_tuning=sequential_tuning, bayes="none")
                    row.update(rel_lift=cmp.rel_lift, rel_ci_low=cmp.rel_ci[0], rel_ci_high=cmp.rel_ci[1],
                               p_value=cmp.p_value)
                except (ZeroDivisionError, ValueError):
                    pass
            rows.append(row)
    out = pd.DataFrame(rows)
    out["date"] = pd.to_datetime(out["date"])
    return out


def breakdown(data: pd.DataFrame | ibis.Table, variant: str, metric: str, by: str, *, control: str | None = None,
              metric_type: str = "auto", alpha: float = 0.05, max_levels: int = 30) -> pd.DataFrame:
    """The effect per level of an attribute (segment, channel ...): one row per level and non-control variant."""
    binary = metric_type == "binary" or (metric_type == "auto" and metric_profile(data, metric)["non01"] == 0)
    s = summarize(data, variant, metric, by=by)
    levels = s["level"].dropna().unique()
    if len(levels) > max_levels:
        raise DataError(f"'{by}' has {len(levels)} levels; break results down by an attribute with at most {max_levels}.")
    ctrl = choose_control(s["variant"].unique(), control)
    rows = []
    for level, g in s.groupby("level"):
        arms = {str(r["variant"]): _arm(r, binary) for _, r in g.iterrows()}
        c = arms.get(ctrl)
        for v, a in arms.items():
            if v == ctrl or c is None or a.n < 2 or c.n < 2:
                continue
            cmp = compare(a, c, alpha=alpha, bayes="none")
            rows.append({"level": level, "variant": v, "n": int(a.n), "control_n": int(c.n), "mean": cmp.mean_t,
                         "control_mean": cmp.mean_c, "rel_lift": cmp.rel_lift, "rel_ci_low": cmp.rel_ci[0],
                         "rel_ci_high": cmp.rel_ci[1], "p_value": cmp.p_value})
    return pd.DataFrame(rows, columns=["level", "variant", "n", "control_n", "mean", "control_mean", "rel_lift",
                                       "rel_ci_low", "rel_ci_high", "p_value"])


def combine(results: list[ExperimentResult], *, alpha: float = 0.05, correction: str = "holm") -> ExperimentResult:
    """One read-out from several analyses of the same test (e.g. per-user metrics plus a ratio metric):
    tables stacked, the multiple-comparison correction applied across all their rows."""
    if not results:
        raise DataError("Nothing to combine.")
    first = results[0]
    rows = pd.concat([r.table for r in results], ignore_index=True)
    table = _finish(rows.drop(columns=["p_adjusted", "significant"]).to_dict("records"), alpha=alpha, correction=correction)
    arms = pd.concat([r.arms for r in results if r.arms is not None], ignore_index=True)
    return ExperimentResult(
        table=table, srm_p_value=first.srm_p_value,
        summary_text=summary_text(table, first.srm_p_value, alpha, first.control, first.sequential)
        + (" " + first.cleaning.message() if first.cleaning is not None else ""),
        control=first.control, counts=first.counts, expected_weights=first.expected_weights, alpha=alpha,
        correction=correction, sequential=first.sequential, arms=arms,
        cuped={k: v for r in results for k, v in r.cuped.items()}, warnings=list(dict.fromkeys(w for r in results for w in r.warnings)),
        assignment=first.assignment, cleaning=first.cleaning)
