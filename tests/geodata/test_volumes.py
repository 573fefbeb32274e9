"""measure_volume against known answers: prisms, a cone, a sloping pond, partial DEMs."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import numpy.testing as npt
import pyproj
import pytest
import shapely
from rasterio.transform import from_origin

from residua.geodata.errors import CRSError
from residua.geodata.readers import read_sites
from residua.geodata.validate import validate_sites
from residua.geodata.volumes import measure_site_volumes, measure_volume
from tests.drops import PRISM_SITES, write_prism_drop
from tests.geodata.helpers import E0, N0, UTM44, pixel_centres, square, to_lonlat, write_dem

#: The 200 m square footprint used by most tests, centred on (E0, N0) in UTM 44N.
SIDE = 200.0
FOOTPRINT = square(E0, N0, SIDE / 2)


def flat_pair(tmp_path, thickness=5.0, *, pixel=10.0, origin=(E0 - 150, N0 + 150), size=(30, 30), crs=UTM44):
    """Surface and base DEMs on one grid, ``thickness`` apart everywhere; returns their paths."""
    transform = from_origin(*origin, pixel, pixel)
    base = np.full(size, 100.0)
    return (write_dem(tmp_path / "surface.tif", base + thickness, transform, crs),
            write_dem(tmp_path / "base.tif", base, transform, crs))  # fmt: skip


def test_prism_drop_volumes_are_exact(tmp_path):
    root = write_prism_drop(tmp_path / "drop")
    sites = validate_sites(read_sites(root / "sites.gpkg"), root / "sites.gpkg", root).accepted
    measured, quarantine = measure_site_volumes(sites, root, "sites.gpkg")
    assert len(quarantine) == 0
    expected = {site_id: (2 * half) ** 2 * thickness for site_id, (_, _, _, half, thickness, _) in PRISM_SITES.items()}
    assert sorted(measured.index) == sorted(expected)
    npt.assert_allclose(measured["volume_m3"], [expected[s] for s in measured.index], rtol=0.005)
    npt.assert_allclose(measured["coverage"], 1.0, atol=1e-6)
    assert not measured["base_resampled"].any()
    npt.assert_allclose(measured["negative_volume_m3"], 0.0, atol=1e-6)


def test_cone_volume(tmp_path):
    radius, height = 100.0, 20.0
    transform = from_origin(E0 - 150, N0 + 150, 1.0, 1.0)  # 1 m pixels
    x, y = pixel_centres(transform, 300, 300)
    r = np.hypot(x - E0, y - N0)
    base = np.full(r.shape, 50.0)
    surface = base + np.where(r < radius, height * (1 - r / radius), 0.0)
    footprint = to_lonlat(shapely.Point(E0, N0).buffer(radius, quad_segs=64))
    result = measure_volume(footprint, write_dem(tmp_path / "s.tif", surface, transform),
                            write_dem(tmp_path / "b.tif", base, transform))  # fmt: skip
    npt.assert_allclose(result.volume_m3, math.pi * radius**2 * height / 3, rtol=0.005)
    npt.assert_allclose(result.footprint_area_m2, math.pi * radius**2, rtol=0.005)
    npt.assert_allclose(result.coverage, 1.0, atol=1e-3)


def test_pond_with_sloping_base(tmp_path):
    # Water-level surface at 112 m; the base rises 2 cm/m to the east and 1 cm/m to the north from
    # the pond's south-west corner, so thickness = 12 - 0.02 u - 0.01 v over u, v in [0, 200].
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, y = pixel_centres(transform, 30, 30)
    west, south = E0 - SIDE / 2, N0 - SIDE / 2
    base = 100 + 0.02 * (x - west) + 0.01 * (y - south)
    surface = np.full(base.shape, 112.0)
    result = measure_volume(to_lonlat(FOOTPRINT), write_dem(tmp_path / "s.tif", surface, transform),
                            write_dem(tmp_path / "b.tif", base, transform))  # fmt: skip
    mean_thickness = 12 - 0.02 * SIDE / 2 - 0.01 * SIDE / 2  # a linear field averages to its centre value
    npt.assert_allclose(result.volume_m3, SIDE**2 * mean_thickness, rtol=0.005)  # 360 000 m3


def test_negative_thickness_is_clipped_and_reported(tmp_path):
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, _ = pixel_centres(transform, 30, 30)
    base = np.full(x.shape, 100.0)
    surface = base + np.where(x < E0, -3.0, 5.0)  # west half dug 3 m below the base
    result = measure_volume(to_lonlat(FOOTPRINT), write_dem(tmp_path / "s.tif", surface, transform),
                            write_dem(tmp_path / "b.tif", base, transform))  # fmt: skip
    npt.assert_allclose(result.volume_m3, SIDE**2 / 2 * 5.0, rtol=0.005)
    npt.assert_allclose(result.negative_volume_m3, SIDE**2 / 2 * 3.0, rtol=0.005)
    npt.assert_allclose(result.coverage, 1.0, atol=1e-6)  # clipped pixels still count as covered
    npt.assert_allclose(result.base_above_share, 0.5, atol=0.005)


def test_base_above_the_surface_over_much_of_a_footprint_quarantines_the_site(tmp_path):
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, _ = pixel_centres(transform, 30, 30)
    base = np.full(x.shape, 100.0)
    write_dem(tmp_path / "surface.tif", base + np.where(x < E0, -3.0, 5.0), transform)  # half the pond below its base
    write_dem(tmp_path / "base.tif", base, transform)
    write_dem(tmp_path / "rim.tif", base + np.where(x < E0 - 80, -0.2, 5.0), transform)  # a thin strip at the rim
    sites = _sites_with_dems(
        [("HALF", FOOTPRINT, "surface.tif", "base.tif"), ("RIM", FOOTPRINT, "rim.tif", "base.tif")]
    )
    measured, quarantine = measure_site_volumes(sites, tmp_path, "sites.gpkg")
    assert measured.index.tolist() == ["RIM"] and quarantine["record_id"].tolist() == ["HALF"]
    reason = quarantine["reason"].iloc[0]
    assert "base DEM lies above the surface over 50% of the footprint" in reason and "swapped" in reason


@pytest.mark.parametrize(
    "origin, size, coverage",
    [
        ((E0 - 150, N0 + 150), (30, 15), 0.5),  # raster stops at E0: east half off
        ((E0, N0 + 150), (30, 15), 0.5),  # raster starts at E0: west half off
        ((E0 - 150, N0), (15, 30), 0.5),  # raster stops at N0: south half off
        ((E0, N0), (15, 15), 0.25),  # only the south-east quarter covered
    ],
)
def test_footprint_partly_off_the_raster(tmp_path, origin, size, coverage):
    surface, base = flat_pair(tmp_path, thickness=5.0, origin=origin, size=size)
    result = measure_volume(to_lonlat(FOOTPRINT), surface, base)
    npt.assert_allclose(result.coverage, coverage, atol=0.005)
    npt.assert_allclose(result.measured_volume_m3, coverage * SIDE**2 * 5.0, rtol=0.005)
    npt.assert_allclose(result.volume_m3, SIDE**2 * 5.0, rtol=0.005)  # scaled to the whole footprint


def test_footprint_entirely_off_the_raster(tmp_path):
    surface, base = flat_pair(tmp_path)
    result = measure_volume(to_lonlat(square(E0 + 5000, N0, 100)), surface, base)
    assert (result.coverage, result.volume_m3, result.measured_volume_m3) == (0.0, 0.0, 0.0)


def test_nodata_hole_reduces_coverage_not_volume(tmp_path):
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, y = pixel_centres(transform, 30, 30)
    base = np.full(x.shape, 100.0)
    surface = base + 5.0
    surface[(abs(x - E0) < 20) & (abs(y - N0) < 20)] = -9999.0  # a 40 m x 40 m hole in the survey
    result = measure_volume(to_lonlat(FOOTPRINT), write_dem(tmp_path / "s.tif", surface, transform),
                            write_dem(tmp_path / "b.tif", base, transform))  # fmt: skip
    hole_share = 40.0**2 / SIDE**2
    npt.assert_allclose(result.coverage, 1 - hole_share, atol=0.002)
    npt.assert_allclose(result.measured_volume_m3, (1 - hole_share) * SIDE**2 * 5.0, rtol=0.005)
    npt.assert_allclose(result.volume_m3, SIDE**2 * 5.0, rtol=0.005)


@pytest.mark.parametrize("void", [-32768.0, 3.4e38])
def test_undeclared_srtm_voids_are_nodata_not_a_deep_pit(tmp_path, void):
    # SRTM-style voids in the base DEM with no nodata declared: read as heights they made one site
    # 685x its volume; they must count as missing, and be counted
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, y = pixel_centres(transform, 30, 30)
    surface = np.full(x.shape, 105.0)
    base = np.where((abs(x - E0) < 20) & (abs(y - N0) < 20), void, 100.0)
    result = measure_volume(to_lonlat(FOOTPRINT), write_dem(tmp_path / "s.tif", surface, transform, nodata=None),
                            write_dem(tmp_path / "b.tif", base, transform, nodata=None))  # fmt: skip
    npt.assert_allclose(result.volume_m3, SIDE**2 * 5.0, rtol=0.005)
    npt.assert_allclose(result.coverage, 1 - 40.0**2 / SIDE**2, atol=0.002)
    assert result.implausible_cells == 16


def test_voids_that_leave_too_little_cover_are_named_in_the_quarantine_reason(tmp_path):
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, _ = pixel_centres(transform, 30, 30)
    write_dem(tmp_path / "surface.tif", np.full(x.shape, 105.0), transform, nodata=None)
    write_dem(tmp_path / "base.tif", np.where(x < E0, -32768.0, 100.0), transform, nodata=None)
    sites = _sites_with_dems([("VOIDS", FOOTPRINT, "surface.tif", "base.tif")])
    measured, quarantine = measure_site_volumes(sites, tmp_path, "sites.gpkg", min_coverage=0.9)
    assert measured.empty and quarantine["record_id"].tolist() == ["VOIDS"]
    assert "-32768" in quarantine["reason"].iloc[0] and "nodata" in quarantine["reason"].iloc[0]


def test_nodata_in_base_dem_is_excluded_too(tmp_path):
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, _ = pixel_centres(transform, 30, 30)
    base = np.where(x < E0 - 50, -9999.0, 100.0)  # no base west of E0 - 50: a quarter of the footprint
    surface = np.full(x.shape, 105.0)
    result = measure_volume(to_lonlat(FOOTPRINT), write_dem(tmp_path / "s.tif", surface, transform),
                            write_dem(tmp_path / "b.tif", base, transform))  # fmt: skip
    npt.assert_allclose(result.coverage, 0.75, atol=0.002)
    npt.assert_allclose(result.volume_m3, SIDE**2 * 5.0, rtol=0.005)


def test_dem_in_indian_lambert_crs(tmp_path):
    # DEMs in EPSG:7755 (India NSF LCC, ~3.5 % area distortion here); the footprint is a 200 m
    # ground square (UTM 44N on its central meridian) given in lon/lat, as sites travel.
    centre = pyproj.Transformer.from_crs(UTM44, "EPSG:7755", always_xy=True).transform(E0, N0)
    origin = (centre[0] - 200, centre[1] + 200)
    surface, base = flat_pair(tmp_path, thickness=8.0, origin=origin, size=(40, 40), crs="EPSG:7755")
    result = measure_volume(to_lonlat(FOOTPRINT), surface, base)
    npt.assert_allclose(result.coverage, 1.0, atol=1e-3)
    npt.assert_allclose(result.footprint_area_m2, SIDE**2, rtol=0.005)
    npt.assert_allclose(result.volume_m3, SIDE**2 * 8.0, rtol=0.005)


@pytest.mark.parametrize("base_in_lonlat", [True, False], ids=["both-lonlat", "lonlat-surface-utm-base"])
def test_lonlat_dems_are_warped_to_the_footprints_utm_zone(tmp_path, base_in_lonlat):
    """SRTM- or Copernicus-style DEMs in EPSG:4326 (heights in metres): the sloping pond's known volume."""
    footprint = to_lonlat(FOOTPRINT)
    west, south, east, north = footprint.buffer(0.001).bounds  # about 100 m of margin
    pixel = 0.00005  # degrees: about 5.5 m
    transform = from_origin(west, north, pixel, pixel)
    width, height = int((east - west) / pixel), int((north - south) / pixel)
    lon, lat = pixel_centres(transform, height, width)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", UTM44, always_xy=True).transform(lon, lat)
    base_west, base_south = E0 - SIDE / 2, N0 - SIDE / 2
    plane = lambda x, y: 100 + 0.02 * (x - base_west) + 0.01 * (y - base_south)  # noqa: E731
    surface = write_dem(tmp_path / "surface.tif", np.full(lon.shape, 112.0), transform, crs="EPSG:4326")
    if base_in_lonlat:
        base = write_dem(tmp_path / "base.tif", plane(x, y), transform, crs="EPSG:4326")
    else:
        utm = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
        base = write_dem(tmp_path / "base.tif", plane(*pixel_centres(utm, 30, 30)), utm)
    result = measure_volume(footprint, surface, base)
    assert result.surface_warped and result.base_resampled  # the base follows the warped surface grid
    npt.assert_allclose(result.coverage, 1.0, atol=2e-3)
    npt.assert_allclose(result.volume_m3, SIDE**2 * (12 - 0.02 * SIDE / 2 - 0.01 * SIDE / 2), rtol=0.01)


