"""The review service's database: decisions, users, sessions and the audit trail.

One store per deployment: the PostgreSQL database of ``RESIDUA_POSTGIS_URL`` (tables in the
PostGIS schema, ``residua`` by default, beside the published layers, which a publish never
touches), else the SQLite file ``reviews.sqlite`` in the Dagster instance folder. Tables:

- ``review_decisions``: one row per decision (site, decision, note, the authenticated
  reviewer, UTC time, the run id of the inventory the reviewer was looking at, and the id of
  the decision it superseded). Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, so a
  decision is superseded by a newer one, never edited.
- ``review_audit``: logins, failed and refused logins, logouts and user changes; append-only too.
- ``review_users`` (name, role, argon2 hash) and ``review_sessions`` (SHA-256 of the session
  token, its CSRF token and expiry).

Every write is one transaction; decisions are serialised (an advisory lock in PostgreSQL,
``BEGIN IMMEDIATE`` in SQLite), so each one supersedes exactly the decision in force before it.
The pipeline reads decisions with :func:`read_site_reviews`: the store's and those of a
``reviews.csv`` in the data drop (for teams deciding offline), as one history ordered by time
in which the latest decision per site is in force, exactly as for ``reviews.csv`` alone.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from residua.geodata.accounts import check_role, check_user_name
from residua.geodata.postgis import PostgisError, PostgisTarget
from residua.geodata.reviews import REVIEW_COLUMNS, read_reviews
from residua.geodata.vocabulary import DECISIONS

SQLITE_FILE = "reviews.sqlite"
#: Columns of the history :func:`read_site_reviews` returns: the reviews contract, then where each row came from.
HISTORY_COLUMNS: tuple[str, ...] = (*REVIEW_COLUMNS, "run_id", "source")
STORE_SOURCE = "review store"
CSV_SOURCE = "reviews.csv"
#: Events of the audit table.
AUDIT_EVENTS: tuple[str, ...] = (
    "login", "login_failed", "login_refused", "logout",
    "user_added", "user_removed", "role_changed", "password_changed",
)  # fmt: skip
APPEND_ONLY: tuple[str, ...] = ("review_decisions", "review_audit")
_TEXT = 200

_metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only
_WHEN = sa.DateTime(timezone=True)
USERS = sa.Table(
    "review_users", _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("created_utc", _WHEN, nullable=False),
)  # fmt: skip
SESSIONS = sa.Table(
    "review_sessions", _metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("client", sa.String(_TEXT), nullable=False),
    sa.Column("created_utc", _WHEN, nullable=False),
    sa.Column("expires_utc", _WHEN, nullable=False),
)  # fmt: skip
DECISIONS_TABLE = sa.Table(
    "review_decisions", _metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("site_id", sa.String(_TEXT), nullable=False, index=True),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(64), nullable=False),
    sa.Column("timestamp", _WHEN, nullable=False),
    sa.Column("run_id", sa.String(_TEXT), nullable=False),
    sa.Column("supersedes", sa.BigInteger, nullable=True),
)  # fmt: skip
AUDIT = sa.Table(
    "review_audit", _metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("timestamp", _WHEN, nullable=False, index=True),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("user_name", sa.String(_TEXT), nullable=False),
    sa.Column("client", sa.String(_TEXT), nullable=False),
    sa.Column("actor", sa.String(_TEXT), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)  # fmt: skip


class ReviewStoreError(ValueError):
    """The review store cannot be reached or refuses a change (with the reason and the fix)."""


@dataclass(frozen=True)
class User:
    """An account of the review service (never its password hash)."""

    name: str
    role: str
    has_password: bool
    created_utc: datetime


@dataclass(frozen=True)
class Session:
    """A signed-in session: whose, with which role now, its CSRF token and expiry."""

    user: str
    role: str
    csrf_token: str
    expires_utc: datetime


class ReviewStore:
    """Decisions, users, sessions and audit rows in PostgreSQL or SQLite.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/db`` or ``sqlite:///path/reviews.sqlite``.
    schema : str
        PostgreSQL schema of the tables (ignored for SQLite).
    pooled : bool
        Keep connections open between calls (the service); False opens one per call (the pipeline).

    Examples
    --------
    >>> import tempfile
    >>> store = ReviewStore.sqlite(Path(tempfile.mkdtemp()) / "reviews.sqlite").create()
    >>> store.record_decision("RM-001", "exclude", "pond capped in 2019", "a.rao", "run-1")["supersedes"] is None
    True
    >>> store.decisions()["reviewer"].tolist()
    ['a.rao']
    """

    def __init__(self, url: str, schema: str = "residua", pooled: bool = True) -> None:
        self.url = url
        self.schema = schema
        self.pooled = pooled
        self._engine: Engine | None = None

    @classmethod
    def sqlite(cls, path: Path, pooled: bool = True) -> ReviewStore:
        """The store in the SQLite file ``path``."""
        return cls(f"sqlite:///{Path(path).resolve()}", pooled=pooled)

    @property
    def is_sqlite(self) -> bool:
        """True for a SQLite file, False for PostgreSQL."""
        return self.url.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL."""
        return Path(sa.make_url(self.url).database or "") if self.is_sqlite else None

    @property
    def description(self) -> str:
        """Where the store is, password hidden."""
        if self.is_sqlite:
            return f"SQLite {self.sqlite_path}"
        return f"PostgreSQL {self._target().redacted_url} (schema {self.schema})"

    def create(self) -> ReviewStore:
        """Create the tables and append-only triggers if they are missing; return self."""
        if self.is_sqlite:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        with self._transaction() as connection:
            if not self.is_sqlite:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                   {"k": f"residua.review_store.{self.schema}"})  # fmt: skip
                connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {self._quote(connection, self.schema)}"))
            _metadata.create_all(connection)
            for table in APPEND_ONLY:
                self._forbid_changes(connection, table)
        return self

    def exists(self) -> bool:
        """Whether the store's decisions table exists (never creates a file or table)."""
        if self.is_sqlite and not self.sqlite_path.is_file():  # type: ignore[union-attr]
            return False
        with self._transaction() as connection:
            return sa.inspect(connection).has_table("review_decisions", schema=self._schema_or_none())

    def close(self) -> None:
        """Close pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- decisions ---------------------------------------------------------------------------

    def record_decision(self, site_id: str, decision: str, note: str, reviewer: str, run_id: str) -> dict[str, object]:
        """Append one decision in one transaction; return it with its ``id`` and the ``supersedes`` id.

        Its time is now (UTC), or just after the decision it supersedes if the clock is behind.

        Raises
        ------
        ReviewStoreError
            If the decision is not one of :data:`~residua.geodata.vocabulary.DECISIONS`, the site is
            empty, the reviewer is not a valid user name, or the store cannot be written.
        """
        decision = decision.strip().lower() if isinstance(decision, str) else ""
        if decision not in DECISIONS:
            raise ReviewStoreError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
        if not isinstance(site_id, str) or not site_id.strip() or len(site_id) > _TEXT:
            raise ReviewStoreError(f"site_id {site_id!r} must be 1-{_TEXT} characters")
        reviewer = _checked(check_user_name, reviewer)
        table = DECISIONS_TABLE
        with self._transaction() as connection:
            if not self.is_sqlite:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                   {"k": f"residua.review_decisions.{self.schema}"})  # fmt: skip
            prior = connection.execute(
                sa.select(table.c.id, table.c.timestamp).where(table.c.site_id == site_id.strip())
                .order_by(table.c.timestamp.desc(), table.c.id.desc()).limit(1)
            ).first()  # fmt: skip
            now = _now()
            if prior is not None:
                now = max(now, _utc(prior.timestamp) + timedelta(microseconds=1))
            row = {"site_id": site_id.strip(), "decision": decision, "note": (note or "").strip(),
                   "reviewer": reviewer, "timestamp": now, "run_id": (run_id or "").strip(),
                   "supersedes": prior.id if prior is not None else None}  # fmt: skip
            new_id = connection.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()
        return {"id": new_id, **row, "timestamp": now.isoformat(timespec="microseconds")}

    def decisions(self) -> pd.DataFrame:
        """Every decision, oldest first (ties by id): ``id``, the reviews columns, ``run_id``, ``supersedes``."""
        table = DECISIONS_TABLE
        with self._transaction() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.timestamp, table.c.id)).mappings().all()
        frame = pd.DataFrame([dict(row) for row in rows], columns=[column.name for column in table.columns])
        frame["timestamp"] = pd.to_datetime([_utc(value) for value in frame["timestamp"]], utc=True)
        frame["supersedes"] = frame["supersedes"].astype("Int64")
        return frame

    # -- users ---------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str | None, actor: str, client: str = "") -> User:
        """Create a user (``password_hash`` None: signs in only through the authenticating proxy).

        Raises
        ------
        ReviewStoreError
            If the name or role is invalid or the user exists.
        """
        name, role = _checked(check_user_name, name), _checked(check_role, role)
        created = _now()
        with self._transaction() as connection:
            if connection.execute(sa.select(USERS.c.name).where(USERS.c.name == name)).first() is not None:
                raise ReviewStoreError(f"user {name!r} exists; `residua users role` or `residua users passwd` "
                                       "change it, `residua users remove` removes it")  # fmt: skip
            connection.execute(USERS.insert().values(name=name, role=role, password_hash=password_hash,
                                                     created_utc=created))  # fmt: skip
            self._audit(connection, "user_added", name, client, actor, f"role {role}")
        return User(name, role, password_hash is not None, created)

    def remove_user(self, name: str, actor: str, client: str = "") -> None:
        """Delete a user and end their sessions; their decisions stay, attributed to them.

        Raises
        ------
        ReviewStoreError
            If there is no such user or it is the last admin.
        """
        with self._transaction() as connection:
            role = self._role_of(connection, name)
            if role == "admin":
                self._require_another_admin(connection, name)
            connection.execute(SESSIONS.delete().where(SESSIONS.c.user_name == name))
            connection.execute(USERS.delete().where(USERS.c.name == name))
            self._audit(connection, "user_removed", name, client, actor, f"role was {role}")

    def set_role(self, name: str, role: str, actor: str, client: str = "") -> None:
        """Change a user's role (effective at their next request)."""
        role = _checked(check_role, role)
        with self._transaction() as connection:
            before = self._role_of(connection, name)
            if before == "admin" and role != "admin":
                self._require_another_admin(connection, name)
            connection.execute(USERS.update().where(USERS.c.name == name).values(role=role))
            self._audit(connection, "role_changed", name, client, actor, f"{before} -> {role}")

    def set_password(self, name: str, password_hash: str | None, actor: str, client: str = "",
                     end_sessions: bool = True) -> None:  # fmt: skip
        """Replace a user's password hash; by default end their sessions and audit the change."""
        with self._transaction() as connection:
            self._role_of(connection, name)
            connection.execute(USERS.update().where(USERS.c.name == name).values(password_hash=password_hash))
            if end_sessions:
                connection.execute(SESSIONS.delete().where(SESSIONS.c.user_name == name))
                self._audit(connection, "password_changed", name, client, actor, "sessions ended")

    def users(self) -> list[User]:
        """Every user, by name."""
        with self._transaction() as connection:
            rows = connection.execute(sa.select(USERS).order_by(USERS.c.name)).all()
        return [User(row.name, row.role, row.password_hash is not None, _utc(row.created_utc)) for row in rows]

    def credentials(self, name: str) -> tuple[User, str | None] | None:
        """A user and their password hash, or None if there is no such user."""
        with self._transaction() as connection:
            row = connection.execute(sa.select(USERS).where(USERS.c.name == name)).first()
        if row is None:
            return None
        return User(row.name, row.role, row.password_hash is not None, _utc(row.created_utc)), row.password_hash

    # -- sessions and the audit trail ----------------------------------------------------------------

    def open_session(self, name: str, method: str, client: str, lifetime: timedelta) -> tuple[str, str]:
        """Start a session for ``name`` and audit the login; return (session token, CSRF token).

        Only the SHA-256 of the session token is stored. Expired sessions are deleted.
        """
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        with self._transaction() as connection:
            connection.execute(SESSIONS.delete().where(SESSIONS.c.expires_utc < now))
            connection.execute(SESSIONS.insert().values(
                token_sha256=_digest(token), user_name=name, csrf_token=csrf, method=method,
                client=client[:_TEXT], created_utc=now, expires_utc=now + lifetime,
            ))  # fmt: skip
            self._audit(connection, "login", name, client, name, f"via {method}")
        return token, csrf

    def session(self, token: str | None) -> Session | None:
        """The live session of ``token`` with the user's current role, or None (unknown, expired, user gone)."""
        if not token:
            return None
        query = (
            sa.select(SESSIONS.c.user_name, SESSIONS.c.csrf_token, SESSIONS.c.expires_utc, USERS.c.role)
            .join(USERS, USERS.c.name == SESSIONS.c.user_name)
            .where(SESSIONS.c.token_sha256 == _digest(token))
        )
        with self._transaction() as connection:
            row = connection.execute(query).first()
        if row is None or _utc(row.expires_utc) <= _now():
            return None
        return Session(row.user_name, row.role, row.csrf_token, _utc(row.expires_utc))

    def close_session(self, token: str, client: str = "") -> str | None:
        """End the session of ``token`` and audit the logout; return its user (None if there was none)."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(SESSIONS.c.user_name).where(SESSIONS.c.token_sha256 == _digest(token))
            ).first()
            if row is None:
                return None
            connection.execute(SESSIONS.delete().where(SESSIONS.c.token_sha256 == _digest(token)))
            self._audit(connection, "logout", row.user_name, client, row.user_name, "")
        return row.user_name

    def record(self, event: str, user_name: str, client: str = "", actor: str = "", detail: str = "") -> None:
        """Append one audit row (``event`` one of :data:`AUDIT_EVENTS`)."""
        with self._transaction() as connection:
            self._audit(connection, event, user_name, client, actor, detail)

    def audit(self) -> pd.DataFrame:
        """The audit trail, oldest first."""
        with self._transaction() as connection:
            rows = connection.execute(sa.select(AUDIT).order_by(AUDIT.c.id)).mappings().all()
        frame = pd.DataFrame([dict(row) for row in rows], columns=[column.name for column in AUDIT.columns])
        frame["timestamp"] = pd.to_datetime([_utc(value) for value in frame["timestamp"]], utc=True)
        return frame

    def failed_logins(self, since: datetime, user_name: str, client: str) -> tuple[list[datetime], list[datetime]]:
        """Times of failed logins since ``since`` for the account (after its last login) and from the client."""
        failed = sa.select(AUDIT.c.timestamp).where(AUDIT.c.event == "login_failed", AUDIT.c.timestamp >= since)
        with self._transaction() as connection:
            logins = sa.select(sa.func.max(AUDIT.c.timestamp)).where(AUDIT.c.event == "login")
            last_login = connection.execute(logins.where(AUDIT.c.user_name == user_name[:_TEXT])).scalar()
            account_since = max(since, _utc(last_login)) if last_login is not None else since
            account = connection.execute(
                failed.where(AUDIT.c.user_name == user_name[:_TEXT], AUDIT.c.timestamp > account_since)
                .order_by(AUDIT.c.timestamp)
            ).scalars().all()  # fmt: skip
            address = connection.execute(
                failed.where(AUDIT.c.client == client[:_TEXT]).order_by(AUDIT.c.timestamp)
            ).scalars().all()  # fmt: skip
        return [_utc(t) for t in account], [_utc(t) for t in address]

    # -- internals -------------------------------------------------------------------------------------

    def _audit(self, connection: Connection, event: str, user_name: str, client: str, actor: str, detail: str) -> None:
        if event not in AUDIT_EVENTS:
            raise ReviewStoreError(f"audit event {event!r} is not one of {', '.join(AUDIT_EVENTS)}")
        connection.execute(AUDIT.insert().values(
            timestamp=_now(), event=event, user_name=str(user_name)[:_TEXT], client=str(client)[:_TEXT],
            actor=str(actor)[:_TEXT], detail=str(detail)[:2000],
        ))  # fmt: skip

    def _role_of(self, connection: Connection, name: str) -> str:
        role = connection.execute(sa.select(USERS.c.role).where(USERS.c.name == name)).scalar()
        if role is None:
            raise ReviewStoreError(f"there is no user {name!r}; `residua users list` shows them")
        return role

    def _require_another_admin(self, connection: Connection, name: str) -> None:
        others = connection.execute(
            sa.select(sa.func.count()).select_from(USERS).where(USERS.c.role == "admin", USERS.c.name != name)
        ).scalar_one()
        if others == 0:
            raise ReviewStoreError(f"{name!r} is the last admin; add another admin first "
                                   "(`residua users add NAME --role admin`)")  # fmt: skip

    def _forbid_changes(self, connection: Connection, table: str) -> None:
        message = f"{table} is append-only: record a new row instead of changing one"
        if self.is_sqlite:
            for action in ("UPDATE", "DELETE"):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
            return
        schema = self._quote(connection, self.schema)
        function = f"{schema}.{table}_append_only"
        connection.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
        )
        connection.exec_driver_sql(
            f"CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {schema}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        connection.exec_driver_sql(
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {schema}.{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )

    def _target(self) -> PostgisTarget:
        try:
            return PostgisTarget(self.url, self.schema)
        except PostgisError as error:
            raise ReviewStoreError(str(error)) from None

    def _schema_or_none(self) -> str | None:
        return None if self.is_sqlite else self.schema

    def _schemas(self) -> dict[str | None, str | None]:
        return {None: self._schema_or_none()}

    @staticmethod
    def _quote(connection: Connection, identifier: str) -> str:
        return connection.dialect.identifier_preparer.quote_identifier(identifier)

    def _engine_now(self) -> Engine:
        if self._engine is None:
            pool = {} if self.pooled else {"poolclass": NullPool}
            if self.is_sqlite:
                engine = sa.create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
                sa.event.listen(engine, "connect", _sqlite_connect)
                sa.event.listen(engine, "begin", _sqlite_begin)
            else:
                engine = sa.create_engine(self._target().sqlalchemy_url, pool_pre_ping=True, **pool)
            self._engine = engine
        return self._engine

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine_now().begin() as connection:
                yield connection.execution_options(schema_translate_map=self._schemas())
        except sa.exc.OperationalError as error:
            raise ReviewStoreError(
                f"cannot use the review store ({self.description}): {_reason(error)}; check "
                "RESIDUA_POSTGIS_URL or the instance folder, and that the server runs"
            ) from None
        except sa.exc.DBAPIError as error:
            raise ReviewStoreError(f"the review store ({self.description}) refused the change, nothing was "
                                   f"written: {_reason(error)}") from None  # fmt: skip

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_review_store(postgis_url: str | None, schema: str, instance_dir: str | Path) -> ReviewStore:
    """The deployment's store: PostgreSQL at ``postgis_url`` if given, else ``reviews.sqlite`` in ``instance_dir``.

    Examples
    --------
    >>> default_review_store(None, "residua", "/srv/dagster").description
    'SQLite /srv/dagster/reviews.sqlite'
    """
    if postgis_url:
        return ReviewStore(postgis_url, schema)
    return ReviewStore.sqlite(Path(instance_dir) / SQLITE_FILE)


def decisions_version(postgis_url: str | None, schema: str, instance_dir: str | Path) -> str:
    """A content version of the default store's decisions: the SHA-256 of their ids (``"none"`` without a store).

    Decisions are append-only, so the ids change exactly when a decision is recorded. The
    pipeline observes this as the ``review_decisions`` source asset.

    >>> import tempfile
    >>> decisions_version(None, "residua", tempfile.mkdtemp())
    'none'
    """
    with default_review_store(postgis_url, schema, instance_dir) as store:
        if not store.exists():
            return "none"
        ids = store.decisions()["id"].astype(str)
    return hashlib.sha256(",".join(ids).encode()).hexdigest()


def read_site_reviews(
    csv_path: Path, postgis_url: str | None, schema: str, instance_dir: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every decision of the review store (if there is one) and of ``csv_path``, and the CSV rows unusable.

    The store is the one :func:`default_review_store` names; without one, only the CSV
    counts. Precedence as for ``reviews.csv`` alone: all decisions ordered by time, the latest
    per site in force (at equal times the store's comes after the CSV's).

    Returns
    -------
    (DataFrame, DataFrame)
        The history (:data:`HISTORY_COLUMNS`, oldest first) and the quarantined CSV rows, as
        :func:`residua.geodata.reviews.read_reviews` returns them.

    Raises
    ------
    ReviewStoreError
        If a store exists but cannot be read.
    geodata.reviews.ReviewError
        If the CSV is unreadable.
    """
    history, rejects = read_reviews(csv_path)
    with default_review_store(postgis_url, schema, instance_dir) as store:
        stored = store.decisions() if store.exists() else None
    return merge_reviews(history, stored), rejects


