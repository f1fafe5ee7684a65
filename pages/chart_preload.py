"""Load the browser's chart library while the user reads the first page, not on the first chart.

Streamlit's frontend loads plotly.js (its 4.7 MB PlotlyChart chunk) the first time a page of a
browser tab shows a plotly chart. Parsing and running it took 1.6-2.3 s on this 2-core machine
after the script had finished: the Experiments read-out was idle at 0.8-1.8 s but its forest plot
drew at 2.5-3.6 s; afterwards every chart in that tab draws at once (bench/README.md). This asks
the browser to import that same chunk when it is next idle, on whichever page the tab opened.

The chunk's file name carries a content hash that changes with each Streamlit release, so it is
read from Streamlit's own static folder; when it is not there (another frontend layout), nothing
is sent and charts load as before. The script is a constant: no user data reaches the page.
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

STATIC_JS = Path(st.__file__).resolve().parent / "static" / "static" / "js"


@functools.cache
def chart_chunk(folder: Path = STATIC_JS) -> str | None:
    """The file name of the frontend's plotly chunk (e.g. 'PlotlyChart.D9Z0_fxz.js'), or None."""
    found = sorted(p.name for p in folder.glob("PlotlyChart.*.js"))
    return found[0] if len(found) == 1 else None


def preload_script(chunk: str) -> str:
    """The script that imports `chunk` when the browser is idle (the URL the frontend itself uses,
    relative to the page, so a base URL path works too)."""
    return ("<script>(window.requestIdleCallback || window.setTimeout)(function () { "
            f"import('./static/js/{chunk}').catch(function () {{}}); }});</script>")


def preload_charts() -> None:
    """Send the preload once per run, at the bottom of the sidebar (an element of no height)."""
    chunk = chart_chunk()
    if chunk is not None:
        st.sidebar.html(preload_script(chunk), unsafe_allow_javascript=True)
