"""Train a model on demand and keep everything needed to read, compare, save and apply it."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold, train_test_split

from core.errors import DataError
from core.models.estimators import ALGORITHMS, build_pipeline, encoded_width, search_space
from core.models.evaluate import (binary_metrics, confusion_at, curves, ks_statistic, lift_table,
                                  in_natural_order, multiclass_metrics,
                                  regression_metrics)
from core.models.prepare import (check_target, detect_task, leakage_warnings, positive_class,
                                 suggest_features)
from core.wording import plural

Progress = Callable[[float, str], None]
MAX_CV_ROWS = 50_000  # cross-validation and the hyper-parameter search use at most this many training rows
IMPORTANCE_ROWS = 3_000  # permutation importance is computed on a hold-out sample of this size
IMPORTANCE_BUDGET = 1_000  # features x shuffles: 5 shuffles up to 200 features, fewer (at least 2) beyond
PDP_ROWS = 400
KEEP_HOLDOUT = 200_000  # hold-out outcomes and scores kept for threshold, curves and lift views
IMBALANCED = 0.2  # minority class share below which classes are weighted (class_weight="auto")
# Width limits, checked before any fitting (train() refuses in seconds instead of running for minutes):
MAX_FEATURE_COLUMNS = 1_000  # model columns after one-hot encoding (estimators.encoded_width)
MAX_COLUMNS_PER_ROW = 1.0  # ... and at most this many model columns per row with a target
ROWS_PER_COLUMN_WARN = 10  # fewer rows per model column than this: warn that the model will overfit
ID_LIKE_SHARE = 0.95  # a text or whole-number feature with distinct values for this share of rows is id-like
ID_RUN_MIN = 100  # ... or whole numbers without gaps with at least this many distinct values (a row number)


def _versions() -> dict[str, str]:
    import duckdb
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "pandas": pd.__version__,
            "numpy": np.__version__, "duckdb": duckdb.__version__}


def model_frame(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input columns: numbers as float64, everything else as text (missing stays missing)."""
    missing = [c for c in numeric + categorical if c not in df.columns]
    if missing:
        raise DataError(f"The table lacks column(s) the model needs: {', '.join(missing)}. "
                        "Score a table that has every feature the model was trained on.")
    columns: dict[str, pd.Series] = {}
    for c in numeric:
        # infinities (a division by zero upstream) are treated as missing; train() says so
        columns[c] = pd.to_numeric(df[c], errors="coerce").astype("float64").replace([np.inf, -np.inf], np.nan)
    for c in categorical:
        # pandas' string dtype (Arrow-backed) keeps splits and copies of millions of labels cheap
        columns[c] = df[c].astype("str")
    # built at once: inserting a thousand columns one by one fragments the frame (slow, and pandas warns)
    return pd.DataFrame(columns, index=df.index, columns=numeric + categorical)


