"""AppTest: sign-in with a users file, and every role on every page sees only what it may do."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from apptest_jobs import open_tab
from core.auth import UsersFile
from core.demo import load_demo
from core.workspace import Workspace

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["pages/home.py", "pages/data.py", "pages/segments.py", "pages/models.py", "pages/experiments.py",
         "pages/campaigns.py"]
PASSWORD = "s3cret-pass"
USERS = {"vera": "viewer", "ana": "analyst", "adam": "admin"}


@pytest.fixture
def shared(app_env, tmp_path, monkeypatch):
    """The app with login on (a users file with one user per role) and the demo data loaded."""
    users = UsersFile(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    for name, role in USERS.items():
        users.add(name, PASSWORD, role)
    monkeypatch.setenv("MW_USERS_FILE", str(users.path))
    load_demo(Workspace(app_env))
    return app_env


def _signed_in(name: str, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="login-name").input(name)
    at.text_input(key="login-password").input(password)
    at.button[0].click().run()
    return at


def _tab_labels(at: AppTest) -> list[str]:
    return [t.label for t in at.tabs]


def test_login_required_and_wrong_password_refused(shared):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.text_input(key="login-name") is not None
    assert not at.tabs  # nothing of the workbench before signing in
    at = _signed_in("ana", "wrong-password")
    assert any("Wrong user name or password" in e.value for e in at.error)
    at = _signed_in("nobody", "whatever-pass")
    assert any("Wrong user name or password" in e.value for e in at.error)
    log = Workspace(shared).audit()
    assert (log["action"] == "login_failed").sum() == 2


@pytest.mark.parametrize("name", list(USERS))
@pytest.mark.parametrize("page", PAGES)
def test_every_role_renders_every_page(shared, name, page):
    at = _signed_in(name)
    assert not at.exception, at.exception
    assert any(f"Signed in as **{name}**" in c.value for c in at.sidebar.caption)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not [t for t in at.text_input if t.key == "login-name"]  # still signed in


def test_data_page_tabs_follow_the_role(shared):
    expected = {
        "vera": ["Browse tables"],
        "ana": ["Load a CSV", "Browse tables", "SQL console"],
        "adam": ["Load a CSV", "Browse tables", "SQL console", "Audit log", "Backup and restore"],
    }
    for name, tabs in expected.items():
        at = _signed_in(name)
        at.switch_page("pages/data.py").run()
        assert _tab_labels(at) == tabs, name
        if "Load a CSV" in tabs:  # the first tab; Browse tables runs once opened (lazy tabs)
            assert not [b for b in at.button if b.label == "Delete table"], name
            open_tab(at, "data", "Browse tables")
        deletes = [b for b in at.button if b.label == "Delete table"]
        assert bool(deletes) == (name == "adam"), name


def test_viewer_pages_offer_no_heavy_work(shared):
    at = _signed_in("vera")
    at.switch_page("pages/models.py").run()
    assert _tab_labels(at) == ["Leaderboard and saved models"]
    assert any("needs the analyst role" in i.value for i in at.info)
    at.switch_page("pages/segments.py").run()
    assert not [b for b in at.button if b.label == "Find segments"]
    assert any("building segments needs the analyst role" in i.value for i in at.info)
    at.switch_page("pages/experiments.py").run()
    assert _tab_labels(at) == ["Planning"]
    at.switch_page("pages/home.py").run()
    assert not [b for b in at.button if b.label == "Load demo data"]


def test_analyst_console_and_admin_audit(shared, monkeypatch):
    at = _signed_in("ana")
    at.switch_page("pages/data.py").run()
    open_tab(at, "data", "SQL console")
    at.text_area(key="sql-text").input("SELECT count(*) AS n FROM customers")
    at.button(key="sql-run").click().run()
    assert not at.exception
    assert any("1 row in" in c.value for c in at.caption)
    at.text_area(key="sql-text").input("SELECT * FROM read_text('/etc/passwd')")
    at.button(key="sql-run").click().run()
    assert at.error and "root:" not in at.error[0].value
    at.text_area(key="sql-text").input("SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3")
    monkeypatch.setenv("MW_SQL_TIMEOUT_S", "0.5")
    at.button(key="sql-run").click().run()
    assert any("took too long" in e.value for e in at.error)

    admin = _signed_in("adam")
    admin.switch_page("pages/data.py").run()
    open_tab(admin, "data", "Audit log")
    frames = [d.value for d in admin.dataframe]
    log = next(f for f in frames if "action" in getattr(f, "columns", []))
    assert {"login", "query"} <= set(log["action"])
    assert "ana" in set(log["user"])


def test_login_off_by_default_is_the_local_admin(app_env):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    at.switch_page("pages/data.py").run()
    assert "Audit log" in _tab_labels(at)
    assert not [c for c in at.sidebar.caption if "Signed in as" in c.value]


def test_admin_backs_up_and_restores_on_the_data_page(shared, tmp_path):
    at = _signed_in("adam")
    at.switch_page("pages/data.py").run()
    open_tab(at, "data", "Backup and restore")
    at.text_input(key="backup-key").input("page passphrase")
    at.button(key="backup-run").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(b.label.startswith("Download workbench-backup-") for b in at.get("download_button"))

    ws = Workspace(shared)
    backup = ws.backup(tmp_path / "b.mwbackup", key="page passphrase")
    ws.drop("customers")
    at.file_uploader(key="restore-file").upload("b.mwbackup", backup.read_bytes(), "application/octet-stream")
    at.text_input(key="restore-key").input("wrong passphrase")
    at.checkbox(key="restore-sure").check().run()
    at.button(key="restore-run").click().run()
    assert any("key is wrong or the file is damaged" in e.value for e in at.error)
    assert "customers" not in ws.tables()  # nothing changed
    at.text_input(key="restore-key").input("page passphrase")
    at.button(key="restore-run").click().run()
    assert not at.exception
    assert any("Restored" in s.value and "customers" in s.value for s in at.success)
    assert "customers" in ws.tables()
    assert {"backup", "restore"} <= set(ws.audit()["action"])
