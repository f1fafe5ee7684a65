"""Backups of a workspace: one file with every table, the saved models and the metadata.

A backup is a zip archive holding
- `manifest.json`: format, version, when, who, DuckDB version, and per table its rows and columns;
- `workspace.duckdb`: a DuckDB database with every user table (exact types, a consistent snapshot
  taken in one transaction) plus the catalog metadata and the audit log;
- `models/...`: the saved models and the leaderboard of training runs.

With a key, the archive is encrypted and authenticated (AES-GCM, core.data.backup_crypto).
A restore checks everything first (key, archive checksums, manifest against the snapshot), and
only then replaces the workspace's tables in one transaction and swaps the models folder; a wrong
key or a damaged file raises DataError and changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import tempfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from core.data.backup_crypto import decrypt_file, encrypt_file, is_encrypted
from core.data.engine import attached, transaction
from core.data.identifiers import quote_ident
from core.errors import DataError
from core.wording import plural

if TYPE_CHECKING:
    from core.data.workspace import Workspace

FORMAT = "marketing-workbench-backup"
VERSION = 1
SNAPSHOT = "workspace.duckdb"
MANIFEST = "manifest.json"
_META_COPY = "__mw_backup_meta"
_AUDIT_COPY = "__mw_backup_audit"


@dataclass(frozen=True)
class BackupContents:
    """What a verified backup holds: its manifest, the snapshot database and the models folder."""

    manifest: dict
    snapshot: Path
    models: Path


def write_backup(ws: Workspace, dest: Path, *, key: str | bytes | None = None) -> Path:
    """Write a backup of `ws` to `dest` (plain zip, or encrypted with `key`); returns the path."""
    from core.data.workspace import AUDIT, META

    dest = Path(dest).expanduser()
    if dest.is_dir() or not dest.suffix:  # a folder (existing or to be made): a dated file inside it
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        dest = dest / f"workbench-backup-{stamp}.mwbackup"
        if dest.exists():  # two backups in the same second never overwrite each other
            dest = dest.with_name(f"workbench-backup-{stamp}-{uuid.uuid4().hex[:6]}.mwbackup")
    work = ws.tmp_dir / f"backup-{uuid.uuid4().hex}"
    try:
        work.mkdir(parents=True)
        snapshot = work / SNAPSHOT
        with ws._db.write_lock:  # no load or drop lands while the snapshot and models are copied
            tables = _snapshot(ws, snapshot, META, AUDIT)
            _copy_models(ws.models_dir, work / "models")
        manifest = {
            "format": FORMAT, "version": VERSION, "created_at": _dt.datetime.now().isoformat(timespec="seconds"),
            "created_by": ws.user, "duckdb": duckdb.__version__, "tables": tables,
        }
        archive = work / "backup.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=2))
            z.write(snapshot, SNAPSHOT)
            for path in sorted((work / "models").rglob("*")):
                if path.is_file():
                    z.write(path, "models/" + str(path.relative_to(work / "models")))
        _place(archive, dest, key)
        return dest.resolve()
    except (OSError, duckdb.IOException) as e:
        raise ws._disk_error(e, "write the backup") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _snapshot(ws: Workspace, snapshot: Path, meta: str, audit: str) -> list[dict]:
    """Copy every user table, the metadata and the audit log into `snapshot` in one transaction."""
    tables = []
    with ws._cursor() as cur, attached(cur, snapshot) as alias, transaction(cur):
        for name in ws.tables():
            copy = f"{alias}.{quote_ident(name)}"
            cur.execute(f"CREATE TABLE {copy} AS SELECT * FROM main.{quote_ident(name)}").fetchall()
            rows = cur.execute(f"SELECT count(*) FROM {copy}").fetchall()[0][0]
            cols = cur.execute(f"DESCRIBE {copy}").fetchall()
            tables.append({"name": name, "rows": int(rows), "columns": {c[0]: c[1] for c in cols}})
        cur.execute(f"CREATE TABLE {alias}.{_META_COPY} AS SELECT * FROM main.{meta}").fetchall()
        cur.execute(f"CREATE TABLE {alias}.{_AUDIT_COPY} AS SELECT * FROM main.{audit}").fetchall()
    return tables


def _copy_models(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        for path in src.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                target = dest / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def _place(archive: Path, dest: Path, key: str | bytes | None) -> None:
    """Put the archive at `dest`, encrypted when a key is given; a half-written `dest` never remains."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if key is not None:
        if not key:
            raise DataError("The backup key is empty. Type a passphrase, or leave the key out for a plain backup.")
        encrypt_file(archive, dest, key)
        return
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        shutil.copyfile(archive, partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


# ------------------------------------------------------------------ restore
@contextlib.contextmanager
def open_backup(src: Path, work_parent: Path, *, key: str | bytes | None = None) -> Iterator[BackupContents]:
    """Decrypt (if needed), unpack and verify a backup into a temporary folder under `work_parent`.

    Raises DataError for a wrong or missing key, a damaged archive, or a manifest that does not
    match the snapshot; the temporary folder is always removed afterwards.
    """
    src = Path(src).expanduser()
    if not src.is_file():
        raise DataError("The backup file was not found. Check the file name and try again.")
    work_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="restore-", dir=work_parent))
    try:
        archive = src
        if is_encrypted(src):
            if key is None or key == "":
                raise DataError("This backup is encrypted: give the key (passphrase) it was made with.")
            archive = work / "backup.zip"
            decrypt_file(src, archive, key)
        contents = _unpack(archive, work)
        yield contents
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unpack(archive: Path, work: Path) -> BackupContents:
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise DataError(f"The backup is damaged: '{bad}' inside it fails its checksum.")
            names = z.namelist()
            if MANIFEST not in names or SNAPSHOT not in names:
                raise DataError("This file is not a Marketing Workbench backup (no manifest or snapshot inside).")
            manifest = json.loads(z.read(MANIFEST))
            for name in names:
                target = (work / name).resolve()
                if not target.is_relative_to(work.resolve()) or not (name == MANIFEST or name == SNAPSHOT
                                                                      or name.startswith("models/")):
                    raise DataError(f"The backup holds an unexpected entry '{name}'; it was not restored.")
            z.extract(SNAPSHOT, work)
            for name in names:
                if name.startswith("models/") and not name.endswith("/"):
                    z.extract(name, work)
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise DataError("The backup is damaged or is not a Marketing Workbench backup (not a valid archive). "
                        "Check that the whole file was copied, or use another copy of the backup.") from None
    except (ValueError, KeyError) as e:
        raise DataError(f"The backup's manifest cannot be read ({e}).") from None
    if manifest.get("format") != FORMAT:
        raise DataError("This file is not a Marketing Workbench backup.")
    if int(manifest.get("version", 0)) > VERSION:
        raise DataError("This backup was made by a newer Marketing Workbench; update the app to restore it.")
    snapshot = work / SNAPSHOT
    _verify_snapshot(snapshot, manifest)
    models = work / "models"
    models.mkdir(exist_ok=True)
    return BackupContents(manifest, snapshot, models)


