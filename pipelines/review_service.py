"""``residua serve``: the review page for a team, behind sign-in, with roles and an audit trail.

A Starlette app (:func:`create_app`, served by uvicorn) around a :class:`~residua.geodata.review_store.ReviewStore`:

- ``GET /login``, ``POST /login`` (form: ``name``, ``password``, ``csrf_token``), ``POST /logout``;
- ``GET /`` (or ``/report.html``): the review page of ``residua review``, for any signed-in user,
  with the decision form for reviewers and admins;
- ``GET /api/reviews``: the history (the store's decisions and the drop's ``reviews.csv``);
  ``POST /api/reviews`` (JSON ``site_id``, ``decision``, ``note``; optional ``run_id``): one decision,
  recorded under the signed-in user's name, for reviewers and admins;
- ``GET /api/session``: who is signed in, their role and CSRF token;
- ``GET /api/users``, ``POST /api/users`` (JSON ``action`` add / remove / role), ``GET /api/audit``: admins only;
- ``GET /healthz`` for the proxy.

Sessions are server-side (the cookie holds a random token, HttpOnly, SameSite=Lax, Secure on
HTTPS, i.e. TLS here or ``X-Forwarded-Proto: https`` from a trusted proxy, or always with
``secure_cookies``). Every POST needs the session's CSRF token (``X-CSRF-Token`` header or a
``csrf_token`` form field; the login form a double-submit cookie) and is refused from other
origins. Failed logins are counted in the audit table per account and per client address;
past the limits, logins are refused for ``lockout``. An authenticating reverse proxy may name
the user in ``proxy_user_header``, honoured only from ``trusted_proxies``; such users still need
an account here (their role). Request bodies are bounded; decisions are validated as by
``residua review``.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from residua.geodata.accounts import AccountError, check_user_name, hash_password, may, needs_rehash, verify_password
from residua.geodata.review_page import CONTENT_SECURITY_POLICY, SERVED_SLOT, mark_served, read_run_metadata
from residua.geodata.review_store import ReviewStore, ReviewStoreError, merge_reviews
from residua.geodata.reviews import ReviewError, latest_decisions, read_reviews
from residua.pipelines.review_server import MAX_BODY_BYTES, ReviewServerError, ReviewSite, validate_decision

API = "/api/reviews"
SESSION_COOKIE = "residua_session"
LOGIN_COOKIE = "residua_login"
MAX_FORM_BYTES = 8 * 1024
#: Run ids as recorded with a decision: what ``run_metadata`` holds (a Dagster run id) or a release name.
RUN_ID = re.compile(r"^[A-Za-z0-9._:+-]{1,100}$")
BASE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}
PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


@dataclass(frozen=True)
class ServiceSettings:
    """How the service authenticates and protects sign-in.

    Parameters
    ----------
    trusted_proxies : tuple of str
        Addresses or networks (``10.0.0.5``, ``10.0.0.0/24``) of reverse proxies whose
        ``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``proxy_user_header`` are believed.
    proxy_user_header : str, optional
        Header in which a trusted authenticating proxy names the signed-in user (e.g. ``X-Remote-User``).
    secure_cookies : bool
        Mark cookies Secure on every request (else only on HTTPS).
    session_lifetime, lockout : timedelta
        How long a session lasts; how long failed logins count and a locked login stays locked.
    account_attempts, client_attempts : int
        Failed logins within ``lockout`` after which an account, or a client address, is locked.
    """

    trusted_proxies: tuple[str, ...] = ()
    proxy_user_header: str | None = None
    secure_cookies: bool = False
    session_lifetime: timedelta = timedelta(hours=12)
    lockout: timedelta = timedelta(minutes=15)
    account_attempts: int = 5
    client_attempts: int = 20


@dataclass(frozen=True)
class Identity:
    """The signed-in user of a request; ``new_token`` is a session to set as the cookie (proxy sign-in)."""

    user: str
    role: str
    csrf: str
    token: str | None = None
    new_token: str | None = None


class Refusal(Exception):
    """A request refused with an HTTP status and a message saying what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    out_dir: Path, store: ReviewStore, reviews_csv: Path | None = None, settings: ServiceSettings | None = None
) -> Starlette:
    """The review service for the inventory published in ``out_dir``, keeping decisions in ``store``.

    Parameters
    ----------
    out_dir : Path
        Output folder of a run (``inventory.gpkg``, ``report.html``).
    store : ReviewStore
        Decisions, users, sessions and audit; created here if its tables are missing.
    reviews_csv : Path, optional
        A drop's ``reviews.csv`` whose decisions are shown in the history beside the store's.
    settings : ServiceSettings, optional

    Raises
    ------
    ReviewServerError
        If ``out_dir`` holds no inventory or a trusted proxy is not an address.
    """
    service = _Service(out_dir.resolve(), store.create(), reviews_csv, settings or ServiceSettings())

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    routes = [
        Route("/login", service.login_page, methods=["GET"]),
        Route("/login", service.login, methods=["POST"]),
        Route("/logout", service.logout, methods=["POST"]),
        Route("/", service.page, methods=["GET"]),
        Route("/report.html", service.page, methods=["GET"]),
        Route(API, service.history, methods=["GET"]),
        Route(API, service.decide, methods=["POST"]),
        Route("/api/session", service.whoami, methods=["GET"]),
        Route("/api/users", service.list_users, methods=["GET"]),
        Route("/api/users", service.change_users, methods=["POST"]),
        Route("/api/audit", service.audit, methods=["GET"]),
        Route("/healthz", lambda _request: PlainTextResponse("ok"), methods=["GET"]),
    ]
    handlers = {Refusal: _refusal_response, ReviewStoreError: _store_error_response, ReviewError: _store_error_response}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.add_middleware(_SecurityHeaders, is_secure=service.is_secure)
    return app


