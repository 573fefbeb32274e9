"""Zonal statistics of covariate rasters: known answers on tiny grids written to tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import rasterio
import rasterio.shutil
import shapely
from rasterio.transform import from_origin

from residua.geodata.errors import CRSError, DataDropError
from residua.geodata.zonal import covariate_name, find_covariates, site_covariates, zonal_statistics

UTM44 = "EPSG:32644"
E0, N0 = 500_000.0, 2_300_000.0  # a point on UTM 44N's central meridian (central India)
STATS = ["mean", "std", "p10", "p90"]


def write_raster(path: Path, array: np.ndarray, transform, crs: str | None = UTM44, nodata=None, **extra) -> Path:
    """A one-band float32 GeoTIFF."""
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1,
               "dtype": "float32", "crs": crs, "transform": transform, "nodata": nodata, **extra}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(np.asarray(array, dtype="float32"), 1)
    return path


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted quantile with linear interpolation: S_k = k w_k + (n - 1) sum_{i<k} w_i (Wikipedia).

    With equal weights it is numpy's default ('linear') percentile.
    """
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    n = len(values)
    s = np.arange(n) * weights + (n - 1) * np.concatenate([[0.0], np.cumsum(weights)[:-1]])
    target = q * s[-1]
    k = int(np.searchsorted(s, target))
    if k == 0:
        return float(values[0])
    return float(values[k - 1] + (target - s[k - 1]) * (values[k] - values[k - 1]) / (s[k] - s[k - 1]))


def test_weighted_quantile_reduces_to_numpy_percentile_with_equal_weights():
    values = np.array([3.0, 1.0, 7.0, 4.0, 10.0])
    for q in (0.1, 0.5, 0.9):
        assert weighted_quantile(values, np.ones(5), q) == pytest.approx(np.percentile(values, 100 * q))


@pytest.fixture
def grid(tmp_path) -> tuple[Path, np.ndarray]:
    """A 4 x 4 raster of 10 m pixels with distinct seeded values; west edge E0, north edge N0 + 40."""
    values = np.random.default_rng(3).normal(20.0, 5.0, size=(4, 4)).astype("float32")
    return write_raster(tmp_path / "grid.tif", values, from_origin(E0, N0 + 40, 10, 10)), values.astype(float)


def half_pixel_square() -> shapely.Polygon:
    """A 20 m square from E0 + 5 to E0 + 25 (and N0 + 5 to N0 + 25): half pixels on every side."""
    return shapely.box(E0 + 5, N0 + 5, E0 + 25, N0 + 25)


def half_pixel_weights() -> np.ndarray:
    """Share of each pixel of ``grid`` inside ``half_pixel_square`` (rows north to south)."""
    by_row = np.array([0.0, 0.5, 1.0, 0.5])  # rows span N0+30..40, 20..30, 10..20, 0..10
    by_col = np.array([0.5, 1.0, 0.5, 0.0])  # columns span E0+0..10, 10..20, 20..30, 30..40
    return by_row[:, None] * by_col[None, :]


def test_known_answer_on_exact_half_pixels(grid):
    path, values = grid
    weights = half_pixel_weights()
    inside = weights > 0
    v, w = values[inside], weights[inside]
    mean = float(np.sum(w * v) / np.sum(w))
    expected = {
        "cov_grid_mean": mean,
        "cov_grid_std": float(np.sqrt(np.sum(w * (v - mean) ** 2) / np.sum(w))),
        "cov_grid_p10": weighted_quantile(v, w, 0.1),
        "cov_grid_p90": weighted_quantile(v, w, 0.9),
        "cov_grid_sum": float(np.sum(w * v)),
        "cov_grid_coverage": 1.0,
    }
    sites = gpd.GeoSeries([half_pixel_square()], crs=UTM44)
    table = zonal_statistics(sites, path, statistics=(*STATS, "sum"))
    assert list(table.columns) == list(expected)
    npt.assert_allclose(table.iloc[0].to_numpy(dtype=float), list(expected.values()), rtol=1e-6)
    # the centre-in-polygon answer (what rasterstats gives by default) is different
    assert mean != pytest.approx(values[1:3, 1:3].mean(), rel=1e-3)


