"""Rows and features for core.targeting.uplift: which rows a test contributes and which columns may be features.

`prepare_rows` keeps the rows of the control and the chosen arms, counting every row it drops and why
(treatment missing, outcome missing, an arm not chosen). `default_features` decides which columns are
known before the send, by clear rules only, each with its reason (see fit_uplift's docstring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from core.columns import describe_columns, guess_roles, is_identifier, known_after_the_fact, looks_like_outcome
from core.errors import DataError
from core.targeting.uplift_models import OutcomeKind

# a word marking an earlier period: orders_last_year, spend_prev_12m, prior_purchases are known before the send
_EARLIER_WORD = re.compile(r"(^|[_\s.-])(last|prev|previous|prior|past|before|hist|history|lifetime|ytd|pre)"
                           r"([_\s.-]|\d|$)", re.IGNORECASE)
IMBALANCE_P = 0.001  # a column differing between arms at this p-value is taken as measured after the send


@dataclass(frozen=True)
class PreparedData:
    """The rows used: control and chosen arms only, treatment and outcome present."""

    frame: pd.DataFrame
    kind: OutcomeKind
    control: Any
    arms: tuple[Any, ...]
    arm_codes: np.ndarray  # per row of frame: 0 = control, j = arms[j - 1]
    counts: dict[str, int]
    warnings: tuple[str, ...]


def _same(a: Any, b: Any) -> bool:
    """Equal values, or equal once written out (control='0' matches 0, 'true' matches True)."""
    if a == b:
        return True
    return str(a).strip().lower() == str(b).strip().lower()


def _match(value: Any, levels: Sequence[Any], what: str) -> Any:
    hits = [v for v in levels if _same(v, value)]
    if not hits:
        shown = ", ".join(repr(v) for v in levels[:12])
        raise DataError(f"The {what} value {value!r} is not in the treatment column (values: {shown}): pick one of them.")
    return hits[0]


def outcome_kind(y: pd.Series, name: str) -> tuple[pd.Series, OutcomeKind]:
    """The outcome as floats, and whether it is 0/1 (bools count) or a numeric amount."""
    if pd.api.types.is_bool_dtype(y):
        return y.astype(float), "binary"
    if not pd.api.types.is_numeric_dtype(y):
        raise DataError(f"The outcome '{name}' is not numeric ({y.dtype}): use a 0/1 column (converted or not) or "
                        "an amount such as revenue; map text such as yes/no to 1/0 first.")
    v = y.astype(float)
    return v, "binary" if set(np.unique(v)) <= {0.0, 1.0} else "numeric"


def prepare_rows(df: pd.DataFrame, treatment: str, outcome: str, *, treated: Any, control: Any,
                 guess_control: Callable[[Sequence[Any]], Any], min_rows: int, few_rows: int) -> PreparedData:
    """The control's and chosen arms' rows with treatment and outcome present, their arm codes and counts.

    The control is `control`, else the one value left when `treated` names all others, else guessed.
    Raises DataError for a missing column, a treatment with one value, no control or arm rows, an outcome
    that is not numeric or never varies, or fewer than `min_rows` rows in the control or an arm."""
    for col, what in ((treatment, "treatment"), (outcome, "outcome")):
        if col not in df.columns:
            raise DataError(f"The {what} column '{col}' is not in the table.")
    if treatment == outcome:
        raise DataError("The treatment and the outcome must be different columns.")
    counts = {"rows": len(df)}
    t_missing = df[treatment].isna()
    counts["dropped_treatment_missing"] = int(t_missing.sum())
    df = df[~t_missing]
    y_missing = df[outcome].isna()
    counts["dropped_outcome_missing"] = int(y_missing.sum())
    df = df[~y_missing]
    levels = list(pd.unique(df[treatment]))
    if len(levels) < 2:
        raise DataError(f"The treatment column '{treatment}' has {len(levels)} value(s) in the rows with an outcome: "
                        "uplift needs treated and control customers.")
    try:
        levels = sorted(levels)
    except TypeError:
        levels = sorted(levels, key=str)
    wanted = None if treated is None else list(treated) if isinstance(treated, (list, tuple, set)) else [treated]
    if control is not None:
        ctrl = _match(control, levels, "control")
    elif wanted is not None and len(levels) == len(wanted) + 1:  # the one value not treated is the control
        chosen = {repr(_match(v, levels, "treated")) for v in wanted}
        rest = [v for v in levels if repr(v) not in chosen]
        ctrl = rest[0] if len(rest) == 1 else guess_control(levels)
    else:
        ctrl = guess_control(levels)
    if wanted is None:
        arms = [v for v in levels if not _same(v, ctrl)]
    else:
        arms = list(dict.fromkeys(_match(v, levels, "treated") for v in wanted))
        if any(_same(a, ctrl) for a in arms):
            raise DataError(f"The treated value {ctrl!r} is also the control: pick a different one.")
    if not arms:
        raise DataError("No treated value is left once the control is set aside.")
    t_values = df[treatment]
    keep = t_values.isin([ctrl, *arms])
    counts["dropped_other_arms"] = int((~keep).sum())
    df = df[keep].reset_index(drop=True)
    codes = np.zeros(len(df), dtype=int)
    for j, arm in enumerate(arms, start=1):
        codes[(df[treatment] == arm).to_numpy()] = j
    y, kind = outcome_kind(df[outcome], outcome)
    df = df.assign(**{outcome: y})
    counts["used"] = len(df)
    warnings = []
    for j, label in [(0, ctrl), *((j, a) for j, a in enumerate(arms, start=1))]:
        n = int((codes == j).sum())
        counts[f"rows: {label}"] = n
        what = "control" if j == 0 else "arm"
        if n < min_rows:
            hint = " Pick the treated arms to leave it out." if j and wanted is None and len(arms) > 1 else ""
            raise DataError(f"The {what} '{label}' has {n} row(s); uplift needs at least {min_rows} per group "
                            f"(several hundred for a usable model).{hint}")
        if n < few_rows:
            warnings.append(f"The {what} '{label}' has only {n} rows: its uplift estimates are very uncertain.")
        if y[codes == j].nunique() == 1:
            warnings.append(f"The outcome is {y[codes == j].iloc[0]:g} for every row of the {what} '{label}': "
                            "its model predicts that constant.")
    if y.nunique() == 1:
        raise DataError(f"The outcome '{outcome}' is {y.iloc[0]:g} in every row: there is nothing to model.")
    return PreparedData(df, kind, ctrl, tuple(arms), codes, counts, tuple(warnings))


def _balance_p(x: pd.Series, codes: np.ndarray) -> float:
    """Smallest p-value, over arms, of a difference between an arm and the control in this column
    (Welch t-test for numbers, chi-square for levels)."""
    best = 1.0
    for j in range(1, int(codes.max()) + 1):
        a, b = x[codes == j], x[codes == 0]
        if pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x):
            a, b = a.dropna().astype(float), b.dropna().astype(float)
            if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
                p = 1.0 if a.mean() == b.mean() or len(a) < 2 or len(b) < 2 else 0.0
            else:
                p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        else:
            table = pd.crosstab(x.astype(str), codes == j)
            p = 1.0 if table.shape[0] < 2 or table.shape[1] < 2 else float(stats.chi2_contingency(table)[1])
        best = min(best, p if np.isfinite(p) else 1.0)
    return best


def imbalanced_features(df: pd.DataFrame, columns: Sequence[str], codes: np.ndarray) -> list[tuple[str, float]]:
    """Columns whose values differ between an arm and the control at p < IMBALANCE_P, with the p-value."""
    out = []
    for c in columns:
        p = _balance_p(df[c], codes)
        if p < IMBALANCE_P:
            out.append((c, p))
    return out


def banding_of(df: pd.DataFrame, column: str, numeric: Sequence[str]) -> str | None:
    """The numeric column this text column bands, if any: each of its levels covers a range of that column
    that no other level overlaps (Hillstrom's history_segment '2) $100 - $200' bands history)."""
    x = df[column]
    if pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x) or not 2 <= x.nunique() <= 50:
        return None
    codes = pd.factorize(x)[0]
    levels = int(codes.max()) + 1
    for c in numeric:
        if df[c].nunique() <= levels:
            continue
        v = df[c].to_numpy(float)
        ok = (codes >= 0) & ~np.isnan(v)
        lo, hi = np.full(levels, np.inf), np.full(levels, -np.inf)
        np.minimum.at(lo, codes[ok], v[ok])
        np.maximum.at(hi, codes[ok], v[ok])
        seen = np.isfinite(lo)
        order = np.argsort(lo[seen], kind="stable")
        lo, hi = lo[seen][order], hi[seen][order]
        if len(lo) >= 2 and (lo[1:] > hi[:-1]).all():
            return c
    return None


