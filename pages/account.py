"""Sign-in for a shared server (not a page: app.py calls it before the navigation).

Login is off by default (one person on localhost: user "local", role admin). It is on when
MW_USERS_FILE names a users file (name and password, argon2 hashes, core.auth) and/or when
.streamlit/secrets.toml has an [auth] section (Streamlit's own OIDC login, st.login; the e-mail
address is mapped to a role through the users file). Roles are enforced in core; this module
only asks who the visitor is.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.auth import UsersFile, authenticate, users_file_path
from core.errors import DataError
from core.roles import Role
from core.workspace import Workspace

SESSION_KEY = "mw-account"
ENTRY_KEY = "mw-entered-through-app"


def ensure_entry() -> None:
    """Send a page opened directly by URL through app.py (sign-in and navigation) first.

    On a session's very first request Streamlit may run a file of pages/ by its URL without
    app.py; this makes that impossible to use for skipping the sign-in.
    """
    if not st.session_state.get(ENTRY_KEY):
        st.session_state[WANTED_KEY] = _calling_page()
        st.switch_page("app.py")


WANTED_KEY = "mw-wanted-page"


def _calling_page() -> str | None:
    """The pages/<name>.py file that is running (so app.py can open it after sign-in)."""
    import inspect
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for frame in inspect.stack(context=0):  # no source lines needed
        path = Path(frame.filename).resolve()
        if path.parent == here and path.name not in ("account.py", "common.py", "__init__.py"):
            return f"pages/{path.name}"
    return None


@dataclass(frozen=True)
class Account:
    """Who uses this browser session."""

    user: str
    role: Role
    how: str  # "local", "password" or "oidc"


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all
        return False


def login_required() -> bool:
    """Whether visitors must sign in (a users file or OIDC is configured)."""
    return users_file_path() is not None or _oidc_configured()


def current() -> Account | None:
    """The signed-in account, the local admin when login is off, or None (not signed in yet)."""
    if not login_required():
        return Account("local", "admin", "local")
    account = st.session_state.get(SESSION_KEY)
    if isinstance(account, Account):
        return account
    if _oidc_configured() and getattr(st.user, "is_logged_in", False):
        return _from_oidc()
    return None


def _users() -> UsersFile | None:
    path = users_file_path()
    return UsersFile(path) if path else None


def _audit(account_user: str, role: Role, action: str, detail: str) -> None:
    try:
        Workspace(user=account_user, role=role).record(action, detail=detail)
    except DataError:
        pass  # a workspace that cannot open says so on the page itself


REFUSED_KEY = "mw-oidc-refused"


def _email_unverified() -> bool:
    """Whether the provider says the address is not verified (absent claim: trust the provider)."""
    verified = getattr(st.user, "email_verified", None)
    return verified is False or (isinstance(verified, str) and verified.strip().lower() == "false")


def _refuse_oidc(email: str, message: str, reason: str) -> None:
    """Say why this account gets no access, log it once per session, offer sign-out, stop."""
    if st.session_state.get(REFUSED_KEY) != (email, reason):
        st.session_state[REFUSED_KEY] = (email, reason)
        _audit((email or "(no e-mail)")[:64], "viewer", "login_failed", f"OIDC {email}: {reason}"[:200])
    st.error(message)
    if st.button("Sign out", key="oidc-logout"):
        st.logout()
    st.stop()


def _from_oidc() -> Account | None:
    email = str(getattr(st.user, "email", "") or "")
    if email and _email_unverified():
        # An unverified address proves nothing: anyone could have typed an admin's address.
        _refuse_oidc(
            email,
            f"You are signed in as {email}, but your identity provider says that address is not verified, "
            "so it cannot be matched to a role here. Verify it with your provider, then sign in again.",
            "address not verified",
        )
    users = _users()
    user = users.user_for_email(email) if users and email else None
    if user is None:
        _refuse_oidc(
            email,
            f"You are signed in as {email or 'an account without an e-mail address'}, but that address has "
            "no role in this workbench. Ask an admin to add it: "
            "`python -m core.auth add-user NAME --role viewer --email ADDRESS`.",
            "no role for this address",
        )
    assert user is not None
    account = Account(user.name, user.role, "oidc")
    st.session_state[SESSION_KEY] = account
    st.session_state.pop(REFUSED_KEY, None)
    _audit(user.name, user.role, "login", f"OIDC {email}")
    return account


def login_page() -> None:
    """The sign-in form (and the OIDC button when configured)."""
    st.title("Marketing Workbench")
    st.caption("This workbench is shared: sign in to use it.")
    if _oidc_configured():
        if st.button("Sign in with your organisation's account", type="primary", key="oidc-login"):
            st.login()
    users = _users()
    if users is None:
        return
    with st.form("login"):
        name = st.text_input("User name", key="login-name")
        password = st.text_input("Password", type="password", key="login-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            user = authenticate(users, name, password)
        except DataError as e:
            _audit(name[:64] or "(blank)", "viewer", "login_failed", str(e)[:200])
            st.error(str(e))
            return
        st.session_state[SESSION_KEY] = Account(user.name, user.role, "password")
        _audit(user.name, user.role, "login", "password")
        st.rerun()


def sidebar(account: Account) -> None:
    """Who is signed in, with a sign-out button (nothing when login is off)."""
    if account.how == "local":
        return
    with st.sidebar:
        st.caption(f"Signed in as **{account.user}** ({account.role})")
        if st.button("Sign out", key="logout", icon=":material/logout:"):
            _audit(account.user, account.role, "logout", account.how)
            st.session_state.pop(SESSION_KEY, None)
            if account.how == "oidc":
                # st.logout() queues a redirect to /auth/logout (then the provider's end_session_endpoint);
                # st.rerun() would clear the queue before it reaches the browser (the queue keeps only
                # lifecycle messages across a rerun), so the run ends here and the redirect goes out.
                st.logout()
                st.stop()
            st.rerun()
