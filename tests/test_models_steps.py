"""train() as steps: prepare -> split -> tune -> cross-validate -> fit -> evaluate -> explain.

1. The refactored train() reproduces, number for number (1e-10), what train() returned before it was split
   into steps: tests/data/models_steps_reference.json was recorded with the single-function train() of
   commit 7e6eca4 (the SAMPLED cases with its row limits set to LIMITS, so every row sample is drawn), one
   OpenMP thread. Compared: metrics, cross-validation folds, importance, lift, curves, partial dependence,
   hold-out, warnings, leakage, params, info, scores and the progress messages, for every algorithm on
   binary, multiclass and regression targets (demo customers and synthetic frames, fixed random_state).
2. Each step function can be called on its own, like scikit-learn's permutation_importance, and returns a
   small typed result.
3. `info` stays a dict (TrainingInfo); models saved before, with a plain dict, still load.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.models import train  # noqa: E402

REFERENCE = Path(__file__).resolve().parent / "data" / "models_steps_reference.json"
VOLATILE_INFO = ("seconds", "trained_at", "versions", "threads")  # differ from run to run or machine to machine


# ---------------------------------------------------------------------------- datasets (deterministic)
def demo_customers(n: int = 600) -> pd.DataFrame:
    """The demo data's customers table (sample_data/generate.py), without its date and planted-truth columns."""
    from sample_data.generate import customers
    return customers(n, seed=42).drop(columns=["signup_date", "customer_type"])


def synthetic_classification(n: int = 500, classes: int = 2, seed: int = 1) -> pd.DataFrame:
    """make_classification with a categorical column derived from a signal (and one of noise), some gaps."""
    from sklearn.datasets import make_classification
    weights = [0.8] if classes == 2 else None
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=1, n_classes=classes,
                               weights=weights, random_state=seed)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    df["band"] = pd.cut(df.pop("x5"), [-np.inf, -0.5, 0.5, np.inf], labels=["low", "mid", "high"]).astype(str)
    df["colour"] = rng.choice(["red", "green", "blue", "grey"], n)
    df.loc[rng.random(n) < 0.03, "x1"] = np.nan
    df["target"] = np.asarray(["no", "yes"] if classes == 2 else ["a", "b", "c", "d"][:classes])[y]
    return df


def synthetic_regression(n: int = 500, seed: int = 2) -> pd.DataFrame:
    """make_regression plus a categorical effect and gaps."""
    from sklearn.datasets import make_regression
    X, y = make_regression(n_samples=n, n_features=5, n_informative=3, noise=15.0, random_state=seed)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df["plan"] = rng.choice(["basic", "plus", "pro"], n)
    df["spend"] = y + df["plan"].map({"basic": -20.0, "plus": 0.0, "pro": 35.0})
    df.loc[rng.random(n) < 0.03, "x2"] = np.nan
    return df


def _churn_labels() -> pd.DataFrame:
    df = demo_customers(500)
    return df.assign(churned=np.where(df["churned"] == 1, "yes", "no"))


# name -> (data, target, train() keyword arguments)
CASES: dict[str, tuple[Callable[[], pd.DataFrame], str, dict[str, Any]]] = {
    "demo_churn_auto": (demo_customers, "churned", {}),
    "demo_churn_linear": (demo_customers, "churned", {"algorithm": "linear", "cv": 3}),
    "demo_churn_baseline": (demo_customers, "churned", {"algorithm": "baseline"}),
    "demo_churn_labels_rf_auto_weight": (_churn_labels, "churned",
                                         {"algorithm": "random_forest", "class_weight": "auto", "cv": 3}),
    "demo_purchase_gb_search": (demo_customers, "purchased_next_30d", {"search": 3, "cv": 3, "random_state": 7}),
    "demo_spend_regression_gb": (demo_customers, "total_spend",
                                 {"features": ["tenure_days", "recency_days", "sessions_30d", "email_open_rate",
                                               "discount_share", "region", "channel"], "cv": 3}),
    "binary_gb_balanced": (synthetic_classification, "target",
                           {"class_weight": "balanced", "random_state": 3, "cv": 3}),
    "binary_linear_auto_weight": (synthetic_classification, "target", {"algorithm": "linear", "class_weight": "auto"}),
    "binary_rf_test30": (synthetic_classification, "target", {"algorithm": "random_forest", "test_size": 0.3, "cv": 3}),
    "multiclass_gb": (lambda: synthetic_classification(classes=3), "target", {"cv": 3}),
    "multiclass_linear_search": (lambda: synthetic_classification(classes=3), "target",
                                 {"algorithm": "linear", "search": 3, "cv": 3}),
    "multiclass_rf": (lambda: synthetic_classification(classes=3), "target", {"algorithm": "random_forest", "cv": 3}),
    "multiclass_baseline": (lambda: synthetic_classification(classes=3), "target", {"algorithm": "baseline", "cv": 3}),
    "regression_gb": (synthetic_regression, "spend", {"cv": 3}),
    "regression_linear_search": (synthetic_regression, "spend", {"algorithm": "linear", "search": 3}),
    "regression_rf": (synthetic_regression, "spend", {"algorithm": "random_forest", "cv": 3}),
    "regression_baseline": (synthetic_regression, "spend", {"algorithm": "baseline"}),
}

