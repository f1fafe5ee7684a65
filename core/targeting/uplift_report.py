"""The read-out parts of an uplift model: the four groups, each arm's hold-out report, the features that
drive the predicted uplift, and a plain-language summary (used by core.targeting.uplift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from core.errors import DataError
from core.formatting import p_value
from core.wording import plural
from core.targeting.uplift_metrics import qini_auc, qini_p_value, uplift_at_k

GROUPS = ("persuadable", "sure thing", "lost cause", "do not disturb")
GROUP_TEXT = {
    "persuadable": "Persuadables: respond only if contacted — target them.",
    "sure thing": "Sure things: respond whether contacted or not — contacting them buys nothing.",
    "lost cause": "Lost causes: do not respond either way — contacting them wastes the send.",
    "do not disturb": "Do-not-disturbs: respond less when contacted — leave them out.",
}
IMPORTANCE_ROWS = 4000  # hold-out rows used for permutation importance
IMPORTANCE_REPEATS = 3


def assign_groups(p_treated: Any, p_control: Any, threshold: float) -> np.ndarray:
    """The four groups from the predicted outcome if treated and if not, against one threshold: respond
    (p >= threshold) if treated and not if not = persuadable; both = sure thing; neither = lost cause;
    only if not treated = do not disturb. So persuadables always have positive predicted uplift and
    do-not-disturbs negative. fit_uplift's threshold is the mean outcome of the test (customers more
    likely than the average to respond count as responding), not 0.5: at a 10% visit rate almost every
    customer would otherwise be a lost cause."""
    pt, pc = np.asarray(p_treated, dtype=float), np.asarray(p_control, dtype=float)
    yes_t, yes_c = pt >= threshold, pc >= threshold
    return np.select([yes_t & ~yes_c, yes_t & yes_c, ~yes_t & ~yes_c], list(GROUPS[:3]), GROUPS[3]).astype(object)


def group_summary(groups: Any) -> pd.DataFrame:
    """Customers per group with the one-line explanation: group, customers, share, explanation."""
    s = pd.Series(np.asarray(groups, dtype=object))
    counts = s.value_counts().reindex(list(GROUPS), fill_value=0)
    total = max(int(counts.sum()), 1)
    return pd.DataFrame({"group": list(GROUPS), "customers": counts.to_numpy(int),
                         "share": counts.to_numpy(float) / total, "explanation": [GROUP_TEXT[g] for g in GROUPS]})


@dataclass(frozen=True)
class ArmReport:
    """Hold-out results for one treated arm against the control."""

    arm: Any
    qini: float  # normalised Qini AUC on the hold-out (NaN when undefined)
    uplift_at_k: float  # uplift among the top k by predicted uplift (NaN when the top k lacks a group)
    ate: float  # observed treated minus control mean outcome on the hold-out, for reference
    holdout_rows: int
    curve: pd.DataFrame = field(repr=False)  # qini_curve(): line, customers, share, incremental
    deciles: pd.DataFrame = field(repr=False)  # uplift_by_decile()
    importance: pd.DataFrame = field(repr=False)  # feature, importance, share, direction
    qini_p: float = float("nan")  # permutation p-value of the Qini AUC (uplift_metrics.qini_p_value)


def permutation_importance(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, arms: Sequence[Any],
                           numeric: Sequence[str], random_state: int) -> dict[Any, pd.DataFrame]:
    """Per arm: how far shuffling one feature across customers moves their predicted uplift (mean absolute
    change, on a sample of IMPORTANCE_ROWS rows, IMPORTANCE_REPEATS shuffles), largest first; `share` of the
    total, and `direction`: Spearman correlation of a numeric feature with the predicted uplift (NaN for
    text). It explains the model, not the customers: a feature the model ignores scores 0 even if it matters."""
    rng = np.random.default_rng(random_state)
    if len(X) > IMPORTANCE_ROWS:
        X = X.iloc[rng.choice(len(X), IMPORTANCE_ROWS, replace=False)]
    X = X.reset_index(drop=True)
    base = predict(X).reshape(len(X), -1)
    rows: dict[Any, list[dict[str, Any]]] = {a: [] for a in arms}
    for f in X.columns:
        change = np.zeros(base.shape[1])
        for _ in range(IMPORTANCE_REPEATS):
            Xp = X.copy()
            Xp[f] = X[f].to_numpy()[rng.permutation(len(X))]
            change += np.abs(predict(Xp).reshape(len(X), -1) - base).mean(axis=0)
        x = pd.to_numeric(X[f], errors="coerce").astype(float) if f in numeric else None
        for j, arm in enumerate(arms):
            direction = float("nan")
            if x is not None and x.nunique() > 1 and np.std(base[:, j]) > 0:
                direction = float(pd.Series(base[:, j]).corr(x, method="spearman"))
            rows[arm].append({"feature": f, "importance": change[j] / IMPORTANCE_REPEATS, "direction": direction})
    out = {}
    for arm, r in rows.items():
        t = pd.DataFrame(r, columns=["feature", "importance", "direction"])
        total = t["importance"].sum()
        t["share"] = t["importance"] / total if total > 0 else 0.0
        out[arm] = t.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)[
            ["feature", "importance", "share", "direction"]]
    return out


def evaluate(y: np.ndarray, u: np.ndarray, t: np.ndarray, k: float | int) -> tuple[float, float, float, list[str]]:
    """(Qini AUC, its permutation p-value, uplift@k, notes): NaN with a note where a metric is undefined."""
    notes = []
    try:
        q = qini_auc(y, u, t)
        p = qini_p_value(y, u, t) if np.isfinite(q) else float("nan")
    except DataError as exc:
        q, p, notes = float("nan"), float("nan"), [f"Qini AUC not computed: {exc}"]
    try:
        at_k = uplift_at_k(y, u, t, k)
    except DataError as exc:
        at_k = float("nan")
        notes.append(f"uplift@k not computed: {exc}")
    return q, p, at_k, notes


SIGNIFICANT = 0.05  # the Qini p-value below which a ranking counts as better than chance


def _verdict(qini: float, p: float) -> str:
    """What a hold-out Qini AUC says, read with its p-value (without one, by size alone)."""
    better = p < SIGNIFICANT if np.isfinite(p) else qini > RANKS_BETTER_THAN_RANDOM
    worse = p > 1 - SIGNIFICANT if np.isfinite(p) else qini < -RANKS_BETTER_THAN_RANDOM
    if better and qini > RANKS_BETTER_THAN_RANDOM:
        return "ranks customers far better than random" if qini >= 0.2 else "ranks customers better than random"
    if worse and qini < -RANKS_BETTER_THAN_RANDOM:
        return "ranks customers worse than random: do not use it for targeting"
    return "ranks customers no better than random rankings often do: target everyone or no one"


def _p(value: float) -> str:
    text = p_value(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _amount(x: float, binary: bool) -> str:
    return f"{x * 100:+.1f} points" if binary else f"{x:+,.2f} per customer"


def readout_text(model: Any) -> list[str]:
    """Plain-language lines about a fitted UpliftModel's hold-out results, one per arm, then the groups."""
    binary = model.outcome_kind == "binary"
    k = model.k
    top = f"the top {k:.0%}" if isinstance(k, float) else f"the top {k:,}"
    lines = []
    for arm, r in model.reports.items():
        if not np.isfinite(r.qini):
            lines.append(f"{arm}: the hold-out could not rank customers (no Qini AUC).")
            continue
        verdict = _verdict(r.qini, r.qini_p)
        at_k = "" if not np.isfinite(r.uplift_at_k) else \
            f"; {top} by predicted uplift gained {_amount(r.uplift_at_k, binary)} of {model.outcome}"
        p = f", {_p(r.qini_p)} against random rankings" if np.isfinite(r.qini_p) else ""
        lines.append(f"{arm} vs {model.control}: the model {verdict} (Qini AUC {r.qini:.3f}{p}, on "
                     f"{r.holdout_rows:,} hold-out customers){at_k}, against {_amount(r.ate, binary)} on average.")
    g = model.groups
    if len(g):
        parts = [f"{row.group}s {row.share:.0%}" for row in g.itertuples()]
        lines.append("Groups among the test's customers: " + ", ".join(parts) + ".")
        if not ranks_customers(model):
            lines.append(GROUPS_CAUTION)
    return lines


