"""The steps `train()` runs, each a function with a small typed result that can be called on its own.

    data = prepare(df, "churned")                         # checks -> Dataset: X, y, Problem, warnings
    parts = split(data, test_size=0.2, cv=5)              # -> Split: training and hold-out rows, CV rows
    tuning = tune(data.problem, parts, 10)                # optional -> Tuning: the best parameters found
    cv = cross_validate(data.problem, parts, cv=5, params=tuning.params)   # -> CrossValidation: per fold
    pipe = fit(data.problem, parts, params=tuning.params)                  # -> the fitted Pipeline
    ev = evaluate(pipe, data.problem, parts)              # -> Evaluation: hold-out metrics, baseline, lift
    ex = explain(pipe, data.problem, parts)               # -> Explanation: importance, partial dependence

`core.models.train` is exactly this sequence (plus `leakage_warnings` after the split, progress between
the steps and a `TrainingInfo`), so a job runner can report the step it is in and a page or a notebook can
rerun one step, as with scikit-learn's `permutation_importance(estimator, X, y)`.

Randomness: `random_state` seeds the scikit-learn objects (split, folds, search, estimators, shuffles).
Row samples drawn for large tables (the cross-validation rows beyond 50,000 training rows, the hold-out
rows kept beyond 200,000, the importance sample beyond 3,000 hold-out rows, the partial-dependence
background) come from `rng`; `train()` passes one generator through split, evaluate and explain, so
the draws (and every number) are those of the single function train() was before. A step called on
its own with rng=None draws from a fresh `np.random.default_rng(random_state)`.
"""

from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.inspection import partial_dependence
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_info, threadpool_limits

from core.errors import DataError
from core.models.estimators import ALGORITHMS, build_pipeline, encoded_width, grid_space, search_space
from core.models.evaluate import (binary_metrics, curves, in_natural_order, ks_statistic, lift_table,
                                  multiclass_metrics, regression_metrics)
from core.models.inspection import permutation_importance
from core.models.prepare import check_target, detect_task, positive_class, suggest_features
from core.wording import plural

Progress = Callable[[float, str], None]
MAX_CV_ROWS = 50_000  # cross-validation and the hyper-parameter search use at most this many training rows
IMPORTANCE_ROWS = 3_000  # permutation importance is computed on a hold-out sample of this size
IMPORTANCE_BUDGET = 1_000  # features x shuffles: 5 shuffles up to 200 features, fewer (at least 2) beyond
PDP_ROWS = 400
PDP_FEATURES = 3  # partial dependence of this many of the most important features
KEEP_HOLDOUT = 200_000  # hold-out outcomes and scores kept for threshold, curves and lift views
ROWS_PER_THREAD = 100_000  # training uses one native thread per this many rows (at least 1, at most the limit)
IMBALANCED = 0.2  # minority class share below which classes are weighted (class_weight="auto")
# Width limits, checked before any fitting (train() refuses in seconds instead of running for minutes):
MAX_FEATURE_COLUMNS = 1_000  # model columns after one-hot encoding (estimators.encoded_width)
MAX_COLUMNS_PER_ROW = 1.0  # ... and at most this many model columns per row with a target
ROWS_PER_COLUMN_WARN = 10  # fewer rows per model column than this: warn that the model will overfit
ID_LIKE_SHARE = 0.95  # a text or whole-number feature with distinct values for this share of rows is id-like
ID_RUN_MIN = 100  # ... or whole numbers without gaps with at least this many distinct values (a row number)


