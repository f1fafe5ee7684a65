"""An audience out of the workbench: a summary for the page, a file for the e-mail tool, a saved table.

Exports go through core.data.export.frame_to_bytes, so CSV and Excel text cells that a spreadsheet
would run as formulas get a leading `'`, and Excel files hold no formulas at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence

import pandas as pd

from core.data.export import FORMATS, frame_to_bytes
from core.errors import DataError

if TYPE_CHECKING:
    from core.data.workspace import Workspace
    from core.targeting.audience import Audience

ExportFormat = Literal["csv", "parquet", "xlsx"]
CLV_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


@dataclass(frozen=True, eq=False)
class AudienceSummary:
    """Small tables for the page.

    by_segment: segment (segment_name, else rfm_segment, else segment, else "All"), customers, share, total_clv,
    mean_clv, expected_incremental_conversions (the columns the audience has), largest first.
    by_uplift_group: uplift_group, customers, share (empty without uplift groups).
    clv_distribution: quantile, clv (0 = min ... 1 = max; empty without CLV).
    """

    by_segment: pd.DataFrame
    by_uplift_group: pd.DataFrame
    clv_distribution: pd.DataFrame


def _counts(customers: pd.DataFrame, by: str) -> pd.DataFrame:
    groups = customers.groupby(by, dropna=False, sort=False)
    out = groups.size().rename("customers").to_frame()
    if "clv" in customers.columns:
        clv = pd.to_numeric(customers["clv"], errors="coerce")
        out["total_clv"] = clv.groupby(customers[by], dropna=False, sort=False).sum()
        out["mean_clv"] = clv.groupby(customers[by], dropna=False, sort=False).mean()
    if "uplift" in customers.columns:
        up = pd.to_numeric(customers["uplift"], errors="coerce")
        out["expected_incremental_conversions"] = up.groupby(customers[by], dropna=False, sort=False).sum()
    out.insert(1, "share", out["customers"] / max(len(customers), 1))
    return out.reset_index().sort_values(["customers", by], ascending=[False, True], kind="stable",
                                         na_position="last").reset_index(drop=True)


def audience_summary(audience: Audience) -> AudienceSummary:
    """Size by segment and by uplift group, and the CLV distribution, of one audience."""
    c = audience.customers
    by = next((col for col in ("segment_name", "rfm_segment", "segment") if col in c.columns), None)
    if by is None:
        by_segment = _counts(c.assign(segment="All"), "segment") if len(c) else pd.DataFrame(
            columns=["segment", "customers", "share"])
    else:
        by_segment = _counts(c, by)
    by_group = _counts(c, "uplift_group")[["uplift_group", "customers", "share"]] if "uplift_group" in c.columns \
        else pd.DataFrame(columns=["uplift_group", "customers", "share"])
    if "clv" in c.columns and c["clv"].notna().any():
        clv = pd.to_numeric(c["clv"], errors="coerce").dropna()
        dist = pd.DataFrame({"quantile": list(CLV_QUANTILES),
                             "clv": [float(clv.quantile(q)) for q in CLV_QUANTILES]})
    else:
        dist = pd.DataFrame(columns=["quantile", "clv"])
    return AudienceSummary(by_segment, by_group, dist)


def _chosen(audience: Audience, columns: Sequence[str] | None) -> pd.DataFrame:
    c = audience.customers
    if columns is None:
        return c
    columns = [columns] if isinstance(columns, str) else list(columns)
    if not columns:
        raise DataError("Choose at least one column to export.")
    unknown = [col for col in columns if col not in c.columns]
    if unknown:
        raise DataError(f"The audience has no column {', '.join(map(repr, unknown))}. "
                        f"Its columns: {', '.join(map(str, c.columns))}.")
    if len(set(columns)) < len(columns):
        raise DataError("A column is chosen twice: choose each column once.")
    return c[columns]


def export_audience(audience: Audience, columns: Sequence[str] | None = None, fmt: ExportFormat = "csv") -> bytes:
    """The audience's chosen columns (None: all, in the audience's order) as CSV, Parquet or xlsx bytes.

    CSV is UTF-8 with a header and CRLF line ends; CSV and xlsx neutralise formula-like text (a
    leading `'`); Parquet keeps the columns' types exactly.
    """
    if str(fmt).lower().lstrip(".") not in FORMATS:
        raise DataError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
    return frame_to_bytes(_chosen(audience, columns), str(fmt), sheet_name="audience")


def save_audience(workspace: Workspace, audience: Audience, table: str, *, columns: Sequence[str] | None = None,
                  mode: Literal["create", "replace"] = "replace") -> str:
    """Save the audience (chosen columns) as a workspace table; returns the table's name as stored."""
    return workspace.save_frame(_chosen(audience, columns), table, mode=mode, source="targeting audience")