def test_nodata_and_nan_pixels_are_excluded_and_lower_coverage(tmp_path):
    values = np.arange(16, dtype="float32").reshape(4, 4)
    values[1, 1] = -9999.0  # nodata, weight 0.5 in the square
    values[2, 1] = np.nan  # NaN, weight 1.0
    path = write_raster(tmp_path / "holes.tif", values, from_origin(E0, N0 + 40, 10, 10), nodata=-9999.0)
    weights = half_pixel_weights()
    weights[1, 1] = weights[2, 1] = 0.0
    table = zonal_statistics(gpd.GeoSeries([half_pixel_square()], crs=UTM44), path, "holes")
    assert table.loc[0, "cov_holes_coverage"] == pytest.approx(np.sum(weights) / 4.0)  # the square is 4 pixels
    expected_mean = np.sum(weights * values.astype(float), where=weights > 0) / np.sum(weights)
    assert table.loc[0, "cov_holes_mean"] == pytest.approx(expected_mean)


@pytest.mark.parametrize("nodata", [None, -9999.0, float("nan")])
def test_nan_pixels_count_as_missing_whatever_the_nodata_value(tmp_path, nodata):
    values = np.full((4, 4), 7.0)
    values[2, 1] = np.nan  # weight 1.0 in the square
    path = write_raster(tmp_path / "nan.tif", values, from_origin(E0, N0 + 40, 10, 10), nodata=nodata)
    table = zonal_statistics(gpd.GeoSeries([half_pixel_square()], crs=UTM44), path, "nan")
    assert table.loc[0, "cov_nan_coverage"] == pytest.approx(3.0 / 4.0)
    assert table.loc[0, "cov_nan_mean"] == pytest.approx(7.0)
    assert table.loc[0, "cov_nan_std"] == pytest.approx(0.0)


def test_footprint_in_another_crs_than_the_raster(tmp_path):
    # value = easting of the pixel centre (minus E0)
    transform = from_origin(E0 - 1000, N0 + 1000, 10, 10)
    columns = np.arange(200)
    values = np.tile(E0 - 1000 + (columns + 0.5) * 10, (200, 1))
    path = write_raster(tmp_path / "easting.tif", values - E0, transform)
    square = shapely.box(E0 - 333, N0 - 217, E0 + 444, N0 + 301)
    lonlat = gpd.GeoSeries([square], crs=UTM44).to_crs("EPSG:4326")
    lcc = gpd.GeoSeries([square], crs=UTM44).to_crs("EPSG:7755")
    utm_table = zonal_statistics(gpd.GeoSeries([square], crs=UTM44), path, "e")
    lonlat_table = zonal_statistics(lonlat, path, "e")
    lcc_table = zonal_statistics(lcc, path, "e")
    left = E0 - 1000 + columns * 10.0
    overlap = np.clip(np.minimum(left + 10, square.bounds[2]) - np.maximum(left, square.bounds[0]), 0, None)
    exact = float(np.sum(overlap * (left + 5 - E0)) / np.sum(overlap))  # coverage-weighted pixel centres
    assert utm_table.loc[0, "cov_e_mean"] == pytest.approx(exact, rel=1e-7)  # float32 coverage fractions
    for table in (lonlat_table, lcc_table):  # the same square, only its vertices reprojected twice
        assert table.loc[0, "cov_e_mean"] == pytest.approx(exact, abs=0.05)
        assert table.loc[0, "cov_e_coverage"] == pytest.approx(1.0)


def test_geographic_raster(tmp_path):
    # EPSG:4326 raster at 0.01 degree whose value is the pixel centre's longitude
    transform = from_origin(80.0, 21.0, 0.01, 0.01)
    values = np.tile(80.0 + (np.arange(200) + 0.5) * 0.01, (200, 1))
    path = write_raster(tmp_path / "Lon Grid.tif", values, transform, crs="EPSG:4326")
    square = shapely.box(E0 - 2000, N0 - 2000, E0 + 2000, N0 + 2000)  # ~4 km, centred on 81 E
    table = zonal_statistics(gpd.GeoSeries([square], crs=UTM44), path)
    centroid_lon = gpd.GeoSeries([square.centroid], crs=UTM44).to_crs("EPSG:4326").iloc[0].x
    assert list(table.columns) == [f"cov_lon_grid_{stat}" for stat in (*STATS, "coverage")]
    assert table.loc[0, "cov_lon_grid_mean"] == pytest.approx(centroid_lon, abs=1e-4)
    assert table.loc[0, "cov_lon_grid_coverage"] == pytest.approx(1.0)
    assert 0 < table.loc[0, "cov_lon_grid_std"] < 0.02


