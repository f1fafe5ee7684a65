"""Large CSV loads as background jobs (core.jobs): the slow part in a worker, the swap in the app.

A load of a large file (over `load_job_mb()` MB of CSV text, MW_LOAD_JOB_MB, default 50) runs as
a job so the page stays responsive and the load survives navigation. The split follows the rule
that workers never open the workspace database (DuckDB holds a file lock; one writer):

1. `submit_load` (app process) checks the role, the table name and the mode, then queues
   `load_job`; an uploaded file is hard-linked into the job's folder (a server-side file in the
   import folder is read where it is).
2. `load_job` (worker process) opens its own in-memory DuckDB with the job's thread limit
   (core.jobs.duckdb_connect) inside the same sandbox as the workspace (only the job's folder and
   the import folder may be touched; external access off; configuration locked), and runs the
   workspace's own loader (core.data.ingest.load_plan: detection, typed read, every reject with
   its line, conversions, warnings). Instead of swapping into the workspace, its last step
   writes the rows to `staged.parquet` in the job's folder (atomically: temp file + rename) and
   returns a `StagedLoad`: the report and the exact column types.
3. `finish_load` (app process, once per job: `JobRunner.pick_up`) swaps the Parquet file in with
   `Workspace.load_staged` (one CREATE TABLE AS and the usual atomic commit, audited) and keeps
   the outcome (the final report, or the error) in the job's folder, so every later visit, in
   any session of the owner, shows the same result.

Cancel stops the worker and removes its folder: the workspace is never touched before step 3, so
the table stays as it was. Why 50 MB: the loader reads about 100 MB/s on this 2-core machine
(48 MB in 0.44 s, bench/README), while a worker's start (spawn, imports) and the Parquet swap
cost about a second; below ~50 MB the load is over before a job would have started, above it a
load holds a page (and every DuckDB thread) for seconds, more on a busy server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import struct
import time
import uuid
from pathlib import Path
from typing import Any

from core import config
from core.data.ingest import MODES, IngestReport
from core.errors import DataError
from core.jobs import JobRunner, Progress, current_job_dir, duckdb_connect, job_threads, short_error

KIND = "load"
STAGED_FILE = "staged.parquet"
OUTCOME_FILE = "outcome.joblib"
SAVING_FILE = "saving"  # written when the swap starts: its age tells a slow swap from one cut short
LOAD_JOB_MB_ENV = "MW_LOAD_JOB_MB"
DEFAULT_LOAD_JOB_MB = 50.0
_WIDE_INTEGERS = ("HUGEINT", "UHUGEINT")  # beyond Parquet's 64-bit integers: staged as exact text
_SAVING_GIVE_UP_S = 120.0  # a pick-up with no outcome after this long was cut short (server stopped)


def load_job_mb() -> float:
    """CSV size (MB of text) from which a load runs as a background job (MW_LOAD_JOB_MB, default 50)."""
    raw = os.environ.get(LOAD_JOB_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_LOAD_JOB_MB
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"MW_LOAD_JOB_MB must be a number of megabytes (e.g. 50), not {raw!r}.") from None
    return max(0.0, value)


def text_bytes(path: str | os.PathLike[str]) -> int:
    """The size of the CSV text in a file: its size, or for gzip the size it expands to.

    A gzip file records its expanded size (modulo 4 GiB) in its last four bytes; a file that
    expands to more than that is counted as at least its compressed size.
    """
    p = Path(path)
    size = p.stat().st_size
    with contextlib.suppress(OSError, struct.error):
        with open(p, "rb") as f:
            if f.read(2) == b"\x1f\x8b" and size >= 18:
                f.seek(-4, os.SEEK_END)
                return max(size, int(struct.unpack("<I", f.read(4))[0]))
    return size


def runs_as_job(path: str | os.PathLike[str]) -> bool:
    """Whether loading this file runs as a background job (its CSV text reaches load_job_mb())."""
    return text_bytes(path) >= load_job_mb() * 1e6


@dataclasses.dataclass(frozen=True)
class StagedLoad:
    """What a load job returns: the report (rows, rejects with lines, warnings) and the staged file.

    `columns` holds the exact DuckDB types to restore (128-bit integers travel as text);
    `threads` the DuckDB threads the job ran with (its limit, core.jobs.job_threads()).
    """

    report: IngestReport
    staged: str
    columns: dict[str, str]
    threads: int


@dataclasses.dataclass(frozen=True)
class LoadOutcome:
    """The end of a load job once the app has swapped it in: the final report, or why it failed."""

    report: IngestReport | None
    error: str | None = None


def _stage_parquet(folder: Path) -> Any:
    """The commit step of load_plan inside a worker: write the staging table to Parquet, not the workspace."""

    def commit(cur: Any, staging: str, table: str, mode: str, columns: dict[str, str]) -> int:  # noqa: ARG001
        from core.data.identifiers import quote_ident, quote_literal

        select = ", ".join(
            f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" if t in _WIDE_INTEGERS else quote_ident(c)
            for c, t in columns.items())
        tmp = folder / f".{STAGED_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        cur.execute(f"COPY (SELECT {select} FROM {quote_ident(staging)}) TO {quote_literal(str(tmp))} "
                    "(FORMAT parquet, COMPRESSION zstd)").fetchall()
        os.replace(tmp, folder / STAGED_FILE)
        rows = cur.execute(f"SELECT count(*) FROM {quote_ident(staging)}").fetchall()[0][0]
        return int(rows)

    return commit


def stage_csv(path: Path, folder: Path, table: str, mode: str, options: dict[str, Any], *, allowed: list[Path],
              threads: int, progress: Progress | None = None) -> tuple[IngestReport, int]:
    """The workbench's loader on the CSV `path` into `folder`/staged.parquet: an in-memory DuckDB in the
    workspace's sandbox (only `allowed` folders readable, external access off, configuration locked),
    detection, the typed read and every reject (core.data.ingest.load_plan), with `threads` threads
    and MW_DUCKDB_MEMORY. Returns the report and the threads DuckDB ran with. Used by load jobs and
    by the Spark workspace's loads of local files (core.data.spark_ingest)."""
    from core.data.csv_detect import plan_csv
    from core.data.engine import sandbox
    from core.data.ingest import load_plan

    work = folder / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {"allow_community_extensions": False, "temp_directory": str(work / "duckdb")}
    memory = config.duckdb_memory()
    if memory:
        settings["memory_limit"] = memory
    if progress is not None:
        progress(0.0, "Detecting the file format")
    import duckdb

    try:
        con = duckdb_connect(":memory:", threads=threads, config=settings)
    except duckdb.Error as e:
        raise DataError(f"The DuckDB settings are not valid: {str(e).splitlines()[0]}. Ask an admin to check "
                        f"MW_DUCKDB_MEMORY (now {memory!r}; e.g. 4GB).") from None
    try:
        cur = sandbox(con, allowed)[0]
        plan = plan_csv(cur, path, work, **options)
        try:
            report = load_plan(cur, plan, table, mode, _stage_parquet(folder), progress, tmp_dir=work)
        finally:
            plan.cleanup()
        ran_with = int(cur.execute("SELECT current_setting('threads')").fetchall()[0][0])
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    return report, ran_with