class _Service:
    """The endpoints and what they share: the published site, the store and the settings."""

    def __init__(self, out_dir: Path, store: ReviewStore, reviews_csv: Path | None, settings: ServiceSettings) -> None:
        gpkg = out_dir / "inventory.gpkg"
        if not gpkg.is_file():
            raise ReviewServerError(
                f"{gpkg} does not exist; publish an inventory first with `residua run --out {out_dir}`"
            )
        self.site = ReviewSite(out_dir, reviews_csv or out_dir / "reviews.csv", quiet=True)
        self.store = store
        self.reviews_csv = reviews_csv
        self.settings = settings
        try:
            self.networks = tuple(ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies)
        except ValueError as error:
            raise ReviewServerError(f"trusted proxy: {error}; give addresses or networks such as 10.0.0.5 or "
                                    "10.0.0.0/24") from None  # fmt: skip
        self._run: tuple[int, str] | None = None

    # -- pages ------------------------------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        """The sign-in form, with a fresh double-submit CSRF cookie."""
        return self._login_form(request, "")

    async def login(self, request: Request) -> Response:
        """Check name and password (rate-limited); start a session and go to the page."""
        self._refuse_cross_site(request)
        try:
            form = _form(await _body(request, MAX_FORM_BYTES))
        except Refusal as refusal:
            return self._login_form(request, str(refusal), refusal.status)
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(form.get("csrf_token", ""), cookie):
            return self._login_form(request, "This sign-in form has expired; sign in again.", 403)
        name, password = form.get("name", "").strip(), form.get("password", "")
        outcome, value = await run_in_threadpool(self._check_login, name, password, self.client_address(request))
        if outcome == "locked":
            minutes = max(1, round(value / 60))  # type: ignore[operator]
            response = self._login_form(request, f"Too many failed sign-ins for this account or address; try "
                                        f"again in {minutes} minute(s), or ask an admin.", 429)  # fmt: skip
            response.headers["Retry-After"] = str(int(value))  # type: ignore[call-overload]
            return response
        if outcome == "failed":
            return self._login_form(request, "Wrong name or password.", 401)
        response = RedirectResponse("/", status_code=303)
        self._set_session_cookie(request, response, str(value))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (a POST with its CSRF token) and return to the sign-in form."""
        identity = await self._identity(request)
        if identity is None:
            return RedirectResponse("/login", status_code=303)
        body = await _body(request, MAX_FORM_BYTES)
        self._check_post(request, identity, _form(body).get("csrf_token"))
        if identity.token is not None:
            await run_in_threadpool(self.store.close_session, identity.token, self.client_address(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def page(self, request: Request) -> Response:
        """The review page; the decision form only for reviewers and admins."""
        identity = await self._identity(request)
        if identity is None:
            return RedirectResponse("/login", status_code=303)
        page, run_id = await run_in_threadpool(lambda: (self.site.page().decode("utf-8"), self.run_id()))
        marker = mark_served(SERVED_SLOT, API)
        page = page.replace(marker, marker + _session_script(identity, run_id), 1)
        response = HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})
        return self._finish(request, response, identity)

    # -- API --------------------------------------------------------------------------------------------------

    async def history(self, request: Request) -> Response:
        """Every decision (store and drop CSV) and the one in force per site."""
        identity = await self._require(request, "viewer")
        return self._finish(request, JSONResponse({"reviews": await run_in_threadpool(self.history_payload)}), identity)

    async def decide(self, request: Request) -> Response:
        """Record one decision under the signed-in reviewer's name."""
        identity = await self._require(request, "viewer")
        self._check_post(request, identity, request.headers.get("x-csrf-token"))
        if not may(identity.role, "reviewer"):
            raise Refusal(403, f"{identity.user} is a {identity.role}: only reviewers and admins record decisions; "
                               f"an admin can run `residua users role {identity.user} reviewer`")  # fmt: skip
        body = await _json_body(request)
        try:
            fields = validate_decision({**body, "reviewer": identity.user} if isinstance(body, dict) else body,
                                       await run_in_threadpool(self.site.site_ids))  # fmt: skip
        except ReviewError as error:
            raise Refusal(400, str(error)) from None
        given = body.get("run_id") if isinstance(body.get("run_id"), str) else ""
        given = (given or request.headers.get("x-residua-run", "")).strip()  # the run the reviewer was looking at
        if given and not RUN_ID.fullmatch(given):
            raise Refusal(400, f"run_id {given[:120]!r} is not a run id (1-100 letters, digits or ._:+-)")
        run_id = given or (await run_in_threadpool(self.run_id))[:200]
        row = await run_in_threadpool(self.store.record_decision, fields["site_id"], fields["decision"],
                                      fields["note"], identity.user, run_id)  # fmt: skip
        reply = {"row": {key: "" if value is None else str(value) for key, value in row.items()},
                 "reviews": await run_in_threadpool(self.history_payload)}  # fmt: skip
        return self._finish(request, JSONResponse(reply, status_code=201), identity)

    async def whoami(self, request: Request) -> Response:
        """The signed-in user, their role and the CSRF token for API clients."""
        identity = await self._require(request, "viewer")
        reply = {"user": identity.user, "role": identity.role, "csrf_token": identity.csrf}
        return self._finish(request, JSONResponse(reply), identity)

    async def list_users(self, request: Request) -> Response:
        """Every account (admins only)."""
        identity = await self._require(request, "admin")
        users = await run_in_threadpool(self.store.users)
        rows = [{"name": u.name, "role": u.role, "password": u.has_password, "created_utc": u.created_utc.isoformat()}
                for u in users]  # fmt: skip
        return self._finish(request, JSONResponse({"users": rows}), identity)

    async def change_users(self, request: Request) -> Response:
        """Add a user, remove one or change a role (admins only; JSON ``action``, ``name``, ``role``, ``password``)."""
        identity = await self._require(request, "admin")
        self._check_post(request, identity, request.headers.get("x-csrf-token"))
        body = await _json_body(request)
        if not isinstance(body, dict) or not all(isinstance(body.get(k, ""), str) for k in ("action", "name", "role")):
            raise Refusal(400, "send a JSON object with text fields action (add, remove, role), name and role")
        action, name, client = body.get("action", ""), body.get("name", ""), self.client_address(request)
        try:
            if action == "add":
                password = body.get("password")
                digest = hash_password(password) if isinstance(password, str) else None
                await run_in_threadpool(self.store.add_user, name, body.get("role", ""), digest, identity.user, client)
            elif action == "remove":
                await run_in_threadpool(self.store.remove_user, name, identity.user, client)
            elif action == "role":
                await run_in_threadpool(self.store.set_role, name, body.get("role", ""), identity.user, client)
            else:
                raise Refusal(400, f"action {action!r} is not one of add, remove, role")
        except (AccountError, ReviewStoreError) as error:
            raise Refusal(400, str(error)) from None
        return await self.list_users(request)

    async def audit(self, request: Request) -> Response:
        """The latest 1000 audit rows, newest first (admins only)."""
        identity = await self._require(request, "admin")
        table = await run_in_threadpool(self.store.audit)
        rows = table.tail(1000).iloc[::-1].assign(timestamp=lambda t: t["timestamp"].map(_iso))
        return self._finish(request, JSONResponse({"audit": rows.astype(str).to_dict("records")}), identity)

    # -- shared -----------------------------------------------------------------------------------------------

    def history_payload(self) -> dict[str, object]:
        """The history as the page's script reads it (``rows``, ``latest``, ``quarantined``, ``source``)."""
        csv_rows, rejects = read_reviews(self.reviews_csv) if self.reviews_csv is not None else (pd.DataFrame(), [])
        history = merge_reviews(csv_rows, self.store.decisions())
        history = history.assign(timestamp=history["timestamp"].map(_iso))
        latest = latest_decisions(history) if len(history) else pd.DataFrame()
        source = self.store.description + (f" and {self.reviews_csv}" if self.reviews_csv is not None else "")
        return {
            "source": source,
            "path": str(self.reviews_csv or ""),
            "rows": [{key: str(value) for key, value in row.items()} for row in history.to_dict("records")],
            "latest": {str(site): {k: str(v) for k, v in row.items()} for site, row in latest.iterrows()},
            "quarantined": len(rejects),
        }

    def run_id(self) -> str:
        """The run id recorded in the published inventory (re-read when the file changes)."""
        stamp = self.site.gpkg.stat().st_mtime_ns
        if self._run is None or self._run[0] != stamp:
            self._run = (stamp, read_run_metadata(self.site.gpkg).get("run_id", ""))
        return self._run[1]

    def client_address(self, request: Request) -> str:
        """The client's address: the peer, or behind trusted proxies the nearest untrusted X-Forwarded-For hop."""
        peer = request.client.host if request.client else ""
        if not self._trusted(peer):
            return peer
        hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop if _is_address(hop) else peer
        return peer

    def is_secure(self, request: Request) -> bool:
        """Whether the client reached us over HTTPS (directly, or as a trusted proxy says)."""
        if self.settings.secure_cookies or request.url.scheme == "https":
            return True
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https" and self._from_proxy(request)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def _from_proxy(self, request: Request) -> bool:
        return self._trusted(request.client.host if request.client else "")

    async def _identity(self, request: Request) -> Identity | None:
        return await run_in_threadpool(self._identify, request)

    def _identify(self, request: Request) -> Identity | None:
        token = request.cookies.get(SESSION_COOKIE)
        session = self.store.session(token)
        header = self.settings.proxy_user_header
        named = request.headers.get(header, "").strip() if header and self._from_proxy(request) else ""
        if named:
            if session is not None and session.user == named:
                return Identity(session.user, session.role, session.csrf_token, token)
            found = self.store.credentials(named)
            if found is None:
                self.store.record("login_refused", named, self.client_address(request), "proxy",
                                  f"{header} names no Residua user")  # fmt: skip
                raise Refusal(403, f"{named!r} has no Residua account; an admin can run "
                                   f"`residua users add {named!r} --role viewer --no-password`")  # fmt: skip
            new_token, csrf = self.store.open_session(named, "proxy", self.client_address(request),
                                                      self.settings.session_lifetime)  # fmt: skip
            return Identity(named, found[0].role, csrf, new_token, new_token)
        if session is None:
            return None
        return Identity(session.user, session.role, session.csrf_token, token)

    async def _require(self, request: Request, role: str) -> Identity:
        identity = await self._identity(request)
        if identity is None:
            raise Refusal(401, "sign in first at /login")
        if not may(identity.role, role):
            raise Refusal(403, f"{identity.user} is a {identity.role}; this needs the {role} role")
        return identity

    def _check_post(self, request: Request, identity: Identity, token: str | None) -> None:
        """Refuse a state change from another site or without this session's CSRF token."""
        self._refuse_cross_site(request)
        if not token or not hmac.compare_digest(token, identity.csrf):
            raise Refusal(403, "the CSRF token is missing or wrong; reload the page (API clients: send the "
                               "csrf_token of GET /api/session as X-CSRF-Token)")  # fmt: skip

    def _refuse_cross_site(self, request: Request) -> None:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Refusal(403, "state changes are accepted only from this service's own pages")
        origin = request.headers.get("origin")
        if origin is not None:
            hosts = {request.headers.get("host", "")}
            if self._from_proxy(request):
                hosts.add(request.headers.get("x-forwarded-host", "").split(",")[0].strip())
            if urlsplit(origin).netloc not in hosts:
                raise Refusal(403, f"state changes are accepted only from this service's pages, not from {origin}")

    def _check_login(self, name: str, password: str, client: str) -> tuple[str, object]:
        """("ok", session token), ("failed", None) or ("locked", seconds until retry); audited."""
        settings, now = self.settings, datetime.now(UTC)
        account, address = self.store.failed_logins(now - settings.lockout, name, client)
        limits = ((account, settings.account_attempts), (address, settings.client_attempts))
        waits = [failures[-limit] + settings.lockout - now for failures, limit in limits if len(failures) >= limit]
        if waits:
            self.store.record("login_refused", name, client, "", "too many failed logins")
            return "locked", max(wait.total_seconds() for wait in waits)
        try:
            found = self.store.credentials(check_user_name(name))
        except AccountError:
            found = None
        user, digest = found if found is not None else (None, None)
        if user is None or digest is None or not verify_password(digest, password):
            if digest is None:
                verify_password(None, password)  # a missing user costs as long as a wrong password
            reason = "no such user" if user is None else ("proxy sign-in only" if digest is None else "wrong password")
            self.store.record("login_failed", name, client, "", reason)
            return "failed", None
        if needs_rehash(digest):
            self.store.set_password(user.name, hash_password(password), user.name, client, end_sessions=False)
        token, _ = self.store.open_session(user.name, "password", client, settings.session_lifetime)
        return "ok", token

    def _login_form(self, request: Request, message: str, status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        response = HTMLResponse(_login_html(message, token), status_code=status)
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict",
                            secure=self.is_secure(request))  # fmt: skip
        return response

    def _set_session_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(SESSION_COOKIE, token, max_age=int(self.settings.session_lifetime.total_seconds()),
                            path="/", httponly=True, samesite="lax", secure=self.is_secure(request))  # fmt: skip

    def _finish(self, request: Request, response: Response, identity: Identity) -> Response:
        if identity.new_token is not None:
            self._set_session_cookie(request, response, identity.new_token)
        return response


