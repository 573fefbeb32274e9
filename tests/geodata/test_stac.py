"""The STAC catalog of a published folder: loads with pystac, one item per grade COG, valid, relative hrefs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pystac
import pytest
from affine import Affine

from residua.geodata.qgis_project import PROJECT_FILE, read_project_from_geopackage, write_qgis_project
from residua.geodata.rasters import cog_bytes
from residua.geodata.stac import INVENTORY_COLLECTION, RASTERS_COLLECTION, validate_catalog, write_stac_catalog
from tests.geodata.test_qgis_project import publish_folder


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return publish_folder(tmp_path_factory.mktemp("published"))


@pytest.fixture(scope="module")
def catalog(published) -> pystac.Catalog:
    return pystac.Catalog.from_file(str(published / "stac" / "catalog.json"))


def test_catalog_loads_with_both_collections(catalog):
    assert catalog.id == "residua" and "SYNTHETIC" in catalog.description
    assert {collection.id for collection in catalog.get_all_collections()} == {RASTERS_COLLECTION, INVENTORY_COLLECTION}
    assert catalog.catalog_type == pystac.CatalogType.SELF_CONTAINED


def test_every_grade_cog_is_an_item_with_projection_and_raster_bands(published, catalog):
    items = {item.id: item for item in catalog.get_child(RASTERS_COLLECTION).get_items()}
    assert set(items) == {path.stem for path in (published / "rasters").glob("*_grade.tif")}
    item = items["S1_ga_grade"]
    assert item.properties["residua:element"] == "ga" and item.properties["residua:site_id"] == "S1"
    code = item.properties.get("proj:code") or f"EPSG:{item.properties['proj:epsg']}"
    assert code == "EPSG:32644"  # the site's UTM zone (78 E)
    assert len(item.properties["proj:shape"]) == 2 and len(item.properties["proj:transform"]) in (6, 9)
    asset = item.assets["grade"]
    assert asset.roles == ["data"] and asset.media_type == pystac.MediaType.COG
    bands = asset.extra_fields["raster:bands"]
    assert [band["name"] for band in bands] == ["p50_gt", "p10_gt", "p90_gt", "p10_sample_gt", "p90_sample_gt"]
    assert all(band["nodata"] == -9999.0 and band["unit"] == "g/t" for band in bands)
    assert Path(asset.get_absolute_href()).resolve() == (published / "rasters" / "S1_ga_grade.tif").resolve()


def test_inventory_item_lists_the_vector_exports_with_roles(catalog):
    item = catalog.get_child(INVENTORY_COLLECTION).get_item("inventory")
    media = {Path(asset.href).name: (asset.media_type, asset.roles) for asset in item.assets.values()}
    assert media["inventory.gpkg"] == ("application/geopackage+sqlite3", ["data"])
    assert media["sites_ranked.geojson"] == ("application/geo+json", ["data"])
    assert media["sites_ranked.parquet"][0] == "application/vnd.apache.parquet"
    assert media["sites_ranked.fgb"][0] == "application/vnd.flatgeobuf"
    assert media["residua.qgz"][1] == ["visual"] and media["sites_ranked.qml"][1] == ["style"]
    assert item.properties["proj:code"] == "EPSG:4326" and item.properties["residua:run_id"] == "run-123"
    assert item.bbox[0] == pytest.approx(78.0 - 0.002)


def test_catalog_is_valid_under_pystac_validation(published):
    modes = validate_catalog(published / "stac" / "catalog.json")
    # core schemas ship with pystac; extension schemas are fetched, else checked field by field
    assert {uri.split("/")[3] for uri in modes} == {"projection", "raster"}
    assert set(modes.values()) <= {"jsonschema", "structural"}


def test_every_href_is_relative_so_the_folder_can_move(published, tmp_path):
    for path in (published / "stac").rglob("*.json"):
        document = json.loads(path.read_text())
        hrefs = [link["href"] for link in document.get("links", [])]
        hrefs += [asset["href"] for asset in document.get("assets", {}).values()]
        assert all(not href.startswith("/") and "://" not in href for href in hrefs), (path, hrefs)
    moved = tmp_path / "moved"
    shutil.copytree(published, moved)
    catalog = pystac.Catalog.from_file(str(moved / "stac" / "catalog.json"))
    for item in catalog.get_items(recursive=True):
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_file(), asset.href


def test_a_malformed_projection_code_is_refused(published, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    item_path = copy / "stac" / RASTERS_COLLECTION / "S1_ga_grade" / "S1_ga_grade.json"
    document = json.loads(item_path.read_text())
    document["properties"]["proj:code"] = "32644"
    document["properties"].pop("proj:epsg", None)
    item_path.write_text(json.dumps(document))
    with pytest.raises((ValueError, pystac.errors.STACValidationError)):
        validate_catalog(copy / "stac" / "catalog.json")


def test_rewriting_the_catalog_replaces_it(published, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    (copy / "rasters" / "S2_ga_grade.tif").unlink()
    write_stac_catalog(copy)
    catalog = pystac.Catalog.from_file(str(copy / "stac" / "catalog.json"))
    items = {item.id for item in catalog.get_child(RASTERS_COLLECTION).get_items()}
    assert items == {"S1_ga_grade", "S1_te_grade"}


def _flat_cog(path: Path, value: float, site_id: str) -> None:
    """A 6 x 5 grade raster of one value in every band (NaN: every cell nodata), as the pipeline writes one."""
    grid = np.full((5, 6), value)
    bands = {name: grid for name in ("p50_gt", "p10_gt", "p90_gt", "p10_sample_gt", "p90_sample_gt")}
    tags = {"element": "ga", "unit": "g/t", "site_id": site_id, "synthetic": "True"}
    path.write_bytes(cog_bytes(bands, Affine(40.0, 0, 300_000.0, 0, -40.0, 2_300_000.0), "EPSG:32644", tags))


def test_constant_and_all_nodata_rasters_are_catalogued_not_fatal(published, tmp_path):
    # rio-stac's histogram raised "Too many bins for data range" on a constant raster
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    _flat_cog(copy / "rasters" / "FLAT_ga_grade.tif", 12.5, "FLAT")
    _flat_cog(copy / "rasters" / "EMPTY_ga_grade.tif", np.nan, "EMPTY")
    write_stac_catalog(copy, rasters_root=copy)
    validate_catalog(copy / "stac" / "catalog.json")
    items = {item.id: item for item in pystac.Catalog.from_file(str(copy / "stac" / "catalog.json"))
             .get_child(RASTERS_COLLECTION).get_items()}  # fmt: skip
    flat = items["FLAT_ga_grade"].assets["grade"].extra_fields["raster:bands"]
    assert [band["statistics"] for band in flat] == [
        {"valid_percent": 100.0, "minimum": 12.5, "maximum": 12.5, "mean": 12.5, "stddev": 0.0}
    ] * 5
    assert all(band["data_type"] == "float32" and band["nodata"] == -9999.0 and band["unit"] == "g/t"
               and band["spatial_resolution"] == 40.0 for band in flat)  # fmt: skip
    empty = items["EMPTY_ga_grade"].assets["grade"].extra_fields["raster:bands"]
    assert [band["statistics"] for band in empty] == [{"valid_percent": 0.0}] * 5
    assert [band["name"] for band in empty][0] == "p50_gt"
    # the QGIS project draws the constant raster and leaves out the empty one (nothing to draw)
    write_qgis_project(copy)
    qgs = read_project_from_geopackage(copy / "inventory.gpkg")
    assert "./rasters/FLAT_ga_grade.tif" in qgs and "EMPTY_ga_grade" not in qgs
    assert (copy / PROJECT_FILE).is_file()


def test_band_statistics_come_from_the_valid_cells(catalog):
    item = catalog.get_child(RASTERS_COLLECTION).get_item("S1_ga_grade")
    p50 = item.assets["grade"].extra_fields["raster:bands"][0]
    statistics = p50["statistics"]
    # _cog: 40 * exp(linspace(-0.5, 0.5)) with the first cell nodata
    assert 0 < statistics["valid_percent"] < 100
    assert statistics["minimum"] > 40.0 * np.exp(-0.5) and statistics["maximum"] == pytest.approx(40.0 * np.exp(0.5))
    assert statistics["minimum"] < statistics["mean"] < statistics["maximum"]
