"""Shared fixtures: an isolated workspace per test, and the app pointed at it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.data.workspace import Workspace, close_all  # noqa: E402


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh, empty workspace in a temp folder."""
    w = Workspace(tmp_path / "ws" / "workbench.duckdb")
    yield w
    close_all()


@pytest.fixture
def write(tmp_path: Path):
    """Write bytes to a file in the temp folder and return its path."""

    def _write(name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
        p = tmp_path / name
        p.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
        return p

    return _write


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app at an empty temp workspace and clear Streamlit's caches."""
    import streamlit as st

    path = tmp_path / "app-ws" / "workbench.duckdb"
    monkeypatch.setenv("MW_WORKSPACE", str(path))
    monkeypatch.setenv("MW_IMPORT_DIR", str(tmp_path / "imports"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield path
    st.cache_resource.clear()
    st.cache_data.clear()
    close_all()


@pytest.fixture
def locked_workspace(tmp_path: Path):
    """A workspace file held open by another process; yields (path, that process's pid)."""
    path = tmp_path / "locked" / "w.duckdb"
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb,sys,time; c=duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield path, holder.pid
    finally:
        holder.kill()
        holder.wait()
        close_all()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process without module teardown, so pytest's summary stays the last line.

    DuckDB's nanobind bindings print a "leaked instances" report at interpreter teardown when
    AppTest sessions still hold DuckDB objects; nothing is left to clean up by then."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(getattr(config, "_mw_exit_status", 0))


def pytest_sessionfinish(session, exitstatus):
    session.config._mw_exit_status = int(exitstatus)