def test_base_dem_on_a_finer_grid_is_resampled(tmp_path):
    thickness = 7.0
    coarse = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    fine = from_origin(E0 - 150, N0 + 150, 5.0, 5.0)
    plane = lambda x, y: 100 + 0.01 * (x - E0) + 0.02 * (y - N0)  # noqa: E731
    xs, ys = pixel_centres(coarse, 30, 30)
    xb, yb = pixel_centres(fine, 60, 60)
    inside = (abs(xs - E0) < SIDE / 2) & (abs(ys - N0) < SIDE / 2)
    surface = write_dem(tmp_path / "surface_10m.tif", plane(xs, ys) + np.where(inside, thickness, 0.0), coarse)
    base = write_dem(tmp_path / "base_5m.tif", plane(xb, yb), fine)
    result = measure_volume(to_lonlat(FOOTPRINT), surface, base)
    assert result.base_resampled is True
    npt.assert_allclose(result.volume_m3, SIDE**2 * thickness, rtol=0.01)
    npt.assert_allclose(result.coverage, 1.0, atol=1e-3)


def test_same_grid_is_not_resampled(tmp_path):
    surface, base = flat_pair(tmp_path)
    assert measure_volume(to_lonlat(FOOTPRINT), surface, base).base_resampled is False


@pytest.mark.parametrize(
    "surface_crs, base_crs, fragment",
    [
        (None, UTM44, "DEM has no CRS"),  # surface without CRS
        (UTM44, None, "DEM has no CRS"),  # base without CRS
        ("EPSG:2227", "EPSG:2227", "not in metres or degrees"),  # US survey feet: heights likely in feet too
    ],
)
def test_dem_without_usable_crs_is_crs_error(tmp_path, surface_crs, base_crs, fragment):
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    surface = write_dem(tmp_path / "s.tif", np.full((30, 30), 5.0), transform, crs=surface_crs)
    base = write_dem(tmp_path / "b.tif", np.zeros((30, 30)), transform, crs=base_crs)
    with pytest.raises(CRSError, match=fragment) as caught:
        measure_volume(to_lonlat(FOOTPRINT), surface, base)
    assert caught.value.path in (surface, base)


