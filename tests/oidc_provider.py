"""A small OpenID Connect provider for offline tests of Streamlit's `st.login`.

It runs a threaded `http.server` on 127.0.0.1 (a free port) and implements just enough of OIDC's
authorization-code flow for Authlib, which Streamlit uses: discovery, `/authorize` (no login
screen: it redirects straight back with a code and the caller's state), `/token` (checks the
client's credentials, the code, the redirect URI and the PKCE verifier, and returns an access
token and an RS256-signed id_token carrying the nonce), `/jwks`, `/userinfo` and `/logout`.

The RSA key is generated per provider with `cryptography`; tokens are signed with `joserfc`,
the JOSE library that Authlib itself depends on (no extra dependency). The test chooses who
signs in by setting `provider.email` (and `name`, `email_verified`) before the redirect.

    with MockOIDCProvider(client_id="wb", client_secret="s3cret") as idp:
        idp.email = "ana@example.com"
        ... idp.discovery_url ...
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

KEY_ID = "mock-oidc-1"


@dataclass
class _Grant:
    """What /authorize remembered for one code, to check at /token."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    claims: dict[str, Any]


@dataclass
class MockOIDCProvider:
    """An OIDC provider on http://127.0.0.1:<free port>; use it as a context manager."""

    client_id: str
    client_secret: str
    email: str = "someone@example.com"
    name: str = "Some One"
    email_verified: bool = True
    requests: list[str] = field(default_factory=list)  # "GET /authorize", ... in order
    errors: list[str] = field(default_factory=list)  # why a request was refused
    logins: list[dict[str, Any]] = field(default_factory=list)  # id_token claims handed out

    def __post_init__(self) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key = RSAKey.import_key(private, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MockOIDCProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-oidc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MockOIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start the provider first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        iss = self.issuer
        return {
            "issuer": iss,
            "authorization_endpoint": iss + "/authorize",
            "token_endpoint": iss + "/token",
            "jwks_uri": iss + "/jwks",
            "userinfo_endpoint": iss + "/userinfo",
            "end_session_endpoint": iss + "/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["iss", "aud", "sub", "email", "email_verified", "name", "nonce", "iat", "exp"],
            "code_challenge_methods_supported": ["S256"],
        }

    # ------------------------------------------------------------------ the flow
    def _authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not redirect_uri:
            return self._refuse(400, f"authorize: unknown client {q.get('client_id')!r} or no redirect_uri")
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return self._refuse(400, f"authorize: response_type={q.get('response_type')!r} scope={q.get('scope')!r}")
        code = secrets.token_urlsafe(24)
        sub = "sub-" + hashlib.sha256(self.email.lower().encode()).hexdigest()[:16]
        claims = {"sub": sub, "email": self.email, "email_verified": self.email_verified, "name": self.name}
        with self._lock:
            self._grants[code] = _Grant(self.client_id, redirect_uri, q.get("nonce"), q.get("code_challenge"),
                                        q.get("code_challenge_method"), claims)
        back = {"code": code}
        if "state" in q:
            back["state"] = q["state"]
        return 302, {"Location": _with_query(redirect_uri, back)}, b""

    def _token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            raw = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = raw.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._refuse(401, "token: wrong client credentials", error="invalid_client")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if form.get("grant_type") != "authorization_code" or grant is None:
            return self._refuse(400, "token: unknown or reused code", error="invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._refuse(400, "token: redirect_uri differs from /authorize's", error="invalid_grant")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant.code_challenge_method != "S256" or digest != grant.code_challenge:
                return self._refuse(400, "token: PKCE verifier does not match", error="invalid_grant")
        now = int(time.time())
        claims = dict(grant.claims, iss=self.issuer, aud=self.client_id, iat=now, exp=now + 600)
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}, claims, self._key)
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access_token] = grant.claims
            self.logins.append(claims)
        body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 600,
                "id_token": id_token, "scope": "openid email profile"}
        return _json(200, body)

    def _userinfo(self, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        token = (authorization or "")[7:] if (authorization or "").lower().startswith("bearer ") else ""
        with self._lock:
            claims = self._access.get(token)
        if claims is None:
            return self._refuse(401, "userinfo: unknown access token", error="invalid_token")
        return _json(200, claims)

    def _refuse(self, status: int, why: str, error: str = "invalid_request") -> tuple[int, dict[str, str], bytes]:
        self.errors.append(why)
        return _json(status, {"error": error, "error_description": why})

    def handle(self, method: str, path: str, query: dict[str, str], form: dict[str, str],
               headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(f"{method} {path}")
        if method == "GET" and path == "/.well-known/openid-configuration":
            return _json(200, self.metadata())
        if method == "GET" and path == "/jwks":
            return _json(200, {"keys": [self._key.as_dict(private=False)]})
        if method == "GET" and path == "/authorize":
            return self._authorize(query)
        if method == "POST" and path == "/token":
            return self._token(form, headers.get("authorization"))
        if path == "/userinfo":
            return self._userinfo(headers.get("authorization"))
        if method == "GET" and path == "/logout":
            target = query.get("post_logout_redirect_uri")
            if target:
                return 302, {"Location": target}, b""
            return 200, {"Content-Type": "text/plain"}, b"signed out"
        return self._refuse(404, f"no route {method} {path}", error="not_found")


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit(parts._replace(query=query))


def _single(values: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in values.items() if v}


def _handler_for(provider: MockOIDCProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            form: dict[str, str] = {}
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                form = _single(parse_qs(self.rfile.read(length).decode()))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, out_headers, body = provider.handle(method, url.path, _single(parse_qs(url.query)),
                                                            form, headers)
            except Exception as e:  # a bug in the mock: say so to the test, answer 500
                provider.errors.append(f"{method} {url.path}: {type(e).__name__}: {e}")
                status, out_headers, body = _json(500, {"error": "server_error"})
            self.send_response(status)
            for k, v in out_headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    return Handler
