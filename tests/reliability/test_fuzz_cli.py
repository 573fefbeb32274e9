"""`residua validate` on fuzzed and damaged data drops: it ends with 0 or 1 and never a traceback.

Drops are built from fuzzed site and sample rows (in CSV, GeoPackage or GeoJSON) with DEMs
that range from good to unreadable, and from a good drop whose files are then truncated or
have bytes overwritten (GeoPackage, GeoJSON, Shapefile, CSV, GeoTIFF).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, reject
from hypothesis import strategies as st
from rasterio.transform import from_origin
from shapely.errors import GEOSException

from tests.drops import write_prism_drop
from tests.reliability.helpers import (
    GOOD_BOX,
    assert_clean_validate,
    check_validate_outcome,
    fuzz_settings,
    run_validate,
    sample_rows,
    site_rows,
    write_csv_rows,
    write_dem,
    write_sites,
)

#: DEM files of the fuzzed drops, from good to useless; fuzzed sites pick any of them.
DEM_NAMES = (
    "rasters/surface.tif", "rasters/base.tif", "rasters/base_other_grid.tif", "rasters/geographic.tif",
    "rasters/no_crs.tif", "rasters/truncated.tif", "rasters/empty.tif", "rasters/text.tif", "rasters/all_nodata.tif",
    "rasters/nan_and_huge.tif", "rasters/far_away.tif",
)  # fmt: skip


def _write_dems(folder: Path) -> None:
    """DEMs around GOOD_BOX (UTM 44N) and broken variants."""
    footprint = gpd.GeoSeries([GOOD_BOX], crs="EPSG:4326").to_crs("EPSG:32644").iloc[0]
    minx, miny, maxx, maxy = footprint.bounds
    transform = from_origin(minx - 50, maxy + 50, 20.0, 20.0)
    shape = (int((maxy - miny + 100) / 20) + 1, int((maxx - minx + 100) / 20) + 1)
    base = np.full(shape, 100.0)
    write_dem(folder / "rasters" / "surface.tif", base + 5, transform)
    write_dem(folder / "rasters" / "base.tif", base, transform)
    write_dem(folder / "rasters" / "base_other_grid.tif", np.full((shape[0] // 2 + 2, shape[1] // 2 + 2), 99.0),
              from_origin(minx - 60, maxy + 60, 40.0, 40.0))  # fmt: skip
    write_dem(folder / "rasters" / "geographic.tif", base, from_origin(80, 20.01, 0.001, 0.001), crs="EPSG:4326")
    write_dem(folder / "rasters" / "no_crs.tif", base, transform, crs=None)
    whole = (folder / "rasters" / "surface.tif").read_bytes()
    (folder / "rasters" / "truncated.tif").write_bytes(whole[: len(whole) // 2])
    (folder / "rasters" / "empty.tif").write_bytes(b"")
    (folder / "rasters" / "text.tif").write_text("not a raster")
    write_dem(folder / "rasters" / "all_nodata.tif", np.full(shape, -9999.0), transform)
    odd = base.copy()
    odd[::2] = np.nan
    odd[1::4] = 3e38
    write_dem(folder / "rasters" / "nan_and_huge.tif", odd, transform)
    write_dem(folder / "rasters" / "far_away.tif", base, from_origin(100_000, 1_000_000, 20.0, 20.0))


@pytest.fixture(scope="module")
def dem_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dems")
    _write_dems(folder)
    return folder


DATASET_JSON = st.sampled_from([None, '{"title": "fuzz", "synthetic": true}', "{not json", "[1, 2]", '"text"',
                                '{"title": null, "synthetic": "yes"}', ""])  # fmt: skip


@fuzz_settings(30)
@given(
    sites=site_rows(dem_paths=DEM_NAMES),
    fmt=st.sampled_from(["csv", "gpkg", "geojson"]),
    samples=st.one_of(st.none(), sample_rows()),
    dataset=DATASET_JSON,
)
def test_validate_on_fuzzed_drops_ends_cleanly(tmp_path_factory, dem_folder, sites, fmt, samples, dataset):
    drop = tmp_path_factory.mktemp("drop")
    shutil.copytree(dem_folder / "rasters", drop / "rasters")
    for row in sites:  # give the fuzzed ids a chance to match the fuzzed samples' site_id
        row["site_id"] = {"": "", "S1": "S1"}.get(row["site_id"], row["site_id"])
    write_sites(drop, sites, fmt)
    if samples is not None:
        write_csv_rows(drop / "samples.csv", samples)
    if dataset is not None:
        (drop / "dataset.json").write_text(dataset)
    assert_clean_validate(drop)


# --------------------------------------------------------------------------------------------
# Damaged files

TARGETS = (
    "sites.gpkg", "sites.geojson", "sites.shp", "sites.shx", "sites.dbf", "sites.prj", "sites.csv", "samples.csv",
    "samples.gpkg", "rasters/P1_surface.tif", "rasters/P1_base.tif", "dataset.json",
)  # fmt: skip


@pytest.fixture(scope="module")
def good_drops(tmp_path_factory) -> dict[str, Path]:
    """The prism drop with its sites as GeoPackage, GeoJSON, Shapefile or CSV, samples as CSV or GeoPackage."""
    template = write_prism_drop(tmp_path_factory.mktemp("template") / "gpkg")
    sites = gpd.read_file(template / "sites.gpkg")
    drops = {"sites.gpkg": template}
    for key, write in (
        ("sites.geojson", lambda d: sites.to_file(d / "sites.geojson", driver="GeoJSON")),
        ("sites.shp", lambda d: sites.to_file(d / "sites.shp")),
        ("sites.csv", lambda d: sites.assign(wkt=sites.geometry.to_wkt()).drop(columns="geometry").to_csv(
            d / "sites.csv", index=False)),
    ):  # fmt: skip
        drop = tmp_path_factory.mktemp("template") / key.replace(".", "_")
        shutil.copytree(template, drop)
        (drop / "sites.gpkg").unlink()
        write(drop)
        drops[key] = drop
    points = tmp_path_factory.mktemp("template") / "samples_gpkg"
    shutil.copytree(template, points)
    table = gpd.pd.read_csv(template / "samples.csv", dtype=str, keep_default_na=False)
    lon = table["longitude"].replace("", np.nan).astype(float)
    table = table[lon.notna()]  # the lon/lat rows, as points
    gpd.GeoDataFrame(table.drop(columns=["longitude", "latitude", "x", "y", "crs"]),
                     geometry=gpd.points_from_xy(lon.dropna(), table["latitude"].astype(float)), crs="EPSG:4326"
                     ).to_file(points / "samples.gpkg")  # fmt: skip
    (points / "samples.csv").unlink()
    drops["samples.gpkg"] = points
    return drops


def _drop_for(target: str, drops: dict[str, Path]) -> Path:
    if target.startswith("sites.") and target not in ("sites.gpkg", "sites.geojson", "sites.csv"):
        return drops["sites.shp"]
    return drops.get(target, drops["sites.gpkg"])


damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("overwrite"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=40)),
    st.tuples(st.just("zero"), st.just(0.0)),
)


@fuzz_settings(40)
@given(target=st.sampled_from(TARGETS), how=damage)
def test_validate_on_truncated_or_corrupted_files_ends_cleanly(tmp_path_factory, good_drops, target, how):
    drop = tmp_path_factory.mktemp("damaged") / "drop"
    shutil.copytree(_drop_for(target, good_drops), drop)
    path = drop / target
    data = bytearray(path.read_bytes())
    kind, detail = how
    if kind == "truncate":
        data = data[: int(len(data) * detail)]
    elif kind == "zero":
        data = bytearray()
    else:
        for where, value in detail:
            data[min(int(where * len(data)), len(data) - 1)] = value
    path.write_bytes(bytes(data))
    status, printed = run_validate(drop)
    if isinstance(status, GEOSException):
        reject()  # a known crash, pinned by test_a_malformed_geometry_blob_is_a_clear_error_or_quarantined
    check_validate_outcome(status, printed)


def test_an_empty_drop_folder_and_a_missing_folder_are_clear_errors(tmp_path):
    assert "no sites file found" in assert_clean_validate(tmp_path)
    assert "does not exist" in assert_clean_validate(tmp_path / "missing")


@pytest.mark.parametrize(
    "content",
    [b"", b"site_id,name,residue_type,wkt\n", b"\n\n\n", b"\xff\xfe\x00\x00", b"site_id,name\n" + b"x," * 100 + b"\n"],
)
def test_empty_or_header_only_or_binary_sites_csv_is_a_clear_error(tmp_path, content):
    (tmp_path / "sites.csv").write_bytes(content)
    printed = assert_clean_validate(tmp_path)
    assert "UNUSABLE" in printed and "sites.csv" in printed


def test_a_drop_with_only_bad_rows_exits_1_with_every_reason(tmp_path):
    line = shapely.LineString([(0, 0), (1, 1)])
    rows = [
        {"site_id": "", "name": "", "residue_type": "granite", "geometry": None},
        {"site_id": "A", "name": "A", "residue_type": "red mud", "geometry": line},
    ]
    write_sites(tmp_path, rows, "gpkg")
    (tmp_path / "dataset.json").write_text(json.dumps({"title": "bad rows"}))
    status, printed = run_validate(tmp_path)
    assert status == 1
    assert "site_id is empty" in printed and "LineString" in printed and "no site was accepted" in printed


def test_run_on_a_drop_with_a_whole_file_error_prints_the_fix_without_a_stack_trace(tmp_path, capfd):
    from residua.pipelines.cli import main

    drop = write_prism_drop(tmp_path / "drop")
    (drop / "reference").mkdir()
    (drop / "reference" / "prices.csv").write_text("element,price_low_usd_per_kg\nga,1\n")
    status = main(["run", "--data", str(drop), "--out", str(tmp_path / "out"), "--draws", "100"])
    printed = "".join(capfd.readouterr())
    assert status == 1
    assert "prices.csv" in printed and "Fix:" in printed
    assert "Stack Trace" not in printed and "Traceback" not in printed and 'File "' not in printed
