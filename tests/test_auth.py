"""Users file, password checks, the sign-in brake and the `python -m core.auth` command line."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from core import auth
from core.auth import LoginThrottle, User, UsersFile, authenticate, main, users_file_path
from core.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def fast_hasher() -> PasswordHasher:
    """Argon2id with tiny costs, so the tests stay quick (the default is argon2's defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class CountingHasher(PasswordHasher):
    """A fast hasher that counts verify calls."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifies = 0

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        self.verifies += 1
        return super().verify(hash, password)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the users file goes: in a folder that does not exist yet."""
    return tmp_path / "config" / "users.json"


@pytest.fixture
def users(path: Path) -> UsersFile:
    return UsersFile(path, hasher=fast_hasher())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- settings ------------------------------------------------------------------------------------


def test_users_file_path_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MW_USERS_FILE", raising=False)
    assert users_file_path() is None
    monkeypatch.setenv("MW_USERS_FILE", "  ")
    assert users_file_path() is None


def test_users_file_path_is_expanded_and_resolved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MW_USERS_FILE", "~/auth/../users.json")
    assert users_file_path() == (tmp_path / "users.json").resolve()


def test_default_hasher_is_argon2s_default(path: Path) -> None:
    default = PasswordHasher()
    hasher = UsersFile(path)._hasher
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.type) == (
        default.time_cost, default.memory_cost, default.parallelism, default.type)


# --- the users file ------------------------------------------------------------------------------


def test_missing_file_means_no_users(users: UsersFile, path: Path) -> None:
    assert users.list() == []
    assert users.verify("alice", PASSWORD) is None
    assert users.user_for_email("a@example.com") is None
    assert not path.exists()


def test_round_trip(users: UsersFile) -> None:
    alice = users.add("alice", PASSWORD, "admin", email="Alice@Example.COM")
    assert alice == User("alice", "admin", "alice@example.com")
    users.add("Bob", "bob-password", "viewer")
    users.add("carol", "carol-password", "analyst")
    assert [u.name for u in users.list()] == ["alice", "Bob", "carol"]

    assert users.verify("alice", PASSWORD) == alice
    assert users.verify("ALICE", PASSWORD) == alice, "names compare case-insensitively"
    assert users.verify("bob", "bob-password") == User("Bob", "viewer")

    assert users.set_role("bob", "analyst") == User("Bob", "analyst")
    assert users.verify("Bob", "bob-password").role == "analyst"

    users.set_password("carol", "a brand new one")
    assert users.verify("carol", "carol-password") is None
    assert users.verify("carol", "a brand new one") == User("carol", "analyst")

    users.remove("BOB")
    assert [u.name for u in users.list()] == ["alice", "carol"]
    assert users.verify("Bob", "bob-password") is None


def test_changes_are_seen_by_another_instance(users: UsersFile, path: Path) -> None:
    users.add("alice", PASSWORD, "viewer")
    assert UsersFile(path, hasher=fast_hasher()).list() == [User("alice", "viewer")]


def test_duplicate_name_refused_unless_replace(users: UsersFile) -> None:
    users.add("alice", PASSWORD, "viewer")
    with pytest.raises(DataError, match="already exists"):
        users.add("ALICE", "another password", "admin")
    assert users.list() == [User("alice", "viewer")]

    users.add("Alice", "another password", "admin", replace=True)
    assert users.list() == [User("Alice", "admin")]
    assert users.verify("alice", PASSWORD) is None
    assert users.verify("alice", "another password") == User("Alice", "admin")


def test_short_password_refused_without_echoing_it(users: UsersFile, path: Path) -> None:
    with pytest.raises(DataError, match="at least 8 characters") as err:
        users.add("alice", "s3cr3t!", "viewer")
    assert "s3cr3t!" not in str(err.value)
    assert not path.exists()
    users.add("alice", PASSWORD, "viewer")
    with pytest.raises(DataError, match="at least 8 characters"):
        users.set_password("alice", "short")


def test_unknown_role_refused_with_role_names(users: UsersFile) -> None:
    with pytest.raises(DataError) as err:
        users.add("alice", PASSWORD, "superuser")
    assert all(role in str(err.value) for role in ("viewer", "analyst", "admin"))
    users.add("alice", PASSWORD, "viewer")
    with pytest.raises(DataError, match="viewer, analyst, admin"):
        users.set_role("alice", "root")
    assert users.list() == [User("alice", "viewer")]


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "jos\u00e9", "a/b", "name\n"])
def test_bad_names_refused(users: UsersFile, name: str) -> None:
    with pytest.raises(DataError, match="1 to 64 characters"):
        users.add(name, PASSWORD, "viewer")


