"""Train a model on demand and keep everything needed to read, compare, save and apply it.

`train()` runs the steps in `core.models.steps` (prepare -> split -> [tune] -> cross-validate -> fit ->
evaluate -> explain), each of which can also be called on its own, and collects their results in a
`TrainedModel`.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from core.errors import DataError
from core.models import steps
from core.models.evaluate import binary_metrics, confusion_at
from core.models.prepare import leakage_warnings
# Re-exported: the checks and limits live in core.models.steps (set limits there) and are still importable here.
from core.models.steps import (ID_LIKE_SHARE, ID_RUN_MIN, IMBALANCED, IMPORTANCE_BUDGET,  # noqa: F401
                               IMPORTANCE_ROWS, KEEP_HOLDOUT, MAX_COLUMNS_PER_ROW, MAX_CV_ROWS,
                               MAX_FEATURE_COLUMNS, PDP_ROWS, ROWS_PER_COLUMN_WARN, Progress, TrainingInfo,
                               check_width, id_like_reason, id_like_warnings, model_frame, quick_width_check)

_versions = steps.library_versions


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
    info: TrainingInfo = field(default_factory=TrainingInfo)  # a dict with typed properties (steps.TrainingInfo)
    pipeline: Any = None
    search_results: pd.DataFrame | None = None  # the hyper-parameter settings tried, best first (steps.Tuning.results)
    search_grid: dict[str, list[Any]] | None = None  # the grid of a grid search

    def __post_init__(self) -> None:
        if not isinstance(self.info, TrainingInfo):
            self.info = TrainingInfo(self.info or {})

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle (joblib.load). Models saved before TrainingInfo existed hold `info` as a plain dict; it
        is wrapped, keys and values unchanged, so old files load and read as new ones."""
        self.__dict__.update(state)
        if not isinstance(self.__dict__.get("info"), TrainingInfo):
            self.info = TrainingInfo(self.__dict__.get("info") or {})

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
    search_method: str = "random",
) -> TrainedModel:
    """Train one model and evaluate it honestly.

    A stratified hold-out (`test_size`) gives the metrics; `cv`-fold cross-validation on the
    training part (at most 50,000 rows) gives their spread; permutation importance is measured on
    the hold-out. `search` > 0 runs a randomized hyper-parameter search with that many candidates;
    search_method="grid" runs a grid search over `estimators.grid_space` instead (every setting of a
    small grid; `search` is then ignored). The settings tried are in `.search_results`, the grid in
    `.search_grid`.
    class_weight="auto" weights classes when the smallest is under 20% of rows ("balanced" always, None never;
    the default None keeps probabilities calibrated and results comparable with a plain scikit-learn model).

    Before any fitting, feature sets wider than 1,000 model columns after one-hot encoding, or wider than
    the rows with a target, are refused with a DataError that says to pick fewer features (`check_width`);
    thin data (under 10 rows per column) and id-like features (`id_like_reason`: unique for >= 95% of
    rows, or a run of whole numbers) are reported in `.warnings`.

    The work is the steps of `core.models.steps`, in this order, each reporting `progress(share, message)`
    within its part: prepare (0.02), split, the leakage check, tune (0.05, when `search`), cross_validate
    (0.10-0.45, per fold), fit (0.50), evaluate (0.75), explain (0.80-1.0), then "Done" (1.0).

    Native threads: at most one per 100,000 training rows from the split on (`steps.thread_cap`; never more
    than a job's limit), recorded in `info["threads"]`; the numbers do not depend on it.
    """
    started = time.perf_counter()
    if not isinstance(df, pd.DataFrame):
        raise DataError("Training needs a pandas DataFrame.")
    if target not in df.columns:
        raise DataError(f"The target '{target}' is not in the table.")
    algorithm = "gradient_boosting" if algorithm == "auto" else algorithm
    if algorithm not in steps.ALGORITHMS:
        raise DataError(f"algorithm must be one of {', '.join(steps.ALGORITHMS)} or 'auto', not {algorithm!r}.")
    steps._check_test_size(test_size)
    steps._check_folds(cv)
    data = steps.prepare(df, target, features, task=task, algorithm=algorithm, class_weight=class_weight,
                         progress=steps.within(progress, 0.02, 0.03))
    problem = data.problem
    # one generator through split, evaluate and explain: the row samples of large tables are drawn in the
    # same order as when train() was one function, so the same data give the same numbers
    rng = np.random.default_rng(random_state)
    parts = steps.split(data, test_size=test_size, cv=cv, random_state=random_state, rng=rng)
    leaks = (leakage_warnings(data.data, target, problem.features, problem.task, random_state)
             if problem.algorithm != "baseline" else [])
    # one native thread per 100,000 training rows (steps.thread_cap): small tables train faster and do not
    # stall when another process holds a core; the numbers are the same with any thread count
    with steps.thread_cap(len(parts.X_train)):
        threads = steps.native_threads()
        tuning = steps.tune(problem, parts, search, random_state=random_state, method=search_method,
                            progress=steps.within(progress, 0.05, 0.05))
        try:
            cross = steps.cross_validate(problem, parts, cv=cv, params=tuning.params, random_state=random_state,
                                         progress=steps.within(progress, 0.1, 0.35))
            pipe = steps.fit(problem, parts, params=tuning.params, random_state=random_state,
                             progress=steps.within(progress, 0.5, 0.25))
            evaluation = steps.evaluate(pipe, problem, parts, random_state=random_state, rng=rng,
                                        progress=steps.within(progress, 0.75, 0.05))
            explanation = steps.explain(pipe, problem, parts, leakage=leaks, random_state=random_state, rng=rng,
                                        progress=steps.within(progress, 0.8, 0.2))
        except ValueError as e:  # scikit-learn refusing the data (e.g. folds too small for a class)
            raise DataError(f"Training failed: {str(e).splitlines()[0]} Try fewer folds, another algorithm or "
                            "more data.") from None

    steps.report(progress, 1.0, "Done")
    info = TrainingInfo.create(
        rows=data.rows, train_rows=len(parts.X_train), holdout_rows=len(parts.X_test), ks=evaluation.ks,
        cv_rows=cross.rows, cv_folds=int(cv), importance_repeats=explanation.repeats,
        importance_rows=explanation.rows, test_size=test_size, class_weight=problem.class_weight,
        random_state=random_state, seconds=round(time.perf_counter() - started, 2),
        trained_at=_dt.datetime.now().isoformat(timespec="seconds"), versions=_versions(),
        threads=threads, class_counts=data.class_counts)
    return TrainedModel(
        task=problem.task, algorithm=problem.algorithm, target=target, features=problem.features,
        metrics=evaluation.metrics, cv_metrics=cross.metrics, importance=explanation.importance,
        numeric=list(problem.numeric), categorical=list(problem.categorical),
        classes_=list(pipe.classes_) if problem.task == "classification" else [], positive=problem.positive,
        baseline_metrics=evaluation.baseline_metrics, model_importance=explanation.model_importance,
        lift=evaluation.lift, curves=dict(evaluation.curves), pdp=dict(explanation.pdp), holdout=evaluation.holdout,
        warnings=list(data.warnings) + list(explanation.warnings), leakage=leaks, params=dict(tuning.params),
        info=info, pipeline=pipe, search_results=tuning.results(), search_grid=tuning.grid,
    )
