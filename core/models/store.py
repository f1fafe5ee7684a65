"""Saved models and the leaderboard of training runs, as files inside the workspace folder.

Each saved model is `<id>.joblib` (the TrainedModel) plus `<id>.json` (its metadata); every run
(saved or not) appends one line to `runs.jsonl`, so models on a table can be compared later.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError
from core.models.evaluate import HIGHER_IS_BETTER, score_deciles
from core.models.trained import TrainedModel, id_like_reason, load_model

_LOCK = threading.Lock()


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")[:40] or "model"


class ModelStore:
    """Models and runs of one workspace (files under `<workspace folder>/models`).

    Given the `workspace` (as `Workspace.model_store()` does), saving and recording need the
    analyst role and deleting the admin role, and each is written to the workspace's audit log.
    """

    def __init__(self, folder: str | Path, *, workspace: Any = None) -> None:
        self.folder = Path(folder)
        self.workspace = workspace
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"The models folder cannot be created ({e.strerror}). Ask an admin to check "
                            "that the server may write to the workspace folder.") from None

    def _check(self, action: str) -> None:
        if self.workspace is not None:
            self.workspace.require(action)

    def _record(self, action: str, table: str | None, detail: str) -> None:
        if self.workspace is not None:
            self.workspace.record(action, table=table, detail=detail)

    # ------------------------------------------------------------ models
    def _path(self, model_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-z][0-9a-z-]*", model_id or ""):
            raise DataError(f"'{model_id}' is not a model id.")
        return self.folder / f"{model_id}.joblib"

    def save(self, model: TrainedModel, name: str | None = None, table: str | None = None) -> str:
        """Save a trained model; returns its id (name + time, unique)."""
        self._check("save_model")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        base = _slug(name or f"{table or 'table'}-{model.target}-{model.algorithm}")
        model_id = f"{base}-{stamp}"
        if table:
            model.info["table"] = table
        model.info["name"] = name or base
        model.info["id"] = model_id
        try:
            model.save(self._path(model_id))
        except OSError as e:
            for leftover in (self._path(model_id), self._path(model_id).with_suffix(".json")):
                leftover.unlink(missing_ok=True)
            raise DataError(f"The model could not be saved ({e.strerror}); nothing was kept. Free disk "
                            "space on the server and save it again.") from None
        self._record("save_model", table, f"{model_id} ({model.algorithm}, target {model.target})")
        return model_id

    def list(self) -> pd.DataFrame:
        """Saved models, newest first: id, name, table, target, task, algorithm, main metric, trained_at."""
        rows = []
        for meta_path in self.folder.glob("*.json"):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            if not (self.folder / f"{meta_path.stem}.joblib").exists():
                continue
            metrics = meta.get("metrics", {})
            main = "roc_auc" if "roc_auc" in metrics else "r2"
            rows.append({"id": meta_path.stem, "name": meta.get("name", meta_path.stem), "table": meta.get("table"),
                         "target": meta.get("target"), "task": meta.get("task"), "algorithm": meta.get("algorithm"),
                         "metric": main, "value": metrics.get(main), "features": len(meta.get("features", [])),
                         "trained_at": meta.get("trained_at")})
        cols = ["id", "name", "table", "target", "task", "algorithm", "metric", "value", "features", "trained_at"]
        out = pd.DataFrame(rows, columns=cols)
        return out.sort_values("trained_at", ascending=False, na_position="last").reset_index(drop=True)

    def load(self, model_id: str) -> TrainedModel:
        return load_model(self._path(model_id))

    def delete(self, model_id: str) -> None:
        """Delete a saved model (admins only when the store belongs to a workspace)."""
        self._check("delete_model")
        path = self._path(model_id)
        if not path.exists():
            raise DataError(f"No saved model '{model_id}'.")
        path.unlink()
        path.with_suffix(".json").unlink(missing_ok=True)
        self._record("delete_model", None, model_id)

    # ------------------------------------------------------------ runs
    def record_run(self, model: TrainedModel, table: str, table_version: int | None = None,
                   saved_as: str | None = None) -> dict[str, Any]:
        """Append one training run to the leaderboard."""
        self._check("train")
        cv = model.cv_metrics.drop(columns="fold", errors="ignore")
        run = {"table": table, "table_version": table_version, "target": model.target, "task": model.task,
               "algorithm": model.algorithm, "features": len(model.features), "metrics": model.metrics,
               "cv_mean": cv.mean().to_dict() if not cv.empty else {},
               "cv_std": cv.std(ddof=1).to_dict() if len(cv) > 1 else {},
               "rows": model.info.get("rows"), "seconds": model.info.get("seconds"),
               "trained_at": model.info.get("trained_at"), "saved_as": saved_as}
        line = json.dumps(run, default=lambda v: None if isinstance(v, float) and np.isnan(v) else str(v))
        with _LOCK, open(self.folder / "runs.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return run

    def mark_saved(self, trained_at: str, model_id: str) -> None:
        """Note on the matching run that its model was saved."""
        path = self.folder / "runs.jsonl"
        if not path.exists():
            return
        with _LOCK:
            lines = path.read_text(encoding="utf-8").splitlines()
            out = []
            for line in lines:
                try:
                    run = json.loads(line)
                except ValueError:
                    continue
                if run.get("trained_at") == trained_at and not run.get("saved_as"):
                    run["saved_as"] = model_id
                out.append(json.dumps(run))
            path.write_text("\n".join(out) + "\n", encoding="utf-8")

    def runs(self, table: str | None = None, target: str | None = None) -> pd.DataFrame:
        """Leaderboard: one row per run (optionally for one table / target), best first; `table_version`
        tells runs on a replaced table from runs on the current one."""
        path = self.folder / "runs.jsonl"
        rows = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    run = json.loads(line)
                except ValueError:
                    continue
                if (table and run.get("table") != table) or (target and run.get("target") != target):
                    continue
                main = "roc_auc" if "roc_auc" in run.get("metrics", {}) else "r2"
                flat = {k: run.get(k) for k in ("trained_at", "table", "table_version", "target", "task", "algorithm",
                                                 "features", "rows", "seconds", "saved_as")}
                for m, v in run.get("metrics", {}).items():
                    flat[m] = v
                flat[f"cv_{main}"] = run.get("cv_mean", {}).get(main)
                flat[f"cv_{main}_sd"] = run.get("cv_std", {}).get(main)
                flat["_main"] = main
                rows.append(flat)
        out = pd.DataFrame(rows)
        if out.empty:
            return out
        main = out["_main"].iloc[0]
        out = out.drop(columns="_main")
        if main in out:
            out = out.sort_values(main, ascending=not HIGHER_IS_BETTER.get(main, True), na_position="last")
        return out.reset_index(drop=True)


SCORE_COLUMNS = ("predicted_class", "score", "prediction", "decile", "segment", "segment_name", "rfm_segment")
SEGMENT_COLUMNS = ("segment", "segment_name", "rfm_segment")


def carry_candidates(df: pd.DataFrame) -> list[str]:
    """Columns worth carrying into a scores table by default so scored rows can be joined back: the
    id-like ones (text or whole numbers distinct in >= 95% of rows, or a row counter; see
    `trained.id_like_reason`). Empty when the table has none."""
    sample = df if len(df) <= 200_000 else df.sample(200_000, random_state=0)
    return [str(c) for c in df.columns if id_like_reason(sample[c]) is not None]


def segment_table_for(tables: dict[str, list[str]], key: str | None) -> str | None:
    """The segment table to join scores to by default: the first of `tables` (name -> its columns)
    that has the join `key` and a segment column (segment, segment_name, rfm_segment); None when no
    table shares the key (never an unrelated table)."""
    if not key:
        return None
    for name, columns in tables.items():
        if key in columns and any(c in columns for c in SEGMENT_COLUMNS):
            return name
    return None


def score_table(model: TrainedModel, df: pd.DataFrame, id_column: str | None = None,
                segments: pd.DataFrame | None = None, carry: list[str] | None = None) -> pd.DataFrame:
    """Apply a model to a table: id, carried columns, score (probability of the positive class) or
    prediction, decile (1 = highest scores), and segment / segment_name when a segment table with
    the same id is given.

    `carry` names columns of `df` copied unchanged next to the scores (after `id_column`), so scored
    rows can be joined back to the table even when it has no single id (e.g. customer and date). A
    carried column whose name clashes with an output column (score, decile, segment ...) is kept as
    `<name>_input`. Rows keep the order of `df`.
    """
    missing = [f for f in model.features if f not in df.columns]
    if missing:
        raise DataError(f"The table lacks {len(missing)} column(s) the model needs: {', '.join(missing)}. "
                        "Pick a table with the same columns as the training table.")
    if id_column and id_column not in df.columns:
        raise DataError(f"The id column '{id_column}' is not in the table.")
    carry = [carry] if isinstance(carry, str) else list(dict.fromkeys(carry or []))
    absent = [c for c in carry if c not in df.columns]
    if absent:
        raise DataError(f"Column(s) to carry along are not in the table: {', '.join(map(repr, absent))}.")
    out = pd.DataFrame(index=df.index)
    if id_column:
        out[id_column] = df[id_column].to_numpy()
    for c in carry:
        if c == id_column:
            continue
        out[f"{c}_input" if c in SCORE_COLUMNS else c] = df[c].to_numpy()
    if model.task == "classification":
        proba = model.predict_proba(df)
        classes = list(model.classes_)
        out["predicted_class"] = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        if len(classes) == 2:
            out["score"] = proba[:, classes.index(model.positive)]
        else:
            for j, c in enumerate(classes):
                out[f"p_{c}"] = proba[:, j]
            out["score"] = proba.max(axis=1)
    else:
        out["prediction"] = model.predict(df).astype("float64")
        out["score"] = out["prediction"]
    out["decile"] = score_deciles(out["score"].to_numpy(), min(10, len(out))) if len(out) else []
    if segments is not None and id_column and id_column in segments.columns:
        keep = [c for c in SEGMENT_COLUMNS if c in segments.columns]
        out = out.merge(segments[[id_column] + keep].drop_duplicates(id_column), on=id_column, how="left")
    return out.reset_index(drop=True)
