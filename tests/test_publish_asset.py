"""The ``inventory`` asset honours the publishing settings: export formats and a PostGIS target."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pydantic
import pytest
import sqlalchemy as sa

from residua.assets.publish import PUBLISHERS
from residua.assets.settings import run_settings
from residua.geodata.postgis import PostgisTarget
from residua.geodata.publish import ALL_FORMATS, FORMAT_FILES, SIDECAR_STYLE
from residua.geodata.review_page import page_payload
from residua.geodata.schema import ELEMENTS
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop
from tests.geodata.test_postgis import require_postgis_url

OUR_EXPORTS = {*(name for names in FORMAT_FILES.values() for name in names), *SIDECAR_STYLE}
#: The files of README's "What out/ holds" table (rasters/ checked apart).
README_FILES = {*OUR_EXPORTS, "grade_model_report.html", "grade_model_report.csv", "report.html", "grade_tonnage.csv",
                "residua.qgz", "basemap/ne_110m_countries.geojson", "sampling_plan.csv",
                "sampling_plan.gpx"}  # fmt: skip


def _materialize(tmp_path: Path, **settings: object) -> tuple[dg.ExecuteInProcessResult, Path]:
    drop = write_prism_drop(tmp_path / "drop")
    out = tmp_path / "out"
    resource = run_settings(data_dir=str(drop), out_dir=str(out), n_draws=200, **settings)
    result = (
        build_definitions(resource)
        .resolve_job_def("refresh_job")
        .execute_in_process(instance=dg.DagsterInstance.ephemeral())
    )
    assert result.success
    return result, out


def _inventory_metadata(result: dg.ExecuteInProcessResult) -> dict:
    return result.asset_materializations_for_node("inventory")[0].metadata


def _published(out: Path) -> dict[str, tuple[int, bytes]]:
    """Published files (no hidden staging folders, no GDAL .aux.xml): path -> (inode, bytes).

    A publish renames new files into place, so a file it replaced has a new inode even if its bytes are equal.
    """
    files = [path for path in sorted(out.rglob("*")) if path.is_file() and not path.name.endswith(".aux.xml")]
    published = [path for path in files if not path.relative_to(out).as_posix().startswith(".")]
    return {path.relative_to(out).as_posix(): (path.stat().st_ino, path.read_bytes()) for path in published}


def test_a_run_publishes_every_output_together_and_clears_what_is_stale(tmp_path):
    out = tmp_path / "out"
    (out / "rasters").mkdir(parents=True)
    (out / "rasters" / "GONE_ga_grade.tif").write_bytes(b"a site no longer modelled")
    leftover = out / ".staging-k1ll3d"  # left by a run killed while writing
    leftover.mkdir()
    (leftover / "inventory.gpkg").write_bytes(b"partial")
    result, out = _materialize(tmp_path)
    assert result.asset_materializations_for_node("release")[0].metadata["published"].value == sorted(PUBLISHERS)
    names = set(_published(out))
    assert README_FILES <= names, README_FILES - names
    rasters = {name for name in names if name.startswith("rasters/")}
    assert rasters and all(name.endswith("_grade.tif") for name in rasters)
    assert "rasters/GONE_ga_grade.tif" not in rasters
    cards = {name for name in names if name.startswith("model_cards/")}
    assert cards == {f"model_cards/{element}.json" for element in ELEMENTS}
    catalog = {name for name in names if name.startswith("stac/")}
    assert "stac/catalog.json" in catalog
    assert names == README_FILES | rasters | cards | catalog
    assert not any(name.endswith((".joblib", ".pkl", ".pickle")) for name in names), "no model file is ever published"
    lineage = gpd.read_file(out / "inventory.gpkg", layer="lineage")
    published_ids = {element: json.loads((out / f"model_cards/{element}.json").read_text())["model_id"]
                     for element in ELEMENTS}  # fmt: skip
    assert {json.dumps(published_ids, sort_keys=True)} == set(lineage["grade_models"])  # every site names them
    card = json.loads((out / "model_cards" / "ga.json").read_text(encoding="utf-8"))
    assert card["element"] == "ga" and len(card["training_data"]["sha256"]) == 64
    assert [path.name for path in out.iterdir() if path.name.startswith(".")] == []
    assert page_payload(out / "inventory.gpkg")["sampling_plan"]["top_n"] == run_settings().value("plan_top_n")


def test_a_run_without_the_release_asset_publishes_what_it_stages(tmp_path):
    drop, out = write_prism_drop(tmp_path / "drop"), tmp_path / "out"
    resource = run_settings(data_dir=str(drop), out_dir=str(out), n_draws=200)
    job = build_definitions(resource).resolve_job_def("refresh_job")
    instance = dg.DagsterInstance.ephemeral()
    assert job.execute_in_process(instance=instance).success
    (out / "report.html").unlink()
    alone = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("review_report")])
    assert alone.success and (out / "report.html").is_file()  # e.g. one asset materialized from the UI
    assert not list(out.glob(".staging-*"))


def test_a_run_failing_after_the_grade_outputs_are_staged_publishes_nothing(tmp_path, monkeypatch):
    _, out = _materialize(tmp_path)
    before = _published(out)

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("residua.assets.publish.stage_inventory", failing)
    drop = tmp_path / "drop"
    resource = run_settings(data_dir=str(drop), out_dir=str(out), n_draws=200)
    job = build_definitions(resource).resolve_job_def("refresh_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success and not result.asset_materializations_for_node("release")
    staged = [path.relative_to(folder).as_posix() for folder in out.glob(".staging-*") for path in folder.rglob("*.*")]
    assert "grade_model_report.csv" in staged and any(name.startswith("rasters/") for name in staged)  # not published
    assert _published(out) == before  # the same files, not even replaced by equal ones


def test_a_run_failing_after_its_inventory_is_staged_leaves_postgis_and_files_at_the_previous_run(
    tmp_path, monkeypatch
):
    """PostGIS tables change only when the files publish: a run failing in between changes neither."""
    url = require_postgis_url()
    schema = f"asset_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PostgisTarget(url).sqlalchemy_url)
    run_id_sql = f"SELECT value FROM \"{schema}\".run_metadata WHERE key = 'run_id'"
    postgis = {"postgis_schema": schema, "postgis_url": dg.EnvVar("RESIDUA_TEST_POSTGIS_URL")}
    try:
        first, out = _materialize(tmp_path, **postgis)
        before = _published(out)

        def failing(*args, **kwargs):
            raise OSError("disk full")

        # after inventory staged its layers
        monkeypatch.setattr("residua.assets.review_report.build_review_page", failing)
        resource = run_settings(data_dir=str(tmp_path / "drop"), out_dir=str(out), n_draws=200, **postgis)
        job = build_definitions(resource).resolve_job_def("refresh_job")
        failed = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        assert not failed.success
        assert failed.asset_materializations_for_node("inventory")  # its layers were staged
        with engine.connect() as connection:
            assert connection.execute(sa.text(run_id_sql)).scalar() == first.run_id
        assert _published(out) == before

        monkeypatch.undo()
        again = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
        with engine.connect() as connection:
            assert connection.execute(sa.text(run_id_sql)).scalar() == again.run_id
        published = gpd.read_file(out / "inventory.gpkg", layer="run_metadata").set_index("key")
        assert published.loc["run_id", "value"] == again.run_id
    finally:
        with engine.begin() as connection:
            names = connection.execute(sa.text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :s)"),
                                       {"s": schema}).scalars().all()  # fmt: skip
            for name in names:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def test_default_settings_write_every_format():
    assert run_settings().value("formats") == list(ALL_FORMATS)
    assert run_settings().value("postgis_url") is None


def test_inventory_writes_only_the_selected_formats(tmp_path):
    result, out = _materialize(tmp_path, formats=["gpkg", "fgb"])
    assert {path.name for path in out.iterdir()} & OUR_EXPORTS == {"inventory.gpkg", "sites_ranked.fgb",
                                                                   "sites_ranked.qml", "sites_ranked.sld"}  # fmt: skip
    metadata = _inventory_metadata(result)
    assert metadata["formats"].value == "gpkg, flatgeobuf" and "postgis" not in metadata
    assert Path(metadata["sites_ranked_flatgeobuf"].value) == out / "sites_ranked.fgb"
    assert len(gpd.read_file(out / "sites_ranked.fgb")) == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("formats", ["gpkg", "kml"], "unknown export format 'kml'; choose from gpkg, geojson, shapefile"),
        ("formats", [], "no export format given"),
        ("postgis_schema", "Inventory", "schema name 'Inventory' is not allowed"),
    ],
)
def test_invalid_publishing_settings_are_refused_with_the_allowed_values(field, value, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        run_settings(**{field: value})


def test_inventory_publishes_to_postgis_from_an_env_var(tmp_path):
    url = require_postgis_url()
    schema = f"asset_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PostgisTarget(url).sqlalchemy_url)
    try:
        result, out = _materialize(tmp_path, formats=["gpkg"], postgis_schema=schema,
                                   postgis_url=dg.EnvVar("RESIDUA_TEST_POSTGIS_URL"))  # fmt: skip
        files = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked")
        tables = gpd.read_postgis(f'SELECT * FROM "{schema}".sites_ranked ORDER BY fid', engine, geom_col="geometry")
        assert tables["site_id"].tolist() == files["site_id"].tolist()  # both in rank order
        assert sorted(tables["site_id"]) == ["P1", "P2", "P3"]
        assert tables.crs.to_epsg() == 4326
        assert tables["rank"].tolist() == files["rank"].tolist()
        with engine.connect() as connection:
            tables_sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
            names = set(connection.execute(sa.text(tables_sql), {"s": schema}).scalars())
            run_id_sql = f"SELECT value FROM \"{schema}\".run_metadata WHERE key = 'run_id'"
            run_id = connection.execute(sa.text(run_id_sql)).scalar()
        assert names == {"sites_ranked", "samples", "quarantine", "run_metadata", "hubs", "hub_assignments",
                         "sampling_plan", "reviews", "grade_tonnage", "lineage", "changes"}  # fmt: skip
        assert run_id == result.run_id
        reported = _inventory_metadata(result)["postgis"].value
        assert reported.endswith(f"schema {schema}") and ":***@" in reported
        assert f":{sa.engine.make_url(url).password}@" not in reported
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
