"""Encrypted backups: round trips, and every kind of damage is refused without leaving files behind."""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from core.data import backup_crypto as bc
from core.data.backup_crypto import MAGIC, decrypt_file, derive_key, encrypt_file, is_encrypted
from core.errors import DataError

KEY = "correct horse battery staple"
CHUNK = 1000
WRONG_OR_DAMAGED = "the key is wrong or the file is damaged"


def _encrypt(tmp_path: Path, data: bytes, *, key: str | bytes = KEY, chunk_size: int = CHUNK) -> Path:
    src = tmp_path / "plain.bin"
    src.write_bytes(data)
    enc = tmp_path / "backup.enc"
    encrypt_file(src, enc, key, chunk_size=chunk_size)
    return enc


def _chunks(enc: bytes) -> tuple[bytes, list[bytes]]:
    """Split an encrypted file into its header and its length-prefixed chunk records."""
    header, pos, records = enc[: bc.HEADER_SIZE], bc.HEADER_SIZE, []
    while pos < len(enc):
        (n,) = struct.unpack(">I", enc[pos : pos + 4])
        records.append(enc[pos : pos + 4 + n])
        pos += 4 + n
    return header, records


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _assert_refused(tmp_path: Path, enc_bytes: bytes, match: str, *, key: str | bytes = KEY) -> None:
    """Decrypting enc_bytes fails with DataError matching `match`, creating no output or temp file."""
    bad = tmp_path / "bad.enc"
    bad.write_bytes(enc_bytes)
    out = tmp_path / "restored.bin"
    with pytest.raises(DataError, match=match):
        decrypt_file(bad, out, key)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 7 * CHUNK + 123],
    ids=["empty", "1-byte", "chunk-1", "one-chunk", "chunk+1", "two-chunks", "many+remainder"],
)
def test_round_trip(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    enc = _encrypt(tmp_path, data)
    out = tmp_path / "restored.bin"
    decrypt_file(enc, out, KEY)
    assert out.read_bytes() == data
    # one record per started chunk (an empty file still has one, empty, chunk)
    assert len(_chunks(enc.read_bytes())[1]) == max(1, -(-size // CHUNK))
    assert _leftovers(tmp_path) == []


def test_round_trip_random_3mb_default_chunk(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "plain.bin"
    src.write_bytes(data)
    enc = tmp_path / "backup.enc"
    encrypt_file(src, enc, KEY)
    assert len(_chunks(enc.read_bytes())[1]) == 4
    out = tmp_path / "restored.bin"
    decrypt_file(enc, out, KEY)
    assert out.read_bytes() == data


@pytest.mark.parametrize("key", ["pässwörd €", "pässwörd €".encode("utf-8")], ids=["str", "bytes"])
def test_str_and_bytes_keys_are_the_same_key(tmp_path: Path, key: str | bytes) -> None:
    data = b"campaign,spend\nspring,100\n" * 100
    enc = _encrypt(tmp_path, data, key="pässwörd €")
    out = tmp_path / "restored.bin"
    decrypt_file(enc, out, key)
    assert out.read_bytes() == data


def test_ciphertext_hides_plaintext(tmp_path: Path) -> None:
    marker = b"SECRET-CUSTOMER-EMAIL@example.com"
    enc = _encrypt(tmp_path, (b"x" * 500 + marker) * 50)
    body = enc.read_bytes()
    assert marker not in body
    assert b"SECRET" not in body
    assert body.startswith(MAGIC)


def test_two_encryptions_differ(tmp_path: Path) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(b"same content" * 300)
    a, b = tmp_path / "a.enc", tmp_path / "b.enc"
    encrypt_file(src, a, KEY, chunk_size=CHUNK)
    encrypt_file(src, b, KEY, chunk_size=CHUNK)
    ha, hb = a.read_bytes(), b.read_bytes()
    assert ha != hb
    # salt and nonce prefix differ, not only the ciphertext
    assert ha[20:43] != hb[20:43]


def test_encrypt_replaces_existing_dest(tmp_path: Path) -> None:
    enc = tmp_path / "backup.enc"
    enc.write_bytes(b"old")
    src = tmp_path / "plain.bin"
    src.write_bytes(b"new data")
    encrypt_file(src, enc, KEY)
    out = tmp_path / "restored.bin"
    decrypt_file(enc, out, KEY)
    assert out.read_bytes() == b"new data"


# ------------------------------------------------------------------ keys
def test_wrong_key(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(5 * CHUNK))
    out = tmp_path / "restored.bin"
    with pytest.raises(DataError, match=WRONG_OR_DAMAGED):
        decrypt_file(enc, out, KEY + "!")
    assert not out.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("key", ["", b""])
def test_empty_key_refused(tmp_path: Path, key: str | bytes) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(b"data")
    with pytest.raises(DataError, match="key is empty"):
        encrypt_file(src, tmp_path / "backup.enc", key)
    with pytest.raises(DataError, match="key is empty"):
        derive_key(key, b"s" * 16)
    assert not (tmp_path / "backup.enc").exists()


def test_derive_key() -> None:
    salt = b"0123456789abcdef"
    k = derive_key("pässwörd", salt)
    assert len(k) == 32
    assert k == derive_key("pässwörd".encode("utf-8"), salt)
    assert k != derive_key("pässwörd", b"fedcba9876543210")
    assert k != derive_key("passwörd", salt)


# ------------------------------------------------------------------ damage
@pytest.mark.parametrize(
    "where",
    ["magic", "version", "scrypt-n", "salt", "nonce-prefix", "chunk-size", "first-length",
     "first-ciphertext", "middle-ciphertext", "middle-tag", "last-ciphertext", "last-tag"],
)
def test_flipped_byte_refused(tmp_path: Path, where: str) -> None:
    enc = _encrypt(tmp_path, os.urandom(5 * CHUNK + 10))
    data = bytearray(enc.read_bytes())
    rec = 4 + CHUNK + 16  # a full chunk record
    first = bc.HEADER_SIZE
    offsets = {
        "magic": 3, "version": 16, "scrypt-n": 17, "salt": 25, "nonce-prefix": 40, "chunk-size": 46,
        "first-length": first + 3, "first-ciphertext": first + 4 + 10,
        "middle-ciphertext": first + 2 * rec + 4 + 500, "middle-tag": first + 3 * rec - 1,
        "last-ciphertext": first + 5 * rec + 4 + 2, "last-tag": len(data) - 1,
    }
    data[offsets[where]] ^= 0x01
    _assert_refused(tmp_path, bytes(data), "cannot|not an encrypted")


def test_damage_after_first_chunk_names_the_chunk(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(5 * CHUNK))
    data = bytearray(enc.read_bytes())
    data[bc.HEADER_SIZE + 2 * (4 + CHUNK + 16) + 100] ^= 0x80  # inside chunk 3
    _assert_refused(tmp_path, bytes(data), r"damaged or incomplete \(chunk 3\)")


def test_truncated_at_chunk_boundary(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(4 * CHUNK + 10))
    header, records = _chunks(enc.read_bytes())
    _assert_refused(tmp_path, header + b"".join(records[:-1]), r"incomplete \(chunk 4\): the rest of the file is missing")
    # only the first chunk left: still recognised as a cut file, not blamed on the key
    _assert_refused(tmp_path, header + records[0], r"incomplete \(chunk 1\): the rest of the file is missing")
    # header only, no chunk at all
    _assert_refused(tmp_path, header, r"damaged or incomplete \(chunk 1\)")


def test_truncated_exactly_full_chunks(tmp_path: Path) -> None:
    """A file of whole chunks: dropping the last full chunk must still fail."""
    enc = _encrypt(tmp_path, os.urandom(4 * CHUNK))
    header, records = _chunks(enc.read_bytes())
    assert len(records) == 4
    _assert_refused(tmp_path, header + b"".join(records[:-1]), "damaged or incomplete")


@pytest.mark.parametrize("cut", [1, 3, 17, 600])
def test_truncated_mid_chunk(tmp_path: Path, cut: int) -> None:
    enc = _encrypt(tmp_path, os.urandom(3 * CHUNK + 700))
    data = enc.read_bytes()
    _assert_refused(tmp_path, data[:-cut], "cannot be decrypted")


@pytest.mark.parametrize("cut_to", [0, 10, 16, 20, bc.HEADER_SIZE, bc.HEADER_SIZE + 2])
def test_truncated_in_header(tmp_path: Path, cut_to: int) -> None:
    enc = _encrypt(tmp_path, os.urandom(2 * CHUNK))
    _assert_refused(tmp_path, enc.read_bytes()[:cut_to], "cannot be decrypted|not an encrypted")


@pytest.mark.parametrize("garbage", [b"\x00", b"abc", b"\x00\x00\x00\x10" + b"x" * 16, os.urandom(2000)])
def test_appended_garbage(tmp_path: Path, garbage: bytes) -> None:
    enc = _encrypt(tmp_path, os.urandom(3 * CHUNK + 5))
    _assert_refused(tmp_path, enc.read_bytes() + garbage, "damaged")


def test_appended_full_size_record_after_full_last_chunk(tmp_path: Path) -> None:
    """Trailing bytes that look like a well-formed chunk record are still caught."""
    enc = _encrypt(tmp_path, os.urandom(3 * CHUNK))
    record = struct.pack(">I", CHUNK + 16) + os.urandom(CHUNK + 16)
    _assert_refused(tmp_path, enc.read_bytes() + record, r"\(chunk 3\): unexpected bytes follow its end")


def test_appended_copy_of_last_chunk(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(3 * CHUNK))
    header, records = _chunks(enc.read_bytes())
    _assert_refused(tmp_path, header + b"".join(records) + records[-1], "damaged")


def test_swapped_chunks(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(5 * CHUNK + 10))
    header, r = _chunks(enc.read_bytes())
    _assert_refused(tmp_path, header + r[0] + r[2] + r[1] + b"".join(r[3:]), r"damaged or incomplete \(chunk 2\)")
    _assert_refused(tmp_path, header + r[1] + r[0] + b"".join(r[2:]), WRONG_OR_DAMAGED)
    # the short last chunk moved into the middle
    _assert_refused(tmp_path, header + b"".join(r[:4]) + r[5] + r[4], "damaged")


def test_chunk_from_another_file_refused(tmp_path: Path) -> None:
    """Same key, different file: its chunks are bound to its own header and refused here."""
    data = os.urandom(3 * CHUNK)
    a = _chunks(_encrypt(tmp_path, data).read_bytes())
    b = _chunks(_encrypt(tmp_path, data).read_bytes())
    _assert_refused(tmp_path, a[0] + a[1][0] + b[1][1] + a[1][2], r"chunk 2")


def test_huge_chunk_length_rejected_before_reading(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(3 * CHUNK))
    data = bytearray(enc.read_bytes())
    data[bc.HEADER_SIZE : bc.HEADER_SIZE + 4] = struct.pack(">I", 0xFFFFFFF0)
    _assert_refused(tmp_path, bytes(data), r"damaged or incomplete \(chunk 1\)")


def test_unsupported_version(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, b"data")
    data = bytearray(enc.read_bytes())
    data[len(MAGIC)] = 2
    _assert_refused(tmp_path, bytes(data), "format version 2.*Update the app")


def test_not_our_format(tmp_path: Path) -> None:
    _assert_refused(tmp_path, b"PK\x03\x04 this is a zip file, not a backup" * 10, "not an encrypted Marketing Workbench backup")
    _assert_refused(tmp_path, b"", "not an encrypted Marketing Workbench backup")


def test_existing_dest_unchanged_when_decryption_fails(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, os.urandom(4 * CHUNK))
    out = tmp_path / "restored.bin"
    out.write_bytes(b"precious existing data")
    with pytest.raises(DataError, match=WRONG_OR_DAMAGED):
        decrypt_file(enc, out, "wrong key")
    header, records = _chunks(enc.read_bytes())
    bad = tmp_path / "truncated.enc"
    bad.write_bytes(header + b"".join(records[:-1]))
    with pytest.raises(DataError, match="damaged or incomplete"):
        decrypt_file(bad, out, KEY)
    assert out.read_bytes() == b"precious existing data"
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ is_encrypted
def test_is_encrypted(tmp_path: Path) -> None:
    enc = _encrypt(tmp_path, b"hello")
    assert is_encrypted(enc)
    assert not is_encrypted(tmp_path / "plain.bin")
    short = tmp_path / "short.bin"
    short.write_bytes(MAGIC[:5])
    assert not is_encrypted(short)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert not is_encrypted(empty)


def test_missing_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        is_encrypted(tmp_path / "nope.enc")
    with pytest.raises(DataError, match="does not exist"):
        encrypt_file(tmp_path / "nope.bin", tmp_path / "out.enc", KEY)
    with pytest.raises(DataError, match="does not exist"):
        decrypt_file(tmp_path / "nope.enc", tmp_path / "out.bin", KEY)
    src = tmp_path / "plain.bin"
    src.write_bytes(b"x")
    with pytest.raises(DataError, match="does not exist"):
        encrypt_file(src, tmp_path / "no-such-folder" / "out.enc", KEY)
    assert not (tmp_path / "out.enc").exists() and not (tmp_path / "out.bin").exists()


# ------------------------------------------------------------------ full disk
class _FullDisk:
    """A file wrapper whose writes fail with ENOSPC once `room` bytes were written."""

    def __init__(self, f: Any, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch):
    """Make every output written by backup_crypto run out of space after `room` bytes."""
    real = bc._open_temp

    def install(room: int) -> None:
        def fake(dest: Path):
            tmp, f = real(dest)
            return tmp, _FullDisk(f, room)

        monkeypatch.setattr(bc, "_open_temp", fake)

    return install


@pytest.mark.parametrize("room", [0, 5 * CHUNK])
def test_encrypt_disk_full(tmp_path: Path, full_disk, room: int) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(os.urandom(10 * CHUNK))
    full_disk(room)
    dest = tmp_path / "backup.enc"
    with pytest.raises(DataError, match="No space left.*[Ff]ree some space"):
        encrypt_file(src, dest, KEY, chunk_size=CHUNK)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_decrypt_disk_full(tmp_path: Path, full_disk) -> None:
    enc = _encrypt(tmp_path, os.urandom(10 * CHUNK))
    full_disk(3 * CHUNK)
    dest = tmp_path / "restored.bin"
    with pytest.raises(DataError, match="No space left.*[Ff]ree some space"):
        decrypt_file(enc, dest, KEY)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_encrypt_failure_keeps_existing_dest(tmp_path: Path, full_disk) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(os.urandom(4 * CHUNK))
    dest = tmp_path / "backup.enc"
    dest.write_bytes(b"previous backup")
    full_disk(CHUNK)
    with pytest.raises(DataError, match="No space left"):
        encrypt_file(src, dest, KEY, chunk_size=CHUNK)
    assert dest.read_bytes() == b"previous backup"
    assert _leftovers(tmp_path) == []


def test_invalid_chunk_size(tmp_path: Path) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(b"x")
    for bad in (0, -1, bc.MAX_CHUNK_SIZE + 1):
        with pytest.raises(ValueError, match="chunk_size"):
            encrypt_file(src, tmp_path / "out.enc", KEY, chunk_size=bad)