def default_features(df: pd.DataFrame, treatment: str, outcome: str, codes: np.ndarray) -> pd.DataFrame:
    """column, use, reason for every column but the treatment and the outcome (see fit_uplift)."""
    facts = describe_columns(df)
    results = set(guess_roles(list(facts)).outcomes)
    rows = []
    n = len(df)
    for f in facts:
        if f.name in (treatment, outcome):
            continue
        use, reason = True, ""
        if f.missing >= 0.95 * max(n, 1):
            use, reason = False, f"{f.missing / max(n, 1):.0%} missing"
        elif f.distinct <= 1:
            use, reason = False, "the same value in every row"
        elif f.kind == "date":
            use, reason = False, "a date: derive days since / tenure from it first"
        elif is_identifier(f):
            use, reason = False, "an identifier"
        elif pd.api.types.is_integer_dtype(df[f.name]) and f.present >= 100 and f.distinct == f.present:
            use, reason = False, "a row number or key (whole numbers, every value different)"
        elif (f.name in results or looks_like_outcome(f.name)) and not _EARLIER_WORD.search(f.name):
            use, reason = False, "named like a campaign result (another outcome, measured after the send)"
        elif known_after_the_fact(f.name):
            use, reason = False, "named like something measured after the send"
        elif f.kind == "text" and f.distinct > max(200, 0.5 * n):
            use, reason = False, f"near-unique text ({f.distinct:,} values)"
        rows.append({"column": f.name, "use": use, "reason": reason})
    table = pd.DataFrame(rows, columns=["column", "use", "reason"])
    kept = table.loc[table["use"], "column"].tolist()
    numeric = [c for c in kept if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    for col in kept:
        source = banding_of(df, col, numeric)
        if source is not None:
            sel = table["column"] == col
            table.loc[sel, "use"] = False
            table.loc[sel, "reason"] = f"bands of '{source}' (each level a range of it): {source} itself is used"
    for col, p in imbalanced_features(df, table.loc[table["use"], "column"].tolist(), codes):
        sel = table["column"] == col
        table.loc[sel, "use"] = False
        table.loc[sel, "reason"] = (f"differs between the arms (p = {p:.1g}): randomisation balances what is known "
                                    "before the send, so the send probably moved it")
    return table


def feature_types(df: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical): numbers and bools are numeric, everything else is one-hot encoded."""
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])]
    return numeric, [c for c in columns if c not in numeric]