@dataclass
class TrainedModel:
    """A trained model with its evaluation. `predict` / `predict_proba` take raw tables."""

    task: str
    algorithm: str
    target: str
    features: list[str]
    metrics: dict[str, float]
    cv_metrics: pd.DataFrame
    importance: pd.DataFrame
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    classes_: list = field(default_factory=list)
    positive: Any = None
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    model_importance: pd.DataFrame | None = None
    lift: pd.DataFrame | None = None
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    pdp: dict[str, pd.DataFrame] = field(default_factory=dict)
    holdout: pd.DataFrame | None = None  # y (and proba of the positive class or prediction) on the hold-out
    warnings: list[str] = field(default_factory=list)
    leakage: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    pipeline: Any = None

    # ------------------------------------------------------------ applying
    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(df, pd.DataFrame):
            raise DataError("Pass a pandas DataFrame with the model's feature columns.")
        return model_frame(df, self.numeric, self.categorical)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted class (classification) or value (regression) for every row."""
        return self.pipeline.predict(self._frame(df))

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in `classes_` order (classification only)."""
        if self.task != "classification":
            raise DataError("predict_proba is for classification models; use predict for regression.")
        return self.pipeline.predict_proba(self._frame(df))

    def score(self, df: pd.DataFrame) -> np.ndarray:
        """One number per row for ranking: the positive class's probability, or the predicted value."""
        if self.task == "classification":
            proba = self.predict_proba(df)
            col = self.classes_.index(self.positive) if self.positive in self.classes_ else -1
            return proba[:, col]
        return self.predict(df).astype("float64")

    # ------------------------------------------------------------ views
    def confusion(self, threshold: float = 0.5) -> pd.DataFrame:
        """Confusion matrix on the hold-out at a probability threshold (binary classification)."""
        if self.holdout is None or "proba" not in self.holdout:
            raise DataError("A confusion matrix at a threshold needs a yes/no classification model.")
        return confusion_at(self.holdout["y"].to_numpy(), self.holdout["proba"].to_numpy(), threshold)

    def metrics_at(self, threshold: float) -> dict[str, float]:
        """Hold-out metrics at another threshold (binary classification)."""
        if self.holdout is None or "proba" not in self.holdout:
            raise DataError("Thresholds apply to yes/no classification models.")
        return binary_metrics(self.holdout["y"].to_numpy(), self.holdout["proba"].to_numpy(), threshold)

    # ------------------------------------------------------------ persistence
    def meta(self) -> dict[str, Any]:
        """Plain metadata (JSON-safe): what was trained on what, how well, with which libraries."""
        return {"task": self.task, "algorithm": self.algorithm, "target": self.target, "features": self.features,
                "metrics": self.metrics, "cv_mean": self.cv_metrics.mean(numeric_only=True).drop("fold", errors="ignore").to_dict()
                if not self.cv_metrics.empty else {}, "classes": [str(c) for c in self.classes_],
                "positive": None if self.positive is None else str(self.positive), "params": self.params,
                **self.info}

    def save(self, path: str | Path) -> Path:
        """Write the model (joblib) and its metadata (JSON next to it)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        joblib.dump(self, tmp, compress=3)
        tmp.replace(p)
        p.with_suffix(".json").write_text(json.dumps(self.meta(), indent=2, default=str))
        return p


def load_model(path: str | Path) -> TrainedModel:
    """Load a model saved with TrainedModel.save; warns (in .warnings) when library versions differ."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"No saved model at {p}.")
    try:
        model = joblib.load(p)
    except Exception as e:  # noqa: BLE001 - any unpickling problem is a user-facing data problem here
        raise DataError(f"The model file {p.name} cannot be read ({type(e).__name__}: {e}). Train it again.") from None
    if not isinstance(model, TrainedModel):
        raise DataError(f"{p.name} is not a Marketing Workbench model.")
    saved = model.info.get("versions", {})
    now = _versions()
    differ = [f"{k} {saved[k]} -> {now[k]}" for k in ("scikit-learn", "numpy") if k in saved and saved[k] != now[k]]
    if differ:
        model.warnings.append("Saved with other library versions (" + ", ".join(differ) + "); check its scores.")
    return model


# ---------------------------------------------------------------------------- checks before training
def _refuse_if_too_wide(width: int, chosen: int, rows: int) -> str:
    """Raise the 'too many features' DataError when `width` model columns exceed the limits; else
    return how the width reads in messages."""
    encoded = f"{width:,} model columns" + (f" after one-hot encoding of {chosen:,} features" if width != chosen
                                              else f" ({chosen:,} features)")
    limit = int(min(MAX_FEATURE_COLUMNS, max(rows * MAX_COLUMNS_PER_ROW, 1)))
    if width > limit:
        reasons = []
        if width > MAX_FEATURE_COLUMNS:
            reasons.append(f"more than the {MAX_FEATURE_COLUMNS:,} this workbench trains on (training would run for "
                           "many minutes)")
        if width > rows * MAX_COLUMNS_PER_ROW:
            reasons.append(f"more than the {rows:,} rows with a target (a model would memorise the rows, not learn "
                           "from them)")
        raise DataError(f"Too many features: {encoded}, {' and '.join(reasons)}. Pick fewer features: at most "
                        f"{limit:,} model columns; keep the behaviour columns you expect to matter and leave out ids, "
                        "free text and categorical columns with many levels.")
    return encoded


