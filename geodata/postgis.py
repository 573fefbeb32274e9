"""Publish layers to PostGIS in one transaction: readers see the previous inventory or the new one.

Every layer is first written into a private staging schema inside the transaction, then
put in place:

- when the live table has the same columns and types (the usual re-publish), its rows are
  replaced with ``DELETE`` + ``INSERT ... SELECT``: fully MVCC-safe, so even a reader inside
  a long REPEATABLE READ transaction keeps seeing the previous rows, and views, grants and
  QGIS projects built on the table keep working;
- otherwise (first publish, or the columns changed) the live table is dropped and the staged
  one moved in with ``ALTER TABLE ... SET SCHEMA``. PostgreSQL's catalog changes are not
  MVCC: a statement that starts after the commit sees the new table complete, one blocked
  by the swap waits for the commit, but a REPEATABLE READ transaction that began before the
  commit sees the new table empty. Views on a table whose columns changed make the publish
  fail (nothing is dropped with CASCADE).

Publishes to the same schema are serialised with a transaction advisory lock. Any error
rolls everything back, staging schema included.

A run that publishes files too stages its layers first and puts them in place only when
its files publish, so the database and the output folder change together:
:func:`stage_layers` writes them into a schema of their own, ``<schema>__<key>`` (committed,
not yet visible in ``<schema>``), and :func:`publish_staged` puts them in place in one
transaction as above. Staging schemas that no publish claimed for a day (runs that failed
after staging) are dropped by the next publish.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import geoalchemy2  # noqa: F401  (registers PostGIS types and the spatial-index DDL events)
import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

#: Schema names: lower-case letters, digits and ``_``, not starting with a digit or ``pg_``;
#: at most 48 characters, so the staging schema ``<schema>__staging`` fits PostgreSQL's 63.
SCHEMA_NAME = re.compile(r"^(?!pg_)[a-z_][a-z0-9_]{0,47}$")
#: Table names: the same alphabet, at most 63 characters.
TABLE_NAME = re.compile(r"^(?!pg_)[a-z_][a-z0-9_]{0,62}$")
#: Layers Residua publishes; one of these absent from a publish is dropped, so no table of an
#: older run survives beside a newer set.
MANAGED_TABLES: tuple[str, ...] = (
    "sites_ranked", "samples", "quarantine", "hubs", "hub_assignments", "sampling_plan", "run_metadata",
)  # fmt: skip
#: Key column added to every table (PostGIS clients such as QGIS want a primary key).
FID = "fid"
#: Keys of staged publishes (:func:`stage_layers`): ``<schema>__<key>`` fits PostgreSQL's 63 characters.
STAGING_KEY = re.compile(r"^[a-z0-9]{1,12}$")
#: Age after which a staging schema no publish claimed is dropped (its run failed after staging).
STALE_STAGING = timedelta(days=1)
#: Comment marking a staging schema: ``<prefix><target schema> at <ISO time>``.
_STAGING_COMMENT = "residua staging of "


class PostgisError(ValueError):
    """The PostGIS target is unusable (bad name, no connection, no PostGIS) or a publish failed."""


@dataclass(frozen=True)
class PostgisTarget:
    """Where to publish: a SQLAlchemy/libpq URL and a schema.

    ``postgresql://`` and ``postgres://`` URLs are used through psycopg 3.

    Examples
    --------
    >>> PostgisTarget("postgresql://u:secret@127.0.0.1:5432/gis").redacted_url
    'postgresql+psycopg://u:***@127.0.0.1:5432/gis'
    >>> PostgisTarget("postgresql://127.0.0.1/gis", schema="Residua")
    Traceback (most recent call last):
    ...
    residua.geodata.postgis.PostgisError: schema name 'Residua' is not allowed: use 1-48 lower-case letters, digits
    or _, not starting with a digit or pg_ (e.g. 'residua')
    """

    url: str
    schema: str = "residua"

    def __post_init__(self) -> None:
        check_identifier(self.schema, SCHEMA_NAME, "schema", 48)
        try:
            make_url(self.url)
        except sa.exc.ArgumentError as error:
            raise PostgisError(f"PostGIS URL is not a database URL ({error}); "
                               "use postgresql://user:password@host:port/database") from None  # fmt: skip

    @property
    def sqlalchemy_url(self) -> sa.URL:
        """The URL with the psycopg 3 driver."""
        url = make_url(self.url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url

    @property
    def redacted_url(self) -> str:
        """The URL with its password hidden, for logs and metadata."""
        return self.sqlalchemy_url.render_as_string(hide_password=True)


def check_identifier(name: str, pattern: re.Pattern[str], kind: str, length: int) -> str:
    """Return ``name`` if it matches ``pattern``, else raise :class:`PostgisError`.

    Examples
    --------
    >>> check_identifier("sites_ranked", TABLE_NAME, "table", 63)
    'sites_ranked'
    """
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise PostgisError(
            f"{kind} name {name!r} is not allowed: use 1-{length} lower-case letters, digits or _, "
            f"not starting with a digit or pg_ (e.g. 'residua')"
        )
    return name


def stage_layers(
    target: PostgisTarget, layers: Mapping[str, pd.DataFrame], key: str, geometry_types: Mapping[str, str] | None = None
) -> str:
    """Write ``layers`` into the staging schema ``<schema>__<key>`` and commit; return its name.

    Nothing in ``target.schema`` changes until :func:`publish_staged` with the same ``key``;
    staging again under a key replaces what it held. Parameters and errors as for
    :func:`publish_staged`; ``key`` is 1-12 lower-case letters or digits.
    """
    _check_table_names(layers)
    staging = _staging_schema(target, key)
    with _publishing(target) as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {_quote(connection, staging)} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {_quote(connection, staging)}"))
        stamp = f"{_STAGING_COMMENT}{target.schema} at {datetime.now(UTC).isoformat(timespec='seconds')}"
        # COMMENT takes no bind parameters; the stamp holds a validated schema name and an ISO time only.
        connection.execute(sa.text(f"COMMENT ON SCHEMA {_quote(connection, staging)} IS '{stamp}'"))
        for name, frame in layers.items():
            _write_table(connection, frame, staging, name, (geometry_types or {}).get(name))
    return staging


def publish_staged(target: PostgisTarget, key: str) -> list[str]:
    """Put the layers staged under ``key`` (:func:`stage_layers`) in place in one transaction; return them.

    Managed tables the staged set lacks are dropped, and so are
    staging schemas of ``target`` that no publish claimed for :data:`STALE_STAGING`.

    Raises
    ------
    PostgisError
        If nothing is staged under ``key`` (e.g. another publish dropped it as stale), or
        if the database cannot be reached or lacks PostGIS, or the publish fails; the previous tables are then
        untouched.
    """
    staging = _staging_schema(target, key)
    with _publishing(target) as connection:
        if connection.execute(sa.text("SELECT to_regnamespace(:s)"), {"s": staging}).scalar() is None:
            raise PostgisError(f"no layers are staged in PostGIS schema {staging!r} at {target.redacted_url}; "
                               "run the whole job again to publish")  # fmt: skip
        names = connection.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"), {"s": staging}
        ).scalars().all()  # fmt: skip
        _swap_in(connection, staging, target.schema, list(names))
        for schema in _stale_staging_schemas(connection, target.schema):
            connection.execute(sa.text(f"DROP SCHEMA {_quote(connection, schema)} CASCADE"))
    return [f"{target.schema}.{name}" for name in names]


def _check_table_names(layers: Mapping[str, pd.DataFrame]) -> None:
    for name in layers:
        check_identifier(name, TABLE_NAME, "table", 63)


def _staging_schema(target: PostgisTarget, key: str) -> str:
    if not isinstance(key, str) or not STAGING_KEY.fullmatch(key):
        raise PostgisError(f"staging key {key!r} is not allowed: use 1-12 lower-case letters or digits")
    return f"{target.schema}__{key}"


@contextmanager
def _publishing(target: PostgisTarget) -> Iterator[Connection]:
    """A transaction holding the schema's publish lock; database errors become :class:`PostgisError`."""
    try:
        with _transaction(target) as connection:
            _require_postgis(connection)
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                               {"key": f"residua.publish.{target.schema}"})  # fmt: skip
            yield connection
    except sa.exc.OperationalError as error:
        raise PostgisError(f"cannot publish to PostGIS at {target.redacted_url}: {_reason(error)}; "
                           "check the URL (RESIDUA_POSTGIS_URL) and that the server is running") from None  # fmt: skip
    except sa.exc.DBAPIError as error:
        raise PostgisError(f"publishing to PostGIS schema {target.schema!r} at {target.redacted_url} failed and was "
                           f"rolled back (the previous tables are unchanged): {_reason(error)}") from None  # fmt: skip


