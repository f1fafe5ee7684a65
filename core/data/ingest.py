"""Load a planned CSV into a staging table, convert columns, collect rejects, then swap atomically.

A load never touches existing tables until the very end, where one transaction renames the
staging table into place (or appends it). A failure anywhere before that leaves the workspace
exactly as it was.
"""

from __future__ import annotations

import gzip
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import pandas as pd

from core.data.csv_detect import (HEADER_REPEAT_NOTE, WHITESPACE, Conversion, CsvPlan, _conversion_sql, _duckdb_message, blank_sql,
                                  filled_sql, header_repeat_sql, normalise_newlines)
from core.errors import DataError
from core.wording import plural
from core.data.identifiers import quote_ident, quote_literal

Progress = Callable[[float, str], None]
MODES = ("create", "replace", "append")
MAX_REJECTS_KEPT = 100_000
STAGING_PREFIX = "__mw_staging_"


@dataclass
class IngestReport:
    """What a load did: the table, the rows loaded and rejected, what was detected, and warnings."""

    table: str
    rows: int
    columns: dict[str, str]
    rejected_rows: int
    rejects: pd.DataFrame
    detected: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    mode: str = "create"
    total_rows: int = 0  # rows in the table after the load (differs from rows when appending)
    seconds: float = 0.0

    @property
    def rejected_share(self) -> float:
        """Rejected rows as a share of all data rows read."""
        seen = self.rows + self.rejected_rows
        return self.rejected_rows / seen if seen else 0.0


def run_with_progress(cur: duckdb.DuckDBPyConnection, sql: str, progress: Progress | None,
                      message: str, span: tuple[float, float] = (0.0, 1.0)) -> None:
    """Run one statement; while it runs, report DuckDB's own query progress through `progress`.

    `cur` should be one of the workspace's progress cursors (core.data.engine); on another cursor
    DuckDB reports no progress and only the step names are shown.
    """
    if progress is None:
        cur.execute(sql).fetchall()
        return
    outcome: dict[str, BaseException] = {}

    def work() -> None:
        try:
            cur.execute(sql).fetchall()
        except BaseException as e:  # re-raised in the calling thread
            outcome["error"] = e

    worker = threading.Thread(target=work, name="mw-ingest", daemon=True)
    worker.start()
    lo, hi = span
    while worker.is_alive():
        worker.join(0.25)
        try:
            pct = cur.query_progress()
        except duckdb.Error:
            pct = -1
        if pct is not None and pct >= 0:
            progress(lo + (hi - lo) * min(pct, 100.0) / 100.0, message)
    if "error" in outcome:
        raise outcome["error"]


MAX_QUOTE_FIXES = 20  # lines with a never-closed quote cut out one by one before giving up
_BLANK_CAST = re.compile(r'Could not convert string "(?:\s|\\[trn])*" to')


def _rejects(cur: duckdb.DuckDBPyConnection, table: str) -> tuple[int, pd.DataFrame]:
    count = cur.execute(f"SELECT count(DISTINCT line) FROM {table}").fetchall()[0][0]
    df = cur.execute(
        f"SELECT line, column_name AS \"column\", error_type || ': ' || error_message AS error, "
        f"csv_line AS raw_line FROM {table} ORDER BY line LIMIT {MAX_REJECTS_KEPT}"
    ).df()
    df["column"] = df["column"].astype("object").where(df["column"].notna(), None)
    return int(count), df


def _drop(cur: duckdb.DuckDBPyConnection, *tables: str) -> None:
    for t in tables:
        cur.execute(f"DROP TABLE IF EXISTS {t}").fetchall()


def _header_lines_in_rejects(cur: duckdb.DuckDBPyConnection, plan: CsvPlan, rejects_table: str) -> int:
    """Remove rejected lines that repeat the header (concatenated exports); returns how many lines."""
    if not plan.header or not plan.header_line:
        return 0
    cond = f"rtrim(csv_line, chr(13)) = {quote_literal(plan.header_line)}"
    n = cur.execute(f"SELECT count(DISTINCT line) FROM {rejects_table} WHERE {cond}").fetchall()[0][0]
    if n:
        cur.execute(f"DELETE FROM {rejects_table} WHERE {cond}").fetchall()
    return int(n)


