"""Default K-means features and the customer id column: pandas only, so the Segments page reads them
before scikit-learn is imported (core.segments.preprocess re-exports every name)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.columns import looks_like_id, looks_like_outcome


def suggest_id_column(df: pd.DataFrame) -> str | None:
    """The column that identifies customers: an id-like name whose values are unique."""
    for c in df.columns:
        if looks_like_id(str(c)) and df[c].notna().all() and not df[c].duplicated().any():
            return str(c)
    return None


@dataclass
class FeatureSuggestion:
    """Default K-means features with the reason for every numeric column left out.

    suggested: numeric behaviour columns to start with; numeric: every numeric candidate (the
    suggested ones plus those left out, which the user may still add); categorical: text columns with
    2..50 levels that can be one-hot encoded; left_out: numeric column -> why it is not suggested.
    """

    suggested: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)

    def left_out_table(self) -> pd.DataFrame:
        """column, reason: one row per numeric column that is not suggested."""
        return pd.DataFrame({"column": list(self.left_out), "reason": list(self.left_out.values())})


def _is_flag(s: pd.Series) -> bool:
    """A yes/no column: boolean, or numbers that only ever take 0 and 1 (both present)."""
    if pd.api.types.is_bool_dtype(s):
        return True
    values = pd.unique(s.dropna())
    if len(values) != 2:
        return False
    try:
        return {float(v) for v in values} == {0.0, 1.0}
    except (TypeError, ValueError):
        return False


def feature_suggestions(df: pd.DataFrame, id_column: str | None = None) -> FeatureSuggestion:
    """Which numeric columns to segment on by default, and why each other one is left out.

    Left out: identifiers, constant columns (iFood's Z_CostContact, Z_Revenue), mostly-missing
    columns, and 0/1 flags and outcomes (AcceptedCmp1..5, Response, Complain, churned): a yes/no
    column puts every customer at one of two points, so K-means splits on it first and the segments
    only restate the flag; read the flags in the segment profiles instead (or add them on purpose).
    Counts with a few levels (Kidhome 0/1/2) stay in.
    """
    out = FeatureSuggestion()
    for c in df.columns:
        name = str(c)
        s = df[c]
        if name == id_column:
            continue
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out.numeric.append(name)
            levels = s.nunique(dropna=True)
            missing = float(s.isna().mean()) if len(s) else 0.0
            if looks_like_id(name):
                out.left_out[name] = "looks like an identifier: ids carry no behaviour"
            elif levels <= 1:
                out.left_out[name] = "the same value for every customer: it cannot separate segments"
            elif missing > 0.5:
                out.left_out[name] = f"missing for {missing:.0%} of customers"
            elif _is_flag(s):
                kind = "outcome" if looks_like_outcome(name) else "flag"
                out.left_out[name] = (f"a 0/1 {kind}: K-means would split customers on it first and the segments "
                                      "would only restate it; read it in the segment profiles, or add it on purpose")
            elif levels <= 2 and looks_like_outcome(name):
                out.left_out[name] = "a two-level outcome (such as churned or converted), known only after the fact"
            else:
                out.suggested.append(name)
        elif pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            if 2 <= s.nunique(dropna=True) <= 50 and not looks_like_id(name):
                out.categorical.append(name)
    return out


def suggest_features(df: pd.DataFrame, id_column: str | None = None) -> tuple[list[str], list[str], list[str]]:
    """(suggested numeric features, all numeric candidates, categorical candidates); see feature_suggestions."""
    found = feature_suggestions(df, id_column)
    return found.suggested, found.numeric, found.categorical