def load_job(source: str, table: str, mode: str, options: dict[str, Any], *, import_dir: str | None = None,
             progress: Progress) -> StagedLoad:
    """Read a CSV into `staged.parquet` in the job's folder (runs in a worker; see the module docstring).

    source: a file name inside the job's folder (an upload linked there by submit_load) or a path
    inside `import_dir`; options: the page's reading options (as for Workspace.ingest_csv).
    """
    folder = current_job_dir()
    if folder is None:
        raise DataError("load_job runs inside a job (core.jobs.JobRunner.submit).")
    folder = folder.resolve()
    path = Path(source) if os.path.isabs(source) else folder / source
    allowed = [folder] + ([Path(import_dir).resolve()] if import_dir else [])
    if not any(path.resolve().is_relative_to(root) for root in allowed):
        raise DataError("The file to load is outside the job's folder and the import folder; pick it again.")
    try:
        report, ran_with = stage_csv(path, folder, table, mode, options, allowed=allowed, threads=job_threads(),
                                     progress=progress)
    finally:
        if path.parent == folder and path.name != STAGED_FILE:
            path.unlink(missing_ok=True)  # the linked upload: no longer needed
    columns = dict(report.columns)
    return StagedLoad(report=report, staged=STAGED_FILE, columns=columns, threads=ran_with)


