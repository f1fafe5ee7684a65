"""Before training: what kind of target it is, which columns make usable features, and leakage checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from core.errors import DataError
from core.columns import describe_columns, is_identifier, known_after_the_fact, looks_like_outcome, reads_as_dates

TASKS = ("classification", "regression")
MAX_CLASSES = 50
LEAK_AUC = 0.95  # one feature alone ranks customers almost perfectly
LEAK_R2 = 0.90
LEAK_SAMPLE = 20_000
LEAK_CHECK_MAX = 500  # suggest_features checks each candidate for leakage up to this many candidates
ADVICE_SAMPLE = 100_000
_POSITIVE = ("1", "true", "yes", "y", "churned", "churn", "converted", "purchased", "positive", "bought", "won")


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def detect_task(y: pd.Series) -> str:
    """'classification' for yes/no, labels and small sets of whole numbers; 'regression' otherwise."""
    values = y.dropna()
    if values.empty:
        raise DataError(f"The target '{y.name}' is missing for every row; pick a column with values.")
    if pd.api.types.is_bool_dtype(values) or not _is_numeric(values):
        return "classification"
    distinct = values.nunique()
    whole = bool(np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0))
    if distinct <= 2 or (whole and distinct <= 10):
        return "classification"
    return "regression"


def positive_class(classes: list) -> object:
    """For a yes/no target, the class that means 'yes' (1, True, 'yes', 'churned' ...); else the last."""
    for c in classes:
        if str(c).strip().lower() in _POSITIVE:
            return c
    return classes[-1]


def check_target(y: pd.Series, task: str) -> pd.Series:
    """Validate the target for the task; returns it without missing rows (index kept)."""
    if task not in TASKS:
        raise DataError(f"task must be 'classification', 'regression' or 'auto', not {task!r}.")
    kept = y.dropna()
    if kept.empty:
        raise DataError(f"The target '{y.name}' is missing for every row; pick a column with values.")
    if task == "regression":
        if not _is_numeric(kept):
            raise DataError(f"The target '{y.name}' is not numeric, so it cannot be a regression target. "
                            "Pick a numeric column (such as spend) or switch the task to classification.")
        values = kept.astype("float64")
        if not np.isfinite(values).all():
            raise DataError(f"The target '{y.name}' has {int((~np.isfinite(values)).sum()):,} infinite value(s); "
                            "fix or remove those rows.")
        if values.nunique() < 2:
            raise DataError(f"The target '{y.name}' has the same value in every row; there is nothing to predict.")
        return values
    if kept.dtype == object:  # labels stored as Python objects: settle on one type scikit-learn can sort
        kept = kept.infer_objects()
        if kept.dtype == object:
            kept = kept.astype(str)
    classes = kept.nunique()
    if classes < 2:
        raise DataError(f"The target '{y.name}' has only one class ({kept.iloc[0]!r}); a classifier needs at least "
                        "two (for example customers who bought and who did not).")
    if classes > MAX_CLASSES:
        raise DataError(f"The target '{y.name}' has {classes:,} different values; that is too many classes. "
                        "Switch the task to regression if it is a number, or pick another target.")
    return kept


@dataclass
class FeatureAdvice:
    """Which columns to use as features, and why the others are left out."""

    table: pd.DataFrame  # column, kind, use, reason
    numeric: list[str]
    categorical: list[str]

    @property
    def suggested(self) -> list[str]:
        return self.table.loc[self.table["use"], "column"].tolist()


def suggest_features(df: pd.DataFrame, target: str, max_levels: int = 200, *,
                     check_leakage: bool = True) -> FeatureAdvice:
    """Suggest features, leaving out with the reason: identifiers (an id-like name with near-unique
    values: Bank Marketing's 3-level `contact` stays in), free text, dates, constant and mostly missing
    columns, other outcomes, and features that leak the target (`leakage_warnings`: call duration
    predicts a telemarketing outcome because it is measured during the call)."""
    rows = []
    if len(df) > ADVICE_SAMPLE:  # distinct counts on millions of strings are slow; a large sample tells the same
        df = df.sample(ADVICE_SAMPLE, random_state=0)
    n = len(df)
    facts = {f.name: f for f in describe_columns(df)}
    for c in df.columns:
        if c == target:
            continue
        s = df[c]
        name = str(c)
        fact = facts[name]
        distinct = fact.distinct
        missing = s.isna().mean() if n else 1.0
        kind = "number" if _is_numeric(s) else "yes/no" if pd.api.types.is_bool_dtype(s) else \
            "date" if pd.api.types.is_datetime64_any_dtype(s) or reads_as_dates(s) else "text"
        use, reason = True, ""
        if missing >= 0.95:
            use, reason = False, f"{missing:.0%} missing"
        elif distinct <= 1:
            use, reason = False, "the same value in every row"
        elif kind == "date":
            use, reason = False, "a date: derive days since / tenure from it first"
        elif distinct <= 2 and looks_like_outcome(name):
            use, reason = False, "another outcome (known only after the fact)"
        elif is_identifier(fact):
            use, reason = False, f"an identifier (id-like name, {fact.unique_share:.0%} of values unique)"
        elif kind == "text" and distinct > max(max_levels, 0.5 * n):
            mean_len = s.dropna().astype(str).str.len().mean()
            use, reason = False, "free text" if mean_len > 30 else f"near-unique ({distinct:,} values)"
        if use and kind == "text" and distinct > 50:
            reason = f"{distinct:,} levels: rare ones are grouped"
        rows.append({"column": name, "kind": kind, "use": use, "reason": reason})
    table = pd.DataFrame(rows, columns=["column", "kind", "use", "reason"])
    if check_leakage and target in df.columns and table["use"].any():
        _leave_out_leaks(df, target, table)
    used = table[table["use"]]
    numeric = used.loc[used["kind"].isin(["number", "yes/no"]), "column"].tolist()
    categorical = used.loc[~used["kind"].isin(["number", "yes/no"]), "column"].tolist()
    return FeatureAdvice(table, numeric, categorical)


def _leave_out_leaks(df: pd.DataFrame, target: str, table: pd.DataFrame) -> None:
    """Mark features that leakage_warnings flags as near-perfect or known only after the outcome as not
    used, with the reason (in place). A feature that is merely far ahead of the others stays selected
    (strong features are often legitimate); the page warns about it."""
    try:
        task = detect_task(df[target])
    except DataError:
        return
    labelled = df.dropna(subset=[target])
    candidates = table.loc[table["use"], "column"].tolist()
    if len(candidates) > LEAK_CHECK_MAX:  # train() refuses such widths anyway; checking each would take minutes
        return
    for leak in leakage_warnings(labelled, target, candidates, task):
        if leak["kind"] == "dominant":  # a strong feature may be legitimate: warned about, not removed
            continue
        row = table["column"] == leak["feature"]
        table.loc[row, "use"] = False
        table.loc[row, "reason"] = f"leaks the target: {leak['why']} ({leak['metric']} {leak['score']:.2f} alone)"


def single_feature_power(x: pd.Series, y: pd.Series, task: str) -> float:
    """How well one feature alone predicts the target: AUC (binary, by value or by level rate) or R2 of level means."""
    if _is_numeric(x):
        x = x.astype("float64").replace([np.inf, -np.inf], np.nan)
    ok = x.notna() & y.notna()
    x, y = x[ok], y[ok]
    if len(x) < 10 or x.nunique() < 2:
        return float("nan")
    if task == "classification":
        classes = y.unique()
        if len(classes) != 2:
            return float("nan")
        yy = (y == positive_class(sorted(classes, key=str))).astype(int)
        if yy.nunique() < 2:
            return float("nan")
        if _is_numeric(x) or pd.api.types.is_bool_dtype(x):
            auc = roc_auc_score(yy, x.astype("float64"))
            return float(max(auc, 1 - auc))
        rate = yy.groupby(x.astype(str)).transform("mean")
        return float(roc_auc_score(yy, rate))
    if _is_numeric(x):
        bins = pd.qcut(x.rank(method="first"), min(20, x.nunique()), labels=False)
        return float(r2_score(y, y.groupby(bins).transform("mean")))
    return float(r2_score(y, y.groupby(x.astype(str)).transform("mean")))


def leakage_warnings(df: pd.DataFrame, target: str, features: list[str], task: str,
                     random_state: int = 0) -> list[dict[str, object]]:
    """Features that predict the target suspiciously well on their own (on a sample).

    Flagged: near-perfect alone (AUC >= 0.95 or R2 >= 0.9), or strong (AUC >= 0.75) with a name that
    suggests it is only known after the outcome (call duration, refund ...), or far ahead of every
    other feature (twice the next one's AUC above 0.5).
    """
    sample = df if len(df) <= LEAK_SAMPLE else df.sample(LEAK_SAMPLE, random_state=random_state)
    y = sample[target]
    power = {f: single_feature_power(sample[f], y, task) for f in features}
    power = {f: p for f, p in power.items() if np.isfinite(p)}
    if not power:
        return []
    out = []
    ranked = sorted(power.items(), key=lambda kv: kv[1], reverse=True)
    metric = "AUC" if task == "classification" else "R2"
    for i, (f, p) in enumerate(ranked):
        why, kind = "", ""
        if (task == "classification" and p >= LEAK_AUC) or (task == "regression" and p >= LEAK_R2):
            why, kind = "predicts the target almost perfectly on its own", "near_perfect"
        elif task == "classification" and p >= 0.75 and known_after_the_fact(f):
            why, kind = "is strong on its own and its name suggests it is only known after the outcome", "after_the_fact"
        elif task == "classification" and i == 0 and p >= 0.75 and len(ranked) > 1 and \
                (p - 0.5) >= 2 * max(ranked[1][1] - 0.5, 0.01):
            why, kind = "predicts the target far better than any other feature", "dominant"
        if why:
            out.append({"feature": f, "score": p, "metric": metric, "why": why, "kind": kind,
                        "message": f"'{f}' {why} ({metric} {p:.2f}). If it is only known after the outcome "
                                   "(like call duration in a telemarketing campaign), leave it out: the model "
                                   "would look great here and fail in use."})
    return out
