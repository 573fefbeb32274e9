"""Drillhole collar / survey / assay tables read as samples: minimum-curvature desurvey, quarantine, discovery."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pandas as pd
import pyproj
import pytest

from residua.geodata.datadrop import open_data_drop
from residua.geodata.drillholes import DRILLHOLE_NOTES, desurvey, read_drillholes
from residua.geodata.drop_files import describe_files, not_read
from residua.geodata.errors import CRSError, DataDropError, MissingColumnError
from residua.geodata.readers import read_samples, read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.validate import validate_samples, validate_sites
from tests.geodata.helpers import E0, N0, UTM44

DEMO = Path(__file__).resolve().parents[2] / "geodata" / "demo"
COLLARS = f"hole_id,x,y,crs,elevation,max_depth\nDH1,{E0},{N0},{UTM44},100,30\n"


def write_tables(root: Path, collars: str, assays: str, surveys: str | None = None) -> Path:
    """Write collars.csv, assays.csv and (if given) surveys.csv under ``root``; return the assays path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "collars.csv").write_text(collars)
    (root / "assays.csv").write_text(assays)
    if surveys is not None:
        (root / "surveys.csv").write_text(surveys)
    return root / "assays.csv"


def numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


@pytest.mark.parametrize("dip", ["-60", "60"])  # negative downward (the usual way), or a table of positive dips
def test_a_constant_60_degree_hole_puts_the_midpoint_at_the_trigonometric_position(tmp_path, dip):
    path = write_tables(tmp_path, COLLARS, "hole_id,from,to,ga_ppm\nDH1,10,20,55\n",
                        f"hole_id,depth,azimuth,dip\nDH1,0,90,{dip}\nDH1,25,90,{dip}\n")  # fmt: skip
    row = read_drillholes(path).iloc[0]
    cos60, sin60 = math.cos(math.radians(60)), math.sin(math.radians(60))
    assert row["read_problem"] == ""
    # 15 m along a hole dipping 60 degrees due east: 7.5 m east, 12.99 m down
    npt.assert_allclose(float(row["x"]), E0 + 15 * cos60, rtol=0, atol=1e-9)
    npt.assert_allclose(float(row["y"]), N0, rtol=0, atol=1e-9)
    npt.assert_allclose([float(row["depth_from_m"]), float(row["depth_to_m"])], [10 * sin60, 20 * sin60], atol=1e-9)
    npt.assert_allclose(float(row["elevation_m"]), 100 - 15 * sin60, atol=1e-9)
    assert (row["from_m"], row["to_m"], row["crs"]) == ("10", "20", UTM44)  # along-hole depths as written


def test_a_curved_hole_follows_the_hand_computed_minimum_curvature_step(tmp_path):
    # vertical at the collar, 60 degrees down to the east at 30 m: dogleg 30 degrees
    beta = math.radians(30)
    ratio_factor = 2 / beta * math.tan(beta / 2)  # 1.0234905
    station = desurvey(["H"], [30.0], ["H", "H"], [0.0, 30.0], [0.0, 90.0], [-90.0, -60.0])[0]
    npt.assert_allclose(ratio_factor, 1.0234905, atol=1e-7)
    # step = L/2 * RF * (t1 + t2), t1 = (0, 0, 1), t2 = (sin 30 * sin 90, sin 30 * cos 90, cos 30)
    npt.assert_allclose(station, [15 * ratio_factor * 0.5, 0.0, 15 * ratio_factor * (1 + math.cos(beta))], atol=1e-9)
    npt.assert_allclose(station, [7.676179, 0.0, 28.647890], atol=1e-6)
    # the 0-30 m interval's midpoint lies on the same arc of radius 30 / beta, 15 degrees round
    path = write_tables(tmp_path, COLLARS, "hole_id,from,to,ga_ppm\nDH1,0,30,55\n",
                        "hole_id,depth,azimuth,dip\nDH1,30,90,-60\nDH1,0,0,-90\n")  # fmt: skip
    row = read_drillholes(path).iloc[0]
    radius, half = 30 / beta, beta / 2
    npt.assert_allclose(float(row["x"]) - E0, radius * (1 - math.cos(half)), atol=1e-9)  # 1.95229
    npt.assert_allclose(float(row["depth_to_m"]), station[2], atol=1e-9)
    npt.assert_allclose(float(row["elevation_m"]), 100 - radius * math.sin(half), atol=1e-9)


