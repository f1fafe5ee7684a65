"""Encrypt and decrypt workspace backup files with a passphrase, streaming and authenticated.

Backups can be several GB, so files are processed in chunks and never held in memory whole.
Each chunk is sealed with AES-256-GCM; the chunks are chained with the STREAM construction
(Hoang, Reyhanitabar, Rogaway, Vizar, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance", CRYPTO 2015), so that besides changed bytes, decryption also detects chunks
that were reordered, dropped, duplicated, cut off at the end, or followed by extra bytes.

File format (all integers big-endian)::

    header (47 bytes)
        MAGIC          16 bytes  b"MWBACKUP-AESGCM1"
        version         1 byte   1
        log2(scrypt n)  1 byte   15  (n = 2**15)
        scrypt r        1 byte   8
        scrypt p        1 byte   1
        salt           16 bytes  random per file
        nonce prefix    7 bytes  random per file
        chunk_size      4 bytes  uint32, plaintext bytes per chunk (1 .. MAX_CHUNK_SIZE)
    chunks (one or more)
        length          4 bytes  uint32, length of the ciphertext that follows
        ciphertext      length bytes: AES-GCM output, 16-byte tag included

The key is scrypt(passphrase, salt, n, r, p) -> 32 bytes. Chunk i (counting from 0) holds
plaintext bytes [i * chunk_size, (i + 1) * chunk_size) of the original file; every chunk but the
last is full, the last may be shorter, and an empty file has one empty chunk. Chunk i is
encrypted under nonce = prefix (7) || i (uint32) || flag (1 byte: 1 for the last chunk, else 0),
with the whole 47-byte header as associated data, so the header (parameters, salt, chunk size)
is authenticated along with the first chunk.

Why each part is there: the random salt gives every file its own key, so nonces never repeat
under one key; the counter in the nonce pins every chunk to its position (reordering fails);
the last-chunk flag makes a file cut at a chunk boundary fail (its new last chunk was sealed
with flag 0), and trailing bytes fail too (the real last chunk is then read as a middle one).
The scrypt parameters are stored so they can be raised in future versions; on reading they
are bounded, so a damaged header cannot make us spend gigabytes of memory. Chunk lengths are
checked against chunk_size before anything is read, for the same reason.

Outputs are written to a temporary file next to the destination and moved into place with
``os.replace`` only when complete (for decryption: after the last chunk verified), so a failed
run never leaves a partial or unverified file behind, and never touches an existing destination.
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile
from pathlib import Path
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.errors import DataError

MAGIC = b"MWBACKUP-AESGCM1"
VERSION = 1
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
KEY_SIZE = 32  # AES-256
SALT_SIZE = 16
NONCE_PREFIX_SIZE = 7  # + 4-byte counter + 1-byte last flag = the 12-byte AES-GCM nonce
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 1 << 24  # 16 MiB: bounds what a damaged header or length can make us allocate
MAX_CHUNKS = 1 << 32  # the counter is a uint32
# Bounds accepted when reading scrypt parameters from a header (at most 1 GiB of scrypt memory).
MAX_SCRYPT_LOG2_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 22, 32, 16
MAX_SCRYPT_MEMORY = 1 << 30

_HEADER = struct.Struct(">16sBBBB16s7sI")
HEADER_SIZE = _HEADER.size  # 47
_LENGTH = struct.Struct(">I")

WRONG_KEY_OR_DAMAGED = (
    "The backup cannot be decrypted: the key is wrong or the file is damaged. "
    "Check the key (it is case-sensitive) and try again, or use another copy of the backup."
)


def _damaged(chunk_number: int | None = None) -> DataError:
    """The error for a file that is structurally broken or whose later chunk failed to verify."""
    where = f" (chunk {chunk_number})" if chunk_number is not None else ""
    return DataError(
        f"The backup cannot be decrypted: the file is damaged or incomplete{where}. "
        "Copy it again from where it was stored, or use another copy of the backup."
    )


def _key_bytes(key: str | bytes) -> bytes:
    """The passphrase as bytes (str as UTF-8); an empty one is a user error."""
    if isinstance(key, str):
        data = key.encode("utf-8")
    elif isinstance(key, (bytes, bytearray, memoryview)):
        data = bytes(key)
    else:
        raise TypeError(f"key must be str or bytes, not {type(key).__name__}")
    if not data:
        raise DataError("The encryption key is empty. Enter the passphrase for the backup and try again.")
    return data


def _scrypt(key: str | bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    """scrypt(key, salt) -> 32-byte AES key with the given cost parameters."""
    return Scrypt(salt=bytes(salt), length=KEY_SIZE, n=1 << log2_n, r=r, p=p).derive(_key_bytes(key))


def derive_key(key: str | bytes, salt: bytes) -> bytes:
    """A 32-byte AES key from a passphrase and salt with scrypt (n=2**15, r=8, p=1).

    scrypt is deliberately slow and memory-hungry (about 32 MiB, ~0.1 s) so that guessing
    passphrases of a stolen backup is expensive. A str key is encoded as UTF-8 (not normalised:
    the same characters typed in a different Unicode form give a different key).
    Raises DataError for an empty key.
    """
    if not isinstance(salt, (bytes, bytearray, memoryview)) or len(salt) == 0:
        raise ValueError("salt must be non-empty bytes")
    return _scrypt(key, bytes(salt), SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)


def is_encrypted(path: Path) -> bool:
    """Whether the file starts with MAGIC, i.e. looks like a backup made by encrypt_file.

    Only the first 16 bytes are read, so this is cheap on multi-GB files; it says nothing about
    whether the rest of the file is intact. Raises DataError if the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError as e:
        raise _os_error(e, "checking the backup") from e


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    """The 12-byte AES-GCM nonce for chunk `counter`: prefix || counter || last-chunk flag."""
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _read_up_to(f: BinaryIO, n: int) -> bytes:
    """Read n bytes, fewer only at end of file (a single read() may return less on pipes)."""
    data = f.read(n)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _os_error(e: OSError, doing: str) -> DataError:
    """A DataError saying what went wrong with the file system and what to do about it."""
    name = f" {e.filename}" if e.filename else ""
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DataError(f"No space left on the disk while {doing}. Free some space and try again.")
    if isinstance(e, FileNotFoundError):
        return DataError(f"Error while {doing}: the file or folder{name} does not exist. Check the path and try again.")
    if isinstance(e, PermissionError):
        return DataError(
            f"Error while {doing}: permission denied for{name or ' a file'}. "
            "Check that the file can be read and the destination folder written, then try again."
        )
    if isinstance(e, IsADirectoryError):
        return DataError(f"Error while {doing}:{name or ' the path'} is a folder, not a file. Choose a file.")
    return DataError(f"Error while {doing}: {e.strerror or e}{(' (' + e.filename + ')') if e.filename else ''}. Try again.")


