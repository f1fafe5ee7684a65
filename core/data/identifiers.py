"""Safe names: sanitise user table names, quote identifiers and literals, de-duplicate columns."""

from __future__ import annotations

import re
import unicodedata

from core.errors import DataError

INTERNAL_PREFIX = "__mw_"
MAX_TABLE_NAME = 63


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL (double quotes, embedded quotes doubled)."""
    if "\x00" in name:
        raise DataError("Names cannot contain a NUL character; rename the column or table.")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal for DuckDB SQL (single quotes, embedded quotes doubled)."""
    if "\x00" in value:
        raise DataError("Text values cannot contain a NUL character.")
    return "'" + value.replace("'", "''") + "'"


def sanitize_table_name(raw: str) -> str:
    """Turn a user-typed name or a file name into a plain table name.

    "Q3 Sales (EU).csv" -> "q3_sales_eu". Letters are folded to ASCII, everything else becomes
    "_", a leading digit gets a "t_" prefix. Raises DataError if nothing usable is left.
    """
    name = str(raw).strip()
    for ext in (".gz", ".csv", ".tsv", ".txt"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    name = re.sub(r"_+", "_", name)
    if not name:
        raise DataError(
            f"'{raw}' cannot be used as a table name: use letters, digits and underscores, "
            "for example 'customers_2024'."
        )
    if name[0].isdigit():
        name = "t_" + name
    return name[:MAX_TABLE_NAME].rstrip("_") or "t"


def unique_column_names(raw: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Keep column names as written, but make blanks and duplicates unique.

    Blank names become "column_<position>" (1-based); repeats get "_2", "_3", ...
    Returns the new names and the list of (old, new) renames.
    """
    taken: set[str] = set()
    lowered: set[str] = set()
    out: list[str] = []
    renames: list[tuple[str, str]] = []
    # DuckDB compares identifiers case-insensitively, so "ID" and "id" clash.
    for position, name in enumerate(raw, start=1):
        original = name if name is not None else ""
        candidate = original.strip().replace("\x00", "")
        if not candidate:
            candidate = f"column_{position}"
        base = candidate
        n = 2
        while candidate.lower() in lowered:
            candidate = f"{base}_{n}"
            n += 1
        taken.add(candidate)
        lowered.add(candidate.lower())
        out.append(candidate)
        if candidate != original:
            renames.append((original, candidate))
    return out, renames
