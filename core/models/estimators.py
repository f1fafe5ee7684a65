"""The algorithms as scikit-learn Pipelines (imputation, encoding, scaling where needed).

baseline, linear (logistic / ridge), random_forest, gradient_boosting, and the ones the marketing
literature names beside them: mlp (a small neural network), svm (RBF kernel below SVM_KERNEL_ROWS
rows, a linear SVM with calibrated probabilities above), tree (one depth-limited decision tree whose
rules a manager can read, core.models.rules). Numbers are imputed and scaled for the models that
need it (linear, mlp, svm); categories are one-hot encoded for those and for the tree (so its rules
name levels), coded as integers for the forests and boosting.
"""

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
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from core.errors import DataError

ALGORITHMS = ("baseline", "linear", "random_forest", "gradient_boosting", "mlp", "svm", "tree")
LABELS = {"baseline": "Baseline (majority class / mean)", "linear": "Regularised linear / logistic regression",
          "random_forest": "Random forest", "gradient_boosting": "Gradient boosting (histogram)",
          "mlp": "Neural network (multi-layer perceptron)", "svm": "Support vector machine",
          "tree": "Decision tree (readable rules)"}
# the Models page's order: the default (gradient boosting) first, the baseline last
MENU = ("gradient_boosting", "random_forest", "linear", "mlp", "svm", "tree", "baseline")
SCALED = ("linear", "mlp", "svm")  # numbers imputed (with a missing indicator) and standardised
ONE_HOT = ("linear", "mlp", "svm", "tree")  # categories one-hot encoded (the others get integer codes)
SVM_KERNEL_ROWS = 20_000  # an RBF kernel below this many training rows; a linear SVM above (kernel cost ~n²)
TREE_DEPTH = 4  # a tree of depth 4 has at most 16 leaves: rules a person can read
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
    if algorithm in SCALED:
        num: Any = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                             ("scale", StandardScaler())])
        cat: Any = _onehot_steps()
    elif algorithm == "baseline":
        num, cat = "drop", "drop"
    else:
        num = "passthrough"  # trees handle missing values themselves
        cat = _onehot_steps() if algorithm == "tree" else LevelCoder()
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
    elif algorithm == "mlp":
        est = _mlp(classify, n_rows, random_state)
    elif algorithm == "svm":
        est = _svm(classify, n_rows, class_weight, random_state)
    elif algorithm == "tree":
        leaf = max(20, n_rows // 200)  # every rule covers at least 0.5% of the rows (and 20)
        est = (DecisionTreeClassifier(max_depth=TREE_DEPTH, min_samples_leaf=leaf, class_weight=class_weight,
                                      random_state=random_state) if classify
               else DecisionTreeRegressor(max_depth=TREE_DEPTH, min_samples_leaf=leaf, random_state=random_state))
    else:
        cat_mask = [False] * len(numeric) + [True] * len(categorical)
        # scikit-learn's defaults (early stopping only above 10,000 rows), so results match a plain model
        params = dict(max_iter=100, learning_rate=0.1, early_stopping="auto", random_state=random_state,
                      categorical_features=cat_mask if categorical else None)
        est = (HistGradientBoostingClassifier(class_weight=class_weight, **params) if classify
               else HistGradientBoostingRegressor(**params))
    return Pipeline([("prepare", prep), ("model", est)])


def mlp_layers(n_rows: int) -> tuple[int, ...]:
    """Hidden layers for the data size: one layer of 16 units under 2,000 rows, 32 under 20,000, then two
    layers (64 and 32, 128 and 64 from 200,000 rows): more rows carry more signal for more weights."""
    if n_rows < 2_000:
        return (16,)
    if n_rows < 20_000:
        return (32,)
    return (64, 32) if n_rows < 200_000 else (128, 64)


def _mlp(classify: bool, n_rows: int, random_state: int) -> Any:
    """A small neural network with early stopping (10% of the rows held back inside the fit); a
    regression target is standardised while it learns (the network's weights start near zero)."""
    # early stopping holds back 10% of the rows; under 200 rows that is too few to judge (and may lack a
    # class), so small tables train the full iterations with the L2 penalty alone
    params = dict(hidden_layer_sizes=mlp_layers(n_rows), alpha=1e-3, early_stopping=n_rows >= 200,
                  validation_fraction=0.1, n_iter_no_change=10, max_iter=300, random_state=random_state)
    if classify:
        return MLPClassifier(**params)
    return TransformedTargetRegressor(regressor=MLPRegressor(**params), transformer=StandardScaler())


def _svm(classify: bool, n_rows: int, class_weight: str | None, random_state: int) -> Any:
    """RBF-kernel SVM below SVM_KERNEL_ROWS rows, a linear SVM above; for classes, probabilities by 3-fold
    sigmoid calibration of its margins. Regression targets are standardised (epsilon, the margin of no
    loss, is then in standard deviations)."""
    if classify:
        # 3-fold sigmoid (Platt) calibration of the margins for both: SVC(probability=True) runs its own
        # 5-fold calibration and took 2.2x as long on Telco (14.1 s against 6.3 s for 5 folds, AUC 0.798 / 0.808)
        inner: Any = (SVC(kernel="rbf", C=1.0, gamma="scale", class_weight=class_weight, random_state=random_state)
                      if n_rows < SVM_KERNEL_ROWS else
                      LinearSVC(C=1.0, class_weight=class_weight, random_state=random_state))
        return CalibratedClassifierCV(inner, method="sigmoid", cv=3)
    regressor = SVR(kernel="rbf", C=1.0, gamma="scale") if n_rows < SVM_KERNEL_ROWS else \
        LinearSVR(C=1.0, random_state=random_state, max_iter=5000)
    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())


