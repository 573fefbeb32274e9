"""Every file of a drop is read as something or reported as not read; two files for one table stop."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pytest

from residua.geodata.datadrop import open_data_drop
from residua.geodata.drop_files import describe_files, not_read
from residua.geodata.errors import DataDropError
from residua.geodata.schema import unread_assay_columns
from tests.drops import write_prism_drop


def test_every_file_has_a_role_or_a_reason(tmp_path):
    root = write_prism_drop(tmp_path / "drop")
    (root / "README.md").write_text("notes")
    (root / "lab_results_2024.xlsx").write_bytes(b"PK")
    (root / "reference").mkdir()
    (root / "reference" / "density.csv").write_text("residue_type,dry_density_t_m3\n")
    (root / "reference" / "grades_old.csv").write_text("x\n")
    shutil.copy(next((root / "rasters").glob("*.tif")), root / "rasters" / "stray.tif")
    (root / ".DS_Store").write_bytes(b"\0")
    drop = open_data_drop(root)
    sites = gpd.read_file(drop.sites_path)
    files = describe_files(drop, [*sites["surface_dem"], *sites["base_dem"]]).set_index("file")["read_as"]
    assert files["sites.gpkg"] == "sites (footprints)" and files["samples.csv"] == "samples (assays)"
    assert files["reference/density.csv"].startswith("reference table density")
    assert all(files[dem] == "DEM of a site" for dem in sites["surface_dem"])
    assert files["README.md"] == "NOT READ: documentation"
    assert files["reference/grades_old.csv"].startswith("NOT READ: not a reference table Residua knows")
    assert files["rasters/stray.tif"].startswith("NOT READ: no site names it")
    assert files["lab_results_2024.xlsx"].startswith("NOT READ: not part of the input contract")
    assert ".DS_Store" not in files.index
    unread = not_read(files.reset_index())
    assert set(unread["file"]) == {
        "README.md",
        "reference/grades_old.csv",
        "rasters/stray.tif",
        "lab_results_2024.xlsx",
    }


@pytest.mark.parametrize("second", ["sites.geojson", "samples.gpkg", "samples_v2.csv", "Sites (old).gpkg"])
def test_two_files_for_one_table_stop_naming_both(tmp_path, second):
    root = write_prism_drop(tmp_path / "drop")
    (root / second).write_text("{}")
    with pytest.raises(DataDropError) as raised:
        open_data_drop(root)
    message = str(raised.value)
    assert second in message and ("sites.gpkg" in message or "samples.csv" in message) and "keep one" in message


def test_table_names_match_whatever_the_case(tmp_path):
    root = write_prism_drop(tmp_path / "drop")
    (root / "samples.csv").rename(root / "Samples.CSV")
    drop = open_data_drop(root)
    assert drop.samples_path.name == "Samples.CSV"
    assert describe_files(drop, []).set_index("file")["read_as"]["Samples.CSV"].startswith("samples")


def test_assay_like_columns_for_other_elements_are_reported():
    columns = ["sample_id", "Ga (ppm)", "te_ppm", "Au g/t", "Cu_pct", "Pt_ppb_FA", "depth_to_m", "lon"]
    assert unread_assay_columns(columns) == ["Au g/t", "Cu_pct"]


def test_samples_as_an_excel_workbook_read_like_the_csv(tmp_path):
    import openpyxl
    import pandas as pd

    from residua.geodata.readers import read_samples

    root = write_prism_drop(tmp_path / "drop")
    csv = read_samples(root / "samples.csv")
    table = pd.read_csv(root / "samples.csv", dtype=str, keep_default_na=False)
    workbook = openpyxl.Workbook()
    workbook.active.title = "notes"
    workbook.active.append(["exported from the lab database"])
    sheet = workbook.create_sheet("Samples")
    sheet.append(list(table.columns))
    for record in table.itertuples(index=False):  # numbers as numbers, '<0.5' as text, blanks empty
        sheet.append([float(v) if v.replace(".", "", 1).isdigit() else (v or None) for v in record])
    workbook.save(root / "samples.xlsx")
    (root / "samples.csv").unlink()
    drop = open_data_drop(root)
    assert drop.samples_path.name == "samples.xlsx"
    excel = read_samples(drop.samples_path)
    assert excel["source_row"].tolist() == list(range(2, len(table) + 2))  # worksheet rows, the header in row 1
    assert excel["sample_id"].tolist() == csv["sample_id"].tolist()
    for column in (
        "ga_ppm",
        "te_ppb",
        "pt_ppb",
        "x",
        "depth_to_m",
    ):  # the same numbers ('69.50' in the CSV is 69.5 in the sheet)
        numbers = pd.to_numeric(csv[column], errors="coerce")
        pd.testing.assert_series_equal(pd.to_numeric(excel[column], errors="coerce"), numbers, check_names=False)
        text = numbers.isna()
        assert excel.loc[text, column].tolist() == csv.loc[text, column].tolist()  # '<0.5' and blanks as written


def test_the_listing_says_which_separator_and_decimal_mark_a_samples_csv_uses(tmp_path):
    from residua.geodata.readers import read_samples

    root = write_prism_drop(tmp_path / "drop")
    (root / "samples.csv").write_text(
        "sample_id;site_id;x;y;crs;ga_ppm\n"
        "S1;P1;500000,5;2300000,5;EPSG:32644;12,5\n"
        "S2;P1;500010;2300010;EPSG:32644;1.234\n"
    )
    drop = open_data_drop(root)
    dialects = {drop.samples_path: read_samples(drop.samples_path).attrs["csv_dialect"]}
    files = describe_files(drop, [], dialects).set_index("file")["read_as"]
    assert files["samples.csv"] == (
        "samples (assays; ';'-separated, decimal commas (3 cells read as decimals, e.g. '500000,5' (line 2, x)); "
        "1 ambiguous cell such as '1.234' (line 3, ga_ppm) not read (their rows are quarantined))"
    )
    assert files["sites.gpkg"] == "sites (footprints)"
