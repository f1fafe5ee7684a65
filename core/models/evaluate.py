"""Model evaluation: hold-out metrics, curves, confusion matrix, and the marketer's decile lift table."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss, f1_score, log_loss,
                             mean_absolute_error, precision_recall_curve, precision_score, r2_score,
                             recall_score, roc_auc_score, roc_curve, root_mean_squared_error)

from core.errors import DataError

MULTICLASS_METRICS = ("roc_auc", "accuracy", "f1", "log_loss")
HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "accuracy": True, "precision": True, "recall": True,
                    "f1": True, "log_loss": False, "brier": False, "r2": True, "mae": False, "rmse": False}


def lift_table(y_true: object, scores: object, bins: int = 10) -> pd.DataFrame:
    """Decile lift / gains: customers sorted by score (highest first) in `bins` equal-count groups.

    Groups are quantiles of the score's rank (pandas qcut); ties keep the input order, so the table
    is deterministic. For a
    0/1 target, responders are buyers; for a numeric target they are the summed value (e.g. spend).
    Columns: decile (1 = highest scores), customers, responders, response_rate, lift (rate / overall
    rate), cumulative_capture (share of all responders in deciles 1..d), cumulative_lift.
    """
    if int(bins) != bins:
        raise DataError("bins must be a whole number (10 for deciles).")
    bins = int(bins)
    s_arr = np.asarray(scores)
    if s_arr.ndim != 1:
        raise DataError("scores must be one number per customer (for predict_proba output, pass its positive column).")
    y = _as_outcome(y_true)
    try:
        s = s_arr.astype("float64")
    except (TypeError, ValueError):
        raise DataError("scores must be numbers.") from None
    if y.shape != s.shape:
        raise DataError(f"y_true has {len(y):,} values but scores has {len(s):,}; they must match.")
    ok = ~(np.isnan(y) | np.isnan(s))
    y, s = y[ok], s[ok]
    n = len(y)
    if n == 0:
        raise DataError("No customers with both an outcome and a score.")
    if bins < 1 or bins > n:
        raise DataError(f"bins must be between 1 and the number of customers ({n:,}).")
    frame = pd.DataFrame({"decile": score_deciles(s, bins), "y": y})
    g = frame.groupby("decile")["y"]
    out = pd.DataFrame({"customers": g.size(), "responders": g.sum()}).reset_index()
    total, overall = out["responders"].sum(), out["responders"].sum() / n
    out["response_rate"] = out["responders"] / out["customers"]
    out["lift"] = out["response_rate"] / overall if overall else np.nan
    cum_resp, cum_n = out["responders"].cumsum(), out["customers"].cumsum()
    out["cumulative_capture"] = cum_resp / total if total else np.nan
    out["cumulative_lift"] = (cum_resp / cum_n) / overall if overall else np.nan
    return out


def _as_outcome(y_true: object) -> np.ndarray:
    """Outcomes as numbers: 0/1 or values as given; yes/no, True/False or two labels become 0/1."""
    y = pd.Series(np.asarray(y_true, dtype=object) if not isinstance(y_true, pd.Series) else y_true)
    if pd.api.types.is_bool_dtype(y):
        return y.astype("float64").to_numpy()
    numeric = pd.to_numeric(y, errors="coerce")
    if numeric.notna().sum() == y.notna().sum():
        return numeric.astype("float64").to_numpy()
    labels = sorted(y.dropna().unique(), key=str)
    if len(labels) != 2:
        raise DataError("y_true must be numbers, or a yes/no outcome with two labels.")
    from core.models.prepare import positive_class
    pos = positive_class(labels)
    return np.where(y.isna(), np.nan, (y == pos).astype("float64"))


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MISSING_LEVELS = ("", "nan", "none", "null", "(missing)", "missing", "unknown", "other", "infrequent_sklearn")
_FULL_NAMES = {"jan": ("january",), "feb": ("february",), "mar": ("march",), "apr": ("april",), "may": ("may",),
               "jun": ("june",), "jul": ("july",), "aug": ("august",), "sep": ("sept", "september"),
               "oct": ("october",), "nov": ("november",), "dec": ("december",), "mon": ("monday",),
               "tue": ("tues", "tuesday"), "wed": ("wednesday",), "thu": ("thur", "thurs", "thursday"),
               "fri": ("friday",), "sat": ("saturday",), "sun": ("sunday",)}


def _calendar_rank(text: str, names: tuple[str, ...]) -> int | None:
    """Position of a month or weekday name (full, 3-letter or 'sept'/'tues'/'thur' style), else None."""
    t = text.strip().lower().rstrip(".")
    for i, name in enumerate(names):
        if t.startswith(name) and (len(t) == 3 or t in _FULL_NAMES.get(name, ())):
            return i
    return None


def _natural_key(text: str) -> tuple:
    """Text with its numbers compared as numbers: 'level_2' before 'level_10', '$1,000+' after '$200'."""
    parts = re.split(r"(\d+(?:[.,]\d+)*)", text.strip().lower())
    key: list[tuple[int, object]] = []
    for i, part in enumerate(parts):
        if i % 2:
            key.append((0, float(part.replace(",", ""))) if part.replace(",", "").replace(".", "", 1).isdigit()
                       else (1, part))
        elif part:
            key.append((1, part))
    return tuple(key)


def natural_order(values: object) -> list:
    """The levels of a feature in their natural order, for charts and tables (partial dependence).

    Month names (jan..dec, January..December) and weekday names (Monday first) in calendar order;
    numbers, or text that reads as numbers, by value; other text alphabetically with numbers inside
    compared as numbers ('level_2' before 'level_10'). Missing-like levels ('unknown', 'other',
    '(missing)') go last. Each distinct value appears once; the values themselves are returned unchanged.
    """
    levels = list(dict.fromkeys(pd.Series(values, dtype=object).dropna().tolist()))
    if not levels:
        return []
    last = [v for v in levels if str(v).strip().lower() in _MISSING_LEVELS]
    rest = [v for v in levels if v not in last]
    numbers = pd.to_numeric(pd.Series(rest, dtype=object).astype(str).str.replace(",", "", regex=False),
                            errors="coerce")
    ordered: list[Any] | None = None
    if rest and numbers.notna().all():
        ordered = [v for _, v in sorted(zip(numbers.tolist(), rest), key=lambda t: t[0])]
    else:
        for names in (_MONTHS, _WEEKDAYS):
            ranks = [r for r in (_calendar_rank(str(v), names) for v in rest) if r is not None]
            if rest and len(ranks) == len(rest):  # every level is a month (or weekday)
                ordered = [v for _, v in sorted(zip(ranks, rest), key=lambda t: t[0])]
                break
        if ordered is None:
            ordered = sorted(rest, key=lambda v: _natural_key(str(v)))
    return ordered + sorted(last, key=str)


def in_natural_order(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`frame` with its rows sorted by `natural_order` of `column` (missing values last; index reset)."""
    rank = {v: i for i, v in enumerate(natural_order(frame[column]))}
    keys = [rank.get(v, len(rank)) if not _is_missing(v) else len(rank) for v in frame[column]]
    return frame.iloc[np.argsort(keys, kind="stable")].reset_index(drop=True)


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def score_deciles(scores: object, bins: int = 10) -> np.ndarray:
    """Group 1..bins of each score, 1 = highest: quantiles of the rank, ties in input order (pandas qcut)."""
    s = pd.Series(np.asarray(scores, dtype="float64"))
    rank = s.rank(method="first", ascending=False)
    return pd.qcut(rank, bins, labels=False).to_numpy().astype(int) + 1


