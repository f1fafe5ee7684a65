"""AppTest: the pages' first guesses on well-known shapes of data come from core.columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from core.data.workspace import Workspace, close_all
from apptest_jobs import open_tab

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _hillstrom_like(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    conversion = (rng.random(n) < 0.05).astype(int)
    return pd.DataFrame({
        "recency": rng.integers(1, 13, n),
        "history_segment": rng.choice([f"{i}) ${i}00 - ${i + 1}00" for i in range(1, 8)], n),
        "history": rng.gamma(2, 120, n).round(2), "mens": rng.integers(0, 2, n), "womens": rng.integers(0, 2, n),
        "zip_code": rng.choice(["Urban", "Surburban", "Rural"], n), "newbie": rng.integers(0, 2, n),
        "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
        "segment": rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n),
        "visit": np.maximum(conversion, rng.random(n) < 0.15), "conversion": conversion,
        "spend": conversion * rng.gamma(2, 50, n).round(2)})


def _bank_like(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(6)
    y = rng.random(n) < 0.12
    return pd.DataFrame({"age": rng.integers(18, 90, n), "contact": rng.choice(["cellular", "telephone", "unknown"], n),
                         "duration": np.where(y, rng.gamma(4, 150, n), rng.gamma(2, 100, n)).round(),
                         "poutcome": rng.choice(["failure", "other", "success", "unknown"], n),
                         "y": np.where(y, "yes", "no")})


def _open(app_env: Path, table: str, frame: pd.DataFrame, page: str) -> AppTest:
    ws = Workspace(app_env)
    ws.save_frame(frame, table)
    close_all()
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    return at


def test_experiments_page_guesses_hillstrom(app_env):
    at = _open(app_env, "hillstrom", _hillstrom_like(), "pages/experiments.py")
    at.selectbox(key="exp-table").select("hillstrom").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="exp-variant-hillstrom").value == "segment"
    assert at.selectbox(key="exp-control").value == "No E-Mail"
    assert at.multiselect(key="exp-metrics-hillstrom").value == ["visit", "conversion", "spend"]
    open_tab(at, "experiments", "By segment")  # lazy tabs: the breakdown runs once its tab is open
    by = at.selectbox(key="exp-by-hillstrom")
    assert {"newbie", "history_segment", "channel"} <= set(by.options)


def test_models_page_guesses_bank_marketing(app_env):
    at = _open(app_env, "bank", _bank_like(), "pages/models.py")
    at.selectbox(key="model-table").select("bank").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model-target-bank").value == "y"
    features = at.multiselect(key="model-features-bank-y").value
    assert "contact" in features and "poutcome" in features and "duration" not in features
    assert any("duration" in i.value and "starts unselected" in i.value for i in at.info)
