"""Who may sign in: a small JSON file of users, their roles and argon2id password hashes.

Login is off unless `MW_USERS_FILE` names the file. The file holds only argon2id hashes, never
passwords, and is written atomically with mode 0o600 so a crash or a concurrent reader never sees
half a file. `LoginThrottle` slows down guessing; `authenticate` gives the same answer for an
unknown user and a wrong password so that sign-in does not reveal which names exist.

Manage the file from a shell (`python -m core.auth --help`); this module never imports streamlit.
"""

from __future__ import annotations

import argparse
import fcntl
import builtins
import getpass
import json
import math
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import DataError
from core.roles import ROLES, Role, check_role

ENV_VAR = "MW_USERS_FILE"
FILE_VERSION = 1
MIN_PASSWORD_LENGTH = 8
FILE_MODE = 0o600

_NAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_MAX_EMAIL_LENGTH = 254
_WRONG_LOGIN = "Wrong user name or password."
_DAMAGED = (
    "The users file that " + ENV_VAR + " points at {what}. "
    "Fix it or restore it from a backup, or point " + ENV_VAR + " at another file."
)

# One lock for every read-modify-write in this process, so two writers never lose an update.
_LOCK = threading.Lock()
# Dummy hashes per hasher configuration, for verifying names that do not exist.
_DUMMY_HASHES: dict[tuple[Any, ...], str] = {}
_DUMMY_LOCK = threading.Lock()

_Record = dict[str, Any]


def users_file_path() -> Path | None:
    """The users file from $MW_USERS_FILE (expanded, resolved), or None: login is off by default."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser().resolve() if value else None


@dataclass(frozen=True)
class User:
    """A user as the app sees it: no password hash ever leaves `UsersFile`."""

    name: str
    role: Role
    email: str | None = None


# --- validation ----------------------------------------------------------------------------------


def _key(name: str) -> str:
    """The case-insensitive form under which a name is looked up."""
    return name.strip().lower()


def _check_name(name: str) -> str:
    """The name itself, or DataError saying which names are allowed (without echoing it)."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise DataError(
            "User names must be 1 to 64 characters: letters, digits, '.', '_', '-' or '@'. "
            "Choose a name of that form."
        )
    return name


def _check_password(password: str) -> str:
    """The password itself, or DataError about its length (the message never contains it)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise DataError(
            f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters long; choose a longer one."
        )
    return password


def _check_email(email: str | None) -> str | None:
    """The e-mail lower-cased, None for no e-mail, or DataError when it is not shaped like one."""
    if email is None or not email.strip():
        return None
    email = email.strip().lower()
    if len(email) > _MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(email):
        raise DataError(f"'{email[:80]}' does not look like an e-mail address (name@example.com).")
    return email


def _user(record: _Record) -> User:
    """The public view of a stored record."""
    return User(name=record["name"], role=record["role"], email=record.get("email"))


def _find(records: builtins.list[_Record], name: str) -> _Record | None:
    """The record for `name` (case-insensitive), or None."""
    key = _key(name)
    return next((r for r in records if r["name"].lower() == key), None)


def _no_such_user(name: str) -> DataError:
    """The error for a name that is not in the file (admin commands only, never sign-in)."""
    return DataError(
        f"There is no user named '{name[:64]}'. List the users with `python -m core.auth list`."
    )


def _get(records: builtins.list[_Record], name: str) -> _Record:
    """The record for `name`, or DataError saying there is no such user."""
    record = _find(records, name)
    if record is None:
        raise _no_such_user(name)
    return record


def _check_email_free(records: builtins.list[_Record], email: str | None, owner: str) -> None:
    """DataError when `email` already belongs to a user other than `owner`."""
    if email is None:
        return
    for r in records:
        if r.get("email") == email and r["name"].lower() != _key(owner):
            raise DataError(
                f"The e-mail '{email}' already belongs to user '{r['name']}'; "
                "each e-mail may belong to one user only."
            )


# --- reading and writing the file ---------------------------------------------------------------


def _parse_record(item: Any, number: int) -> _Record:
    """One validated user entry from the file, or DataError naming the damaged entry."""
    def damaged(why: str) -> DataError:
        return DataError(_DAMAGED.format(what=f"is damaged: user entry {number} {why}"))

    if not isinstance(item, dict):
        raise damaged("is not an object")
    name, role, email, hashed = (item.get(k) for k in ("name", "role", "email", "hash"))
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise damaged("has no valid name")
    if role not in ROLES:
        raise damaged("has no valid role")
    if email is not None and not isinstance(email, str):
        raise damaged("has an e-mail that is not text")
    if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
        raise damaged("has no argon2 password hash")
    return {"name": name, "role": role, "email": email.lower() if email else None, "hash": hashed}


def _parse(text: str) -> builtins.list[_Record]:
    """The records in the file's text, or DataError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        why = f"is not valid JSON ({e.msg} at line {e.lineno})"
        raise DataError(_DAMAGED.format(what=why)) from None
    if not isinstance(data, dict) or not isinstance(data.get("users"), builtins.list):
        raise DataError(_DAMAGED.format(what='is damaged: it needs {"version": 1, "users": [...]}'))
    if data.get("version") != FILE_VERSION:
        why = f"has a version this app cannot read (expected {FILE_VERSION})"
        raise DataError(_DAMAGED.format(what=why))
    records = [_parse_record(item, i) for i, item in enumerate(data["users"], start=1)]
    if len({r["name"].lower() for r in records}) != len(records):
        raise DataError(_DAMAGED.format(what="is damaged: it lists a user name twice"))
    return records


