"""The workspace: one DuckDB file holding the user's tables, shared by every session of the app.

One DuckDB connection per database file per process; every operation gets its own cursor, so
sessions and threads read concurrently. Catalog changes (load, replace, append, drop) are
serialised by a per-database lock and done in one transaction each (datasette's "one writer,
many readers").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator

import duckdb
import ibis
import pandas as pd

from core import config
from core.data.csv_detect import CsvPlan, plan_csv
from core.errors import DataError
from core.data.export import FORMATS, frame_to_bytes
from core.data.identifiers import INTERNAL_PREFIX, quote_ident, quote_literal, sanitize_table_name
from core.data.ingest import MODES, STAGING_PREFIX, IngestReport, Progress, load_plan
from core.data.sql_guard import check_read_only

META = "__mw_meta_tables"
EXCEL_MAX_ROWS = 1_048_575  # one row of Excel's 1,048,576 is the header
EXCEL_MAX_COLUMNS = 16_384


class _Database:
    """The process-wide handle of one workspace file."""

    def __init__(self, path: Path) -> None:
        try:
            self.con = duckdb.connect(str(path))
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
        self.write_lock = threading.RLock()
        self.cursor_lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.cursor_lock:
            return self.con.cursor()


_DATABASES: dict[Path, _Database] = {}
_REGISTRY_LOCK = threading.Lock()


def _database(path: Path) -> tuple[_Database, bool]:
    with _REGISTRY_LOCK:
        db = _DATABASES.get(path)
        if db is not None:
            return db, False
        path.parent.mkdir(parents=True, exist_ok=True)
        db = _Database(path)
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


class Workspace:
    """A folder holding the workspace database (and nothing written outside it).

    Workspace(path=None): path is the database file; None means $MW_WORKSPACE or
    ./workspace/workbench.duckdb. Tables survive restarts: they live in that file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = config.workspace_path(path)
        self.folder = self.path.parent
        self.tmp_dir = self.folder / ".tmp"
        self._db, fresh = _database(self.path)
        self._local = threading.local()
        if fresh:
            self._initialise()

    # ------------------------------------------------------------ plumbing
    def _initialise(self) -> None:
        with self._cursor() as cur, self._db.write_lock:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {META} (name VARCHAR, version BIGINT, source VARCHAR, "
                "rows BIGINT, updated_at TIMESTAMP)"
            ).fetchall()
            # Versions only ever grow, even across drops, so (table, version) is a safe cache key.
            cur.execute("CREATE SEQUENCE IF NOT EXISTS __mw_version_seq").fetchall()
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
            return cur.execute(q).df()

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression for queries that run in the database."""
        resolved = self._resolve(name)
        backend = getattr(self._local, "ibis", None)
        if backend is None:
            # Each thread gets its own cursor-backed Ibis backend (a connection is not thread-safe).
            self._local.cursor = self._db.cursor()
            backend = self._local.ibis = ibis.duckdb.from_connection(self._local.cursor)
        return backend.table(resolved)

    @property
    def ibis(self) -> Any:
        """This thread's Ibis backend on the workspace (for building joined queries)."""
        tables = self.tables()
        if tables:
            self.table(tables[0])
        elif getattr(self._local, "ibis", None) is None:
            self._local.cursor = self._db.cursor()
            self._local.ibis = ibis.duckdb.from_connection(self._local.cursor)
        return self._local.ibis

    def sql(self, query: str, limit: int | None = None) -> pd.DataFrame:
        """Run one read-only SELECT; anything that could write (or read files) raises DataError."""
        with self._cursor() as cur:
            check_read_only(cur, query)
            cur.execute("BEGIN TRANSACTION READ ONLY").fetchall()
            try:
                result = cur.execute(query)
                if limit is None:
                    df = result.df()
                else:
                    chunks, got = [], 0
                    while got < limit:
                        chunk = result.fetch_df_chunk()
                        if chunk.empty:
                            break
                        chunks.append(chunk)
                        got += len(chunk)
                    if got >= limit:
                        result.abort()  # stop the query: the rest is not needed
                    else:
                        result.fetchall()
                    df = pd.concat(chunks, ignore_index=True).head(limit) if chunks else \
                        pd.DataFrame(columns=[d[0] for d in result.description or []])
            except duckdb.Error as e:
                raise DataError(f"The query failed: {str(e).splitlines()[0]}") from None
            finally:
                try:
                    cur.execute("ROLLBACK").fetchall()
                except duckdb.Error:
                    pass
        return df

    def profile(self, table: str) -> pd.DataFrame:
        """One row per column: type, non-null, missing %, distinct, min, max, mean, top values."""
        from core.data.profile import profile_table

        return profile_table(self.table(table))

    def export(self, table: str, fmt: str) -> bytes:
        """The whole table as CSV, Parquet or Excel (xlsx) bytes."""
        fmt = str(fmt).lower().lstrip(".")
        if fmt not in FORMATS:
            raise DataError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
        name = self._resolve(table)
        if fmt == "xlsx":
            info = self.info(name)
            if info.rows > EXCEL_MAX_ROWS or info.columns > EXCEL_MAX_COLUMNS:
                raise DataError(
                    f"'{name}' has {info.rows:,} rows and {info.columns:,} columns, more than an Excel "
                    f"sheet holds ({EXCEL_MAX_ROWS:,} rows, {EXCEL_MAX_COLUMNS:,} columns). "
                    "Download it as CSV or Parquet instead."
                )
            return frame_to_bytes(self.read(name), "xlsx", sheet_name=name)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        out = self.tmp_dir / f"export-{uuid.uuid4().hex}.{fmt}"
        options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
        try:
            with self._cursor() as cur:
                cur.execute(
                    f"COPY (SELECT * FROM {quote_ident(name)}) TO {quote_literal(str(out))} ({options})"
                ).fetchall()
            return out.read_bytes()
        finally:
            out.unlink(missing_ok=True)

    # ------------------------------------------------------------ writing
    def drop(self, table: str) -> None:
        """Delete a table from the workspace."""
        with self._db.write_lock:
            name = self._resolve(table)
            with self._cursor() as cur:
                cur.execute("BEGIN TRANSACTION").fetchall()
                try:
                    cur.execute(f"DROP TABLE {quote_ident(name)}").fetchall()
                    self._bump(cur, name, None, None)
                    cur.execute("COMMIT").fetchall()
                except BaseException:
                    cur.execute("ROLLBACK").fetchall()
                    raise

    def _bump(self, cur: duckdb.DuckDBPyConnection, name: str, source: str | None, rows: int | None) -> int:
        version = cur.execute("SELECT nextval('__mw_version_seq')").fetchall()[0][0]
        cur.execute(f"DELETE FROM {META} WHERE lower(name) = lower(?)", [name]).fetchall()
        if source is not None:
            cur.execute(f"INSERT INTO {META} VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
                        [name, version, source, rows]).fetchall()
        return int(version)

    def save_frame(self, df: pd.DataFrame, table: str, *, mode: str = "create", source: str = "python") -> str:
        """Store a pandas DataFrame as a table (create, replace or append), atomically."""
        if mode not in MODES:
            raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        name = sanitize_table_name(table)
        token = STAGING_PREFIX + uuid.uuid4().hex[:12]
        with self._cursor() as cur:
            cur.register("__mw_frame", df)
            try:
                cur.execute(f"CREATE TABLE {quote_ident(token)} AS SELECT * FROM __mw_frame").fetchall()
            finally:
                cur.unregister("__mw_frame")
            try:
                columns = {r[0]: r[1] for r in cur.execute(f"DESCRIBE {quote_ident(token)}").fetchall()}
                self._commit(cur, token, name, mode, columns, source=source)
            finally:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(token)}").fetchall()
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
            cur.execute("BEGIN TRANSACTION").fetchall()
            try:
                if mode == "append" and existing:
                    try:
                        cur.execute(
                            f"INSERT INTO {quote_ident(existing)} BY NAME SELECT * FROM {quote_ident(staging)}"
                        ).fetchall()
                    except duckdb.Error as e:
                        raise DataError(
                            f"Cannot append to '{existing}': {str(e).splitlines()[0]}. The column types "
                            "differ; set the column types in the load options to match the table."
                        ) from None
                    name = existing
                else:
                    if existing:
                        cur.execute(f"DROP TABLE {quote_ident(existing)}").fetchall()
                    cur.execute(f"ALTER TABLE {quote_ident(staging)} RENAME TO {quote_ident(table)}").fetchall()
                    name = table
                rows = cur.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
                self._bump(cur, name, source, rows)
                cur.execute("COMMIT").fetchall()
            except BaseException:
                cur.execute("ROLLBACK").fetchall()
                raise
            return int(rows)

    # ------------------------------------------------------------ CSV
    def spill_upload(self, source: IO[bytes]) -> Path:
        """Copy an uploaded file object to a temp file in the workspace folder (DuckDB reads files)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        out = self.tmp_dir / f"upload-{uuid.uuid4().hex}.csv"
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        with open(out, "wb") as f:
            shutil.copyfileobj(source, f, 1 << 20)
        return out

    @contextlib.contextmanager
    def _source_path(self, source: str | os.PathLike[str] | IO[bytes]) -> Iterator[tuple[Path, str]]:
        if isinstance(source, (str, os.PathLike)):
            yield Path(source), Path(source).name
            return
        if isinstance(source, (bytes, bytearray)):
            raise DataError("Pass a path or a binary file object (e.g. open(path, 'rb') or io.BytesIO).")
        spilled = self.spill_upload(source)
        try:
            yield spilled, getattr(source, "name", "upload")
        finally:
            spilled.unlink(missing_ok=True)

    def inspect_csv(self, source: str | os.PathLike[str] | IO[bytes], **csv_options: Any) -> CsvPlan:
        """Detect how a CSV would be read (without loading it): options, column types, preview."""
        with self._source_path(source) as (path, _), self._cursor() as cur:
            plan = plan_csv(cur, path, self.tmp_dir, **csv_options)
            plan.cleanup()
            return plan

    def ingest_csv(self, source: str | os.PathLike[str] | IO[bytes], table: str, *, mode: str = "create",
                   progress: Progress | None = None, **csv_options: Any) -> IngestReport:
        """Load a CSV file (path or binary file object) into a table.

        mode: "create" (DataError if the table exists), "replace" or "append" (columns must match).
        csv_options override detection: delimiter, header, encoding, quote, escape, skip,
        dateformat, timestampformat, decimal_separator, nullstr, null_padding, types={col: type}.
        progress(fraction, message) is called while loading. Existing tables are untouched on failure.
        """
        if mode not in MODES:
            raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        name = sanitize_table_name(table)
        if mode == "create" and self.exists(name):
            raise DataError(
                f"A table named '{name}' already exists. Choose another name, or choose 'replace' "
                "to overwrite it or 'append' to add these rows to it."
            )
        with self._source_path(source) as (path, label), self._cursor() as cur:
            if progress:
                progress(0.0, "Detecting the file format")
            plan = plan_csv(cur, path, self.tmp_dir, **csv_options)
            try:
                report = load_plan(
                    cur, plan, name, mode,
                    lambda c, stg, tbl, m, cols: self._commit(c, stg, tbl, m, cols, source=label),
                    progress,
                )
            finally:
                plan.cleanup()
        if name != str(table).strip():
            report.warnings.insert(0, f"Saved as table '{name}' (table names use letters, digits and _).")
        return report

    # ------------------------------------------------------------ server-side files
    @property
    def import_dir(self) -> Path:
        """The only folder from which files may be loaded by server-side path."""
        return config.import_dir(self.path)

    @property
    def models_dir(self) -> Path:
        """Where saved models and the leaderboard of training runs live (inside the workspace folder)."""
        return self.folder / "models"

    def import_files(self) -> list[str]:
        """CSV files available in the import folder (relative paths)."""
        root = self.import_dir
        if not root.is_dir():
            return []
        found = []
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".txt", ".gz")):
                found.append(str(p.relative_to(root)))
        return found

    def resolve_import(self, relative: str) -> Path:
        """A path inside the import folder, refusing anything that escapes it."""
        root = self.import_dir.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise DataError(f"'{relative}' is outside the import folder {root}. Copy the file into that folder.")
        if not target.is_file():
            raise DataError(f"'{relative}' is not a file in the import folder {root}.")
        return target
