"""Issue 15: the neural network, SVM and decision tree; compare all; feature selection. Each against
its plain scikit-learn counterpart or an independent computation on planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from core.errors import DataError
from core.models import ALGORITHMS, compare, select_features, train


def planted(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    """Churn from recency, spend and the channel (app customers churn less); five noise columns."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"recency": rng.exponential(60, n), "spend": rng.gamma(2.0, 100.0, n),
                       "channel": rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2])})
    for j in range(5):
        df[f"noise_{j}"] = rng.normal(size=n)
    logit = -1.0 + 0.025 * df["recency"] - 0.006 * df["spend"] - 1.2 * (df["channel"] == "app")
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df["value"] = 50 + 0.8 * df["spend"] - 0.3 * df["recency"] + 40 * (df["channel"] == "app") + rng.normal(0, 10, n)
    return df


FEATURES = ["recency", "spend", "channel"] + [f"noise_{j}" for j in range(5)]


def _split(df: pd.DataFrame, target: str):
    X = df[FEATURES]
    strat = df[target] if target == "churned" else None
    return train_test_split(X, df[target], test_size=0.2, random_state=0, stratify=strat)


def _plain(estimator):
    prep = ColumnTransformer([("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                                                ("scale", StandardScaler())]), FEATURES[:2] + FEATURES[3:]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel"])])
    return Pipeline([("prepare", prep), ("model", estimator)])


def test_the_menu_lists_the_new_algorithms():
    assert {"mlp", "svm", "tree"} <= set(ALGORITHMS)
    from core.models.estimators import LABELS, MENU

    assert set(MENU) == set(ALGORITHMS) and MENU[0] == "gradient_boosting" and set(LABELS) == set(ALGORITHMS)


@pytest.mark.parametrize("algorithm, plain", [
    ("mlp", MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-3, early_stopping=True, max_iter=300, random_state=0)),
    ("svm", SVC(probability=True, random_state=0)),
    ("tree", DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=0)),
])
def test_each_new_classifier_matches_its_plain_scikit_learn_counterpart(algorithm, plain):
    df = planted()
    model = train(df, "churned", FEATURES, algorithm=algorithm, cv=2)
    X_tr, X_te, y_tr, y_te = _split(df, "churned")
    reference = roc_auc_score(y_te, _plain(plain).fit(X_tr, y_tr).predict_proba(X_te)[:, 1])
    assert model.metrics["roc_auc"] == pytest.approx(reference, abs=0.02)
    assert model.metrics["roc_auc"] > model.baseline_metrics["roc_auc"] + 0.1
    assert model.lift is not None and not model.importance.empty and model.pdp  # the same views as the others
    assert model.importance.iloc[:3]["feature"].isin(["recency", "spend", "channel"]).sum() >= 2


@pytest.mark.parametrize("algorithm", ["mlp", "svm", "tree"])
def test_each_new_regressor_learns_the_planted_value(algorithm):
    df = planted()
    model = train(df, "value", FEATURES, algorithm=algorithm, cv=2)
    _, X_te, _, y_te = _split(df, "value")
    assert model.metrics["r2"] == pytest.approx(r2_score(y_te, model.predict(X_te)), abs=1e-9)
    assert model.metrics["r2"] > (0.8 if algorithm != "tree" else 0.6)


def test_large_tables_get_a_calibrated_linear_svm():
    from sklearn.calibration import CalibratedClassifierCV

    from core.models.estimators import SVM_KERNEL_ROWS, build_pipeline

    from sklearn.svm import LinearSVC

    small = build_pipeline("classification", "svm", ["a"], [], n_rows=SVM_KERNEL_ROWS - 1)
    large = build_pipeline("classification", "svm", ["a"], [], n_rows=SVM_KERNEL_ROWS)
    assert isinstance(small.named_steps["model"], CalibratedClassifierCV)
    assert isinstance(small.named_steps["model"].estimator, SVC)
    assert isinstance(large.named_steps["model"].estimator, LinearSVC)


