"""The review store: append-only decisions that supersede, users, sessions, audit; SQLite and PostgreSQL.

PostgreSQL comes from ``RESIDUA_TEST_POSTGIS_URL`` (``make test`` / ``scripts/with-postgres.sh``);
without it those tests skip (and fail under CI), as in ``test_postgis.py``. Each uses its own schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from residua.geodata.postgis import PostgisTarget
from residua.geodata.review_store import (
    HISTORY_COLUMNS,
    ReviewStore,
    ReviewStoreError,
    default_review_store,
    merge_reviews,
    read_site_reviews,
)
from residua.geodata.reviews import append_review, latest_decisions, read_reviews
from tests.geodata.test_postgis import require_postgis_url


@contextmanager
def postgres_store(url: str) -> Iterator[ReviewStore]:
    """A store in a fresh schema of the test server, dropped afterwards."""
    schema = f"review_test_{uuid.uuid4().hex[:10]}"
    store = ReviewStore(url, schema).create()
    try:
        yield store
    finally:
        store.close()
        engine = sa.create_engine(PostgisTarget(url).sqlalchemy_url, poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Iterator[ReviewStore]:
    if request.param == "sqlite":
        sqlite = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
        yield sqlite
        sqlite.close()
    else:
        with postgres_store(require_postgis_url()) as postgres:
            yield postgres


def _raw(store: ReviewStore, sql: str) -> None:
    """Run SQL on the store's tables outside its API (as a careless client would)."""
    table = "review_decisions" if store.is_sqlite else f'"{store.schema}".review_decisions'
    with store._engine_now().begin() as connection:
        connection.exec_driver_sql(sql.format(table=table))


def test_a_new_decision_supersedes_the_one_in_force_and_both_are_kept(store):
    first = store.record_decision("RM-001", "accept", "holes fine", "a.rao", "run-1")
    second = store.record_decision("RM-001", "Exclude", " pond capped in 2019 ", "b.singh", "run-2")
    other = store.record_decision("FA-002", "needs-data", "", "a.rao", "run-2")
    assert first["supersedes"] is None and other["supersedes"] is None
    assert second["supersedes"] == first["id"]
    decisions = store.decisions()
    assert decisions[["site_id", "decision", "note", "reviewer", "run_id"]].values.tolist() == [
        ["RM-001", "accept", "holes fine", "a.rao", "run-1"],
        ["RM-001", "exclude", "pond capped in 2019", "b.singh", "run-2"],
        ["FA-002", "needs-data", "", "a.rao", "run-2"],
    ]
    assert str(decisions["timestamp"].dt.tz) == "UTC" and decisions["timestamp"].is_monotonic_increasing
    assert latest_decisions(decisions).loc["RM-001", "reviewer"] == "b.singh"


@pytest.mark.parametrize("sql", ["UPDATE {table} SET decision = 'accept'", "DELETE FROM {table}"])
def test_decisions_cannot_be_edited_or_deleted_even_with_sql(store, sql):
    store.record_decision("RM-001", "exclude", "capped", "a.rao", "run-1")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        _raw(store, sql)
    assert store.decisions()["decision"].tolist() == ["exclude"]


def test_sql_in_a_site_id_or_note_is_stored_as_text(store):
    site = "RM-001'; DROP TABLE review_decisions; --"
    note = "x'); DELETE FROM review_decisions; SELECT ('"
    store.record_decision(site, "exclude", note, "a.rao", "run-1")
    store.record_decision("FA-002", "accept", "", "a.rao", "run-1")
    decisions = store.decisions()
    assert decisions[["site_id", "note"]].values.tolist() == [[site, note], ["FA-002", ""]]  # both rows, verbatim


