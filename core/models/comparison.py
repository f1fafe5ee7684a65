"""Compare all: every algorithm cross-validated on the same folds, as a leaderboard.

    board = compare(customers, "churned")      # one row per algorithm, best first

The rows and folds are the ones `train` uses with the same `cv` and `random_state` (the same hold-out
is set aside and never seen here; cross-validation runs on at most 50,000 training rows), so the
algorithm picked from the board and trained with `train(..., algorithm=...)` meets the same data.
Each algorithm's folds are identical (one list of folds, made once), so the differences between
rows are paired: `behind_best` is the mean per-fold gap to the best algorithm on the main metric,
and `clearly_behind` says whether it exceeds twice the standard error of those paired gaps (the
gap is larger than the fold-to-fold noise). Fit and predict times are seconds per fold.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import pandas as pd
from core.errors import DataError
from core.jobs import Progress
from core.models import steps
from core.models.estimators import ALGORITHMS, LABELS
from core.models.evaluate import HIGHER_IS_BETTER

MAIN_METRIC = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "r2"}
PAIRED_SE = 2.0  # a gap beyond this many standard errors of the paired per-fold gaps is "clearly behind"


def main_metric(problem: steps.Problem) -> str:
    """The leaderboard's metric: ROC AUC for classes (one-vs-rest for several), R² for numbers."""
    if problem.task == "regression":
        return MAIN_METRIC["regression"]
    return MAIN_METRIC["binary" if problem.binary else "multiclass"]


def fold_indices(problem: steps.Problem, parts: steps.Split, cv: int, random_state: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (fit, score) positions in the cross-validation rows: the folds `steps.cross_validate` makes."""
    return steps.fold_splits(problem, parts, cv, random_state)


def cross_validate_folds(problem: steps.Problem, parts: steps.Split, folds: Sequence[tuple[np.ndarray, np.ndarray]],
                         *, random_state: int = 0, progress: Progress | None = None) -> pd.DataFrame:
    """One row per fold: `steps.cross_validate` of `problem.algorithm` on exactly these `folds`, its
    metrics with fit_seconds and predict_seconds."""
    result = steps.cross_validate(problem, parts, folds=folds, random_state=random_state, progress=progress)
    assert result.timings is not None
    return pd.concat([result.metrics, result.timings], axis=1)


def leaderboard(per_fold: dict[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """Per-fold results of each algorithm -> one row each (means, `<metric>_std`), best first, with the
    paired comparison to the best (see the module docstring)."""
    higher = HIGHER_IS_BETTER.get(metric, True)
    rows = []
    for algorithm, folds in per_fold.items():
        values = folds.drop(columns="fold")
        row: dict[str, Any] = {"algorithm": algorithm, metric: float(values[metric].mean()),
                               f"{metric}_std": float(values[metric].std(ddof=1)) if len(values) > 1 else 0.0}
        for col in values.columns:
            if col not in (metric, "fit_seconds", "predict_seconds"):
                row[col] = float(values[col].mean())
        row["fit_seconds"] = float(values["fit_seconds"].mean())
        row["predict_seconds"] = float(values["predict_seconds"].mean())
        rows.append(row)
    board = pd.DataFrame(rows)
    order = board[metric].fillna(-np.inf if higher else np.inf)
    board = board.iloc[np.argsort(-order.to_numpy() if higher else order.to_numpy(), kind="stable")]
    board = board.reset_index(drop=True)
    best = str(board.loc[0, "algorithm"])
    best_folds = per_fold[best][metric].to_numpy(dtype="float64")
    behind, clearly = [], []
    for algorithm in board["algorithm"]:
        gaps = best_folds - per_fold[algorithm][metric].to_numpy(dtype="float64")
        gaps = gaps if higher else -gaps
        mean = float(np.mean(gaps))
        se = float(np.std(gaps, ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else float("inf")
        behind.append(mean)
        clearly.append(bool(algorithm != best and mean > PAIRED_SE * se))
    board.insert(1, "best", board["algorithm"] == best)
    board["behind_best"] = behind
    board["clearly_behind"] = clearly
    return board


def compare(df: pd.DataFrame, target: str, features: list[str] | None = None, *,
            algorithms: Sequence[str] | None = None, cv: int = 5, random_state: int = 0, task: str = "auto",
            class_weight: str | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Cross-validate every algorithm (or `algorithms`) on the same folds and return the leaderboard:
    one row per algorithm with the task's main metric (`roc_auc` or `r2`) and `<metric>_std` over the
    folds, the other metrics' means, fit_seconds and predict_seconds per fold, `best`, `behind_best`
    and `clearly_behind`; sorted best first. `attrs` holds the metric, folds and rows."""
    chosen = list(dict.fromkeys(algorithms or ALGORITHMS))
    unknown = [a for a in chosen if a not in ALGORITHMS]
    if unknown:
        raise DataError(f"Unknown algorithm(s) {', '.join(map(repr, unknown))}; choose from {', '.join(ALGORITHMS)}.")
    if not chosen:
        raise DataError("Pick at least one algorithm to compare.")
    steps._check_folds(cv)
    data = steps.prepare(df, target, features, task=task, algorithm=chosen[0], class_weight=class_weight,
                         progress=steps.within(progress, 0.0, 0.03))
    rng = np.random.default_rng(random_state)  # the generator train() draws its samples from
    parts = steps.split(data, cv=cv, random_state=random_state, rng=rng)
    metric = main_metric(data.problem)
    folds = fold_indices(data.problem, parts, cv, random_state)
    per_fold: dict[str, pd.DataFrame] = {}
    with steps.thread_cap(len(parts.X_train)):
        for i, algorithm in enumerate(chosen):
            problem = dataclasses.replace(data.problem, algorithm=algorithm)
            within = steps.within(progress, 0.03 + 0.97 * i / len(chosen), 0.97 / len(chosen))

            def share(fraction: float, message: str, name: str = LABELS[algorithm], inner: Any = within) -> None:
                if inner is not None:  # "Random forest: cross-validation: fold 2 of 5"
                    inner(fraction, f"{name}: {message[:1].lower()}{message[1:]}")

            per_fold[algorithm] = cross_validate_folds(problem, parts, folds, random_state=random_state,
                                                       progress=share)
    board = leaderboard(per_fold, metric)
    board.attrs.update(metric=metric, folds=len(folds), rows=int(len(parts.cv_rows)), task=data.problem.task,
                       warnings=list(data.warnings))
    steps.report(progress, 1.0, "Done")
    return board