def test_the_tree_rules_reproduce_its_predictions():
    from core.models.rules import leaf_of, rules_text, tree_rules

    df = planted()
    df.loc[::13, "recency"] = np.nan  # missing values go down one side of a split: the rules say which
    model = train(df, "churned", FEATURES, algorithm="tree", cv=2)
    rules = tree_rules(model)
    assert 2 <= len(rules) <= 16 and rules["customers"].sum() == model.info["train_rows"]
    leaves = leaf_of(model, df)
    by_leaf = rules.set_index("leaf")
    np.testing.assert_allclose(by_leaf.loc[leaves, "p_1"].to_numpy(), model.predict_proba(df)[:, 1], rtol=1e-9)
    # every row satisfies each split of its leaf's rule (exact thresholds), and the words say the same
    for leaf, splits in by_leaf["splits"].items():
        rows = df[leaves == leaf]
        for (column, op, threshold, missing_this_way), words in zip(splits, by_leaf.loc[leaf, "conditions"]):
            if column.startswith("channel_"):
                level = column.removeprefix("channel_")
                assert ((rows["channel"] == level) == (op == ">")).all()
                assert words == (f"channel is {level}" if op == ">" else f"channel is not {level}")
                continue
            values = rows[column]
            ok = (values <= threshold) if op == "<=" else (values > threshold)
            assert (ok | (values.isna() & missing_this_way)).all() and not (values.isna() & ~missing_this_way).any()
            assert words.startswith(f"{column} {op} ") and (("(or missing)" in words) == missing_this_way)
    assert "customers" in rules_text(rules) and rules_text(rules).count("\n") == len(rules) - 1
    with pytest.raises(DataError, match="decision tree"):
        tree_rules(train(df, "churned", FEATURES, algorithm="linear", cv=2))


def test_compare_uses_the_same_folds_for_every_algorithm(monkeypatch):
    import core.models.comparison as cmp

    seen = []
    real = cmp.cross_validate_folds

    def spy(problem, parts, folds, **kw):
        seen.append((problem.algorithm, [(a.copy(), b.copy()) for a, b in folds]))
        return real(problem, parts, folds, **kw)

    monkeypatch.setattr(cmp, "cross_validate_folds", spy)
    df = planted(1_500)
    board = compare(df, "churned", FEATURES, algorithms=["linear", "tree", "baseline"], cv=3)
    assert [a for a, _ in seen] == ["linear", "tree", "baseline"]
    first = seen[0][1]
    for _, folds in seen[1:]:
        assert all(np.array_equal(a, x) and np.array_equal(b, z) for (a, b), (x, z) in zip(folds, first))
    assert list(board.columns[:4]) == ["algorithm", "best", "roc_auc", "roc_auc_std"]
    assert {"fit_seconds", "predict_seconds", "pr_auc", "log_loss", "behind_best", "clearly_behind"} <= set(board)
    assert board["roc_auc"].is_monotonic_decreasing and board.loc[0, "best"] and board["best"].sum() == 1
    assert board.set_index("algorithm").loc["baseline", "clearly_behind"]
    assert board.attrs["metric"] == "roc_auc" and board.attrs["folds"] == 3


def test_compare_equals_a_plain_cross_validation_on_those_folds():
    """The linear row against scikit-learn's own cross-validation of the same pipeline on the same rows."""
    from sklearn.model_selection import cross_val_score

    from core.models import steps
    from core.models.comparison import fold_indices

    df = planted(1_500)
    board = compare(df, "churned", FEATURES, algorithms=["linear"], cv=4, random_state=3)
    data = steps.prepare(df, "churned", FEATURES, algorithm="linear")
    parts = steps.split(data, cv=4, random_state=3, rng=np.random.default_rng(3))
    folds = fold_indices(data.problem, parts, 4, 3)
    assert [len(b) for _, b in folds] == [len(b) for _, b in StratifiedKFold(4, shuffle=True, random_state=3)
                                          .split(parts.X_cv, parts.y_cv)]
    scores = cross_val_score(data.problem.pipeline(len(parts.X_train)), parts.X_cv, parts.y_cv, cv=folds,
                             scoring="roc_auc")
    assert board.loc[0, "roc_auc"] == pytest.approx(scores.mean(), rel=1e-12)
    assert board.loc[0, "roc_auc_std"] == pytest.approx(scores.std(ddof=1), rel=1e-9)