def test_a_clock_behind_the_last_decision_still_orders_the_new_one_last(tmp_path, monkeypatch):
    store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
    store.record_decision("RM-001", "accept", "", "a.rao", "run-1")
    past = datetime(2020, 1, 1, tzinfo=UTC)
    monkeypatch.setattr("residua.geodata.review_store._now", lambda: past)
    store.record_decision("RM-001", "exclude", "", "b.singh", "run-1")
    decisions = store.decisions()
    assert decisions["decision"].tolist() == ["accept", "exclude"]
    assert decisions["timestamp"].iloc[1] > decisions["timestamp"].iloc[0] > pd.Timestamp(past)


@pytest.mark.parametrize(
    ("site_id", "decision", "reviewer", "message"),
    [
        ("RM-001", "maybe", "a.rao", "decision 'maybe' is not one of accept, exclude, needs-data"),
        ("  ", "accept", "a.rao", "site_id '  ' must be"),
        ("RM-001", "accept", "<script>", "user name '<script>' is not allowed"),
    ],
)
def test_invalid_decisions_are_refused_and_nothing_is_written(tmp_path, site_id, decision, reviewer, message):
    store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
    with pytest.raises(ReviewStoreError, match=message):
        store.record_decision(site_id, decision, "", reviewer, "run-1")
    assert len(store.decisions()) == 0


def test_users_sessions_and_the_audit_trail(store):
    store.add_user("boss", "admin", "$argon2id$fake", "cli:root")
    store.add_user("a.rao", "reviewer", None, "boss", "10.1.1.1")
    with pytest.raises(ReviewStoreError, match="user 'a.rao' exists"):
        store.add_user("a.rao", "viewer", None, "boss")
    token, csrf = store.open_session("a.rao", "proxy", "10.1.1.1", timedelta(hours=1))
    session = store.session(token)
    assert session is not None and (session.user, session.role, session.csrf_token) == ("a.rao", "reviewer", csrf)
    store.set_role("a.rao", "viewer", "boss")
    assert store.session(token).role == "viewer"  # a role change applies to live sessions
    assert store.session("not-a-token") is None
    with pytest.raises(ReviewStoreError, match="'boss' is the last admin"):
        store.remove_user("boss", "cli:root")
    store.remove_user("a.rao", "boss")
    assert store.session(token) is None  # removing a user ends their sessions
    assert [(u.name, u.role, u.has_password) for u in store.users()] == [("boss", "admin", True)]
    audit = store.audit()
    assert audit[["event", "user_name", "actor"]].values.tolist() == [
        ["user_added", "boss", "cli:root"],
        ["user_added", "a.rao", "boss"],
        ["login", "a.rao", "a.rao"],
        ["role_changed", "a.rao", "boss"],
        ["user_removed", "a.rao", "boss"],
    ]
    assert audit.loc[3, "detail"] == "reviewer -> viewer"


def test_expired_sessions_are_refused(tmp_path):
    store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
    store.add_user("a.rao", "reviewer", None, "test")
    token, _ = store.open_session("a.rao", "password", "127.0.0.1", timedelta(seconds=-1))
    assert store.session(token) is None


def test_failed_logins_count_per_account_since_its_last_login_and_per_address(tmp_path):
    store = ReviewStore.sqlite(tmp_path / "reviews.sqlite").create()
    store.add_user("a.rao", "reviewer", None, "test")
    since = datetime.now(UTC) - timedelta(minutes=15)
    store.record("login_failed", "a.rao", "10.0.0.1")
    store.open_session("a.rao", "password", "10.0.0.1", timedelta(hours=1))
    store.record("login_failed", "a.rao", "10.0.0.2")
    store.record("login_failed", "b.singh", "10.0.0.1")
    account, address = store.failed_logins(since, "a.rao", "10.0.0.1")
    assert len(account) == 1  # the failure before the successful login no longer counts
    assert len(address) == 2  # but an address's failures do, whoever they tried
    assert store.failed_logins(datetime.now(UTC), "a.rao", "10.0.0.1") == ([], [])