def _sites_with_dems(rows: list[tuple[str, shapely.Geometry, str, str]]) -> gpd.GeoDataFrame:
    """Accepted-sites layout for measure_site_volumes: site_id, DEM paths, source_row, lon/lat footprint."""
    return gpd.GeoDataFrame(
        {"site_id": [r[0] for r in rows], "surface_dem": [r[2] for r in rows], "base_dem": [r[3] for r in rows],
         "source_row": list(range(1, len(rows) + 1))},
        geometry=[to_lonlat(r[1]) for r in rows],
        crs="EPSG:4326",
    )  # fmt: skip


def test_measure_site_volumes_quarantines_poorly_covered_sites(tmp_path):
    flat_pair(tmp_path, thickness=5.0)  # covers E0 +- 150 m, N0 +- 150 m
    (tmp_path / "broken.tif").write_bytes(b"not a GeoTIFF")
    sites = _sites_with_dems([
        ("FULL", FOOTPRINT, "surface.tif", "base.tif"),
        ("HALF", square(E0 + 150, N0, 100), "surface.tif", "base.tif"),  # half east of the DEMs
        ("BROKEN", FOOTPRINT, "broken.tif", "base.tif"),
        ("NODEM", FOOTPRINT, "", ""),  # no DEMs: neither measured nor quarantined
    ])  # fmt: skip
    measured, quarantine = measure_site_volumes(sites, tmp_path, "sites.gpkg", min_coverage=0.9)
    assert measured.index.tolist() == ["FULL"]
    npt.assert_allclose(measured.loc["FULL", "volume_m3"], SIDE**2 * 5.0, rtol=0.005)
    assert quarantine["record_id"].tolist() == ["HALF", "BROKEN"]
    assert quarantine["source_row"].tolist() == [2, 3]
    assert "DEMs cover 50% of the footprint, below the 90% minimum" in quarantine["reason"].iloc[0]
    assert quarantine["reason"].iloc[1].startswith("DEM unusable")
    assert quarantine.crs == "EPSG:4326"
    assert (quarantine["source"] == "sites.gpkg").all()


