"""AppTest of the Models page's Compare all, Feature selection and tree rules (issue 15)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from apptest_jobs import finish_jobs

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _models_on_demo_customers() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.button(key="load-demo").click().run()
    at.switch_page("pages/models.py").run()
    at.selectbox(key="model-table").select("customers").run()
    return at


def test_compare_all_then_train_the_pick_and_save_it(app_env):
    at = _models_on_demo_customers()
    at.number_input(key="model-cv").set_value(3).run()
    at = finish_jobs(at.button(key="model-compare").click().run(), timeout=600)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Best: **") for s in at.success), [s.value for s in at.success]
    board = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert len(board) == 7 and board["verdict"].iloc[0] == "best" and "Baseline (majority class / mean)" in \
        set(board["algorithm"])
    at.selectbox(key="model-compare-pick").select("tree").run()
    at = finish_jobs(at.button(key="model-compare-train").click().run(), timeout=600)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="model-algorithm").value == "tree"
    assert any("Decision tree" in m.value for m in at.markdown), "the tree was trained"
    assert any("The tree's rules" in h.value for h in at.subheader)
    rules = next(d.value for d in at.dataframe if "rule" in d.value.columns)
    assert 2 <= len(rules) <= 16 and rules["rule"].str.startswith("if ").all()
    at.button(key="model-save").click().run()
    assert any("Saved as" in s.value for s in at.success)


def test_feature_selection_then_use_the_chosen_set(app_env):
    at = _models_on_demo_customers()
    target = at.selectbox(key="model-target-customers").value
    before = at.multiselect(key=f"model-features-customers-{target}").value
    at = finish_jobs(at.button(key="model-select").click().run(), timeout=600)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Kept ") for s in at.success), [s.value for s in at.success]
    ranking = next(d.value for d in at.dataframe if "kept" in d.value.columns)
    assert set(ranking["feature"]) == set(before)
    kept = ranking.loc[ranking["kept"].astype(str).isin(["True", "true"]), "feature"].tolist()
    at = finish_jobs(at.button(key="model-select-use").click().run(), timeout=600)
    assert sorted(at.multiselect(key=f"model-features-customers-{target}").value) == sorted(kept)
    assert any("Trained in" in s.value for s in at.success), "trained on the chosen features"
    assert not at.error, [e.value for e in at.error]
    at.radio(key="model-select-method").set_value("rfe").run()
    at = finish_jobs(at.button(key="model-select").click().run(), timeout=600)
    assert not at.error and any("recursive elimination" in s.value for s in at.success)


def test_grid_search_from_the_page_shows_the_searched_grid(app_env):
    at = _models_on_demo_customers()
    at.selectbox(key="model-algorithm").select("tree").run()
    at.selectbox(key="model-search-method").select("grid").run()
    at.number_input(key="model-cv").set_value(2).run()
    at = finish_jobs(at.button(key="model-train").click().run(), timeout=600)
    assert not at.exception and not at.error, [e.value for e in at.error]
    grid = [e for e in at.expander if e.label.startswith("Grid search: 15 settings of the grid")]
    assert grid and "max_depth in [2, 3, 4, 5, 6]" in grid[0].label
    tried = next(d.value for d in at.dataframe if "mean score" in d.value.columns)
    assert len(tried) == 15