# ---------------------------------------------------------------------------- typed results
@dataclass(frozen=True)
class Problem:
    """What is learned, without the data: task, algorithm, target, features by kind, the classes (sorted)
    and the positive one of a yes/no target, the class weighting. Every step after `prepare` needs it."""

    task: str  # "classification" or "regression"
    algorithm: str  # one of estimators.ALGORITHMS
    target: str
    numeric: list[str]
    categorical: list[str]
    classes: list[Any]  # empty for regression
    positive: Any = None  # the class that means "yes" (binary classification), else None
    class_weight: str | None = None  # "balanced" or None ("auto" is resolved by prepare)

    @property
    def features(self) -> list[str]:
        """Every feature, numbers first (the order of the model's columns)."""
        return self.numeric + self.categorical

    @property
    def binary(self) -> bool:
        """A yes/no classification (lift, curves, thresholds and partial dependence apply)."""
        return self.task == "classification" and len(self.classes) == 2

    def pipeline(self, n_rows: int, *, algorithm: str | None = None, params: Mapping[str, Any] | None = None,
                 random_state: int = 0) -> Pipeline:
        """A new, unfitted Pipeline for this problem (`estimators.build_pipeline`), with `params` (names of
        the model step's parameters, as in TrainedModel.params) set. `n_rows` is the training rows."""
        pipe = build_pipeline(self.task, algorithm or self.algorithm, list(self.numeric), list(self.categorical),
                              n_rows=n_rows, class_weight=self.class_weight, random_state=random_state)
        if params:
            pipe.set_params(**{f"model__{k}": v for k, v in params.items()})
        return pipe