def _header_rows_in_table(cur: duckdb.DuckDBPyConnection, plan: CsvPlan, staging: str) -> int:
    """Delete loaded rows equal to the header (only possible when every column is text)."""
    described = cur.execute(f"DESCRIBE {staging}").fetchall()
    if not plan.header or any(r[1] != "VARCHAR" for r in described):
        return 0
    cond = header_repeat_sql(plan, [quote_ident(r[0]) for r in described])
    if not cond or not cur.execute(f"SELECT count(*) FROM {staging} WHERE {cond.split(' AND ')[0]}").fetchall()[0][0]:
        return 0  # (the first column alone decides quickly on wide tables)
    return int(cur.execute(f"DELETE FROM {staging} WHERE {cond}").fetchall()[0][0])


@dataclass
class _CutLine:
    """A line whose quote is never closed, cut out of the file so that the rest reads normally."""

    line: int  # line number in the file the loader read when it was found
    column: str | None
    raw: str
    swallowed_lines: int
    swallowed_bytes: int


def _swallowing_quote(cur: duckdb.DuckDBPyConnection, rejects_table: str) -> tuple[int, int, str | None, str] | None:
    """The first rejected record that an unterminated quote stretched over several lines, if any.

    Returns (line, byte position, column, its first physical line).
    """
    rows = cur.execute(
        f"SELECT line, line_byte_position, column_name, split_part(csv_line, chr(10), 1) FROM {rejects_table} "
        "WHERE error_type = 'UNQUOTED VALUE' AND contains(csv_line, chr(10)) ORDER BY line LIMIT 1"
    ).fetchall()
    if not rows:
        return None
    line, pos, column, first = rows[0]
    return int(line), int(pos or 0), column, first.rstrip("\r")


def _cut_line(plan: CsvPlan, hint: int, first: str, tmp_dir: Path) -> tuple[int, int] | None:
    """Make the plan read a copy of its file without the physical line `first` found near byte `hint`.

    Returns the lines and bytes the line's open quote swallowed (up to the end of the line holding
    the next quote character, or the end of the file), or None when the line cannot be found (the
    caller then reports the problem as it is).
    """
    encoding = "latin-1" if plan.duckdb_encoding == "latin-1" else "utf-8"
    needle = first.encode(encoding, errors="replace")
    opener = gzip.open if plan.compression == "gzip" else open
    found = -1
    with opener(plan.path, "rb") as f:
        # DuckDB counts bytes of the UTF-8 text it parses (latin-1 is converted while read), from 1
        near = max(0, hint - 1) if encoding == "utf-8" else _latin1_offset(f, max(0, hint - 1))
        lo = max(0, near - 16)
        f.seek(max(0, lo - 1))
        base = max(0, lo - 1)
        window = f.read(near + 16 - base + len(needle) + 2)
    start = 0
    while True:
        i = window.find(needle, start)
        if i < 0 or base + i > near + 16:
            break
        at_line_start = base + i == 0 or (i > 0 and window[i - 1:i] == b"\n")
        if at_line_start and window[i + len(needle):i + len(needle) + 1] in (b"\n", b"\r", b""):
            if found < 0 or abs(base + i - near) < abs(found - near):
                found = base + i
        start = i + 1
    if found < 0:
        return None
    tmp_dir.mkdir(parents=True, exist_ok=True)
    out = tmp_dir / f"quotefix-{uuid.uuid4().hex}.csv"
    quote = (plan.quote or '"').encode(encoding)
    lines = size = 0
    state = "open"  # "open": inside the swallowed quote; "closing": quote found, to the end of its line
    try:
        with opener(plan.path, "rb") as src, open(out, "wb") as dst:
            _copy_bytes(src, dst, found)
            src.readline()  # the broken line itself: dropped
            while True:
                block = src.read(1 << 22)
                if not block:
                    break
                dst.write(block)
                if state == "done":
                    continue
                start = 0
                if state == "open":
                    q = block.find(quote)
                    if q < 0:
                        lines += block.count(b"\n")
                        size += len(block)
                        continue
                    state, start = "closing", q
                nl = block.find(b"\n", start)
                if nl < 0:
                    lines += block.count(b"\n")
                    size += len(block)
                    continue
                lines += block.count(b"\n", 0, nl + 1)
                size += nl + 1
                state = "done"
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    for old in [t for t in plan.temp_files if t == plan.path]:
        old.unlink(missing_ok=True)
        plan.temp_files.remove(old)
    plan.path, plan.compression = out, None
    plan.temp_files.append(out)
    return lines + (1 if state == "closing" else 0), size