def check_width(df: pd.DataFrame, numeric: list[str], categorical: list[str], rows: int | None = None) -> list[str]:
    """Refuse feature sets too wide to train in reasonable time or to learn from; warn when merely thin.

    The width is the number of model columns after one-hot encoding (`estimators.encoded_width`).
    Refused (DataError saying what to do) when it exceeds MAX_FEATURE_COLUMNS (1,000), or
    MAX_COLUMNS_PER_ROW (1) per row with a target: cross-validation, permutation importance and
    partial dependence grow with every column, and with more columns than rows a model memorises rows.
    Returns warnings (fewer than ROWS_PER_COLUMN_WARN = 10 rows per column). Answers in seconds for
    10,000 columns.
    """
    rows = len(df) if rows is None else int(rows)
    width = encoded_width(df, numeric, categorical)
    encoded = _refuse_if_too_wide(width, len(numeric) + len(categorical), rows)
    if width * ROWS_PER_COLUMN_WARN > rows:
        return [f"Only {rows / width:.1f} rows per model column ({rows:,} rows, {encoded}): the model will likely "
                f"overfit and its hold-out metrics vary a lot. Fewer features (or more rows: "
                f"{ROWS_PER_COLUMN_WARN} per column) give a more trustworthy model."]
    return []


def quick_width_check(df: pd.DataFrame, target: str, features: list[str] | None, rows: int) -> None:
    """Refuse an obviously too-wide table before the per-column feature advice (which takes minutes on
    10,000 columns). Counts a lower bound of the model columns: numbers that vary, are not mostly
    missing and are not id-like, plus (for chosen features) the one-hot levels of text columns.
    Tables within the limits by column count return at once; the exact check (`check_width`) follows."""
    chosen = [features] if isinstance(features, str) else features
    columns = [c for c in (df.columns if chosen is None else chosen) if c != target and c in df.columns]
    limit = min(MAX_FEATURE_COLUMNS, max(rows * MAX_COLUMNS_PER_ROW, 1))
    if len(columns) <= limit:
        return
    sample = df[columns] if len(df) <= 20_000 else df[columns].sample(20_000, random_state=0)
    varies = sample.nunique(dropna=True) > 1
    present = sample.isna().mean() < 0.95
    numeric, text = [], []
    for c in columns:
        s = sample[c]
        if not (varies[c] and present[c]):
            continue
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            if id_like_reason(s) is None:
                numeric.append(c)
        elif features is not None:
            text.append(c)
    width = len(numeric) + (encoded_width(sample, [], text) if text else 0)
    _refuse_if_too_wide(width, len(numeric) + len(text), rows)


def id_like_reason(s: pd.Series) -> str | None:
    """Why a column looks like an id or row number rather than a measurement (None when it does not).

    Text or whole numbers with a distinct value for at least ID_LIKE_SHARE (95%) of the non-missing
    rows, or an integer sequence: whole numbers without gaps (min..max all present) with at least
    ID_RUN_MIN (100) distinct values covering half the rows or more (ages, days of the month and
    tenure in months have fewer). Continuous measurements (fractional numbers such as spend) are
    unique too and are not flagged. Needs at least 20 values to judge.
    """
    values = s.dropna()
    n = len(values)
    if n < 20 or pd.api.types.is_bool_dtype(values):
        return None
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        if not np.isfinite(x).all() or not np.all(np.mod(x, 1) == 0):
            return None
    distinct = int(values.nunique())
    if distinct >= ID_LIKE_SHARE * n:
        return f"has a different value in {distinct / n:.0%} of rows"
    if numeric and distinct >= max(0.5 * n, ID_RUN_MIN) and float(np.max(x) - np.min(x)) + 1 == distinct:
        return f"is a run of consecutive whole numbers ({int(np.min(x)):,} to {int(np.max(x)):,}), like a row number"
    return None


