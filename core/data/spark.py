"""A workspace whose tables live in a Spark database: the second engine (issue 14).

    ws = SparkWorkspace.connect()                        # local[2] Spark, UTC, a temporary warehouse
    ws = SparkWorkspace.connect("sc://host:15002")       # a cluster through Spark Connect
    analyze(ws.table("email_campaign"), "variant", "converted")   # the same core call as on DuckDB

(`Workspace.spark(...)` in core.data.workspace is the same call.) The API is the DuckDB workspace's where
Spark has the feature: tables, exists, table (an Ibis table on the PySpark backend, so every core
function that aggregates through Ibis runs on the cluster), read, columns, version, info, profile,
sql (one read-only SELECT, with a time limit), save_frame, drop (admins), record/audit. Roles are
checked as on DuckDB (core.auth). Spark is imported only here and only when a Spark workspace is made:
DuckDB stays the embedded default and does not pay for it.

Design decisions:
- One Spark session per process (`spark_session`), shared by every Spark workspace of that process;
  the local session runs `local[2]` (this machine's cores), in UTC (the engines must agree on dates),
  with the UI off and a temporary warehouse folder (re-runs would otherwise fail with
  LOCATION_ALREADY_EXISTS).
- `version(table)` is a cache key from the table's own metadata: a hash of its data files (Spark
  writes new part files on every write, so any rewrite changes it) and, where files are not listed
  (views), of its schema and row count. It changes when the data changes, also when another program
  wrote the table, which a counter kept by the workbench would miss.
- `sql` accepts exactly one SELECT (sqlglot's Spark dialect parses it; DDL, DML, commands, several
  statements and table functions that read files are refused) and cancels it after `timeout_s`
  (a Spark job group, cancelled from a timer).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from core import config
from core.roles import Role, check_role
from core.data.identifiers import INTERNAL_PREFIX, sanitize_table_name
from core.data.server_files import ServerFiles
from core.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_DATABASE = "workbench"
LOCAL_MASTER = "local[2]"
AUDIT = f"{INTERNAL_PREFIX}audit"
MODES = ("create", "replace", "append")
_MODE_ACTION = {"create": "load", "replace": "replace", "append": "append"}  # as the DuckDB workspace audits
SQL_TIMEOUT_S = 30.0
# Ibis registers pandas inputs as temporary views named like this: never user tables
_IBIS_TEMPORARY = ("ibis_pandas_memtable_", "ibis_pyarrow_memtable_", "_ibis_")

_SESSION_LOCK = threading.Lock()
_SESSIONS: dict[str, Any] = {}


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise DataError("The Spark engine needs pyspark: install requirements-spark.txt "
                        "(`make test-spark` does) and Java 17 (`apt-get install -y openjdk-17-jre-headless`).") from None
    return pyspark


def spark_session(remote: str | None = None) -> SparkSession:
    """This process's Spark session: local (`local[2]`, UTC, UI off, a temporary warehouse) or, with
    `remote` ("sc://host:15002"), a Spark Connect session to a cluster. Made once; asking for another
    target in the same process is a DataError (pyspark routes every later session, function and ML
    call through Spark Connect once a Connect session exists)."""
    _pyspark()
    from pyspark.sql import SparkSession

    key = remote or LOCAL_MASTER
    with _SESSION_LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            return session
        if _SESSIONS:  # pyspark switches the whole process to Spark Connect once it has a Connect session
            raise DataError(f"This process already uses Spark at {next(iter(_SESSIONS))}; one process uses one "
                            "Spark (a local session or one Spark Connect server). Start another process for "
                            f"{key}.")
        if remote:
            try:
                session = SparkSession.builder.remote(remote).config("spark.sql.session.timeZone", "UTC").getOrCreate()
            except Exception as e:  # noqa: BLE001 - Connect errors come from grpc, py4j and pyspark alike
                raise DataError(f"Could not connect to Spark at {remote}: {e}. Check the address (sc://host:15002) "
                                "and that the Spark Connect server is running.") from None
        else:
            warehouse = tempfile.mkdtemp(prefix="mw-spark-warehouse-")
            # the local executors' Python workers (mapInPandas) run this interpreter, with its libraries;
            # pyspark reads it from the environment when the context starts (default: `python3` on PATH)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            try:
                session = (SparkSession.builder.master(LOCAL_MASTER).appName("marketing-workbench")
                           .config("spark.sql.session.timeZone", "UTC")
                           .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
                           .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
                           .config("spark.ui.enabled", "false")
                           .config("spark.ui.showConsoleProgress", "false")
                           .config("spark.sql.shuffle.partitions", "4")
                           .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                           .config("spark.sql.warehouse.dir", warehouse)
                           .config("spark.driver.memory", os.environ.get("MW_SPARK_DRIVER_MEMORY", "2g"))
                           .getOrCreate())
            except Exception as e:  # noqa: BLE001 - a missing Java surfaces as several exception types
                raise DataError(f"Could not start a local Spark session: {e}. Spark needs Java 17 "
                                "(`apt-get install -y openjdk-17-jre-headless`).") from None
            session.sparkContext.setLogLevel("ERROR")
        _SESSIONS[key] = session
        return session


@dataclass(frozen=True)
class SparkTableInfo:
    """Catalog facts about one Spark table (the DuckDB workspace's TableInfo, without a source)."""

    name: str
    rows: int
    columns: int
    version: int
    source: str | None = None
    updated_at: _dt.datetime | None = None


class SparkWorkspace(ServerFiles):
    """The workspace API on a Spark database (see the module docstring)."""

    def __init__(self, session: SparkSession, *, database: str = DEFAULT_DATABASE, user: str = "local",
                 role: Role = "admin") -> None:
        self.session = session
        self.database = _database_name(database)
        self.user = str(user)
        self.role: Role = check_role(role)
        # What stays on the app server: jobs, saved models, uploads in transit (MW_WORKSPACE's folder)
        self.folder = config.workspace_path(None).parent
        self.tmp_dir = self.folder / ".tmp"
        # A cache key for the pages (their caches key on the workspace's path); never opened as a file
        self.path = self.folder / f"spark-{self.database}"
        session.sql(f"CREATE DATABASE IF NOT EXISTS {_quote(self.database)}")
        self._ibis = ibis.pyspark.connect(session)

    @classmethod
    def connect(cls, remote: str | None = None, *, database: str | None = None, user: str = "local",
                role: Role = "admin") -> SparkWorkspace:
        """A Spark workspace: `remote` None starts (or reuses) the local session; "sc://host:15002"
        connects through Spark Connect. Defaults come from MW_SPARK_REMOTE and MW_SPARK_DATABASE."""
        remote = remote if remote is not None else (os.environ.get("MW_SPARK_REMOTE") or None)
        database = database or os.environ.get("MW_SPARK_DATABASE") or DEFAULT_DATABASE
        return cls(spark_session(remote), database=database, user=user, role=role)

    def as_user(self, user: str, role: Role) -> SparkWorkspace:
        """The same Spark database, used by another user and role."""
        return SparkWorkspace(self.session, database=self.database, user=user, role=role)

    @property
    def engine(self) -> str:
        return "spark"

    # ------------------------------------------------------------ catalog
    def _all_tables(self) -> list[str]:
        rows = self.session.sql(f"SHOW TABLES IN {_quote(self.database)}").collect()
        return [r["tableName"] for r in rows if not r["isTemporary"]]

    def tables(self) -> list[str]:
        """Names of the user's tables, sorted (the workbench's own and Ibis' temporary views left out)."""
        names = [t for t in self._all_tables() if not t.startswith(INTERNAL_PREFIX)
                 and not t.startswith(_IBIS_TEMPORARY)]
        return sorted(names, key=str.lower)

    def exists(self, table: str) -> bool:
        return any(t.lower() == str(table).lower() for t in self.tables())

    def _resolve(self, table: str) -> str:
        tables = self.tables()
        for t in tables:
            if t.lower() == str(table).lower():
                return t
        listed = ", ".join(tables[:20]) if tables else "none yet"
        raise DataError(f"There is no table '{table}' in the Spark database {self.database}. Tables: {listed}.")

    def _qualified(self, name: str) -> str:
        return f"{_quote(self.database)}.{_quote(name)}"

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> Spark SQL type of a table."""
        frame = self.session.table(self._qualified(self._resolve(table)))
        return {f.name: f.dataType.simpleString().upper() for f in frame.schema.fields}

    def version(self, table: str) -> int:
        """A cache key from the table's metadata: a hash of its data files (see the module docstring)."""
        name = self._resolve(table)
        frame = self.session.table(self._qualified(name))
        try:
            files = sorted(frame.inputFiles())
        except Exception:  # noqa: BLE001 - views and some sources list no files
            files = []
        basis = "\n".join(files) if files else f"{frame.schema.json()}|{frame.count()}"
        return int.from_bytes(hashlib.sha256(basis.encode()).digest()[:7], "big")

    def info(self, table: str) -> SparkTableInfo:
        """Rows, columns and version of a table."""
        name = self._resolve(table)
        frame = self.session.table(self._qualified(name))
        return SparkTableInfo(name, int(frame.count()), len(frame.columns), self.version(name))

    # ------------------------------------------------------------ reading
    def table(self, name: str) -> ibis.Table:
        """An Ibis table on the PySpark backend: core's queries run on Spark."""
        return self._ibis.table(self._resolve(name), database=self.database)

    @property
    def ibis(self) -> Any:
        return self._ibis

    def read(self, table: str, limit: int | None = None) -> pd.DataFrame:
        """The table (or its first `limit` rows) as a pandas DataFrame, brought to the driver."""
        frame = self.session.table(self._qualified(self._resolve(table)))
        if limit is not None:
            frame = frame.limit(max(0, int(limit)))
        return _to_pandas(frame)

    def sample(self, table: str, rows: int, *, seed: int = 0) -> tuple[pd.DataFrame, int]:
        """A seeded random sample of at most `rows` rows as pandas (every row when the table has no more),
        and the table's row count. Bernoulli sampling a little above the share, then cut to `rows`."""
        frame = self.session.table(self._qualified(self._resolve(table)))
        total = int(frame.count())
        rows = max(1, int(rows))
        if total > rows:
            fraction = min(1.0, rows / total * 1.02 + 50 / total)  # a few more than needed: never short
            frame = frame.sample(withReplacement=False, fraction=fraction, seed=int(seed)).limit(rows)
        return _to_pandas(frame), total

    def profile(self, table: str) -> pd.DataFrame:
        """One row per column (the DuckDB workspace's profile, computed on Spark through Ibis)."""
        from core.data.profile import profile_table

        return profile_table(self.table(table))

    def sql(self, query: str, limit: int | None = None, timeout_s: float | None = None) -> pd.DataFrame:
        """Run one read-only SELECT on Spark; anything else raises DataError; cancelled after timeout_s."""
        self.require("sql")
        check_spark_read_only(query)
        catalog = self.session.catalog
        before = catalog.currentDatabase()
        catalog.setCurrentDatabase(self.database)  # unqualified names are this workspace's tables ...
        try:
            # classic Spark resolves the plan here, so the names are bound; Spark Connect resolves it on the
            # server when it runs, after the database is set back: there the names are qualified in the text
            frame = self.session.sql(_qualify_tables(query, self.database) if is_connect(self.session) else query)
        except Exception as e:  # noqa: BLE001 - Spark's analysis errors (unknown table, column ...) are the user's
            message = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            self.record("query", detail=f"{query[:500]} -- failed: {message}")
            raise DataError(f"Spark could not run the query: {message}") from None
        finally:  # ... for this query only: the session is shared by every workspace of the process
            if catalog.databaseExists(before):
                catalog.setCurrentDatabase(before)
        if limit is not None:
            frame = frame.limit(max(0, int(limit)))
        seconds = float(timeout_s if timeout_s is not None else SQL_TIMEOUT_S)
        result = _with_timeout(self.session, frame, seconds)
        self.record("query", rows=len(result), detail=query[:500])
        return result

    # ------------------------------------------------------------ writing
    def save_frame(self, df: pd.DataFrame, table: str, *, mode: str = "create", source: str = "python") -> str:
        """Store a pandas DataFrame as a table (create, replace or append)."""
        self.require("save")
        target = self._target(sanitize_table_name(table), mode)
        self._write(self.session.createDataFrame(df), target, mode)
        self.record(_MODE_ACTION[mode], table=target, rows=len(df), detail=source)
        return target

    def _target(self, name: str, mode: str) -> str:
        """The stored name to write `name` to with `mode` (create: must not exist; append: must)."""
        if mode not in MODES:
            raise DataError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        existing = next((t for t in self.tables() if t.lower() == name.lower()), None)
        if mode == "create" and existing:
            raise DataError(f"A table named '{existing}' already exists. Choose another name, or choose 'replace' "
                            "to overwrite it or 'append' to add these rows to it.")
        if mode == "append" and not existing:
            raise DataError(f"There is no table '{name}' to append to; create it first.")
        return existing or name

    def _write(self, frame: Any, target: str, mode: str) -> None:
        """Write a Spark DataFrame as the Parquet table `target` (appended rows need the same columns)."""
        if mode == "append":
            have, new = list(self.columns(target)), list(frame.columns)
            if have != new:
                raise DataError(f"The table '{target}' has the columns {', '.join(have)}; the rows to append have "
                                f"{', '.join(map(str, new))}. Append rows with the same columns.")
        frame.write.mode("append" if mode == "append" else "overwrite").format("parquet") \
            .saveAsTable(self._qualified(target))

    def ingest_csv(self, source: str | os.PathLike[str], table: str, *, mode: str = "create",
                   progress: Any = None, source_name: str | None = None, **csv_options: Any) -> Any:
        """Load a CSV file, or a folder / lake URI Spark can read, into a table (core.data.spark_ingest):
        a local file goes through the workbench's own loader (the DuckDB workspace's rows, types and
        rejects) and a staging Parquet file; a folder or URI is read by Spark in PERMISSIVE mode with
        its rejects counted. `progress(share, message)` and `source_name` (the file's name as the user
        knows it) as on DuckDB. Returns core.data.ingest.IngestReport."""
        from core.data.spark_ingest import ingest

        self.require("load")
        report = ingest(self, str(source), self._target(sanitize_table_name(table), mode), mode, csv_options,
                        progress=progress)
        label = Path(str(source_name)).name if source_name else Path(str(source)).name
        self.record(_MODE_ACTION[mode], table=report.table, rows=report.rows,
                    detail=f"{label}; {report.rejected_rows:,} rejected")
        return report

    def load_staged(self, staged: str | os.PathLike[str], table: str, mode: str, columns: dict[str, str], *,
                    source_name: str, loaded_rows: int | None = None, rejected_rows: int = 0) -> int:
        """Save the Parquet file a load job wrote (core.data.load_job) as the table; its rows after. The
        same create / replace / append rules as every write; the file is removed."""
        from core.data.spark_ingest import staged_frame

        self.require("load")
        target = self._target(sanitize_table_name(table), mode)
        try:
            self._write(staged_frame(self.session, Path(staged)), target, mode)
        finally:
            Path(staged).unlink(missing_ok=True)
        total = int(self.session.table(self._qualified(target)).count())
        self.record(_MODE_ACTION[mode], table=target, rows=loaded_rows,
                    detail=f"{Path(str(source_name)).name}; {rejected_rows:,} rejected")
        return total

    def drop(self, table: str) -> None:
        """Delete a table (admins only)."""
        self.require("drop")
        name = self._resolve(table)
        rows = int(self.session.table(self._qualified(name)).count())
        self.session.sql(f"DROP TABLE {self._qualified(name)}")
        self.record("drop", table=name, rows=rows)

    def query(self, query: str, *, limit: int | None = None, timeout_s: float | None = None,
              cancel: threading.Event | None = None, on_wait: Any = None) -> Any:
        """The SQL console's query (core.data.console.QueryResult: rows, whether more existed, time)."""
        from core.data.console import QueryResult

        started = time.perf_counter()
        wanted = None if limit is None else max(0, int(limit))
        frame = self.sql(query, limit=None if wanted is None else wanted + 1,
                         timeout_s=config.sql_timeout_s() if timeout_s is None else timeout_s)
        truncated = wanted is not None and len(frame) > wanted
        return QueryResult(frame.head(wanted) if truncated else frame, truncated, time.perf_counter() - started)

    def export(self, table: str, fmt: str) -> bytes:
        """The whole table as CSV, Parquet or Excel bytes (brought to the driver; formulas neutralised)."""
        from core.data.export import FORMATS, frame_to_bytes

        self.require("download")
        fmt = str(fmt).lower().lstrip(".")
        if fmt not in FORMATS:
            raise DataError(f"Unknown format '{fmt}'. Use one of: {', '.join(FORMATS)}.")
        data = frame_to_bytes(self.read(table), fmt)
        self.record("export", table=self._resolve(table), detail=fmt)
        return data

    # ------------------------------------------------------------ files on the app server
    def inspect_csv(self, source: Any, **csv_options: Any) -> Any:
        """How a local CSV would be read (the workbench's detection, as on DuckDB)."""
        from core.data.csv_detect import plan_csv
        from core.data.engine import sandbox

        from core.jobs import duckdb_connect

        self.require("load")
        path = Path(source) if isinstance(source, (str, os.PathLike)) else self.spill_upload(source)
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            con = duckdb_connect(":memory:", threads=max(1, min(2, os.cpu_count() or 1)),
                                 config={"allow_community_extensions": False})
            try:
                cur = sandbox(con, [self.tmp_dir.resolve(), path.parent.resolve()])[0]
                plan = plan_csv(cur, path, self.tmp_dir, **csv_options)
                plan.cleanup()
                return plan
            finally:
                con.close()
        except DataError as e:
            raise DataError(self._public(str(e))) from None
        except OSError as e:
            raise self._disk_error(e, "read the file") from None

    def backup(self, *args: Any, **kwargs: Any) -> Any:
        raise DataError("Backups of a Spark database are made with the cluster's own tools (the tables are "
                        "files in its warehouse); the workbench backs up DuckDB workspaces only.")

    restore = backup

    # ------------------------------------------------------------ audit
    def record(self, action: str, *, table: str | None = None, rows: int | None = None,
               detail: str | None = None) -> None:
        """One row in the audit table of this Spark database (never fatal: a failure is logged)."""
        row = pd.DataFrame([{"when": pd.Timestamp.now(tz="UTC").tz_localize(None), "user": self.user,
                             "role": self.role, "action": action, "table": table,
                             "rows": None if rows is None else int(rows), "detail": detail}])
        row = row.astype({"table": "object", "detail": "object", "rows": "Int64"})
        try:
            schema = ("`when` TIMESTAMP, `user` STRING, role STRING, action STRING, `table` STRING, rows BIGINT, "
                      "detail STRING")
            self.session.createDataFrame(row, schema=schema).write.mode("append").format("parquet") \
                .saveAsTable(self._qualified(AUDIT))
        except Exception as e:  # noqa: BLE001 - the action has happened; the gap is logged
            import logging

            logging.getLogger(__name__).warning("audit row not written (%s %s by %s): %s", action, table, self.user, e)

    def audit(self, limit: int | None = None) -> pd.DataFrame:
        """The audit log, newest first (admins only)."""
        self.require("audit")
        if AUDIT not in self._all_tables():
            return pd.DataFrame(columns=["when", "user", "role", "action", "table", "rows", "detail"])
        frame = self.session.table(self._qualified(AUDIT)).orderBy("when", ascending=False)
        if limit is not None:
            frame = frame.limit(max(0, int(limit)))
        return frame.toPandas()


# ---------------------------------------------------------------- read-only SQL
_READS_FILES = ("read_files", "csv.", "parquet.", "json.", "orc.", "text.", "binaryfile.", "avro.", "delta.")


def _to_pandas(frame: Any) -> pd.DataFrame:
    """A Spark DataFrame on the driver, dates as the DuckDB workspace reads them (datetime64, not objects)."""
    out = frame.toPandas()
    for field in frame.schema.fields:
        if field.dataType.simpleString() == "date":
            out[field.name] = pd.to_datetime(out[field.name])
    return out


def check_spark_read_only(query: str) -> None:
    """DataError unless `query` is exactly one SELECT (or WITH ... SELECT, UNION ...) that reads tables
    only: no DDL or DML, no SET, no commands, no table functions or `format.path` sources reading files."""
    import sqlglot
    from sqlglot import exp

    text = str(query or "").strip().rstrip(";").strip()
    if not text:
        raise DataError("Type a SELECT query.")
    try:
        statements = [s for s in sqlglot.parse(text, read="spark") if s is not None]
    except sqlglot.errors.ParseError as e:
        raise DataError(f"The query is not valid Spark SQL: {str(e).splitlines()[0]}") from None
    if len(statements) != 1:
        raise DataError("Run one query at a time (one SELECT, no ';'-separated statements).")
    stmt = statements[0]
    if not isinstance(stmt, exp.Query):
        raise DataError("Only SELECT queries are allowed here: the SQL console reads, it never changes data.")
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
              exp.Set, exp.Use, exp.TruncateTable)
    for node in stmt.walk():
        if isinstance(node, writes):
            raise DataError("Only SELECT queries are allowed here: the SQL console reads, it never changes data.")
        if isinstance(node, (exp.Table,)) and str(node.args.get("db") or "").lower().strip("`") in \
                {p.rstrip(".") for p in _READS_FILES}:
            raise DataError("Reading files from SQL is not allowed here; load the file on the Data page.")
        if isinstance(node, exp.Anonymous) and str(node.name).lower() in {"read_files", "reflect", "java_method"}:
            raise DataError(f"The function {node.name} is not allowed in the SQL console.")


