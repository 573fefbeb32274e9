"""Covariate values at points: known pixels of tiny rasters written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.testing as npt
import pandas as pd
import pyproj
import pytest
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin

from residua.geodata.covariate_points import sample_covariates
from residua.geodata.errors import CRSError, DataDropError
from tests.geodata.helpers import E0, N0, UTM44, pixel_centres, write_dem


@pytest.fixture
def grid(tmp_path) -> tuple[Path, np.ndarray]:
    """A 4 x 5 raster of 10 m pixels with distinct values 0..19; west edge E0, north edge N0 + 40."""
    values = np.arange(20, dtype="float32").reshape(4, 5) * 1.5 + 2
    return write_dem(tmp_path / "grid.tif", values, from_origin(E0, N0 + 40, 10, 10)), values.astype(float)


def test_values_at_known_pixels(grid):
    path, values = grid
    # (row, col) -> a point inside that pixel, not at its centre
    cells = [(0, 0), (0, 4), (3, 0), (3, 4), (1, 2), (2, 3)]
    xy = np.array([[E0 + 10 * col + 2, N0 + 40 - 10 * row - 7] for row, col in cells])
    got = sample_covariates({"rock_argovian": path}, xy, UTM44)
    assert list(got.columns) == ["rock_argovian"]
    assert got.index.equals(pd.RangeIndex(len(cells)))
    npt.assert_array_equal(got["rock_argovian"], [values[row, col] for row, col in cells])


def test_every_pixel_centre_reads_its_own_pixel(grid):
    path, values = grid
    x, y = pixel_centres(from_origin(E0, N0 + 40, 10, 10), *values.shape)
    got = sample_covariates({"v": path}, np.column_stack([x.ravel(), y.ravel()]), pyproj.CRS(UTM44))
    npt.assert_array_equal(got["v"], values.ravel())


def test_point_on_a_pixel_edge_takes_the_pixel_to_its_east_and_south(grid):
    path, values = grid
    got = sample_covariates({"v": path}, np.array([[E0 + 10, N0 + 30]]), UTM44)
    assert got["v"].iloc[0] == values[1, 1]


def test_outside_nodata_and_nan_points_are_nan(tmp_path):
    values = np.arange(16, dtype="float32").reshape(4, 4)
    values[2, 1] = -9999.0
    path = write_dem(tmp_path / "holes.tif", values, from_origin(E0, N0 + 40, 10, 10), nodata=-9999.0)
    xy = np.array(
        [
            [E0 + 15, N0 + 15],  # row 2, col 1: nodata
            [E0 - 1, N0 + 15],  # west of the raster
            [E0 + 40, N0 + 15],  # on the east edge: the pixel to its east is off the raster
            [E0 + 15, N0 + 41],  # north of it
            [E0 + 15, N0 - 0.5],  # south of it
            [np.nan, N0 + 15],  # no coordinate
            [E0 + 35, N0 + 5],  # row 3, col 3: valid
        ]
    )
    got = sample_covariates({"v": path}, xy, UTM44)["v"].to_numpy()
    assert np.isnan(got[:-1]).all()
    assert got[-1] == 15.0


def test_geographic_raster_sampled_by_utm_points_equals_the_utm_field(tmp_path):
    """One field, value = UTM 1 km quadrant, stored on a UTM grid and on a lon/lat grid."""
    utm = write_dem(tmp_path / "utm.tif", np.array([[1, 2], [3, 4]]), from_origin(E0, N0 + 2000, 1000, 1000))
    to_lonlat = pyproj.Transformer.from_crs(UTM44, "EPSG:4326", always_xy=True)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM44, always_xy=True)
    west, south = to_lonlat.transform(E0 - 500, N0 - 500)
    east, north = to_lonlat.transform(E0 + 2500, N0 + 2500)
    size = 0.0001  # about 11 m
    transform = from_origin(west, north, size, size)
    shape = (int((north - south) / size), int((east - west) / size))
    lon, lat = pixel_centres(transform, *shape)
    x, y = to_utm.transform(lon, lat)
    quadrant = np.where(y > N0 + 1000, 0, 2) + np.where(x < E0 + 1000, 1, 2)
    inside = (x > E0) & (x < E0 + 2000) & (y > N0) & (y < N0 + 2000)
    lonlat = write_dem(tmp_path / "lonlat.tif", np.where(inside, quadrant, -9999), transform, crs="EPSG:4326")

    rng = np.random.default_rng(7)
    xy = rng.uniform(E0 + 50, E0 + 1950, size=(200, 2)) + [0, N0 - E0]
    xy = xy[(np.abs(xy - [E0 + 1000, N0 + 1000]) > 50).all(axis=1)]  # clear of the quadrant edges
    got = sample_covariates({"utm": utm, "lonlat": lonlat}, xy, UTM44)
    assert got.notna().all().all()
    assert set(got["utm"]) == {1.0, 2.0, 3.0, 4.0}
    npt.assert_array_equal(got["lonlat"], got["utm"])


def test_two_covariates_at_once_keep_their_order_and_grids(tmp_path, grid):
    path, values = grid
    coarse = write_dem(tmp_path / "coarse.tif", np.array([[7.0, 8.0]]), from_origin(E0, N0 + 40, 20, 40))
    xy = np.array([[E0 + 5, N0 + 35], [E0 + 45, N0 + 5], [E0 + 25, N0 + 25]])
    got = sample_covariates({"rock_argovian": path, "coarse": coarse}, xy, UTM44)
    assert list(got.columns) == ["rock_argovian", "coarse"]
    npt.assert_array_equal(got["rock_argovian"], [values[0, 0], values[3, 4], values[1, 2]])
    npt.assert_array_equal(got["coarse"], [7.0, np.nan, 8.0])


def test_empty_input_gives_an_empty_frame_with_the_columns(grid):
    path, _ = grid
    got = sample_covariates({"a": path, "b": path}, np.empty((0, 2)), UTM44)
    assert list(got.columns) == ["a", "b"]
    assert len(got) == 0
    assert (got.dtypes == "float64").all()


def test_tiled_reads_under_a_small_budget_give_the_same_values(tmp_path):
    values = np.random.default_rng(1).normal(size=(60, 70)).astype("float32")
    path = write_dem(tmp_path / "big.tif", values, from_origin(E0, N0 + 600, 10, 10))
    xy = np.random.default_rng(2).uniform([E0 - 20, N0 - 20], [E0 + 720, N0 + 620], size=(500, 2))
    whole = sample_covariates({"v": path}, xy, UTM44)
    tiled = sample_covariates({"v": path}, xy, UTM44, max_cells_in_memory=16)
    cols, rows = np.floor((xy[:, 0] - E0) / 10), np.floor((N0 + 600 - xy[:, 1]) / 10)
    inside = (cols >= 0) & (cols < 70) & (rows >= 0) & (rows < 60)
    expected = np.full(len(xy), np.nan)
    expected[inside] = values[rows[inside].astype(int), cols[inside].astype(int)]
    npt.assert_array_equal(whole["v"], expected)
    npt.assert_array_equal(tiled["v"], expected)


def test_vrt_and_scaled_integer_rasters(tmp_path, grid):
    path, values = grid
    vrt = tmp_path / "grid.vrt"
    rasterio.shutil.copy(str(path), str(vrt), driver="VRT")
    scaled = tmp_path / "scaled.tif"
    profile = {"driver": "GTiff", "width": 2, "height": 1, "count": 1, "dtype": "int16", "crs": UTM44,
               "transform": from_origin(E0, N0 + 40, 10, 10), "nodata": -1}  # fmt: skip
    with rasterio.open(scaled, "w", **profile) as dataset:
        dataset.write(np.array([[20, -1]], dtype="int16"), 1)
        dataset.scales, dataset.offsets = (0.5,), (3.0,)
    got = sample_covariates({"vrt": vrt, "scaled": scaled}, np.array([[E0 + 5, N0 + 35], [E0 + 15, N0 + 35]]), UTM44)
    npt.assert_array_equal(got["vrt"], values[0, :2])
    npt.assert_array_equal(got["scaled"], [13.0, np.nan])


def test_unusable_inputs_raise(tmp_path, grid):
    path, _ = grid
    with pytest.raises(CRSError):
        sample_covariates({"v": path}, np.array([[E0, N0]]), None)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        sample_covariates({"v": path}, np.array([E0, N0, 1.0]), UTM44)
    no_crs = write_dem(tmp_path / "no_crs.tif", np.ones((2, 2)), from_origin(E0, N0, 1, 1), crs=None)
    with pytest.raises(CRSError, match="no_crs.tif"):
        sample_covariates({"v": no_crs}, np.array([[E0, N0]]), UTM44)
    (tmp_path / "broken.tif").write_bytes(b"not a raster")
    with pytest.raises(DataDropError, match="broken.tif"):
        sample_covariates({"v": tmp_path / "broken.tif"}, np.array([[E0, N0]]), UTM44)