def test_measure_site_volumes_min_coverage_is_a_threshold(tmp_path):
    flat_pair(tmp_path, thickness=5.0)
    sites = _sites_with_dems([("HALF", square(E0 + 150, N0, 100), "surface.tif", "base.tif")])
    measured, quarantine = measure_site_volumes(sites, tmp_path, "sites.gpkg", min_coverage=0.4)
    assert (measured.index.tolist(), len(quarantine)) == (["HALF"], 0)
    npt.assert_allclose(measured.loc["HALF", "coverage"], 0.5, atol=0.005)


def test_thickness_above_the_types_plausible_maximum_quarantines_the_site(tmp_path):
    # zinc leach residue: thickness_high_m 25 m in the bundled priors, so at most 3 x 25 = 75 m
    transform = from_origin(E0 - 150, N0 + 150, 10.0, 10.0)
    x, _ = pixel_centres(transform, 30, 30)
    base = np.full(x.shape, 100.0)
    write_dem(tmp_path / "base.tif", base, transform)
    write_dem(tmp_path / "feet.tif", base + 100.0, transform)  # 100 m everywhere: surface heights in feet?
    write_dem(tmp_path / "deep.tif", base + np.where(x < E0 - 20, 80.0, 10.0), transform)  # 80 m over 40 %
    write_dem(tmp_path / "corner.tif", base + np.where(x < E0 - 80, 80.0, 10.0), transform)  # 80 m over 10 %
    pairs = [("FEET", FOOTPRINT, "feet.tif", "base.tif"), ("DEEP", FOOTPRINT, "deep.tif", "base.tif"),
             ("CORNER", FOOTPRINT, "corner.tif", "base.tif")]  # fmt: skip
    sites = _sites_with_dems(pairs).assign(residue_type="zinc_leach_residue")
    measured, quarantine = measure_site_volumes(sites, tmp_path, "sites.gpkg")
    assert measured.index.tolist() == ["CORNER"] and quarantine["record_id"].tolist() == ["FEET", "DEEP"]
    assert len(measured) + len(quarantine) == len(sites)
    npt.assert_allclose(measured.loc["CORNER", ["mean_thickness_m", "max_thickness_m"]], [17.0, 75.0], rtol=0.01)
    npt.assert_allclose(measured.loc["CORNER", "too_thick_share"], 0.1, atol=0.005)
    feet, deep = quarantine["reason"]
    assert feet.startswith("the DEMs measure 100.0 m mean thickness (surface minus base), and 100% of the footprint is "
                           "thicker than 75 m, the plausible maximum for a zinc_leach_residue deposit (3 x its "
                           "thickness_high_m 25 m in thickness_priors.csv")  # fmt: skip
    assert "DEM heights in feet or centimetres" in feet
    assert deep.startswith("the DEMs measure 38.0 m mean thickness (surface minus base), and 40% of the footprint")
    assert quarantine["source_row"].tolist() == [1, 2]


