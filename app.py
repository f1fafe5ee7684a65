"""Marketing Workbench: navigation only. Each page lives in pages/, all logic in core/."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pages import account, jobs_panel  # noqa: E402
from pages.chart_preload import preload_charts  # noqa: E402

st.set_page_config(page_title="Marketing Workbench", page_icon=":material/insights:", layout="wide")

st.session_state[account.ENTRY_KEY] = True  # pages opened by URL before this ran are sent here first
visitor = account.current()
if visitor is None:  # login is configured and this session has not signed in
    # Navigation with the sign-in page only: any other URL (/data ...) lands here too, and
    # Streamlit never falls back to running files of pages/ on its own.
    sign_in = [st.Page(account.login_page, title="Sign in", icon=":material/login:", default=True)]
    sign_in += [st.Page(account.login_page, title=f"Sign in ({name})", url_path=name)
                for name in ("data", "segments", "models", "experiments", "campaigns", "targeting")]
    st.navigation(sign_in, position="hidden").run()
    st.stop()
assert visitor is not None
account.sidebar(visitor)
jobs_panel.sidebar(visitor.user)
preload_charts()  # plotly.js loads while the first page is read (pages/chart_preload.py)

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/table:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/groups:"),
    st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
    st.Page("pages/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
    st.Page("pages/targeting.py", title="Targeting", icon=":material/target:"),
]
navigation = st.navigation(pages)
wanted = st.session_state.pop(account.WANTED_KEY, None)
if wanted:  # a page opened by URL before app.py ran: open it now, through the navigation
    st.switch_page(wanted)
navigation.run()