def id_like_warnings(df: pd.DataFrame, features: list[str]) -> list[str]:
    """Warnings for features that look like ids or row numbers (`id_like_reason`), louder for a lone one."""
    sample = df if len(df) <= 200_000 else df.sample(200_000, random_state=0)
    flagged = {f: r for f in features if (r := id_like_reason(sample[f])) is not None}
    if not flagged:
        return []
    if len(features) == 1:
        (f, reason), = flagged.items()
        return [f"The only feature, '{f}', looks like an identifier: it {reason}. A model can only memorise ids, "
                "not learn who will respond, so the metrics below say nothing about new customers. Pick behaviour "
                "columns (visits, spend, plan ...) as features instead."]
    return [f"'{f}' looks like an identifier: it {reason}. A model learns nothing from an id that carries over to "
            "new customers; leave it out of the features unless it is a real measurement." for f, reason in flagged.items()]


# ---------------------------------------------------------------------------- training
def _report(progress: Progress | None, share: float, message: str) -> None:
    if progress is not None:
        progress(min(max(share, 0.0), 1.0), message)


def _resolve_features(df: pd.DataFrame, target: str, features: list[str] | None) -> tuple[list[str], list[str]]:
    if features is None:
        advice = suggest_features(df, target)
        if not advice.suggested:
            raise DataError("No usable features: every other column is an id, a date, free text, constant or "
                            "mostly missing. Add behaviour columns to the table.")
        return advice.numeric, advice.categorical
    features = [features] if isinstance(features, str) else list(dict.fromkeys(features))
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise DataError(f"Feature(s) {', '.join(map(repr, missing))} are not in the table.")
    if target in features:
        raise DataError(f"The target '{target}' cannot also be a feature; remove it from the features.")
    if not features:
        raise DataError("No usable features: pick at least one column to predict from.")
    advice = suggest_features(df[features + [target]], target)  # kinds of the chosen columns only
    kinds = advice.table.set_index("column")["kind"]
    dates = [f for f in features if kinds.get(f) == "date"]
    if dates:
        raise DataError(f"Date column(s) {', '.join(dates)} cannot be used directly; derive numbers such as days "
                        "since the date first.")
    unusable = [f for f in features if df[f].isna().all() or df[f].nunique(dropna=True) <= 1]
    if len(unusable) == len(features):
        raise DataError("No usable features: the chosen columns are empty or constant.")
    numeric = [f for f in features if kinds.get(f) in ("number", "yes/no") and f not in unusable]
    categorical = [f for f in features if kinds.get(f) == "text" and f not in unusable]
    return numeric, categorical


def _evaluate(task: str, y: np.ndarray, pipe: Any, X: pd.DataFrame, classes: list, positive: Any) -> tuple[dict, np.ndarray]:
    if task == "regression":
        pred = pipe.predict(X)
        return regression_metrics(y, pred), pred
    proba = pipe.predict_proba(X)
    if len(classes) == 2:
        p = proba[:, list(classes).index(positive)]
        return binary_metrics((y == positive).astype(int), p), p
    return multiclass_metrics(y, proba, classes), proba