def _serialise(records: builtins.list[_Record]) -> str:
    """The file's text for `records`, users sorted by name."""
    users = sorted(records, key=lambda r: r["name"].lower())
    return json.dumps({"version": FILE_VERSION, "users": users}, indent=2) + "\n"


def _fsync_dir(folder: Path) -> None:
    """Flush the folder entry so the rename survives a crash (best effort; not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` via a 0o600 temp file in the same folder, fsync and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), FILE_MODE)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# --- the users file ------------------------------------------------------------------------------


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random secret made with `hasher`'s settings, so unknown names cost a verify too."""
    params = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len,
              hasher.salt_len, hasher.type)
    with _DUMMY_LOCK:
        if params not in _DUMMY_HASHES:
            _DUMMY_HASHES[params] = hasher.hash(secrets.token_urlsafe(24))
        return _DUMMY_HASHES[params]


class UsersFile:
    """The users JSON file: add, change, remove, list and verify users.

    Every call reads the file afresh, so changes made from the shell show up without a restart.
    A missing file simply means no users yet; it is created on the first write.
    """

    def __init__(self, path: str | os.PathLike[str], *, hasher: PasswordHasher | None = None) -> None:
        """Wrap the file at `path`; `hasher` defaults to argon2id with argon2-cffi's defaults."""
        self.path = Path(path).expanduser().resolve()
        self._hasher = hasher or PasswordHasher()

    def __repr__(self) -> str:
        return f"UsersFile({str(self.path)!r})"

    def _load(self) -> builtins.list[_Record]:
        """All records; [] for a missing file; DataError for an unreadable or damaged one."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else "it is not UTF-8 text"
            raise DataError(_DAMAGED.format(what=f"cannot be read ({why})")) from None
        return _parse(text)

    def _save(self, records: builtins.list[_Record]) -> None:
        """Write all records atomically, or DataError saying the file cannot be written."""
        try:
            _atomic_write(self.path, _serialise(records))
        except OSError as e:
            raise DataError(
                f"The users file that {ENV_VAR} points at cannot be written ({e.strerror or e}). "
                "Check that its folder is writable, or point the setting at another file."
            ) from None

    @contextmanager
    def _editing(self) -> Iterator[builtins.list[_Record]]:
        """Read, let the caller change the records, then save them, under the process lock and an
        advisory lock on its folder (two `python -m core.auth` runs, or the CLI beside
        the app, cannot lose each other's change). The last admin cannot be removed or demoted."""
        with _LOCK, self._file_lock():
            records = self._load()
            had_admin = any(r["role"] == "admin" for r in records)
            yield records
            if had_admin and not any(r["role"] == "admin" for r in records):
                raise DataError("That would leave no admin: nobody could delete tables, read the audit log or "
                                "restore backups. Make another user an admin first.")
            self._save(records)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """An exclusive flock on the users file's folder (no extra file; the users file itself is
        replaced atomically, so it cannot carry the lock)."""
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # no such folder yet or unreadable: saving will say so
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def add(
        self, name: str, password: str, role: str, *, email: str | None = None, replace: bool = False
    ) -> User:
        """Add a user (or overwrite one with replace=True) and return it; DataError if not valid."""
        _check_name(name)
        _check_password(password)
        checked_role = check_role(role)
        checked_email = _check_email(email)
        hashed = self._hasher.hash(password)
        record = {"name": name, "role": checked_role, "email": checked_email, "hash": hashed}
        with self._editing() as records:
            existing = _find(records, name)
            if existing is not None and not replace:
                raise DataError(
                    f"A user named '{existing['name']}' already exists. "
                    "Choose another name, or replace that user (--replace)."
                )
            _check_email_free(records, checked_email, name)
            if existing is not None:
                records.remove(existing)
            records.append(record)
        return _user(record)

    def remove(self, name: str) -> None:
        """Delete the user `name`; DataError if there is no such user."""
        with self._editing() as records:
            records.remove(_get(records, name))

    def set_role(self, name: str, role: str) -> User:
        """Give the user `name` another role and return the updated user."""
        checked = check_role(role)
        with self._editing() as records:
            record = _get(records, name)
            record["role"] = checked
        return _user(record)

    def set_password(self, name: str, password: str) -> User:
        """Replace the password of the user `name` (at least 8 characters)."""
        _check_password(password)
        if self.get(name) is None:
            raise _no_such_user(name)  # before spending time on hashing
        hashed = self._hasher.hash(password)
        with self._editing() as records:
            record = _get(records, name)
            record["hash"] = hashed
        return _user(record)

    def get(self, name: str) -> User | None:
        """The user `name` (case-insensitive), or None."""
        record = _find(self._load(), name)
        return _user(record) if record else None

    def user_for_email(self, email: str) -> User | None:
        """The user with this e-mail (case-insensitive), or None; maps an OIDC login to a role."""
        wanted = (email or "").strip().lower()
        if not wanted:
            return None
        record = next((r for r in self._load() if r.get("email") == wanted), None)
        return _user(record) if record else None

    def verify(self, name: str, password: str) -> User | None:
        """The user when `password` is right, else None; unknown names cost one argon2 verify too.

        A hash made with older settings is replaced by one made with the current settings.
        """
        record = _find(self._load(), name) if isinstance(name, str) else None
        if record is None:
            self._verify_hash(_dummy_hash(self._hasher), password)
            return None
        if not self._verify_hash(record["hash"], password):
            return None
        if self._hasher.check_needs_rehash(record["hash"]):
            self._rehash(record, password)
        return _user(record)

    def _verify_hash(self, hashed: str, password: str) -> bool:
        """Whether `password` matches `hashed`; a broken stored hash raises DataError."""
        try:
            return self._hasher.verify(hashed, password)
        except InvalidHashError:
            raise DataError(_DAMAGED.format(
                what="holds a damaged password hash; set that user's password again "
                     "(`python -m core.auth passwd NAME`)"
            )) from None
        except VerificationError:
            return False

    def _rehash(self, record: _Record, password: str) -> None:
        """Store a fresh hash for `record`, unless its password was changed meanwhile."""
        hashed = self._hasher.hash(password)
        with self._editing() as records:
            current = _find(records, record["name"])
            if current is not None and current["hash"] == record["hash"]:
                current["hash"] = hashed

    def list(self) -> builtins.list[User]:
        """All users sorted by name (case-insensitive); hashes are never part of the answer."""
        return [_user(r) for r in sorted(self._load(), key=lambda r: r["name"].lower())]


# --- brute-force brake ---------------------------------------------------------------------------


@dataclass
class _Failures:
    """Recent failed sign-ins for one name, and until when it is locked."""

    times: builtins.list[float] = field(default_factory=builtins.list)
    locked_until: float = 0.0


class LoginThrottle:
    """Locks a user name for `lockout_s` seconds after `max_failures` failures within `window_s`.

    It lives in the process (not the file), so it brakes guessing through one server; names that
    do not exist are throttled exactly like real ones, which reveals nothing about either.
    """

    _MAX_TRACKED = 10_000

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 900,
        lockout_s: float = 60,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set the limits; `clock` (seconds, monotonic) is injectable for tests."""
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock
        self._state: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def check(self, name: str) -> None:
        """DataError saying how long to wait while `name` is locked out; otherwise nothing."""
        with self._lock:
            state = self._state.get(_key(name))
            wait = state.locked_until - self._clock() if state else 0.0
        if wait > 0:
            raise DataError(
                f"Too many failed sign-ins for this user; wait {math.ceil(wait)} seconds "
                "and try again, or ask an admin to reset the password."
            )

    def failed(self, name: str) -> None:
        """Record a failed sign-in; the `max_failures`-th within the window starts a lockout."""
        now = self._clock()
        with self._lock:
            if len(self._state) >= self._MAX_TRACKED:
                self._forget_stale(now)
            state = self._state.setdefault(_key(name), _Failures())
            state.times = [t for t in state.times if now - t < self.window_s] + [now]
            if len(state.times) >= self.max_failures:
                state.locked_until = now + self.lockout_s
                state.times = []

    def succeeded(self, name: str) -> None:
        """Forget the failures of `name` after a good sign-in."""
        with self._lock:
            self._state.pop(_key(name), None)

    def _forget_stale(self, now: float) -> None:
        """Drop names with no recent failure and no running lockout, so memory stays bounded."""
        self._state = {
            k: s for k, s in self._state.items()
            if s.locked_until > now or any(now - t < self.window_s for t in s.times)
        }


THROTTLE = LoginThrottle()


def authenticate(
    users: UsersFile, name: str, password: str, *, throttle: LoginThrottle = THROTTLE
) -> User:
    """The signed-in user, or DataError: the same message whether the name exists or not."""
    throttle.check(name)
    user = users.verify(name, password)
    if user is None:
        throttle.failed(name)
        raise DataError(_WRONG_LOGIN)
    throttle.succeeded(name)
    return user


# --- command line --------------------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    _check_password(first)
    if getpass.getpass("Password again: ") != first:
        raise DataError("The two passwords do not match; run the command again.")
    return first


def _table(users: builtins.list[User]) -> str:
    """Users as a small left-aligned table: name, role, email."""
    rows = [("name", "role", "email")] + [(u.name, u.role, u.email or "-") for u in users]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{n:<{widths[0]}}  {r:<{widths[1]}}  {e}".rstrip() for n, r, e in rows)


_Handler = Callable[[UsersFile, argparse.Namespace], str]


def _cmd_add_user(users: UsersFile, args: argparse.Namespace) -> str:
    """add-user: check name, role and e-mail before asking for the password, then save."""
    _check_name(args.name)
    check_role(args.role)
    _check_email(args.email)
    if not args.replace and users.get(args.name) is not None:
        raise DataError(f"A user named '{args.name}' already exists; use --replace to overwrite it.")
    user = users.add(args.name, _read_password(args.password_stdin), args.role,
                     email=args.email, replace=args.replace)
    return f"Saved user {user.name} ({user.role})."


def _cmd_remove_user(users: UsersFile, args: argparse.Namespace) -> str:
    """remove-user: delete one user."""
    users.remove(args.name)
    return f"Removed user {args.name}."


def _cmd_set_role(users: UsersFile, args: argparse.Namespace) -> str:
    """set-role: change one user's role."""
    user = users.set_role(args.name, args.role)
    return f"{user.name} now has the {user.role} role."


def _cmd_passwd(users: UsersFile, args: argparse.Namespace) -> str:
    """passwd: make sure the user exists before asking for the new password."""
    if users.get(args.name) is None:
        raise _no_such_user(args.name)  # before asking for a password
    user = users.set_password(args.name, _read_password(args.password_stdin))
    return f"Changed the password of {user.name}."


def _cmd_list(users: UsersFile, args: argparse.Namespace) -> str:
    """list: the users as a table, or a note that there are none."""
    found = users.list()
    return _table(found) if found else "No users yet."


def _parser() -> argparse.ArgumentParser:
    """The argparse parser; --file is accepted before or after the sub-command."""
    file_opt = argparse.ArgumentParser(add_help=False)
    file_opt.add_argument("--file", default=argparse.SUPPRESS, metavar="PATH",
                          help=f"users JSON file (default: ${ENV_VAR})")
    parser = argparse.ArgumentParser(prog="python -m core.auth", parents=[file_opt],
                                     description="Manage the workbench's users file.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: _Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[file_opt], help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    p = command("add-user", _cmd_add_user, "add a user (asks for the password)")
    p.add_argument("name")
    p.add_argument("--role", required=True, help="viewer, analyst or admin")
    p.add_argument("--email", default=None, help="e-mail for single sign-on (optional)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--replace", action="store_true", help="overwrite a user of that name")
    command("remove-user", _cmd_remove_user, "delete a user").add_argument("name")
    p = command("set-role", _cmd_set_role, "change a user's role")
    p.add_argument("name")
    p.add_argument("role")
    p = command("passwd", _cmd_passwd, "change a user's password")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command("list", _cmd_list, "list users: name, role, e-mail")
    return parser


def main(argv: builtins.list[str] | None = None) -> int:
    """Run the command line; 0 on success, 1 for a refused request, 2 for bad usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    path = getattr(args, "file", None) or os.environ.get(ENV_VAR, "").strip()
    if not path:
        print(f"error: no users file: set {ENV_VAR} to the users JSON file, or pass --file PATH.",
              file=sys.stderr)
        return 2
    try:
        print(args.handler(UsersFile(path), args))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("error: cancelled; nothing was changed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