def _verify_snapshot(snapshot: Path, manifest: dict) -> None:
    """The snapshot opens and holds every table of the manifest with its rows."""
    try:
        con = duckdb.connect(str(snapshot), read_only=True,
                             config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    except duckdb.Error:
        raise DataError("The backup's snapshot cannot be opened: the file is damaged.") from None
    try:
        for table in manifest.get("tables", []):
            rows = con.execute(f"SELECT count(*) FROM {quote_ident(table['name'])}").fetchall()[0][0]
            if rows != table["rows"]:
                raise DataError(f"The backup is inconsistent: table '{table['name']}' has {plural(rows, 'row')}, "
                                f"the manifest says {table['rows']:,}.")
    except duckdb.Error:
        raise DataError("The backup's snapshot is damaged: a table listed in it cannot be read.") from None
    finally:
        con.close()


def load_backup(ws: Workspace, contents: BackupContents) -> list[str]:
    """Make `ws` hold exactly the backup's tables and models (one transaction); returns the table names."""
    from core.data.workspace import AUDIT, META

    staged = contents.snapshot
    if not ws._inside_sandbox(staged):  # DuckDB may ATTACH only files in the workspace's folders
        staged = ws.tmp_dir / f"restore-{uuid.uuid4().hex}.duckdb"
        ws.tmp_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(contents.snapshot, staged)
    tables = contents.manifest.get("tables", [])
    source = f"restored from backup of {contents.manifest.get('created_at')}"
    try:
        with ws._db.write_lock:
            with ws._cursor() as cur, attached(cur, staged, read_only=True) as alias, transaction(cur):
                for existing in ws.tables():
                    cur.execute(f"DROP TABLE main.{quote_ident(existing)}").fetchall()
                cur.execute(f"DELETE FROM main.{META}").fetchall()
                for table in tables:
                    name = quote_ident(table["name"])
                    cur.execute(f"CREATE TABLE main.{name} AS SELECT * FROM {alias}.{name}").fetchall()
                    ws._bump(cur, table["name"], source, table["rows"])
                empty_log = cur.execute(f"SELECT count(*) = 0 FROM main.{AUDIT}").fetchall()[0][0]
                if empty_log:  # a new workspace takes over the backup's history
                    cur.execute(f"INSERT INTO main.{AUDIT} SELECT * FROM {alias}.{_AUDIT_COPY}").fetchall()
            _swap_models(contents.models, ws.models_dir)
    except (OSError, duckdb.IOException) as e:
        raise ws._disk_error(e, "restore the backup") from None
    finally:
        staged.unlink(missing_ok=True)
        Path(str(staged) + ".wal").unlink(missing_ok=True)
    return [t["name"] for t in tables]


def _swap_models(src: Path, dest: Path) -> None:
    """Replace the models folder by the backup's (built next to it, then renamed into place)."""
    fresh = dest.with_name(f".models-restore-{uuid.uuid4().hex[:8]}")
    old = dest.with_name(f".models-old-{uuid.uuid4().hex[:8]}")
    shutil.copytree(src, fresh)
    if dest.exists():
        os.replace(dest, old)
    os.replace(fresh, dest)
    shutil.rmtree(old, ignore_errors=True)
