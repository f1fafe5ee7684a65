"""The workspace: one DuckDB file holding the user's tables, shared by every session of the app.

One DuckDB connection per database file per process; every operation gets its own cursor, so
sessions and threads read concurrently. Catalog changes (load, replace, append, drop) are
serialised by a per-database lock and done in one transaction each (datasette's "one writer,
many readers").

The database runs in DuckDB's own sandbox (core.data.engine): it may touch files only in the
workspace's temporary folder and the import folder. A Workspace object carries the user and role
of whoever uses it; every action checks the role (core.roles) and is written to the audit log.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator

import duckdb
import ibis
import pandas as pd

from core import config
from core.data.console import QueryResult, frame_exact, run_read_only
from core.data.csv_detect import CsvPlan, plan_csv
from core.data.engine import connect_sandboxed, ibis_backend, transaction
from core.data.export import FORMATS, frame_to_bytes, neutralise_sql
from core.data.identifiers import INTERNAL_PREFIX, quote_ident, quote_literal, sanitize_table_name
from core.data.ingest import MODES, STAGING_PREFIX, IngestReport, Progress, load_plan
from core.errors import DataError
from core.wording import plural
from core.data.server_files import UPLOAD_SUFFIXES, ServerFiles, check_upload_name  # noqa: F401 (public here too)
from core.roles import Role, check_role

if TYPE_CHECKING:
    from core.data.spark import SparkWorkspace

_LOG = logging.getLogger(__name__)
META = "__mw_meta_tables"
AUDIT = "__mw_audit"
EXCEL_MAX_ROWS = 1_048_575  # one row of Excel's 1,048,576 is the header
EXCEL_MAX_COLUMNS = 16_384


class _Database:
    """The process-wide handle of one workspace file."""

    def __init__(self, path: Path, allowed: list[Path]) -> None:
        try:
            self.con, progress_cursors = connect_sandboxed(path, allowed)
        except duckdb.IOException as e:
            raise DataError(
                f"The workspace {path} is open in another program ({str(e).splitlines()[0]}). "
                "Close the other Marketing Workbench instance, or set MW_WORKSPACE to another file."
            ) from None
        except duckdb.Error as e:
            raise DataError(
                f"The workspace file {path} cannot be opened: {str(e).splitlines()[0]}. "
                "Point MW_WORKSPACE at a new file to start an empty workspace."
            ) from None
        self.path = path
        self.allowed = [p.resolve() for p in allowed]  # the folders DuckDB itself may touch
        self.write_lock = threading.RLock()
        self.cursor_lock = threading.Lock()
        self.progress_cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        for cur in progress_cursors:
            self.progress_cursors.put(cur)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.cursor_lock:
            return self.con.cursor()

    @contextlib.contextmanager
    def progress_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor that reports query progress when one is free, else a plain one (no progress)."""
        try:
            cur = self.progress_cursors.get_nowait()
        except queue.Empty:
            plain = self.cursor()
            try:
                yield plain
            finally:
                plain.close()
            return
        try:
            yield cur
        finally:
            self.progress_cursors.put(cur)


_DATABASES: dict[Path, _Database] = {}
_REGISTRY_LOCK = threading.Lock()


def _database(path: Path, allowed: list[Path]) -> tuple[_Database, bool]:
    with _REGISTRY_LOCK:
        db = _DATABASES.get(path)
        if db is not None:
            return db, False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(
                f"The workspace folder {path.parent} cannot be created ({e.strerror}). Check that the "
                "server may write there, or set MW_WORKSPACE to a folder it can write to."
            ) from None
        db = _Database(path, allowed)
        _DATABASES[path] = db
        return db, True


def close_all() -> None:
    """Close every open workspace database of this process (tests use it between cases)."""
    with _REGISTRY_LOCK:
        for db in _DATABASES.values():
            db.con.close()
        _DATABASES.clear()


@dataclass
class TableInfo:
    """Catalog facts about one workspace table."""

    name: str
    rows: int
    columns: int
    version: int
    source: str | None
    updated_at: datetime | None


