"""Turn tables and query results into downloadable bytes: CSV, Parquet or Excel.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or carriage
return) as a formula: `=HYPERLINK(...)` or `=cmd|' /C calc'!A0` from a customer's name field would
run on the analyst's machine. CSV and Excel exports therefore prefix such text cells (and column
names) with a `'` (the OWASP CSV-injection rule), and Excel files are written with no formulas at
all. Numbers stay numbers: numeric columns are never touched, and a text cell that is a plain
number such as "-12.5" cannot run, so it is kept as written. Parquet keeps every value as stored.
"""

from __future__ import annotations

import io
import re

import pandas as pd

from core.data.identifiers import quote_ident
from core.errors import DataError

FORMATS = ("csv", "parquet", "xlsx")
MIME = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_START = "=+-@\t\r"
_RISKY = re.compile(r"^[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_RISKY_SQL = r"^[=+\-@\t\r]"
_NUMBER_SQL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def neutralise_text(value: str) -> str:
    """The text with a leading `'` when a spreadsheet would run it as a formula."""
    if _RISKY.match(value) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names cannot run as spreadsheet formulas.

    The copy is shallow (pandas copy-on-write): only columns that change are written anew.
    """
    out = df.copy(deep=False)
    out.columns = [neutralise_text(str(c)) for c in out.columns]
    for position in range(out.shape[1]):
        s = out.iloc[:, position]
        if not (s.dtype == object or isinstance(s.dtype, pd.StringDtype) or str(s.dtype) == "str"
                or isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        is_text = s.map(lambda v: isinstance(v, str)).astype(bool)
        if not is_text.any():
            continue
        text = s[is_text].astype(str)
        risky = text.str.match(_RISKY.pattern) & ~text.str.match(_PLAIN_NUMBER.pattern)
        if risky.any():
            fixed = s.astype(object).copy()
            fixed[risky[risky].index] = "'" + text[risky]
            out.isetitem(position, fixed)
    return out


def neutralise_sql(columns: dict[str, str]) -> str:
    """A SELECT list that neutralises formula-like text cells (and names) of a table with these columns."""
    parts = []
    for name, typ in columns.items():
        col, alias = quote_ident(name), quote_ident(neutralise_text(name))
        if typ.upper().startswith(("VARCHAR", "ENUM")) or typ.upper() in ("TEXT", "STRING"):
            text = f"{col}::VARCHAR"
            parts.append(
                f"CASE WHEN regexp_matches({text}, '{_RISKY_SQL}') AND NOT regexp_matches({text}, '{_NUMBER_SQL}') "
                f"THEN '''' || {text} ELSE {text} END AS {alias}"
            )
        else:
            parts.append(f"{col} AS {alias}")
    return ", ".join(parts) or "*"


def frame_to_bytes(df: pd.DataFrame, fmt: str, *, sheet_name: str = "data") -> bytes:
    """A DataFrame as CSV (UTF-8, header, no index), Parquet or xlsx bytes; CSV and xlsx neutralised."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "csv":
        # CRLF line ends (RFC 4180) so that a cell holding a bare CR or LF is quoted, not split.
        return neutralise_frame(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8")
    if fmt == "parquet":
        buf = io.BytesIO()
        out = df.copy()
        out.columns = [str(c) for c in out.columns]
        out.to_parquet(buf, index=False)
        return buf.getvalue()
    if fmt == "xlsx":
        if len(df) > 1_048_575 or len(df.columns) > 16_384:
            raise DataError("Too large for an Excel sheet (1,048,575 rows, 16,384 columns). Use CSV or Parquet.")
        buf = io.BytesIO()
        out = neutralise_frame(df)
        for c in out.columns:  # Excel has no time zones
            if isinstance(out[c].dtype, pd.DatetimeTZDtype):
                out[c] = out[c].dt.tz_localize(None)
        # Excel sheet names: at most 31 characters, none of []:*?/\
        safe = "".join(ch for ch in sheet_name if ch not in "[]:*?/\\")[:31] or "data"
        # No formulas and no links: every string is written as a string.
        options = {"strings_to_formulas": False, "strings_to_urls": False}
        with pd.ExcelWriter(buf, engine="xlsxwriter", engine_kwargs={"options": options}) as writer:
            out.to_excel(writer, index=False, sheet_name=safe)
        return buf.getvalue()
    raise DataError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