def grid_space(algorithm: str, task: str, n_rows: int | None = None) -> dict[str, list[Any]]:
    """Small grids for a grid search (at most 15 settings; parameters of the pipeline's 'model' step),
    around the defaults build_pipeline uses."""
    classify = task == "classification"
    inner = "model__" if classify else "model__regressor__"
    if algorithm == "linear":
        return {"model__C": [0.01, 0.1, 1.0, 10.0]} if classify else {"model__alpha": [0.1, 1.0, 10.0, 100.0]}
    if algorithm == "random_forest":
        return {"model__max_depth": [6, 10, 14], "model__min_samples_leaf": [1, 5, 20]}
    if algorithm == "gradient_boosting":
        return {"model__learning_rate": [0.05, 0.1, 0.2], "model__max_leaf_nodes": [15, 31, 63]}
    if algorithm == "tree":
        return {"model__max_depth": [2, 3, 4, 5, 6], "model__min_samples_leaf": [20, 50, 100]}
    if algorithm == "mlp":
        return {f"{inner}alpha": [1e-4, 1e-3, 1e-2], f"{inner}learning_rate_init": [1e-3, 1e-2]}
    if algorithm == "svm":
        svm = "model__estimator__" if classify else inner
        if (n_rows or 0) >= SVM_KERNEL_ROWS:  # linear: no kernel width
            return {f"{svm}C": [0.1, 1.0, 10.0]}
        return {f"{svm}C": [0.1, 1.0, 10.0], f"{svm}gamma": ["scale", 0.01, 0.1]}
    return {}


def search_space(algorithm: str, task: str, n_rows: int | None = None) -> dict[str, Any]:
    """Small randomized-search spaces (parameters of the pipeline's 'model' step; `n_rows`, the training
    rows, says which SVM build_pipeline makes)."""
    if algorithm == "linear":
        return {"model__C": loguniform(1e-3, 1e2)} if task == "classification" else {"model__alpha": loguniform(1e-3, 1e3)}
    if algorithm == "random_forest":
        return {"model__max_depth": randint(4, 20), "model__min_samples_leaf": randint(1, 50),
                "model__max_features": uniform(0.2, 0.7)}
    if algorithm == "gradient_boosting":
        return {"model__learning_rate": loguniform(0.02, 0.3), "model__max_leaf_nodes": randint(8, 64),
                "model__min_samples_leaf": randint(10, 200), "model__l2_regularization": loguniform(1e-3, 10)}
    if algorithm == "tree":
        return {"model__max_depth": randint(2, 7), "model__min_samples_leaf": randint(10, 200)}
    inner = "model__" if task == "classification" else "model__regressor__"
    if algorithm == "mlp":
        return {f"{inner}alpha": loguniform(1e-5, 1e-1), f"{inner}learning_rate_init": loguniform(1e-4, 1e-2)}
    if algorithm == "svm":  # C of the SVM (inside CalibratedClassifierCV for classes)
        return {("model__estimator__C" if task == "classification" else f"{inner}C"): loguniform(1e-2, 1e2)}
    return {}