# Cases with small row limits, so that every random row sample is drawn (the cross-validation rows, the kept
# hold-out, the importance sample, the partial-dependence background) as on tables of millions of rows:
# recorded with the limits set in the code before the refactor, replayed with them set in core.models.steps.
LIMITS = {"MAX_CV_ROWS": 300, "KEEP_HOLDOUT": 120, "IMPORTANCE_ROWS": 90, "PDP_ROWS": 50}
SAMPLED: dict[str, tuple[Callable[[], pd.DataFrame], str, dict[str, Any]]] = {
    "sampled_binary_gb": (lambda: synthetic_classification(800), "target", {"cv": 3, "random_state": 5}),
    "sampled_multiclass_linear": (lambda: synthetic_classification(800, classes=3), "target",
                                  {"algorithm": "linear", "cv": 3}),
    "sampled_regression_rf_search": (lambda: synthetic_regression(800), "spend",
                                     {"algorithm": "random_forest", "search": 2, "cv": 3, "random_state": 4}),
}


# ---------------------------------------------------------------------------- snapshots
def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, frames to column lists, tuples to lists."""
    if isinstance(value, pd.DataFrame):
        return {"columns": [str(c) for c in value.columns], "data": {str(c): _plain(value[c].tolist()) for c in value.columns}}
    if isinstance(value, dict) or hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return {str(k): _plain(value[k]) for k in value.keys()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _summary(frame: pd.DataFrame | None, head: int = 15) -> Any:
    """A long frame as its length, column sums and first rows (enough to see any change)."""
    if frame is None:
        return None
    return {"rows": len(frame), "sum": {c: float(frame[c].astype("float64").sum()) for c in frame.columns},
            "head": _plain(frame.head(head))}


def snapshot(name: str, train_fn: Callable[..., Any] = train) -> dict[str, Any]:
    """Train one case and keep everything it returned that does not depend on the clock or the machine."""
    make, target, kwargs = {**CASES, **SAMPLED}[name]
    df = make()
    calls: list[list[Any]] = []
    kwargs = dict(kwargs)
    features = kwargs.pop("features", None)
    with threadpool_limits(1):  # one OpenMP thread: fast on a shared machine, and sums in a fixed order
        m = train_fn(df, target, features, progress=lambda share, message: calls.append([share, message]), **kwargs)
    info = {k: v for k, v in dict(m.info).items() if k not in VOLATILE_INFO}
    return _plain({
        "task": m.task, "algorithm": m.algorithm, "target": m.target, "features": m.features, "numeric": m.numeric,
        "categorical": m.categorical, "classes": [str(c) for c in m.classes_], "positive": str(m.positive),
        "metrics": m.metrics, "baseline_metrics": m.baseline_metrics, "cv_metrics": m.cv_metrics,
        "importance": m.importance, "model_importance": m.model_importance, "lift": m.lift,
        "curves": {k: _summary(v, head=300) for k, v in m.curves.items()}, "pdp": m.pdp,
        "holdout": _summary(m.holdout), "warnings": m.warnings, "leakage": m.leakage, "params": m.params,
        "info": info, "score": m.score(df.head(40)), "progress": calls,
    })


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Equal structure and text; numbers equal to 1e-10 relative (NaN equals NaN)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for k in expected:
            assert_same(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        if expected and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in expected + actual):
            np.testing.assert_allclose(np.asarray(actual, dtype="float64"), np.asarray(expected, dtype="float64"),
                                       rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=where)
        else:
            for i, (a, e) in enumerate(zip(actual, expected)):
                assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool) and isinstance(actual, (int, float)):
        assert (math.isnan(actual) and math.isnan(expected)) or actual == pytest.approx(expected, rel=1e-10, abs=1e-12), \
            f"{where}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# ---------------------------------------------------------------------------- 1. same numbers as before
@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_train_reproduces_the_outputs_recorded_before_the_refactor(name: str, reference: dict[str, Any]) -> None:
    assert_same(snapshot(name), reference[name], name)


@pytest.mark.parametrize("name", list(SAMPLED))
def test_row_samples_are_drawn_as_before(name: str, reference: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from core.models import steps
    for constant, value in LIMITS.items():
        monkeypatch.setattr(steps, constant, value)
    assert_same(snapshot(name), reference[name], name)



# ---------------------------------------------------------------------------- 2. each step on its own
def test_each_step_runs_on_its_own_and_together_they_are_train() -> None:
    import dataclasses

    from core.models import steps
    df = synthetic_classification()
    with threadpool_limits(1):
        m = train(df, "target", cv=3)
        data = steps.prepare(df, "target")
        problem = data.problem
        parts = steps.split(data, cv=3)
        cross = steps.cross_validate(problem, parts, cv=3)
        pipe = steps.fit(problem, parts)
        ev = steps.evaluate(pipe, problem, parts)
        ex = steps.explain(pipe, problem, parts)
    assert isinstance(data, steps.Dataset) and isinstance(problem, steps.Problem)
    assert problem.task == "classification" and problem.algorithm == "gradient_boosting" and problem.binary
    assert problem.classes == ["no", "yes"] and problem.positive == "yes" and problem.features == m.features
    assert data.rows == len(df) and list(data.X.columns) == m.features and data.class_counts == m.info["class_counts"]
    # the split: disjoint parts covering every row; cross-validation folds partition the CV rows
    assert isinstance(parts, steps.Split) and len(parts.test_index) == m.info["holdout_rows"]
    assert parts.train_index.union(parts.test_index).sort_values().equals(df.index)
    assert not parts.train_index.intersection(parts.test_index).size
    assert isinstance(cross, steps.CrossValidation) and len(cross.folds) == 3 and cross.rows == len(parts.X_train)
    scored = np.sort(np.concatenate([b for _, b in cross.folds]))
    np.testing.assert_array_equal(scored, np.arange(len(parts.X_train)))
    assert all(not np.intersect1d(a, b).size for a, b in cross.folds)
    assert list(cross.mean.index) == list(m.cv_metrics.columns.drop("fold"))
    # the same numbers as train(), step by step
    pd.testing.assert_frame_equal(cross.metrics, m.cv_metrics, rtol=1e-12)
    assert isinstance(ev, steps.Evaluation) and ev.rows == m.info["holdout_rows"]
    assert ev.metrics == pytest.approx(m.metrics, rel=1e-12) and ev.baseline_metrics == pytest.approx(m.baseline_metrics)
    pd.testing.assert_frame_equal(ev.lift, m.lift, rtol=1e-12)
    pd.testing.assert_frame_equal(ev.holdout, m.holdout, rtol=1e-12)
    assert ev.ks == pytest.approx(m.info["ks"]) and set(ev.curves) == {"roc", "pr", "calibration"}
    assert isinstance(ex, steps.Explanation) and (ex.repeats, ex.rows) == (5, m.info["importance_rows"])
    pd.testing.assert_frame_equal(ex.importance, m.importance, rtol=1e-12)
    assert ex.model_importance is None and m.model_importance is None  # histogram boosting has none
    assert list(ex.pdp) == list(m.pdp) and len(ex.pdp) == steps.PDP_FEATURES
    for result in (data, problem, parts, cross, ev, ex):
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.rows = 0  # type: ignore[misc]


def test_steps_take_any_fitted_pipeline_and_report_their_own_progress() -> None:
    from core.models import steps
    data = steps.prepare(synthetic_regression(), "spend", algorithm="linear")
    parts = steps.split(data, test_size=0.25, cv=4, random_state=3)
    calls: list[tuple[float, str]] = []
    cross = steps.cross_validate(data.problem, parts, cv=4, progress=lambda s, msg: calls.append((s, msg)))
    assert calls == [(i / 4, f"Cross-validation: fold {i + 1} of 4") for i in range(4)]
    assert list(cross.metrics.columns) == ["fold", "r2", "mae", "rmse"] and cross.metrics["r2"].min() > 0.5
    # like permutation_importance(estimator, X, y): a pipeline fitted elsewhere, here a stronger penalty
    pipe = data.problem.pipeline(len(parts.X_train), params={"alpha": 100.0}).fit(parts.X_train, parts.y_train)
    assert pipe.named_steps["model"].alpha == 100.0
    ev = steps.evaluate(pipe, data.problem, parts)
    assert ev.metrics["r2"] > ev.baseline_metrics["r2"] and ev.curves == {} and list(ev.holdout.columns) == ["y", "prediction"]
    ex = steps.explain(pipe, data.problem, parts)
    assert set(ex.importance["feature"]) == set(data.problem.features) and set(ex.pdp) <= set(data.problem.features)
    # tuning: the best parameters of the model step, or nothing to tune
    tuning = steps.tune(data.problem, parts, 2, random_state=1)
    assert set(tuning.params) == {"alpha"} and isinstance(tuning.params["alpha"], float)
    assert tuning.scoring == "r2" and len(tuning.candidates) == 2 and tuning.best_score is not None
    assert steps.tune(data.problem, parts, 0).params == {}
    baseline = steps.prepare(synthetic_regression(), "spend", algorithm="baseline").problem
    assert steps.tune(baseline, parts, 5) == steps.Tuning(params={})


def test_steps_refuse_what_train_refuses() -> None:
    from core.errors import DataError
    from core.models import steps
    data = steps.prepare(synthetic_classification(60), "target")
    with pytest.raises(DataError, match="rarest class"):
        steps.split(data, cv=20)
    with pytest.raises(DataError, match="test_size"):
        steps.split(data, test_size=1.5)
    with pytest.raises(DataError, match="cv must be"):
        steps.cross_validate(data.problem, steps.split(data, cv=3), cv=1)
    with pytest.raises(DataError, match="algorithm must be"):
        steps.prepare(synthetic_classification(60), "target", algorithm="neural_net")


# ---------------------------------------------------------------------------- 3. info stays a mapping
def test_info_is_a_typed_dict_with_the_keys_it_always_had(tmp_path: Path) -> None:
    import joblib

    from core.models import ModelStore, TrainingInfo, load_model
    with threadpool_limits(1):
        m = train(synthetic_classification(300), "target", algorithm="linear", cv=3)
    info = m.info
    assert isinstance(info, TrainingInfo) and isinstance(info, dict)
    assert list(info)[:14] == ["rows", "train_rows", "holdout_rows", "ks", "cv_rows", "cv_folds", "importance_repeats",
                               "importance_rows", "test_size", "class_weight", "random_state", "seconds", "trained_at",
                               "versions"] and list(info)[-1] == "class_counts"
    assert info["train_rows"] == info.train_rows == 240 and info.seconds == info["seconds"] > 0
    assert info.get("versions", {})["scikit-learn"] == info.versions["scikit-learn"] and info.ks == info["ks"]
    assert info.threads == 1  # the limit it ran under (threadpoolctl)
    assert json.loads(json.dumps(info)) == dict(info)  # JSON-safe as the dict was
    # the model store writes keys into it and its JSON metadata next to the model
    store = ModelStore(tmp_path / "models")
    model_id = store.save(m, table="customers")
    meta = json.loads((tmp_path / "models" / f"{model_id}.json").read_text())
    assert meta["table"] == "customers" and meta["train_rows"] == 240 and meta["id"] == model_id
    loaded = store.load(model_id)
    assert isinstance(loaded.info, TrainingInfo) and loaded.info == m.info and loaded.info["table"] == "customers"
    # a model pickled with a plain dict (as before TrainingInfo) loads with a TrainingInfo, same keys and values
    m.__dict__["info"] = dict(m.info)
    joblib.dump(m, tmp_path / "old.joblib")
    old = load_model(tmp_path / "old.joblib")
    assert type(old.info) is TrainingInfo and dict(old.info) == m.__dict__["info"]


def test_a_model_saved_before_the_steps_still_loads_and_scores() -> None:
    from core.models import TrainingInfo, load_model
    saved = Path(__file__).resolve().parent / "data" / "model_saved_before_steps.joblib"
    meta = json.loads(saved.with_suffix(".json").read_text())
    m = load_model(saved)  # linear model on demo customers, saved by the code before train() had steps
    assert isinstance(m.info, TrainingInfo) and m.info["train_rows"] == meta["train_rows"] == m.info.train_rows
    assert m.info.get("versions", {}) == meta["versions"] and m.info["seconds"] == meta["seconds"]
    assert m.meta()["trained_at"] == meta["trained_at"]
    scores = m.score(demo_customers(50))
    assert scores.shape == (50,) and np.all((scores >= 0) & (scores <= 1))

# ---------------------------------------------------------------------------- 4. speed without other numbers
@pytest.mark.parametrize("case", ["trees_binary", "pipeline_binary", "trees_multiclass", "pipeline_regression"])
def test_stacked_permutation_importance_gives_scikit_learns_numbers(case: str) -> None:
    """core.models.inspection predicts each feature's shuffles in one call; the draws, scores and so every
    importance and spread are scikit-learn's (also when the shuffles are split over several calls)."""
    from sklearn.inspection import permutation_importance as sklearn_importance

    from core.models import steps
    from core.models.inspection import permutation_importance
    if case == "pipeline_regression":
        data = steps.prepare(synthetic_regression(), "spend", algorithm="linear")
        scoring = "r2"
    elif case == "trees_multiclass":
        data = steps.prepare(synthetic_classification(classes=3), "target")
        scoring = "neg_log_loss"
    else:
        data = steps.prepare(synthetic_classification(), "target",
                             algorithm="linear" if case == "pipeline_binary" else "gradient_boosting")
        scoring = "roc_auc"
    parts = steps.split(data, cv=3)
    with threadpool_limits(1):
        pipe = steps.fit(data.problem, parts)
        X: Any = parts.X_test
        estimator: Any = pipe
        if case.startswith("trees"):  # what explain() shuffles for trees: the coded matrix, the model alone
            X, estimator = pipe.named_steps["prepare"].transform(X), pipe.named_steps["model"]
        expected = sklearn_importance(estimator, X, parts.y_test, n_repeats=5, random_state=3, scoring=scoring,
                                      n_jobs=1)
        for cells in (permutation_importance.__kwdefaults__["stack_cells"], X.shape[0] * X.shape[1] * 2):
            got = permutation_importance(estimator, X, parts.y_test, n_repeats=5, random_state=3, scoring=scoring,
                                         stack_cells=cells)
            np.testing.assert_allclose(got.importances, expected.importances, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(got.importances_mean, expected.importances_mean, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(got.importances_std, expected.importances_std, rtol=1e-12, atol=1e-15)
    assert np.isfinite(expected.importances).all() and expected.importances_mean.max() > 0


def test_thread_cap_lowers_threads_on_small_tables_and_never_raises_a_limit() -> None:
    from core.models import steps
    with threadpool_limits(2):
        assert steps.native_threads() == 2
        with steps.thread_cap(5_000) as threads:  # one thread per 100,000 rows, at least one
            assert threads == 1 and steps.native_threads() == 1
        assert steps.native_threads() == 2  # restored
        with steps.thread_cap(10_000_000) as threads:  # a large table keeps the threads it may use
            assert threads == 2 and steps.native_threads() == 2
    with threadpool_limits(1):  # a job's limit of one thread stays one, whatever the table
        with steps.thread_cap(10_000_000) as threads:
            assert threads == 1 and steps.native_threads() == 1
    with threadpool_limits(2):  # train() records the threads it ran with
        m = train(synthetic_classification(300), "target", cv=3)
        assert m.info.threads == 1 and steps.native_threads() == 2


if __name__ == "__main__":  # python tests/test_models_steps.py --write: record the reference outputs again
    if "--write" not in sys.argv:
        raise SystemExit("usage: python tests/test_models_steps.py --write  (only when the numbers are meant to change)")
    from core.models import steps as _steps
    REFERENCE.parent.mkdir(exist_ok=True)
    out = {}
    for case in CASES:
        print(case, flush=True)
        out[case] = snapshot(case)
    for constant, value in LIMITS.items():
        setattr(_steps, constant, value)
    for case in SAMPLED:
        print(case, flush=True)
        out[case] = snapshot(case)
    REFERENCE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size:,} bytes)")
