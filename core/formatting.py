"""Numbers formatted for people: percent, points, p < 0.001, a few significant digits.

Pages show `for_people(frame, formats)`; downloads keep the raw frame. Formatting lives here, not
in pages, so every table of the workbench reads the same way and the rules are tested once.
"""

from __future__ import annotations

import math
from typing import Literal, Mapping

import pandas as pd

from core.wording import plural

Format = Literal["percent", "points", "p_value", "number", "integer", "money", "ratio", "text"]


def _missing(value: object) -> bool:
    try:
        return value is None or bool(pd.isna(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def significant(value: float, digits: int = 3) -> str:
    """`value` with `digits` significant digits, thousands separated, no scientific notation for
    everyday sizes (0.000123 → "0.000123", 1234567 → "1,234,567", 1e-9 → "1.00e-09")."""
    if _missing(value):
        return ""
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude < -6 or magnitude > 15:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def percent(value: float, digits: int = 1) -> str:
    """A share as a percent: 0.1234 → "12.3%"."""
    if _missing(value):
        return ""
    return f"{float(value) * 100:,.{digits}f}%"


def points(value: float, digits: int = 2) -> str:
    """A difference of two shares in percentage points, signed: 0.0053 → "+0.53 pts"."""
    if _missing(value):
        return ""
    return f"{float(value) * 100:+,.{digits}f} pts"


def p_value(value: float) -> str:
    """A p-value as people read it: "p < 0.001", "0.003", "0.42"."""
    if _missing(value):
        return ""
    p = float(value)
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"{p:.3f}"
    return f"{p:.2f}"


def money(value: float, digits: int = 2) -> str:
    """An amount: 1234.5 → "1,234.50"."""
    if _missing(value):
        return ""
    return f"{float(value):,.{digits}f}"


def integer(value: float) -> str:
    """A count: 7032 → "7,032"."""
    if _missing(value):
        return ""
    return f"{int(round(float(value))):,}"


def ratio(value: float) -> str:
    """A multiple: 2.345 → "2.35x"."""
    if _missing(value):
        return ""
    return f"{float(value):,.2f}x"


_FORMATTERS = {
    "percent": percent, "points": points, "p_value": p_value, "number": significant,
    "integer": integer, "money": money, "ratio": ratio,
    "text": lambda v: "" if _missing(v) else str(v),
}


def format_value(value: object, kind: Format) -> str:
    """One value formatted as `kind`; text that is not a number is returned as it is."""
    try:
        return _FORMATTERS[kind](value)  # type: ignore[operator]
    except (TypeError, ValueError):
        return "" if _missing(value) else str(value)


def for_people(frame: pd.DataFrame, formats: Mapping[str, Format],
               labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A display copy of `frame`: each column named in `formats` becomes formatted text, other
    float columns get 3 significant digits, and columns are renamed by `labels`. The input is not
    changed, so the raw numbers stay available for downloads."""
    shown = frame.copy()
    for column in shown.columns:
        kind = formats.get(column)
        if kind is None and pd.api.types.is_float_dtype(shown[column]):
            kind = "number"
        if kind is not None:
            shown[column] = [format_value(v, kind) for v in shown[column]]
    if labels:
        shown = shown.rename(columns=dict(labels))
    return shown


def rows(n: int, noun: str = "row") -> str:
    """ "1 row", "7,032 rows": a count with its noun in the right number (core.wording.plural)."""
    return plural(n, noun)