def _own_importance(pipe: Any, numeric: list[str], categorical: list[str]) -> pd.DataFrame | None:
    """The estimator's own importance (forest impurity, |standardised coefficient|), per original column."""
    model = pipe.named_steps["model"]
    names = list(pipe.named_steps["prepare"].get_feature_names_out())
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype="float64")
    elif hasattr(model, "coef_"):
        coef = np.atleast_2d(model.coef_)
        values = np.abs(coef).mean(axis=0)
    else:
        return None
    columns = sorted(numeric + categorical, key=len, reverse=True)

    def source(name: str) -> str:
        base = name.removeprefix("missingindicator_")
        for c in columns:
            if base == c or base.startswith(c + "_"):
                return c
        return base

    s = pd.Series(values, index=[source(n) for n in names]).groupby(level=0).sum()
    if s.sum() > 0:
        s = s / s.sum()
    return (s.rename("importance").rename_axis("feature").reset_index()
            .sort_values("importance", ascending=False).reset_index(drop=True))


def train(
    df: pd.DataFrame,
    target: str,
    features: list[str] | None = None,
    *,
    task: str = "auto",
    algorithm: str = "auto",
    cv: int = 5,
    test_size: float = 0.2,
    random_state: int = 0,
    progress: Progress | None = None,
    search: int = 0,
    class_weight: str | None = None,
) -> TrainedModel:
    """Train one model and evaluate it honestly.

    A stratified hold-out (`test_size`) gives the metrics; `cv`-fold cross-validation on the
    training part (at most 50,000 rows) gives their spread; permutation importance is measured on
    the hold-out. `search` > 0 runs a randomized hyper-parameter search with that many candidates.
    class_weight="auto" weights classes when the smallest is under 20% of rows ("balanced" always, None never;
    the default None keeps probabilities calibrated and results comparable with a plain scikit-learn model).

    Before any fitting, feature sets wider than 1,000 model columns after one-hot encoding, or wider than
    the rows with a target, are refused with a DataError that says to pick fewer features (`check_width`);
    thin data (under 10 rows per column) and id-like features (`id_like_reason`: unique for >= 95% of
    rows, or a run of whole numbers) are reported in `.warnings`.
    """
    started = time.perf_counter()
    if not isinstance(df, pd.DataFrame):
        raise DataError("Training needs a pandas DataFrame.")
    if target not in df.columns:
        raise DataError(f"The target '{target}' is not in the table.")
    algorithm = "gradient_boosting" if algorithm == "auto" else algorithm
    if algorithm not in ALGORITHMS:
        raise DataError(f"algorithm must be one of {', '.join(ALGORITHMS)} or 'auto', not {algorithm!r}.")
    if not (0 < test_size < 1):
        raise DataError("test_size is the hold-out share: a number between 0 and 1 (e.g. 0.2).")
    if int(cv) != cv or cv < 2:
        raise DataError("cv must be a whole number of folds, at least 2.")
    _report(progress, 0.02, "Checking the target and features")
    task = detect_task(df[target]) if task == "auto" else task
    y_all = check_target(df[target], task)
    warnings: list[str] = []
    dropped = len(df) - len(y_all)
    if dropped:
        warnings.append(f"{plural(dropped, 'row')} without a target value {'was' if dropped == 1 else 'were'} left out.")
    quick_width_check(df, target, features, len(y_all))  # seconds, before minutes of per-column advice
    numeric, categorical = _resolve_features(df, target, features)
    used = numeric + categorical
    labelled = df if dropped == 0 else df[df[target].notna().to_numpy()]
    warnings += check_width(labelled, numeric, categorical)  # refuses too-wide feature sets before any fitting
    warnings += id_like_warnings(labelled, used)
    X_all = model_frame(labelled, numeric, categorical)
    y_values = y_all.to_numpy()

    classes: list = []
    positive = None
    stratify = None
    if task == "classification":
        counts = y_all.value_counts()
        classes = sorted(counts.index.tolist(), key=lambda v: (str(type(v)), v))
        smallest = int(counts.min())
        if smallest < 2 or smallest < cv:
            raise DataError(f"The rarest class of '{target}' ({counts.idxmin()!r}) has only {plural(int(smallest), 'row')}; "
                            f"{cv}-fold cross-validation and a hold-out need at least {max(cv, 2)} per class. "
                            "Use fewer folds (cv) or more data.")
        positive = positive_class(classes) if len(classes) == 2 else None
        stratify = y_values
        share = counts.min() / counts.sum()
        if class_weight == "auto":
            class_weight = "balanced" if share < IMBALANCED else None
    else:
        class_weight = None
        if len(y_all) < cv * 2 + 2:
            raise DataError(f"Only {len(y_all)} rows with a target: too few for {cv}-fold cross-validation and a "
                            "hold-out. Use fewer folds or more data.")
    if len(y_all) * test_size < 1 or len(y_all) * (1 - test_size) < cv:
        raise DataError(f"Only {len(y_all)} rows: too few for a {test_size:.0%} hold-out and {cv}-fold "
                        "cross-validation. Use more data.")
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(X_all, y_values, test_size=test_size, random_state=random_state,
                                                  stratify=stratify)
    except ValueError as e:
        raise DataError(f"Could not split the data into training and hold-out parts: {e}. Use more data.") from None

    if task == "classification":
        rarest = pd.Series(y_tr).value_counts().min()
        if rarest < cv:
            raise DataError(f"After setting aside the {test_size:.0%} hold-out, the rarest class of '{target}' has "
                            f"{plural(int(rarest), 'training row')}, fewer than the {cv} cross-validation folds. Use fewer folds "
                            "or more data.")
    infinite = [c for c in numeric if np.isinf(pd.to_numeric(labelled[c], errors="coerce").astype("float64")).any()]
    if infinite:
        warnings.append(f"Infinite values in {', '.join(infinite)} were treated as missing.")

    leaks = leakage_warnings(labelled, target, used, task, random_state) if algorithm != "baseline" else []

    def make(alg: str = algorithm) -> Any:
        return build_pipeline(task, alg, numeric, categorical, n_rows=len(X_tr), class_weight=class_weight,
                              random_state=random_state)

    pipe = make()
    rng = np.random.default_rng(random_state)
    cv_idx = np.arange(len(X_tr)) if len(X_tr) <= MAX_CV_ROWS else np.sort(rng.choice(len(X_tr), MAX_CV_ROWS, replace=False))
    X_cv, y_cv = X_tr.iloc[cv_idx], y_tr[cv_idx]
    splitter = (StratifiedKFold(cv, shuffle=True, random_state=random_state) if task == "classification"
                else KFold(cv, shuffle=True, random_state=random_state))
    params: dict[str, Any] = {}
    if search and algorithm != "baseline":
        _report(progress, 0.05, f"Searching {search} hyper-parameter settings")
        scoring = "roc_auc" if task == "classification" and len(classes) == 2 else \
            "neg_log_loss" if task == "classification" else "r2"
        finder = RandomizedSearchCV(pipe, search_space(algorithm, task), n_iter=int(search), cv=3, scoring=scoring,
                                    random_state=random_state, n_jobs=1, error_score="raise")
        finder.fit(X_cv, y_cv)
        params = {k.removeprefix("model__"): (v.item() if hasattr(v, "item") else v)
                  for k, v in finder.best_params_.items()}
        pipe.set_params(**finder.best_params_)

    try:
        return _fit_and_evaluate(
            task=task, algorithm=algorithm, target=target, cv=cv, test_size=test_size, random_state=random_state,
            progress=progress, warnings=warnings, numeric=numeric, categorical=categorical, used=used, y_all=y_all,
            classes=classes, positive=positive, class_weight=class_weight, X_tr=X_tr, X_te=X_te, y_tr=y_tr, y_te=y_te,
            leaks=leaks, make=make, pipe=pipe, rng=rng, cv_idx=cv_idx, X_cv=X_cv, y_cv=y_cv, splitter=splitter,
            params=params, started=started)
    except ValueError as e:  # scikit-learn refusing the data (e.g. folds too small for a class)
        raise DataError(f"Training failed: {str(e).splitlines()[0]} Try fewer folds, another algorithm or more data.") from None


