"""Property-based tests of the readers and validators on fuzzed rows.

Every input row ends accepted or quarantined with a reason (rows in = accepted +
quarantined), and a whole-file problem raises a DataDropError naming the file and a fix.
Accepted rows satisfy the contract. Cases that once crashed or slipped through have their
own regression tests at the bottom.
"""

from __future__ import annotations

import math
import sqlite3
import struct
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from residua.geodata.assays import AssayParseError, parse_assay
from residua.geodata.datadrop import resolve_inside
from residua.geodata.errors import DataDropError
from residua.geodata.numbers import parse_decimal
from residua.geodata.readers import read_samples, read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.reviews import ReviewError, read_reviews
from residua.geodata.schema import ELEMENTS, RESIDUE_TYPES, canonical_residue_type
from residua.geodata.validate import ValidationResult, validate_samples, validate_sites
from tests.reliability.helpers import (
    GOOD_BOX,
    WKT_TEXTS,
    assert_clean_validate,
    fuzz_settings,
    non_blank_rows,
    sample_rows,
    site_rows,
    write_csv_rows,
    write_sites,
)

FUZZ = fuzz_settings(30)
#: Two accepted sites that fuzzed samples can fall into (S1 holds lon 80.005, lat 20.005).
SITES = gpd.GeoDataFrame(
    {"site_id": ["S1", "S2"]}, geometry=[GOOD_BOX, shapely.box(80.02, 20.0, 80.03, 20.01)], crs="EPSG:4326"
)


def _assert_data_drop_error(error: DataDropError, path: Path) -> None:
    text = str(error)
    assert path.name in text and ". Fix: " in text and error.problem and error.fix, text


def _assert_quarantine_accounts_for_every_row(result: ValidationResult, source_rows: list[int]) -> None:
    assert result.balanced
    assert result.rows_in == len(source_rows)
    accepted = list(result.accepted["source_row"])
    quarantined = list(result.quarantine["source_row"])
    assert sorted(accepted + quarantined) == sorted(source_rows)  # each row exactly once
    assert all(isinstance(reason, str) and reason.strip() for reason in result.quarantine["reason"])


# --------------------------------------------------------------------------------------------
# Sites


@FUZZ
@given(rows=site_rows(), fmt=st.sampled_from(["csv", "gpkg", "geojson"]), wkt=st.lists(st.sampled_from(WKT_TEXTS)))
def test_every_site_row_is_accepted_or_quarantined(tmp_path_factory, rows, fmt, wkt):
    folder = tmp_path_factory.mktemp("sites")
    (folder / "rasters").mkdir()
    (folder / "rasters" / "ok.tif").write_bytes(b"a file validate_sites only checks exists")
    path = write_sites(folder, rows, fmt)
    if fmt == "csv" and wkt:  # raw WKT as people type it, over the first rows
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.loc[: len(wkt) - 1, "wkt"] = wkt[: len(frame)]
        frame.to_csv(path, index=False)
        rows = frame.to_dict("records")
    try:
        raw = read_sites(path)
    except DataDropError as error:
        _assert_data_drop_error(error, path)
        return
    expected_rows = non_blank_rows(rows) if fmt == "csv" else len(rows)
    result = validate_sites(raw, path, folder)
    _assert_quarantine_accounts_for_every_row(result, list(raw["source_row"]))
    assert result.rows_in == expected_rows
    _assert_accepted_sites_meet_the_contract(result.accepted, folder)


def _assert_accepted_sites_meet_the_contract(accepted: gpd.GeoDataFrame, folder: Path) -> None:
    assert accepted.crs.to_epsg() == 4326
    ids = list(accepted["site_id"])
    assert all(ids) and len(set(ids)) == len(ids)
    assert set(accepted["residue_type"]) <= set(RESIDUE_TYPES)
    assert all(isinstance(name, str) and name for name in accepted["name"])
    for geometry in accepted.geometry:
        assert geometry is not None and not geometry.is_empty and geometry.is_valid
        assert geometry.geom_type in ("Polygon", "MultiPolygon", "Point")
    for column in ("reported_tonnes", "reported_volume_m3", "dry_density_t_m3"):
        values = pd.to_numeric(accepted[column], errors="coerce").dropna()
        assert (values > 0).all(), (column, values.tolist())
    years = accepted[["commissioned_year", "closed_year"]].apply(pd.to_numeric, errors="coerce").dropna()
    assert (years["closed_year"] >= years["commissioned_year"]).all()
    for column in ("surface_dem", "base_dem"):
        for text in accepted[column]:
            if text:
                resolved = resolve_inside(folder, text)
                assert resolved is not None and resolved.is_file(), text


