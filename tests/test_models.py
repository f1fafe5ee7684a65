"""Models core: planted signal is found, metrics match plain scikit-learn, lift table, save/load, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import r2_score, roc_auc_score
from scipy import stats
from sklearn.model_selection import train_test_split

from apptest_jobs import finish_jobs, open_tab
from core.errors import DataError
from core.models import ModelStore, lift_table, load_model, score_table, train
from core.models.prepare import detect_task, leakage_warnings, suggest_features


def planted(n: int = 4000, seed: int = 0, task: str = "classification") -> pd.DataFrame:
    """Two strong numeric signals, one categorical signal, three noise columns, an id."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customer_id": np.arange(100_000, 100_000 + n),
        "visits": rng.poisson(5, n).astype(float),
        "spend": rng.gamma(2.0, 50.0, n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "noise_a": rng.normal(size=n), "noise_b": rng.uniform(size=n), "noise_c": rng.choice(["x", "y"], n),
    })
    logit = 0.6 * (df["visits"] - 5) + 0.015 * (df["spend"] - 100) + df["plan"].map({"basic": -1, "plus": 0, "pro": 1.2})
    if task == "classification":
        df["bought"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    else:
        df["revenue"] = 20 + 8 * df["visits"] + 0.5 * df["spend"] + 30 * (df["plan"] == "pro") + rng.normal(0, 10, n)
    df.loc[rng.choice(n, n // 50, replace=False), "spend"] = np.nan  # some missing values
    return df


def test_detect_task_and_feature_advice():
    df = planted()
    assert detect_task(df["bought"]) == "classification"
    assert detect_task(df["spend"]) == "regression"
    assert detect_task(pd.Series(["yes", "no", "yes"])) == "classification"
    advice = suggest_features(df.assign(note=[f"free text comment number {i} about the order" for i in range(len(df))],
                                        day=pd.Timestamp("2024-01-01") + pd.to_timedelta(df.index % 90, "D"),
                                        const=1), "bought")
    reasons = advice.table.set_index("column")["reason"]
    assert reasons["customer_id"].startswith("an identifier") and reasons["note"] == "free text"
    assert "date" in reasons["day"] and "same value" in reasons["const"]
    assert set(advice.suggested) == {"visits", "spend", "plan", "noise_a", "noise_b", "noise_c"}


def test_classifier_finds_signal_and_matches_plain_sklearn():
    df = planted()
    m = train(df, "bought")
    assert m.task == "classification" and m.algorithm == "gradient_boosting" and m.positive == 1
    imp = m.importance.set_index("feature")["importance"]
    assert min(imp["visits"], imp["spend"], imp["plan"]) > max(imp["noise_a"], imp["noise_b"], imp["noise_c"])
    assert list(m.importance.columns) == ["feature", "importance", "std"] and m.importance["importance"].is_monotonic_decreasing
    assert set(m.importance["feature"]) == set(m.features)  # one row per original column
    # the same split with a bare scikit-learn model
    X = df[m.features].copy()
    X["plan"] = X["plan"].astype("category")
    X["noise_c"] = X["noise_c"].astype("category")
    X_tr, X_te, y_tr, y_te = train_test_split(X, df["bought"], test_size=0.2, random_state=0, stratify=df["bought"])
    plain = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype").fit(X_tr, y_tr)
    auc = roc_auc_score(y_te, plain.predict_proba(X_te)[:, 1])
    assert abs(m.metrics["roc_auc"] - auc) <= 0.01, (m.metrics["roc_auc"], auc)
    for key in ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"):
        assert key in m.metrics
    assert len(m.cv_metrics) == 5 and m.cv_metrics["roc_auc"].between(0.6, 1).all()
    assert m.metrics["roc_auc"] > m.baseline_metrics["roc_auc"] == 0.5
    proba = m.predict_proba(df)
    assert proba.shape == (len(df), 2) and np.allclose(proba.sum(axis=1), 1)
    assert m.confusion(0.5).to_numpy().sum() == m.info["holdout_rows"]


@pytest.mark.parametrize("algorithm", ["baseline", "linear", "random_forest", "gradient_boosting"])
def test_every_algorithm_trains(algorithm):
    m = train(planted(1500, seed=1), "bought", algorithm=algorithm, cv=3)
    assert m.algorithm == algorithm and np.isfinite(m.metrics["roc_auc"])
    if algorithm != "baseline":
        assert m.metrics["roc_auc"] > 0.75
        assert m.importance.iloc[0]["feature"] in {"visits", "spend", "plan"}


def test_regression_matches_plain_sklearn_and_lift():
    df = planted(3000, seed=2, task="regression")
    m = train(df, "revenue", features=["visits", "spend", "plan", "noise_a"])
    assert m.task == "regression" and set(m.metrics) == {"r2", "mae", "rmse"}
    X = df[["visits", "spend", "plan", "noise_a"]].assign(plan=lambda d: d["plan"].astype("category"))
    X_tr, X_te, y_tr, y_te = train_test_split(X, df["revenue"], test_size=0.2, random_state=0)
    plain = HistGradientBoostingRegressor(random_state=0, categorical_features="from_dtype").fit(X_tr, y_tr)
    assert abs(m.metrics["r2"] - r2_score(y_te, plain.predict(X_te))) < 0.02
    assert m.importance.iloc[-1]["feature"] == "noise_a"
    assert m.lift["response_rate"].iloc[0] > m.lift["response_rate"].iloc[-1]


def test_multiclass():
    df = planted(2000, seed=3)
    m = train(df, "plan", features=["visits", "spend", "noise_a"], cv=3)
    assert m.task == "classification" and len(m.classes_) == 3
    assert m.predict_proba(df).shape == (2000, 3) and "roc_auc" in m.metrics


def test_lift_table_equals_independent_computation():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 1003)
    s = np.round(rng.uniform(size=1003), 2)  # many ties
    t = lift_table(y, s)
    group = pd.qcut(pd.Series(-s).rank(method="first"), 10, labels=False)  # the pandas way, ties by position
    chunks = [y[group.to_numpy() == g] for g in range(10)]
    rate = y.mean()
    assert t["customers"].tolist() == [len(c) for c in chunks]
    assert t["responders"].tolist() == [int(c.sum()) for c in chunks]
    np.testing.assert_allclose(t["response_rate"], [c.mean() for c in chunks])
    np.testing.assert_allclose(t["lift"], [c.mean() / rate for c in chunks])
    cum = np.cumsum([c.sum() for c in chunks])
    np.testing.assert_allclose(t["cumulative_capture"], cum / y.sum())
    np.testing.assert_allclose(t["cumulative_lift"], cum / np.cumsum([len(c) for c in chunks]) / rate)
    assert t["decile"].tolist() == list(range(1, 11)) and t["cumulative_capture"].iloc[-1] == 1.0


def test_save_load_round_trip_and_store(tmp_path):
    df = planted(1200, seed=4)
    m = train(df, "bought", cv=3)
    path = m.save(tmp_path / "m.joblib")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict_proba(df), m.predict_proba(df))
    assert (tmp_path / "m.json").exists()
    store = ModelStore(tmp_path / "models")
    mid = store.save(m, table="customers")
    store.record_run(m, "customers", 1, saved_as=mid)
    assert store.list()["id"].tolist() == [mid]
    assert store.runs("customers").iloc[0]["saved_as"] == mid
    scored = score_table(store.load(mid), df, "customer_id")
    assert list(scored.columns) == ["customer_id", "predicted_class", "score", "decile"]
    assert scored.loc[scored["score"].idxmax(), "decile"] == 1 and scored["decile"].value_counts().max() == 120
    store.delete(mid)
    assert store.list().empty


def test_leakage_warning_for_after_the_fact_feature():
    df = planted(3000, seed=6)
    rng = np.random.default_rng(0)
    df["call_duration"] = df["bought"] * rng.gamma(3, 100, len(df)) + rng.gamma(1.5, 60, len(df))
    warned = leakage_warnings(df, "bought", ["visits", "spend", "call_duration"], "classification")
    assert [w["feature"] for w in warned] == ["call_duration"]
    df["copy"] = df["bought"] * 2 + rng.normal(0, 0.01, len(df))
    assert "copy" in [w["feature"] for w in leakage_warnings(df, "bought", ["visits", "copy"], "classification")]


@pytest.mark.parametrize("make, kwargs, match", [
    (lambda d: d.assign(bought=1), {}, "only one class"),
    (lambda d: d.assign(bought=np.nan), {}, "missing for every row"),
    (lambda d: d.assign(label=np.where(d["visits"] > 4, "a", "b")), {"target": "label", "task": "regression"}, "not numeric"),
    (lambda d: d.head(12), {"cv": 10}, "rarest class"),
    (lambda d: d[["customer_id", "bought"]], {}, "No usable features"),
    (lambda d: d, {"features": ["nope"]}, "not in the table"),
    (lambda d: d, {"features": ["bought"]}, "cannot also be a feature"),
    (lambda d: d, {"algorithm": "magic"}, "algorithm must be"),
])
def test_training_errors(make, kwargs, match):
    df = make(planted(600, seed=7))
    target = kwargs.pop("target", "bought")
    with pytest.raises(DataError, match=match):
        train(df, target, **kwargs)


def test_scoring_a_table_without_the_features():
    df = planted(800, seed=8)
    m = train(df, "bought", cv=3)
    with pytest.raises(DataError, match="lacks 2 column"):
        score_table(m, df.drop(columns=["visits", "plan"]))


def test_randomized_search_and_progress():
    calls = []
    m = train(planted(1500, seed=9), "bought", algorithm="random_forest", cv=3, search=3,
              progress=lambda share, msg: calls.append((share, msg)))
    assert set(m.params) == {"max_depth", "min_samples_leaf", "max_features"}
    assert m.pipeline.named_steps["model"].max_depth == m.params["max_depth"]
    shares = [s for s, _ in calls]
    assert shares == sorted(shares) and shares[-1] == 1.0 and any("Searching" in msg for _, msg in calls)


# ----------------------------------------------------------------- edge cases found in review
def test_small_tables_train_or_say_why():
    rng = np.random.default_rng(0)
    d = pd.DataFrame(rng.normal(size=(30, 3)), columns=list("abc"))
    d["t"] = [0, 1] * 15
    m = train(d, "t")  # 30 rows, 5 folds: trains, lift table has as many groups as hold-out rows allow
    assert len(m.lift) == 6 and set(m.metrics) == {"roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1",
                                                   "log_loss", "brier"}
    with pytest.raises(DataError, match="rarest class"):
        train(d.head(10), "t")
    r = train(d.assign(y=rng.normal(size=30)), "y", ["a", "b"], cv=3)
    assert set(r.metrics) == {"r2", "mae", "rmse"}


def test_infinite_values_and_object_targets():
    df = planted(800, seed=11)
    df.loc[3, "visits"] = np.inf
    m = train(df, "bought", cv=3)
    assert any("Infinite" in w for w in m.warnings)
    obj = df.assign(bought=pd.Series(df["bought"].astype(bool), dtype=object))
    assert train(obj, "bought", cv=3).task == "classification"
    with pytest.raises(DataError, match="infinite"):
        train(df.assign(revenue=np.where(df.index == 5, np.inf, df["spend"])), "revenue", ["visits"], task="regression")


def test_lift_table_accepts_labels_and_refuses_bad_shapes():
    y = np.array(["yes", "no"] * 50)
    s = np.linspace(0, 1, 100)
    t = lift_table(y, s)
    assert t["responders"].sum() == 50
    with pytest.raises(DataError, match="one number per customer"):
        lift_table(y, np.c_[s, 1 - s])
    with pytest.raises(DataError, match="whole number"):
        lift_table(y, s, bins=2.5)


def test_auc_matches_plain_sklearn_on_small_imbalanced_data():
    from sklearn.datasets import make_classification
    X, y = make_classification(2000, n_features=20, n_informative=6, weights=[0.85], random_state=3)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]).assign(target=y)
    m = train(df, "target")
    X_tr, X_te, y_tr, y_te = train_test_split(df.drop(columns="target"), y, test_size=0.2, random_state=0, stratify=y)
    plain = HistGradientBoostingClassifier(random_state=0).fit(X_tr, y_tr)
    assert abs(m.metrics["roc_auc"] - roc_auc_score(y_te, plain.predict_proba(X_te)[:, 1])) <= 0.01