@dataclass(frozen=True)
class Dataset:
    """The rows with a target, ready to learn from (`prepare`): the model's input frame `X` (numbers as
    float64, the rest as text), the target values `y`, the `Problem`, the raw labelled rows (`data`, for
    the leakage check) and what was noticed on the way (`warnings`)."""

    problem: Problem
    X: pd.DataFrame
    y: np.ndarray
    data: pd.DataFrame
    warnings: tuple[str, ...] = ()
    class_counts: dict[str, int] | None = None  # rows per class, most frequent first (classification)

    @property
    def rows(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Split:
    """Training and hold-out rows (`split`): the hold-out is never seen while fitting and gives the
    metrics; `cv_rows` are the positions in the training part that cross-validation and the search use
    (all of them up to MAX_CV_ROWS, a random sample beyond)."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    cv_rows: np.ndarray

    @property
    def train_index(self) -> pd.Index:
        """Index labels (of the frame passed to train) of the training rows."""
        return self.X_train.index

    @property
    def test_index(self) -> pd.Index:
        """Index labels of the hold-out rows."""
        return self.X_test.index

    @property
    def X_cv(self) -> pd.DataFrame:
        return self.X_train.iloc[self.cv_rows]

    @property
    def y_cv(self) -> np.ndarray:
        return self.y_train[self.cv_rows]


@dataclass(frozen=True)
class Tuning:
    """A randomized hyper-parameter search (`tune`): the best parameters of the model step (`params`,
    plain Python values; empty when no search ran), the metric it maximised and every candidate tried."""

    params: dict[str, Any]
    scoring: str | None = None
    best_score: float | None = None
    candidates: pd.DataFrame | None = None  # the search's cv_results_ as a frame
    method: str = "random"  # "random" or "grid"
    grid: dict[str, list[Any]] | None = None  # the grid searched (method "grid"), model-step parameter names

    def results(self) -> pd.DataFrame | None:
        """The settings tried, best first: one column per parameter, mean_score, std_score, rank."""
        if self.candidates is None:
            return None
        c = self.candidates
        params = [col for col in c.columns if col.startswith("param_")]
        out = c[params].rename(columns=lambda col: col.removeprefix("param_").removeprefix("model__"))
        out = out.assign(mean_score=c["mean_test_score"].to_numpy(), std_score=c["std_test_score"].to_numpy(),
                         rank=c["rank_test_score"].to_numpy())
        return out.sort_values("rank", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class CrossValidation:
    """Cross-validation on the training rows (`cross_validate`): one row of hold-out-style metrics per fold
    (`metrics`, with a `fold` column 1..k), and each fold's (fit, score) row positions in Split.X_train."""

    metrics: pd.DataFrame
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    rows: int  # training rows used (Split.cv_rows)
    timings: pd.DataFrame | None = None  # per fold: fit_seconds, predict_seconds (predictions and metrics)

    @property
    def mean(self) -> pd.Series:
        """Mean of each metric over the folds."""
        return self.metrics.drop(columns="fold", errors="ignore").mean()


@dataclass(frozen=True)
class Evaluation:
    """The fitted model on the hold-out (`evaluate`): its metrics and the baseline's (majority class or
    mean, fitted on the same training rows), the decile lift table, ROC/PR/calibration curves, the KS
    statistic (yes/no targets) and the hold-out outcomes with scores (`holdout`, for threshold views)."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    lift: pd.DataFrame | None = None  # yes/no and regression targets
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # yes/no: "roc", "pr", "calibration"
    holdout: pd.DataFrame | None = None  # y and proba (yes/no) or prediction (regression)
    ks: float | None = None
    rows: int = 0  # hold-out rows


@dataclass(frozen=True)
class Explanation:
    """What the fitted model relies on (`explain`): permutation importance on the hold-out (feature,
    importance, std; most important first), the estimator's own importance, partial dependence of the
    top features, and warnings (importance not computable, one feature dominating)."""

    importance: pd.DataFrame
    model_importance: pd.DataFrame | None = None
    pdp: dict[str, pd.DataFrame] = field(default_factory=dict)  # feature -> value, average
    warnings: tuple[str, ...] = ()
    repeats: int = 0  # shuffles per feature
    rows: int = 0  # hold-out rows shuffled


class TrainingInfo(dict[str, Any]):
    """How a model was trained: rows (all, training, hold-out, cross-validation, importance), folds,
    shuffles, test share, class weighting, random state, seconds, time, library versions, native
    threads, rows per class.

    It is a dict with the keys `TrainedModel.info` always had (`model.info["seconds"]`,
    `.get("versions", {})`, `**info` in the JSON metadata, `info["table"] = ...` in the model store), so
    saved models, their metadata and code reading keys keep working; the properties are the typed view.
    Models saved before it existed hold a plain dict, which loading wraps (`TrainedModel.__setstate__`);
    such old models may lack newer keys (importance_rows, threads ...): read those with `.get`.
    """

    @classmethod
    def create(cls, *, rows: int, train_rows: int, holdout_rows: int, ks: float | None, cv_rows: int,
               cv_folds: int, importance_repeats: int, importance_rows: int, test_size: float,
               class_weight: str | None, random_state: int, seconds: float, trained_at: str,
               versions: dict[str, str] | None = None, threads: int | None = None,
               class_counts: Mapping[str, int] | None = None) -> TrainingInfo:
        """A TrainingInfo with its keys in the order train() always wrote them (class_counts only for
        classification, threads when known)."""
        info = cls(rows=int(rows), train_rows=int(train_rows), holdout_rows=int(holdout_rows), ks=ks,
                   cv_rows=int(cv_rows), cv_folds=int(cv_folds), importance_repeats=int(importance_repeats),
                   importance_rows=int(importance_rows), test_size=float(test_size), class_weight=class_weight,
                   random_state=random_state, seconds=float(seconds), trained_at=trained_at,
                   versions=dict(versions) if versions is not None else library_versions())
        if threads is not None:
            info["threads"] = int(threads)
        if class_counts is not None:
            info["class_counts"] = {str(k): int(v) for k, v in class_counts.items()}
        return info

    @property
    def rows(self) -> int:
        return int(self["rows"])

    @property
    def train_rows(self) -> int:
        return int(self["train_rows"])

    @property
    def holdout_rows(self) -> int:
        return int(self["holdout_rows"])

    @property
    def cv_rows(self) -> int:
        return int(self["cv_rows"])

    @property
    def cv_folds(self) -> int:
        return int(self["cv_folds"])

    @property
    def importance_repeats(self) -> int | None:
        return self.get("importance_repeats")

    @property
    def importance_rows(self) -> int | None:
        return self.get("importance_rows")

    @property
    def ks(self) -> float | None:
        return self.get("ks")

    @property
    def test_size(self) -> float:
        return float(self["test_size"])

    @property
    def class_weight(self) -> str | None:
        return self.get("class_weight")

    @property
    def random_state(self) -> int:
        return int(self["random_state"])

    @property
    def seconds(self) -> float:
        return float(self["seconds"])

    @property
    def trained_at(self) -> str:
        return str(self["trained_at"])

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.get("versions", {}))

    @property
    def threads(self) -> int | None:
        """The most native (OpenMP/BLAS) threads a pool had while training (threadpoolctl), when recorded."""
        return self.get("threads")

    @property
    def class_counts(self) -> dict[str, int] | None:
        return self.get("class_counts")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved model depends on (load_model warns when they differ)."""
    import duckdb
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "pandas": pd.__version__,
            "numpy": np.__version__, "duckdb": duckdb.__version__}


