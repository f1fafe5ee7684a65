"""Workspace backups: round trips (plain and encrypted), refusals that change nothing, restore into
the live workspace, a consistent snapshot under concurrent writes, roles, a full disk, and an
empty workspace."""

from __future__ import annotations

import datetime as dt
import errno
import json
import random
import threading
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from core.data import backup as backup_mod
from core.data import backup_crypto
from core.data.backup_crypto import MAGIC
from core.errors import DataError
from core.workspace import Workspace, restore_backup

KEY = "correct horse"
SECRET = "Zoë-secret-cell-日本語-7f3a9c"  # a distinctive cell value that must not leak from an encrypted backup
HUGE = 12345678901234567890123
MODEL_FILES = {
    "m1.joblib": bytes(random.Random(7).randrange(256) for _ in range(3000)),
    "m1.json": json.dumps({"name": "m1", "target": "churn", "auc": 0.81}).encode(),
    "runs.jsonl": b'{"run": 1, "model": "m1", "auc": 0.81}\n{"run": 2, "model": "m1", "auc": 0.79}\n',
}


# ------------------------------------------------------------------ helpers
def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "id": pd.array([1, 2, 3, 4], dtype="int64"),
        "name": ["Zoë", None, "日本語 ✓", SECRET],
        "active": [True, False, None, True],
        "signup": [dt.date(2024, 1, 2), None, dt.date(1999, 12, 31), dt.date(2000, 2, 29)],
        "seen_at": pd.to_datetime(["2024-01-02 03:04:05", None, "2000-02-29 23:59:59", "1970-01-01 00:00:00"]
                                  ).astype("datetime64[us]"),
    })


def _orders() -> pd.DataFrame:
    return pd.DataFrame({
        "order_id": pd.array([10, 11, 12], dtype="int64"),
        "amount": [Decimal("12.34"), None, Decimal("-9999999999999999.99")],
        "placed": [dt.date(2023, 6, 1), dt.date(2023, 6, 2), None],
        "note": ["ünïcødé €", None, ""],
    })


def _populate(ws: Workspace, *, models: bool = True) -> None:
    """Three tables (BIGINT, HUGEINT, DECIMAL, DATE, TIMESTAMP, VARCHAR, BOOLEAN) and model files."""
    ws.save_frame(_customers(), "customers")
    ws.save_frame(_orders(), "orders")
    cur = ws._db.cursor()
    try:  # a table the catalog metadata does not know about (no version before the backup)
        cur.execute(
            f"CREATE TABLE big AS SELECT {HUGE}::HUGEINT AS h, 1::BIGINT AS k "
            "UNION ALL SELECT NULL::HUGEINT, 2::BIGINT "
            f"UNION ALL SELECT -{HUGE}::HUGEINT, 3::BIGINT"
        ).fetchall()
    finally:
        cur.close()
    if models:
        ws.models_dir.mkdir(parents=True, exist_ok=True)
        for name, data in MODEL_FILES.items():
            (ws.models_dir / name).write_bytes(data)


def _rows(ws: Workspace, table: str) -> list[tuple]:
    """Every row of a table, exactly as DuckDB returns it, in a stable order."""
    cur = ws._db.cursor()
    try:
        return cur.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
    finally:
        cur.close()


def _state(ws: Workspace) -> dict[str, tuple[dict[str, str], list[tuple]]]:
    """Table name -> (column types, rows): what a restore must reproduce."""
    return {t: (ws.columns(t), _rows(ws, t)) for t in ws.tables()}


def _files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _leftovers(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.tmp_dir.iterdir()) if ws.tmp_dir.exists() else []


def _manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("manifest.json"))