def test_site_off_the_raster_gets_nan_and_zero_coverage(grid):
    path, _ = grid
    far = shapely.box(E0 + 5000, N0 + 5000, E0 + 5100, N0 + 5100)
    half_off = shapely.box(E0 - 20, N0 + 10, E0 + 20, N0 + 30)  # west half lies off the raster
    table = zonal_statistics(gpd.GeoSeries([far, half_off], crs=UTM44), path, statistics=(*STATS, "sum"))
    assert table.loc[0, [f"cov_grid_{stat}" for stat in (*STATS, "sum")]].isna().all()
    assert table.loc[0, "cov_grid_coverage"] == 0.0
    assert table.loc[1, "cov_grid_coverage"] == pytest.approx(0.5)
    assert np.isfinite(table.loc[1, "cov_grid_mean"])


def test_site_in_a_crs_that_cannot_reach_the_raster_is_off_it(grid):
    path, _ = grid
    # a polygon near the antipode cannot be projected to UTM 44N: treated as off the raster
    table = zonal_statistics(gpd.GeoSeries([shapely.box(-99.1, -21.1, -99.0, -21.0)], crs="EPSG:4326"), path)
    assert table.loc[0, "cov_grid_coverage"] == 0.0 and np.isnan(table.loc[0, "cov_grid_mean"])


def test_points_take_the_value_of_their_pixel(tmp_path):
    values = np.array([[1.0, 2.0], [3.0, -9999.0]])
    path = write_raster(tmp_path / "p.tif", values, from_origin(E0, N0 + 20, 10, 10), nodata=-9999.0)
    points = gpd.GeoSeries(
        [shapely.Point(E0 + 12, N0 + 18), shapely.Point(E0 + 15, N0 + 5), shapely.Point(E0 - 5, N0)], crs=UTM44
    ).to_crs("EPSG:4326")
    table = zonal_statistics(points, path)
    assert table.loc[0].tolist() == [2.0, 0.0, 2.0, 2.0, 1.0]  # mean, std, p10, p90, coverage
    assert table.loc[1, "cov_p_coverage"] == 0.0 and np.isnan(table.loc[1, "cov_p_mean"])  # nodata pixel
    assert table.loc[2, "cov_p_coverage"] == 0.0 and np.isnan(table.loc[2, "cov_p_mean"])  # off the raster


def test_raster_without_crs_raises_naming_the_file_and_the_fix(grid, tmp_path):
    _, values = grid
    path = write_raster(tmp_path / "nocrs.tif", values, from_origin(E0, N0 + 40, 10, 10), crs=None)
    with pytest.raises(CRSError) as caught:
        zonal_statistics(gpd.GeoSeries([half_pixel_square()], crs=UTM44), path)
    assert "nocrs.tif" in str(caught.value) and "no CRS" in str(caught.value)
    assert "-a_srs" in caught.value.fix


def test_sites_without_crs_raise(grid):
    path, _ = grid
    with pytest.raises(CRSError, match="set_crs"):
        zonal_statistics(gpd.GeoSeries([half_pixel_square()]), path)


def test_unknown_statistic_and_multiband_raster_are_refused(grid, tmp_path):
    path, values = grid
    with pytest.raises(ValueError, match="median"):
        zonal_statistics(gpd.GeoSeries([half_pixel_square()], crs=UTM44), path, statistics=("median",))
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 2, "dtype": "float32", "crs": UTM44,
               "transform": from_origin(E0, N0 + 40, 10, 10)}  # fmt: skip
    with rasterio.open(tmp_path / "two.tif", "w", **profile) as dataset:
        dataset.write(np.stack([values, values]).astype("float32"))
    with pytest.raises(DataDropError, match="2 bands"):
        zonal_statistics(gpd.GeoSeries([half_pixel_square()], crs=UTM44), tmp_path / "two.tif")


def test_small_read_budget_gives_the_same_answer(tmp_path):
    values = np.random.default_rng(5).gamma(2.0, 3.0, size=(300, 300))
    path = write_raster(tmp_path / "g.tif", values, from_origin(E0, N0 + 3000, 10, 10))
    footprints = gpd.GeoSeries(
        [shapely.Point(E0 + 1500, N0 + 1500).buffer(1200), shapely.box(E0 + 3.3, N0 + 7.7, E0 + 2100.1, N0 + 905.5)],
        crs=UTM44,
    )
    whole = zonal_statistics(footprints, path, statistics=(*STATS, "sum"))
    budget = zonal_statistics(footprints, path, statistics=(*STATS, "sum"), max_cells_in_memory=1000)
    pd.testing.assert_frame_equal(whole, budget, rtol=1e-9)