RANKS_BETTER_THAN_RANDOM = 0.02  # a Qini AUC at or below this is too small to act on, whatever its p
GROUPS_CAUTION = ("The groups come from the model's predictions, and on the hold-out those rank customers no "
                  "better than random: read the groups as noise, not as who to target.")


def ranks_customers(model: Any) -> bool:
    """Whether any arm's hold-out ranking is better than random: Qini AUC above 0.02 and, where it was
    computed, a permutation p-value below 0.05 (a Qini of 0.03 on a small hold-out is often noise)."""
    return any(np.isfinite(r.qini) and r.qini > RANKS_BETTER_THAN_RANDOM and
               (not np.isfinite(r.qini_p) or r.qini_p < SIGNIFICANT) for r in model.reports.values())


def counts_text(counts: dict[str, int]) -> str:
    """The rows an uplift fit used, as a sentence: how many, per arm, fit and hold-out, and what was left
    out and why (nothing dropped silently)."""
    arms = [f"{k.removeprefix('rows: ')} {v:,}" for k, v in counts.items() if k.startswith("rows: ")]
    text = f"{plural(counts.get('used', 0), 'customer')} used of {plural(counts.get('rows', 0), 'row')}"
    if arms:
        text += f" ({', '.join(arms)})"
    if "training" in counts:
        text += f": {counts['training']:,} to fit, {counts.get('hold_out', 0):,} held out to check"
    why = {"dropped_treatment_missing": "without a treatment value", "dropped_outcome_missing": "without an outcome",
           "dropped_other_arms": "in arms not chosen"}
    left = [f"{counts[k]:,} {what}" for k, what in why.items() if counts.get(k)]
    return text + (f". Left out: {', '.join(left)}." if left else ".")