def submit_load(runner: JobRunner, ws: Any, path: str | os.PathLike[str], table: str, *, mode: str = "create",
                source_name: str | None = None, **csv_options: Any) -> str:
    """Queue the load of `path` into `table` as a job of `ws.user`; returns the job id.

    The same checks as Workspace.ingest_csv come first (role, mode, table name, 'create' on an
    existing table), so a load that cannot succeed is refused at once, not after the read.
    """
    from core.data.identifiers import sanitize_table_name

    ws.require("load")
    if mode not in MODES:
        raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
    name = sanitize_table_name(table)
    if mode == "create" and ws.exists(name):
        raise DataError(f"A table named '{name}' already exists. Choose another name, or choose 'replace' "
                        "to overwrite it or 'append' to add these rows to it.")
    src = Path(path)
    if not src.is_file():
        raise DataError("The file to load is gone (the server may have restarted); pick or upload it again.")
    label = Path(str(source_name)).name if source_name else src.name
    import_root = ws.import_dir.resolve()
    in_imports = src.resolve().is_relative_to(import_root)
    settings = {"file": label, "table": name, "requested": str(table).strip(), "mode": mode,
                "options": csv_options, "bytes": src.stat().st_size}
    return runner.submit(
        KIND, load_job, str(src.resolve()) if in_imports else src.name, name, mode, csv_options,
        import_dir=str(import_root) if in_imports else None,
        owner=ws.user, table=name, settings=settings, inputs=() if in_imports else [src])


def _write_outcome(folder: Path, outcome: LoadOutcome) -> None:
    import joblib

    tmp = folder / f".{OUTCOME_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    joblib.dump(outcome, tmp)
    os.replace(tmp, folder / OUTCOME_FILE)


def finish_load(ws: Any, runner: JobRunner, job_id: str) -> LoadOutcome | None:
    """The outcome of a finished load job, swapping it into the workspace the first time it is asked.

    None while the job is not done, or while another session is swapping it in (ask again in a
    moment). The first caller (JobRunner.pick_up) moves the staged rows into `ws` and keeps the
    outcome in the job's folder for everyone after.
    """
    import joblib

    job = runner.get(job_id)
    if job.state != "done":
        return None
    folder = runner.job_dir(job_id)
    if runner.pick_up(job_id):
        started = time.perf_counter()
        with contextlib.suppress(OSError):
            (folder / SAVING_FILE).write_text(str(time.time()))
        try:
            staged: StagedLoad = runner.result(job_id)
            report = staged.report
            total = ws.load_staged(folder / staged.staged, report.table, report.mode, staged.columns,
                                   source_name=job.settings.get("file") or report.table,
                                   loaded_rows=report.rows, rejected_rows=report.rejected_rows)
            report = dataclasses.replace(report, total_rows=total,
                                         seconds=report.seconds + time.perf_counter() - started)
            requested = str(job.settings.get("requested") or "")
            if requested and requested != report.table:
                report.warnings.insert(0, f"Saved as table '{report.table}' (table names use letters, digits and _).")
            outcome = LoadOutcome(report)
        except DataError as e:
            outcome = LoadOutcome(None, str(e))
        except Exception as e:  # noqa: BLE001 - the page shows the message; the job's files stay consistent
            outcome = LoadOutcome(None, f"The loaded rows could not be saved ({short_error(e)}). Nothing in the "
                                        "workspace was changed; load the file again.")
        (folder / STAGED_FILE).unlink(missing_ok=True)
        try:
            _write_outcome(folder, outcome)
        except OSError:
            pass  # this session still shows it; later visits say the outcome is unknown
        return outcome
    try:
        return joblib.load(folder / OUTCOME_FILE)
    except FileNotFoundError:
        try:
            saving_for = time.time() - (folder / SAVING_FILE).stat().st_mtime
        except OSError:
            saving_for = time.time() - (job.ended or time.time())
        if saving_for > _SAVING_GIVE_UP_S:
            return LoadOutcome(None, "The server stopped while this load was being saved. Check the table under "
                                     "Browse tables, and load the file again if it is not there.")
        return None
    except Exception as e:  # noqa: BLE001 - an unreadable outcome file
        return LoadOutcome(None, f"The outcome of this load cannot be read ({short_error(e)}). Check the table "
                                 "under Browse tables.")
