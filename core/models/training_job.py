"""Training and scoring as background jobs (core.jobs): the top-level functions a worker process runs.

The worker gets the frame and the page's settings, trains with `core.models.train`, and saves the
model (joblib plus JSON metadata, `TrainedModel.save`) in the job's own folder; it never opens the
workspace database. The app process loads the file (`load_trained`) and records the run. Scoring
(`score_job`) returns the scores frame, which the app saves or shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import DataError
from core.jobs import Progress, current_job_dir
from core.models.store import score_table
from core.models.trained import TrainedModel, load_model, train

MODEL_FILE = "model.joblib"
# Scoring fewer rows than this runs in the app process: a worker's start (spawn, imports, pickling
# the model and the frame) costs seconds, more than scoring a small table takes.
SCORE_IN_PROCESS_ROWS = 200_000


def train_job(df: pd.DataFrame, settings: dict[str, Any], *, progress: Progress) -> str:
    """Train on `df` with the page's `settings` (target, features, task, algorithm, cv, test_size,
    search, class_weight) and save the model in the job folder; returns the model file's name."""
    model = train(df, settings["target"], settings.get("features"), task=settings.get("task", "auto"),
                  algorithm=settings.get("algorithm", "auto"), cv=int(settings.get("cv", 5)),
                  test_size=float(settings.get("test_size", 0.2)), search=int(settings.get("search", 0)),
                  class_weight=settings.get("class_weight"), search_method=settings.get("search_method", "random"),
                  progress=progress)
    folder = current_job_dir()
    if folder is None:
        raise DataError("train_job runs inside a job (core.jobs.JobRunner.submit).")
    progress(1.0, "Saving the model")
    model.save(folder / MODEL_FILE)
    return MODEL_FILE


def load_trained(job_dir: str | Path, name: str) -> TrainedModel:
    """The model a finished training job saved in its folder."""
    return load_model(Path(job_dir) / name)


def score_job(model: TrainedModel, df: pd.DataFrame, id_column: str | None, segments: pd.DataFrame | None,
              carry: list[str] | None, *, progress: Progress) -> tuple[pd.DataFrame, list[str]]:
    """Apply `model` to `df` (`core.models.score_table`); returns the scores and the model's warnings."""
    progress(0.1, f"Scoring {len(df):,} rows")
    scored = score_table(model, df, id_column, segments, carry=carry)
    progress(1.0, "Done")
    return scored, list(model.warnings)


def compare_job(df: pd.DataFrame, settings: dict[str, Any], *, progress: Progress) -> tuple[pd.DataFrame, dict]:
    """`core.models.compare` with the page's settings (target, features, task, cv, class_weight,
    algorithms); returns the leaderboard and its attrs (metric, folds, rows, task, warnings)."""
    from core.models.comparison import compare

    board = compare(df, settings["target"], settings.get("features"), algorithms=settings.get("algorithms"),
                    cv=int(settings.get("cv", 5)), task=settings.get("task", "auto"),
                    class_weight=settings.get("class_weight"), progress=progress)
    return board, dict(board.attrs)


def select_job(df: pd.DataFrame, settings: dict[str, Any], *, progress: Progress) -> Any:
    """`core.models.select_features` with the page's settings (target, features, task, cv, class_weight,
    method); returns the FeatureSelection."""
    from core.models.selection import select_features

    return select_features(df, settings["target"], settings.get("features"), method=settings.get("method", "lasso"),
                           cv=int(settings.get("cv", 5)), task=settings.get("task", "auto"),
                           class_weight=settings.get("class_weight"), progress=progress)
