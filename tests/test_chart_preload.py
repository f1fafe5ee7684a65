"""pages/chart_preload.py finds the chunk the installed Streamlit frontend imports for plotly charts."""

from __future__ import annotations

from pathlib import Path

from pages.chart_preload import STATIC_JS, chart_chunk, preload_script


def test_the_installed_frontend_has_one_plotly_chunk_and_imports_it_by_that_name():
    chunk = chart_chunk()
    assert chunk is not None and chunk.startswith("PlotlyChart.") and chunk.endswith(".js")
    # the frontend's own dynamic import names the same file: the preloaded module is the one it uses
    assert any(f'"./{chunk}"' in p.read_text(errors="ignore") for p in STATIC_JS.glob("index.*.js"))


def test_no_chunk_no_script(tmp_path: Path):
    assert chart_chunk.__wrapped__(tmp_path) is None
    (tmp_path / "PlotlyChart.a.js").touch()
    (tmp_path / "PlotlyChart.b.js").touch()
    assert chart_chunk.__wrapped__(tmp_path) is None  # ambiguous: send nothing


def test_the_script_is_a_constant_import_of_that_file():
    script = preload_script("PlotlyChart.X1.js")
    assert script.startswith("<script>") and "import('./static/js/PlotlyChart.X1.js')" in script