def _stored_copy(src: Path, dest: Path) -> Path:
    """The same archive with every entry stored uncompressed (so a flipped byte lands in raw data)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    return dest


def _flip(path: Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ 1. round trip with a key
def test_encrypted_round_trip_into_new_workspace(ws, tmp_path):
    _populate(ws)
    before = _state(ws)
    assert sorted(before) == ["big", "customers", "orders"]
    assert before["big"][0] == {"h": "HUGEINT", "k": "BIGINT"}
    assert before["customers"][0] == {"id": "BIGINT", "name": "VARCHAR", "active": "BOOLEAN",
                                      "signup": "DATE", "seen_at": "TIMESTAMP"}
    assert before["orders"][0] == {"order_id": "BIGINT", "amount": "DECIMAL(18,2)", "placed": "DATE",
                                   "note": "VARCHAR"}
    frames = {t: ws.read(t) for t in ws.tables()}

    out = ws.backup(tmp_path / "b.mwbackup", key=KEY)
    assert out == (tmp_path / "b.mwbackup").resolve() and out.is_file()
    assert out.read_bytes().startswith(MAGIC)

    ws2 = restore_backup(out, tmp_path / "restored" / "workbench.duckdb", key=KEY)
    assert ws2.path == (tmp_path / "restored" / "workbench.duckdb").resolve() and ws2.path.is_file()
    assert ws2.tables() == ws.tables() == ["big", "customers", "orders"]
    assert _state(ws2) == before  # same types, identical values (HUGEINT, DECIMAL, NULLs, unicode)
    assert _rows(ws2, "big") == [(-HUGE, 3), (HUGE, 1), (None, 2)]
    for t, frame in frames.items():
        pd.testing.assert_frame_equal(ws2.read(t), frame)
    assert all(ws2.version(t) > 0 for t in ws2.tables())
    assert _files(ws2.models_dir) == MODEL_FILES  # byte for byte

    log = ws2.audit()
    assert "restore" in log["action"].tolist()
    assert log.iloc[0]["action"] == "restore"
    # A new workspace takes over the backup's history (the loads made in the original).
    assert {"load"} <= set(log["action"])
    assert not _leftovers(ws2)


def test_backup_to_a_folder_uses_a_dated_file_name(ws, tmp_path):
    _populate(ws, models=False)
    folder = tmp_path / "backups"
    folder.mkdir()
    out = ws.backup(folder)
    assert out.parent == folder.resolve()
    assert out.name.startswith("workbench-backup-") and out.name.endswith(".mwbackup")
    assert dt.date.today().strftime("%Y%m%d") in out.name
    assert _entries(folder) == {out.name}  # no partial file next to it


# ------------------------------------------------------------------ 2. refusals write nothing
def test_wrong_key_writes_nothing_at_dest(ws, tmp_path):
    _populate(ws)
    enc = ws.backup(tmp_path / "b.enc", key=KEY)
    before = _entries(tmp_path)
    dest = tmp_path / "restored" / "deep" / "workbench.duckdb"
    with pytest.raises(DataError, match="the key is wrong or the file is damaged"):
        restore_backup(enc, dest, key="correct horse!")
    with pytest.raises(DataError, match="the key is wrong or the file is damaged"):
        restore_backup(enc, dest, key="Correct Horse")
    assert not (tmp_path / "restored").exists()
    assert _entries(tmp_path) == before  # no leftover restore-* folder in the nearest existing parent


def test_missing_key_for_encrypted_backup(ws, tmp_path):
    _populate(ws)
    enc = ws.backup(tmp_path / "b.enc", key=KEY)
    before = _entries(tmp_path)
    for missing in (None, ""):
        with pytest.raises(DataError, match="encrypted: give the key"):
            restore_backup(enc, tmp_path / "restored" / "workbench.duckdb", key=missing)
    assert not (tmp_path / "restored").exists()
    assert _entries(tmp_path) == before


@pytest.mark.parametrize("damage", ["flip-middle", "flip-near-end", "truncate-half", "truncate-tail"])
def test_damaged_encrypted_backup_is_refused(ws, tmp_path, damage):
    _populate(ws)
    enc = ws.backup(tmp_path / "b.enc", key=KEY)
    size = enc.stat().st_size
    if damage == "flip-middle":
        _flip(enc, size // 2)
    elif damage == "flip-near-end":
        _flip(enc, size - 5)
    else:
        data = enc.read_bytes()
        enc.write_bytes(data[: size // 2] if damage == "truncate-half" else data[:-1])
    before = _entries(tmp_path)
    with pytest.raises(DataError, match="damaged"):
        restore_backup(enc, tmp_path / "restored" / "workbench.duckdb", key=KEY)
    assert not (tmp_path / "restored").exists()
    assert _entries(tmp_path) == before


def test_damaged_plain_backup_is_refused(ws, tmp_path):
    _populate(ws)
    plain = _stored_copy(ws.backup(tmp_path / "b0.zip"), tmp_path / "b.zip")
    with zipfile.ZipFile(plain) as z:
        snap = z.getinfo("workspace.duckdb")
    # A flipped byte in the middle of the (uncompressed) snapshot's data: its checksum fails.
    _flip(plain, snap.header_offset + 30 + len(snap.filename) + snap.compress_size // 2)
    truncated = tmp_path / "t.zip"
    truncated.write_bytes((tmp_path / "b0.zip").read_bytes()[:-100])
    before = _entries(tmp_path)
    with pytest.raises(DataError, match="damaged"):
        restore_backup(plain, tmp_path / "restored" / "workbench.duckdb")
    with pytest.raises(DataError, match="damaged"):
        restore_backup(truncated, tmp_path / "restored" / "workbench.duckdb")
    assert not (tmp_path / "restored").exists()
    assert _entries(tmp_path) == before


def test_any_flipped_byte_in_a_plain_backup_gives_data_error(ws, tmp_path):
    _populate(ws, models=False)
    plain = ws.backup(tmp_path / "b.zip")
    with zipfile.ZipFile(plain) as z:
        manifest = z.getinfo("manifest.json")
    start = manifest.header_offset + 30 + len(manifest.filename)  # the manifest's deflated bytes
    good = plain.read_bytes()
    escaped: dict[str, int] = {}
    for pos in range(start, start + manifest.compress_size):
        bad = bytearray(good)
        bad[pos] ^= 0xFF
        plain.write_bytes(bytes(bad))
        dest = tmp_path / "restored" / str(pos) / "workbench.duckdb"
        try:
            restore_backup(plain, dest)
        except DataError:
            assert not dest.parent.exists()
        except Exception as e:  # noqa: BLE001 - the point is which exceptions escape
            assert not dest.parent.exists()  # nothing is written, but the error is not a DataError
            escaped.setdefault(f"{type(e).__module__}.{type(e).__name__}: {e}", pos)
        else:  # only unused bits changed (e.g. padding after the end of the stream): nothing to refuse
            pass
    assert escaped == {}


def test_snapshot_checksum_failure_is_not_blamed_on_the_manifest(ws, tmp_path):
    _populate(ws, models=False)
    plain = _stored_copy(ws.backup(tmp_path / "b0.zip"), tmp_path / "b.zip")
    with zipfile.ZipFile(plain) as z:
        snap = z.getinfo("workspace.duckdb")
    _flip(plain, snap.header_offset + 30 + len(snap.filename) + snap.compress_size // 2)
    with pytest.raises(DataError) as info:
        restore_backup(plain, tmp_path / "restored" / "workbench.duckdb")
    assert "workspace.duckdb" in str(info.value)
    assert "manifest cannot be read" not in str(info.value)


def test_non_backup_files_are_refused(ws, tmp_path):
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(5000)))
    text = tmp_path / "notes.txt"
    text.write_text("customer_id,region\n1,North\n", encoding="utf-8")
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    fake_manifest = tmp_path / "fake.zip"
    with zipfile.ZipFile(fake_manifest, "w") as z:
        z.writestr("manifest.json", json.dumps({"format": "something-else", "version": 1, "tables": []}))
        z.writestr("workspace.duckdb", b"")
    before = _entries(tmp_path)
    for src, message in ((noise, "not a valid archive"), (text, "not a valid archive"),
                         (other_zip, "not a Marketing Workbench backup"),
                         (fake_manifest, "not a Marketing Workbench backup")):
        with pytest.raises(DataError, match=message):
            restore_backup(src, tmp_path / "restored" / "workbench.duckdb")
        with pytest.raises(DataError):
            restore_backup(src, tmp_path / "restored" / "workbench.duckdb", key=KEY)
    with pytest.raises(DataError, match="not found"):
        restore_backup(tmp_path / "missing.mwbackup", tmp_path / "restored" / "workbench.duckdb")
    assert not (tmp_path / "restored").exists()
    assert _entries(tmp_path) == before


def test_plain_backup_is_a_zip_and_the_encrypted_one_hides_the_data(ws, tmp_path):
    _populate(ws)
    plain = ws.backup(tmp_path / "plain.zip")
    enc = ws.backup(tmp_path / "enc.mwbackup", key=KEY)
    assert zipfile.is_zipfile(plain) and not zipfile.is_zipfile(enc)
    with zipfile.ZipFile(plain) as z:
        names = set(z.namelist())
        assert {"manifest.json", "workspace.duckdb"} <= names
        assert {f"models/{n}" for n in MODEL_FILES} <= names
        assert z.testzip() is None
        snapshot = z.read("workspace.duckdb")
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["format"] == "marketing-workbench-backup" and manifest["created_by"] == "local"
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == {"big": 3, "customers": 4, "orders": 3}
    needle = SECRET.encode("utf-8")
    assert needle in snapshot  # the value is in the plain snapshot ...
    raw = enc.read_bytes()
    assert needle not in raw  # ... but nowhere in the encrypted file
    assert MODEL_FILES["runs.jsonl"][:30] not in raw and b"manifest.json" not in raw

    ws2 = restore_backup(plain, tmp_path / "r" / "workbench.duckdb")  # no key needed
    assert _state(ws2) == _state(ws)
    assert _files(ws2.models_dir) == MODEL_FILES


# ------------------------------------------------------------------ 3. restore into the live workspace
def test_restore_into_live_workspace(ws, tmp_path):
    _populate(ws)
    backed_up = _state(ws)
    enc = ws.backup(tmp_path / "b.enc", key=KEY)

    ws.drop("orders")
    ws.save_frame(pd.DataFrame({"x": [1, 2]}), "extra")
    ws.save_frame(pd.DataFrame({"id": [99], "name": ["changed"]}), "customers", mode="replace")
    (ws.models_dir / "m1.json").unlink()
    (ws.models_dir / "m2.joblib").write_bytes(b"new model")
    assert ws.tables() == ["big", "customers", "extra"]
    versions_before = {t: ws.version(t) for t in ws.tables()}
    highest_before = max(versions_before.values())

    names = ws.restore(enc, key=KEY)
    assert sorted(names) == ["big", "customers", "orders"]
    assert ws.tables() == ["big", "customers", "orders"]
    assert _state(ws) == backed_up
    for t in ("big", "customers"):
        assert ws.version(t) > versions_before[t]
    assert all(ws.version(t) > highest_before for t in ws.tables())  # every cache key is new
    assert not ws.exists("extra")
    assert _files(ws.models_dir) == MODEL_FILES
    assert not _leftovers(ws)
    assert not [p.name for p in ws.folder.iterdir() if p.name.startswith(".models-")]
    log = ws.audit()
    assert log.iloc[0]["action"] == "restore" and log.iloc[0]["user"] == "local"


def test_restore_with_wrong_key_leaves_live_workspace_as_it_was(ws, tmp_path):
    _populate(ws)
    enc = ws.backup(tmp_path / "b.enc", key=KEY)
    ws.drop("orders")
    ws.save_frame(pd.DataFrame({"x": [1, 2]}), "extra")
    ws.save_frame(pd.DataFrame({"id": [99], "name": ["changed"]}), "customers", mode="replace")
    (ws.models_dir / "m2.joblib").write_bytes(b"new model")
    changed = _state(ws)
    versions = {t: ws.version(t) for t in ws.tables()}
    models = _files(ws.models_dir)

    with pytest.raises(DataError, match="the key is wrong or the file is damaged"):
        ws.restore(enc, key="wrong horse")
    with pytest.raises(DataError, match="encrypted: give the key"):
        ws.restore(enc)
    _flip(enc, enc.stat().st_size // 2)
    with pytest.raises(DataError, match="damaged"):
        ws.restore(enc, key=KEY)

    assert _state(ws) == changed
    assert {t: ws.version(t) for t in ws.tables()} == versions
    assert _files(ws.models_dir) == models
    assert not _leftovers(ws)
    assert "restore" not in ws.audit()["action"].tolist()


# ------------------------------------------------------------------ 4. consistency
def test_backup_during_concurrent_appends_is_one_snapshot(ws, tmp_path):
    batch = 7
    ws.save_frame(pd.DataFrame({"n": list(range(batch)), "tag": ["seed"] * batch}), "events")
    stop = threading.Event()
    errors: list[BaseException] = []
    appended = [0]

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                i += 1
                ws.save_frame(pd.DataFrame({"n": [i * 100 + k for k in range(batch)], "tag": [f"b{i}"] * batch}),
                              "events", mode="append")
                appended[0] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        deadline = time.monotonic() + 1.0
        while appended[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        out = ws.backup(tmp_path / "during.zip")
        time.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive() and not errors, errors
    assert appended[0] >= 3

    manifest_rows = {m["name"]: m["rows"] for m in _manifest(out)["tables"]}
    ws2 = restore_backup(out, tmp_path / "r" / "workbench.duckdb")
    restored = ws2.info("events").rows
    assert restored == manifest_rows["events"]
    assert restored % batch == 0 and restored >= batch  # whole appends only
    tags = ws2.read("events").groupby("tag").size()
    assert (tags == batch).all()
    assert ws.info("events").rows >= restored


# ------------------------------------------------------------------ 5. roles and audit
def test_only_admins_back_up_and_restore(ws, tmp_path):
    _populate(ws, models=False)
    admin_backup = ws.backup(tmp_path / "b.zip")
    ana = ws.as_user("ana", "analyst")
    with pytest.raises(DataError, match="admin role"):
        ana.backup(tmp_path / "ana.zip")
    assert not (tmp_path / "ana.zip").exists()
    with pytest.raises(DataError, match="admin role"):
        ana.restore(admin_backup)
    viewer = ws.as_user("vic", "viewer")
    with pytest.raises(DataError, match="admin role"):
        viewer.backup(tmp_path / "vic.zip", key=KEY)
    assert not (tmp_path / "vic.zip").exists()
    assert ws.tables() == ["big", "customers", "orders"]

    log = ws.audit()
    refused = log[log["action"] == "refused"]
    assert set(zip(refused["user"], refused["detail"])) >= {
        ("ana", "backup (role analyst)"), ("ana", "restore (role analyst)"), ("vic", "backup (role viewer)")}
    assert set(refused["role"]) == {"analyst", "viewer"}


def test_backup_is_audited(ws, tmp_path):
    _populate(ws, models=False)
    ws.backup(tmp_path / "plain.zip")
    ws.backup(tmp_path / "enc.mwbackup", key=KEY)
    log = ws.audit()
    rows = log[log["action"] == "backup"]
    assert len(rows) == 2
    assert set(rows["user"]) == {"local"} and set(rows["role"]) == {"admin"}
    assert rows.iloc[0]["detail"].startswith("encrypted") and rows.iloc[1]["detail"].startswith("plain")


# ------------------------------------------------------------------ 6. a full disk
def _enospc() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_during_plain_backup(ws, tmp_path, monkeypatch):
    _populate(ws)
    before = _state(ws)
    real_copyfile = backup_mod.shutil.copyfile

    def copyfile(src, dst, *args, **kwargs):
        if str(dst).endswith(".partial"):  # the archive being placed at its destination
            Path(dst).write_bytes(Path(src).read_bytes()[:100])  # half written, then the disk is full
            raise _enospc()
        return real_copyfile(src, dst, *args, **kwargs)

    monkeypatch.setattr(backup_mod.shutil, "copyfile", copyfile)
    out_dir = tmp_path / "out"
    with pytest.raises(DataError, match="disk is full"):
        ws.backup(out_dir / "b.zip")
    assert _entries(out_dir) == set()  # neither the backup nor a partial file
    assert not _leftovers(ws)
    monkeypatch.undo()
    assert _state(ws) == before
    assert _files(ws.models_dir) == MODEL_FILES


class _FullDiskFile:
    """A file that takes `budget` bytes and then fails as a full disk does."""

    def __init__(self, f, budget: int) -> None:
        self._f, self._left = f, budget

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._left:
            self._f.write(data[: self._left])
            self._left = 0
            raise _enospc()
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_full_disk_during_encrypted_backup(ws, tmp_path, monkeypatch):
    _populate(ws)
    before = _state(ws)
    real_open_temp = backup_crypto._open_temp

    def open_temp(dest):
        tmp, out = real_open_temp(dest)
        return tmp, _FullDiskFile(out, 200)

    monkeypatch.setattr(backup_crypto, "_open_temp", open_temp)
    out_dir = tmp_path / "out"
    with pytest.raises(DataError, match=r"(?i)disk is full|no space left on the disk"):
        ws.backup(out_dir / "b.mwbackup", key=KEY)
    assert _entries(out_dir) == set()
    assert not _leftovers(ws)
    monkeypatch.undo()
    assert _state(ws) == before
    assert ws.read("customers")["name"].tolist()[0] == "Zoë"
    assert "backup" not in ws.audit()["action"].tolist()


# ------------------------------------------------------------------ 7. an empty workspace
@pytest.mark.parametrize("key", [None, KEY])
def test_empty_workspace_round_trips(ws, tmp_path, key):
    assert ws.tables() == []
    out = ws.backup(tmp_path / "empty.mwbackup", key=key)
    if key is None:
        assert _manifest(out)["tables"] == []
    ws2 = restore_backup(out, tmp_path / "r" / "workbench.duckdb", key=key)
    assert ws2.tables() == []
    assert _files(ws2.models_dir) == {}
    assert ws2.audit().iloc[0]["action"] == "restore"

    _populate(ws)  # restoring the empty backup into a live workspace empties it
    assert ws.restore(out, key=key) == []
    assert ws.tables() == [] and _files(ws.models_dir) == {}
