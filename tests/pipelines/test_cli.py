"""The residua command as a user meets it: exit codes and what it prints."""

from pathlib import Path

import geopandas as gpd
import shapely

from residua.geodata.datadrop import open_data_drop
from residua.geodata.readers import read_samples, read_sites
from residua.pipelines.cli import main, print_drop_notes
from tests.drops import write_prism_drop


def test_validate_lists_quarantined_rows_and_passes_a_usable_drop(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")
    with (drop / "samples.csv").open("a") as handle:
        handle.write("BAD-1,BAD,,0,1.5,-5,,,,,\n")
    assert main(["validate", "--data", str(drop)]) == 0
    out = capsys.readouterr().out
    assert "sites.gpkg" in out and "samples.csv" in out
    assert "BAD-1" in out and "no location" in out  # quarantined: nowhere to put it
    # its Ga '-5' is read as '<5' (the survey databases' convention), and the user is told so
    assert "samples.csv: negative assays read as below detection at their absolute value" in out
    assert "in ga_ppm (1)" in out
    dems = next(line for line in out.splitlines() if "rasters (DEM pairs)" in line)
    assert dems.split()[-3:] == ["3", "3", "0"]  # three sites with a DEM pair, all measured


def test_validate_runs_the_runs_own_ingest_checks_and_prints_them(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")  # its Pt assays are all '<2': the below-detection check warns
    assert main(["validate", "--data", str(drop)]) == 0  # a warning, not a blocking failure
    out = capsys.readouterr().out
    checks = out.split("Checks (the run's own asset checks on these inputs")[1].splitlines()
    assert "  sites.sites_rows_conserved: passed" in checks and "  samples.samples_units_plausible: passed" in checks
    (warning,) = [line for line in checks if "samples_bdl_share" in line]
    assert "FAILED (WARN)" in warning and "'pt': 1.0" in warning


def test_validate_with_no_usable_site_says_what_it_could_not_check(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")
    sites = gpd.read_file(drop / "sites.gpkg").assign(residue_type="junk")
    sites.to_file(drop / "sites.gpkg")
    assert main(["validate", "--data", str(drop)]) == 1
    out = capsys.readouterr().out
    assert "unexpected" not in out and "Traceback" not in out
    assert "sites.sites_not_empty: FAILED (ERROR)" in out and "UNUSABLE  no site was accepted" in out
    assert "NOT CHECKED  samples.csv" in out and "sites.sites_not_empty" in out.split("NOT CHECKED  samples.csv")[1]


def test_validate_lists_covariate_rasters_and_refuses_an_unusable_one(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")
    covariates = drop / "rasters" / "covariates"
    covariates.mkdir()
    (covariates / "Relief Index.tif").write_bytes((drop / "rasters" / "P1_surface.tif").read_bytes())
    assert main(["validate", "--data", str(drop)]) == 0
    out = capsys.readouterr().out
    assert "relief_index" in out and "rasters/covariates/Relief Index.tif" in out and "EPSG:32644" in out
    (covariates / "broken.tif").write_bytes(b"not a raster")
    assert main(["validate", "--data", str(drop)]) == 1
    out = capsys.readouterr().out
    assert "UNUSABLE" in out and "broken.tif" in out


def test_validate_exits_1_when_the_sites_file_is_unusable(tmp_path, capsys):
    drop = tmp_path / "drop"
    drop.mkdir()
    gpd.GeoDataFrame({"site_id": ["a"], "name": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_file(
        drop / "sites.gpkg"
    )
    assert main(["validate", "--data", str(drop)]) == 1
    out = capsys.readouterr().out
    assert "sites.gpkg" in out and "residue_type" in out and "Fix:" in out


def test_run_prints_the_top_sites_and_the_paths(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")
    out_dir = tmp_path / "out"
    assert main(["run", "--data", str(drop), "--out", str(out_dir), "--draws", "200"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "P1" in out and "P3" in out
    assert str(out_dir / "inventory.gpkg") in out
    assert (out_dir / "inventory.gpkg").is_file()


def test_run_on_a_missing_folder_fails_clearly(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not Path(tmp_path / "out").exists()


def test_failed_run_keeps_the_previous_inventory(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")
    out_dir = tmp_path / "out"
    assert main(["run", "--data", str(drop), "--out", str(out_dir), "--draws", "100"]) == 0
    before = (out_dir / "inventory.gpkg").read_bytes()
    (drop / "reference").mkdir()
    (drop / "reference" / "prices.csv").write_text("element,price_low_usd_per_kg\nga,1\n")
    assert main(["run", "--data", str(drop), "--out", str(out_dir), "--draws", "100"]) == 1
    assert "prices.csv" in capsys.readouterr().err
    assert (out_dir / "inventory.gpkg").read_bytes() == before


def test_status_reports_the_last_publication_and_its_checks(tmp_path, capsys, monkeypatch):
    drop = write_prism_drop(tmp_path / "drop")
    out_dir = tmp_path / "out"
    assert main(["status", "--out", str(out_dir)]) == 1  # nothing published yet
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["run", "--data", str(drop), "--out", str(out_dir), "--draws", "100"]) == 0
    capsys.readouterr()
    assert main(["status", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "Prism test drop" in out and "3 ranked" in out and "samples.csv" in out
    assert "sites.sites_rows_conserved: passed" in out


def test_validate_names_every_file_and_assay_column_it_does_not_read(tmp_path, capsys):
    drop = write_prism_drop(tmp_path / "drop")
    (drop / "truth.csv").write_text("site_id,grade\n")
    samples = (drop / "samples.csv").read_text().splitlines()
    (drop / "samples.csv").write_text(
        "\n".join([samples[0] + ",Au g/t", *(line + ",0.5" for line in samples[1:])]) + "\n"
    )
    assert main(["validate", "--data", str(drop)]) == 0
    out = capsys.readouterr().out
    assert "Files in the drop" in out and "sites (footprints)" in out
    assert "truth.csv: NOT READ: not part of the input contract" in out
    assert "assay-like columns 'au g/t' are NOT READ" in out


def test_run_notes_negative_assays_read_as_below_detection_before_it_starts(tmp_path, capsys):
    drop = open_data_drop(write_prism_drop(tmp_path / "drop"))
    samples = read_samples(drop.samples_path)
    samples.loc[samples.index[:3], "te_ppb"] = "-20"
    print_drop_notes(drop, read_sites(drop.sites_path), samples)
    assert "note: samples.csv: negative assays read as below detection" in capsys.readouterr().out
    print_drop_notes(drop, read_sites(drop.sites_path), read_samples(drop.samples_path))
    assert "negative" not in capsys.readouterr().out  # nothing to say about a drop without them


def test_run_refuses_an_option_out_of_range_naming_it(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "out"), "--min-dem-coverage", "0"]) == 1
    assert "error: --min-dem-coverage 0.0: Input should be greater than 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