def merge_reviews(csv_history: pd.DataFrame, stored: pd.DataFrame | None) -> pd.DataFrame:
    """One history from ``reviews.csv`` rows and store rows, oldest first (stable: CSV first at equal times).

    Examples
    --------
    >>> when = pd.to_datetime(["2026-01-01", "2026-02-01"], utc=True)
    >>> csv = pd.DataFrame({"site_id": ["a"], "decision": ["exclude"], "note": [""], "reviewer": ["R"],
    ...                     "timestamp": when[1:]})
    >>> stored = pd.DataFrame({"site_id": ["a"], "decision": ["accept"], "note": [""], "reviewer": ["S"],
    ...                        "timestamp": when[:1], "run_id": ["r1"]})
    >>> merge_reviews(csv, stored)[["decision", "source"]].values.tolist()
    [['accept', 'review store'], ['exclude', 'reviews.csv']]
    """
    parts = [csv_history.assign(run_id="", source=CSV_SOURCE)[list(HISTORY_COLUMNS)]] if len(csv_history) else []
    if stored is not None and len(stored):
        parts.append(stored.assign(source=STORE_SOURCE)[list(HISTORY_COLUMNS)])
    if not parts:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in HISTORY_COLUMNS})
    history = pd.concat(parts, ignore_index=True)
    history["timestamp"] = pd.to_datetime(history["timestamp"], utc=True)
    return history.sort_values("timestamp", kind="mergesort").reset_index(drop=True)


def _checked(check: object, value: object) -> str:
    try:
        return check(value)  # type: ignore[operator]
    except ValueError as error:
        raise ReviewStoreError(str(error)) from None


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # SQLAlchemy emits BEGIN itself
    dbapi_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[attr-defined]


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, waiting (timeout) rather than failing


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every time stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _reason(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