def test_compare_on_a_numeric_target_ranks_by_r2():
    board = compare(planted(1_500), "value", FEATURES, algorithms=["linear", "baseline"], cv=3)
    assert board.attrs["metric"] == "r2" and board.loc[0, "algorithm"] == "linear"
    assert {"r2", "r2_std", "mae", "rmse"} <= set(board)


@pytest.mark.parametrize("method", ["lasso", "rfe"])
def test_selection_finds_the_planted_drivers_and_drops_noise(method):
    for target in ("churned", "value"):
        chosen = select_features(planted(4_000), target, FEATURES, method=method)
        assert {"recency", "spend", "channel"} <= set(chosen.selected), (target, chosen.ranking)
        noise_kept = [f for f in chosen.selected if f.startswith("noise_")]
        assert len(noise_kept) <= 1, (target, chosen.ranking)
        assert list(chosen.ranking.columns) == ["feature", "score" if method == "lasso" else "rank", "kept"]
        assert set(chosen.ranking["feature"]) == set(FEATURES)
        assert chosen.ranking.loc[chosen.ranking["kept"], "feature"].tolist() == chosen.selected


def test_selection_refuses_an_unknown_method():
    with pytest.raises(DataError, match="lasso"):
        select_features(planted(500), "churned", FEATURES, method="magic")


def test_rule_words_join_the_splits_on_one_number_into_a_range():
    from core.models.rules import _merged

    splits = [("spend", "<=", 42.715, True), ("channel_app", ">", 0.5, False), ("spend", ">", 23.0, False),
              ("recency", "<=", 30.5, True)]
    words = ["spend <= 42.715 (or missing)", "channel is app", "spend > 23", "recency <= 30.5 (or missing)"]
    assert _merged(words, splits) == ["23 < spend <= 42.715", "channel is app", "recency <= 30.5 (or missing)"]


def test_grid_search_tries_every_setting_of_its_grid_and_keeps_the_best():
    from sklearn.model_selection import GridSearchCV

    from core.models import steps
    from core.models.estimators import grid_space

    df = planted(1_500)
    model = train(df, "churned", FEATURES, algorithm="tree", cv=2, search_method="grid")
    grid = grid_space("tree", "classification")
    assert model.search_grid == {k.removeprefix("model__"): v for k, v in grid.items()}
    assert len(model.search_results) == 15 and model.search_results["rank"].iloc[0] == 1
    # the same search by scikit-learn directly, on the rows train() searches
    data = steps.prepare(df, "churned", FEATURES, algorithm="tree")
    parts = steps.split(data, cv=2, random_state=0, rng=np.random.default_rng(0))
    direct = GridSearchCV(data.problem.pipeline(len(parts.X_train)), grid, cv=3, scoring="roc_auc").fit(
        parts.X_cv, parts.y_cv)
    assert model.params == {k.removeprefix("model__"): v for k, v in direct.best_params_.items()}
    assert model.search_results["mean_score"].iloc[0] == pytest.approx(direct.best_score_, rel=1e-12)
    randomized = train(df, "churned", FEATURES, algorithm="tree", cv=2, search=4)
    assert len(randomized.search_results) == 4 and randomized.search_grid is None
    with pytest.raises(DataError, match="random' or 'grid"):
        train(df, "churned", FEATURES, algorithm="tree", cv=2, search_method="bayes")


def test_the_early_stop_of_the_l1_path_keeps_the_full_paths_choice(monkeypatch):
    import core.models.selection as selection

    df = planted(3_000, seed=4)
    early = select_features(df, "churned", FEATURES)
    monkeypatch.setattr(selection, "PATH_PATIENCE", 99)
    full = select_features(df, "churned", FEATURES)
    assert early.selected == full.selected and early.penalty == full.penalty


@pytest.mark.parametrize("algorithm", ["mlp", "svm", "tree"])
def test_the_new_algorithms_train_on_a_small_table(algorithm):
    df = planted(150, seed=2)
    model = train(df, "churned", FEATURES, algorithm=algorithm, cv=3)
    assert 0 <= model.metrics["roc_auc"] <= 1 and model.info["train_rows"] == 120