def test_desurvey_extends_the_first_and_last_survey_to_the_collar_and_below():
    # one station at 10 m, dip -45 to the north: the hole is straight from the collar and on below it
    points = desurvey(["H", "H"], [5.0, 40.0], ["H"], [10.0], [0.0], [-45.0])
    npt.assert_allclose(points, np.outer([5.0, 40.0], [0.0, math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-9)
    with pytest.raises(ValueError, match="two survey stations at one depth"):
        desurvey(["H"], [5.0], ["H", "H"], [10.0, 10.0], [0.0, 0.0], [-45.0, -50.0])


def test_holes_without_surveys_run_straight_down_or_along_the_collar_orientation(tmp_path):
    collars = (f"Hole ID,Easting,Northing,CRS,Max Depth (m),Azimuth,Dip\nV1,{E0},{N0},{UTM44},6,,\n"
               f"V2,{E0 + 20},{N0},{UTM44},6,,-90\nI1,{E0 + 40},{N0},{UTM44},6,180,-45\n")  # fmt: skip
    assays = "HoleID,From,To,Ga_ppm\nV1,0,1.5,50\nV1,1.5,3,<0.5\nV2,3,4.5,40\nI1,0,2,30\n"
    samples = read_drillholes(write_tables(tmp_path, collars, assays))  # no surveys file at all
    assert samples["read_problem"].tolist() == ["", "", "", ""]
    npt.assert_array_equal(numbers(samples, "x")[:3], [E0, E0, E0 + 20])  # vertical: the collar itself
    npt.assert_array_equal(numbers(samples, "depth_from_m")[:3], [0.0, 1.5, 3.0])
    npt.assert_array_equal(numbers(samples, "depth_to_m")[:3], [1.5, 3.0, 4.5])
    # straight along the collar's azimuth 180 and dip -45: 1 m along is sqrt(0.5) m south and down
    npt.assert_allclose([numbers(samples, "y")[3], numbers(samples, "depth_to_m")[3]],
                        [N0 - math.sqrt(0.5), 2 * math.sqrt(0.5)], atol=1e-9)  # fmt: skip
    assert samples["ga_ppm"].tolist() == ["50", "<0.5", "40", "30"]  # assays as written, below-limit kept
    # a hole with no row in a surveys file that has rows for other holes is vertical too
    (tmp_path / "surveys.csv").write_text("hole_id,depth,azimuth,dip\nI1,0,180,-45\n")
    assert read_drillholes(tmp_path / "assays.csv")["x"].tolist() == samples["x"].tolist()


def test_lonlat_collars_give_lonlat_midpoints(tmp_path):
    lon, lat = pyproj.Transformer.from_crs(UTM44, "EPSG:4326", always_xy=True).transform(E0, N0)
    path = write_tables(tmp_path, f"hole_id,longitude,latitude,max_depth\nL1,{lon},{lat},20\n",
                        "hole_id,from,to,te_ppb\nL1,0,20,300\n", "hole_id,depth,azimuth,dip\nL1,0,0,-60\n")  # fmt: skip
    row = read_drillholes(path).iloc[0]
    assert (row["x"], row["crs"]) == ("", "")
    east, north = pyproj.Transformer.from_crs("EPSG:4326", UTM44, always_xy=True).transform(
        float(row["lon"]), float(row["lat"])
    )
    npt.assert_allclose([east, north], [E0, N0 + 10 * 0.5], atol=1e-6)  # 10 m along at 60 degrees: 5 m north


def test_workbook_tables_are_read_like_csv_and_cite_worksheet_rows(tmp_path):
    import openpyxl

    tables = {"collars": COLLARS, "surveys": "hole_id,depth,azimuth,dip\nDH1,0,90,-60\nDH1,12,95,-58\n",
              "assays": "hole_id,from,to,ga_ppm,Te (ppm)\nDH1,0,10,55,<0.5\nDH1,10,40,60,1.5\n"}  # fmt: skip
    csv = read_drillholes(write_tables(tmp_path / "csv", tables["collars"], tables["assays"], tables["surveys"]))
    (tmp_path / "xlsx").mkdir()
    for name, text in tables.items():
        workbook = openpyxl.Workbook()
        workbook.active.title = "notes"  # the sheet named after the table is read, not the first
        sheet = workbook.create_sheet(name.capitalize())
        for line in text.splitlines():
            sheet.append([float(cell) if cell.lstrip("-").replace(".", "", 1).isdigit() else cell
                          for cell in line.split(",")])  # fmt: skip
        workbook.save(tmp_path / "xlsx" / f"{name}.xlsx")
    excel = read_samples(tmp_path / "xlsx" / "assays.xlsx")
    for column in ("x", "y", "depth_from_m", "depth_to_m"):
        npt.assert_allclose(numbers(excel, column)[:1], numbers(csv, column)[:1], rtol=0, atol=1e-9)
    assert excel["te (ppm)"].tolist() == ["<0.5", "1.5"]
    assert "(collars.xlsx row 2)" in excel["read_problem"].iloc[1]  # 40 m is below the 30 m hole


def test_semicolon_separated_tables_with_decimal_commas_are_read(tmp_path):
    collars = f"Hole ID;Easting;Northing;CRS;Max Depth\nDH1;{E0:.0f},5;{N0:.0f};{UTM44};30,5\n"
    path = write_tables(tmp_path, collars, "hole_id;from;to;ga_ppm\nDH1;0;1,5;12,5\n")
    row = read_samples(path).iloc[0]
    assert (float(row["x"]), float(row["depth_to_m"]), row["ga_ppm"], row["read_problem"]) == (
        E0 + 0.5,
        1.5,
        "12.5",
        "",
    )


def test_row_problems_are_quarantined_with_file_line_and_fix_and_rows_balance(tmp_path, two_sites):
    collars = (f"hole_id,x,y,crs,max_depth\nG1,{E0},{N0},{UTM44},10\nD1,{E0 + 10},{N0},{UTM44},10\n"
               f"A1,{E0 + 20},{N0},{UTM44},10\nC1,{E0 + 30},{N0},EPSG:99999,10\nG1,{E0},{N0 + 5},{UTM44},10\n"
               f"G2,{E0 - 20},{N0},{UTM44},10\n")  # fmt: skip
    surveys = "hole_id,depth,azimuth,dip\nD1,0,90,-95\nA1,0,360,-60\nG2,0,90,-60\nZZ,0,0,-90\n"
    assays = ("hole_id,from,to,ga_ppm\n"
              "G2,0,2,50\n"  # line 2: accepted
              "NOPE,0,1,50\n"  # line 3: no collar
              "G2,8,12,50\n"  # line 4: deeper than the hole
              "D1,0,1,50\n"  # line 5: its hole's survey dips -95
              "A1,0,1,50\n"  # line 6: its hole's survey has azimuth 360
              "G2,5,3,50\n"  # line 7: from below to
              "G2,abc,4,50\n"  # line 8: from is not a number
              "C1,0,1,50\n"  # line 9: its collar's CRS is unknown
              "G1,0,1,50\n")  # line 10: two collar rows for its hole  # fmt: skip
    path = write_tables(tmp_path, collars, assays, surveys)
    raw = read_samples(path)  # read_samples hands an assays table to the drillhole reader
    result = validate_samples(raw, path, two_sites)
    assert result.rows_in == 9 and result.balanced
    assert result.accepted["sample_id"].tolist() == ["G2:0-2"]
    assert result.accepted["site_id"].tolist() == ["A"]  # found by footprint, as for samples.csv
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert set(result.quarantine["source"]) == {"assays.csv"} and sorted(reasons) == list(range(3, 11))
    expected = {
        3: "hole_id 'NOPE' has no collar in collars.csv; add its collar row or fix the hole_id",
        4: "interval 8-12 m reaches below the max_depth_m 10 of hole 'G2' (collars.csv line 7)",
        5: "survey at surveys.csv line 2: dip -95 is outside -90 to 90 degrees",
        6: "survey at surveys.csv line 3: azimuth 360 is outside 0 to 360 degrees",
        7: "to 3 is not below from 5; swap or fix them",
        8: "from 'abc' is not a number",  # the column as written
        9: "collar at collars.csv line 5: crs 'EPSG:99999' is not a known coordinate system",
        10: "collars.csv line 6 repeats the collar of collars.csv line 2",
    }
    for line, fragment in expected.items():
        assert fragment in reasons[line], (line, reasons[line])
    assert "fix or remove the survey row" in reasons[5]
    assert raw.attrs[DRILLHOLE_NOTES] == [  # survey rows no sample uses are named, not silently dropped
        (
            "surveys.csv: 1 row(s) of holes without a collar in collars.csv are not used ('ZZ'; surveys.csv line 5 "
            "first); fix their hole_id to match the collar or remove them"
        )
    ]


def test_a_survey_pointing_upward_in_a_table_of_negative_dips_is_quarantined(tmp_path, two_sites):
    surveys = "hole_id,depth,azimuth,dip\nDH1,0,90,-60\nDH1,10,90,30\n"
    path = write_tables(tmp_path, COLLARS, "hole_id,from,to,ga_ppm\nDH1,0,5,50\n", surveys)
    result = validate_samples(read_samples(path), path, two_sites)
    assert len(result.accepted) == 0 and result.balanced
    assert "surveys.csv line 3: dip 30 points upward" in result.quarantine["reason"].iloc[0]


@pytest.mark.parametrize(
    "table, header, error, fragment",
    [
        ("collars.csv", f"hole_id,x,y,crs\nDH1,{E0},{N0},{UTM44}\n", MissingColumnError, "max_depth_m"),
        ("collars.csv", f"hole_id,x,y,max_depth\nDH1,{E0},{N0},30\n", CRSError, "without a crs column"),
        ("collars.csv", "hole_id,max_depth\nDH1,30\n", MissingColumnError, "no collar locations"),
        ("surveys.csv", "hole_id,depth,azimuth\nDH1,0,90\n", MissingColumnError, "dip"),
        ("assays.csv", "hole_id,from,ga_ppm\nDH1,0,50\n", MissingColumnError, "to_m"),
        ("assays.csv", "hole_id,from,depth_from_m,to\nDH1,0,0,1\n", DataDropError, "two columns for from_m"),
    ],
)  # fmt: skip
def test_file_level_problems_raise_naming_the_file_and_the_fix(tmp_path, table, header, error, fragment):
    write_tables(tmp_path, COLLARS, "hole_id,from,to,ga_ppm\nDH1,0,1,50\n", "hole_id,depth,azimuth,dip\nDH1,0,0,-90\n")
    (tmp_path / table).write_text(header)
    with pytest.raises(error) as raised:
        read_samples(tmp_path / "assays.csv")
    assert raised.value.path.name == table and fragment in str(raised.value) and "Fix:" in str(raised.value)


def test_samples_csv_beside_drillhole_tables_stops_naming_both(tmp_path):
    root = copy_demo(tmp_path)
    write_tables(root, COLLARS, "hole_id,from,to,ga_ppm\nDH1,0,1,50\n")
    with pytest.raises(DataDropError) as raised:
        open_data_drop(root)
    message = str(raised.value)
    assert "samples.csv" in message and "assays.csv" in message and "collars.csv" in message and "keep one" in message


def test_drillhole_tables_without_collars_stop(tmp_path):
    root = copy_demo(tmp_path)
    (root / "samples.csv").unlink()
    (root / "assays.csv").write_text("hole_id,from,to,ga_ppm\nDH1,0,1,50\n")
    with pytest.raises(DataDropError, match="a drillhole table without its collars table"):
        open_data_drop(root)


def test_the_file_listing_reads_the_triple_and_names_unused_survey_rows(tmp_path):
    root = demo_as_drillholes(tmp_path)
    (root / "surveys.csv").write_text("hole_id,depth,azimuth,dip\nNOT-A-HOLE,0,0,-90\n")
    (root / "collar_points.shp").write_bytes(b"")
    drop = open_data_drop(root)
    assert (drop.samples_path.name, drop.collars_path.name, drop.surveys_path.name) == (
        "assays.csv", "collars.csv", "surveys.csv")  # fmt: skip
    files = describe_files(drop, []).set_index("file")["read_as"]
    assert files["assays.csv"] == "samples (drillhole assay intervals)"
    assert files["collars.csv"] == "samples (drillhole collars)"
    assert files["surveys.csv"].startswith("samples (downhole surveys; surveys.csv: 1 row(s) of holes without a collar")
    assert set(not_read(files.reset_index())["file"]) >= {"collar_points.shp"}
    assert files["collar_points.shp"].startswith("NOT READ: another drillhole table?")


def test_a_dated_copy_of_the_collars_table_stops_naming_both(tmp_path):
    root = demo_as_drillholes(tmp_path)
    (root / "collars_2019.csv").write_text("hole_id\n")
    with pytest.raises(DataDropError, match="collars_2019.csv: a second collars file beside collars.csv"):
        open_data_drop(root)


def test_residua_validate_reads_the_demo_as_drillhole_tables_like_its_samples_csv(tmp_path, capsys):
    from residua.pipelines.cli import main

    original, priors = DEMO / "samples.csv", load_reference_tables(DEMO).grade_priors
    accepted_sites = validate_sites(read_sites(DEMO / "sites.gpkg"), DEMO / "sites.gpkg", DEMO).accepted
    expected = validate_samples(read_samples(original), original, accepted_sites, priors)
    root = demo_as_drillholes(tmp_path)
    assert main(["validate", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    counts = next(line for line in out.splitlines() if line.split()[:1] == ["assays.csv"]).split()
    assert counts[1:] == [str(expected.rows_in), str(len(expected.accepted)), str(len(expected.quarantine))]
    assert "samples (drillhole collars)" in out and "collars.csv" not in "".join(
        line for line in out.splitlines() if "NOT READ" in line
    )
    # vertical auger holes: the same samples as from samples.csv, located at their collars
    triple = validate_samples(read_samples(root / "assays.csv"), root / "assays.csv", accepted_sites, priors)
    columns = ["sample_id", "hole_id", "site_id", "depth_from_m", "depth_to_m", "ga_gt", "te_gt", "te_bdl"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(triple.accepted[columns]), pd.DataFrame(expected.accepted[columns]), check_exact=False, atol=1e-9
    )
    npt.assert_allclose(triple.accepted.geometry.x, expected.accepted.geometry.x, rtol=0, atol=1e-9)


def copy_demo(tmp_path: Path) -> Path:
    """The bundled demo drop, copied into ``tmp_path / "drop"``."""
    return Path(shutil.copytree(DEMO, tmp_path / "drop", ignore=shutil.ignore_patterns("__pycache__")))


def demo_as_drillholes(tmp_path: Path) -> Path:
    """The demo drop with samples.csv replaced by the equivalent collars.csv and assays.csv (vertical holes)."""
    root = copy_demo(tmp_path)
    samples = pd.read_csv(root / "samples.csv", dtype=str, keep_default_na=False)
    depths = samples[["depth_from_m", "depth_to_m"]].astype(float).max(axis=1)
    collars = (
        samples.assign(max_depth_m=depths)
        .groupby("hole_id", sort=False)
        .agg(x=("x", "first"), y=("y", "first"), crs=("crs", "first"), max_depth_m=("max_depth_m", "max"))
        .reset_index()
    )
    collars.to_csv(root / "collars.csv", index=False)
    assays = samples.drop(columns=["x", "y", "crs"]).rename(columns={"depth_from_m": "from", "depth_to_m": "to"})
    assays.to_csv(root / "assays.csv", index=False)
    (root / "samples.csv").unlink()
    return root


def test_residua_run_names_survey_rows_it_does_not_use_before_the_run(tmp_path, capsys):
    from residua.pipelines.cli import print_drop_notes

    root = demo_as_drillholes(tmp_path)
    (root / "surveys.csv").write_text("hole_id,depth,azimuth,dip\nNOT-A-HOLE,0,0,-90\n")
    drop = open_data_drop(root)
    print_drop_notes(drop, read_sites(drop.sites_path), read_samples(drop.samples_path))
    out = capsys.readouterr().out
    assert "  not used: surveys.csv: 1 row(s) of holes without a collar" in out
    assert "NOT-A-HOLE" in out
    assert "not read: collars.csv" not in out and "not read: assays.csv" not in out  # both read
