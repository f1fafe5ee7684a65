"""What every workspace has whatever its engine: the import folder, saved models, the role check.

The DuckDB workspace (core.data.workspace) and the Spark workspace (core.data.spark) both have a
`folder` on the app server (MW_WORKSPACE's folder) and a `path` inside it; tables live in their engine,
but files loaded by server-side path come from the import folder, and saved models and the
leaderboard live in `<folder>/models`, on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core import config
from core.errors import DataError
from core.roles import require

if TYPE_CHECKING:
    from core.models.store import ModelStore

UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".gz")


class ServerFiles:
    """The import folder, the model store and the role check of a workspace (a mix-in: needs `folder`,
    `path`, `role` and `record`)."""

    folder: Path
    path: Path
    role: str

    def record(self, action: str, *, table: str | None = None, rows: int | None = None,
               detail: str | None = None) -> None:
        raise NotImplementedError

    def require(self, action: str) -> None:
        """Raise DataError (naming the role needed) unless this user's role may perform `action`; a
        refusal is written to the audit log."""
        try:
            require(self.role, action)
        except DataError:
            self.record("refused", detail=f"{action} (role {self.role})")
            raise

    def _public(self, message: str) -> str:
        return message

    @property
    def import_dir(self) -> Path:
        """The only folder from which files may be loaded by server-side path."""
        return config.import_dir(self.path)

    @property
    def models_dir(self) -> Path:
        """Where saved models and the leaderboard of training runs live (inside the workspace folder)."""
        return self.folder / "models"

    def model_store(self) -> ModelStore:
        """The saved models of this workspace, with this user's role checked and audited."""
        from core.models.store import ModelStore

        return ModelStore(self.models_dir, workspace=self)  # type: ignore[arg-type]

    def import_files(self) -> list[str]:
        """CSV files available in the import folder (relative paths)."""
        root = self.import_dir
        if not root.is_dir():
            return []
        return [str(p.relative_to(root)) for p in sorted(root.rglob("*"))
                if p.is_file() and p.name.lower().endswith(UPLOAD_SUFFIXES)]

    def resolve_import(self, relative: str) -> Path:
        """A path inside the import folder, refusing anything that escapes it."""
        from core.data.workspace import check_upload_name

        root = self.import_dir.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise DataError(self._public(
                f"'{relative}' is outside the import folder {root}. Copy the file into that folder."))
        if not target.is_file():
            raise DataError(self._public(f"'{relative}' is not a file in the import folder {root}."))
        check_upload_name(target.name)
        return target