def _swap_in(connection: Connection, staging: str, schema: str, names: list[str]) -> None:
    """Put the staged tables in place, drop managed tables not among them and the staging schema."""
    connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {_quote(connection, schema)}"))
    for name in names:
        _put_in_place(connection, staging, schema, name)
    for name in MANAGED_TABLES:
        if name not in names:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {_qualified(connection, schema, name)}"))
    connection.execute(sa.text(f"DROP SCHEMA {_quote(connection, staging)}"))


def _stale_staging_schemas(connection: Connection, schema: str) -> list[str]:
    """Staging schemas of ``schema`` stamped more than :data:`STALE_STAGING` ago."""
    rows = connection.execute(sa.text(
        "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
        "WHERE obj_description(oid, 'pg_namespace') LIKE :prefix"
    ), {"prefix": f"{_STAGING_COMMENT}{schema} at %"})  # fmt: skip
    cutoff = datetime.now(UTC) - STALE_STAGING
    return [name for name, comment in rows if datetime.fromisoformat(comment.rsplit(" at ", 1)[1]) < cutoff]


@contextmanager
def _transaction(target: PostgisTarget) -> Iterator[Connection]:
    engine = sa.create_engine(target.sqlalchemy_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _require_postgis(connection: Connection) -> None:
    if connection.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is None:
        database = connection.execute(sa.text("SELECT current_database()")).scalar_one()
        raise PostgisError(f"database {database!r} has no PostGIS extension; "
                           "run CREATE EXTENSION postgis; in it as a superuser")  # fmt: skip


def _write_table(
    connection: Connection, frame: pd.DataFrame, schema: str, name: str, geometry_type: str | None = None
) -> None:
    """Create ``schema.name`` from ``frame`` (fid primary key, typed geometry) and COPY its rows in."""
    table, dtype = _sql_frame(frame, geometry_type)
    table.to_sql(name, connection, schema=schema, index=False, dtype=dtype, method=_copy_rows)
    connection.execute(sa.text(f"ALTER TABLE {_qualified(connection, schema, name)} ADD PRIMARY KEY ({FID})"))


def _sql_frame(frame: pd.DataFrame, geometry_type: str | None = None) -> tuple[pd.DataFrame, dict[str, object]]:
    """The rows as plain values (geometry as hex EWKB) and the SQL type of special columns."""
    dtype: dict[str, object] = {FID: sa.BigInteger()}
    if isinstance(frame, gpd.GeoDataFrame):
        geometry = frame.geometry.name
        srid = frame.crs.to_epsg() if frame.crs is not None else None
        if srid is None:
            raise PostgisError(f"layer CRS {frame.crs} has no EPSG code; reproject it (e.g. to EPSG:4326) first")
        values = shapely.set_srid(frame.geometry.values.to_numpy(), srid)
        table = pd.DataFrame(frame.drop(columns=geometry))
        table[geometry] = shapely.to_wkb(values, hex=True, include_srid=True)
        dtype[geometry] = Geometry(geometry_type=geometry_type or _geometry_type(frame.geometry), srid=srid)
    else:
        table = pd.DataFrame(frame)
    for column in table.columns:
        if pd.api.types.is_object_dtype(table[column]) and column not in dtype:
            # Mixed values become text; missing values stay NULL.
            table[column] = table[column].map(lambda value: None if _missing(value) else str(value))
    table.insert(0, FID, range(1, len(table) + 1))
    return table.reset_index(drop=True), dtype


def _geometry_type(geometry: gpd.GeoSeries) -> str:
    kinds = set(geometry.geom_type.dropna())
    kind = kinds.pop().upper() if len(kinds) == 1 else "GEOMETRY"
    return kind + ("Z" if bool(geometry.has_z.any()) else "")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _copy_rows(table, connection: Connection, keys: list[str], rows) -> int:
    """pandas ``to_sql`` method: COPY rows in with psycopg 3 (NULLs, text and numbers exact)."""
    columns = ", ".join(_quote(connection, key) for key in keys)
    target = _qualified(connection, table.schema, table.name)
    count = 0
    with connection.connection.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _columns(connection: Connection, schema: str, name: str) -> list[tuple[str, str]] | None:
    """(name, SQL type) of each column of ``schema.name``, or None if there is no such table."""
    relation = _qualified(connection, schema, name)
    if connection.execute(sa.text("SELECT to_regclass(:r)"), {"r": relation}).scalar() is None:
        return None
    rows = connection.execute(sa.text(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = CAST(:r AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    ), {"r": relation})  # fmt: skip
    return [(row[0], row[1]) for row in rows]


def _put_in_place(connection: Connection, staging: str, schema: str, name: str) -> None:
    live, staged = _qualified(connection, schema, name), _qualified(connection, staging, name)
    if _columns(connection, schema, name) == _columns(connection, staging, name):
        connection.execute(sa.text(f"DELETE FROM {live}"))
        connection.execute(sa.text(f"INSERT INTO {live} SELECT * FROM {staged}"))
        connection.execute(sa.text(f"DROP TABLE {staged}"))
    else:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {live}"))
        connection.execute(sa.text(f"ALTER TABLE {staged} SET SCHEMA {_quote(connection, schema)}"))
    connection.execute(sa.text(f"ANALYZE {live}"))


def _quote(connection: Connection, identifier: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(identifier)


def _qualified(connection: Connection, schema: str, name: str) -> str:
    return f"{_quote(connection, schema)}.{_quote(connection, name)}"


def _reason(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