def ks_statistic(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between cumulative shares of responders and non-responders."""
    y = np.asarray(y_true).astype(int)
    order = np.argsort(-np.asarray(scores, dtype="float64"), kind="stable")
    y = y[order]
    pos, neg = y.sum(), len(y) - y.sum()
    if pos == 0 or neg == 0:
        return float("nan")
    return float(np.max(np.abs(np.cumsum(y) / pos - np.cumsum(1 - y) / neg)))


def binary_metrics(y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Hold-out metrics for a 0/1 target and the probability of 1."""
    pred = (proba >= threshold).astype(int)
    p = np.clip(proba, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(roc_auc_score(y, proba)),
        "pr_auc": float(average_precision_score(y, proba)),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, proba)),
    }


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, classes: list) -> dict[str, float]:
    """Hold-out metrics for several classes (AUC one-vs-rest, weighted; F1 macro)."""
    pred = np.asarray(classes)[np.argmax(proba, axis=1)]  # the labels' own type: 0/1/2 stay integers
    out = {"accuracy": float(accuracy_score(y, pred)), "f1": float(f1_score(y, pred, average="macro")),
           "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1), labels=classes))}
    try:
        out["roc_auc"] = float(roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes))
    except ValueError:
        out["roc_auc"] = float("nan")
    return {k: out[k] for k in MULTICLASS_METRICS}


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred)),
            "rmse": float(root_mean_squared_error(y, pred))}


def confusion_at(y: np.ndarray, proba: np.ndarray, threshold: float) -> pd.DataFrame:
    """2 x 2 confusion matrix (actual x predicted) at a probability threshold."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(proba) >= threshold).astype(int)
    m = pd.crosstab(pd.Categorical(y, [0, 1]), pd.Categorical(pred, [0, 1]), dropna=False)
    m.index, m.columns = ["actual: no", "actual: yes"], ["predicted: no", "predicted: yes"]
    return m


def curves(y: np.ndarray, proba: np.ndarray, points: int = 200) -> dict[str, pd.DataFrame]:
    """ROC, precision-recall and calibration curves (thinned to about `points` points)."""
    fpr, tpr, thr = roc_curve(y, proba)
    prec, rec, _ = precision_recall_curve(y, proba)
    frac, mean_pred = calibration_curve(y, proba, n_bins=10, strategy="quantile")

    def thin(df: pd.DataFrame) -> pd.DataFrame:
        if len(df) <= points:
            return df.reset_index(drop=True)
        idx = np.unique(np.linspace(0, len(df) - 1, points).astype(int))
        return df.iloc[idx].reset_index(drop=True)

    return {
        "roc": thin(pd.DataFrame({"false_positive_rate": fpr, "true_positive_rate": tpr})),
        "pr": thin(pd.DataFrame({"recall": rec, "precision": prec})),
        "calibration": pd.DataFrame({"mean_predicted": mean_pred, "observed_rate": frac}),
    }