def test_covariate_names_and_discovery(tmp_path):
    folder = tmp_path / "rasters" / "covariates"
    (folder / "tiles").mkdir(parents=True)
    transform = from_origin(E0, N0 + 40, 10, 10)
    write_raster(folder / "Regional Ga-ppm.tif", np.ones((4, 4)), transform)
    write_raster(folder / "pond_wetness_index.TIFF", np.ones((4, 4)), transform)
    write_raster(folder / "tiles" / "tile_1.tif", np.ones((4, 4)), transform)  # a VRT's tile, not a covariate
    (folder / "notes.txt").write_text("not a raster")
    assert covariate_name("a..b--C.vrt") == "a_b_c"
    assert list(find_covariates(tmp_path)) == ["pond_wetness_index", "regional_ga_ppm"]
    assert find_covariates(tmp_path / "elsewhere") == {}
    write_raster(folder / "regional-ga-ppm.tif", np.ones((4, 4)), transform)
    with pytest.raises(DataDropError, match="already taken"):
        find_covariates(tmp_path)


def test_unreadable_covariate_names_the_file(tmp_path):
    folder = tmp_path / "rasters" / "covariates"
    folder.mkdir(parents=True)
    (folder / "broken.tif").write_bytes(b"not a tiff")
    with pytest.raises(DataDropError, match="broken.tif"):
        find_covariates(tmp_path)


@pytest.mark.parametrize("kind", ["symlink", "vrt"])
def test_covariate_reaching_outside_the_drop_is_refused(tmp_path, grid, kind):
    path, _ = grid  # tmp_path/grid.tif, outside tmp_path/drop
    folder = tmp_path / "drop" / "rasters" / "covariates"
    folder.mkdir(parents=True)
    if kind == "symlink":
        (folder / "regional.tif").symlink_to(path)
    else:
        rasterio.shutil.copy(str(path), str(folder / "regional.vrt"), driver="VRT")
    with pytest.raises(DataDropError, match="outside the data directory") as caught:
        find_covariates(tmp_path / "drop")
    assert "regional" in str(caught.value) and str(path.resolve()) in str(caught.value)


def test_vrt_whose_tiles_are_inside_the_drop_is_accepted(tmp_path):
    folder = tmp_path / "drop" / "rasters" / "covariates"
    tiles, _, _ = _two_tiles(folder / "tiles")
    hand_written_vrt(tiles, folder / "mosaic.vrt")  # sources "tiles/west.tif", "tiles/east.tif"
    found = find_covariates(tmp_path / "drop")
    assert list(found) == ["mosaic"]
    sites = gpd.GeoDataFrame({"site_id": ["S"]}, geometry=[shapely.Point(E0 + 600, N0 + 500).buffer(230)], crs=UTM44)
    table, _ = site_covariates(sites, tmp_path / "drop")
    assert table.loc["S", "cov_mosaic_coverage"] == pytest.approx(1.0)


def test_site_covariates_one_row_per_site(grid, tmp_path):
    path, _ = grid
    folder = tmp_path / "drop" / "rasters" / "covariates"
    folder.mkdir(parents=True)
    shutil.copy(path, folder / "Grid A.tif")
    far = shapely.box(0, 0, 1, 1)
    sites = gpd.GeoDataFrame({"site_id": ["S1", "S2"]}, geometry=[half_pixel_square(), far], crs=UTM44)
    table, found = site_covariates(sites.to_crs("EPSG:4326"), tmp_path / "drop")
    assert list(found) == ["grid_a"]
    assert table.index.tolist() == ["S1", "S2"] and table.index.name == "site_id"
    assert [column for column in table.columns if column.endswith("coverage")] == ["cov_grid_a_coverage"]
    assert table.loc["S1", "cov_grid_a_coverage"] == pytest.approx(1.0)
    assert table.loc["S2", "cov_grid_a_coverage"] == 0.0
    empty, none = site_covariates(sites, tmp_path)
    assert none == {} and empty.shape == (2, 0)


# ------------------------------------------------------------------ VRT mosaics and COGs


