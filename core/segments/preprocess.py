"""Feature checks and the preprocessing pipeline for segmentation (impute, log, clip, scale, one-hot).

Everything is a scikit-learn transformer so the same fitted steps score new customers later.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, RobustScaler, StandardScaler

from core.errors import DataError
from core.segments.suggest import FeatureSuggestion, feature_suggestions, suggest_features, suggest_id_column

__all__ = ["Preprocessing", "QuantileClipper", "check_features", "log_columns", "build_pipeline", "frame_for",
           "transform_checked", "FeatureSuggestion", "feature_suggestions", "suggest_features", "suggest_id_column"]

IMPUTE = ("median", "mean", "zero")
SCALE = ("standard", "robust", "none")
SKEW_FOR_LOG = 1.0
MISSING_LEVEL = "(missing)"


@dataclass
class Preprocessing:
    """How raw features become K-means inputs. Defaults suit spend-like, skewed marketing data.

    impute: fill missing values with the feature's "median", "mean" or "zero".
    log_transform: "auto" (log1p every non-negative feature with skewness above 1), True (all
        numeric features), False, or a list of feature names.
    scale: "standard" (mean 0, sd 1), "robust" (median 0, IQR 1) or "none".
    clip: clip each numeric feature at its [clip, 1 - clip] quantiles (0.01 = 1st/99th percentile)
        so a few extreme customers do not get a segment of their own; None or 0 turns it off.
    categorical: features to one-hot encode (each level becomes a 0/1 feature).
    max_levels: refuse categorical features with more levels than this.
    """

    impute: str = "median"
    log_transform: bool | str | Sequence[str] = "auto"
    scale: str = "standard"
    clip: float | None = 0.01
    categorical: Sequence[str] = field(default_factory=tuple)
    max_levels: int = 50

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "Preprocessing":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise DataError(f"Unknown preprocessing option(s): {', '.join(unknown)}. "
                            f"Use: {', '.join(sorted(known))}.")
        p = cls(**options)
        if p.impute not in IMPUTE:
            raise DataError(f"impute must be one of {', '.join(IMPUTE)}, not {p.impute!r}.")
        if p.scale is None:
            p.scale = "none"
        if p.scale not in SCALE:
            raise DataError(f"scale must be one of {', '.join(SCALE)}, not {p.scale!r}.")
        if p.clip is not None and not (0 <= float(p.clip) < 0.5):
            raise DataError("clip is the share clipped at each end: a number from 0 to 0.5 (e.g. 0.01).")
        if isinstance(p.categorical, str):
            p.categorical = (p.categorical,)
        return p


class QuantileClipper(BaseEstimator, TransformerMixin):
    """Clip each column to quantiles learnt at fit time (winsorising)."""

    def __init__(self, share: float = 0.01) -> None:
        self.share = share

    def fit(self, X: Any, y: Any = None) -> "QuantileClipper":
        arr = np.asarray(X, dtype="float64")
        if self.share and self.share > 0:
            with warnings.catch_warnings():  # an all-NaN column is reported later, by name
                warnings.simplefilter("ignore", RuntimeWarning)
                self.low_ = np.nanquantile(arr, self.share, axis=0)
                self.high_ = np.nanquantile(arr, 1 - self.share, axis=0)
        else:
            self.low_ = np.full(arr.shape[1], -np.inf)
            self.high_ = np.full(arr.shape[1], np.inf)
        self.n_features_in_ = arr.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.clip(np.asarray(X, dtype="float64"), self.low_, self.high_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features, dtype=object)


def check_features(df: pd.DataFrame, features: Sequence[str], prep: Preprocessing) -> tuple[list[str], list[str]]:
    """Split features into numeric and categorical ones, raising DataError for unusable ones."""
    if not isinstance(df, pd.DataFrame):
        raise DataError("Segments need a pandas DataFrame with one row per customer.")
    features = [features] if isinstance(features, str) else list(dict.fromkeys(features or []))
    categorical = [c for c in prep.categorical if c not in features] + [c for c in features if c in set(prep.categorical)]
    categorical = list(dict.fromkeys(categorical))
    missing = [c for c in features + categorical if c not in df.columns]
    if missing:
        raise DataError(f"Feature(s) {', '.join(map(repr, missing))} are not in the table.")
    numeric, text = [], []
    for c in features:
        if c in categorical:
            continue
        s = df[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(c)
        else:
            text.append(c)
    if text:
        raise DataError(f"Feature(s) {', '.join(map(repr, text))} are not numeric. Add them to the categorical "
                        "features to one-hot encode them, or leave them out.")
    if not numeric and not categorical:
        raise DataError("No usable numeric features: pick at least one numeric column (such as recency, "
                        "orders or spend) to build segments from.")
    for c in numeric:
        s = pd.to_numeric(df[c], errors="coerce").astype("float64")
        if s.isna().all():
            raise DataError(f"Feature '{c}' is missing for every customer; leave it out.")
        if np.isinf(s).any():
            raise DataError(f"Feature '{c}' has infinite values ({int(np.isinf(s).sum()):,} rows, e.g. from a "
                            "division by zero). Fix or leave out the feature.")
        if not (s.min() < s.max()):  # constant (cheaper than nunique on millions of rows)
            raise DataError(f"Feature '{c}' has the same value for every customer, so it cannot separate "
                            "segments; leave it out.")
    for c in categorical:
        levels = df[c].nunique(dropna=True)
        if levels > prep.max_levels:
            raise DataError(f"Categorical feature '{c}' has {levels:,} levels (limit {prep.max_levels}); "
                            "one-hot encoding it would swamp the other features. Leave it out or group its levels.")
        if levels <= 1 and not df[c].isna().any():
            raise DataError(f"Categorical feature '{c}' has a single value for every customer; leave it out.")
    return numeric, categorical


def log_columns(df: pd.DataFrame, numeric: list[str], prep: Preprocessing) -> list[str]:
    """Which numeric features get log1p: by name, all, none, or the skewed non-negative ones."""
    option = prep.log_transform
    if option is False or option is None or option == "none":
        return []
    if option is True or option == "all":
        return list(numeric)
    if isinstance(option, str) and option != "auto":
        option = [option]
    if option != "auto":
        unknown = [c for c in option if c not in numeric]
        if unknown:
            raise DataError(f"log_transform names {', '.join(map(repr, unknown))}, which are not numeric features.")
        return [c for c in numeric if c in set(option)]
    chosen = []
    for c in numeric:
        s = pd.to_numeric(df[c], errors="coerce").astype("float64").dropna()
        if len(s) > 2 and s.min() >= 0 and s.nunique() > 2 and float(s.skew()) > SKEW_FOR_LOG:
            chosen.append(c)
    return chosen


def build_pipeline(numeric: list[str], categorical: list[str], logged: list[str], prep: Preprocessing) -> ColumnTransformer:
    """The ColumnTransformer that turns raw features into K-means inputs."""
    def numeric_steps(log: bool) -> Pipeline:
        fill = {"median": ("median", None), "mean": ("mean", None), "zero": ("constant", 0.0)}[prep.impute]
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy=fill[0], fill_value=fill[1],
                                                                  keep_empty_features=True))]
        if log:
            steps.append(("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")))
        steps.append(("clip", QuantileClipper(float(prep.clip or 0))))
        if prep.scale == "standard":
            steps.append(("scale", StandardScaler()))
        elif prep.scale == "robust":
            steps.append(("scale", RobustScaler()))
        return Pipeline(steps)

    plain = [c for c in numeric if c not in set(logged)]
    parts: list[tuple[str, Any, list[str]]] = []
    if logged:
        parts.append(("log", numeric_steps(True), logged))
    if plain:
        parts.append(("num", numeric_steps(False), plain))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    return ColumnTransformer(parts, verbose_feature_names_out=False, sparse_threshold=0.0)


def frame_for(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The columns the pipeline reads, numeric ones as float64 and categorical ones as text."""
    missing = [c for c in numeric + categorical if c not in df.columns]
    if missing:
        raise DataError(f"The table misses feature(s) {', '.join(map(repr, missing))} used by the segmentation.")
    out = pd.DataFrame(index=df.index)
    for c in numeric:
        out[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        if np.isinf(out[c]).any():
            raise DataError(f"Feature '{c}' has infinite values ({int(np.isinf(out[c]).sum()):,} rows, e.g. from a "
                            "division by zero). Fix or leave out the feature.")
    for c in categorical:
        out[c] = df[c].astype("string").fillna(MISSING_LEVEL).astype("object")
    return out


def transform_checked(pipeline: ColumnTransformer, frame: pd.DataFrame, logged: list[str]) -> np.ndarray:
    """Transform and refuse non-finite results, naming the features that produced them."""
    with np.errstate(all="ignore"):
        X = np.asarray(pipeline.transform(frame), dtype="float64")
    bad = ~np.isfinite(X)
    if bad.any():
        names = pipeline.get_feature_names_out()
        cols = sorted({str(names[j]) for j in np.where(bad.any(axis=0))[0]})
        hint = (" Log transform of negative values is the usual cause: turn the log transform off for "
                + ", ".join(c for c in cols if c in logged) + ".") if any(c in logged for c in cols) else \
            " Check the feature for infinite or extreme values."
        raise DataError(f"Preprocessing produced non-finite values in {', '.join(cols)} "
                        f"({int(bad.any(axis=1).sum()):,} customers).{hint}")
    return X
