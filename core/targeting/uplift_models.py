"""The learners behind core.targeting.uplift: preprocessing and one outcome model per group.

Each step is a small function (scikit-learn style): `preprocessor` one-hot encodes text columns (rare
levels grouped, unseen ones ignored) and imputes numbers with the median; `outcome_model` fits
P(y = 1 | x) for a 0/1 outcome, or E[y | x] for revenue, on the rows it is given. A group whose outcome
never varies gets a constant model (scikit-learn's classifiers refuse one class), so a control group
with no buyer still gives p_control = 0 instead of an error.

Learners (measured on Hillstrom, women's e-mail vs no e-mail, visit; docs/targeting_hillstrom.md):
- "gradient_boosting": HistGradientBoosting with small trees (8 leaves), a floor of 100 rows per leaf
  (fewer for groups under 5,000 rows, at least 20), L2 and early stopping on 15% of the rows: finds
  interactions (the planted XOR in the tests) without tuning.
- "logistic": logistic regression (ridge regression for revenue) on standardised, one-hot features:
  faster and steadier on small tests, but uplift can then only vary linearly (on the logit scale).
Callers run these under threadpoolctl.threadpool_limits (the machine is shared).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

Learner = Literal["gradient_boosting", "logistic"]
OutcomeKind = Literal["binary", "numeric"]
MAX_LEVELS = 30  # one-hot columns per text feature; rarer levels are grouped as "infrequent"


@dataclass(frozen=True)
class ConstantModel:
    """Predicts one value for every row: the outcome of a group in which it never varies."""

    value: float

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.value, dtype=float)


def as_float(X: pd.DataFrame) -> np.ndarray:
    """Numbers and bools as floats (missing as NaN), for the imputer."""
    try:
        return X.astype(float).to_numpy()
    except (TypeError, ValueError):  # object columns holding numbers and stray text
        return np.column_stack([pd.to_numeric(X[c], errors="coerce").astype(float).to_numpy() for c in X.columns])


def as_text(X: pd.DataFrame) -> np.ndarray:
    """Levels as strings (missing as '(missing)'), so mixed or numeric codes one-hot encode alike."""
    return np.column_stack([X[c].astype(object).where(X[c].notna(), "(missing)").astype(str).to_numpy(object)
                            for c in X.columns])


def preprocessor(numeric: list[str], categorical: list[str], *, scale: bool) -> ColumnTransformer:
    """Median-imputed numbers (standardised when `scale`), and one-hot text with missing as its own level."""
    num_steps: list[Any] = [FunctionTransformer(as_float), SimpleImputer(strategy="median", keep_empty_features=True)]
    num_steps += [StandardScaler()] if scale else []
    cat = make_pipeline(FunctionTransformer(as_text),
                        OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_LEVELS,
                                      sparse_output=False))
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        parts.append(("num", make_pipeline(*num_steps), numeric))
    if categorical:
        parts.append(("cat", cat, categorical))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def estimator(kind: OutcomeKind, learner: Learner, random_state: int, n_rows: int = 10_000) -> Any:
    """The unfitted learner for one group of n_rows (see the module docstring for the choice). Gradient
    boosting's floor of rows per leaf is n_rows / 50 within [20, 100], so a small test can still split."""
    if learner == "gradient_boosting":
        leaf = int(np.clip(n_rows // 50, 20, 100))
        common: dict[str, Any] = dict(max_iter=200, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=leaf,
                                      l2_regularization=1.0, early_stopping=True, validation_fraction=0.15,
                                      n_iter_no_change=10, random_state=random_state)
        return HistGradientBoostingClassifier(**common) if kind == "binary" else HistGradientBoostingRegressor(**common)
    if kind == "binary":
        return LogisticRegression(C=1.0, max_iter=1000)
    return Ridge(alpha=1.0)


def outcome_model(M: np.ndarray, y: np.ndarray, kind: OutcomeKind, learner: Learner, random_state: int,
                  sample_weight: np.ndarray | None = None) -> Any:
    """A fitted model of the outcome on these rows of the preprocessed matrix M (one preprocessor, fitted on
    all training rows, serves every group's model, so each row is encoded once), or a ConstantModel when y
    never varies."""
    if len(np.unique(y)) < 2:
        return ConstantModel(float(y[0]) if len(y) else 0.0)
    model = estimator(kind, learner, random_state, len(y))
    model.fit(M, y, sample_weight=sample_weight)
    return model


def predict_outcome(model: Any, X: np.ndarray, kind: OutcomeKind) -> np.ndarray:
    """P(y = 1) per row for a 0/1 outcome, the expected value for a numeric one."""
    if isinstance(model, ConstantModel):
        return model.predict(X)
    if kind == "binary":
        return np.asarray(model.predict_proba(X)[:, 1], dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def transformed_outcome(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Class transformation (Jaskowski & Jaroszewicz 2012): z = 1 for treated responders and control
    non-responders. With P(treated) = 1/2 (or rows weighted to it), uplift = 2 P(z = 1 | x) - 1."""
    return (y * t + (1 - y) * (1 - t)).astype(int)


def balancing_weights(t: np.ndarray) -> np.ndarray:
    """Row weights giving treated and control equal total weight (each weight 1 on a 50/50 split), so the
    class transformation stays valid when assignment was not 50/50."""
    share = float(t.mean())
    return np.where(t == 1, 0.5 / share, 0.5 / (1 - share))