# --------------------------------------------------------------------------------------------
# Samples


@FUZZ
@given(rows=sample_rows())
def test_every_sample_row_is_accepted_or_quarantined(tmp_path_factory, rows):
    path = write_csv_rows(tmp_path_factory.mktemp("samples") / "samples.csv", rows)
    try:
        raw = read_samples(path)
    except DataDropError as error:
        _assert_data_drop_error(error, path)
        return
    result = validate_samples(raw, path, SITES)
    _assert_quarantine_accounts_for_every_row(result, list(raw["source_row"]))
    assert result.rows_in == non_blank_rows(rows)
    accepted = result.accepted
    ids = list(accepted["sample_id"])
    assert all(ids) and len(set(ids)) == len(ids)
    assert set(accepted["site_id"]) <= {"S1", "S2"}
    for point in accepted.geometry:
        assert point.geom_type == "Point" and -180 <= point.x <= 180 and -90 <= point.y <= 90
    grades = accepted[[f"{element}_gt" for element in ELEMENTS]].astype(float)
    assert ((grades > 0) | grades.isna()).all().all()
    assert grades.notna().any(axis=1).all()  # at least one assay per accepted interval
    depths = accepted[["depth_from_m", "depth_to_m"]].astype(float).dropna()
    assert (depths["depth_to_m"] > depths["depth_from_m"]).all()


# --------------------------------------------------------------------------------------------
# Cell parsers


@given(st.one_of(st.text(max_size=30), st.from_regex(r"[-+<]?\s*[0-9.,eE+-]{1,12}", fullmatch=True)))
@fuzz_settings(300)
def test_parse_decimal_never_raises_and_never_reads_a_decimal_comma(text):
    value = parse_decimal(text)
    assert value is None or isinstance(value, float)
    if "," in text and value is not None:
        assert re_thousands(text.strip()), text  # commas only as thousands separators


def re_thousands(text: str) -> bool:
    import re

    return re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", text) is not None


@given(
    st.one_of(
        st.text(max_size=20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**30), 10**30),
        st.sampled_from(["<0.5", "< 2", "<0", "<-1", "1e999", "<1e999", "-0", "0.0", "NaN", "n/a"]),
        st.none(),
    )
)
@fuzz_settings(300)
def test_parse_assay_returns_a_positive_finite_value_blank_or_a_clear_error(cell):
    try:
        parsed = parse_assay(cell)
    except AssayParseError as error:
        assert str(error)
        return
    if parsed is not None:
        assert math.isfinite(parsed.value) and parsed.value > 0


@given(st.one_of(st.text(max_size=30), st.none(), st.floats(), st.integers()))
@fuzz_settings(200)
def test_canonical_residue_type_never_raises(value):
    assert canonical_residue_type(value) in (None, *RESIDUE_TYPES)


# --------------------------------------------------------------------------------------------
# Bugs found by fuzzing, now fixed. Each test asserts the correct behaviour.

BOX = '"POLYGON((80 20,80.01 20,80.01 20.01,80 20.01,80 20))"'


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("which", ["sites", "samples"])
def test_a_user_column_named_source_row_is_not_a_crash(tmp_path, which):
    drop = _write(tmp_path, "sites.csv", f"site_id,name,residue_type,source_row,wkt\nA,A,red mud,7,{BOX}\n")
    if which == "samples":
        _write(drop, "sites.csv", f"site_id,name,residue_type,wkt\nA,A,red mud,{BOX}\n")
        _write(drop, "samples.csv", "sample_id,lon,lat,ga_ppm,source_row\ns1,80.005,20.005,5,3\n")
    assert_clean_validate(drop)


