"""The four algorithms as scikit-learn Pipelines (imputation, encoding, scaling where needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.errors import DataError

ALGORITHMS = ("baseline", "linear", "random_forest", "gradient_boosting")
LABELS = {"baseline": "Baseline (majority class / mean)", "linear": "Regularised linear / logistic regression",
          "random_forest": "Random forest", "gradient_boosting": "Gradient boosting (histogram)"}
RARE_SHARE = 0.01  # levels rarer than this are grouped into one "infrequent" level
MAX_LEVELS = 30
RF_MAX_SAMPLES = 100_000  # each tree sees at most this many rows, so forests stay fast and small


class LevelCoder(BaseEstimator, TransformerMixin):
    """Categorical columns -> integer codes for tree models, rare levels grouped.

    Levels with at least `min_share` of the training rows (at most `max_levels` of them) keep their
    own code; rarer and unseen levels share one "other" code; missing stays NaN (trees handle it).
    Hashing via pandas Categorical is ~10x faster than scikit-learn's encoders on string objects.
    """

    def __init__(self, min_share: float = RARE_SHARE, max_levels: int = MAX_LEVELS) -> None:
        self.min_share = min_share
        self.max_levels = max_levels

    def fit(self, X: Any, y: Any = None) -> "LevelCoder":
        frame = pd.DataFrame(X)
        self.levels_ = []
        for c in frame.columns:
            counts = frame[c].value_counts(normalize=True, dropna=True)
            self.levels_.append(list(counts[counts >= self.min_share].index[: self.max_levels]))
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X)
        out = np.empty(frame.shape, dtype="float64")
        for j, (c, levels) in enumerate(zip(frame.columns, self.levels_)):
            col = frame[c]
            codes = pd.Categorical(col, categories=levels).codes.astype("float64")
            codes[codes < 0] = len(levels)  # rare or unseen level: "other"
            codes[col.isna().to_numpy()] = np.nan
            out[:, j] = codes
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_in_


def encoded_width(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> int:
    """How many model columns the features become after one-hot encoding (as the linear model does).

    A number is one column; a categorical column is one column per level kept (at least RARE_SHARE of
    the rows, at most MAX_LEVELS) plus one for the grouped rare levels when there are any. Counting
    levels reads each categorical column once (value_counts), so this answers in about a second even
    for 10,000 columns.
    """
    width = len(numeric)
    for c in categorical:
        shares = df[c].value_counts(normalize=True, dropna=True)
        kept = min(int((shares >= RARE_SHARE).sum()), MAX_LEVELS)
        width += max(kept, 1) + (1 if len(shares) > kept else 0)
    return width


def _onehot_steps() -> Pipeline:
    """Missing -> its own level, then one-hot with rare levels grouped (linear models)."""
    return Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                     ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=RARE_SHARE,
                                              max_categories=MAX_LEVELS, sparse_output=False))])


def build_pipeline(task: str, algorithm: str, numeric: list[str], categorical: list[str], *, n_rows: int,
                   class_weight: str | None = None, random_state: int = 0) -> Pipeline:
    """One Pipeline: preprocessing suited to the algorithm, then the estimator."""
    if algorithm not in ALGORITHMS:
        raise DataError(f"algorithm must be one of {', '.join(ALGORITHMS)} or 'auto', not {algorithm!r}.")
    classify = task == "classification"
    if algorithm == "linear":
        num = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())])
        cat = _onehot_steps()
    elif algorithm == "baseline":
        num, cat = "drop", "drop"
    else:
        num = "passthrough"  # trees handle missing values themselves
        cat = LevelCoder()
    parts = []
    if numeric:
        parts.append(("num", num, numeric))
    if categorical:
        parts.append(("cat", cat, categorical))
    prep = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)

    if algorithm == "baseline":
        est: Any = DummyClassifier(strategy="prior") if classify else DummyRegressor(strategy="mean")
    elif algorithm == "linear":
        est = (LogisticRegression(C=1.0, max_iter=2000, class_weight=class_weight) if classify else Ridge(alpha=1.0))
    elif algorithm == "random_forest":
        params = dict(n_estimators=100, max_depth=14, min_samples_leaf=5, max_features="sqrt", n_jobs=-1,
                      max_samples=min(1.0, RF_MAX_SAMPLES / max(n_rows, 1)), random_state=random_state)
        est = (RandomForestClassifier(class_weight="balanced_subsample" if class_weight else None, **params)
               if classify else RandomForestRegressor(**params))
    else:
        cat_mask = [False] * len(numeric) + [True] * len(categorical)
        # scikit-learn's defaults (early stopping only above 10,000 rows), so results match a plain model
        params = dict(max_iter=100, learning_rate=0.1, early_stopping="auto", random_state=random_state,
                      categorical_features=cat_mask if categorical else None)
        est = (HistGradientBoostingClassifier(class_weight=class_weight, **params) if classify
               else HistGradientBoostingRegressor(**params))
    return Pipeline([("prepare", prep), ("model", est)])


def search_space(algorithm: str, task: str) -> dict[str, Any]:
    """Small randomized-search spaces (parameters of the pipeline's 'model' step)."""
    if algorithm == "linear":
        return {"model__C": loguniform(1e-3, 1e2)} if task == "classification" else {"model__alpha": loguniform(1e-3, 1e3)}
    if algorithm == "random_forest":
        return {"model__max_depth": randint(4, 20), "model__min_samples_leaf": randint(1, 50),
                "model__max_features": uniform(0.2, 0.7)}
    if algorithm == "gradient_boosting":
        return {"model__learning_rate": loguniform(0.02, 0.3), "model__max_leaf_nodes": randint(8, 64),
                "model__min_samples_leaf": randint(10, 200), "model__l2_regularization": loguniform(1e-3, 10)}
    return {}
