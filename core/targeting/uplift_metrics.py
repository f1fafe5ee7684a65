"""Uplift metrics: the Qini curve, normalised Qini AUC, uplift@k and uplift by decile.

Definitions follow scikit-uplift 0.5.1 (`sklift.metrics`) so numbers can be compared with it:
- Qini curve at the top n customers ranked by predicted uplift: Q(n) = Y_T(n) - Y_C(n) * N_T(n) / N_C(n)
  (Y = responders, N = customers, T treated, C control; 0 when no control row is in the top n yet). Tied
  uplift values are taken together: the curve has one point per distinct uplift value, plus (0, 0).
- Perfect curve (`negative_effect=True`): the same curve for the score y*t - y*(1-t) (treated responders
  first, control responders last).
- Normalised Qini AUC = (area under model - area under random) / (area under perfect - area under random),
  trapezoid areas, random = the straight line from (0, 0) to the perfect curve's end point.
- uplift@k, "overall" strategy: the top k of all rows by uplift (k a share in (0, 1) -> int(n * k) rows, or
  an int count); response rate of the treated among them minus that of the control. Ties are ordered as
  sklift orders them (a stable sort reversed: among equal uplifts the later row comes first).

scikit-uplift accepts only 0/1 outcomes; here a numeric outcome (revenue) uses the same formulas with sums
of revenue in place of responders (incremental revenue), which is how the Qini curve is read for revenue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError


def _arrays(y: Any, uplift: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float outcome, float uplift and 0/1 int treatment arrays of one length."""
    try:
        y_a = np.asarray(y, dtype=float).ravel()
        u_a = np.asarray(uplift, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError("The outcome and the uplift must be numbers (0/1 or amounts): convert them first.") from exc
    t_raw = np.asarray(treatment).ravel()
    if not (len(y_a) == len(u_a) == len(t_raw)):
        raise DataError(f"The outcome ({len(y_a)} rows), uplift ({len(u_a)}) and treatment ({len(t_raw)}) "
                        "must have the same length.")
    if len(y_a) == 0:
        raise DataError("There are no rows to evaluate.")
    if np.isnan(y_a).any() or np.isnan(u_a).any():
        raise DataError("The outcome or the uplift has missing values: drop or fill those rows first.")
    try:
        t_f = t_raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError("The treatment must be 0 (control) or 1 (treated).") from exc
    if not np.isin(t_f, (0.0, 1.0)).all():
        raise DataError("The treatment must be 0 (control) or 1 (treated); map the arm's values to 0/1 first.")
    t_a = t_f.astype(int)
    if t_a.min() == t_a.max():
        which = "treated" if t_a[0] == 1 else "control"
        raise DataError(f"Every row is {which}: uplift needs both treated (1) and control (0) rows.")
    return y_a, u_a, t_a


def _order(uplift: np.ndarray) -> np.ndarray:
    """Row order by uplift, highest first, as sklift orders it (stable ascending sort, reversed)."""
    return np.argsort(uplift, kind="mergesort")[::-1]


def _curve_points(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(customers targeted, Qini value) at (0, 0) and at the end of every run of tied scores."""
    o = _order(score)
    y, t, score = y[o], t[o], score[o]
    ends = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    n_t = np.cumsum(t)[ends].astype(float)
    n_all = (ends + 1).astype(float)
    n_c = n_all - n_t
    y_t = np.cumsum(y * t)[ends]
    y_c = np.cumsum(y * (1 - t))[ends]
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, y_t - y_c * ratio]


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def qini_auc(y: Any, uplift: Any, treatment: Any) -> float:
    """Normalised area under the Qini curve, as scikit-uplift's `qini_auc_score` (negative_effect=True).

    1 = the perfect ranking, 0 = no better than random, below 0 = worse than random. treatment is 0/1.
    NaN when the perfect curve is no better than random (no responders, or no effect to find)."""
    y_a, u_a, t_a = _arrays(y, uplift, treatment)
    x_m, q_m = _curve_points(y_a, u_a, t_a)
    x_p, q_p = _curve_points(y_a, y_a * t_a - y_a * (1 - t_a), t_a)
    random = _area(np.array([0.0, x_p[-1]]), np.array([0.0, q_p[-1]]))
    perfect = _area(x_p, q_p) - random
    if perfect == 0:
        return float("nan")
    return (_area(x_m, q_m) - random) / perfect


QINI_PERMUTATIONS = 199  # random rankings for the Qini p-value (the smallest p is 1/200 = 0.005)
QINI_P_ROWS = 50_000  # above this many rows the p-value is computed on a random sample of them (time)


def qini_p_value(y: Any, uplift: Any, treatment: Any, *, permutations: int = QINI_PERMUTATIONS,
                 random_state: int = 0, max_rows: int = QINI_P_ROWS) -> float:
    """One-sided permutation p-value of the Qini AUC: the share of random rankings (the same scores,
    shuffled across customers) whose Qini AUC is at least the model's, counting the model's own
    ((1 + hits) / (1 + permutations), Phipson and Smyth 2010). Small: the model ranks better than chance
    would on these hold-out rows; a Qini of 0.03 on 1,200 rows can be pure noise. NaN when the Qini AUC
    is undefined. Only the model's area changes between rankings, so each costs one sort. Above
    `max_rows` rows the test runs on a random sample of that many (the same random_state), which keeps
    it to about a second: 300,000 rows took 12 s."""
    y_a, u_a, t_a = _arrays(y, uplift, treatment)
    rng = np.random.default_rng(random_state)
    if len(y_a) > max_rows:
        keep = np.sort(rng.choice(len(y_a), int(max_rows), replace=False))
        if 0 < t_a[keep].sum() < len(keep):
            y_a, u_a, t_a = y_a[keep], u_a[keep], t_a[keep]
    observed = qini_auc(y_a, u_a, t_a)
    if not np.isfinite(observed):
        return float("nan")
    x_p, q_p = _curve_points(y_a, y_a * t_a - y_a * (1 - t_a), t_a)
    random = _area(np.array([0.0, x_p[-1]]), np.array([0.0, q_p[-1]]))
    perfect = _area(x_p, q_p) - random
    hits = 0
    for _ in range(int(permutations)):
        x_m, q_m = _curve_points(y_a, u_a[rng.permutation(len(u_a))], t_a)
        hits += (_area(x_m, q_m) - random) / perfect >= observed - 1e-12
    return (1 + hits) / (1 + int(permutations))


def _top_size(k: float | int, n: int) -> int:
    if isinstance(k, (bool, np.bool_)):
        raise DataError(f"k must be a share in (0, 1) or a number of rows, not {k!r}.")
    if isinstance(k, (int, np.integer)):
        if not 0 < k < n:
            raise DataError(f"k = {k} rows must be between 1 and {n - 1} (the rows evaluated minus one).")
        return int(k)
    if isinstance(k, (float, np.floating)):
        if not 0 < k < 1:
            raise DataError(f"k = {k} must be a share between 0 and 1 (e.g. 0.3 for the top 30%) or a row count.")
        size = int(n * float(k))
        if size == 0:
            raise DataError(f"k = {k} of {n:,} rows selects no row: choose a larger share.")
        return size
    raise DataError(f"k must be a share in (0, 1) or a number of rows, not {k!r}.")


def uplift_at_k(y: Any, uplift: Any, treatment: Any, k: float | int = 0.3) -> float:
    """Uplift among the top k customers by predicted uplift ("overall" strategy of scikit-uplift):
    mean outcome of the treated minus that of the control within the top k of all rows.

    k: a share in (0, 1) (top int(n * k) rows) or an int number of rows. Raises DataError when the top k
    holds no treated or no control row (the difference is undefined: choose a larger k)."""
    y_a, u_a, t_a = _arrays(y, uplift, treatment)
    size = _top_size(k, len(y_a))
    top = _order(u_a)[:size]
    yt, tt = y_a[top], t_a[top]
    if tt.sum() == 0 or tt.sum() == size:
        which = "control" if tt.sum() == size else "treated"
        raise DataError(f"The top {size:,} rows by uplift hold no {which} row, so uplift@k is undefined there: "
                        "choose a larger k.")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())


def qini_curve(y: Any, uplift: Any, treatment: Any, *, max_points: int | None = None) -> pd.DataFrame:
    """The Qini curve with its random and perfect lines, long format for charts and tables.

    Columns: line ("model", "random", "perfect"), customers (top n targeted), share (n / all rows),
    incremental (Q(n): extra responders, or extra revenue, from treating the top n instead of nobody).
    max_points thins the model and perfect lines for plotting (ends and shape kept; the AUC does not use it).
    """
    y_a, u_a, t_a = _arrays(y, uplift, treatment)
    n = len(y_a)
    x_m, q_m = _curve_points(y_a, u_a, t_a)
    x_p, q_p = _curve_points(y_a, y_a * t_a - y_a * (1 - t_a), t_a)
    parts = []
    for line, x, q in (("model", x_m, q_m), ("random", np.array([0.0, n]), np.array([0.0, q_p[-1]])),
                       ("perfect", x_p, q_p)):
        if max_points is not None and len(x) > max_points:
            keep = np.unique(np.r_[np.linspace(0, len(x) - 1, max_points).round().astype(int), np.argmax(q),
                                   np.argmin(q)])
            x, q = x[keep], q[keep]
        parts.append(pd.DataFrame({"line": line, "customers": x.astype(int), "share": x / n, "incremental": q}))
    return pd.concat(parts, ignore_index=True)


def uplift_by_decile(y: Any, uplift: Any, treatment: Any, *, bins: int = 10) -> pd.DataFrame:
    """Observed uplift per decile of predicted uplift (1 = the highest predicted tenth), and cumulated.

    Columns: decile, customers, treated, control (counts), treated_rate, control_rate (mean outcome: the
    response rate for 0/1, revenue per customer for revenue), uplift (treated_rate - control_rate),
    predicted_uplift (mean prediction), and the same cumulated from decile 1: cum_customers, cum_treated,
    cum_control, cum_treated_rate, cum_control_rate, cum_uplift. Rows are ranked as uplift_at_k ranks them
    and cut into equal-count groups; a rate is NaN where a decile has no treated or no control row."""
    y_a, u_a, t_a = _arrays(y, uplift, treatment)
    n = len(y_a)
    if not 1 <= bins <= n:
        raise DataError(f"Cannot cut {n:,} rows into {bins} groups: use between 1 and {n:,} groups.")
    o = _order(u_a)
    decile = np.empty(n, dtype=int)
    decile[o] = np.arange(n) * bins // n + 1
    frame = pd.DataFrame({"decile": decile, "y": y_a, "t": t_a, "u": u_a})
    frame["yt"], frame["yc"] = frame["y"] * frame["t"], frame["y"] * (1 - frame["t"])
    g = frame.groupby("decile").agg(customers=("y", "size"), treated=("t", "sum"), yt=("yt", "sum"),
                                    yc=("yc", "sum"), predicted_uplift=("u", "mean")).reindex(range(1, bins + 1))
    g["control"] = g["customers"] - g["treated"]
    out = pd.DataFrame({"decile": g.index.astype(int), "customers": g["customers"].to_numpy(int),
                        "treated": g["treated"].to_numpy(int), "control": g["control"].to_numpy(int)})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["treated_rate"] = (g["yt"] / g["treated"].where(g["treated"] > 0)).to_numpy(float)
        out["control_rate"] = (g["yc"] / g["control"].where(g["control"] > 0)).to_numpy(float)
        out["uplift"] = out["treated_rate"] - out["control_rate"]
        out["predicted_uplift"] = g["predicted_uplift"].to_numpy(float)
        c = g[["customers", "treated", "control", "yt", "yc"]].cumsum()
        out["cum_customers"] = c["customers"].to_numpy(int)
        out["cum_treated"] = c["treated"].to_numpy(int)
        out["cum_control"] = c["control"].to_numpy(int)
        out["cum_treated_rate"] = (c["yt"] / c["treated"].where(c["treated"] > 0)).to_numpy(float)
        out["cum_control_rate"] = (c["yc"] / c["control"].where(c["control"] > 0)).to_numpy(float)
        out["cum_uplift"] = out["cum_treated_rate"] - out["cum_control_rate"]
    return out