@pytest.mark.parametrize("which", ["sites", "samples"])
def test_columns_differing_only_in_case_are_a_clear_file_error(tmp_path, which):
    if which == "sites":
        path = (
            _write(tmp_path, "sites.csv", f"site_id,SITE_ID,name,residue_type,wkt\nA,B,A,red mud,{BOX}\n") / "sites.csv"
        )
        with pytest.raises(DataDropError, match="site_id"):
            read_sites(path)
    else:
        path = _write(tmp_path, "samples.csv", "sample_id,SAMPLE_ID,lon,lat,ga_ppm\ns1,s2,80.005,20.005,5\n")
        with pytest.raises(DataDropError, match="sample_id"):
            read_samples(path / "samples.csv")


@pytest.mark.parametrize(
    "text",
    [
        f"site_id,name,residue_type,wkt\nA,Pond 1, Renukoot,red mud,{BOX}\n",  # unquoted comma in the name
        f"site_id,name,residue_type,wkt\nA,Pond 1, Renukoot,red mud,{BOX}\nB,Pond 2,red mud,{BOX}\n",
        f"site_id,name,residue_type,wkt\nA,Pond,red mud,{BOX},\n",  # trailing comma
    ],
)
def test_a_line_with_more_fields_than_the_header_does_not_shift_columns(tmp_path, text):
    path = _write(tmp_path, "sites.csv", text) / "sites.csv"
    try:
        result = validate_sites(read_sites(path), path, tmp_path)
    except DataDropError:
        return
    assert set(result.accepted["site_id"]) <= {"A", "B"}, result.accepted[["site_id", "name", "residue_type"]]
    assert set(result.accepted["name"]) <= {"Pond", "Pond 1, Renukoot", "Pond 2"}
    assert set(result.quarantine["record_id"]) <= {"A", "B"}, result.quarantine[["record_id", "reason"]]


@pytest.mark.parametrize("crs", ["EPSG:999999", "WGS84 UTM 44", "nonsense"])
def test_an_unknown_crs_in_a_sites_csv_is_a_crs_error(tmp_path, crs):
    drop = _write(tmp_path, "sites.csv", f"site_id,name,residue_type,crs,wkt\nA,A,red mud,{crs},{BOX}\n")
    printed = assert_clean_validate(drop)
    assert "UNUSABLE" in printed and "crs" in printed.lower()


@pytest.mark.parametrize(
    ("crs", "wkt"),
    [
        ("EPSG:4326", "POLYGON((1e10 1e10,1.1e10 1e10,1.1e10 1.1e10,1e10 1e10))"),
        ("EPSG:4326", "POLYGON((80 95,80.01 95,80.01 95.01,80 95))"),
        ("EPSG:32644", "POLYGON((1e30 0,1.1e30 0,1.1e30 1e29,1e30 0))"),
        ("EPSG:4326", "POINT(1e10 1e10)"),
    ],
)
def test_sites_outside_lon_lat_bounds_are_quarantined(tmp_path, crs, wkt):
    header = "site_id,name,residue_type,reported_tonnes,crs,wkt\n"
    path = _write(tmp_path, "sites.csv", f'{header}A,A,red mud,1000,{crs},"{wkt}"\n') / "sites.csv"
    result = validate_sites(read_sites(path), path, tmp_path)
    assert len(result.accepted) == 0 and len(result.quarantine) == 1


@pytest.mark.parametrize("which", ["reported_tonnes", "depth_to_m"])
def test_infinite_numbers_are_quarantined(tmp_path, which):
    if which == "reported_tonnes":
        path = _write(
            tmp_path, "sites.csv", f"site_id,name,residue_type,reported_tonnes,wkt\nA,A,red mud,1e999,{BOX}\n"
        )
        result = validate_sites(read_sites(path / "sites.csv"), path / "sites.csv", tmp_path)
    else:
        text = "sample_id,lon,lat,ga_ppm,depth_from_m,depth_to_m\ns1,80.005,20.005,5,0,1e999\n"
        path = _write(tmp_path, "samples.csv", text) / "samples.csv"
        result = validate_samples(read_samples(path), path, SITES)
    assert len(result.accepted) == 0 and "finite" in " ".join(result.quarantine["reason"]).lower()


def test_an_assay_overflowing_on_unit_conversion_is_quarantined(tmp_path):
    path = _write(tmp_path, "samples.csv", "sample_id,lon,lat,ga_pct\ns1,80.005,20.005,1e305\n") / "samples.csv"
    result = validate_samples(read_samples(path), path, SITES)
    assert len(result.accepted) == 0
    assert np.isfinite(result.accepted[[f"{e}_gt" for e in ELEMENTS]].astype(float).fillna(0)).all().all()


