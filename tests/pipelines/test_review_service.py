"""``residua serve``: sign-in, roles, CSRF, rate limiting, a trusted proxy, the store, the users CLI.

The app runs in-process under Starlette's TestClient; the store is SQLite in ``tmp_path`` (and
PostgreSQL from ``RESIDUA_TEST_POSTGIS_URL`` where marked, skipped without it).
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from starlette.testclient import TestClient

from residua.assets.estimates import reviews as reviews_asset
from residua.assets.resources import Postgis
from residua.geodata.accounts import hash_password
from residua.geodata.review_store import ReviewStore
from residua.geodata.reviews import REVIEWS_FILE, append_review
from residua.models.ranking import rank_sites
from residua.pipelines.cli import main
from residua.pipelines.cli_serve import exposure_warnings
from residua.pipelines.review_service import ServiceSettings, create_app
from tests.drops import bare_drop
from tests.geodata.test_postgis import require_postgis_url
from tests.geodata.test_review_store import postgres_store
from tests.test_review_browser import TIMEOUT_MS, browser, save_screenshot  # noqa: F401 (browser: a fixture)
from tests.test_review_page import write_inventory

PASSWORD = "a long passphrase"
USERS = {"boss": "admin", "a.rao": "reviewer", "b.singh": "reviewer", "v.iew": "viewer"}
PROXY = "10.0.0.5"


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Team:
    """A published inventory, its drop, a store with four users and the app serving them."""

    out: Path
    drop: Path
    store: ReviewStore
    settings: ServiceSettings

    def client(self, address: str = "127.0.0.1") -> TestClient:
        app = create_app(self.out, self.store, self.drop / REVIEWS_FILE, self.settings)
        return TestClient(app, client=(address, 40000), follow_redirects=False)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("published")
    (root / "drop").mkdir()
    write_inventory(root / "out", data_dir=root / "drop")
    return root / "out", root / "drop"


def _team(published: tuple[Path, Path], store: ReviewStore, **settings: object) -> Team:
    for name, role in USERS.items():
        store.add_user(name, role, _password_hash(), "test")
    defaults = {"trusted_proxies": (PROXY,), "proxy_user_header": "X-Remote-User"}
    return Team(*published, store, ServiceSettings(**{**defaults, **settings}))  # type: ignore[arg-type]


@pytest.fixture
def team(published, tmp_path) -> Iterator[Team]:
    store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
    yield _team(published, store)
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_team(request, published, tmp_path) -> Iterator[Team]:
    if request.param == "sqlite":
        store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
        yield _team(published, store)
        store.close()
    else:
        with postgres_store(require_postgis_url()) as store:
            yield _team(published, store)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def signed_in(team: Team, name: str, address: str = "127.0.0.1") -> tuple[TestClient, str]:
    """A client signed in as ``name`` and its session's CSRF token."""
    client = team.client(address)
    assert sign_in(client, name).status_code == 303
    return client, client.get("/api/session").json()["csrf_token"]


def decision(**overrides: str) -> dict[str, str]:
    return {"site_id": "RM-001", "decision": "exclude", "note": "pond capped in 2019", **overrides}


def test_everything_needs_a_sign_in(team):
    client = team.client()
    page = client.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert client.get("/api/reviews").status_code == 401
    assert client.post("/api/reviews", json=decision()).status_code == 401
    assert client.get("/healthz").text == "ok"
    assert len(team.store.decisions()) == 0


