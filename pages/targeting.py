"""Targeting page: what each customer is worth, whom a campaign changes, what to offer them, and one
audience to export. Each tab is its own module (pages/targeting_*.py), imported and run only when
it is the open tab (lazy tabs), so the page's first render does not pay for the others.
Logic: core.targeting (clv, uplift, recommend, audience, guess, jobs)."""

from __future__ import annotations

import importlib

import streamlit as st

from pages.common import page_start

TABS = {"Customer value": "pages.targeting_clv", "Uplift": "pages.targeting_uplift",
        "Next-best products": "pages.targeting_products", "Audience": "pages.targeting_audience"}
TAB_KEY = "tgt-tab"

ws = page_start("Targeting", "Whom to reach, with what, and what each customer is worth: customer lifetime value, "
                "uplift from a randomised campaign, next-best products, and one audience to export.")
for tab, module in zip(st.tabs(list(TABS), key=TAB_KEY, on_change="rerun"), TABS.values()):
    if tab.open:
        with tab:
            importlib.import_module(module).render(ws)