def test_ks_confusion_and_threshold_metrics_match_references():
    from sklearn.metrics import confusion_matrix, f1_score
    from core.models.evaluate import confusion_at, ks_statistic
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, 2000)
    s = rng.uniform(size=2000) + 0.3 * y
    ref = stats.ks_2samp(s[y == 1], s[y == 0]).statistic
    assert ks_statistic(y, s) == pytest.approx(ref, abs=1e-12)
    m = confusion_at(y, s, 0.6).to_numpy()
    assert (m == confusion_matrix(y, (s >= 0.6).astype(int))).all()
    model = train(planted(1500, seed=13), "bought", cv=3)
    h = model.holdout
    assert model.metrics_at(0.3)["f1"] == pytest.approx(f1_score(h["y"], (h["proba"] >= 0.3).astype(int)))
    assert model.info["ks"] == pytest.approx(stats.ks_2samp(h.loc[h.y == 1, "proba"], h.loc[h.y == 0, "proba"]).statistic)


# ----------------------------------------------------------------- issue 10: screens and edge inputs
def test_wide_table_is_refused_in_seconds():
    """200 rows x 10,000 columns used to train for over 5 minutes without a word."""
    import time
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(200, 10_000)), columns=[f"f{i}" for i in range(10_000)])
    df["t"] = rng.integers(0, 2, 200)
    for features in (None, [f"f{i}" for i in range(5_000)]):
        started = time.perf_counter()
        with pytest.raises(DataError, match="Too many features") as refused:
            train(df, "t", features)
        assert time.perf_counter() - started < 15  # ~1.6 s measured on the 2-core box
        message = str(refused.value)
        assert "Pick fewer features" in message and "at most 200 model columns" in message


