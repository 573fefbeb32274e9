"""Finding a drop's files, hashing inputs, refusing paths that escape the drop; no Dagster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from residua.geodata.datadrop import open_data_drop, resolve_inside, sha256_file
from residua.geodata.errors import DataDropError
from tests.drops import write_prism_drop


def test_open_prism_drop(tmp_path):
    root = write_prism_drop(tmp_path / "drop")
    drop = open_data_drop(root)
    assert (drop.sites_path.name, drop.samples_path.name) == ("sites.gpkg", "samples.csv")
    assert (drop.title, drop.synthetic) == ("Prism test drop", True)
    assert drop.input_hashes["sites.gpkg"] == sha256_file(root / "sites.gpkg")
    assert "rasters/P1_surface.tif" in drop.input_hashes


def test_any_one_sites_file_and_optional_samples(tmp_path):
    (tmp_path / "sites.csv").write_text("site_id,name,residue_type,lon,lat\n")
    drop = open_data_drop(tmp_path)
    assert drop.sites_path.name == "sites.csv"
    assert drop.samples_path is None
    # a second candidate is not silently preferred (issue 16): both are named
    (tmp_path / "sites.geojson").write_text("{}")
    with pytest.raises(DataDropError, match="a second sites file beside sites.geojson"):
        open_data_drop(tmp_path)
    (tmp_path / "sites.geojson").unlink()
    assert drop.title == tmp_path.name  # no dataset.json: the folder name


@pytest.mark.parametrize(
    "setup, fragment",
    [
        (lambda root: None, "no sites file found"),  # an empty folder
        (lambda root: (root / "sites.csv").write_text("x") and (root / "dataset.json").write_text("{bad"),
         "not valid JSON"),
        (lambda root: (root / "sites.csv").write_text("x") and (root / "dataset.json").write_text("[1]"),
         "must hold a JSON object"),
    ],
)  # fmt: skip
def test_unusable_drop_raises(tmp_path, setup, fragment):
    setup(tmp_path)
    with pytest.raises(DataDropError, match=fragment):
        open_data_drop(tmp_path)


def test_missing_folder_raises(tmp_path):
    with pytest.raises(DataDropError, match="does not exist"):
        open_data_drop(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "relative, inside",
    [
        ("rasters/dem.tif", True),
        ("./rasters/../dem.tif", True),  # '..' that stays inside
        ("../x.tif", False),  # escapes one level up
        ("rasters/../../x.tif", False),
        ("/etc/passwd", False),  # absolute path
    ],
)
def test_resolve_inside(tmp_path, relative, inside):
    resolved = resolve_inside(tmp_path, relative)
    assert (resolved is not None) is inside
    if inside:
        assert resolved.is_relative_to(tmp_path.resolve())


def test_resolve_inside_refuses_symlink_out_of_the_drop(tmp_path):
    (tmp_path / "drop").mkdir()
    (tmp_path / "secret.tif").write_bytes(b"x")
    (tmp_path / "drop" / "link.tif").symlink_to(tmp_path / "secret.tif")
    assert resolve_inside(tmp_path / "drop", "link.tif") is None


def test_geodata_does_not_import_dagster():
    code = ("import sys, residua.geodata.readers, residua.geodata.validate, residua.geodata.volumes, "
            "residua.geodata.publish, residua.geodata.reference_tables, residua.geodata.datadrop; "
            "assert 'dagster' not in sys.modules")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert run.returncode == 0, run.stderr