def test_allowed_name_characters(users: UsersFile) -> None:
    users.add("a.b_c-d@corp", PASSWORD, "viewer")
    users.add("x" * 64, PASSWORD, "viewer")
    assert len(users.list()) == 2


def test_unknown_user_for_remove_set_role_passwd(users: UsersFile) -> None:
    for call in (lambda: users.remove("ghost"), lambda: users.set_role("ghost", "admin"),
                 lambda: users.set_password("ghost", PASSWORD)):
        with pytest.raises(DataError, match="no user named 'ghost'"):
            call()


def test_email_shape_lowercase_unique_and_lookup(users: UsersFile) -> None:
    with pytest.raises(DataError, match="does not look like an e-mail"):
        users.add("alice", PASSWORD, "viewer", email="not-an-email")
    users.add("alice", PASSWORD, "analyst", email=" Alice@Example.com ")
    users.add("bob", PASSWORD, "viewer", email="")
    with pytest.raises(DataError, match="already belongs to user 'alice'"):
        users.add("carol", PASSWORD, "viewer", email="ALICE@example.com")

    assert users.user_for_email("ALICE@EXAMPLE.COM") == User("alice", "analyst", "alice@example.com")
    assert users.user_for_email("bob@example.com") is None
    assert users.user_for_email("") is None
    # Replacing a user may keep its own e-mail.
    users.add("alice", PASSWORD, "admin", email="alice@example.com", replace=True)
    assert users.user_for_email("alice@example.com").role == "admin"


def test_verify_wrong_password_and_unknown_user(path: Path) -> None:
    hasher = CountingHasher()
    users = UsersFile(path, hasher=hasher)
    users.add("alice", PASSWORD, "viewer")
    assert users.verify("alice", "wrong password") is None
    assert users.verify("nobody", PASSWORD) is None
    assert users.verify("", PASSWORD) is None
    assert hasher.verifies == 3, "an unknown name still costs one argon2 verify"