def test_width_counts_one_hot_levels_and_warns_on_thin_data():
    from core.models.estimators import encoded_width
    from core.models.trained import check_width
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=400), "city": rng.choice([f"c{i}" for i in range(20)], 400),
                       "rare": ["x"] * 396 + ["r1", "r2", "r3", "r4"]})
    assert encoded_width(df, ["a"], ["city"]) == 21  # one column per level
    assert encoded_width(df, [], ["rare"]) == 2  # 'x' plus the grouped rare levels
    assert check_width(df, ["a"], ["city"]) == []  # 400 rows for 21 columns: fine
    thin = check_width(df.head(150), ["a"], ["city"])
    assert len(thin) == 1 and "overfit" in thin[0] and "Fewer features" in thin[0]
    wide = pd.DataFrame(rng.normal(size=(15, 20)), columns=[f"n{i}" for i in range(20)])
    with pytest.raises(DataError, match="20 model columns .20 features., more than the 15 rows"):
        check_width(wide, list(wide.columns), [])
    d = planted(120, seed=14)
    m = train(d.assign(**{f"z{i}": rng.normal(size=120) for i in range(15)}), "bought", cv=3)
    assert any("rows per model column" in w for w in m.warnings)


def test_id_like_features_warn():
    from core.models.trained import id_like_reason
    df = planted(800, seed=15)
    alone = train(df, "bought", ["customer_id"], cv=3)
    assert any(w.startswith("The only feature, 'customer_id', looks like an identifier") for w in alone.warnings)
    mixed = train(df, "bought", ["customer_id", "visits", "plan"], cv=3)
    assert any(w.startswith("'customer_id' looks like an identifier") for w in mixed.warnings)
    assert not any("identifier" in w for w in train(df, "bought", cv=3).warnings)  # ids are not suggested
    assert id_like_reason(df["spend"]) is None  # continuous amounts are unique too, but not ids
    assert id_like_reason(df["visits"]) is None and id_like_reason(df["plan"]) is None
    assert "different value in 100%" in id_like_reason(df["customer_id"].astype(str))
    counter = pd.Series(np.repeat(np.arange(500), [1, 2] * 250)[:600])  # a row counter with repeats
    assert id_like_reason(counter) is not None
    assert id_like_reason(pd.Series(np.arange(10))) is None  # too few values to judge
    ages = pd.Series(np.r_[np.arange(18, 78), np.arange(18, 58)])  # 100 rows, 60 consecutive ages: not an id
    assert id_like_reason(ages) is None


