"""validate_samples: locations from lon/lat or x/y/crs, g/t assays, site assignment, quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pandas as pd
import pyproj
import pytest

from residua.geodata.validate import no_samples, validate_samples
from tests.geodata.helpers import E0, N0

CSV = Path("samples.csv")
#: The centre of site A (UTM 44N square around E0, N0), in lon/lat.
A_LON, A_LAT = pyproj.Transformer.from_crs("EPSG:32644", "EPSG:4326", always_xy=True).transform(E0, N0)
GOOD = {"sample_id": "S1", "site_id": "A", "lon": f"{A_LON}", "lat": f"{A_LAT}", "depth_from_m": "0",
        "depth_to_m": "1.5", "ga_ppm": "55"}  # fmt: skip


def raw_samples(rows: list[dict]) -> pd.DataFrame:
    """Sample rows as read_samples returns them from a CSV: text cells, source_row = line number."""
    frame = pd.DataFrame(rows, dtype=object).fillna("")
    frame.insert(0, "source_row", range(2, len(rows) + 2))
    return frame


def test_locations_from_lonlat_and_two_utm_zones_in_one_file(two_sites):
    rows = [
        {"sample_id": "L1", "lon": f"{A_LON}", "lat": f"{A_LAT}", "ga_ppm": "50"},  # lon/lat, in A
        {"sample_id": "X1", "x": "500010", "y": "2300020", "crs": "EPSG:32644", "ga_ppm": "40"},  # UTM 44N, in A
        {"sample_id": "X2", "x": "700010", "y": "2500020", "crs": "EPSG:32643", "ga_ppm": "30"},  # UTM 43N, in B
    ]
    result = validate_samples(raw_samples(rows), CSV, two_sites)
    assert result.quarantine["reason"].tolist() == []
    accepted = result.accepted
    assert accepted.crs == "EPSG:4326"
    assert accepted["site_id"].tolist() == ["A", "A", "B"]  # blank site_id found by the footprint
    lon43, lat43 = pyproj.Transformer.from_crs("EPSG:32643", "EPSG:4326", always_xy=True).transform(700010, 2500020)
    npt.assert_allclose([accepted.geometry.iloc[2].x, accepted.geometry.iloc[2].y], [lon43, lat43], atol=1e-9)
    npt.assert_allclose([accepted.geometry.iloc[0].x, accepted.geometry.iloc[0].y], [A_LON, A_LAT], atol=1e-9)
    assert 72 < accepted.geometry.iloc[2].x < 78  # zone 43N spans 72-78 E


def test_below_detection_is_kept_and_flagged(two_sites):
    rows = [{**GOOD, "ga_ppm": "<0.5", "pt_ppb": "<2", "te_ppb": "250"}]
    accepted = validate_samples(raw_samples(rows), CSV, two_sites).accepted
    assert len(accepted) == 1
    row = accepted.iloc[0]
    assert (bool(row["ga_bdl"]), bool(row["pt_bdl"]), bool(row["te_bdl"])) == (True, True, False)
    npt.assert_allclose([row["ga_gt"], row["pt_gt"], row["te_gt"]], [0.5, 0.002, 0.25])  # limits, not zero


def test_units_converted_per_row_from_side_by_side_columns(two_sites):
    rows = [
        {**GOOD, "sample_id": "S1", "ga_ppm": "12", "ga_ppb": ""},
        {**GOOD, "sample_id": "S2", "ga_ppm": "", "ga_ppb": "12000"},
        {**GOOD, "sample_id": "S3", "ga_ppm": "", "ga_ppb": "", "ga_pct": "0.0012"},
    ]
    accepted = validate_samples(raw_samples(rows), CSV, two_sites).accepted
    npt.assert_allclose(accepted["ga_gt"], [12.0, 12.0, 12.0])
    assert np.isnan(accepted["te_gt"]).all()


def test_depths_become_numbers(two_sites):
    accepted = validate_samples(raw_samples([{**GOOD, "depth_from_m": "1.5", "depth_to_m": "3"}]), CSV, two_sites)
    assert accepted.accepted[["depth_from_m", "depth_to_m"]].iloc[0].tolist() == [1.5, 3.0]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"site_id": "", "lon": "10", "lat": "10"}, "outside every accepted site footprint"),
        ({"lon": "", "lat": "", "x": "1", "y": "2", "crs": "EPSG:99999"}, "crs 'EPSG:99999' is not a known"),
        ({"lon": "", "lat": ""}, "no location"),
        ({"lon": "200", "lat": "10"}, "outside lon/lat bounds"),
        ({"depth_from_m": "2", "depth_to_m": "1"}, "depth_to_m 1 is not below depth_from_m 2"),
        ({"depth_from_m": "2", "depth_to_m": "2"}, "depth_to_m 2 is not below depth_from_m 2"),  # zero length
        ({"depth_from_m": "top"}, "depth_from_m 'top' is not a number"),
        ({"site_id": "Z"}, "site_id 'Z' is not among the accepted sites"),
        ({"site_id": "a"}, "site_id 'a' is not among the accepted sites; did you mean 'A'? site ids match exactly"),
        ({"ga_ppm": ""}, "no assay values"),
        ({"ga_ppm": "0"}, "ga_ppm: assay '0' is zero"),
        ({"ga_ppm": "n.a."}, "ga_ppm: assay 'n.a.' is not a number"),
        ({"ga_ppm": "12", "ga_ppb": "15000"}, "ga_ppm and ga_ppb disagree"),
        ({"sample_id": ""}, "sample_id is empty"),
    ],
)
def test_bad_sample_row_is_quarantined_with_reason(two_sites, change, reason):
    rows = [{**GOOD, "sample_id": "OK"}, {**GOOD, "sample_id": "BAD", **change}]
    result = validate_samples(raw_samples(rows), CSV, two_sites)
    assert result.accepted["sample_id"].tolist() == ["OK"]
    assert result.quarantine["source_row"].tolist() == [3]
    assert reason in result.quarantine["reason"].iloc[0]
    assert result.rows_in == len(result.accepted) + len(result.quarantine) == 2


def test_duplicate_sample_id_keeps_first(two_sites):
    rows = [{**GOOD, "ga_ppm": "10"}, {**GOOD, "ga_ppm": "20"}]
    result = validate_samples(raw_samples(rows), CSV, two_sites)
    assert result.accepted["ga_gt"].tolist() == [10.0]
    assert "duplicate sample_id 'S1'" in result.quarantine["reason"].iloc[0]
    assert "line 2" in result.quarantine["reason"].iloc[0]
    assert result.balanced


def test_quarantine_keeps_raw_cells_and_location(two_sites):
    rows = [{**GOOD, "ga_ppm": "0"}]
    quarantine = validate_samples(raw_samples(rows), CSV, two_sites).quarantine
    assert json.loads(quarantine["raw"].iloc[0])["ga_ppm"] == "0"
    assert quarantine["record_id"].tolist() == ["S1"]
    assert quarantine["source"].tolist() == ["samples.csv"]
    assert quarantine.crs == "EPSG:4326"
    npt.assert_allclose(quarantine.geometry.iloc[0].x, A_LON)


def test_rows_are_conserved_in_a_mixed_file(two_sites):
    rows = [
        GOOD,
        {**GOOD, "sample_id": "S2", "site_id": "", "x": "700000", "y": "2500000", "crs": "EPSG:32643", "lon": ""},
        {**GOOD, "sample_id": "S3", "ga_ppm": "0"},  # zero: write "<DL"
        {**GOOD, "sample_id": "S1"},  # duplicate
        {**GOOD, "sample_id": "S5", "site_id": "", "lon": "0", "lat": "0"},  # outside every site
        {**GOOD, "sample_id": "S6", "ga_ppm": "<0.1"},
    ]
    result = validate_samples(raw_samples(rows), CSV, two_sites)
    assert result.accepted["sample_id"].tolist() == ["S1", "S2", "S6"]
    assert result.quarantine["source_row"].tolist() == [4, 5, 6]
    assert sorted([*result.accepted["source_row"], *result.quarantine["source_row"]]) == [2, 3, 4, 5, 6, 7]
    assert result.rows_in == 6 and result.balanced


def test_sample_id_given_but_site_not_accepted_is_quarantined(two_sites):
    only_b = two_sites[two_sites["site_id"] == "B"]
    result = validate_samples(raw_samples([GOOD]), CSV, only_b)
    assert "site_id 'A' is not among the accepted sites" in result.quarantine["reason"].iloc[0]


def test_empty_samples_file_gives_empty_result(two_sites):
    result = validate_samples(raw_samples([GOOD]).iloc[:0], CSV, two_sites)
    assert (len(result.accepted), len(result.quarantine), result.rows_in) == (0, 0, 0)


def test_no_samples_has_the_usual_columns(two_sites):
    usual = validate_samples(raw_samples([GOOD]), CSV, two_sites).accepted.columns
    empty = no_samples(two_sites).accepted
    assert len(empty) == 0
    assert sorted(empty.columns) == sorted(usual)


def test_sample_far_from_the_site_it_names_is_quarantined(two_sites):
    near_lon, _ = pyproj.Transformer.from_crs("EPSG:32644", "EPSG:4326", always_xy=True).transform(E0 + 600, N0)
    rows = [
        GOOD,
        {**GOOD, "sample_id": "SWAP", "lon": f"{A_LAT}", "lat": f"{A_LON}"},  # lon and lat swapped
        {**GOOD, "sample_id": "NEAR", "lon": f"{near_lon}"},  # 500 m east of the footprint: an embankment
    ]
    result = validate_samples(raw_samples(rows), CSV, two_sites)
    assert result.accepted["sample_id"].tolist() == ["S1", "NEAR"] and result.balanced
    (reason,) = result.quarantine["reason"]
    assert "km outside site 'A''s footprint" in reason and "swapped lon/lat" in reason


def test_overlapping_intervals_in_one_hole_quarantine_both_rows(two_sites):
    hole = {**GOOD, "hole_id": "H1"}
    rows = [
        {**hole, "sample_id": "A1", "depth_from_m": "0", "depth_to_m": "1.5"},
        {**hole, "sample_id": "A2", "depth_from_m": "1.0", "depth_to_m": "2.5"},  # overlaps A1 by 0.5 m
        {**hole, "sample_id": "A3", "depth_from_m": "2.5", "depth_to_m": "4.0"},  # touches A2: fine
        {**hole, "sample_id": "A4", "depth_from_m": "2.5", "depth_to_m": "4.0", "ga_ppm": "", "te_ppm": "3"},
        {**GOOD, "sample_id": "B1", "hole_id": "H2", "depth_from_m": "1.0", "depth_to_m": "2.5"},  # another hole
    ]
    result = validate_samples(raw_samples(rows), CSV, two_sites)
    assert result.accepted["sample_id"].tolist() == ["A3", "A4", "B1"] and result.balanced
    reasons = dict(zip(result.quarantine["record_id"], result.quarantine["reason"], strict=True))
    assert "interval 1-2.5 m overlaps 'A1' (0-1.5 m) in hole 'H1'" in reasons["A2"]
    assert "overlaps 'A2'" in reasons["A1"]


def test_site_whose_median_is_a_thousand_times_its_type_is_a_unit_error(two_sites):
    from residua.geodata.reference_tables import load_reference_tables

    priors = load_reference_tables().grade_priors
    sites = two_sites.assign(residue_type="bauxite_residue")
    typical = priors.set_index(["residue_type", "element"]).loc[("bauxite_residue", "ga"), "grade_p50_gt"]
    # site A's Ga written in ppb in the ppm column; B's a plain, rich-but-plausible 5x typical
    b_lon, b_lat = sites.geometry.iloc[1].centroid.x, sites.geometry.iloc[1].centroid.y
    rows = [{**GOOD, "sample_id": f"A{i}", "ga_ppm": f"{typical * 1000 * (1 + i / 10):g}"} for i in range(3)]
    rows += [
        {**GOOD, "sample_id": "B1", "site_id": "B", "lon": f"{b_lon}", "lat": f"{b_lat}", "ga_ppm": f"{typical * 5:g}"}
    ]
    result = validate_samples(raw_samples(rows), CSV, sites, priors)
    assert result.accepted["sample_id"].tolist() == ["B1"] and result.balanced
    reason = result.quarantine["reason"].iloc[0]
    assert "unit error" in reason and "ppb written as ppm" in reason
    # without the priors (as before) nothing is checked; an empty ceilings table leaves the ceiling rule out too
    assert len(validate_samples(raw_samples(rows), CSV, sites, assay_ceilings=pd.DataFrame()).accepted) == 4


# --------------------------------------------------------------------------------------------
# Assay ceilings per residue type and element (assay_ceilings.csv)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (
            {"ga_ppm": "60000"},
            "ga_ppm '60000' at samples.csv line 3 is 60,000 g/t, above the 1,000 g/t ceiling for Ga "
            "in bauxite_residue (assay_ceilings.csv; the highest published is 59.4 g/t; source: Gu H., Wang N., "
            "Hargreaves J.S.J. 2018",
        ),
        ({"ga_ppm": "60000"}, "check the unit: read as ppb it would be 60 g/t (ppb written in a ppm column?)"),
        ({"ga_ppm": "", "ga_pct": "6"}, "read as ppm it would be 6 g/t (ppm written in a pct column?)"),
        ({"ga_ppm": "<5000"}, "ga_ppm '<5000' at samples.csv line 3 is 5,000 g/t, above the 1,000 g/t ceiling"),
        ({"ga_ppm": "", "ga_ppb": "2000000"}, "check the value and its unit against the laboratory certificate"),
    ],
)
def test_assay_above_its_types_ceiling_is_quarantined_naming_ceiling_source_and_unit(two_sites, change, fragment):
    sites = two_sites.assign(residue_type="bauxite_residue")
    rows = [{**GOOD, "sample_id": "OK", "ga_ppm": "900"}, {**GOOD, "sample_id": "HIGH", **change}]
    result = validate_samples(raw_samples(rows), CSV, sites)
    assert result.accepted["sample_id"].tolist() == ["OK"]
    assert result.quarantine["source_row"].tolist() == [3]
    assert fragment in result.quarantine["reason"].iloc[0]
    assert result.rows_in == len(result.accepted) + len(result.quarantine) == 2


def test_types_and_elements_without_a_ceiling_keep_only_the_whole_sample_rule(two_sites):
    sites = two_sites.assign(residue_type="bauxite_residue")
    rows = [
        {**GOOD, "sample_id": "TE", "ga_ppm": "", "te_ppm": "50000"},  # no Te ceiling for red mud: 5 % passes
        {**GOOD, "sample_id": "WHOLE", "ga_ppm": "", "te_ppm": "2000000"},  # 200 %: refused as before
    ]
    result = validate_samples(raw_samples(rows), CSV, sites)
    assert result.accepted["sample_id"].tolist() == ["TE"] and result.balanced
    (reason,) = result.quarantine["reason"]
    assert "above 100 % of the sample" in reason and "ceiling" not in reason
    other = validate_samples(raw_samples([{**GOOD, "ga_ppm": "60000"}]), CSV, two_sites.assign(residue_type="other"))
    assert len(other.accepted) == 1  # 'other' has no ceiling row


def test_the_drops_own_ceilings_replace_the_bundled_ones(two_sites, tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "assay_ceilings.csv").write_text(
        "residue_type,element,ceiling_ppm,source\nred mud,ga,50,our plant's assay history 2010-2024\n"
    )
    sites = two_sites.assign(residue_type="bauxite_residue")
    rows = [{**GOOD, "sample_id": "LOW", "ga_ppm": "45"}, {**GOOD, "sample_id": "HIGH", "ga_ppm": "55"}]
    result = validate_samples(raw_samples(rows), tmp_path / "samples.csv", sites)
    assert result.accepted["sample_id"].tolist() == ["LOW"] and result.balanced
    reason = result.quarantine["reason"].iloc[0]
    assert "above the 50 g/t ceiling for Ga in bauxite_residue" in reason
    assert "source: our plant's assay history 2010-2024" in reason and "highest published" not in reason
    # the same rows against the bundled ceiling (1,000 g/t) are both accepted
    assert len(validate_samples(raw_samples(rows), CSV, sites).accepted) == 2


def test_a_semicolon_lab_export_with_decimal_commas_validates_like_points(two_sites, tmp_path):
    from residua.geodata.readers import read_samples

    lon, lat = f"{A_LON:.6f}".replace(".", ","), f"{A_LAT:.6f}".replace(".", ",")
    path = tmp_path / "samples.csv"
    path.write_text(
        "sample_id;site_id;lon;lat;depth_from_m;depth_to_m;ga_ppm\n"
        f"S1;A;{lon};{lat};0;1,5;12,5\n"
        f"S2;A;{lon};{lat};1,5;3;<0,5\n"
        f"S3;A;{lon};{lat};3;4,5;1.234\n"  # 1234 or 1.234? refused, not guessed
    )
    result = validate_samples(read_samples(path), path, two_sites)
    assert result.accepted["sample_id"].tolist() == ["S1", "S2"]
    npt.assert_allclose(result.accepted["ga_gt"], [12.5, 0.5])
    npt.assert_allclose(result.accepted["depth_to_m"], [1.5, 3.0])
    assert result.accepted["ga_bdl"].tolist() == [False, True]
    assert result.quarantine["source_row"].tolist() == [4]
    assert "ga_ppm '1.234' is ambiguous" in result.quarantine["reason"].iloc[0]
    assert result.rows_in == len(result.accepted) + len(result.quarantine) == 3