_HIGH_BYTES = bytes(range(0x80, 0x100))


def _latin1_offset(f: Any, utf8_offset: int) -> int:
    """The byte offset in a latin-1 file of the character at `utf8_offset` in its UTF-8 conversion.

    Every byte from 0x80 up is two bytes in UTF-8; blocks are counted in C, only the last one byte by byte.
    """
    pos = seen = 0
    while True:
        block = f.read(1 << 20)
        if not block:
            return pos
        wide = len(block) - len(block.translate(None, _HIGH_BYTES))
        if seen + len(block) + wide <= utf8_offset:
            seen += len(block) + wide
            pos += len(block)
            continue
        for b in block:
            if seen >= utf8_offset:
                return pos
            seen += 2 if b >= 0x80 else 1
            pos += 1
        return pos


def _copy_bytes(src: Any, dst: Any, n: int) -> None:
    while n > 0:
        block = src.read(min(n, 1 << 22))
        if not block:
            break
        dst.write(block)
        n -= len(block)


def _original_line(line: int, cuts: list[_CutLine]) -> int:
    """A line number in the last copy read, as a line number of the original file."""
    for cut in reversed(cuts):
        if line >= cut.line:
            line += 1
    return line


def _apply_conversions(cur: duckdb.DuckDBPyConnection, staging: str, plan: CsvPlan) -> list[str]:
    """Convert planned text columns when every value fits; otherwise keep text and say why.

    Blank and whitespace-only cells are missing values: they never stop a conversion, and are counted.
    """
    warnings = []
    for name, conv in plan.conversions.items():
        col = quote_ident(name)
        misfits, blanks = cur.execute(
            f"SELECT count(*) FILTER (WHERE {filled_sql(col)} AND ({conv.expr}) IS NULL), "
            f"count(*) FILTER (WHERE {blank_sql(col)}) FROM {staging}"
        ).fetchall()[0]
        if misfits:
            example = cur.execute(
                f"SELECT {col} FROM {staging} WHERE {filled_sql(col)} AND ({conv.expr}) IS NULL LIMIT 1"
            ).fetchall()[0][0]
            warnings.append(
                f"Column '{name}' looks like {conv.note}, but {plural(misfits, 'value')} such as {example!r} "
                f"{'does' if misfits == 1 else 'do'} not fit, so it was kept as text. Set its type explicitly "
                "to convert it anyway."
            )
            plan.columns[name] = "VARCHAR"
            continue
        cur.execute(f"ALTER TABLE {staging} ALTER {col} SET DATA TYPE {conv.target} USING ({conv.expr})").fetchall()
        if conv.kind == "blank":
            warnings.append(f"Column '{name}' was read as {conv.target}.")
        else:
            warnings.append(f"Column '{name}' was read as {conv.target}: {conv.note}.")
        if blanks:
            warnings.append(f"{plural(blanks, 'blank cell')} in {name} loaded as missing.")
    return warnings


def _out_of_range(cur: duckdb.DuckDBPyConnection, staging: str) -> list[str]:
    """Set numbers beyond the range of a double (1e400 reads as infinity) to missing, counted per column."""
    floats = [r[0] for r in cur.execute(f"DESCRIBE {staging}").fetchall() if r[1] in ("DOUBLE", "FLOAT")]
    if not floats:
        return []
    counts: list[int] = []
    for start in range(0, len(floats), 250):  # wide SELECTs bind slowly: a few columns per query
        counts += cur.execute(
            "SELECT " + ", ".join(f"sum(isinf({quote_ident(c)})::INTEGER)" for c in floats[start:start + 250])
            + f" FROM {staging}"
        ).fetchall()[0]
    warnings = []
    for c, n in zip(floats, counts):
        n = int(n or 0)
        if n:
            cur.execute(f"UPDATE {staging} SET {quote_ident(c)} = NULL WHERE isinf({quote_ident(c)})").fetchall()
            warnings.append(
                f"{plural(n, 'value')} in column '{c}' {'is' if n == 1 else 'are'} beyond the range of a number "
                "(more than about 1.8e308, e.g. 1e400, or written as infinity) and loaded as missing."
            )
    return warnings


