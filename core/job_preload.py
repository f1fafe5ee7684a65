"""Imported once by the job runner's fork server, so each job's worker starts in milliseconds.

Workers are forked from a small server process (multiprocessing's "forkserver" start method): the
server is started clean (no app threads, no open workspace), imports this module once, and forks
one child per job. Without it every worker paid the imports of pandas, scikit-learn, SciPy and
DuckDB itself: 5-10 s per job on this 2-core machine under load, longer than most jobs.

Thread limits are set before the native libraries load, so their pools start at the per-job limit
(each worker still applies its own limit with threadpoolctl). Nothing here opens a database or
starts work; an import that fails is logged and skipped, never fatal to the server. The server
ends (when the app does) without tearing its modules down: DuckDB's bindings would print a leak
report into the app's output at teardown, and there is nothing to clean up.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys

from core import config

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # as core.jobs.THREAD_ENV
# The job functions' modules and the libraries they need (each listed module imports its own).
MODULES = ("numpy", "pandas", "pyarrow", "scipy.stats", "scipy.optimize", "joblib", "threadpoolctl", "duckdb",
           "sklearn.ensemble", "sklearn.linear_model", "sklearn.cluster", "sklearn.inspection",
           "sklearn.model_selection", "sklearn.metrics",
           "core.models.training_job", "core.segments.jobs", "core.campaigns.mmm_job", "core.data.load_job",
           "core.targeting.jobs")

_threads = str(max(1, config.usable_cores() // max(1, config.job_workers())))
for _name in THREAD_ENV:
    os.environ[_name] = _threads

for _module in MODULES:
    try:
        importlib.import_module(_module)
    except Exception:  # noqa: BLE001 - a missing optional module must not stop the server
        logging.getLogger(__name__).warning("job preload: could not import %s", _module, exc_info=True)


def _end_quietly() -> None:
    """Leave the fork server without module teardown (see the module docstring). Forked workers
    never run this: multiprocessing ends them with os._exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


atexit.register(_end_quietly)
