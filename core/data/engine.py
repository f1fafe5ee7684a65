"""Open the workspace's DuckDB database inside a sandbox that the engine itself enforces.

The SQL console's name guard (core.data.sql_guard) is only the second layer. The first is DuckDB's
own configuration, set once when the database opens and then locked:

1. extension auto-install and auto-load off (nothing is downloaded or loaded behind our back);
2. `allowed_directories`: the only folders DuckDB may read or write (the workspace's temporary
   folder, where uploads are spilled and exports written, and the import folder). DuckDB always
   lets a database read its own file (and its .wal); only the name guard stops `read_blob` on it;
3. `enable_external_access=false`: every other file, `getenv`, ATTACH of other files, INSTALL/LOAD
   are refused on every route, SQL inside a string (json_execute_serialized_sql) included;
4. no Python replacement scans (a query cannot read a pandas variable of the server by its name);
5. `lock_configuration=true`: no SET/RESET/PRAGMA can undo any of it.

Threads and memory are set here too (MW_DUCKDB_THREADS, MW_DUCKDB_MEMORY), since they cannot
change once the configuration is locked.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import ibis
from ibis.backends.duckdb import Backend as _DuckDBBackend

from core import config
from core.data.identifiers import quote_literal
from core.errors import DataError


PROGRESS_CURSORS = 4


def connect_sandboxed(path: Path, allowed: Sequence[Path]
                      ) -> tuple[duckdb.DuckDBPyConnection, list[duckdb.DuckDBPyConnection]]:
    """A connection to the database file whose file access is confined to `allowed` folders.

    Also returns a few cursors that report query progress (`cursor.query_progress()`): DuckDB's
    progress setting is per connection and cannot be set once the configuration is locked, so
    these are prepared before the lock and lent to long loads.
    """
    settings: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "threads": config.duckdb_threads(),
    }
    memory = config.duckdb_memory()
    if memory:
        settings["memory_limit"] = memory
    try:
        con = duckdb.connect(str(path), config=settings)
    except (duckdb.ParserException, duckdb.InvalidInputException) as e:
        raise DataError(
            f"The DuckDB settings are not valid: {str(e).splitlines()[0]}. Check MW_DUCKDB_MEMORY "
            f"(now {memory!r}; e.g. 4GB) and MW_DUCKDB_THREADS (a whole number)."
        ) from None
    return con, sandbox(con, allowed)


def sandbox(con: duckdb.DuckDBPyConnection, allowed: Sequence[Path]) -> list[duckdb.DuckDBPyConnection]:
    """Confine an open connection to the `allowed` folders and lock its configuration (steps 2-5 above).

    Returns the progress cursors (see connect_sandboxed). Used for the workspace database and for
    the in-memory databases of load jobs (core.data.load_job), which open the connection
    themselves with the job's thread limit. The connection is closed if this fails.
    """
    try:
        folders = ", ".join(quote_literal(str(p).rstrip("/") + "/") for p in allowed)
        for statement in (
            f"SET GLOBAL allowed_directories = [{folders}]",
            "SET GLOBAL enable_external_access = false",
            "SET GLOBAL python_enable_replacements = false",
            "SET GLOBAL TimeZone = 'UTC'",
        ):
            con.execute(statement).fetchall()
        progress_cursors = []
        for _ in range(PROGRESS_CURSORS):
            cur = con.cursor()
            cur.execute("SET enable_progress_bar = true").fetchall()
            cur.execute("SET enable_progress_bar_print = false").fetchall()
            progress_cursors.append(cur)
        con.execute("SET GLOBAL lock_configuration = true").fetchall()
    except duckdb.Error as e:
        con.close()
        raise DataError(
            f"The workspace database could not be configured: {str(e).splitlines()[0]}. "
            "Check MW_DUCKDB_MEMORY (e.g. 4GB) and MW_DUCKDB_THREADS (a whole number)."
        ) from None
    return progress_cursors


class LockedDuckDBBackend(_DuckDBBackend):
    """Ibis's DuckDB backend for a connection whose configuration is locked.

    Ibis normally sets TimeZone and python_enable_replacements when it attaches to a connection;
    the sandbox has set both already (to the same values) and refuses any further SET.
    """

    def _post_connect(self, extensions: Sequence[str] | None = None) -> None:  # noqa: ARG002
        self._record_batch_readers_consumed: dict[str, bool] = {}


def ibis_backend(cursor: duckdb.DuckDBPyConnection) -> Any:
    """An Ibis backend running on `cursor` (a cursor of a sandboxed connection)."""
    return LockedDuckDBBackend.from_connection(cursor)


def scratch_backend() -> Any:
    """An in-memory DuckDB for queries on pandas input, limited to the configured threads."""
    return ibis.duckdb.connect(threads=config.duckdb_threads(), enable_external_access=False,
                               autoinstall_known_extensions=False, autoload_known_extensions=False)


@contextlib.contextmanager
def transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT on `cur`, rolled back if the block raises (the error goes on)."""
    cur.execute("BEGIN TRANSACTION").fetchall()
    try:
        yield
        cur.execute("COMMIT").fetchall()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK").fetchall()
        raise


@contextlib.contextmanager
def attached(cur: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool = False) -> Iterator[str]:
    """Another database file ATTACHed on `cur` under a fresh alias (detached afterwards).

    The file must lie in an allowed folder of the sandbox.
    """
    alias = "__mw_attached_" + uuid.uuid4().hex[:8]
    cur.execute(f"ATTACH {quote_literal(str(path))} AS {alias}{' (READ_ONLY)' if read_only else ''}").fetchall()
    try:
        yield alias
    finally:
        with contextlib.suppress(duckdb.Error):
            cur.execute(f"DETACH {alias}").fetchall()
