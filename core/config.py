"""Where things live: workspace database, temp folder and the server-side import folder."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WORKSPACE = Path("workspace") / "workbench.duckdb"
# Share of rejected rows above which the UI warns loudly (MW_REJECT_WARN_SHARE, 0..1).
DEFAULT_REJECT_WARN_SHARE = 0.01


def workspace_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The workspace database file: the given path, else $MW_WORKSPACE, else ./workspace/workbench.duckdb."""
    if path is None:
        path = os.environ.get("MW_WORKSPACE") or DEFAULT_WORKSPACE
    p = Path(path).expanduser()
    if p.suffix == "" and (p.is_dir() or str(path).endswith(os.sep)):
        p = p / "workbench.duckdb"
    return p.resolve()


def import_dir(workspace_file: Path) -> Path:
    """Folder from which server-side files may be loaded: $MW_IMPORT_DIR, else <workspace>/imports."""
    env = os.environ.get("MW_IMPORT_DIR")
    return Path(env).expanduser().resolve() if env else workspace_file.parent / "imports"


def reject_warn_share() -> float:
    """Share of rejected rows above which a load is flagged in the UI."""
    try:
        return float(os.environ.get("MW_REJECT_WARN_SHARE", DEFAULT_REJECT_WARN_SHARE))
    except ValueError:
        return DEFAULT_REJECT_WARN_SHARE
