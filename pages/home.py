"""Home: what the workbench does, the state of the workspace, and one-click demo data."""

import streamlit as st

from core.demo import DEMO_TABLES, load_demo
from core.errors import DataError
from core.wording import plural
from pages.common import get_workspace, warm_up

st.title("Marketing Workbench")
st.markdown(
    "An analytics workbench for marketing teams: load customer-behaviour data, find **customer "
    "segments**, train **propensity and churn models**, read **A/B and campaign tests** with "
    "correct statistics, measure **campaigns and the marketing mix**, and build **targeted audiences** "
    "(customer value, uplift, next-best products), all in the browser, on data that stays in your workspace."
)

c1, c2, c3 = st.columns(3)
c1.markdown("**1. Load data**  \nUpload CSVs (or load the demo data) into a workspace that persists.")
c2.markdown("**2. Explore**  \nProfile columns, query with read-only SQL, build K-means and RFM segments.")
c3.markdown("**3. Act**  \nScore customers, analyse campaigns, and download lists as CSV, Parquet or Excel.")

st.page_link("pages/data.py", label="Data: load CSVs, profile, read-only SQL, export", icon=":material/table:")
st.page_link("pages/segments.py", label="Segments: K-means and RFM segments, named and exportable", icon=":material/groups:")
st.page_link("pages/models.py", label="Models: propensity, churn and spend models; lift tables; scoring",
             icon=":material/model_training:")
st.page_link("pages/experiments.py", label="Experiments: A/B test read-outs, sample size planning",
             icon=":material/science:")
st.page_link("pages/campaigns.py", label="Campaigns: KPIs, pacing, unusual days, marketing-mix model and budget advice",
             icon=":material/campaign:")
st.page_link("pages/targeting.py", label="Targeting: customer lifetime value, uplift, next-best products, audiences",
             icon=":material/target:")

ws = get_workspace()
if ws is not None:
    st.divider()
    tables = ws.tables()
    left, right = st.columns([2, 1])
    with left:
        st.subheader("Your workspace")
        if getattr(ws, "engine", "duckdb") == "spark":
            st.caption(f"Engine: **Apache Spark**, database `{ws.database}` (MW_ENGINE=spark): queries run on "
                       "Spark; results, models and jobs stay on this server.")
        elif ws.role == "admin":
            st.caption(f"Engine: DuckDB, stored in `{ws.path}` (set `MW_WORKSPACE` to use another file).")
        if tables:
            rows = [ws.info(t) for t in tables]
            st.dataframe(
                [{"table": r.name, "rows": r.rows, "columns": r.columns, "loaded": r.updated_at} for r in rows],
                hide_index=True, width="stretch",
            )
        else:
            st.info("No tables yet. Load the demo data to try every page, or upload your own CSV on the Data page.")
    with right:
        st.subheader("Demo data")
        st.caption(
            "Generated customers, transactions and their order lines, a randomised e-mail test, a discount-offer "
            "test and daily campaign results: "
            + ", ".join(f"`{t}`" for t in DEMO_TABLES) + ". Reloading replaces those tables."
        )
        if ws.role == "viewer":
            st.caption("Loading data needs the analyst role.")
        elif st.button("Load demo data", type="primary", icon=":material/download:", key="load-demo"):
            bar = st.progress(0.0, text="Starting")
            try:
                reports = load_demo(ws, progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
            except DataError as e:
                st.error(str(e))
            else:
                st.success(
                    "Loaded " + ", ".join(f"**{r.table}** ({plural(r.rows, 'row')})" for r in reports) + "."
                )
                st.page_link("pages/data.py", label="Browse the tables on the Data page", icon=":material/table:")

warm_up()  # SciPy and statsmodels imported in the background for the Experiments page (pages.common.warm_up)
