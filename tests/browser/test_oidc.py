"""Single sign-on (Streamlit's `st.login`) end to end in Debian's Chromium, offline.

The identity provider is tests/oidc_provider.py on 127.0.0.1; the app runs as a subprocess with a
secrets file outside the repo (`--secrets.files`) whose [auth] section points at it, and with a
users file mapping e-mail addresses to roles. Nothing leaves 127.0.0.1.

Skips with a reason when Chromium or playwright is missing, unless REQUIRE_BROWSER_TESTS=1.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "tests")) if p not in sys.path]

from oidc_provider import MockOIDCProvider  # noqa: E402

CLIENT_ID = "marketing-workbench"
CLIENT_SECRET = secrets.token_urlsafe(16)
ANALYST = "ana.lyst@example.com"
ADMIN = "maria@example.com"
STRANGER = "stranger@example.org"
SSO_BUTTON = "Sign in with your organisation's account"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _App:
    """The app as a subprocess; `stop()` ends it (so the test can open its workspace file)."""

    def __init__(self, url: str, proc: subprocess.Popen, workspace: Path, log: Path) -> None:
        self.url, self.proc, self.workspace, self.log = url, proc, workspace, log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def _running_app(tmp: Path, idp: MockOIDCProvider, users_file: Path):
    """The app on a free port with [auth] pointing at `idp`; the port is chosen first for redirect_uri."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    secrets_file = tmp / "secrets" / "secrets.toml"  # outside the repo: the repo's own is never read
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{idp.discovery_url}"\n'
    )
    secrets_file.chmod(0o600)
    workspace = tmp / "ws" / "workbench.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "MW_"))}
    env.update(MW_WORKSPACE=str(workspace), MW_IMPORT_DIR=str(tmp / "imports"), MW_USERS_FILE=str(users_file))
    log = tmp / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false",
             "--server.fileWatcherType=none", f"--secrets.files={secrets_file}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    app = _App(url, proc, workspace, log)
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("the app did not start within 60 s")
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def idp():
    with MockOIDCProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture(scope="module")
def app(tmp_path_factory, idp):
    from argon2 import PasswordHasher

    from core.auth import UsersFile

    tmp = tmp_path_factory.mktemp("oidc")
    users = UsersFile(tmp / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    users.add("ana", secrets.token_urlsafe(12), "analyst", email=ANALYST)
    users.add("maria", secrets.token_urlsafe(12), "admin", email=ADMIN)
    with _running_app(tmp, idp, users.path) as running:
        yield running


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)


def _sso_sign_in(page, app: _App, idp: MockOIDCProvider, email: str, **claims) -> None:
    """Open the app, choose who the provider signs in as, click the SSO button, wait to be back."""
    idp.email = email
    idp.name = claims.get("name", email.split("@")[0].title())
    idp.email_verified = claims.get("email_verified", True)
    page.goto(app.url)
    _idle(page)
    with page.expect_navigation(url=lambda u: u.rstrip("/") == app.url, timeout=60_000):
        page.get_by_role("button", name=SSO_BUTTON).click()
    _idle(page)
    assert idp.errors == [], idp.errors
    assert idp.logins and idp.logins[-1]["email"] == email, "the provider handed out no id_token"


def _signed_in(page):
    """The sidebar's "Signed in as NAME (role)" (not the refusal's "You are signed in as ...")."""
    return page.get_by_test_id("stSidebar").get_by_text(re.compile("^Signed in as "))


def _wait_signed_in(page, app: _App) -> None:
    """Wait for the sidebar's caption; on a timeout, fail with the end of the app's log."""
    try:
        _signed_in(page).wait_for(timeout=30_000)
    except Exception as e:  # playwright's TimeoutError
        pytest.fail(f"not signed in ({e.__class__.__name__}); the app's log ends with:\n{app.log.read_text()[-3000:]}")


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_analyst_signs_in_with_sso_sees_analyst_tabs_and_signs_out(browser, app, idp):
    page = browser.new_page()
    page.goto(app.url + "/data")
    _idle(page)
    assert page.get_by_role("tab", name="Browse tables").count() == 0  # nothing before signing in
    _sso_sign_in(page, app, idp, ANALYST)
    _wait_signed_in(page, app)
    assert "ana" in page.get_by_test_id("stSidebar").inner_text()
    assert "analyst" in page.get_by_test_id("stSidebar").inner_text()
    # The round trip went through the whole flow: discovery, authorize, token with PKCE, keys.
    for step in ("GET /.well-known/openid-configuration", "GET /authorize", "POST /token", "GET /jwks"):
        assert step in idp.requests, (step, idp.requests)
    assert idp.logins[-1]["aud"] == CLIENT_ID and idp.logins[-1].get("nonce")

    page.get_by_role("link", name="Data").first.click()
    _idle(page)
    page.get_by_role("tab", name="SQL console").wait_for(timeout=30_000)
    assert page.get_by_role("tab", name="Load a CSV").count() == 1
    assert page.get_by_role("tab", name="Audit log").count() == 0  # admins only
    _no_exception(page)

    # A new session in the same browser (the identity cookie) is still signed in.
    page.goto(app.url + "/data")
    _idle(page)
    page.get_by_role("tab", name="SQL console").wait_for(timeout=30_000)

    before = len(idp.requests)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name=SSO_BUTTON).wait_for(timeout=30_000)
    _idle(page)
    deadline = time.monotonic() + 30  # the redirect to the provider may come after the sign-in page shows
    while "GET /logout" not in idp.requests[before:] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "GET /logout" in idp.requests[before:]  # the provider's end_session_endpoint too
    assert _signed_in(page).count() == 0
    # The cookie is gone: a fresh load of a page lands on the sign-in page again.
    page.goto(app.url + "/data")
    _idle(page)
    page.get_by_role("button", name=SSO_BUTTON).wait_for(timeout=30_000)
    assert page.get_by_role("tab", name="Browse tables").count() == 0
    _no_exception(page)
    page.close()