def test_natural_order_of_levels():
    from core.models.evaluate import natural_order
    months = ["apr", "aug", "dec", "feb", "jan", "jul", "jun", "mar", "may", "nov", "oct", "sep"]  # alphabetical
    assert natural_order(months) == ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    assert natural_order(["March", "January", "February"]) == ["January", "February", "March"]
    assert natural_order(["fri", "mon", "thu", "tue", "wed"]) == ["mon", "tue", "wed", "thu", "fri"]
    assert natural_order(["Sunday", "Monday", "Saturday"]) == ["Monday", "Saturday", "Sunday"]
    assert natural_order(["10", "2", "1"]) == ["1", "2", "10"]
    assert natural_order([3.0, 1.0, 2.0, np.nan]) == [1.0, 2.0, 3.0]
    assert natural_order(["level_10", "level_2", "level_1"]) == ["level_1", "level_2", "level_10"]
    assert natural_order(["pro", "unknown", "basic", "plus"]) == ["basic", "plus", "pro", "unknown"]


def test_partial_dependence_of_month_is_in_calendar_order():
    from core.models import charts
    rng = np.random.default_rng(16)
    n = 3000
    months = np.array(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
    month = rng.choice(months, n)
    effect = pd.Series(month).map({m: 1.5 if m in ("mar", "sep", "oct", "dec") else -0.5 for m in months})
    df = pd.DataFrame({"month": month, "age": rng.normal(40, 10, n)})
    df["y"] = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-effect.to_numpy())), "yes", "no")
    m = train(df, "y", ["month", "age"], cv=3)
    assert m.pdp["month"]["value"].tolist() == months.tolist()
    shuffled = m.pdp["month"].sample(frac=1, random_state=0)  # e.g. a frame saved by an older version
    spec = charts.pdp_figure(shuffled, "month", "p").to_plotly_json()
    assert list(spec["data"][0]["x"]) == months.tolist()
    assert list(spec["layout"]["xaxis"]["categoryarray"]) == months.tolist()