def test_sign_in_sets_an_httponly_samesite_session_cookie_and_serves_the_page(team):
    client = team.client()
    reply = sign_in(client, "a.rao")
    assert reply.status_code == 303 and reply.headers["location"] == "/"
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("residua_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain HTTP here
    page = client.get("/")
    assert page.status_code == 200 and 'window.RESIDUA_SERVER = {"api": "/api/reviews"}' in page.text
    assert (
        '"user": "a.rao", "role": "reviewer"' in page.text
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert "#review-form{display:none}" not in page.text  # reviewers get the form
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


def test_cookies_are_secure_behind_a_tls_proxy_only_when_it_is_trusted(team):
    trusted = team.client(PROXY)
    form = trusted.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in form.headers["set-cookie"]
    assert form.headers["strict-transport-security"].startswith("max-age=")
    spoofed = team.client("10.0.0.9").get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in spoofed.headers["set-cookie"] and "strict-transport-security" not in spoofed.headers


def test_wrong_passwords_and_forged_login_forms_are_refused(team):
    client = team.client()
    assert sign_in(client, "a.rao", "not the password").status_code == 401
    assert sign_in(client, "nobody", PASSWORD).status_code == 401
    forged = team.client().post("/login", data={"name": "a.rao", "password": PASSWORD, "csrf_token": "guess"})
    assert forged.status_code == 403 and "residua_session" not in forged.headers.get("set-cookie", "")
    assert client.get("/api/session").status_code == 401


def test_a_viewer_reads_but_cannot_post(team):
    client, csrf = signed_in(team, "v.iew")
    assert client.get("/api/reviews").status_code == 200
    assert "#review-form{display:none}" in client.get("/").text
    reply = client.post("/api/reviews", json=decision(), headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 403 and "v.iew is a viewer" in reply.json()["error"]
    assert len(team.store.decisions()) == 0


def test_a_reviewer_decision_is_stored_under_the_signed_in_name(any_team):
    client, csrf = signed_in(any_team, "a.rao")
    reply = client.post("/api/reviews", json=decision(reviewer="b.singh", note="<script>x</script>"),
                        headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert reply.status_code == 201, reply.text
    assert reply.json()["row"]["reviewer"] == "a.rao" and reply.json()["row"]["run_id"] == "r-1"
    stored = any_team.store.decisions()
    assert stored[["site_id", "decision", "reviewer", "run_id"]].values.tolist() == [
        ["RM-001", "exclude", "a.rao", "r-1"]
    ]
    assert stored.loc[0, "note"] == "<script>x</script>"  # kept as typed; the page shows it as text
    assert reply.json()["reviews"]["latest"]["RM-001"]["reviewer"] == "a.rao"
    seen = client.post("/api/reviews", json=decision(decision="accept"),
                       headers={"X-CSRF-Token": csrf, "X-Residua-Run": "release-2026-11"})  # fmt: skip
    assert seen.status_code == 201 and any_team.store.decisions()["run_id"].tolist() == ["r-1", "release-2026-11"]


def test_conflicting_decisions_of_two_reviewers_supersede_and_both_stay(any_team):
    rao, rao_csrf = signed_in(any_team, "a.rao")
    singh, singh_csrf = signed_in(any_team, "b.singh")
    assert (
        rao.post("/api/reviews", json=decision(decision="accept"), headers={"X-CSRF-Token": rao_csrf}).status_code
        == 201
    )
    last = singh.post("/api/reviews", json=decision(), headers={"X-CSRF-Token": singh_csrf})
    assert last.status_code == 201
    history = rao.get("/api/reviews").json()["reviews"]
    assert [(r["reviewer"], r["decision"]) for r in history["rows"]] == [("a.rao", "accept"), ("b.singh", "exclude")]
    assert history["latest"]["RM-001"]["decision"] == "exclude"
    stored = any_team.store.decisions()
    assert stored["supersedes"].tolist()[1] == stored["id"].tolist()[0]


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_post_without_this_sessions_csrf_token_is_refused(team, token):
    client, _ = signed_in(team, "a.rao")
    headers = {"X-CSRF-Token": token} if token else {}
    reply = client.post("/api/reviews", json=decision(), headers=headers)
    assert reply.status_code == 403 and "CSRF token" in reply.json()["error"]
    assert len(team.store.decisions()) == 0


def test_a_cookie_of_one_user_cannot_act_with_another_users_token(team):
    rao, _ = signed_in(team, "a.rao")
    _, singh_csrf = signed_in(team, "b.singh")
    assert rao.post("/api/reviews", json=decision(), headers={"X-CSRF-Token": singh_csrf}).status_code == 403
    assert len(team.store.decisions()) == 0


def test_posts_from_another_origin_or_site_are_refused(team):
    client, csrf = signed_in(team, "a.rao")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        reply = client.post("/api/reviews", json=decision(), headers={"X-CSRF-Token": csrf, **headers})
        assert reply.status_code == 403, headers
    assert len(team.store.decisions()) == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (decision(decision="maybe"), 400, "decision 'maybe' is not one of accept, exclude, needs-data"),
        (decision(site_id="XX-999"), 400, "site_id 'XX-999' is not in the published inventory (4 sites)"),
        (decision(note="x" * 5000), 400, "note to 4000"),
        (decision(run_id="r 1; DROP TABLE review_decisions"), 400, "is not a run id"),
        (["RM-001", "exclude"], 400, "must be a JSON object"),
    ],
)
def test_invalid_decisions_get_a_clear_error_and_write_nothing(team, body, status, message):
    client, csrf = signed_in(team, "a.rao")
    reply = client.post("/api/reviews", json=body, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == status and message in reply.json()["error"]
    assert len(team.store.decisions()) == 0


def test_bodies_are_bounded_and_must_be_json(team):
    client, csrf = signed_in(team, "a.rao")
    huge = client.post("/api/reviews", content=b'{"note": "' + b"x" * 70_000 + b'"}',
                       headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 413
    form = client.post("/api/reviews", content=b"site_id=RM-001",
                       headers={"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 415
    assert len(team.store.decisions()) == 0


def test_five_wrong_passwords_lock_the_account_for_a_while(team):
    client = team.client()
    assert [sign_in(client, "a.rao", "guess").status_code for _ in range(5)] == [401] * 5
    locked = sign_in(client, "a.rao")  # the right password, too late
    assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert "try again in 15 minute(s)" in locked.text
    assert sign_in(team.client(), "b.singh").status_code == 303  # other accounts still sign in
    events = team.store.audit()["event"].tolist()
    assert events.count("login_failed") == 5 and events.count("login_refused") == 1
    later = Team(team.out, team.drop, team.store, replace(team.settings, lockout=timedelta(milliseconds=1)))
    assert sign_in(later.client(), "a.rao").status_code == 303  # failures older than the lockout no longer count


def test_failed_logins_from_one_address_lock_that_address(published, tmp_path):
    store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
    team = _team(published, store, client_attempts=3)
    spraying = team.client("198.51.100.7")
    assert [sign_in(spraying, name, "guess").status_code for name in ("boss", "b.singh", "v.iew")] == [401] * 3
    assert sign_in(spraying, "a.rao").status_code == 429
    assert sign_in(team.client("198.51.100.8"), "a.rao").status_code == 303


def test_audit_records_logins_failed_logins_and_logouts_with_the_client_address(team):
    client = team.client(PROXY)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    failed = client.post("/login", data={"name": "a.rao", "password": "guess", "csrf_token": token},
                         headers={"X-Forwarded-For": "203.0.113.9"})  # fmt: skip
    assert failed.status_code == 401
    assert sign_in(client, "a.rao").status_code == 303
    csrf = client.get("/api/session").json()["csrf_token"]
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/api/session").status_code == 401
    audit = team.store.audit()
    rows = audit.loc[
        audit["event"].isin(["login", "login_failed", "logout"]), ["event", "user_name", "client", "detail"]
    ]
    assert rows.values.tolist() == [
        ["login_failed", "a.rao", "203.0.113.9", "wrong password"],  # the proxy's X-Forwarded-For client
        ["login", "a.rao", PROXY, "via password"],
        ["logout", "a.rao", PROXY, ""],
    ]


def test_the_proxy_user_header_is_believed_only_from_the_trusted_proxy(team):
    proxied = team.client(PROXY)
    reply = proxied.get("/api/session", headers={"X-Remote-User": "b.singh"})
    assert reply.status_code == 200 and reply.json()["user"] == "b.singh"
    csrf = reply.json()["csrf_token"]
    posted = proxied.post("/api/reviews", json=decision(), headers={"X-Remote-User": "b.singh", "X-CSRF-Token": csrf})
    assert posted.status_code == 201 and team.store.decisions()["reviewer"].tolist() == ["b.singh"]
    elsewhere = team.client("10.0.0.9").get("/api/session", headers={"X-Remote-User": "boss"})
    assert elsewhere.status_code == 401  # anyone else sending the header is not signed in by it
    stranger = team.client(PROXY).get("/api/session", headers={"X-Remote-User": "mallory"})
    assert stranger.status_code == 403 and "mallory" in stranger.json()["error"]
    audit = team.store.audit()
    assert audit.loc[audit["user_name"] == "mallory", "event"].tolist() == ["login_refused"]
    # the proxy names the user on every request: a session cookie of another user does not override it
    assert proxied.get("/api/session", headers={"X-Remote-User": "v.iew"}).json()["user"] == "v.iew"


def test_admins_manage_users_in_the_service_and_others_cannot(team):
    admin, csrf = signed_in(team, "boss")
    added = admin.post("/api/users", json={"action": "add", "name": "c.new", "role": "viewer", "password": PASSWORD},
                       headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert (
        added.status_code == 200
        and {"name": "c.new", "role": "viewer"}.items()
        <= next(u for u in added.json()["users"] if u["name"] == "c.new").items()
    )
    assert sign_in(team.client(), "c.new").status_code == 303
    reviewer, reviewer_csrf = signed_in(team, "a.rao")
    assert reviewer.get("/api/users").status_code == 403
    refused = reviewer.post(
        "/api/users", json={"action": "remove", "name": "boss"}, headers={"X-CSRF-Token": reviewer_csrf}
    )
    assert refused.status_code == 403 and "boss" in [u.name for u in team.store.users()]
    audit = admin.get("/api/audit").json()["audit"]
    assert [(row["event"], row["actor"]) for row in audit if row["user_name"] == "c.new"][-1] == ("user_added", "boss")


def test_users_cli_adds_lists_and_removes(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert main(["users", "add", "boss", "--role", "admin", "--password-stdin", "--database", url]) == 0
    assert main(["users", "add", "proxied.user", "--role", "reviewer", "--no-password", "--database", url]) == 0
    assert main(["users", "list", "--database", url]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"boss\s+admin\s+password", listing) and re.search(
        r"proxied.user\s+reviewer\s+proxy only", listing
    )
    assert main(["users", "remove", "boss", "--database", url]) == 1
    assert "last admin" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "weak", "--role", "viewer", "--password-stdin", "--database", url]) == 1
    assert "10-1024 characters" in capsys.readouterr().err
    assert main(["users", "remove", "proxied.user", "--database", url]) == 0
    store = ReviewStore(url)
    assert [u.name for u in store.users()] == ["boss"]
    audit = store.audit()
    assert audit["event"].tolist() == ["user_added", "user_added", "user_removed"]
    assert audit["actor"].str.startswith("cli:").all()
    store.close()


def test_serve_without_users_prints_how_to_add_the_first_admin(published, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    assert main(["serve", "--out", str(published[0]), "--database", url]) == 1
    assert f"users add NAME --role admin --database {url}" in capsys.readouterr().err


def test_serve_binds_localhost_unless_told_and_warns_about_plain_http(published, tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    ReviewStore(url).create().add_user("boss", "admin", _password_hash(), "test")
    calls: list[dict] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append(kwargs))
    assert main(["serve", "--out", str(published[0]), "--database", url]) == 0
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["proxy_headers"] is False
    assert "WARNING" not in capsys.readouterr().err
    assert main(["serve", "--out", str(published[0]), "--database", url, "--host", "0.0.0.0"]) == 0
    assert calls[-1]["host"] == "0.0.0.0" and "WARNING: serving on 0.0.0.0 over plain HTTP" in capsys.readouterr().err
    assert exposure_warnings("0.0.0.0", False, ("10.0.0.5",)) == []
    assert main(["serve", "--out", str(published[0]), "--database", url, "--proxy-user-header", "X-Remote-User"]) == 1


def test_a_decision_in_the_store_reaches_the_reviews_asset_and_the_ranking(tmp_path):
    drop = tmp_path / "drop"
    append_review(drop / REVIEWS_FILE, "A", "accept", "looks fine", "A. Rao")  # offline, in the drop
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "home"))
    store = ReviewStore.sqlite(Path(instance.root_directory) / "reviews.sqlite").create()
    store.record_decision("A", "exclude", "pond capped in 2019", "b.singh", "r-1")  # later, in the service
    result = reviews_asset(
        context=dg.build_asset_context(instance=instance), postgis=Postgis(), data_drop=bare_drop(drop)
    )
    assert result.history[["decision", "source"]].values.tolist() == [["accept", "reviews.csv"],
                                                                       ["exclude", "review store"]]  # fmt: skip
    estimates = pd.DataFrame({"site_id": ["A", "B"], "value_usd_p50": [10.0, 5.0], "confidence": ["G1", "G1"]})
    unreviewed = rank_sites(estimates, None).set_index("site_id")
    ranked = rank_sites(estimates, result.history).set_index("site_id")
    assert unreviewed.loc["A", "rank"] == 1
    assert pd.isna(ranked.loc["A", "rank"]) and ranked.loc["B", "rank"] == 1
    assert ranked.loc["A", "excluded_reason"] == "pond capped in 2019" and ranked.loc["A", "reviewer"] == "b.singh"
    store.close()


@pytest.fixture
def live(published, tmp_path) -> Iterator[tuple[str, Team]]:
    """The service under uvicorn on a free localhost port, for the browser."""
    import uvicorn

    team = _team(published, ReviewStore.sqlite(tmp_path / "reviews.sqlite").create())
    app = create_app(team.out, team.store, team.drop / REVIEWS_FILE, team.settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", team
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        team.store.close()


def _browser_sign_in(chromium: object, url: str, name: str) -> tuple[object, list[str]]:
    """A fresh browser context signed in as ``name`` through the form, on the review page."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(url + "/")
    page.fill("input[name='name']", name)
    page.fill("input[name='password']", PASSWORD)
    page.click("button[type='submit']")
    page.wait_for_selector("body[data-ready=true]")
    return page, errors


def _decide(page: object, site_id: str, decision: str, note: str) -> None:
    page.click(f"#site-table tr[data-site-id='{site_id}']")  # type: ignore[attr-defined]
    page.check(f"#review-form input[value='{decision}']")  # type: ignore[attr-defined]
    page.fill("#review-form textarea[name='note']", note)  # type: ignore[attr-defined]
    page.click("#review-submit")  # type: ignore[attr-defined]
    page.wait_for_selector("#review-msg.ok")  # type: ignore[attr-defined]


def test_two_reviewers_and_a_viewer_in_a_real_browser(browser, live, tmp_path):  # noqa: F811 (the fixture)
    url, team = live
    rao, rao_errors = _browser_sign_in(browser, url, "a.rao")
    singh, singh_errors = _browser_sign_in(browser, url, "b.singh")
    assert "Signed in as a.rao (reviewer)" in rao.inner_text("#residua-session")
    assert not rao.is_visible("#review-form input[name='reviewer']")  # the reviewer is the signed-in user
    _decide(rao, "ZL-003", "accept", "looks fine")
    _decide(singh, "ZL-003", "exclude", "<img src=x onerror=alert(1)> capped")
    assert "by b.singh" in singh.inner_text("#review-msg")
    stored = team.store.decisions()
    assert stored[["reviewer", "decision"]].values.tolist() == [["a.rao", "accept"], ["b.singh", "exclude"]]
    assert stored["run_id"].tolist() == ["r-1", "r-1"]  # the run of the page each reviewer was looking at
    rao.reload()
    rao.wait_for_selector("body[data-ready=true]")
    rao.click("#site-table tr[data-site-id='ZL-003']")
    rao.wait_for_selector("#evidence table.history")  # the history fetched from the service
    history = rao.inner_text("#evidence table.history")
    assert "a.rao" in history and "b.singh" in history and "<img src=x onerror=alert(1)> capped" in history
    assert rao.inner_text("#site-table tr[data-site-id='ZL-003'] td._review") == "exclude"  # the latest wins
    viewer, viewer_errors = _browser_sign_in(browser, url, "v.iew")
    viewer.click("#site-table tr[data-site-id='ZL-003']")
    assert not viewer.is_visible("#review-form") and "read-only" in viewer.inner_text("#residua-session")
    viewer.click("#residua-session button")
    viewer.wait_for_url(url + "/login")
    assert len(team.store.decisions()) == 2
    assert rao_errors == singh_errors == viewer_errors == []
    save_screenshot(rao, tmp_path, "review_service.png")
    events = team.store.audit()["event"].tolist()
    assert events.count("login") == 3 and events.count("logout") == 1
    for page in (rao, singh, viewer):
        page.context.close()
