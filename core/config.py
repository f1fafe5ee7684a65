"""Where things live: workspace database, temp folder and the server-side import folder."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WORKSPACE = Path("workspace") / "workbench.duckdb"
# Share of rejected rows above which the UI warns loudly (MW_REJECT_WARN_SHARE, 0..1).
DEFAULT_REJECT_WARN_SHARE = 0.01


def workspace_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The workspace database file: the given path, else $MW_WORKSPACE, else ./workspace/workbench.duckdb."""
    if path is None:
        path = os.environ.get("MW_WORKSPACE") or DEFAULT_WORKSPACE
    p = Path(path).expanduser()
    if p.suffix == "" and (p.is_dir() or str(path).endswith(os.sep)):
        p = p / "workbench.duckdb"
    return p.resolve()


def import_dir(workspace_file: Path) -> Path:
    """Folder from which server-side files may be loaded: $MW_IMPORT_DIR, else <workspace>/imports."""
    env = os.environ.get("MW_IMPORT_DIR")
    return Path(env).expanduser().resolve() if env else workspace_file.parent / "imports"


def reject_warn_share() -> float:
    """Share of rejected rows above which a load is flagged in the UI."""
    try:
        return float(os.environ.get("MW_REJECT_WARN_SHARE", DEFAULT_REJECT_WARN_SHARE))
    except ValueError:
        return DEFAULT_REJECT_WARN_SHARE


def _env_number(name: str, default: float | None, minimum: float) -> float | None:
    """A positive number from the environment; a malformed or too small value falls back to the default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value >= minimum else default


def sql_timeout_s() -> float:
    """Seconds a console query may run before it is interrupted (MW_SQL_TIMEOUT_S, default 30)."""
    return float(_env_number("MW_SQL_TIMEOUT_S", 30.0, 0.01) or 30.0)


def duckdb_threads() -> int:
    """DuckDB worker threads (MW_DUCKDB_THREADS); default: the cores this process may use.

    Inside a background job's worker (MW_JOB_THREADS set by core.jobs) at most the job's own limit,
    so an in-memory DuckDB opened by a job (core.data.engine.scratch_backend) never takes every core.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    value = _env_number("MW_DUCKDB_THREADS", None, 1)
    threads = int(value) if value else max(1, cores)
    job = os.environ.get("MW_JOB_THREADS", "")
    return min(threads, max(1, int(job))) if job.isdigit() else threads


def duckdb_memory() -> str | None:
    """DuckDB's memory limit as DuckDB reads it ('4GB', '512MB'); None keeps DuckDB's default (80% of RAM)."""
    raw = os.environ.get("MW_DUCKDB_MEMORY", "").strip()
    return raw or None


def max_columns() -> int:
    """Most columns an uploaded file may have (MW_MAX_COLUMNS, default 5,000)."""
    return int(_env_number("MW_MAX_COLUMNS", 5000, 1) or 5000)


def max_decompressed_mb() -> float:
    """Largest size a compressed upload may expand to, in MB (MW_MAX_DECOMPRESSED_MB, default 4,096)."""
    return float(_env_number("MW_MAX_DECOMPRESSED_MB", 4096.0, 0.001) or 4096.0)


def usable_cores() -> int:
    """The cores this process may use (its CPU affinity, else the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def job_workers() -> int:
    """Background jobs that may run at once (MW_WORKERS; default: the cores this process may use)."""
    value = _env_number("MW_WORKERS", None, 1)
    return int(value) if value else max(1, usable_cores())


def jobs_per_user(workers: int | None = None) -> int:
    """Jobs one person may run at once (MW_JOBS_PER_USER; default: all workers but one, at least 1)."""
    workers = workers or job_workers()
    value = _env_number("MW_JOBS_PER_USER", None, 1)
    return int(value) if value else max(1, workers - 1)
