"""Keep the SQL console read-only: one SELECT on workspace tables, run in a read-only transaction.

This is the second layer. The first is the engine's own sandbox (core.data.engine): DuckDB refuses
file access outside the workspace's folders and any configuration change on every route, including
SQL run from inside a string. This guard adds what the engine cannot know: that the console is for
one SELECT, and that server settings, paths and the workbench's internal tables are not for users.
"""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb

from core.data.identifiers import INTERNAL_PREFIX
from core.errors import DataError

# Table and scalar functions that read or list files, run SQL from a string, or show the server's
# settings, paths, extensions and secrets.
_BLOCKED_FUNCTIONS = re.compile(
    r"^(read_\w+|glob|sniff_csv|parquet_\w+|iceberg_\w+|delta_\w+|sqlite_\w+|postgres_\w+|mysql_\w+"
    r"|query|query_table|json_execute_serialized_sql|json_serialize_sql|json_deserialize_sql|sql_auto_complete"
    r"|getenv|current_setting|load_\w+|install_\w+|\w+_scan|pragma_\w+|checkpoint|force_checkpoint"
    r"|duckdb_(settings|databases|secrets|extensions|temporary_files|memory|logs\w*|external_file_cache"
    r"|variables|optimizers|approx_database_count)|which_secret|enable_\w+|disable_\w+|pg_settings)$",
    re.IGNORECASE,
)


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise DataError unless `query` is a single SELECT that touches only workspace tables."""
    if not query or not query.strip():
        raise DataError("Type a SELECT query first, for example: SELECT * FROM customers LIMIT 10")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise DataError(f"The query has a syntax error: {str(e).splitlines()[0]}") from None
    if len(statements) != 1:
        raise DataError("Run one statement at a time (remove the extra ';' separated statements).")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise DataError(
            f"The SQL console is read-only: {kind.name} statements are not allowed. "
            "Use SELECT (with WITH, JOIN, GROUP BY ...) to query the workspace."
        )
    serialised = con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0]
    tree = json.loads(serialised)
    if tree.get("error"):
        raise DataError(f"The query cannot be checked: {tree.get('error_message', 'unknown error')}")
    for node in _walk(tree):
        fn = node.get("function_name")
        if isinstance(fn, str) and _BLOCKED_FUNCTIONS.match(fn):
            raise DataError(
                f"The SQL console cannot use {fn}(): it reads files or settings outside the workspace. "
                "Load files on the Data page, then query the table."
            )
        if node.get("type") == "BASE_TABLE":
            name = str(node.get("table_name", ""))
            if _BLOCKED_FUNCTIONS.match(name):  # the catalog views over those functions
                raise DataError(
                    f"The SQL console cannot read {name}: it shows the server's settings or files. "
                    "Query your own tables (duckdb_tables() and duckdb_columns() list them)."
                )
            if name.lower().startswith(INTERNAL_PREFIX):
                raise DataError(
                    f"'{name}' is internal to the workbench and cannot be queried. Query your own "
                    "tables (see the table list on this page); admins read the audit log on the Data page."
                )
            if re.search(r"[/\\:.]|^~", name):
                raise DataError(
                    f"The SQL console only queries workspace tables, not files ('{name}'). "
                    "Load the file on the Data page first."
                )
