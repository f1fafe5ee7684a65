"""Load the bundled demo data into a workspace in one call."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.data.ingest import IngestReport
from core.data.workspace import Workspace

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
DEMO_TABLES = ("customers", "transactions", "order_lines", "email_campaign", "offer_test", "campaign_daily")


def ensure_sample_data(folder: Path = SAMPLE_DIR) -> None:
    """Generate the small sample files if any is missing (a fresh clone has them committed)."""
    if all((folder / f"{name}.csv").exists() for name in DEMO_TABLES):
        return
    from sample_data.generate import main

    main(["--out", str(folder)])


def load_demo(ws: Workspace, progress: Callable[[float, str], None] | None = None) -> list[IngestReport]:
    """Load (or reload) every demo table, replacing tables of the same names."""
    ensure_sample_data()
    reports = []
    for i, name in enumerate(DEMO_TABLES):
        if progress:
            progress(i / len(DEMO_TABLES), f"Loading {name}")
        reports.append(ws.ingest_csv(SAMPLE_DIR / f"{name}.csv", name, mode="replace"))
    if progress:
        progress(1.0, "Demo data loaded")
    return reports