class _SecurityHeaders:
    """ASGI middleware: the headers of :data:`BASE_HEADERS` on every response, HSTS on HTTPS."""

    def __init__(self, app: ASGIApp, is_secure: Callable[[Request], bool]) -> None:
        self.app = app
        self.is_secure = is_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        secure = self.is_secure(Request(scope))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in BASE_HEADERS.items():
                    headers.setdefault(key, value)
                if secure:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 beyond ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refusal(413, f"the request body is limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refusal(413, f"the request body is limited to {limit} bytes")
    return bytes(body)


async def _json_body(request: Request) -> object:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise Refusal(415, "send the body as application/json")
    try:
        return json.loads(await _body(request, MAX_BODY_BYTES))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Refusal(400, f"the body is not valid JSON ({getattr(error, 'msg', error)})") from None


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "the form could not be read; send it from the sign-in page") from None
    return {key: values[0] for key, values in fields.items()}


def _session_script(identity: Identity, run_id: str) -> str:
    """Who is signed in for the page's script, a fetch that adds the CSRF token and run id, a sign-out bar."""
    info = {"user": identity.user, "role": identity.role, "csrf": identity.csrf, "run": run_id,
            "reviewer": may(identity.role, "reviewer")}  # fmt: skip
    data = json.dumps(info).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    hide = "#review-form .row:has(input[name=reviewer])" + ("" if info["reviewer"] else ", #review-form")
    style = f"<style>{hide}{{display:none}}</style>"
    return f"<script>window.RESIDUA_SESSION = {data};</script><script>{_SESSION_JS}</script>{style}"