class Workspace(ServerFiles):
    """A folder holding the workspace database (and nothing written outside it).

    Workspace(path=None, *, user="local", role="admin"): path is the database file; None means
    $MW_WORKSPACE or ./workspace/workbench.duckdb. Tables survive restarts: they live in that file.
    `user` and `role` say who acts: every method checks the role (a refused action raises DataError
    naming the role it needs) and every change, export, query and backup is written to the audit log.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, user: str = "local",
                 role: Role = "admin") -> None:
        self.user = str(user)
        self.role: Role = check_role(role)
        self.path = config.workspace_path(path)
        self.folder = self.path.parent
        self.tmp_dir = self.folder / ".tmp"
        try:
            self._db, fresh = _database(self.path, [self.tmp_dir, config.import_dir(self.path)])
        except DataError as e:
            raise DataError(self._public(str(e))) from None
        self._local = threading.local()
        if fresh:
            self._initialise()

    def as_user(self, user: str, role: Role) -> Workspace:
        """The same workspace, used by another user and role (the database stays open once)."""
        return Workspace(self.path, user=user, role=role)

    @staticmethod
    def spark(remote: str | None = None, *, database: str | None = None, user: str = "local",
              role: Role = "admin") -> SparkWorkspace:
        """A workspace whose tables live in a Spark database (core.data.spark): `remote` None starts a
        local session (local[2]), or MW_SPARK_REMOTE's; "sc://host:15002" connects through Spark Connect.
        database: MW_SPARK_DATABASE, else "workbench"."""
        from core.data.spark import SparkWorkspace

        return SparkWorkspace.connect(remote, database=database, user=user, role=role)

    @property
    def engine(self) -> str:
        return "duckdb"

    # ------------------------------------------------------------ plumbing
    def _initialise(self) -> None:
        with self._cursor() as cur, self._db.write_lock:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {META} (name VARCHAR, version BIGINT, source VARCHAR, "
                "rows BIGINT, updated_at TIMESTAMP)"
            ).fetchall()
            # Versions only ever grow, even across drops, so (table, version) is a safe cache key.
            cur.execute("CREATE SEQUENCE IF NOT EXISTS __mw_version_seq").fetchall()
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {AUDIT} (\"when\" TIMESTAMP, \"user\" VARCHAR, role VARCHAR, "
                "action VARCHAR, \"table\" VARCHAR, rows BIGINT, detail VARCHAR)"
            ).fetchall()
            # Leftovers of a load interrupted by a crash: never visible, safe to remove.
            for (name,) in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                f"AND schema_name = 'main' AND starts_with(table_name, '{STAGING_PREFIX}')"
            ).fetchall():
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}").fetchall()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._db.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _resolve(self, table: str) -> str:
        """The stored name of an existing table (names are case-insensitive), or DataError."""
        tables = self.tables()
        for t in tables:
            if t == table:
                return t
        for t in tables:
            if t.lower() == str(table).lower():
                return t
        listed = ", ".join(tables[:20]) if tables else "none yet; load a CSV on the Data page"
        raise DataError(f"There is no table '{table}' in the workspace. Tables: {listed}.")

    # ------------------------------------------------------------ catalog
    def tables(self) -> list[str]:
        """Names of the user's tables, sorted."""
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                f"AND schema_name = 'main' AND NOT starts_with(table_name, {quote_literal(INTERNAL_PREFIX)}) "
                "AND NOT temporary ORDER BY lower(table_name)"
            ).fetchall()
        return [r[0] for r in rows]

    def exists(self, table: str) -> bool:
        """Whether a table of that name (case-insensitive) exists."""
        return any(t.lower() == str(table).lower() for t in self.tables())

    def version(self, table: str) -> int:
        """A number that changes whenever the table's data changes; use it as a cache key."""
        name = self._resolve(table)
        with self._cursor() as cur:
            rows = cur.execute(f"SELECT max(version) FROM {META} WHERE name = ?", [name]).fetchall()
        return int(rows[0][0] or 0)

    def info(self, table: str) -> TableInfo:
        """Rows, columns, version, source and load time of a table."""
        name = self._resolve(table)
        with self._cursor() as cur:
            rows = cur.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
            ncols = cur.execute(
                "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = ?", [name]
            ).fetchall()[0][0]
            meta = cur.execute(
                f"SELECT version, source, updated_at FROM {META} WHERE name = ? ORDER BY version DESC LIMIT 1",
                [name],
            ).fetchall()
        version, source, updated = meta[0] if meta else (0, None, None)
        return TableInfo(name, int(rows), int(ncols), int(version), source, updated)

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of a table."""
        name = self._resolve(table)
        with self._cursor() as cur:
            rows = cur.execute(f"DESCRIBE {quote_ident(name)}").fetchall()
        return {r[0]: r[1] for r in rows}

    # ------------------------------------------------------------ reading
    def read(self, table: str, limit: int | None = None) -> pd.DataFrame:
        """The table (or its first `limit` rows, in load order) as a pandas DataFrame."""
        name = self._resolve(table)
        q = f"SELECT * FROM {quote_ident(name)}"
        if limit is not None:
            q += f" LIMIT {max(0, int(limit))}"
        with self._cursor() as cur:
            return frame_exact(cur, q)

    def _backend(self) -> Any:
        backend = getattr(self._local, "ibis", None)
        if backend is None:
            # Each thread gets its own cursor-backed Ibis backend (a connection is not thread-safe).
            self._local.cursor = self._db.cursor()
            backend = self._local.ibis = ibis_backend(self._local.cursor)
        return backend

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression for queries that run in the database."""
        return self._backend().table(self._resolve(name))

    @property
    def ibis(self) -> Any:
        """This thread's Ibis backend on the workspace (for building joined queries)."""
        return self._backend()

    def sql(self, query: str, limit: int | None = None, timeout_s: float | None = None) -> pd.DataFrame:
        """Run one read-only SELECT; anything that could write (or read files) raises DataError.

        A query running longer than `timeout_s` (default MW_SQL_TIMEOUT_S, 30 s) is interrupted and
        raises DataError; the workspace answers the next query normally.
        """
        return self.query(query, limit=limit, timeout_s=timeout_s).frame

    def query(self, query: str, *, limit: int | None = None, timeout_s: float | None = None,
              cancel: threading.Event | None = None,
              on_wait: Callable[[float], None] | None = None) -> QueryResult:
        """The console's query: rows (at most `limit`), whether more existed, and the run time.

        `cancel` (set from another thread) or an exception raised by `on_wait(elapsed_s)`, called
        about every 0.1 s while the query runs, interrupts it.
        """
        self.require("sql")
        limit_s = config.sql_timeout_s() if timeout_s is None else float(timeout_s)
        detail = query if len(query) <= 2000 else query[:2000] + " ..."
        with self._cursor() as cur:
            try:
                result = run_read_only(cur, query, limit=limit, timeout_s=limit_s, cancel=cancel, on_wait=on_wait)
            except DataError as e:
                self.record("query", detail=f"{detail} -- refused or failed: {str(e)[:300]}")
                raise DataError(self._public(str(e))) from None
        self.record("query", rows=len(result.frame), detail=detail)
        return result

    def profile(self, table: str) -> pd.DataFrame:
        """One row per column: type, non-null, missing %, distinct, min, max, mean, top values."""
        from core.data.profile import profile_table

        return profile_table(self.table(table))

    def export(self, table: str, fmt: str) -> bytes:
        """The whole table as CSV, Parquet or Excel (xlsx) bytes.

        CSV and Excel cells that a spreadsheet would run as a formula are neutralised (see
        core.data.export); Parquet keeps every value as stored.
        """
        self.require("download")
        fmt = str(fmt).lower().lstrip(".")
        if fmt not in FORMATS:
            raise DataError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
        name = self._resolve(table)
        info = self.info(name)
        if fmt == "xlsx":
            if info.rows > EXCEL_MAX_ROWS or info.columns > EXCEL_MAX_COLUMNS:
                raise DataError(
                    f"'{name}' has {plural(info.rows, 'row')} and {plural(info.columns, 'column')}, more than an Excel "
                    f"sheet holds ({EXCEL_MAX_ROWS:,} rows, {EXCEL_MAX_COLUMNS:,} columns). "
                    "Download it as CSV or Parquet instead."
                )
            data = frame_to_bytes(self.read(name), "xlsx", sheet_name=name)
        else:
            data = self._copy_out(name, fmt)
        self.record("export", table=name, rows=info.rows, detail=fmt)
        return data

    def _copy_out(self, name: str, fmt: str) -> bytes:
        """COPY a table to a temporary CSV or Parquet file and return its bytes (the file is removed)."""
        out = self.tmp_dir / f"export-{uuid.uuid4().hex}.{fmt}"
        if fmt == "csv":
            select = neutralise_sql(self.columns(name))
            options = "FORMAT csv, HEADER true"
        else:
            # Parquet has no 128-bit integers (DuckDB would write HUGEINT as a rounded DOUBLE): exact
            # DECIMAL(38,0) instead, and text for UHUGEINT, which may need 39 digits
            exact = {"HUGEINT": "DECIMAL(38,0)", "UHUGEINT": "VARCHAR"}
            select = ", ".join(
                f"CAST({quote_ident(c)} AS {exact[t]}) AS {quote_ident(c)}" if t in exact else quote_ident(c)
                for c, t in self.columns(name).items()
            ) or "*"
            options = "FORMAT parquet, COMPRESSION zstd"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            with self._cursor() as cur:
                cur.execute(
                    f"COPY (SELECT {select} FROM {quote_ident(name)}) TO {quote_literal(str(out))} ({options})"
                ).fetchall()
            return out.read_bytes()
        except (OSError, duckdb.IOException) as e:
            raise self._disk_error(e, "export the table") from None
        finally:
            with contextlib.suppress(OSError):
                out.unlink(missing_ok=True)

    # ------------------------------------------------------------ audit
    def record(self, action: str, *, table: str | None = None, rows: int | None = None,
               detail: str | None = None) -> None:
        """Write one row to the audit log: when, who (user and role), what, on which table, rows, detail.

        Any role may write its own actions; only admins read the log (`audit`).
        """
        try:
            with self._db.write_lock, self._cursor() as cur:
                cur.execute(
                    f"INSERT INTO {AUDIT} VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?, ?)",
                    [self.user, self.role, action, table, rows, detail],
                ).fetchall()
        except duckdb.Error as e:
            # A full disk must not turn a finished action into a failure, but the gap is logged.
            _LOG.warning("audit row not written (%s %s by %s): %s", action, table, self.user, e)

    def audit(self, limit: int | None = None) -> pd.DataFrame:
        """The audit log, newest first (admins only): when, user, role, action, table, rows, detail."""
        self.require("audit")
        q = f'SELECT "when", "user", role, action, "table", rows, detail FROM {AUDIT} ORDER BY rowid DESC'
        if limit is not None:
            q += f" LIMIT {max(0, int(limit))}"
        with self._cursor() as cur:
            return cur.execute(q).df()

    # ------------------------------------------------------------ writing
    def drop(self, table: str) -> None:
        """Delete a table from the workspace (admins only)."""
        self.require("drop")
        with self._db.write_lock:
            name = self._resolve(table)
            with self._cursor() as cur:
                rows = cur.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
                with transaction(cur):
                    cur.execute(f"DROP TABLE {quote_ident(name)}").fetchall()
                    self._bump(cur, name, None, None)
        self.record("drop", table=name, rows=int(rows))

    def _bump(self, cur: duckdb.DuckDBPyConnection, name: str, source: str | None, rows: int | None) -> int:
        version = cur.execute("SELECT nextval('__mw_version_seq')").fetchall()[0][0]
        cur.execute(f"DELETE FROM {META} WHERE lower(name) = lower(?)", [name]).fetchall()
        if source is not None:
            cur.execute(f"INSERT INTO {META} VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
                        [name, version, source, rows]).fetchall()
        return int(version)

    def save_frame(self, df: pd.DataFrame, table: str, *, mode: str = "create", source: str = "python") -> str:
        """Store a pandas DataFrame as a table (create, replace or append), atomically."""
        self.require("save")
        if mode not in MODES:
            raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        name = sanitize_table_name(table)
        token = STAGING_PREFIX + uuid.uuid4().hex[:12]
        with self._cursor() as cur:
            cur.register("__mw_frame", df)
            try:
                cur.execute(f"CREATE TABLE {quote_ident(token)} AS SELECT * FROM __mw_frame").fetchall()
            except duckdb.IOException as e:
                raise self._disk_error(e, "save the table") from None
            finally:
                cur.unregister("__mw_frame")
            try:
                columns = {r[0]: r[1] for r in cur.execute(f"DESCRIBE {quote_ident(token)}").fetchall()}
                self._commit(cur, token, name, mode, columns, source=source)
            finally:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(token)}").fetchall()
        self.record(_MODE_ACTION[mode], table=name, rows=len(df), detail=source)
        return name

    def _commit(self, cur: duckdb.DuckDBPyConnection, staging: str, table: str, mode: str,
                columns: dict[str, str], source: str = "csv") -> int:
        """Swap a staging table into place in one transaction; returns the table's rows after."""
        with self._db.write_lock:
            existing = next((t for t in self.tables() if t.lower() == table.lower()), None)
            if mode == "create" and existing:
                raise DataError(
                    f"A table named '{existing}' already exists. Choose another name, or choose "
                    "'replace' to overwrite it or 'append' to add these rows to it."
                )
            if mode == "append" and existing:
                target_cols = self.columns(existing)
                want = {c.lower() for c in target_cols}
                have = {c.lower() for c in columns}
                if want != have:
                    missing = [c for c in target_cols if c.lower() not in have]
                    extra = [c for c in columns if c.lower() not in want]
                    parts = []
                    if missing:
                        parts.append(f"missing column(s): {', '.join(missing)}")
                    if extra:
                        parts.append(f"extra column(s): {', '.join(extra)}")
                    raise DataError(
                        f"Cannot append to '{existing}': the columns differ ({'; '.join(parts)}). "
                        "Load the file as a new table, or choose 'replace'."
                    )
            try:
                with transaction(cur):
                    name = self._swap_in(cur, staging, table, existing, mode)
                    rows = cur.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
                    self._bump(cur, name, source, rows)
            except duckdb.IOException as e:
                raise self._disk_error(e, "save the table") from None
            return int(rows)

    @staticmethod
    def _swap_in(cur: duckdb.DuckDBPyConnection, staging: str, table: str, existing: str | None,
                 mode: str) -> str:
        """Append the staging table to `existing`, or rename it into place; returns the table's name."""
        if mode == "append" and existing:
            try:
                cur.execute(
                    f"INSERT INTO {quote_ident(existing)} BY NAME SELECT * FROM {quote_ident(staging)}"
                ).fetchall()
            except duckdb.IOException:
                raise
            except duckdb.Error as e:
                raise DataError(
                    f"Cannot append to '{existing}': {str(e).splitlines()[0]}. The column types "
                    "differ; set the column types in the load options to match the table."
                ) from None
            return existing
        if existing:
            cur.execute(f"DROP TABLE {quote_ident(existing)}").fetchall()
        cur.execute(f"ALTER TABLE {quote_ident(staging)} RENAME TO {quote_ident(table)}").fetchall()
        return table

    # ------------------------------------------------------------ CSV
    def _inside_sandbox(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved.is_relative_to(root) for root in self._db.allowed)

    @contextlib.contextmanager
    def _source_path(self, source: str | os.PathLike[str] | IO[bytes]) -> Iterator[tuple[Path, str]]:
        """A path DuckDB may read (files outside its sandbox are linked or copied into the temp folder)
        and the file's name."""
        if isinstance(source, (bytes, bytearray)):
            raise DataError("Pass a path or a binary file object (e.g. open(path, 'rb') or io.BytesIO).")
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file() or self._inside_sandbox(path):
                yield path, path.name
                return
            staged = self._stage(path)
            try:
                yield staged, path.name
            finally:
                staged.unlink(missing_ok=True)
            return
        spilled = self.spill_upload(source)
        try:
            yield spilled, getattr(source, "name", "upload")
        finally:
            spilled.unlink(missing_ok=True)

    def _stage(self, path: Path) -> Path:
        """A hard link to `path` in the temp folder (instant), or a copy across file systems."""
        suffix = "csv.gz" if path.name.lower().endswith(".gz") else "csv"
        target = self.tmp_dir / f"staged-{uuid.uuid4().hex}.{suffix}"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
            return target
        except OSError:
            pass
        with open(path, "rb") as src:
            return self._write_temp(lambda f: shutil.copyfileobj(src, f, 1 << 20), "staged", suffix)

    def inspect_csv(self, source: str | os.PathLike[str] | IO[bytes], **csv_options: Any) -> CsvPlan:
        """Detect how a CSV would be read (without loading it): options, column types, preview."""
        self.require("load")
        try:
            with self._source_path(source) as (path, _), self._cursor() as cur:
                plan = plan_csv(cur, path, self.tmp_dir, **csv_options)
                plan.cleanup()
                return plan
        except DataError as e:
            raise DataError(self._public(str(e))) from None
        except OSError as e:
            raise self._disk_error(e, "read the file") from None

    def ingest_csv(self, source: str | os.PathLike[str] | IO[bytes], table: str, *, mode: str = "create",
                   progress: Progress | None = None, source_name: str | None = None,
                   **csv_options: Any) -> IngestReport:
        """Load a CSV file (path or binary file object) into a table.

        mode: "create" (DataError if the table exists), "replace" or "append" (columns must match).
        csv_options override detection: delimiter, header, encoding, quote, escape, skip,
        dateformat, timestampformat, decimal_separator, nullstr, null_padding, types={col: type}.
        progress(fraction, message) is called while loading. Existing tables are untouched on failure.
        source_name: the file's name as the user knows it (an upload spilled to a temp file has
        another), shown as the table's source and in the audit log.
        Files over MW_MAX_COLUMNS columns, or compressed files expanding past MW_MAX_DECOMPRESSED_MB,
        are refused before loading.
        """
        self.require("load")
        if mode not in MODES:
            raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        name = sanitize_table_name(table)
        if mode == "create" and self.exists(name):
            raise DataError(
                f"A table named '{name}' already exists. Choose another name, or choose 'replace' "
                "to overwrite it or 'append' to add these rows to it."
            )
        try:
            with self._source_path(source) as (path, label), self._db.progress_cursor() as cur:
                label = Path(str(source_name)).name if source_name else label
                if progress:
                    progress(0.0, "Detecting the file format")
                plan = plan_csv(cur, path, self.tmp_dir, **csv_options)
                try:
                    report = load_plan(
                        cur, plan, name, mode,
                        lambda c, stg, tbl, m, cols: self._commit(c, stg, tbl, m, cols, source=label),
                        progress, tmp_dir=self.tmp_dir,
                    )
                finally:
                    plan.cleanup()
        except DataError as e:
            raise DataError(self._public(str(e))) from None
        except (OSError, duckdb.IOException) as e:
            raise self._disk_error(e, "load the file") from None
        if name != str(table).strip():
            report.warnings.insert(0, f"Saved as table '{name}' (table names use letters, digits and _).")
        self.record(_MODE_ACTION[mode], table=report.table, rows=report.rows,
                    detail=f"{label}; {report.rejected_rows:,} rejected")
        return report

    def load_staged(self, staged: str | os.PathLike[str], table: str, mode: str, columns: dict[str, str], *,
                    source_name: str, loaded_rows: int | None = None, rejected_rows: int = 0) -> int:
        """Swap a Parquet file that a load job wrote (core.data.load_job) into the workspace; rows after.

        The file is moved into the workspace's temporary folder first (the only folder besides the
        import folder that the sandboxed database may read), read into a staging table with every
        column cast to its type in `columns` (the job wrote 128-bit integers as exact text, which
        Parquet cannot hold), and committed like any load: same create / replace / append rules, one
        transaction, audited. On any failure every table is as it was and the file is removed.
        """
        self.require("load")
        if mode not in MODES:
            raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        name = sanitize_table_name(table)
        label = Path(str(source_name)).name
        src = Path(staged)
        moved = self.tmp_dir / f"staged-{uuid.uuid4().hex}.parquet"
        token = STAGING_PREFIX + uuid.uuid4().hex[:12]
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(src, moved)
            except OSError as e:
                if e.errno != errno.EXDEV:
                    raise
                shutil.copyfile(src, moved)
                src.unlink(missing_ok=True)
            select = ", ".join(f"CAST({quote_ident(c)} AS {t}) AS {quote_ident(c)}" for c, t in columns.items())
            with self._cursor() as cur:
                try:
                    cur.execute(f"CREATE TABLE {quote_ident(token)} AS SELECT {select} "
                                f"FROM read_parquet({quote_literal(str(moved))})").fetchall()
                    rows = self._commit(cur, token, name, mode, columns, source=label)
                finally:
                    with contextlib.suppress(duckdb.Error):
                        cur.execute(f"DROP TABLE IF EXISTS {quote_ident(token)}").fetchall()
        except DataError as e:
            raise DataError(self._public(str(e))) from None
        except (OSError, duckdb.IOException) as e:
            raise self._disk_error(e, "save the loaded table") from None
        except duckdb.Error as e:
            raise DataError(self._public(
                f"The loaded rows could not be saved as '{name}': {str(e).splitlines()[0]}. Nothing in the "
                "workspace was changed; load the file again.")) from None
        finally:
            moved.unlink(missing_ok=True)
        self.record(_MODE_ACTION[mode], table=name, rows=rows if loaded_rows is None else loaded_rows,
                    detail=f"{label}; {rejected_rows:,} rejected; background job")
        return rows

    # ------------------------------------------------------------ backups
    def backup(self, dest: str | os.PathLike[str], *, key: str | bytes | None = None) -> Path:
        """Write a consistent snapshot of every table, the models and the metadata to `dest` (admins).

        `dest` is a file, or a folder (an existing one, or a path without a suffix) that gets a
        dated file name such as workbench-backup-20261201-221034.mwbackup.

        With `key` (a passphrase or key bytes) the file is encrypted and authenticated (AES-GCM).
        Restore it with core.workspace.restore_backup.
        """
        from core.data.backup import write_backup

        self.require("backup")
        out = write_backup(self, Path(dest), key=key)
        self.record("backup", detail=f"{'encrypted' if key else 'plain'}; {out.stat().st_size:,} bytes")
        return out


    def restore(self, src: str | os.PathLike[str] | IO[bytes], *, key: str | bytes | None = None) -> list[str]:
        """Make this workspace hold exactly the backup's tables and models (admins); returns the tables.

        `src` is a backup file's path or a binary file object (an upload). Everything is checked
        first (key, checksums, contents); a wrong key or a damaged file raises DataError and leaves
        the workspace as it was.
        """
        from core.data.backup import load_backup, open_backup

        self.require("restore")
        if isinstance(src, (str, os.PathLike)):
            path, spilled = Path(src), None
        else:
            if hasattr(src, "seek"):
                src.seek(0)
            path = spilled = self._write_temp(lambda f: shutil.copyfileobj(src, f, 1 << 20), "restore", "mwbackup")
        try:
            with open_backup(path, self.tmp_dir, key=key) as contents:
                names = load_backup(self, contents)
        finally:
            if spilled is not None:
                spilled.unlink(missing_ok=True)
        self.record("restore", rows=len(names),
                    detail=f"backup of {contents.manifest.get('created_at')}: {', '.join(names)[:500]}")
        return names


def restore_backup(src: str | os.PathLike[str], dest_path: str | os.PathLike[str], *,
                   key: str | bytes | None = None) -> Workspace:
    """Restore a backup into the workspace file `dest_path` (new or existing) and return it.

    The backup is decrypted and verified before anything is created: a wrong key or a damaged
    file raises DataError and writes nothing at `dest_path`.
    """
    from core.data.backup import load_backup, open_backup

    dest = config.workspace_path(dest_path)
    scratch = dest.parent
    while not scratch.exists() and scratch != scratch.parent:
        scratch = scratch.parent
    with open_backup(Path(src), scratch, key=key) as contents:
        ws = Workspace(dest)
        names = load_backup(ws, contents)
    ws.record("restore", rows=len(names), detail=f"backup of {contents.manifest.get('created_at')}")
    return ws


_MODE_ACTION = {"create": "load", "replace": "replace", "append": "append"}


