"""validate_sites: every row accepted or quarantined with a reason; areas on the ellipsoid."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy.testing as npt
import pytest
import shapely

from residua.geodata.validate import validate_sites
from tests.geodata.helpers import E0, N0, UTM44, raw_sites, square

GPKG = Path("sites.gpkg")
FIRST = {"site_id": "S1", "name": "Pond 1", "residue_type": "Red mud", "geometry": square(E0, N0, 100)}
SECOND = {"site_id": "S2", "name": "Pond 2", "residue_type": "fly ash", "geometry": square(E0 + 1000, N0, 100)}
#: A bow-tie: the ring crosses itself at the centre.
BOW_TIE = shapely.Polygon([(E0, N0), (E0 + 100, N0 + 100), (E0 + 100, N0), (E0, N0 + 100), (E0, N0)])


def test_good_sites_are_accepted_in_lonlat_with_canonical_types(data_root):
    extra = {"reported_tonnes": "1.5e6", "dry_density_t_m3": "1.2", "commissioned_year": "1985",
             "closed_year": "2001", "surface_dem": "rasters/ok.tif", "base_dem": "rasters/ok.tif"}  # fmt: skip
    result = validate_sites(raw_sites([FIRST, {**SECOND, **extra}]), GPKG, data_root)
    accepted = result.accepted
    assert len(result.quarantine) == 0
    assert accepted.crs == "EPSG:4326"
    assert accepted["site_id"].tolist() == ["S1", "S2"]
    assert accepted["residue_type"].tolist() == ["bauxite_residue", "coal_fly_ash"]
    assert accepted["residue_type_as_written"].tolist() == ["Red mud", "fly ash"]
    second = accepted.iloc[1]
    assert (second["reported_tonnes"], second["dry_density_t_m3"], second["closed_year"]) == (1.5e6, 1.2, 2001.0)
    assert (second["surface_dem"], second["base_dem"]) == ("rasters/ok.tif", "rasters/ok.tif")
    assert accepted.geometry.iloc[0].centroid.x == pytest.approx(81.0, abs=1e-6)  # E0 is on 81 E
    assert result.rows_in == 2 and result.balanced


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"residue_type": "granite"}, "unknown residue_type 'granite'"),
        ({"residue_type": None}, "unknown residue_type"),  # blank type
        ({"geometry": BOW_TIE}, "invalid geometry (Self-intersection"),
        ({"geometry": shapely.Polygon()}, "geometry is missing, empty or unreadable"),
        ({"geometry": None}, "geometry is missing, empty or unreadable"),  # e.g. unreadable WKT
        ({"geometry": shapely.LineString([(E0, N0), (E0 + 9, N0)])}, "a site needs a Polygon"),
        ({"reported_tonnes": "-5"}, "reported_tonnes -5 must be positive"),
        ({"reported_volume_m3": "0"}, "reported_volume_m3 0 must be positive"),
        ({"dry_density_t_m3": "heavy"}, "dry_density_t_m3 'heavy' is not a number"),
        ({"dry_density_t_m3": "1600"}, "above 6 t/m3"),  # kg/m3 written instead of t/m3
        ({"reported_tonnes": "inf"}, "reported_tonnes 'inf' is not a number"),
        ({"commissioned_year": "2000", "closed_year": "1990"}, "closed_year 1990 is before commissioned_year 2000"),
        ({"surface_dem": "../x.tif"}, "surface_dem '../x.tif' points outside the data directory"),
        ({"surface_dem": "/etc/hostname"}, "points outside the data directory"),  # absolute path
        ({"surface_dem": "rasters/missing.tif"}, "surface_dem 'rasters/missing.tif' not found"),
        ({"surface_dem": "rasters/ok.tif", "base_dem": "rasters/gone.tif"}, "base_dem 'rasters/gone.tif' not found"),
        ({"base_dem": "rasters/ok.tif"}, "base_dem is given without surface_dem"),
        ({"name": "  "}, "name is empty"),
        ({"site_id": ""}, "site_id is empty"),
    ],
)
def test_bad_site_row_is_quarantined_with_reason(data_root, change, reason):
    result = validate_sites(raw_sites([FIRST, {**SECOND, **change}]), GPKG, data_root)
    assert result.accepted["site_id"].tolist() == ["S1"]
    assert result.quarantine["source_row"].tolist() == [2]
    assert reason in result.quarantine["reason"].iloc[0]
    assert result.quarantine["source"].tolist() == ["sites.gpkg"]
    assert result.rows_in == len(result.accepted) + len(result.quarantine) == 2


def test_duplicate_site_id_keeps_first_and_quarantines_second(data_root):
    duplicate = {**SECOND, "site_id": "S1"}
    result = validate_sites(raw_sites([FIRST, duplicate]), GPKG, data_root)
    assert result.accepted["name"].tolist() == ["Pond 1"]  # the first one is kept
    assert result.quarantine["record_id"].tolist() == ["S1"]
    assert result.quarantine["source_row"].tolist() == [2]
    reason = result.quarantine["reason"].iloc[0]
    assert "duplicate site_id 'S1'" in reason
    assert "feature 1" in reason  # where the first one is
    assert result.rows_in == len(result.accepted) + len(result.quarantine) == 2


def test_duplicate_site_id_in_csv_points_at_line(data_root):
    result = validate_sites(raw_sites([FIRST, {**SECOND, "site_id": "S1"}]), Path("sites.csv"), data_root)
    assert "first seen at line 1" in result.quarantine["reason"].iloc[0]  # raw_sites numbers from 1


def test_several_problems_in_one_row_are_all_reported(data_root):
    bad = {**SECOND, "residue_type": "granite", "reported_tonnes": "-1", "geometry": BOW_TIE}
    result = validate_sites(raw_sites([FIRST, bad]), GPKG, data_root)
    reason = result.quarantine["reason"].iloc[0]
    positions = [reason.find(fragment) for fragment in ("unknown residue_type", "invalid geometry", "reported_tonnes")]
    assert -1 not in positions
    assert positions == sorted(positions)  # in the order the checks run


def test_quarantine_keeps_raw_row_and_lonlat_geometry(data_root):
    bad = {**SECOND, "reported_tonnes": "-5"}
    quarantine = validate_sites(raw_sites([FIRST, bad]), GPKG, data_root).quarantine
    assert quarantine.crs == "EPSG:4326"
    assert json.loads(quarantine["raw"].iloc[0])["reported_tonnes"] == "-5"
    assert quarantine.geometry.iloc[0].centroid.x == pytest.approx(81.0096, abs=1e-3)  # 1 km east of 81 E


def test_all_rows_quarantined_still_balances(data_root):
    rows = [{**FIRST, "residue_type": "granite"}, {**SECOND, "geometry": None}]
    result = validate_sites(raw_sites(rows), GPKG, data_root)
    assert len(result.accepted) == 0
    assert result.quarantine["source_row"].tolist() == [1, 2]
    assert result.balanced


def test_area_is_geodesic_for_a_utm_square(data_root):
    km_square = {**FIRST, "geometry": shapely.box(E0, N0, E0 + 1000, N0 + 1000)}
    area = validate_sites(raw_sites([km_square]), GPKG, data_root).accepted["area_ha"].iloc[0]
    npt.assert_allclose(area, 100.0, rtol=0.005)


def test_area_is_geodesic_whatever_the_input_crs(data_root):
    # The same 1 km UTM square, handed over in the Indian Lambert CRS (which shrinks areas ~3.5 %).
    lcc = gpd.GeoSeries([shapely.box(E0, N0, E0 + 1000, N0 + 1000)], crs=UTM44).to_crs("EPSG:7755").iloc[0]
    assert lcc.area == pytest.approx(965_000, rel=0.01)  # planar area in EPSG:7755 is off
    area = validate_sites(raw_sites([{**FIRST, "geometry": lcc}], crs="EPSG:7755"), GPKG, data_root).accepted
    npt.assert_allclose(area["area_ha"].iloc[0], 100.0, rtol=0.005)


def test_point_site_has_zero_area(data_root):
    point = {**FIRST, "reported_tonnes": "250000", "geometry": shapely.Point(81.5, 20.5)}
    accepted = validate_sites(raw_sites([point], crs="EPSG:4326"), GPKG, data_root).accepted
    assert accepted["area_ha"].tolist() == [0.0]


def test_site_ids_differing_only_in_case_are_the_same_site_twice(data_root):
    result = validate_sites(raw_sites([FIRST, {**SECOND, "site_id": "s1"}]), GPKG, data_root)
    assert result.accepted["site_id"].tolist() == ["S1"] and result.balanced
    (reason,) = result.quarantine["reason"]
    assert "'s1' differs only in case from 'S1' (feature 1)" in reason


def test_sliver_footprint_is_quarantined_but_a_small_pond_is_not(data_root):
    sliver = {**SECOND, "geometry": shapely.box(E0, N0, E0 + 50, N0 + 0.01)}  # 0.5 m2
    pond = {**FIRST, "site_id": "S3", "geometry": square(E0 + 5000, N0, 6)}  # 12 m x 12 m
    result = validate_sites(raw_sites([sliver, pond]), GPKG, data_root)
    assert result.accepted["site_id"].tolist() == ["S3"]
    (reason,) = result.quarantine["reason"]
    assert "below the 100 m2 smallest deposit" in reason