@pytest.mark.parametrize("suffix", ["gpkg", "geojson"])
def test_a_non_point_sample_geometry_is_quarantined(tmp_path, suffix):
    drop = _write(tmp_path, "sites.csv", f"site_id,name,residue_type,wkt\nA,A,red mud,{BOX}\n")
    gpd.GeoDataFrame(
        {"sample_id": ["s1", "s2"], "ga_ppm": ["5", "6"]},
        geometry=[shapely.Point(80.005, 20.005), shapely.box(80.001, 20.001, 80.002, 20.002)], crs="EPSG:4326",
    ).to_file(drop / f"samples.{suffix}")  # fmt: skip
    printed = assert_clean_validate(drop)
    assert "s2" in printed


def test_a_sites_geopackage_without_geometry_is_a_clear_error(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    pyogrio.write_dataframe(pd.DataFrame({"site_id": ["a"], "name": ["A"], "residue_type": ["red mud"]}),
                            tmp_path / "sites.gpkg")  # fmt: skip
    printed = assert_clean_validate(tmp_path)
    assert "UNUSABLE" in printed


def _gpkg_with_unclosed_ring(path: Path) -> Path:
    """A GeoPackage whose only polygon has an unclosed ring (as a broken editor might write)."""
    gpd.GeoDataFrame({"site_id": ["A"], "name": ["A"], "residue_type": ["red mud"]}, geometry=[GOOD_BOX],
                     crs="EPSG:4326").to_file(path, layer="sites")  # fmt: skip
    ring = [(80.0, 20.0), (80.01, 20.0), (80.01, 20.01)]
    wkb = struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *xy) for xy in ring)
    blob = b"GP" + bytes([0, 1]) + struct.pack("<i", 4326) + wkb  # GeoPackage header, no envelope
    with sqlite3.connect(path) as connection:
        for name in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # used by the R-tree triggers
            connection.create_function(name, 1, lambda _: 0)
        connection.execute("UPDATE sites SET geom = ?", (blob,))
    return path


def test_a_malformed_geometry_blob_is_a_clear_error_or_quarantined(tmp_path):
    _gpkg_with_unclosed_ring(tmp_path / "sites.gpkg")
    assert_clean_validate(tmp_path)


def _reference_override(folder: Path, name: str, data: bytes) -> Path:
    (folder / "reference").mkdir(parents=True, exist_ok=True)
    (folder / "reference" / name).write_bytes(data)
    return folder


def test_a_non_utf8_reference_table_is_a_reference_table_error(tmp_path):
    bundled = (Path(load_reference_tables.__code__.co_filename).parent / "reference" / "prices.csv").read_text()
    folder = _reference_override(tmp_path, "prices.csv", bundled.replace("source", "source", 1).encode("utf-8")
                                 + "ga,1,2,3,Caf\xe9 Mart\xedn estimate\n".encode("cp1252"))  # fmt: skip
    _write(folder, "sites.csv", f"site_id,name,residue_type,wkt\nA,A,red mud,{BOX}\n")
    printed = assert_clean_validate(folder)
    assert "prices.csv" in printed and "UTF-8" in printed


def test_a_blank_and_an_unknown_element_in_a_reference_table_are_reported(tmp_path):
    data = b"element,cutoff_gt,source\n,1,assumption\nxx,1,assumption\n"
    folder = _reference_override(tmp_path, "cutoff_grades.csv", data)
    _write(folder, "sites.csv", f"site_id,name,residue_type,wkt\nA,A,red mud,{BOX}\n")
    printed = assert_clean_validate(folder)
    assert "cutoff_grades.csv" in printed


@pytest.mark.parametrize("content", [b"", b"site_id,decision,note,reviewer,timestamp\nP1,accept,caf\xe9,x,2026\n"])
def test_an_empty_or_non_utf8_reviews_file_is_handled(tmp_path, content):
    path = tmp_path / "reviews.csv"
    path.write_bytes(content)
    try:
        accepted, rejected = read_reviews(path)
    except ReviewError:
        return
    assert len(accepted) + len(rejected) == content.count(b"\n") - 1 if content else len(accepted) == 0
