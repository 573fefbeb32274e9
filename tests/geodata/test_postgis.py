"""Publishing to a real PostgreSQL/PostGIS server: round trip, atomic replace, concurrent readers.

The server comes from ``scripts/start-postgres.sh`` (``make test`` starts it and sets
``RESIDUA_TEST_POSTGIS_URL``). Without that variable the tests skip locally and fail in CI
(``CI=true``), so CI can never pass without exercising PostGIS. Each test publishes into its
own schema and drops it afterwards.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from residua.geodata import postgis
from residua.geodata.postgis import PostgisError, PostgisTarget, publish_staged, stage_layers
from residua.geodata.publish import DISCLAIMER
from tests.publishing import publish_inventory, publish_layers


def require_postgis_url() -> str:
    """The test server's URL; skip without one, but fail under CI."""
    url = os.environ.get("RESIDUA_TEST_POSTGIS_URL")
    if url:
        return url
    message = ("RESIDUA_TEST_POSTGIS_URL is not set: run `make test`, or export the URL printed by "
               "`bash scripts/start-postgres.sh`")  # fmt: skip
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI must run the PostGIS tests)")
    pytest.skip(message)


@pytest.fixture
def postgis_url() -> str:
    return require_postgis_url()


@pytest.fixture
def target(postgis_url):
    """A fresh schema per test, dropped (with its staging schema) afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield PostgisTarget(postgis_url, schema)
    engine = sa.create_engine(PostgisTarget(postgis_url).sqlalchemy_url)
    with engine.begin() as connection:
        for name in [schema, *staging_schemas(connection, schema)]:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def staging_schemas(connection: sa.Connection, schema: str) -> list[str]:
    """Schemas named ``<schema>__...`` (staging schemas of ``schema``)."""
    rows = connection.execute(sa.text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p) ORDER BY 1"),
                              {"p": f"{schema}__"})  # fmt: skip
    return list(rows.scalars())


@pytest.fixture
def engine(target):
    engine = sa.create_engine(target.sqlalchemy_url)
    yield engine
    engine.dispose()


def layers(run_id: str = "run-1", n_sites: int = 3, extra_column: bool = False) -> dict[str, pd.DataFrame]:
    """A small inventory: polygons, points with booleans and NaN, mixed/missing geometries, a table."""
    sites = gpd.GeoDataFrame(
        {"site_id": [f"S{i}" for i in range(n_sites)], "name": [f"Site {i} – Kōlār" for i in range(n_sites)],
         "rank": list(range(1, n_sites + 1)), "score": np.linspace(1e10, 1.5, n_sites), "confidence": "G3"},
        geometry=[shapely.box(78 + i, 21, 78.01 + i, 21.01) for i in range(n_sites)], crs="EPSG:4326",
    )  # fmt: skip
    if extra_column:
        sites["distance_to_hub_km"] = 12.5
    samples = gpd.GeoDataFrame(
        {"sample_id": ["a", "b"], "ga_gt": [50.0, np.nan], "ga_bdl": [False, True], "note": ["", "kept"]},
        geometry=[shapely.Point(78.001, 21.001), shapely.Point(78.002, 21.002)], crs="EPSG:4326",
    )  # fmt: skip
    quarantine = gpd.GeoDataFrame(
        {"source": ["samples.csv", "sites.gpkg", "samples.csv"], "reason": ["zero assay", "bad type", "no location"],
         "raw": ['{"ga_ppm": 0}', None, "{}"]},
        geometry=[shapely.Point(79, 22), shapely.box(80, 22, 80.01, 22.01), None], crs="EPSG:4326",
    )  # fmt: skip
    run_metadata = pd.DataFrame({"key": ["run_id", "synthetic"], "value": [run_id, "True"]})
    return {"sites_ranked": sites, "samples": samples, "quarantine": quarantine, "run_metadata": run_metadata}


def read_layer(engine: sa.Engine, schema: str, name: str) -> pd.DataFrame:
    sql = f'SELECT * FROM "{schema}"."{name}" ORDER BY fid'
    if name == "run_metadata":
        return pd.read_sql(sql, engine)
    return gpd.read_postgis(sql, engine, geom_col="geometry")


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar()


def test_publish_round_trips_geometry_srid_and_values(target, engine):
    published = layers()
    assert publish_layers(target, published) == [f"{target.schema}.{name}" for name in published]
    for name, frame in published.items():
        back = read_layer(engine, target.schema, name)
        assert back["fid"].tolist() == list(range(1, len(frame) + 1))
        back = back.drop(columns="fid")
        if isinstance(frame, gpd.GeoDataFrame):
            assert back.crs.to_epsg() == 4326
            assert scalar(engine, "SELECT Find_SRID(:s, :t, 'geometry')", s=target.schema, t=name) == 4326
            for mine, theirs in zip(frame.geometry, back.geometry):
                assert (mine is None and theirs is None) or mine.equals_exact(theirs, 0)
            frame, back = pd.DataFrame(frame.drop(columns="geometry")), pd.DataFrame(back.drop(columns="geometry"))
        # NULL and NaN are both "missing"; everything else must be equal, types included.
        expected = frame.astype(object).where(frame.notna(), None)
        actual = back[frame.columns].astype(object).where(back[frame.columns].notna(), None)
        assert actual.to_dict("records") == expected.to_dict("records"), name
    kinds = dict(pd.read_sql(sa.text("SELECT f_table_name, type FROM geometry_columns WHERE f_table_schema = :s")
                             .bindparams(s=target.schema), engine).values)  # fmt: skip
    assert kinds == {"sites_ranked": "POLYGON", "samples": "POINT", "quarantine": "GEOMETRY"}
    assert scalar(engine, "SELECT data_type FROM information_schema.columns WHERE table_schema = :s AND "
                  "table_name = 'samples' AND column_name = 'ga_bdl'", s=target.schema) == "boolean"  # fmt: skip
    indexes = pd.read_sql(sa.text("SELECT indexdef FROM pg_indexes WHERE schemaname = :s").bindparams(s=target.schema),
                          engine)["indexdef"]  # fmt: skip
    assert indexes.str.contains("USING gist (geometry)", regex=False).sum() == 3
    assert indexes.str.contains("_pkey ON", regex=False).sum() == 4
    assert scalar(engine, "SELECT to_regnamespace(:s)", s=f"{target.schema}__staging") is None


def test_republish_with_same_columns_replaces_rows_in_place(target, engine):
    publish_layers(target, layers("run-1", n_sites=3))
    oid = scalar(engine, "SELECT to_regclass(:r)::oid", r=f"{target.schema}.sites_ranked")
    with engine.begin() as connection:  # a user's view on the table must survive a re-publish
        connection.execute(sa.text(f'CREATE VIEW "{target.schema}".top AS SELECT site_id FROM '
                                   f'"{target.schema}".sites_ranked WHERE rank <= 2'))  # fmt: skip
    publish_layers(target, layers("run-2", n_sites=5))
    assert scalar(engine, "SELECT to_regclass(:r)::oid", r=f"{target.schema}.sites_ranked") == oid
    assert scalar(engine, f'SELECT count(*) FROM "{target.schema}".sites_ranked') == 5
    assert scalar(engine, f'SELECT count(*) FROM "{target.schema}".top') == 2
    assert scalar(engine, f"SELECT value FROM \"{target.schema}\".run_metadata WHERE key = 'run_id'") == "run-2"


def test_republish_with_new_columns_swaps_the_table(target, engine):
    publish_layers(target, layers("run-1"))
    oid = scalar(engine, "SELECT to_regclass(:r)::oid", r=f"{target.schema}.sites_ranked")
    publish_layers(target, layers("run-2", extra_column=True))
    assert scalar(engine, "SELECT to_regclass(:r)::oid", r=f"{target.schema}.sites_ranked") != oid
    back = read_layer(engine, target.schema, "sites_ranked")
    assert (back["distance_to_hub_km"] == 12.5).all() and len(back) == 3
    assert scalar(engine, "SELECT Find_SRID(:s, 'sites_ranked', 'geometry')", s=target.schema) == 4326
    assert scalar(engine, "SELECT to_regnamespace(:s)", s=f"{target.schema}__staging") is None


def test_a_layer_missing_from_a_publish_is_dropped(target, engine):
    first = layers()
    first["hubs"] = gpd.GeoDataFrame({"hub": ["H1"]}, geometry=[shapely.Point(80, 22)], crs="EPSG:4326")
    publish_layers(target, first)
    assert scalar(engine, "SELECT to_regclass(:r)", r=f"{target.schema}.hubs") is not None
    publish_layers(target, layers())
    assert scalar(engine, "SELECT to_regclass(:r)", r=f"{target.schema}.hubs") is None


def _state(engine: sa.Engine, schema: str) -> tuple:
    """(run_id, sites, samples) read in ONE statement, i.e. one snapshot."""
    return tuple(pd.read_sql(
        f"SELECT (SELECT value FROM \"{schema}\".run_metadata WHERE key = 'run_id') AS run_id, "
        f'(SELECT count(*) FROM "{schema}".sites_ranked) AS sites, '
        f'(SELECT count(*) FROM "{schema}".samples) AS samples',
        engine,
    ).iloc[0])  # fmt: skip


def test_a_publish_failing_after_some_tables_were_replaced_rolls_everything_back(target, engine, monkeypatch):
    publish_layers(target, layers("run-1", n_sites=3))
    before = _state(engine, target.schema)
    real = postgis._put_in_place
    replaced = []

    def fail_on_the_third_table(connection, staging, schema, name):
        real(connection, staging, schema, name)  # really replaced inside the transaction...
        replaced.append(name)
        if len(replaced) == 3:
            connection.execute(sa.text("SELECT 1 / 0"))  # ...then the database fails

    monkeypatch.setattr(postgis, "_put_in_place", fail_on_the_third_table)
    with pytest.raises(PostgisError, match="rolled back .* division by zero"):
        publish_layers(target, layers("run-2", n_sites=5))
    assert len(replaced) == 3 and set(replaced) < set(layers("run-2", n_sites=5))  # three of the layers swapped in
    assert _state(engine, target.schema) == before == ("run-1", 3, 2)


def test_a_bad_layer_mid_publish_leaves_the_previous_tables(target, engine):
    publish_layers(target, layers("run-1"))
    bad = layers("run-2", n_sites=5)
    bad["quarantine"] = bad["quarantine"].set_crs("+proj=tmerc +lon_0=81.3 +k=0.9996 +datum=WGS84", allow_override=True)
    with pytest.raises(PostgisError, match="no EPSG code"):
        publish_layers(target, bad)  # sites_ranked and samples were already staged
    assert _state(engine, target.schema) == ("run-1", 3, 2)


@pytest.mark.parametrize("new_columns", [False, True], ids=["rows-replaced-in-place", "tables-swapped"])
def test_concurrent_readers_see_the_old_or_the_new_inventory_never_a_mix(target, engine, monkeypatch, new_columns):
    publish_layers(target, layers("run-1", n_sites=3))
    real = postgis._put_in_place

    def slow(connection, staging, schema, name):  # keep the transaction open between tables
        real(connection, staging, schema, name)
        time.sleep(0.3)

    monkeypatch.setattr(postgis, "_put_in_place", slow)
    publisher = threading.Thread(target=publish_layers, args=(target, layers("run-2", 5, extra_column=new_columns)))
    seen: list[tuple] = []
    reader = sa.create_engine(target.sqlalchemy_url, connect_args={"options": "-c statement_timeout=20000"})
    publisher.start()
    while publisher.is_alive():
        seen.append(_state(reader, target.schema))
        time.sleep(0.02)
    publisher.join()
    seen.append(_state(reader, target.schema))
    reader.dispose()
    assert set(seen) <= {("run-1", 3, 2), ("run-2", 5, 2)}, set(seen)
    assert seen[0] == ("run-1", 3, 2) and seen[-1] == ("run-2", 5, 2)


def test_a_repeatable_read_reader_keeps_its_snapshot_during_an_in_place_republish(target, engine):
    publish_layers(target, layers("run-1", n_sites=3))
    with engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            count = f'SELECT count(*) FROM "{target.schema}".sites_ranked'
            assert connection.execute(sa.text(count)).scalar() == 3
            publish_layers(target, layers("run-2", n_sites=5))  # same columns: DELETE + INSERT
            assert connection.execute(sa.text(count)).scalar() == 3
    assert scalar(engine, f'SELECT count(*) FROM "{target.schema}".sites_ranked') == 5


def test_staged_layers_stay_invisible_until_published_together(target, engine):
    publish_layers(target, layers("run-1", n_sites=3))
    staging = stage_layers(target, layers("run-2", n_sites=5), key="abc123")
    assert staging == f"{target.schema}__abc123"
    assert _state(engine, target.schema) == ("run-1", 3, 2)  # committed in the staging schema, not live
    assert _state(engine, staging) == ("run-2", 5, 2)
    assert publish_staged(target, "abc123") == [f"{target.schema}.{name}" for name in sorted(layers())]
    assert _state(engine, target.schema) == ("run-2", 5, 2)
    assert scalar(engine, "SELECT to_regnamespace(:s)", s=staging) is None


def test_publishing_a_key_nothing_was_staged_under_changes_nothing(target, engine):
    publish_layers(target, layers("run-1"))
    with pytest.raises(PostgisError, match="no layers are staged in PostGIS schema .*__nothing1"):
        publish_staged(target, "nothing1")
    assert _state(engine, target.schema) == ("run-1", 3, 2)


def test_a_publish_drops_staging_schemas_older_than_a_day_and_keeps_newer_ones(target, engine):
    for key in ("failed1", "running2", "mine3"):
        stage_layers(target, layers(f"run-{key}"), key=key)
    old = (pd.Timestamp.now(tz="UTC") - postgis.STALE_STAGING - pd.Timedelta(minutes=1)).isoformat(timespec="seconds")
    with engine.begin() as connection:
        connection.execute(sa.text(f"COMMENT ON SCHEMA \"{target.schema}__failed1\" IS "
                                   f"'residua staging of {target.schema} at {old}'"))  # fmt: skip
    publish_staged(target, "mine3")
    with engine.connect() as connection:
        assert staging_schemas(connection, target.schema) == [f"{target.schema}__running2"]
    assert _state(engine, target.schema) == ("run-mine3", 3, 2)


@pytest.mark.parametrize("key", ["", "ABC", "a-b", "x" * 13, "a;drop"])
def test_invalid_staging_keys_are_refused_before_connecting(key):
    target = PostgisTarget("postgresql://u:p@127.0.0.1:1/db")  # nothing listens on port 1
    with pytest.raises(PostgisError, match="staging key .* is not allowed"):
        stage_layers(target, layers(), key=key)


@pytest.mark.parametrize("schema", ["Residua", "1st", "pg_catalog", 'x"; DROP TABLE y; --', "a" * 49, ""])
def test_invalid_schema_names_are_refused(schema):
    with pytest.raises(PostgisError, match="schema name .* is not allowed"):
        PostgisTarget("postgresql://u:p@127.0.0.1:1/db", schema)


@pytest.mark.parametrize("table", ["Sites", "sites ranked", "sites;drop", "pg_x"])
def test_invalid_table_names_are_refused_before_connecting(table):
    target = PostgisTarget("postgresql://u:p@127.0.0.1:1/db")  # nothing listens on port 1
    with pytest.raises(PostgisError, match="table name .* is not allowed"):
        publish_layers(target, {table: pd.DataFrame({"a": [1]})})


def test_an_unreachable_server_is_reported_without_the_password():
    target = PostgisTarget("postgresql://user:s3cret@127.0.0.1:1/db")
    with pytest.raises(PostgisError, match=r"cannot publish to PostGIS at postgresql\+psycopg://user:\*\*\*@") as info:
        publish_layers(target, layers())
    assert "s3cret" not in str(info.value)


def test_a_database_without_postgis_is_refused(postgis_url):
    # The server's second database (for Dagster's storage) has no PostGIS extension.
    url = sa.engine.make_url(postgis_url)
    target = PostgisTarget(url.set(database=f"{url.database}_dagster").render_as_string(hide_password=False), "t")
    with pytest.raises(PostgisError, match="has no PostGIS extension"):
        publish_layers(target, layers())


def test_a_failed_postgis_publish_publishes_no_files_either(tmp_path):
    from tests.geodata.test_exports import METADATA, quarantine, ranked_sites, samples

    publish_inventory(tmp_path, ranked_sites(), samples(), quarantine(), METADATA)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    unreachable = PostgisTarget("postgresql://u:p@127.0.0.1:1/db")
    with pytest.raises(PostgisError, match="cannot publish to PostGIS"):
        publish_inventory(tmp_path, ranked_sites(), samples(), quarantine(), {**METADATA, "run_id": "run-2"},
                          postgis=unreachable)  # fmt: skip
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_publish_inventory_writes_files_and_postgis_tables_together(target, engine, tmp_path):
    from tests.geodata.test_exports import METADATA, quarantine, ranked_sites, samples

    only_points = quarantine().iloc[[0]]  # still typed GEOMETRY, so the next run's polygons fit in place
    publish_inventory(tmp_path, ranked_sites(), samples(), only_points, METADATA, formats=["csv"], postgis=target)
    assert [path.name for path in tmp_path.iterdir()] == ["sites_ranked.csv"]
    assert scalar(engine, f'SELECT count(*) FROM "{target.schema}".sites_ranked') == 3
    assert scalar(engine, f"SELECT value FROM \"{target.schema}\".run_metadata WHERE key = 'disclaimer'") == DISCLAIMER
    assert scalar(engine, "SELECT type FROM geometry_columns WHERE f_table_schema = :s AND f_table_name = 'quarantine'",
                  s=target.schema) == "GEOMETRY"  # fmt: skip
