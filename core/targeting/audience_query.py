"""Ibis steps of the audience builder: tables as Ibis, a common join key, and the checks on it.

Every source table is joined on one key. When every table's id column is numeric, the key is the id
as int64 (float or decimal ids must hold whole numbers, e.g. 17.0 from a pandas column with gaps; a
fractional id raises DataError). When any table has text ids, the key is the id as text: numbers
become their decimal digits (17 and 17.0 -> "17"), text is stripped of surrounding blanks and an
empty text id counts as no id. So an int `CustomerID` in one table and a text `customer_id` in
another join on equal digits. Zero-padded text ("00017") is not the number 17: the
builder says so when a table's ids barely match the others.

Nothing here runs unless asked: each function builds an expression or runs one small aggregate.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, TypeAlias

import ibis
import pandas as pd

from core.data.engine import scratch_backend
from core.errors import DataError
from core.wording import plural

if TYPE_CHECKING:
    from core.data.workspace import Workspace

TableLike: TypeAlias = "pd.DataFrame | ibis.Table | str"


@dataclass(frozen=True)
class KeyedTable:
    """One source table as Ibis with its join key column `key` (text) and facts about its ids."""

    name: str  # what users call the table ("CLV table")
    table: ibis.Table  # rows with an id, with column `key`; other columns as in the input
    key: str
    id_column: str
    integer_ids: bool  # the input's id column holds whole numbers (int, or whole floats/decimals)
    rows: int
    no_id: int  # rows left out because their id is empty
    distinct: int  # distinct ids


def as_table(source: TableLike, name: str, workspace: Workspace | None) -> ibis.Table:
    """A source as an Ibis table: a workspace table name, an Ibis table, or a pandas DataFrame."""
    if isinstance(source, str):
        if workspace is None:
            raise DataError(f"The {name} is given by name ('{source}') but no workspace was passed: "
                            "pass workspace=... or the table itself.")
        return workspace.table(source)
    if isinstance(source, ibis.Table):
        return source
    if isinstance(source, pd.DataFrame):
        frame = source
        if frame.columns.duplicated().any():
            raise DataError(f"The {name} has duplicated column names: "
                            f"{', '.join(map(str, frame.columns[frame.columns.duplicated()]))}. Rename them.")
        mixed = [c for c in frame.columns if frame[c].dtype == object
                 and len({type(v) for v in frame[c].dropna().head(1000)}) > 1]
        if mixed or any(not isinstance(c, str) for c in frame.columns):
            frame = frame.copy()
            frame.columns = [str(c) for c in frame.columns]
            for c in mixed:  # ids mixing ints and strings: compare them as text
                frame[str(c)] = frame[str(c)].astype("string")
        return ibis.memtable(frame)
    raise DataError(f"The {name} must be a workspace table name, a pandas DataFrame or an Ibis table "
                    f"(got {type(source).__name__}).")


def require_columns(table: ibis.Table, name: str, columns: list[str], why: str) -> None:
    """Raise DataError naming the missing columns, what needs them, and what the table has."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        have = ", ".join(list(table.columns)[:30])
        raise DataError(f"The {name} has no column {', '.join(map(repr, missing))} ({why}). "
                        f"Its columns: {have}. Pick the right table or column.")


def whole_number_ids(table: ibis.Table, column: str) -> bool:
    """Whether an id column is typed as numbers (integers, or floats/decimals checked to be whole)."""
    typ = table[column].type()
    if typ.is_boolean():
        raise DataError(f"The id column '{column}' holds true/false values, not customer ids.")
    return bool(typ.is_integer() or typ.is_floating() or typ.is_decimal())


def key_expression(table: ibis.Table, column: str, *, as_text: bool) -> tuple[Any, Any]:
    """(the join key, a count of fractional ids or None).

    as_text=False (every table has numeric ids): the id as int64, the fastest join. as_text=True: the
    id as text, numbers as their digits, text stripped and an empty text id counted as no id.
    """
    col = table[column]
    typ = col.type()
    fractional = None
    if typ.is_floating() or typ.is_decimal():
        fractional = (col.notnull() & (col != col.floor())).cast("int64").sum()
    if typ.is_numeric():
        whole = col.cast("int64")
        return (whole.cast("string") if as_text else whole), fractional
    if not as_text:
        raise DataError(f"The id column '{column}' holds text: the other tables' ids are joined as text then.")
    text = col.cast("string").strip() if not typ.is_string() else col.strip()
    return text.nullif(""), None