def test_curve_axes_name_the_target():
    from core.models import charts
    roc = pd.DataFrame({"false_positive_rate": [0, 0.5, 1], "true_positive_rate": [0, 0.8, 1]})
    pr = pd.DataFrame({"recall": [0, 1], "precision": [1, 0.2]})
    lift = lift_table(np.array([1, 0] * 50), np.linspace(1, 0, 100))

    def titles(fig):
        layout = fig.to_plotly_json()["layout"]
        return layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]

    x, y = titles(charts.roc_figure(roc, 0.8, "churned", 1))
    assert y == "true positive rate (share of churners found)" and x == "false positive rate (share of non-churners flagged)"
    assert "buyers" not in x + y
    x, y = titles(charts.roc_figure(roc, 0.8, "y", "yes"))
    assert y == "true positive rate (share of positives (y = yes) found)" and "negatives (y ≠ yes)" in x
    x, y = titles(charts.pr_figure(pr, 0.2, 0.5, "Churn", "Yes"))
    assert x == "recall (share of churners found)" and "churners" in y
    assert titles(charts.gains_figure(lift, "churners"))[1] == "share of churners captured"
    assert charts.outcome_words("purchased", 1) == ("buyers", "non-buyers")
    assert charts.outcome_words("days_left", 1)[0].startswith("positives (days_left")


def test_scores_carry_columns_and_pick_a_matching_segment_table():
    from core.models.store import carry_candidates, segment_table_for
    df = planted(600, seed=17).assign(order_ref=lambda d: [f"o-{i}" for i in range(len(d))], score=1.0)
    m = train(df, "bought", cv=3)
    scored = score_table(m, df, carry=["order_ref", "plan", "score"])
    assert list(scored.columns) == ["order_ref", "plan", "score_input", "predicted_class", "score", "decile"]
    assert scored["order_ref"].tolist() == df["order_ref"].tolist()
    both = score_table(m, df, "customer_id", carry=["customer_id", "order_ref"])
    assert list(both.columns)[:2] == ["customer_id", "order_ref"]
    with pytest.raises(DataError, match="carry along"):
        score_table(m, df, carry=["nope"])
    assert set(carry_candidates(df)) == {"customer_id", "order_ref"}
    tables = {"transactions_segments": ["invoice", "segment"], "customers_segments": ["customer_id", "segment"],
              "customers": ["customer_id", "visits"]}
    assert segment_table_for(tables, "customer_id") == "customers_segments"
    assert segment_table_for(tables, "order_ref") is None and segment_table_for(tables, None) is None