def _open_temp(dest: Path) -> tuple[Path, BinaryIO]:
    """A new, private (0600) temporary file in dest's folder, so os.replace into dest is atomic."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        return Path(name), os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise


def _finish(tmp: Path, out: BinaryIO, dest: Path) -> None:
    """Flush the temporary file to disk, close it and move it into place as dest."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
    os.replace(tmp, dest)


def _discard(tmp: Path | None, out: BinaryIO | None) -> None:
    """Close and delete a temporary output after a failure, ignoring errors doing so."""
    if out is not None:
        try:
            out.close()
        except OSError:
            pass
    if tmp is not None:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


@contextmanager
def _atomic_output(dest: Path) -> Iterator[BinaryIO]:
    """A private temporary file next to dest that replaces dest only if the block finishes.

    On any failure inside the block the temporary file is closed and deleted, and dest is left as it was.
    """
    tmp, out = _open_temp(dest)
    try:
        yield out
        _finish(tmp, out, dest)
    except BaseException:
        _discard(tmp, out)
        raise


def encrypt_file(src: Path, dest: Path, key: str | bytes, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
    """Encrypt src into dest with a key derived from the passphrase (format in the module docstring).

    Streams chunk_size bytes at a time. dest is replaced only when the encrypted file is complete;
    on any failure the partial output is removed and an existing dest is left as it was.
    Raises DataError for an empty key and for file-system problems (e.g. a full disk).
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be an int between 1 and {MAX_CHUNK_SIZE}, not {chunk_size!r}")
    src, dest = Path(src), Path(dest)
    salt = os.urandom(SALT_SIZE)
    prefix = os.urandom(NONCE_PREFIX_SIZE)
    header = _HEADER.pack(MAGIC, VERSION, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, salt, prefix, chunk_size)
    aead = AESGCM(_scrypt(key, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P))
    try:
        with open(src, "rb") as f, _atomic_output(dest) as out:
            out.write(header)
            chunk = _read_up_to(f, chunk_size)
            counter = 0
            while True:
                # Read one chunk ahead: the current chunk is the last one when nothing follows it.
                following = _read_up_to(f, chunk_size) if len(chunk) == chunk_size else b""
                last = not following
                if counter >= MAX_CHUNKS:
                    raise DataError(
                        f"The file is too large to encrypt with chunks of {chunk_size:,} bytes "
                        f"(at most {MAX_CHUNKS:,} chunks). Use a larger chunk size."
                    )
                sealed = aead.encrypt(_nonce(prefix, counter, last), chunk, header)
                out.write(_LENGTH.pack(len(sealed)))
                out.write(sealed)
                if last:
                    break
                chunk = following
                counter += 1
    except OSError as e:
        raise _os_error(e, "encrypting the backup") from e


def _read_header(f: BinaryIO) -> tuple[bytes, int, int, int, bytes, bytes, int]:
    """Read and sanity-check the header: (header bytes, log2_n, r, p, salt, prefix, chunk_size).

    Nothing here is authenticated yet (that happens with the first chunk), so every field that
    decides how much work or memory we spend is bounded before it is used.
    """
    start = _read_up_to(f, len(MAGIC) + 1)
    if start[: len(MAGIC)] != MAGIC:
        raise DataError(
            "This file is not an encrypted Marketing Workbench backup (it does not start with the "
            "backup marker). Choose the .enc file that the backup step produced."
        )
    if len(start) <= len(MAGIC):
        raise _damaged()
    version = start[len(MAGIC)]
    if version != VERSION:
        raise DataError(
            f"This backup uses encryption format version {version}, which this version of "
            f"Marketing Workbench cannot read (it reads version {VERSION}). Update the app and try again."
        )
    rest = _read_up_to(f, HEADER_SIZE - len(start))
    header = start + rest
    if len(header) < HEADER_SIZE:
        raise _damaged()
    _, _, log2_n, r, p, salt, prefix, chunk_size = _HEADER.unpack(header)
    if not (
        1 <= log2_n <= MAX_SCRYPT_LOG2_N
        and 1 <= r <= MAX_SCRYPT_R
        and 1 <= p <= MAX_SCRYPT_P
        and 128 * r * (1 << log2_n) <= MAX_SCRYPT_MEMORY
        and 1 <= chunk_size <= MAX_CHUNK_SIZE
    ):
        raise _damaged()
    return header, log2_n, r, p, salt, prefix, chunk_size


def _chunk_failure(aead: AESGCM, header: bytes, prefix: bytes, counter: int, last: bool, sealed: bytes) -> DataError:
    """The error for a chunk that failed to verify, as precise as the evidence allows.

    If the chunk verifies with the opposite last-chunk flag, the key is right and the file was
    cut short (a middle chunk is now at the end) or has bytes after its real end; say so. Else a
    first chunk that fails means a wrong key or damage (AES-GCM cannot tell which), and a later
    one means damage, since the first chunk already proved the key. The file is refused either way.
    """
    try:
        aead.decrypt(_nonce(prefix, counter, not last), sealed, header)
    except InvalidTag:
        return DataError(WRONG_KEY_OR_DAMAGED) if counter == 0 else _damaged(counter + 1)
    problem = "the rest of the file is missing" if last else "unexpected bytes follow its end"
    return DataError(
        f"The backup cannot be decrypted: the file is damaged or incomplete (chunk {counter + 1}): "
        f"{problem}. Copy it again from where it was stored, or use another copy of the backup."
    )


def decrypt_file(src: Path, dest: Path, key: str | bytes) -> None:
    """Decrypt a file made by encrypt_file into dest, verifying every chunk and the file's end.

    The plaintext goes to a temporary file next to dest, which replaces dest only after the last
    chunk verified; on any failure the temporary file is removed and dest is not created or
    changed. Raises DataError when the key is wrong or the file is damaged (AES-GCM cannot tell
    these apart on the first chunk; a failure after that is damage and names the chunk, counting
    from 1), when the file is not an encrypted backup or uses an unsupported version, and for
    file-system problems (e.g. a full disk).
    """
    src, dest = Path(src), Path(dest)
    key_bytes = _key_bytes(key)
    try:
        with open(src, "rb") as f:
            header, log2_n, r, p, salt, prefix, chunk_size = _read_header(f)
            aead = AESGCM(_scrypt(key_bytes, salt, log2_n, r, p))
            max_length = chunk_size + TAG_SIZE

            def read_length(chunk_number: int) -> int | None:
                """The next chunk's ciphertext length, None at a clean end of file."""
                raw = _read_up_to(f, _LENGTH.size)
                if not raw:
                    return None
                if len(raw) < _LENGTH.size:
                    raise _damaged(chunk_number)
                (n,) = _LENGTH.unpack(raw)
                if not TAG_SIZE <= n <= max_length:
                    raise _damaged(chunk_number)
                return n

            length = read_length(1)
            if length is None:  # header only: the file was cut before its first chunk
                raise _damaged(1)
            with _atomic_output(dest) as out:
                _decrypt_chunks(f, out, aead, header, prefix, length, max_length, read_length)
    except OSError as e:
        raise _os_error(e, "decrypting the backup") from e


def _decrypt_chunks(f: BinaryIO, out: BinaryIO, aead: AESGCM, header: bytes, prefix: bytes, length: int,
                    max_length: int, read_length: Callable[[int], int | None]) -> None:
    """Decrypt and write chunk after chunk, checking order, size and the last-chunk flag."""
    counter = 0
    while True:
        sealed = _read_up_to(f, length)
        if len(sealed) < length:
            raise _damaged(counter + 1)
        # Look ahead: this chunk is the last one exactly when nothing follows it.
        following = read_length(counter + 2)
        last = following is None
        if not last and length != max_length:  # only the last chunk may be short
            raise _damaged(counter + 1)
        if counter >= MAX_CHUNKS:
            raise _damaged(counter + 1)
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), sealed, header)
        except InvalidTag:
            raise _chunk_failure(aead, header, prefix, counter, last, sealed) from None
        out.write(plain)
        if last:
            break
        assert following is not None
        length = following
        counter += 1