def test_merge_orders_by_time_and_the_store_wins_ties():
    when = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"], utc=True)
    base = {"site_id": ["A", "B"], "note": ["", ""]}
    csv = pd.DataFrame({**base, "decision": ["exclude", "accept"], "reviewer": ["R", "R"], "timestamp": when[1:]})
    stored = pd.DataFrame({**base, "decision": ["accept", "exclude"], "reviewer": ["S", "S"],
                           "timestamp": when[[0, 2]], "run_id": ["r1", "r2"]})  # fmt: skip
    history = merge_reviews(csv, stored)
    assert list(history.columns) == list(HISTORY_COLUMNS)
    latest = latest_decisions(history)
    assert latest.loc["A", "decision"] == "exclude" and latest.loc["A", "source"] == "reviews.csv"  # later CSV row
    assert latest.loc["B", "decision"] == "exclude" and latest.loc["B", "source"] == "review store"  # tie: store
    assert list(merge_reviews(csv.iloc[:0], None).columns) == list(HISTORY_COLUMNS)


def test_read_site_reviews_without_a_store_reads_the_csv_and_creates_nothing(tmp_path):
    csv = tmp_path / "drop" / "reviews.csv"
    append_review(csv, "RM-001", "exclude", "capped", "A. Rao")
    history, rejects = read_site_reviews(csv, None, "residua", tmp_path / "instance")
    assert history[["site_id", "decision", "source"]].values.tolist() == [["RM-001", "exclude", "reviews.csv"]]
    assert len(rejects) == 0 and not (tmp_path / "instance").exists()


def test_read_site_reviews_unites_the_instance_store_and_the_csv(tmp_path):
    instance = tmp_path / "instance"
    store = default_review_store(None, "residua", instance).create()
    store.record_decision("RM-001", "accept", "re-surveyed", "b.singh", "run-7")
    csv = tmp_path / "reviews.csv"
    append_review(csv, "FA-002", "needs-data", "", "A. Rao")
    with csv.open("a", encoding="utf-8") as handle:
        handle.write("RM-001,maybe,,A. Rao,2026-01-01T00:00:00+00:00\n")
    history, rejects = read_site_reviews(csv, None, "residua", instance)
    assert history[["site_id", "decision", "reviewer", "run_id", "source"]].values.tolist() == [
        ["RM-001", "accept", "b.singh", "run-7", "review store"],
        ["FA-002", "needs-data", "A. Rao", "", "reviews.csv"],
    ]
    assert rejects["reason"].str.contains("decision is not one of").tolist() == [True]
    accepted, _ = read_reviews(csv)
    assert len(accepted) == 1  # reading never rewrites the CSV


def test_read_site_reviews_reads_postgres_when_the_url_is_set(tmp_path):
    url = require_postgis_url()
    with postgres_store(url) as store:
        store.record_decision("RM-001", "exclude", "capped", "a.rao", "run-3")
        history, _ = read_site_reviews(tmp_path / "reviews.csv", url, store.schema, tmp_path / "unused")
        assert history[["site_id", "decision", "reviewer", "source"]].values.tolist() == [
            ["RM-001", "exclude", "a.rao", "review store"]
        ]
        empty, _ = read_site_reviews(tmp_path / "reviews.csv", url, f"{store.schema}_none", tmp_path / "unused")
        assert len(empty) == 0  # no tables in that schema: no store, no error


def test_an_unreachable_store_says_where_and_how_to_fix_it(tmp_path):
    store = ReviewStore("postgresql://nobody:secret@127.0.0.1:9/none", "residua", pooled=False)
    with pytest.raises(ReviewStoreError, match=r"cannot use the review store \(PostgreSQL .*\*\*\*") as error:
        store.exists()
    assert "secret" not in str(error.value)


def test_sqlite_store_file_is_where_the_instance_is():
    assert default_review_store(None, "residua", Path("/srv/dagster")).sqlite_path == Path(
        "/srv/dagster/reviews.sqlite"
    )