def test_unknown_address_gets_no_access(browser, app, idp):
    page = browser.new_page()
    _sso_sign_in(page, app, idp, STRANGER)
    page.get_by_text(f"You are signed in as {STRANGER}").wait_for(timeout=30_000)
    page.get_by_text("has no role in this workbench").wait_for(timeout=30_000)
    assert _signed_in(page).count() == 0
    for path in ("/", "/data", "/segments"):  # every URL: the same message, no tables, no navigation
        page.goto(app.url + path)
        _idle(page)
        page.get_by_text("has no role in this workbench").wait_for(timeout=30_000)
        assert page.get_by_role("tab", name="Browse tables").count() == 0
        assert page.get_by_role("link", name="Data").count() == 0
        _no_exception(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name=SSO_BUTTON).wait_for(timeout=30_000)
    _idle(page)
    page.close()


def test_unverified_address_gets_no_access(browser, app, idp):
    """A provider that says the address is not verified: not enough to take the analyst's role."""
    page = browser.new_page()
    _sso_sign_in(page, app, idp, ANALYST, email_verified=False)
    page.get_by_text("not verified").wait_for(timeout=30_000)
    assert _signed_in(page).count() == 0
    page.goto(app.url + "/data")
    _idle(page)
    assert page.get_by_role("tab", name="Browse tables").count() == 0
    assert page.get_by_role("tab", name="SQL console").count() == 0
    _no_exception(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name=SSO_BUTTON).wait_for(timeout=30_000)
    page.close()


def test_oidc_sign_ins_are_in_the_audit_log(browser, app, idp):
    """Every OIDC sign-in, sign-out and refusal is logged; an admin signed in by OIDC may read the log.

    Does its own sign-ins (so it also passes alone), then stops the app and reads the log through core:
    keep it the last test of this module."""
    for email, verified in ((STRANGER, True), (ANALYST, False)):
        page = browser.new_page()  # a new browser context: no cookie from the other tests
        _sso_sign_in(page, app, idp, email, email_verified=verified)
        page.get_by_role("button", name="Sign out").wait_for(timeout=30_000)
        assert _signed_in(page).count() == 0
        page.close()
    page = browser.new_page()
    _sso_sign_in(page, app, idp, ANALYST)
    _wait_signed_in(page, app)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name=SSO_BUTTON).wait_for(timeout=30_000)
    page.close()

    page = browser.new_page()
    _sso_sign_in(page, app, idp, ADMIN)
    _wait_signed_in(page, app)
    page.get_by_role("link", name="Data").first.click()
    _idle(page)
    page.get_by_role("tab", name="Audit log").click()
    _idle(page)
    _no_exception(page)
    page.close()

    # The log itself, read through core once the app has let go of the workspace file.
    app.stop()
    from core.data.workspace import close_all
    from core.workspace import Workspace

    try:
        log = Workspace(app.workspace, user="test", role="admin").audit()
    finally:
        close_all()
    rows = list(log[["user", "role", "action", "detail"]].itertuples(index=False, name=None))
    assert ("ana", "analyst", "login", f"OIDC {ANALYST}") in rows
    assert ("ana", "analyst", "logout", "oidc") in rows
    assert ("maria", "admin", "login", f"OIDC {ADMIN}") in rows
    assert (STRANGER, "viewer", "login_failed", f"OIDC {STRANGER}: no role for this address") in rows
    assert (ANALYST, "viewer", "login_failed", f"OIDC {ANALYST}: address not verified") in rows
