"""What every workspace has whatever its engine: the import folder, saved models, the role check.

The DuckDB workspace (core.data.workspace) and the Spark workspace (core.data.spark) both have a
`folder` on the app server (MW_WORKSPACE's folder) and a `path` inside it; tables live in their engine,
but files loaded by server-side path come from the import folder, and saved models and the
leaderboard live in `<folder>/models`, on both.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

from core import config
from core.errors import DataError, redact
from core.roles import require

if TYPE_CHECKING:
    from core.models.store import ModelStore

UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".gz")


class ServerFiles:
    """The import folder, the model store, uploads spilled to the temporary folder, messages without
    server paths for non-admins and the role check of a workspace (a mix-in: needs `folder`, `path`,
    `tmp_dir`, `role` and `record`)."""

    folder: Path
    path: Path
    tmp_dir: Path
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
        """The message as this user may see it: no server paths or process ids unless an admin."""
        return message if self.role == "admin" else redact(message)

    def _disk_error(self, e: BaseException, doing: str) -> DataError:
        """A DataError for a failed file operation, with advice, and no path unless an admin."""
        text = str(e)
        if getattr(e, "errno", None) == errno.ENOSPC or "No space left" in text or "disk is full" in text.lower():
            msg = (f"Could not {doing}: the server's disk is full. Nothing in the workspace was changed. "
                   "Ask an admin to free disk space (or move the workspace, MW_WORKSPACE), then try again.")
        elif getattr(e, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS) or "Permission denied" in text:
            msg = (f"Could not {doing}: the server may not write to the workspace folder ({self.folder}). "
                   "Nothing in the workspace was changed. Ask an admin to fix the folder's permissions.")
        else:
            first = text.splitlines()[0] if text else type(e).__name__
            msg = f"Could not {doing}: {first}. Nothing in the workspace was changed; try again."
        return DataError(self._public(msg))

    def spill_upload(self, source: IO[bytes]) -> Path:
        """Copy an uploaded file object to a temp file in the workspace folder (DuckDB reads files).

        The file's name (when it has one) must end in a CSV suffix; a full disk or an unwritable
        folder raises DataError and leaves no partial file behind.
        """
        self.require("load")
        check_upload_name(getattr(source, "name", None))
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        return self._write_temp(lambda f: shutil.copyfileobj(source, f, 1 << 20), "upload", "csv")

    def _write_temp(self, write: Callable[[IO[bytes]], object], kind: str, suffix: str) -> Path:
        out = self.tmp_dir / f"{kind}-{uuid.uuid4().hex}.{suffix}"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as f:
                write(f)
        except OSError as e:
            with contextlib.suppress(OSError):
                out.unlink(missing_ok=True)
            raise self._disk_error(e, "store the uploaded file") from None
        return out

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
        root = self.import_dir.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise DataError(self._public(
                f"'{relative}' is outside the import folder {root}. Copy the file into that folder."))
        if not target.is_file():
            raise DataError(self._public(f"'{relative}' is not a file in the import folder {root}."))
        check_upload_name(target.name)
        return target


def check_upload_name(name: str | None) -> None:
    """Refuse uploads whose name says they are not CSV text (checked on the server, not only by the browser)."""
    if not name:
        return
    if not str(name).lower().endswith(UPLOAD_SUFFIXES):
        suffix = Path(str(name)).suffix or "(none)"
        raise DataError(
            f"'{Path(str(name)).name}' is not a CSV file (its type is {suffix}). Upload a .csv, .tsv or .txt "
            "file, or one compressed with gzip (.csv.gz); save spreadsheets as CSV first."
        )