def _fit_and_evaluate(*, task: str, algorithm: str, target: str, cv: int, test_size: float, random_state: int,
                      progress: Progress | None, warnings: list[str], numeric: list[str], categorical: list[str],
                      used: list[str], y_all: pd.Series, classes: list, positive: Any, class_weight: Any,
                      X_tr: pd.DataFrame, X_te: pd.DataFrame, y_tr: np.ndarray, y_te: np.ndarray, leaks: list,
                      make: Callable[..., Any], pipe: Any, rng: np.random.Generator, cv_idx: np.ndarray,
                      X_cv: pd.DataFrame, y_cv: np.ndarray, splitter: Any, params: dict,
                      started: float) -> TrainedModel:
    """Cross-validate, fit, evaluate and explain (the second half of train)."""
    folds = []
    for i, (a, b) in enumerate(splitter.split(X_cv, y_cv)):
        _report(progress, 0.1 + 0.35 * i / cv, f"Cross-validation: fold {i + 1} of {cv}")
        fold_pipe = clone(pipe).fit(X_cv.iloc[a], y_cv[a])
        m, _ = _evaluate(task, y_cv[b], fold_pipe, X_cv.iloc[b], classes, positive)
        folds.append({"fold": i + 1, **m})
    cv_metrics = pd.DataFrame(folds)

    _report(progress, 0.5, f"Fitting on {len(X_tr):,} training rows")
    pipe.fit(X_tr, y_tr)
    _report(progress, 0.75, f"Evaluating on {len(X_te):,} hold-out rows")
    metrics, scores = _evaluate(task, y_te, pipe, X_te, classes, positive)
    base_pipe = make("baseline").fit(X_tr, y_tr)
    baseline_metrics, _ = _evaluate(task, y_te, base_pipe, X_te, classes, positive)

    lift = None
    ks = None
    holdout = None
    model_curves: dict[str, pd.DataFrame] = {}
    keep = np.arange(len(y_te)) if len(y_te) <= KEEP_HOLDOUT else np.sort(rng.choice(len(y_te), KEEP_HOLDOUT, replace=False))
    if task == "classification" and len(classes) == 2:
        y_bin = (y_te == positive).astype(int)
        lift = lift_table(y_bin, scores, bins=min(10, len(y_bin)))
        model_curves = curves(y_bin, scores)
        ks = ks_statistic(y_bin, scores)
        holdout = pd.DataFrame({"y": y_bin[keep], "proba": scores[keep]})
    elif task == "regression":
        lift = lift_table(y_te, scores, bins=min(10, len(y_te)))
        holdout = pd.DataFrame({"y": y_te[keep].astype("float64"), "prediction": scores[keep]})

    _report(progress, 0.8, "Measuring feature importance on the hold-out")
    imp_idx = np.arange(len(X_te)) if len(X_te) <= IMPORTANCE_ROWS else np.sort(rng.choice(len(X_te), IMPORTANCE_ROWS, replace=False))
    X_imp = X_te.iloc[imp_idx]
    y_imp = y_te[imp_idx]
    scoring = ("roc_auc" if len(classes) == 2 else "neg_log_loss") if task == "classification" else "r2"
    repeats = int(min(5, max(2, IMPORTANCE_BUDGET // max(len(used), 1))))
    try:
        if task == "classification" and len(np.unique(y_imp)) < len(classes):
            raise ValueError("a class is missing from the importance sample")
        if algorithm in ("gradient_boosting", "random_forest"):
            # Trees see each raw column as one coded column (passthrough numbers, LevelCoder levels), so
            # shuffling the coded matrix is the same as shuffling the raw table, without the per-call
            # DataFrame overhead of the preprocessing step (25 ms -> ~2 ms per call at 1,000 columns).
            coded = pipe.named_steps["prepare"].transform(X_imp)
            if coded.shape[1] != len(used):  # pragma: no cover - the 1:1 mapping is what build_pipeline makes
                raise ValueError("the coded features do not match the columns")
            perm = permutation_importance(pipe.named_steps["model"], coded, y_imp, n_repeats=repeats,
                                          random_state=random_state, scoring=scoring, n_jobs=1)
        else:
            perm = permutation_importance(pipe, X_imp, y_imp, n_repeats=repeats, random_state=random_state,
                                          scoring=scoring, n_jobs=1)
        importance = pd.DataFrame({"feature": used, "importance": perm.importances_mean, "std": perm.importances_std})
    except ValueError as e:
        warnings.append(f"Permutation importance could not be computed ({e}).")
        importance = pd.DataFrame({"feature": used, "importance": np.nan, "std": np.nan})
    importance = importance.sort_values(["importance", "feature"], ascending=[False, True], na_position="last")
    importance = importance.reset_index(drop=True)
    own = _own_importance(pipe, numeric, categorical) if algorithm != "baseline" else None

    total = importance["importance"].clip(lower=0).sum()
    if algorithm != "baseline" and total > 0 and len(used) > 1:
        top = importance.iloc[0]
        if top["importance"] / total > 0.6 and not any(leak["feature"] == top["feature"] for leak in leaks):
            warnings.append(f"'{top['feature']}' carries {top['importance'] / total:.0%} of the model's importance. "
                            "Check that it is known before the outcome; otherwise it leaks the answer.")

    _report(progress, 0.92, "Partial dependence of the top features")
    pdp: dict[str, pd.DataFrame] = {}
    if algorithm != "baseline" and (task == "regression" or len(classes) == 2):
        bg = X_tr.iloc[rng.choice(len(X_tr), min(PDP_ROWS, len(X_tr)), replace=False)]
        for f in importance["feature"].head(3):
            try:
                is_cat = f in categorical
                res = partial_dependence(pipe, bg, [f], kind="average", grid_resolution=20,
                                         categorical_features=[f] if is_cat else None,
                                         response_method="auto" if task == "regression" else "predict_proba")
                values = res["grid_values"][0]
                avg = res["average"][0]
                if task == "classification" and classes.index(positive) == 0:
                    avg = 1 - avg  # sklearn reports the second class; flip to the positive one
                frame = pd.DataFrame({"value": values, "average": avg})
                if is_cat:  # months and weekdays in calendar order, numbers by value (sklearn sorts as text)
                    frame = in_natural_order(frame, "value")
                pdp[f] = frame
            except (ValueError, TypeError):
                continue

    _report(progress, 1.0, "Done")
    info = {"rows": int(len(y_all)), "train_rows": int(len(X_tr)), "holdout_rows": int(len(X_te)),
            "ks": ks if task == "classification" and len(classes) == 2 else None,
            "cv_rows": int(len(cv_idx)), "cv_folds": int(cv), "importance_repeats": repeats,
            "importance_rows": int(len(imp_idx)), "test_size": float(test_size),
            "class_weight": class_weight, "random_state": random_state, "seconds": round(time.perf_counter() - started, 2),
            "trained_at": _dt.datetime.now().isoformat(timespec="seconds"), "versions": _versions()}
    if task == "classification":
        info["class_counts"] = {str(k): int(v) for k, v in y_all.value_counts().items()}
    return TrainedModel(
        task=task, algorithm=algorithm, target=target, features=used, metrics=metrics, cv_metrics=cv_metrics,
        importance=importance, numeric=numeric, categorical=categorical, classes_=list(pipe.classes_) if task == "classification" else [],
        positive=positive, baseline_metrics=baseline_metrics, model_importance=own, lift=lift, curves=model_curves,
        pdp=pdp, holdout=holdout, warnings=warnings, leakage=leaks, params=params, info=info, pipeline=pipe,
    )