def _two_tiles(folder: Path) -> tuple[list[Path], Path, np.ndarray]:
    """West and east tiles (100 x 60 pixels each) of one seeded field, and the whole as one GeoTIFF."""
    folder.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(11).normal(50.0, 10.0, size=(100, 120)).astype("float32")
    whole = write_raster(folder / "whole.tif", values, from_origin(E0, N0 + 1000, 10, 10))
    west = write_raster(folder / "west.tif", values[:, :60], from_origin(E0, N0 + 1000, 10, 10))
    east = write_raster(folder / "east.tif", values[:, 60:], from_origin(E0 + 600, N0 + 1000, 10, 10))
    return [west, east], whole, values


def hand_written_vrt(tiles: list[Path], path: Path) -> Path:
    """A VRT mosaic of side-by-side tiles in one row, written as XML (as gdalbuildvrt would)."""
    with rasterio.open(tiles[0]) as first:
        crs_wkt, transform, height, nodata = first.crs.to_wkt(), first.transform, first.height, first.nodata
    sources, offset = [], 0
    for tile in tiles:
        with rasterio.open(tile) as dataset:
            w, h = dataset.width, dataset.height
        sources.append(
            f'<SimpleSource><SourceFilename relativeToVRT="1">{os.path.relpath(tile, path.parent)}</SourceFilename>'
            "<SourceBand>1</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
            f'<DstRect xOff="{offset}" yOff="0" xSize="{w}" ySize="{h}"/>'
            "</SimpleSource>"
        )
        offset += w
    geotransform = ", ".join(repr(v) for v in transform.to_gdal())
    nodata_xml = f"<NoDataValue>{nodata!r}</NoDataValue>" if nodata is not None else ""
    path.write_text(
        f'<VRTDataset rasterXSize="{offset}" rasterYSize="{height}"><SRS>{crs_wkt.replace("<", "&lt;")}</SRS>'
        f'<GeoTransform>{geotransform}</GeoTransform><VRTRasterBand dataType="Float32" band="1">{nodata_xml}'
        f"{''.join(sources)}</VRTRasterBand></VRTDataset>"
    )
    return path


def build_vrt(method: str, tiles: list[Path], path: Path) -> Path:
    """A VRT mosaic of ``tiles`` (in the same folder) built by hand or with GDAL's gdalbuildvrt."""
    if method == "xml":
        return hand_written_vrt(tiles, path)
    subprocess.run(["gdalbuildvrt", "-q", str(path), *map(str, tiles)], check=True)
    return path


def write_cog(source: Path, path: Path) -> Path:
    """A Cloud-Optimized GeoTIFF copy of ``source`` (GDAL's COG driver, 64-pixel tiles, DEFLATE)."""
    rasterio.shutil.copy(source, path, driver="COG", blocksize=64, compress="DEFLATE", overviews="AUTO")
    with rasterio.open(path) as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    return path


VRT_METHODS = [
    "xml",
    pytest.param(
        "gdalbuildvrt", marks=pytest.mark.skipif(shutil.which("gdalbuildvrt") is None, reason="gdal-bin absent")
    ),
]


@pytest.mark.parametrize("method", VRT_METHODS)
def test_vrt_mosaic_input_equals_the_single_geotiff(tmp_path, method):
    tiles, whole, _ = _two_tiles(tmp_path / "tiles")
    vrt = build_vrt(method, tiles, tmp_path / "tiles" / "mosaic.vrt")
    straddling = gpd.GeoSeries(
        [shapely.Point(E0 + 600, N0 + 500).buffer(230), shapely.box(E0 + 5, N0 + 5, E0 + 95, N0 + 45)], crs=UTM44
    )
    expected = zonal_statistics(straddling, whole, "z", statistics=(*STATS, "sum"))
    got = zonal_statistics(straddling, vrt, "z", statistics=(*STATS, "sum"))
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
    assert expected.loc[0, "cov_z_coverage"] == pytest.approx(1.0)


def test_cog_input_equals_the_plain_geotiff(tmp_path):
    _, whole, _ = _two_tiles(tmp_path)
    cog = write_cog(whole, tmp_path / "cog.tif")
    footprints = gpd.GeoSeries([shapely.Point(E0 + 600, N0 + 500).buffer(330)], crs=UTM44).to_crs("EPSG:4326")
    pd.testing.assert_frame_equal(
        zonal_statistics(footprints, cog, "z"), zonal_statistics(footprints, whole, "z"), rtol=1e-12
    )
