"""Marketing Workbench: navigation only. Each page lives in pages/, all logic in core/."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pages import account  # noqa: E402

st.set_page_config(page_title="Marketing Workbench", page_icon=":material/insights:", layout="wide")

visitor = account.current()
if visitor is None:  # login is configured and this session has not signed in
    account.login_page()
    st.stop()
assert visitor is not None
account.sidebar(visitor)

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/table:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/groups:"),
    st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
    st.Page("pages/experiments.py", title="Experiments", icon=":material/science:"),
]
st.navigation(pages).run()