# ----------------------------------------------------------------- the Models page (AppTest)
def _models_page_with_demo():
    import json
    from streamlit.testing.v1 import AppTest
    from pathlib import Path
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180).run()
    at.button(key="load-demo").click().run()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="model-table").select("customers").run()
    return at, lambda: [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_models_page_results_follow_the_table_version_and_name_the_target(app_env):
    from core.data.workspace import Workspace
    at, specs = _models_page_with_demo()
    assert at.selectbox(key="model-target-customers").value == "churned"
    finish_jobs(at.button(key="model-train").click().run())
    assert not at.exception and at.metric
    titles = {s["layout"].get("yaxis", {}).get("title", {}).get("text") for s in specs()}
    assert "true positive rate (share of churners found)" in titles and "share of churners captured" in titles
    assert not any("buyers" in (t or "") for t in titles)
    shown = [d.value for d in at.dataframe]
    lift = next(f for f in shown if "lift" in f.columns)
    assert lift["lift"].iloc[0].endswith("x") and lift["cumulative share of churners"].iloc[-1] == "100.0%"
    at.button(key="model-save").click().run()
    open_tab(at, "models", "Score customers")
    at.selectbox(key="score-table").select("customers").run()
    finish_jobs(at.button(key="score-run").click().run())
    assert any("Scored 5,000 rows" in s.value for s in at.success)
    # a new upload replaces the table: neither the old model results nor the old scores stay on screen
    ws = Workspace(app_env)
    ws.save_frame(ws.read("customers").head(3000), "customers", mode="replace", source="new upload")
    at.run()
    assert not at.exception
    assert not any("Scored" in s.value for s in at.success)
    open_tab(at, "models", "Train")
    assert not at.metric and at.selectbox(key="model-table").value == "customers"
    open_tab(at, "models", "Score customers")
    assert not any("Scored" in s.value for s in at.success)
    finish_jobs(at.button(key="score-run").click().run())
    assert any("Scored 3,000 rows" in s.value for s in at.success)


def test_models_page_scores_carry_columns_and_segments_share_the_key(app_env):
    import numpy as np
    from core.data.workspace import Workspace
    at, _ = _models_page_with_demo()
    finish_jobs(at.button(key="model-train").click().run())
    at.button(key="model-save").click().run()
    ws = Workspace(app_env)
    customers = ws.read("customers")
    orders = customers.drop(columns=["customer_id"]).assign(order_ref=[f"o-{i}" for i in range(len(customers))])
    ws.save_frame(orders, "orders", mode="create")
    ws.save_frame(pd.DataFrame({"invoice": [1, 2], "segment": [0, 1]}), "invoices_segments", mode="create")
    ws.save_frame(customers[["customer_id"]].assign(segment=np.arange(len(customers)) % 3),
                  "customers_segments", mode="create")
    open_tab(at, "models", "Score customers")
    at.selectbox(key="score-table").select("orders").run()
    assert at.selectbox(key="score-id-orders").value == "(none)"
    assert at.multiselect(key=f"score-carry-orders-{ws.version('orders')}").value == ["order_ref"]
    assert at.selectbox(key="score-segments-orders-(none)").value == "(none)"  # no shared key: none
    finish_jobs(at.button(key="score-run").click().run())
    assert not at.exception and not at.error
    at.text_input(key="score-save-name-orders").set_value("orders_scores").run()
    at.button(key="score-save").click().run()
    scores = Workspace(app_env).read("orders_scores")
    assert scores["order_ref"].tolist() == orders["order_ref"].tolist()
    at.selectbox(key="score-table").select("customers").run()
    assert at.selectbox(key="score-id-customers").value == "customer_id"
    assert at.selectbox(key="score-segments-customers-customer_id").value == "customers_segments"


def test_models_page_warns_about_an_id_as_the_only_feature(app_env):
    at, _ = _models_page_with_demo()
    at.multiselect(key="model-features-customers-churned").set_value(["customer_id"]).run()
    finish_jobs(at.button(key="model-train").click().run())
    assert not at.exception and not at.error
    assert any("The only feature, 'customer_id', looks like an identifier" in w.value for w in at.warning)


def test_permutation_importance_on_coded_columns_equals_the_pipeline_way():
    from sklearn.inspection import permutation_importance
    df = planted(1500, seed=18)
    m = train(df, "bought", cv=3)
    X = m._frame(df)
    _, X_te, _, y_te = train_test_split(X, df["bought"].to_numpy(), test_size=0.2, random_state=0,
                                        stratify=df["bought"])
    ref = permutation_importance(m.pipeline, X_te, y_te, n_repeats=5, random_state=0, scoring="roc_auc", n_jobs=1)
    expected = pd.Series(ref.importances_mean, index=m.features)
    got = m.importance.set_index("feature")["importance"]
    np.testing.assert_allclose(got[m.features].to_numpy(), expected.to_numpy(), atol=1e-12)
    assert m.info["importance_repeats"] == 5 and m.info["importance_rows"] == len(X_te)
