"""Recorded kmeans_segments outputs on fixed synthetic data, to prove a refactor changes no number.

`python tests/segments_baseline.py` (re)records tests/data/kmeans_baseline.json from the current code;
tests/test_segments_steps.py compares today's outputs with the recording. Only re-record on purpose,
when a change to the numbers is intended.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BASELINE = Path(__file__).resolve().parent / "data" / "kmeans_baseline.json"

# Smaller sample limits for the "sampled" case, so the large-table code paths (sampled preprocessing fit,
# sweep sample, final fit from the sample's centres, sampled medians) run on 3,000 rows.
SAMPLED_LIMITS = {"SWEEP_SAMPLE": 1_000, "FIT_SAMPLE": 2_000, "SILHOUETTE_SAMPLE": 300, "MAP_SAMPLE": 500}


def blobs_frame() -> pd.DataFrame:
    """800 customers, 4 planted groups, a skewed spend column (log-transformed) and a channel."""
    X, y = make_blobs(n_samples=800, n_features=3, centers=4, cluster_std=1.2, random_state=11)
    df = pd.DataFrame(X, columns=["recency", "orders", "sessions"])
    df["spend"] = np.exp(X[:, 0] / 4 + np.random.default_rng(3).normal(0, 0.5, len(X))) * 100
    df["channel"] = np.where(y % 2 == 0, "web", "store")
    df.loc[::37, "sessions"] = np.nan
    return df


def sampled_frame() -> pd.DataFrame:
    X, _ = make_blobs(n_samples=3_000, n_features=4, centers=5, cluster_std=1.5, random_state=21)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"])


def one_feature_frame() -> pd.DataFrame:
    X, _ = make_blobs(n_samples=400, n_features=1, centers=[[0.0], [20.0]], cluster_std=1.0, random_state=5)
    return pd.DataFrame({"spend": X[:, 0] + 100})


# name -> (frame maker, features, keyword arguments, module constants to patch)
CASES: dict[str, tuple[Callable[[], pd.DataFrame], list[str], dict[str, Any], dict[str, int]]] = {
    "sweep": (blobs_frame, ["recency", "orders", "sessions", "spend", "channel"],
              {"categorical": ["channel"], "random_state": 5}, {}),
    "given_k": (blobs_frame, ["recency", "orders", "sessions", "spend"],
                {"k": 3, "scale": "robust", "random_state": 2}, {}),
    "sampled": (sampled_frame, ["a", "b", "c", "d"], {"k_range": range(2, 7), "random_state": 1}, SAMPLED_LIMITS),
    "one_feature": (one_feature_frame, ["spend"], {"log_transform": False, "k_range": [2, 3, 4]}, {}),
}


def _frame(df: pd.DataFrame | None) -> dict[str, Any] | None:
    if df is None:
        return None
    out = df.reset_index()
    return {"columns": [str(c) for c in out.columns],
            "data": [[_plain(v) for v in row] for row in out.itertuples(index=False)]}


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def snapshot(res: Any) -> dict[str, Any]:
    """Everything a SegmentResult says, as JSON-able values (floats kept at full precision)."""
    return {
        "k": int(res.k),
        "reason": res.reason,
        "labels": [int(x) for x in res.labels],
        "selection": _frame(res.selection),
        "smallest_share": [float(x) for x in res.smallest_share] if res.smallest_share is not None else None,
        "stability": float(res.stability),
        "stability_runs": [float(x) for x in res.stability_runs],
        "profile": _frame(res.profile),
        "profile_detail": _frame(res.profile_detail),
        "effects": _frame(res.effects),
        "names": {str(k): v for k, v in sorted(res.names.items())},
        "importance": _frame(res.importance),
        "rules": _frame(res.rules),
        "fidelity": float(res.fidelity),
        "distances": [float(x) for x in res.distances],
        "map": _frame(res.map),
        "map_variance": [float(x) for x in res.map_variance],
        "features": list(res.features),
        "categorical": list(res.categorical),
        "logged": list(res.logged),
        "warnings": list(res.warnings),
    }


def run_case(name: str) -> Any:
    """kmeans_segments on one recorded case, with its module constants patched for the call."""
    import core.segments.kmeans as km
    make, features, kwargs, limits = CASES[name]
    saved = {c: getattr(km, c) for c in limits}
    try:
        for c, v in limits.items():
            setattr(km, c, v)
        return km.kmeans_segments(make(), features, **kwargs)
    finally:
        for c, v in saved.items():
            setattr(km, c, v)


def record() -> None:
    BASELINE.parent.mkdir(exist_ok=True)
    data = {name: snapshot(run_case(name)) for name in CASES}
    BASELINE.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    summary = ", ".join(f"{n}: k = {d['k']}" for n, d in data.items())
    print(f"wrote {BASELINE} ({summary})")


if __name__ == "__main__":
    record()
