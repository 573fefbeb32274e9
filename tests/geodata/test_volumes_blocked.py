"""measure_volume in row strips: the same exact answer whatever the strip size, on any input format."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.shutil
import shapely
from rasterio.transform import from_origin

import residua.geodata.volumes as volumes
from residua.geodata.volumes import measure_volume
from tests.geodata.test_zonal import VRT_METHODS, build_vrt

UTM44 = "EPSG:32644"
E0, N0 = 500_000.0, 2_300_000.0  # on UTM 44N's central meridian
PIXEL = 5.0
SIZE = 120  # pixels per side: a 600 m square grid with its north-west corner at (E0 - 300, N0 + 300)
TRANSFORM = from_origin(E0 - 300, N0 + 300, PIXEL, PIXEL)


def write_dem(path: Path, array: np.ndarray, transform=TRANSFORM, crs: str = UTM44, **extra) -> Path:
    """A one-band float32 GeoTIFF with nodata -9999."""
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1, "dtype": "float32",
               "crs": crs, "transform": transform, "nodata": -9999.0, **extra}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(np.asarray(array, dtype="float32"), 1)
    return path


def centres(transform=TRANSFORM, shape=(SIZE, SIZE)) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel centre."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e


def lonlat(geometry: shapely.Geometry) -> shapely.Geometry:
    """``geometry`` from UTM 44N to lon/lat, as sites travel."""
    return gpd.GeoSeries([geometry], crs=UTM44).to_crs("EPSG:4326").iloc[0]


def base_plane() -> np.ndarray:
    """A gently sloping base surface (100 m + 1 % east + 2 % north)."""
    x, y = centres()
    return 100.0 + 0.01 * (x - E0) + 0.02 * (y - N0)


@pytest.fixture
def prism(tmp_path) -> tuple[Path, Path, shapely.Polygon, float]:
    """A 4 m thick flat prism whose square footprint cuts every edge pixel in half."""
    x, y = centres()
    square = shapely.box(E0 - 202.5, N0 - 147.5, E0 + 182.5, N0 + 232.5)  # edges on pixel mid-lines
    inside = shapely.contains_xy(square.buffer(PIXEL), x, y)
    base = base_plane()
    surface = write_dem(tmp_path / "prism_surface.tif", base + np.where(inside, 4.0, 0.0))
    return surface, write_dem(tmp_path / "prism_base.tif", base), square, 4.0


@pytest.fixture
def cone(tmp_path) -> tuple[Path, Path, shapely.Polygon, float, float]:
    """A cone of radius 250 m and height 20 m on the sloping base, footprint its base circle."""
    radius, height = 250.0, 20.0
    x, y = centres()
    thickness = height * np.clip(1 - np.hypot(x - E0, y - N0) / radius, 0, None)
    base = base_plane()
    surface = write_dem(tmp_path / "cone_surface.tif", base + thickness)
    footprint = shapely.Point(E0, N0).buffer(radius, quad_segs=64)
    return surface, write_dem(tmp_path / "cone_base.tif", base), footprint, radius, height


@pytest.fixture
def count_strips(monkeypatch) -> list[int]:
    """Count exactextract calls (one per strip) inside measure_volume."""
    calls: list[int] = []
    original = volumes.exact_extract

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(volumes, "exact_extract", counting)
    return calls


# The footprint's window is about 79 x 78 pixels (77 footprint rows and columns, cut in
# half at each edge, plus a guard pixel on every side).
@pytest.mark.parametrize(
    ("block_cells", "strips"),
    [
        (1, range(77, 81)),  # less than a row: one row per strip
        (97, range(77, 81)),  # a row and a bit: still one row per strip
        (SIZE * 7, range(7, 10)),  # about 10 rows per strip
        (SIZE * SIZE * 4, range(1, 2)),  # the whole window at once
    ],
)
def test_blocked_prism_volume_is_exact(prism, count_strips, block_cells, strips):
    surface, base, square, thickness = prism
    measured = measure_volume(lonlat(square), surface, base, block_cells=block_cells)
    assert len(count_strips) in strips
    # ground volume = projected area x thickness / UTM areal scale (0.9996^2 on the central meridian);
    # the footprint's vertices went to lon/lat and back, so the area is exact to ~1e-6
    assert measured.measured_volume_m3 == pytest.approx(square.area * thickness / 0.9996**2, rel=1e-5)
    assert measured.coverage == pytest.approx(1.0, abs=1e-6)
    assert measured.negative_volume_m3 == 0.0


def test_blocked_cone_volume_equals_unblocked(cone, count_strips):
    surface, base, footprint, radius, height = cone
    whole = measure_volume(lonlat(footprint), surface, base)
    strips_for_whole = len(count_strips)
    strips = measure_volume(lonlat(footprint), surface, base, block_cells=313)
    assert strips_for_whole == 1 and len(count_strips) - strips_for_whole == 34  # 102-row window, 3 rows a strip
    assert strips.measured_volume_m3 == pytest.approx(whole.measured_volume_m3, rel=1e-12)
    assert strips.negative_volume_m3 == whole.negative_volume_m3 == 0.0
    assert strips.coverage == pytest.approx(whole.coverage, rel=1e-12)
    # and both are the cone's volume, pi r^2 h / 3, to the pixel discretisation (ground scale 0.9996^-2)
    assert whole.volume_m3 == pytest.approx(np.pi * radius**2 * height / 3 / 0.9996**2, rel=2e-3)


def test_blocked_warped_base_equals_unblocked(tmp_path, cone):
    surface, _, footprint, _, _ = cone
    # the base on a coarser grid in the neighbouring UTM zone: warped onto the surface grid
    utm43 = gpd.GeoSeries([shapely.Point(E0 - 300, N0 + 300)], crs=UTM44).to_crs("EPSG:32643").iloc[0]
    transform = from_origin(utm43.x - 100, utm43.y + 100, 7.0, 7.0)
    x, y = centres(transform, (130, 130))
    native = gpd.GeoSeries(gpd.points_from_xy(x.ravel(), y.ravel()), crs="EPSG:32643").to_crs(UTM44)
    base_values = (100.0 + 0.01 * (native.x - E0) + 0.02 * (native.y - N0)).to_numpy().reshape(x.shape)
    base = write_dem(tmp_path / "base_utm43.tif", base_values, transform, crs="EPSG:32643")
    whole = measure_volume(lonlat(footprint), surface, base)
    strips = measure_volume(lonlat(footprint), surface, base, block_cells=500)
    assert whole.base_resampled and strips.base_resampled
    assert strips.measured_volume_m3 == pytest.approx(whole.measured_volume_m3, rel=1e-9)
    assert strips.negative_volume_m3 == pytest.approx(whole.negative_volume_m3, rel=1e-9, abs=1e-6)


def test_block_cells_must_be_positive(prism):
    surface, base, square, _ = prism
    with pytest.raises(ValueError, match="block_cells"):
        measure_volume(lonlat(square), surface, base, block_cells=0)


@pytest.mark.parametrize("method", VRT_METHODS)
def test_vrt_mosaic_and_cog_dems_give_the_geotiff_volume(tmp_path, cone, method):
    surface, base, footprint, _, _ = cone
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    with rasterio.open(surface) as dataset:
        values = dataset.read(1)
    west = write_dem(tiles / "west.tif", values[:, :50])
    east = write_dem(tiles / "east.tif", values[:, 50:], from_origin(E0 - 300 + 50 * PIXEL, N0 + 300, PIXEL, PIXEL))
    mosaic = build_vrt(method, [west, east], tiles / "surface.vrt")
    cog = tmp_path / "base_cog.tif"
    rasterio.shutil.copy(base, cog, driver="COG", blocksize=64, compress="DEFLATE")
    with rasterio.open(cog) as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    expected = measure_volume(lonlat(footprint), surface, base)
    got = measure_volume(lonlat(footprint), mosaic, cog, block_cells=1000)
    assert not got.base_resampled  # the mosaic and the COG share one grid
    assert got.measured_volume_m3 == pytest.approx(expected.measured_volume_m3, rel=1e-12)
    assert got.coverage == pytest.approx(expected.coverage, rel=1e-12)