def test_thickness_limit_follows_the_thickness_priors_given(tmp_path):
    from residua.geodata.reference_tables import load_reference_tables

    flat_pair(tmp_path, thickness=100.0)
    sites = _sites_with_dems([("FEET", FOOTPRINT, "surface.tif", "base.tif")])
    priors = load_reference_tables().thickness_priors
    thick = priors.assign(thickness_high_m=priors["thickness_high_m"].where(priors["residue_type"] != "other", 50.0))
    _, quarantine = measure_site_volumes(sites.assign(residue_type="other"), tmp_path, "sites.gpkg")
    assert len(quarantine) == 0  # 100 m is within 'other''s 3 x 40 m = 120 m
    measured, quarantine = measure_site_volumes(sites.assign(residue_type="zinc_leach_residue"), tmp_path, "s.gpkg")
    assert len(measured) == 0 and "thicker than 75 m" in quarantine["reason"].iloc[0]
    measured, _ = measure_site_volumes(sites.assign(residue_type="other"), tmp_path, "s.gpkg", thickness_priors=thick)
    npt.assert_allclose(measured.loc["FEET", "max_thickness_m"], 150.0)
    # sites without a residue type (as some callers pass them) are measured, not judged
    measured, quarantine = measure_site_volumes(sites, tmp_path, "s.gpkg")
    assert (len(measured), len(quarantine)) == (1, 0) and np.isnan(measured.loc["FEET", "max_thickness_m"])
