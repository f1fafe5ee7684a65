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
from decimal import Decimal

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


EXCEL_EXACT_INT = 2**53  # Excel stores numbers as doubles: larger integers lose digits there
EXCEL_DIGITS = 15  # significant digits Excel keeps


def beyond_int64(v: object) -> bool:
    """A Python int (not a bool) outside int64: pandas and Arrow would turn it into a float."""
    return isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63


def _too_wide_for_excel(v: object) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):  # Python and NumPy ints alike (np.integer is not int: handled below)
        return abs(v) > EXCEL_EXACT_INT
    if isinstance(v, Decimal):
        return v.is_finite() and len(v.as_tuple().digits) > EXCEL_DIGITS
    return False


def exact_for_excel(df: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy whose integers beyond 2**53 (and decimals over 15 digits) are written as text.

    Excel would round them to a double, so two distinct ids could show as one number.
    """
    out = df.copy(deep=False)
    for position in range(out.shape[1]):
        s = out.iloc[:, position]
        if pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            if s.notna().any() and (s.abs().max() > EXCEL_EXACT_INT if s.dtype.kind == "i" else s.max() > EXCEL_EXACT_INT):
                out.isetitem(position, s.astype(object).map(lambda v: str(v) if pd.notna(v) else v))
        elif s.dtype == object:
            wide = s.map(_too_wide_for_excel).astype(bool)
            if wide.any():
                fixed = s.copy()
                fixed[wide] = s[wide].map(str)
                out.isetitem(position, fixed)
    return out


def exact_for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy whose Python ints beyond int64 become exact decimals (text past 38 digits)."""
    out = df.copy(deep=False)
    for position in range(out.shape[1]):
        s = out.iloc[:, position]
        if s.dtype != object:
            continue
        big = s.map(beyond_int64).astype(bool)
        if big.any():
            ints = s[s.map(lambda v: isinstance(v, int) and not isinstance(v, bool)).astype(bool)]
            fits = all(len(str(abs(v))) <= 38 for v in ints)
            out.isetitem(position, s.map(lambda v: (Decimal(v) if fits else str(v))
                                         if isinstance(v, int) and not isinstance(v, bool) else v))
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
        out = exact_for_parquet(df)
        out.columns = [str(c) for c in out.columns]
        out.to_parquet(buf, index=False)
        return buf.getvalue()
    if fmt == "xlsx":
        if len(df) > 1_048_575 or len(df.columns) > 16_384:
            raise DataError("Too large for an Excel sheet (1,048,575 rows, 16,384 columns). Use CSV or Parquet.")
        buf = io.BytesIO()
        out = exact_for_excel(neutralise_frame(df))
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
