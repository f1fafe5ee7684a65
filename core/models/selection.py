"""Feature selection before training: LASSO (an L1 path with cross-validation) or RFE (recursive
feature elimination with cross-validation), on the training rows only.

    chosen = select_features(customers, "churned", method="lasso")
    chosen.selected            # the features to keep
    chosen.ranking             # feature, score (lasso) or rank (rfe), kept
    train(customers, "churned", chosen.selected)

Both work on the linear model's inputs (numbers imputed and standardised, categories one-hot
encoded), so coefficients are comparable across features; a feature's score is its largest
absolute coefficient over its model columns (a category's levels, a number's missing indicator).
The rows are the cross-validation rows `train` uses with the same `random_state` (the hold-out is
set aside and not looked at), folds stratified for classes.

- lasso: L1-penalised logistic regression (classes; the path stops once two weaker penalties in a row
  gain less than one standard error, which saves the slowest fits) or the lasso (numbers) over a grid
  of penalties;
  the penalty kept is the strongest whose cross-validated score is within one standard error of the
  best (the "one-standard-error rule" of Hastie, Tibshirani and Friedman, Elements of Statistical
  Learning, 7.10): simpler models that are as good as the best within noise, which drops the
  features that only fit noise. Kept: a coefficient other than zero at that penalty.
- rfe: scikit-learn's RFECV with a plain logistic / ridge regression, dropping the weakest model
  column at a time and keeping the number of columns with the best cross-validated score. A
  feature's rank is its best column's (1 = kept).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import RFECV
from sklearn.linear_model import Lasso, LassoCV, LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from core.errors import DataError
from core.jobs import Progress
from core.models import steps
from core.models.estimators import build_pipeline

Method = Literal["lasso", "rfe"]
METHODS = ("lasso", "rfe")
PENALTIES = np.logspace(-3, 1, 12)  # C of the L1 logistic regression (smaller = stronger penalty)
PATH_PATIENCE = 2  # penalties in a row without a gain of one standard error before the path stops


@dataclass(frozen=True)
class FeatureSelection:
    """The chosen features (`selected`, in the ranking's order) and every feature's `ranking` (feature,
    score or rank, kept), with the cross-validated `score` of the choice on `metric` and the
    `penalty` (lasso: C for classes, alpha for numbers) or the number of model columns kept (rfe)."""

    method: str
    selected: list[str]
    ranking: pd.DataFrame
    metric: str
    score: float
    penalty: float | None = None
    columns_kept: int | None = None
    rows: int = 0
    warnings: list[str] = field(default_factory=list)


def _source_of(names: list[str], features: list[str]) -> list[str]:
    """The feature each model column comes from ('channel_web' -> 'channel', 'missingindicator_age' -> 'age')."""
    by_length = sorted(features, key=len, reverse=True)
    out = []
    for name in names:
        base = name.removeprefix("missingindicator_")
        out.append(next((f for f in by_length if base == f or base.startswith(f + "_")), base))
    return out


def _scoring(problem: steps.Problem) -> str:
    if problem.task == "regression":
        return "r2"
    return "roc_auc" if problem.binary else "neg_log_loss"


def _one_se(means: np.ndarray, ses: np.ndarray, simpler_first: np.ndarray) -> int:
    """The simplest setting (first in `simpler_first` order) whose mean is within one SE of the best."""
    best = int(np.nanargmax(means))
    for i in simpler_first:
        if means[i] >= means[best] - ses[best]:
            return int(i)
    return best


def _lasso(Z: np.ndarray, y: np.ndarray, problem: steps.Problem, folds: Any, random_state: int
           ) -> tuple[np.ndarray, float, float, str]:
    """(|coefficients| per model column, penalty, cross-validated score, metric)."""
    if problem.task == "regression":
        path = LassoCV(alphas=40, cv=folds, random_state=random_state, max_iter=5000).fit(Z, y)
        mse = path.mse_path_  # alphas x folds, alphas from the strongest penalty down
        chosen = _one_se(-mse.mean(axis=1), mse.std(axis=1, ddof=1) / np.sqrt(mse.shape[1]),
                         np.arange(len(path.alphas_)))
        alpha = float(path.alphas_[chosen])
        coef = np.abs(Lasso(alpha=alpha, max_iter=5000).fit(Z, y).coef_)
        r2 = float(np.mean(cross_val_score(Lasso(alpha=alpha, max_iter=5000), Z, y, cv=folds, scoring="r2")))
        return coef, alpha, r2, "r2"
    scoring = _scoring(problem)
    target = (y == problem.positive).astype(int) if problem.binary else y
    means: list[float] = []
    ses: list[float] = []
    flat = 0
    for C in PENALTIES:  # from the strongest penalty down; weak penalties are the slow fits
        model = LogisticRegression(C=float(C), l1_ratio=1.0, solver="liblinear" if problem.binary else "saga",
                                   max_iter=2000, class_weight=problem.class_weight, random_state=random_state)
        scores = cross_val_score(model, Z, target, cv=folds, scoring=scoring)
        best = int(np.argmax(means)) if means else None
        means.append(float(np.mean(scores)))
        ses.append(float(np.std(scores, ddof=1) / np.sqrt(len(scores))))
        # the path has levelled off once two weaker penalties in a row gain less than one standard error
        # on the best so far: on such a plateau the one-SE choice stays put unless a still weaker penalty
        # did markedly better, which these paths rarely do; the weakest penalties are the slowest fits
        # (Bank Marketing: 5.6 s instead of 49.7 s, the same features kept)
        flat = flat + 1 if best is not None and means[-1] < means[best] + ses[best] else 0
        if flat >= PATH_PATIENCE:
            break
    chosen = _one_se(np.asarray(means), np.asarray(ses), np.arange(len(means)))  # smallest C first
    C = float(PENALTIES[chosen])
    fitted = LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear" if problem.binary else "saga", max_iter=2000,
                                class_weight=problem.class_weight, random_state=random_state).fit(Z, target)
    coef = np.abs(np.atleast_2d(fitted.coef_)).max(axis=0)
    return coef, C, float(means[chosen]), scoring


def _rfe(Z: np.ndarray, y: np.ndarray, problem: steps.Problem, folds: Any) -> tuple[np.ndarray, int, float, str]:
    """(rank per model column, columns kept, cross-validated score, metric)."""
    scoring = _scoring(problem)
    if problem.task == "regression":
        estimator: Any = Ridge(alpha=1.0)
        target = y
    else:
        estimator = LogisticRegression(C=1.0, max_iter=2000, class_weight=problem.class_weight)
        target = (y == problem.positive).astype(int) if problem.binary else y
    rfe = RFECV(estimator, step=1, cv=folds, scoring=scoring, min_features_to_select=1, n_jobs=1).fit(Z, target)
    best = int(np.argmax(rfe.cv_results_["mean_test_score"]))
    return np.asarray(rfe.ranking_), int(rfe.n_features_), float(rfe.cv_results_["mean_test_score"][best]), scoring


def select_features(df: pd.DataFrame, target: str, features: list[str] | None = None, *, method: str = "lasso",
                    cv: int = 5, random_state: int = 0, task: str = "auto", class_weight: str | None = None,
                    progress: Progress | None = None) -> FeatureSelection:
    """Rank the features (the suggested ones when `features` is None) by LASSO or RFE with `cv`-fold
    cross-validation and return the chosen set (see the module docstring)."""
    if method not in METHODS:
        raise DataError(f"method must be 'lasso' or 'rfe', not {method!r}.")
    steps._check_folds(cv)
    data = steps.prepare(df, target, features, task=task, algorithm="linear", class_weight=class_weight,
                         progress=steps.within(progress, 0.0, 0.1))
    problem = data.problem
    if not problem.features:
        raise DataError("There are no features to select from.")
    rng = np.random.default_rng(random_state)
    parts = steps.split(data, cv=cv, random_state=random_state, rng=rng)
    X, y = parts.X_cv, parts.y_cv
    prepare = build_pipeline(problem.task, "linear", problem.numeric, problem.categorical, n_rows=len(X),
                             random_state=random_state).named_steps["prepare"]
    steps.report(progress, 0.15, "Encoding and scaling the features")
    with np.errstate(all="ignore"):
        Z = np.asarray(prepare.fit_transform(X, y), dtype="float64")
    sources = _source_of([str(n) for n in prepare.get_feature_names_out()], problem.features)
    folds = (StratifiedKFold(cv, shuffle=True, random_state=random_state) if problem.task == "classification"
             else KFold(cv, shuffle=True, random_state=random_state))
    notes: list[str] = list(data.warnings)
    steps.report(progress, 0.2, "LASSO path with cross-validation" if method == "lasso"
                 else "Recursive feature elimination with cross-validation")
    with warnings.catch_warnings(record=True) as caught, steps.thread_cap(len(X)):
        warnings.simplefilter("always", ConvergenceWarning)
        if method == "lasso":
            values, penalty, score, metric = _lasso(Z, y, problem, folds, random_state)
            per_feature = pd.Series(values, index=sources).groupby(level=0).max()
            ranking = pd.DataFrame({"feature": per_feature.index, "score": per_feature.to_numpy()})
            ranking["kept"] = ranking["score"] > 1e-10
            ranking = ranking.sort_values(["kept", "score"], ascending=False, kind="stable")
            columns_kept = None
        else:
            ranks, columns_kept, score, metric = _rfe(Z, y, problem, folds)
            per_feature = pd.Series(ranks, index=sources).groupby(level=0).min()
            ranking = pd.DataFrame({"feature": per_feature.index, "rank": per_feature.to_numpy().astype(int)})
            ranking["kept"] = ranking["rank"] == 1
            ranking = ranking.sort_values(["rank", "feature"], kind="stable")
            penalty = None
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("Some fits did not fully converge within their iterations; the ranking may shift slightly.")
    ranking = ranking.reset_index(drop=True)
    selected = ranking.loc[ranking["kept"], "feature"].tolist()
    if not selected:
        notes.append("No feature carries signal at the chosen penalty: the target may not be predictable from "
                     "these features.")
    steps.report(progress, 1.0, "Done")
    return FeatureSelection(method=method, selected=selected, ranking=ranking, metric=metric, score=score,
                            penalty=penalty, columns_kept=columns_kept, rows=len(X), warnings=notes)
