"""Shared body of the pages whose features are still being built."""

from __future__ import annotations

import streamlit as st

from pages.common import get_workspace


def render(title: str, intro: str, planned: list[str]) -> None:
    """Say what the page will do and which workspace tables it will be able to use."""
    st.title(title)
    st.info("Coming soon: this page is being built. Everything below describes what it will do.", icon=":material/construction:")
    st.markdown(intro)
    st.markdown("\n".join(f"- {item}" for item in planned))
    ws = get_workspace()
    if ws is not None:
        tables = ws.tables()
        if tables:
            st.caption("Tables in your workspace that it will work on: " + ", ".join(f"`{t}`" for t in tables))
        else:
            st.caption("Load the demo data on Home to have tables ready for it.")
