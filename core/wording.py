"""Small helpers for messages people read (no streamlit here)."""

from __future__ import annotations


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """'1 row', '0 rows', '7,032 rows'; `many` is the plural when it is not word + 's' ('entry', 'entries')."""
    count = f"{n:,}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.2f}"
    return f"{count} {word if n == 1 else (many or word + 's')}"