def _blank_reject_columns(cur: duckdb.DuckDBPyConnection, plan: CsvPlan, rejects_table: str) -> list[str]:
    """Typed columns rejected only because a cell held whitespace (found beyond the sample)."""
    rows = cur.execute(
        f"SELECT DISTINCT column_name, error_message FROM {rejects_table} WHERE error_type = 'CAST' "
        "AND column_name IS NOT NULL LIMIT 10000"
    ).fetchall()
    cols = sorted({c for c, msg in rows if _BLANK_CAST.search(msg or "") and c in plan.columns
                   and plan.columns[c] != "VARCHAR"})
    return cols


def _read(cur: duckdb.DuckDBPyConnection, plan: CsvPlan, staging: str, rejects_table: str, rejects_scan: str,
          progress: Progress | None, again: bool) -> tuple[int, int]:
    """Read the file into `staging` (lean first when that differs); returns (rejected lines, header lines).

    Raises duckdb.Error when the careful read fails.
    """
    careful = plan.read_csv_sql(rejects_table=rejects_table, rejects_scan=rejects_scan)
    lean = plan.read_csv_sql(rejects_table=rejects_table, rejects_scan=rejects_scan, lean=True)
    if lean != careful:
        # Fast path for clean files; any reject (other than a repeated header) or error means a
        # careful re-read decides.
        try:
            run_with_progress(cur, f"CREATE TABLE {staging} AS SELECT * FROM {lean}", progress,
                              "Re-reading the file" if again else "Reading the file", (0.0, 0.9))
            headers = _header_lines_in_rejects(cur, plan, rejects_table)
            rejected = cur.execute(f"SELECT count(DISTINCT line) FROM {rejects_table}").fetchall()[0][0]
            if rejected == 0 or _swallowing_quote(cur, rejects_table) is not None:
                return int(rejected), headers  # a broken quote is cut out before any careful read
        except duckdb.Error:
            pass
        _drop(cur, staging, rejects_table, rejects_scan)
    run_with_progress(cur, f"CREATE TABLE {staging} AS SELECT * FROM {careful}", progress,
                      "Reading the file" if lean == careful and not again else "Re-reading the file carefully",
                      (0.0, 0.9))
    headers = _header_lines_in_rejects(cur, plan, rejects_table)
    rejected = cur.execute(f"SELECT count(DISTINCT line) FROM {rejects_table}").fetchall()[0][0]
    return int(rejected), headers