def _qualify_tables(query: str, database: str) -> str:
    """`query` with every table name that has no database (and is not a WITH name) put in `database`."""
    import sqlglot
    from sqlglot import exp

    stmt = sqlglot.parse_one(str(query).strip().rstrip(";"), read="spark")
    ctes = {str(c.alias_or_name).lower() for c in stmt.find_all(exp.CTE)}
    for table in stmt.find_all(exp.Table):
        if not table.args.get("db") and str(table.name).lower() not in ctes:
            table.set("db", exp.to_identifier(database))
    return stmt.sql(dialect="spark")


def is_connect(session: Any) -> bool:
    """Whether `session` is a Spark Connect client (no SparkContext: tags instead of job groups)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def _with_timeout(session: Any, frame: Any, seconds: float) -> pd.DataFrame:
    """frame.toPandas(), cancelled (DataError) when it runs longer than `seconds`: through a job group on
    classic Spark, an operation tag on Spark Connect, cancelled from a timer."""
    group = f"mw-sql-{threading.get_ident()}-{id(frame)}"
    connect = is_connect(session)
    context: Any = None if connect else session.sparkContext

    def cancel() -> None:
        if connect:
            session.interruptTag(group)
        else:
            context.cancelJobGroup(group)

    def done() -> None:
        if connect:
            session.removeTag(group)
        else:
            context.setLocalProperty("spark.jobGroup.id", None)

    if connect:
        session.addTag(group)
    else:
        context.setJobGroup(group, "workbench SQL console", interruptOnCancel=True)
    timer = threading.Timer(seconds, cancel)
    timer.start()
    try:
        return frame.toPandas()
    except Exception as e:  # noqa: BLE001 - a cancelled job surfaces as a py4j / grpc / Spark exception
        if not timer.is_alive():
            raise DataError(f"The query ran longer than {seconds:g} s and was stopped. Add filters or a LIMIT.") \
                from None
        raise DataError(f"Spark could not run the query: {str(e).splitlines()[0][:300]}") from None
    finally:
        timer.cancel()
        done()


def _database_name(name: str) -> str:
    text = str(name or "").strip()
    if not text or not all(c.isalnum() or c == "_" for c in text):
        raise DataError(f"'{name}' is not a usable Spark database name: use letters, digits and _ only.")
    return text


def _quote(name: str) -> str:
    """A Spark SQL identifier in backticks (embedded backticks doubled)."""
    return "`" + str(name).replace("`", "``") + "`"


def engine_name() -> str:
    """The engine the app uses: "duckdb" (default) or "spark" (MW_ENGINE=spark)."""
    value = (os.environ.get("MW_ENGINE") or "duckdb").strip().lower()
    if value not in ("duckdb", "spark"):
        raise DataError(f"MW_ENGINE is '{value}': use duckdb (the default) or spark.")
    return value


__all__ = ["SparkWorkspace", "SparkTableInfo", "spark_session", "check_spark_read_only", "engine_name"]