def test_verify_rehashes_when_settings_change(users: UsersFile, path: Path) -> None:
    users.add("alice", PASSWORD, "viewer")
    old_hash = json.loads(path.read_text())["users"][0]["hash"]
    stronger = UsersFile(path, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert stronger.verify("alice", PASSWORD) == User("alice", "viewer")
    new_hash = json.loads(path.read_text())["users"][0]["hash"]
    assert new_hash != old_hash and "m=16,t=2,p=1" in new_hash
    assert stronger.verify("alice", PASSWORD) == User("alice", "viewer")


def test_file_holds_argon2id_hashes_only(users: UsersFile, path: Path) -> None:
    users.add("alice", PASSWORD, "admin", email="alice@example.com")
    users.add("bob", "bob-password", "viewer")
    text = path.read_text()
    assert PASSWORD not in text and "bob-password" not in text
    data = json.loads(text)
    assert data["version"] == 1
    assert [set(u) for u in data["users"]] == [{"name", "role", "email", "hash"}] * 2
    assert all(u["hash"].startswith("$argon2id$") for u in data["users"])
    assert not any(hasattr(u, "hash") for u in users.list())


def test_file_mode_is_0600_and_folder_is_created(users: UsersFile, path: Path) -> None:
    users.add("alice", PASSWORD, "viewer")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    users.set_role("alice", "admin")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_atomic_write_leaves_no_temp_files(users: UsersFile, path: Path) -> None:
    for i in range(5):
        users.add(f"user{i}", PASSWORD, "viewer")
    users.remove("user0")
    assert os.listdir(path.parent) == ["users.json"]


def test_failed_write_keeps_old_file_and_no_temp(users: UsersFile, path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    users.add("alice", PASSWORD, "viewer")
    before = path.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(auth.os, "replace", broken_replace)
    with pytest.raises(DataError, match="cannot be written .No space left on device."):
        users.add("bob", PASSWORD, "viewer")
    assert path.read_text() == before
    assert os.listdir(path.parent) == ["users.json"]


def test_concurrent_writers_lose_nothing(users: UsersFile) -> None:
    threads = [threading.Thread(target=users.add, args=(f"user{i}", PASSWORD, "viewer"))
               for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(users.list()) == 12


HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.mark.parametrize("content, why", [
    ("{not json", "not valid JSON"),
    ("[]", "damaged"),
    ('{"version": 2, "users": []}', "version"),
    ('{"version": 1, "users": [{"name": "a", "role": "viewer"}]}', "no argon2 password hash"),
    ('{"version": 1, "users": [{"name": "a", "role": "boss", "hash": "%s"}]}' % HASH, "no valid role"),
    ('{"version": 1, "users": [{"name": "a", "role": "viewer", "hash": "%s"},'
     ' {"name": "A", "role": "viewer", "hash": "%s"}]}' % (HASH, HASH), "twice"),
])
def test_damaged_file_gives_data_error(path: Path, content: str, why: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    users = UsersFile(path, hasher=fast_hasher())
    for call in (users.list, lambda: users.verify("a", PASSWORD),
                 lambda: users.add("b", PASSWORD, "viewer")):
        with pytest.raises(DataError, match=why) as err:
            call()
        message = str(err.value)
        assert "MW_USERS_FILE" in message
        assert HASH not in message and PASSWORD not in message and str(path) not in message
    assert path.read_text() == content, "a damaged file is never overwritten"


def test_unreadable_file_gives_data_error(path: Path) -> None:
    path.mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(DataError, match="MW_USERS_FILE points at cannot be read"):
        UsersFile(path, hasher=fast_hasher()).list()


# --- throttle and authenticate --------------------------------------------------------------------


def test_throttle_locks_after_five_failures_and_unlocks() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(4):
        throttle.check("alice")
        throttle.failed("alice")
    throttle.check("alice")
    throttle.failed("Alice")
    with pytest.raises(DataError, match="Too many failed sign-ins for this user; wait 60 seconds"):
        throttle.check("ALICE")
    throttle.check("bob")  # other names are not affected
    clock.now += 30.5
    with pytest.raises(DataError, match="wait 30 seconds"):
        throttle.check("alice")
    clock.now += 30
    throttle.check("alice")


def test_throttle_success_resets_and_window_expires() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=5, window_s=900, lockout_s=60, clock=clock)
    for _ in range(4):
        throttle.failed("alice")
    throttle.succeeded("alice")
    for _ in range(4):
        throttle.failed("alice")
    throttle.check("alice")
    clock.now += 901  # the four failures are now outside the window
    throttle.failed("alice")
    throttle.check("alice")


def test_authenticate_same_message_for_unknown_user_and_wrong_password(users: UsersFile) -> None:
    users.add("alice", PASSWORD, "admin")
    throttle = LoginThrottle(clock=FakeClock())
    with pytest.raises(DataError) as unknown:
        authenticate(users, "nobody", PASSWORD, throttle=throttle)
    with pytest.raises(DataError) as wrong:
        authenticate(users, "alice", "wrong password", throttle=throttle)
    assert str(unknown.value) == str(wrong.value) == "Wrong user name or password."
    assert authenticate(users, "Alice", PASSWORD, throttle=throttle) == User("alice", "admin")


def test_authenticate_is_throttled(users: UsersFile) -> None:
    users.add("alice", PASSWORD, "admin")
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        with pytest.raises(DataError, match="Wrong user name or password"):
            authenticate(users, "alice", "wrong password", throttle=throttle)
    with pytest.raises(DataError, match="Too many failed sign-ins"):
        authenticate(users, "alice", PASSWORD, throttle=throttle)
    clock.now += 61
    assert authenticate(users, "alice", PASSWORD, throttle=throttle).name == "alice"


def test_module_throttle_exists() -> None:
    assert isinstance(auth.THROTTLE, LoginThrottle)
    assert auth.THROTTLE.max_failures == 5


# --- command line --------------------------------------------------------------------------------


def run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


def test_cli_round_trip(path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MW_USERS_FILE", raising=False)
    f = ["--file", str(path)]
    assert run_main(f + ["add-user", "alice", "--role", "admin", "--email", "Alice@Example.com",
                         "--password-stdin"], monkeypatch, PASSWORD + "\nignored\n") == 0
    assert "alice" in capsys.readouterr().out
    assert UsersFile(path).verify("alice", PASSWORD) == User("alice", "admin", "alice@example.com")

    monkeypatch.setenv("MW_USERS_FILE", str(path))  # the setting works as well as --file
    assert run_main(["add-user", "bob", "--role", "viewer", "--password-stdin"],
                    monkeypatch, "bob-password\r\n") == 0
    assert run_main(["set-role", "bob", "analyst"], monkeypatch) == 0
    assert run_main(["passwd", "bob", "--password-stdin", "--file", str(path)],
                    monkeypatch, "new bob password") == 0
    capsys.readouterr()
    assert run_main(["list"], monkeypatch) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "role", "email"]
    assert [line.split() for line in lines[1:]] == [
        ["alice", "admin", "alice@example.com"], ["bob", "analyst", "-"]]
    assert UsersFile(path).verify("bob", "new bob password") is not None

    assert run_main(["remove-user", "bob"], monkeypatch) == 0
    assert [u.name for u in UsersFile(path).list()] == ["alice"]


def test_cli_errors_are_one_line_exit_1(path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MW_USERS_FILE", str(path))
    cases = [
        (["add-user", "alice", "--role", "boss", "--password-stdin"], PASSWORD, "Unknown role"),
        (["add-user", "alice", "--role", "viewer", "--password-stdin"], "short\n", "at least 8"),
        (["remove-user", "ghost"], "", "no user named 'ghost'"),
        (["passwd", "ghost", "--password-stdin"], PASSWORD, "no user named 'ghost'"),
    ]
    for argv, stdin, message in cases:
        assert run_main(argv, monkeypatch, stdin) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
        assert "short" not in err and PASSWORD not in err
    assert run_main(["add-user", "alice", "--role", "viewer", "--password-stdin"],
                    monkeypatch, PASSWORD) == 0
    assert run_main(["add-user", "alice", "--role", "viewer", "--password-stdin"],
                    monkeypatch, PASSWORD) == 1
    assert "--replace" in capsys.readouterr().err
    assert run_main(["add-user", "alice", "--role", "admin", "--replace", "--password-stdin"],
                    monkeypatch, PASSWORD) == 0
    assert UsersFile(path).list() == [User("alice", "admin")]


def test_cli_getpass_twice(path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MW_USERS_FILE", str(path))
    answers = iter([PASSWORD, "something else"])
    monkeypatch.setattr(auth.getpass, "getpass", lambda prompt="": next(answers))
    assert main(["add-user", "alice", "--role", "viewer"]) == 1
    assert "do not match" in capsys.readouterr().err
    assert not path.exists()

    answers = iter([PASSWORD, PASSWORD])
    assert main(["add-user", "alice", "--role", "viewer"]) == 0
    assert UsersFile(path).verify("alice", PASSWORD) is not None


def test_cli_without_file_setting_exits_2(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MW_USERS_FILE", raising=False)
    assert main(["list"]) == 2
    assert "set MW_USERS_FILE" in capsys.readouterr().err


def test_cli_bad_usage_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["add-user", "alice"]) == 2  # --role is required
    assert main([]) == 2
    capsys.readouterr()


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.auth", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_cli_subprocess(path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MW_USERS_FILE"}
    done = cli("list", env=env)
    assert done.returncode == 2 and "MW_USERS_FILE" in done.stderr

    done = cli("add-user", "alice", "--role", "analyst", "--email", "a@example.com",
               "--password-stdin", "--file", str(path), env=env, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    done = cli("list", env={**env, "MW_USERS_FILE": str(path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split() == ["alice", "analyst", "a@example.com"]

    done = cli("set-role", "alice", "boss", env={**env, "MW_USERS_FILE": str(path)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Unknown role" in done.stderr


def test_the_last_admin_cannot_be_removed_or_demoted(users: UsersFile) -> None:
    users.add("maria", "admin-pass-1", "admin")
    users.add("tom", "analyst-pass-1", "analyst")
    with pytest.raises(DataError, match="leave no admin"):
        users.remove("maria")
    with pytest.raises(DataError, match="leave no admin"):
        users.set_role("maria", "viewer")
    assert users.get("maria") == User("maria", "admin")  # nothing was saved
    users.set_role("tom", "admin")
    users.remove("maria")  # another admin exists now
    assert [u.name for u in users.list()] == ["tom"]


def test_two_processes_adding_users_at_once_keep_both(path: Path) -> None:
    """The users file is edited under a lock on its folder: concurrent CLI runs lose nothing."""
    import subprocess
    import sys

    users = UsersFile(path, hasher=fast_hasher())
    users.add("seed", "seed-pass-1", "admin")
    code = ("import sys; from argon2 import PasswordHasher; from core.auth import UsersFile; "
            "u = UsersFile(sys.argv[1], hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)); "
            "[u.add(f'{sys.argv[2]}{i}', 'password-123', 'viewer') for i in range(40)]")
    root = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), prefix], cwd=root) for prefix in ("a", "b")]
    assert all(p.wait(60) == 0 for p in procs)
    names = {u.name for u in UsersFile(path, hasher=fast_hasher()).list()}
    assert names == {"seed"} | {f"{p}{i}" for p in "ab" for i in range(40)}