def load_plan(cur: duckdb.DuckDBPyConnection, plan: CsvPlan, table: str, mode: str,
              commit: Callable[[duckdb.DuckDBPyConnection, str, str, str, dict[str, str]], int],
              progress: Progress | None = None, tmp_dir: Path | None = None) -> IngestReport:
    """Read the file into a staging table and hand it to `commit` (which swaps it in atomically).

    commit(cursor, staging_table, target_table, mode, columns) -> rows in target after the load.
    tmp_dir: where corrected copies of the file may be written (mixed line endings, a quote that is
    never closed); without it such files are reported as they are.
    """
    started = time.perf_counter()
    token = uuid.uuid4().hex[:12]
    staging = quote_ident(STAGING_PREFIX + token)
    rejects_table, rejects_scan = f"__mw_rejects_{token}", f"__mw_rejects_scan_{token}"
    cuts: list[_CutLine] = []
    try:
        while True:
            try:
                rejected, header_lines = _read(cur, plan, staging, rejects_table, rejects_scan, progress,
                                               again=bool(cuts))
            except duckdb.Error as e:
                if "invalid state" in str(e) and not plan.newlines_normalised and tmp_dir is not None:
                    # mixed CRLF / LF line endings further down than the sample looked
                    _drop(cur, staging, rejects_table, rejects_scan)
                    normalise_newlines(plan, tmp_dir)
                    continue
                raise DataError(
                    f"The file could not be loaded: {_duckdb_message(e)}. Check the delimiter, quote, "
                    "encoding and column types in the load options and try again."
                ) from None
            broken = _swallowing_quote(cur, rejects_table) if rejected else None
            if broken is not None and tmp_dir is not None:
                line, hint, column, first = broken
                if len(cuts) >= MAX_QUOTE_FIXES:
                    raise DataError(
                        f"More than {MAX_QUOTE_FIXES} lines open a quote (\") that is never closed (line "
                        f"{_original_line(line, cuts):,} is the next). The quote character is probably not "
                        "used for quoting in this file: fix those lines, or load it with quote set to none "
                        "(quote='')."
                    )
                _drop(cur, staging, rejects_table, rejects_scan)
                swallowed = _cut_line(plan, hint, first, tmp_dir)
                if swallowed is not None:
                    cuts.append(_CutLine(line, column, first, *swallowed))
                    continue
                raise DataError(
                    f"Line {_original_line(line, cuts):,} opens a quote (\") that is never closed and swallows "
                    "the lines after it. Fix that line, or load the file with quote set to none (quote='')."
                )
            blank_cols = _blank_reject_columns(cur, plan, rejects_table) if rejected else []
            if blank_cols:
                # cells holding only whitespace after the sample: read those columns as text and
                # convert them with blanks as missing values
                _drop(cur, staging, rejects_table, rejects_scan)
                for c in blank_cols:
                    target = plan.columns[c]
                    expr = _conversion_sql(plan, f"nullif(trim({quote_ident(c)}, {quote_literal(WHITESPACE)}), '')",
                                           target)
                    plan.conversions[c] = Conversion("blank", target, expr, "blank cells as missing values")
                    plan.columns[c] = "VARCHAR"
                continue
            break
        rejected, rejects = _rejects(cur, rejects_table)
        if cuts:
            rejects["line"] = [_original_line(int(n), cuts) for n in rejects["line"]]
            own = pd.DataFrame({
                "line": [_original_line(c.line, cuts[:i]) for i, c in enumerate(cuts)],
                "column": [c.column for c in cuts],
                "error": [f"UNQUOTED VALUE: Value with unterminated quote found; it swallowed the "
                          f"{plural(c.swallowed_lines, 'line')} after it, which were read again without "
                          "this line" for c in cuts],
                "raw_line": [c.raw for c in cuts],
            })
            rejects = pd.concat([own, rejects], ignore_index=True).sort_values("line", kind="stable")
            rejects = rejects.reset_index(drop=True).head(MAX_REJECTS_KEPT)
            rejects["line"] = rejects["line"].astype("int64")
            rejects["column"] = rejects["column"].astype("object").where(rejects["column"].notna(), None)
            rejected += len(cuts)
        header_lines += _header_rows_in_table(cur, plan, staging)
        rows = cur.execute(f"SELECT count(*) FROM {staging}").fetchall()[0][0]
        if rows == 0:
            if rejected:
                first = rejects.iloc[0]
                raise DataError(
                    f"None of the rows could be read ({rejected:,} rejected). The first problem is on "
                    f"line {first['line']}: {first['error']}. Check the delimiter and column types in "
                    "the load options."
                )
            raise DataError("The file has no data rows. Export the data again including the rows.")
        if progress:
            progress(0.9, "Checking column types")
        # the inspection's note on header lines in the sample is replaced by the count for the whole file
        warnings = [w for w in plan.warnings if HEADER_REPEAT_NOTE not in w]
        for i, cut in enumerate(cuts):
            warnings.append(
                f"Line {_original_line(cut.line, cuts[:i]):,} opens a quote (\") that is never closed: it swallowed "
                f"the {plural(cut.swallowed_lines, 'line')} ({plural(cut.swallowed_bytes, 'byte')}) after it. That "
                "line was rejected and the rest of the file read again with the quote confined to its line."
            )
        if header_lines:
            warnings.append(f"{plural(header_lines, 'repeated header line')} skipped.")
        warnings += _apply_conversions(cur, staging, plan)
        warnings += _out_of_range(cur, staging)
        if rejected:
            warnings.append(
                f"{plural(rejected, 'row')} did not fit and {'was' if rejected == 1 else 'were'} not loaded; "
                "see the rejected rows (line number, column, error and the raw line)."
            )
        columns = {
            r[0]: r[1]
            for r in cur.execute(f"DESCRIBE {staging}").fetchall()
        }
        if progress:
            progress(0.95, "Saving the table")
        total = commit(cur, STAGING_PREFIX + token, table, mode, columns)
        if progress:
            progress(1.0, "Done")
        return IngestReport(
            table=table, rows=int(rows), columns=columns, rejected_rows=rejected, rejects=rejects,
            detected=plan.detected(), warnings=warnings, mode=mode, total_rows=int(total),
            seconds=time.perf_counter() - started,
        )
    finally:
        for stmt in (f"DROP TABLE IF EXISTS {staging}", f"DROP TABLE IF EXISTS {rejects_table}",
                     f"DROP TABLE IF EXISTS {rejects_scan}"):
            try:
                cur.execute(stmt).fetchall()
            except duckdb.Error:
                pass