def keyed(table: ibis.Table, name: str, id_column: str, backend: Any, *, unique: bool, key: str,
          as_text: bool) -> KeyedTable:
    """A source table with its join key, after checking the id column (one aggregate query).

    `unique`: one row per customer is needed (segments, CLV, uplift, propensity): ids on more than one
    row raise DataError with the count and examples, because which row to keep is the user's call.
    """
    require_columns(table, name, [id_column], "the customer id column")
    if key in table.columns:
        raise DataError(f"The {name} has a column named '{key}', which the audience builder uses itself. Rename it.")
    integer = whole_number_ids(table, id_column)
    expr, fractional = key_expression(table, id_column, as_text=as_text)
    t = table.mutate(**{key: expr})
    stats: dict[str, Any] = {"rows": t.count(), "no_id": t[key].isnull().cast("int64").sum(),
                             "distinct": t[key].nunique()}
    if fractional is not None:
        stats["fractional"] = fractional
    got = run(t.aggregate(**stats), backend).iloc[0]
    rows, no_id, distinct = int(got["rows"]), int(got["no_id"] or 0), int(got["distinct"] or 0)
    if fractional is not None and int(got["fractional"] or 0):
        raise DataError(f"The {name}'s id column '{id_column}' holds {plural(int(got['fractional']), 'value')} "
                        "with decimals (e.g. 12.5): customer ids must be whole numbers or text.")
    if unique and rows - no_id > distinct:
        with_id = t.filter(t[key].notnull())
        dup = with_id.group_by(key).aggregate(n=with_id.count()).filter(lambda d: d.n > 1)
        examples = [str(v) for v in run(dup.order_by([ibis.desc("n"), key]).limit(3), backend)[key].tolist()]
        n_dup = int(run(dup.count(), backend)) if len(examples) >= 3 else len(examples)
        raise DataError(
            f"The {name} has {plural(n_dup, 'customer id')} on more than one row (e.g. {', '.join(examples)}): "
            f"it needs one row per customer in '{id_column}'. Save one row per customer (or pick the "
            "right id column) and build the audience again.")
    return KeyedTable(name, t.filter(t[key].notnull()), key, id_column, integer, rows, no_id, distinct)


def backend_for(sources: list[TableLike], workspace: Workspace | None) -> Any:
    """The backend that runs the audience: the workspace's (or an Ibis input's), else in-memory DuckDB.

    pandas inputs become memtables, which Ibis copies into whichever backend runs the query.
    """
    if workspace is not None and any(isinstance(s, str) for s in sources):
        return workspace.ibis
    for s in sources:
        if isinstance(s, ibis.Table):
            try:
                return s._find_backend(use_default=False)
            except Exception:  # an Ibis memtable: no backend of its own
                continue
    return scratch_backend()


def run(expr: Any, backend: Any) -> Any:
    """Execute an expression on the chosen backend, with database errors as DataError."""
    try:
        return backend.execute(expr)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - the database's own message, first line
        raise DataError(f"The audience query failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}. "
                        "Check that the tables come from one workspace and hold the expected columns.") from e


def bool_sum(expr: Any) -> Any:
    """The number of rows where a boolean expression is true (0 on no rows)."""
    return expr.fill_null(False).cast("int64").sum().fill_null(0)


@contextlib.contextmanager
def materialised(expr: Any, backend: Any) -> Iterator[Any]:
    """The expression stored once as a temporary table (dropped afterwards), for queries that reuse it.

    The funnel and the audience both read the joined table: computing the joins once roughly halves
    the time on large tables. A backend that cannot create temporary tables gets the expression back.
    """
    name = f"__mw_audience_{uuid.uuid4().hex[:12]}"
    try:
        table = backend.create_table(name, expr, temp=True)
    except Exception:  # noqa: BLE001 - a read-only or limited backend: run the expression each time
        yield expr
        return
    try:
        yield table
    finally:
        with contextlib.suppress(Exception):
            backend.drop_table(name, force=True)