def native_threads() -> int | None:
    """The most threads any native pool (OpenMP, BLAS) would use now (threadpoolctl); None when none is
    loaded. A job runner that limits threads per job sees its limit here."""
    try:
        counts = [int(p["num_threads"]) for p in threadpool_info() if p.get("num_threads")]
    except Exception:  # noqa: BLE001 - introspection only; never fail a training over it
        return None
    return max(counts) if counts else None


@contextlib.contextmanager
def thread_cap(rows: int) -> Iterator[int | None]:
    """Within the block, native (OpenMP/BLAS) pools use at most one thread per ROWS_PER_THREAD (100,000)
    rows, at least one, never more than they may now (a job's limit stays); yields the threads in force.

    Why: on tables of thousands to tens of thousands of rows a gradient-boosting fit, and every one of
    the hundreds of small predictions that importance and partial dependence make, is a short parallel
    region; a second thread gains little there, and when another process holds a core each region waits
    for the descheduled thread (Telco: 4.7 s with one thread, 11-13 s with two on this 2-core machine
    under other people's load; bench/training_defaults.py). Large tables keep their threads. The
    numbers do not depend on the thread count.
    """
    now = native_threads()
    wanted = max(1, int(rows) // ROWS_PER_THREAD)
    if now is None or wanted >= now:
        yield now
        return
    with threadpool_limits(limits=wanted):
        yield wanted


# ---------------------------------------------------------------------------- progress
def report(progress: Progress | None, share: float, message: str) -> None:
    """Call `progress(share, message)` with the share kept within 0..1 (no-op without a callback)."""
    if progress is not None:
        progress(min(max(share, 0.0), 1.0), message)


def within(progress: Progress | None, start: float, width: float) -> Progress | None:
    """A progress callback for one step: the step reports 0..1 of itself, the caller sees start..start+width."""
    if progress is None:
        return None
    outer = progress

    def inner(share: float, message: str) -> None:
        report(outer, start + width * share, message)
    return inner


def _generator(rng: np.random.Generator | None, random_state: int) -> np.random.Generator:
    return np.random.default_rng(random_state) if rng is None else rng


def _sample(rng: np.random.Generator, n: int, limit: int) -> np.ndarray:
    """Positions 0..n-1, or a sorted random `limit` of them when n is larger."""
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


# ---------------------------------------------------------------------------- checks (used by prepare)
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



def _check_folds(cv: int) -> None:
    if int(cv) != cv or cv < 2:
        raise DataError("cv must be a whole number of folds, at least 2.")


def _check_test_size(test_size: float) -> None:
    if not (0 < test_size < 1):
        raise DataError("test_size is the hold-out share: a number between 0 and 1 (e.g. 0.2).")


def _scoring(problem: Problem) -> str:
    """The metric a search maximises and importance shuffles measure: AUC (yes/no), log loss, R²."""
    if problem.task == "classification":
        return "roc_auc" if len(problem.classes) == 2 else "neg_log_loss"
    return "r2"


# ---------------------------------------------------------------------------- the steps
def prepare(df: pd.DataFrame, target: str, features: list[str] | None = None, *, task: str = "auto",
            algorithm: str = "auto", class_weight: str | None = None, progress: Progress | None = None) -> Dataset:
    """Check the target and the features and build the model's input: the first step of `train`.

    The task is detected unless given; rows without a target are left out (with a warning); features
    are suggested when not given (`suggest_features`), and chosen ones are checked (dates, empty or
    constant columns refused). Feature sets too wide to learn from are refused before any fitting
    (`quick_width_check`, then `check_width`), id-like features and infinities are warned about. The
    classes are sorted, the positive one of a yes/no target found, class_weight="auto" resolved
    ("balanced" when the smallest class is under IMBALANCED = 20% of rows).
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError("Training needs a pandas DataFrame.")
    if target not in df.columns:
        raise DataError(f"The target '{target}' is not in the table.")
    algorithm = "gradient_boosting" if algorithm == "auto" else algorithm
    if algorithm not in ALGORITHMS:
        raise DataError(f"algorithm must be one of {', '.join(ALGORITHMS)} or 'auto', not {algorithm!r}.")
    report(progress, 0.0, "Checking the target and features")
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

    classes: list[Any] = []
    positive = None
    class_counts = None
    if task == "classification":
        counts = y_all.value_counts()
        classes = sorted(counts.index.tolist(), key=lambda v: (str(type(v)), v))
        positive = positive_class(classes) if len(classes) == 2 else None
        share = counts.min() / counts.sum()
        if class_weight == "auto":
            class_weight = "balanced" if share < IMBALANCED else None
        class_counts = {str(k): int(v) for k, v in counts.items()}
    else:
        class_weight = None
    infinite = [c for c in numeric if np.isinf(pd.to_numeric(labelled[c], errors="coerce").astype("float64")).any()]
    if infinite:
        warnings.append(f"Infinite values in {', '.join(infinite)} were treated as missing.")
    problem = Problem(task=task, algorithm=algorithm, target=target, numeric=numeric, categorical=categorical,
                      classes=classes, positive=positive, class_weight=class_weight)
    return Dataset(problem=problem, X=X_all, y=y_all.to_numpy(), data=labelled, warnings=tuple(warnings),
                   class_counts=class_counts)


def split(data: Dataset, *, test_size: float = 0.2, cv: int = 5, random_state: int = 0,
          rng: np.random.Generator | None = None) -> Split:
    """Set aside a hold-out (`test_size`, stratified by class) and pick the cross-validation rows.

    Refuses (DataError saying what to do) data too small for a hold-out and `cv` folds: a class with
    fewer rows than folds, before or after the hold-out is set aside. The hold-out gives the honest
    metrics; cross-validation and the search use at most MAX_CV_ROWS (50,000) training rows, drawn
    from `rng` beyond that.
    """
    _check_test_size(test_size)
    _check_folds(cv)
    problem, y = data.problem, data.y
    target = problem.target
    stratify = None
    if problem.task == "classification":
        counts = pd.Series(y).value_counts()
        smallest = int(counts.min())
        if smallest < 2 or smallest < cv:
            raise DataError(f"The rarest class of '{target}' ({counts.idxmin()!r}) has only {plural(int(smallest), 'row')}; "
                            f"{cv}-fold cross-validation and a hold-out need at least {max(cv, 2)} per class. "
                            "Use fewer folds (cv) or more data.")
        stratify = y
    elif len(y) < cv * 2 + 2:
        raise DataError(f"Only {len(y)} rows with a target: too few for {cv}-fold cross-validation and a "
                        "hold-out. Use fewer folds or more data.")
    if len(y) * test_size < 1 or len(y) * (1 - test_size) < cv:
        raise DataError(f"Only {len(y)} rows: too few for a {test_size:.0%} hold-out and {cv}-fold "
                        "cross-validation. Use more data.")
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(data.X, y, test_size=test_size, random_state=random_state,
                                                  stratify=stratify)
    except ValueError as e:
        raise DataError(f"Could not split the data into training and hold-out parts: {e}. Use more data.") from None
    if problem.task == "classification":
        rarest = pd.Series(y_tr).value_counts().min()
        if rarest < cv:
            raise DataError(f"After setting aside the {test_size:.0%} hold-out, the rarest class of '{target}' has "
                            f"{plural(int(rarest), 'training row')}, fewer than the {cv} cross-validation folds. Use fewer folds "
                            "or more data.")
    cv_rows = _sample(_generator(rng, random_state), len(X_tr), MAX_CV_ROWS)
    return Split(X_train=X_tr, X_test=X_te, y_train=y_tr, y_test=y_te, cv_rows=cv_rows)


def tune(problem: Problem, parts: Split, candidates: int, *, random_state: int = 0, method: str = "random",
         progress: Progress | None = None) -> Tuning:
    """Hyper-parameter search, 3-fold on the cross-validation rows, maximising AUC (yes/no), log loss
    (several classes) or R² (regression): `method` "random" tries `candidates` settings drawn from
    `estimators.search_space`; "grid" tries every setting of `estimators.grid_space` (`candidates` is
    then ignored; Tuning.grid holds the grid).

    Returns the best parameters of the model step (pass them as `params` to cross_validate and fit);
    an empty Tuning when no search is asked for or the algorithm is the baseline (nothing to tune).
    """
    if method not in ("random", "grid"):
        raise DataError(f"The search method must be 'random' or 'grid', not {method!r}.")
    if (method == "random" and not candidates) or problem.algorithm == "baseline":
        return Tuning(params={})
    scoring = _scoring(problem)
    pipe = problem.pipeline(len(parts.X_train), random_state=random_state)
    grid: dict[str, list[Any]] | None = None
    if method == "grid":
        grid = grid_space(problem.algorithm, problem.task, len(parts.X_train))
        settings = int(np.prod([len(v) for v in grid.values()])) if grid else 0
        report(progress, 0.0, f"Grid search: {settings} settings")
        finder: Any = GridSearchCV(pipe, grid, cv=3, scoring=scoring, n_jobs=1, error_score="raise")
    else:
        report(progress, 0.0, f"Searching {int(candidates)} hyper-parameter settings")
        finder = RandomizedSearchCV(pipe, search_space(problem.algorithm, problem.task, len(parts.X_train)),
                                    n_iter=int(candidates), cv=3, scoring=scoring, random_state=random_state, n_jobs=1,
                                    error_score="raise")
    finder.fit(parts.X_cv, parts.y_cv)
    params = {k.removeprefix("model__"): (v.item() if hasattr(v, "item") else v)
              for k, v in finder.best_params_.items()}
    return Tuning(params=params, scoring=scoring, best_score=float(finder.best_score_),
                  candidates=pd.DataFrame(finder.cv_results_), method=method,
                  grid={k.removeprefix("model__"): list(v) for k, v in grid.items()} if grid is not None else None)


def fold_splits(problem: Problem, parts: Split, cv: int, random_state: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The `cv` (fit, score) position pairs in the cross-validation rows (Split.X_cv): stratified for
    classes, shuffled with `random_state`. `cross_validate` uses these unless given others."""
    _check_folds(cv)
    splitter = (StratifiedKFold(cv, shuffle=True, random_state=random_state) if problem.task == "classification"
                else KFold(cv, shuffle=True, random_state=random_state))
    return [(a, b) for a, b in splitter.split(parts.X_cv, parts.y_cv)]


def cross_validate(problem: Problem, parts: Split, *, cv: int = 5, params: Mapping[str, Any] | None = None,
                   random_state: int = 0, progress: Progress | None = None,
                   folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> CrossValidation:
    """`cv`-fold cross-validation (stratified for classes) on the cross-validation rows of the training part.

    Each fold fits a fresh pipeline with `params` and measures it on the fold left out with the same
    metrics as the hold-out, so the spread over folds shows how much the hold-out metrics could vary.
    `folds` (positions in Split.X_cv, e.g. `fold_splits`) replaces the `cv` folds made here: comparing
    algorithms on the very same folds. Reports progress per fold; each fold's fit and predict seconds
    are in CrossValidation.timings.
    """
    splits = list(folds) if folds is not None else fold_splits(problem, parts, cv, random_state)
    pipe = problem.pipeline(len(parts.X_train), params=params, random_state=random_state)
    X_cv, y_cv = parts.X_cv, parts.y_cv
    rows: list[dict[str, Any]] = []
    timings: list[dict[str, float]] = []
    positions: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (a, b) in enumerate(splits):
        report(progress, i / len(splits), f"Cross-validation: fold {i + 1} of {len(splits)}")
        started = time.perf_counter()
        fold_pipe = clone(pipe).fit(X_cv.iloc[a], y_cv[a])
        fitted_at = time.perf_counter()
        m, _ = _evaluate(problem.task, y_cv[b], fold_pipe, X_cv.iloc[b], problem.classes, problem.positive)
        rows.append({"fold": i + 1, **m})
        timings.append({"fit_seconds": fitted_at - started, "predict_seconds": time.perf_counter() - fitted_at})
        positions.append((parts.cv_rows[a], parts.cv_rows[b]))
    return CrossValidation(metrics=pd.DataFrame(rows), folds=tuple(positions), rows=len(parts.cv_rows),
                           timings=pd.DataFrame(timings))


def fit(problem: Problem, parts: Split, *, params: Mapping[str, Any] | None = None, random_state: int = 0,
        progress: Progress | None = None) -> Pipeline:
    """Fit the problem's pipeline (with `params`, e.g. Tuning.params) on all training rows; the model kept."""
    report(progress, 0.0, f"Fitting on {len(parts.X_train):,} training rows")
    pipe = problem.pipeline(len(parts.X_train), params=params, random_state=random_state)
    return pipe.fit(parts.X_train, parts.y_train)


def evaluate(pipeline: Any, problem: Problem, parts: Split, *, random_state: int = 0,
             rng: np.random.Generator | None = None, progress: Progress | None = None) -> Evaluation:
    """Measure a fitted pipeline on the hold-out, next to the baseline fitted on the same training rows.

    Yes/no targets also get the decile lift table, ROC/PR/calibration curves and the KS statistic;
    regression the lift table of the predicted value. The hold-out outcomes and scores are kept (at
    most KEEP_HOLDOUT rows, drawn from `rng`) for the threshold and curve views.
    """
    X_tr, X_te, y_tr, y_te = parts.X_train, parts.X_test, parts.y_train, parts.y_test
    report(progress, 0.0, f"Evaluating on {len(X_te):,} hold-out rows")
    metrics, scores = _evaluate(problem.task, y_te, pipeline, X_te, problem.classes, problem.positive)
    base_pipe = problem.pipeline(len(X_tr), algorithm="baseline", random_state=random_state).fit(X_tr, y_tr)
    baseline_metrics, _ = _evaluate(problem.task, y_te, base_pipe, X_te, problem.classes, problem.positive)

    lift = None
    ks = None
    holdout = None
    model_curves: dict[str, pd.DataFrame] = {}
    keep = _sample(_generator(rng, random_state), len(y_te), KEEP_HOLDOUT)
    if problem.binary:
        y_bin = (y_te == problem.positive).astype(int)
        lift = lift_table(y_bin, scores, bins=min(10, len(y_bin)))
        model_curves = curves(y_bin, scores)
        ks = ks_statistic(y_bin, scores)
        holdout = pd.DataFrame({"y": y_bin[keep], "proba": scores[keep]})
    elif problem.task == "regression":
        lift = lift_table(y_te, scores, bins=min(10, len(y_te)))
        holdout = pd.DataFrame({"y": y_te[keep].astype("float64"), "prediction": scores[keep]})
    return Evaluation(metrics=metrics, baseline_metrics=baseline_metrics, lift=lift, curves=model_curves,
                      holdout=holdout, ks=ks, rows=len(y_te))


def explain(pipeline: Any, problem: Problem, parts: Split, *, leakage: Sequence[Mapping[str, Any]] = (),
            random_state: int = 0, rng: np.random.Generator | None = None,
            progress: Progress | None = None) -> Explanation:
    """What a fitted pipeline relies on: permutation importance on the hold-out, its own importance,
    partial dependence of the PDP_FEATURES (3) most important features.

    Importance shuffles each feature of at most IMPORTANCE_ROWS (3,000) hold-out rows (drawn from `rng`)
    5 times (fewer beyond 200 features, IMPORTANCE_BUDGET) and measures the drop in AUC, log loss or R²
    (`inspection.permutation_importance`: scikit-learn's shuffles and numbers, each feature's shuffles
    predicted in one call).
    A feature carrying over 60% of it is warned about (unless `leakage`, from `leakage_warnings`,
    already names it). Partial dependence (yes/no and regression targets) averages over PDP_ROWS (400)
    training rows; months and weekdays come in calendar order.
    """
    gen = _generator(rng, random_state)
    X_tr, X_te, y_te = parts.X_train, parts.X_test, parts.y_test
    task, classes, positive, algorithm = problem.task, problem.classes, problem.positive, problem.algorithm
    used = problem.features
    warnings: list[str] = []
    report(progress, 0.0, "Measuring feature importance on the hold-out")
    imp_idx = _sample(gen, len(X_te), IMPORTANCE_ROWS)
    X_imp = X_te.iloc[imp_idx]
    y_imp = y_te[imp_idx]
    scoring = _scoring(problem)
    repeats = int(min(5, max(2, IMPORTANCE_BUDGET // max(len(used), 1))))
    try:
        if task == "classification" and len(np.unique(y_imp)) < len(classes):
            raise ValueError("a class is missing from the importance sample")
        if algorithm in ("gradient_boosting", "random_forest"):
            # Trees see each raw column as one coded column (passthrough numbers, LevelCoder levels), so
            # shuffling the coded matrix is the same as shuffling the raw table, without the per-call
            # DataFrame overhead of the preprocessing step (25 ms -> ~2 ms per call at 1,000 columns).
            coded = pipeline.named_steps["prepare"].transform(X_imp)
            if coded.shape[1] != len(used):  # pragma: no cover - the 1:1 mapping is what build_pipeline makes
                raise ValueError("the coded features do not match the columns")
            perm = permutation_importance(pipeline.named_steps["model"], coded, y_imp, n_repeats=repeats,
                                          random_state=random_state, scoring=scoring)
        else:
            perm = permutation_importance(pipeline, X_imp, y_imp, n_repeats=repeats, random_state=random_state,
                                          scoring=scoring)
        importance = pd.DataFrame({"feature": used, "importance": perm.importances_mean, "std": perm.importances_std})
    except ValueError as e:
        warnings.append(f"Permutation importance could not be computed ({e}).")
        importance = pd.DataFrame({"feature": used, "importance": np.nan, "std": np.nan})
    importance = importance.sort_values(["importance", "feature"], ascending=[False, True], na_position="last")
    importance = importance.reset_index(drop=True)
    own = _own_importance(pipeline, problem.numeric, problem.categorical) if algorithm != "baseline" else None

    total = importance["importance"].clip(lower=0).sum()
    if algorithm != "baseline" and total > 0 and len(used) > 1:
        top = importance.iloc[0]
        if top["importance"] / total > 0.6 and not any(leak["feature"] == top["feature"] for leak in leakage):
            warnings.append(f"'{top['feature']}' carries {top['importance'] / total:.0%} of the model's importance. "
                            "Check that it is known before the outcome; otherwise it leaks the answer.")

    report(progress, 0.6, "Partial dependence of the top features")
    pdp: dict[str, pd.DataFrame] = {}
    if algorithm != "baseline" and (task == "regression" or len(classes) == 2):
        bg = X_tr.iloc[gen.choice(len(X_tr), min(PDP_ROWS, len(X_tr)), replace=False)]
        # Trees get numbers unchanged (passthrough): their partial dependence is computed on the coded
        # matrix with the model alone, the same grid and predictions without the preprocessing per grid
        # value. Categorical features go through the pipeline (their grid is the raw levels).
        trees = algorithm in ("gradient_boosting", "random_forest")
        bg_coded = pipeline.named_steps["prepare"].transform(bg) if trees else None
        response = "auto" if task == "regression" else "predict_proba"
        for f in importance["feature"].head(PDP_FEATURES):
            try:
                is_cat = f in problem.categorical
                if trees and not is_cat:
                    res = partial_dependence(pipeline.named_steps["model"], bg_coded, [used.index(f)],
                                             kind="average", grid_resolution=20, response_method=response,
                                             method="brute")  # as for the pipeline (no recursion shortcut)
                else:
                    res = partial_dependence(pipeline, bg, [f], kind="average", grid_resolution=20,
                                             categorical_features=[f] if is_cat else None,
                                             response_method=response)
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
    return Explanation(importance=importance, model_importance=own, pdp=pdp, warnings=tuple(warnings),
                       repeats=repeats, rows=len(imp_idx))
