"""Turn tables and query results into downloadable bytes: CSV, Parquet or Excel."""

from __future__ import annotations

import io

import pandas as pd

from core.errors import DataError

FORMATS = ("csv", "parquet", "xlsx")
MIME = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def frame_to_bytes(df: pd.DataFrame, fmt: str, *, sheet_name: str = "data") -> bytes:
    """A DataFrame as CSV (UTF-8, header, no index), Parquet or xlsx bytes."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "csv":
        return df.to_csv(index=False).encode("utf-8")
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
        out = df.copy()
        for c in out.columns:  # Excel has no time zones
            if isinstance(out[c].dtype, pd.DatetimeTZDtype):
                out[c] = out[c].dt.tz_localize(None)
        # Excel sheet names: at most 31 characters, none of []:*?/\
        safe = "".join(ch for ch in sheet_name if ch not in "[]:*?/\\")[:31] or "data"
        with pd.ExcelWriter(buf, engine="xlsxwriter") as writer:
            out.to_excel(writer, index=False, sheet_name=safe)
        return buf.getvalue()
    raise DataError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