_SESSION_JS = """(function () {
  var S = window.RESIDUA_SESSION, send = window.fetch.bind(window);
  window.fetch = function (url, options) {
    options = Object.assign({}, options || {});
    if ((options.method || "GET").toUpperCase() !== "GET") {
      var headers = new Headers(options.headers || {});
      headers.set("X-CSRF-Token", S.csrf);
      if (S.run) headers.set("X-Residua-Run", S.run);
      options.headers = headers;
    }
    options.credentials = "same-origin";
    return send(url, options);
  };
  try { window.localStorage.setItem("residua.reviewer", S.user); } catch (err) { /* private mode */ }
  document.addEventListener("DOMContentLoaded", function () {
    var bar = document.createElement("form"), who = document.createElement("span");
    var token = document.createElement("input"), out = document.createElement("button");
    bar.method = "post"; bar.action = "/logout"; bar.id = "residua-session";
    bar.setAttribute("style", "position:fixed;top:4px;right:8px;z-index:10000;background:#fff;" +
      "border:1px solid #999;border-radius:3px;padding:2px 6px;font:12px sans-serif");
    who.textContent = "Signed in as " + S.user + " (" + S.role + (S.reviewer ? "" : ", read-only") + ") ";
    token.type = "hidden"; token.name = "csrf_token"; token.value = S.csrf;
    out.type = "submit"; out.textContent = "Sign out";
    [who, token, out].forEach(function (x) { bar.appendChild(x); });
    document.body.appendChild(bar);
  });
})();"""


def _login_html(message: str, token: str) -> str:
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Residua review: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px sans-serif;max-width:22em;margin:4em auto}}label{{display:block;margin:.6em 0}}
input{{width:100%;padding:.3em}}.error{{color:#a00}}button{{margin-top:.6em;padding:.3em 1em}}</style></head>
<body><h1>Residua review</h1>{note}<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{html.escape(token)}">
<label>Name <input name="name" autocomplete="username" required maxlength="64" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>
<p><small>Screening estimates, not a compliant mineral resource statement.</small></p></body></html>"""


async def _refusal_response(request: Request, error: Exception) -> Response:
    status = getattr(error, "status", 400)
    headers = {"WWW-Authenticate": 'FormBased realm="residua"'} if status == 401 else None
    return JSONResponse({"error": str(error)}, status_code=status, headers=headers)


async def _store_error_response(request: Request, error: Exception) -> Response:
    return JSONResponse({"error": str(error)}, status_code=503)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
