"""Start the workbench with its libraries imported first: `python serve.py [streamlit run options]`.

`make run` uses this. Streamlit runs app.py only when a browser connects, so on a plain
`streamlit run app.py` the first person to open a page after a start pays every import on their
click: pandas, Ibis and DuckDB on Home (3.1 s for the first Home render on this 2-core machine),
scikit-learn on Models, SciPy and statsmodels on Experiments and Campaigns. Here the server process
imports them before it listens (a few seconds more at start, once), so every page's first render
finds them loaded. The imports run in the main thread before any session exists: no two threads
import scikit-learn at once, which is what pages.common's background warm-up must avoid.

Only libraries and core/ are imported (never pages/: their Streamlit caches need the running
server). With MW_ENGINE=spark the Spark session is started here too (the first Home render waited
11 s for it). A module that fails to import is reported and skipped: the page that needs it says why.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PRELOAD = ("pandas", "pyarrow", "duckdb", "ibis", "plotly.graph_objects", "core.data.workspace", "core.demo",
           "core.jobs", "scipy.stats", "statsmodels.stats.multitest", "sklearn.ensemble", "sklearn.linear_model",
           "core.models", "core.models.charts", "core.models.training_job", "core.segments.preprocess",
           "core.experiments", "core.experiments.charts", "core.campaigns", "core.campaigns.charts",
           "core.targeting.clv", "core.targeting.clv_charts", "core.targeting.uplift", "core.targeting.uplift_charts",
           "core.targeting.recommend", "core.targeting.audience")


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import `modules`; returns the ones that failed (logged, not fatal)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page that needs it reports the problem itself
            logging.getLogger(__name__).warning("preload of %s failed", name, exc_info=True)
            failed.append(name)
    return failed


def start_engine() -> None:
    """With MW_ENGINE=spark, start the process's Spark session now (local: 5-15 s of JVM start; or the
    Spark Connect client, MW_SPARK_REMOTE), so the first page does not wait for it. A failure is logged;
    the pages then say what is wrong."""
    try:
        from core.data.spark import engine_name, spark_session

        if engine_name() == "spark":
            spark_session(os.environ.get("MW_SPARK_REMOTE") or None)
    except Exception:  # noqa: BLE001 - the Home page reports the engine's problem to the user
        logging.getLogger(__name__).warning("starting the Spark session failed", exc_info=True)


def main(argv: list[str]) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    preload()
    start_engine()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
